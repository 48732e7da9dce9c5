//! Door switch and IR presence on input pins: exact pin levels.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use embedded_hal::digital::PinState;
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};
use locker_drivers::door::DoorSwitch;
use locker_drivers::ir::IrPresence;
use locker_drivers::{DoorSensor, Error, PresenceSensor};
use locker_proto::{DoorState, Presence};
use std::io::ErrorKind;

#[test]
fn a_reed_contact_with_pull_up_reads_low_while_the_door_is_shut() {
    let pin = PinMock::new(&[
        PinTx::get(State::Low),
        PinTx::get(State::High),
        PinTx::get(State::Low),
    ]);
    let mut door = DoorSwitch::new(pin, PinState::Low);
    assert_eq!(door.door_state().unwrap(), DoorState::Closed);
    assert_eq!(door.door_state().unwrap(), DoorState::Open);
    assert_eq!(door.door_state().unwrap(), DoorState::Closed);
    door.release().done();
}

#[test]
fn a_normally_closed_switch_reads_high_while_the_door_is_shut() {
    let pin = PinMock::new(&[PinTx::get(State::High), PinTx::get(State::Low)]);
    let mut door = DoorSwitch::new(pin, PinState::High);
    assert_eq!(door.door_state().unwrap(), DoorState::Closed);
    assert_eq!(door.door_state().unwrap(), DoorState::Open);
    door.release().done();
}

#[test]
fn a_door_switch_pin_fault_is_an_error_not_a_guess() {
    let io = MockError::Io(ErrorKind::Other);
    let pin = PinMock::new(&[PinTx::get(State::Low).with_error(io.clone())]);
    let mut door = DoorSwitch::new(pin, PinState::Low);
    assert_eq!(door.door_state(), Err(Error::Bus(io)));
    door.release().done();
}

#[test]
fn a_flat_envelope_breaking_only_the_floor_beam_is_seen() {
    let floor = PinMock::new(&[PinTx::get(State::High), PinTx::get(State::Low)]);
    let middle = PinMock::new(&[PinTx::get(State::High), PinTx::get(State::High)]);
    let top = PinMock::new(&[PinTx::get(State::High), PinTx::get(State::High)]);
    let mut ir = IrPresence::new([floor, middle, top], PinState::Low);
    assert_eq!(ir.calibrate_empty().unwrap(), 0);
    assert_eq!(ir.presence().unwrap(), Presence::occupied(1, 1));
    for mut pin in ir.release() {
        pin.done();
    }
}

#[test]
fn a_misaligned_beam_blocked_while_empty_is_calibrated_out() {
    // The top beam is knocked out of line: interrupted even when empty.
    let floor = PinMock::new(&[
        PinTx::get(State::Low),
        PinTx::get(State::Low),
        PinTx::get(State::High),
    ]);
    let top = PinMock::new(&[
        PinTx::get(State::High),
        PinTx::get(State::High),
        PinTx::get(State::High),
    ]);
    let mut ir = IrPresence::new([floor, top], PinState::High);
    assert_eq!(ir.calibrate_empty().unwrap(), 1);
    assert_eq!(ir.baseline(), 1);
    assert_eq!(ir.presence().unwrap(), Presence::empty(0, 1));
    assert_eq!(ir.presence().unwrap(), Presence::occupied(1, 1));
    for mut pin in ir.release() {
        pin.done();
    }
}
