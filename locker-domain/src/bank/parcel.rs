//! A parcel's life in a compartment: the stages and the door sessions.

use locker_proto::time::Instant;
use serde::{Deserialize, Serialize};

use super::audit::Actor;
use super::codes::CodeHash;

/// A parcel's number within the bank, assigned at reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParcelId(pub u32);

/// Delivery (courier deposits, recipient collects) or return (resident drops
/// off, courier collects): the same machine with the roles swapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParcelKind {
    /// Courier deposits, recipient collects.
    Delivery,
    /// Resident drops off, courier collects.
    Return,
}

impl ParcelKind {
    /// Who puts the parcel in.
    pub const fn depositor(self) -> Actor {
        match self {
            ParcelKind::Delivery => Actor::Courier,
            ParcelKind::Return => Actor::Recipient,
        }
    }

    /// Who takes it out, and receives the pickup code.
    pub const fn collector(self) -> Actor {
        match self {
            ParcelKind::Delivery => Actor::Recipient,
            ParcelKind::Return => Actor::Courier,
        }
    }
}

/// Why a door is being opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Purpose {
    /// To put a reserved parcel in.
    Deposit,
    /// To take a stored parcel out (its collector, or an audited override).
    Pickup,
    /// Staff removing an expired parcel.
    Removal,
    /// Staff looking into an empty compartment.
    Inspection,
}

/// Where a door session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DoorPhase {
    /// Unlock sent; waiting for the door to open.
    Unlocking {
        /// 0 for the first attempt, 1 for the retry.
        attempt: u8,
    },
    /// The door is open.
    Open,
    /// The door closed; waiting for the presence sensor to settle.
    Verifying,
}

/// What a compartment is doing, as the books say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stage {
    /// Empty and available.
    Free,
    /// Held for a parcel that has not been deposited.
    Reserved,
    /// A door session is running.
    Door {
        /// Why the door is open.
        purpose: Purpose,
        /// How far the session is.
        phase: DoorPhase,
        /// Who asked for it.
        by: Actor,
    },
    /// A verified parcel waits for its collector.
    Stored,
    /// The parcel outstayed its welcome; staff must remove it.
    Expired,
}

impl Stage {
    /// Whether the books say a parcel is (or may be, mid-session) inside.
    pub const fn holds_parcel(self) -> bool {
        matches!(
            self,
            Stage::Stored
                | Stage::Expired
                | Stage::Door {
                    purpose: Purpose::Pickup | Purpose::Removal,
                    ..
                }
        )
    }
}

/// What the bank knows about the parcel in (or reserved for) a compartment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parcel {
    pub(crate) id: ParcelId,
    pub(crate) kind: ParcelKind,
    /// The pickup code's keyed hash; the code itself is never kept.
    pub(crate) code: CodeHash,
    /// When reminder, escalation and expiry are counted from: the deposit,
    /// moved later by extensions.
    pub(crate) clock_base: Instant,
    pub(crate) deposited_at: Option<Instant>,
    /// Reminders and escalations sent so far (0, 1, 2).
    pub(crate) notices: u8,
}
