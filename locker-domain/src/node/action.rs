//! What a node asks its firmware to do with the hardware and the flash.

use locker_proto::{Channel, Indicator, RebootKind};

#[cfg(feature = "auth")]
use locker_proto::auth::NodeAuthRecord;

use crate::controller::{self, PulseDuration};

/// Something the firmware must do, from [`Node::poll_action`](super::Node::poll_action).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Action {
    /// Energise a lock for `duration`, then release it. Only ever after the
    /// answer to the unlock has been handed out, so a blocking pulse never
    /// keeps the master waiting.
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
    /// [`Node::save_controller`](super::Node::save_controller)'s bytes to
    /// non-volatile memory, and hand them to
    /// [`Node::restore_controller`](super::Node::restore_controller) after
    /// the next start. Comes before the answer that says it is done.
    PersistController,
    /// Write [`NodeAuthRecord::to_bytes`] to non-volatile memory, then
    /// confirm with [`Node::persisted`](super::Node::persisted). Until then
    /// the node sends nothing and asks for nothing else; if the write
    /// fails, do not confirm: the record is offered again after the next
    /// frame or timeout.
    #[cfg(feature = "auth")]
    PersistAuth(NodeAuthRecord),
    /// Restart the node. Only ever after the acknowledgement has been handed
    /// out by [`Node::poll_transmit`](super::Node::poll_transmit), and after
    /// any pending [`Action::PersistController`].
    Reboot(RebootKind),
}

impl From<controller::Action> for Action {
    fn from(action: controller::Action) -> Self {
        match action {
            controller::Action::PulseLock { channel, duration } => {
                Action::PulseLock { channel, duration }
            }
            controller::Action::SetIndicator { channel, indicator } => {
                Action::SetIndicator { channel, indicator }
            }
            controller::Action::Persist => Action::PersistController,
            controller::Action::Reboot(kind) => Action::Reboot(kind),
        }
    }
}
