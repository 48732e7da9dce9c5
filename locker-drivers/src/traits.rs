//! What the rest of the stack asks of a compartment's hardware, whoever made it.
//!
//! Firmware on a node and the gateway talk to locks, door switches, presence
//! sensors, UPSes and cameras only through these traits, so a GPIO solenoid,
//! a Kerong board channel and a simulated compartment are interchangeable.
//! Every method is blocking and does one bounded thing: the caller owns the
//! loop and the clock (with feature `async`, the `asynch` module holds the
//! same traits with `async` methods). Readings are `locker_proto` vocabulary; no trait
//! decides policy (whether a parcel is "delivered" is the bank's business).

use locker_proto::{DoorState, LockState, PowerStatus, Presence, Temperature};

/// A compartment lock released by a pulse (solenoid or motor latch).
pub trait Lock {
    /// What can go wrong driving this lock.
    type Error;

    /// Releases the latch with one pulse of the lock's configured length.
    ///
    /// The door can be pulled open while the latch is released; the latch
    /// catches again by itself when the door is shut. Calling this twice
    /// pulses twice: de-duplicating retransmitted commands is the link
    /// layer's job, not the driver's.
    fn unlock(&mut self) -> Result<(), Self::Error>;

    /// The latch as its feedback contact reports it, or
    /// [`LockState::Unknown`] if the lock has none.
    fn lock_state(&mut self) -> Result<LockState, Self::Error>;
}

/// A compartment's door switch.
pub trait DoorSensor {
    /// What can go wrong reading the switch.
    type Error;

    /// Whether the door is open or closed right now (not debounced: the
    /// node's controller debounces over time).
    fn door_state(&mut self) -> Result<DoorState, Self::Error>;
}

/// A sensor that tells whether a compartment holds an item.
///
/// The sensor gives a raw [`reading`](Self::reading) (load-cell counts, IR
/// reflectance, beams interrupted); [`calibrate_empty`](Self::calibrate_empty)
/// records the empty compartment's reading as the baseline; an item is
/// present when the reading rises at least [`threshold`](Self::threshold)
/// above the baseline. [`presence`](Self::presence) returns the decision with
/// its evidence, so a log shows why a compartment was judged occupied.
pub trait PresenceSensor {
    /// What can go wrong reading the sensor.
    type Error;

    /// One raw reading, before taring.
    fn reading(&mut self) -> Result<i32, Self::Error>;

    /// Records the current reading as the empty baseline and returns it.
    /// Call only when the compartment is known to be empty (door open,
    /// staff-confirmed, after a verified pickup).
    fn calibrate_empty(&mut self) -> Result<i32, Self::Error>;

    /// The empty baseline in force.
    fn baseline(&self) -> i32;

    /// How far above the baseline a reading must be to count as an item.
    fn threshold(&self) -> i32;

    /// Reads the sensor and decides: occupied when the tared reading reaches
    /// the threshold.
    fn presence(&mut self) -> Result<Presence, Self::Error> {
        let reading = self.reading()?;
        Ok(decide_presence(reading, self.baseline(), self.threshold()))
    }
}

/// The presence decision every sensor makes, blocking or async: occupied
/// when `reading`, tared by `baseline`, reaches `threshold`.
pub(crate) fn decide_presence(reading: i32, baseline: i32, threshold: i32) -> Presence {
    let tared = reading.saturating_sub(baseline);
    if tared >= threshold {
        Presence::occupied(tared, threshold)
    } else {
        Presence::empty(tared, threshold)
    }
}

/// The bank's uninterruptible power supply.
pub trait Ups {
    /// What can go wrong asking the UPS.
    type Error;

    /// Where the power comes from now, and how long the battery will last.
    fn power_status(&mut self) -> Result<PowerStatus, Self::Error>;
}

/// A camera watching the bank, triggered on events worth keeping.
pub trait Camera {
    /// What can go wrong triggering the camera.
    type Error;

    /// Takes one snapshot, filed under `reference`: the bank's, from its
    /// snapshot request, already in the alert and the audit record that
    /// asked for it (one reference for the picture everywhere). A camera
    /// that can name its pictures names it so; one that cannot (an alarm
    /// input) leaves the link to the recorder's log, matched by time.
    ///
    /// # Errors
    /// The capture failed: report it to the bank
    /// (`Gateway::handle_snapshot_result` in `locker-domain`), which records
    /// the failure in the audit trail under the same reference.
    fn capture(&mut self, reason: CaptureReason, reference: SnapshotRef)
    -> Result<(), Self::Error>;
}

/// A thermometer (refrigerated compartments, electronics bay).
pub trait TemperatureSensor {
    /// What can go wrong reading the sensor.
    type Error;

    /// The temperature now.
    fn temperature(&mut self) -> Result<Temperature, Self::Error>;
}

/// Why a snapshot is taken; recorders may file or keep them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CaptureReason {
    /// A door opened without a command.
    ForcedEntry,
    /// A courier deposited a parcel.
    Deposit,
    /// A resident collected a parcel.
    Pickup,
    /// Staff or the backend asked for one.
    Requested,
}

/// The reference of one snapshot, as the bank assigns it and its alerts,
/// audit records and the uplink carry it (the vocabulary's one type).
pub use locker_proto::SnapshotRef;
