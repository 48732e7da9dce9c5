//! Snapshot and restore.
//!
//! A snapshot is:
//!
//! ```text
//! | magic "LKBK" | version u8 | layout fingerprint u32 LE | body ... | CRC-32/ISCSI u32 LE |
//! ```
//!
//! The CRC covers everything before it. [`Bank::restore`] refuses input that
//! is too short, carries another magic (not a bank snapshot), a version this
//! build does not read (a newer build's snapshot, or format 1), a bad CRC
//! (corrupt), another layout's fingerprint, or a body that does not decode
//! to consistent books, each with its own [`PersistError`]; it never panics
//! and never half-restores: the bank is built from the whole snapshot or not
//! at all.
//!
//! # Format 7 (written by this build)
//!
//! The body is a sequence of postcard-encoded records, each a type of its
//! own written for the disk (`records.rs`), independent of the bank's
//! in-memory structs, read one after another (never a whole-bank value on
//! the stack):
//!
//! 1. the bank's identity and counters: bank id, the 8-byte
//!    [`BankKeys::fingerprint`](super::BankKeys::fingerprint), the clock at the snapshot, the next audit
//!    sequence number, parcel number and camera reference, the power state,
//!    the link of the last audit record made, 32 bytes (see
//!    [`chain`](super::chain)), and (new in format 5) the bank's
//!    [`Incarnation`](super::Incarnation), u32;
//! 2. the statistics, alert counts as a list by alert kind, then (new in
//!    format 7) the analytics ([`Analytics`](super::Analytics)): deposits
//!    and pickups by local hour (24) and weekday (7), the dwell-time
//!    histogram (7 buckets), deposits by size class and refusals by reason
//!    (both lists by index): 78 bytes while nothing was counted, 427 at
//!    most;
//! 3. every compartment's books, in layout order: stage, parcel (number,
//!    kind, keyed code hash, clock, deposit time, notices sent, re-opens,
//!    and (new in format 6) whether it is perishable and its cold chain so
//!    far: lowest and highest temperature, time out of range), last door
//!    and presence readings, out-of-service reason, timers;
//! 4. every compartment's sensor-health history (readings, door changes,
//!    lock faults, episodes already alerted);
//! 5. the keypads' wrong-code counts and lockouts, and the bank-wide
//!    wrong-code count;
//! 6. the remote-open books (last request id, recent opens, the lock), and
//!    (new in format 5) the code hashes of the parcels taken to the counter
//!    with when ([`counter`](super::counter));
//! 7. the audit records (each with its 32-byte link since format 4),
//!    notifications and alerts not yet polled; the newest record's link
//!    must be the last link of item 1.
//!
//! A restart therefore loses no lockout, no sensor-health evidence, no
//! record, no notification and no alert. No key and no pickup code is ever
//! in a snapshot (codes only as keyed hashes, see
//! [`CodeHash`](super::codes::CodeHash)). A snapshot restored with keys of
//! another bank or another secret is refused ([`PersistError::WrongBank`],
//! [`PersistError::WrongKeys`]) rather than silently refusing every code.
//!
//! [`SnapshotInfo::read`](super::SnapshotInfo::read) reads item 1 alone
//! (after the magic, version and CRC checks, without keys), for the
//! start-up comparison with the gateway's other files (see
//! [`incarnation`](super::incarnation)).
//!
//! # Upgrades
//!
//! This build also reads format 6, which differs only in having no
//! analytics: a bank restored from it has every analytics figure at zero
//! (its counters, such as deposits and pickups, carry over), so the hour,
//! weekday, dwell and size tables count from the upgrade on. Formats 2 to
//! 5 are upgraded the same way after their own steps below.
//!
//! It reads format 5, which differs only in its parcels not
//! knowing whether they are perishable: they restore as not perishable
//! (keeping the ordinary deadlines they were given) with an empty cold
//! chain. Formats 2 to 4 are upgraded the same way after their own steps
//! below.
//!
//! It reads format 4, which differs from format 5 only in having no
//! incarnation: it restores into [`Incarnation::UNSET`](super::Incarnation::UNSET)
//! (begin a new incarnation to bind remote opens and tokens to this life).
//! It reads format 3, which differs only in keeping no audit
//! links: a bank restored from it starts its audit chain from
//! [`AuditLink::GENESIS`](super::AuditLink::GENESIS) at the oldest audit
//! record the snapshot carried (or, if none, at the `Restored` record the
//! restore writes), and the chain runs on from there; that is the chain's
//! documented genesis rule for an upgrade (see [`chain`](super::chain)).
//!
//! It also reads format 2, carrying every parcel,
//! code hash, deadline, audit sequence number, audit record and the
//! remote-open books across (its audit records get their links as
//! format 3's do); format 2 kept no lockouts, no sensor-health
//! history and no pending notifications or alerts, so those start afresh.
//! Format 1 snapshots held codes in the clear and are refused. A snapshot
//! from a newer build is refused with [`PersistError::UnsupportedVersion`]:
//! a downgrade must not silently drop what it cannot read. Golden snapshots
//! of every format are under `tests/golden/snapshot/`.
//!
//! # Time
//!
//! Times are rebased from the moment of the snapshot onto the `now` of the
//! restore: a monotonic clock restarts with the gateway, and downtime does
//! not count towards deadlines (a parcel is not reminded about for the hours
//! the bank was dark; a keypad lockout lasts its full length). Times in the
//! audit records, notifications and alerts carried across are when they
//! happened, on the clock of the run that made them.

pub(crate) mod records;

use locker_proto::time::Instant;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::alert::Alert;
use super::audit::{Actor, AuditEvent, AuditRecord};
use super::counter::CounterShelf;
use super::keys::BankId;
use super::layout::{Indices, LayoutIndex, MAX_COMPARTMENTS};
use super::notification::Notification;
use super::power::PowerState;
use super::remote::RemoteGuard;
use super::slot::Slot;
use super::{ALERT_QUEUE, AUDIT_QUEUE, Bank, LayoutError, NOTIFICATION_QUEUE};
use records::{
    AuditRecordV3, HealthRecord, KeypadsRecord, MetaRecord, MetaRecordV3, MetaRecordV4, Rebase,
    RemoteRecord, ShelfRecord, SlotRecord, SlotRecordV2, SlotRecordV5, StatsRecord, StatsRecordV6,
    StatsV2,
};

/// The first bytes of every snapshot.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"LKBK";
/// The snapshot format this crate writes. It also reads every one from
/// [`SNAPSHOT_OLDEST_READ`] on (see [the module docs](self#upgrades)).
pub const SNAPSHOT_VERSION: u8 = 7;
/// The oldest snapshot format this crate reads.
pub const SNAPSHOT_OLDEST_READ: u8 = 2;
const HEADER: usize = 4 + 1 + 4;
const TRAILER: usize = 4;

// A 1 KiB table: snapshots are written after every change, and bitwise
// CRC-32 was most of a busy gateway's time spent writing them.
const CRC: crc::Crc<u32, crc::Table<1>> = crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISCSI);

/// Why a snapshot could not be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// The output buffer is too small for the snapshot.
    #[error("the snapshot needs more than the {given} bytes given: pass a bigger buffer")]
    BufferTooSmall {
        /// Bytes given.
        given: usize,
    },
    /// Too short to be a snapshot (cut off while writing?).
    #[error("the snapshot is truncated ({len} bytes): restore an older copy")]
    Truncated {
        /// Bytes given.
        len: usize,
    },
    /// Not a bank snapshot at all.
    #[error("this is not a bank snapshot (wrong magic): check the file")]
    Foreign,
    /// A snapshot format this build does not read: a newer build's, or one
    /// too old to upgrade.
    #[error(
        "snapshot format version {found} is not supported (this build reads {SNAPSHOT_OLDEST_READ} to {SNAPSHOT_VERSION}): restore with the build that wrote it"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u8,
    },
    /// The checksum does not match: the bytes were damaged.
    #[error("the snapshot is corrupt (checksum mismatch): restore an older copy")]
    Corrupt,
    /// The snapshot decodes but its books are inconsistent.
    #[error("the snapshot's books are inconsistent: restore an older copy")]
    Inconsistent,
    /// The snapshot was taken with another layout.
    #[error("the snapshot belongs to another layout: restore with the layout it was taken with")]
    LayoutChanged,
    /// The layout itself was refused.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// Restoring into a bank that has already handled inputs.
    #[error("the bank has already handled inputs: restore into a bank just made with `Bank::new`")]
    BankInUse,
    /// The snapshot belongs to another bank than the keys given.
    #[error(
        "the snapshot belongs to bank {} but the keys are bank {}'s: restore with this bank's keys",
        snapshot.0, keys.0
    )]
    WrongBank {
        /// The bank in the snapshot.
        snapshot: BankId,
        /// The bank of the keys given.
        keys: BankId,
    },
    /// The keys given were derived from another secret than the snapshot's.
    #[error(
        "the bank keys do not match the snapshot (another bank secret?): restore with the secret the bank was provisioned with"
    )]
    WrongKeys,
}

/// Appends postcard records to a buffer.
struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PersistError> {
        let given = self.buf.len();
        let room = self
            .buf
            .get_mut(self.len..given.saturating_sub(TRAILER))
            .ok_or(PersistError::BufferTooSmall { given })?;
        let used = postcard::to_slice(value, room)
            .map_err(|_| PersistError::BufferTooSmall { given })?
            .len();
        self.len += used;
        Ok(())
    }

    /// A list: its length, then each item.
    fn list<T: Serialize>(
        &mut self,
        len: usize,
        items: impl Iterator<Item = T>,
    ) -> Result<(), PersistError> {
        self.put(&(len as u64))?;
        for item in items {
            self.put(&item)?;
        }
        Ok(())
    }
}

/// Takes postcard records off the front of a body.
struct Reader<'b> {
    rest: &'b [u8],
}

impl Reader<'_> {
    fn take<T: DeserializeOwned>(&mut self) -> Result<T, PersistError> {
        let (value, rest) =
            postcard::take_from_bytes(self.rest).map_err(|_| PersistError::Inconsistent)?;
        self.rest = rest;
        Ok(value)
    }

    /// The length of a list, refused if above `most`.
    fn len(&mut self, most: usize) -> Result<usize, PersistError> {
        let len: u64 = self.take()?;
        usize::try_from(len)
            .ok()
            .filter(|n| *n <= most)
            .ok_or(PersistError::Inconsistent)
    }
}

impl Bank<'_> {
    /// Writes the bank's books into `buf` (format [`SNAPSHOT_VERSION`]);
    /// returns the bytes used. Persist them whenever [`Bank::poll`] hands
    /// out a [`BankOutput::Persist`](super::BankOutput::Persist).
    ///
    /// # Errors
    /// [`PersistError::BufferTooSmall`]. A generous size is 120 bytes per
    /// compartment plus 48 KiB.
    pub fn snapshot<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], PersistError> {
        let given = buf.len();
        let too_small = PersistError::BufferTooSmall { given };
        let header = buf.get_mut(..HEADER).ok_or(too_small)?;
        let fingerprint = self.layout.fingerprint().to_le_bytes();
        let fields = SNAPSHOT_MAGIC
            .iter()
            .chain(&[SNAPSHOT_VERSION])
            .chain(&fingerprint);
        for (dst, src) in header.iter_mut().zip(fields) {
            *dst = *src;
        }
        let mut w = Writer { buf, len: HEADER };
        w.put(&MetaRecord {
            bank: self.keys.bank(),
            keys: self.keys.fingerprint(),
            taken_at: self.latest,
            next_seq: self.next_seq,
            next_parcel: self.next_parcel,
            next_snapshot: self.next_snapshot,
            power: self.power.status,
            last_link: self.last_link,
            incarnation: self.incarnation,
        })?;
        w.put(&StatsRecord::of(&self.stats))?;
        w.list(self.slots.len(), self.slots.iter().map(SlotRecord::of))?;
        let n = self.slots.len();
        w.list(
            n,
            self.layout
                .indices()
                .filter_map(|i| self.health.record(i.get())),
        )?;
        w.put(&self.keypads.record())?;
        w.put(&self.remote.record())?;
        w.put(&self.counter.record())?;
        w.list(self.audit.len(), self.audit.iter())?;
        w.list(self.notifications.len(), self.notifications.iter())?;
        w.list(self.alerts.len(), self.alerts.iter())?;
        let end = w.len;
        let crc = CRC.checksum(buf.get(..end).ok_or(too_small)?);
        buf.get_mut(end..end + TRAILER)
            .ok_or(too_small)?
            .copy_from_slice(&crc.to_le_bytes());
        buf.get(..end + TRAILER).ok_or(too_small)
    }

    /// Whether the bank has handled no input since [`Bank::new`] (a wall
    /// clock set is none): what [`Bank::restore`] requires.
    pub(super) fn untouched(&self) -> bool {
        self.latest == Instant::ZERO
            && self.next_seq == 0
            && self.audit.is_empty()
            && self.notifications.is_empty()
            && self.alerts.is_empty()
    }

    /// Restores the books of a snapshot (format [`SNAPSHOT_OLDEST_READ`]
    /// to [`SNAPSHOT_VERSION`]) into this bank, just made by
    /// [`Bank::new`] with the layout and the bank keys the snapshot was
    /// taken with, then asks every node for full status to reconcile (see
    /// [`Bank::handle_bulk_status`]). `now` is the restarted clock's time.
    /// A wall clock set on the fresh bank before ([`Bank::set_wall_clock`])
    /// is kept, and stamps the `Restored` record.
    ///
    /// The whole snapshot is read and checked before anything changes, so
    /// on an error the bank is still the fresh bank it was: start afresh
    /// from it, or try an older snapshot.
    ///
    /// # Errors
    /// A [`PersistError`] naming what is wrong with `bytes`, or
    /// [`PersistError::BankInUse`] if the bank has already handled inputs;
    /// nothing is restored then.
    pub fn restore(&mut self, bytes: &[u8], now: Instant) -> Result<(), PersistError> {
        if !self.untouched() {
            return Err(PersistError::BankInUse);
        }
        let expect = Expect {
            fingerprint: self.layout.fingerprint(),
            compartments: self.layout.indices(),
            bank: self.keys.bank(),
            keys: self.keys.fingerprint(),
            now,
        };
        // First every record is read and checked, changing nothing...
        read(bytes, &expect, |_| Ok(()))?;
        // ...then read again into the books.
        let meta = read(bytes, &expect, |item| {
            match item {
                Item::Stats(stats) => self.stats = stats.to_stats(),
                Item::Slot(i, slot) => {
                    let unlocking = matches!(
                        slot.stage,
                        super::Stage::Door {
                            phase: super::DoorPhase::Unlocking { .. },
                            ..
                        }
                    );
                    if unlocking {
                        let _ = self.unlocks_before_restart.push(i);
                    }
                    self.put(i, slot)
                }
                Item::Health(i, h, clock) => {
                    let _ = self.health.load_record(i.get(), &h, clock);
                }
                Item::Keypads(k, clock) => self.keypads.load_record(&k, clock),
                Item::Remote(r, clock) => self.remote = RemoteGuard::from_record(&r, clock),
                Item::Shelf(r, clock) => self.counter = CounterShelf::from_record(&r, clock),
                Item::Audit(record) => {
                    let _ = self.audit.push_back(record);
                }
                Item::Notification(n) => {
                    let _ = self.notifications.push_back(n);
                }
                Item::Alert(a) => {
                    let _ = self.alerts.push_back(a);
                }
            }
            Ok(())
        })?;
        self.latest = now;
        self.next_seq = meta.next_seq;
        self.last_link = meta.last_link;
        self.incarnation = meta.incarnation;
        self.next_parcel = meta.next_parcel;
        self.next_snapshot = meta.next_snapshot;
        self.power = PowerState { status: meta.power };
        if self.has_room(super::ROOM_ONE) {
            self.record(now, Actor::System, None, AuditEvent::Restored, None);
        }
        Ok(())
    }

    /// A bank on the heap ([`Bank::on_heap`]) restored from `bytes`
    /// ([`Bank::restore`]): a Linux gateway's start.
    ///
    /// # Errors
    /// As [`Bank::new`] (the layout) and [`Bank::restore`] (the snapshot).
    #[cfg(feature = "alloc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
    pub fn restore_on_heap(
        compartments: &[super::Compartment],
        policy: super::Policy,
        keys: super::BankKeys,
        bytes: &[u8],
        now: Instant,
    ) -> Result<Bank<'static>, PersistError> {
        let mut bank = Bank::on_heap(compartments, policy, keys)?;
        bank.restore(bytes, now)?;
        Ok(bank)
    }

    /// [`Bank::snapshot`] into a fresh `Vec`.
    ///
    /// # Errors
    /// [`PersistError`] from [`Bank::snapshot`]: an error is never an empty
    /// snapshot that would silently overwrite a good one.
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn snapshot_to_vec(&self) -> Result<std::vec::Vec<u8>, PersistError> {
        let mut buf = std::vec![0u8; self.slots.len() * 120 + 48 * 1024];
        let n = self.snapshot(&mut buf)?.len();
        buf.truncate(n);
        Ok(buf)
    }
}

/// Checks a snapshot's frame (length, magic, version, CRC); returns its
/// version, layout fingerprint and a reader of its body.
fn open(bytes: &[u8]) -> Result<(u8, u32, Reader<'_>), PersistError> {
    let len = bytes.len();
    if len < HEADER + TRAILER {
        return Err(PersistError::Truncated { len });
    }
    let (head, rest) = bytes.split_at(HEADER);
    if head.get(0..4) != Some(&SNAPSHOT_MAGIC[..]) {
        return Err(PersistError::Foreign);
    }
    let version = head.get(4).copied().unwrap_or(0);
    if !(SNAPSHOT_OLDEST_READ..=SNAPSHOT_VERSION).contains(&version) {
        return Err(PersistError::UnsupportedVersion { found: version });
    }
    let (covered, crc_bytes) = bytes.split_at(len - TRAILER);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(crc_bytes);
    if CRC.checksum(covered) != u32::from_le_bytes(crc) {
        // A cut-off snapshot usually fails here too; it is reported as
        // corrupt because the two cannot be told apart after the fact.
        return Err(PersistError::Corrupt);
    }
    let mut fp = [0u8; 4];
    fp.copy_from_slice(head.get(5..9).ok_or(PersistError::Truncated { len })?);
    let body = rest
        .get(..rest.len() - TRAILER)
        .ok_or(PersistError::Truncated { len })?;
    Ok((version, u32::from_le_bytes(fp), Reader { rest: body }))
}

/// The identity and counters record of a snapshot of `version`, as this
/// build has it.
fn take_meta(version: u8, r: &mut Reader<'_>) -> Result<MetaRecord, PersistError> {
    Ok(match version {
        5.. => r.take()?,
        4 => r.take::<MetaRecordV4>()?.upgrade(),
        _ => r.take::<MetaRecordV3>()?.upgrade(),
    })
}

impl super::SnapshotInfo {
    /// Reads what a snapshot says about itself: its frame is checked
    /// (length, magic, version, CRC) and its first record read; the layout
    /// and keys are not (that is [`Bank::restore`]'s job).
    ///
    /// # Errors
    /// [`PersistError::Truncated`], [`PersistError::Foreign`],
    /// [`PersistError::UnsupportedVersion`], [`PersistError::Corrupt`], or
    /// [`PersistError::Inconsistent`] if the first record does not decode.
    pub fn read(bytes: &[u8]) -> Result<Self, PersistError> {
        let (version, _, mut r) = open(bytes)?;
        let meta = take_meta(version, &mut r)?;
        Ok(super::SnapshotInfo {
            version,
            bank: meta.bank,
            incarnation: meta.incarnation,
            next_seq: meta.next_seq,
            last_link: meta.last_link,
        })
    }
}

/// What a restore must match.
struct Expect {
    fingerprint: u32,
    compartments: Indices,
    bank: BankId,
    keys: [u8; 8],
    now: Instant,
}

/// One record of a snapshot, ready for the books (times rebased).
// Lives for one call, on its way into the books.
#[allow(clippy::large_enum_variant)]
enum Item {
    Stats(StatsRecord),
    Slot(LayoutIndex, Slot),
    Health(LayoutIndex, HealthRecord, Rebase),
    Keypads(KeypadsRecord, Rebase),
    Remote(RemoteRecord, Rebase),
    Shelf(ShelfRecord, Rebase),
    Audit(AuditRecord),
    Notification(Notification),
    Alert(Alert),
}

/// Reads and checks a whole snapshot, handing each record to `each` in
/// order; returns its identity and counters.
fn read(
    bytes: &[u8],
    expect: &Expect,
    mut each: impl FnMut(Item) -> Result<(), PersistError>,
) -> Result<MetaRecord, PersistError> {
    let (version, fingerprint, mut r) = open(bytes)?;
    if fingerprint != expect.fingerprint {
        return Err(PersistError::LayoutChanged);
    }
    let mut meta = take_meta(version, &mut r)?;
    if meta.bank != expect.bank {
        return Err(PersistError::WrongBank {
            snapshot: meta.bank,
            keys: expect.bank,
        });
    }
    if meta.keys != expect.keys {
        return Err(PersistError::WrongKeys);
    }
    let clock = Rebase {
        from: meta.taken_at,
        to: expect.now,
    };
    let stats = match version {
        7.. => r.take::<StatsRecord>()?,
        3..=6 => r.take::<StatsRecordV6>()?.upgrade(),
        _ => r.take::<StatsV2>()?.upgrade().upgrade(),
    };
    each(Item::Stats(stats))?;
    let n = expect.compartments.len();
    if r.len(MAX_COMPARTMENTS)? != n {
        return Err(PersistError::LayoutChanged);
    }
    for i in expect.compartments.clone() {
        let record = match version {
            6.. => r.take::<SlotRecord>()?,
            3..=5 => r.take::<SlotRecordV5>()?.upgrade(),
            _ => r.take::<SlotRecordV2>()?.upgrade().upgrade(),
        };
        let slot = record.to_slot(clock).ok_or(PersistError::Inconsistent)?;
        each(Item::Slot(i, slot))?;
    }
    if version >= 3 {
        if r.len(MAX_COMPARTMENTS)? != n {
            return Err(PersistError::LayoutChanged);
        }
        for i in expect.compartments.clone() {
            each(Item::Health(i, r.take()?, clock))?;
        }
        each(Item::Keypads(r.take()?, clock))?;
    }
    each(Item::Remote(r.take()?, clock))?;
    if version >= 5 {
        each(Item::Shelf(r.take()?, clock))?;
    }
    let audit = r.len(AUDIT_QUEUE)?;
    for i in 0..audit {
        let record = if version >= 4 {
            r.take::<AuditRecord>()?
        } else {
            // The chain starts at the oldest record carried across.
            let record = r.take::<AuditRecordV3>()?.upgrade(&meta.last_link);
            meta.last_link = record.link;
            record
        };
        // The newest record carried must be the one the chain ends with.
        if version >= 4 && i + 1 == audit && record.link != meta.last_link {
            return Err(PersistError::Inconsistent);
        }
        each(Item::Audit(record))?;
    }
    if version >= 3 {
        for _ in 0..r.len(NOTIFICATION_QUEUE)? {
            each(Item::Notification(r.take()?))?;
        }
        for _ in 0..r.len(ALERT_QUEUE)? {
            each(Item::Alert(r.take()?))?;
        }
    }
    if !r.rest.is_empty() {
        return Err(PersistError::Inconsistent);
    }
    Ok(meta)
}
