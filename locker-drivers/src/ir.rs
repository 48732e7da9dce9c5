//! Infrared presence: break-beam pairs or reflective modules on input pins.
//!
//! # Wiring
//!
//! Each beam is one input pin: the receiver of a break-beam pair, or the
//! digital output of a reflective (proximity) module. Most modules pull
//! their output **low when the beam is interrupted** (an object in the way
//! or in front), with an open-collector output that needs the pin's
//! pull-up; pass the level that means "something there" to
//! [`IrPresence::new`]. Mount several beams at different heights (or across
//! the floor) so a flat envelope still interrupts one.
//!
//! # Reading
//!
//! The reading is the number of beams interrupted. Calibrating an empty
//! compartment records how many are interrupted with nothing inside (a beam
//! knocked out of alignment, a shelf bracket), and an item is present when
//! at least one more beam is interrupted than that.
//!
//! # Example
//!
//! ```
//! use embedded_hal::digital::PinState;
//! use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
//! use locker_drivers::{PresenceSensor, ir::IrPresence};
//!
//! let low_beam = PinMock::new(&[Transaction::get(State::High), Transaction::get(State::Low)]);
//! let high_beam = PinMock::new(&[Transaction::get(State::High), Transaction::get(State::High)]);
//! let mut ir = IrPresence::new([low_beam, high_beam], PinState::Low);
//! assert_eq!(ir.calibrate_empty()?, 0);
//! let seen = ir.presence()?; // a flat parcel interrupts only the low beam
//! assert!(seen.occupied);
//! assert_eq!(seen.reading, 1);
//! for mut pin in ir.release() {
//!     pin.done();
//! }
//! # Ok::<(), locker_drivers::Error<embedded_hal_mock::eh1::MockError>>(())
//! ```

use embedded_hal::digital::{InputPin, PinState};

use crate::{Error, PresenceSensor};

/// `N` infrared beams on input pins, deciding together.
#[derive(Debug)]
pub struct IrPresence<I, const N: usize> {
    beams: [I; N],
    interrupted_level: PinState,
    baseline: i32,
}

impl<I: InputPin, const N: usize> IrPresence<I, N> {
    /// Beams whose pins read `interrupted_level` when something is in the way.
    /// The baseline starts at zero (no beam interrupted when empty).
    pub fn new(beams: [I; N], interrupted_level: PinState) -> Self {
        IrPresence {
            beams,
            interrupted_level,
            baseline: 0,
        }
    }

    /// Gives the pins back.
    pub fn release(self) -> [I; N] {
        self.beams
    }
}

impl<I: InputPin, const N: usize> IrPresence<I, N> {
    /// How many beams are interrupted now.
    fn interrupted(&mut self) -> Result<i32, Error<I::Error>> {
        let want_high = self.interrupted_level == PinState::High;
        let mut interrupted = 0i32;
        for beam in &mut self.beams {
            if beam.is_high().map_err(Error::Bus)? == want_high {
                interrupted = interrupted.saturating_add(1);
            }
        }
        Ok(interrupted)
    }

    /// Takes the beams interrupted now as the empty baseline.
    fn calibrate(&mut self) -> Result<i32, Error<I::Error>> {
        let reading = self.interrupted()?;
        self.baseline = reading;
        Ok(reading)
    }
}

/// One beam more than the empty baseline is an item.
const THRESHOLD: i32 = 1;

impl<I: InputPin, const N: usize> PresenceSensor for IrPresence<I, N> {
    type Error = Error<I::Error>;

    fn reading(&mut self) -> Result<i32, Self::Error> {
        self.interrupted()
    }

    fn calibrate_empty(&mut self) -> Result<i32, Self::Error> {
        self.calibrate()
    }

    fn baseline(&self) -> i32 {
        self.baseline
    }

    fn threshold(&self) -> i32 {
        THRESHOLD
    }
}

/// The same beams for async firmware: a reading is a few pin reads and
/// never waits, so the futures complete at once.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl<I: InputPin, const N: usize> crate::asynch::PresenceSensor for IrPresence<I, N> {
    type Error = Error<I::Error>;

    async fn reading(&mut self) -> Result<i32, Self::Error> {
        self.interrupted()
    }

    async fn calibrate_empty(&mut self) -> Result<i32, Self::Error> {
        self.calibrate()
    }

    fn baseline(&self) -> i32 {
        self.baseline
    }

    fn threshold(&self) -> i32 {
        THRESHOLD
    }
}
