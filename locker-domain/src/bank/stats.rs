//! Counters a gateway exports (Prometheus, the backend's dashboard), and
//! the analytics a property manager reads: when parcels come and go, how
//! long they stay, which sizes are used and why parcels were turned away.
//!
//! Everything here is a bank-wide figure in fixed-size arrays (no per
//! compartment cost, nothing allocated), counted with saturating
//! arithmetic, kept since the bank was first started and carried across
//! restarts in the snapshot (see [`persist`](super::persist)).

use chrono::{Datelike, NaiveDateTime, Timelike};
use locker_proto::SizeClass;
use locker_proto::time::Duration;
use serde::{Deserialize, Serialize};

use super::alert::AlertKind;

/// What the bank has done since it was first started (persisted across restarts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Verified deposits.
    pub deposits: u32,
    /// Verified pickups (collector or override).
    pub pickups: u32,
    /// Reminders sent.
    pub reminders: u32,
    /// Escalations sent.
    pub escalations: u32,
    /// Parcels expired.
    pub expiries: u32,
    /// Alerts raised, indexed by [`AlertKind::index`].
    pub alerts: [u32; AlertKind::COUNT],
    /// Total time parcels spent between deposit and pickup, in milliseconds.
    pub dwell_total_ms: u64,
    /// Authenticated remote opens accepted.
    pub remote_opens: u32,
    /// Remote opens refused for security (forged, replayed, stale, over the
    /// rate limit or while locked).
    pub remote_opens_refused: u32,
    /// Offline tokens redeemed.
    pub tokens_redeemed: u32,
    /// Offline tokens refused (well-formed but not valid here and now).
    pub tokens_refused: u32,
    /// When parcels come and go, how long they stay, which sizes and why
    /// parcels were refused (snapshot format 7 on; zero in a bank restored
    /// from an older snapshot).
    pub analytics: Analytics,
}

impl Stats {
    /// Alerts of `kind` raised so far.
    pub fn alerts_of(&self, kind: AlertKind) -> u32 {
        self.alerts.get(kind.index()).copied().unwrap_or(0)
    }

    /// Mean time between deposit and pickup, in milliseconds.
    pub fn mean_dwell_ms(&self) -> Option<u64> {
        (self.pickups > 0).then(|| self.dwell_total_ms / u64::from(self.pickups))
    }

    pub(crate) fn count_alert(&mut self, kind: AlertKind) {
        if let Some(n) = self.alerts.get_mut(kind.index()) {
            *n = n.saturating_add(1);
        }
    }
}

/// Hours of the day.
pub const HOURS: usize = 24;
/// Days of the week, Monday first.
pub const WEEKDAYS: usize = 7;
/// Size classes, in [`size_index`] order (small to extra large).
pub const SIZE_CLASSES: usize = 4;
/// Buckets of the dwell-time histogram ([`DWELL_BOUNDS_HOURS`]).
pub const DWELL_BUCKETS: usize = 7;
/// The upper bounds of the dwell-time buckets but the last, in hours, each
/// bound belonging to the bucket above it: `< 1 h`, `1–4 h`, `4–12 h`,
/// `12–24 h`, `24–48 h`, `48–72 h`, `≥ 72 h`. The bounds at 24, 48 and
/// 72 h are the default reminder, escalation and expiry deadlines: the
/// buckets above them count the parcels collected after a reminder, after
/// an escalation, and after their expiry deadline (a parcel given more
/// time). A removal by staff is not a pickup and is in no bucket.
pub const DWELL_BOUNDS_HOURS: [u64; DWELL_BUCKETS - 1] = [1, 4, 12, 24, 48, 72];

/// The size classes in index order.
pub const SIZES: [SizeClass; SIZE_CLASSES] = [
    SizeClass::Small,
    SizeClass::Medium,
    SizeClass::Large,
    SizeClass::ExtraLarge,
];

/// The index of `size` in per-size tables ([`SIZES`]).
pub const fn size_index(size: SizeClass) -> usize {
    match size {
        SizeClass::Small => 0,
        SizeClass::Medium => 1,
        SizeClass::Large => 2,
        SizeClass::ExtraLarge => 3,
    }
}

/// The dwell-time bucket a parcel collected after `dwell` counts in (see
/// [`DWELL_BOUNDS_HOURS`]).
pub fn dwell_bucket(dwell: Duration) -> usize {
    let ms = dwell.as_millis();
    DWELL_BOUNDS_HOURS
        .iter()
        .position(|h| ms < h.saturating_mul(3_600_000))
        .unwrap_or(DWELL_BUCKETS - 1)
}

/// Why a new parcel was turned away ([`Bank::reserve`](super::Bank::reserve)
/// and [`Bank::reserve_with_code_hash`](super::Bank::reserve_with_code_hash)
/// refused it), as a property manager reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Refusal {
    /// No compartment of the bank could ever hold it
    /// ([`AllocationError::Oversize`](super::AllocationError::Oversize)).
    Oversize,
    /// Every compartment that fits it (with what it needs: refrigerated,
    /// accessible) holds or awaits a parcel
    /// ([`AllocationError::BankFull`](super::AllocationError::BankFull),
    /// [`NoRefrigeratedFree`](super::AllocationError::NoRefrigeratedFree),
    /// [`NoAccessibleFree`](super::AllocationError::NoAccessibleFree)
    /// when no compartment that fits is out of service).
    BankFull,
    /// The bank could have taken it but did not: a compartment that fits
    /// stands empty out of service, the operator made the bank unavailable,
    /// a reset is under way, or the battery is low or critical
    /// ([`BankError::DepositsClosed`](super::BankError::DepositsClosed),
    /// [`BankError::ShuttingDown`](super::BankError::ShuttingDown),
    /// [`AllocationError::LowBattery`](super::AllocationError::LowBattery)).
    Unavailable,
}

impl Refusal {
    /// Refusal reasons.
    pub const COUNT: usize = 3;
    /// Every reason, in index order.
    pub const ALL: [Refusal; Refusal::COUNT] =
        [Refusal::Oversize, Refusal::BankFull, Refusal::Unavailable];

    /// The reason's index in [`Analytics::refusals`].
    pub const fn index(self) -> usize {
        match self {
            Refusal::Oversize => 0,
            Refusal::BankFull => 1,
            Refusal::Unavailable => 2,
        }
    }

    /// The reason in snake_case, as in the uplink's JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Refusal::Oversize => "oversize",
            Refusal::BankFull => "bank_full",
            Refusal::Unavailable => "unavailable",
        }
    }
}

/// What a property manager reads off a bank: deposits and pickups by hour
/// of day and by weekday, a dwell-time histogram, deposits per size class
/// and refusals by reason. Since the bank was first started, bank-wide,
/// every count saturating at `u32::MAX`.
///
/// Hours and weekdays are the bank's **local time**: its UTC wall clock
/// ([`Bank::set_wall_clock`](super::Bank::set_wall_clock)) in the policy's
/// [`time_zone`](super::Policy::time_zone), the clock quiet hours use. A deposit or pickup made while the bank has no wall
/// clock is counted in [`Stats::deposits`] and [`Stats::pickups`], in the
/// dwell histogram and per size, but in no hour and no weekday: the bank
/// does not guess the time of day, so the hour and weekday tables may sum
/// to less than the totals ([`Analytics::unclocked_deposits`] says by how
/// much).
///
/// Refusals count the calls that asked for a new parcel and were refused
/// for a reason of the bank's (not a bad code hash or a broken random
/// source); a courier who tries again is counted again. They are counted
/// in memory at once and persisted with the next snapshot.
///
/// # Example
///
/// ```
/// use locker_domain::bank::{Analytics, Refusal, DWELL_BOUNDS_HOURS};
/// use locker_proto::SizeClass;
/// use locker_proto::time::Duration;
///
/// // A morning's figures, as a dashboard reads them.
/// let mut a = Analytics::default();
/// a.deposits_by_hour[8] = 12;
/// a.deposits_by_hour[17] = 3;
/// a.refusals[Refusal::BankFull.index()] = 2;
/// assert_eq!(a.peak_deposit_hour(), Some(8));
/// assert_eq!(a.refused(Refusal::BankFull), 2);
/// // A parcel collected after 30 h is in the 24–48 h bucket.
/// let bucket = locker_domain::bank::dwell_bucket(Duration::from_secs(30 * 3600));
/// assert_eq!((DWELL_BOUNDS_HOURS[bucket - 1], DWELL_BOUNDS_HOURS[bucket]), (24, 48));
/// assert_eq!(a.deposits_of(SizeClass::Small), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analytics {
    /// Verified deposits by local hour of day (0 = midnight to 1 am).
    pub deposits_by_hour: [u32; HOURS],
    /// Verified pickups (collector or override) by local hour of day.
    pub pickups_by_hour: [u32; HOURS],
    /// Verified deposits by local weekday, Monday first.
    pub deposits_by_weekday: [u32; WEEKDAYS],
    /// Verified pickups by local weekday, Monday first.
    pub pickups_by_weekday: [u32; WEEKDAYS],
    /// Verified pickups by time since the deposit, in the buckets of
    /// [`DWELL_BOUNDS_HOURS`].
    pub dwell: [u32; DWELL_BUCKETS],
    /// Verified deposits by the size class of the compartment, in
    /// [`SIZES`] order.
    pub deposits_by_size: [u32; SIZE_CLASSES],
    /// New parcels refused, by [`Refusal::index`].
    pub refusals: [u32; Refusal::COUNT],
}

impl Analytics {
    /// Refusals for `reason`.
    pub fn refused(&self, reason: Refusal) -> u32 {
        self.refusals.get(reason.index()).copied().unwrap_or(0)
    }

    /// Deposits into compartments of `size`.
    pub fn deposits_of(&self, size: SizeClass) -> u32 {
        self.deposits_by_size
            .get(size_index(size))
            .copied()
            .unwrap_or(0)
    }

    /// The local hour with the most deposits (the earliest on a tie), or
    /// `None` before any clocked deposit.
    pub fn peak_deposit_hour(&self) -> Option<usize> {
        peak(&self.deposits_by_hour)
    }

    /// The local hour with the most pickups (the earliest on a tie), or
    /// `None` before any clocked pickup.
    pub fn peak_pickup_hour(&self) -> Option<usize> {
        peak(&self.pickups_by_hour)
    }

    /// Deposits of `stats` counted in no hour (made without a wall clock).
    pub fn unclocked_deposits(&self, stats: &Stats) -> u32 {
        let clocked = self
            .deposits_by_hour
            .iter()
            .fold(0u32, |a, n| a.saturating_add(*n));
        stats.deposits.saturating_sub(clocked)
    }

    /// Counts a verified deposit into a compartment of `size` at local
    /// time `wall`, if known.
    pub(crate) fn count_deposit(&mut self, size: Option<SizeClass>, wall: Option<NaiveDateTime>) {
        if let Some(n) = size.and_then(|s| self.deposits_by_size.get_mut(size_index(s))) {
            *n = n.saturating_add(1);
        }
        if let Some(wall) = wall {
            bump(&mut self.deposits_by_hour, wall.hour() as usize);
            bump(
                &mut self.deposits_by_weekday,
                wall.weekday().num_days_from_monday() as usize,
            );
        }
    }

    /// Counts a verified pickup `dwell` after its deposit at local time
    /// `wall`, if known.
    pub(crate) fn count_pickup(&mut self, dwell: Duration, wall: Option<NaiveDateTime>) {
        bump(&mut self.dwell, dwell_bucket(dwell));
        if let Some(wall) = wall {
            bump(&mut self.pickups_by_hour, wall.hour() as usize);
            bump(
                &mut self.pickups_by_weekday,
                wall.weekday().num_days_from_monday() as usize,
            );
        }
    }

    /// Counts a new parcel refused for `reason`.
    pub(crate) fn count_refusal(&mut self, reason: Refusal) {
        bump(&mut self.refusals, reason.index());
    }
}

fn bump(table: &mut [u32], i: usize) {
    if let Some(n) = table.get_mut(i) {
        *n = n.saturating_add(1);
    }
}

fn peak(table: &[u32]) -> Option<usize> {
    let mut best: Option<(usize, u32)> = None;
    for (i, n) in table.iter().enumerate() {
        if *n > 0 && best.is_none_or(|(_, b)| *n > b) {
            best = Some((i, *n));
        }
    }
    best.map(|(i, _)| i)
}

/// How full the bank is right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utilisation {
    /// Compartments in the layout.
    pub compartments: usize,
    /// Compartments free and in service.
    pub free: usize,
    /// Compartments out of service.
    pub out_of_service: usize,
}

/// How full the compartments of one size class are right now
/// ([`Bank::utilisation_by_size`](super::Bank::utilisation_by_size)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SizeUtilisation {
    /// Compartments of the class in the layout.
    pub compartments: usize,
    /// Compartments of the class whose books say a parcel is inside
    /// (stored, expired, or open for its pickup or removal).
    pub occupied: usize,
    /// Compartments of the class free and in service.
    pub free: usize,
    /// Compartments of the class out of service.
    pub out_of_service: usize,
}

impl SizeUtilisation {
    /// `occupied / compartments`, in percent (0 for a class the bank does
    /// not have).
    pub fn occupied_percent(&self) -> f32 {
        if self.compartments == 0 {
            0.0
        } else {
            100.0 * self.occupied as f32 / self.compartments as f32
        }
    }
}
