//! A simulated camera that remembers what it was asked to capture.

use locker_proto::time::Instant;

use super::SimError;
use crate::{Camera, CaptureReason, SnapshotRef};

/// One snapshot the simulated camera took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SimSnapshot {
    /// The reference returned to the caller.
    pub reference: SnapshotRef,
    /// Why it was taken.
    pub reason: CaptureReason,
    /// When (the camera's time at the capture).
    pub at: Instant,
}

/// A simulated camera: each capture returns the next reference, counting
/// up from the first one given, and is remembered as the last snapshot.
///
/// ```
/// use locker_drivers::sim::SimCamera;
/// use locker_drivers::{Camera, CaptureReason, SnapshotRef};
/// use locker_proto::time::Instant;
///
/// let mut cam = SimCamera::new(SnapshotRef(100), Instant::ZERO);
/// cam.advance_to(Instant::from_secs(5));
/// assert_eq!(cam.capture(CaptureReason::ForcedEntry)?, SnapshotRef(100));
/// assert_eq!(cam.capture(CaptureReason::Pickup)?, SnapshotRef(101));
/// assert_eq!(cam.captures(), 2);
/// assert_eq!(cam.last_snapshot().map(|s| s.reason), Some(CaptureReason::Pickup));
/// # Ok::<(), locker_drivers::sim::SimError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SimCamera {
    now: Instant,
    next: SnapshotRef,
    captures: u32,
    last: Option<SimSnapshot>,
    failed: bool,
}

impl SimCamera {
    /// A camera at `now` whose first snapshot will be `first`.
    pub fn new(first: SnapshotRef, now: Instant) -> Self {
        SimCamera {
            now,
            next: first,
            captures: 0,
            last: None,
            failed: false,
        }
    }

    /// Moves the camera's time to `now` (ignored if earlier).
    pub fn advance_to(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// How many snapshots were taken.
    pub fn captures(&self) -> u32 {
        self.captures
    }

    /// The last snapshot taken, if any.
    pub fn last_snapshot(&self) -> Option<SimSnapshot> {
        self.last
    }

    /// A dead camera: captures fail with [`SimError::NoAnswer`].
    pub fn set_failed(&mut self, failed: bool) {
        self.failed = failed;
    }
}

impl Camera for SimCamera {
    type Error = SimError;

    fn capture(&mut self, reason: CaptureReason) -> Result<SnapshotRef, SimError> {
        if self.failed {
            return Err(SimError::NoAnswer);
        }
        let reference = self.next;
        self.next = SnapshotRef(reference.0.wrapping_add(1));
        self.captures = self.captures.saturating_add(1);
        self.last = Some(SimSnapshot {
            reference,
            reason,
            at: self.now,
        });
        Ok(reference)
    }
}
