//! The people at the edges of a parcel's life: the recipient who comes
//! after the parcel expired, and the recipient whose parcel a thief took
//! through a forced door.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::codes::KeypadId;
use locker_domain::bank::counter::AT_COUNTER_FOR;
use locker_domain::bank::{
    Actor, AlertKind, AuditEvent, Bank, CodeOutcome, NotificationKind, ParcelNeeds, Policy,
    StaffId, Stage,
};
use locker_proto::time::Duration;
use locker_proto::{CompartmentId, SizeClass};

const STAFF: StaffId = StaffId(31);

/// A bank with one parcel stored: (sim, compartment, pickup code).
fn one_parcel() -> (Sim<24>, CompartmentId, String) {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.drain();
    (sim, r.compartment, code)
}

fn told(sim: &Sim<24>, to: Actor, kind: NotificationKind, c: CompartmentId) -> bool {
    sim.notes
        .iter()
        .any(|n| n.to == to && n.kind == kind && n.compartment == c)
}

/// Types `code` at keypad 0 `times` times, a minute apart.
fn type_code(sim: &mut Sim<24>, code: &str, times: usize) -> Vec<CodeOutcome> {
    (0..times)
        .map(|_| {
            sim.advance(Duration::from_secs(60));
            sim.drain();
            let out = sim.bank.enter_code(KeypadId(0), code, sim.now).unwrap();
            sim.drain();
            out
        })
        .collect()
}

#[test]
fn a_recipient_who_comes_after_expiry_is_sent_to_the_counter_and_never_taken_for_a_guesser() {
    let (mut sim, c, code) = one_parcel();
    // Nobody came for three days: the parcel expires.
    let expiry = sim.now + Duration::from_hours(73);
    sim.run_until(expiry);
    assert_eq!(sim.bank.view(c).unwrap().stage, Stage::Expired);
    assert!(told(
        &sim,
        Actor::Recipient,
        NotificationKind::ParcelExpired,
        c
    ));
    assert!(told(&sim, Actor::Staff, NotificationKind::RemovalTask, c));

    // The recipient comes an hour late and types the right code, again and
    // again: told to go to the counter every time, never locked out.
    sim.advance(Duration::from_hours(1));
    let outcomes = type_code(&mut sim, &code, 8);
    assert!(outcomes.iter().all(|o| *o == CodeOutcome::CollectAtCounter));
    let counted = sim
        .audit
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::CodeForCounterParcel { .. }))
        .count();
    assert_eq!(counted, 8, "each late try is on record");

    // Staff take the parcel to the counter; the recipient is told.
    sim.drain();
    sim.bank.staff_open(c, STAFF, sim.now).unwrap();
    sim.answer_status_requests();
    sim.open_door(c, true);
    sim.take_parcel(c);
    sim.close_door(c);
    sim.drain();
    assert_eq!(sim.bank.view(c).unwrap().stage, Stage::Free);
    assert!(told(
        &sim,
        Actor::Recipient,
        NotificationKind::MovedToCounter,
        c
    ));

    // The code still sends its owner to the counter, across a restart.
    let outcomes = type_code(&mut sim, &code, 2);
    assert!(outcomes.iter().all(|o| *o == CodeOutcome::CollectAtCounter));
    let snapshot = sim.bank.snapshot_to_vec().unwrap();
    *sim.bank = Bank::restore_on_heap(
        &mixed_layout(24),
        Policy::default(),
        keys(),
        &snapshot,
        sim.now,
    )
    .unwrap();
    sim.answer_status_requests();
    assert_eq!(
        type_code(&mut sim, &code, 1),
        [CodeOutcome::CollectAtCounter]
    );
    // None of the eleven late tries counted: a wrong code now is the first.
    let wrong: String = code
        .chars()
        .map(|d| if d == '0' { '1' } else { '0' })
        .collect();
    assert!(matches!(
        type_code(&mut sim, &wrong, 1)[0],
        CodeOutcome::Rejected { failures: 1, .. }
    ));

    // Two weeks on, the counter has forgotten it: an ordinary wrong code.
    sim.advance(AT_COUNTER_FOR);
    assert!(matches!(
        type_code(&mut sim, &code, 1)[0],
        CodeOutcome::Rejected { .. }
    ));
}

#[test]
fn a_thief_who_forces_a_door_and_takes_the_parcel_raises_parcel_missing_and_the_recipient_is_told()
{
    let (mut sim, c, code) = one_parcel();
    sim.advance(Duration::from_hours(2));
    // The door is forced (no unlock), the parcel taken, the door pushed to.
    sim.open_door(c, false);
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 1);
    assert_eq!(sim.alerts_of(AlertKind::ParcelMissing), 0);
    sim.take_parcel(c);
    sim.close_door(c);
    sim.drain();
    assert_eq!(
        sim.alerts_of(AlertKind::ParcelMissing),
        1,
        "the empty reading after the forced door is the theft"
    );
    let missing = sim
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::ParcelMissing)
        .unwrap();
    assert_eq!(missing.compartment, Some(c));
    assert!(told(
        &sim,
        Actor::Recipient,
        NotificationKind::ParcelIncident,
        c
    ));
    // The books keep the parcel for staff to settle, the compartment out of
    // service: the recipient's code opens nothing.
    let view = sim.bank.view(c).unwrap();
    assert_eq!(view.stage, Stage::Stored);
    assert!(view.out_of_service.is_some());
    sim.drain();
    assert!(sim.bank.enter_code(KeypadId(0), &code, sim.now).is_err());
}

#[test]
fn a_forced_door_that_leaves_the_parcel_inside_raises_no_parcel_missing() {
    let (mut sim, c, _) = one_parcel();
    sim.open_door(c, false);
    sim.close_door(c);
    sim.drain();
    assert_eq!(sim.alerts_of(AlertKind::ForcedDoor), 1);
    assert_eq!(sim.alerts_of(AlertKind::ParcelMissing), 0);
    assert!(!told(
        &sim,
        Actor::Recipient,
        NotificationKind::ParcelIncident,
        c
    ));
}
