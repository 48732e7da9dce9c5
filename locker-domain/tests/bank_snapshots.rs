//! Camera snapshots: one reference from the bank's request to the alert,
//! the audit trail and the picture, a capture that failed on record, and
//! proof of each handoff where the operator wants it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::{
    AlertKind, AuditEvent, BankError, ParcelNeeds, Policy, SnapshotCause, SnapshotOutcome,
    SnapshotRef, SnapshotRequest,
};
use locker_proto::time::Duration;
use locker_proto::{CompartmentId, SizeClass};

fn force_door(sim: &mut Sim<24>, id: CompartmentId) -> SnapshotRequest {
    sim.drain();
    sim.camera.clear();
    sim.open_door(id, false);
    sim.drain();
    assert_eq!(sim.camera.len(), 1, "one snapshot of the forced door");
    sim.camera[0]
}

#[test]
fn a_forced_door_s_snapshot_has_one_reference_and_a_failed_capture_is_on_record() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let id = sim.bank.layout().compartments()[3].id;
    let request = force_door(&mut sim, id);
    assert_eq!(request.cause, SnapshotCause::ForcedDoor);
    assert_eq!(request.compartment, id);
    let alert = sim
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::ForcedDoor)
        .unwrap();
    assert_eq!(
        alert.snapshot,
        Some(request.reference),
        "the alert names it"
    );
    let forced = sim
        .audit
        .iter()
        .find(|r| r.event == AuditEvent::DoorForced)
        .unwrap();
    assert_eq!(
        forced.snapshot,
        Some(request.reference),
        "so does the record"
    );

    // The camera's trigger line is cut: the chain of custody says the
    // picture the alert names does not exist.
    sim.bank
        .handle_snapshot_result(&request, SnapshotOutcome::Failed, sim.now)
        .unwrap();
    sim.drain();
    let last = sim.audit.last().unwrap();
    assert_eq!(last.event, AuditEvent::SnapshotFailed);
    assert_eq!(last.snapshot, Some(request.reference));
    assert_eq!(last.compartment, Some(id));
}

#[test]
fn a_result_for_a_snapshot_never_asked_for_is_refused_and_records_nothing() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let id = sim.bank.layout().compartments()[0].id;
    let request = force_door(&mut sim, id);
    let records = sim.audit.len();
    let invented = SnapshotRequest {
        reference: SnapshotRef(request.reference.0 + 1),
        ..request
    };
    assert_eq!(
        sim.bank
            .handle_snapshot_result(&invented, SnapshotOutcome::Taken, sim.now),
        Err(BankError::UnknownSnapshot(invented.reference))
    );
    let elsewhere = SnapshotRequest {
        compartment: CompartmentId(9_999),
        ..request
    };
    assert!(
        sim.bank
            .handle_snapshot_result(&elsewhere, SnapshotOutcome::Taken, sim.now)
            .is_err()
    );
    sim.drain();
    assert_eq!(sim.audit.len(), records);
}

#[test]
fn references_never_repeat_across_a_restart() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let (one, two) = {
        let c = sim.bank.layout().compartments();
        (c[0].id, c[1].id)
    };
    let first = force_door(&mut sim, one);
    sim.bank
        .handle_snapshot_result(&first, SnapshotOutcome::Taken, sim.now)
        .unwrap();
    let later = sim.now + Duration::from_secs(60);
    sim.restart_at(later);
    let second = force_door(&mut sim, two);
    assert!(second.reference.0 > first.reference.0);
    // The first one's result may still come in after the restart.
    sim.bank
        .handle_snapshot_result(&first, SnapshotOutcome::Taken, sim.now)
        .unwrap();
}

#[test]
fn with_handoff_snapshots_on_each_verified_deposit_and_pickup_is_photographed() {
    let policy = Policy {
        snapshot_handoffs: true,
        ..Policy::default()
    };
    let mut sim = Sim::<24>::new(24, policy);
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.camera.clear();
    let code = sim.deposit(r.compartment);
    sim.drain();
    let deposit = sim
        .audit
        .iter()
        .find(|a| a.event == AuditEvent::DepositVerified)
        .unwrap();
    let shot = sim
        .camera
        .iter()
        .find(|s| s.cause == SnapshotCause::Deposit)
        .expect("proof of delivery");
    assert_eq!(deposit.snapshot, Some(shot.reference));
    assert_eq!(shot.compartment, r.compartment);

    sim.pick_up(&code, r.compartment);
    sim.drain();
    let pickup = sim
        .audit
        .iter()
        .find(|a| matches!(a.event, AuditEvent::PickupVerified { .. }))
        .unwrap();
    let shot = sim
        .camera
        .iter()
        .find(|s| s.cause == SnapshotCause::Pickup)
        .expect("proof of collection");
    assert_eq!(pickup.snapshot, Some(shot.reference));
}

#[test]
fn by_default_residents_are_not_photographed_at_the_door() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.camera.clear();
    let code = sim.deposit(r.compartment);
    sim.pick_up(&code, r.compartment);
    sim.drain();
    assert!(sim.camera.is_empty());
    assert!(sim.audit.iter().all(|a| a.snapshot.is_none()));
}

#[test]
fn a_snapshot_the_backend_asks_for_is_named_by_the_bank_and_its_outcome_is_on_record() {
    // A support agent wants to see compartment 5 (`trigger_snapshot`).
    let mut sim = Sim::<24>::new(24, Policy::default());
    let id = sim.bank.layout().compartments()[4].id;
    sim.drain();
    sim.camera.clear();
    let reference = sim.bank.snapshot_for_backend(id, sim.now).unwrap();
    sim.drain();
    assert_eq!(sim.camera.len(), 1, "one request for the camera");
    let request = sim.camera[0];
    assert_eq!(request.reference, reference);
    assert_eq!(request.cause, SnapshotCause::Backend);
    assert_eq!(request.compartment, id);
    let asked = sim.audit.last().unwrap();
    assert_eq!(asked.event, AuditEvent::SnapshotRequested);
    assert_eq!(asked.actor, locker_domain::bank::Actor::Backend);
    assert_eq!(
        asked.snapshot,
        Some(reference),
        "the backend reads the name here"
    );

    // The camera takes it: the record follows under the same reference.
    sim.bank
        .handle_snapshot_result(&request, SnapshotOutcome::Taken, sim.now)
        .unwrap();
    sim.drain();
    let taken = sim.audit.last().unwrap();
    assert_eq!(taken.event, AuditEvent::SnapshotTaken);
    assert_eq!(taken.snapshot, Some(reference));

    // A compartment the bank does not have is refused, recording nothing.
    let records = sim.audit.len();
    assert_eq!(
        sim.bank.snapshot_for_backend(CompartmentId(999), sim.now),
        Err(BankError::UnknownCompartment(CompartmentId(999)))
    );
    sim.drain();
    assert_eq!(sim.audit.len(), records);
    assert_eq!(sim.camera.len(), 1);
}
