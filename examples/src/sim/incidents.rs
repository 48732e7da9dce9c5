//! The incidents a bank lives through, how often, and how each ended.

use locker_proto::time::{Duration, Instant};
use serde::Serialize;

/// How many kinds of incident there are.
const KINDS: usize = 12;

/// A kind of incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IncidentKind {
    /// A courier shuts the door without putting the parcel in.
    EmptyDoor,
    /// A collector walks away from an open door.
    DoorAjar,
    /// A door is forced open.
    ForcedDoor,
    /// A lock does not release (half of them only once).
    JammedLock,
    /// A load cell's reading creeps away from its calibration.
    DriftingSensor,
    /// Mains drops for seconds to a minute; the UPS rides it out.
    PowerBlip,
    /// Mains is off for hours: the battery runs down, the bank persists and
    /// shuts down, restarts and reconciles when power is back.
    LongOutage,
    /// A node's firmware hangs; the gateway power-cycles it.
    NodeHang,
    /// Someone types guessed codes at the keypad.
    BruteForce,
    /// A refrigerated compartment's cooling fails: it warms until a
    /// technician repairs it on site.
    FridgeFailure,
    /// A load cell stops answering its node (a dead amplifier, a cut
    /// wire) until staff replace it.
    DeadSensor,
    /// A load cell's amplifier hangs and repeats its last reading until
    /// staff replace it.
    StuckSensor,
}

impl IncidentKind {
    /// Every kind, in report order.
    pub const ALL: [IncidentKind; KINDS] = [
        IncidentKind::EmptyDoor,
        IncidentKind::DoorAjar,
        IncidentKind::ForcedDoor,
        IncidentKind::JammedLock,
        IncidentKind::DriftingSensor,
        IncidentKind::PowerBlip,
        IncidentKind::LongOutage,
        IncidentKind::NodeHang,
        IncidentKind::BruteForce,
        IncidentKind::FridgeFailure,
        IncidentKind::DeadSensor,
        IncidentKind::StuckSensor,
    ];

    /// The name used on the command line, in the report and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            IncidentKind::EmptyDoor => "empty_door",
            IncidentKind::DoorAjar => "door_ajar",
            IncidentKind::ForcedDoor => "forced_door",
            IncidentKind::JammedLock => "jammed_lock",
            IncidentKind::DriftingSensor => "drifting_sensor",
            IncidentKind::PowerBlip => "power_blip",
            IncidentKind::LongOutage => "long_outage",
            IncidentKind::NodeHang => "node_hang",
            IncidentKind::BruteForce => "brute_force",
            IncidentKind::FridgeFailure => "fridge_failure",
            IncidentKind::DeadSensor => "dead_sensor",
            IncidentKind::StuckSensor => "stuck_sensor",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<IncidentKind> {
        // The command line once spelled them with hyphens; both are taken.
        let name = name.replace('-', "_");
        IncidentKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// How soon the system must notice the incident, from the moment the
    /// world broke (for a jammed lock: from the first unlock after it
    /// jammed), before a resident would: the deadlines of the README's
    /// table "how soon each fault is found". `None` where the deadline is
    /// not a time from that moment: a code guesser is judged by wrong codes
    /// (the alert at the eighth), a failed fridge from the moment it leaves
    /// its range (an hour), which depends on how fast it warms.
    ///
    /// "At once" is a minute: the node's report crossing a noisy bus.
    pub const fn detection_deadline(self) -> Option<Duration> {
        match self {
            // While the courier is still at the bank.
            IncidentKind::EmptyDoor => Some(Duration::from_mins(1)),
            // The bank's door-ajar limit (the default policy's 2 min), which
            // the alert waits for by design, and the minute of "at once".
            IncidentKind::DoorAjar => Some(Duration::from_mins(3)),
            // A dead cell: the node's next reading, reported across the
            // bus. A hung node: the polls it misses (the gateway polls
            // every node several times a second).
            IncidentKind::ForcedDoor
            | IncidentKind::PowerBlip
            | IncidentKind::LongOutage
            | IncidentKind::DeadSensor
            | IncidentKind::NodeHang => Some(Duration::from_mins(1)),
            // While the person stands at the door: two confirmation times.
            IncidentKind::JammedLock => Some(Duration::from_secs(30)),
            // Before most compartments see their next deposit. A stuck
            // cell is found by the hourly readings in about six hours, or
            // by the reading after the one door session it spoils.
            IncidentKind::DriftingSensor | IncidentKind::StuckSensor => {
                Some(Duration::from_hours(24))
            }
            IncidentKind::BruteForce | IncidentKind::FridgeFailure => None,
        }
    }

    /// The kind's place in [`IncidentKind::ALL`] (and in per-kind tables).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How often each incident happens.
///
/// `empty_door` and `door_ajar` are fractions of deposits and pickups; the
/// others are expected occurrences per day per 48 compartments (scaled with
/// the bank size; power incidents are per bank). A `fridge_failure` strikes
/// one of the bank's refrigerated compartments (none on a Kerong board,
/// which reports no temperature); a `dead_sensor` or `stuck_sensor` one load
/// cell (none on a Kerong board, whose IR beams the board reads).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IncidentRates([f64; KINDS]);

impl Default for IncidentRates {
    fn default() -> Self {
        let mut rates = IncidentRates([0.0; KINDS]);
        rates.set(IncidentKind::EmptyDoor, 0.01);
        rates.set(IncidentKind::DoorAjar, 0.02);
        rates.set(IncidentKind::ForcedDoor, 0.02);
        rates.set(IncidentKind::JammedLock, 0.05);
        rates.set(IncidentKind::DriftingSensor, 0.02);
        rates.set(IncidentKind::PowerBlip, 0.1);
        rates.set(IncidentKind::LongOutage, 0.01);
        rates.set(IncidentKind::NodeHang, 0.03);
        rates.set(IncidentKind::BruteForce, 0.02);
        rates.set(IncidentKind::FridgeFailure, 0.01);
        // A dead amplifier or a cut wire is rarer than a drifting cell: a
        // few in a bank's life.
        rates.set(IncidentKind::DeadSensor, 0.002);
        rates.set(IncidentKind::StuckSensor, 0.002);
        rates
    }
}

impl IncidentRates {
    /// No incidents at all.
    pub const NONE: IncidentRates = IncidentRates([0.0; KINDS]);

    /// The rate of `kind`.
    pub fn get(&self, kind: IncidentKind) -> f64 {
        self.0.get(kind.index()).copied().unwrap_or(0.0)
    }

    /// Sets the rate of `kind`.
    pub fn set(&mut self, kind: IncidentKind, rate: f64) {
        if let Some(r) = self.0.get_mut(kind.index()) {
            *r = rate.max(0.0);
        }
    }

    /// Every rate multiplied by `factor` (fractions capped at 1).
    #[must_use]
    pub fn scaled(mut self, factor: f64) -> Self {
        for kind in IncidentKind::ALL {
            let mut rate = self.get(kind) * factor;
            if matches!(kind, IncidentKind::EmptyDoor | IncidentKind::DoorAjar) {
                rate = rate.min(1.0);
            }
            self.set(kind, rate);
        }
        self
    }
}

/// How one kind of incident went, as the oracle judged it against the world.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IncidentTally {
    /// Times it happened (injected into the world).
    pub occurred: u64,
    /// Times the system raised the right alert or notice for it.
    pub detected: u64,
    /// Times it ended without anyone coming to the bank.
    pub resolved_without_site_visit: u64,
    /// Times staff had to come to the bank.
    pub needed_site_visit: u64,
    /// The longest time from the incident (for a jammed lock: from the
    /// first unlock after it jammed, until which nothing can show it) to
    /// its detection, in seconds.
    pub slowest_detection_s: u64,
    /// Of those detected, how many after the kind's deadline
    /// ([`IncidentKind::detection_deadline`]; 0 where it has none).
    pub detected_late: u64,
}

impl IncidentTally {
    /// Still unresolved at the end of the run.
    pub fn open(&self) -> u64 {
        self.occurred
            .saturating_sub(self.resolved_without_site_visit + self.needed_site_visit)
    }
}

/// An incident under way, waiting for its resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenIncident {
    /// What.
    pub kind: IncidentKind,
    /// The compartment, if it concerns one (the node's index for a hung node).
    pub slot: Option<usize>,
    /// Whether the system raised the right alert or notice for it yet.
    pub detected: bool,
    /// Since when the system could notice it.
    pub since: Instant,
    /// Nothing can show it yet (a jammed lock nobody has unlocked since).
    pub latent: bool,
}

/// Every incident of a run.
#[derive(Clone, Debug, Default)]
pub struct IncidentLog {
    tallies: [IncidentTally; KINDS],
    open: Vec<OpenIncident>,
}

impl IncidentLog {
    /// An incident starts at `now`. A jammed lock is latent until
    /// [`exercised`](Self::exercised).
    pub fn start(&mut self, kind: IncidentKind, slot: Option<usize>, now: Instant) {
        if let Some(t) = self.tallies.get_mut(kind.index()) {
            t.occurred += 1;
        }
        self.open.push(OpenIncident {
            kind,
            slot,
            detected: false,
            since: now,
            latent: kind == IncidentKind::JammedLock,
        });
    }

    /// Something at `now` could show the latent incidents of `kind` on
    /// `slot` (an unlock of a jammed lock): detection time counts from here.
    pub fn exercised(&mut self, kind: IncidentKind, slot: usize, now: Instant) {
        for o in &mut self.open {
            if o.kind == kind && o.slot == Some(slot) && o.latent {
                o.latent = false;
                o.since = now;
            }
        }
    }

    /// Open incidents of `kind` that were never detected, how many of them
    /// are still latent (nothing could show them yet), and how many are
    /// past the kind's deadline at `end` (missed, not merely recent).
    pub fn undetected_open(&self, kind: IncidentKind, end: Instant) -> (u64, u64, u64) {
        let mut undetected = 0;
        let mut latent = 0;
        let mut overdue = 0;
        for o in self.open.iter().filter(|o| o.kind == kind && !o.detected) {
            undetected += 1;
            latent += u64::from(o.latent);
            let late = kind
                .detection_deadline()
                .is_some_and(|d| end.saturating_since(o.since) > d);
            overdue += u64::from(!o.latent && late);
        }
        (undetected, latent, overdue)
    }

    /// The system raised the alert or notice that `kind` (on `slot`, if
    /// given) calls for: the oldest such open incident not yet detected
    /// counts as detected. Returns whether there was one.
    pub fn detect(&mut self, kind: IncidentKind, slot: Option<usize>, now: Instant) -> bool {
        let Some(open) = self
            .open
            .iter_mut()
            .find(|o| o.kind == kind && !o.detected && (slot.is_none() || o.slot == slot))
        else {
            return false;
        };
        open.detected = true;
        let took = now.saturating_since(open.since);
        let late = kind.detection_deadline().is_some_and(|d| took > d);
        if let Some(t) = self.tallies.get_mut(kind.index()) {
            t.detected += 1;
            t.detected_late += u64::from(late);
            t.slowest_detection_s = t.slowest_detection_s.max(took.as_millis() / 1_000);
        }
        true
    }

    /// The oldest open incident of `kind` (on `slot`, if given) ended;
    /// `by_staff` says whether staff ended it. Returns whether one was open.
    pub fn resolve(&mut self, kind: IncidentKind, slot: Option<usize>, by_staff: bool) -> bool {
        let Some(at) = self
            .open
            .iter()
            .position(|o| o.kind == kind && (slot.is_none() || o.slot == slot))
        else {
            return false;
        };
        self.open.remove(at);
        if let Some(t) = self.tallies.get_mut(kind.index()) {
            if by_staff {
                t.needed_site_visit += 1;
            } else {
                t.resolved_without_site_visit += 1;
            }
        }
        true
    }

    /// The newest open incident of `kind` (on `slot`, if given), still
    /// undetected, did not happen after all (a code guesser who found the
    /// keypad locked from an earlier attack and left without typing a
    /// code): it is forgotten, not counted as occurred. Returns whether
    /// there was one.
    pub fn withdraw(&mut self, kind: IncidentKind, slot: Option<usize>) -> bool {
        let Some(at) = self
            .open
            .iter()
            .rposition(|o| o.kind == kind && !o.detected && (slot.is_none() || o.slot == slot))
        else {
            return false;
        };
        self.open.remove(at);
        if let Some(t) = self.tallies.get_mut(kind.index()) {
            t.occurred = t.occurred.saturating_sub(1);
        }
        true
    }

    /// Staff dealt with `slot`: every incident open on it that the system
    /// told them of (detected) ends, by staff, but a failed fridge, which
    /// waits for its refrigeration technician. Staff do not mend what
    /// nobody told them of: an undetected fault stays open, for the system
    /// to find.
    pub fn staff_cleared(&mut self, slot: usize) -> u64 {
        let kinds: Vec<IncidentKind> = self
            .open
            .iter()
            .filter(|o| o.slot == Some(slot) && o.detected && o.kind != IncidentKind::FridgeFailure)
            .map(|o| o.kind)
            .collect();
        for kind in &kinds {
            self.resolve(*kind, Some(slot), true);
        }
        kinds.len() as u64
    }

    /// Whether an incident of `kind` is open (on `slot`, if given) and the
    /// system raised its alert: what staff know of.
    pub fn is_known(&self, kind: IncidentKind, slot: Option<usize>) -> bool {
        self.open
            .iter()
            .any(|o| o.kind == kind && o.detected && (slot.is_none() || o.slot == slot))
    }

    /// Whether an incident of `kind` is open (on `slot`, if given).
    pub fn is_open(&self, kind: IncidentKind, slot: Option<usize>) -> bool {
        self.open
            .iter()
            .any(|o| o.kind == kind && (slot.is_none() || o.slot == slot))
    }

    /// The tally of `kind`.
    pub fn tally(&self, kind: IncidentKind) -> IncidentTally {
        self.tallies.get(kind.index()).copied().unwrap_or_default()
    }

    /// Adds another log's tallies (banks of a site).
    pub fn absorb(&mut self, other: &IncidentLog) {
        for (mine, theirs) in self.tallies.iter_mut().zip(other.tallies.iter()) {
            mine.occurred += theirs.occurred;
            mine.detected += theirs.detected;
            mine.resolved_without_site_visit += theirs.resolved_without_site_visit;
            mine.needed_site_visit += theirs.needed_site_visit;
            mine.slowest_detection_s = mine.slowest_detection_s.max(theirs.slowest_detection_s);
            mine.detected_late += theirs.detected_late;
        }
        self.open.extend(other.open.iter().copied());
    }
}
