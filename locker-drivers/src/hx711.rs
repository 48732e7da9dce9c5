//! A load cell under the compartment floor, read through an HX711 24-bit
//! converter on two bit-banged pins.
//!
//! # Wiring
//!
//! - **PD_SCK** (clock): an output pin, idle low. Held high for more than
//!   60 µs, the HX711 powers down, so the driver leaves it low.
//! - **DOUT** (data): an input pin, no pull needed. It goes low when a
//!   conversion is ready.
//! - The load cell's bridge on channel A (E+, E−, A+, A−), with the gain
//!   set by [`Gain`]. 10 SPS mode (RATE pin low) rejects mains hum.
//!
//! Both pins must share one error type, as on most HALs.
//!
//! # Timing
//!
//! Each clock pulse is held high for about 1 µs. A pulse longer than 50 µs
//! would power the chip down mid-read and corrupt the value, so on an MCU
//! with slow interrupt handlers, read inside a critical section.
//!
//! # Detecting a 10 g item
//!
//! A 5 kg single-point cell (1 mV/V) on 5 V at gain 128 gives about 420
//! counts per gram against a noise of a few tens of counts, so a letter of
//! 10 g (two sheets of paper) is some 4 200 counts above the tared empty
//! floor. The threshold is half the smallest item to detect (default
//! 10 g, so 5 g): far above noise, and an item at least that heavy is
//! never missed. Tare with [`PresenceSensor::calibrate_empty`] when the
//! compartment is known empty.
//!
//! With feature `async`, a data pin that can also wait for an edge makes the
//! cell an `asynch::PresenceSensor` that sleeps until the conversion is
//! ready, then reads it as above.
//!
//! # Example
//!
//! ```
//! use embedded_hal_mock::eh1::delay::NoopDelay;
//! use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as T};
//! use locker_drivers::PresenceSensor;
//! use locker_drivers::hx711::{Gain, Hx711};
//!
//! // One reading of 0x00_10_68 (4 200 counts), then 25 clock pulses
//! // (24 bits + 1 to keep gain 128 on channel A).
//! let value: u32 = 4_200;
//! let mut clock = vec![T::set(State::Low)];
//! let mut data = vec![T::get(State::Low)]; // conversion ready
//! for bit in (0..24).rev() {
//!     clock.extend([T::set(State::High), T::set(State::Low)]);
//!     data.push(T::get(if value >> bit & 1 == 1 { State::High } else { State::Low }));
//! }
//! clock.extend([T::set(State::High), T::set(State::Low)]);
//! let (clock, data) = (PinMock::new(&clock), PinMock::new(&data));
//!
//! let mut cell = Hx711::new(clock, data, NoopDelay::new(), Gain::A128, 420)?;
//! let p = cell.presence()?; // baseline 0: a 10 g letter on an ideal cell
//! assert!(p.occupied);
//! assert_eq!((p.reading, p.threshold), (4_200, 2_100));
//! let (mut clock, mut data, _) = cell.release();
//! clock.done();
//! data.done();
//! # Ok::<(), locker_drivers::Error<embedded_hal_mock::eh1::MockError>>(())
//! ```

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};

use crate::{Error, PresenceSensor};

/// The HX711 input and gain, chosen by the clock pulses after each reading
/// (it applies to the next conversion).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Gain {
    /// Channel A, gain 128 (±20 mV full scale on 5 V): load cells.
    #[default]
    A128,
    /// Channel A, gain 64.
    A64,
    /// Channel B, gain 32.
    B32,
}

impl Gain {
    /// Clock pulses after the 24 data bits that select this gain.
    const fn extra_pulses(self) -> u8 {
        match self {
            Gain::A128 => 1,
            Gain::B32 => 2,
            Gain::A64 => 3,
        }
    }
}

/// The lightest item the bank must detect by default, in grams.
pub const SMALLEST_ITEM_GRAMS: i32 = 10;

/// A load cell on an HX711, as a [`PresenceSensor`].
#[derive(Debug)]
pub struct Hx711<CLK, DT, D> {
    clock: CLK,
    data: DT,
    delay: D,
    gain: Gain,
    counts_per_gram: i32,
    smallest_item_grams: i32,
    baseline: i32,
}

impl<CLK, DT, D> Hx711<CLK, DT, D>
where
    CLK: OutputPin,
    DT: InputPin<Error = CLK::Error>,
    D: DelayNs,
{
    /// A load cell with `counts_per_gram` sensitivity (measure it once with a
    /// known weight), read at `gain`. Drives the clock low (chip awake). The
    /// baseline starts at zero: tare before relying on it.
    pub fn new(
        mut clock: CLK,
        data: DT,
        delay: D,
        gain: Gain,
        counts_per_gram: i32,
    ) -> Result<Self, Error<CLK::Error>> {
        clock.set_low().map_err(Error::Bus)?;
        Ok(Hx711 {
            clock,
            data,
            delay,
            gain,
            counts_per_gram,
            smallest_item_grams: SMALLEST_ITEM_GRAMS,
            baseline: 0,
        })
    }

    /// Detects items of at least `grams` (the threshold is half of it).
    pub fn with_smallest_item(mut self, grams: i32) -> Self {
        self.smallest_item_grams = grams;
        self
    }

    /// One conversion, as a signed count.
    ///
    /// Fails with [`Error::NotReady`], without clocking, if the chip has not
    /// finished a conversion (it converts 10 or 80 times a second).
    pub fn read_counts(&mut self) -> Result<i32, Error<CLK::Error>> {
        if self.data.is_high().map_err(Error::Bus)? {
            return Err(Error::NotReady);
        }
        let mut raw: u32 = 0;
        for _ in 0..24 {
            self.pulse_clock()?;
            // DOUT is valid once the rising edge has shifted the bit out.
            let bit = self.data.is_high().map_err(Error::Bus)?;
            raw = (raw << 1) | u32::from(bit);
            self.finish_pulse()?;
        }
        for _ in 0..self.gain.extra_pulses() {
            self.pulse_clock()?;
            self.finish_pulse()?;
        }
        // Sign-extend the 24-bit two's complement value.
        Ok(((raw << 8) as i32) >> 8)
    }

    fn pulse_clock(&mut self) -> Result<(), Error<CLK::Error>> {
        self.clock.set_high().map_err(Error::Bus)?;
        self.delay.delay_us(1);
        Ok(())
    }

    fn finish_pulse(&mut self) -> Result<(), Error<CLK::Error>> {
        self.clock.set_low().map_err(Error::Bus)?;
        self.delay.delay_us(1);
        Ok(())
    }

    /// Gives back the clock pin, the data pin and the delay.
    pub fn release(self) -> (CLK, DT, D) {
        (self.clock, self.data, self.delay)
    }
}

impl<CLK, DT, D> Hx711<CLK, DT, D>
where
    CLK: OutputPin,
    DT: InputPin<Error = CLK::Error>,
    D: DelayNs,
{
    /// Takes one conversion as the empty baseline.
    fn tare(&mut self) -> Result<i32, Error<CLK::Error>> {
        let counts = self.read_counts()?;
        self.baseline = counts;
        Ok(counts)
    }

    /// Half the smallest item, in counts.
    fn item_threshold(&self) -> i32 {
        self.counts_per_gram
            .saturating_mul(self.smallest_item_grams)
            / 2
    }
}

impl<CLK, DT, D> PresenceSensor for Hx711<CLK, DT, D>
where
    CLK: OutputPin,
    DT: InputPin<Error = CLK::Error>,
    D: DelayNs,
{
    type Error = Error<CLK::Error>;

    fn reading(&mut self) -> Result<i32, Self::Error> {
        self.read_counts()
    }

    fn calibrate_empty(&mut self) -> Result<i32, Self::Error> {
        self.tare()
    }

    fn baseline(&self) -> i32 {
        self.baseline
    }

    fn threshold(&self) -> i32 {
        self.item_threshold()
    }
}

/// Awaits the conversion instead of failing with [`Error::NotReady`]: the
/// data pin's falling edge (`Wait::wait_for_low`) wakes the task. The 25 to
/// 27 clock pulses that follow are then bit-banged without yielding, with
/// the blocking delay, exactly as [`Hx711::read_counts`] does: a task
/// switch in the middle could hold the clock high past 60 µs and power the
/// chip down mid-read.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl<CLK, DT, D> crate::asynch::PresenceSensor for Hx711<CLK, DT, D>
where
    CLK: OutputPin,
    DT: InputPin<Error = CLK::Error> + embedded_hal_async::digital::Wait,
    D: DelayNs,
{
    type Error = Error<CLK::Error>;

    async fn reading(&mut self) -> Result<i32, Self::Error> {
        self.data.wait_for_low().await.map_err(Error::Bus)?;
        self.read_counts()
    }

    async fn calibrate_empty(&mut self) -> Result<i32, Self::Error> {
        self.data.wait_for_low().await.map_err(Error::Bus)?;
        self.tare()
    }

    fn baseline(&self) -> i32 {
        self.baseline
    }

    fn threshold(&self) -> i32 {
        self.item_threshold()
    }
}
