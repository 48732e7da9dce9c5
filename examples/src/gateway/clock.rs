//! The gateway's monotonic clock: the one place in the gateway that reads time.

use locker_proto::time::Instant;

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
