//! The fixed timer table: one deadline per compartment, kept in an indexed
//! binary min-heap so the next deadline is found in `O(1)` and changed in
//! `O(log N)`.
//!
//! Each compartment has at most one entry (its earliest deadline, see
//! `Slot::next_deadline`), so the heap never holds stale entries and its
//! capacity is exactly `N`: no lazy invalidation, no overflow. An entry packs
//! the deadline (48 bits of milliseconds, about 8,900 years; later deadlines
//! are clamped there) and the compartment's index (16 bits) into one `u64`, so
//! ordering is a plain integer compare and ties break by compartment index.
//! State per compartment: 8 bytes of heap entry plus 2 bytes of position.

use locker_proto::time::Instant;

use super::books::Slice;
use super::layout::LayoutIndex;

const NOT_QUEUED: u16 = u16::MAX;
const TIME_BITS: u32 = 48;
const TIME_MAX: u64 = (1 << TIME_BITS) - 1;

/// Deadlines of the compartments, in storage as long as the layout.
#[derive(Debug)]
pub(crate) struct DeadlineHeap<'a> {
    /// The heap's entries are `entries[..len]`.
    entries: Slice<'a, u64>,
    len: usize,
    pos: Slice<'a, u16>,
}

fn pack(at: Instant, slot: usize) -> u64 {
    (at.as_millis().min(TIME_MAX) << 16) | (slot as u64 & 0xffff)
}

fn unpack(entry: u64) -> (Instant, usize) {
    (Instant::from_millis(entry >> 16), (entry & 0xffff) as usize)
}

impl<'a> DeadlineHeap<'a> {
    /// An empty heap over `entries` and `pos` (as long as each other).
    pub(crate) fn new(entries: Slice<'a, u64>, mut pos: Slice<'a, u16>) -> Self {
        for p in pos.iter_mut() {
            *p = NOT_QUEUED;
        }
        DeadlineHeap {
            entries,
            len: 0,
            pos,
        }
    }

    /// A copy on the heap.
    #[cfg(feature = "alloc")]
    pub(crate) fn to_heap(&self) -> DeadlineHeap<'static> {
        DeadlineHeap {
            entries: self.entries.to_heap(),
            len: self.len,
            pos: self.pos.to_heap(),
        }
    }

    fn heap(&self) -> &[u64] {
        self.entries.get(..self.len).unwrap_or(&[])
    }

    fn heap_mut(&mut self) -> &mut [u64] {
        self.entries.get_mut(..self.len).unwrap_or(&mut [])
    }

    /// The earliest deadline and its compartment.
    pub(crate) fn peek(&self) -> Option<(Instant, LayoutIndex)> {
        self.heap().first().map(|e| {
            let (at, slot) = unpack(*e);
            (at, LayoutIndex::stored(slot as u16))
        })
    }

    /// Sets (or with `None` clears) compartment `slot`'s deadline.
    pub(crate) fn set(&mut self, slot: LayoutIndex, at: Option<Instant>) {
        let slot = slot.get();
        let Some(p) = self.pos.get(slot).copied() else {
            return;
        };
        match (p != NOT_QUEUED, at) {
            (false, None) => {}
            (false, Some(at)) => {
                let i = self.len;
                if let Some(e) = self.entries.get_mut(i) {
                    *e = pack(at, slot);
                    self.len += 1;
                    self.set_pos(slot, i);
                    self.sift_up(i);
                }
            }
            (true, Some(at)) => {
                let i = usize::from(p);
                if let Some(e) = self.heap_mut().get_mut(i) {
                    *e = pack(at, slot);
                }
                self.sift_up(i);
                self.sift_down(i);
            }
            (true, None) => {
                let i = usize::from(p);
                let last = self.len.saturating_sub(1);
                if i > last {
                    return;
                }
                self.heap_mut().swap(i, last);
                self.len = last;
                self.set_pos(slot, usize::from(NOT_QUEUED));
                if let Some(moved) = self.heap().get(i).map(|e| unpack(*e).1) {
                    self.set_pos(moved, i);
                    self.sift_up(i);
                    self.sift_down(i);
                }
            }
        }
    }

    fn set_pos(&mut self, slot: usize, i: usize) {
        if let Some(p) = self.pos.get_mut(slot) {
            *p = u16::try_from(i).unwrap_or(NOT_QUEUED);
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a.max(b) >= self.len {
            return;
        }
        self.heap_mut().swap(a, b);
        for i in [a, b] {
            if let Some(slot) = self.heap().get(i).map(|e| unpack(*e).1) {
                self.set_pos(slot, i);
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            match (self.heap().get(i), self.heap().get(parent)) {
                (Some(c), Some(p)) if c < p => {
                    self.swap(i, parent);
                    i = parent;
                }
                _ => break,
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let mut smallest = i;
            for child in [2 * i + 1, 2 * i + 2] {
                if let (Some(c), Some(s)) = (self.heap().get(child), self.heap().get(smallest)) {
                    if c < s {
                        smallest = child;
                    }
                }
            }
            if smallest == i {
                break;
            }
            self.swap(i, smallest);
            i = smallest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_comes_first_and_moves_when_changed() {
        let (mut entries, mut pos) = ([0u64; 8], [0u16; 8]);
        let mut h = DeadlineHeap::new(Slice::Borrowed(&mut entries), Slice::Borrowed(&mut pos));
        h.set(LayoutIndex::stored(3), Some(Instant::from_secs(30)));
        h.set(LayoutIndex::stored(1), Some(Instant::from_secs(10)));
        h.set(LayoutIndex::stored(5), Some(Instant::from_secs(20)));
        assert_eq!(
            h.peek(),
            Some((Instant::from_secs(10), LayoutIndex::stored(1)))
        );
        h.set(LayoutIndex::stored(1), Some(Instant::from_secs(40)));
        assert_eq!(
            h.peek(),
            Some((Instant::from_secs(20), LayoutIndex::stored(5)))
        );
        h.set(LayoutIndex::stored(5), None);
        assert_eq!(
            h.peek(),
            Some((Instant::from_secs(30), LayoutIndex::stored(3)))
        );
        h.set(LayoutIndex::stored(3), None);
        h.set(LayoutIndex::stored(1), None);
        assert_eq!(h.peek(), None);
        h.set(LayoutIndex::stored(99), Some(Instant::ZERO));
        assert_eq!(h.peek(), None);
    }
}
