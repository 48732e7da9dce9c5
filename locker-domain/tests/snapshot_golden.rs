//! The bank's saved snapshots, byte for byte: a gateway that upgrades must
//! carry every parcel of the bank it restarts on.
//!
//! `golden/snapshot/v2.bin` was written by the build that used snapshot
//! format 2, from [`scenario`]: a 24-compartment bank in the middle of a
//! working day; `v3.bin`, `v4.bin`, `v5.bin`, `v6.bin` and `v7.bin`
//! likewise by the builds of formats 3 to 7. They are never regenerated;
//! set `LOCKER_BLESS=1` to (re)write the golden of the format this build
//! writes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::codes::{CodeError, KeypadId};
use locker_domain::bank::{
    Actor, AlertKind, AuditChain, AuditEvent, AuditLink, Bank, BankError, BankOutput, CodeOutcome,
    CompartmentView, DoorPhase, NotificationKind, ParcelId, ParcelKind, ParcelNeeds, PersistError,
    Policy, Purpose, RemoteOpen, RemoteOpenError, SNAPSHOT_VERSION, ServiceReason, SnapshotInfo,
    Stage, verify_chain,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::{CompartmentId, DoorState, Event, SizeClass};

/// A bank mid-day: parcels stored, reserved, reminded about, a return, a
/// forced door, a pickup in progress, a remote open, wrong codes typed, and
/// audit records not yet handed out.
fn scenario() -> (Sim<24>, Vec<(CompartmentId, String)>) {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let mut codes = Vec::new();
    // Two parcels stored early: one will be reminded about.
    for _ in 0..2 {
        let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
        let code = sim.deposit(r.compartment);
        codes.push((r.compartment, code));
    }
    sim.advance(Duration::from_secs(25 * 3600));
    sim.timeout();
    // The backend grants the first parcel more time.
    let first = codes[0].0;
    sim.drain();
    sim.bank
        .extend_deadline(
            first,
            Duration::from_secs(12 * 3600),
            Actor::Backend,
            sim.now,
        )
        .unwrap();
    sim.drain();
    // A medium parcel stored later.
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Medium));
    let code = sim.deposit(r.compartment);
    codes.push((r.compartment, code));
    // A reservation the courier has not used yet.
    let reserved = sim.reserve(ParcelNeeds::size(SizeClass::Large));
    codes.push((reserved.compartment, sim.codes[&reserved.parcel.0].clone()));
    // A resident drops off a return.
    sim.drain();
    let ret = sim
        .bank
        .reserve(
            ParcelNeeds::size(SizeClass::Medium),
            ParcelKind::Return,
            &mut sim.dice,
            sim.now,
        )
        .unwrap();
    sim.remember(&ret);
    sim.drain();
    sim.deposit(ret.compartment);
    // A door forced open and shut again.
    sim.open_door(CompartmentId(20), false);
    sim.close_door(CompartmentId(20));
    // A remote open of an empty compartment.
    sim.drain();
    sim.bank
        .remote_open(
            &RemoteOpen::signed(&keys(), sim.bank.incarnation(), CompartmentId(9), 7),
            sim.now,
        )
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(CompartmentId(9), true);
    sim.close_door(CompartmentId(9));
    // Two wrong codes at the keypad.
    for wrong in ["000000", "999999"] {
        sim.advance(Duration::from_secs(5));
        sim.drain();
        let out = sim.bank.enter_code(KeypadId(1), wrong, sim.now).unwrap();
        assert!(matches!(out, CodeOutcome::Rejected { .. }));
        sim.drain();
    }
    // A pickup in progress: the second parcel's door is open.
    sim.advance(Duration::from_secs(60));
    let (second, second_code) = codes[1].clone();
    sim.drain();
    let out = sim
        .bank
        .enter_code(KeypadId(0), &second_code, sim.now)
        .unwrap();
    assert_eq!(out, CodeOutcome::Opening(second));
    sim.answer_status_requests();
    sim.open_door(second, true);
    // Staff take one compartment out of service; its audit record is not
    // handed out before the snapshot.
    sim.drain();
    sim.bank
        .set_out_of_service(CompartmentId(24), Actor::Staff, sim.now)
        .unwrap();
    (sim, codes)
}

#[test]
fn the_golden_of_this_builds_format_is_what_the_bank_writes() {
    let (sim, _) = scenario();
    let bytes = sim.bank.snapshot_to_vec().unwrap();
    let path = format!(
        "{}/tests/golden/snapshot/v{SNAPSHOT_VERSION}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("LOCKER_BLESS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let golden = std::fs::read(&path).expect("golden snapshot (LOCKER_BLESS=1 writes it)");
    assert_eq!(
        bytes, golden,
        "the snapshot format changed: bump SNAPSHOT_VERSION"
    );
    restart_on(&golden);
}

/// The scenario's world with its gateway restarted on `snapshot`: the
/// monotonic clock starts again, the bank reconciles with the nodes.
fn restart_on(snapshot: &[u8]) -> Sim<24> {
    let (mut sim, _) = scenario();
    sim.drain();
    sim.notes.clear();
    sim.alerts.clear();
    sim.audit.clear();
    sim.now = Instant::from_secs(5);
    *sim.bank = Bank::restore_on_heap(
        &mixed_layout(24),
        Policy::default(),
        keys(),
        snapshot,
        sim.now,
    )
    .unwrap();
    sim.answer_status_requests();
    sim
}

/// What the bank tells people over the next four days, as (hours after the
/// restart, compartment, notification).
fn next_four_days(sim: &mut Sim<24>) -> Vec<(u64, u16, String)> {
    let start = sim.now;
    sim.notes.clear();
    sim.run_until(start + Duration::from_secs(96 * 3600));
    sim.notes
        .iter()
        .map(|n| {
            (
                (n.at - start).as_millis() / 3_600_000,
                n.compartment.0,
                format!("{:?}", n.kind),
            )
        })
        .collect()
}

fn golden(version: u8) -> Vec<u8> {
    let path = format!(
        "{}/tests/golden/snapshot/v{version}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap()
}

fn view(
    id: u16,
    stage: Stage,
    parcel: Option<u32>,
    door: DoorState,
    out_of_service: Option<ServiceReason>,
) -> CompartmentView {
    CompartmentView {
        id: CompartmentId(id),
        stage,
        parcel: parcel.map(ParcelId),
        door,
        occupied: Some(parcel.is_some() && stage != Stage::Reserved),
        out_of_service,
    }
}

/// Every compartment of the scenario that is not free and in service.
fn expected_books() -> Vec<CompartmentView> {
    let pickup = Stage::Door {
        purpose: Purpose::Pickup,
        phase: DoorPhase::Open,
        by: Actor::Recipient,
    };
    let closed = DoorState::Closed;
    vec![
        view(5, Stage::Stored, Some(1), closed, None),
        view(6, pickup, Some(2), DoorState::Open, None),
        view(13, Stage::Stored, Some(3), closed, None),
        view(14, Stage::Stored, Some(5), closed, None),
        view(
            20,
            Stage::Free,
            None,
            closed,
            Some(ServiceReason::ForcedDoor),
        ),
        view(21, Stage::Reserved, Some(4), closed, None),
        view(24, Stage::Free, None, closed, Some(ServiceReason::Override)),
    ]
}

/// The scenario's deadlines, as the bank acts on them after the restart:
/// the open door at once, reminders at 24 h after each deposit, the first
/// parcel's escalation 12 h late (its deadline was extended), removals at
/// 72 h, the unused reservation's hold.
const EXPECTED_DAYS: &[(u64, u16, &str)] = &[
    (0, 6, "CloseTheDoor"),
    (23, 13, "Reminder"),
    (23, 14, "Reminder"),
    (23, 21, "ReservationExpired"),
    (34, 5, "Escalation"),
    (34, 5, "Escalation"),
    (47, 13, "Escalation"),
    (47, 13, "Escalation"),
    (47, 14, "Escalation"),
    (47, 14, "Escalation"),
    // Staff are asked to remove each expired parcel; its recipient is told.
    (71, 5, "RemovalTask"),
    (71, 5, "ParcelExpired"),
    (71, 13, "RemovalTask"),
    (71, 13, "ParcelExpired"),
    (71, 14, "RemovalTask"),
    (71, 14, "ParcelExpired"),
];

/// What every format read by this build must carry across a restart;
/// `first` is the sequence number of the audit record not yet handed out
/// (the scenario grew four records when the bank learnt incarnations).
fn assert_carried(snapshot: &[u8], first: u64) {
    let (_, codes) = scenario();
    let mut sim = restart_on(snapshot);
    let books: Vec<CompartmentView> = sim
        .bank
        .views()
        .filter(|v| v.stage != Stage::Free || v.out_of_service.is_some())
        .collect();
    assert_eq!(books, expected_books());
    // The audit record not yet handed out comes first, in sequence.
    let trail: Vec<(u64, AuditEvent)> = sim.audit.iter().map(|r| (r.seq, r.event)).collect();
    assert_eq!(
        trail[..2],
        [
            (
                first,
                AuditEvent::OutOfService {
                    reason: ServiceReason::Override
                }
            ),
            (first + 1, AuditEvent::Restored)
        ]
    );
    let stats = *sim.bank.stats();
    assert_eq!(
        (stats.deposits, stats.reminders, stats.remote_opens),
        (4, 2, 1)
    );
    assert_eq!(stats.alerts_of(AlertKind::ForcedDoor), 1);
    // A captured remote open is still a replay after the restart.
    sim.drain();
    let replay = sim.bank.remote_open(
        &RemoteOpen::signed(&keys(), sim.bank.incarnation(), CompartmentId(9), 7),
        sim.now,
    );
    assert_eq!(
        replay,
        Err(BankError::RemoteOpen(RemoteOpenError::Replayed {
            request_id: 7
        }))
    );
    sim.drain();
    let mut later = restart_on(snapshot);
    let days: Vec<(u64, u16, String)> = next_four_days(&mut later);
    let expected: Vec<(u64, u16, String)> = EXPECTED_DAYS
        .iter()
        .map(|(h, c, k)| (*h, *c, k.to_string()))
        .collect();
    assert_eq!(days, expected);
    // Every stored parcel's code still opens its compartment, and only it;
    // the unused reservation's code opens nothing until the deposit.
    let mut sim = restart_on(snapshot);
    for (compartment, code) in &codes {
        sim.advance(Duration::from_secs(1));
        sim.drain();
        let out = sim.bank.enter_code(KeypadId(2), code, sim.now).unwrap();
        let expected = match compartment.0 {
            5 | 13 => CodeOutcome::Opening(*compartment),
            _ => out,
        };
        assert_eq!(out, expected, "code of {compartment:?}");
        if compartment.0 == 21 || compartment.0 == 6 {
            assert!(matches!(out, CodeOutcome::Rejected { .. }));
        }
        sim.answer_status_requests();
    }
}

#[test]
fn a_gateway_upgraded_from_format_2_keeps_every_parcel_code_and_deadline() {
    assert_carried(&golden(2), 37);
}

#[test]
fn a_gateway_upgraded_from_format_3_keeps_every_parcel_code_and_deadline() {
    assert_carried(&golden(3), 37);
}

#[test]
fn a_gateway_restarted_on_format_7_keeps_every_parcel_code_and_deadline() {
    assert_carried(&golden(7), 41);
}

#[test]
fn a_gateway_upgraded_from_format_6_keeps_every_parcel_code_and_deadline() {
    assert_carried(&golden(6), 41);
}

#[test]
fn format_7_carries_the_analytics_and_older_formats_restore_them_as_zero() {
    // The scenario's bank has no wall clock: its deposits count by size
    // and in no hour.
    let (sim, _) = scenario();
    let written = sim.bank.stats().analytics;
    assert_eq!(written.deposits_of(SizeClass::Small), 2);
    assert_eq!(written.deposits_by_hour, [0; 24]);
    let restored = restart_on(&golden(7));
    assert_eq!(restored.bank.stats().analytics, written);
    for version in 2..7 {
        let sim = restart_on(&golden(version));
        assert_eq!(
            sim.bank.stats().analytics,
            Default::default(),
            "format {version}"
        );
        // The counters older formats kept still carry over.
        assert_eq!(sim.bank.stats().deposits, 4, "format {version}");
    }
}

#[test]
fn a_gateway_upgraded_from_format_5_keeps_every_parcel_code_and_deadline() {
    // Format 5's parcels did not say whether they were perishable: none of
    // the scenario's is, and they keep the ordinary deadlines.
    assert_carried(&golden(5), 41);
}

#[test]
fn a_gateway_restarted_on_format_4_keeps_every_parcel_code_and_deadline() {
    assert_carried(&golden(4), 37);
}

/// The audit records a gateway restarted on `snapshot` hands out over its
/// first four days.
fn trail_after_restart(snapshot: &[u8]) -> Vec<locker_domain::bank::AuditRecord> {
    let mut sim = restart_on(snapshot);
    next_four_days(&mut sim);
    sim.audit
}

#[test]
fn a_gateway_upgraded_from_format_3_starts_its_audit_chain_at_the_oldest_record_carried() {
    // Format 3 kept no links: the record carried across (37) follows the
    // genesis link, and everything after it follows on.
    let trail = trail_after_restart(&golden(3));
    assert_eq!(trail[0].seq, 37);
    assert!(trail[0].follows(&AuditLink::GENESIS));
    let checked = verify_chain(AuditChain::after(36, AuditLink::GENESIS), &trail).unwrap();
    assert_eq!(checked, trail.len() as u64);
    assert!(trail.len() > 10, "four days of deadlines make records");
}

#[test]
fn the_audit_chain_runs_on_across_a_restart_from_the_snapshot() {
    // Before the snapshot: every record from 0 on, chained from genesis.
    let (mut sim, _) = scenario();
    sim.drain();
    let before = sim.audit.clone();
    assert_eq!(
        verify_chain(AuditChain::from_genesis(), &before),
        Ok(before.len() as u64)
    );
    let last = before.last().unwrap();
    assert_eq!(sim.bank.last_audit_link(), last.link);
    let snapshot = sim.bank.snapshot_to_vec().unwrap();

    // After it: the restored bank's first record follows the last one
    // before, on and on, exactly as the format 4 golden's restart does.
    let after = trail_after_restart(&snapshot);
    assert_eq!(after[0].event, AuditEvent::Restored);
    assert_eq!(
        verify_chain(AuditChain::after(last.seq, last.link), &after),
        Ok(after.len() as u64)
    );
    for version in [4, SNAPSHOT_VERSION] {
        let snapshot = golden(version);
        let info = SnapshotInfo::read(&snapshot).unwrap();
        let from_golden = trail_after_restart(&snapshot);
        // First the records the snapshot still held (the newest one ends
        // with its last link), then the restored bank's, chained on.
        let carried = from_golden
            .iter()
            .take_while(|r| r.seq < info.next_seq)
            .count();
        assert!(carried > 0, "the scenario leaves a record unpolled");
        assert_eq!(from_golden[carried - 1].link, info.last_link);
        assert!(
            verify_chain(
                AuditChain::after(info.next_seq - 1, info.last_link),
                &from_golden[carried..]
            )
            .is_ok(),
            "format {version}"
        );
    }
}

#[test]
fn a_format_4_snapshot_whose_last_link_disagrees_with_its_records_is_refused() {
    let (sim, _) = scenario();
    let mut bytes = sim.bank.snapshot_to_vec().unwrap();
    // Flip a byte of the last link in the meta record (found by its value)
    // and fix the checksum: the books no longer hang together.
    let link = sim.bank.last_audit_link().0;
    let at = bytes.windows(32).position(|w| w == link).unwrap();
    bytes[at] ^= 1;
    let end = bytes.len() - 4;
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    let restored = Bank::restore_on_heap(
        &mixed_layout(24),
        Policy::default(),
        keys(),
        &bytes,
        Instant::from_secs(5),
    );
    assert_eq!(restored.err(), Some(PersistError::Inconsistent));
}

#[test]
fn a_restart_keeps_keypad_lockouts() {
    let (mut sim, _) = scenario();
    // Two wrong codes were typed at keypad 1 in the scenario; a few more
    // lock it.
    let (until, failures) = loop {
        sim.advance(Duration::from_secs(1));
        sim.drain();
        match sim.bank.enter_code(KeypadId(1), "111111", sim.now).unwrap() {
            CodeOutcome::Rejected {
                locked_until: Some(until),
                failures,
            } => break (until, failures),
            CodeOutcome::Rejected { .. } => {}
            CodeOutcome::Opening(c) => panic!("a wrong code opened {c:?}"),
            CodeOutcome::CollectAtCounter => panic!("a wrong code was taken for a parcel's"),
        }
    };
    assert!(failures > 2);
    let left = until - sim.now;
    sim.drain();
    let bytes = sim.bank.snapshot_to_vec().unwrap();
    let now = Instant::from_secs(5);
    let mut bank =
        Bank::restore_on_heap(&mixed_layout(24), Policy::default(), keys(), &bytes, now).unwrap();
    // Still locked for the rest of its lockout, on the new clock.
    // The restored bank's own outputs first (status requests, the restore).
    while bank.poll().is_some() {}
    let code = "384661";
    let left_after = match bank.enter_code(KeypadId(1), code, now) {
        Err(BankError::Code(CodeError::LockedOut { until })) => until - now,
        other => panic!("the lockout did not survive the restart: {other:?}"),
    };
    assert_eq!(left_after, left);
    // And the next wrong code after it counts on from where it was.
    let after = now + left;
    let out = bank.enter_code(KeypadId(1), "444444", after).unwrap();
    assert_eq!(
        out,
        CodeOutcome::Rejected {
            failures: failures + 1,
            locked_until: out_locked_until(&out)
        }
    );
    assert!(out_locked_until(&out).is_some());
}

fn out_locked_until(out: &CodeOutcome) -> Option<Instant> {
    match out {
        CodeOutcome::Rejected { locked_until, .. } => *locked_until,
        CodeOutcome::Opening(_) | CodeOutcome::CollectAtCounter => None,
    }
}

#[test]
fn a_restart_keeps_sensor_health_evidence_and_undelivered_alerts_and_notifications() {
    let (mut sim, _) = scenario();
    sim.drain();
    // Compartment 2's lock fails twice before the restart...
    let (node, channel) = sim.wiring(CompartmentId(2));
    let jam = Event::FaultRaised {
        channel: Some(channel),
        fault: locker_proto::FaultCode::LockJammed,
    };
    for _ in 0..2 {
        sim.advance(Duration::from_secs(60));
        sim.drain();
        sim.bank.handle_node_event(node, &jam, sim.now).unwrap();
        sim.drain();
    }
    sim.alerts.clear();
    sim.notes.clear();
    // ...and a door is forced just before it; nobody has polled that alert.
    let (node3, channel3) = sim.wiring(CompartmentId(3));
    sim.drain();
    sim.bank
        .handle_node_event(
            node3,
            &Event::DoorOpened {
                channel: channel3,
                commanded: false,
            },
            sim.now,
        )
        .unwrap();
    let bytes = sim.bank.snapshot_to_vec().unwrap();
    let now = Instant::from_secs(5);
    let mut bank =
        Bank::restore_on_heap(&mixed_layout(24), Policy::default(), keys(), &bytes, now).unwrap();
    let alerts = alerts_of(&mut bank);
    assert!(alerts.contains(&AlertKind::ForcedDoor), "{alerts:?}");
    // The third fault after the restart is the repeated one.
    bank.handle_node_event(node, &jam, now).unwrap();
    let alerts = alerts_of(&mut bank);
    assert!(alerts.contains(&AlertKind::Maintenance), "{alerts:?}");
    // A notification not yet handed out survives too: the courier closed
    // the door on the parcel just before the restart.
    let (mut sim, _) = scenario();
    sim.drain();
    let r = sim.staff_deposit_with_the_door_open();
    sim.put_parcel(r.compartment);
    let (node, channel) = sim.wiring(r.compartment);
    sim.drain();
    sim.bank
        .handle_node_event(node, &Event::DoorClosed { channel }, sim.now)
        .unwrap();
    let bytes = sim.bank.snapshot_to_vec().unwrap();
    let mut bank =
        Bank::restore_on_heap(&mixed_layout(24), Policy::default(), keys(), &bytes, now).unwrap();
    let ready: Vec<(CompartmentId, Option<ParcelId>)> = std::iter::from_fn(|| bank.poll())
        .filter_map(|o| match o {
            BankOutput::Notification(n) if matches!(n.kind, NotificationKind::ParcelReady) => {
                Some((n.compartment, n.parcel))
            }
            _ => None,
        })
        .collect();
    assert_eq!(ready, [(r.compartment, Some(r.parcel))]);
}

/// Drains the bank; the kinds of the alerts it handed out.
fn alerts_of(bank: &mut Bank<'_>) -> Vec<AlertKind> {
    std::iter::from_fn(|| bank.poll())
        .filter_map(|o| match o {
            BankOutput::Alert(a) => Some(a.kind),
            _ => None,
        })
        .collect()
}

/// `bytes` with its version byte set to `version` and its checksum redone.
fn as_version(bytes: &[u8], version: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[4] = version;
    let n = b.len() - 4;
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn restore(bytes: &[u8]) -> Result<(), PersistError> {
    Bank::restore_on_heap(
        &mixed_layout(24),
        Policy::default(),
        keys(),
        bytes,
        Instant::from_secs(5),
    )
    .map(|_| ())
}

#[test]
fn a_snapshot_from_a_newer_build_or_format_1_is_refused_with_its_version() {
    let current = golden(SNAPSHOT_VERSION);
    let newer = as_version(&current, SNAPSHOT_VERSION + 1);
    assert_eq!(
        restore(&newer),
        Err(PersistError::UnsupportedVersion {
            found: SNAPSHOT_VERSION + 1
        })
    );
    assert_eq!(
        restore(&as_version(&current, 1)),
        Err(PersistError::UnsupportedVersion { found: 1 })
    );
}

#[test]
fn a_cut_or_damaged_snapshot_of_any_format_is_refused_never_half_read() {
    for version in [2, SNAPSHOT_VERSION] {
        let bytes = golden(version);
        for n in 0..bytes.len() {
            assert!(restore(&bytes[..n]).is_err(), "v{version} cut at {n}");
        }
        // Damage under a valid checksum (a bug, not a disk error): every
        // byte changed in turn is refused or restores consistent books.
        for k in 9..bytes.len() - 4 {
            let mut b = bytes.clone();
            b[k] ^= 0x5a;
            let b = as_version(&b, version);
            if let Ok(()) = restore(&b) {
                let bank = Bank::restore_on_heap(
                    &mixed_layout(24),
                    Policy::default(),
                    keys(),
                    &b,
                    Instant::from_secs(5),
                )
                .unwrap();
                for v in bank.views() {
                    let empty_stage = matches!(
                        v.stage,
                        Stage::Free
                            | Stage::Door {
                                purpose: Purpose::Inspection,
                                ..
                            }
                    );
                    assert_eq!(v.parcel.is_none(), empty_stage, "{v:?}");
                }
            }
        }
        // A format-2 body read as format 3 (or the reverse) is refused.
        let other = if version == 2 { SNAPSHOT_VERSION } else { 2 };
        assert!(restore(&as_version(&bytes, other)).is_err());
    }
}
