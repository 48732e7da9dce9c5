//! The physical layout of a bank: which compartments exist, where each one is
//! wired (node and channel), how big it is inside and what it offers.

use heapless::Vec;
use locker_proto::{Channel, CompartmentId, Dimensions, MAX_CHANNELS, NodeAddr, SizeClass};
use serde::{Deserialize, Serialize};

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
}

impl Compartment {
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
        }
    }

    /// The same compartment offering `flags` as well.
    pub const fn with_flags(mut self, flags: CompartmentFlags) -> Self {
        self.flags = self.flags.union(flags);
        self
    }
}

/// Why a layout was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// More compartments than the bank was built for.
    #[error(
        "the layout has {given} compartments but the bank holds at most {capacity}; build a bigger `Bank<N>`"
    )]
    TooManyCompartments {
        /// Compartments in the layout.
        given: usize,
        /// The bank's capacity `N`.
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
    /// More distinct (size, dimensions, flags) shapes than allocation tracks.
    #[error(
        "the layout has more than {max} distinct compartment shapes; group compartments into fewer sizes"
    )]
    TooManyShapes {
        /// The most shapes allocation tracks.
        max: usize,
    },
}

/// A bank's compartments, with lookups by number and by wiring in `O(log N)`.
#[derive(Clone, Debug)]
pub struct Layout<const N: usize> {
    compartments: Vec<Compartment, N>,
    by_id: Vec<u16, N>,
    by_wiring: Vec<u16, N>,
    fingerprint: u32,
}

impl<const N: usize> Layout<N> {
    const FITS_U16: () = assert!(
        N < (u16::MAX - 1) as usize,
        "a bank holds at most 65,533 compartments"
    );

    /// A layout from its compartments, checked for duplicates and bad wiring.
    ///
    /// ```
    /// use locker_domain::bank::{Compartment, Layout};
    /// use locker_proto::{Channel, CompartmentId, Dimensions, NodeAddr, SizeClass};
    /// let small = Compartment::new(CompartmentId(1), NodeAddr(1), Channel(0),
    ///     SizeClass::Small, Dimensions::new(420, 80, 600));
    /// let layout = Layout::<8>::new(&[small]).unwrap();
    /// assert_eq!(layout.len(), 1);
    /// ```
    pub fn new(compartments: &[Compartment]) -> Result<Self, LayoutError> {
        let () = Self::FITS_U16;
        let mut list = Vec::new();
        for c in compartments {
            if !c.node.is_node() || c.channel.index() >= MAX_CHANNELS {
                return Err(LayoutError::BadWiring {
                    id: c.id,
                    node: c.node,
                    channel: c.channel,
                });
            }
            list.push(*c)
                .map_err(|_| LayoutError::TooManyCompartments {
                    given: compartments.len(),
                    capacity: N,
                })?;
        }
        let mut by_id: Vec<u16, N> = (0..list.len())
            .filter_map(|i| u16::try_from(i).ok())
            .collect();
        let mut by_wiring = by_id.clone();
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
        let fingerprint = fingerprint(&list);
        Ok(Layout {
            compartments: list,
            by_id,
            by_wiring,
            fingerprint,
        })
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

    /// The compartment at layout index `slot`.
    pub fn get(&self, slot: usize) -> Option<&Compartment> {
        self.compartments.get(slot)
    }

    /// The layout index of compartment `id`.
    pub fn slot_of(&self, id: CompartmentId) -> Option<usize> {
        let found = self
            .by_id
            .binary_search_by_key(&Some(id), |i| {
                self.compartments.get(usize::from(*i)).map(|c| c.id)
            })
            .ok()?;
        self.by_id.get(found).map(|i| usize::from(*i))
    }

    /// The layout index of the compartment wired to `node`, `channel`.
    pub fn slot_at(&self, node: NodeAddr, channel: Channel) -> Option<usize> {
        let found = self
            .by_wiring
            .binary_search_by_key(&Some((node, channel)), |i| {
                self.compartments
                    .get(usize::from(*i))
                    .map(|c| (c.node, c.channel))
            })
            .ok()?;
        self.by_wiring.get(found).map(|i| usize::from(*i))
    }

    /// The layout indices of every compartment on `node`, in channel order.
    pub fn slots_on(&self, node: NodeAddr) -> impl Iterator<Item = usize> + '_ {
        let start = self.by_wiring.partition_point(|i| {
            self.compartments
                .get(usize::from(*i))
                .is_some_and(|c| c.node < node)
        });
        self.by_wiring
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .map(|i| usize::from(*i))
            .take_while(move |s| self.compartments.get(*s).is_some_and(|c| c.node == node))
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
