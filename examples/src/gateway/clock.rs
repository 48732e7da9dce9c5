//! The gateway's monotonic clock: the one place in the gateway that reads time.

use std::io::Read;

use locker_proto::time::Instant;

use super::GatewayError;

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

/// 32 bytes from the operating system, the seed of the pickup codes.
pub(crate) fn os_seed() -> Result<[u8; 32], GatewayError> {
    let path = std::path::Path::new("/dev/urandom");
    let mut seed = [0u8; 32];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| GatewayError::file("cannot read randomness for pickup codes from", path, e))?;
    Ok(seed)
}
