//! The simulator's oracle and its summary, as a property manager and a
//! script reading `--json` meet them.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use locker_examples::sim::{IncidentKind, IncidentRates, Noise, SUMMARY_SCHEMA, SimConfig, run};

fn quiet_week() -> SimConfig {
    SimConfig {
        seed: 11,
        days: 7,
        noise_level: 0,
        noise: Noise::level(0),
        rates: IncidentRates::NONE,
        ..SimConfig::default()
    }
}

/// Every key of a JSON value, at any depth.
fn keys(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                keys(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn a_quiet_week_on_a_clean_bus_raises_no_alarm_the_world_cannot_explain() {
    let outcome = run(&quiet_week(), &mut |_| {}).unwrap();
    let s = &outcome.summary;
    assert!(s.parcels.deposited > 50, "{}", s.render());
    assert_eq!(s.false_alarms.total, 0, "{}", s.render());
    assert!(s.incidents.iter().all(|r| r.tally.occurred == 0));
    assert_eq!(s.without_site_visit_percent, 100.0);
}

#[test]
fn every_forced_door_is_detected_and_each_needs_someone_on_site() {
    let mut config = quiet_week();
    config.rates.set(IncidentKind::ForcedDoor, 1.0);
    let outcome = run(&config, &mut |_| {}).unwrap();
    let s = &outcome.summary;
    let forced = s
        .incidents
        .iter()
        .find(|r| r.kind == "forced_door")
        .unwrap();
    assert!(forced.tally.occurred > 0, "{}", s.render());
    assert_eq!(
        forced.tally.detected,
        forced.tally.occurred,
        "{}",
        s.render()
    );
    // Security comes to every forced door: none ends without a visit.
    assert_eq!(forced.tally.resolved_without_site_visit, 0);
    assert!(s.without_site_visit_percent < 100.0);
}

#[test]
fn every_failed_fridge_is_alerted_before_it_is_repaired_on_site_and_no_fridge_alarm_is_false() {
    let mut config = quiet_week();
    config.days = 30;
    config.noise_level = 1;
    config.noise = Noise::level(1);
    config.rates.set(IncidentKind::FridgeFailure, 0.5);
    let outcome = run(&config, &mut |_| {}).unwrap();
    let s = &outcome.summary;
    let fridge = s
        .incidents
        .iter()
        .find(|r| r.kind == "fridge_failure")
        .unwrap();
    assert!(fridge.tally.occurred >= 5, "{}", s.render());
    assert_eq!(
        fridge.tally.detected,
        fridge.tally.occurred,
        "{}",
        s.render()
    );
    // A fridge is repaired by a technician on site, never by itself.
    assert_eq!(fridge.tally.resolved_without_site_visit, 0);
    assert_eq!(s.false_alarms.total, 0, "{}", s.render());
    // Perishable parcels left their cold chain in the audit.
    assert!(s.audit.count("cold_chain") > 0, "{}", s.render());
}

/// A month of the quiet bank at bus noise `noise` with one broken load
/// cell of `kind` a day (every invariant checked after every step): each
/// is found by its deadline (one that broke in the last hours may be open,
/// not yet found and not overdue) and replaced on site, no alarm is false
/// and no parcel is lost.
fn a_month_of_broken_cells(kind: IncidentKind, noise: u8) {
    let mut config = quiet_week();
    config.days = 30;
    config.noise_level = noise;
    config.noise = Noise::level(noise);
    config.rates.set(kind, 1.0);
    config.check_invariants = true;
    let outcome = run(&config, &mut |_| {}).unwrap();
    let s = &outcome.summary;
    let row = s.incidents.iter().find(|r| r.kind == kind.name()).unwrap();
    assert!(row.tally.occurred >= 5, "{}", s.render());
    assert_eq!(
        row.tally.detected + row.open_undetected,
        row.tally.occurred,
        "{}",
        s.render()
    );
    assert_eq!(row.open_overdue, 0, "{}", s.render());
    assert_eq!(row.tally.detected_late, 0, "{}", s.render());
    assert_eq!(row.tally.resolved_without_site_visit, 0, "{}", s.render());
    assert_eq!(s.false_alarms.total, 0, "{}", s.render());
    assert_eq!(s.parcels.lost, 0, "{}", s.render());
    assert_eq!(s.invariants.violations, 0, "{:#?}", s.invariants.first);
}

/// Load cells that stop answering: each is alerted at once (the node's
/// fault, not an empty compartment), and the bank sends no courier there
/// meanwhile.
#[test]
fn every_dead_load_cell_is_alerted_at_once_and_replaced_on_site_and_nothing_is_lost() {
    a_month_of_broken_cells(IncidentKind::DeadSensor, 1);
}

/// Load cells whose amplifiers hang, on a bad bus: each is found by the
/// readings the bank takes (hourly, and after a door session that changed
/// nothing) within the day, and every invariant holds though couriers met
/// some before they were found.
#[test]
fn every_stuck_load_cell_is_found_within_the_day_and_nothing_is_lost() {
    a_month_of_broken_cells(IncidentKind::StuckSensor, 2);
}

#[test]
fn the_json_summary_carries_its_schema_and_snake_case_keys_only() {
    let mut config = quiet_week();
    config.days = 2;
    config.rates = IncidentRates::default().scaled(20.0);
    let outcome = run(&config, &mut |_| {}).unwrap();
    let json = serde_json::to_value(&outcome.summary).unwrap();
    assert_eq!(json["schema"], SUMMARY_SCHEMA);
    assert_eq!(SUMMARY_SCHEMA, "locker-sim/3");
    assert!(json["without_site_visit_percent"].is_number());
    let analytics = &json["analytics"];
    assert_eq!(analytics["deposits_by_hour"].as_array().unwrap().len(), 24);
    assert_eq!(analytics["weekdays"].as_array().unwrap().len(), 7);
    assert_eq!(analytics["dwell"].as_array().unwrap().len(), 7);
    assert!(analytics["refusals"]["bank_full"].is_u64());
    assert!(!analytics["sizes"].as_array().unwrap().is_empty());
    assert!(json["false_alarms"]["total"].is_u64());
    assert!(json["false_alarms"]["by_kind"].is_object());
    for row in json["incidents"].as_array().unwrap() {
        for field in [
            "kind",
            "occurred",
            "detected",
            "resolved_without_site_visit",
            "needed_site_visit",
            "open",
            "open_undetected",
            "open_latent",
            "open_overdue",
            "slowest_detection_s",
            "detected_late",
        ] {
            assert!(!row[field].is_null(), "incident row without {field}: {row}");
        }
    }
    let mut all = Vec::new();
    keys(&json, &mut all);
    assert!(all.len() > 50);
    for key in all {
        assert!(
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "key {key:?} is not snake_case"
        );
    }
}

#[test]
fn on_a_bad_bus_every_fault_with_a_deadline_is_found_within_it_none_is_missed_and_no_alarm_is_false()
 {
    // A fortnight at noise 2 with ten times the usual faults: each kind
    // with a time deadline is found by it, and nothing is left unfound
    // past it at the end (a fault that began in the last minutes may be
    // open and unseen; it is not overdue).
    let config = SimConfig {
        seed: 7,
        days: 14,
        noise_level: 2,
        noise: Noise::level(2),
        rates: IncidentRates::default().scaled(10.0),
        ..SimConfig::default()
    };
    let outcome = run(&config, &mut |_| {}).unwrap();
    let s = &outcome.summary;
    for row in &s.incidents {
        let kind = IncidentKind::from_name(row.kind).unwrap();
        assert_eq!(
            row.deadline_s,
            kind.detection_deadline().map(|d| d.as_millis() / 1_000)
        );
        assert_eq!(row.tally.detected_late, 0, "{}: {}", row.kind, s.render());
        assert_eq!(row.open_overdue, 0, "{}: {}", row.kind, s.render());
        if let Some(deadline) = row.deadline_s {
            assert!(row.tally.slowest_detection_s <= deadline, "{}", s.render());
        }
    }
    let found: u64 = s.incidents.iter().map(|r| r.tally.detected).sum();
    assert!(found > 100, "{}", s.render());
    // And on that bus, with ten times the faults, no alarm the world
    // cannot explain.
    assert_eq!(s.false_alarms.total, 0, "{}", s.render());
}

#[test]
fn a_site_of_several_banks_runs_a_day_with_every_incident_on_a_1_mib_stack() {
    // Banks, gateways and nodes live on the heap or in their owner's
    // storage, never as values on the stack: the whole simulated site (its
    // banks built one after another, each with its gateway, nodes, uplink
    // and every kind of incident) runs on a thread with half a default test
    // thread's stack. With `gateway_files.rs`'s largest bank, this is what
    // keeps CI from running every test a second time on small stacks.
    let run_site = || {
        let config = SimConfig {
            seed: 5,
            days: 1,
            compartments: 200,
            noise_level: 2,
            noise: Noise::level(2),
            rates: IncidentRates::default().scaled(20.0),
            ..SimConfig::default()
        };
        let outcome = run(&config, &mut |_| {}).unwrap();
        let s = &outcome.summary;
        assert!(s.banks > 1, "{}", s.render());
        assert!(s.parcels.deposited > 0, "{}", s.render());
        assert!(
            s.incidents.iter().any(|r| r.tally.occurred > 0),
            "{}",
            s.render()
        );
    };
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(run_site)
        .unwrap()
        .join()
        .unwrap();
}
