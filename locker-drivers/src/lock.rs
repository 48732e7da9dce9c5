//! A solenoid or motor latch on one output pin, pulsed for a bounded time.
//!
//! # Wiring
//!
//! The MCU pin drives the gate of a logic-level MOSFET (or a relay driver)
//! that switches the lock's 12 V / 24 V coil, with a flyback diode across
//! the coil. With an N-channel low-side switch the pin is **active high**
//! ([`PinState::High`] energises the coil); with a P-channel high-side
//! switch or an inverting relay board it is active low. Fit a pull-down (or
//! pull-up for active low) so the coil stays off while the MCU boots.
//!
//! Locks with a feedback contact (a microswitch on the latch) wire it to an
//! input pin; [`LatchContact`] says at which level the latch is caught.
//!
//! # The pulse bound
//!
//! A lock coil is rated for short pulses; held on, it overheats. Every pulse
//! is checked against [`MAX_PULSE`] before the pin is touched, so no command
//! (however corrupted) can keep the coil energised longer.
//!
//! With feature `async`, an `embedded-hal-async` delay makes the lock an
//! `asynch::Lock`: the pulse is awaited, and the bound and the stuck-coil
//! check are the same code.
//!
//! # Example
//!
//! ```
//! use embedded_hal::digital::PinState;
//! use embedded_hal_mock::eh1::delay::NoopDelay;
//! use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
//! use locker_drivers::{Lock, lock::SolenoidLock};
//! use locker_proto::{LockState, time::Duration};
//!
//! let coil = PinMock::new(&[
//!     Transaction::set(State::Low),  // off from the start
//!     Transaction::set(State::High), // pulse…
//!     Transaction::set(State::Low),  // …and off again
//! ]);
//! let mut lock =
//!     SolenoidLock::new(coil, NoopDelay::new(), PinState::High, Duration::from_millis(500))?;
//! lock.unlock()?;
//! assert_eq!(lock.lock_state()?, LockState::Unknown); // no feedback contact wired
//! let (mut coil, _delay, _no_feedback) = lock.release();
//! coil.done();
//! # Ok::<(), locker_drivers::Error<embedded_hal_mock::eh1::MockError>>(())
//! ```

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin, PinState};
use locker_proto::LockState;
use locker_proto::time::Duration;

use crate::{Error, Lock};

/// The longest pulse any lock driver in this crate will apply: the project's
/// one limit, [`locker_proto::MAX_UNLOCK_PULSE_MS`] (one second, within the
/// duty rating of common 12 V cabinet solenoids), which the node's
/// controller also enforces on its configuration.
pub const MAX_PULSE: Duration = Duration::from_millis(locker_proto::MAX_UNLOCK_PULSE_MS as u64);

/// A pulse length that suits most cabinet locks when the vendor gives none.
pub const DEFAULT_PULSE: Duration = Duration::from_millis(500);

/// How a lock reports whether its latch is caught.
///
/// Implemented by [`NoFeedback`] (the lock has no contact) and
/// [`LatchContact`] (a contact on an input pin whose error type is the lock
/// pin's, as on most HALs).
pub trait LockFeedback<E> {
    /// The latch as the contact reports it.
    fn lock_state(&mut self) -> Result<LockState, E>;
}

/// The lock has no feedback contact: its state is [`LockState::Unknown`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoFeedback;

impl<E> LockFeedback<E> for NoFeedback {
    fn lock_state(&mut self) -> Result<LockState, E> {
        Ok(LockState::Unknown)
    }
}

/// A latch feedback contact on an input pin.
#[derive(Debug)]
pub struct LatchContact<I> {
    pin: I,
    latched_level: PinState,
}

impl<I: InputPin> LatchContact<I> {
    /// A contact that reads `latched_level` while the latch is caught
    /// (typically [`PinState::Low`]: contact to ground closed by the latch,
    /// pull-up on the pin).
    pub fn new(pin: I, latched_level: PinState) -> Self {
        LatchContact { pin, latched_level }
    }

    /// Gives the pin back.
    pub fn release(self) -> I {
        self.pin
    }
}

impl<I: InputPin> LockFeedback<I::Error> for LatchContact<I> {
    fn lock_state(&mut self) -> Result<LockState, I::Error> {
        let high = self.pin.is_high()?;
        let latched = high == (self.latched_level == PinState::High);
        Ok(if latched {
            LockState::Locked
        } else {
            LockState::Unlocked
        })
    }
}

/// A solenoid or motor latch pulsed through one output pin.
///
/// The driver owns the pin, the delay and the feedback contact, and gives
/// them back with [`release`](Self::release).
#[derive(Debug)]
pub struct SolenoidLock<P, D, F = NoFeedback> {
    coil: P,
    delay: D,
    feedback: F,
    active: PinState,
    pulse: Duration,
}

impl<P: OutputPin, D> SolenoidLock<P, D, NoFeedback> {
    /// A lock whose coil is energised while the pin is at `active`, released
    /// by pulses of `pulse`. Switches the coil off at once.
    ///
    /// `D` is a blocking `DelayNs` for [`Lock`], an `embedded-hal-async` one
    /// for `asynch::Lock` (feature `async`).
    ///
    /// Fails with [`Error::PulseTooLong`] (before touching the pin) if
    /// `pulse` exceeds [`MAX_PULSE`].
    pub fn new(
        coil: P,
        delay: D,
        active: PinState,
        pulse: Duration,
    ) -> Result<Self, Error<P::Error>> {
        if pulse > MAX_PULSE {
            return Err(Error::pulse_too_long(pulse, MAX_PULSE));
        }
        let mut lock = SolenoidLock {
            coil,
            delay,
            feedback: NoFeedback,
            active,
            pulse,
        };
        lock.coil.set_state(!active).map_err(Error::Bus)?;
        Ok(lock)
    }
}

impl<P: OutputPin, D, F: LockFeedback<P::Error>> SolenoidLock<P, D, F> {
    /// The same lock, reading its latch through `feedback`.
    pub fn with_feedback<G: LockFeedback<P::Error>>(self, feedback: G) -> SolenoidLock<P, D, G> {
        let SolenoidLock {
            coil,
            delay,
            active,
            pulse,
            ..
        } = self;
        SolenoidLock {
            coil,
            delay,
            feedback,
            active,
            pulse,
        }
    }

    /// The pulse [`Lock::unlock`] applies.
    pub fn pulse(&self) -> Duration {
        self.pulse
    }

    /// Gives back the coil pin, the delay and the feedback contact.
    pub fn release(self) -> (P, D, F) {
        (self.coil, self.delay, self.feedback)
    }

    /// Checks `pulse` against [`MAX_PULSE`] and, if it passes, energises the
    /// coil; returns how many milliseconds to wait before
    /// [`end_pulse`](Self::end_pulse). Blocking and async unlocks share it.
    fn begin_pulse(&mut self, pulse: Duration) -> Result<u32, Error<P::Error>> {
        if pulse > MAX_PULSE {
            return Err(Error::pulse_too_long(pulse, MAX_PULSE));
        }
        self.coil.set_state(self.active).map_err(Error::Bus)?;
        // Whole milliseconds: MAX_PULSE keeps this far inside u32.
        Ok(u32::try_from(pulse.as_millis()).unwrap_or(u32::MAX))
    }

    /// Switches the coil off after a pulse, trying twice before reporting
    /// it stuck on.
    fn end_pulse(&mut self) -> Result<(), Error<P::Error>> {
        if self.coil.set_state(!self.active).is_ok() {
            return Ok(());
        }
        self.coil
            .set_state(!self.active)
            .map_err(Error::CoilStuckOn)
    }

    fn read_feedback(&mut self) -> Result<LockState, Error<P::Error>> {
        self.feedback.lock_state().map_err(Error::Bus)
    }
}

impl<P: OutputPin, D: DelayNs, F: LockFeedback<P::Error>> SolenoidLock<P, D, F> {
    /// Releases the latch with a pulse of `pulse` instead of the configured one
    /// (some locks need a longer pulse in the cold).
    ///
    /// Fails with [`Error::PulseTooLong`], without touching the pin, if
    /// `pulse` exceeds [`MAX_PULSE`]. If the coil cannot be switched off
    /// after the pulse the driver tries once more, then reports
    /// [`Error::CoilStuckOn`].
    pub fn unlock_for(&mut self, pulse: Duration) -> Result<(), Error<P::Error>> {
        let ms = self.begin_pulse(pulse)?;
        self.delay.delay_ms(ms);
        self.end_pulse()
    }
}

impl<P: OutputPin, D: DelayNs, F: LockFeedback<P::Error>> Lock for SolenoidLock<P, D, F> {
    type Error = Error<P::Error>;

    fn unlock(&mut self) -> Result<(), Self::Error> {
        self.unlock_for(self.pulse)
    }

    fn lock_state(&mut self) -> Result<LockState, Self::Error> {
        self.read_feedback()
    }
}

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl<P, D, F> SolenoidLock<P, D, F>
where
    P: OutputPin,
    D: embedded_hal_async::delay::DelayNs,
    F: LockFeedback<P::Error>,
{
    /// [`unlock_for`](Self::unlock_for), with the pulse awaited: the
    /// executor runs other tasks while the coil is energised. The same
    /// bound and the same stuck-coil check.
    ///
    /// ```
    /// use embedded_hal::digital::PinState;
    /// use embedded_hal_mock::eh1::delay::NoopDelay;
    /// use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
    /// use locker_drivers::lock::SolenoidLock;
    /// use locker_proto::time::Duration;
    ///
    /// let coil = PinMock::new(&[
    ///     Transaction::set(State::Low),
    ///     Transaction::set(State::High),
    ///     Transaction::set(State::Low),
    /// ]);
    /// let mut lock =
    ///     SolenoidLock::new(coil, NoopDelay::new(), PinState::High, Duration::from_millis(500))?;
    /// // A longer pulse than configured, for a cold lock.
    /// embassy_futures::block_on(lock.unlock_for_async(Duration::from_millis(800)))?;
    /// lock.release().0.done();
    /// # Ok::<(), locker_drivers::Error<embedded_hal_mock::eh1::MockError>>(())
    /// ```
    pub async fn unlock_for_async(&mut self, pulse: Duration) -> Result<(), Error<P::Error>> {
        let ms = self.begin_pulse(pulse)?;
        self.delay.delay_ms(ms).await;
        self.end_pulse()
    }
}

/// Awaits the pulse: the coil is switched as by the blocking [`Lock`], with
/// the same bound and the same stuck-coil check.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl<P, D, F> crate::asynch::Lock for SolenoidLock<P, D, F>
where
    P: OutputPin,
    D: embedded_hal_async::delay::DelayNs,
    F: LockFeedback<P::Error>,
{
    type Error = Error<P::Error>;

    async fn unlock(&mut self) -> Result<(), Self::Error> {
        self.unlock_for_async(self.pulse).await
    }

    async fn lock_state(&mut self) -> Result<LockState, Self::Error> {
        self.read_feedback()
    }
}
