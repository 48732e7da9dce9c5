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
//! bank hands those records out again, and this log skips every record whose
//! sequence number it already holds. The result: within an epoch, sequence
//! numbers run 0, 1, 2, … with no gap and no repeat, across any number of
//! restarts.
//!
//! A new epoch starts when the gateway starts with no state file but an audit
//! log that already has records (a bank reset: its numbering starts again at
//! 0). Epochs count up from 0.
//!
//! A last line without its newline is a write cut short by a power loss; it
//! is dropped (the file is truncated to the last whole line) and the record
//! is written again when the restored bank hands it out. Any other line that
//! is not an audit record stops the gateway ([`GatewayError::CorruptAudit`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use locker_domain::bank::AuditRecord;
use serde::{Deserialize, Serialize};

use super::GatewayError;

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    /// Counts bank resets; sequence numbers start again at 0 in each epoch.
    pub epoch: u32,
    /// Wall-clock time the gateway wrote the record, milliseconds since 1970.
    pub logged_unix_ms: u64,
    /// The bank's record.
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// What [`AuditLog::append`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Written as the next line.
    Written,
    /// Already in the log (handed out again after a restart); skipped.
    Duplicate,
    /// Written, but records between the last one and this are missing.
    AfterGap {
        /// The sequence number that was expected.
        expected: u64,
    },
}

/// An append-only audit log file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    epoch: u32,
    last_seq: Option<u64>,
}

/// What an existing log ends with.
#[derive(Clone, Copy, Debug, Default)]
struct Tail {
    epoch: Option<u32>,
    last_seq: Option<u64>,
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
        let (epoch, last_seq) = match (tail.epoch, continuing) {
            (None, _) => (0, None),
            (Some(epoch), true) => (epoch, tail.last_seq),
            (Some(epoch), false) => (epoch.saturating_add(1), None),
        };
        Ok(AuditLog {
            path,
            file,
            epoch,
            last_seq,
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

    /// Appends `record` as one line (skipping a record already in the log)
    /// and flushes it to the operating system. Call [`AuditLog::sync`]
    /// after a batch to make it durable.
    ///
    /// # Errors
    ///
    /// [`GatewayError::File`].
    pub fn append(
        &mut self,
        record: &AuditRecord,
        logged_unix_ms: u64,
    ) -> Result<Appended, GatewayError> {
        let expected = self.last_seq.map_or(0, |s| s + 1);
        if self.last_seq.is_some_and(|last| record.seq <= last) {
            return Ok(Appended::Duplicate);
        }
        let line = AuditLine {
            epoch: self.epoch,
            logged_unix_ms,
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
        self.last_seq = Some(record.seq);
        Ok(if record.seq == expected {
            Appended::Written
        } else {
            Appended::AfterGap { expected }
        })
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

    /// Every line of the log at `path`, in order (for tools and tests).
    ///
    /// # Errors
    ///
    /// [`GatewayError::File`]; [`GatewayError::CorruptAudit`].
    pub fn read_all(path: &Path) -> Result<Vec<AuditLine>, GatewayError> {
        let file =
            File::open(path).map_err(|e| GatewayError::file("cannot open audit log", path, e))?;
        let mut lines = Vec::new();
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| GatewayError::file("cannot read audit log", path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str(&line).map_err(|_| GatewayError::CorruptAudit {
                path: path.to_path_buf(),
                line: n + 1,
            })?;
            lines.push(parsed);
        }
        Ok(lines)
    }
}

/// Finds the epoch and sequence number of the log's last record, dropping a
/// torn last line.
fn read_tail(path: &Path, file: &mut File) -> Result<Tail, GatewayError> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text))
        .map_err(|e| GatewayError::file("cannot read audit log", path, e))?;
    let whole = text.rfind('\n').map_or(0, |at| at + 1);
    if whole < text.len() {
        file.set_len(whole as u64)
            .map_err(|e| GatewayError::file("cannot drop a torn last line of", path, e))?;
    }
    let mut tail = Tail::default();
    for (n, line) in text.get(..whole).unwrap_or_default().lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: AuditLine =
            serde_json::from_str(line).map_err(|_| GatewayError::CorruptAudit {
                path: path.to_path_buf(),
                line: n + 1,
            })?;
        if tail.epoch != Some(parsed.epoch) {
            tail.last_seq = None;
        }
        tail.epoch = Some(parsed.epoch);
        tail.last_seq = Some(parsed.record.seq);
    }
    Ok(tail)
}
