//! The index of active pickup codes, so that issuing a code can check in
//! `O(1)` (on average) that no active parcel holds it already.
//!
//! Compartments are chained in buckets by `code value % compartments`: a head per
//! bucket and a next link per compartment, both compartment indexes, 4 bytes
//! per compartment, no heap. The index is only for issuing: a typed code is
//! compared with every active parcel's hash in constant time instead (see
//! [`Bank::enter_code`](super::Bank::enter_code)), so that how long it takes
//! does not reveal where a code matched.

use super::books::Slice;
use super::codes::CodeHash;
use super::layout::LayoutIndex;

const NO_SLOT: u16 = u16::MAX;

/// Which compartments hold a parcel with which code, by bucket.
#[derive(Debug)]
pub(super) struct CodeIndex<'a> {
    heads: Slice<'a, u16>,
    next: Slice<'a, u16>,
}

impl<'a> CodeIndex<'a> {
    /// An empty index over `heads` and `next`, one of each per compartment.
    pub(super) fn new(mut heads: Slice<'a, u16>, mut next: Slice<'a, u16>) -> Self {
        for h in heads.iter_mut().chain(next.iter_mut()) {
            *h = NO_SLOT;
        }
        CodeIndex { heads, next }
    }

    /// A copy on the heap.
    #[cfg(feature = "alloc")]
    pub(super) fn to_heap(&self) -> CodeIndex<'static> {
        CodeIndex {
            heads: self.heads.to_heap(),
            next: self.next.to_heap(),
        }
    }

    fn bucket(&self, code: &CodeHash) -> usize {
        (code.bucket_value() % (self.heads.len().max(1) as u64)) as usize
    }

    pub(super) fn insert(&mut self, slot: LayoutIndex, code: &CodeHash) {
        let slot = slot.get();
        let b = self.bucket(code);
        let (Some(head), Ok(me)) = (self.heads.get(b).copied(), u16::try_from(slot)) else {
            return;
        };
        if let Some(n) = self.next.get_mut(slot) {
            *n = head;
        }
        if let Some(h) = self.heads.get_mut(b) {
            *h = me;
        }
    }

    /// Compartment `slot` no longer holds a parcel with `code`.
    pub(super) fn remove(&mut self, slot: LayoutIndex, code: &CodeHash) {
        let slot = slot.get();
        let b = self.bucket(code);
        let Ok(me) = u16::try_from(slot) else { return };
        let after = self.next.get(slot).copied().unwrap_or(NO_SLOT);
        if self.heads.get(b) == Some(&me) {
            if let Some(h) = self.heads.get_mut(b) {
                *h = after;
            }
            return;
        }
        let mut cur = self.heads.get(b).copied().unwrap_or(NO_SLOT);
        for _ in 0..self.next.len() {
            let next = self.next.get(usize::from(cur)).copied().unwrap_or(NO_SLOT);
            if next == NO_SLOT {
                return;
            }
            if next == me {
                if let Some(n) = self.next.get_mut(usize::from(cur)) {
                    *n = after;
                }
                return;
            }
            cur = next;
        }
    }

    /// Whether a compartment in `code`'s bucket holds it, as `holds` (given
    /// a compartment index) says. Not constant time: for issuing only.
    pub(super) fn any_holds(&self, code: &CodeHash, holds: impl Fn(LayoutIndex) -> bool) -> bool {
        let mut cur = self
            .heads
            .get(self.bucket(code))
            .copied()
            .unwrap_or(NO_SLOT);
        for _ in 0..self.next.len() {
            if cur == NO_SLOT {
                return false;
            }
            if holds(LayoutIndex::stored(cur)) {
                return true;
            }
            cur = self.next.get(usize::from(cur)).copied().unwrap_or(NO_SLOT);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(n: u8) -> CodeHash {
        CodeHash::from_bytes([n; 16])
    }

    #[test]
    fn a_code_is_found_while_its_parcel_is_in_and_not_after() {
        let (mut heads, mut next) = ([0u16; 4], [0u16; 4]);
        let mut index = CodeIndex::new(Slice::Borrowed(&mut heads), Slice::Borrowed(&mut next));
        let mut books: [Option<CodeHash>; 4] = [None; 4];
        // 1, 5 and 9 share a bucket of four; 2 has one of its own.
        for (slot, n) in [(0, 1), (1, 5), (2, 9), (3, 2)] {
            books[slot] = Some(code(n));
            index.insert(LayoutIndex::stored(slot as u16), &code(n));
        }
        fn held(index: &CodeIndex<'_>, books: &[Option<CodeHash>; 4], c: &CodeHash) -> bool {
            index.any_holds(c, |i| books[i.get()].is_some_and(|h| h.ct_eq(c)))
        }
        assert!([1, 5, 9, 2].iter().all(|n| held(&index, &books, &code(*n))));
        assert!(!held(&index, &books, &code(13)), "same bucket, no parcel");
        assert!(!held(&index, &books, &code(3)), "empty bucket");
        // Out of the middle of the chain, alone, off its tail, off its head.
        for slot in [1, 3, 0, 2] {
            let c = books[slot].take().unwrap();
            index.remove(LayoutIndex::stored(slot as u16), &c);
            assert!(!held(&index, &books, &c));
        }
    }
}
