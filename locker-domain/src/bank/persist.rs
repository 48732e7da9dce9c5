//! Snapshot and restore.
//!
//! A snapshot is:
//!
//! ```text
//! | magic "LKBK" | version u8 | layout fingerprint u32 LE | postcard body ... | CRC-32/ISCSI u32 LE |
//! ```
//!
//! The CRC covers everything before it. [`Bank::restore`] refuses input that
//! is too short, carries another magic (not a bank snapshot), another
//! version, a bad CRC (corrupt), another layout's fingerprint, or a body that
//! does not decode to consistent books, each with its own
//! [`PersistError`]; it never panics and never half-restores.
//!
//! The body holds the bank id and the 8-byte [`BankKeys::fingerprint`],
//! every compartment's books (with pickup codes only as keyed hashes, see
//! [`CodeHash`](super::codes::CodeHash)), the counters, the remote-open books
//! (last request id, recent opens, the lock), the audit sequence and the
//! audit records not yet polled (so a restart loses none). No key and no
//! pickup code is ever in a snapshot. A snapshot restored with keys of
//! another bank or another secret is refused ([`PersistError::WrongBank`],
//! [`PersistError::WrongKeys`]) rather than silently refusing every code.
//!
//! Version 2 (this one) added the keyed code hashes and the remote-open
//! books; version 1 snapshots held codes in the clear and are refused with
//! [`PersistError::UnsupportedVersion`]: drain the bank (or restore on the
//! old build and let its parcels be collected) before upgrading.
//! Times are stored relative to the moment of the snapshot and rebased onto
//! the `now` of the restore: a monotonic clock restarts with the gateway, and
//! downtime does not count towards deadlines (a parcel is not reminded about
//! for the hours the bank was dark). Keypad lockouts, sensor-health history
//! and unpolled alerts are not kept: the reconciliation that follows every
//! restore raises every discrepancy again.

use heapless::Vec;
use locker_proto::PowerStatus;
use locker_proto::time::Instant;
use serde::{Deserialize, Serialize};

use super::audit::{Actor, AuditEvent, AuditRecord};
use super::keys::{BankId, BankKeys};
use super::parcel::{Purpose, Stage};
use super::power::PowerState;
use super::remote::RemoteGuard;
use super::slot::Slot;
use super::stats::Stats;
use super::{AUDIT_QUEUE, Bank, Layout, LayoutError, Policy};

/// The first bytes of every snapshot.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"LKBK";
/// The snapshot format this crate writes and reads.
pub const SNAPSHOT_VERSION: u8 = 2;
const HEADER: usize = 4 + 1 + 4;
const TRAILER: usize = 4;

const CRC: crc::Crc<u32, crc::NoTable> = crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISCSI);

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
    /// A snapshot format this build does not read.
    #[error(
        "snapshot format version {found} is not supported (this build reads {SNAPSHOT_VERSION})"
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

#[derive(Serialize, Deserialize)]
struct Body<S, A, R> {
    bank: BankId,
    keys: [u8; 8],
    taken_at: Instant,
    next_seq: u64,
    next_parcel: u32,
    next_snapshot: u32,
    power: PowerStatus,
    stats: Stats,
    slots: S,
    remote: R,
    audit: A,
}

fn shift(t: Instant, from: Instant, to: Instant) -> Instant {
    if to >= from {
        t + (to - from)
    } else {
        t - (from - to)
    }
}

fn rebase(s: &mut Slot, from: Instant, to: Instant) {
    s.door_timer = s.door_timer.map(|t| shift(t, from, to));
    s.parcel_timer = s.parcel_timer.map(|t| shift(t, from, to));
    if let Some(p) = s.parcel.as_mut() {
        p.clock_base = shift(p.clock_base, from, to);
        p.deposited_at = p.deposited_at.map(|t| shift(t, from, to));
    }
}

fn consistent(s: &Slot) -> bool {
    match s.stage {
        Stage::Free
        | Stage::Door {
            purpose: Purpose::Inspection,
            ..
        } => s.parcel.is_none(),
        _ => s.parcel.is_some(),
    }
}

impl<const N: usize, const K: usize> Bank<N, K> {
    /// Writes the bank's books into `buf`; returns the bytes used. Persist
    /// them whenever [`Bank::poll_persist`] asks.
    ///
    /// # Errors
    /// [`PersistError::BufferTooSmall`]. A generous size is `N * 80 + 16 KiB`.
    pub fn snapshot<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], PersistError> {
        let given = buf.len();
        let too_small = PersistError::BufferTooSmall { given };
        if given < HEADER + TRAILER {
            return Err(too_small);
        }
        let (header, rest) = buf.split_at_mut(HEADER);
        let mut head = [0u8; HEADER];
        let fingerprint = self.layout.fingerprint().to_le_bytes();
        let fields = SNAPSHOT_MAGIC
            .iter()
            .chain(&[SNAPSHOT_VERSION])
            .chain(&fingerprint);
        for (dst, src) in head.iter_mut().zip(fields) {
            *dst = *src;
        }
        header.copy_from_slice(&head);
        let audit: Vec<AuditRecord, AUDIT_QUEUE> = self.audit.iter().copied().collect();
        let body = Body {
            bank: self.keys.bank(),
            keys: self.keys.fingerprint(),
            taken_at: self.latest,
            next_seq: self.next_seq,
            next_parcel: self.next_parcel,
            next_snapshot: self.next_snapshot,
            power: self.power.status,
            stats: self.stats,
            slots: &self.slots[..],
            remote: &self.remote,
            audit: &audit[..],
        };
        let room = rest.len().checked_sub(TRAILER).ok_or(too_small)?;
        let body_len = postcard::to_slice(&body, rest.get_mut(..room).ok_or(too_small)?)
            .map_err(|_| too_small)?
            .len();
        let end = HEADER + body_len;
        let crc = CRC.checksum(buf.get(..end).ok_or(too_small)?);
        buf.get_mut(end..end + TRAILER)
            .ok_or(too_small)?
            .copy_from_slice(&crc.to_le_bytes());
        buf.get(..end + TRAILER).ok_or(too_small)
    }

    /// Rebuilds a bank from a snapshot taken with the same `layout` and the
    /// same bank `keys`, then asks every node for full status to reconcile
    /// (see [`Bank::handle_bulk_status`]). `now` is the restarted clock's time.
    ///
    /// # Errors
    /// A [`PersistError`] naming what is wrong with `bytes`; nothing is
    /// restored then.
    pub fn restore(
        layout: Layout<N>,
        policy: Policy,
        keys: BankKeys,
        bytes: &[u8],
        now: Instant,
    ) -> Result<Self, PersistError> {
        let len = bytes.len();
        if len < HEADER + TRAILER {
            return Err(PersistError::Truncated { len });
        }
        let (head, rest) = bytes.split_at(HEADER);
        if head.get(0..4) != Some(&SNAPSHOT_MAGIC[..]) {
            return Err(PersistError::Foreign);
        }
        let version = head.get(4).copied().unwrap_or(0);
        if version != SNAPSHOT_VERSION {
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
        if u32::from_le_bytes(fp) != layout.fingerprint() {
            return Err(PersistError::LayoutChanged);
        }
        let body_bytes = rest
            .get(..rest.len() - TRAILER)
            .ok_or(PersistError::Truncated { len })?;
        let body: Body<Vec<Slot, N>, Vec<AuditRecord, AUDIT_QUEUE>, RemoteGuard> =
            postcard::from_bytes(body_bytes).map_err(|_| PersistError::Inconsistent)?;
        if body.bank != keys.bank() {
            return Err(PersistError::WrongBank {
                snapshot: body.bank,
                keys: keys.bank(),
            });
        }
        if body.keys != keys.fingerprint() {
            return Err(PersistError::WrongKeys);
        }
        if body.slots.len() != layout.len() {
            return Err(PersistError::LayoutChanged);
        }
        if !body.slots.iter().all(consistent) {
            return Err(PersistError::Inconsistent);
        }
        let mut bank = Bank::new(layout, policy, keys)?;
        bank.latest = now;
        bank.next_seq = body.next_seq;
        bank.next_parcel = body.next_parcel;
        bank.next_snapshot = body.next_snapshot;
        bank.power = PowerState { status: body.power };
        bank.stats = body.stats;
        bank.remote = body.remote;
        bank.remote.rebase(|t| shift(t, body.taken_at, now));
        for record in body.audit {
            let _ = bank.audit.push_back(record);
        }
        for (i, mut s) in body.slots.into_iter().enumerate() {
            rebase(&mut s, body.taken_at, now);
            bank.put(i, s);
        }
        if bank.has_room(super::ROOM_ONE).is_ok() {
            bank.record(now, Actor::System, None, AuditEvent::Restored, None);
        }
        Ok(bank)
    }

    /// [`Bank::snapshot`] into a fresh `Vec`.
    ///
    /// # Errors
    /// [`PersistError`] from [`Bank::snapshot`]: an error is never an empty
    /// snapshot that would silently overwrite a good one.
    #[cfg(feature = "std")]
    pub fn snapshot_to_vec(&self) -> Result<std::vec::Vec<u8>, PersistError> {
        let mut buf = std::vec![0u8; N * 96 + 32 * 1024];
        let n = self.snapshot(&mut buf)?.len();
        buf.truncate(n);
        Ok(buf)
    }
}
