//! Sensor health: noticing failing sensors and locks before a resident does.
//!
//! The bank feeds every presence reading, door change and lock fault of each
//! compartment into [`SensorHealth`], which answers with at most one
//! [`HealthAlert`] carrying the evidence. Each kind of alert is raised once
//! per episode: not again until the condition has gone away or staff call
//! [`SensorHealth::clear`] after maintenance.
//!
//! What counts as evidence, per issue:
//!
//! - **Drift** ([`HealthIssue::PresenceDrift`]): readings are tared, so an
//!   empty compartment reads about 0. When the books say a compartment is
//!   empty and its sensor agrees, but the reading is more than
//!   [`HealthPolicy::drift_band`] away from 0, the tare has wandered towards
//!   the threshold (a light parcel would soon be missed, or an empty
//!   compartment judged occupied). Readings taken while the books say a
//!   parcel is inside measure the parcel, not the tare; instead, behind a
//!   door shut since the parcel went in, the parcel weighs the same at every
//!   reading, so a reading more than the band away from the first one is the
//!   cell drifting under the parcel
//!   ([`SensorHealth::observe_parcel_reading`]). An
//!   empty compartment that reads *occupied* is a disagreement with the
//!   books, which the bank handles itself. The episode ends when an empty
//!   reading is back within half the band, so a reading hovering at the edge
//!   raises one alert, not one per reading.
//! - **Stuck** ([`HealthIssue::PresenceStuck`]): exactly the same raw reading
//!   for at least [`HealthPolicy::stuck_after`], *and* across at least
//!   [`STUCK_MIN_DOOR_CHANGES`] door changes (two open/close cycles), both
//!   confirmed by a reading taken after them. Time alone is no evidence (a
//!   compartment nobody opens may legitimately read the same all weekend);
//!   a door opening lets in hands, air and parcels, which move a working load
//!   cell or reflectance sensor by at least a count. A break-beam sensor
//!   (readings 0 or 1) only changes when an item is placed, so for it the
//!   alert is a hint to check, not proof. The episode ends when the reading
//!   changes.
//!
//!   A sensor read in fine steps (a threshold of at least
//!   [`FROZEN_MIN_THRESHOLD`] units: a load cell in raw counts) is also
//!   judged by the status readings the bank takes
//!   ([`SensorHealth::observe_idle_reading`]): a working cell's noise moves
//!   every reading by a few counts, so [`FROZEN_READINGS`] of them in a row
//!   bit for bit the same is a frozen sensor (a hung amplifier repeating
//!   its last conversion): the same [`HealthIssue::PresenceStuck`]. A
//!   working cell does that by chance about once in 10¹¹ runs with noise
//!   of ±40 counts (an HX711 at 10 samples a second), once in 10¹³ with
//!   ±300: under once a century for a bank of 10,000 compartments read
//!   hourly. At the bank's hourly readings (`IDLE_READINGS_PER_SCAN`) a
//!   frozen cell is found within about six hours, and at once after each
//!   door session that should have moved it (the bank reads the
//!   compartment when a session ends with nothing changed).
//! - **Flapping door switch** ([`HealthIssue::DoorFlapping`]): more than
//!   [`HealthPolicy::flap_changes`] door changes within
//!   [`HealthPolicy::flap_window`]. Changes are counted in consecutive
//!   windows that start at the first change after a quiet spell, so a burst
//!   split across two windows can go unnoticed once, but a switch that keeps
//!   bouncing is caught within its next window; no count is ever inflated,
//!   so a flapping alert is never false. The episode ends when a window
//!   closes within the limit or a whole window passes without any change.
//! - **Repeated lock faults** ([`HealthIssue::RepeatedLockFaults`]): the
//!   [`HealthPolicy::lock_fault_limit`]-th lock fault since the last
//!   [`SensorHealth::clear`]. Faults do not expire: a lock that jams once a
//!   month still needs a technician. Call `clear` only after the hardware was
//!   serviced, not merely when a compartment is put back in service.
//!
//! ```
//! use locker_domain::bank::health::{HealthIssue, HealthPolicy, SensorHealth};
//! use locker_proto::Presence;
//! use locker_proto::time::Instant;
//!
//! let mut health = SensorHealth::<24>::new(HealthPolicy::default());
//! let now = Instant::from_secs(1_000);
//! // Compartment 7 is empty, but its tared reading has crept up to 6 (threshold 10).
//! let alert = health.observe_presence(7, Presence::empty(6, 10), true, now)?.unwrap();
//! assert_eq!(alert.slot, 7);
//! assert_eq!(alert.issue, HealthIssue::PresenceDrift { reading: 6, threshold: 10, band: 4 });
//! // Said once, not on every reading.
//! assert_eq!(health.observe_presence(7, Presence::empty(7, 10), true, now)?, None);
//! # Ok::<(), locker_domain::bank::health::HealthError>(())
//! ```

use locker_proto::Presence;
use locker_proto::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

use core::borrow::BorrowMut;

use super::books::Slice;
use super::persist::records::{HealthRecord, Rebase};

// The bank's word for what is wrong, shared with the uplink: defined once in
// the vocabulary.
pub use locker_proto::HealthIssue;

/// Door changes (two open/close cycles) that must pass without any change in
/// the presence reading before it counts as stuck.
pub const STUCK_MIN_DOOR_CHANGES: u16 = 4;

/// Status readings in a row, bit for bit the same, that make a sensor of
/// fine resolution frozen ([`SensorHealth::observe_idle_reading`]).
pub const FROZEN_READINGS: u8 = 6;

/// The smallest presence threshold (in the sensor's units) for which
/// identical status readings are evidence of a frozen sensor: a threshold
/// of hundreds of units is a sensor read in fine steps (a load cell in raw
/// amplifier counts, hundreds to the gram), whose noise moves every
/// reading by a few counts. A coarse sensor (a break beam reading 0 or 1,
/// a cell scaled to whole grams) may rightly read the same for days.
pub const FROZEN_MIN_THRESHOLD: i32 = 100;

/// The thresholds of sensor health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HealthPolicy {
    /// How far (in raw units, either way) an empty compartment's tared
    /// reading may wander from 0 before it is drift.
    pub drift_band: i32,
    /// How long a reading may stay exactly the same, across door cycles,
    /// before it is stuck.
    pub stuck_after: Duration,
    /// The window over which door changes are counted.
    pub flap_window: Duration,
    /// More door changes than this within `flap_window` is a flapping switch.
    pub flap_changes: u8,
    /// This many lock faults (since the last maintenance) need a technician.
    pub lock_fault_limit: u8,
}

impl HealthPolicy {
    /// The drift band for nodes whose presence threshold is
    /// `presence_threshold` (in their units): two fifths of it, as the
    /// default band of 4 is of the nodes' default threshold of 10; at least 1.
    /// What [`Policy::check_node_config`](super::Policy::check_node_config)
    /// takes for a threshold of 4 units or more.
    ///
    /// ```
    /// use locker_domain::bank::health::HealthPolicy;
    ///
    /// // A load cell read in raw amplifier counts, 420 to the gram, with
    /// // a 5 g threshold: a 2 g band.
    /// assert_eq!(HealthPolicy::drift_band_for(2_100), 840);
    /// assert_eq!(HealthPolicy::drift_band_for(10), HealthPolicy::default().drift_band);
    /// ```
    pub const fn drift_band_for(presence_threshold: i32) -> i32 {
        let band = presence_threshold / 5 * 2 + presence_threshold % 5 * 2 / 5;
        // Below half the threshold, where a node lets a parcel go (a
        // threshold of 5 would give 2, half of it).
        let below = crate::controller::release_level(presence_threshold);
        let band = if band >= below { below - 1 } else { band };
        if band < 1 { 1 } else { band }
    }
}

impl Default for HealthPolicy {
    /// Band 4, stuck after 24 h, more than 10 door changes in a minute, 3
    /// lock faults.
    ///
    /// - `drift_band` 4: the node's default presence threshold is 10 units
    ///   (10 g); an empty reading beyond 4 leaves less than 6 units of margin,
    ///   so a letter might be missed or a crumb might count as a parcel.
    ///   Healthy load cells stay within a couple of units of their tare.
    /// - `stuck_after` 24 h: a busy compartment cycles several times a day;
    ///   a day with two door cycles and not one count of change is not noise.
    /// - `flap_window` 1 min, `flap_changes` 10: one use is an open and a
    ///   close (2 changes); a courier re-seating a parcel makes 4. Five full
    ///   cycles in a minute is not a person, it is a loose switch or a door
    ///   rattling in the wind.
    /// - `lock_fault_limit` 3: one fault is often a parcel pressed against
    ///   the door; a third one means the lock itself needs service.
    fn default() -> Self {
        HealthPolicy {
            drift_band: 4,
            stuck_after: Duration::from_hours(24),
            flap_window: Duration::from_mins(1),
            flap_changes: 10,
            lock_fault_limit: 3,
        }
    }
}

/// A maintenance alert: which compartment and what is wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HealthAlert {
    /// The compartment's index in the bank's layout.
    pub slot: usize,
    /// The problem, with its evidence.
    pub issue: HealthIssue,
}

/// Why an observation was refused; nothing was recorded.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HealthError {
    /// The slot is beyond the bank's compartments.
    #[error("compartment slot {slot} does not exist: the bank has {capacity} compartments")]
    UnknownSlot {
        /// The slot asked for.
        slot: usize,
        /// How many slots there are.
        capacity: usize,
    },
}

/// Episodes under way, one bit each, so each is alerted once; and whether
/// a reading or a door change has been seen at all (instead of `Option`s,
/// which would cost 16 bytes more per compartment).
const RAISED_DRIFT: u8 = 1 << 0;
const RAISED_STUCK: u8 = 1 << 1;
const RAISED_FLAPPING: u8 = 1 << 2;
const RAISED_LOCK: u8 = 1 << 3;
const HAS_READING: u8 = 1 << 4;
const HAS_DOOR_CHANGE: u8 = 1 << 5;
/// `held_reading` is valid: a parcel's reading behind the door shut since.
/// Not persisted (a restart takes it afresh at the next reading).
const HAS_HELD: u8 = 1 << 6;
/// `zero` is valid: the last idle empty reading, where the zero stood
/// before the parcel (if any) went in. Not persisted.
const HAS_ZERO: u8 = 1 << 7;
/// The flags a snapshot does not keep.
const RUN_TIME_ONLY: u8 = HAS_HELD | HAS_ZERO;

/// Bytes of health state per compartment (pinned by a test).
pub const HEALTH_BYTES_PER_COMPARTMENT: usize = core::mem::size_of::<CompartmentHealth>();

/// One compartment's sensor-health history (opaque): a part of the bank's
/// [`Books`](super::Books), or of a standalone [`SensorHealth`].
#[derive(Clone, Copy, Debug)]
pub struct CompartmentHealth {
    /// The latest presence reading (valid with `HAS_READING`), since when it
    /// has had that value, and the door changes since then.
    reading: i32,
    reading_since: Instant,
    door_changes_since_reading: u16,
    /// The current flap-counting window (valid with `HAS_DOOR_CHANGE`).
    flap_window_start: Instant,
    last_door_change: Instant,
    flap_count: u8,
    lock_faults: u8,
    flags: u8,
    /// The first idle reading with a parcel inside since the door last
    /// moved (valid with `HAS_HELD`).
    held_reading: i32,
    /// The last idle empty reading (valid with `HAS_ZERO`), saturated: a
    /// zero beyond ±32,767 units is drift found long before.
    zero: i16,
    /// Status readings since `reading` that were bit for bit the same (not
    /// persisted: a restart counts afresh).
    same_readings: u8,
}

impl CompartmentHealth {
    /// A clean record.
    pub const FRESH: CompartmentHealth = CompartmentHealth {
        reading: 0,
        reading_since: Instant::ZERO,
        door_changes_since_reading: 0,
        flap_window_start: Instant::ZERO,
        last_door_change: Instant::ZERO,
        flap_count: 0,
        lock_faults: 0,
        flags: 0,
        held_reading: 0,
        zero: 0,
        same_readings: 0,
    };

    fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// Marks episode `bit` as alerted; `true` if it was not already.
    fn raise(&mut self, bit: u8) -> bool {
        let fresh = !self.has(bit);
        self.flags |= bit;
        fresh
    }

    fn settle(&mut self, bit: u8) {
        self.flags &= !bit;
    }

    /// A reading that differs from the last: the stuck and frozen watches
    /// start again from it.
    fn new_reading(&mut self, reading: i32, now: Instant) {
        self.reading = reading;
        self.reading_since = now;
        self.flags |= HAS_READING;
        self.door_changes_since_reading = 0;
        self.same_readings = 0;
        self.settle(RAISED_STUCK);
    }
}

/// `reading` in 16 bits, saturated.
fn saturate(reading: i32) -> i16 {
    i16::try_from(reading).unwrap_or(if reading < 0 { i16::MIN } else { i16::MAX })
}

/// A status reading for the frozen watch: the frozen sensor found, once per
/// episode, at the [`FROZEN_READINGS`]-th identical reading in a row.
fn frozen_of(state: &mut CompartmentHealth, reading: i32, now: Instant) -> Option<HealthIssue> {
    if !state.has(HAS_READING) || state.reading != reading {
        state.new_reading(reading, now);
        return None;
    }
    state.same_readings = state.same_readings.saturating_add(1);
    let frozen = state.same_readings.saturating_add(1) >= FROZEN_READINGS;
    (frozen && state.raise(RAISED_STUCK)).then_some(HealthIssue::PresenceStuck {
        reading,
        since: state.reading_since,
    })
}

/// Health tracking for the compartments of `S` (an array of its own, see
/// [`SensorHealth`], or the bank's books). Fixed size, no heap:
/// [`HEALTH_BYTES_PER_COMPARTMENT`] (40) bytes per compartment, 400 KB for a
/// 10,000-compartment bank.
///
/// Slots are the compartments' indices in the bank's layout. All methods
/// take `now` from the caller; a `now` earlier than a previous one is
/// treated as no time having passed.
///
/// ```
/// use locker_domain::bank::health::{HealthAlert, HealthIssue, HealthPolicy, SensorHealth};
/// use locker_proto::time::{Duration, Instant};
///
/// let mut health = SensorHealth::<48>::new(HealthPolicy::default());
/// let night = Instant::from_secs(80_000);
///
/// // Compartment 12's door switch rattles in the wind, a change every 3 s.
/// let alerts: Vec<HealthAlert> = (0..600)
///     .filter_map(|i| health.observe_door_change(12, night + Duration::from_secs(3 * i)).unwrap())
///     .collect();
/// assert_eq!(alerts.len(), 1);
/// assert!(matches!(alerts[0].issue, HealthIssue::DoorFlapping { changes: 11, .. }));
///
/// // Compartment 3's lock jams for the third time.
/// health.observe_lock_fault(3, night)?;
/// health.observe_lock_fault(3, night)?;
/// let alert = health.observe_lock_fault(3, night)?;
/// assert_eq!(alert.map(|a| a.issue), Some(HealthIssue::RepeatedLockFaults { count: 3 }));
///
/// // A technician replaced the lock: its record starts afresh.
/// health.clear(3)?;
/// assert_eq!(health.observe_lock_fault(3, night)?, None);
/// # Ok::<(), locker_domain::bank::health::HealthError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HealthBook<S> {
    policy: HealthPolicy,
    slots: S,
}

/// Health tracking for `N` compartments in an array of its own (the bank
/// keeps its compartments' history in its [`Books`](super::Books) instead).
pub type SensorHealth<const N: usize> = HealthBook<[CompartmentHealth; N]>;

impl<const N: usize> HealthBook<[CompartmentHealth; N]> {
    /// Every compartment with a clean record.
    pub fn new(policy: HealthPolicy) -> Self {
        HealthBook {
            policy,
            slots: [CompartmentHealth::FRESH; N],
        }
    }
}

impl<'a> HealthBook<Slice<'a, CompartmentHealth>> {
    /// Every compartment of `slots` with a clean record.
    pub(crate) fn in_books(policy: HealthPolicy, mut slots: Slice<'a, CompartmentHealth>) -> Self {
        for h in slots.iter_mut() {
            *h = CompartmentHealth::FRESH;
        }
        HealthBook { policy, slots }
    }

    /// A copy on the heap.
    #[cfg(feature = "alloc")]
    pub(crate) fn to_heap(&self) -> HealthBook<Slice<'static, CompartmentHealth>> {
        HealthBook {
            policy: self.policy,
            slots: self.slots.to_heap(),
        }
    }
}

impl<S: BorrowMut<[CompartmentHealth]>> HealthBook<S> {
    /// New thresholds, for every reading and door change from now on; the
    /// history kept so far stays.
    pub fn set_policy(&mut self, policy: HealthPolicy) {
        self.policy = policy;
    }

    /// The thresholds in force.
    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    /// Slot `slot`'s history as the snapshot keeps it.
    pub(crate) fn record(&self, slot: usize) -> Option<HealthRecord> {
        let h = self.slots.borrow().get(slot)?;
        Some(HealthRecord {
            reading: h.reading,
            reading_since: h.reading_since,
            door_changes_since_reading: h.door_changes_since_reading,
            flap_window_start: h.flap_window_start,
            last_door_change: h.last_door_change,
            flap_count: h.flap_count,
            lock_faults: h.lock_faults,
            flags: h.flags & !RUN_TIME_ONLY,
        })
    }

    /// Slot `slot`'s parcel as sensor health took it: its first reading
    /// behind the shut door and the zero it sat on (the last idle empty
    /// reading before it, 0 if none). `None` before that reading, and once
    /// the door has moved since.
    pub(crate) fn parcel_reading(&self, slot: usize) -> Option<(i32, i32)> {
        let h = self.slots.borrow().get(slot)?;
        let zero = if h.has(HAS_ZERO) {
            i32::from(h.zero)
        } else {
            0
        };
        h.has(HAS_HELD).then_some((h.held_reading, zero))
    }

    /// Takes slot `slot`'s history from a snapshot, on the restoring clock.
    /// `false` if the slot does not exist.
    pub(crate) fn load_record(&mut self, slot: usize, r: &HealthRecord, clock: Rebase) -> bool {
        let Some(h) = self.slots.borrow_mut().get_mut(slot) else {
            return false;
        };
        *h = CompartmentHealth {
            reading: r.reading,
            reading_since: clock.at(r.reading_since),
            door_changes_since_reading: r.door_changes_since_reading,
            flap_window_start: clock.at(r.flap_window_start),
            last_door_change: clock.at(r.last_door_change),
            flap_count: r.flap_count,
            lock_faults: r.lock_faults,
            flags: r.flags & !RUN_TIME_ONLY,
            held_reading: 0,
            zero: 0,
            same_readings: 0,
        };
        true
    }

    /// A presence reading of slot `slot` (from `Event::PresenceChanged` or
    /// `ChannelStatus`), with whether the books say it should be empty.
    ///
    /// Returns a drift or stuck alert when one starts; if both start at
    /// once, drift is returned now and stuck on the next reading.
    ///
    /// # Errors
    /// [`HealthError::UnknownSlot`]; nothing is recorded.
    pub fn observe_presence(
        &mut self,
        slot: usize,
        presence: Presence,
        books_say_empty: bool,
        now: Instant,
    ) -> Result<Option<HealthAlert>, HealthError> {
        let policy = self.policy;
        let state = self.slot_mut(slot)?;
        let drift = drift_of(state, &policy, presence, books_say_empty);

        let seen = state
            .has(HAS_READING)
            .then_some((state.reading, state.reading_since));
        let stuck = match seen {
            Some((value, since)) if value == presence.reading => {
                let frozen = now.saturating_since(since) >= policy.stuck_after
                    && state.door_changes_since_reading >= STUCK_MIN_DOOR_CHANGES;
                (frozen && state.raise(RAISED_STUCK)).then_some(HealthIssue::PresenceStuck {
                    reading: value,
                    since,
                })
            }
            _ => {
                state.new_reading(presence.reading, now);
                None
            }
        };
        // A stuck alert found together with a drift alert is not lost: its
        // bit is set, so clear it again and let the next reading report it.
        if drift.is_some() && stuck.is_some() {
            state.settle(RAISED_STUCK);
        }
        Ok(drift.or(stuck).map(|issue| HealthAlert { slot, issue }))
    }

    /// A reading of slot `slot` from a status answer (a periodic
    /// `ChannelStatus`, or one the bank asked for after a door session),
    /// checked for drift, and for a sensor read in fine steps (a threshold
    /// of at least [`FROZEN_MIN_THRESHOLD`] units) for being frozen:
    /// [`FROZEN_READINGS`] readings in a row bit for bit the same, where a
    /// working cell's noise moves every one, are
    /// [`HealthIssue::PresenceStuck`], `since` the first of them. A coarse
    /// sensor's idle compartment rightly reads the same for days: its
    /// readings leave the stuck watch (which follows readings around door
    /// changes) as it was. If drift and a frozen sensor are found at once,
    /// drift is returned now and the frozen sensor at the next reading.
    ///
    /// ```
    /// use locker_domain::bank::health::{HealthIssue, HealthPolicy, SensorHealth};
    /// use locker_proto::Presence;
    /// use locker_proto::time::{Duration, Instant};
    ///
    /// let mut health = SensorHealth::<4>::new(HealthPolicy { drift_band: 840, ..HealthPolicy::default() });
    /// let t = |h: u64| Instant::ZERO + Duration::from_hours(h);
    /// // A load cell (threshold 2,100 counts) reads with a few counts of noise.
    /// for (h, r) in [(0, 37), (4, -112), (8, 85), (12, 37)] {
    ///     assert_eq!(health.observe_idle_reading(1, Presence::empty(r, 2_100), true, t(h))?, None);
    /// }
    /// // Its amplifier hangs and repeats its last conversion.
    /// let mut found = None;
    /// for h in 16..22 {
    ///     found = found.or(health.observe_idle_reading(1, Presence::empty(-64, 2_100), true, t(h))?);
    /// }
    /// assert_eq!(found.map(|a| a.issue), Some(HealthIssue::PresenceStuck { reading: -64, since: t(16) }));
    /// # Ok::<(), locker_domain::bank::health::HealthError>(())
    /// ```
    ///
    /// # Errors
    /// [`HealthError::UnknownSlot`]; nothing is recorded.
    pub fn observe_idle_reading(
        &mut self,
        slot: usize,
        presence: Presence,
        books_say_empty: bool,
        now: Instant,
    ) -> Result<Option<HealthAlert>, HealthError> {
        let policy = self.policy;
        let state = self.slot_mut(slot)?;
        let drift = drift_of(state, &policy, presence, books_say_empty);
        if books_say_empty && !presence.occupied && !state.has(HAS_HELD) {
            // Where the zero stands, for the parcel that may come next.
            state.zero = saturate(presence.reading);
            state.flags |= HAS_ZERO;
        }
        let frozen = if presence.threshold >= FROZEN_MIN_THRESHOLD {
            frozen_of(state, presence.reading, now)
        } else {
            None
        };
        if drift.is_some() && frozen.is_some() {
            state.settle(RAISED_STUCK);
        }
        Ok(drift.or(frozen).map(|issue| HealthAlert { slot, issue }))
    }

    /// A reading of slot `slot` with a parcel inside, behind a door shut
    /// since the parcel went in (a periodic `ChannelStatus`): checked for
    /// drift. A parcel behind a shut door weighs the same at every reading,
    /// so the first such reading is kept, and a later one more than
    /// [`HealthPolicy::drift_band`] away from it is the cell drifting under
    /// the parcel: [`HealthIssue::PresenceDrift`] with `reading` the change.
    ///
    /// The zero the compartment's last idle empty reading showed
    /// ([`observe_idle_reading`](Self::observe_idle_reading)) is carried
    /// under the parcel, so a zero that crept part of a band before the
    /// deposit and the rest under the parcel is found, where each part
    /// alone stays within the band: a reading more than half a band from
    /// the first under the parcel and, with the zero carried in, more than
    /// a band from the tare is drift too, with `reading` the way from the
    /// tare. A zero standing still near the band's edge moves by its noise
    /// alone, under half a band, and raises nothing. Any door change after
    /// the first reading under the parcel forgets it (and the zero before
    /// it), until the next ones. A reading that says empty is left to the
    /// bank (a parcel gone from the books' compartment).
    ///
    /// ```
    /// use locker_domain::bank::health::{HealthIssue, HealthPolicy, SensorHealth};
    /// use locker_proto::Presence;
    ///
    /// let mut health = SensorHealth::<24>::new(HealthPolicy::default());
    /// // A parcel reading 40 sits in compartment 3; the cell creeps upwards.
    /// assert_eq!(health.observe_parcel_reading(3, Presence::occupied(40, 10))?, None);
    /// assert_eq!(health.observe_parcel_reading(3, Presence::occupied(43, 10))?, None);
    /// let alert = health.observe_parcel_reading(3, Presence::occupied(46, 10))?.unwrap();
    /// assert_eq!(alert.issue, HealthIssue::PresenceDrift { reading: 6, threshold: 10, band: 4 });
    ///
    /// // Compartment 4's zero had crept to 2 while it stood empty; a parcel
    /// // goes in, and the zero creeps 3 more under it: 5 from the tare.
    /// let now = locker_proto::time::Instant::from_secs(60);
    /// assert_eq!(health.observe_idle_reading(4, Presence::empty(2, 10), true, now)?, None);
    /// assert_eq!(health.observe_parcel_reading(4, Presence::occupied(42, 10))?, None);
    /// assert_eq!(health.observe_parcel_reading(4, Presence::occupied(43, 10))?, None);
    /// let alert = health.observe_parcel_reading(4, Presence::occupied(45, 10))?.unwrap();
    /// assert_eq!(alert.issue, HealthIssue::PresenceDrift { reading: 5, threshold: 10, band: 4 });
    /// # Ok::<(), locker_domain::bank::health::HealthError>(())
    /// ```
    ///
    /// # Errors
    /// [`HealthError::UnknownSlot`]; nothing is recorded.
    pub fn observe_parcel_reading(
        &mut self,
        slot: usize,
        presence: Presence,
    ) -> Result<Option<HealthAlert>, HealthError> {
        let band = self.policy.drift_band;
        let state = self.slot_mut(slot)?;
        if !presence.occupied {
            return Ok(None);
        }
        if !state.has(HAS_HELD) {
            state.held_reading = presence.reading;
            state.flags |= HAS_HELD;
            return Ok(None);
        }
        let moved = presence.reading.saturating_sub(state.held_reading);
        let zero = if state.has(HAS_ZERO) {
            i32::from(state.zero)
        } else {
            0
        };
        let from_tare = moved.saturating_add(zero);
        let (moved, band_of) = (moved.unsigned_abs(), band.unsigned_abs());
        // Moving under the parcel: a band since it went in; or half a band,
        // which with the zero carried in makes more than a band from the
        // tare. A zero standing still near the band's edge moves by its
        // noise alone, under half a band.
        let drifting =
            moved > band_of || (moved > band_of / 2 && from_tare.unsigned_abs() > band_of);
        if !drifting {
            return Ok(None);
        }
        let issue = HealthIssue::PresenceDrift {
            reading: from_tare,
            threshold: presence.threshold,
            band,
        };
        Ok(state
            .raise(RAISED_DRIFT)
            .then_some(HealthAlert { slot, issue }))
    }

    /// A door change (opened or closed) of slot `slot`.
    ///
    /// # Errors
    /// [`HealthError::UnknownSlot`]; nothing is recorded.
    pub fn observe_door_change(
        &mut self,
        slot: usize,
        now: Instant,
    ) -> Result<Option<HealthAlert>, HealthError> {
        let policy = self.policy;
        let state = self.slot_mut(slot)?;
        state.door_changes_since_reading = state.door_changes_since_reading.saturating_add(1);
        // Whatever is inside now may differ: the parcel's reading is taken
        // afresh. A zero read while empty stays, for the parcel going in.
        if state.has(HAS_HELD) {
            state.flags &= !RUN_TIME_ONLY;
            state.held_reading = 0;
            state.zero = 0;
        }

        let window_over = now.saturating_since(state.flap_window_start) >= policy.flap_window;
        let first = !state.has(HAS_DOOR_CHANGE);
        if first || window_over {
            let quiet_for_a_window =
                first || now.saturating_since(state.last_door_change) >= policy.flap_window;
            if quiet_for_a_window || state.flap_count <= policy.flap_changes {
                state.settle(RAISED_FLAPPING);
            }
            state.flap_window_start = now;
            state.flap_count = 0;
        }
        state.flap_count = state.flap_count.saturating_add(1);
        state.last_door_change = now;
        state.flags |= HAS_DOOR_CHANGE;

        let alert =
            (state.flap_count > policy.flap_changes && state.raise(RAISED_FLAPPING)).then(|| {
                HealthIssue::DoorFlapping {
                    changes: state.flap_count,
                    within: now.saturating_since(state.flap_window_start),
                }
            });
        Ok(alert.map(|issue| HealthAlert { slot, issue }))
    }

    /// A lock fault (`FaultCode::LockJammed` or similar) of slot `slot`.
    ///
    /// # Errors
    /// [`HealthError::UnknownSlot`]; nothing is recorded.
    pub fn observe_lock_fault(
        &mut self,
        slot: usize,
        now: Instant,
    ) -> Result<Option<HealthAlert>, HealthError> {
        let _ = now; // faults do not expire; `now` keeps the signature uniform
        let policy = self.policy;
        let state = self.slot_mut(slot)?;
        state.lock_faults = state.lock_faults.saturating_add(1);
        let alert = (state.lock_faults >= policy.lock_fault_limit && state.raise(RAISED_LOCK))
            .then_some(HealthIssue::RepeatedLockFaults {
                count: state.lock_faults,
            });
        Ok(alert.map(|issue| HealthAlert { slot, issue }))
    }

    /// Slot `slot` is back in service without its hardware being serviced
    /// (e.g. staff freed a jammed parcel): every alert is re-armed, so a
    /// problem that persists is reported again, but the evidence is kept,
    /// so the next lock fault still counts towards
    /// [`HealthPolicy::lock_fault_limit`]. Use [`clear`](Self::clear) only
    /// after real maintenance.
    ///
    /// # Errors
    /// [`HealthError::UnknownSlot`]; nothing is changed.
    ///
    /// ```
    /// use locker_domain::bank::health::{HealthIssue, HealthPolicy, SensorHealth};
    /// use locker_proto::time::Instant;
    ///
    /// let mut health = SensorHealth::<4>::new(HealthPolicy::default());
    /// let now = Instant::from_secs(60);
    /// for _ in 0..3 {
    ///     // Each jam puts the compartment out of service; staff put it back.
    ///     let alert = health.observe_lock_fault(2, now)?;
    ///     health.back_in_service(2)?;
    ///     if let Some(alert) = alert {
    ///         assert_eq!(alert.issue, HealthIssue::RepeatedLockFaults { count: 3 });
    ///     }
    /// }
    /// // And a fourth jam is reported again, since staff did not repair it.
    /// assert!(health.observe_lock_fault(2, now)?.is_some());
    /// # Ok::<(), locker_domain::bank::health::HealthError>(())
    /// ```
    pub fn back_in_service(&mut self, slot: usize) -> Result<(), HealthError> {
        let state = self.slot_mut(slot)?;
        state.settle(RAISED_DRIFT | RAISED_STUCK | RAISED_FLAPPING | RAISED_LOCK);
        Ok(())
    }

    /// Slot `slot`'s presence sensor took a new empty baseline (the bank
    /// re-tared it): its readings and drift episode belonged to the old
    /// one and are forgotten; door and lock history are kept (a lock that
    /// jammed twice is on its way to a repeated fault whatever the cell
    /// reads).
    pub(crate) fn rebaselined(&mut self, slot: usize) -> Result<(), HealthError> {
        let state = self.slot_mut(slot)?;
        state.reading = 0;
        state.reading_since = Instant::ZERO;
        state.door_changes_since_reading = 0;
        state.held_reading = 0;
        state.zero = 0;
        state.settle(RAISED_DRIFT | RAISED_STUCK | HAS_READING | RUN_TIME_ONLY);
        Ok(())
    }

    /// Forgets everything about slot `slot`: staff have serviced it.
    ///
    /// # Errors
    /// [`HealthError::UnknownSlot`]; nothing is changed.
    pub fn clear(&mut self, slot: usize) -> Result<(), HealthError> {
        *self.slot_mut(slot)? = CompartmentHealth::FRESH;
        Ok(())
    }

    fn slot_mut(&mut self, slot: usize) -> Result<&mut CompartmentHealth, HealthError> {
        let slots = self.slots.borrow_mut();
        let capacity = slots.len();
        slots
            .get_mut(slot)
            .ok_or(HealthError::UnknownSlot { slot, capacity })
    }
}

/// The drift alert an empty compartment's `presence` starts, if any: its
/// tared reading outside the calibration band while the books say empty.
/// Back within half the band, the drift is over.
fn drift_of(
    state: &mut CompartmentHealth,
    policy: &HealthPolicy,
    presence: Presence,
    books_say_empty: bool,
) -> Option<HealthIssue> {
    if !books_say_empty || presence.occupied {
        return None;
    }
    let off = presence.reading.unsigned_abs();
    let band = policy.drift_band.unsigned_abs();
    if off > band {
        state
            .raise(RAISED_DRIFT)
            .then_some(HealthIssue::PresenceDrift {
                reading: presence.reading,
                threshold: presence.threshold,
                band: policy.drift_band,
            })
    } else {
        if off <= band / 2 {
            state.settle(RAISED_DRIFT);
        }
        None
    }
}
