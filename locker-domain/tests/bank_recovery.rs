//! Power trouble and restarts: no parcel is ever lost.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::{
    AlertKind, AllocationError, Bank, BankError, BankOutput, ParcelNeeds, PersistError,
    PersistReason, Policy, Stage,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::{PowerStatus, SizeClass};

/// Restarts the gateway: snapshot, new bank from it, reconcile with the nodes.
fn restart(sim: &mut Sim<24>, downtime: Duration) {
    // The restarted gateway's monotonic clock starts again from near zero.
    sim.restart_at(Instant::from_secs(5) + downtime);
}

#[test]
fn a_power_blip_in_the_middle_of_a_deposit_lets_the_deposit_finish() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.staff_deposit_with_the_door_open();
    sim.drain();
    sim.bank
        .handle_power(
            PowerStatus::Battery {
                charge_percent: 20,
                minutes_left: 15,
            },
            sim.now,
        )
        .unwrap();
    assert!(matches!(
        sim.bank.poll(),
        Some(BankOutput::Persist(PersistReason::OnBattery))
    ));
    sim.drain();
    // New deposits are refused below the threshold...
    sim.drain();
    let err = sim
        .try_reserve(ParcelNeeds::size(SizeClass::Small))
        .unwrap_err();
    assert_eq!(
        err,
        BankError::NoFit(AllocationError::LowBattery { charge_percent: 20 })
    );
    // ...but the one in flight completes.
    sim.put_parcel(r.compartment);
    sim.close_door(r.compartment);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
    sim.drain();
    sim.bank.handle_power(PowerStatus::Mains, sim.now).unwrap();
    sim.reserve(ParcelNeeds::size(SizeClass::Small));
}

#[test]
fn on_a_critical_battery_the_bank_persists_and_reports_ready_to_shut_down() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.drain();
    sim.bank
        .handle_power(PowerStatus::Critical { charge_percent: 3 }, sim.now)
        .unwrap();
    assert!(!sim.bank.ready_to_shut_down());
    assert!(matches!(
        sim.bank.poll(),
        Some(BankOutput::Persist(PersistReason::ShutdownImminent))
    ));
    assert!(sim.bank.ready_to_shut_down());
}

/// One step of a deposit or pickup, acting on the physical bank and the bank.
type Step = fn(&mut Sim<24>, locker_proto::CompartmentId, &str);

fn deposit_steps() -> Vec<Step> {
    vec![
        |sim, id, _| {
            sim.drain();
            sim.bank
                .start_deposit(id, locker_domain::bank::StaffId(1), sim.now)
                .unwrap();
            sim.answer_status_requests();
        },
        |sim, id, _| sim.open_door(id, true),
        |sim, id, _| sim.put_parcel(id),
        |sim, id, _| sim.close_door(id),
    ]
}

fn pickup_steps() -> Vec<Step> {
    vec![
        |sim, _, code| {
            sim.type_code(code);
        },
        |sim, id, _| sim.open_door(id, true),
        |sim, id, _| sim.take_parcel(id),
        |sim, id, _| sim.close_door(id),
    ]
}

#[test]
fn a_restart_at_every_step_of_a_deposit_is_reconciled_without_losing_the_parcel() {
    let steps = deposit_steps();
    for crash_after in 0..=steps.len() {
        let mut sim = Sim::<24>::new(24, Policy::default());
        let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
        for step in steps.iter().take(crash_after) {
            step(&mut sim, r.compartment, "");
        }
        restart(&mut sim, Duration::from_secs(30));
        // The courier carries on where the restart caught them.
        for step in steps.iter().skip(crash_after) {
            if sim.bank.view(r.compartment).unwrap().stage == Stage::Stored {
                break;
            }
            step(&mut sim, r.compartment, "");
        }
        sim.run_until(sim.now + Duration::from_mins(1));
        let v = sim.bank.view(r.compartment).unwrap();
        assert_eq!(v.stage, Stage::Stored, "crash after step {crash_after}");
        assert_eq!(v.parcel, Some(r.parcel));
        assert_eq!(
            sim.alerts_of(AlertKind::ParcelMissing),
            0,
            "crash after step {crash_after}"
        );
        assert_eq!(
            sim.alerts_of(AlertKind::UnexpectedItem),
            0,
            "crash after step {crash_after}"
        );
        assert!(
            sim.code_for(r.compartment).is_some(),
            "the recipient got a code (crash after {crash_after})"
        );
    }
}

#[test]
fn a_restart_at_every_step_of_a_pickup_is_reconciled_without_losing_the_parcel() {
    let steps = pickup_steps();
    for crash_after in 0..=steps.len() {
        let mut sim = Sim::<24>::new(24, Policy::default());
        let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
        let code = sim.deposit(r.compartment);
        for step in steps.iter().take(crash_after) {
            step(&mut sim, r.compartment, &code);
        }
        restart(&mut sim, Duration::from_secs(30));
        for step in steps.iter().skip(crash_after) {
            if sim.bank.view(r.compartment).unwrap().stage == Stage::Free {
                break;
            }
            step(&mut sim, r.compartment, &code);
        }
        sim.run_until(sim.now + Duration::from_mins(1));
        let v = sim.bank.view(r.compartment).unwrap();
        assert_eq!(
            v.stage,
            Stage::Free,
            "crash after step {crash_after}: {v:?}"
        );
        assert!(
            sim.audit.iter().any(|a| a.parcel == Some(r.parcel)
                && matches!(
                    a.event,
                    locker_domain::bank::AuditEvent::PickupVerified { .. }
                )),
            "the handover is in the audit trail (crash after {crash_after})"
        );
        assert_eq!(
            sim.alerts_of(AlertKind::ParcelMissing),
            0,
            "crash after step {crash_after}"
        );
    }
}

#[test]
fn a_parcel_missing_after_a_restart_is_raised_and_kept_in_the_books() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    let k = sim.bank.layout().slot_of(r.compartment).unwrap().get();
    sim.physical[k].occupied = false; // taken while the gateway was down
    let other = sim.bank.layout().compartments()[20].id;
    sim.physical[20].occupied = true; // and something left elsewhere
    restart(&mut sim, Duration::ZERO);
    assert_eq!(sim.alerts_of(AlertKind::ParcelMissing), 1);
    assert_eq!(sim.alerts_of(AlertKind::UnexpectedItem), 1);
    assert_eq!(sim.bank.view(r.compartment).unwrap().parcel, Some(r.parcel));
    assert!(sim.bank.view(other).unwrap().out_of_service.is_some());
}

#[test]
fn the_audit_sequence_continues_across_a_restart_without_a_gap() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.drain();
    sim.bank
        .start_deposit(r.compartment, locker_domain::bank::StaffId(1), sim.now)
        .unwrap();
    // Records not yet polled travel in the snapshot.
    let bytes = sim.bank.snapshot_to_vec().unwrap();
    let mut restored = Bank::restore_on_heap(
        &mixed_layout(24),
        Policy::default(),
        keys(),
        &bytes,
        Instant::ZERO,
    )
    .unwrap();
    let mut last = sim.audit.last().unwrap().seq;
    while let Some(output) = restored.poll() {
        if let BankOutput::Audit(rec) = output {
            assert_eq!(rec.seq, last + 1);
            last = rec.seq;
        }
    }
}

#[test]
fn corrupt_truncated_foreign_and_other_layout_snapshots_are_refused() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    let bytes = sim.bank.snapshot_to_vec().unwrap();
    let layout = || mixed_layout(24);
    let restore = |b: &[u8]| {
        Bank::restore_on_heap(&layout(), Policy::default(), keys(), b, Instant::ZERO).map(|_| ())
    };
    assert_eq!(restore(&bytes), Ok(()));
    assert!(matches!(
        restore(&bytes[..6]),
        Err(PersistError::Truncated { .. })
    ));
    assert_eq!(
        restore(&bytes[..bytes.len() - 9]),
        Err(PersistError::Corrupt)
    );
    let mut flipped = bytes.clone();
    flipped[20] ^= 0x10;
    assert_eq!(restore(&flipped), Err(PersistError::Corrupt));
    assert_eq!(
        restore(b"{\"json\": true, \"not\": \"a bank\"}"),
        Err(PersistError::Foreign)
    );
    let other = Bank::restore_on_heap(
        &mixed_layout(23),
        Policy::default(),
        keys(),
        &bytes,
        Instant::ZERO,
    );
    assert!(matches!(other, Err(PersistError::LayoutChanged)));
    // Every cut-off length is refused, none panics.
    for n in 0..bytes.len() {
        assert!(restore(&bytes[..n]).is_err(), "length {n}");
    }
}

#[test]
fn an_hour_on_battery_with_the_ups_reporting_every_minute_is_a_handful_of_records() {
    use locker_domain::bank::{AuditEvent, POWER_STEP_PERCENT};
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.drain();
    let records_before = sim.audit.len();
    let persists_before = sim.persists.len();
    // Mains lost; the UPS reports every minute, its charge falling from
    // 100 % to 41 % over the hour; then mains comes back.
    for minute in 0..60u8 {
        sim.advance(Duration::from_mins(1));
        sim.drain();
        sim.bank
            .handle_power(
                PowerStatus::Battery {
                    charge_percent: 100 - minute,
                    minutes_left: 120 - u16::from(minute) * 2,
                },
                sim.now,
            )
            .unwrap();
        // Every reading is taken: the deposit threshold uses it.
        assert_eq!(
            sim.bank.power(),
            PowerStatus::Battery {
                charge_percent: 100 - minute,
                minutes_left: 120 - u16::from(minute) * 2
            }
        );
    }
    sim.drain();
    sim.bank.handle_power(PowerStatus::Mains, sim.now).unwrap();
    sim.drain();
    let power_records: Vec<_> = sim.audit[records_before..]
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::Power(_)))
        .collect();
    // On battery at 100 %; each step crossed on the way down (99, 89, 79,
    // 69, 59, 49 %); mains again. Not sixty.
    let steps = usize::from(100 / POWER_STEP_PERCENT - 41 / POWER_STEP_PERCENT);
    assert_eq!(power_records.len(), 1 + steps + 1, "{power_records:#?}");
    assert!(sim.persists.len() - persists_before <= power_records.len());
}

/// A resident types her code; the node hears the unlock, but the power
/// goes before she pulls the door and the bank comes back an hour later.
/// Nobody is at the door any more: the unlock from before the cut is not
/// sent again (no pulse for nobody, no lock fault for a door nobody
/// pulled), she is told the door did not open, her parcel waits for her.
#[test]
fn an_unlock_in_flight_when_the_power_went_is_not_retried_after_the_restart() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.type_code(&code);
    let unlocks = |sim: &Sim<24>| {
        sim.commands
            .iter()
            .filter(|(_, c)| matches!(c, locker_proto::Command::Unlock { .. }))
            .count()
    };
    let sent = unlocks(&sim);
    restart(&mut sim, Duration::from_hours(1));
    for _ in 0..3 {
        sim.advance(Policy::default().unlock_confirm);
        sim.timeout();
    }
    assert_eq!(
        unlocks(&sim),
        sent,
        "no unlock sent again after the restart"
    );
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 0);
    let view = sim.bank.view(r.compartment).unwrap();
    assert_eq!(view.stage, Stage::Stored);
    assert_eq!(view.out_of_service, None);
    assert!(sim.notes.iter().any(|n| matches!(
        n.kind,
        locker_domain::bank::NotificationKind::DoorWouldNotOpen
    )));
    // She comes back and types her code again: the door opens.
    sim.pick_up(&code, r.compartment);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
}

/// The gateway restarts and reads the system clock before it restores its
/// books: the wall clock anchored on the fresh bank is kept through the
/// restore, so the `Restored` record already carries the date and time (an
/// auditor reading the trail sees when the bank came back, not a gap). The
/// anchor makes no bank "in use"; a real input does.
#[test]
fn a_restarted_bank_stamps_its_restored_record_with_the_wall_clock_set_before() {
    use chrono::NaiveDate;
    use locker_domain::bank::AuditEvent;
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    sim.drain();
    let bytes = sim.bank.snapshot_to_vec().unwrap();
    let layout = sim.bank.layout().compartments().to_vec();
    let wall = NaiveDate::from_ymd_opt(2026, 12, 4)
        .unwrap()
        .and_hms_opt(22, 50, 0)
        .unwrap();
    let now = Instant::from_secs(3);
    let mut bank = Bank::on_heap(&layout, Policy::default(), keys()).unwrap();
    bank.set_wall_clock(wall, now).unwrap();
    bank.restore(&bytes, Instant::from_secs(4)).unwrap();
    let mut restored = None;
    while let Some(out) = bank.poll() {
        if let BankOutput::Audit(record) = out {
            if record.event == AuditEvent::Restored {
                restored = Some(record);
            }
        }
    }
    let restored = restored.expect("the restore is audited");
    assert_eq!(restored.wall, Some(wall + chrono::TimeDelta::seconds(1)));
    // A bank that handled an input is in use, anchored or not.
    let mut used = Bank::on_heap(&layout, Policy::default(), keys()).unwrap();
    used.set_wall_clock(wall, now).unwrap();
    used.handle_timeout(Instant::from_secs(5)).unwrap();
    while used.poll().is_some() {}
    assert_eq!(
        used.restore(&bytes, Instant::from_secs(6)),
        Err(PersistError::BankInUse)
    );
}
