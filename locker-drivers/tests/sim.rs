//! Simulated devices behave like the hardware they stand for, deterministically.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use locker_drivers::sim::{SimCamera, SimCompartment, SimError, SimUps, WorldError};
use locker_drivers::{
    Camera, CaptureReason, DoorSensor, Lock, PresenceSensor, SnapshotRef, TemperatureSensor, Ups,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::{DoorState, LockState, PowerStatus, Temperature};

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

#[test]
fn a_latch_released_for_nobody_catches_again_when_the_window_ends() {
    let mut c = SimCompartment::new(at(0));
    c.unlock().unwrap();
    assert_eq!(c.lock_state().unwrap(), LockState::Unlocked);
    c.advance_to(at(2_999));
    assert_eq!(c.lock_state().unwrap(), LockState::Unlocked);
    c.advance_to(at(3_000));
    assert_eq!(c.lock_state().unwrap(), LockState::Locked);
    assert_eq!(c.open_door(), Err(WorldError::DoorLatched));
    assert_eq!(c.door_state().unwrap(), DoorState::Closed);
}

#[test]
fn a_door_opened_in_the_window_stays_unlatched_until_shut() {
    let mut c = SimCompartment::new(at(0));
    c.unlock().unwrap();
    c.advance_to(at(1_000));
    c.open_door().unwrap();
    c.advance_to(at(60_000));
    assert_eq!(c.door_state().unwrap(), DoorState::Open);
    assert_eq!(c.lock_state().unwrap(), LockState::Unlocked);
    c.close_door();
    assert_eq!(c.door_state().unwrap(), DoorState::Closed);
    assert_eq!(c.lock_state().unwrap(), LockState::Locked);
}

#[test]
fn a_ten_gram_letter_is_detected_and_a_removal_is_seen() {
    let mut c = SimCompartment::new(at(0));
    c.unlock().unwrap();
    c.open_door().unwrap();
    assert_eq!(c.calibrate_empty().unwrap(), 8_000);
    c.place_item(10).unwrap();
    let p = c.presence().unwrap();
    assert!(p.occupied);
    assert_eq!((p.reading, p.threshold), (4_200, 2_100));
    c.remove_items().unwrap();
    assert!(!c.presence().unwrap().occupied);
}

#[test]
fn nothing_goes_in_or_out_through_a_shut_door() {
    let mut c = SimCompartment::new(at(0));
    assert_eq!(c.place_item(500), Err(WorldError::DoorClosed));
    assert_eq!(c.remove_items(), Err(WorldError::DoorClosed));
    assert_eq!(c.item_grams(), 0);
}

#[test]
fn a_forced_door_opens_without_any_pulse() {
    let mut c = SimCompartment::new(at(0));
    c.force_door();
    assert_eq!(c.door_state().unwrap(), DoorState::Open);
    assert_eq!(c.unlock_pulses(), 0);
}

#[test]
fn a_door_that_does_not_latch_stays_ajar_after_the_courier_shuts_it() {
    let mut c = SimCompartment::new(at(0));
    c.set_door_does_not_latch(true);
    c.unlock().unwrap();
    c.open_door().unwrap();
    c.close_door();
    assert_eq!(c.door_state().unwrap(), DoorState::Open);
    assert_eq!(c.lock_state().unwrap(), LockState::Unlocked);
    c.set_door_does_not_latch(false);
    c.close_door();
    assert_eq!(c.lock_state().unwrap(), LockState::Locked);
}

#[test]
fn noise_from_the_same_seed_gives_the_same_readings() {
    let run = |seed| {
        let mut c = SimCompartment::new(at(0));
        c.set_presence_noise(300, seed);
        (0..20).map(|_| c.reading().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    assert!(run(7).iter().all(|r| (7_700..=8_300).contains(r)));
}

#[test]
fn noise_below_the_threshold_never_makes_an_empty_compartment_occupied() {
    let mut c = SimCompartment::new(at(0));
    c.set_presence_noise(1_000, 1);
    assert!((0..1_000).all(|_| !c.presence().unwrap().occupied));
}

#[test]
fn a_drifting_load_cell_drifts_exactly_whatever_the_step() {
    let mut coarse = SimCompartment::new(at(0));
    let mut fine = SimCompartment::new(at(0));
    coarse.set_presence_drift(3_600);
    fine.set_presence_drift(3_600);
    coarse.advance_to(at(3_600_000));
    for t in (0..=3_600_000).step_by(7_919) {
        fine.advance_to(at(t));
    }
    fine.advance_to(at(3_600_000));
    assert_eq!(coarse.reading().unwrap(), 8_000 + 3_600);
    assert_eq!(fine.reading().unwrap(), 8_000 + 3_600);
    // Drift stops but what accumulated stays.
    coarse.set_presence_drift(0);
    coarse.advance_to(at(7_200_000));
    assert_eq!(coarse.reading().unwrap(), 11_600);
}

#[test]
fn a_drift_past_the_threshold_looks_like_a_phantom_parcel_until_recalibrated() {
    let mut c = SimCompartment::new(at(0));
    c.set_presence_drift(1_000);
    c.advance_to(at(3 * 3_600_000));
    assert!(c.presence().unwrap().occupied);
    c.calibrate_empty().unwrap();
    assert!(!c.presence().unwrap().occupied);
}

#[test]
fn a_dead_sensor_answers_with_an_error_and_keeps_its_baseline() {
    let mut c = SimCompartment::new(at(0));
    c.set_presence_failed(true);
    assert_eq!(c.presence(), Err(SimError::NoAnswer));
    assert_eq!(c.calibrate_empty(), Err(SimError::NoAnswer));
    assert_eq!(c.baseline(), 8_000);
}

#[test]
fn a_refrigerated_compartment_warming_up_is_seen() {
    let mut c = SimCompartment::new(at(0));
    c.set_temperature(Temperature::from_deci_celsius(40));
    c.set_temperature_drift(20);
    c.advance_to(at(90 * 60_000));
    assert_eq!(c.temperature().unwrap(), Temperature::from_deci_celsius(70));
    c.set_temperature_failed(true);
    assert_eq!(c.temperature(), Err(SimError::NoAnswer));
}

#[test]
fn time_never_runs_backwards() {
    let mut c = SimCompartment::new(at(10_000));
    c.advance_to(at(5_000));
    assert_eq!(c.now(), at(10_000));
}

#[test]
fn a_release_window_can_be_shortened() {
    let mut c = SimCompartment::new(at(0));
    c.set_release_window(Duration::from_millis(500));
    c.unlock().unwrap();
    c.advance_to(at(500));
    assert_eq!(c.lock_state().unwrap(), LockState::Locked);
}

#[test]
fn a_power_cut_runs_the_battery_down_to_critical() {
    let mut ups = SimUps::new(at(0));
    assert_eq!(ups.power_status().unwrap(), PowerStatus::Mains);
    ups.set_mains(false);
    ups.advance_to(Instant::from_secs(3_600));
    assert_eq!(
        ups.power_status().unwrap(),
        PowerStatus::Battery {
            charge_percent: 80,
            minutes_left: 240
        }
    );
    ups.set_drain_percent_per_hour(70);
    ups.advance_to(Instant::from_secs(2 * 3_600));
    assert_eq!(
        ups.power_status().unwrap(),
        PowerStatus::Critical { charge_percent: 10 }
    );
    ups.advance_to(Instant::from_secs(10 * 3_600));
    assert_eq!(
        ups.power_status().unwrap(),
        PowerStatus::Critical { charge_percent: 0 }
    );
}

#[test]
fn mains_returning_recharges_the_battery() {
    let mut ups = SimUps::new(at(0));
    ups.set_charge_percent(40);
    ups.advance_to(Instant::from_secs(3 * 3_600));
    assert_eq!(ups.charge_percent(), 70);
    ups.advance_to(Instant::from_secs(30 * 3_600));
    assert_eq!(ups.charge_percent(), 100);
    ups.set_failed(true);
    assert_eq!(ups.power_status(), Err(SimError::NoAnswer));
}

#[test]
fn a_draining_battery_is_exact_in_small_steps() {
    let mut ups = SimUps::new(at(0));
    ups.set_mains(false);
    for t in (0..=1_800_000u64).step_by(100) {
        ups.advance_to(at(t));
    }
    assert_eq!(ups.charge_percent(), 90);
}

#[test]
fn the_camera_files_each_snapshot_under_the_bank_s_reference_and_remembers_the_last() {
    let mut cam = SimCamera::new(at(0));
    cam.advance_to(at(1_234));
    cam.capture(CaptureReason::Deposit, SnapshotRef(7)).unwrap();
    let last = cam.last_snapshot().unwrap();
    assert_eq!(
        (last.reference, last.reason, last.at),
        (SnapshotRef(7), CaptureReason::Deposit, at(1_234))
    );
    cam.set_failed(true);
    assert_eq!(
        cam.capture(CaptureReason::ForcedEntry, SnapshotRef(8)),
        Err(SimError::NoAnswer)
    );
    assert_eq!(cam.captures(), 1);
}

#[test]
fn a_frozen_load_cell_repeats_its_last_reading_whatever_goes_in() {
    let mut c = SimCompartment::new(at(0));
    c.set_presence_noise(300, 5);
    let before = c.reading().unwrap();
    c.set_presence_frozen(true);
    let frozen = c.reading().unwrap();
    assert_ne!(before, frozen, "a new conversion, then frozen");
    c.unlock().unwrap();
    c.open_door().unwrap();
    c.place_item(500).unwrap();
    assert!((0..50).all(|_| c.reading().unwrap() == frozen));
    c.set_presence_frozen(false);
    assert!(c.presence().unwrap().occupied, "thawed, it sees the parcel");
}
