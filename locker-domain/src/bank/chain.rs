//! The audit trail's hash chain: every record carries a link that commits to
//! the record and, through the link before it, to every record before it.
//!
//! # The link
//!
//! ```text
//! link(n) = SHA-256( link(n-1) || postcard(LinkedFields of record n) )
//! ```
//!
//! `link(n-1)` is the 32 bytes of the previous record's link. The record's
//! bytes are the postcard encoding of these fields, in this order, with no
//! length prefix and no padding (the frozen, documented layout; the record's
//! own `link` is not among them):
//!
//! | field | type | postcard encoding |
//! |---|---|---|
//! | `seq` | `u64` | varint |
//! | `at` | [`Instant`] | varint of the milliseconds |
//! | `wall` | `Option<(i64, u32)>` | `00`, or `01` + zigzag varint of the Unix seconds (UTC) + varint of the nanoseconds within the second |
//! | `actor` | [`Actor`] | varint of the variant index |
//! | `compartment` | `Option<CompartmentId>` | `00`, or `01` + varint |
//! | `parcel` | `Option<ParcelId>` | `00`, or `01` + varint |
//! | `event` | [`AuditEvent`] | varint of the variant index, then its fields in order (as in the snapshot) |
//! | `snapshot` | `Option<SnapshotRef>` | `00`, or `01` + varint |
//!
//! The enums are encoded by variant index, so they only ever grow at the end
//! (the snapshot format already asks that of them). The wall time is hashed
//! as numbers, never as text, so the chain does not depend on how a date is
//! printed. A record is 8 to about 40 bytes (30 for a pickup's unlock with
//! wall time, parcel and camera reference, whose bytes are
//! `87ad4b fbb89929 01e69effb00d80e59a77 01 0111 0181bb02 030100 01ac06`,
//! pinned with its link in this module's tests), so a link costs one or two
//! SHA-256 blocks: about 0.3 µs on a gateway.
//!
//! # Where a chain starts (genesis)
//!
//! The link before a chain's first record is [`AuditLink::GENESIS`] (32 zero
//! bytes). A chain starts:
//! - at sequence number 0 of a new bank;
//! - at the first record a bank restored from a format 2 or 3 snapshot holds
//!   (those formats predate the chain): the oldest record the snapshot
//!   carried, or else the `Restored` record the restore writes. The records
//!   before it carry no link (in a JSON log, no `link` field).
//!
//! After that the last link is in every snapshot (format 4 and on), so the chain
//! runs on across restarts.
//!
//! # What it proves, and what it does not
//!
//! A link is a plain hash, not a MAC: whoever can rewrite a file can
//! recompute every link after an edit. The chain makes any edit, deletion,
//! insertion or reordering of records visible to anyone who holds one later
//! link from elsewhere: the backend receives every record's link on the
//! uplink (`AuditRecord::link`), and the bank's snapshot holds the last one.
//! A log whose links all check but whose link at sequence number `n` differs
//! from the backend's was rewritten.
//!
//! ```
//! use locker_domain::bank::{AuditChain, AuditLink};
//!
//! // A backend, or a tool reading a file, checks records as they come.
//! let mut chain = AuditChain::from_genesis();
//! assert_eq!(chain.checked(), 0);
//! assert_eq!(AuditLink::GENESIS.to_string(), "0".repeat(64));
//! ```

use core::fmt;

use locker_proto::CompartmentId;
use locker_proto::time::Instant;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::alert::SnapshotRef;
use super::audit::{Actor, AuditEvent, AuditRecord};
use super::parcel::ParcelId;

/// An audit record's link in the hash chain: SHA-256 over the link before
/// it and the record (see [the module docs](self)). Lowercase hex in JSON,
/// a 32-byte byte string in postcard.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AuditLink(pub [u8; 32]);

impl AuditLink {
    /// The link before the first record of a chain: 32 zero bytes.
    pub const GENESIS: AuditLink = AuditLink([0; 32]);

    /// The link of `record` when it follows a record whose link is `self`.
    /// The record's own `link` field is not read.
    ///
    /// ```
    /// use locker_domain::bank::{AuditChain, AuditLink};
    /// # use locker_domain::bank::{Actor, AuditEvent, AuditRecord};
    /// # use locker_proto::time::Instant;
    /// # let mut record = AuditRecord {
    /// #     seq: 0, at: Instant::ZERO, wall: None, actor: Actor::System,
    /// #     compartment: None, parcel: None, event: AuditEvent::Restored,
    /// #     snapshot: None, link: AuditLink::GENESIS,
    /// # };
    /// record.link = AuditLink::GENESIS.then(&record);
    /// assert!(record.follows(&AuditLink::GENESIS));
    /// ```
    pub fn then(&self, record: &AuditRecord) -> AuditLink {
        let mut hash = Sha256::new();
        hash.update(self.0);
        let fields = LinkedFields::of(record);
        // The digest flavor cannot fail and the fields have no map or
        // unsized sequence postcard could refuse.
        let hash = postcard::serialize_with_flavor(&fields, DigestFlavor(hash))
            .unwrap_or_else(|_| Sha256::new());
        AuditLink(hash.finalize().into())
    }

    /// Whether this is the zero link (also what a record written before
    /// the chain reads as).
    pub fn is_genesis(&self) -> bool {
        *self == AuditLink::GENESIS
    }
}

impl AuditRecord {
    /// Whether this record's `link` is the one it has when it follows a
    /// record whose link is `previous`.
    pub fn follows(&self, previous: &AuditLink) -> bool {
        previous.then(self) == self.link
    }
}

impl fmt::Display for AuditLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for AuditLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditLink({self})")
    }
}

#[cfg(feature = "defmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "defmt")))]
impl defmt::Format for AuditLink {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "AuditLink({=[u8]:02x})", &self.0[..]);
    }
}

impl Serialize for AuditLink {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        locker_proto::uplink::HexArray(self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for AuditLink {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        locker_proto::uplink::HexArray::<32>::deserialize(d).map(|h| AuditLink(h.0))
    }
}

/// The record's fields a link covers, in their frozen order (see the table
/// in [the module docs](self)).
#[derive(Serialize)]
struct LinkedFields<'r> {
    seq: u64,
    at: Instant,
    wall: Option<(i64, u32)>,
    actor: Actor,
    compartment: Option<CompartmentId>,
    parcel: Option<ParcelId>,
    event: &'r AuditEvent,
    snapshot: Option<SnapshotRef>,
}

impl<'r> LinkedFields<'r> {
    fn of(r: &'r AuditRecord) -> Self {
        LinkedFields {
            seq: r.seq,
            at: r.at,
            wall: r.wall.map(|w| {
                let utc = w.and_utc();
                (utc.timestamp(), utc.timestamp_subsec_nanos())
            }),
            actor: r.actor,
            compartment: r.compartment,
            parcel: r.parcel,
            event: &r.event,
            snapshot: r.snapshot,
        }
    }
}

/// Feeds postcard's output straight into the hash: no buffer.
struct DigestFlavor(Sha256);

impl postcard::ser_flavors::Flavor for DigestFlavor {
    type Output = Sha256;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.update([byte]);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.update(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Sha256> {
        Ok(self.0)
    }
}

/// Why a record does not continue the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainBreak {
    /// The record's sequence number is not the next one: records between
    /// were deleted (or this one was moved or forged).
    #[error("record {expected} is missing: the next record is {found}")]
    Missing {
        /// The sequence number that should come next.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// The sequence number was already checked: a record repeated or moved.
    #[error("record {found} comes again after record {last}")]
    OutOfOrder {
        /// The last sequence number checked.
        last: u64,
        /// The one found.
        found: u64,
    },
    /// The link does not match: this record, or the one before it, was
    /// altered (or a record was put in between).
    #[error("record {seq} does not match its link: it or the record before it was altered")]
    Altered {
        /// The record's sequence number.
        seq: u64,
    },
    /// The record has no link (the zero link) where the chain needs one.
    #[error("record {seq} carries no link")]
    Unlinked {
        /// The record's sequence number.
        seq: u64,
    },
}

/// Checks records one after another against their links, keeping only the
/// last link (no heap, fit for a node or a backend alike).
///
/// ```
/// use locker_domain::bank::{AuditChain, AuditLink, ChainBreak};
/// # use locker_domain::bank::{Actor, AuditEvent, AuditRecord};
/// # use locker_proto::time::Instant;
/// # let record = |seq, prev: &AuditLink| {
/// #     let mut r = AuditRecord {
/// #         seq, at: Instant::from_secs(seq), wall: None, actor: Actor::System,
/// #         compartment: None, parcel: None, event: AuditEvent::DoorClosed,
/// #         snapshot: None, link: AuditLink::GENESIS,
/// #     };
/// #     r.link = prev.then(&r);
/// #     r
/// # };
/// let first = record(0, &AuditLink::GENESIS);
/// let second = record(1, &first.link);
/// let mut altered = second;
/// altered.event = AuditEvent::DoorOpened;
///
/// let mut chain = AuditChain::from_genesis();
/// assert_eq!(chain.check(&first), Ok(()));
/// assert_eq!(chain.check(&altered), Err(ChainBreak::Altered { seq: 1 }));
/// assert_eq!(chain.check(&second), Ok(()));
/// assert_eq!(chain.checked(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditChain {
    /// The next sequence number and the link before it; `None` before an
    /// anchored chain's first record.
    next: Option<(u64, AuditLink)>,
    checked: u64,
}

impl AuditChain {
    /// A chain from its very start: record 0 following [`AuditLink::GENESIS`].
    pub const fn from_genesis() -> Self {
        AuditChain {
            next: Some((0, AuditLink::GENESIS)),
            checked: 0,
        }
    }

    /// A chain that goes on after record `seq`, whose link is `link` (one a
    /// backend received, or a bank's snapshot held).
    pub const fn after(seq: u64, link: AuditLink) -> Self {
        AuditChain {
            next: Some((seq.saturating_add(1), link)),
            checked: 0,
        }
    }

    /// A chain whose first record is taken as given (its link cannot be
    /// checked: what came before it is not at hand) and every later one
    /// checked against it.
    pub const fn anchored() -> Self {
        AuditChain {
            next: None,
            checked: 0,
        }
    }

    /// Checks that `record` is the next record of the chain and carries its
    /// link; on success the chain moves on past it. A record that fails
    /// changes nothing, so the right one can still follow.
    ///
    /// # Errors
    ///
    /// A [`ChainBreak`] naming what is wrong.
    pub fn check(&mut self, record: &AuditRecord) -> Result<(), ChainBreak> {
        if record.link.is_genesis() {
            return Err(ChainBreak::Unlinked { seq: record.seq });
        }
        if let Some((expected, previous)) = self.next {
            if record.seq < expected {
                return Err(ChainBreak::OutOfOrder {
                    last: expected.saturating_sub(1),
                    found: record.seq,
                });
            }
            if record.seq > expected {
                return Err(ChainBreak::Missing {
                    expected,
                    found: record.seq,
                });
            }
            if !record.follows(&previous) {
                return Err(ChainBreak::Altered { seq: record.seq });
            }
        }
        self.next = Some((record.seq.saturating_add(1), record.link));
        self.checked += 1;
        Ok(())
    }

    /// Records checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The last link checked (or given to [`AuditChain::after`]).
    pub fn last_link(&self) -> Option<AuditLink> {
        self.next.map(|(_, link)| link)
    }
}

/// Checks a whole run of records with `chain`; returns how many were
/// checked, or the position (0-based) of the first that breaks it and why.
///
/// ```
/// use locker_domain::bank::{AuditChain, verify_chain};
/// let none: [locker_domain::bank::AuditRecord; 0] = [];
/// assert_eq!(verify_chain(AuditChain::from_genesis(), &none), Ok(0));
/// ```
///
/// # Errors
///
/// `(position, why)` of the first record that breaks the chain.
pub fn verify_chain<'r>(
    mut chain: AuditChain,
    records: impl IntoIterator<Item = &'r AuditRecord>,
) -> Result<u64, (usize, ChainBreak)> {
    for (i, record) in records.into_iter().enumerate() {
        chain.check(record).map_err(|e| (i, e))?;
    }
    Ok(chain.checked())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::string::ToString;

    use super::*;
    use crate::bank::parcel::Purpose;

    /// A pickup's unlock with wall time, compartment, parcel and camera
    /// reference: every optional field present.
    fn unlock() -> AuditRecord {
        let wall = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
            .and_then(|d| d.and_hms_milli_opt(9, 41, 7, 250));
        AuditRecord {
            seq: 1_234_567,
            at: Instant::from_millis(86_400_123),
            wall,
            actor: Actor::Recipient,
            compartment: Some(CompartmentId(17)),
            parcel: Some(ParcelId(40_321)),
            event: AuditEvent::UnlockCommanded {
                purpose: Purpose::Pickup,
                attempt: 0,
            },
            snapshot: Some(SnapshotRef(812)),
            link: AuditLink::GENESIS,
        }
    }

    fn hex(bytes: &[u8]) -> std::string::String {
        bytes.iter().map(|b| std::format!("{b:02x}")).collect()
    }

    // The bytes a link covers and the link itself are pinned: a change to
    // either breaks every chain already written, so it must be a new,
    // documented encoding, never an accident.
    #[test]
    fn the_linked_bytes_and_the_link_of_a_known_record_are_pinned() {
        let record = unlock();
        let mut buf = [0u8; 64];
        let bytes = postcard::to_slice(&LinkedFields::of(&record), &mut buf).unwrap();
        assert_eq!(
            hex(bytes),
            "87ad4bfbb8992901e69effb00d80e59a770101110181bb0203010001ac06"
        );
        assert_eq!(bytes.len(), 30);
        let link = AuditLink::GENESIS.then(&record);
        let mut expected = Sha256::new();
        expected.update([0u8; 32]);
        expected.update(&*bytes);
        assert_eq!(link.0, <[u8; 32]>::from(expected.finalize()));
        // Independently: `sha256sum` of 32 zero bytes and the bytes above.
        assert_eq!(
            link.to_string(),
            "ab5546619a527e72aeab4695b28b9c655f57e04eca2bb36884a5bad7acf9ea0a"
        );
    }

    #[test]
    fn a_link_reads_back_from_json_and_postcard() {
        let link = AuditLink::GENESIS.then(&unlock());
        let json = serde_json::to_string(&link).unwrap();
        assert_eq!(json.len(), 66);
        assert_eq!(serde_json::from_str::<AuditLink>(&json).unwrap(), link);
        let mut buf = [0u8; 64];
        let bin = postcard::to_slice(&link, &mut buf).unwrap();
        assert_eq!(bin.len(), 33);
        assert_eq!(postcard::from_bytes::<AuditLink>(bin).unwrap(), link);
    }

    #[test]
    fn every_field_is_covered() {
        let record = unlock();
        let link = AuditLink::GENESIS.then(&record);
        let mut changed = [record; 8];
        changed[0].seq += 1;
        changed[1].at = Instant::from_millis(1);
        changed[2].wall = None;
        changed[3].actor = Actor::Staff;
        changed[4].compartment = None;
        changed[5].parcel = Some(ParcelId(1));
        changed[6].event = AuditEvent::DoorForced;
        changed[7].snapshot = None;
        for c in &changed {
            assert_ne!(AuditLink::GENESIS.then(c), link, "{c:?}");
        }
        // And the previous link.
        assert_ne!(AuditLink([1; 32]).then(&record), link);
        // The record's own link field is not.
        let mut linked = record;
        linked.link = link;
        assert_eq!(AuditLink::GENESIS.then(&linked), link);
    }
}
