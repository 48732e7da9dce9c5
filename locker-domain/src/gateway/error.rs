//! What a gateway call can refuse.

use locker_proto::link::LinkError;

use crate::bank::BankError;
use crate::uplink::UplinkError;

/// Why the [`Gateway`](super::Gateway) did nothing. Its state is unchanged
/// whenever one of these is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The bank refused.
    #[error(transparent)]
    Bank(#[from] BankError),
    /// The uplink refused (its output, or the bank's, is full: drain
    /// [`Gateway::poll`](super::Gateway::poll) and call again).
    #[error(transparent)]
    Uplink(#[from] UplinkError),
    /// The bus master refused a node of the layout.
    #[error("the bus cannot serve the bank's layout: {0}")]
    Link(#[from] LinkError),
    /// A backend message came in, but this gateway was started without an
    /// uplink ([`Gateway::start_uplink`](super::Gateway::start_uplink)).
    #[error("this gateway has no uplink: start it with start_uplink to take backend messages")]
    NoUplink,
}
