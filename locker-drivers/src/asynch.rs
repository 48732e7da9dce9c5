//! The hardware traits with `async` methods, for firmware and gateways on an
//! async executor (Embassy and the like).
//!
//! Each trait mirrors its blocking namesake at the crate root ([`Lock`](crate::Lock),
//! [`DoorSensor`](crate::DoorSensor), [`PresenceSensor`](crate::PresenceSensor),
//! [`Ups`](crate::Ups)) and means the same: one bounded operation per call,
//! readings in `locker_proto` vocabulary, no policy. The drivers implement
//! them over `embedded-hal-async`, sharing every decision with the blocking
//! drivers: only the waiting differs.
//!
//! | driver | blocking trait | async trait, when |
//! |---|---|---|
//! | [`SolenoidLock`](crate::lock::SolenoidLock) | `Lock` | [`Lock`]: the delay is an async `DelayNs` |
//! | [`DoorSwitch`](crate::door::DoorSwitch) | `DoorSensor` | [`DoorSensor`]: the pin also implements `Wait` |
//! | [`IrPresence`](crate::ir::IrPresence) | `PresenceSensor` | [`PresenceSensor`]: any input pins |
//! | [`Hx711`](crate::hx711::Hx711) | `PresenceSensor` | [`PresenceSensor`]: the data pin also implements `Wait` |
//! | [`GaugedUps`](crate::ups::GaugedUps) | `Ups` (blocking gauge) | [`Ups`]: the gauge is a [`max17048::asynch::Max17048`](crate::max17048::asynch::Max17048) |
//!
//! The futures need no executor of their own and allocate nothing. Where
//! a type implements both a blocking and an async trait (a mock delay
//! often implements both `DelayNs`), import only the one you call.
//!
//! # Example
//!
//! ```
//! use embedded_hal::digital::PinState;
//! use embedded_hal_mock::eh1::delay::NoopDelay;
//! use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
//! use locker_drivers::asynch::Lock;
//! use locker_drivers::lock::SolenoidLock;
//! use locker_proto::time::Duration;
//!
//! let coil = PinMock::new(&[
//!     Transaction::set(State::Low),
//!     Transaction::set(State::High),
//!     Transaction::set(State::Low),
//! ]);
//! let mut lock =
//!     SolenoidLock::new(coil, NoopDelay::new(), PinState::High, Duration::from_millis(500))?;
//! embassy_futures::block_on(lock.unlock())?; // awaits the pulse, not blocking
//! lock.release().0.done();
//! # Ok::<(), locker_drivers::Error<embedded_hal_mock::eh1::MockError>>(())
//! ```

// The traits are for executors of every kind, single-threaded ones
// included; a `Send` bound on the futures would shut those out, as
// embedded-hal-async's own traits reason.
#![allow(async_fn_in_trait)]

use locker_proto::{DoorState, LockState, PowerStatus, Presence};

use crate::traits::decide_presence;

/// A compartment lock released by a pulse, awaited: see [`crate::Lock`].
pub trait Lock {
    /// What can go wrong driving this lock.
    type Error;

    /// Releases the latch with one pulse of the lock's configured length;
    /// the executor runs other tasks while the pulse lasts.
    async fn unlock(&mut self) -> Result<(), Self::Error>;

    /// The latch as its feedback contact reports it, or
    /// [`LockState::Unknown`] if the lock has none.
    async fn lock_state(&mut self) -> Result<LockState, Self::Error>;
}

/// A compartment's door switch, awaited: see [`crate::DoorSensor`].
pub trait DoorSensor {
    /// What can go wrong reading the switch.
    type Error;

    /// Whether the door is open or closed right now (not debounced).
    async fn door_state(&mut self) -> Result<DoorState, Self::Error>;

    /// Waits until the switch changes, then returns the door as read just
    /// after (not debounced: a bouncing contact may read as before; the
    /// node's controller debounces over time).
    async fn door_changed(&mut self) -> Result<DoorState, Self::Error>;
}

/// A sensor that tells whether a compartment holds an item, awaited: see
/// [`crate::PresenceSensor`], whose calibration and decision it shares.
pub trait PresenceSensor {
    /// What can go wrong reading the sensor.
    type Error;

    /// One raw reading, before taring.
    async fn reading(&mut self) -> Result<i32, Self::Error>;

    /// Records the current reading as the empty baseline and returns it.
    async fn calibrate_empty(&mut self) -> Result<i32, Self::Error>;

    /// The empty baseline in force.
    fn baseline(&self) -> i32;

    /// How far above the baseline a reading must be to count as an item.
    fn threshold(&self) -> i32;

    /// Reads the sensor and decides, as the blocking trait does.
    async fn presence(&mut self) -> Result<Presence, Self::Error> {
        let reading = self.reading().await?;
        Ok(decide_presence(reading, self.baseline(), self.threshold()))
    }
}

/// The bank's uninterruptible power supply, awaited: see [`crate::Ups`].
pub trait Ups {
    /// What can go wrong asking the UPS.
    type Error;

    /// Where the power comes from now, and how long the battery will last.
    async fn power_status(&mut self) -> Result<PowerStatus, Self::Error>;
}
