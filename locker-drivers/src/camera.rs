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
//! The camera cannot be told what to name the picture, so the reference
//! the bank gave the snapshot ([`SnapshotRef`], in its alert and audit
//! record) is linked to the picture by the recorder's log, matched by time.
//! The driver keeps no counter of its own: one reference, the bank's.
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
//! let mut cam = CameraTrigger::new(pin, NoopDelay::new(), PinState::Low)?;
//! // The bank asked for snapshot 41 of a forced door.
//! cam.capture(CaptureReason::ForcedEntry, SnapshotRef(41))?;
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
}

impl<P: OutputPin, D: DelayNs> CameraTrigger<P, D> {
    /// A trigger that is active at `active`. Sets the pin idle at once.
    pub fn new(mut pin: P, delay: D, active: PinState) -> Result<Self, Error<P::Error>> {
        pin.set_state(!active).map_err(Error::Bus)?;
        Ok(CameraTrigger { pin, delay, active })
    }

    /// Gives back the pin and the delay.
    pub fn release(self) -> (P, D) {
        (self.pin, self.delay)
    }
}

impl<P: OutputPin, D: DelayNs> Camera for CameraTrigger<P, D> {
    type Error = Error<P::Error>;

    /// Triggers the camera. Neither the reason nor the reference can be
    /// signalled on the pin: the bank's audit record keeps both.
    fn capture(
        &mut self,
        _reason: CaptureReason,
        _reference: SnapshotRef,
    ) -> Result<(), Self::Error> {
        self.pin.set_state(self.active).map_err(Error::Bus)?;
        self.delay.delay_ms(TRIGGER_PULSE_MS);
        self.pin.set_state(!self.active).map_err(Error::Bus)?;
        Ok(())
    }
}
