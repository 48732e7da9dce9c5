//! Messages for couriers, recipients and staff.

use locker_proto::CompartmentId;
use locker_proto::time::Instant;
use serde::{Deserialize, Serialize};

use super::audit::Actor;
use super::parcel::ParcelId;

/// What to tell someone.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NotificationKind {
    /// The deposit is verified: the parcel waits for its collector. Send
    /// them the pickup code handed out with the [`Reservation`](super::Reservation)
    /// (or the backend's own code, or an [`OfflineToken`](super::OfflineToken)):
    /// the bank keeps only the code's hash and cannot send it.
    ParcelReady,
    /// The door closed on an empty compartment: put the parcel in and close
    /// again within the deposit window.
    NoParcelDetected,
    /// The parcel is still waiting.
    Reminder,
    /// The parcel has waited long; it will be removed soon.
    Escalation,
    /// Staff: the parcel expired; remove it from the compartment.
    RemovalTask,
    /// The door closed with the parcel still inside; the code still works.
    ParcelLeftInside,
    /// Please close the door.
    CloseTheDoor,
    /// The reservation ran out before a deposit.
    ReservationExpired,
    /// The door could not be opened; use another compartment or the counter.
    DoorWouldNotOpen,
}

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
