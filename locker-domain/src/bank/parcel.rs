//! A parcel's life in a compartment: the stages and the door sessions.

use locker_proto::time::Instant;
use serde::{Deserialize, Serialize};

// The bank's words, shared with the uplink: defined once in the vocabulary.
pub use locker_proto::{ParcelKind, Purpose};

use super::audit::Actor;
use super::codes::CodeHash;
use super::cold::ColdChain;

/// A parcel's number within the bank, assigned at reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParcelId(pub u32);

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
    /// Pickups by code that ended with the parcel still inside.
    pub(crate) reopens: u8,
    /// Reserved as perishable: perishable deadlines, a cold chain.
    pub(crate) perishable: bool,
    /// Its temperatures while inside (perishable parcels only).
    pub(crate) cold: ColdChain,
}
