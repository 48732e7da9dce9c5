//! What several fuzz targets share: the little bank they drive and the dice
//! it draws pickup codes with.

use locker_domain::bank::Compartment;
use locker_proto::{Channel, CompartmentId, Dimensions, NodeAddr, SizeClass};

/// The two nodes of [`two_node_layout`].
pub const NODES: [NodeAddr; 2] = [NodeAddr(1), NodeAddr(2)];

/// Eight compartments on [`NODES`], four channels each, small and medium in
/// turn: small enough for the fuzzer to fill, large enough for every path
/// (a full size class, a free one, two nodes).
pub fn two_node_layout() -> Vec<Compartment> {
    (0..8u16)
        .map(|i| {
            Compartment::new(
                CompartmentId(i + 1),
                NODES[usize::from(i / 4)],
                Channel((i % 4) as u8),
                if i % 2 == 0 {
                    SizeClass::Small
                } else {
                    SizeClass::Medium
                },
                Dimensions::new(420, 80 + 100 * (i % 2), 600),
            )
        })
        .collect()
}

/// A deterministic random source (a 64-bit LCG): the fuzzer's input, not
/// the dice, decides what happens, so a crash replays exactly.
pub struct Dice(pub u64);

impl rand_core::RngCore for Dice {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u64() as u8;
        }
    }
}
