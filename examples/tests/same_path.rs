//! The simulator checks the gateway that ships: the same scripted day (a
//! courier deposits a small parcel, its recipient collects it with the code)
//! through `locker-gateway` on a real pseudo-terminal and through
//! `locker-sim` leaves the same chain of custody in the audit trail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use locker_domain::bank::{AuditEvent, Fit, ParcelKind, ParcelNeeds, Stage};
use locker_examples::gateway::{AuditLog, ConsoleCommand, Reply, code_text};
use locker_examples::sim::locker::SimBank;
use locker_examples::sim::world::{Whereabouts, WorldParcel};
use locker_examples::sim::{IncidentRates, Noise, SimConfig};
use locker_proto::time::{Duration, Instant};
use locker_proto::{CompartmentId, SizeClass};
use support::*;

/// The names of the audit events about one compartment, in order.
fn story(
    records: impl Iterator<Item = (Option<CompartmentId>, AuditEvent)>,
    id: CompartmentId,
) -> Vec<&'static str> {
    records
        .filter(|(c, _)| *c == Some(id))
        .map(|(_, e)| e.name())
        .collect()
}

/// The day through the Linux gateway, a simulated node on the far end of a
/// pseudo-terminal, and a backend.
fn through_locker_gateway() -> Vec<&'static str> {
    let dir = scratch_dir("same-path");
    let (mut world, _spare, _link, _node) = world_with_uplink(&dir);

    let Reply::Depositing(reservation) = world.console(ConsoleCommand::Deposit {
        size: SizeClass::Small,
        kind: ParcelKind::Delivery,
    }) else {
        panic!("the deposit was refused: {:#?}", world.notices)
    };
    let id = reservation.compartment;
    world.open_door(id);
    world.finish_at_door(id, true);
    world.run_until("the deposit to be verified", |w| {
        w.gateway.bank().view(id).unwrap().stage == Stage::Stored
    });

    let code = code_text(&reservation.code.expect("the bank drew a code"));
    assert!(matches!(
        world.console(ConsoleCommand::Pickup { code }),
        Reply::Opening(c) if c == id
    ));
    world.open_door(id);
    world.finish_at_door(id, false);
    world.run_until("the pickup to be verified", |w| {
        w.gateway.bank().view(id).unwrap().stage == Stage::Free
    });
    let path = world.gateway.audit_log().path().to_path_buf();
    world.gateway.shutdown().unwrap();
    let lines = AuditLog::read_all(&path).unwrap();
    story(
        lines.iter().map(|l| (l.record.compartment, l.record.event)),
        id,
    )
}

/// The same day in the simulator: no traffic but this one parcel, a clean
/// bus, no incidents.
fn through_locker_sim() -> Vec<&'static str> {
    let config = SimConfig {
        days: 1,
        compartments: 16,
        units: Some(0),
        noise_level: 0,
        noise: Noise::level(0),
        rates: IncidentRates::NONE,
        ..SimConfig::default()
    };
    let mut sim = SimBank::new(0, 16, 0, &config).unwrap();
    sim.keep_audit_trail();
    let hour = Duration::from_hours(1);
    let at = Instant::from_secs(11 * 3600);
    let parcel = WorldParcel {
        kind: ParcelKind::Delivery,
        needs: ParcelNeeds {
            fit: Fit::Size(SizeClass::Small),
            perishable: false,
            accessible: false,
        },
        grams: 500,
        at: Whereabouts::WithDepositor,
        bank_id: None,
        slot: None,
        code: None,
        arrived: at,
        placed_at: None,
        pickup_delay: hour,
        forgetful: false,
        leaves_ajar: false,
        mistypes: false,
        attempts: 0,
        verified_out: false,
        code_accepted: false,
        needed_staff: false,
        reminded: false,
    };
    let p = sim.schedule_parcel(parcel, at);
    sim.run_until(Instant::from_secs(23 * 3600), &mut |_| {});
    let parcel = &sim.parcels[p];
    assert!(parcel.verified_out, "the recipient collected the parcel");
    let id = CompartmentId(parcel.slot.expect("the parcel had a compartment") as u16 + 1);
    let trail = sim.audit_trail.as_ref().unwrap();
    story(trail.iter().map(|r| (r.compartment, r.event)), id)
}

#[test]
fn a_scripted_day_leaves_the_same_chain_of_custody_in_locker_gateway_and_in_locker_sim() {
    let gateway = through_locker_gateway();
    let sim = through_locker_sim();
    assert_eq!(
        gateway,
        [
            "reserved",
            "deposit_opened_by",
            "unlock_commanded",
            "door_opened",
            "door_closed",
            "deposit_verified",
            "code_accepted",
            "unlock_commanded",
            "door_opened",
            "door_closed",
            "pickup_verified",
        ],
        "the Linux gateway's trail"
    );
    assert_eq!(
        sim, gateway,
        "the simulator took another path than the shipped gateway"
    );
}
