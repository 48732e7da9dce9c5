//! The physical layout of a bank: which compartments exist, where each one is
//! wired (node and channel), how big it is inside and what it offers.

use locker_proto::{
    Channel, CompartmentId, Dimensions, MAX_CHANNELS, NodeAddr, SizeClass, Temperature,
};
use serde::{Deserialize, Serialize};

use super::books::Slice;
use super::cold::TemperatureRange;

/// What a compartment offers beyond its size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CompartmentFlags(u8);

impl CompartmentFlags {
    /// An ordinary compartment.
    pub const NONE: Self = Self(0);
    /// Cooled: the only place for perishable parcels.
    pub const REFRIGERATED: Self = Self(1);
    /// At a height a wheelchair user reaches.
    pub const ACCESSIBLE: Self = Self(2);
    /// Every flag.
    pub const ALL: Self = Self(3);

    /// Both sets of flags.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// How many flags are set; allocation prefers compartments that offer no
    /// more than a parcel needs, so a fridge stays free for perishables.
    pub const fn count(self) -> u32 {
        self.0.count_ones()
    }
}

/// One compartment as built: identity, wiring, size and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Compartment {
    /// The number printed on the door.
    pub id: CompartmentId,
    /// The node that drives its lock and reads its sensors.
    pub node: NodeAddr,
    /// Its channel on that node.
    pub channel: Channel,
    /// The size class carriers label it with.
    pub size: SizeClass,
    /// Inner dimensions.
    pub inner: Dimensions,
    /// Refrigerated, accessible height.
    pub flags: CompartmentFlags,
    /// The temperature this compartment must hold, where it is not the
    /// policy's for its flags ([`ColdPolicy::limits_of`](super::ColdPolicy::limits_of)): a freezer beside
    /// the fridges, a fridge for medicines kept tighter. `None` (the
    /// default, and what a layout written before this field reads as)
    /// takes the policy's.
    #[serde(default)]
    pub temperature: Option<TemperatureRange>,
}

impl Compartment {
    /// A storage placeholder, never part of a layout.
    pub(crate) const UNWIRED: Compartment = Compartment::new(
        CompartmentId(0),
        NodeAddr(0),
        Channel(0),
        SizeClass::Small,
        Dimensions::new(0, 0, 0),
    );

    /// An ordinary compartment; add flags with [`Compartment::with_flags`].
    pub const fn new(
        id: CompartmentId,
        node: NodeAddr,
        channel: Channel,
        size: SizeClass,
        inner: Dimensions,
    ) -> Self {
        Compartment {
            id,
            node,
            channel,
            size,
            inner,
            flags: CompartmentFlags::NONE,
            temperature: None,
        }
    }

    /// The same compartment offering `flags` as well.
    pub const fn with_flags(mut self, flags: CompartmentFlags) -> Self {
        self.flags = self.flags.union(flags);
        self
    }

    /// The same compartment held to its own temperature `limits`, watched
    /// as the [`cold`](super::cold) module describes whatever its flags
    /// (a freezer at −25 to −15 °C, a medicine fridge at 2 to 6 °C).
    ///
    /// ```
    /// use locker_domain::bank::{ColdPolicy, Compartment, CompartmentFlags, TemperatureRange};
    /// use locker_proto::{Channel, CompartmentId, Dimensions, NodeAddr, SizeClass};
    ///
    /// let fridge = Compartment::new(CompartmentId(7), NodeAddr(1), Channel(6),
    ///     SizeClass::Medium, Dimensions::new(400, 300, 450))
    ///     .with_flags(CompartmentFlags::REFRIGERATED);
    /// let freezer = fridge.with_temperature_limits(TemperatureRange::deci_celsius(-250, -150));
    /// let cold = ColdPolicy::default();
    /// assert_eq!(cold.limits_of(&fridge), Some(TemperatureRange::deci_celsius(20, 80)));
    /// assert_eq!(cold.limits_of(&freezer), Some(TemperatureRange::deci_celsius(-250, -150)));
    /// ```
    pub const fn with_temperature_limits(mut self, limits: TemperatureRange) -> Self {
        self.temperature = Some(limits);
        self
    }
}

/// Why a layout was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// More compartments than the bank was built for.
    #[error(
        "the layout has {given} compartments but the bank's storage holds at most {capacity}; give it bigger `Books<N>` or `Storage::boxed`"
    )]
    TooManyCompartments {
        /// Compartments in the layout.
        given: usize,
        /// The storage's capacity.
        capacity: usize,
    },
    /// Two compartments share a number.
    #[error("{0} appears twice in the layout")]
    DuplicateId(CompartmentId),
    /// Two compartments are wired to the same channel.
    #[error("{node} {channel} is wired to two compartments")]
    DuplicateChannel {
        /// The node.
        node: NodeAddr,
        /// The channel.
        channel: Channel,
    },
    /// A compartment on the gateway or broadcast address, or beyond a node's channels.
    #[error(
        "{id} is wired to {node} {channel}, which is not a node channel (nodes are 1..=247, channels 0..32)"
    )]
    BadWiring {
        /// The compartment.
        id: CompartmentId,
        /// Its node.
        node: NodeAddr,
        /// Its channel.
        channel: Channel,
    },
    /// A compartment's own temperature limits are upside down.
    #[error("{id}'s temperature limits run from {min} down to {max}; give the lower limit first")]
    BadTemperatureLimits {
        /// The compartment.
        id: CompartmentId,
        /// The lower limit given.
        min: Temperature,
        /// The upper limit given.
        max: Temperature,
    },
    /// More distinct (size, dimensions, flags) shapes than allocation tracks.
    #[error(
        "the layout has more than {max} distinct compartment shapes; group compartments into fewer sizes"
    )]
    TooManyShapes {
        /// The most shapes allocation tracks.
        max: usize,
    },
}

/// A compartment's place in its bank's layout: minted by the [`Layout`]
/// (by number, by wiring, or walking the layout), so a bank never reaches
/// its books with a number that did not come from its layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LayoutIndex(u16);

impl LayoutIndex {
    /// The position in layout order, for indexing what is kept per
    /// compartment.
    pub const fn get(self) -> usize {
        self.0 as usize
    }

    /// An index an index structure of the bank stored, handed back (the
    /// timer heap, the free lists, the code index keep the layout's indices
    /// as `u16`).
    pub(crate) const fn stored(raw: u16) -> Self {
        LayoutIndex(raw)
    }
}

impl From<LayoutIndex> for usize {
    fn from(i: LayoutIndex) -> usize {
        i.get()
    }
}

/// Every index of a layout, in layout order; borrows nothing, so a bank can
/// walk its compartments while it changes them.
#[derive(Clone, Debug)]
pub struct Indices(core::ops::Range<u16>);

impl Iterator for Indices {
    type Item = LayoutIndex;
    fn next(&mut self) -> Option<LayoutIndex> {
        self.0.next().map(LayoutIndex)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Indices {}

/// A bank's compartments, with lookups by number and by wiring in `O(log N)`.
///
/// Built by [`Bank::new`](super::Bank::new) in the bank's storage, from the
/// list of compartments it is given; read it with
/// [`Bank::layout`](super::Bank::layout).
#[derive(Debug)]
pub struct Layout<'a> {
    compartments: Slice<'a, Compartment>,
    by_id: Slice<'a, u16>,
    by_wiring: Slice<'a, u16>,
    fingerprint: u32,
}

/// The most compartments a bank holds (indices are 16 bits).
pub const MAX_COMPARTMENTS: usize = (u16::MAX - 2) as usize;

impl<'a> Layout<'a> {
    /// A layout of `list` in storage exactly `list.len()` long, checked for
    /// duplicates and bad wiring.
    pub(crate) fn build(
        mut compartments: Slice<'a, Compartment>,
        mut by_id: Slice<'a, u16>,
        mut by_wiring: Slice<'a, u16>,
        list: &[Compartment],
    ) -> Result<Self, LayoutError> {
        let capacity = compartments.len().min(MAX_COMPARTMENTS);
        if list.len() > capacity {
            return Err(LayoutError::TooManyCompartments {
                given: list.len(),
                capacity,
            });
        }
        for (dst, c) in compartments.iter_mut().zip(list) {
            if !c.node.is_node() || c.channel.index() >= MAX_CHANNELS {
                return Err(LayoutError::BadWiring {
                    id: c.id,
                    node: c.node,
                    channel: c.channel,
                });
            }
            if let Some(TemperatureRange { min, max }) = c.temperature {
                if min > max {
                    let id = c.id;
                    return Err(LayoutError::BadTemperatureLimits { id, min, max });
                }
            }
            *dst = *c;
        }
        for (k, (a, b)) in by_id.iter_mut().zip(by_wiring.iter_mut()).enumerate() {
            let k = u16::try_from(k).unwrap_or(u16::MAX);
            *a = k;
            *b = k;
        }
        let key_id = |i: &u16| list.get(usize::from(*i)).map(|c| c.id);
        let key_wire = |i: &u16| list.get(usize::from(*i)).map(|c| (c.node, c.channel));
        by_id.sort_unstable_by_key(key_id);
        by_wiring.sort_unstable_by_key(key_wire);
        for pair in by_id.windows(2) {
            if let [a, b] = pair {
                if key_id(a) == key_id(b) {
                    if let Some(id) = key_id(a) {
                        return Err(LayoutError::DuplicateId(id));
                    }
                }
            }
        }
        for pair in by_wiring.windows(2) {
            if let [a, b] = pair {
                if key_wire(a) == key_wire(b) {
                    if let Some((node, channel)) = key_wire(a) {
                        return Err(LayoutError::DuplicateChannel { node, channel });
                    }
                }
            }
        }
        let fingerprint = fingerprint(list);
        Ok(Layout {
            compartments,
            by_id,
            by_wiring,
            fingerprint,
        })
    }

    /// A copy on the heap.
    #[cfg(feature = "alloc")]
    pub(crate) fn to_heap(&self) -> Layout<'static> {
        Layout {
            compartments: self.compartments.to_heap(),
            by_id: self.by_id.to_heap(),
            by_wiring: self.by_wiring.to_heap(),
            fingerprint: self.fingerprint,
        }
    }

    /// How many compartments the bank has.
    pub fn len(&self) -> usize {
        self.compartments.len()
    }

    /// Whether the bank has no compartments at all.
    pub fn is_empty(&self) -> bool {
        self.compartments.is_empty()
    }

    /// Every compartment, in layout order.
    pub fn compartments(&self) -> &[Compartment] {
        &self.compartments
    }

    /// The compartment at `slot`.
    pub fn get(&self, slot: LayoutIndex) -> Option<&Compartment> {
        self.compartments.get(slot.get())
    }

    /// Every index of the layout, in layout order.
    pub fn indices(&self) -> Indices {
        Indices(0..u16::try_from(self.compartments.len()).unwrap_or(u16::MAX))
    }

    /// The layout index of compartment `id`.
    pub fn slot_of(&self, id: CompartmentId) -> Option<LayoutIndex> {
        let found = self
            .by_id
            .binary_search_by_key(&Some(id), |i| {
                self.compartments.get(usize::from(*i)).map(|c| c.id)
            })
            .ok()?;
        self.by_id.get(found).map(|i| LayoutIndex(*i))
    }

    /// The layout index of the compartment wired to `node`, `channel`.
    pub fn slot_at(&self, node: NodeAddr, channel: Channel) -> Option<LayoutIndex> {
        let found = self
            .by_wiring
            .binary_search_by_key(&Some((node, channel)), |i| {
                self.compartments
                    .get(usize::from(*i))
                    .map(|c| (c.node, c.channel))
            })
            .ok()?;
        self.by_wiring.get(found).map(|i| LayoutIndex(*i))
    }

    /// The layout indices of every compartment on `node`, in channel order.
    pub fn slots_on(&self, node: NodeAddr) -> impl Iterator<Item = LayoutIndex> + '_ {
        let start = self.by_wiring.partition_point(|i| {
            self.compartments
                .get(usize::from(*i))
                .is_some_and(|c| c.node < node)
        });
        self.by_wiring
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .map(|i| LayoutIndex(*i))
            .take_while(move |s| {
                self.compartments
                    .get(s.get())
                    .is_some_and(|c| c.node == node)
            })
    }

    /// The distinct nodes of the bank, in address order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeAddr> + '_ {
        let mut last: Option<NodeAddr> = None;
        self.by_wiring.iter().filter_map(move |i| {
            let node = self.compartments.get(usize::from(*i))?.node;
            if last == Some(node) {
                None
            } else {
                last = Some(node);
                Some(node)
            }
        })
    }

    /// A CRC-32 over the whole layout; a snapshot taken with a different
    /// layout is refused on restore.
    pub fn fingerprint(&self) -> u32 {
        self.fingerprint
    }
}

fn fingerprint(list: &[Compartment]) -> u32 {
    let crc = crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISCSI);
    let mut digest = crc.digest();
    for c in list {
        digest.update(&c.id.0.to_le_bytes());
        digest.update(&[c.node.0, c.channel.0, c.size as u8, c.flags.0]);
        digest.update(&c.inner.width_mm.to_le_bytes());
        digest.update(&c.inner.height_mm.to_le_bytes());
        digest.update(&c.inner.depth_mm.to_le_bytes());
    }
    digest.finalize()
}
