//! The simulated banks' uplinks: every gateway talks to an in-process
//! backend through its outbound queue, and the backend's view of the bank
//! is held against the bank's own audit trail.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use locker_examples::sim::{
    IncidentKind, IncidentRates, Noise, SimBank, SimConfig, Summary, check, run,
};
use locker_proto::RebootKind;
use locker_proto::time::Instant;
use locker_proto::uplink::{Downward, ResetTarget};

fn week(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        days: 7,
        noise_level: 1,
        noise: Noise::level(1),
        rates: IncidentRates::NONE,
        ..SimConfig::default()
    }
}

fn delivered(s: &Summary, kind: &str) -> u64 {
    s.uplink.delivered_by_kind.get(kind).copied().unwrap_or(0)
}

/// Every message the gateways produced reached the backend and was
/// acknowledged, none is left in a queue: the link ended up.
fn nothing_lost_nothing_left(s: &Summary) {
    let u = &s.uplink;
    assert_eq!(u.still_queued, 0, "{}", s.render());
    assert_eq!(u.delivered, u.produced, "{:#?}", u);
    assert_eq!(u.acknowledged, u.produced, "{:#?}", u);
    // The backend's chain of custody is the bank's, record for record.
    assert_eq!(delivered(s, "audit"), s.audit.records, "{:#?}", u);
    // A record a restored bank hands out again does not go up again.
    assert_eq!(u.audit_repeats, 0, "{:#?}", u);
    // Every verified deposit and pickup the bank audited, the backend heard
    // of as a parcel event, once.
    assert_eq!(u.deposits_heard, s.audit.count("deposit_verified"));
    assert_eq!(u.deposits_heard, s.parcels.deposited);
    assert_eq!(u.pickups_heard, s.audit.pickups_verified);
}

#[test]
fn over_a_week_every_audited_parcel_event_reaches_the_backend_exactly_once() {
    let outcome = run(&week(3), &mut |_| {}).unwrap();
    let s = &outcome.summary;
    assert!(s.parcels.deposited > 50, "{}", s.render());
    assert!(s.parcels.picked_up > 50, "{}", s.render());
    nothing_lost_nothing_left(s);
    // The link never went down: nothing was sent twice or heard twice.
    let u = &s.uplink;
    assert_eq!(u.retransmissions, 0, "{u:#?}");
    assert_eq!(u.backend_duplicates, 0, "{u:#?}");
    assert_eq!(u.audit_repeats, 0, "{u:#?}");
    assert_eq!(u.lost_to_gateway_off, 0, "{u:#?}");
    // One boot, then a heartbeat every five minutes all week.
    assert_eq!(delivered(s, "boot_notification"), 1);
    assert!(delivered(s, "heartbeat") >= 7 * 24 * 12 - 1, "{u:#?}");
    assert!(delivered(s, "parcel_event") > u.deposits_heard + u.pickups_heard);
    // Nobody forced a door or jammed a lock: the backend asked nothing.
    assert_eq!(u.requests, 0, "{u:#?}");
}

#[test]
fn a_long_outage_shuts_the_gateway_down_and_loses_no_upward_message() {
    let mut config = week(5);
    config.days = 4;
    config.rates.set(IncidentKind::LongOutage, 0.5);
    let outcome = run(&config, &mut |_| {}).unwrap();
    let s = &outcome.summary;
    assert!(s.power.shutdowns > 0, "{}", s.render());
    assert_eq!(s.power.restores, s.power.shutdowns);
    assert_eq!(s.parcels.lost, 0);
    nothing_lost_nothing_left(s);
    // Each restart boots the uplink again, in a new epoch.
    assert_eq!(delivered(s, "boot_notification"), 1 + s.power.restores);
}

#[test]
fn each_forced_door_makes_the_backend_ask_for_a_snapshot_and_each_request_is_answered() {
    let mut config = week(7);
    config.rates.set(IncidentKind::ForcedDoor, 1.0);
    config.rates.set(IncidentKind::JammedLock, 1.0);
    let outcome = run(&config, &mut |_| {}).unwrap();
    let s = &outcome.summary;
    let u = &s.uplink;
    let forced = s.alerts.get("forced_door").copied().unwrap_or(0);
    let jammed = s.alerts.get("lock_fault").copied().unwrap_or(0);
    assert!(forced > 0 && jammed > 0, "{}", s.render());
    assert_eq!(u.requests_by_kind.get("trigger_snapshot"), Some(&forced));
    assert_eq!(u.requests_by_kind.get("change_availability"), Some(&jammed));
    assert_eq!(u.requests, forced + jammed);
    assert_eq!(u.answered + u.refused, u.requests, "{u:#?}");
    assert_eq!(u.unanswered, 0, "{u:#?}");
    nothing_lost_nothing_left(s);
}

#[test]
fn the_backend_resets_the_gateway_which_restarts_from_its_files_and_boots_again() {
    let config = week(9);
    let mut sim = SimBank::new(0, 48, 300, &config).unwrap();
    let hour = |h: u64| Instant::from_millis(h * 3_600_000);
    sim.run_until(hour(12), &mut |_| {});
    let before = sim.backend_link().summary();
    assert_eq!(before.delivered_by_kind.get("boot_notification"), Some(&1));
    sim.backend_request(Downward::Reset {
        kind: RebootKind::Soft,
        target: ResetTarget::Gateway,
    });
    sim.run_until(hour(24), &mut |_| {});
    let after = sim.backend_link().summary();
    // Accepted, then carried out: a second boot, from the books on "flash".
    assert_eq!(after.requests_by_kind.get("reset"), Some(&1));
    assert_eq!((after.answered, after.refused, after.unanswered), (1, 0, 0));
    assert_eq!(after.delivered_by_kind.get("boot_notification"), Some(&2));
    assert!(
        sim.timeline.iter().any(|l| l.text.contains("reboot")),
        "no reboot in the timeline"
    );
    // Nothing lost on the way down and back.
    assert_eq!(after.still_queued, 0);
    assert_eq!(after.delivered, after.produced);
    assert_eq!(
        after.delivered_by_kind.get("audit"),
        Some(&sim.audit.records)
    );
    assert_eq!(sim.audit.sequence_gaps, 0);
    assert_eq!(check::parcels_lost(&sim), 0);
    assert!(sim.world.deposited > before.deposits_heard);
}
