//! The HX711 load cell: exact clock levels and data bits.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as T};
use locker_drivers::hx711::{Gain, Hx711};
use locker_drivers::{Error, PresenceSensor};
use locker_proto::Presence;
use std::io::ErrorKind;

/// Clock and data transactions for one conversion of `counts` (24-bit two's
/// complement, MSB first), followed by the gain's extra pulses.
fn conversion(counts: i32, extra_pulses: usize) -> (Vec<T>, Vec<T>) {
    let raw = (counts as u32) & 0x00FF_FFFF;
    let mut clock = Vec::new();
    let mut data = vec![T::get(State::Low)];
    for bit in (0..24).rev() {
        clock.push(T::set(State::High));
        data.push(T::get(if raw >> bit & 1 == 1 {
            State::High
        } else {
            State::Low
        }));
        clock.push(T::set(State::Low));
    }
    for _ in 0..extra_pulses {
        clock.push(T::set(State::High));
        clock.push(T::set(State::Low));
    }
    (clock, data)
}

fn cell(readings: &[i32], extra: usize, gain: Gain) -> Hx711<PinMock, PinMock, NoopDelay> {
    let mut clock = vec![T::set(State::Low)];
    let mut data = Vec::new();
    for &r in readings {
        let (c, d) = conversion(r, extra);
        clock.extend(c);
        data.extend(d);
    }
    Hx711::new(
        PinMock::new(&clock),
        PinMock::new(&data),
        NoopDelay::new(),
        gain,
        420,
    )
    .unwrap()
}

fn done(cell: Hx711<PinMock, PinMock, NoopDelay>) {
    let (mut clock, mut data, _) = cell.release();
    clock.done();
    data.done();
}

#[test]
fn two_sheets_of_paper_are_seen_after_taring_the_empty_floor() {
    // The floor plate alone reads 81 234 counts; a 10 g letter adds 4 200.
    let mut c = cell(&[81_234, 81_234 + 4_200], 1, Gain::A128);
    assert_eq!(c.calibrate_empty().unwrap(), 81_234);
    assert_eq!(c.presence().unwrap(), Presence::occupied(4_200, 2_100));
    done(c);
}

#[test]
fn a_few_grams_of_dust_or_noise_is_not_a_parcel() {
    let mut c = cell(&[81_234, 81_234 + 2_099], 1, Gain::A128);
    c.calibrate_empty().unwrap();
    assert_eq!(c.presence().unwrap(), Presence::empty(2_099, 2_100));
    done(c);
}

#[test]
fn negative_counts_are_sign_extended() {
    let mut c = cell(&[-1, -8_388_608, 8_388_607], 1, Gain::A128);
    assert_eq!(c.read_counts().unwrap(), -1);
    assert_eq!(c.read_counts().unwrap(), -8_388_608);
    assert_eq!(c.read_counts().unwrap(), 8_388_607);
    done(c);
}

#[test]
fn gain_64_takes_three_extra_pulses_and_channel_b_two() {
    let mut c = cell(&[1_000], 3, Gain::A64);
    assert_eq!(c.read_counts().unwrap(), 1_000);
    done(c);
    let mut c = cell(&[-1_000], 2, Gain::B32);
    assert_eq!(c.read_counts().unwrap(), -1_000);
    done(c);
}

#[test]
fn a_conversion_not_ready_is_reported_without_clocking() {
    let clock = PinMock::new(&[T::set(State::Low)]);
    let data = PinMock::new(&[T::get(State::High), T::get(State::High)]);
    let mut c = Hx711::new(clock, data, NoopDelay::new(), Gain::A128, 420).unwrap();
    assert_eq!(c.presence(), Err(Error::NotReady));
    assert_eq!(c.calibrate_empty(), Err(Error::NotReady));
    done(c);
}

#[test]
fn a_heavier_smallest_item_raises_the_threshold() {
    let c = cell(&[], 1, Gain::A128).with_smallest_item(100);
    assert_eq!(c.threshold(), 21_000);
    done(c);
}

#[test]
fn a_data_pin_fault_is_a_bus_error_and_keeps_the_baseline() {
    let io = MockError::Io(ErrorKind::Other);
    let clock = PinMock::new(&[T::set(State::Low)]);
    let data = PinMock::new(&[T::get(State::Low).with_error(io.clone())]);
    let mut c = Hx711::new(clock, data, NoopDelay::new(), Gain::A128, 420).unwrap();
    assert_eq!(c.calibrate_empty(), Err(Error::Bus(io)));
    assert_eq!(c.baseline(), 0);
    done(c);
}
