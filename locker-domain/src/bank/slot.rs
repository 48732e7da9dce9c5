//! What the bank knows about one compartment at run time: its stage, its
//! parcel, the last sensor readings and its two timers.

use locker_proto::DoorState;
use locker_proto::time::Instant;

use super::audit::ServiceReason;
use super::cold::ColdWatch;
use super::parcel::{Parcel, Stage};

/// One compartment's books (persisted as a `SlotRecord`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) stage: Stage,
    pub(crate) parcel: Option<Parcel>,
    /// Last door state reported.
    pub(crate) door: DoorState,
    /// Last presence decision reported; `None` until the first report.
    pub(crate) occupied: Option<bool>,
    pub(crate) out_of_service: Option<ServiceReason>,
    /// Unlock confirmation, door-ajar limit or presence settling, by stage.
    pub(crate) door_timer: Option<Instant>,
    /// Reservation hold or reminder, escalation and expiry, by stage.
    pub(crate) parcel_timer: Option<Instant>,
    /// The door-ajar alert of the current opening was raised.
    pub(crate) ajar_reported: bool,
    /// The temperature watch of a refrigerated compartment (not persisted).
    pub(crate) cold: ColdWatch,
}

impl Slot {
    pub(crate) const EMPTY: Slot = Slot {
        stage: Stage::Free,
        parcel: None,
        door: DoorState::Closed,
        occupied: None,
        out_of_service: None,
        door_timer: None,
        parcel_timer: None,
        ajar_reported: false,
        cold: ColdWatch::FRESH,
    };

    /// The earliest of the two timers: the compartment's key in the timer heap.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match (self.door_timer, self.parcel_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a new parcel may be placed here.
    pub(crate) fn allocatable(&self) -> bool {
        // A fridge out of range or silent takes no parcel until it is
        // back (see `cold`).
        self.stage == Stage::Free
            && self.out_of_service.is_none()
            && self.door == DoorState::Closed
            && !self.cold.alarmed()
    }
}
