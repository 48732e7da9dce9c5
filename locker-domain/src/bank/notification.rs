//! Messages for couriers, recipients and staff.

use locker_proto::CompartmentId;
use locker_proto::time::Instant;
use serde::{Deserialize, Serialize};

// The bank's word for it, shared with the uplink: defined once in the vocabulary.
pub use locker_proto::NotificationKind;

use super::audit::Actor;
use super::parcel::ParcelId;

/// A message for someone about a compartment.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Notification {
    /// Who should hear it.
    pub to: Actor,
    /// Which compartment.
    pub compartment: CompartmentId,
    /// Which parcel, if one.
    pub parcel: Option<ParcelId>,
    /// What.
    pub kind: NotificationKind,
    /// When.
    pub at: Instant,
}
