//! The solenoid lock on an output pin: exact pin levels and pulse lengths.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use embedded_hal::digital::PinState;
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as DelayTx};
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};
use locker_drivers::lock::{LatchContact, MAX_PULSE, SolenoidLock};
use locker_drivers::{Error, Lock};
use locker_proto::LockState;
use locker_proto::time::Duration;
use std::io::ErrorKind;

#[test]
fn unlocking_an_active_high_lock_pulses_the_coil_for_exactly_the_configured_time() {
    let coil = PinMock::new(&[
        PinTx::set(State::Low),
        PinTx::set(State::High),
        PinTx::set(State::Low),
    ]);
    let delay = CheckedDelay::new(&[DelayTx::delay_ms(600)]);
    let mut lock =
        SolenoidLock::new(coil, delay, PinState::High, Duration::from_millis(600)).unwrap();
    lock.unlock().unwrap();
    let (mut coil, mut delay, _) = lock.release();
    coil.done();
    delay.done();
}

#[test]
fn an_active_low_relay_board_is_pulsed_low_and_left_high() {
    let coil = PinMock::new(&[
        PinTx::set(State::High),
        PinTx::set(State::Low),
        PinTx::set(State::High),
    ]);
    let delay = CheckedDelay::new(&[DelayTx::delay_ms(300)]);
    let mut lock =
        SolenoidLock::new(coil, delay, PinState::Low, Duration::from_millis(300)).unwrap();
    lock.unlock().unwrap();
    let (mut coil, mut delay, _) = lock.release();
    coil.done();
    delay.done();
}

#[test]
fn a_corrupted_command_asking_for_a_ten_second_pulse_never_energises_the_coil() {
    let coil = PinMock::new(&[PinTx::set(State::Low)]);
    let mut lock = SolenoidLock::new(
        coil,
        NoopDelay::new(),
        PinState::High,
        Duration::from_millis(500),
    )
    .unwrap();
    let err = lock.unlock_for(Duration::from_secs(10)).unwrap_err();
    assert_eq!(
        err,
        Error::PulseTooLong {
            requested_ms: 10_000,
            max_ms: MAX_PULSE.as_millis()
        }
    );
    let (mut coil, _, _) = lock.release();
    coil.done();
}

#[test]
fn a_lock_configured_beyond_the_coil_rating_is_refused_before_the_pin_is_touched() {
    let coil = PinMock::new(&[]);
    let result = SolenoidLock::new(
        coil.clone(),
        NoopDelay::new(),
        PinState::High,
        Duration::from_millis(1_001),
    );
    assert!(matches!(
        result,
        Err(Error::PulseTooLong {
            requested_ms: 1_001,
            max_ms: 1_000
        })
    ));
    let mut coil = coil;
    coil.done();
}

#[test]
fn a_pulse_of_exactly_the_bound_is_allowed() {
    let coil = PinMock::new(&[
        PinTx::set(State::Low),
        PinTx::set(State::High),
        PinTx::set(State::Low),
    ]);
    let delay = CheckedDelay::new(&[DelayTx::delay_ms(1_000)]);
    let mut lock =
        SolenoidLock::new(coil, delay, PinState::High, Duration::from_millis(100)).unwrap();
    lock.unlock_for(MAX_PULSE).unwrap();
    let (mut coil, mut delay, _) = lock.release();
    coil.done();
    delay.done();
}

#[test]
fn a_coil_that_will_not_switch_off_is_retried_once_then_reported_stuck_on() {
    let io = MockError::Io(ErrorKind::Other);
    let coil = PinMock::new(&[
        PinTx::set(State::Low),
        PinTx::set(State::High),
        PinTx::set(State::Low).with_error(io.clone()),
        PinTx::set(State::Low).with_error(io.clone()),
    ]);
    let mut lock = SolenoidLock::new(
        coil,
        NoopDelay::new(),
        PinState::High,
        Duration::from_millis(500),
    )
    .unwrap();
    assert_eq!(lock.unlock(), Err(Error::CoilStuckOn(io)));
    let (mut coil, _, _) = lock.release();
    coil.done();
}

#[test]
fn a_coil_that_switches_off_on_the_retry_is_fine() {
    let io = MockError::Io(ErrorKind::Other);
    let coil = PinMock::new(&[
        PinTx::set(State::Low),
        PinTx::set(State::High),
        PinTx::set(State::Low).with_error(io),
        PinTx::set(State::Low),
    ]);
    let mut lock = SolenoidLock::new(
        coil,
        NoopDelay::new(),
        PinState::High,
        Duration::from_millis(500),
    )
    .unwrap();
    lock.unlock().unwrap();
    let (mut coil, _, _) = lock.release();
    coil.done();
}

#[test]
fn a_lock_with_a_latch_contact_reports_locked_then_unlocked() {
    let coil = PinMock::new(&[PinTx::set(State::Low)]);
    let contact = PinMock::new(&[PinTx::get(State::Low), PinTx::get(State::High)]);
    let mut lock = SolenoidLock::new(
        coil,
        NoopDelay::new(),
        PinState::High,
        Duration::from_millis(500),
    )
    .unwrap()
    .with_feedback(LatchContact::new(contact, PinState::Low));
    assert_eq!(lock.lock_state().unwrap(), LockState::Locked);
    assert_eq!(lock.lock_state().unwrap(), LockState::Unlocked);
    let (mut coil, _, contact) = lock.release();
    coil.done();
    contact.release().done();
}

#[test]
fn a_failing_feedback_pin_is_reported_as_a_bus_error() {
    let io = MockError::Io(ErrorKind::BrokenPipe);
    let coil = PinMock::new(&[PinTx::set(State::Low)]);
    let contact = PinMock::new(&[PinTx::get(State::Low).with_error(io.clone())]);
    let mut lock = SolenoidLock::new(
        coil,
        NoopDelay::new(),
        PinState::High,
        Duration::from_millis(500),
    )
    .unwrap()
    .with_feedback(LatchContact::new(contact, PinState::Low));
    assert_eq!(lock.lock_state(), Err(Error::Bus(io)));
    let (mut coil, _, contact) = lock.release();
    coil.done();
    contact.release().done();
}
