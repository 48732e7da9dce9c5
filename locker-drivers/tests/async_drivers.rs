//! The async drivers on embedded-hal-async mocks: the same exact bus
//! transactions, pin levels and pulse lengths as the blocking drivers'
//! tests, awaited. Each test runs its futures to completion with a
//! busy-polling `block_on`: the mocks never leave a future pending.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use embassy_futures::block_on;
use embedded_hal::digital::PinState;
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as DelayTx};
use embedded_hal_mock::eh1::digital::{Edge, Mock as PinMock, State, Transaction as PinTx};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2cTx};
use locker_drivers::Error;
use locker_drivers::asynch::{DoorSensor, Lock, PresenceSensor, Ups};
use locker_drivers::door::DoorSwitch;
use locker_drivers::hx711::{Gain, Hx711};
use locker_drivers::ir::IrPresence;
use locker_drivers::lock::{LatchContact, MAX_PULSE, SolenoidLock};
use locker_drivers::max17048::ADDRESS;
use locker_drivers::max17048::asynch::Max17048;
use locker_drivers::ups::{GaugedUps, UpsError};
use locker_proto::time::Duration;
use locker_proto::{DoorState, LockState, PowerStatus};
use std::io::ErrorKind;

// ---- UPS gauge ----

#[test]
fn an_async_ups_gauge_reads_the_battery_at_57_percent() {
    let bus = I2cMock::new(&[
        I2cTx::write_read(ADDRESS, vec![0x04], vec![57, 0x80]),
        I2cTx::write_read(ADDRESS, vec![0x02], vec![0xC4, 0xE0]),
        I2cTx::write_read(ADDRESS, vec![0x16], vec![0xFF, 0x10]),
        I2cTx::write_read(ADDRESS, vec![0x08], vec![0x00, 0x12]),
    ]);
    let mut gauge = Max17048::new(bus);
    block_on(async {
        assert_eq!(gauge.charge_percent().await.unwrap(), 57);
        assert_eq!(gauge.cell_millivolts().await.unwrap(), 3_937);
        assert_eq!(
            gauge.charge_rate_millipercent_per_hour().await.unwrap(),
            -240 * 208
        );
        assert_eq!(gauge.version().await.unwrap(), 0x0012);
    });
    gauge.release().done();
}

#[test]
fn an_async_gauge_that_does_not_acknowledge_is_a_bus_error() {
    let bus = I2cMock::new(&[
        I2cTx::write_read(ADDRESS, vec![0x04], vec![0, 0]).with_error(
            embedded_hal::i2c::ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address,
            ),
        ),
    ]);
    let mut gauge = Max17048::new(bus);
    let read = block_on(gauge.charge_percent());
    assert!(matches!(read, Err(Error::Bus(_))));
    gauge.release().done();
}

#[test]
fn an_async_ups_on_mains_does_not_ask_the_gauge() {
    let mains = PinMock::new(&[PinTx::get(State::High)]);
    let mut ups = GaugedUps::new(mains, PinState::High, Max17048::new(I2cMock::new(&[])));
    assert_eq!(block_on(ups.power_status()).unwrap(), PowerStatus::Mains);
    let (mut mains, gauge) = ups.release();
    mains.done();
    gauge.release().done();
}

#[test]
fn an_async_ups_after_a_power_cut_at_50_percent_has_an_hour_left() {
    let mains = PinMock::new(&[PinTx::get(State::Low)]);
    let bus = I2cMock::new(&[
        I2cTx::write_read(ADDRESS, vec![0x04], vec![50, 0]),
        I2cTx::write_read(ADDRESS, vec![0x16], vec![0xFF, 0x10]), // -240 × 0.208 %/h
    ]);
    let mut ups = GaugedUps::new(mains, PinState::High, Max17048::new(bus));
    assert_eq!(
        block_on(ups.power_status()).unwrap(),
        PowerStatus::Battery {
            charge_percent: 50,
            minutes_left: 60
        }
    );
    let (mut mains, gauge) = ups.release();
    mains.done();
    gauge.release().done();
}

#[test]
fn an_async_ups_at_8_percent_is_critical_without_reading_the_rate() {
    let mains = PinMock::new(&[PinTx::get(State::Low)]);
    let bus = I2cMock::new(&[I2cTx::write_read(ADDRESS, vec![0x04], vec![8, 0])]);
    let mut ups = GaugedUps::new(mains, PinState::High, Max17048::new(bus));
    assert_eq!(
        block_on(ups.power_status()).unwrap(),
        PowerStatus::Critical { charge_percent: 8 }
    );
    let (mut mains, gauge) = ups.release();
    mains.done();
    gauge.release().done();
}

#[test]
fn an_async_ups_mains_pin_fault_is_reported_as_such() {
    let mains =
        PinMock::new(&[PinTx::get(State::Low).with_error(MockError::Io(ErrorKind::NotConnected))]);
    let mut ups = GaugedUps::new(mains, PinState::High, Max17048::new(I2cMock::new(&[])));
    assert!(matches!(
        block_on(ups.power_status()),
        Err(UpsError::MainsPin(_))
    ));
    let (mut mains, gauge) = ups.release();
    mains.done();
    gauge.release().done();
}

// ---- Locks ----

#[test]
fn an_async_unlock_awaits_the_pulse_instead_of_blocking() {
    let coil = PinMock::new(&[
        PinTx::set(State::Low),
        PinTx::set(State::High),
        PinTx::set(State::Low),
    ]);
    // The async delay, not the blocking one: the executor runs other tasks
    // for the 600 ms.
    let delay = CheckedDelay::new(&[DelayTx::async_delay_ms(600)]);
    let mut lock =
        SolenoidLock::new(coil, delay, PinState::High, Duration::from_millis(600)).unwrap();
    block_on(lock.unlock()).unwrap();
    let (mut coil, mut delay, _) = lock.release();
    coil.done();
    delay.done();
}

#[test]
fn an_async_lock_configured_beyond_the_coil_rating_is_refused_before_the_pin_is_touched() {
    let coil = PinMock::new(&[]);
    let too_long = Duration::from_millis(MAX_PULSE.as_millis() + 1);
    let refused = SolenoidLock::new(coil.clone(), NoopDelay::new(), PinState::High, too_long);
    assert!(matches!(refused, Err(Error::PulseTooLong { .. })));
    let mut coil = coil;
    coil.done();
}

#[test]
fn an_async_coil_that_will_not_switch_off_is_retried_once_then_reported_stuck_on() {
    let stuck = MockError::Io(ErrorKind::Other);
    let coil = PinMock::new(&[
        PinTx::set(State::Low),
        PinTx::set(State::High),
        PinTx::set(State::Low).with_error(stuck.clone()),
        PinTx::set(State::Low).with_error(stuck),
    ]);
    let mut lock = SolenoidLock::new(
        coil,
        NoopDelay::new(),
        PinState::High,
        Duration::from_millis(500),
    )
    .unwrap();
    assert!(matches!(
        block_on(lock.unlock()),
        Err(Error::CoilStuckOn(_))
    ));
    lock.release().0.done();
}

#[test]
fn an_async_lock_with_a_latch_contact_reports_locked_then_unlocked() {
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
    block_on(async {
        assert_eq!(lock.lock_state().await.unwrap(), LockState::Locked);
        assert_eq!(lock.lock_state().await.unwrap(), LockState::Unlocked);
    });
    let (mut coil, _, contact) = lock.release();
    coil.done();
    contact.release().done();
}

// ---- Door switch ----

#[test]
fn an_async_door_switch_sleeps_until_the_courier_opens_the_door() {
    // Reed contact with pull-up: shut reads low. The task sleeps on the
    // edge interrupt, then reads the door open.
    let pin = PinMock::new(&[
        PinTx::get(State::Low),
        PinTx::wait_for_edge(Edge::Any),
        PinTx::get(State::High),
    ]);
    let mut door = DoorSwitch::new(pin, PinState::Low);
    block_on(async {
        assert_eq!(door.door_state().await.unwrap(), DoorState::Closed);
        assert_eq!(door.door_changed().await.unwrap(), DoorState::Open);
    });
    door.release().done();
}

#[test]
fn an_async_door_switch_whose_interrupt_fails_reports_the_pin_error() {
    let pin = PinMock::new(&[
        PinTx::wait_for_edge(Edge::Any).with_error(MockError::Io(ErrorKind::NotConnected))
    ]);
    let mut door = DoorSwitch::new(pin, PinState::Low);
    assert!(matches!(block_on(door.door_changed()), Err(Error::Bus(_))));
    door.release().done();
}

// ---- Presence ----

#[test]
fn an_async_ir_floor_beam_sees_a_flat_envelope() {
    let floor = PinMock::new(&[PinTx::get(State::High), PinTx::get(State::Low)]);
    let top = PinMock::new(&[PinTx::get(State::High), PinTx::get(State::High)]);
    let mut ir = IrPresence::new([floor, top], PinState::Low);
    let seen = block_on(async {
        assert_eq!(ir.calibrate_empty().await.unwrap(), 0);
        ir.presence().await.unwrap()
    });
    assert!(seen.occupied);
    assert_eq!((seen.reading, seen.threshold), (1, 1));
    for mut pin in ir.release() {
        pin.done();
    }
}

/// Clock and data transactions for one conversion of `counts` at gain 128,
/// the data pin first awaited low (conversion ready).
fn awaited_conversion(counts: u32) -> (Vec<PinTx>, Vec<PinTx>) {
    let mut clock = Vec::new();
    let mut data = vec![PinTx::wait_for_state(State::Low), PinTx::get(State::Low)];
    for bit in (0..24).rev() {
        clock.extend([PinTx::set(State::High), PinTx::set(State::Low)]);
        data.push(PinTx::get(if counts >> bit & 1 == 1 {
            State::High
        } else {
            State::Low
        }));
    }
    clock.extend([PinTx::set(State::High), PinTx::set(State::Low)]);
    (clock, data)
}

#[test]
fn an_async_load_cell_waits_for_its_conversion_then_sees_a_10_g_letter() {
    let (tare_clock, tare_data) = awaited_conversion(1_000);
    let (letter_clock, letter_data) = awaited_conversion(1_000 + 4_200);
    let clock = [vec![PinTx::set(State::Low)], tare_clock, letter_clock].concat();
    let data = [tare_data, letter_data].concat();
    let mut cell = Hx711::new(
        PinMock::new(&clock),
        PinMock::new(&data),
        NoopDelay::new(),
        Gain::A128,
        420,
    )
    .unwrap();
    let letter = block_on(async {
        assert_eq!(cell.calibrate_empty().await.unwrap(), 1_000);
        cell.presence().await.unwrap()
    });
    assert!(letter.occupied);
    assert_eq!((letter.reading, letter.threshold), (4_200, 2_100));
    // The blocking view shares the calibration.
    assert_eq!(locker_drivers::PresenceSensor::baseline(&cell), 1_000);
    let (mut clock, mut data, _) = cell.release();
    clock.done();
    data.done();
}
