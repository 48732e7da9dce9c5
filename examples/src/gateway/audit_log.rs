//! The audit trail on disk: one JSON object per line, appended and synced.
//!
//! Each line is an [`AuditLine`]: the bank's [`AuditRecord`] fields, plus
//! the `epoch` and the gateway's wall-clock time `logged_unix_ms`. Actors,
//! door purposes and service reasons are written with their uplink names
//! (`"courier"`, `"deposit"`, `"lock_fault"`); lines from earlier versions,
//! which wrote `"Courier"`, `"Deposit"`, `"LockFault"`, still read.
//!
//! # Sequence numbers and epochs
//!
//! The bank numbers its records gap-free, and the numbering survives a
//! restart because it is part of the state file. The gateway writes the
//! state file *before* appending the records it polled, and a snapshot keeps
//! the records not yet polled; so after a crash between the two the restored
//! bank hands those records out again. Such a record is the same record,
//! link included: this log skips it ([`Appended::Duplicate`]). The result:
//! within an epoch, sequence numbers run 0, 1, 2, … with no gap and no
//! repeat, across any number of restarts.
//!
//! A log opened as not continuing (`AuditLog::open(path, false)`) over
//! records starts a new epoch, for a bank whose numbering starts again at 0;
//! epochs count up from 0. The gateway no longer does that: a bank started
//! afresh begins a new incarnation that numbers on after the log's last
//! record (see [`locker_domain::bank::incarnation`]), so its log stays in
//! one epoch. Logs of earlier versions may hold several.
//!
//! # Re-issued records: rollback or tampering
//!
//! A record whose sequence number the log already holds but whose content or
//! link differs was re-issued by a bank that lost what it had recorded: its
//! state file was rolled back to an older copy, or someone forged a line.
//! The log never drops it: it is written like any record, with
//! `"reissued": true`, the earlier line stays where it is, and
//! [`AuditLog::append`] answers [`Appended::Reissued`], which the gateway
//! reports as a security warning. Later records chain on from the re-issued
//! one. (Lines written before the chain have no link; a re-issued record
//! equal to one of them but for the link is a duplicate.)
//!
//! A record below the log's last sequence number that the log never held
//! (after a forged line with a huge number, say) is written too
//! ([`Appended::BelowLast`]): one bad line never silences later records.
//!
//! # The hash chain
//!
//! Every line carries the record's `link` (64 hex digits): SHA-256 over the
//! previous record's link and the record (see
//! [`locker_domain::bank::chain`]). [`verify_audit`](super::verify_audit)
//! (the `locker-gateway verify-audit FILE` command) recomputes every link.
//! Lines from before the chain have no `link` field.
//!
//! # Torn and foreign lines
//!
//! A last line without its newline is a write cut short by a power loss; it
//! is dropped (the file is truncated to the last whole line) and the record
//! is written again when the restored bank hands it out. Any other line that
//! is not an audit record stops the gateway ([`GatewayError::CorruptAudit`]).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use locker_domain::bank::{AUDIT_QUEUE, AuditRecord, AuditTail};
use serde::{Deserialize, Serialize};

use super::GatewayError;

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    /// Counts bank resets; sequence numbers start again at 0 in each epoch.
    pub epoch: u32,
    /// Wall-clock time the gateway wrote the record, milliseconds since 1970.
    pub logged_unix_ms: u64,
    /// The log already held this sequence number, with other content: the
    /// bank re-issued it (see [`Appended::Reissued`]). Absent when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reissued: bool,
    /// The bank's record, its chain link included.
    #[serde(flatten)]
    pub record: AuditRecord,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What [`AuditLog::append`] did with a record. Every outcome but
/// `Duplicate` wrote the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Appended {
    /// Written as the next line.
    Written,
    /// Already in the log, identical (handed out again after a restart);
    /// skipped.
    Duplicate,
    /// Written, but records between the last one and this are missing.
    AfterGap {
        /// The sequence number that was expected.
        expected: u64,
    },
    /// The log already held this sequence number with other content: the
    /// bank's state was rolled back, or the log was tampered with. Written
    /// anyway, marked `"reissued"`; the earlier line stays.
    Reissued {
        /// The sequence number.
        seq: u64,
    },
    /// Written, though the log's last record has a higher sequence number
    /// that it did not reach in order (a forged line, or records a
    /// rolled-back bank never made).
    BelowLast {
        /// The sequence number of the log's last record.
        last: u64,
    },
}

/// Records of the current epoch kept in memory to compare a record handed
/// out again with (older ones are looked up in the file).
const RECENT: usize = 4 * AUDIT_QUEUE;

/// An append-only audit log file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    epoch: u32,
    last_seq: Option<u64>,
    /// The epoch's sequence numbers held, as runs `start -> end` (inclusive).
    held: BTreeMap<u64, u64>,
    /// The epoch's latest record per sequence number, the newest [`RECENT`].
    recent: BTreeMap<u64, AuditRecord>,
}

/// What an existing log ends with: its last epoch and what that epoch holds.
#[derive(Clone, Debug, Default)]
struct Tail {
    epoch: Option<u32>,
    last_seq: Option<u64>,
    /// The current epoch's record with the highest sequence number.
    highest: Option<AuditRecord>,
    held: BTreeMap<u64, u64>,
    recent: BTreeMap<u64, AuditRecord>,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`. `continuing` says whether the
    /// bank was restored from a state file (same epoch) or started empty (a
    /// new epoch if the log already has records).
    ///
    /// # Errors
    ///
    /// [`GatewayError::File`]; [`GatewayError::CorruptAudit`] for a line that
    /// is not an audit record.
    pub fn open(path: impl Into<PathBuf>, continuing: bool) -> Result<Self, GatewayError> {
        let path = path.into();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| GatewayError::file("cannot open audit log", &path, e))?;
        let tail = read_tail(&path, &mut file)?;
        let (epoch, tail) = match (tail.epoch, continuing) {
            (None, _) => (0, Tail::default()),
            (Some(epoch), true) => (epoch, tail),
            (Some(epoch), false) => (epoch.saturating_add(1), Tail::default()),
        };
        Ok(AuditLog {
            path,
            file,
            epoch,
            last_seq: tail.last_seq,
            held: tail.held,
            recent: tail.recent,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The epoch records are written in.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The sequence number of the last record in this epoch, if any.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Appends `record` as one line and flushes it to the operating system
    /// (skipping only a record the log holds already, identical); says what
    /// it did. Call [`AuditLog::sync`] after a batch to make it durable.
    ///
    /// # Errors
    ///
    /// [`GatewayError::File`]; [`GatewayError::CorruptAudit`] if the file
    /// had to be read back and holds a line that is not a record.
    pub fn append(
        &mut self,
        record: &AuditRecord,
        logged_unix_ms: u64,
    ) -> Result<Appended, GatewayError> {
        let reissued = if holds(&self.held, record.seq) {
            match self.held_record(record.seq)? {
                Some(held) if same_record(&held, record) => return Ok(Appended::Duplicate),
                _ => true,
            }
        } else {
            false
        };
        let expected = self.last_seq.map_or(0, |s| s + 1);
        let line = AuditLine {
            epoch: self.epoch,
            logged_unix_ms,
            reissued,
            record: *record,
        };
        let mut text = serde_json::to_string(&line).map_err(|e| {
            GatewayError::file("cannot encode an audit record for", &self.path, e.into())
        })?;
        text.push('\n');
        // One write per line, so a line is never interleaved with another.
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| GatewayError::file("cannot append to audit log", &self.path, e))?;
        let last = self.last_seq;
        self.last_seq = Some(record.seq);
        hold(&mut self.held, record.seq);
        remember(&mut self.recent, record);
        Ok(if reissued {
            Appended::Reissued { seq: record.seq }
        } else if record.seq == expected {
            Appended::Written
        } else if record.seq > expected {
            Appended::AfterGap { expected }
        } else {
            Appended::BelowLast {
                last: last.unwrap_or_default(),
            }
        })
    }

    /// The latest record with sequence number `seq` in this epoch: from
    /// memory if recent, else read back from the file.
    fn held_record(&self, seq: u64) -> Result<Option<AuditRecord>, GatewayError> {
        if let Some(record) = self.recent.get(&seq) {
            return Ok(Some(*record));
        }
        let mut found = None;
        for (_, line) in lines_of(&self.path)? {
            let line = line?;
            if line.epoch == self.epoch && line.record.seq == seq {
                found = Some(line.record);
            }
        }
        Ok(found)
    }

    /// Makes every appended line durable.
    ///
    /// # Errors
    ///
    /// [`GatewayError::File`].
    pub fn sync(&mut self) -> Result<(), GatewayError> {
        self.file
            .sync_data()
            .map_err(|e| GatewayError::file("cannot sync audit log", &self.path, e))
    }

    /// The record with the highest sequence number of the log's current
    /// epoch, read without changing the file (a torn last line is ignored):
    /// the log's witness of the bank's past, compared with the state file
    /// before the gateway starts (see [`locker_domain::bank::incarnation`]).
    /// `None` if there is no log or it has no record.
    ///
    /// # Errors
    ///
    /// [`GatewayError::File`]; [`GatewayError::CorruptAudit`].
    pub fn peek_tail(path: &Path) -> Result<Option<AuditTail>, GatewayError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(GatewayError::file("cannot read audit log", path, e)),
        };
        let whole = text.rfind('\n').map_or(0, |at| at + 1);
        let tail = tail_of(path, text.get(..whole).unwrap_or_default())?;
        Ok(tail.highest.map(|r| AuditTail {
            seq: r.seq,
            link: (!r.link.is_genesis()).then_some(r.link),
        }))
    }

    /// Every line of the log at `path`, in order (for tools and tests).
    ///
    /// # Errors
    ///
    /// [`GatewayError::File`]; [`GatewayError::CorruptAudit`].
    pub fn read_all(path: &Path) -> Result<Vec<AuditLine>, GatewayError> {
        lines_of(path)?.map(|(_, line)| line).collect()
    }
}

/// Each line of the log at `path` with its 1-based number, parsed (blank
/// lines skipped).
pub(super) fn lines_of(
    path: &Path,
) -> Result<impl Iterator<Item = (usize, Result<AuditLine, GatewayError>)>, GatewayError> {
    let file =
        File::open(path).map_err(|e| GatewayError::file("cannot open audit log", path, e))?;
    let path = path.to_path_buf();
    Ok(BufReader::new(file)
        .lines()
        .enumerate()
        .filter_map(move |(n, line)| {
            let parsed = match line {
                Err(e) => Err(GatewayError::file("cannot read audit log", &path, e)),
                Ok(line) if line.trim().is_empty() => return None,
                Ok(line) => serde_json::from_str(&line).map_err(|_| GatewayError::CorruptAudit {
                    path: path.clone(),
                    line: n + 1,
                }),
            };
            Some((n + 1, parsed))
        }))
}

/// Whether two records are the same record: equal in every field, and in
/// their links unless one of them predates the chain (no link).
fn same_record(held: &AuditRecord, record: &AuditRecord) -> bool {
    let links_agree =
        held.link == record.link || held.link.is_genesis() || record.link.is_genesis();
    let mut unlinked = *held;
    unlinked.link = record.link;
    links_agree && unlinked == *record
}

/// Whether the runs in `held` hold `seq`.
fn holds(held: &BTreeMap<u64, u64>, seq: u64) -> bool {
    held.range(..=seq)
        .next_back()
        .is_some_and(|(_, end)| seq <= *end)
}

/// Adds `seq` to the runs in `held`, joining runs it closes the gap of.
fn hold(held: &mut BTreeMap<u64, u64>, seq: u64) {
    if holds(held, seq) {
        return;
    }
    let mut start = seq;
    let mut end = seq;
    if let Some((&s, &e)) = held.range(..seq).next_back()
        && e.checked_add(1) == Some(seq)
    {
        start = s;
    }
    if let Some(next) = seq.checked_add(1)
        && let Some(e) = held.remove(&next)
    {
        end = e;
    }
    held.insert(start, end);
}

/// Keeps `record` among the recent ones, forgetting the lowest numbers.
fn remember(recent: &mut BTreeMap<u64, AuditRecord>, record: &AuditRecord) {
    recent.insert(record.seq, *record);
    while recent.len() > RECENT {
        recent.pop_first();
    }
}

/// Finds the epoch of the log's last record and what that epoch holds,
/// dropping a torn last line.
fn read_tail(path: &Path, file: &mut File) -> Result<Tail, GatewayError> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text))
        .map_err(|e| GatewayError::file("cannot read audit log", path, e))?;
    let whole = text.rfind('\n').map_or(0, |at| at + 1);
    // Every whole line is checked before the torn one is dropped: a log
    // refused for a bad line is left exactly as it was.
    let tail = tail_of(path, text.get(..whole).unwrap_or_default())?;
    if whole < text.len() {
        file.set_len(whole as u64)
            .map_err(|e| GatewayError::file("cannot drop a torn last line of", path, e))?;
    }
    Ok(tail)
}

/// The epoch of the whole lines' last record and what that epoch holds.
fn tail_of(path: &Path, whole_lines: &str) -> Result<Tail, GatewayError> {
    let mut tail = Tail::default();
    for (n, line) in whole_lines.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: AuditLine =
            serde_json::from_str(line).map_err(|_| GatewayError::CorruptAudit {
                path: path.to_path_buf(),
                line: n + 1,
            })?;
        if tail.epoch != Some(parsed.epoch) {
            tail = Tail::default();
        }
        tail.epoch = Some(parsed.epoch);
        tail.last_seq = Some(parsed.record.seq);
        if tail
            .highest
            .is_none_or(|h: AuditRecord| parsed.record.seq >= h.seq)
        {
            tail.highest = Some(parsed.record);
        }
        hold(&mut tail.held, parsed.record.seq);
        remember(&mut tail.recent, &parsed.record);
    }
    Ok(tail)
}
