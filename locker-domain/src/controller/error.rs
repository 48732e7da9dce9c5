//! What can go wrong when feeding the controller or restoring its state.

use locker_proto::Channel;

use super::config::ConfigProblem;

/// Why the controller refused an input, or could not save or restore its state.
///
/// Every error leaves the controller exactly as it was before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ControllerError {
    /// A sample or command named a channel this node does not have.
    #[error("{channel} does not exist: this node has {channels} channels (check the pin map)")]
    UnknownChannel {
        /// The channel that was named.
        channel: Channel,
        /// How many channels the node has.
        channels: u8,
    },
    /// The event queue is full; nothing was changed. Drain
    /// [`Controller::poll_event`](super::Controller::poll_event) and feed the sample again.
    #[error("controller event queue full: drain poll_event and feed the sample again")]
    EventQueueFull,
    /// A configuration value is out of range.
    #[error("invalid node configuration: {0}")]
    InvalidConfig(ConfigProblem),
    /// The buffer given to [`save`](super::Controller::save) is too small.
    #[error("persist buffer too small: {needed} bytes needed (use Controller::SAVED_LEN_MAX)")]
    BufferTooSmall {
        /// Bytes the saved state needs.
        needed: usize,
    },
    /// The stored bytes end before the saved state does (torn write?).
    #[error("saved controller state is truncated (torn write?); keeping defaults")]
    SavedStateTruncated,
    /// The stored bytes were not written by this controller (blank or foreign flash page).
    #[error("stored bytes are not a saved controller state (blank or foreign flash page)")]
    NotSavedState,
    /// The saved state is from a format version this firmware does not read.
    #[error("saved controller state has format version {0}, this firmware reads version 1")]
    UnsupportedFormat(u8),
    /// The saved state's checksum does not match: the flash page is corrupt.
    #[error("saved controller state failed its CRC check (corrupt flash?)")]
    SavedStateCorrupt,
    /// The saved state belongs to a node with a different number of channels.
    #[error("saved controller state is for {stored} channels, this node has {expected}")]
    ChannelCountMismatch {
        /// Channels in the saved state.
        stored: u8,
        /// Channels of this controller.
        expected: u8,
    },
}
