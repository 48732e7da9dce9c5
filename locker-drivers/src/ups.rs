//! A UPS seen through a mains-present pin and a MAX17048 fuel gauge.
//!
//! # Wiring
//!
//! - **Mains present**: an input pin driven by the UPS's "on line" contact
//!   or an optocoupler on the mains adapter's output. Say which level means
//!   mains present (an optocoupler pulling the pin to ground reads
//!   [`PinState::Low`] while mains is there).
//! - **Fuel gauge**: a [`Max17048`] on I2C (see its wiring note).
//!
//! While mains is present the gauge is not read at all (one pin read per
//! poll). On battery, the minutes left come from the gauge's discharge
//! rate, or from the configured full-charge runtime while the gauge's rate
//! is not yet meaningful (zero or charging).
//!
//! # Example
//!
//! ```
//! use embedded_hal::digital::PinState;
//! use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};
//! use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2cTx};
//! use locker_drivers::Ups;
//! use locker_drivers::max17048::{ADDRESS, Max17048};
//! use locker_drivers::ups::GaugedUps;
//! use locker_proto::PowerStatus;
//!
//! let mains = PinMock::new(&[PinTx::get(State::Low), PinTx::get(State::High)]);
//! let bus = I2cMock::new(&[
//!     I2cTx::write_read(ADDRESS, vec![0x04], vec![50, 0]), // 50 %
//!     I2cTx::write_read(ADDRESS, vec![0x16], vec![0xFF, 0x10]), // -240 × 0.208 %/h
//! ]);
//! let mut ups = GaugedUps::new(mains, PinState::Low, Max17048::new(bus));
//! assert_eq!(ups.power_status()?, PowerStatus::Mains);
//! assert_eq!(
//!     ups.power_status()?,
//!     PowerStatus::Battery { charge_percent: 50, minutes_left: 60 }
//! );
//! let (mut mains, gauge) = ups.release();
//! mains.done();
//! gauge.release().done();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use embedded_hal::digital::{InputPin, PinState};
use embedded_hal::i2c::I2c;
use locker_proto::PowerStatus;

use crate::max17048::Max17048;
use crate::{Error, Ups};

/// What went wrong asking a [`GaugedUps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UpsError<P, B> {
    /// The mains-present pin could not be read.
    #[error("the mains-present pin could not be read: {0:?}")]
    MainsPin(P),
    /// The fuel gauge did not answer.
    #[error("the fuel gauge failed: {0}")]
    Gauge(Error<B>),
}

/// A UPS from a mains-present pin and a MAX17048 fuel gauge.
#[derive(Debug)]
pub struct GaugedUps<P, I> {
    mains: P,
    mains_level: PinState,
    gauge: Max17048<I>,
    critical_percent: u8,
    full_runtime_minutes: u16,
}

impl<P: InputPin, I: I2c> GaugedUps<P, I> {
    /// A UPS whose mains pin reads `mains_level` while mains is present.
    /// Critical at 10 %; 120 minutes of runtime from full when the gauge
    /// gives no discharge rate.
    pub fn new(mains: P, mains_level: PinState, gauge: Max17048<I>) -> Self {
        GaugedUps {
            mains,
            mains_level,
            gauge,
            critical_percent: 10,
            full_runtime_minutes: 120,
        }
    }

    /// Reports [`PowerStatus::Critical`] at or below `percent`.
    pub fn with_critical_percent(mut self, percent: u8) -> Self {
        self.critical_percent = percent;
        self
    }

    /// The runtime from a full battery at the bank's usual load, used when
    /// the gauge's rate is not meaningful.
    pub fn with_full_runtime_minutes(mut self, minutes: u16) -> Self {
        self.full_runtime_minutes = minutes;
        self
    }

    /// Gives back the mains pin and the gauge.
    pub fn release(self) -> (P, Max17048<I>) {
        (self.mains, self.gauge)
    }
}

impl<P: InputPin, I: I2c> Ups for GaugedUps<P, I> {
    type Error = UpsError<P::Error, I::Error>;

    fn power_status(&mut self) -> Result<PowerStatus, Self::Error> {
        let high = self.mains.is_high().map_err(UpsError::MainsPin)?;
        if high == (self.mains_level == PinState::High) {
            return Ok(PowerStatus::Mains);
        }
        let charge_percent = self.gauge.charge_percent().map_err(UpsError::Gauge)?;
        if charge_percent <= self.critical_percent {
            return Ok(PowerStatus::Critical { charge_percent });
        }
        let rate = self
            .gauge
            .charge_rate_millipercent_per_hour()
            .map_err(UpsError::Gauge)?;
        let minutes = if rate < 0 {
            // percent × 1000 / (millipercent per hour) hours, in minutes.
            i64::from(charge_percent) * 1_000 * 60 / i64::from(rate.unsigned_abs())
        } else {
            i64::from(charge_percent) * i64::from(self.full_runtime_minutes) / 100
        };
        let minutes_left = u16::try_from(minutes).unwrap_or(u16::MAX);
        Ok(PowerStatus::Battery {
            charge_percent,
            minutes_left,
        })
    }
}
