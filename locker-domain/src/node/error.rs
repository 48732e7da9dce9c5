//! What can go wrong when feeding a node or taking back its stored state.

use crate::controller::ControllerError;

/// Why a [`Node`](super::Node) refused an input or could not save or restore
/// its state.
///
/// Every error leaves the node exactly as it was before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NodeError {
    /// The controller refused a sample, or its stored bytes (unknown
    /// channel, corrupt flash page, buffer too small…).
    #[error(transparent)]
    Controller(#[from] ControllerError),
    /// [`Node::persisted`](super::Node::persisted) confirmed a record the
    /// node did not hand out in [`Action::PersistAuth`](super::Action::PersistAuth),
    /// or one it no longer waits for: nothing is taken as stored.
    #[cfg(feature = "auth")]
    #[error(
        "confirmed an authentication record the node is not waiting for: confirm exactly the record of the last Action::PersistAuth"
    )]
    AuthRecordNotRequested,
}
