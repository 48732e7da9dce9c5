//! Refrigerated compartments: their temperature limits, the watch the bank
//! keeps on every fridge's readings, and the cold chain of every perishable
//! parcel.
//!
//! # Where the readings come from
//!
//! A node reports a channel's temperature in its [`ChannelStatus`](locker_proto::ChannelStatus)
//! (`locker_proto::ChannelStatus::temperature`). With every periodic scan
//! ([`Policy::status_scan_every`](super::Policy::status_scan_every), 15 min)
//! the bank asks every refrigerated compartment on a reachable node for its
//! status, one [`Command::GetStatus`] each (one exchange per fridge per
//! scan), on top of the one ordinary compartment per node it reads in turn
//! for sensor health. Every answer that carries a temperature feeds the
//! watch, whoever asked for it.
//!
//! # What is alerted, and when
//!
//! The limits are per compartment ([`ColdPolicy::limits_of`]): its own,
//! where the layout gives it some
//! ([`Compartment::with_temperature_limits`]: a freezer, a medicine fridge
//! kept tighter), or else chosen by its flags ([`ColdPolicy::limits_for`]):
//! a [`CompartmentFlags::REFRIGERATED`] compartment must hold
//! [`ColdPolicy::refrigerated`] (2.0 to 8.0 °C by default); other
//! compartments are not watched.
//!
//! - **Out of range.** A fridge whose readings stay outside its limits for
//!   longer than [`ColdPolicy::grace`] (30 min) raises one
//!   [`AlertKind::TemperatureOutOfRange`]
//!   alert, its [`Evidence::Temperature`]
//!   holding the reading, the limit it is beyond and how long it has been
//!   out, audited as a
//!   [`FaultReported`](super::AuditEvent::FaultReported)`(TemperatureOutOfRange)`.
//!   The grace is why a door held open for a deposit or a pickup, which
//!   warms a fridge for a few minutes, alarms nobody. The alert is raised
//!   once per excursion, not at every scan; when a reading is back in range
//!   the excursion is audited ([`AuditEvent::TemperatureRestored`],
//!   how long and how far out) and the watch re-arms. While alerted the
//!   fridge takes no new parcel, and the collector of a perishable parcel
//!   inside is told of an incident
//!   ([`NotificationKind::ParcelIncident`](locker_proto::NotificationKind::ParcelIncident)),
//!   its cold chain recording how long it was out.
//! - **Silent sensor.** A fridge that has reported a temperature since the
//!   bank started (or was restored), and whose status answers then carry
//!   no plausible reading for longer than [`ColdPolicy::silent_after`]
//!   (1 h, four scans), raises one [`AlertKind::TemperatureSensorSilent`]
//!   alert ([`Evidence::TemperatureSilent`]:
//!   the last reading, however absurd, and how long since a good one), at
//!   the first such answer past that time: within 75 minutes of the
//!   sensor falling silent. A reading outside [`ColdPolicy::plausible`]
//!   (say `i16::MIN`, a sensor's error value) is no temperature: it is kept
//!   as evidence and counts as silence. Only answers count: an answer lost
//!   on a noisy line says nothing about the thermometer, and a node that
//!   stops answering altogether is its own alert
//!   ([`AlertKind::NodeUnreachable`]).
//!   A compartment that never reported a temperature (a board without a
//!   thermometer) is not watched for silence.
//!
//! A fridge that fails is therefore alerted within `grace` plus one scan
//! interval of the first reading out of range: 45 min with the defaults.
//!
//! # The cold chain
//!
//! A parcel reserved with [`ParcelNeeds::perishable`](super::ParcelNeeds::perishable)
//! remembers it (in the snapshot too). While it is in its compartment every
//! plausible reading is added to its cold chain: the lowest and highest
//! temperature and the time spent out of range, to the second (each
//! interval between two readings counts as the earlier reading says). When it leaves (a pickup
//! or a removal, verified), an [`AuditEvent::ColdChain`]
//! record precedes the pickup record: the proof of each handoff.
//! Perishables also run on shorter deadlines ([`ColdPolicy::reminder_after`]
//! 4 h, [`ColdPolicy::escalation_after`] 12 h, [`ColdPolicy::expiry_after`]
//! 24 h).
//!
//! The watch itself is not persisted: after a restart a fridge's grace and
//! silence count again from the first scan; a parcel's cold chain is.
//!
//! ```
//! use locker_domain::bank::{ColdPolicy, CompartmentFlags, TemperatureRange};
//! use locker_proto::Temperature;
//!
//! let cold = ColdPolicy::default();
//! let fridge = cold.limits_for(CompartmentFlags::REFRIGERATED).unwrap();
//! assert!(fridge.contains(Temperature::from_deci_celsius(45)));
//! assert_eq!(fridge.exceeded(Temperature::from_deci_celsius(121)),
//!     Some(Temperature::from_deci_celsius(80)));
//! assert_eq!(cold.limits_for(CompartmentFlags::NONE), None);
//! ```

use locker_proto::time::{Duration, Instant};
use locker_proto::{Command, NodeAddr, Temperature};
use serde::{Deserialize, Serialize};

use super::audit::{Actor, AuditEvent};
use super::layout::{Compartment, CompartmentFlags, LayoutIndex};
use super::parcel::{Parcel, Stage};
use super::slot::Slot;
use super::{AlertKind, Bank, Evidence};

/// An allowed temperature band, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TemperatureRange {
    /// The lowest allowed temperature.
    pub min: Temperature,
    /// The highest allowed temperature.
    pub max: Temperature,
}

impl TemperatureRange {
    /// From `min` to `max` tenths of a degree Celsius.
    pub const fn deci_celsius(min: i16, max: i16) -> Self {
        TemperatureRange {
            min: Temperature(min),
            max: Temperature(max),
        }
    }

    /// Whether `t` is allowed.
    pub const fn contains(&self, t: Temperature) -> bool {
        t.0 >= self.min.0 && t.0 <= self.max.0
    }

    /// The limit `t` is beyond: `max` when too warm, `min` when too cold,
    /// `None` when allowed.
    pub const fn exceeded(&self, t: Temperature) -> Option<Temperature> {
        if t.0 > self.max.0 {
            Some(self.max)
        } else if t.0 < self.min.0 {
            Some(self.min)
        } else {
            None
        }
    }

    /// How far `t` is outside, in tenths of a degree (0 inside).
    const fn distance(&self, t: Temperature) -> i32 {
        if t.0 > self.max.0 {
            t.0 as i32 - self.max.0 as i32
        } else if t.0 < self.min.0 {
            self.min.0 as i32 - t.0 as i32
        } else {
            0
        }
    }
}

/// The rules for refrigerated compartments and perishable parcels, part of
/// the [`Policy`](super::Policy). [`ColdPolicy::default`] gives the values
/// of each field's docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ColdPolicy {
    /// What a refrigerated compartment must hold (2.0 to 8.0 °C, the cold
    /// chain of chilled food and most medicines).
    pub refrigerated: TemperatureRange,
    /// Readings outside this band are a broken sensor, not a temperature
    /// (−40.0 to 85.0 °C, the range of common digital sensors): they count
    /// as silence, never as an excursion.
    pub plausible: TemperatureRange,
    /// How long a fridge may read out of range before the alert (30 min):
    /// a door open for a deposit warms it for minutes, not for this long.
    pub grace: Duration,
    /// How long a fridge may go without a plausible reading, its node
    /// answering, before the alert (1 h, four periodic scans).
    pub silent_after: Duration,
    /// After a perishable parcel's deposit, the first reminder (4 h).
    pub reminder_after: Duration,
    /// After a perishable parcel's deposit, the escalation (12 h).
    pub escalation_after: Duration,
    /// After a perishable parcel's deposit, expiry and removal (24 h).
    pub expiry_after: Duration,
}

impl Default for ColdPolicy {
    fn default() -> Self {
        ColdPolicy {
            refrigerated: TemperatureRange::deci_celsius(20, 80),
            plausible: TemperatureRange::deci_celsius(-400, 850),
            grace: Duration::from_mins(30),
            silent_after: Duration::from_hours(1),
            reminder_after: Duration::from_hours(4),
            escalation_after: Duration::from_hours(12),
            expiry_after: Duration::from_hours(24),
        }
    }
}

impl ColdPolicy {
    /// The limits a compartment with `flags` and no limits of its own must
    /// hold, if it is watched (refrigerated compartments only).
    pub const fn limits_for(&self, flags: CompartmentFlags) -> Option<TemperatureRange> {
        if flags.contains(CompartmentFlags::REFRIGERATED) {
            Some(self.refrigerated)
        } else {
            None
        }
    }

    /// The limits `compartment` must hold, if it is watched: its own
    /// ([`Compartment::with_temperature_limits`]), or else the policy's for
    /// its flags ([`ColdPolicy::limits_for`]).
    pub const fn limits_of(&self, compartment: &Compartment) -> Option<TemperatureRange> {
        match compartment.temperature {
            Some(own) => Some(own),
            None => self.limits_for(compartment.flags),
        }
    }
}

/// A perishable parcel's temperatures while it was in its compartment:
/// 8 bytes, kept in the parcel's books.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ColdChain {
    /// The lowest and highest plausible reading; `min > max` until the
    /// first one.
    min: Temperature,
    max: Temperature,
    /// Seconds out of range.
    out_of_range_s: u32,
}

impl Default for ColdChain {
    fn default() -> Self {
        ColdChain::EMPTY
    }
}

impl ColdChain {
    /// No reading yet, no time out of range.
    pub(crate) const EMPTY: ColdChain = ColdChain {
        min: Temperature(i16::MAX),
        max: Temperature(i16::MIN),
        out_of_range_s: 0,
    };

    /// As a snapshot stored it.
    pub(crate) fn from_parts(
        min: Option<Temperature>,
        max: Option<Temperature>,
        out_of_range: Duration,
    ) -> Self {
        match (min, max) {
            (Some(min), Some(max)) if min <= max => ColdChain {
                min,
                max,
                out_of_range_s: secs(out_of_range),
            },
            _ => ColdChain {
                out_of_range_s: secs(out_of_range),
                ..ColdChain::EMPTY
            },
        }
    }

    /// The lowest reading, if any came.
    pub(crate) fn min(&self) -> Option<Temperature> {
        (self.min <= self.max).then_some(self.min)
    }

    /// The highest reading, if any came.
    pub(crate) fn max(&self) -> Option<Temperature> {
        (self.min <= self.max).then_some(self.max)
    }

    /// The time out of range (to the second).
    pub(crate) fn out_of_range(&self) -> Duration {
        Duration::from_secs(u64::from(self.out_of_range_s))
    }

    fn note(&mut self, t: Temperature) {
        self.min = self.min.min(t);
        self.max = self.max.max(t);
    }

    fn add_out_of_range(&mut self, d: Duration) {
        self.out_of_range_s = self.out_of_range_s.saturating_add(secs(d));
    }
}

/// The perishable parcel compartment `s` holds, deposited, with when it
/// went in: the one whose cold chain its readings make.
fn perishable_inside(s: &Slot) -> Option<(Parcel, Instant)> {
    let p = s
        .parcel
        .filter(|p| p.perishable && s.stage.holds_parcel())?;
    Some((p, p.deposited_at?))
}

/// Whole seconds of `d`, saturating.
fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_millis() / 1000).unwrap_or(u32::MAX)
}

/// The bank's watch on one compartment's temperature (not persisted): 32
/// bytes in every compartment's books, times valid by their flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ColdWatch {
    /// When the last plausible reading came ([`HEARD`]).
    heard: Instant,
    /// The first answer without a plausible reading since the last one
    /// with ([`QUIET`]).
    quiet_since: Instant,
    /// The first reading out of range of the current excursion ([`OUT`]).
    out_since: Instant,
    /// The last reading, plausible or not: evidence for a silent sensor.
    last: Option<Temperature>,
    /// The reading farthest out during the current excursion ([`OUT`]).
    worst: Temperature,
    flags: u8,
}

const HEARD: u8 = 1;
const QUIET: u8 = 2;
const OUT: u8 = 4;
/// The out-of-range alert of this excursion was raised.
const ALERTED: u8 = 8;
/// The silent-sensor alert was raised.
const SILENT: u8 = 16;

impl ColdWatch {
    pub(crate) const FRESH: ColdWatch = ColdWatch {
        heard: Instant::ZERO,
        quiet_since: Instant::ZERO,
        out_since: Instant::ZERO,
        last: None,
        worst: Temperature(0),
        flags: 0,
    };

    /// Whether an alert stands: the compartment takes no new parcel.
    pub(crate) const fn alarmed(&self) -> bool {
        self.flags & (ALERTED | SILENT) != 0
    }

    const fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    fn heard(&self) -> Option<Instant> {
        self.has(HEARD).then_some(self.heard)
    }

    fn quiet_since(&self) -> Option<Instant> {
        self.has(QUIET).then_some(self.quiet_since)
    }

    fn out_since(&self) -> Option<Instant> {
        self.has(OUT).then_some(self.out_since)
    }
}

impl Bank<'_> {
    /// The limits compartment `i` must hold, if it is watched.
    fn cold_limits(&self, i: LayoutIndex) -> Option<TemperatureRange> {
        let c = self.layout.get(i)?;
        self.policy.cold.limits_of(c)
    }

    /// A status answer's temperature for compartment `i` (`None`: the node
    /// has no reading). Raises at most one alert and makes at most two
    /// audit records.
    pub(super) fn observe_temperature(
        &mut self,
        i: LayoutIndex,
        reading: Option<Temperature>,
        now: Instant,
    ) {
        let Some(limits) = self.cold_limits(i) else {
            return;
        };
        let Some(mut s) = self.slots.get(i.get()).copied() else {
            return;
        };
        let cold = self.policy.cold;
        let mut w = s.cold;
        if let Some(t) = reading {
            w.last = Some(t);
        }
        let Some(t) = reading.filter(|t| cold.plausible.contains(*t)) else {
            // No reading, or a sensor's error value: silence.
            self.quiet_answer(i, s, w, now);
            return;
        };
        // The parcel's cold chain: the interval since the last reading
        // counts as that reading said.
        if let Some((mut p, deposited)) = perishable_inside(&s) {
            p.cold.note(t);
            if let (Some(_), Some(heard)) = (w.out_since(), w.heard()) {
                let from = heard.max(deposited);
                p.cold.add_out_of_range(now.saturating_since(from));
            }
            s.parcel = Some(p);
        }
        w.heard = now;
        w.set(HEARD, true);
        w.set(QUIET, false);
        w.set(SILENT, false);
        let mut alert = None;
        let mut restored = None;
        match limits.exceeded(t) {
            Some(limit) => {
                let since = match w.out_since() {
                    Some(since) => {
                        if limits.distance(t) > limits.distance(w.worst) {
                            w.worst = t;
                        }
                        since
                    }
                    None => {
                        w.out_since = now;
                        w.worst = t;
                        w.set(OUT, true);
                        now
                    }
                };
                let out_for = now.saturating_since(since);
                if !w.has(ALERTED) && out_for >= cold.grace {
                    w.set(ALERTED, true);
                    alert = Some(Evidence::Temperature {
                        reading: t,
                        limit,
                        out_for,
                    });
                }
            }
            None => {
                if let (Some(since), true) = (w.out_since(), w.has(ALERTED)) {
                    restored = Some(AuditEvent::TemperatureRestored {
                        out_for: now.saturating_since(since),
                        worst: w.worst,
                    });
                }
                w.set(OUT, false);
                w.set(ALERTED, false);
            }
        }
        s.cold = w;
        self.put(i, s);
        if let Some(evidence) = alert {
            self.raise(
                now,
                AlertKind::TemperatureOutOfRange,
                Some(i),
                evidence,
                None,
            );
            let event = AuditEvent::FaultReported(locker_proto::FaultCode::TemperatureOutOfRange);
            self.record(now, Actor::System, Some(i), event, None);
            // Food or medicine kept out of its range: whoever collects it
            // should know before they do.
            if perishable_inside(&s).is_some() {
                self.tell_collector_of_incident(i, now);
            }
        }
        if let Some(event) = restored {
            self.record(now, Actor::System, Some(i), event, None);
        }
    }

    /// An answer for watched compartment `i` without a plausible
    /// temperature: once such answers have come for longer than
    /// [`ColdPolicy::silent_after`], one alert. A compartment that never
    /// reported a temperature since the bank started has no thermometer to
    /// fall silent (a board without one) and is left alone.
    fn quiet_answer(&mut self, i: LayoutIndex, mut s: Slot, mut w: ColdWatch, now: Instant) {
        if w.last.is_none() {
            return;
        }
        let since = match w.quiet_since() {
            Some(since) => since,
            None => {
                w.quiet_since = now;
                w.set(QUIET, true);
                now
            }
        };
        let due = !w.has(SILENT) && now.saturating_since(since) > self.policy.cold.silent_after;
        if due {
            w.set(SILENT, true);
        }
        s.cold = w;
        self.put(i, s);
        if due {
            let evidence = Evidence::TemperatureSilent {
                last: w.last,
                silent_for: now.saturating_since(w.heard().unwrap_or(since)),
            };
            self.raise(
                now,
                AlertKind::TemperatureSensorSilent,
                Some(i),
                evidence,
                None,
            );
        }
    }

    /// The next temperature reading of this scan to ask for: a
    /// [`Command::GetStatus`] for each watched compartment on a reachable
    /// node, outside door sessions. `None` once every one was asked.
    pub(super) fn next_cold_reading(&mut self) -> Option<(NodeAddr, Command)> {
        while let Some(k) = self.cold_cursor {
            self.cold_cursor = k.checked_add(1);
            let i = LayoutIndex::stored(k);
            let Some(c) = self.layout.get(i).copied() else {
                self.cold_cursor = None;
                return None;
            };
            let in_session = self
                .slots
                .get(i.get())
                .is_some_and(|s| matches!(s.stage, Stage::Door { .. }));
            if self.policy.cold.limits_of(&c).is_some()
                && !in_session
                && !self.unreachable.contains(c.node)
            {
                let command = Command::GetStatus { channel: c.channel };
                return Some((c.node, command));
            }
        }
        None
    }

    /// A perishable parcel leaves compartment `i`: its cold chain goes to
    /// the audit (before the record of its leaving, naming it).
    pub(super) fn record_cold_chain(&mut self, i: LayoutIndex, by: Actor, now: Instant) {
        let Some(p) = self.slots.get(i.get()).and_then(|s| s.parcel) else {
            return;
        };
        if !p.perishable || p.deposited_at.is_none() {
            return;
        }
        let event = AuditEvent::ColdChain {
            min: p.cold.min(),
            max: p.cold.max(),
            out_of_range: p.cold.out_of_range(),
        };
        self.record(now, by, Some(i), event, None);
    }
}
