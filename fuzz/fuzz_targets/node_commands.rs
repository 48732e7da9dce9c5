//! Arbitrary sequences of command frames, unsigned, forged, signed by a
//! harness that holds the node's key (with counters of its choosing), bit-
//! flipped and replayed, in arbitrary chunks, against a whole compartment
//! node (`locker_domain::node::Node`), with restarts, provisioning and
//! maintenance switched at random.
//!
//! Invariants: no panic; no lock pulse without a frame the harness signed
//! with the node's key; no signed frame pulses a lock twice (a counter is
//! fresh once, across restarts too).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_domain::controller::{self, Controller};
use locker_domain::node::{Action, Node};
use locker_proto::auth::{Direction, NodeAuthRecord, trailer};
use locker_proto::frame::{AuthTrailer, Frame, MAX_FRAME, encode, encode_authenticated};
use locker_proto::{Command, FirmwareVersion, Instant, NodeAddr, NodeConfig, NodeKey, ResetReason};

const NODE: NodeAddr = NodeAddr(3);
const KEY: NodeKey = NodeKey::from_bytes([0x5c; 32]);

#[derive(Arbitrary, Debug)]
enum Op {
    /// The key holder signs a frame with a counter of its choosing.
    Signed {
        frame: Frame<Command>,
        counter: u16,
        chunk: u8,
    },
    /// A frame without a tag.
    Unsigned {
        frame: Frame<Command>,
        chunk: u8,
    },
    /// A frame with a made-up trailer.
    Forged {
        frame: Frame<Command>,
        trailer: AuthTrailer,
        chunk: u8,
    },
    /// An earlier frame again, possibly with a bit flipped.
    Again {
        index: usize,
        flip: Option<u16>,
        chunk: u8,
    },
    /// Raw bytes.
    Raw {
        bytes: Vec<u8>,
        chunk: u8,
    },
    /// Time passes.
    Wait(u16),
    /// The node restarts (after the firmware stored what it was asked to, or not).
    Restart {
        stored: bool,
    },
    /// The physical inputs.
    Provisioning(bool),
    Maintenance(bool),
}

/// The node, its flash, and the lock pulses it asked for.
struct Firmware {
    node: Node<4, 8>,
    flash: NodeAuthRecord,
}

impl Firmware {
    fn boot(flash: NodeAuthRecord, now: Instant) -> Firmware {
        let controller = Controller::new(
            NodeConfig::default().with_presence_threshold(10),
            FirmwareVersion::new(1, 0, 0),
            ResetReason::PowerOn,
            now,
        )
        .expect("default config");
        let mut node = Node::new(NODE, controller);
        node.restore_auth(flash);
        Firmware { node, flash }
    }

    /// Does what the node asks, in its polling order, storing every record
    /// unless `store` is false. Returns the lock pulses.
    fn serve(&mut self, store: bool) -> u32 {
        let mut pulses = 0;
        loop {
            while let Some(action) = self.node.poll_action() {
                match action {
                    Action::PersistAuth(record) if store => {
                        self.flash = record;
                        self.node.persisted(&record).expect("the record asked for");
                    }
                    Action::Controller(controller::Action::PulseLock { .. }) => pulses += 1,
                    _ => {}
                }
            }
            if self.node.poll_transmit().is_none() {
                return pulses;
            }
        }
    }
}

/// Most frames are addressed from the gateway to this node, so the fuzzer
/// spends its time past the address check.
fn addressed(mut frame: Frame<Command>) -> Frame<Command> {
    if frame.header.src.0 % 8 != 7 {
        frame.header.src = NodeAddr::GATEWAY;
        frame.header.dst = NODE;
    }
    frame
}

fuzz_target!(|ops: Vec<Op>| {
    let mut now = Instant::ZERO;
    let mut firmware = Firmware::boot(
        NodeAuthRecord {
            key: Some(KEY),
            rx_floor: 0,
        },
        now,
    );
    firmware.serve(true);
    // Wire frames the key holder signed, and the lock pulses each caused.
    let mut signed: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut pulses_by_frame: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    let mut wires: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; MAX_FRAME];
    for op in ops {
        let (wire, chunk) = match op {
            Op::Signed {
                frame,
                counter,
                chunk,
            } => {
                let frame = addressed(frame);
                let Ok(bytes) = encode_authenticated(&frame, &mut buf, |c| {
                    trailer(&KEY, c, u64::from(counter), Direction::ToNode)
                }) else {
                    continue;
                };
                signed.insert(bytes.to_vec());
                (bytes.to_vec(), chunk)
            }
            Op::Unsigned { frame, chunk } => match encode(&addressed(frame), &mut buf) {
                Ok(bytes) => (bytes.to_vec(), chunk),
                Err(_) => continue,
            },
            Op::Forged {
                frame,
                trailer,
                chunk,
            } => match encode_authenticated(&addressed(frame), &mut buf, |_| trailer) {
                Ok(bytes) => (bytes.to_vec(), chunk),
                Err(_) => continue,
            },
            Op::Again { index, flip, chunk } => {
                let Some(mut wire) = wires.get(index % wires.len().max(1)).cloned() else {
                    continue;
                };
                if let Some(bit) = flip {
                    let at = usize::from(bit / 8) % wire.len().max(1);
                    if let Some(b) = wire.get_mut(at) {
                        *b ^= 1 << (bit % 8);
                    }
                }
                (wire, chunk)
            }
            Op::Raw { bytes, chunk } => (bytes, chunk),
            Op::Wait(ms) => {
                now += locker_proto::Duration::from_millis(u64::from(ms) * 10);
                firmware.node.handle_timeout(now);
                assert_eq!(firmware.serve(true), 0, "a lock pulsed without a command");
                continue;
            }
            Op::Restart { stored } => {
                // Unstored, whatever was asked and not yet confirmed is lost.
                firmware.serve(stored);
                firmware = Firmware::boot(firmware.flash, now);
                firmware.serve(true);
                continue;
            }
            Op::Provisioning(on) => {
                firmware.node.set_provisioning(on);
                continue;
            }
            Op::Maintenance(on) => {
                firmware.node.set_maintenance(on);
                continue;
            }
        };
        // A delimiter first: what an earlier wire left unfinished is
        // dropped, so every pulse is caused by this wire alone.
        firmware.node.handle_bytes(&[0], now);
        let mut pulses = 0;
        for piece in wire.chunks(usize::from(chunk).max(1)) {
            firmware.node.handle_bytes(piece, now);
            pulses += firmware.serve(true);
        }
        if pulses > 0 {
            assert!(
                signed.contains(&wire),
                "a lock pulsed for a frame the key holder never signed"
            );
            let count = pulses_by_frame.entry(wire.clone()).or_default();
            *count += pulses;
            assert_eq!(*count, 1, "a signed unlock pulsed twice");
        }
        wires.push(wire);
    }
});
