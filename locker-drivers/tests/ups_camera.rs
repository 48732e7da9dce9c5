//! MAX17048 fuel gauge, mains-pin UPS and camera trigger: exact bus bytes and pin levels.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use embedded_hal::digital::PinState;
use embedded_hal::i2c::ErrorKind as I2cErrorKind;
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::delay::{CheckedDelay, Transaction as DelayTx};
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2cTx};
use locker_drivers::camera::CameraTrigger;
use locker_drivers::max17048::{ADDRESS, Max17048};
use locker_drivers::ups::{GaugedUps, UpsError};
use locker_drivers::{Camera, CaptureReason, Error, SnapshotRef, Ups};
use locker_proto::PowerStatus;
use std::io::ErrorKind;

#[test]
fn the_gauge_reads_each_register_with_one_write_read_at_0x36() {
    let bus = I2cMock::new(&[
        I2cTx::write_read(0x36, vec![0x04], vec![0x64, 0x00]),
        I2cTx::write_read(0x36, vec![0x04], vec![0x65, 0x80]),
        I2cTx::write_read(0x36, vec![0x02], vec![0xFF, 0xFF]),
        I2cTx::write_read(0x36, vec![0x08], vec![0x00, 0x12]),
        I2cTx::write_read(0x36, vec![0x16], vec![0x00, 0x0A]),
        I2cTx::write_read(0x36, vec![0x16], vec![0xFF, 0xF6]),
    ]);
    let mut g = Max17048::new(bus);
    assert_eq!(g.charge_percent().unwrap(), 100);
    assert_eq!(g.charge_percent().unwrap(), 100); // 101.5 % before the model converges
    assert_eq!(g.cell_millivolts().unwrap(), 5_119);
    assert_eq!(g.version().unwrap(), 0x0012);
    assert_eq!(g.charge_rate_millipercent_per_hour().unwrap(), 2_080);
    assert_eq!(g.charge_rate_millipercent_per_hour().unwrap(), -2_080);
    g.release().done();
}

#[test]
fn a_gauge_that_does_not_acknowledge_is_a_bus_error() {
    let bus = I2cMock::new(&[
        I2cTx::write_read(ADDRESS, vec![0x04], vec![0, 0]).with_error(I2cErrorKind::NoAcknowledge(
            embedded_hal::i2c::NoAcknowledgeSource::Address,
        )),
    ]);
    let mut g = Max17048::new(bus);
    assert_eq!(
        g.charge_percent(),
        Err(Error::Bus(I2cErrorKind::NoAcknowledge(
            embedded_hal::i2c::NoAcknowledgeSource::Address
        )))
    );
    g.release().done();
}

#[test]
fn on_mains_the_gauge_is_not_even_asked() {
    let mains = PinMock::new(&[PinTx::get(State::High)]);
    let bus = I2cMock::new(&[]);
    let mut ups = GaugedUps::new(mains, PinState::High, Max17048::new(bus));
    assert_eq!(ups.power_status().unwrap(), PowerStatus::Mains);
    let (mut mains, gauge) = ups.release();
    mains.done();
    gauge.release().done();
}

#[test]
fn a_power_cut_at_8_percent_is_critical() {
    let mains = PinMock::new(&[PinTx::get(State::Low)]);
    let bus = I2cMock::new(&[I2cTx::write_read(ADDRESS, vec![0x04], vec![8, 0x40])]);
    let mut ups = GaugedUps::new(mains, PinState::High, Max17048::new(bus));
    assert_eq!(
        ups.power_status().unwrap(),
        PowerStatus::Critical { charge_percent: 8 }
    );
    let (mut mains, gauge) = ups.release();
    mains.done();
    gauge.release().done();
}

#[test]
fn without_a_discharge_rate_the_runtime_comes_from_the_configured_full_runtime() {
    let mains = PinMock::new(&[PinTx::get(State::Low)]);
    let bus = I2cMock::new(&[
        I2cTx::write_read(ADDRESS, vec![0x04], vec![75, 0]),
        I2cTx::write_read(ADDRESS, vec![0x16], vec![0, 0]),
    ]);
    let mut ups = GaugedUps::new(mains, PinState::High, Max17048::new(bus))
        .with_full_runtime_minutes(240)
        .with_critical_percent(20);
    assert_eq!(
        ups.power_status().unwrap(),
        PowerStatus::Battery {
            charge_percent: 75,
            minutes_left: 180
        }
    );
    let (mut mains, gauge) = ups.release();
    mains.done();
    gauge.release().done();
}

#[test]
fn a_mains_pin_fault_is_reported_as_such() {
    let io = MockError::Io(ErrorKind::Other);
    let mains = PinMock::new(&[PinTx::get(State::Low).with_error(io.clone())]);
    let bus = I2cMock::new(&[]);
    let mut ups = GaugedUps::new(mains, PinState::High, Max17048::new(bus));
    assert_eq!(ups.power_status(), Err(UpsError::MainsPin(io)));
    let (mut mains, gauge) = ups.release();
    mains.done();
    gauge.release().done();
}

#[test]
fn a_forced_door_triggers_the_camera_for_100_ms_each_time() {
    let pin = PinMock::new(&[
        PinTx::set(State::Low),
        PinTx::set(State::High),
        PinTx::set(State::Low),
        PinTx::set(State::High),
        PinTx::set(State::Low),
    ]);
    let delay = CheckedDelay::new(&[DelayTx::delay_ms(100), DelayTx::delay_ms(100)]);
    let mut cam = CameraTrigger::new(pin, delay, PinState::High).unwrap();
    cam.capture(CaptureReason::ForcedEntry, SnapshotRef(9))
        .unwrap();
    cam.capture(CaptureReason::Deposit, SnapshotRef(10))
        .unwrap();
    let (mut pin, mut delay) = cam.release();
    pin.done();
    delay.done();
}

#[test]
fn a_failed_trigger_is_an_error_the_bank_can_record() {
    let io = MockError::Io(ErrorKind::Other);
    let pin = PinMock::new(&[
        PinTx::set(State::Low),
        PinTx::set(State::High).with_error(io.clone()),
    ]);
    let delay = CheckedDelay::new(&[]);
    let mut cam = CameraTrigger::new(pin, delay, PinState::High).unwrap();
    assert_eq!(
        cam.capture(CaptureReason::Requested, SnapshotRef(9)),
        Err(Error::Bus(io))
    );
    let (mut pin, mut delay) = cam.release();
    pin.done();
    delay.done();
}
