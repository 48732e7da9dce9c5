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
//! With feature `async`, give it a `max17048::asynch::Max17048` and it is an
//! `asynch::Ups`, deciding exactly as below.
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
///
/// `G` is the gauge: a blocking [`Max17048`] makes it a [`Ups`]; with feature
/// `async`, a `max17048::asynch::Max17048` makes it an `asynch::Ups`. Both
/// decide alike.
#[derive(Debug)]
pub struct GaugedUps<P, G> {
    mains: P,
    mains_level: PinState,
    gauge: G,
    critical_percent: u8,
    full_runtime_minutes: u16,
}

impl<P: InputPin, G> GaugedUps<P, G> {
    /// A UPS whose mains pin reads `mains_level` while mains is present.
    /// Critical at 10 %; 120 minutes of runtime from full when the gauge
    /// gives no discharge rate.
    pub fn new(mains: P, mains_level: PinState, gauge: G) -> Self {
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
    pub fn release(self) -> (P, G) {
        (self.mains, self.gauge)
    }

    /// Whether mains is present; the gauge is read only when it is not.
    fn on_mains<B>(&mut self) -> Result<bool, UpsError<P::Error, B>> {
        let high = self.mains.is_high().map_err(UpsError::MainsPin)?;
        Ok(high == (self.mains_level == PinState::High))
    }

    /// On battery at `charge_percent`: critical, or `None` if the rate is
    /// needed to say more.
    fn critical(&self, charge_percent: u8) -> Option<PowerStatus> {
        (charge_percent <= self.critical_percent)
            .then_some(PowerStatus::Critical { charge_percent })
    }

    /// On battery at `charge_percent`, above critical, discharging at `rate`
    /// (thousandths of a percent per hour).
    fn on_battery(&self, charge_percent: u8, rate: i32) -> PowerStatus {
        let minutes = if rate < 0 {
            // percent × 1000 / (millipercent per hour) hours, in minutes.
            i64::from(charge_percent) * 1_000 * 60 / i64::from(rate.unsigned_abs())
        } else {
            i64::from(charge_percent) * i64::from(self.full_runtime_minutes) / 100
        };
        PowerStatus::Battery {
            charge_percent,
            minutes_left: u16::try_from(minutes).unwrap_or(u16::MAX),
        }
    }
}

impl<P: InputPin, I: I2c> Ups for GaugedUps<P, Max17048<I>> {
    type Error = UpsError<P::Error, I::Error>;

    fn power_status(&mut self) -> Result<PowerStatus, Self::Error> {
        if self.on_mains()? {
            return Ok(PowerStatus::Mains);
        }
        let charge_percent = self.gauge.charge_percent().map_err(UpsError::Gauge)?;
        if let Some(critical) = self.critical(charge_percent) {
            return Ok(critical);
        }
        let gauge = &mut self.gauge;
        let rate = gauge
            .charge_rate_millipercent_per_hour()
            .map_err(UpsError::Gauge)?;
        Ok(self.on_battery(charge_percent, rate))
    }
}

/// The same decisions, with the gauge read over async I2C.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl<P, I> crate::asynch::Ups for GaugedUps<P, crate::max17048::asynch::Max17048<I>>
where
    P: InputPin,
    I: embedded_hal_async::i2c::I2c,
{
    type Error = UpsError<P::Error, I::Error>;

    async fn power_status(&mut self) -> Result<PowerStatus, Self::Error> {
        if self.on_mains()? {
            return Ok(PowerStatus::Mains);
        }
        let gauge = &mut self.gauge;
        let charge_percent = gauge.charge_percent().await.map_err(UpsError::Gauge)?;
        if let Some(critical) = self.critical(charge_percent) {
            return Ok(critical);
        }
        let gauge = &mut self.gauge;
        let rate = gauge
            .charge_rate_millipercent_per_hour()
            .await
            .map_err(UpsError::Gauge)?;
        Ok(self.on_battery(charge_percent, rate))
    }
}
