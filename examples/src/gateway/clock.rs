//! The gateway's monotonic clock: the one place in the gateway that reads time.

use locker_proto::time::Instant;

use super::{Gateway, GatewayError};

/// How often the bank's wall clock is re-anchored to the system clock.
const WALL_CLOCK_ANCHOR_EVERY: locker_proto::Duration = locker_proto::Duration::from_secs(60);

/// Monotonic milliseconds since the gateway started, as the state machines
/// take them. A restarted gateway starts again at zero: the bank's restore
/// rebases every stored deadline onto the new clock.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    origin: std::time::Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::start()
    }
}

impl MonotonicClock {
    /// A clock reading zero now.
    pub fn start() -> Self {
        MonotonicClock {
            origin: std::time::Instant::now(),
        }
    }

    /// The time now.
    pub fn now(&self) -> Instant {
        Instant::from_std(self.origin, std::time::Instant::now())
    }
}

/// Milliseconds since 1970 on the system clock (UTC).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The system clock as the bank's wall clock (UTC), if it reads as a date.
pub(crate) fn system_wall() -> Option<chrono::NaiveDateTime> {
    i64::try_from(unix_ms())
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|wall| wall.naive_utc())
}

/// 32 bytes from the operating system, the seed of the pickup codes.
pub(crate) fn os_seed() -> Result<[u8; 32], GatewayError> {
    crate::secret::os_random().map_err(|e| {
        GatewayError::file(
            "cannot read randomness for pickup codes from",
            std::path::Path::new(crate::secret::RANDOMNESS),
            e,
        )
    })
}

impl Gateway {
    /// Re-anchors the bank's wall clock to the system clock (UTC) when due,
    /// so NTP corrections reach audit stamps and quiet hours.
    pub(super) fn anchor_wall_clock(&mut self, now: Instant) -> Result<(), GatewayError> {
        let due = self
            .wall_anchored
            .is_none_or(|at| now.saturating_since(at) >= WALL_CLOCK_ANCHOR_EVERY);
        if let (true, Some(wall)) = (due, system_wall()) {
            self.core.set_wall_clock(wall, now)?;
            self.wall_anchored = Some(now);
        }
        Ok(())
    }
}
