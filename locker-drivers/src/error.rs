//! The error every embedded-hal driver in this crate returns.

use locker_proto::time::Duration;

/// What went wrong while driving a lock, sensor, gauge or camera trigger.
///
/// `E` is the error of the pin or bus the driver owns, carried unchanged so
/// the caller can ask its HAL what happened (for embedded-hal errors,
/// `.kind()` gives a portable classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// The pin or bus refused the operation.
    #[error("the pin or bus failed: {0:?}; check wiring and the HAL's error")]
    Bus(E),
    /// A lock pulse longer than the coil's limit was asked for. Nothing was driven.
    #[error(
        "refused a {requested_ms} ms lock pulse: the coil may be energised for at most {max_ms} ms"
    )]
    PulseTooLong {
        /// The pulse that was asked for, in milliseconds.
        requested_ms: u64,
        /// The hard upper bound, in milliseconds.
        max_ms: u64,
    },
    /// The lock output was switched on but could not be switched off again:
    /// the coil may still be energised. Cut its power and inspect the driver stage.
    #[error(
        "the lock coil could not be switched off after the pulse: cut its power and inspect it"
    )]
    CoilStuckOn(E),
    /// The HX711 has not finished a conversion yet (its data line is high).
    /// Read again later: it converts 10 or 80 times a second.
    #[error(
        "the load cell converter has no reading ready yet; try again after its next conversion"
    )]
    NotReady,
}

impl<E> Error<E> {
    /// The pulse-length error for `requested`, against `max`.
    pub(crate) fn pulse_too_long(requested: Duration, max: Duration) -> Self {
        Error::PulseTooLong {
            requested_ms: requested.as_millis(),
            max_ms: max.as_millis(),
        }
    }
}
