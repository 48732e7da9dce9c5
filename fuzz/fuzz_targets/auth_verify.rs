//! Arbitrary frames and counters against a keyed verifier: frames the
//! harness signed with the key, bit-flipped copies of them, frames signed
//! with another key, and raw bytes, through the decoder into an `RxWindow`.
//!
//! Invariants: no panic; the verifier never accepts (as fresh, stale or
//! waiting for its reservation) a frame whose tag the harness did not
//! produce with the key for exactly those bytes and that counter; a fresh
//! counter is above every counter accepted before.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_proto::auth::{Direction, RxWindow, Verdict, trailer};
use locker_proto::frame::{Decoder, Feed, Frame, MAX_FRAME, encode_authenticated};
use locker_proto::{Command, NodeKey};

const KEY: NodeKey = NodeKey::from_bytes([0x3a; 32]);
const OTHER: NodeKey = NodeKey::from_bytes([0x3b; 32]);

#[derive(Arbitrary, Debug)]
enum Op {
    /// The harness signs a frame with the key.
    Sign { frame: Frame<Command>, counter: u64 },
    /// Someone signs with another key.
    SignOther { frame: Frame<Command>, counter: u64 },
    /// A copy of an earlier wire frame with one bit flipped.
    Flip { index: usize, bit: u16 },
    /// An earlier wire frame again.
    Replay { index: usize },
    /// Raw bytes.
    Raw(Vec<u8>),
    /// The glue stores the reservation asked for.
    Store,
}

#[derive(Arbitrary, Debug)]
struct Input {
    floor: u32,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let mut rx = RxWindow::resume(u64::from(input.floor)).with_block(64);
    let mut signed: BTreeSet<(Vec<u8>, u64)> = BTreeSet::new();
    let mut wires: Vec<Vec<u8>> = Vec::new();
    let mut last_fresh: Option<u64> = None;
    let mut buf = [0u8; MAX_FRAME];
    for op in input.ops {
        let wire = match op {
            Op::Sign { frame, counter } => {
                let mut covered = Vec::new();
                let Ok(bytes) = encode_authenticated(&frame, &mut buf, |c| {
                    covered = c.to_vec();
                    trailer(&KEY, c, counter, Direction::ToNode)
                }) else {
                    continue;
                };
                signed.insert((covered, counter));
                bytes.to_vec()
            }
            Op::SignOther { frame, counter } => {
                let Ok(bytes) = encode_authenticated(&frame, &mut buf, |c| {
                    trailer(&OTHER, c, counter, Direction::ToNode)
                }) else {
                    continue;
                };
                bytes.to_vec()
            }
            Op::Flip { index, bit } => {
                let Some(mut wire) = wires.get(index % wires.len().max(1)).cloned() else {
                    continue;
                };
                let at = usize::from(bit / 8) % wire.len().max(1);
                if let Some(b) = wire.get_mut(at) {
                    *b ^= 1 << (bit % 8);
                }
                wire
            }
            Op::Replay { index } => match wires.get(index % wires.len().max(1)) {
                Some(wire) => wire.clone(),
                None => continue,
            },
            Op::Raw(bytes) => bytes,
            Op::Store => {
                if let Some(up_to) = rx.poll_persist() {
                    rx.persisted(up_to);
                }
                continue;
            }
        };
        let mut decoder = Decoder::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            match decoder.feed::<Command>(rest) {
                Feed::Consumed => break,
                Feed::Error { remaining, .. } => rest = remaining,
                Feed::Frame { remaining, .. } => {
                    rest = remaining;
                    let Some(auth) = decoder.last_authenticated() else {
                        continue;
                    };
                    let verdict = rx.check(&KEY, auth.covered, &auth.trailer, Direction::ToNode);
                    let counter = match verdict {
                        Verdict::Fresh(c) | Verdict::Stale(c) | Verdict::Unreserved(c) => c,
                        _ => continue,
                    };
                    assert!(
                        signed.contains(&(auth.covered.to_vec(), counter)),
                        "accepted a tag the key holder never made: {verdict:?}"
                    );
                    if let Verdict::Fresh(c) = verdict {
                        assert!(
                            last_fresh.is_none_or(|last| c > last),
                            "counter {c} fresh twice"
                        );
                        assert!(c >= rx.floor());
                        rx.accept(c);
                        last_fresh = Some(c);
                    }
                }
            }
        }
        wires.push(wire);
    }
});
