//! What a bank call can refuse, in words a caller can act on.

use locker_proto::time::Instant;
use locker_proto::{Channel, CompartmentId, NodeAddr};

use super::allocation::AllocationError;
use super::codes::CodeError;
use super::parcel::Stage;
use super::remote::RemoteOpenError;
use super::token::TokenError;

/// Why a bank takes no new parcels for a while
/// ([`Bank::set_deposits_closed`](super::Bank::set_deposits_closed)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DepositsClosed {
    /// The backend asked for a gateway reset: door sessions under way
    /// finish, then the gateway restarts.
    #[error("a restart of the gateway is under way")]
    Resetting,
    /// The backend made the whole bank unavailable.
    #[error("the operator made the bank unavailable")]
    Unavailable,
}

/// Why the bank refused an input. The bank's books are unchanged whenever one
/// of these is returned. The security refusals ([`BankError::RemoteOpen`],
/// and [`BankError::TokenRefused`] for a well-formed token) are the one
/// kind of refusal that leaves a trace: they open nothing and change no
/// parcel, but they are audited, counted, and may raise a security alert,
/// lock remote opens or lock the reader, because an attack must be seen.
/// A new parcel refused by [`Bank::reserve`](super::Bank::reserve) or
/// [`Bank::reserve_with_code_hash`](super::Bank::reserve_with_code_hash)
/// ([`BankError::NoFit`], [`BankError::DepositsClosed`],
/// [`BankError::ShuttingDown`]) changes no books either, but is counted
/// in the bank's [`Analytics`](super::Analytics) by its
/// [`Refusal`](super::Refusal) reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BankError {
    /// No compartment has this number.
    #[error("{0} is not in this bank's layout")]
    UnknownCompartment(CompartmentId),
    /// No compartment is wired to this node channel.
    #[error("no compartment is wired to {node} {channel}: check the layout against the wiring")]
    UnknownChannel {
        /// The node.
        node: NodeAddr,
        /// The channel.
        channel: Channel,
    },
    /// No compartment is on this node.
    #[error("{0} drives no compartment of this bank")]
    UnknownNode(NodeAddr),
    /// `now` is earlier than a time already passed in.
    #[error(
        "time went backwards: {now} is before {latest}; pass the same monotonic clock to every call"
    )]
    TimeWentBackwards {
        /// The time given.
        now: Instant,
        /// The latest time seen.
        latest: Instant,
    },
    /// The parcel's code opened its door [`MAX_REOPENS`](super::MAX_REOPENS)
    /// times with the parcel left inside; it opens no more (a keypad-attack
    /// alert was raised).
    #[error(
        "the code of {0} opened it too often with the parcel left inside: staff hand the parcel over"
    )]
    ReopenLimit(CompartmentId),
    /// Outputs of an earlier call wait in [`Bank::poll`](super::Bank::poll):
    /// nothing was done. Drain it and call again.
    #[error("outputs of an earlier call are waiting: drain the bank's poll and call again")]
    OutputsPending,
    /// No compartment for the parcel.
    #[error(transparent)]
    NoFit(#[from] AllocationError),
    /// The compartment is not in a stage where this is allowed.
    #[error("{compartment} is {stage:?}, where this is not allowed")]
    WrongStage {
        /// The compartment.
        compartment: CompartmentId,
        /// Its stage.
        stage: Stage,
    },
    /// The compartment is out of service.
    #[error("{0} is out of service: staff must put it back in service first")]
    OutOfService(CompartmentId),
    /// The books say the compartment's door is open: close it first.
    #[error("the door of {0} is open: close it first")]
    DoorOpen(CompartmentId),
    /// The compartment holds an expired parcel, but no removal of it that
    /// the presence sensor disputed: there is nothing to certify (see
    /// [`Bank::certify_removal`](super::Bank::certify_removal)).
    #[error(
        "{0} has no removal the presence sensor disputed: open it for the removal first (staff open)"
    )]
    NoDisputedRemoval(CompartmentId),
    /// A code problem: wrong length, not digits, keypad locked out or unknown.
    #[error(transparent)]
    Code(#[from] CodeError),
    /// The code matches no parcel.
    #[error("this code opens no compartment: check it and try again")]
    WrongCode,
    /// A remote open was refused for security (audited and counted).
    #[error(transparent)]
    RemoteOpen(#[from] RemoteOpenError),
    /// An offline token was refused. Well-formed tokens that are refused are
    /// audited and counted against the reader like wrong codes.
    #[error("{reason}")]
    TokenRefused {
        /// Why.
        reason: TokenError,
        /// When the reader accepts again, if this refusal locked it.
        locked_until: Option<Instant>,
    },
    /// The bank takes no new parcels right now; see [`DepositsClosed`].
    #[error("the bank takes no new parcels right now ({0}): please try again in a few minutes")]
    DepositsClosed(DepositsClosed),
    /// The power is nearly gone; only persistence and shutdown remain.
    #[error("the bank is shutting down on a critical battery: try again when power is back")]
    ShuttingDown,
    /// [`Bank::begin_incarnation`](super::Bank::begin_incarnation) was given
    /// the incarnation the bank is already in.
    #[error("the bank is already in this incarnation: draw another one")]
    SameIncarnation,
    /// The compartment's sensor last read an item: a remote re-tare would
    /// hide it.
    #[error(
        "the sensor of {0} reads an item: someone must look inside before its baseline is taken"
    )]
    SensorReadsItem(CompartmentId),
    /// A snapshot result for a reference the bank never gave out, or for a
    /// compartment not in its layout.
    #[error("{0} was never asked for by this bank")]
    UnknownSnapshot(super::SnapshotRef),
    /// A policy whose [`node_config`](super::Policy::node_config) the
    /// nodes would refuse, or that would cut unlock pulses short.
    #[error(transparent)]
    NodeConfig(#[from] super::NodeConfigError),
}
