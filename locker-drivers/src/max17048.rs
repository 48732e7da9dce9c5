//! The MAX17048 battery fuel gauge on I2C: state of charge, cell voltage,
//! charge rate.
//!
//! Written here rather than wrapped: the gateway needs four register reads,
//! and owning them keeps the byte-level behaviour tested against exact bus
//! transactions and free of another crate's error type. Registers are
//! 16-bit big-endian, read with one write-read transaction each:
//!
//! | register | address | unit |
//! |---|---|---|
//! | VCELL | `0x02` | 78.125 µV per LSB |
//! | SOC | `0x04` | 1/256 % per LSB |
//! | VERSION | `0x08` | chip version |
//! | CRATE | `0x16` | 0.208 %/h per LSB, signed (negative: discharging) |
//!
//! # Wiring
//!
//! SDA and SCL to the gateway's I2C bus with pull-ups (the chip answers at
//! 7-bit address `0x36`), CELL and GND across the single-cell battery of the
//! UPS (or its balance tap), ALRT optionally to an input pin. Mind that the
//! MAX17048 gauges one Li-ion cell; for a 12 V lead-acid UPS use the UPS's
//! own status instead.
//!
//! With feature `async`, `asynch::Max17048` reads the same registers over
//! an `embedded-hal-async` bus (Embassy's I2C drivers, for instance).
//!
//! # Example
//!
//! ```
//! use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction};
//! use locker_drivers::max17048::{ADDRESS, Max17048};
//!
//! let bus = I2cMock::new(&[
//!     Transaction::write_read(ADDRESS, vec![0x04], vec![0x3A, 0x80]), // 58.5 %
//!     Transaction::write_read(ADDRESS, vec![0x02], vec![0xC4, 0xE0]), // 50 400 × 78.125 µV
//! ]);
//! let mut gauge = Max17048::new(bus);
//! assert_eq!(gauge.charge_percent()?, 58);
//! assert_eq!(gauge.cell_millivolts()?, 3_937);
//! gauge.release().done();
//! # Ok::<(), locker_drivers::Error<embedded_hal::i2c::ErrorKind>>(())
//! ```

use embedded_hal::i2c::I2c;

use crate::Error;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynch;

/// The MAX17048's 7-bit I2C address.
pub const ADDRESS: u8 = 0x36;

const VCELL: u8 = 0x02;
const SOC: u8 = 0x04;
const VERSION: u8 = 0x08;
const CRATE: u8 = 0x16;

/// What the registers' raw 16 bits mean, for the blocking and the async
/// driver alike: they differ only in how the bytes cross the bus.
mod decode {
    /// SOC's whole percent, rounded down, at most 100.
    pub(super) fn charge_percent(raw: u16) -> u8 {
        let [whole, _] = raw.to_be_bytes();
        whole.min(100)
    }

    /// VCELL in millivolts, rounded down.
    pub(super) fn cell_millivolts(raw: u16) -> u16 {
        // 78.125 µV = 5/64 mV per LSB; the maximum (5 119 mV) fits a u16.
        u16::try_from(u32::from(raw) * 5 / 64).unwrap_or(u16::MAX)
    }

    /// CRATE in thousandths of a percent per hour (signed register).
    pub(super) fn charge_rate_millipercent_per_hour(raw: u16) -> i32 {
        i32::from(raw as i16) * 208
    }
}

/// A MAX17048 fuel gauge on an I2C bus.
#[derive(Debug)]
pub struct Max17048<I> {
    bus: I,
}

impl<I: I2c> Max17048<I> {
    /// A gauge on `bus` at [`ADDRESS`].
    pub fn new(bus: I) -> Self {
        Max17048 { bus }
    }

    fn register(&mut self, reg: u8) -> Result<u16, Error<I::Error>> {
        let mut buf = [0u8; 2];
        self.bus
            .write_read(ADDRESS, &[reg], &mut buf)
            .map_err(Error::Bus)?;
        Ok(u16::from_be_bytes(buf))
    }

    /// The state of charge in 1/256 % (may exceed 100 % before the chip's
    /// model has converged).
    pub fn charge_256ths(&mut self) -> Result<u16, Error<I::Error>> {
        self.register(SOC)
    }

    /// The state of charge in whole percent, rounded down, at most 100.
    pub fn charge_percent(&mut self) -> Result<u8, Error<I::Error>> {
        self.charge_256ths().map(decode::charge_percent)
    }

    /// The cell voltage in millivolts (rounded down).
    pub fn cell_millivolts(&mut self) -> Result<u16, Error<I::Error>> {
        self.register(VCELL).map(decode::cell_millivolts)
    }

    /// The charge rate in thousandths of a percent per hour: negative while
    /// discharging.
    pub fn charge_rate_millipercent_per_hour(&mut self) -> Result<i32, Error<I::Error>> {
        self.register(CRATE)
            .map(decode::charge_rate_millipercent_per_hour)
    }

    /// The chip's version register (production parts read `0x001_`).
    pub fn version(&mut self) -> Result<u16, Error<I::Error>> {
        self.register(VERSION)
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.bus
    }
}
