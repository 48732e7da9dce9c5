//! What the bank's calls answer: a reservation, the outcome of a typed
//! code, how a node answered a command, and a compartment's books as seen
//! from outside.

use locker_proto::time::Instant;
use locker_proto::{CompartmentId, DoorState, NackReason};

use super::audit::ServiceReason;
use super::codes::PickupCode;
use super::parcel::{ParcelId, Stage};

/// A compartment held for a parcel.
///
/// Equality compares the code in constant time.
#[derive(Clone, Copy, Debug)]
pub struct Reservation {
    /// The compartment to send the courier to.
    pub compartment: CompartmentId,
    /// The parcel's number in this bank.
    pub parcel: ParcelId,
    /// The pickup code the bank drew ([`Bank::reserve`](super::Bank::reserve)), handed out this
    /// once: keep it for the collector's message when the deposit is
    /// verified ([`NotificationKind::ParcelReady`](super::NotificationKind::ParcelReady)). The bank keeps only its
    /// hash. `None` when the backend supplied the code's hash.
    pub code: Option<PickupCode>,
}

impl PartialEq for Reservation {
    fn eq(&self, other: &Self) -> bool {
        let same_code = match (&self.code, &other.code) {
            (Some(a), Some(b)) => a.ct_eq(b),
            (None, None) => true,
            _ => false,
        };
        self.compartment == other.compartment && self.parcel == other.parcel && same_code
    }
}

impl Eq for Reservation {}

/// What a typed code led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeOutcome {
    /// The code is right; this compartment is being unlocked.
    Opening(CompartmentId),
    /// The code opens nothing. The attempt was counted (and audited).
    Rejected {
        /// Consecutive wrong codes at this keypad.
        failures: u16,
        /// When the keypad accepts codes again, if it is now locked.
        locked_until: Option<Instant>,
    },
    /// The code is right, but its parcel expired: it is (or soon will be)
    /// at the counter. Not counted as a wrong code; audited
    /// ([`AuditEvent::CodeForCounterParcel`](super::AuditEvent::CodeForCounterParcel)).
    CollectAtCounter,
}

/// How the node answered a command, as the link layer found out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Carried out.
    Acked,
    /// Refused.
    Nacked(NackReason),
    /// Sent, but no answer after the link layer's retries: the node may
    /// have carried it out (its answers lost) or never heard it. For an
    /// unlock, the bank asks the node's status before it sends another.
    Failed,
    /// Never sent (the node was lost): the node did not carry it out.
    NotSent,
}

/// What the books say about one compartment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompartmentView {
    /// The compartment.
    pub id: CompartmentId,
    /// Its stage.
    pub stage: Stage,
    /// The parcel reserved for, in, or leaving it.
    pub parcel: Option<ParcelId>,
    /// The last door state reported.
    pub door: DoorState,
    /// The last presence decision reported.
    pub occupied: Option<bool>,
    /// Why it is out of service, if it is.
    pub out_of_service: Option<ServiceReason>,
}
