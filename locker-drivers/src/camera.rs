//! A camera (or video recorder) triggered by an output pin, with snapshot
//! references counted by the driver.
//!
//! # Wiring
//!
//! The pin drives the camera's alarm input, usually through an
//! optocoupler or a transistor pulling the input to ground: say which
//! level triggers. The driver holds it for the trigger pulse (default
//! 100 ms, long enough for common alarm inputs' debouncing), then
//! releases it.
//!
//! # Snapshot references
//!
//! The camera cannot tell the driver what it named the picture, so the
//! driver counts: each trigger returns the next [`SnapshotRef`], starting
//! from the one given to [`CameraTrigger::new`]. Persist
//! [`next_ref`](CameraTrigger::next_ref) and pass it back after a restart so
//! references stay unique; the recorder's log, matched by time, links a
//! reference to its picture.
//!
//! # Example
//!
//! ```
//! use embedded_hal::digital::PinState;
//! use embedded_hal_mock::eh1::delay::NoopDelay;
//! use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
//! use locker_drivers::camera::CameraTrigger;
//! use locker_drivers::{Camera, CaptureReason, SnapshotRef};
//!
//! let pin = PinMock::new(&[
//!     Transaction::set(State::High), // idle
//!     Transaction::set(State::Low),  // trigger…
//!     Transaction::set(State::High), // …release
//! ]);
//! let mut cam = CameraTrigger::new(pin, NoopDelay::new(), PinState::Low, SnapshotRef(41))?;
//! assert_eq!(cam.capture(CaptureReason::ForcedEntry)?, SnapshotRef(41));
//! assert_eq!(cam.next_ref(), SnapshotRef(42));
//! cam.release().0.done();
//! # Ok::<(), locker_drivers::Error<embedded_hal_mock::eh1::MockError>>(())
//! ```

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{OutputPin, PinState};

use crate::{Camera, CaptureReason, Error, SnapshotRef};

/// How long the trigger is held, in milliseconds.
pub const TRIGGER_PULSE_MS: u32 = 100;

/// A camera triggered through an output pin.
#[derive(Debug)]
pub struct CameraTrigger<P, D> {
    pin: P,
    delay: D,
    active: PinState,
    next: SnapshotRef,
}

impl<P: OutputPin, D: DelayNs> CameraTrigger<P, D> {
    /// A trigger that is active at `active`, whose first snapshot will be
    /// `first`. Sets the pin idle at once.
    pub fn new(
        mut pin: P,
        delay: D,
        active: PinState,
        first: SnapshotRef,
    ) -> Result<Self, Error<P::Error>> {
        pin.set_state(!active).map_err(Error::Bus)?;
        Ok(CameraTrigger {
            pin,
            delay,
            active,
            next: first,
        })
    }

    /// The reference the next snapshot will get (persist it across restarts).
    pub fn next_ref(&self) -> SnapshotRef {
        self.next
    }

    /// Gives back the pin and the delay.
    pub fn release(self) -> (P, D) {
        (self.pin, self.delay)
    }
}

impl<P: OutputPin, D: DelayNs> Camera for CameraTrigger<P, D> {
    type Error = Error<P::Error>;

    /// Triggers the camera. The reason is not signalled on the pin; the
    /// caller records it with the returned reference. A failed trigger
    /// consumes no reference.
    fn capture(&mut self, _reason: CaptureReason) -> Result<SnapshotRef, Self::Error> {
        self.pin.set_state(self.active).map_err(Error::Bus)?;
        self.delay.delay_ms(TRIGGER_PULSE_MS);
        self.pin.set_state(!self.active).map_err(Error::Bus)?;
        let taken = self.next;
        self.next = SnapshotRef(taken.0.wrapping_add(1));
        Ok(taken)
    }
}
