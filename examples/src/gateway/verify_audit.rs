//! Checks an audit log file against its hash chain: `locker-gateway
//! verify-audit FILE`.
//!
//! Every line's link is recomputed with the library
//! ([`locker_domain::bank::AuditChain`]) from the link of the record before
//! it in the same epoch, so a line deleted, altered, moved, inserted or
//! copied is found, at the first line where the chain breaks. The rules,
//! besides "each record follows the one before it":
//!
//! - Each epoch (a bank reset) is a chain of its own, from
//!   [`AuditLink::GENESIS`] at record 0.
//! - A chain may start later (an *anchor*, reported in the verdict): at the
//!   first linked line of an epoch whose record before it is not in the file,
//!   which happens once, where a gateway upgraded from a build that wrote
//!   no links, or where the log was started after the bank. Lines before
//!   the first linked line of an epoch have no link; a line without a link
//!   after it breaks the chain.
//! - A sequence number the epoch already holds must be marked `"reissued"`
//!   (the log writes it so after a rollback, see
//!   [`AuditLog`](super::AuditLog)); it follows the latest record before its
//!   number. Re-issued records are reported in the verdict.
//!
//! The check proves that the file is one consistent chain. A writer who
//! recomputes every link after an edit passes it: compare the links with
//! the ones the backend received on the uplink (the same record has the
//! same link), or with the bank's last link
//! ([`Bank::last_audit_link`](locker_domain::bank::Bank::last_audit_link)).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use locker_domain::bank::{AuditChain, AuditLink, ChainBreak};

use super::GatewayError;
use super::audit_log::lines_of;

/// Why the chain breaks at a line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditFault {
    /// The line is not an audit record.
    #[error("the line is not an audit record")]
    NotARecord,
    /// The record does not continue the chain.
    #[error("{0}")]
    Chain(ChainBreak),
    /// A sequence number comes again without the log's re-issue mark.
    #[error("record {seq} comes again (first at line {first_line}) without being marked re-issued")]
    Repeated {
        /// The sequence number.
        seq: u64,
        /// The line that held it first.
        first_line: usize,
    },
    /// A line is marked re-issued but its number was never written before.
    #[error("record {seq} is marked re-issued but the log never held it before")]
    NothingReissued {
        /// The sequence number.
        seq: u64,
    },
    /// The epoch goes down.
    #[error("epoch {epoch} follows epoch {after}")]
    EpochBack {
        /// The line's epoch.
        epoch: u32,
        /// The epoch before it.
        after: u32,
    },
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenAt {
    /// The 1-based line number.
    pub line: usize,
    /// The record's sequence number, if the line is a record.
    pub seq: Option<u64>,
    /// Why.
    pub fault: AuditFault,
}

/// What [`verify_audit`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditVerdict {
    /// Records read (up to the break, if any).
    pub records: usize,
    /// Records whose link was checked.
    pub linked: usize,
    /// Records from before the chain (no link).
    pub unlinked: usize,
    /// Epochs seen.
    pub epochs: usize,
    /// Where a chain starts at a record whose predecessor is not in the file,
    /// as (line, sequence number).
    pub anchors: Vec<(usize, u64)>,
    /// Records re-issued with other content after a rollback, as (line,
    /// sequence number).
    pub reissued: Vec<(usize, u64)>,
    /// The first line where the chain breaks; `None` if every link checks.
    pub broken: Option<BrokenAt>,
}

impl AuditVerdict {
    /// Whether every link checks.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

impl fmt::Display for AuditVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(b) = &self.broken {
            write!(f, "BROKEN at line {}", b.line)?;
            if let Some(seq) = b.seq {
                write!(f, " (record {seq})")?;
            }
            return write!(
                f,
                ": {}; the {} records before it check",
                b.fault, self.records
            );
        }
        write!(
            f,
            "OK: {} records in {} epoch(s), every link checks ({} linked",
            self.records, self.epochs, self.linked
        )?;
        if self.unlinked > 0 {
            write!(f, ", {} from before the chain, unlinked", self.unlinked)?;
        }
        write!(f, ")")?;
        for (line, seq) in &self.anchors {
            write!(
                f,
                "\nnote: the chain starts at line {line} (record {seq}); the record before it is not in the file"
            )?;
        }
        if !self.reissued.is_empty() {
            write!(
                f,
                "\nWARNING: {} record(s) re-issued with other content (the bank's state was rolled back, or tampered with):",
                self.reissued.len()
            )?;
            for (line, seq) in &self.reissued {
                write!(f, " line {line} (record {seq})")?;
            }
        }
        Ok(())
    }
}

/// What one epoch of the file holds so far.
#[derive(Default)]
struct Epoch {
    /// The latest link and line per sequence number.
    links: HashMap<u64, (AuditLink, usize)>,
    /// Whether a linked line was seen.
    linked: bool,
    /// The previous line's sequence number.
    last: Option<u64>,
}

/// Reads the audit log at `path` and checks every line's link.
///
/// # Errors
///
/// [`GatewayError::File`] if the file cannot be read; a line that is not a
/// record is a break in the verdict, not an error.
pub fn verify_audit(path: &Path) -> Result<AuditVerdict, GatewayError> {
    let mut verdict = AuditVerdict::default();
    let mut current: Option<u32> = None;
    let mut epoch = Epoch::default();
    for (n, line) in lines_of(path)? {
        let line = match line {
            Ok(line) => line,
            Err(GatewayError::CorruptAudit { .. }) => {
                return Ok(broken(verdict, n, None, AuditFault::NotARecord));
            }
            Err(e) => return Err(e),
        };
        let r = line.record;
        match current {
            Some(e) if e > line.epoch => {
                let fault = AuditFault::EpochBack {
                    epoch: line.epoch,
                    after: e,
                };
                return Ok(broken(verdict, n, Some(r.seq), fault));
            }
            Some(e) if e == line.epoch => {}
            _ => {
                current = Some(line.epoch);
                epoch = Epoch::default();
                verdict.epochs += 1;
            }
        }
        let earlier = epoch.links.get(&r.seq).map(|(_, at)| *at);
        match (earlier, line.reissued) {
            (Some(first_line), false) => {
                let fault = AuditFault::Repeated {
                    seq: r.seq,
                    first_line,
                };
                return Ok(broken(verdict, n, Some(r.seq), fault));
            }
            (None, true) => {
                let fault = AuditFault::NothingReissued { seq: r.seq };
                return Ok(broken(verdict, n, Some(r.seq), fault));
            }
            _ => {}
        }
        if r.link.is_genesis() && !epoch.linked {
            // From before the chain.
            verdict.unlinked += 1;
        } else {
            let before = r
                .seq
                .checked_sub(1)
                .map(|s| epoch.links.get(&s).map(|(link, _)| *link));
            let (mut chain, anchor) = match before {
                None => (AuditChain::from_genesis(), false),
                Some(Some(link)) if !link.is_genesis() => {
                    (AuditChain::after(r.seq - 1, link), false)
                }
                // Its predecessor predates the chain, or the epoch's first
                // linked line follows no record in the file: an anchor.
                Some(Some(_)) => (AuditChain::anchored(), true),
                Some(None) if !epoch.linked => (AuditChain::anchored(), true),
                Some(None) => {
                    let expected = epoch.last.map_or(0, |s| s.saturating_add(1));
                    let fault = AuditFault::Chain(ChainBreak::Missing {
                        expected,
                        found: r.seq,
                    });
                    return Ok(broken(verdict, n, Some(r.seq), fault));
                }
            };
            if let Err(e) = chain.check(&r) {
                return Ok(broken(verdict, n, Some(r.seq), AuditFault::Chain(e)));
            }
            if anchor {
                verdict.anchors.push((n, r.seq));
            }
            epoch.linked = true;
            verdict.linked += 1;
        }
        if line.reissued {
            verdict.reissued.push((n, r.seq));
        }
        epoch.links.insert(r.seq, (r.link, n));
        epoch.last = Some(r.seq);
        verdict.records += 1;
    }
    Ok(verdict)
}

fn broken(
    mut verdict: AuditVerdict,
    line: usize,
    seq: Option<u64>,
    fault: AuditFault,
) -> AuditVerdict {
    verdict.broken = Some(BrokenAt { line, seq, fault });
    verdict
}
