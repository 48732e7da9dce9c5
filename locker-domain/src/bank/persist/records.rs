//! The snapshot's record types: what is written to disk, defined for the
//! disk and not for the bank's memory.
//!
//! The bank's in-memory structs may change shape in any release; these do
//! not. Each record has a fixed postcard encoding, pinned by the golden
//! snapshots under `tests/golden/snapshot/`; a change to any of them is a new
//! [`SNAPSHOT_VERSION`](super::SNAPSHOT_VERSION) with a reader of the old
//! one, never an edit in place. The vocabulary they use (`Actor`,
//! `ParcelKind`, `Purpose`, `ServiceReason`, `DoorState`, `PowerStatus`,
//! `Instant`, the audit, alert and notification types) is encoded by variant
//! index and field order, so those enums only ever grow at the end.
//!
//! Format 2's records that format 3 changed are kept here, frozen, with
//! their upgrade: [`SlotRecordV2`] (its parcel had no re-open count) and
//! [`StatsV2`]; so are format 3's that format 4 changed: [`MetaRecordV3`]
//! (no last audit link) and [`AuditRecordV3`] (no link); and formats 3 to
//! 5's that format 6 changed: [`SlotRecordV5`] (its parcel did not know
//! whether it was perishable, and kept no cold chain); and formats 3 to
//! 6's that format 7 changed: [`StatsRecordV6`] (no analytics).

use heapless::Vec;
use locker_proto::time::{Duration, Instant};
use locker_proto::{DoorState, PowerStatus, Temperature};
use serde::{Deserialize, Serialize};

use chrono::NaiveDateTime;
use locker_proto::CompartmentId;

use crate::bank::alert::SnapshotRef;
use crate::bank::audit::{Actor, AuditEvent, AuditRecord, ServiceReason};
use crate::bank::chain::AuditLink;
use crate::bank::codes::CodeHash;
use crate::bank::cold::{ColdChain, ColdWatch};
use crate::bank::incarnation::Incarnation;
use crate::bank::keys::BankId;
use crate::bank::parcel::{DoorPhase, Parcel, ParcelId, ParcelKind, Purpose, Stage};
use crate::bank::slot::Slot;
use crate::bank::stats::{Analytics, DWELL_BUCKETS, HOURS, Stats, WEEKDAYS};

/// The bank's identity and counters, first in the body.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct MetaRecord {
    pub(crate) bank: BankId,
    /// [`BankKeys::fingerprint`](crate::bank::BankKeys::fingerprint).
    pub(crate) keys: [u8; 8],
    /// The bank's clock when the snapshot was taken: every instant in the
    /// snapshot is rebased from it onto the restoring clock.
    pub(crate) taken_at: Instant,
    pub(crate) next_seq: u64,
    pub(crate) next_parcel: u32,
    pub(crate) next_snapshot: u32,
    pub(crate) power: PowerStatus,
    /// The link of the last audit record made (format 4 on).
    pub(crate) last_link: AuditLink,
    /// The bank's incarnation (format 5 on).
    pub(crate) incarnation: Incarnation,
}

/// Format 4's [`MetaRecord`]: no incarnation yet.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct MetaRecordV4 {
    pub(crate) bank: BankId,
    pub(crate) keys: [u8; 8],
    pub(crate) taken_at: Instant,
    pub(crate) next_seq: u64,
    pub(crate) next_parcel: u32,
    pub(crate) next_snapshot: u32,
    pub(crate) power: PowerStatus,
    pub(crate) last_link: AuditLink,
}

impl MetaRecordV4 {
    /// The record as format 5 has it, in [`Incarnation::UNSET`].
    pub(crate) fn upgrade(self) -> MetaRecord {
        MetaRecord {
            bank: self.bank,
            keys: self.keys,
            taken_at: self.taken_at,
            next_seq: self.next_seq,
            next_parcel: self.next_parcel,
            next_snapshot: self.next_snapshot,
            power: self.power,
            last_link: self.last_link,
            incarnation: Incarnation::UNSET,
        }
    }
}

/// Formats 2 and 3's [`MetaRecord`]: no audit chain yet.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct MetaRecordV3 {
    pub(crate) bank: BankId,
    pub(crate) keys: [u8; 8],
    pub(crate) taken_at: Instant,
    pub(crate) next_seq: u64,
    pub(crate) next_parcel: u32,
    pub(crate) next_snapshot: u32,
    pub(crate) power: PowerStatus,
}

impl MetaRecordV3 {
    /// The record as format 5 has it, the chain not started
    /// ([`AuditLink::GENESIS`]; see [the genesis rule](crate::bank::chain)),
    /// in [`Incarnation::UNSET`].
    pub(crate) fn upgrade(self) -> MetaRecord {
        MetaRecord {
            bank: self.bank,
            keys: self.keys,
            taken_at: self.taken_at,
            next_seq: self.next_seq,
            next_parcel: self.next_parcel,
            next_snapshot: self.next_snapshot,
            power: self.power,
            last_link: AuditLink::GENESIS,
            incarnation: Incarnation::UNSET,
        }
    }
}

/// Formats 2 and 3's audit record: the bank's [`AuditRecord`] before it
/// carried a link.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct AuditRecordV3 {
    pub(crate) seq: u64,
    pub(crate) at: Instant,
    pub(crate) wall: Option<NaiveDateTime>,
    pub(crate) actor: Actor,
    pub(crate) compartment: Option<CompartmentId>,
    pub(crate) parcel: Option<ParcelId>,
    pub(crate) event: AuditEvent,
    pub(crate) snapshot: Option<SnapshotRef>,
}

impl AuditRecordV3 {
    /// The record with its link, following a record whose link is `previous`.
    pub(crate) fn upgrade(self, previous: &AuditLink) -> AuditRecord {
        let mut record = AuditRecord {
            seq: self.seq,
            at: self.at,
            wall: self.wall,
            actor: self.actor,
            compartment: self.compartment,
            parcel: self.parcel,
            event: self.event,
            snapshot: self.snapshot,
            link: AuditLink::GENESIS,
        };
        record.link = previous.then(&record);
        record
    }
}

/// A compartment's books.
pub(crate) type SlotRecord = SlotRecordOf<ParcelRecord>;

/// A compartment's books with the parcel record `P` of one format: formats
/// 2 to 6 differ only in their parcel record.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct SlotRecordOf<P> {
    pub(crate) stage: StageRecord,
    pub(crate) parcel: Option<P>,
    pub(crate) door: DoorState,
    pub(crate) occupied: Option<bool>,
    pub(crate) out_of_service: Option<ServiceReason>,
    pub(crate) door_timer: Option<Instant>,
    pub(crate) parcel_timer: Option<Instant>,
    pub(crate) ajar_reported: bool,
}

impl<P> SlotRecordOf<P> {
    /// The same books with the parcel record converted by `upgrade`.
    fn map_parcel<Q>(self, upgrade: impl FnOnce(P) -> Q) -> SlotRecordOf<Q> {
        SlotRecordOf {
            stage: self.stage,
            parcel: self.parcel.map(upgrade),
            door: self.door,
            occupied: self.occupied,
            out_of_service: self.out_of_service,
            door_timer: self.door_timer,
            parcel_timer: self.parcel_timer,
            ajar_reported: self.ajar_reported,
        }
    }
}

/// A compartment's stage.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) enum StageRecord {
    Free,
    Reserved,
    Door {
        purpose: Purpose,
        phase: PhaseRecord,
        by: Actor,
    },
    Stored,
    Expired,
}

/// Where a door session is.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) enum PhaseRecord {
    Unlocking { attempt: u8 },
    Open,
    Verifying,
}

/// A parcel: its number, kind, code hash and clock.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct ParcelRecord {
    pub(crate) id: u32,
    pub(crate) kind: ParcelKind,
    pub(crate) code: [u8; 16],
    pub(crate) clock_base: Instant,
    pub(crate) deposited_at: Option<Instant>,
    pub(crate) notices: u8,
    /// Pickups by code that left the parcel inside.
    pub(crate) reopens: u8,
    /// Reserved as perishable (format 6 on).
    pub(crate) perishable: bool,
    /// Its cold chain so far: lowest and highest reading, time out of
    /// range (format 6 on).
    pub(crate) cold_min: Option<Temperature>,
    pub(crate) cold_max: Option<Temperature>,
    pub(crate) out_of_range: Duration,
}

/// The most alert kinds a stats record counts.
pub(crate) const MAX_ALERT_KINDS: usize = 32;

/// The most size classes an analytics record counts.
pub(crate) const MAX_SIZE_CLASSES: usize = 8;
/// The most refusal reasons an analytics record counts.
pub(crate) const MAX_REFUSALS: usize = 8;

/// The bank's counters (format 7 on): format 3 to 6's, then the
/// analytics. Postcard writes a nested struct's fields in place, so this
/// is byte for byte format 3 to 6's record followed by the analytics.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StatsRecord {
    pub(crate) counters: StatsRecordV6,
    pub(crate) analytics: AnalyticsRecord,
}

/// The analytics (format 7 on). Hours, weekdays and dwell buckets are
/// fixed by the format (their bounds are documented in `bank::stats`);
/// size classes and refusal reasons are lists by index, so a new one does
/// not change the record's shape.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct AnalyticsRecord {
    pub(crate) deposits_by_hour: [u32; HOURS],
    pub(crate) pickups_by_hour: [u32; HOURS],
    pub(crate) deposits_by_weekday: [u32; WEEKDAYS],
    pub(crate) pickups_by_weekday: [u32; WEEKDAYS],
    pub(crate) dwell: [u32; DWELL_BUCKETS],
    pub(crate) deposits_by_size: Vec<u32, MAX_SIZE_CLASSES>,
    pub(crate) refusals: Vec<u32, MAX_REFUSALS>,
}

/// Formats 3 to 6's counters. Alert counts are a list by
/// [`AlertKind::index`](crate::bank::AlertKind::index), so a new alert kind
/// does not change the record's shape.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StatsRecordV6 {
    pub(crate) deposits: u32,
    pub(crate) pickups: u32,
    pub(crate) reminders: u32,
    pub(crate) escalations: u32,
    pub(crate) expiries: u32,
    pub(crate) dwell_total_ms: u64,
    pub(crate) remote_opens: u32,
    pub(crate) remote_opens_refused: u32,
    pub(crate) tokens_redeemed: u32,
    pub(crate) tokens_refused: u32,
    pub(crate) alerts: Vec<u32, MAX_ALERT_KINDS>,
}

impl StatsRecordV6 {
    /// The same counters as a format 7 record, the analytics zero (the
    /// older formats did not count them).
    pub(crate) fn upgrade(self) -> StatsRecord {
        StatsRecord {
            counters: self,
            analytics: AnalyticsRecord::default(),
        }
    }
}

/// The remote-open books: last request id, recent opens, the lock.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RemoteRecord {
    pub(crate) last_request: Option<u64>,
    pub(crate) opens: Vec<Instant, 32>,
    pub(crate) locked_at: Option<Instant>,
    pub(crate) forged_alert_at: Option<Instant>,
}

/// Code hashes of parcels taken to the counter, with when (format 5 on).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ShelfRecord {
    pub(crate) parcels: Vec<(CodeHash, Instant), { crate::bank::counter::AT_COUNTER }>,
}

/// The most keypads a snapshot carries.
pub(crate) const MAX_KEYPADS: usize = 16;
/// The most bank-wide wrong-code buckets a snapshot carries.
pub(crate) const MAX_SPIKE_BUCKETS: usize = 16;

/// One keypad's wrong-code count and lockout.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct KeypadRecord {
    pub(crate) failures: u16,
    pub(crate) last_failure: Instant,
    pub(crate) locked_until: Option<Instant>,
}

/// Every keypad's lockout and the bank-wide wrong-code count, by the start
/// of each counting bucket.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeypadsRecord {
    pub(crate) keypads: Vec<KeypadRecord, MAX_KEYPADS>,
    pub(crate) spike: Vec<(Instant, u16), MAX_SPIKE_BUCKETS>,
    pub(crate) in_spike: bool,
    pub(crate) latest: Instant,
}

/// One compartment's sensor-health history.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct HealthRecord {
    pub(crate) reading: i32,
    pub(crate) reading_since: Instant,
    pub(crate) door_changes_since_reading: u16,
    pub(crate) flap_window_start: Instant,
    pub(crate) last_door_change: Instant,
    pub(crate) flap_count: u8,
    pub(crate) lock_faults: u8,
    /// Episodes alerted and readings seen, as bits (see `bank::health`).
    pub(crate) flags: u8,
}

/// Moves an instant of the snapshot's clock onto the restoring clock.
#[derive(Clone, Copy)]
pub(crate) struct Rebase {
    pub(crate) from: Instant,
    pub(crate) to: Instant,
}

impl Rebase {
    pub(crate) fn at(self, t: Instant) -> Instant {
        if self.to >= self.from {
            t + (self.to - self.from)
        } else {
            t - (self.from - self.to)
        }
    }

    pub(crate) fn opt(self, t: Option<Instant>) -> Option<Instant> {
        t.map(|t| self.at(t))
    }
}

impl SlotRecord {
    pub(crate) fn of(s: &Slot) -> Self {
        SlotRecord {
            stage: StageRecord::of(s.stage),
            parcel: s.parcel.as_ref().map(ParcelRecord::of),
            door: s.door,
            occupied: s.occupied,
            out_of_service: s.out_of_service,
            door_timer: s.door_timer,
            parcel_timer: s.parcel_timer,
            ajar_reported: s.ajar_reported,
        }
    }

    /// The compartment's books on the restoring clock, or `None` if the
    /// record contradicts itself (a parcel in a free compartment, a stored
    /// stage without one).
    pub(crate) fn to_slot(self, clock: Rebase) -> Option<Slot> {
        let stage = self.stage.to_stage();
        let parcel = self.parcel.map(|p| p.to_parcel(clock));
        let consistent = match stage {
            Stage::Free
            | Stage::Door {
                purpose: Purpose::Inspection,
                ..
            } => parcel.is_none(),
            _ => parcel.is_some(),
        };
        consistent.then_some(Slot {
            stage,
            parcel,
            door: self.door,
            occupied: self.occupied,
            out_of_service: self.out_of_service,
            door_timer: clock.opt(self.door_timer),
            parcel_timer: clock.opt(self.parcel_timer),
            ajar_reported: self.ajar_reported,
            // The watch starts afresh (see `cold`).
            cold: ColdWatch::FRESH,
        })
    }
}

impl StageRecord {
    fn of(stage: Stage) -> Self {
        match stage {
            Stage::Free => StageRecord::Free,
            Stage::Reserved => StageRecord::Reserved,
            Stage::Door { purpose, phase, by } => StageRecord::Door {
                purpose,
                phase: match phase {
                    DoorPhase::Unlocking { attempt } => PhaseRecord::Unlocking { attempt },
                    DoorPhase::Open => PhaseRecord::Open,
                    DoorPhase::Verifying => PhaseRecord::Verifying,
                },
                by,
            },
            Stage::Stored => StageRecord::Stored,
            Stage::Expired => StageRecord::Expired,
        }
    }

    fn to_stage(self) -> Stage {
        match self {
            StageRecord::Free => Stage::Free,
            StageRecord::Reserved => Stage::Reserved,
            StageRecord::Door { purpose, phase, by } => Stage::Door {
                purpose,
                phase: match phase {
                    PhaseRecord::Unlocking { attempt } => DoorPhase::Unlocking { attempt },
                    PhaseRecord::Open => DoorPhase::Open,
                    PhaseRecord::Verifying => DoorPhase::Verifying,
                },
                by,
            },
            StageRecord::Stored => Stage::Stored,
            StageRecord::Expired => Stage::Expired,
        }
    }
}

impl ParcelRecord {
    fn of(p: &Parcel) -> Self {
        ParcelRecord {
            id: p.id.0,
            kind: p.kind,
            code: p.code.to_bytes(),
            clock_base: p.clock_base,
            deposited_at: p.deposited_at,
            notices: p.notices,
            reopens: p.reopens,
            perishable: p.perishable,
            cold_min: p.cold.min(),
            cold_max: p.cold.max(),
            out_of_range: p.cold.out_of_range(),
        }
    }

    fn to_parcel(self, clock: Rebase) -> Parcel {
        Parcel {
            id: ParcelId(self.id),
            kind: self.kind,
            code: CodeHash::from_bytes(self.code),
            clock_base: clock.at(self.clock_base),
            deposited_at: clock.opt(self.deposited_at),
            notices: self.notices,
            reopens: self.reopens,
            perishable: self.perishable,
            cold: ColdChain::from_parts(self.cold_min, self.cold_max, self.out_of_range),
        }
    }
}

impl StatsRecord {
    pub(crate) fn of(s: &Stats) -> Self {
        StatsRecord {
            counters: StatsRecordV6 {
                deposits: s.deposits,
                pickups: s.pickups,
                reminders: s.reminders,
                escalations: s.escalations,
                expiries: s.expiries,
                dwell_total_ms: s.dwell_total_ms,
                remote_opens: s.remote_opens,
                remote_opens_refused: s.remote_opens_refused,
                tokens_redeemed: s.tokens_redeemed,
                tokens_refused: s.tokens_refused,
                alerts: s.alerts.iter().copied().take(MAX_ALERT_KINDS).collect(),
            },
            analytics: AnalyticsRecord::of(&s.analytics),
        }
    }

    /// The counters; alert kinds, size classes and refusal reasons this
    /// build does not know are dropped.
    pub(crate) fn to_stats(&self) -> Stats {
        let c = &self.counters;
        let mut alerts = [0; crate::bank::AlertKind::COUNT];
        for (to, from) in alerts.iter_mut().zip(&c.alerts) {
            *to = *from;
        }
        Stats {
            analytics: self.analytics.to_analytics(),
            deposits: c.deposits,
            pickups: c.pickups,
            reminders: c.reminders,
            escalations: c.escalations,
            expiries: c.expiries,
            alerts,
            dwell_total_ms: c.dwell_total_ms,
            remote_opens: c.remote_opens,
            remote_opens_refused: c.remote_opens_refused,
            tokens_redeemed: c.tokens_redeemed,
            tokens_refused: c.tokens_refused,
        }
    }
}

impl AnalyticsRecord {
    fn of(a: &Analytics) -> Self {
        AnalyticsRecord {
            deposits_by_hour: a.deposits_by_hour,
            pickups_by_hour: a.pickups_by_hour,
            deposits_by_weekday: a.deposits_by_weekday,
            pickups_by_weekday: a.pickups_by_weekday,
            dwell: a.dwell,
            deposits_by_size: a
                .deposits_by_size
                .iter()
                .copied()
                .take(MAX_SIZE_CLASSES)
                .collect(),
            refusals: a.refusals.iter().copied().take(MAX_REFUSALS).collect(),
        }
    }

    fn to_analytics(&self) -> Analytics {
        let mut a = Analytics {
            deposits_by_hour: self.deposits_by_hour,
            pickups_by_hour: self.pickups_by_hour,
            deposits_by_weekday: self.deposits_by_weekday,
            pickups_by_weekday: self.pickups_by_weekday,
            dwell: self.dwell,
            ..Analytics::default()
        };
        for (to, from) in a.deposits_by_size.iter_mut().zip(&self.deposits_by_size) {
            *to = *from;
        }
        for (to, from) in a.refusals.iter_mut().zip(&self.refusals) {
            *to = *from;
        }
        a
    }
}

/// Format 2's counters: alert counts as a fixed array of the 14 alert kinds
/// format 2 knew.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct StatsV2 {
    pub(crate) deposits: u32,
    pub(crate) pickups: u32,
    pub(crate) reminders: u32,
    pub(crate) escalations: u32,
    pub(crate) expiries: u32,
    pub(crate) alerts: [u32; 14],
    pub(crate) dwell_total_ms: u64,
    pub(crate) remote_opens: u32,
    pub(crate) remote_opens_refused: u32,
    pub(crate) tokens_redeemed: u32,
    pub(crate) tokens_refused: u32,
}

impl StatsV2 {
    /// The same counters as a format 3 record.
    pub(crate) fn upgrade(self) -> StatsRecordV6 {
        StatsRecordV6 {
            deposits: self.deposits,
            pickups: self.pickups,
            reminders: self.reminders,
            escalations: self.escalations,
            expiries: self.expiries,
            dwell_total_ms: self.dwell_total_ms,
            remote_opens: self.remote_opens,
            remote_opens_refused: self.remote_opens_refused,
            tokens_redeemed: self.tokens_redeemed,
            tokens_refused: self.tokens_refused,
            alerts: self.alerts.iter().copied().collect(),
        }
    }
}

/// Format 2's compartment record: format 3's, but its parcel had no re-open
/// count.
pub(crate) type SlotRecordV2 = SlotRecordOf<ParcelRecordV2>;

/// Format 2's parcel record.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct ParcelRecordV2 {
    id: u32,
    kind: ParcelKind,
    code: [u8; 16],
    clock_base: Instant,
    deposited_at: Option<Instant>,
    notices: u8,
}

impl SlotRecordV2 {
    /// The same books as a format 3 record; a parcel carried over has not
    /// been re-opened (format 2 did not count).
    pub(crate) fn upgrade(self) -> SlotRecordV5 {
        self.map_parcel(|p| ParcelRecordV5 {
            id: p.id,
            kind: p.kind,
            code: p.code,
            clock_base: p.clock_base,
            deposited_at: p.deposited_at,
            notices: p.notices,
            reopens: 0,
        })
    }
}

/// Formats 3 to 5's compartment record: format 6's, but its parcel did not
/// know whether it was perishable and kept no cold chain.
pub(crate) type SlotRecordV5 = SlotRecordOf<ParcelRecordV5>;

/// Formats 3 to 5's parcel record.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct ParcelRecordV5 {
    id: u32,
    kind: ParcelKind,
    code: [u8; 16],
    clock_base: Instant,
    deposited_at: Option<Instant>,
    notices: u8,
    reopens: u8,
}

impl SlotRecordV5 {
    /// The same books as a format 6 record. A parcel carried over is not
    /// perishable (the older formats did not say; it keeps the ordinary
    /// deadlines it was given) and its cold chain starts empty.
    pub(crate) fn upgrade(self) -> SlotRecord {
        self.map_parcel(|p| ParcelRecord {
            id: p.id,
            kind: p.kind,
            code: p.code,
            clock_base: p.clock_base,
            deposited_at: p.deposited_at,
            notices: p.notices,
            reopens: p.reopens,
            perishable: false,
            cold_min: None,
            cold_max: None,
            out_of_range: Duration::ZERO,
        })
    }
}
