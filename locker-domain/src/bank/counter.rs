//! The counter: where expired parcels go, and how the bank still
//! recognises their codes.
//!
//! A parcel that outstays its pickup time expires ([`Stage::Expired`](super::Stage::Expired)):
//! its collector is told ([`NotificationKind::ParcelExpired`](super::NotificationKind::ParcelExpired)) and staff
//! are asked to remove it. Once the removal is verified the collector is
//! told again ([`NotificationKind::MovedToCounter`](super::NotificationKind::MovedToCounter)), and the bank keeps the
//! parcel's code hash on a small shelf ([`AT_COUNTER`] parcels, for
//! [`AT_COUNTER_FOR`]). A collector who comes late and types the right code,
//! before or after the removal, gets [`CodeOutcome::CollectAtCounter`](super::CodeOutcome::CollectAtCounter): not
//! a wrong code, not counted against the keypad, audited as
//! [`AuditEvent::CodeForCounterParcel`](super::AuditEvent::CodeForCounterParcel). A guesser learns nothing he could
//! open a door with: such codes open nothing any more.

use heapless::Deque;
use locker_proto::time::{Duration, Instant};

use super::codes::CodeHash;
use super::persist::records::{Rebase, ShelfRecord};

/// Parcels taken to the counter whose codes the bank still recognises; the
/// oldest is forgotten first.
pub const AT_COUNTER: usize = 16;

/// How long a parcel taken to the counter is recognised by its code: two
/// weeks.
pub const AT_COUNTER_FOR: Duration = Duration::from_secs(14 * 24 * 3600);

/// Code hashes of parcels taken to the counter, with when.
#[derive(Clone, Debug, Default)]
pub(crate) struct CounterShelf {
    parcels: Deque<(CodeHash, Instant), AT_COUNTER>,
}

impl CounterShelf {
    /// The parcel with code hash `code` went to the counter at `now`.
    pub(crate) fn shelve(&mut self, code: CodeHash, now: Instant) {
        if self.parcels.is_full() {
            let _ = self.parcels.pop_front();
        }
        // Room was just made.
        let _ = self.parcels.push_back((code, now));
    }

    /// Whether `typed` is the code of a parcel at the counter, compared
    /// with every entry in constant time.
    pub(crate) fn holds(&self, typed: &CodeHash, now: Instant) -> bool {
        let mut hit = false;
        for (code, at) in &self.parcels {
            let recent = now.saturating_since(*at) < AT_COUNTER_FOR;
            hit |= code.ct_eq(typed) & recent;
        }
        hit
    }

    /// The shelf as the snapshot keeps it.
    pub(crate) fn record(&self) -> ShelfRecord {
        ShelfRecord {
            parcels: self.parcels.iter().copied().collect(),
        }
    }

    /// The shelf from a snapshot, on the restoring clock.
    pub(crate) fn from_record(r: &ShelfRecord, clock: Rebase) -> Self {
        let mut shelf = CounterShelf::default();
        for (code, at) in &r.parcels {
            shelf.shelve(*code, clock.at(*at));
        }
        shelf
    }
}

impl super::Bank<'_> {
    /// The expired parcel in `i` went to the counter (its removal was
    /// verified; the books still hold it): its code goes on the shelf and
    /// its collector is told.
    pub(super) fn moved_to_counter(&mut self, i: super::LayoutIndex, now: Instant) {
        let Some(parcel) = self.slots.get(i.get()).and_then(|s| s.parcel) else {
            return;
        };
        self.counter.shelve(parcel.code, now);
        let collector = parcel.kind.collector();
        self.notify(now, collector, i, super::NotificationKind::MovedToCounter);
    }
}
