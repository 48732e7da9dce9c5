//! The bank's incarnation (which life of the bank a remote open, an offline
//! token and a snapshot belong to) and the start-up check that refuses a
//! rolled-back or missing snapshot.
//!
//! # Why
//!
//! A bank's replay defences live in its snapshot: the last remote-open
//! request id, which parcel waits where, the audit numbering. A gateway
//! restarted from an *older* snapshot (a restored backup, a copied SD card)
//! has forgotten the newer ones, so a captured remote open would be taken
//! again, a code already used could open the newer parcel in that
//! compartment, and the audit numbers would be issued twice. A bank started
//! with *no* snapshot forgets everything.
//!
//! # The defence, in two parts
//!
//! 1. **Witnesses.** At start, before restoring, the gateway reads what its
//!    other files say about the bank's past ([`Witnesses`]: the audit log's
//!    last record, the uplink's audit mark, the bus counters file) and
//!    compares them with the snapshot ([`SnapshotInfo::check`]) or with its
//!    absence ([`Witnesses::check_no_snapshot`]). A snapshot older than its
//!    witnesses, or from another history, or no snapshot where the
//!    witnesses show a previous life, is a [`RollbackError`]: the gateway
//!    refuses to start and changes no file.
//! 2. **Incarnations.** If the restore is intended, the operator says so
//!    explicitly, and the gateway starts a *new incarnation*
//!    ([`Bank::begin_incarnation`]) with a fresh random [`Incarnation`].
//!    Every [`RemoteOpen`](super::RemoteOpen) tag and every
//!    [`OfflineToken`](super::OfflineToken) is bound to the incarnation it
//!    was made for, so everything issued before opens nothing afterwards
//!    ([`RemoteOpenError::OtherIncarnation`](super::RemoteOpenError::OtherIncarnation),
//!    [`TokenError::OtherIncarnation`](super::TokenError::OtherIncarnation)).
//!    The backend learns the new incarnation from the gateway's boot
//!    notification. A bank started afresh always begins a new incarnation,
//!    so old tokens and remote opens are void even when every file was lost.
//!
//! The audit numbering never goes back: a new incarnation continues after
//! the highest sequence number any witness has seen, and chains on from the
//! audit log's last link, so the log and the backend never see a number
//! twice (records the restored snapshot still held are the one exception:
//! the log marks them re-issued).
//!
//! # Example
//!
//! ```
//! use locker_domain::bank::{
//!     AuditTail, Bank, BankId, BankKeys, Books, Compartment, Incarnation, Policy, RollbackError,
//!     SnapshotInfo, Witnesses,
//! };
//! use locker_proto::{Channel, CompartmentId, Dimensions, NodeAddr, SizeClass};
//! use locker_proto::time::Instant;
//!
//! let keys = BankKeys::derive(BankId(3), &[0x3d; 32]);
//! let c = Compartment::new(CompartmentId(1), NodeAddr(1), Channel(0), SizeClass::Small,
//!     Dimensions::new(420, 80, 600));
//! let mut books = Books::<8>::new();
//! let mut bank = Bank::new(&mut books, &[c], Policy::default(), keys)?;
//! // A first start: nothing witnesses a previous life; a random incarnation.
//! let none = Witnesses::default();
//! none.check_no_snapshot()?;
//! bank.begin_incarnation(Incarnation(0x1d2c_3b4a), &none, Instant::from_secs(1))?;
//! while bank.poll().is_some() {}
//! let mut buf = vec![0u8; 64 * 1024];
//! let backup = bank.snapshot(&mut buf)?;
//!
//! // Later the audit log has gone on past the backup's last record.
//! let info = SnapshotInfo::read(backup)?;
//! let log = Witnesses {
//!     audit_log: Some(AuditTail { seq: info.next_seq + 40, link: None }),
//!     ..Witnesses::default()
//! };
//! assert!(matches!(info.check(&log), Err(RollbackError::BehindAuditLog { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use locker_proto::time::Instant;
use serde::{Deserialize, Serialize};

use super::Bank;
use super::audit::{Actor, AuditEvent};
use super::chain::AuditLink;
use super::error::BankError;
use super::keys::BankId;
use super::output::ROOM_ONE;
use super::power::PersistReason;

/// Which life of the bank: remote opens and offline tokens are bound to
/// it, snapshots carry it (see [the module docs](self)).
///
/// Draw it at random (32 bits from the operating system) whenever a bank
/// begins a new life ([`Bank::begin_incarnation`]). A bank made by
/// [`Bank::new`] is in [`Incarnation::UNSET`] until then; snapshots of
/// format 4 and older restore into it too.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Incarnation(pub u32);

impl Incarnation {
    /// The incarnation of a bank that never began one (and of snapshots
    /// written before incarnations existed).
    pub const UNSET: Incarnation = Incarnation(0);
}

/// The last audit record a witness holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditTail {
    /// Its sequence number.
    pub seq: u64,
    /// Its chain link, if the witness keeps links (the audit log does; the
    /// uplink's mark does not).
    pub link: Option<AuditLink>,
}

/// What a gateway's other files say about the bank's past, read before the
/// snapshot is restored (see [the module docs](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Witnesses {
    /// The audit log's record with the highest sequence number (of its
    /// current numbering), if the log has any.
    pub audit_log: Option<AuditTail>,
    /// The uplink's mark: every audit record below this sequence number
    /// went up to the backend. `None` or `Some(0)` if nothing went up.
    pub uplink_audit_next: Option<u64>,
    /// Some other file exists that only a bank that ran before leaves
    /// behind (the bus counters file, say).
    pub other_files: bool,
}

impl Witnesses {
    /// Whether any witness shows that a bank ran here before.
    pub fn show_a_previous_life(&self) -> bool {
        self.audit_log.is_some() || self.uplink_audit_next.unwrap_or(0) > 0 || self.other_files
    }

    /// The lowest audit sequence number no witness has seen, and the link
    /// to chain on from if the audit log holds the record just before it.
    fn next_unseen(&self) -> (u64, Option<AuditLink>) {
        let log = self.audit_log.map(|t| (t.seq.saturating_add(1), t.link));
        let uplink = self.uplink_audit_next.unwrap_or(0);
        match log {
            Some((next, link)) if next >= uplink => (next, link),
            _ => (uplink, None),
        }
    }

    /// Checks a start without a snapshot.
    ///
    /// # Errors
    /// [`RollbackError::SnapshotMissing`] if a witness shows a previous life:
    /// the snapshot was lost or deleted; start a new incarnation only if
    /// that is understood.
    pub fn check_no_snapshot(&self) -> Result<(), RollbackError> {
        if self.show_a_previous_life() {
            return Err(RollbackError::SnapshotMissing {
                audit_log_last: self.audit_log.map(|t| t.seq),
                uplink_audit_next: self.uplink_audit_next.filter(|n| *n > 0),
            });
        }
        Ok(())
    }
}

/// What a snapshot says about itself, read without restoring it
/// ([`SnapshotInfo::read`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Its format version.
    pub version: u8,
    /// The bank it is of.
    pub bank: BankId,
    /// The incarnation it was written in ([`Incarnation::UNSET`] for format
    /// 4 and older).
    pub incarnation: Incarnation,
    /// The sequence number of the next audit record the bank would have
    /// made: records `0..next_seq` were made before it was taken.
    pub next_seq: u64,
    /// The link of its last audit record ([`AuditLink::GENESIS`] before
    /// format 4 or if there was none).
    pub last_link: AuditLink,
}

impl SnapshotInfo {
    /// Checks the snapshot against its witnesses: nothing may have been
    /// recorded after it.
    ///
    /// # Errors
    /// [`RollbackError::BehindAuditLog`] if the audit log holds a record the
    /// snapshot never made; [`RollbackError::OtherHistory`] if the log's
    /// last record has the snapshot's last sequence number but another
    /// link; [`RollbackError::BehindUplink`] if records the snapshot never
    /// made went up to the backend.
    pub fn check(&self, witnesses: &Witnesses) -> Result<(), RollbackError> {
        if let Some(tail) = witnesses.audit_log {
            if tail.seq >= self.next_seq {
                return Err(RollbackError::BehindAuditLog {
                    snapshot_next: self.next_seq,
                    log_last: tail.seq,
                });
            }
            // Both sides keep links (format 4 on, and a log line with one),
            // and hold the same last record: its links must agree.
            let linked = self.last_link != AuditLink::GENESIS;
            let same_record = tail.seq.saturating_add(1) == self.next_seq;
            let differs = tail
                .link
                .is_some_and(|link| link != AuditLink::GENESIS && link != self.last_link);
            if linked && same_record && differs {
                return Err(RollbackError::OtherHistory { seq: tail.seq });
            }
        }
        match witnesses.uplink_audit_next {
            Some(next) if next > self.next_seq => Err(RollbackError::BehindUplink {
                snapshot_next: self.next_seq,
                uplink_next: next,
            }),
            _ => Ok(()),
        }
    }
}

/// A snapshot that its witnesses contradict: refused at start (see [the
/// module docs](self)). Each says what was found; the gateway adds what to
/// do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RollbackError {
    /// The audit log goes on past the snapshot.
    #[error(
        "the snapshot is older than the audit log: it was taken before audit record {snapshot_next}, but the log goes on to record {log_last} (restored from a backup, or rolled back)"
    )]
    BehindAuditLog {
        /// The snapshot's next audit sequence number.
        snapshot_next: u64,
        /// The log's highest sequence number.
        log_last: u64,
    },
    /// The log's last record and the snapshot's have the same number but
    /// different links.
    #[error(
        "the snapshot and the audit log disagree on audit record {seq}: they come from different histories (a snapshot of another bank life, or an edited log)"
    )]
    OtherHistory {
        /// The sequence number both hold.
        seq: u64,
    },
    /// Records the snapshot never made went up to the backend.
    #[error(
        "the snapshot is older than what went up to the backend: it was taken before audit record {snapshot_next}, but records up to {} went up (restored from a backup, or rolled back)",
        uplink_next.saturating_sub(1)
    )]
    BehindUplink {
        /// The snapshot's next audit sequence number.
        snapshot_next: u64,
        /// The uplink's mark.
        uplink_next: u64,
    },
    /// There is no snapshot, but the witnesses show a bank ran here.
    #[error(
        "there is no snapshot, but the bank ran here before (audit log to record {audit_log_last:?}, records up to mark {uplink_audit_next:?} sent to the backend, or a bus counters file): the state file was lost or deleted"
    )]
    SnapshotMissing {
        /// The audit log's highest sequence number, if it has records.
        audit_log_last: Option<u64>,
        /// The uplink's mark, if records went up.
        uplink_audit_next: Option<u64>,
    },
}

impl Bank<'_> {
    /// The bank's incarnation (see [the module docs](self)).
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// Begins a new life of the bank: every remote open and offline token
    /// made for an earlier incarnation is refused from now on. Call it at
    /// start-up, right after [`Bank::new`] (always: a fresh bank has
    /// forgotten which requests it took) or after [`Bank::restore`] when
    /// the operator explicitly restores a snapshot its witnesses contradict.
    /// Draw `incarnation` at random.
    ///
    /// The audit numbering continues after the highest sequence number any
    /// of `witnesses` has seen (chaining on from the audit log's last link
    /// when the log holds the record just before), so no number is ever
    /// issued twice. Audited as [`AuditEvent::IncarnationStarted`], and the
    /// bank asks to be persisted. Outputs already queued (the `Restored`
    /// record of a restore, status requests) stay queued, in order.
    ///
    /// # Errors
    /// [`BankError::SameIncarnation`] if `incarnation` is the current one
    /// (draw again); [`BankError::OutputsPending`] if the audit queue has no
    /// room for the record; [`BankError::TimeWentBackwards`] for a `now` before
    /// the bank's last input. Nothing changes then.
    pub fn begin_incarnation(
        &mut self,
        incarnation: Incarnation,
        witnesses: &Witnesses,
        now: Instant,
    ) -> Result<(), BankError> {
        self.check_time(now)?;
        if incarnation == self.incarnation {
            return Err(BankError::SameIncarnation);
        }
        if !self.has_room(ROOM_ONE) {
            return Err(BankError::OutputsPending);
        }
        let previous = self.incarnation;
        let (next, link) = witnesses.next_unseen();
        if next > self.next_seq {
            self.next_seq = next;
            if let Some(link) = link {
                self.last_link = link;
            }
        }
        self.incarnation = incarnation;
        self.latest = self.latest.max(now);
        let event = AuditEvent::IncarnationStarted {
            previous,
            incarnation,
        };
        self.record(now, Actor::System, None, event, None);
        self.persist = Some(PersistReason::StateChanged);
        Ok(())
    }
}
