//! What the controller asks the firmware to do with its hardware.

use locker_proto::{Channel, Duration, Indicator, RebootKind};

use super::config::PULSE_CEILING_MS;

/// How long to drive a lock. Only the controller makes one, and never longer
/// than the configured maximum nor than [`PULSE_CEILING_MS`]: no command, saved
/// configuration or arithmetic slip can hold a solenoid on for longer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PulseDuration(u16);

impl PulseDuration {
    /// `requested` milliseconds, cut down to `max_ms` and to the firmware ceiling.
    pub(crate) fn clamped(requested: u16, max_ms: u16) -> Self {
        PulseDuration(requested.min(max_ms).min(PULSE_CEILING_MS))
    }

    /// The pulse length in milliseconds.
    pub const fn as_millis(self) -> u16 {
        self.0
    }

    /// The pulse length as a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        Duration::from_millis(self.0 as u64)
    }
}

/// Something the firmware must do, from [`Controller::poll_action`](super::Controller::poll_action).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Action {
    /// Energise a lock for `duration`, then release it.
    PulseLock {
        /// Whose lock.
        channel: Channel,
        /// How long; never above the configured maximum.
        duration: PulseDuration,
    },
    /// Show `indicator` on a channel's LED or buzzer.
    SetIndicator {
        /// Whose indicator.
        channel: Channel,
        /// What to show.
        indicator: Indicator,
    },
    /// Configuration or calibration changed: write
    /// [`Controller::save`](super::Controller::save)'s bytes to non-volatile memory.
    Persist,
    /// Restart the node, after the acknowledgement has left the UART. Always
    /// yielded after any pending [`Action::Persist`].
    Reboot(RebootKind),
}
