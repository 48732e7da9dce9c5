//! Monotonic time as plain integers.
//!
//! The protocol and the state machines never read a clock: the caller passes
//! the current [`Instant`] into every `handle_*` call. An [`Instant`] is a count
//! of milliseconds since an arbitrary epoch (usually boot); a [`Duration`] is a
//! count of milliseconds. Both are `u64`, so a millisecond counter cannot wrap in
//! the lifetime of a locker (584 million years), and all arithmetic saturates:
//! no operation on time can panic or wrap.
//!
//! ```
//! use locker_proto::time::{Duration, Instant};
//!
//! let unlocked_at = Instant::from_millis(10_000);
//! let deadline = unlocked_at + Duration::from_secs(30);
//! assert_eq!(deadline.as_millis(), 40_000);
//! assert_eq!(deadline - unlocked_at, Duration::from_secs(30));
//! // Going backwards saturates at zero instead of wrapping.
//! assert_eq!(unlocked_at - deadline, Duration::ZERO);
//! ```

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

/// A point on a monotonic clock, in milliseconds since an arbitrary epoch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Instant(u64);

/// A span of monotonic time, in milliseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Duration(u64);

impl Instant {
    /// The epoch: zero milliseconds.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant; useful as "never".
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// An instant `s` seconds after the epoch (saturating).
    pub const fn from_secs(s: u64) -> Self {
        Instant(s.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, or `None` if that overflows.
    pub const fn checked_add(self, d: Duration) -> Option<Instant> {
        match self.0.checked_add(d.0) {
            Some(v) => Some(Instant(v)),
            None => None,
        }
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);
    /// The longest representable duration.
    pub const MAX: Duration = Duration(u64::MAX);

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }

    /// A duration of `s` seconds (saturating).
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1000))
    }

    /// A duration of `m` minutes (saturating).
    pub const fn from_mins(m: u64) -> Self {
        Duration(m.saturating_mul(60_000))
    }

    /// A duration of `h` hours (saturating).
    pub const fn from_hours(h: u64) -> Self {
        Duration(h.saturating_mul(3_600_000))
    }

    /// Whole milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// `self * n`, saturating.
    pub const fn saturating_mul(self, n: u64) -> Duration {
        Duration(self.0.saturating_mul(n))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, other: Duration) -> Duration {
        Duration(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Duration {
    fn add_assign(&mut self, other: Duration) {
        *self = *self + other;
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, other: Duration) -> Duration {
        Duration(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1000;
        write!(f, "{}.{:03}s", secs, self.0 % 1000)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms < 1000 {
            write!(f, "{ms}ms")
        } else if ms < 60_000 {
            write!(f, "{}.{:03}s", ms / 1000, ms % 1000)
        } else if ms < 3_600_000 {
            write!(f, "{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
        } else {
            write!(f, "{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
        }
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl Instant {
    /// The instant `now` on a clock whose epoch is `origin` (usually the
    /// moment the program started). A `now` before `origin` gives the epoch.
    ///
    /// ```
    /// use locker_proto::time::Instant;
    /// let origin = std::time::Instant::now();
    /// let now = origin + std::time::Duration::from_millis(1500);
    /// assert_eq!(Instant::from_std(origin, now), Instant::from_millis(1500));
    /// ```
    pub fn from_std(origin: std::time::Instant, now: std::time::Instant) -> Self {
        Instant::ZERO + Duration::from(now.saturating_duration_since(origin))
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl From<std::time::Duration> for Duration {
    /// Whole milliseconds, saturating at [`Duration::MAX`].
    fn from(d: std::time::Duration) -> Self {
        Duration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        std::time::Duration::from_millis(d.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_far_in_the_future_saturate_instead_of_wrapping() {
        let now = Instant::MAX - Duration::from_secs(1);
        assert_eq!(now + Duration::from_hours(72), Instant::MAX);
        assert_eq!(now.checked_add(Duration::from_hours(72)), None);
    }

    #[test]
    fn a_clock_that_went_backwards_gives_zero_elapsed() {
        let later = Instant::from_secs(100);
        let earlier = Instant::from_secs(50);
        assert_eq!(earlier - later, Duration::ZERO);
        assert_eq!(later - earlier, Duration::from_secs(50));
    }

    #[test]
    fn durations_print_for_a_log_reader() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(Duration::from_millis(250).to_string(), "250ms");
        assert_eq!(Duration::from_millis(1500).to_string(), "1.500s");
        assert_eq!(Duration::from_secs(125).to_string(), "2m05s");
        assert_eq!(Duration::from_hours(25).to_string(), "25h00m");
        assert_eq!(Instant::from_millis(1234).to_string(), "1.234s");
    }

    #[test]
    #[cfg(feature = "std")]
    fn std_durations_convert_to_whole_milliseconds() {
        let d: Duration = std::time::Duration::from_micros(2_999).into();
        assert_eq!(d, Duration::from_millis(2));
        let back: std::time::Duration = Duration::from_secs(3).into();
        assert_eq!(back, std::time::Duration::from_secs(3));
    }
}
