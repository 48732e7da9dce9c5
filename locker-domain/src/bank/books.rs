//! The bank's storage: every part that grows with the number of
//! compartments, owned by the caller.
//!
//! A [`Bank`] holds only fixed-size state (policy, counters,
//! output queues, keypads); its per-compartment books live in a
//! [`Storage`] the caller hands in, as smoltcp's `SocketSet` and
//! embassy-net's `StackResources` do. Two ways to provide it:
//!
//! - **A [`Books<N>`] you own**, built by the `const fn` [`Books::new`], so
//!   it can sit in a `static` on a gateway MCU (for example in a
//!   `static_cell::ConstStaticCell`) and never passes through the stack;
//!   the bank borrows it for its lifetime.
//! - **[`Storage::boxed`]** (feature `alloc`) on a Linux gateway: one heap
//!   allocation per part, sized at run time, no stack copy of any of it.
//!
//! ```
//! use locker_domain::bank::{Bank, BankId, BankKeys, Books, Compartment, Policy};
//! use locker_proto::{Channel, CompartmentId, Dimensions, NodeAddr, SizeClass};
//!
//! // On an MCU this would be a `static` (see the firmware example).
//! let mut books = Books::<256>::new();
//! let small = Compartment::new(CompartmentId(1), NodeAddr(1), Channel(0),
//!     SizeClass::Small, Dimensions::new(420, 80, 600));
//! let keys = BankKeys::derive(BankId(1), &[0x3d; 32]);
//! let bank = Bank::new(&mut books, &[small], Policy::default(), keys)?;
//! assert_eq!(bank.layout().len(), 1);
//! # Ok::<(), locker_domain::bank::LayoutError>(())
//! ```

use core::ops::{Deref, DerefMut};

use super::Bank;
use super::allocation::Link;
use super::health::CompartmentHealth;
use super::layout::Compartment;
use super::slot::Slot;
#[cfg(feature = "alloc")]
use super::{BankKeys, LayoutError, Policy};

/// A slice of the bank's storage: borrowed from the caller, or owned on
/// the heap.
pub(crate) enum Slice<'a, T> {
    Borrowed(&'a mut [T]),
    #[cfg(feature = "alloc")]
    Owned(alloc::boxed::Box<[T]>),
}

impl<T> Slice<'_, T> {
    /// The first `len` items only (the bank's compartments).
    fn truncate(self, len: usize) -> Self {
        match self {
            Slice::Borrowed(s) => {
                let len = len.min(s.len());
                Slice::Borrowed(s.split_at_mut(len).0)
            }
            #[cfg(feature = "alloc")]
            Slice::Owned(b) => {
                let mut v = alloc::vec::Vec::from(b);
                v.truncate(len);
                Slice::Owned(v.into_boxed_slice())
            }
        }
    }
}

#[cfg(feature = "alloc")]
impl<T: Clone> Slice<'_, T> {
    /// A copy on the heap.
    pub(crate) fn to_heap(&self) -> Slice<'static, T> {
        Slice::Owned(self.to_vec().into_boxed_slice())
    }
}

impl<T> Deref for Slice<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Slice::Borrowed(s) => s,
            #[cfg(feature = "alloc")]
            Slice::Owned(b) => b,
        }
    }
}

impl<T> DerefMut for Slice<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Slice::Borrowed(s) => s,
            #[cfg(feature = "alloc")]
            Slice::Owned(b) => b,
        }
    }
}

impl<T> core::fmt::Debug for Slice<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "[{} entries]", self.len())
    }
}

/// Storage for a bank of up to `N` compartments, to own where it suits
/// you: in a `static`, in a `Box`, in a long-lived struct.
///
/// [`Books::new`] is a `const fn`, so no part of it is ever built on the
/// stack when it is a `static`. Hand `&mut books` to
/// [`Bank::new`]. See the [module docs](self).
pub struct Books<const N: usize> {
    compartments: [Compartment; N],
    by_id: [u16; N],
    by_wiring: [u16; N],
    shape_of: [u8; N],
    links: [Link; N],
    heap: [u64; N],
    heap_pos: [u16; N],
    code_heads: [u16; N],
    code_next: [u16; N],
    slots: [Slot; N],
    health: [CompartmentHealth; N],
}

impl<const N: usize> Books<N> {
    /// Empty books for `N` compartments.
    pub const fn new() -> Self {
        Books {
            compartments: [Compartment::UNWIRED; N],
            by_id: [0; N],
            by_wiring: [0; N],
            shape_of: [0; N],
            links: [Link::DETACHED; N],
            heap: [0; N],
            heap_pos: [0; N],
            code_heads: [0; N],
            code_next: [0; N],
            slots: [Slot::EMPTY; N],
            health: [CompartmentHealth::FRESH; N],
        }
    }
}

impl<const N: usize> Default for Books<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Books<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Books<{N}>")
    }
}

/// The storage a [`Bank`] keeps its per-compartment books in:
/// borrowed [`Books`], or [`Storage::boxed`].
#[derive(Debug)]
pub struct Storage<'a> {
    pub(crate) compartments: Slice<'a, Compartment>,
    pub(crate) by_id: Slice<'a, u16>,
    pub(crate) by_wiring: Slice<'a, u16>,
    pub(crate) shape_of: Slice<'a, u8>,
    pub(crate) links: Slice<'a, Link>,
    pub(crate) heap: Slice<'a, u64>,
    pub(crate) heap_pos: Slice<'a, u16>,
    pub(crate) code_heads: Slice<'a, u16>,
    pub(crate) code_next: Slice<'a, u16>,
    pub(crate) slots: Slice<'a, Slot>,
    pub(crate) health: Slice<'a, CompartmentHealth>,
}

impl<'a, const N: usize> From<&'a mut Books<N>> for Storage<'a> {
    fn from(b: &'a mut Books<N>) -> Self {
        Storage {
            compartments: Slice::Borrowed(&mut b.compartments),
            by_id: Slice::Borrowed(&mut b.by_id),
            by_wiring: Slice::Borrowed(&mut b.by_wiring),
            shape_of: Slice::Borrowed(&mut b.shape_of),
            links: Slice::Borrowed(&mut b.links),
            heap: Slice::Borrowed(&mut b.heap),
            heap_pos: Slice::Borrowed(&mut b.heap_pos),
            code_heads: Slice::Borrowed(&mut b.code_heads),
            code_next: Slice::Borrowed(&mut b.code_next),
            slots: Slice::Borrowed(&mut b.slots),
            health: Slice::Borrowed(&mut b.health),
        }
    }
}

#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
impl Storage<'static> {
    /// Storage for up to `capacity` compartments on the heap, allocated in
    /// place (nothing of it is built on the stack).
    pub fn boxed(capacity: usize) -> Self {
        fn part<T: Clone>(value: T, n: usize) -> Slice<'static, T> {
            Slice::Owned(alloc::vec![value; n].into_boxed_slice())
        }
        Storage {
            compartments: part(Compartment::UNWIRED, capacity),
            by_id: part(0, capacity),
            by_wiring: part(0, capacity),
            shape_of: part(0, capacity),
            links: part(Link::DETACHED, capacity),
            heap: part(0, capacity),
            heap_pos: part(0, capacity),
            code_heads: part(0, capacity),
            code_next: part(0, capacity),
            slots: part(Slot::EMPTY, capacity),
            health: part(CompartmentHealth::FRESH, capacity),
        }
    }
}

impl Storage<'_> {
    /// How many compartments it has room for.
    pub fn capacity(&self) -> usize {
        [
            self.compartments.len(),
            self.by_id.len(),
            self.by_wiring.len(),
            self.shape_of.len(),
            self.links.len(),
            self.heap.len(),
            self.heap_pos.len(),
            self.code_heads.len(),
            self.code_next.len(),
            self.slots.len(),
            self.health.len(),
        ]
        .into_iter()
        .min()
        .unwrap_or(0)
    }

    /// Every part cut to exactly `len` compartments.
    pub(crate) fn truncate(self, len: usize) -> Self {
        Storage {
            compartments: self.compartments.truncate(len),
            by_id: self.by_id.truncate(len),
            by_wiring: self.by_wiring.truncate(len),
            shape_of: self.shape_of.truncate(len),
            links: self.links.truncate(len),
            heap: self.heap.truncate(len),
            heap_pos: self.heap_pos.truncate(len),
            code_heads: self.code_heads.truncate(len),
            code_next: self.code_next.truncate(len),
            slots: self.slots.truncate(len),
            health: self.health.truncate(len),
        }
    }
}

impl<T> core::borrow::Borrow<[T]> for Slice<'_, T> {
    fn borrow(&self) -> &[T] {
        self
    }
}

impl<T> core::borrow::BorrowMut<[T]> for Slice<'_, T> {
    fn borrow_mut(&mut self) -> &mut [T] {
        self
    }
}

impl Bank<'_> {
    /// A bank with its books on the heap ([`Storage::boxed`], exactly as
    /// many as `compartments`): a Linux gateway's bank.
    ///
    /// # Errors
    /// As [`Bank::new`].
    #[cfg(feature = "alloc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
    pub fn on_heap(
        compartments: &[Compartment],
        policy: Policy,
        keys: BankKeys,
    ) -> Result<Bank<'static>, LayoutError> {
        Bank::new(
            Storage::boxed(compartments.len()),
            compartments,
            policy,
            keys,
        )
    }

    /// A copy of the whole bank, its books on the heap: to try something
    /// out on the copy (a simulator's "what if", a test) and throw it away.
    #[cfg(feature = "alloc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
    pub fn to_heap(&self) -> Bank<'static> {
        Bank {
            layout: self.layout.to_heap(),
            policy: self.policy,
            slots: self.slots.to_heap(),
            free: self.free.to_heap(),
            timers: self.timers.to_heap(),
            codes: self.codes.to_heap(),
            keypads: self.keypads.clone(),
            keys: self.keys.clone(),
            remote: self.remote.clone(),
            counter: self.counter.clone(),
            health: self.health.to_heap(),
            commands: self.commands.clone(),
            status_wanted: self.status_wanted,
            config_wanted: self.config_wanted,
            unreachable: self.unreachable,
            lost_watch: self.lost_watch.clone(),
            unlocks_heard: self.unlocks_heard.clone(),
            jams_heard: self.jams_heard.clone(),
            given_up: self.given_up.clone(),
            unlocks_before_restart: self.unlocks_before_restart.clone(),
            recalibrations: self.recalibrations.clone(),
            retares_put_off: self.retares_put_off.clone(),
            leaving: self.leaving.clone(),
            drift_cursor: self.drift_cursor,
            next_scan: self.next_scan,
            readings_wanted: self.readings_wanted,
            reading_passes_left: self.reading_passes_left,
            scans: self.scans,
            cold_cursor: self.cold_cursor,
            notifications: self.notifications.clone(),
            alerts: self.alerts.clone(),
            audit: self.audit.clone(),
            snapshots: self.snapshots.clone(),
            persist: self.persist,
            power: self.power,
            deposits_closed: self.deposits_closed,
            wall: self.wall,
            latest: self.latest,
            next_seq: self.next_seq,
            incarnation: self.incarnation,
            last_link: self.last_link,
            next_parcel: self.next_parcel,
            next_snapshot: self.next_snapshot,
            stats: self.stats,
        }
    }
}
