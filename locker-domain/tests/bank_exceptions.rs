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
use locker_proto::{Command, DoorState, Event, FaultCode, NackReason, Presence, SizeClass};

#[test]
fn courier_closes_door_on_empty_compartment_is_told_at_once_and_may_try_again() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.staff_deposit_with_the_door_open();
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
    let snap = the_forced_door_is_on_record(&sim, &r);
    assert_eq!(snap.compartment, r.compartment);
    let audited = sim.audit.iter().any(|a| a.snapshot == Some(snap.reference));
    assert!(audited, "the audit trail names the snapshot");
}

/// The forced-door alert of `r`'s compartment names the snapshot the bank
/// asked for last and `r`'s parcel, and the compartment is out of service
/// for it. Returns the snapshot request.
fn the_forced_door_is_on_record(
    sim: &Sim<24>,
    r: &locker_domain::bank::Reservation,
) -> locker_domain::bank::SnapshotRequest {
    let snap = *sim.camera.last().expect("a snapshot is requested");
    let alert = sim
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::ForcedDoor)
        .expect("the forced door");
    assert_eq!(alert.snapshot, Some(snap.reference));
    assert_eq!(alert.parcel, Some(r.parcel));
    assert_eq!(
        sim.bank.view(r.compartment).unwrap().out_of_service,
        Some(ServiceReason::ForcedDoor)
    );
    snap
}

/// Someone prises a stored parcel's door open just as the periodic scan
/// reads the node: the scan's answer reaches the bank before the node's
/// report of the opening. The scan's discrepancy is on record at once, and
/// the report that follows still makes it what it is, a forced door, with
/// its snapshot.
#[test]
fn a_forced_door_the_scan_saw_before_the_nodes_report_is_still_a_forced_door() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    sim.door_opens_unreported(r.compartment);
    sim.scan(r.compartment);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 0);
    assert_eq!(sim.alerts_of(AlertKind::DoorOpenUnexpectedly), 1);

    // The node's report of the opening, polled after the scan.
    sim.open_door(r.compartment, false);
    the_forced_door_is_on_record(&sim, &r);
    // Said once: the same report again (a node that restarted) adds nothing.
    sim.open_door(r.compartment, false);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 1);
}

/// A collector walks away from the open door (the session waits for it to
/// shut), and a scan finds it open as the books have it: the node's report
/// of that door after it restarts (a node reports every door it finds open
/// at its start as uncommanded) is no forced door.
#[test]
fn a_door_left_open_that_a_restarted_node_reports_again_is_no_forced_door() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    let code = sim.code_for(r.compartment).unwrap();
    sim.type_code(&code);
    sim.open_door(r.compartment, true);
    sim.take_parcel(r.compartment);
    sim.advance(Policy::default().door_ajar_limit);
    sim.timeout();
    sim.scan(r.compartment);
    sim.open_door(r.compartment, false);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 0, "{:?}", sim.alerts);
}

#[test]
fn a_jammed_lock_is_retried_once_then_reported_and_taken_out_of_service() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.commands.clear();
    sim.type_code(&code);
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
fn a_node_refusing_the_unlock_is_not_the_lock_s_fault_the_door_would_not_open_and_stays_in_service()
{
    // A Kerong board that stopped answering its adapter: the adapter
    // refuses the unlock ("channel faulted"). The lock was never pulsed, so
    // a lock-fault alert would send staff to a lock that is fine (the
    // node's own fault alert already names the board).
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.ack_unlocks = false;
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
    let unlocks = sim
        .commands
        .iter()
        .filter(|(_, c)| matches!(c, Command::Unlock { .. }))
        .count();
    assert_eq!(unlocks, 2, "one retry, as for a door that stayed shut");
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 0);
    let v = sim.bank.view(r.compartment).unwrap();
    assert_eq!(v.stage, Stage::Reserved, "the courier may try again");
    assert_eq!(v.out_of_service, None);
    assert!(
        sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::DoorWouldNotOpen))
    );
}

#[test]
fn a_refusal_after_an_acknowledged_unlock_still_blames_the_lock_that_did_not_let_go() {
    // The first unlock was taken and the door stayed shut; the retry is
    // refused. What the session heard first is evidence enough.
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.commands.clear();
    sim.type_code(&code);
    sim.advance(Duration::from_secs(15));
    sim.timeout();
    let (node, retry) = *sim.commands.last().unwrap();
    assert!(matches!(retry, Command::Unlock { .. }));
    sim.bank
        .handle_command_result(
            node,
            &retry,
            CommandOutcome::Nacked(NackReason::Faulted),
            sim.now,
        )
        .unwrap();
    sim.drain();
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 1);
}

/// A bank whose locks report their jams (our nodes, locks with contacts).
fn jam_reporting() -> Policy {
    Policy {
        locks_report_jams: true,
        ..Policy::default()
    }
}

#[test]
fn where_locks_report_jams_a_recipient_who_walks_away_from_the_unlocked_door_takes_nothing_out_of_service()
 {
    let mut sim = Sim::<24>::new(24, jam_reporting());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.commands.clear();
    // The code is right, the node takes both unlocks and its contact sees
    // the latch let go each time (no jam): nobody pulls the door.
    sim.type_code(&code);
    for _ in 0..2 {
        sim.advance(Duration::from_secs(15));
        sim.timeout();
    }
    let unlocks = sim
        .commands
        .iter()
        .filter(|(_, c)| matches!(c, Command::Unlock { .. }))
        .count();
    assert_eq!(unlocks, 2, "one retry, in case they were only slow");
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 0);
    let v = sim.bank.view(r.compartment).unwrap();
    assert_eq!(v.out_of_service, None, "no visit for a lock that works");
    assert_eq!(v.stage, Stage::Stored, "the parcel waits for them");
    // They come back and take it.
    sim.advance(Duration::from_mins(5));
    sim.pick_up(&code, r.compartment);
    assert!(!sim.bank.view(r.compartment).unwrap().stage.holds_parcel());
}

#[test]
fn where_locks_report_jams_the_node_s_jam_is_the_lock_s_fault() {
    let mut sim = Sim::<24>::new(24, jam_reporting());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    let (node, channel) = sim.wiring(r.compartment);
    sim.commands.clear();
    sim.type_code(&code);
    // The pulse ends and the contact never showed the latch released.
    let jam = Event::FaultRaised {
        channel: Some(channel),
        fault: FaultCode::LockJammed,
    };
    sim.bank.handle_node_event(node, &jam, sim.now).unwrap();
    sim.drain();
    let unlocks = sim
        .commands
        .iter()
        .filter(|(_, c)| matches!(c, Command::Unlock { .. }))
        .count();
    assert_eq!(unlocks, 2, "retried at once");
    // The retry's verdict is lost on the bus: the first jam still blames
    // the lock when the time runs out.
    sim.advance(Duration::from_secs(15));
    sim.timeout();
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 1);
    let v = sim.bank.view(r.compartment).unwrap();
    assert_eq!(v.out_of_service, Some(ServiceReason::LockFault));
    assert_eq!(v.stage, Stage::Stored);
}

#[test]
fn a_door_left_open_raises_one_ajar_alert_and_asks_to_close_it() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.staff_deposit_with_the_door_open();
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
fn a_door_the_recipient_walked_away_from_is_asked_of_the_next_person_until_someone_shuts_it() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let first = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let first_code = sim.deposit(first.compartment);
    let second = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let second_code = sim.deposit(second.compartment);
    // The first recipient takes the parcel and leaves the door open.
    sim.type_code(&first_code);
    sim.open_door(first.compartment, true);
    sim.take_parcel(first.compartment);
    assert_eq!(sim.bank.doors_left_open().count(), 0, "open, but in use");
    sim.advance(Duration::from_mins(3));
    sim.timeout();
    let (_, channel) = sim.wiring(first.compartment);
    sim.event(first.compartment, Event::DoorAjar { channel });
    assert_eq!(sim.alerts_of(AlertKind::DoorAjar), 1);
    assert!(sim.notes.iter().any(|n| {
        matches!(n.kind, NotificationKind::CloseTheDoor)
            && n.to == Actor::Recipient
            && n.compartment == first.compartment
    }));
    // The next person at the bank is asked too, and is asked again on
    // every visit while the door stands open.
    assert_eq!(
        sim.bank.doors_left_open().collect::<Vec<_>>(),
        [first.compartment]
    );
    sim.advance(Duration::from_mins(20));
    sim.type_code(&second_code);
    assert_eq!(
        sim.bank.doors_left_open().collect::<Vec<_>>(),
        [first.compartment]
    );
    // The second recipient's own open door is theirs, not abandoned.
    sim.open_door(second.compartment, true);
    assert_eq!(
        sim.bank.doors_left_open().collect::<Vec<_>>(),
        [first.compartment]
    );
    // They shut the abandoned door: nothing is asked any more.
    sim.close_door(first.compartment);
    assert_eq!(sim.bank.doors_left_open().count(), 0);
}

#[test]
fn a_forced_door_left_open_is_not_asked_of_passers_by() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    // Nobody unlocked it: a break-in, and the door is left open.
    sim.open_door(r.compartment, false);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 1);
    sim.advance(Duration::from_mins(3));
    sim.timeout();
    let (_, channel) = sim.wiring(r.compartment);
    sim.event(r.compartment, Event::DoorAjar { channel });
    // The open door is evidence: staff, already on their way, shut it.
    assert_eq!(sim.bank.doors_left_open().count(), 0);
}

#[test]
fn a_parcel_left_inside_after_pickup_keeps_its_code_and_the_recipient_is_told() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.type_code(&code);
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

#[test]
fn a_lock_replaced_after_it_kept_jamming_starts_with_a_clean_record() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    let jam_once = |sim: &mut Sim<24>| {
        sim.drain();
        sim.bank
            .staff_open(r.compartment, StaffId(4), sim.now)
            .unwrap();
        sim.answer_status_requests();
        for _ in 0..2 {
            sim.advance(Duration::from_secs(15));
            sim.timeout();
        }
        sim.drain();
    };
    for _ in 0..3 {
        jam_once(&mut sim);
        sim.bank
            .set_in_service(r.compartment, Actor::Staff, sim.now)
            .unwrap();
    }
    assert_eq!(sim.alerts_of(AlertKind::Maintenance), 1, "a pattern");
    // The technician fits a new lock and says so.
    sim.drain();
    sim.bank
        .serviced(r.compartment, StaffId(9), sim.now)
        .unwrap();
    sim.drain();
    let record = sim.audit.last().unwrap();
    assert_eq!(record.event, AuditEvent::Serviced { staff: StaffId(9) });
    assert_eq!(record.compartment, Some(r.compartment));
    assert_eq!(
        sim.bank.view(r.compartment).unwrap().out_of_service,
        None,
        "the books and the service state are left as they were"
    );
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
    // The new lock sticks once (a parcel pressed against the door): one
    // lock fault, not a fourth of a pattern.
    jam_once(&mut sim);
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 4);
    assert_eq!(
        sim.alerts_of(AlertKind::Maintenance),
        1,
        "no repeated-fault alarm"
    );
    // An unknown compartment is refused, and nothing is recorded.
    let records = sim.audit.len();
    assert_eq!(
        sim.bank
            .serviced(locker_proto::CompartmentId(99), StaffId(9), sim.now),
        Err(BankError::UnknownCompartment(locker_proto::CompartmentId(
            99
        )))
    );
    sim.drain();
    assert_eq!(sim.audit.len(), records);
}

/// The node's answers and its door report are held up on a noisy bus: the
/// bank gives the deposit up before it hears that the courier opened the
/// door within the node's unlock window. The node never confirmed an
/// unlock, so the lock is not blamed: no lock-fault alert, the compartment
/// stays in service, the courier is told the door would not open. The
/// node's word (`commanded`) makes the late opening the deposit's, not a
/// forced door.
#[test]
fn a_door_report_that_arrives_after_the_bank_gave_up_is_the_courier_not_a_burglar() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.ack_unlocks = false;
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
    assert_eq!(
        sim.alerts_of(AlertKind::LockFault),
        0,
        "the lock is not blamed"
    );
    let view = sim.bank.view(r.compartment).unwrap();
    assert_eq!(view.stage, Stage::Reserved);
    assert_eq!(view.out_of_service, None);
    assert!(
        sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::DoorWouldNotOpen))
    );
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

/// An expired parcel whose 72 hours ran out, and a member of staff who
/// opened its door for the removal and shut it again while the presence
/// sensor kept reading "occupied" (a load cell replaced, a baseline gone
/// astray): the bank could not verify the removal and keeps the parcel in
/// its books, out of service, with an alert. Returns the reservation.
fn a_removal_the_sensor_disputes(sim: &mut Sim<24>) -> locker_domain::bank::Reservation {
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let t0 = sim.now;
    sim.deposit(r.compartment);
    sim.run_until(t0 + Duration::from_hours(73));
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Expired);
    let now = sim.now;
    sim.ready()
        .staff_open(r.compartment, StaffId(4), now)
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(r.compartment, true);
    // Staff take the parcel out; the sensor goes on reading "occupied".
    sim.close_door(r.compartment);
    sim.advance(Policy::default().presence_settle);
    sim.timeout();
    assert_eq!(sim.alerts_of(AlertKind::RemovalNotVerified), 1);
    let v = sim.bank.view(r.compartment).unwrap();
    assert_eq!((v.stage, v.parcel), (Stage::Expired, Some(r.parcel)));
    assert_eq!(v.out_of_service, Some(ServiceReason::RemovalNotVerified));
    r
}

#[test]
fn staff_who_see_a_disputed_removal_empty_certify_it_and_the_compartment_serves_again() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = a_removal_the_sensor_disputes(&mut sim);
    let id = r.compartment;

    // Staff look inside, see it empty, and certify the removal.
    let audit_before = sim.audit.len();
    let now = sim.now;
    sim.ready().certify_removal(id, StaffId(7), now).unwrap();
    sim.drain();

    // The audit says who certified it, then books the removal exactly as
    // a verified one, the return to service and the recalibration.
    let records: Vec<_> = sim.audit[audit_before..].to_vec();
    let events: Vec<_> = records.iter().map(|a| a.event).collect();
    assert_eq!(
        events,
        [
            AuditEvent::RemovalCertified { staff: StaffId(7) },
            AuditEvent::PickupVerified {
                purpose: Purpose::Removal
            },
            AuditEvent::BackInService,
            AuditEvent::SensorRecalibrated { staff: StaffId(7) },
        ]
    );
    assert!(records.iter().all(|a| a.actor == Actor::Staff));
    assert_eq!(records[0].parcel, Some(r.parcel), "the parcel is named");
    assert_eq!(records[1].parcel, Some(r.parcel), "the parcel is named");
    // The node is asked to take its reading as the empty baseline.
    let (node, channel) = sim.wiring(id);
    assert!(
        sim.commands
            .contains(&(node, Command::Calibrate { channel })),
        "{:?}",
        sim.commands
    );
    let v = sim.bank.view(id).unwrap();
    assert_eq!(
        (v.stage, v.parcel, v.out_of_service),
        (Stage::Free, None, None)
    );
    assert_eq!(sim.bank.stats().pickups, 0, "a removal, not a pickup");
    let u = sim.bank.utilisation();
    assert_eq!((u.free, u.out_of_service), (24, 0), "back in service");

    // The node takes the new baseline and says the compartment is empty;
    // scan after scan, nothing more is raised about it.
    sim.take_parcel(id);
    let alerts = sim.alerts.len();
    let every = sim.bank.policy().status_scan_every;
    sim.run_until(sim.now + Duration::from_millis(every.as_millis() * 4));
    assert_eq!(sim.alerts.len(), alerts, "{:?}", &sim.alerts[alerts..]);

    // A courier's next parcel goes in and out as ever.
    let next = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(next.compartment);
    sim.pick_up(&code, next.compartment);
    assert_eq!(sim.bank.view(next.compartment).unwrap().stage, Stage::Free);
    assert_eq!(sim.alerts.len(), alerts);
}

#[test]
fn a_certified_removal_whose_calibration_never_took_is_raised_again_at_the_next_scan() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = a_removal_the_sensor_disputes(&mut sim);
    let now = sim.now;
    sim.ready()
        .certify_removal(r.compartment, StaffId(7), now)
        .unwrap();
    sim.drain();
    // The node never carries the calibration out: its sensor still reads
    // "occupied" in what the books now call a free compartment.
    let every = sim.bank.policy().status_scan_every;
    sim.run_until(sim.now + every);
    assert_eq!(sim.alerts_of(AlertKind::UnexpectedItem), 1);
    let v = sim.bank.view(r.compartment).unwrap();
    assert_eq!(v.out_of_service, Some(ServiceReason::SensorDisagrees));
}

/// Asserts that `call` was refused with an error `expected` accepts and
/// changed nothing: the snapshot's bytes, the views, no output waiting.
fn refused_and_nothing_changed(
    sim: &mut Sim<24>,
    call: impl FnOnce(&mut locker_domain::bank::Bank<'static>) -> Result<(), BankError>,
    expected: impl Fn(&BankError) -> bool,
) {
    sim.drain();
    let before = sim.bank.snapshot_to_vec().unwrap();
    let views: Vec<_> = sim.bank.views().collect();
    let refused = call(&mut sim.bank);
    assert!(refused.as_ref().is_err_and(&expected), "{refused:?}");
    assert!(!sim.bank.has_outputs(), "a refusal queued outputs");
    assert_eq!(
        sim.bank.snapshot_to_vec().unwrap(),
        before,
        "nothing changed"
    );
    assert_eq!(sim.bank.views().collect::<Vec<_>>(), views);
}

#[test]
fn a_removal_is_certified_only_where_the_sensor_disputed_one_and_every_refusal_changes_nothing() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let staff = StaffId(7);
    let unknown = locker_proto::CompartmentId(999);
    let now = sim.now;
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(unknown, staff, now),
        |e| matches!(e, BankError::UnknownCompartment(c) if *c == unknown),
    );
    // A free compartment, a reserved one, a stored parcel: nothing removed.
    let free = sim.bank.layout().compartments()[5].id;
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(free, staff, now),
        |e| {
            matches!(
                e,
                BankError::WrongStage {
                    stage: Stage::Free,
                    ..
                }
            )
        },
    );
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let now = sim.now;
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, staff, now),
        |e| {
            matches!(
                e,
                BankError::WrongStage {
                    stage: Stage::Reserved,
                    ..
                }
            )
        },
    );
    let t0 = sim.now;
    sim.deposit(r.compartment);
    let now = sim.now;
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, staff, now),
        |e| {
            matches!(
                e,
                BankError::WrongStage {
                    stage: Stage::Stored,
                    ..
                }
            )
        },
    );
    // Expired, but nobody has opened it for the removal yet.
    sim.run_until(t0 + Duration::from_hours(73));
    let now = sim.now;
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, staff, now),
        |e| matches!(e, BankError::NoDisputedRemoval(c) if *c == r.compartment),
    );
    // The removal under way: unlocking, then the door open, then shut and
    // the sensor still settling.
    sim.ready()
        .staff_open(r.compartment, StaffId(4), now)
        .unwrap();
    sim.answer_status_requests();
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, staff, now),
        |e| {
            matches!(
                e,
                BankError::WrongStage {
                    stage: Stage::Door { .. },
                    ..
                }
            )
        },
    );
    sim.open_door(r.compartment, true);
    let now = sim.now;
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, staff, now),
        |e| matches!(e, BankError::DoorOpen(c) if *c == r.compartment),
    );
    sim.close_door(r.compartment);
    let now = sim.now;
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, staff, now),
        |e| {
            matches!(
                e,
                BankError::WrongStage {
                    stage: Stage::Door { .. },
                    ..
                }
            )
        },
    );
    // The sensor had its time: the removal is disputed. Outputs not yet
    // drained, or a time from the past, are refused as for any input.
    sim.advance(Policy::default().presence_settle);
    sim.drain();
    let now = sim.now;
    sim.bank.handle_timeout(now).unwrap();
    assert!(sim.bank.has_outputs());
    let pending = sim.bank.certify_removal(r.compartment, staff, now);
    assert_eq!(pending, Err(BankError::OutputsPending));
    let earlier = now - Duration::from_secs(1);
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, staff, earlier),
        |e| matches!(e, BankError::TimeWentBackwards { .. }),
    );
    assert_eq!(sim.alerts_of(AlertKind::RemovalNotVerified), 1);
    // Put back in service with the parcel in the books, the dispute is
    // over: staff open it for the removal again before they certify.
    sim.ready()
        .set_in_service(r.compartment, Actor::Staff, now)
        .unwrap();
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, staff, now),
        |e| matches!(e, BankError::NoDisputedRemoval(_)),
    );
    assert!(
        !sim.commands
            .iter()
            .any(|(_, c)| matches!(c, Command::Calibrate { .. })),
        "no refusal recalibrated a sensor"
    );
    assert!(
        !sim.audit
            .iter()
            .any(|a| matches!(a.event, AuditEvent::RemovalCertified { .. }))
    );
    assert_eq!(sim.bank.view(r.compartment).unwrap().parcel, Some(r.parcel));
}

#[test]
fn a_door_forced_after_a_disputed_removal_is_no_removal_to_certify() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = a_removal_the_sensor_disputes(&mut sim);
    sim.open_door(r.compartment, false);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 1);
    let now = sim.now;
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, StaffId(7), now),
        |e| matches!(e, BankError::DoorOpen(_)),
    );
    // Shut again, it is out of service for the forced door: what is inside
    // now is anybody's guess, and only a new removal tells.
    sim.close_door(r.compartment);
    let now = sim.now;
    refused_and_nothing_changed(
        &mut sim,
        |b| b.certify_removal(r.compartment, StaffId(7), now),
        |e| matches!(e, BankError::NoDisputedRemoval(_)),
    );
    assert_eq!(sim.bank.view(r.compartment).unwrap().parcel, Some(r.parcel));
}

/// A parcel deposited in `compartment`, and its code typed at the keypad:
/// the pickup's unlock goes out. Returns the code.
fn type_the_code_of_a_stored_parcel(
    sim: &mut Sim<24>,
    compartment: locker_proto::CompartmentId,
) -> String {
    let code = sim.deposit(compartment);
    sim.type_code(&code);
    code
}

/// A bank whose node answers no unlock (every answer lost on the line), and
/// a resident's pickup just started on it.
fn pickup_on_a_bus_that_answers_nothing() -> (Sim<24>, locker_domain::bank::Reservation) {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.ack_unlocks = false;
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    type_the_code_of_a_stored_parcel(&mut sim, r.compartment);
    (sim, r)
}

/// A resident types her code while the bus is bad: the node acknowledges
/// the unlock, then drops off the bus before the retry can reach it. The
/// bank cannot tell whether the lock or the bus failed her, so it blames
/// neither the lock nor her: she is told the door would not open, the
/// compartment stays in service, no lock-fault alert calls staff out.
#[test]
fn a_node_that_drops_off_the_bus_mid_pickup_is_not_a_lock_fault() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = type_the_code_of_a_stored_parcel(&mut sim, r.compartment);
    // The door does not open within the confirmation time: the retry goes
    // out, but the node is lost by now and the unlock cannot be sent.
    sim.advance(Policy::default().unlock_confirm);
    sim.ack_unlocks = false;
    sim.timeout();
    let (node, retry) = *sim.commands.last().unwrap();
    assert!(matches!(retry, Command::Unlock { .. }));
    sim.bank
        .handle_command_result(node, &retry, CommandOutcome::NotSent, sim.now)
        .unwrap();
    sim.drain();
    assert_eq!(sim.alerts_of(AlertKind::LockFault), 0);
    let view = sim.bank.view(r.compartment).unwrap();
    assert_eq!(view.stage, Stage::Stored, "her parcel waits for her");
    assert_eq!(view.out_of_service, None);
    assert!(
        sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::DoorWouldNotOpen))
    );
    // She tries again once the node is back: the door opens at once.
    sim.ack_unlocks = true;
    sim.pick_up(&code, r.compartment);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 0);
}

/// The unlock did reach the node and the resident took her parcel, but the
/// node's reports were held up on a noisy bus until after the bank gave the
/// pickup up. They arrive as the node queued them, the empty reading
/// first, then the door: neither is a parcel gone missing nor a forced
/// door. The pickup resumes and is verified.
#[test]
fn a_pickups_reports_held_up_past_the_bank_giving_up_still_verify_the_pickup() {
    let (mut sim, r) = pickup_on_a_bus_that_answers_nothing();
    let (node, unlock) = *sim.commands.last().unwrap();
    for _ in 0..2 {
        sim.bank
            .handle_command_result(node, &unlock, CommandOutcome::Failed, sim.now)
            .unwrap();
        sim.drain();
        sim.advance(Policy::default().unlock_confirm);
        sim.timeout();
    }
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
    // The reports come in at last, as the node queued them.
    sim.advance(Duration::from_secs(20));
    sim.take_parcel(r.compartment);
    sim.open_door(r.compartment, true);
    sim.close_door(r.compartment);
    for kind in [
        AlertKind::ParcelMissing,
        AlertKind::ForcedDoor,
        AlertKind::LockFault,
    ] {
        assert_eq!(sim.alerts_of(kind), 0, "{kind:?}");
    }
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
    assert!(sim.audit.iter().any(|a| matches!(
        a.event,
        AuditEvent::PickupVerified {
            purpose: Purpose::Pickup
        }
    )));
}

/// The same held-up door report, but long after the bank gave up (past
/// `LATE_OPENING_WINDOW`): the node's word alone no longer explains the
/// opening, and staff are called to a forced door.
#[test]
fn a_door_the_node_says_it_opened_long_after_the_bank_gave_up_is_forced() {
    let (mut sim, r) = pickup_on_a_bus_that_answers_nothing();
    for _ in 0..2 {
        sim.advance(Policy::default().unlock_confirm);
        sim.timeout();
    }
    sim.advance(locker_domain::bank::LATE_OPENING_WINDOW + Duration::from_secs(1));
    sim.open_door(r.compartment, true);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 1);
}

/// The node says `compartment`'s presence sensor cannot be read
/// (`failed`) or reads again.
fn sensor_says(sim: &mut Sim<24>, compartment: locker_proto::CompartmentId, failed: bool) {
    let channel = Some(sim.wiring(compartment).1);
    let fault = FaultCode::PresenceSensorFailed;
    let event = if failed {
        Event::FaultRaised { channel, fault }
    } else {
        Event::FaultCleared { channel, fault }
    };
    sim.event(compartment, event);
    sim.drain();
}

fn sensor_fails(sim: &mut Sim<24>, compartment: locker_proto::CompartmentId) {
    sensor_says(sim, compartment, true);
}

fn sensor_reads_again(sim: &mut Sim<24>, compartment: locker_proto::CompartmentId) {
    sensor_says(sim, compartment, false);
}

/// The compartment the bank gives a small parcel first, the reservation
/// called off: empty, and the first small fit again.
fn the_smallest_fit_left_empty(sim: &mut Sim<24>) -> locker_proto::CompartmentId {
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let now = sim.now;
    sim.ready()
        .cancel_reservation(r.compartment, Actor::Backend, now)
        .unwrap();
    r.compartment
}

/// Small parcels reserved until the bank says nothing fits: the
/// compartments given, in order.
fn reserve_every_small_fit(sim: &mut Sim<24>) -> Vec<locker_proto::CompartmentId> {
    let mut given = Vec::new();
    loop {
        sim.drain();
        match sim.try_reserve(ParcelNeeds::size(SizeClass::Small)) {
            Ok(next) => given.push(next.compartment),
            Err(BankError::NoFit(_)) => return given,
            Err(e) => panic!("{e:?}"),
        }
    }
}

fn out_of_service(
    sim: &Sim<24>,
    compartment: locker_proto::CompartmentId,
) -> Option<ServiceReason> {
    sim.bank.view(compartment).unwrap().out_of_service
}

/// A load cell that stops answering its node (a broken wire, a dead
/// amplifier) under a parcel: the node says so once, and the bank calls
/// staff with the fault as evidence and keeps the parcel on its books. No
/// pickup could be verified there, so the compartment is out of service
/// (the code is refused) and the recipient hears of an incident; the
/// node's word that the cell reads again puts it back, needing nobody.
#[test]
fn a_presence_sensor_that_stops_answering_calls_staff_once_and_the_parcel_stays_on_the_books() {
    use locker_domain::bank::Evidence;
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sensor_fails(&mut sim, r.compartment);
    assert_eq!(sim.alerts_of(AlertKind::Maintenance), 1);
    let alert = sim
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::Maintenance)
        .unwrap();
    assert_eq!(alert.compartment, Some(r.compartment));
    assert_eq!(
        alert.evidence,
        Evidence::Fault(FaultCode::PresenceSensorFailed)
    );
    assert!(
        sim.audit
            .iter()
            .any(|rec| rec.compartment == Some(r.compartment)
                && rec.event == AuditEvent::FaultReported(FaultCode::PresenceSensorFailed))
    );
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
    assert_eq!(
        out_of_service(&sim, r.compartment),
        Some(ServiceReason::SensorFailed)
    );
    assert!(
        sim.audit
            .iter()
            .any(|rec| rec.compartment == Some(r.compartment)
                && rec.event
                    == AuditEvent::OutOfService {
                        reason: ServiceReason::SensorFailed
                    })
    );
    assert!(sim.notes.iter().any(|n| n.compartment == r.compartment
        && n.to == Actor::Recipient
        && n.kind == NotificationKind::ParcelIncident));
    sim.drain();
    let refused = sim
        .bank
        .enter_code(locker_domain::bank::codes::KeypadId(0), &code, sim.now);
    assert!(
        matches!(refused, Err(BankError::OutOfService(c)) if c == r.compartment),
        "{refused:?}"
    );
    // The cell reads again.
    sensor_reads_again(&mut sim, r.compartment);
    assert_eq!(sim.alerts_of(AlertKind::Maintenance), 1, "nothing more");
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
    assert_eq!(out_of_service(&sim, r.compartment), None);
    assert_eq!(
        sim.audit.last().map(|rec| rec.event),
        Some(AuditEvent::BackInService)
    );
    sim.pick_up(&code, r.compartment);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
}

/// The sensor of an empty compartment fails: the next courier is not sent
/// there (no deposit could be verified, and he would be told his parcel is
/// not inside). It takes parcels again when the node says the sensor reads
/// again, and also after a restart in between: the reason is on the books.
#[test]
fn an_empty_compartment_whose_presence_sensor_fails_takes_no_parcel_until_it_reads_again() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let c = the_smallest_fit_left_empty(&mut sim);
    sensor_fails(&mut sim, c);
    assert_eq!(out_of_service(&sim, c), Some(ServiceReason::SensorFailed));
    assert!(
        !sim.notes
            .iter()
            .any(|n| n.kind == NotificationKind::ParcelIncident),
        "nobody's parcel is affected"
    );
    // Every other compartment a small parcel fits is given out, then the
    // bank is full: the one with the failed sensor is not given.
    let given = reserve_every_small_fit(&mut sim);
    assert_eq!(given.len(), 23, "{given:?}");
    assert!(!given.contains(&c), "{given:?}");
    // A restart keeps it out; the node's word brings it back.
    let later = sim.now + Duration::from_secs(60);
    sim.restart_at(later);
    assert_eq!(out_of_service(&sim, c), Some(ServiceReason::SensorFailed));
    sensor_reads_again(&mut sim, c);
    assert_eq!(out_of_service(&sim, c), None);
    for c in given {
        let now = sim.now;
        sim.ready()
            .cancel_reservation(c, Actor::Backend, now)
            .unwrap();
    }
    let again = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    assert_eq!(again.compartment, c, "the smallest fit is back");
}

/// The sensor fails while a courier has the door open: the compartment is
/// out of service at once, and the session still runs to its end on the
/// node's word. A compartment staff took out for another reason keeps that
/// reason, and staff putting it back have judged the sensor too.
#[test]
fn a_sensor_failing_during_a_deposit_takes_the_compartment_out_and_the_session_still_ends() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.staff_deposit_with_the_door_open();
    sensor_fails(&mut sim, r.compartment);
    assert_eq!(
        out_of_service(&sim, r.compartment),
        Some(ServiceReason::SensorFailed)
    );
    assert!(
        !sim.notes
            .iter()
            .any(|n| n.kind == NotificationKind::ParcelIncident),
        "no parcel was in yet"
    );
    sim.put_parcel(r.compartment);
    sim.close_door(r.compartment);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
    assert_eq!(
        out_of_service(&sim, r.compartment),
        Some(ServiceReason::SensorFailed)
    );
    // Staff put it back by hand: their call.
    sim.drain();
    let now = sim.now;
    sim.ready()
        .set_in_service(r.compartment, Actor::Staff, now)
        .unwrap();
    sim.drain();
    assert_eq!(out_of_service(&sim, r.compartment), None);
    let now = sim.now;
    sim.ready()
        .set_out_of_service(r.compartment, Actor::Staff, now)
        .unwrap();
    sensor_fails(&mut sim, r.compartment);
    assert_eq!(
        out_of_service(&sim, r.compartment),
        Some(ServiceReason::Override),
        "the staff's reason stands"
    );
    sensor_reads_again(&mut sim, r.compartment);
    assert_eq!(
        out_of_service(&sim, r.compartment),
        Some(ServiceReason::Override),
        "and is not the sensor's to lift"
    );
}

/// An unlock whose answer was lost, the session given up, and then the
/// presence sensor fails: when the node says its pulse opened the door
/// after all, that is the session's late opening, never a forced door,
/// and the compartment stays out for its sensor.
#[test]
fn a_late_opening_after_the_sensor_failed_is_no_forced_door() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.ack_unlocks = false;
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.bank.deposit_code(r.compartment).unwrap().to_string();
    let now = sim.now;
    sim.ready()
        .enter_deposit_code(
            locker_domain::bank::codes::KeypadId(1),
            r.compartment,
            &code,
            now,
        )
        .unwrap();
    sim.drain();
    for _ in 0..3 {
        sim.advance(Policy::default().unlock_confirm);
        sim.timeout();
    }
    assert_ne!(
        sim.bank.view(r.compartment).unwrap().stage,
        Stage::Door {
            purpose: Purpose::Deposit,
            phase: DoorPhase::Open,
            by: Actor::Courier
        }
    );
    sensor_fails(&mut sim, r.compartment);
    sim.open_door(r.compartment, true);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 0);
    assert!(matches!(
        sim.bank.view(r.compartment).unwrap().stage,
        Stage::Door {
            phase: DoorPhase::Open,
            ..
        }
    ));
    assert_eq!(
        out_of_service(&sim, r.compartment),
        Some(ServiceReason::SensorFailed)
    );
}

/// The load cell of an empty compartment freezes (its amplifier hangs and
/// repeats its last conversion): the bank's hourly readings, which a
/// working cell's noise moves every time, come back bit for bit the same.
/// At the sixth, staff are called with the frozen reading as evidence and
/// the compartment is out of service, before any courier is sent to a
/// compartment that would tell him his parcel is not there.
#[test]
fn a_frozen_load_cell_is_found_by_the_hourly_readings_and_takes_no_parcel() {
    use locker_domain::bank::Evidence;
    use locker_domain::bank::health::{FROZEN_READINGS, HealthIssue, HealthPolicy};
    let threshold = 2_100;
    let mut policy = Policy::default();
    policy.health.drift_band = HealthPolicy::drift_band_for(threshold);
    let mut sim = Sim::<24>::new(24, policy);
    let c = the_smallest_fit_left_empty(&mut sim);
    let read = |sim: &mut Sim<24>, reading: i32| {
        sim.advance(Duration::from_hours(1));
        sim.status_answer(c, DoorState::Closed, Presence::empty(reading, threshold));
    };
    // A working cell: a few counts of noise at every reading.
    for reading in [12, -240, 187, 3, -51] {
        read(&mut sim, reading);
    }
    assert_eq!(sim.alerts_of(AlertKind::Maintenance), 0);
    for _ in 0..FROZEN_READINGS {
        read(&mut sim, -73);
    }
    assert_eq!(sim.alerts_of(AlertKind::Maintenance), 1);
    let alert = sim
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::Maintenance)
        .unwrap();
    assert_eq!(alert.compartment, Some(c));
    assert!(matches!(
        alert.evidence,
        Evidence::Health(HealthIssue::PresenceStuck { reading: -73, .. })
    ));
    assert_eq!(out_of_service(&sim, c), Some(ServiceReason::SensorFailed));
    // Every other small fit is given out before the bank calls itself full.
    let given = reserve_every_small_fit(&mut sim);
    assert!(!given.contains(&c), "{given:?}");
    // Staff replace the cell and put the compartment back.
    let now = sim.now;
    sim.ready().set_in_service(c, Actor::Staff, now).unwrap();
    sim.drain();
    assert_eq!(out_of_service(&sim, c), None);
}

/// A node left on its own door-ajar limit (60 s by default: the bank
/// configures its nodes' limit only where it is given a node configuration)
/// tells the bank of an open door after a minute; a courier still has the
/// two minutes the policy gives. The bank's own limit is the one limit of a
/// door session: nothing at the node's minute; at two, the bank asks the
/// node whether the door is still open, and the alert follows its answer.
#[test]
fn a_node_on_its_own_ajar_limit_does_not_call_a_courier_slow_before_the_policy_does() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.staff_deposit_with_the_door_open();
    let (_, channel) = sim.wiring(r.compartment);
    sim.advance(Duration::from_secs(60));
    sim.event(r.compartment, Event::DoorAjar { channel });
    sim.timeout();
    assert_eq!(sim.alerts_of(AlertKind::DoorAjar), 0, "a minute in");
    // Two minutes: the bank asks the node whether the door is still open,
    // and the node says it is.
    sim.advance(Duration::from_secs(61));
    let before = sim.commands.len();
    sim.timeout();
    let (node, _) = sim.wiring(r.compartment);
    assert!(
        sim.commands[before..].contains(&(node, Command::GetStatus { channel })),
        "asked before it calls the door ajar"
    );
    assert_eq!(sim.alerts_of(AlertKind::DoorAjar), 0);
    sim.status_answer(r.compartment, DoorState::Open, Presence::empty(0, 10));
    assert_eq!(sim.alerts_of(AlertKind::DoorAjar), 1, "past two minutes");
    // Said once.
    sim.event(r.compartment, Event::DoorAjar { channel });
    sim.advance(Duration::from_mins(5));
    sim.timeout();
    assert_eq!(sim.alerts_of(AlertKind::DoorAjar), 1);
}

/// A courier deposits and shuts the door, and the door's closing is lost on
/// the bus (the node hung a moment): at the policy's two minutes the bank
/// asks before it calls the door ajar, hears it shut with the parcel inside,
/// and verifies the deposit; nobody is told to close a shut door. Should
/// the node not answer at all, nobody is either.
#[test]
fn a_door_whose_closing_was_lost_on_the_bus_is_asked_about_not_called_ajar() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.staff_deposit_with_the_door_open();
    // The parcel goes in, the door shuts: neither is heard.
    sim.advance(Duration::from_secs(121));
    sim.timeout();
    assert_eq!(
        sim.alerts_of(AlertKind::DoorAjar),
        0,
        "the node was not heard"
    );
    sim.status_answer(r.compartment, DoorState::Closed, Presence::occupied(40, 10));
    assert_eq!(sim.alerts_of(AlertKind::DoorAjar), 0);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Stored);
    assert!(
        sim.audit
            .iter()
            .any(|rec| rec.compartment == Some(r.compartment)
                && rec.event == AuditEvent::DepositVerified)
    );
    assert!(
        !sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::CloseTheDoor))
    );
}
