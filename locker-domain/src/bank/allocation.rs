//! Choosing a compartment for a parcel.
//!
//! Compartments are grouped into *shapes*: the same size class, inner
//! dimensions and flags. Shapes are kept sorted by volume, then by how many
//! flags they offer, so the first shape that fits is the smallest one and,
//! among equals, a fridge or a low door comes after a plain one.
//!
//! # Doors kept for those who need them
//!
//! Refrigerated and accessible (low) doors are for perishable parcels and
//! for recipients who cannot reach a high door. A parcel that needs neither
//! takes such a door only while more than [`kept_for_needs`] of that kind
//! are free (a quarter of them, at least one), or when no other door fits
//! at all: a letter goes one size up rather than take the last low doors,
//! and is never refused while any door fits. Each shape
//! keeps its free compartments in an intrusive FIFO list: allocation takes
//! the compartment that has been free longest, and a freed compartment goes
//! to the back, which spreads wear (lock cycles, hinge use) evenly among
//! equals.
//!
//! Cost: allocation looks at each shape once (at most [`MAX_SHAPES`], not
//! `N`), and taking or returning a compartment is `O(1)`. State per
//! compartment: 4 bytes of list links and 1 byte of shape index.

use heapless::Vec;
use locker_proto::{Dimensions, SizeClass};

use super::books::Slice;
use super::layout::{CompartmentFlags, Layout, LayoutIndex};

/// The most distinct shapes a layout may have.
pub const MAX_SHAPES: usize = 32;

const NIL: u16 = u16::MAX;
/// `prev` of a compartment that is in no free list.
const DETACHED: u16 = u16::MAX - 1;

/// How many free doors of a special kind (refrigerated, accessible) are kept
/// for the parcels that need them, of `total` such doors: a quarter, at
/// least one (none if there are none).
pub const fn kept_for_needs(total: u16) -> u16 {
    if total == 0 {
        0
    } else if total / 4 > 1 {
        total / 4
    } else {
        1
    }
}

/// How a parcel's size is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fit {
    /// Measured outer dimensions: any orientation that fits will do.
    Dimensions(Dimensions),
    /// Only the carrier's size label: a compartment of that class or larger.
    Size(SizeClass),
}

/// What a parcel needs from a compartment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParcelNeeds {
    /// Its size.
    pub fit: Fit,
    /// Perishable: refrigerated compartments only.
    pub perishable: bool,
    /// For a recipient who needs an accessible-height door.
    pub accessible: bool,
}

impl ParcelNeeds {
    /// An ordinary parcel of size class `size`.
    pub const fn size(size: SizeClass) -> Self {
        ParcelNeeds {
            fit: Fit::Size(size),
            perishable: false,
            accessible: false,
        }
    }

    /// An ordinary parcel of the given outer dimensions.
    pub const fn dimensions(d: Dimensions) -> Self {
        ParcelNeeds {
            fit: Fit::Dimensions(d),
            perishable: false,
            accessible: false,
        }
    }
}

/// Why no compartment was given; each one is a message for the caller to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AllocationError {
    /// No compartment of this bank could ever hold the parcel.
    #[error("the parcel is larger than every compartment of this bank: deliver it to the counter")]
    Oversize,
    /// Every compartment that fits is taken.
    #[error(
        "every compartment that fits this parcel is taken: try later or collect at the counter"
    )]
    BankFull,
    /// The parcel is perishable and no refrigerated compartment that fits is free.
    #[error(
        "no refrigerated compartment that fits is free: deliver the perishable parcel to the counter"
    )]
    NoRefrigeratedFree,
    /// The recipient needs an accessible door and none that fits is free.
    #[error("no accessible-height compartment that fits is free: collect at the counter")]
    NoAccessibleFree,
    /// The bank runs on a low battery and takes no new deposits.
    #[error(
        "the bank runs on battery at {charge_percent} % and takes no new deposits: try again when power is back"
    )]
    LowBattery {
        /// The battery charge.
        charge_percent: u8,
    },
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    size: SizeClass,
    inner: Dimensions,
    flags: CompartmentFlags,
    head: u16,
    tail: u16,
    free: u16,
    /// Compartments of this shape, free or not.
    total: u16,
}

impl Shape {
    fn fits(&self, fit: Fit) -> bool {
        match fit {
            Fit::Dimensions(d) => self.inner.fits(d),
            Fit::Size(s) => self.size >= s,
        }
    }
}

/// A compartment's place in its shape's free list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    prev: u16,
    next: u16,
}

impl Link {
    /// Not in any free list.
    pub(crate) const DETACHED: Link = Link {
        prev: DETACHED,
        next: NIL,
    };
}

/// Free compartments by shape.
#[derive(Debug)]
pub(crate) struct FreeLists<'a> {
    shapes: Vec<Shape, MAX_SHAPES>,
    shape_of: Slice<'a, u8>,
    links: Slice<'a, Link>,
}

impl<'a> FreeLists<'a> {
    /// Shapes of `layout`, with every compartment detached (not free).
    /// `shape_of` and `links` are as long as the layout.
    pub(crate) fn new(
        layout: &Layout<'_>,
        mut shape_of: Slice<'a, u8>,
        mut links: Slice<'a, Link>,
    ) -> Result<Self, super::layout::LayoutError> {
        let mut shapes: Vec<Shape, MAX_SHAPES> = Vec::new();
        for c in layout.compartments() {
            let known = shapes
                .iter()
                .any(|s| s.size == c.size && s.inner == c.inner && s.flags == c.flags);
            if !known {
                shapes
                    .push(Shape {
                        size: c.size,
                        inner: c.inner,
                        flags: c.flags,
                        head: NIL,
                        tail: NIL,
                        free: 0,
                        total: 0,
                    })
                    .map_err(|_| super::layout::LayoutError::TooManyShapes { max: MAX_SHAPES })?;
            }
        }
        shapes.sort_unstable_by_key(|s| (s.inner.volume_cm3(), s.size, s.flags.count()));
        for l in links.iter_mut() {
            *l = Link::DETACHED;
        }
        for (slot, c) in layout.compartments().iter().enumerate() {
            let index = shapes
                .iter()
                .position(|s| s.size == c.size && s.inner == c.inner && s.flags == c.flags)
                .and_then(|i| u8::try_from(i).ok())
                .unwrap_or(0);
            if let Some(s) = shape_of.get_mut(slot) {
                *s = index;
            }
            if let Some(shape) = shapes.get_mut(usize::from(index)) {
                shape.total = shape.total.saturating_add(1);
            }
        }
        Ok(FreeLists {
            shapes,
            shape_of,
            links,
        })
    }

    /// A copy on the heap.
    #[cfg(feature = "alloc")]
    pub(crate) fn to_heap(&self) -> FreeLists<'static> {
        FreeLists {
            shapes: self.shapes.clone(),
            shape_of: self.shape_of.to_heap(),
            links: self.links.to_heap(),
        }
    }

    /// The compartment a parcel with `needs` should get, without taking it:
    /// the smallest free shape that fits and has what the parcel needs,
    /// keeping the doors others need (refrigerated, accessible) for them
    /// while a door without them fits. Only when every door that fits and
    /// lacks them is taken does a parcel get one it does not need.
    pub(crate) fn choose(&self, needs: ParcelNeeds) -> Result<LayoutIndex, AllocationError> {
        let mut needed = CompartmentFlags::NONE;
        if needs.perishable {
            needed = needed.union(CompartmentFlags::REFRIGERATED);
        }
        if needs.accessible {
            needed = needed.union(CompartmentFlags::ACCESSIBLE);
        }
        // The special doors this parcel may take without touching those
        // kept for the parcels that need them.
        let mut spare_ok = needed;
        for kind in [CompartmentFlags::REFRIGERATED, CompartmentFlags::ACCESSIBLE] {
            let (free, total) = self.count_of(kind);
            if free > kept_for_needs(total) {
                spare_ok = spare_ok.union(kind);
            }
        }
        let mut fits_somewhere = false;
        let mut fits_with_needs = false;
        // First without the kept doors, then (nothing else fits) with them.
        for allowed in [spare_ok, CompartmentFlags::ALL] {
            for shape in &self.shapes {
                if !shape.fits(needs.fit) {
                    continue;
                }
                fits_somewhere = true;
                if !shape.flags.contains(needed) {
                    continue;
                }
                fits_with_needs = true;
                if !allowed.contains(shape.flags) {
                    continue;
                }
                if shape.head != NIL {
                    return Ok(LayoutIndex::stored(shape.head));
                }
            }
        }
        Err(match (fits_somewhere, fits_with_needs) {
            (false, _) => AllocationError::Oversize,
            (true, true) if !needs.perishable && !needs.accessible => AllocationError::BankFull,
            _ if needs.perishable => AllocationError::NoRefrigeratedFree,
            _ => AllocationError::NoAccessibleFree,
        })
    }

    /// Free and all compartments with flag `kind`.
    fn count_of(&self, kind: CompartmentFlags) -> (u16, u16) {
        self.shapes
            .iter()
            .filter(|s| s.flags.contains(kind))
            .fold((0u16, 0u16), |(free, total), s| {
                (free.saturating_add(s.free), total.saturating_add(s.total))
            })
    }

    /// Whether `slot` is in a free list.
    pub(crate) fn is_free(&self, slot: LayoutIndex) -> bool {
        let slot = slot.get();
        self.links.get(slot).is_some_and(|l| l.prev != DETACHED)
    }

    /// Free compartments in total.
    pub(crate) fn free_count(&self) -> usize {
        self.shapes.iter().map(|s| usize::from(s.free)).sum()
    }

    /// Takes `slot` out of its free list (no-op if it is not free).
    pub(crate) fn take(&mut self, slot: LayoutIndex) {
        let slot = slot.get();
        let Some(link) = self.links.get(slot).copied() else {
            return;
        };
        if link.prev == DETACHED {
            return;
        }
        let Some(shape) = self
            .shape_of
            .get(slot)
            .and_then(|s| self.shapes.get_mut(usize::from(*s)))
        else {
            return;
        };
        if link.prev == NIL {
            shape.head = link.next;
        }
        if link.next == NIL {
            shape.tail = link.prev;
        }
        shape.free = shape.free.saturating_sub(1);
        if let Some(p) = self.links.get_mut(usize::from(link.prev)) {
            p.next = link.next;
        }
        if let Some(n) = self.links.get_mut(usize::from(link.next)) {
            n.prev = link.prev;
        }
        if let Some(l) = self.links.get_mut(slot) {
            *l = Link {
                prev: DETACHED,
                next: NIL,
            };
        }
    }

    /// Puts `slot` at the back of its free list (no-op if already free).
    pub(crate) fn release(&mut self, index: LayoutIndex) {
        let slot = index.get();
        if self.is_free(index) || slot >= self.links.len() {
            return;
        }
        let Ok(me) = u16::try_from(slot) else { return };
        let Some(shape) = self
            .shape_of
            .get(slot)
            .and_then(|s| self.shapes.get_mut(usize::from(*s)))
        else {
            return;
        };
        let old_tail = shape.tail;
        shape.tail = me;
        if old_tail == NIL {
            shape.head = me;
        }
        shape.free = shape.free.saturating_add(1);
        if let Some(t) = self.links.get_mut(usize::from(old_tail)) {
            t.next = me;
        }
        if let Some(l) = self.links.get_mut(slot) {
            *l = Link {
                prev: old_tail,
                next: NIL,
            };
        }
    }
}
