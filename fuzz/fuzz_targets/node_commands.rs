//! Arbitrary sequences of command frames, unsigned, forged, signed by a
//! harness that holds the node's key (with counters of its choosing), bit-
//! flipped and replayed, against a node's `NodeLink` and `Controller`, with
//! restarts, provisioning and maintenance switched at random.
//!
//! Invariants: no panic; no lock pulse without a frame the harness signed
//! with the node's key; no signed frame pulses a lock twice (a counter is
//! fresh once, across restarts too).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_domain::controller::{Action, Controller};
use locker_proto::auth::{Direction, NodeAuthRecord, trailer};
use locker_proto::frame::{
    AuthTrailer, Decoder, Feed, Frame, MAX_FRAME, encode, encode_authenticated,
};
use locker_proto::link::NodeLink;
use locker_proto::{Command, FirmwareVersion, Instant, NodeAddr, NodeConfig, NodeKey, ResetReason};

const NODE: NodeAddr = NodeAddr(3);
const KEY: NodeKey = NodeKey::from_bytes([0x5c; 32]);

#[derive(Arbitrary, Debug)]
enum Op {
    /// The key holder signs a frame with a counter of its choosing.
    Signed {
        frame: Frame<Command>,
        counter: u16,
    },
    /// A frame without a tag.
    Unsigned(Frame<Command>),
    /// A frame with a made-up trailer.
    Forged {
        frame: Frame<Command>,
        trailer: AuthTrailer,
    },
    /// An earlier frame again, possibly with a bit flipped.
    Again {
        index: usize,
        flip: Option<u16>,
    },
    /// Raw bytes.
    Raw(Vec<u8>),
    /// Time passes.
    Wait(u16),
    /// The node restarts (after the glue stored what it was asked to, or not).
    Restart {
        stored: bool,
    },
    /// The physical inputs.
    Provisioning(bool),
    Maintenance(bool),
}

struct Node {
    link: NodeLink<8>,
    controller: Controller<4>,
    flash: NodeAuthRecord,
}

impl Node {
    fn boot(flash: NodeAuthRecord, now: Instant) -> Node {
        let mut link = NodeLink::new(NODE, ResetReason::PowerOn);
        link.restore_auth(flash);
        let controller = Controller::new(
            NodeConfig::default(),
            FirmwareVersion::new(1, 0, 0),
            ResetReason::PowerOn,
            now,
        )
        .expect("default config");
        Node {
            link,
            controller,
            flash,
        }
    }

    fn store(&mut self) {
        while let Some(record) = self.link.poll_persist() {
            self.flash = record;
            self.link.persisted(&record);
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
    let mut node = Node::boot(
        NodeAuthRecord {
            key: Some(KEY),
            rx_floor: 0,
        },
        now,
    );
    node.store();
    // Wire frames the key holder signed, and the lock pulses each caused.
    let mut signed: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut pulses_by_frame: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    let mut wires: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; MAX_FRAME];
    for op in ops {
        let wire = match op {
            Op::Signed { frame, counter } => {
                let frame = addressed(frame);
                let Ok(bytes) = encode_authenticated(&frame, &mut buf, |c| {
                    trailer(&KEY, c, u64::from(counter), Direction::ToNode)
                }) else {
                    continue;
                };
                signed.insert(bytes.to_vec());
                bytes.to_vec()
            }
            Op::Unsigned(frame) => match encode(&addressed(frame), &mut buf) {
                Ok(bytes) => bytes.to_vec(),
                Err(_) => continue,
            },
            Op::Forged { frame, trailer } => {
                match encode_authenticated(&addressed(frame), &mut buf, |_| trailer) {
                    Ok(bytes) => bytes.to_vec(),
                    Err(_) => continue,
                }
            }
            Op::Again { index, flip } => {
                let Some(mut wire) = wires.get(index % wires.len().max(1)).cloned() else {
                    continue;
                };
                if let Some(bit) = flip {
                    let at = usize::from(bit / 8) % wire.len().max(1);
                    if let Some(b) = wire.get_mut(at) {
                        *b ^= 1 << (bit % 8);
                    }
                }
                wire
            }
            Op::Raw(bytes) => bytes,
            Op::Wait(ms) => {
                now += locker_proto::Duration::from_millis(u64::from(ms) * 10);
                node.controller.handle_timeout(now);
                continue;
            }
            Op::Restart { stored } => {
                if stored {
                    node.store();
                } else {
                    // Whatever was asked and not yet confirmed is lost.
                    let _ = node.link.poll_persist();
                }
                node = Node::boot(node.flash, now);
                node.store();
                continue;
            }
            Op::Provisioning(on) => {
                node.link.set_provisioning(on);
                continue;
            }
            Op::Maintenance(on) => {
                node.controller.set_maintenance(on);
                continue;
            }
        };
        let mut decoder = Decoder::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            match decoder.feed::<Command>(rest) {
                Feed::Consumed => break,
                Feed::Error { remaining, .. } => rest = remaining,
                Feed::Frame { frame, remaining } => {
                    rest = remaining;
                    let auth = decoder.last_authenticated();
                    if let Some(command) = node.link.handle_received(&frame, auth, now) {
                        let report = node.controller.handle_command(&command, now);
                        node.link.respond(report);
                    }
                    let mut pulses = 0u32;
                    while let Some(action) = node.controller.poll_action() {
                        if matches!(action, Action::PulseLock { .. }) {
                            pulses += 1;
                        }
                    }
                    while let Some(event) = node.controller.poll_event() {
                        let _ = node.link.push_event(event);
                    }
                    node.store();
                    let _ = node.link.poll_outgoing();
                    if pulses > 0 {
                        assert!(
                            signed.contains(&wire),
                            "a lock pulsed for a frame the key holder never signed"
                        );
                        let count = pulses_by_frame.entry(wire.clone()).or_default();
                        *count += pulses;
                        assert_eq!(*count, 1, "a signed unlock pulsed twice");
                    }
                }
            }
        }
        wires.push(wire);
    }
});
