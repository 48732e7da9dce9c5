//! Sensor health, told as stories from a locker's life.

use locker_domain::bank::health::{
    FROZEN_READINGS, HEALTH_BYTES_PER_COMPARTMENT, HealthAlert, HealthError, HealthIssue,
    HealthPolicy, STUCK_MIN_DOOR_CHANGES, SensorHealth,
};
use locker_proto::Presence;
use locker_proto::time::{Duration, Instant};

const THRESHOLD: i32 = 10;

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn hours(h: u64) -> Instant {
    Instant::ZERO + Duration::from_hours(h)
}

fn empty(reading: i32) -> Presence {
    Presence::empty(reading, THRESHOLD)
}

fn bank() -> SensorHealth<24> {
    SensorHealth::new(HealthPolicy::default())
}

#[test]
fn a_door_switch_bouncing_all_night_is_reported_once() {
    let mut health = bank();
    let mut alerts = Vec::new();
    // From 22:00 to 06:00 the loose switch of compartment 5 toggles every 2 s.
    let mut t = hours(22);
    while t < hours(30) {
        if let Some(alert) = health.observe_door_change(5, t).unwrap() {
            alerts.push(alert);
        }
        t += Duration::from_secs(2);
    }
    assert_eq!(
        alerts,
        [HealthAlert {
            slot: 5,
            issue: HealthIssue::DoorFlapping {
                changes: 11,
                within: Duration::from_secs(20)
            }
        }]
    );
}

#[test]
fn a_courier_reopening_the_door_to_reseat_a_parcel_is_not_flapping() {
    let mut health = bank();
    // Open, close, open, close, open, close within a minute, then nothing.
    for s in [0, 5, 20, 26, 40, 44] {
        assert_eq!(health.observe_door_change(3, at(1_000 + s)).unwrap(), None);
    }
    // A busy day: one pickup every few minutes, all day.
    for minute in (0..600).step_by(3) {
        assert_eq!(
            health
                .observe_door_change(3, at(2_000 + minute * 60))
                .unwrap(),
            None
        );
        assert_eq!(
            health
                .observe_door_change(3, at(2_000 + minute * 60 + 8))
                .unwrap(),
            None
        );
    }
}

#[test]
fn a_door_that_starts_bouncing_again_after_a_quiet_spell_is_reported_again() {
    let mut health = bank();
    let mut alerts = 0;
    for night_start in [hours(22), hours(46)] {
        for i in 0..3_600u64 {
            let change = health.observe_door_change(5, night_start + Duration::from_secs(i * 2));
            alerts += usize::from(change.unwrap().is_some());
        }
    }
    assert_eq!(alerts, 2, "one alert per night, not one per minute");
}

#[test]
fn an_empty_compartment_creeping_towards_the_threshold_is_reported_once_with_the_reading() {
    let mut health = bank();
    let mut alerts = Vec::new();
    // Compartment 9 is empty; its tared reading creeps up one unit a day.
    for day in 0..9 {
        let reading = day as i32;
        if let Some(alert) = health
            .observe_presence(9, empty(reading), true, hours(day * 24))
            .unwrap()
        {
            alerts.push(alert);
        }
    }
    assert_eq!(
        alerts,
        [HealthAlert {
            slot: 9,
            issue: HealthIssue::PresenceDrift {
                reading: 5,
                threshold: THRESHOLD,
                band: 4
            }
        }]
    );
}

#[test]
fn a_sensor_that_sags_below_its_tare_is_drift_too() {
    let mut health = bank();
    let alert = health.observe_presence(2, empty(-6), true, at(0)).unwrap();
    assert_eq!(
        alert.map(|a| a.issue),
        Some(HealthIssue::PresenceDrift {
            reading: -6,
            threshold: THRESHOLD,
            band: 4
        })
    );
}

#[test]
fn drift_is_reported_again_only_after_a_recalibration_brought_it_back() {
    let mut health = bank();
    let mut t = at(0);
    let mut next = |health: &mut SensorHealth<24>, reading| {
        t += Duration::from_mins(1);
        health
            .observe_presence(0, empty(reading), true, t)
            .unwrap()
            .is_some()
    };
    assert!(next(&mut health, 5));
    // Wobbling about the band edge: still the same episode.
    assert!(!next(&mut health, 4));
    assert!(!next(&mut health, 3));
    assert!(!next(&mut health, 6));
    // Recalibrated: back near 0 ends the episode; creeping out again is news.
    assert!(!next(&mut health, 1));
    assert!(next(&mut health, 5));
}

#[test]
fn a_parcel_inside_is_not_mistaken_for_drift() {
    let mut health = bank();
    let heavy = Presence::occupied(2_500, THRESHOLD);
    assert_eq!(
        health.observe_presence(4, heavy, false, at(0)).unwrap(),
        None
    );
    // Books say occupied but the sensor reads a light item as empty: not drift either.
    assert_eq!(
        health.observe_presence(4, empty(7), false, at(60)).unwrap(),
        None
    );
    // Books say empty, sensor says occupied: a disagreement for the bank, not drift.
    let stray = Presence::occupied(40, THRESHOLD);
    assert_eq!(
        health.observe_presence(4, stray, true, at(120)).unwrap(),
        None
    );
}

#[test]
fn the_next_parcel_in_the_same_compartment_is_weighed_afresh_not_taken_for_drift() {
    let mut health = bank();
    let parcel = |reading: i32| Presence::occupied(reading, THRESHOLD);
    // A 40-unit parcel sits still behind the shut door all day.
    for _ in 0..6 {
        assert_eq!(health.observe_parcel_reading(4, parcel(40)).unwrap(), None);
    }
    // It is collected and a 900-unit parcel goes in: two door changes each.
    for h in 1..=4 {
        assert_eq!(health.observe_door_change(4, hours(h)).unwrap(), None);
    }
    assert_eq!(health.observe_parcel_reading(4, parcel(900)).unwrap(), None);
    assert_eq!(health.observe_parcel_reading(4, parcel(903)).unwrap(), None);
    // Then the cell creeps under it: more than the band from its first reading.
    let alert = health
        .observe_parcel_reading(4, parcel(905))
        .unwrap()
        .unwrap();
    assert_eq!(
        alert.issue,
        HealthIssue::PresenceDrift {
            reading: 5,
            threshold: THRESHOLD,
            band: HealthPolicy::default().drift_band
        }
    );
    // A reading saying empty is the bank's business (a parcel gone), not drift.
    assert_eq!(health.observe_parcel_reading(5, empty(0)).unwrap(), None);
}

#[test]
fn a_frozen_sensor_through_a_day_of_deliveries_is_reported_stuck() {
    let mut health = bank();
    let morning = hours(8);
    assert_eq!(
        health
            .observe_presence(11, empty(2), true, morning)
            .unwrap(),
        None
    );
    // Two deliveries' worth of door cycles, and the reading never moves.
    for h in [10, 11, 15, 16] {
        assert_eq!(health.observe_door_change(11, hours(h)).unwrap(), None);
        assert_eq!(
            health
                .observe_presence(11, empty(2), true, hours(h))
                .unwrap(),
            None
        );
    }
    let next_morning = hours(32);
    assert_eq!(
        health
            .observe_presence(11, empty(2), true, next_morning)
            .unwrap(),
        Some(HealthAlert {
            slot: 11,
            issue: HealthIssue::PresenceStuck {
                reading: 2,
                since: morning
            }
        })
    );
    // Once per episode.
    assert_eq!(
        health
            .observe_presence(11, empty(2), true, hours(40))
            .unwrap(),
        None
    );
    // It moves again: the episode is over; freezing again later is news.
    assert_eq!(
        health
            .observe_presence(11, empty(3), true, hours(41))
            .unwrap(),
        None
    );
    for h in 42..46 {
        health.observe_door_change(11, hours(h)).unwrap();
    }
    assert!(matches!(
        health
            .observe_presence(11, empty(3), true, hours(66))
            .unwrap(),
        Some(HealthAlert {
            issue: HealthIssue::PresenceStuck { reading: 3, .. },
            ..
        })
    ));
}

/// A load cell in raw counts: 420 to the gram, a 5 g threshold.
const CELL_THRESHOLD: i32 = 2_100;

fn cell_bank() -> SensorHealth<24> {
    SensorHealth::new(HealthPolicy {
        drift_band: HealthPolicy::drift_band_for(CELL_THRESHOLD),
        ..HealthPolicy::default()
    })
}

/// ±300 counts of noise, the same every run.
fn noise(k: u64) -> i32 {
    let x = k.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ k;
    (x % 601) as i32 - 300
}

/// A load cell's amplifier hangs in an empty compartment nobody opens and
/// repeats its last conversion: the bank's hourly readings find it frozen at
/// the sixth, the evidence its reading and since when, before a courier is
/// sent there. Said once; a reading that moves ends the episode.
#[test]
fn a_hung_amplifier_repeating_its_last_reading_is_found_by_the_hourly_readings() {
    let mut health = cell_bank();
    for h in 0..12 {
        let reading = Presence::empty(noise(h), CELL_THRESHOLD);
        assert_eq!(
            health
                .observe_idle_reading(4, reading, true, hours(h))
                .unwrap(),
            None
        );
    }
    let frozen = Presence::empty(-117, CELL_THRESHOLD);
    let found: Vec<_> = (12..24)
        .filter_map(|h| {
            health
                .observe_idle_reading(4, frozen, true, hours(h))
                .unwrap()
                .map(|a| (h, a.issue))
        })
        .collect();
    let sixth = 12 + u64::from(FROZEN_READINGS) - 1;
    assert_eq!(
        found,
        [(
            sixth,
            HealthIssue::PresenceStuck {
                reading: -117,
                since: hours(12)
            }
        )]
    );
    // The amplifier is reset: the readings move, and a later freeze is news.
    let moving = Presence::empty(58, CELL_THRESHOLD);
    assert_eq!(
        health
            .observe_idle_reading(4, moving, true, hours(24))
            .unwrap(),
        None
    );
    let again = (25..40).find_map(|h| {
        health
            .observe_idle_reading(4, moving, true, hours(h))
            .unwrap()
    });
    assert!(again.is_some());
}

/// A working load cell, read every hour for a year, empty or holding
/// parcels: its noise moves every reading, and it is never taken for
/// frozen.
#[test]
fn a_working_noisy_cell_read_hourly_for_a_year_is_never_frozen() {
    let mut health = cell_bank();
    for h in 0..365 * 24 {
        let parcel = (h / 30) % 3 == 1;
        let reading = if parcel {
            Presence::occupied(21_000 + noise(h), CELL_THRESHOLD)
        } else {
            Presence::empty(noise(h), CELL_THRESHOLD)
        };
        let found = health
            .observe_idle_reading(9, reading, !parcel, hours(h))
            .unwrap();
        assert_eq!(found, None, "hour {h}");
    }
}

/// A break beam reads 0 or 1: an empty compartment nobody opens reads 0 all
/// week, rightly. Identical readings of so coarse a sensor are no evidence.
#[test]
fn a_break_beam_reading_0_all_week_is_not_frozen() {
    let mut health = bank();
    for h in 0..7 * 24 {
        let beam = Presence::empty(0, 1);
        assert_eq!(
            health
                .observe_idle_reading(2, beam, true, hours(h))
                .unwrap(),
            None
        );
    }
}

#[test]
fn a_compartment_nobody_opens_all_weekend_is_not_stuck() {
    let mut health = bank();
    for h in 0..72 {
        assert_eq!(
            health
                .observe_presence(6, empty(1), true, hours(h))
                .unwrap(),
            None
        );
    }
    // One door cycle is not enough evidence either.
    health.observe_door_change(6, hours(72)).unwrap();
    health
        .observe_door_change(6, hours(72) + Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        health
            .observe_presence(6, empty(1), true, hours(99))
            .unwrap(),
        None
    );
    const { assert!(STUCK_MIN_DOOR_CHANGES > 2) };
}

#[test]
fn many_door_cycles_in_one_busy_hour_do_not_make_a_sensor_stuck() {
    let mut health = bank();
    health
        .observe_presence(6, empty(0), true, hours(9))
        .unwrap();
    for m in 0..10 {
        health
            .observe_door_change(6, hours(9) + Duration::from_mins(m * 5))
            .unwrap();
    }
    assert_eq!(
        health
            .observe_presence(6, empty(0), true, hours(10))
            .unwrap(),
        None
    );
}

#[test]
fn a_sensor_both_drifted_and_frozen_gets_both_alerts_one_after_the_other() {
    let mut health = bank();
    let policy = HealthPolicy {
        drift_band: 100,
        ..HealthPolicy::default()
    };
    let mut frozen = SensorHealth::<1>::new(policy);
    // Frozen at 7 from the start, under a wide band: no drift yet.
    frozen
        .observe_presence(0, empty(7), true, hours(0))
        .unwrap();
    for h in 1..5 {
        frozen.observe_door_change(0, hours(h)).unwrap();
    }
    // Same story in the default bank, where 7 is also beyond the band.
    health
        .observe_presence(0, Presence::occupied(7, THRESHOLD), false, hours(0))
        .unwrap();
    for h in 1..5 {
        health.observe_door_change(0, hours(h)).unwrap();
    }
    let first = health
        .observe_presence(0, empty(7), true, hours(30))
        .unwrap()
        .unwrap();
    let second = health
        .observe_presence(0, empty(7), true, hours(31))
        .unwrap()
        .unwrap();
    assert!(matches!(
        first.issue,
        HealthIssue::PresenceDrift { reading: 7, .. }
    ));
    assert_eq!(
        second.issue,
        HealthIssue::PresenceStuck {
            reading: 7,
            since: hours(0)
        }
    );
    assert_eq!(
        health
            .observe_presence(0, empty(7), true, hours(32))
            .unwrap(),
        None
    );
    assert!(matches!(
        frozen
            .observe_presence(0, empty(7), true, hours(30))
            .unwrap()
            .unwrap()
            .issue,
        HealthIssue::PresenceStuck { .. }
    ));
}

#[test]
fn a_lock_that_jams_a_third_time_calls_for_a_technician() {
    let mut health = bank();
    assert_eq!(health.observe_lock_fault(17, hours(1)).unwrap(), None);
    assert_eq!(health.observe_lock_fault(17, hours(200)).unwrap(), None);
    assert_eq!(
        health.observe_lock_fault(17, hours(900)).unwrap(),
        Some(HealthAlert {
            slot: 17,
            issue: HealthIssue::RepeatedLockFaults { count: 3 }
        })
    );
    assert_eq!(health.observe_lock_fault(17, hours(901)).unwrap(), None);
    // The technician replaced the lock: a fresh record.
    health.clear(17).unwrap();
    assert_eq!(health.observe_lock_fault(17, hours(1_000)).unwrap(), None);
    assert_eq!(health.observe_lock_fault(17, hours(1_001)).unwrap(), None);
    assert!(
        health
            .observe_lock_fault(17, hours(1_002))
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_jammed_lock_next_door_does_not_count_against_this_one() {
    let mut health = bank();
    for _ in 0..5 {
        health.observe_lock_fault(1, at(0)).unwrap();
    }
    assert_eq!(health.observe_lock_fault(2, at(0)).unwrap(), None);
}

#[test]
fn a_slot_beyond_the_bank_is_refused_and_changes_nothing() {
    let mut health = bank();
    health.observe_lock_fault(0, at(0)).unwrap();
    health.observe_door_change(0, at(0)).unwrap();
    let before = format!("{health:?}");
    let ghost = 24;
    let refused = Err(HealthError::UnknownSlot {
        slot: 24,
        capacity: 24,
    });
    assert_eq!(
        health.observe_presence(ghost, empty(50), true, at(1)),
        refused
    );
    assert_eq!(health.observe_door_change(ghost, at(1)), refused);
    assert_eq!(health.observe_lock_fault(ghost, at(1)), refused);
    assert_eq!(
        health.clear(usize::MAX),
        Err(HealthError::UnknownSlot {
            slot: usize::MAX,
            capacity: 24
        })
    );
    assert_eq!(format!("{health:?}"), before);
    assert!(
        HealthError::UnknownSlot {
            slot: 24,
            capacity: 24
        }
        .to_string()
        .contains("24 compartments")
    );
}

#[test]
fn a_clock_that_steps_back_causes_no_false_alarm_and_no_panic() {
    let mut health = bank();
    health
        .observe_presence(3, empty(0), true, hours(100))
        .unwrap();
    for h in (0..10).rev() {
        assert_eq!(health.observe_door_change(3, hours(h)).unwrap(), None);
    }
    // Readings "from the past" prove nothing about time passing.
    assert_eq!(
        health
            .observe_presence(3, empty(0), true, hours(1))
            .unwrap(),
        None
    );
    assert_eq!(
        health
            .observe_presence(3, empty(0), true, Instant::ZERO)
            .unwrap(),
        None
    );
}

#[test]
fn health_costs_forty_bytes_per_compartment() {
    use core::mem::size_of;
    assert_eq!(HEALTH_BYTES_PER_COMPARTMENT, 40);
    let per_compartment = (size_of::<SensorHealth<1_001>>() - size_of::<SensorHealth<1>>()) / 1_000;
    assert_eq!(per_compartment, HEALTH_BYTES_PER_COMPARTMENT);
}

#[test]
fn a_lock_that_jams_each_time_it_is_put_back_in_service_still_reaches_the_technician() {
    let mut health = bank();
    let mut alerts = Vec::new();
    for day in 0..4 {
        // Jam, out of service, staff free it and put it back: no repair.
        if let Some(alert) = health.observe_lock_fault(8, hours(day * 24)).unwrap() {
            alerts.push((day, alert.issue));
        }
        health.back_in_service(8).unwrap();
    }
    assert_eq!(
        alerts,
        [
            (2, HealthIssue::RepeatedLockFaults { count: 3 }),
            (3, HealthIssue::RepeatedLockFaults { count: 4 })
        ]
    );
    assert_eq!(
        health.back_in_service(99),
        Err(HealthError::UnknownSlot {
            slot: 99,
            capacity: 24
        })
    );
}
