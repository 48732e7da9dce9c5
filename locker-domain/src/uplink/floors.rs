//! The security limits no configuration from the backend can lower.
//!
//! [`Downward::ChangeConfiguration`](locker_proto::uplink::Downward::ChangeConfiguration)
//! replaces the bank's rules; those that stand between a guesser and a
//! door have floors here, so a backend (or whoever got hold of its key)
//! cannot switch the keypad lockout off or shorten pickup codes to a
//! guessable length. Staff configuring a bank at the bank itself
//! ([`Policy`](crate::bank::Policy) at creation) are not bound by them.
//!
//! The remote-open limit ([`Policy::remote_open_limit`](crate::bank::Policy::remote_open_limit)
//! and its window) is not carried by the uplink at all: the backend cannot
//! change the limit it is held to.
//!
//! With the floors, a guesser at one keypad gets at most
//! [`MAX_FREE_ATTEMPTS`] free tries, then waits at least
//! [`MIN_BASE_LOCKOUT`], doubling up to at least [`MIN_MAX_LOCKOUT`]:
//! about 150 guesses a day against codes of at least [`MIN_CODE_DIGITS`]
//! digits, and a bank-wide spike of more than [`MAX_SPIKE_THRESHOLD`]
//! wrong codes in [`MIN_SPIKE_WINDOW`] always raises a security event.

use locker_proto::time::Duration;
use locker_proto::uplink::PolicyConfig;

use super::InvalidPolicy;

/// The fewest digits a pickup code may be given from the backend (the
/// bank's default, 6: one chance in a million per guess).
pub const MIN_CODE_DIGITS: u8 = 6;
/// The most wrong codes a keypad may take before its first lockout.
pub const MAX_FREE_ATTEMPTS: u8 = 5;
/// The shortest first keypad lockout.
pub const MIN_BASE_LOCKOUT: Duration = Duration::from_secs(10);
/// The shortest longest keypad lockout.
pub const MIN_MAX_LOCKOUT: Duration = Duration::from_mins(10);
/// The most wrong codes bank-wide, within the spike window, that may pass
/// without a security event.
pub const MAX_SPIKE_THRESHOLD: u16 = 100;
/// The shortest window over which wrong codes bank-wide are counted.
pub const MIN_SPIKE_WINDOW: Duration = Duration::from_mins(1);

/// Whether `config` keeps every security limit at or above its floor.
///
/// ```
/// use locker_domain::bank::Policy;
/// use locker_domain::uplink::{check_floors, policy_to_config, MAX_FREE_ATTEMPTS};
///
/// let mut config = policy_to_config(&Policy::default());
/// assert!(check_floors(&config).is_ok());
/// config.lockout.free_attempts = u8::MAX; // lockout off, in effect
/// assert!(check_floors(&config).is_err());
/// config.lockout.free_attempts = MAX_FREE_ATTEMPTS;
/// assert!(check_floors(&config).is_ok());
/// ```
///
/// # Errors
/// [`InvalidPolicy`] naming the first limit below its floor.
pub fn check_floors(config: &PolicyConfig) -> Result<(), InvalidPolicy> {
    let lockout = &config.lockout;
    let why = if config.code_digits < MIN_CODE_DIGITS {
        "pickup codes set from the backend have at least 6 digits"
    } else if lockout.free_attempts > MAX_FREE_ATTEMPTS {
        "a keypad takes at most 5 wrong codes before it locks"
    } else if lockout.base_lockout_ms < MIN_BASE_LOCKOUT {
        "the first keypad lockout lasts at least 10 s"
    } else if lockout.max_lockout_ms < MIN_MAX_LOCKOUT {
        "the longest keypad lockout lasts at least 10 minutes"
    } else if lockout.spike_threshold > MAX_SPIKE_THRESHOLD {
        "more than 100 wrong codes in the spike window always raise a security event"
    } else if lockout.spike_window_ms < MIN_SPIKE_WINDOW {
        "wrong codes are counted over at least one minute"
    } else {
        return Ok(());
    };
    Err(InvalidPolicy(why))
}
