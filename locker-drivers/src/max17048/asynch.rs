//! The MAX17048 on an `embedded-hal-async` I2C bus: the same registers and
//! readings as the blocking [`Max17048`](super::Max17048), each read
//! awaited instead of blocking the gateway's executor.
//!
//! # Example
//!
//! ```
//! use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction};
//! use locker_drivers::max17048::ADDRESS;
//! use locker_drivers::max17048::asynch::Max17048;
//!
//! let bus = I2cMock::new(&[
//!     Transaction::write_read(ADDRESS, vec![0x04], vec![0x39, 0x00]), // 57 %
//!     Transaction::write_read(ADDRESS, vec![0x02], vec![0xC4, 0xE0]), // 3 937 mV
//! ]);
//! let mut gauge = Max17048::new(bus);
//! embassy_futures::block_on(async {
//!     assert_eq!(gauge.charge_percent().await?, 57);
//!     assert_eq!(gauge.cell_millivolts().await?, 3_937);
//!     Ok::<(), locker_drivers::Error<embedded_hal::i2c::ErrorKind>>(())
//! })?;
//! gauge.release().done();
//! # Ok::<(), locker_drivers::Error<embedded_hal::i2c::ErrorKind>>(())
//! ```

use embedded_hal_async::i2c::I2c;

use super::{ADDRESS, CRATE, SOC, VCELL, VERSION, decode};
use crate::Error;

/// A MAX17048 fuel gauge on an async I2C bus.
#[derive(Debug)]
pub struct Max17048<I> {
    bus: I,
}

impl<I: I2c> Max17048<I> {
    /// A gauge on `bus` at [`ADDRESS`].
    pub fn new(bus: I) -> Self {
        Max17048 { bus }
    }

    async fn register(&mut self, reg: u8) -> Result<u16, Error<I::Error>> {
        let mut buf = [0u8; 2];
        self.bus
            .write_read(ADDRESS, &[reg], &mut buf)
            .await
            .map_err(Error::Bus)?;
        Ok(u16::from_be_bytes(buf))
    }

    /// The state of charge in 1/256 % (may exceed 100 % before the chip's
    /// model has converged).
    pub async fn charge_256ths(&mut self) -> Result<u16, Error<I::Error>> {
        self.register(SOC).await
    }

    /// The state of charge in whole percent, rounded down, at most 100.
    pub async fn charge_percent(&mut self) -> Result<u8, Error<I::Error>> {
        self.charge_256ths().await.map(decode::charge_percent)
    }

    /// The cell voltage in millivolts (rounded down).
    pub async fn cell_millivolts(&mut self) -> Result<u16, Error<I::Error>> {
        self.register(VCELL).await.map(decode::cell_millivolts)
    }

    /// The charge rate in thousandths of a percent per hour: negative while
    /// discharging.
    pub async fn charge_rate_millipercent_per_hour(&mut self) -> Result<i32, Error<I::Error>> {
        self.register(CRATE)
            .await
            .map(decode::charge_rate_millipercent_per_hour)
    }

    /// The chip's version register (production parts read `0x001_`).
    pub async fn version(&mut self) -> Result<u16, Error<I::Error>> {
        self.register(VERSION).await
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.bus
    }
}
