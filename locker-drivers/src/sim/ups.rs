//! A simulated UPS whose battery drains and recharges with time.

use locker_proto::PowerStatus;
use locker_proto::time::Instant;

use super::{SimError, per_hour};
use crate::Ups;

/// Charge is kept in millipercent so slow rates stay exact.
const FULL: i64 = 100_000;

/// A simulated UPS: mains present or not, a battery charge that falls at a
/// drain rate on battery and rises at a charge rate on mains.
///
/// [`power_status`](Ups::power_status) reports [`PowerStatus::Mains`] while
/// mains is present; on battery, [`PowerStatus::Battery`] with the minutes
/// left at the current drain rate, or [`PowerStatus::Critical`] at or below
/// the critical charge (default 10 %).
///
/// ```
/// use locker_drivers::Ups;
/// use locker_drivers::sim::SimUps;
/// use locker_proto::{PowerStatus, time::Instant};
///
/// let mut ups = SimUps::new(Instant::ZERO);
/// ups.set_drain_percent_per_hour(100); // one hour of runtime from full
/// ups.set_mains(false); // power cut at t = 0
/// ups.advance_to(Instant::from_secs(30 * 60));
/// assert_eq!(
///     ups.power_status()?,
///     PowerStatus::Battery { charge_percent: 50, minutes_left: 30 }
/// );
/// ups.advance_to(Instant::from_secs(55 * 60));
/// assert_eq!(ups.power_status()?, PowerStatus::Critical { charge_percent: 8 });
/// # Ok::<(), locker_drivers::sim::SimError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SimUps {
    now: Instant,
    mains: bool,
    /// Charge at `since`, in millipercent.
    charge_at_since: i64,
    since: Instant,
    drain_per_hour: i64,
    charge_per_hour: i64,
    critical_percent: u8,
    failed: bool,
}

impl SimUps {
    /// A UPS at `now`, on mains, fully charged, draining 20 %/h on battery
    /// (five hours of runtime) and recharging 10 %/h on mains.
    pub fn new(now: Instant) -> Self {
        SimUps {
            now,
            mains: true,
            charge_at_since: FULL,
            since: now,
            drain_per_hour: 20_000,
            charge_per_hour: 10_000,
            critical_percent: 10,
            failed: false,
        }
    }

    fn charge_now(&self) -> i64 {
        let elapsed = self.now.saturating_since(self.since);
        let delta = if self.mains {
            per_hour(self.charge_per_hour, elapsed)
        } else {
            -per_hour(self.drain_per_hour, elapsed)
        };
        self.charge_at_since.saturating_add(delta).clamp(0, FULL)
    }

    /// Settles the charge at the current time before a rate or source changes.
    fn rebase(&mut self) {
        self.charge_at_since = self.charge_now();
        self.since = self.now;
    }

    /// Moves the UPS's time to `now` (ignored if earlier than the time
    /// already reached).
    pub fn advance_to(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Mains comes back (`true`) or is cut (`false`), at the current time.
    pub fn set_mains(&mut self, present: bool) {
        self.rebase();
        self.mains = present;
    }

    /// Whether mains is present.
    pub fn mains(&self) -> bool {
        self.mains
    }

    /// Sets the battery charge now, 0–100 % (more is taken as 100).
    pub fn set_charge_percent(&mut self, percent: u8) {
        self.rebase();
        self.charge_at_since = (i64::from(percent) * 1_000).min(FULL);
    }

    /// The battery charge now, in whole percent (rounded down).
    pub fn charge_percent(&self) -> u8 {
        u8::try_from(self.charge_now() / 1_000).unwrap_or(100)
    }

    /// How fast the battery drains on battery power, in percent per hour.
    pub fn set_drain_percent_per_hour(&mut self, percent: u16) {
        self.rebase();
        self.drain_per_hour = i64::from(percent) * 1_000;
    }

    /// How fast the battery recharges on mains, in percent per hour.
    pub fn set_charge_percent_per_hour(&mut self, percent: u16) {
        self.rebase();
        self.charge_per_hour = i64::from(percent) * 1_000;
    }

    /// The charge at or below which the UPS reports [`PowerStatus::Critical`].
    pub fn set_critical_percent(&mut self, percent: u8) {
        self.critical_percent = percent;
    }

    /// A UPS that stops answering: [`Ups::power_status`] fails with
    /// [`SimError::NoAnswer`].
    pub fn set_failed(&mut self, failed: bool) {
        self.failed = failed;
    }
}

impl Ups for SimUps {
    type Error = SimError;

    fn power_status(&mut self) -> Result<PowerStatus, SimError> {
        if self.failed {
            return Err(SimError::NoAnswer);
        }
        if self.mains {
            return Ok(PowerStatus::Mains);
        }
        let charge = self.charge_now();
        let charge_percent = u8::try_from(charge / 1_000).unwrap_or(100);
        if charge_percent <= self.critical_percent {
            return Ok(PowerStatus::Critical { charge_percent });
        }
        let minutes_left = if self.drain_per_hour == 0 {
            u16::MAX
        } else {
            u16::try_from(charge * 60 / self.drain_per_hour).unwrap_or(u16::MAX)
        };
        Ok(PowerStatus::Battery {
            charge_percent,
            minutes_left,
        })
    }
}
