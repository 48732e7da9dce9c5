//! Things that go wrong at the door, and what the bank does about them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::{
    Actor, AlertKind, AuditEvent, BankError, CommandOutcome, DoorPhase, NotificationKind,
    ParcelNeeds, Policy, Purpose, ServiceReason, StaffId, Stage,
};
use locker_proto::time::Duration;
use locker_proto::{Command, Event, FaultCode, NackReason, SizeClass};

#[test]
fn courier_closes_door_on_empty_compartment_is_told_at_once_and_may_try_again() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.drain();
    sim.bank
        .start_deposit(r.compartment, locker_domain::bank::StaffId(1), sim.now)
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(r.compartment, true);
    sim.close_door(r.compartment);
    // The sensor settles, nothing is there.
    sim.advance(Duration::from_secs(3));
    sim.timeout();
    let told = sim.notes.iter().any(|n| {
        matches!(n.kind, NotificationKind::NoParcelDetected)
            && n.to == Actor::Courier
            && n.compartment == r.compartment
    });
    assert!(told, "the courier hears about it");
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Reserved);
    // Second try within the window works.
    sim.advance(Duration::from_mins(1));
    let code = sim.deposit(r.compartment);
    assert_eq!(code.len(), 6);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
}

#[test]
fn a_forced_door_is_a_security_alert_with_a_snapshot_and_takes_the_compartment_out() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    let (node, channel) = sim.wiring(r.compartment);
    sim.drain();
    sim.bank
        .handle_node_event(
            node,
            &Event::DoorOpened {
                channel,
                commanded: false,
            },
            sim.now,
        )
        .unwrap();
    sim.drain();
    let snap = sim.camera.last().expect("a snapshot is requested");
    assert_eq!(snap.compartment, r.compartment);
    let alert = sim
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::ForcedDoor)
        .unwrap();
    assert_eq!(alert.snapshot, Some(snap.reference));
    assert_eq!(alert.parcel, Some(r.parcel));
    let audited = sim.audit.iter().any(|a| a.snapshot == Some(snap.reference));
    assert!(audited, "the audit trail names the snapshot");
    assert_eq!(
        sim.bank.view(r.compartment).unwrap().out_of_service,
        Some(ServiceReason::ForcedDoor)
    );
}

#[test]
fn a_jammed_lock_is_retried_once_then_reported_and_taken_out_of_service() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.commands.clear();
    sim.drain();
    sim.bank
        .enter_code(locker_domain::bank::codes::KeypadId(0), &code, sim.now)
        .unwrap();
    sim.answer_status_requests();
    assert!(matches!(
        sim.commands.last(),
        Some((_, Command::Unlock { .. }))
    ));
    // The door never opens.
    sim.advance(Duration::from_secs(15));
    sim.timeout();
    let unlocks = sim
        .commands
        .iter()
        .filter(|(_, c)| matches!(c, Command::Unlock { .. }))
        .count();
    assert_eq!(unlocks, 2, "one retry");
    let stage = sim.bank.view(r.compartment).unwrap().stage;
    assert!(matches!(
        stage,
        Stage::Door {
            phase: DoorPhase::Unlocking { attempt: 1 },
            purpose: Purpose::Pickup,
            ..
        }
    ));
    sim.advance(Duration::from_secs(15));
    sim.timeout();
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 1);
    let v = sim.bank.view(r.compartment).unwrap();
    assert_eq!(v.out_of_service, Some(ServiceReason::LockFault));
    assert_eq!(v.stage, Stage::Stored, "the parcel stays in the books");
    assert!(
        sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::DoorWouldNotOpen))
    );
}

#[test]
fn a_node_refusing_the_unlock_counts_like_a_door_that_never_opened() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.drain();
    sim.bank
        .start_deposit(r.compartment, locker_domain::bank::StaffId(1), sim.now)
        .unwrap();
    sim.drain();
    let (node, cmd) = *sim.commands.last().unwrap();
    for _ in 0..2 {
        sim.drain();
        sim.bank
            .handle_command_result(
                node,
                &cmd,
                CommandOutcome::Nacked(NackReason::Faulted),
                sim.now,
            )
            .unwrap();
        sim.drain();
    }
    sim.drain();
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 1);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Reserved);
}

#[test]
fn a_door_left_open_raises_one_ajar_alert_and_asks_to_close_it() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.drain();
    sim.bank
        .start_deposit(r.compartment, locker_domain::bank::StaffId(1), sim.now)
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(r.compartment, true);
    sim.advance(Duration::from_mins(3));
    sim.timeout();
    let (_, channel) = sim.wiring(r.compartment);
    sim.event(r.compartment, Event::DoorAjar { channel });
    assert_eq!(sim.alerts_of(AlertKind::DoorAjar), 1);
    assert!(
        sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::CloseTheDoor) && n.to == Actor::Courier)
    );
}

#[test]
fn a_parcel_left_inside_after_pickup_keeps_its_code_and_the_recipient_is_told() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.drain();
    sim.bank
        .enter_code(locker_domain::bank::codes::KeypadId(0), &code, sim.now)
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(r.compartment, true);
    sim.close_door(r.compartment);
    sim.advance(Duration::from_secs(3));
    sim.timeout();
    assert!(
        sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::ParcelLeftInside)
                && n.to == Actor::Recipient)
    );
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
    sim.pick_up(&code, r.compartment);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
}

#[test]
fn a_parcel_vanishing_behind_a_closed_door_is_an_alert_not_a_pickup() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    sim.take_parcel(r.compartment);
    assert_eq!(sim.alerts_of(AlertKind::ParcelMissing), 1);
    let v = sim.bank.view(r.compartment).unwrap();
    assert_eq!(
        v.parcel,
        Some(r.parcel),
        "still in the books, with the alert"
    );
    assert_eq!(v.out_of_service, Some(ServiceReason::SensorDisagrees));
    assert_eq!(sim.bank.stats().pickups, 0);
}

#[test]
fn staff_override_opening_is_audited_with_its_actor() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    sim.drain();
    sim.bank
        .staff_open(r.compartment, StaffId(4), sim.now)
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(r.compartment, true);
    sim.take_parcel(r.compartment);
    sim.close_door(r.compartment);
    let verified = sim.audit.iter().any(|a| {
        a.actor == Actor::Staff
            && matches!(
                a.event,
                locker_domain::bank::AuditEvent::PickupVerified { .. }
            )
            && a.parcel == Some(r.parcel)
    });
    assert!(verified);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 0);
}

#[test]
fn a_jam_fault_reported_by_the_node_during_an_unlock_leads_to_the_retry() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.drain();
    sim.bank
        .start_deposit(r.compartment, locker_domain::bank::StaffId(1), sim.now)
        .unwrap();
    sim.answer_status_requests();
    let (_, channel) = sim.wiring(r.compartment);
    sim.commands.clear();
    sim.event(
        r.compartment,
        Event::FaultRaised {
            channel: Some(channel),
            fault: FaultCode::LockJammed,
        },
    );
    assert_eq!(
        sim.commands
            .iter()
            .filter(|(_, c)| matches!(c, Command::Unlock { .. }))
            .count(),
        1
    );
}

#[test]
fn a_lock_that_keeps_jamming_is_flagged_for_maintenance_even_when_staff_keep_putting_it_back() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    for round in 0..3 {
        sim.drain();
        sim.bank
            .staff_open(r.compartment, StaffId(4), sim.now)
            .unwrap();
        sim.answer_status_requests();
        // The door never opens: retry, then lock fault.
        for _ in 0..2 {
            sim.advance(Duration::from_secs(15));
            sim.timeout();
        }
        assert_eq!(sim.alerts_of(AlertKind::LockFault), round + 1);
        sim.drain();
        sim.bank
            .set_in_service(r.compartment, Actor::Staff, sim.now)
            .unwrap();
        sim.drain();
    }
    assert_eq!(
        sim.alerts_of(AlertKind::Maintenance),
        1,
        "the third jam is a pattern, not bad luck"
    );
}

/// The node's answers and its door report are held up on a noisy bus: the
/// bank gives the deposit up as a lock fault before it hears that the
/// courier opened the door within the node's unlock window. The node's word
/// (`commanded`) makes that opening the deposit's, not a forced door.
#[test]
fn a_door_report_that_arrives_after_the_bank_gave_up_is_the_courier_not_a_burglar() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.drain();
    sim.bank
        .start_deposit(r.compartment, locker_domain::bank::StaffId(1), sim.now)
        .unwrap();
    sim.drain();
    let (node, cmd) = *sim.commands.last().unwrap();
    // No answer, twice: the bank asks the node's status, waits out the
    // confirmation time, retries, and gives up.
    for _ in 0..2 {
        sim.bank
            .handle_command_result(node, &cmd, CommandOutcome::Failed, sim.now)
            .unwrap();
        sim.drain();
        sim.advance(Policy::default().unlock_confirm);
        sim.timeout();
    }
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 1);
    // The node's report of the opening (by its pulse) arrives at last.
    let (_, channel) = sim.wiring(r.compartment);
    sim.event(
        r.compartment,
        Event::DoorOpened {
            channel,
            commanded: true,
        },
    );
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 0);
    let view = sim.bank.view(r.compartment).unwrap();
    assert_eq!(view.out_of_service, None);
    assert!(matches!(view.stage, Stage::Door { .. }));
    sim.put_parcel(r.compartment);
    sim.close_door(r.compartment);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
    assert!(
        sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::ParcelReady))
    );
    // The same report without the node's word is a forced door.
    let other = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let (_, channel) = sim.wiring(other.compartment);
    sim.event(
        other.compartment,
        Event::DoorOpened {
            channel,
            commanded: false,
        },
    );
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 1);
}

#[test]
fn a_parcel_taken_without_a_word_from_its_node_is_missed_at_the_next_periodic_scan() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    let scans_before = sim
        .commands
        .iter()
        .filter(|(_, c)| *c == Command::GetAllStatus)
        .count();

    // The parcel goes, and no event says so (lost, suppressed, or the
    // node's sensor report never made it): only the world knows.
    let k = sim.bank.layout().slot_of(r.compartment).unwrap().get();
    sim.physical[k].occupied = false;
    let every = sim.bank.policy().status_scan_every;
    sim.run_until(sim.now + every);
    let scans = sim
        .commands
        .iter()
        .filter(|(_, c)| *c == Command::GetAllStatus)
        .count();
    assert!(scans > scans_before, "every node is scanned");
    assert_eq!(
        sim.alerts_of(AlertKind::ParcelMissing),
        1,
        "missed within one scan period"
    );
    // The books keep the parcel until staff resolve it.
    assert_eq!(sim.bank.view(r.compartment).unwrap().parcel, Some(r.parcel));
    assert!(
        sim.bank
            .view(r.compartment)
            .unwrap()
            .out_of_service
            .is_some()
    );

    // A bank whose books and compartments agree raises nothing at its scans.
    let alerts = sim.alerts.len();
    sim.run_until(sim.now + Duration::from_millis(every.as_millis() * 4));
    assert_eq!(sim.alerts.len(), alerts, "{:?}", &sim.alerts[alerts..]);
}

#[test]
fn a_replaced_load_cell_that_reads_occupied_is_recalibrated_by_staff_and_stays_quiet() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let id = sim.bank.layout().compartments()[5].id;
    let k = sim.bank.layout().slot_of(id).unwrap().get();

    // The new load cell reads "occupied" in the empty compartment: the next
    // scan takes it out of service with an alert.
    sim.physical[k].occupied = true;
    let every = sim.bank.policy().status_scan_every;
    sim.run_until(sim.now + every);
    assert_eq!(sim.alerts_of(AlertKind::UnexpectedItem), 1);
    assert!(sim.bank.view(id).unwrap().out_of_service.is_some());

    // Staff see it empty and have the sensor take its reading as empty.
    let audit_before = sim.audit.len();
    let now = sim.now;
    sim.ready().recalibrate(id, StaffId(7), now).unwrap();
    sim.drain();
    let (node, channel) = sim.wiring(id);
    assert!(
        sim.commands
            .contains(&(node, Command::Calibrate { channel })),
        "the node is asked to calibrate: {:?}",
        sim.commands
    );
    assert!(sim.audit[audit_before..].iter().any(|a| a.event
        == AuditEvent::SensorRecalibrated { staff: StaffId(7) }
        && a.actor == Actor::Staff));
    // The node takes the new baseline and says the compartment is empty.
    sim.take_parcel(id);
    sim.ready().set_in_service(id, Actor::Staff, now).unwrap();
    sim.drain();

    // Scan after scan, nothing more is raised about it.
    let alerts = sim.alerts.len();
    sim.run_until(sim.now + Duration::from_millis(every.as_millis() * 4));
    assert_eq!(sim.alerts.len(), alerts, "{:?}", &sim.alerts[alerts..]);
    assert_eq!(sim.bank.view(id).unwrap().out_of_service, None);
}

#[test]
fn a_sensor_is_never_recalibrated_over_a_parcel_the_books_hold() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    let before = sim.bank.snapshot_to_vec().unwrap();
    let now = sim.now;
    let refused = sim.ready().recalibrate(r.compartment, StaffId(7), now);
    assert!(
        matches!(refused, Err(BankError::WrongStage { .. })),
        "{refused:?}"
    );
    sim.drain();
    assert_eq!(
        sim.bank.snapshot_to_vec().unwrap(),
        before,
        "nothing changed"
    );
    assert!(
        !sim.commands
            .iter()
            .any(|(_, c)| matches!(c, Command::Calibrate { .. }))
    );
}
