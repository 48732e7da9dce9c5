//! A drifting load cell's life at the bank: the bank's own recalibrations
//! are the first answer, and staff are called only when they cannot be the
//! fix (see `Policy::drift_settle_within`).
//!
//! The whole gateway with real nodes for the overnight stories; the bank
//! alone where the story is about the node's answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod bank_support;
mod gateway_support;

use bank_support::Sim;
use gateway_support::{Bench, PARCEL_LOAD, wiring};
use locker_domain::bank::{
    Actor, AlertKind, AuditEvent, CodeOutcome, CommandOutcome, Evidence, ParcelNeeds, Policy, Stage,
};
use locker_domain::gateway::GatewayOutput;
use locker_proto::time::Duration;
use locker_proto::uplink::{AuditEvent as WireAudit, Upward};
use locker_proto::{
    Channel, ChannelStatus, Command, CompartmentId, DoorState, HealthIssue, LockState, NackReason,
    NodeAddr, NodeConfig, Presence, SizeClass,
};

// ----- the whole gateway -----------------------------------------------------

fn calibrations(bench: &mut Bench, c: CompartmentId) -> usize {
    let (node, channel) = wiring(c);
    bench
        .node(node)
        .executed
        .iter()
        .filter(|k| **k == Command::Calibrate { channel })
        .count()
}

fn automatic_recalibrations(bench: &Bench, c: CompartmentId) -> usize {
    bench
        .audit()
        .iter()
        .filter(|r| {
            r.compartment == Some(c)
                && r.actor == Actor::System
                && matches!(r.event, AuditEvent::SensorRecalibratedAutomatically { .. })
        })
        .count()
}

#[test]
fn a_load_cell_drifting_overnight_under_an_empty_compartment_is_recalibrated_by_the_bank_and_nobody_is_called()
 {
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();
    // Compartment 3 stands empty; in the night its load cell's zero creeps
    // to 7 units and stays there: above the drift band (4), below the
    // occupied threshold (10).
    let c = CompartmentId(3);
    let (node, channel) = wiring(c);
    bench.node(node).load[usize::from(channel.0)] = 7;
    // The quarter-hour scans read four compartments of every node in
    // turn, here all of them: at the next scan the bank sees the drift,
    // and from then on reads the compartment at every scan. The scan after
    // brings a reading that agrees (the zero moves no faster than a re-tare
    // can hold). It answers by itself.
    bench.run_for(Duration::from_mins(15));
    assert_eq!(
        calibrations(&mut bench, c),
        0,
        "not while it may still move"
    );
    bench.run_for(Duration::from_mins(15));
    assert_eq!(calibrations(&mut bench, c), 1, "the node re-tared once");
    assert_eq!(
        automatic_recalibrations(&bench, c),
        1,
        "audited, by the system"
    );
    let audit = bench.audit_of(c);
    assert!(
        audit.iter().any(|e| matches!(
            e,
            AuditEvent::SensorRecalibratedAutomatically {
                drift: HealthIssue::PresenceDrift { reading: 7, .. }
            }
        )),
        "with the drift it answered: {audit:?}"
    );
    assert_eq!(bench.drift_alerts(c), 0, "nobody is woken");
    // The backend reads it by its name, with the drift, never as `other`.
    let told: Vec<_> = bench
        .upward()
        .into_iter()
        .filter_map(|m| match m.body {
            Upward::Audit(r) if r.compartment == Some(c) => Some(r.event),
            _ => None,
        })
        .collect();
    assert!(
        told.iter().any(|e| matches!(
            e,
            WireAudit::SensorRecalibratedAutomatically {
                drift: HealthIssue::PresenceDrift { reading: 7, .. }
            }
        )),
        "the backend was told: {told:?}"
    );
    assert!(!told.contains(&WireAudit::Other), "{told:?}");

    // The night goes on: scan after scan, the cell reads its new zero and
    // nothing more happens.
    let before = bench.log.len();
    bench.run_for(Duration::from_hours(8));
    assert_eq!(calibrations(&mut bench, c), 1);
    assert!(
        !bench.log[before..]
            .iter()
            .any(|o| matches!(o, GatewayOutput::Alert(_))),
        "no alert all night"
    );
    let view = bench.gateway.bank().view(c).unwrap();
    assert_eq!((view.stage, view.out_of_service), (Stage::Free, None));

    // And the compartment serves the next parcel as any other.
    let r = bench.reserve_small().unwrap();
    if r.compartment == c {
        bench.deposit(c);
        let view = bench.gateway.bank().view(c).unwrap();
        assert_eq!(view.stage, Stage::Stored);
    }
}

#[test]
fn a_zero_creeping_further_than_a_band_is_retared_on_the_way_and_a_cell_still_drifting_two_days_on_calls_staff()
 {
    let mut bench = Bench::new();
    bench.settle();
    let c = CompartmentId(3);
    let (node, channel) = wiring(c);
    let ch = usize::from(channel.0);
    bench.node(node).load[ch] = 7;
    bench.run_for(Duration::from_mins(30));
    assert_eq!(automatic_recalibrations(&bench, c), 1);
    assert_eq!(bench.drift_alerts(c), 0);

    // By morning it has crept as far again: it may still be settling (a
    // temperature step, creep after a knock), so the bank re-tares it
    // again, and the compartment keeps reading within a band of the truth.
    bench.run_for(Duration::from_hours(10));
    bench.node(node).load[ch] = 14;
    bench.run_for(Duration::from_mins(30));
    assert_eq!(automatic_recalibrations(&bench, c), 2);
    assert_eq!(calibrations(&mut bench, c), 2);
    assert_eq!(bench.drift_alerts(c), 0, "nobody is called yet");

    // Two days after the first finding it is still drifting: a failing
    // cell. Staff are called, with how far its zero moved in all.
    bench.run_for(Duration::from_hours(38));
    bench.node(node).load[ch] = 21;
    bench.run_for(Duration::from_mins(30));
    assert_eq!(bench.drift_alerts(c), 1, "staff must replace the cell");
    assert_eq!(calibrations(&mut bench, c), 2, "not re-tared again");
    assert_eq!(last_maintenance_drift(&bench), Some(21));
    // Said once.
    bench.node(node).load[ch] = 28;
    bench.run_for(Duration::from_hours(4));
    assert_eq!(bench.drift_alerts(c), 1);
}

/// Every alert the gateway raised about compartment `c`, by kind.
fn alerts_of(bench: &Bench, c: CompartmentId) -> Vec<AlertKind> {
    bench
        .log
        .iter()
        .filter_map(|o| match o {
            GatewayOutput::Alert(a) if a.compartment == Some(c) => Some(a.kind),
            _ => None,
        })
        .collect()
}

/// How far the zero moved, as the last maintenance alert tells staff.
fn last_maintenance_drift(bench: &Bench) -> Option<i32> {
    bench.log.iter().rev().find_map(|o| match o {
        GatewayOutput::Alert(a) if a.kind == AlertKind::Maintenance => match a.evidence {
            Evidence::Health(HealthIssue::PresenceDrift { reading, .. }) => Some(reading),
            _ => None,
        },
        _ => None,
    })
}

fn drift_under_parcel_records(bench: &Bench, c: CompartmentId) -> Vec<HealthIssue> {
    bench
        .audit_of(c)
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::DriftUnderParcel { drift } => Some(drift),
            _ => None,
        })
        .collect()
}

/// A courier's small parcel deposited and stored for two hours, the
/// periodic readings having taken its weight. Returns its compartment, the
/// node and the channel's index.
fn parcel_stored_two_hours(bench: &mut Bench) -> (CompartmentId, NodeAddr, usize) {
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    bench.deposit(c);
    let (node, channel) = wiring(c);
    bench.run_for(Duration::from_hours(2));
    (c, node, usize::from(channel.0))
}

/// A courier's parcel stored two hours in a compartment whose load cell
/// then sinks 5 units under it (beyond the band of 4) and stays there; an
/// hour on, the bank has noted it once. Returns the compartment, its node
/// and its channel's index.
fn cell_sunk_under_a_parcel(bench: &mut Bench) -> (CompartmentId, NodeAddr, usize) {
    let (c, node, ch) = parcel_stored_two_hours(bench);
    bench.node(node).load[ch] = PARCEL_LOAD - 5;
    bench.run_for(Duration::from_hours(1));
    assert!(
        matches!(
            drift_under_parcel_records(bench, c).as_slice(),
            [HealthIssue::PresenceDrift { reading: -5, .. }]
        ),
        "{:?}",
        bench.audit_of(c)
    );
    (c, node, ch)
}

#[test]
fn a_zero_that_moved_under_a_parcel_is_retared_once_the_recipient_has_collected_it_and_nobody_is_called()
 {
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();
    // A knock in the afternoon: the cell's zero sinks 5 units under the
    // parcel and stays there. A re-tare now would hide the parcel; but
    // nothing is wrong for anybody yet: the parcel still reads far above
    // the threshold (10), and the empty compartment will read -5, empty.
    // The bank notes it and waits.
    let (c, node, ch) = cell_sunk_under_a_parcel(&mut bench);
    assert_eq!(bench.drift_alerts(c), 0, "nobody is called");
    assert_eq!(calibrations(&mut bench, c), 0, "not under the parcel");
    // The backend reads it by its name.
    assert!(bench.upward().into_iter().any(|m| matches!(
        m.body,
        Upward::Audit(r) if matches!(r.event, WireAudit::DriftUnderParcel { .. })
    )));

    // Overnight the zero holds still: nothing more.
    bench.run_for(Duration::from_hours(12));
    assert_eq!(bench.drift_alerts(c), 0);
    assert_eq!(drift_under_parcel_records(&bench, c).len(), 1, "said once");

    // The recipient collects it; the empty compartment reads the moved
    // zero, below the threshold, so the pickup is verified as any other.
    let code = bench.codes[0].1.clone();
    assert_eq!(bench.enter_code(&code).unwrap(), CodeOutcome::Opening(c));
    bench.settle();
    bench.open_door(c);
    bench.node(node).load[ch] = -5;
    bench.close_door(c);
    assert_eq!(bench.gateway.bank().view(c).unwrap().stage, Stage::Free);
    // At the scans after, the bank re-tares the empty compartment itself.
    bench.run_for(Duration::from_hours(1));
    assert_eq!(calibrations(&mut bench, c), 1);
    assert_eq!(automatic_recalibrations(&bench, c), 1);
    assert_eq!(bench.drift_alerts(c), 0, "nobody was called at any point");
    let view = bench.gateway.bank().view(c).unwrap();
    assert_eq!((view.stage, view.out_of_service), (Stage::Free, None));
    // Re-tared: the next day passes without a word.
    bench.run_for(Duration::from_hours(24));
    assert_eq!(calibrations(&mut bench, c), 1);
    assert_eq!(bench.drift_alerts(c), 0);
}

#[test]
fn a_zero_that_crept_part_of_a_band_before_the_deposit_and_the_rest_under_the_parcel_is_noted() {
    let mut bench = Bench::new();
    bench.settle();

    // Empty, the cells' zero creeps 2 units up (a warm day; the band is 4):
    // the hourly readings see it, and it is no drift yet.
    every_zero_at(&mut bench, 2);
    bench.run_for(Duration::from_hours(8));
    assert!(
        !bench
            .log
            .iter()
            .any(|o| matches!(o, GatewayOutput::Alert(a) if a.kind == AlertKind::Maintenance))
    );

    // A courier stores a parcel; its reading sits on the crept zero.
    let (c, node, ch) = courier_stores_reading(&mut bench, PARCEL_LOAD + 2);
    bench.run_for(Duration::from_hours(2));
    assert!(drift_under_parcel_records(&bench, c).is_empty());
    // Under the parcel the zero creeps 3 more: 3 from the first reading
    // under it (each part under the band), 5 from the tare.
    bench.node(node).load[ch] = PARCEL_LOAD + 5;
    bench.run_for(Duration::from_hours(2));
    assert!(
        matches!(
            drift_under_parcel_records(&bench, c).as_slice(),
            [HealthIssue::PresenceDrift { reading: 5, .. }]
        ),
        "the zero's whole way from the tare: {:?}",
        bench.audit_of(c)
    );
    assert_eq!(bench.drift_alerts(c), 0, "nobody is called for it yet");
}

#[test]
fn a_zero_still_sinking_under_a_parcel_two_days_on_calls_staff_while_the_parcel_is_inside() {
    // The parcel stays over two days (it expires at three).
    let mut bench = Bench::new();
    bench.settle();
    let (c, node, ch) = cell_sunk_under_a_parcel(&mut bench);
    // It sinks a little further the next day: still within the time a
    // settling zero takes, so the bank follows it.
    bench.run_for(Duration::from_hours(20));
    bench.node(node).load[ch] = PARCEL_LOAD - 7;
    bench.run_for(Duration::from_hours(1));
    assert_eq!(bench.drift_alerts(c), 0);
    // Two days after the first finding it still sinks: a failing cell.
    // Staff are called with how far it moved, though the parcel is in.
    bench.run_for(Duration::from_hours(28));
    bench.node(node).load[ch] = PARCEL_LOAD - 9;
    bench.run_for(Duration::from_hours(1));
    assert_eq!(bench.drift_alerts(c), 1);
    assert_eq!(bench.gateway.bank().view(c).unwrap().stage, Stage::Stored);
    assert_eq!(last_maintenance_drift(&bench), Some(-9));
    assert_eq!(calibrations(&mut bench, c), 0);
    bench.run_for(Duration::from_hours(4));
    assert_eq!(bench.drift_alerts(c), 1, "said once");
}

#[test]
fn a_parcel_stolen_while_the_bank_waits_to_retare_under_it_is_a_theft_not_a_drifting_cell() {
    let mut bench = Bench::new();
    bench.settle();
    let (c, node, ch) = cell_sunk_under_a_parcel(&mut bench);
    // At night a thief forces the door, takes the parcel and shuts it.
    bench.open_door(c);
    bench.node(node).load[ch] = -5;
    bench.close_door(c);
    bench.run_for(Duration::from_hours(1));
    let alerts = alerts_of(&bench, c);
    assert!(alerts.contains(&AlertKind::ForcedDoor), "{alerts:?}");
    // The weight that left is the parcel, not the cell: no maintenance
    // alert calls it drift, and the empty compartment is not re-tared over
    // what the books still hold.
    assert_eq!(bench.drift_alerts(c), 0, "{alerts:?}");
    assert_eq!(calibrations(&mut bench, c), 0);
}

/// A courier's parcel stored two hours; then its cell's zero rises `by`
/// under it and stays. An hour on, the bank has noted it once, called
/// nobody and re-tared nothing. Returns the compartment.
fn zero_risen_under_a_stored_parcel(bench: &mut Bench, by: i32) -> CompartmentId {
    let (c, node, ch) = parcel_stored_two_hours(bench);
    bench.node(node).load[ch] = PARCEL_LOAD + by;
    bench.run_for(Duration::from_hours(1));
    assert_eq!(drift_under_parcel_records(bench, c).len(), 1);
    assert_eq!(bench.drift_alerts(c), 0);
    assert_eq!(calibrations(bench, c), 0, "not under the parcel");
    c
}

/// Nodes with a threshold of 20 (letting a parcel go again at 10) and a
/// drift band of 8 in the same units, with the uplink running.
fn bench_with_threshold_20() -> Bench {
    let mut policy = gateway_support::policy();
    policy.node_config = Some(NodeConfig {
        presence_threshold: 20,
        ..NodeConfig::default()
    });
    policy.health.drift_band = 8;
    let mut bench = Bench::with_policy(policy);
    bench.start_uplink();
    bench.settle();
    bench
}

/// The recipient of the bench's first parcel, in compartment `c`, takes
/// it out; the empty compartment then reads `empty` on the node. Returns
/// the compartment's audit trail.
fn collected_leaving(bench: &mut Bench, c: CompartmentId, empty: i32) -> Vec<AuditEvent> {
    let (node, channel) = wiring(c);
    let code = bench.codes[0].1.clone();
    assert_eq!(bench.enter_code(&code).unwrap(), CodeOutcome::Opening(c));
    bench.settle();
    bench.open_door(c);
    bench.node(node).load[usize::from(channel.0)] = empty;
    bench.close_door(c);
    bench.audit_of(c)
}

/// The pickup was verified, and the recipient not told they left the
/// parcel inside.
fn pickup_verified(audit: &[AuditEvent]) -> bool {
    audit.iter().any(|e| {
        matches!(
            e,
            AuditEvent::PickupVerified {
                purpose: locker_domain::bank::Purpose::Pickup
            }
        )
    }) && !audit
        .iter()
        .any(|e| matches!(e, AuditEvent::ParcelLeftInside))
}

/// Compartment `c`, collected over a moved zero, was re-tared once, by the
/// bank itself; the two hours after bring no phantom item and call nobody,
/// and it serves on.
fn retared_once_and_quiet_after(bench: &mut Bench, c: CompartmentId) {
    assert_eq!(calibrations(bench, c), 1);
    assert_eq!(automatic_recalibrations(bench, c), 1);
    bench.run_for(Duration::from_hours(2));
    let alerts = alerts_of(bench, c);
    assert!(alerts.is_empty(), "{alerts:?}");
    let view = bench.gateway.bank().view(c).unwrap();
    assert_eq!((view.stage, view.out_of_service), (Stage::Free, None));
}

/// Every load cell of the bank reads `load` with nothing inside.
fn every_zero_at(bench: &mut Bench, load: i32) {
    for node in &mut bench.nodes {
        node.load = node.load.map(|_| load);
    }
}

/// A courier's small parcel reserved and deposited, its compartment's load
/// cell then reading `load`; checked stored. Returns its compartment, the
/// node and the channel's index.
fn courier_stores_reading(bench: &mut Bench, load: i32) -> (CompartmentId, NodeAddr, usize) {
    let c = bench.reserve_small().unwrap().compartment;
    let (node, channel) = wiring(c);
    let ch = usize::from(channel.0);
    bench.start_deposit(c).unwrap();
    bench.settle();
    bench.open_door(c);
    bench.node(node).load[ch] = load;
    bench.close_door(c);
    assert_eq!(bench.gateway.bank().view(c).unwrap().stage, Stage::Stored);
    (c, node, ch)
}

#[test]
fn a_zero_that_rose_under_a_parcel_past_half_the_threshold_or_past_it_is_weighed_at_the_pickup_and_retared_at_once()
 {
    // The node's threshold is 20; it lets a parcel go again at 10. Each
    // case: how far the zero rose under the parcel (the bank notes it,
    // follows it at every scan, and calls nobody, since the parcel still
    // reads far above the threshold), and what the empty compartment reads
    // once the recipient has taken the parcel.
    let cases = [
        // Beyond the band (8), a band and more below the threshold, but
        // above half of it: the empty compartment reads 11, which the node
        // calls occupied.
        (11, 11),
        // A knock: past the threshold itself, the empty compartment would
        // read like a parcel to the node; and between the last scan and the
        // pickup the zero crept 9 more (more than a band).
        (27, 36),
    ];
    for (risen, empty) in cases {
        let mut bench = bench_with_threshold_20();
        let c = zero_risen_under_a_stored_parcel(&mut bench, risen);
        // The node still says occupied as the door closes; the bank asked
        // for the reading and weighs it against the zero it followed:
        // under 10 over it, the parcel is gone, and the recipient is not
        // told they left it inside. Re-tared at once: the one way the node
        // will call the compartment empty again.
        let audit = collected_leaving(&mut bench, c, empty);
        assert!(pickup_verified(&audit), "rose {risen}: {audit:?}");
        retared_once_and_quiet_after(&mut bench, c);
    }
}

#[test]
fn a_zero_that_rose_under_a_parcel_further_than_any_settling_zero_calls_staff_while_the_parcel_is_inside()
 {
    let mut bench = Bench::new();
    bench.settle();
    let (c, node, ch) = parcel_stored_two_hours(&mut bench);
    // The zero rises 40 units under the parcel: more than eight bands (32)
    // in all, further than a settling zero goes. Nothing is re-tared under
    // the parcel; staff are called while it is still inside, once.
    bench.node(node).load[ch] = PARCEL_LOAD + 40;
    bench.run_for(Duration::from_hours(3));
    assert_eq!(calibrations(&mut bench, c), 0);
    assert_eq!(automatic_recalibrations(&bench, c), 0);
    assert_eq!(bench.gateway.bank().view(c).unwrap().stage, Stage::Stored);
    assert_eq!(bench.drift_alerts(c), 1);
    bench.run_for(Duration::from_hours(3));
    assert_eq!(bench.drift_alerts(c), 1, "said once");
}

#[test]
fn a_courier_deposits_into_a_compartment_whose_drift_waits_for_its_retare_and_the_zero_is_followed_under_the_parcel()
 {
    let mut bench = bench_with_threshold_20();
    // On a warm night every cell's zero rises 14: beyond the band (8),
    // past half the threshold (10). At the next scan the bank finds it on
    // every compartment and waits for a second reading to re-tare.
    every_zero_at(&mut bench, 14);
    bench.run_for(Duration::from_mins(15));
    // Before that reading, a courier deposits a parcel: its compartment
    // is not re-tared over it, and nobody is called.
    let (c, _, _) = courier_stores_reading(&mut bench, PARCEL_LOAD + 14);
    bench.run_for(Duration::from_hours(2));
    assert_eq!(calibrations(&mut bench, c), 0, "never over the parcel");
    assert!(
        !drift_under_parcel_records(&bench, c).is_empty(),
        "the zero is followed under the parcel: {:?}",
        bench.audit_of(c)
    );
    assert_eq!(bench.drift_alerts(c), 0);
    // The other compartments were re-tared meanwhile.
    let other = CompartmentId(if c.0 == 3 { 4 } else { 3 });
    assert_eq!(automatic_recalibrations(&bench, other), 1);

    // The recipient collects it: the empty compartment reads 14, which the
    // node calls occupied; weighed against the zero followed, the pickup is
    // verified, and the compartment re-tared at once.
    let audit = collected_leaving(&mut bench, c, 14);
    assert!(pickup_verified(&audit), "{audit:?}");
    retared_once_and_quiet_after(&mut bench, c);
}

#[test]
fn a_parcel_deposited_on_a_zero_the_bank_retared_that_goes_on_rising_under_it_is_weighed_at_the_pickup()
 {
    let mut bench = bench_with_threshold_20();
    // Every cell's zero rises 9 (beyond the band of 8): the bank re-tares
    // each within half an hour, and follows them from then on.
    every_zero_at(&mut bench, 9);
    bench.run_for(Duration::from_mins(30));
    assert_eq!(automatic_recalibrations(&bench, CompartmentId(1)), 1);

    // A parcel goes in; under it the zero goes on rising, 12 in an hour,
    // past the level at which the node lets a parcel go (10). The bank
    // reads the parcel at every scan and finds it before the recipient
    // comes: nobody is called.
    let (c, node, ch) = courier_stores_reading(&mut bench, PARCEL_LOAD + 9);
    bench.run_for(Duration::from_mins(20));
    bench.node(node).load[ch] = PARCEL_LOAD + 21;
    bench.run_for(Duration::from_mins(40));
    assert_eq!(drift_under_parcel_records(&bench, c).len(), 1);
    assert_eq!(bench.drift_alerts(c), 0);

    // The recipient takes it out: the node, tared at 9, reads 12 and goes
    // on saying occupied; weighed against the zero followed, the pickup is
    // verified and the compartment re-tared at once.
    let audit = collected_leaving(&mut bench, c, 21);
    assert!(pickup_verified(&audit), "{audit:?}");
    assert_eq!(automatic_recalibrations(&bench, c), 2);
    bench.run_for(Duration::from_hours(1));
    let alerts = alerts_of(&bench, c);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn a_zero_that_rose_unseen_since_the_last_reading_under_a_parcel_is_weighed_against_the_parcel_at_the_pickup()
 {
    let mut bench = bench_with_threshold_20();
    let (c, node, ch) = parcel_stored_two_hours(&mut bench);
    // In the minutes before the recipient comes, the cell's zero jumps 14
    // (a knock): no scan has read it, the bank knows nothing of it.
    bench.node(node).load[ch] = PARCEL_LOAD + 14;
    // The recipient takes the parcel. The empty compartment reads 14,
    // above the level at which the node lets a parcel go (10): it still
    // says occupied. The bank asks for the reading as the door closes:
    // below the threshold (20), and far less than half the parcel's
    // weight as it went in (300). Not the parcel: it left, and the zero
    // rose under it. The pickup is verified, the drift noted, and the
    // compartment re-tared at once.
    let audit = collected_leaving(&mut bench, c, 14);
    assert!(pickup_verified(&audit), "{audit:?}");
    assert_eq!(drift_under_parcel_records(&bench, c).len(), 1);
    retared_once_and_quiet_after(&mut bench, c);
}

#[test]
fn a_light_letter_left_inside_on_a_sunk_zero_is_still_left_inside() {
    let mut bench = bench_with_threshold_20();
    // A courier's letter weighing 24 (the threshold is 20) is stored; the
    // periodic readings take its weight.
    let (c, node, ch) = courier_stores_reading(&mut bench, 24);
    bench.run_for(Duration::from_hours(2));
    // The zero sinks 8 under it (a band: no drift yet); the letter reads
    // 16, below the threshold, above the level at which the node lets it
    // go. The recipient opens the door and leaves without it.
    bench.node(node).load[ch] = 16;
    let audit = collected_leaving(&mut bench, c, 16);
    // What is inside weighs more than half the letter as it went in: the
    // letter, left inside, as the node says. Nothing is re-tared over it.
    assert!(
        audit
            .iter()
            .any(|e| matches!(e, AuditEvent::ParcelLeftInside)),
        "{audit:?}"
    );
    assert_eq!(bench.gateway.bank().view(c).unwrap().stage, Stage::Stored);
    assert_eq!(calibrations(&mut bench, c), 0);
}

#[test]
fn a_zero_that_drifts_past_the_threshold_while_the_bank_waits_to_retare_it_is_no_item() {
    let mut bench = bench_with_threshold_20();
    // Compartment 3 stands empty; its zero rises 14: beyond the band (8),
    // below the threshold (20). The next scan finds it, and the bank waits
    // for a reading that agrees before it re-tares.
    let c = CompartmentId(3);
    let (node, channel) = wiring(c);
    let ch = usize::from(channel.0);
    bench.node(node).load[ch] = 14;
    bench.run_for(Duration::from_mins(15));
    assert_eq!(calibrations(&mut bench, c), 0);
    // Before that reading the zero jumps on to 24, past the threshold: the
    // node reports the compartment occupied. Against the zero the bank
    // watches, 10 more is no parcel: nothing is raised.
    bench.node(node).load[ch] = 24;
    bench.settle();
    let alerts = alerts_of(&bench, c);
    assert!(alerts.is_empty(), "{alerts:?}");
    // The zero holds at 24: two readings agree and the bank re-tares it.
    // Each scan's full status of the node carries its occupied bit, no
    // reading: not taken for an item either.
    bench.run_for(Duration::from_mins(45));
    assert_eq!(calibrations(&mut bench, c), 1);
    assert_eq!(automatic_recalibrations(&bench, c), 1);
    bench.run_for(Duration::from_hours(2));
    let alerts = alerts_of(&bench, c);
    assert!(alerts.is_empty(), "nobody was called: {alerts:?}");
    let view = bench.gateway.bank().view(c).unwrap();
    assert_eq!(
        (view.stage, view.out_of_service, view.occupied),
        (Stage::Free, None, Some(false))
    );
}

// ----- the bank and the node's answer ----------------------------------------

/// The node's reading of an idle compartment, drifted to `reading` (the
/// occupied threshold is 10).
fn idle_reading(channel: Channel, reading: i32) -> ChannelStatus {
    ChannelStatus {
        channel,
        door: DoorState::Closed,
        lock: LockState::Locked,
        presence: Presence::empty(reading, 10),
        fault: None,
        temperature: None,
    }
}

/// The node reports `reading` for `c`; returns the calibrates the bank
/// handed out for it.
fn read(sim: &mut Sim<8>, c: CompartmentId, reading: i32) -> Vec<(NodeAddr, Command)> {
    sim.drain();
    let before = sim.commands.len();
    let (node, channel) = sim.wiring(c);
    let now = sim.now;
    sim.bank
        .handle_channel_status(node, &idle_reading(channel, reading), now)
        .unwrap();
    sim.drain();
    sim.commands[before..]
        .iter()
        .filter(|(_, k)| matches!(k, Command::Calibrate { .. }))
        .copied()
        .collect()
}

/// The node reports `reading` for `c` at two periodic readings an hour
/// apart (a zero that shifted and stopped); returns the calibrates the bank
/// handed out.
fn steady(sim: &mut Sim<8>, c: CompartmentId, reading: i32) -> Vec<(NodeAddr, Command)> {
    assert!(read(sim, c, reading).is_empty(), "not at the first reading");
    sim.advance(Duration::from_hours(1));
    read(sim, c, reading)
}

fn maintenance(sim: &Sim<8>, c: CompartmentId) -> usize {
    sim.alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Maintenance && a.compartment == Some(c))
        .count()
}

fn recalibrated(sim: &Sim<8>, c: CompartmentId) -> bool {
    sim.audit.iter().any(|r| {
        r.compartment == Some(c)
            && matches!(r.event, AuditEvent::SensorRecalibratedAutomatically { .. })
    })
}

fn answer(sim: &mut Sim<8>, calibrate: (NodeAddr, Command), outcome: CommandOutcome) {
    sim.drain();
    let now = sim.now;
    sim.bank
        .handle_command_result(calibrate.0, &calibrate.1, outcome, now)
        .unwrap();
    sim.drain();
}

fn first_small(sim: &Sim<8>) -> CompartmentId {
    sim.bank
        .layout()
        .compartments()
        .iter()
        .find(|c| c.size == SizeClass::Small)
        .unwrap()
        .id
}

#[test]
fn a_calibrate_the_node_refuses_raises_the_maintenance_alert() {
    let mut sim = Sim::<8>::new(8, Policy::default());
    let c = first_small(&sim);
    let sent = steady(&mut sim, c, 7);
    assert_eq!(sent.len(), 1, "the bank answers drift by itself first");
    assert_eq!(maintenance(&sim, c), 0);

    answer(
        &mut sim,
        sent[0],
        CommandOutcome::Nacked(NackReason::NotPermitted),
    );
    assert_eq!(maintenance(&sim, c), 1, "refused: staff must look");
    assert!(!recalibrated(&sim, c), "nothing claims it was fixed");
    let alert = sim.alerts.last().unwrap();
    assert!(matches!(
        alert.evidence,
        Evidence::Health(HealthIssue::PresenceDrift { reading: 7, .. })
    ));
    // Said once, and not tried again within the day.
    sim.advance(Duration::from_hours(1));
    assert!(read(&mut sim, c, 8).is_empty());
    assert_eq!(maintenance(&sim, c), 1);
}

/// A node busy (its event queue full), rate-limited, or not answering at
/// all says "later", not "no": the bank sends the calibrate again once the
/// next scan's reading agrees with the drift, and the re-tare that then
/// takes calls nobody.
#[test]
fn a_calibrate_the_node_puts_off_is_sent_again_at_the_next_scan_and_nobody_is_called() {
    for outcome in [
        CommandOutcome::Nacked(NackReason::Busy),
        CommandOutcome::Nacked(NackReason::RateLimited),
        CommandOutcome::Failed,
        CommandOutcome::NotSent,
    ] {
        let mut sim = Sim::<8>::new(8, Policy::default());
        let c = first_small(&sim);
        let sent = steady(&mut sim, c, -6);
        assert_eq!(sent.len(), 1);
        answer(&mut sim, sent[0], outcome);
        assert_eq!(maintenance(&sim, c), 0, "{outcome:?}: later, not no");
        assert!(!recalibrated(&sim, c));
        // The next scan, a quarter of an hour on, reads the same zero.
        sim.advance(Duration::from_mins(15));
        let again = read(&mut sim, c, -6);
        assert_eq!(again.len(), 1, "{outcome:?}: sent again");
        answer(&mut sim, again[0], CommandOutcome::Acked);
        assert!(recalibrated(&sim, c), "{outcome:?}");
        assert_eq!(maintenance(&sim, c), 0, "{outcome:?}");
    }
}

/// A node that keeps putting the calibrate off is not asked for ever:
/// after `CALIBRATE_TRIES` in a row, staff are called, with the drift.
#[test]
fn a_calibrate_put_off_again_and_again_raises_the_maintenance_alert() {
    use locker_domain::bank::CALIBRATE_TRIES;
    for outcome in [
        CommandOutcome::Failed,
        CommandOutcome::Nacked(NackReason::Busy),
    ] {
        let mut sim = Sim::<8>::new(8, Policy::default());
        let c = first_small(&sim);
        let mut sent = steady(&mut sim, c, -6);
        for attempt in 1..=CALIBRATE_TRIES {
            assert_eq!(sent.len(), 1, "{outcome:?}: attempt {attempt}");
            answer(&mut sim, sent[0], outcome);
            let expected = usize::from(attempt == CALIBRATE_TRIES);
            assert_eq!(
                maintenance(&sim, c),
                expected,
                "{outcome:?}: attempt {attempt}"
            );
            sim.advance(Duration::from_mins(15));
            sent = read(&mut sim, c, -6);
        }
        assert!(
            sent.is_empty(),
            "{outcome:?}: not asked again after the alert"
        );
        assert!(!recalibrated(&sim, c));
    }
}

#[test]
fn a_parcel_reserved_and_deposited_while_the_calibrate_is_on_its_way_is_not_calibrated_over() {
    let mut sim = Sim::<8>::new(8, Policy::default());
    let c = first_small(&sim);
    let sent = steady(&mut sim, c, 7);
    assert_eq!(sent.len(), 1);
    // While the calibrate waits in the gateway's queue, the backend reserves
    // the compartment and a courier deposits.
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    assert_eq!(r.compartment, c, "the smallest free compartment");
    sim.deposit(c);
    assert_eq!(sim.bank.view(c).unwrap().stage, Stage::Stored);
    // The node's acknowledgement arrives: the bank cannot know whether the
    // new zero met the parcel, so it takes nothing for fixed.
    answer(&mut sim, sent[0], CommandOutcome::Acked);
    assert!(!recalibrated(&sim, c));
    assert_eq!(maintenance(&sim, c), 1, "staff check the cell");
    assert_eq!(
        sim.bank.view(c).unwrap().stage,
        Stage::Stored,
        "the parcel stays in the books"
    );
}

#[test]
fn a_recalibration_that_took_is_audited_and_raises_nothing() {
    let mut sim = Sim::<8>::new(8, Policy::default());
    let c = first_small(&sim);
    let sent = steady(&mut sim, c, 7);
    answer(&mut sim, sent[0], CommandOutcome::Acked);
    assert!(recalibrated(&sim, c));
    let record = sim
        .audit
        .iter()
        .find(|r| matches!(r.event, AuditEvent::SensorRecalibratedAutomatically { .. }))
        .unwrap();
    assert_eq!(record.actor, Actor::System);
    assert_eq!(maintenance(&sim, c), 0);
    // A day and more later, a new drift is answered the same way again.
    sim.advance(Duration::from_hours(25));
    let again = steady(&mut sim, c, 6);
    assert_eq!(again.len(), 1, "still within the time to settle");
    answer(&mut sim, again[0], CommandOutcome::Acked);
    assert_eq!(maintenance(&sim, c), 0);
    // Quiet for two days after that re-tare: no longer watched, so a drift
    // after it starts a time of its own.
    sim.advance(Duration::from_hours(49));
    let later = steady(&mut sim, c, -6);
    assert_eq!(later.len(), 1, "a new drift, a new recalibration");
    assert_eq!(maintenance(&sim, c), 0);
}

#[test]
fn a_zero_that_has_moved_further_than_any_settling_zero_calls_staff_without_waiting_two_days() {
    let mut sim = Sim::<8>::new(8, Policy::default());
    let c = first_small(&sim);
    // A cell creeping 7 units every few hours: re-tared four times (28
    // units in all, seven bands of 4)...
    for _ in 0..4 {
        let sent = steady(&mut sim, c, 7);
        assert_eq!(sent.len(), 1);
        answer(&mut sim, sent[0], CommandOutcome::Acked);
        sim.advance(Duration::from_hours(3));
    }
    assert_eq!(maintenance(&sim, c), 0);
    // ...and found once more: 35 units, more than eight bands. Not a zero
    // settling after a knock: staff replace it, half a day in.
    assert!(read(&mut sim, c, 7).is_empty(), "not re-tared again");
    assert_eq!(maintenance(&sim, c), 1);
    let alert = sim.alerts.last().unwrap();
    assert!(
        matches!(
            alert.evidence,
            Evidence::Health(HealthIssue::PresenceDrift { reading: 35, .. })
        ),
        "{:?}",
        alert.evidence
    );
}

#[test]
fn a_calibrate_answered_while_the_compartment_is_only_reserved_is_taken() {
    let mut sim = Sim::<8>::new(8, Policy::default());
    let c = first_small(&sim);
    let sent = steady(&mut sim, c, 7);
    assert_eq!(sent.len(), 1);
    // The backend reserves the compartment before the node's answer comes;
    // its door has not opened, so no parcel can have met the new zero.
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    assert_eq!(r.compartment, c);
    answer(&mut sim, sent[0], CommandOutcome::Acked);
    assert!(recalibrated(&sim, c));
    assert_eq!(maintenance(&sim, c), 0);
}

#[test]
fn with_automatic_recalibration_off_drift_is_an_alert_as_before() {
    let policy = Policy {
        drift_settle_within: Duration::ZERO,
        ..Policy::default()
    };
    let mut sim = Sim::<8>::new(8, policy);
    let c = first_small(&sim);
    assert!(read(&mut sim, c, 7).is_empty());
    assert_eq!(maintenance(&sim, c), 1);
}

#[test]
fn a_zero_still_moving_is_not_retared_and_after_three_readings_on_the_move_staff_are_called() {
    let mut sim = Sim::<8>::new(8, Policy::default());
    let c = first_small(&sim);
    assert!(read(&mut sim, c, -5).is_empty());
    for reading in [-7, -9] {
        sim.advance(Duration::from_hours(1));
        assert!(read(&mut sim, c, reading).is_empty());
        assert_eq!(maintenance(&sim, c), 0, "still watching");
    }
    sim.advance(Duration::from_hours(1));
    assert!(
        read(&mut sim, c, -11).is_empty(),
        "never re-tared on the move"
    );
    assert_eq!(maintenance(&sim, c), 1, "a cell that keeps drifting");
    assert!(!recalibrated(&sim, c));
}

#[test]
fn a_zero_creeping_steadily_by_less_than_half_a_band_a_scan_is_retared_after_three_readings_on_the_move()
 {
    // A drift band of 40 units: a quarter band (10) is steady, half a band
    // (20) the most a re-tare can follow from one scan to the next.
    let mut policy = Policy::default();
    policy.health.drift_band = 40;
    let mut sim = Sim::<8>::new(8, policy);
    let c = first_small(&sim);
    // After a knock the zero sinks 15 a reading, past the band: never
    // steady, but slower than half a band.
    assert!(read(&mut sim, c, -50).is_empty());
    for reading in [-65, -80] {
        sim.advance(Duration::from_mins(15));
        assert!(read(&mut sim, c, reading).is_empty(), "still waiting");
    }
    // The third reading on the move: re-tared there, nobody called.
    sim.advance(Duration::from_mins(15));
    let sent = read(&mut sim, c, -95);
    assert_eq!(sent.len(), 1, "re-tared on the creep");
    answer(&mut sim, sent[0], CommandOutcome::Acked);
    assert!(recalibrated(&sim, c));
    assert_eq!(maintenance(&sim, c), 0);

    // The same creep at 25 a reading, faster than re-tares can follow, is
    // a failing cell.
    let mut policy = Policy::default();
    policy.health.drift_band = 40;
    let mut sim = Sim::<8>::new(8, policy);
    let c = first_small(&sim);
    assert!(read(&mut sim, c, -50).is_empty());
    for reading in [-75, -100, -125] {
        sim.advance(Duration::from_mins(15));
        assert!(read(&mut sim, c, reading).is_empty());
    }
    assert_eq!(maintenance(&sim, c), 1);
    assert!(!recalibrated(&sim, c));
}

#[test]
fn a_zero_that_comes_back_by_itself_needs_nothing() {
    let mut sim = Sim::<8>::new(8, Policy::default());
    let c = first_small(&sim);
    assert!(read(&mut sim, c, 5).is_empty());
    sim.advance(Duration::from_hours(1));
    assert!(read(&mut sim, c, 1).is_empty());
    sim.advance(Duration::from_hours(1));
    assert!(read(&mut sim, c, 1).is_empty());
    assert_eq!(maintenance(&sim, c), 0);
    assert!(!recalibrated(&sim, c));
}

#[test]
fn a_compartment_reserved_while_its_drift_is_watched_is_not_retared() {
    let mut sim = Sim::<8>::new(8, Policy::default());
    let c = first_small(&sim);
    assert!(read(&mut sim, c, 7).is_empty());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    assert_eq!(r.compartment, c);
    sim.advance(Duration::from_hours(1));
    assert!(read(&mut sim, c, 7).is_empty(), "never over a reservation");
    assert_eq!(
        maintenance(&sim, c),
        0,
        "nobody is called: the courier's parcel, if it comes, is followed"
    );
}

/// Staff have a compartment's sensor re-tared (after fitting a new load
/// cell); the node's answer decides what the trail says after the request.
/// `answers` are the node's answers to each calibrate the bank sends, in
/// turn; returns the calibrates sent, the compartment's audit trail and its
/// maintenance alerts.
fn staff_retare(answers: &[CommandOutcome]) -> (usize, Vec<AuditEvent>, usize) {
    let mut sim = Sim::<8>::new(8, Policy::default());
    let c = first_small(&sim);
    sim.drain();
    let before = sim.commands.len();
    let now = sim.now;
    sim.bank
        .recalibrate(c, locker_domain::bank::StaffId(4), now)
        .unwrap();
    sim.drain();
    let mut sent = 0;
    for &outcome in answers {
        let calibrates: Vec<(NodeAddr, Command)> = sim.commands[before..]
            .iter()
            .copied()
            .filter(|(_, k)| matches!(k, Command::Calibrate { .. }))
            .collect();
        let Some(&calibrate) = calibrates.get(sent) else {
            break;
        };
        sent += 1;
        answer(&mut sim, calibrate, outcome);
    }
    let trail = sim
        .audit
        .iter()
        .filter(|r| r.compartment == Some(c))
        .map(|r| r.event)
        .collect();
    (sent, trail, maintenance(&sim, c))
}

/// Refused, the re-tare did not take: the trail says so right after the
/// request, and somebody is called, so nobody reads it as a sensor re-tared
/// that was not.
#[test]
fn a_re_tare_staff_asked_for_that_the_node_refuses_is_audited_as_failed_and_calls_someone() {
    let (sent, trail, alerts) = staff_retare(&[CommandOutcome::Nacked(NackReason::NotPermitted)]);
    assert_eq!(sent, 1);
    let asked = trail
        .iter()
        .position(|e| matches!(e, AuditEvent::SensorRecalibrated { .. }))
        .unwrap();
    let failed = trail
        .iter()
        .position(|e| *e == AuditEvent::RecalibrationFailed)
        .unwrap();
    assert!(asked < failed, "{trail:?}");
    assert_eq!(alerts, 1);
}

/// Put off (unanswered on a noisy bus, the node busy), the calibrate is
/// sent again, and the re-tare that then takes says nothing more; put off
/// every time, it did not take.
#[test]
fn a_re_tare_staff_asked_for_that_the_node_puts_off_is_sent_again() {
    use locker_domain::bank::CALIBRATE_TRIES;
    let (sent, trail, alerts) = staff_retare(&[
        CommandOutcome::Failed,
        CommandOutcome::Nacked(NackReason::Busy),
        CommandOutcome::Acked,
    ]);
    assert_eq!(sent, 3);
    assert!(
        !trail.contains(&AuditEvent::RecalibrationFailed),
        "{trail:?}"
    );
    assert_eq!(alerts, 0);

    let always = vec![CommandOutcome::Failed; usize::from(CALIBRATE_TRIES) + 2];
    let (sent, trail, alerts) = staff_retare(&always);
    assert_eq!(sent, usize::from(CALIBRATE_TRIES), "not asked for ever");
    assert_eq!(
        trail
            .iter()
            .filter(|e| **e == AuditEvent::RecalibrationFailed)
            .count(),
        1
    );
    assert_eq!(alerts, 1);
}
