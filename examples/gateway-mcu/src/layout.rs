//! The bank as built: 16 columns of 16 compartments, one compartment node
//! for every two columns (32 channels, as many as a node drives), 256
//! compartments in all.
//!
//! The layout is a `const`, computed by the compiler and kept in flash: the
//! bank reads it once at start (into its books) and it never passes through
//! the stack. A real bank would read its layout from its configuration
//! record instead; its size would not change.

use locker_domain::bank::{Compartment, CompartmentFlags};
use locker_proto::{Channel, CompartmentId, Dimensions, MAX_CHANNELS, NodeAddr, SizeClass};

/// Compartment nodes on the bus, at addresses 1 to 8.
pub const NODES: usize = 8;
/// Compartments per node: every channel a node can drive.
pub const PER_NODE: usize = MAX_CHANNELS;
/// Compartments in the bank.
pub const COMPARTMENTS: usize = NODES * PER_NODE;

/// The node of the two refrigerated columns.
const FRIDGE: u8 = 8;

/// Every compartment, numbered node by node from 1, each node's left
/// column then its right one, bottom up.
pub static LAYOUT: [Compartment; COMPARTMENTS] = layout();

// Evaluated by the compiler only: an index out of range fails the build.
#[allow(clippy::indexing_slicing)]
const fn layout() -> [Compartment; COMPARTMENTS] {
    let mut all = [Compartment::new(
        CompartmentId(0),
        NodeAddr(0),
        Channel(0),
        SizeClass::Small,
        Dimensions::new(0, 0, 0),
    ); COMPARTMENTS];
    let mut i = 0;
    while i < COMPARTMENTS {
        // Both fit a u8: NODES ≤ 254 and PER_NODE = 32.
        let node = (i / PER_NODE) as u8 + 1;
        let channel = (i % PER_NODE) as u8;
        let row = channel % ROWS;
        let (size, height) = shape(row);
        let mut compartment = Compartment::new(
            CompartmentId(i as u16 + 1),
            NodeAddr(node),
            Channel(channel),
            size,
            Dimensions::new(420, height, 600),
        );
        // The doors between knee and shoulder height of a seated person.
        if matches!(row, 2..8) {
            compartment = compartment.with_flags(CompartmentFlags::ACCESSIBLE);
        }
        if node == FRIDGE {
            compartment = compartment.with_flags(CompartmentFlags::REFRIGERATED);
        }
        all[i] = compartment;
        i += 1;
    }
    all
}

/// Doors in a column.
const ROWS: u8 = 16;

/// A column of 2.3 m from the bottom: 2 large, 4 shoe boxes, 10 letter
/// boxes. Returns the size class and the inner height in mm of `row`.
const fn shape(row: u8) -> (SizeClass, u16) {
    match row {
        0..2 => (SizeClass::Large, 390),
        2..6 => (SizeClass::Medium, 190),
        _ => (SizeClass::Small, 80),
    }
}
