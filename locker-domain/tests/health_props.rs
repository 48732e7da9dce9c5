//! Properties of sensor health over generated observation sequences.

use locker_domain::bank::health::{
    HealthAlert, HealthIssue, HealthPolicy, STUCK_MIN_DOOR_CHANGES, SensorHealth,
};
use locker_proto::Presence;
use locker_proto::time::{Duration, Instant};
use proptest::prelude::*;

const SLOTS: usize = 3;

#[derive(Clone, Debug)]
enum Observation {
    Presence {
        slot: usize,
        occupied: bool,
        reading: i32,
        books_say_empty: bool,
    },
    Door {
        slot: usize,
    },
    LockFault {
        slot: usize,
    },
    Clear {
        slot: usize,
    },
    BackInService {
        slot: usize,
    },
}

fn observation() -> impl Strategy<Value = Observation> {
    // Slot SLOTS is one beyond the bank: bad input mixed in.
    let slot = 0..=SLOTS;
    prop_oneof![
        (slot.clone(), any::<bool>(), -12i32..12, any::<bool>()).prop_map(
            |(slot, occupied, reading, books_say_empty)| Observation::Presence {
                slot,
                occupied,
                reading,
                books_say_empty
            }
        ),
        slot.clone().prop_map(|slot| Observation::Door { slot }),
        slot.clone()
            .prop_map(|slot| Observation::LockFault { slot }),
        slot.clone().prop_map(|slot| Observation::Clear { slot }),
        slot.prop_map(|slot| Observation::BackInService { slot }),
    ]
}

fn policy() -> impl Strategy<Value = HealthPolicy> {
    (0i32..8, 0u64..200_000, 1u64..100_000, 0u8..12, 0u8..5).prop_map(
        |(drift_band, stuck, window, flap_changes, lock_fault_limit)| HealthPolicy {
            drift_band,
            stuck_after: Duration::from_millis(stuck),
            flap_window: Duration::from_millis(window),
            flap_changes,
            lock_fault_limit,
        },
    )
}

/// What the test itself remembers of one slot, to check each alert's evidence.
#[derive(Clone, Default)]
struct Witness {
    door_changes: Vec<Instant>,
    lock_faults: u32,
    /// The latest reading, when it was first seen, and door changes since.
    reading: Option<(i32, Instant, u32)>,
}

proptest! {
    /// Any sequence of observations, any policy, time jumping either way:
    /// no panic, refusals change nothing, and every alert is backed by the
    /// evidence it names.
    #[test]
    fn every_alert_is_backed_by_real_evidence(
        policy in policy(),
        steps in prop::collection::vec((observation(), -2_000i64..40_000), 0..200),
    ) {
        let mut health = SensorHealth::<SLOTS>::new(policy);
        let mut witness = vec![Witness::default(); SLOTS];
        let mut now: i64 = 500_000;
        for (observation, dt) in steps {
            now = (now + dt).max(0);
            let t = Instant::from_millis(now as u64);
            let before = format!("{health:?}");
            let (slot, result) = match observation {
                Observation::Presence { slot, occupied, reading, books_say_empty } => {
                    let presence = Presence { occupied, reading, threshold: 10 };
                    (slot, health.observe_presence(slot, presence, books_say_empty, t))
                }
                Observation::Door { slot } => (slot, health.observe_door_change(slot, t)),
                Observation::LockFault { slot } => (slot, health.observe_lock_fault(slot, t)),
                Observation::Clear { slot } => (slot, health.clear(slot).map(|()| None)),
                Observation::BackInService { slot } => {
                    (slot, health.back_in_service(slot).map(|()| None))
                }
            };
            let Some(w) = witness.get_mut(slot) else {
                prop_assert!(result.is_err());
                prop_assert_eq!(format!("{health:?}"), before);
                continue;
            };
            let alert = result.unwrap();
            match observation {
                Observation::Presence { reading, occupied, books_say_empty, .. } => {
                    let same = matches!(w.reading, Some((r, _, _)) if r == reading);
                    if !same {
                        w.reading = Some((reading, t, 0));
                    }
                    match alert {
                        None => {}
                        Some(HealthAlert { slot: s, issue: HealthIssue::PresenceDrift { reading: r, band, .. } }) => {
                            prop_assert_eq!(s, slot);
                            prop_assert!(books_say_empty && !occupied);
                            prop_assert_eq!(r, reading);
                            prop_assert_eq!(band, policy.drift_band);
                            prop_assert!(reading.unsigned_abs() > policy.drift_band.unsigned_abs());
                        }
                        Some(HealthAlert { slot: s, issue: HealthIssue::PresenceStuck { reading: r, since } }) => {
                            prop_assert_eq!(s, slot);
                            let (value, first_seen, doors) = w.reading.unwrap();
                            prop_assert!(same);
                            prop_assert_eq!(r, value);
                            prop_assert_eq!(since, first_seen);
                            prop_assert!(doors >= u32::from(STUCK_MIN_DOOR_CHANGES));
                            prop_assert!(t.saturating_since(since) >= policy.stuck_after);
                        }
                        Some(other) => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
                Observation::Door { .. } => {
                    w.door_changes.push(t);
                    if let Some((_, _, doors)) = &mut w.reading {
                        *doors += 1;
                    }
                    if let Some(a) = alert {
                        let HealthIssue::DoorFlapping { changes, within } = a.issue else {
                            return Err(TestCaseError::fail(format!("unexpected {a:?}")));
                        };
                        prop_assert!(changes > policy.flap_changes);
                        prop_assert!(within < policy.flap_window);
                        // At least `changes` real changes in the last `within`
                        // (time can step back, so count by arrival order).
                        prop_assert!(w.door_changes.len() >= usize::from(changes));
                    }
                }
                Observation::LockFault { .. } => {
                    w.lock_faults += 1;
                    if let Some(a) = alert {
                        prop_assert_eq!(a.issue, HealthIssue::RepeatedLockFaults {
                            count: u8::try_from(w.lock_faults).unwrap_or(u8::MAX),
                        });
                        prop_assert!(w.lock_faults >= u32::from(policy.lock_fault_limit));
                    }
                }
                Observation::Clear { .. } => *w = Witness::default(),
                Observation::BackInService { .. } => {}
            }
        }
    }

    /// Lock faults: exactly one alert, at the limit, however many follow.
    #[test]
    fn lock_faults_alert_exactly_once(limit in 1u8..10, faults in 0u32..40) {
        let policy = HealthPolicy { lock_fault_limit: limit, ..HealthPolicy::default() };
        let mut health = SensorHealth::<1>::new(policy);
        let mut alerts = Vec::new();
        for i in 1..=faults {
            if health.observe_lock_fault(0, Instant::from_secs(u64::from(i))).unwrap().is_some() {
                alerts.push(i);
            }
        }
        let expected = if faults >= u32::from(limit) { vec![u32::from(limit)] } else { vec![] };
        prop_assert_eq!(alerts, expected);
    }

    /// A switch that changes faster than the limit, for as long as it likes,
    /// is reported exactly once.
    #[test]
    fn a_steadily_bouncing_switch_is_reported_exactly_once(
        flap_changes in 1u8..30,
        window_s in 10u64..300,
        windows in 2u64..50,
    ) {
        let policy = HealthPolicy {
            flap_changes,
            flap_window: Duration::from_secs(window_s),
            ..HealthPolicy::default()
        };
        let mut health = SensorHealth::<1>::new(policy);
        // Twice the allowed rate.
        let gap_ms = window_s * 1000 / (2 * u64::from(flap_changes) + 2);
        let changes = windows * (2 * u64::from(flap_changes) + 2);
        let mut alerts = 0;
        for i in 0..changes {
            let t = Instant::from_millis(1 + i * gap_ms);
            alerts += usize::from(health.observe_door_change(0, t).unwrap().is_some());
        }
        prop_assert_eq!(alerts, 1);
    }

    /// A load cell whose zero stands still anywhere within the band (its
    /// readings moving by noise under a quarter of the band) raises no
    /// drift under the parcel that goes in, the zero before it carried in;
    /// one whose zero then creeps more than half a band under the parcel,
    /// to more than a band from the tare, is found, with that way as the
    /// reading.
    #[test]
    fn a_still_zero_near_the_band_edge_is_no_drift_and_one_creeping_on_under_a_parcel_is(
        band in 8i32..4_000,
        zero_share in -1.0f64..=1.0,
        noise in proptest::collection::vec(-1.0f64..1.0, 12),
        parcel in 10_000i32..100_000,
        creep_share in 0.51f64..3.0,
    ) {
        let policy = HealthPolicy { drift_band: band, ..HealthPolicy::default() };
        let threshold = band * 5 / 2;
        let zero = (f64::from(band) * zero_share) as i32;
        // Under a quarter of the band either way.
        let jitter = |k: usize| (noise[k] * f64::from(band / 4 - 1)) as i32;
        let mut health = SensorHealth::<1>::new(policy);
        for k in 0..4 {
            let t = Instant::from_secs(3_600 * (k as u64 + 1));
            let reading = zero + jitter(k);
            // An empty reading beyond the band is the empty compartment's
            // drift, which `observe_idle_reading` answers itself.
            prop_assume!(reading.unsigned_abs() <= band.unsigned_abs());
            prop_assert_eq!(health.observe_idle_reading(0, Presence::empty(reading, threshold), true, t).unwrap(), None);
        }
        health.observe_door_change(0, Instant::from_secs(20_000)).unwrap();
        health.observe_door_change(0, Instant::from_secs(20_010)).unwrap();
        for k in 4..8 {
            let reading = parcel + zero + jitter(k);
            prop_assert_eq!(health.observe_parcel_reading(0, Presence::occupied(reading, threshold)).unwrap(), None);
        }
        // The zero creeps on under the parcel, the same way it went.
        let sign = if zero < 0 { -1 } else { 1 };
        let creep = sign * (f64::from(band) * creep_share) as i32 + sign * band / 2;
        let from_tare = zero + creep;
        prop_assume!(from_tare.unsigned_abs() > band.unsigned_abs() + band.unsigned_abs() / 2);
        let mut found = None;
        for k in 8..12 {
            let reading = parcel + zero + creep + jitter(k);
            if let Some(alert) = health.observe_parcel_reading(0, Presence::occupied(reading, threshold)).unwrap() {
                found.get_or_insert(alert);
            }
        }
        let alert = found.expect("the creeping zero is found");
        let HealthIssue::PresenceDrift { reading, .. } = alert.issue else {
            panic!("{alert:?}");
        };
        // The way from the tare, within the noise of the three readings
        // it is taken from (the zero, the first under the parcel, this one).
        let noise_of_three = 3 * (band / 4 - 1).unsigned_abs();
        prop_assert!((reading - from_tare).unsigned_abs() <= noise_of_three + 2, "{} vs {}", reading, from_tare);
    }
}
