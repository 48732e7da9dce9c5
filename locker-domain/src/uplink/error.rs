//! What an uplink call can refuse.

use crate::bank::Queue;

/// Why the [`Uplink`](super::Uplink) did nothing. Its state is unchanged
/// whenever one of these is returned; call again once the cause is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UplinkError {
    /// Upward messages or actions wait: there is no room for what this
    /// call produces.
    #[error(
        "the uplink's output is full: drain poll_upward and poll_action into the outbound queue \
         and call again"
    )]
    OutputFull,
    /// The bank's output queue is full, so the request could not be carried out.
    #[error(
        "the bank's {0:?} output queue is full: drain the bank's poll_* outputs and call again"
    )]
    BankBusy(Queue),
    /// The bank id is longer than 32 bytes.
    #[error("the bank id is longer than 32 bytes: choose a shorter name")]
    BankIdTooLong,
}
