//! What an uplink call can refuse.

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
    /// The bank's outputs of an earlier call wait, so the request could not
    /// be carried out.
    #[error("the bank's outputs are waiting: drain the bank's poll and call again")]
    BankBusy,
    /// The bank id is longer than 32 bytes.
    #[error("the bank id is longer than 32 bytes: choose a shorter name")]
    BankIdTooLong,
}
