//! Messages for couriers, recipients and staff.

use locker_proto::CompartmentId;
use locker_proto::time::Instant;

use super::audit::Actor;
use super::codes::PickupCode;
use super::parcel::ParcelId;

/// What to tell someone.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum NotificationKind {
    /// The deposit is verified: here is the code to collect it (sent once).
    PickupCode(PickupCode),
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
#[derive(Clone, Copy, Debug)]
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
