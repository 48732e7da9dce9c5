//! What a node asks its firmware to do with the hardware and the flash.

#[cfg(feature = "auth")]
use locker_proto::auth::NodeAuthRecord;

use crate::controller;

/// Something the firmware must do, from [`Node::poll_action`](super::Node::poll_action).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Action {
    /// What the controller asks for, at the moment the node allows it:
    /// - [`PulseLock`](controller::Action::PulseLock),
    ///   [`SetIndicator`](controller::Action::SetIndicator) and
    ///   [`Reboot`](controller::Action::Reboot) only once the answer to the
    ///   command has been handed out by
    ///   [`Node::poll_transmit`](super::Node::poll_transmit), so a blocking
    ///   pulse never keeps the master waiting and a reboot never swallows
    ///   its acknowledgement;
    /// - [`Persist`](controller::Action::Persist) before the answer that
    ///   says the configuration or calibration is done: write
    ///   [`Node::save_controller`](super::Node::save_controller)'s bytes to
    ///   non-volatile memory, and hand them to
    ///   [`Node::restore_controller`](super::Node::restore_controller) after
    ///   the next start.
    Controller(controller::Action),
    /// Write [`NodeAuthRecord::to_bytes`] to non-volatile memory, then
    /// confirm with [`Node::persisted`](super::Node::persisted). Until then
    /// the node sends nothing and asks for nothing else; if the write
    /// fails, do not confirm: the record is offered again after the next
    /// frame or [`Node::handle_timeout`](super::Node::handle_timeout).
    #[cfg(feature = "auth")]
    PersistAuth(NodeAuthRecord),
}
