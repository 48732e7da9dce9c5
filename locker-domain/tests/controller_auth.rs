//! A node and its gateway's master on a bus an attacker can tap: no door
//! opens without a valid, fresh tag, every refused attempt reaches the
//! gateway as a security event, and even the right key cannot open more
//! doors than the rate limit allows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod node_support;

use std::collections::BTreeMap;

use locker_proto::frame::{Decoder, Feed};
use locker_proto::{Channel, Command, Duration, NackReason, NodeConfig, RebootKind, Report};
use node_support::{Cabinet, NODE, answer_of, command_frame, forged, unsigned};
use proptest::prelude::*;

#[test]
fn attacker_on_the_bus_cannot_open_a_door_and_every_attempt_is_reported() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    // Business as usual, recorded by the attacker's tap.
    assert_eq!(
        cabinet.gateway_sends(Command::Unlock {
            channel: Channel(3),
            pulse_ms: 300,
        }),
        Report::Ack
    );
    cabinet.run_for(Duration::from_secs(2));
    let recorded = cabinet.recorded.clone();
    let config_before = *cabinet.node().controller().config();
    assert_eq!(cabinet.pulses().len(), 1);

    // The attack: every actuating command, unsigned, with forged tags, and
    // every signed frame the gateway ever sent, replayed.
    let targets = [
        Command::Unlock {
            channel: Channel(0),
            pulse_ms: 1000,
        },
        Command::Unlock {
            channel: Channel(3),
            pulse_ms: 300,
        },
        Command::Reboot {
            kind: RebootKind::Hard,
        },
        Command::Configure(NodeConfig {
            max_pulse_ms: 1000,
            ..NodeConfig::default().with_presence_threshold(10)
        }),
        Command::Calibrate {
            channel: Channel(1),
        },
    ];
    let mut attempts = 0;
    for (i, command) in targets.iter().enumerate() {
        let frame = command_frame(100 + i as u8, *command);
        let answer = answer_of(cabinet.node_receives(&unsigned(&frame)));
        assert_eq!(answer, Report::Nack(NackReason::Unauthenticated));
        attempts += 1;
        for guess in 0..8 {
            let answer = answer_of(cabinet.node_receives(&forged(&frame, guess)));
            assert_eq!(answer, Report::Nack(NackReason::Unauthenticated));
            attempts += 1;
        }
    }
    // The last signed frame is indistinguishable from a retransmission: it
    // is answered from the node's cache, executing nothing. Every older one
    // is refused as stale.
    let signed: Vec<&Vec<u8>> = recorded
        .iter()
        .filter(|wire| {
            let mut decoder = Decoder::new();
            // Signed commands; queries carry a challenge, not a tag.
            matches!(decoder.feed::<Command>(wire), Feed::Frame { frame, .. } if frame.body.needs_tag())
                && decoder.last_authenticated().is_some()
        })
        .collect();
    let (last, older) = signed.split_last().unwrap();
    for wire in older {
        let answer = answer_of(cabinet.node_receives(wire));
        assert!(
            matches!(answer, Report::Nack(NackReason::Stale { .. })),
            "replay answered {answer:?}"
        );
    }
    assert_eq!(answer_of(cabinet.node_receives(last)), Report::Ack);
    let replayed_signed = older.len() as u32;
    assert!(
        replayed_signed >= 1,
        "at least the first acknowledgement is replayed"
    );
    attempts += replayed_signed;

    // Nothing moved: no pulse beyond the gateway's own, no reboot, same config.
    assert_eq!(cabinet.pulses(), vec![(Channel(3), 300)]);
    assert_eq!(cabinet.firmware.reboots(), 0);
    assert_eq!(*cabinet.node().controller().config(), config_before);

    // The gateway learns of every attempt through the node's event queue.
    cabinet.run_for(Duration::from_secs(5));
    assert_eq!(cabinet.refused(), attempts);
    // Refusals arriving while a security event waits are counted into the
    // next one, which names the last reason: both reasons reach the gateway.
    assert!(cabinet.refusals.contains_key("Unauthenticated"));
    assert!(cabinet.refusals.contains_key("Stale"));
    // And the node still serves its gateway.
    assert_eq!(
        cabinet.gateway_sends(Command::Unlock {
            channel: Channel(0),
            pulse_ms: 300,
        }),
        Report::Ack
    );
    assert_eq!(cabinet.pulses().len(), 2);
}

#[test]
fn an_attacker_cannot_make_the_node_forget_its_security_events() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    let unlock = command_frame(
        50,
        Command::Unlock {
            channel: Channel(0),
            pulse_ms: 300,
        },
    );
    answer_of(cabinet.node_receives(&unsigned(&unlock)));
    // The attacker acknowledges every event, unsigned, to erase the trace.
    for up_to in 0..20u16 {
        let ack = command_frame(
            60,
            Command::AckEvents {
                up_to: locker_proto::EventSeq(up_to),
            },
        );
        assert_eq!(
            answer_of(cabinet.node_receives(&unsigned(&ack))),
            Report::Nack(NackReason::Unauthenticated)
        );
    }
    cabinet.run_for(Duration::from_secs(5));
    assert_eq!(cabinet.refused(), 21);
}

#[test]
fn even_the_right_key_cannot_open_more_doors_than_the_rate_limit() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    let mut answers = Vec::new();
    // A compromised gateway tries to empty the node: 16 doors, one a second.
    for channel in 0..16u8 {
        answers.push(cabinet.gateway_sends(Command::Unlock {
            channel: Channel(channel),
            pulse_ms: 300,
        }));
        cabinet.run_for(Duration::from_secs(1));
    }
    let acks = answers.iter().filter(|a| **a == Report::Ack).count();
    let limited = answers
        .iter()
        .filter(|a| **a == Report::Nack(NackReason::RateLimited))
        .count();
    assert_eq!((acks, limited), (10, 6));
    assert_eq!(cabinet.pulses().len(), 10);
    cabinet.run_for(Duration::from_secs(3));
    assert_eq!(cabinet.refusals.get("RateLimited"), Some(&6));

    // A minute after the first unlock the window has room again.
    cabinet.run_for(Duration::from_secs(45));
    assert_eq!(
        cabinet.gateway_sends(Command::Unlock {
            channel: Channel(10),
            pulse_ms: 300,
        }),
        Report::Ack
    );

    // Staff turn the maintenance key inside the cabinet: the limit is lifted.
    cabinet.node().set_maintenance(true);
    for channel in 0..16u8 {
        assert_eq!(
            cabinet.gateway_sends(Command::Unlock {
                channel: Channel(channel),
                pulse_ms: 300,
            }),
            Report::Ack
        );
        cabinet.run_for(Duration::from_secs(1));
    }
    assert_eq!(cabinet.pulses().len(), 27);
    cabinet.node().set_maintenance(false);
    assert_eq!(
        cabinet.gateway_sends(Command::Unlock {
            channel: Channel(0),
            pulse_ms: 300,
        }),
        Report::Nack(NackReason::RateLimited)
    );
}

/// What the bus does next, in the interleaving proptest.
#[derive(Clone, Debug)]
enum BusOp {
    /// The gateway may send (a new unlock when idle, or a retransmission).
    Tick,
    /// A frame in flight to the node arrives (and stays in flight if `dup`).
    ToNode { index: usize, dup: bool },
    /// A frame in flight to the gateway arrives (and stays if `dup`).
    ToGateway { index: usize, dup: bool },
    /// A frame in flight is lost.
    Lose { index: usize },
    /// The attacker replays any frame the gateway ever sent.
    Replay { index: usize },
    /// The attacker sends an unlock with a guessed tag.
    Forge { guess: u8 },
}

fn bus_op() -> impl Strategy<Value = BusOp> {
    prop_oneof![
        4 => Just(BusOp::Tick),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(index, dup)| BusOp::ToNode { index, dup }),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(index, dup)| BusOp::ToGateway { index, dup }),
        2 => any::<usize>().prop_map(|index| BusOp::Lose { index }),
        1 => any::<usize>().prop_map(|index| BusOp::Replay { index }),
        1 => any::<u8>().prop_map(|guess| BusOp::Forge { guess }),
    ]
}

/// The pulse length forged unlocks ask for; no gateway unlock asks for it.
const FORGED_PULSE: u16 = 77;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the bus loses, duplicates or reorders, and whatever an
    /// attacker replays or forges, every unlock the gateway asked for pulses
    /// its lock at most once, and no forged unlock pulses at all.
    #[test]
    fn lost_duplicated_and_reordered_frames_never_execute_an_unlock_twice_or_a_forged_one(
        ops in proptest::collection::vec(bus_op(), 1..400),
    ) {
        let mut cabinet = Cabinet::new();
        cabinet.node().set_maintenance(true); // the rate limit is tested apart
        let mut to_node: Vec<Vec<u8>> = Vec::new();
        let mut to_gateway: Vec<Vec<u8>> = Vec::new();
        let mut intents = 0u16;
        for op in ops {
            match op {
                BusOp::Tick => {
                    cabinet.now += Duration::from_millis(30);
                    if !cabinet.master.is_busy(NODE) && intents < 40 {
                        // Each unlock asks for its own pulse length: its identity.
                        let command = Command::Unlock {
                            channel: Channel((intents % 16) as u8),
                            pulse_ms: 100 + intents,
                        };
                        cabinet.master.send(NODE, command, cabinet.now).unwrap();
                        intents += 1;
                    }
                    if let Some(wire) = cabinet.gateway_transmits() {
                        to_node.push(wire);
                    }
                    cabinet.drain();
                }
                BusOp::ToNode { index, dup } => {
                    if !to_node.is_empty() {
                        let i = index % to_node.len();
                        let wire = if dup { to_node[i].clone() } else { to_node.remove(i) };
                        if let Some(answer) = cabinet.node_receives(&wire) {
                            to_gateway.push(answer);
                        }
                    }
                }
                BusOp::ToGateway { index, dup } => {
                    if !to_gateway.is_empty() {
                        let i = index % to_gateway.len();
                        let wire = if dup { to_gateway[i].clone() } else { to_gateway.remove(i) };
                        cabinet.gateway_receives(&wire);
                    }
                }
                BusOp::Lose { index } => {
                    let all = to_node.len() + to_gateway.len();
                    if all > 0 {
                        let i = index % all;
                        if i < to_node.len() { to_node.remove(i); } else { to_gateway.remove(i - to_node.len()); }
                    }
                }
                BusOp::Replay { index } => {
                    if !cabinet.recorded.is_empty() {
                        let wire = cabinet.recorded[index % cabinet.recorded.len()].clone();
                        let _ = cabinet.node_receives(&wire);
                    }
                }
                BusOp::Forge { guess } => {
                    let frame = command_frame(guess, Command::Unlock { channel: Channel(guess % 16), pulse_ms: FORGED_PULSE });
                    let _ = cabinet.node_receives(&forged(&frame, guess));
                }
            }
            let mut seen = BTreeMap::new();
            for (_, ms) in &cabinet.pulses() {
                prop_assert_ne!(*ms, FORGED_PULSE, "a forged unlock pulsed a lock");
                *seen.entry(*ms).or_insert(0) += 1;
                prop_assert!(seen[ms] <= 1, "the unlock asking for {} ms pulsed twice", ms);
            }
        }
    }
}
