//! A simulated camera that remembers what it was asked to capture.

use locker_proto::time::Instant;

use super::SimError;
use crate::{Camera, CaptureReason, SnapshotRef};

/// One snapshot the simulated camera took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SimSnapshot {
    /// The reference it was filed under.
    pub reference: SnapshotRef,
    /// Why it was taken.
    pub reason: CaptureReason,
    /// When (the camera's time at the capture).
    pub at: Instant,
}

/// A simulated camera: each capture is filed under the reference given and
/// remembered as the last snapshot.
///
/// ```
/// use locker_drivers::sim::SimCamera;
/// use locker_drivers::{Camera, CaptureReason, SnapshotRef};
/// use locker_proto::time::Instant;
///
/// let mut cam = SimCamera::new(Instant::ZERO);
/// cam.advance_to(Instant::from_secs(5));
/// cam.capture(CaptureReason::ForcedEntry, SnapshotRef(100))?;
/// cam.capture(CaptureReason::Pickup, SnapshotRef(101))?;
/// assert_eq!(cam.captures(), 2);
/// let last = cam.last_snapshot().unwrap();
/// assert_eq!((last.reference, last.reason), (SnapshotRef(101), CaptureReason::Pickup));
/// # Ok::<(), locker_drivers::sim::SimError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SimCamera {
    now: Instant,
    captures: u32,
    last: Option<SimSnapshot>,
    failed: bool,
}

impl SimCamera {
    /// A camera at `now`.
    pub fn new(now: Instant) -> Self {
        SimCamera {
            now,
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

    fn capture(&mut self, reason: CaptureReason, reference: SnapshotRef) -> Result<(), SimError> {
        if self.failed {
            return Err(SimError::NoAnswer);
        }
        self.captures = self.captures.saturating_add(1);
        self.last = Some(SimSnapshot {
            reference,
            reason,
            at: self.now,
        });
        Ok(())
    }
}
