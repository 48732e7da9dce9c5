//! A door switch (reed contact or microswitch) on one input pin.
//!
//! # Wiring
//!
//! The usual wiring is a reed contact between the pin and ground with the
//! pin's pull-up enabled: the magnet on the door closes the contact, so a
//! **closed door reads low**. That is why [`DoorSwitch::new`] takes the
//! level that means "closed": pass [`PinState::Low`] for this wiring, and
//! [`PinState::High`] for a normally-closed switch to ground (which opens,
//! and reads high through the pull-up, when the door is shut) or an
//! active-high sensor module. A broken wire then reads as an open door, the
//! safe failure for a locker.
//!
//! With feature `async`, a pin that can also wait for an edge
//! (`embedded_hal_async::digital::Wait`, as Embassy's `ExtiInput`) makes the
//! switch an `asynch::DoorSensor` whose `door_changed` sleeps until the door
//! moves.
//!
//! # Example
//!
//! ```
//! use embedded_hal::digital::PinState;
//! use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
//! use locker_drivers::{DoorSensor, door::DoorSwitch};
//! use locker_proto::DoorState;
//!
//! let pin = PinMock::new(&[Transaction::get(State::Low), Transaction::get(State::High)]);
//! let mut door = DoorSwitch::new(pin, PinState::Low);
//! assert_eq!(door.door_state()?, DoorState::Closed);
//! assert_eq!(door.door_state()?, DoorState::Open);
//! door.release().done();
//! # Ok::<(), locker_drivers::Error<embedded_hal_mock::eh1::MockError>>(())
//! ```

use embedded_hal::digital::{InputPin, PinState};
use locker_proto::DoorState;

use crate::{DoorSensor, Error};

/// A door switch on an input pin, with configurable polarity.
#[derive(Debug)]
pub struct DoorSwitch<I> {
    pin: I,
    closed_level: PinState,
}

impl<I: InputPin> DoorSwitch<I> {
    /// A switch that reads `closed_level` while the door is shut.
    pub fn new(pin: I, closed_level: PinState) -> Self {
        DoorSwitch { pin, closed_level }
    }

    /// Gives the pin back.
    pub fn release(self) -> I {
        self.pin
    }
}

impl<I: InputPin> DoorSwitch<I> {
    /// The door as the pin reads now: the one decision the blocking and
    /// async sensors share.
    fn read(&mut self) -> Result<DoorState, Error<I::Error>> {
        let high = self.pin.is_high().map_err(Error::Bus)?;
        let closed = high == (self.closed_level == PinState::High);
        Ok(if closed {
            DoorState::Closed
        } else {
            DoorState::Open
        })
    }
}

impl<I: InputPin> DoorSensor for DoorSwitch<I> {
    type Error = Error<I::Error>;

    fn door_state(&mut self) -> Result<DoorState, Self::Error> {
        self.read()
    }
}

/// Reads the pin as the blocking sensor does; waits for a change on the
/// pin's edge interrupt (`Wait::wait_for_any_edge`) instead of polling.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl<I: InputPin + embedded_hal_async::digital::Wait> crate::asynch::DoorSensor for DoorSwitch<I> {
    type Error = Error<I::Error>;

    async fn door_state(&mut self) -> Result<DoorState, Self::Error> {
        self.read()
    }

    async fn door_changed(&mut self) -> Result<DoorState, Self::Error> {
        self.pin.wait_for_any_edge().await.map_err(Error::Bus)?;
        self.read()
    }
}
