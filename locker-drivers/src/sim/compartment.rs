//! One simulated compartment: lock, door, load cell and thermometer.

use locker_proto::time::{Duration, Instant};
use locker_proto::{DoorState, LockState, Temperature};

use super::{SimError, SimRng, WorldError, per_hour};
use crate::{DoorSensor, Lock, PresenceSensor, TemperatureSensor};

/// A simulated compartment: a spring latch released by pulses, a door, a
/// load cell under the floor and a thermometer.
///
/// # Physics
///
/// - [`unlock`](Lock::unlock) releases the latch for the *release window*
///   (default 3 s, [`set_release_window`](Self::set_release_window)). If the
///   door is opened within it, it stays unlatched until the door is shut;
///   otherwise the latch catches again when the window ends.
/// - Shutting the door catches the latch at once (a spring latch needs no
///   command), unless the door-does-not-latch fault is on.
/// - The load cell reads `empty_counts + grams × counts_per_gram` (defaults
///   8 000 and 420, like a 5 kg cell on an HX711 at gain 128), plus drift
///   and noise if those faults are on. The threshold is 5 g, half the
///   lightest item the bank must detect (10 g).
/// - The thermometer reads the set temperature plus its drift.
///
/// # Driver side
///
/// [`Lock`], [`DoorSensor`], [`PresenceSensor`] and [`TemperatureSensor`],
/// all with [`SimError`] (only when a failure knob is on). The presence
/// baseline starts as the empty reading, as if calibrated at the factory.
///
/// # Example: a stuck lock
///
/// ```
/// use locker_drivers::sim::{SimCompartment, WorldError};
/// use locker_drivers::Lock;
/// use locker_proto::{LockState, time::Instant};
///
/// let mut c = SimCompartment::new(Instant::ZERO);
/// c.set_lock_stuck(true);
/// c.unlock()?;
/// assert_eq!(c.unlock_pulses(), 1); // the pulse was sent…
/// assert_eq!(c.lock_state()?, LockState::Locked); // …but nothing moved
/// assert_eq!(c.open_door(), Err(WorldError::DoorLatched));
/// # Ok::<(), locker_drivers::sim::SimError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SimCompartment {
    now: Instant,
    door: DoorState,
    latched: bool,
    released_until: Option<Instant>,
    release_window: Duration,
    grams: u32,
    unlock_pulses: u32,
    // Load cell.
    empty_counts: i32,
    counts_per_gram: i32,
    threshold_grams: i32,
    baseline: i32,
    offset: i32,
    noise_amplitude: i32,
    rng: SimRng,
    drift: Drift,
    // Thermometer.
    temperature: Temperature,
    temperature_drift: Drift,
    // Fault knobs.
    lock_stuck: bool,
    door_does_not_latch: bool,
    presence_failed: bool,
    /// A frozen cell's one reading.
    presence_frozen: Option<i32>,
    temperature_failed: bool,
}

/// A value growing linearly with time, rebased whenever its rate changes so
/// that it is exact whatever the step size.
#[derive(Clone, Copy, Debug)]
struct Drift {
    settled: i64,
    rate_per_hour: i64,
    since: Instant,
}

impl Drift {
    const fn none(now: Instant) -> Self {
        Drift {
            settled: 0,
            rate_per_hour: 0,
            since: now,
        }
    }

    fn at(&self, now: Instant) -> i64 {
        self.settled.saturating_add(per_hour(
            self.rate_per_hour,
            now.saturating_since(self.since),
        ))
    }

    fn set_rate(&mut self, rate_per_hour: i64, now: Instant) {
        self.settled = self.at(now);
        self.since = now;
        self.rate_per_hour = rate_per_hour;
    }
}

fn saturate(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

impl SimCompartment {
    /// A compartment at `now`: empty, door shut and latched, 20.0 °C, no fault.
    pub fn new(now: Instant) -> Self {
        let empty_counts = 8_000;
        SimCompartment {
            now,
            door: DoorState::Closed,
            latched: true,
            released_until: None,
            release_window: Duration::from_secs(3),
            grams: 0,
            unlock_pulses: 0,
            empty_counts,
            counts_per_gram: 420,
            threshold_grams: 5,
            baseline: empty_counts,
            offset: 0,
            noise_amplitude: 0,
            rng: SimRng::new(0),
            drift: Drift::none(now),
            temperature: Temperature::from_deci_celsius(200),
            temperature_drift: Drift::none(now),
            lock_stuck: false,
            door_does_not_latch: false,
            presence_failed: false,
            presence_frozen: None,
            temperature_failed: false,
        }
    }

    /// Moves the compartment's time to `now` (ignored if earlier than the
    /// time already reached). A released latch whose window has ended with
    /// the door still shut catches again.
    pub fn advance_to(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
        if let Some(until) = self.released_until {
            if self.now >= until {
                self.released_until = None;
                if self.door == DoorState::Closed && !self.door_does_not_latch {
                    self.latched = true;
                }
            }
        }
    }

    /// The compartment's current time.
    pub fn now(&self) -> Instant {
        self.now
    }

    // ---- World side -------------------------------------------------------

    /// A person pulls the door. It opens if the latch is released.
    pub fn open_door(&mut self) -> Result<(), WorldError> {
        if self.latched {
            return Err(WorldError::DoorLatched);
        }
        self.door = DoorState::Open;
        self.released_until = None;
        Ok(())
    }

    /// A person forces the door open whatever the latch (a break-in, or a
    /// latch that did not hold). The latch is left released.
    pub fn force_door(&mut self) {
        self.door = DoorState::Open;
        self.latched = false;
        self.released_until = None;
    }

    /// A person pushes the door shut. The latch catches, unless the
    /// door-does-not-latch fault is on: then the door springs back ajar and
    /// its switch keeps reading open.
    pub fn close_door(&mut self) {
        if self.door_does_not_latch {
            self.door = DoorState::Open;
            self.latched = false;
        } else {
            self.door = DoorState::Closed;
            self.latched = true;
        }
        self.released_until = None;
    }

    /// A person puts an item of `grams` in (adding to what is there).
    pub fn place_item(&mut self, grams: u32) -> Result<(), WorldError> {
        if self.door == DoorState::Closed {
            return Err(WorldError::DoorClosed);
        }
        self.grams = self.grams.saturating_add(grams);
        Ok(())
    }

    /// A person takes everything out.
    pub fn remove_items(&mut self) -> Result<(), WorldError> {
        if self.door == DoorState::Closed {
            return Err(WorldError::DoorClosed);
        }
        self.grams = 0;
        Ok(())
    }

    /// What the compartment holds, in grams.
    pub fn item_grams(&self) -> u32 {
        self.grams
    }

    /// The door as it really is.
    pub fn door(&self) -> DoorState {
        self.door
    }

    /// Whether the latch is caught.
    pub fn is_latched(&self) -> bool {
        self.latched
    }

    /// How many unlock pulses the lock has received, stuck or not (to check
    /// that a retransmitted command pulsed the lock exactly once).
    pub fn unlock_pulses(&self) -> u32 {
        self.unlock_pulses
    }

    /// Sets the real temperature inside the compartment.
    pub fn set_temperature(&mut self, t: Temperature) {
        self.temperature = t;
    }

    // ---- Configuration ----------------------------------------------------

    /// How long an unlock pulse leaves the latch released if nobody opens
    /// the door (default 3 s).
    pub fn set_release_window(&mut self, window: Duration) {
        self.release_window = window;
    }

    /// The load cell's empty reading and sensitivity (defaults 8 000 counts
    /// and 420 counts per gram). Resets the baseline to the new empty reading.
    pub fn set_load_cell(&mut self, empty_counts: i32, counts_per_gram: i32) {
        self.empty_counts = empty_counts;
        self.counts_per_gram = counts_per_gram;
        self.baseline = empty_counts;
    }

    // ---- Fault knobs ------------------------------------------------------

    /// A stuck lock: pulses are counted but the latch never releases.
    pub fn set_lock_stuck(&mut self, stuck: bool) {
        self.lock_stuck = stuck;
    }

    /// A door that does not latch: shutting it leaves it ajar (switch open,
    /// latch released) until the fault is cleared and it is shut again.
    pub fn set_door_does_not_latch(&mut self, fault: bool) {
        self.door_does_not_latch = fault;
    }

    /// A noisy load cell: every reading gets a value in
    /// `-amplitude..=amplitude` counts from a [`SimRng`] seeded with `seed`.
    /// An amplitude of 0 turns noise off.
    pub fn set_presence_noise(&mut self, amplitude: i32, seed: u64) {
        self.noise_amplitude = amplitude;
        self.rng = SimRng::new(seed);
    }

    /// A fixed error added to every load-cell reading, in counts (for a
    /// noise value the simulator computes itself).
    pub fn set_presence_offset(&mut self, counts: i32) {
        self.offset = counts;
    }

    /// A drifting load cell: its readings move by `counts_per_hour` from now
    /// on (drift already accumulated is kept; 0 stops it).
    pub fn set_presence_drift(&mut self, counts_per_hour: i32) {
        self.drift.set_rate(i64::from(counts_per_hour), self.now);
    }

    /// A dead load cell: [`PresenceSensor`] calls fail with [`SimError::NoAnswer`].
    pub fn set_presence_failed(&mut self, failed: bool) {
        self.presence_failed = failed;
    }

    /// A frozen load cell (its amplifier hung, repeating its last
    /// conversion): from now on every reading is the one it would read now,
    /// noise and all, whatever goes in or out; `false` thaws it.
    pub fn set_presence_frozen(&mut self, frozen: bool) {
        self.presence_frozen = if frozen { Some(self.load_cell()) } else { None };
    }

    /// A drifting thermometer: its readings move by `deci_celsius_per_hour`
    /// from now on (drift already accumulated is kept).
    pub fn set_temperature_drift(&mut self, deci_celsius_per_hour: i16) {
        self.temperature_drift
            .set_rate(i64::from(deci_celsius_per_hour), self.now);
    }

    /// The temperature is `t` from now on, its drift stopped and forgotten
    /// (a fridge repaired and cooled down again).
    pub fn settle_temperature(&mut self, t: Temperature) {
        self.temperature = t;
        self.temperature_drift = Drift::none(self.now);
    }

    /// A dead thermometer: readings fail with [`SimError::NoAnswer`].
    pub fn set_temperature_failed(&mut self, failed: bool) {
        self.temperature_failed = failed;
    }

    fn load_cell(&mut self) -> i32 {
        let grams = i64::from(self.grams);
        let load = grams.saturating_mul(i64::from(self.counts_per_gram));
        let noise = i64::from(self.rng.symmetric(self.noise_amplitude));
        let drift = self.drift.at(self.now);
        saturate(
            i64::from(self.empty_counts)
                .saturating_add(load)
                .saturating_add(drift)
                .saturating_add(i64::from(self.offset))
                .saturating_add(noise),
        )
    }
}

impl Lock for SimCompartment {
    type Error = SimError;

    fn unlock(&mut self) -> Result<(), SimError> {
        self.unlock_pulses = self.unlock_pulses.saturating_add(1);
        if !self.lock_stuck && self.door == DoorState::Closed {
            self.latched = false;
            self.released_until = Some(self.now + self.release_window);
        }
        Ok(())
    }

    fn lock_state(&mut self) -> Result<LockState, SimError> {
        Ok(if self.latched {
            LockState::Locked
        } else {
            LockState::Unlocked
        })
    }
}

impl DoorSensor for SimCompartment {
    type Error = SimError;

    fn door_state(&mut self) -> Result<DoorState, SimError> {
        Ok(self.door)
    }
}

impl PresenceSensor for SimCompartment {
    type Error = SimError;

    fn reading(&mut self) -> Result<i32, SimError> {
        if self.presence_failed {
            return Err(SimError::NoAnswer);
        }
        if let Some(frozen) = self.presence_frozen {
            return Ok(frozen);
        }
        Ok(self.load_cell())
    }

    fn calibrate_empty(&mut self) -> Result<i32, SimError> {
        let reading = self.reading()?;
        self.baseline = reading;
        Ok(reading)
    }

    fn baseline(&self) -> i32 {
        self.baseline
    }

    fn threshold(&self) -> i32 {
        self.threshold_grams.saturating_mul(self.counts_per_gram)
    }
}

impl TemperatureSensor for SimCompartment {
    type Error = SimError;

    fn temperature(&mut self) -> Result<Temperature, SimError> {
        if self.temperature_failed {
            return Err(SimError::NoAnswer);
        }
        let t = i64::from(self.temperature.deci_celsius())
            .saturating_add(self.temperature_drift.at(self.now));
        let t = t.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
        Ok(Temperature::from_deci_celsius(t))
    }
}
