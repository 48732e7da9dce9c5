//! The simulated bank with Kerong KR-CU16 boards standing where our nodes
//! stand (`locker-sim --board kerong-cu16`): the same gateway, the same
//! world, the library's adapter in between.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use locker_examples::sim::{Board, IncidentKind, SimConfig, run};

/// Five days of one 48-compartment bank of Kerong boards at the default
/// noise, forced doors 50 times as often as by default so that some
/// happen whatever else the seed's days hold (five expected), every
/// invariant checked after every step. (The month runs in
/// the release binary: `locker-sim --board kerong-cu16 --days 30`.)
#[test]
fn kerong_boards_lose_no_parcel_and_detect_forced_doors() {
    let mut config = SimConfig {
        days: 5,
        board: Board::KerongCu16,
        check_invariants: true,
        ..SimConfig::default()
    };
    let forced = config.rates.get(IncidentKind::ForcedDoor);
    config.rates.set(IncidentKind::ForcedDoor, forced * 50.0);
    let outcome = run(&config, &mut |_| {}).unwrap();
    let s = &outcome.summary;

    assert_eq!(s.board, Board::KerongCu16);
    assert_eq!(s.parcels.lost, 0, "{}", s.render());
    assert_eq!(s.invariants.violations, 0, "{:#?}", s.invariants.first);
    assert!(s.invariants.steps_checked > 10_000);
    assert_eq!(s.false_alarms.total, 0, "{:?}", s.false_alarms);

    // The boards carried the bank's traffic.
    assert!(s.parcels.deposited > 100, "{}", s.render());
    assert!(s.parcels.picked_up > 100, "{}", s.render());
    assert!(s.bus.events_delivered > 100, "{:?}", s.bus);

    // Every forced door was seen through the boards' latch contacts.
    let row = |kind: &str| s.incidents.iter().find(|r| r.kind == kind).unwrap();
    let forced = row("forced_door");
    let (occurred, detected) = (forced.tally.occurred, forced.tally.detected);
    assert!(occurred > 0 && detected == occurred, "{}", s.render());
    assert_eq!(
        s.alerts.get("forced_door").copied().unwrap_or(0),
        s.audit.count("door_forced")
    );
    // A board has no load cell: no drift is injected.
    assert_eq!(row("drifting_sensor").tally.occurred, 0);

    let json = serde_json::to_value(s).unwrap();
    assert_eq!(json["board"], "kerong_cu16");
}

/// A board falling silent is reported by its adapter, power-cycled by the
/// gateway's rule (`GatewayOutput::PowerCycleNode`) and back; a power outage restarts the adapters and the gateway rescans them.
#[test]
fn silent_boards_and_outages_are_ridden_out() {
    let mut config = SimConfig {
        days: 4,
        seed: 3,
        board: Board::KerongCu16,
        ..SimConfig::default()
    };
    config.rates.set(IncidentKind::NodeHang, 1.0);
    config.rates.set(IncidentKind::LongOutage, 0.5);
    let outcome = run(&config, &mut |_| {}).unwrap();
    let s = &outcome.summary;
    assert_eq!(s.parcels.lost, 0, "{}", s.render());
    assert_eq!(s.false_alarms.total, 0, "{:?}", s.false_alarms);
    let hang = s.incidents.iter().find(|r| r.kind == "node_hang").unwrap();
    assert!(hang.tally.occurred > 0, "{}", s.render());
    assert_eq!(hang.tally.detected, hang.tally.occurred, "{}", s.render());
    // Found at once, and each brought back by the gateway's power cycle.
    assert_eq!(hang.tally.detected_late, 0, "{}", s.render());
    assert_eq!(hang.open, 0, "{}", s.render());
    assert!(s.power.shutdowns > 0, "{}", s.render());
    assert_eq!(s.power.restores, s.power.shutdowns);
    assert_eq!(s.power.restore_failures, 0);
}

/// The same seed gives the same summary, byte for byte.
#[test]
fn kerong_runs_are_deterministic() {
    let config = SimConfig {
        days: 3,
        seed: 11,
        board: Board::KerongCu16,
        ..SimConfig::default()
    };
    let a = run(&config, &mut |_| {}).unwrap();
    let b = run(&config, &mut |_| {}).unwrap();
    assert_eq!(a.summary.render(), b.summary.render());
    assert_eq!(
        serde_json::to_string(&a.summary).unwrap(),
        serde_json::to_string(&b.summary).unwrap()
    );
    assert_eq!(a.timeline_text(), b.timeline_text());
}
