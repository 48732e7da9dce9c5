//! A compartment node's life on the bus, told through `node::Node`: the
//! gateway's master on one end, the node's firmware shell on the other, and
//! sometimes an attacker with a tap in between.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod node_support;

use std::collections::BTreeMap;

use locker_domain::controller::ControllerError;
use locker_domain::node::NodeError;
use locker_proto::auth::NodeAuthRecord;
use locker_proto::frame::{Decoder, Feed, Frame, MAX_FRAME, encode_authenticated};
use locker_proto::{
    Channel, Command, Duration, Event, Instant, NackReason, NodeAddr, RebootKind, Report,
    ResetReason,
};
use node_support::{
    Cabinet, Firmware, NODE, Step, answer_of, command_frame, forged, key, signed, unsigned,
};
use proptest::prelude::*;

fn unlock(channel: u8, pulse_ms: u16) -> Command {
    Command::Unlock {
        channel: Channel(channel),
        pulse_ms,
    }
}

#[test]
fn a_retransmitted_signed_unlock_pulses_the_lock_exactly_once() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    cabinet
        .master
        .send(NODE, unlock(5, 300), cabinet.now)
        .unwrap();
    // The first two answers are lost on the bus: the master tries again.
    for _ in 0..2 {
        let wire = cabinet.gateway_transmits().unwrap();
        let answer = cabinet.node_receives(&wire);
        assert_eq!(answer_of(answer), Report::Ack);
        cabinet.now += Duration::from_millis(60);
    }
    let before = cabinet.responses.len();
    cabinet.settle(4);
    assert_eq!(
        cabinet.responses[before..],
        [(unlock(5, 300), Report::Ack)],
        "the third copy's answer gets through"
    );
    assert_eq!(cabinet.pulses(), vec![(Channel(5), 300)]);
}

#[test]
fn an_unsigned_unlock_is_refused_and_the_refusal_reaches_the_gateway_as_an_event() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    let frame = command_frame(77, unlock(0, 500));
    let answer = answer_of(cabinet.node_receives(&unsigned(&frame)));

    assert_eq!(answer, Report::Nack(NackReason::Unauthenticated));
    assert!(cabinet.pulses().is_empty());
    assert_eq!(cabinet.node().refused_commands(), 1);
    // The gateway polls and hears of it.
    cabinet.run_for(Duration::from_secs(1));
    assert_eq!(cabinet.refusals.get("Unauthenticated"), Some(&1));
}

#[test]
fn the_answer_waits_until_the_counter_reservation_is_persisted() {
    // The node starts with a flash that refuses writes (a brown-out).
    let mut node = Firmware::fresh();
    let stored_at_boot = node.auth_flash;
    node.auth_flash_broken = true;
    node.restart(ResetReason::PowerOn, Instant::ZERO);
    let ping = unsigned(&command_frame(1, Command::PING));
    let open = signed(&command_frame(2, unlock(1, 300)), stored_at_boot.rx_floor);

    // Nothing leaves and nothing moves while its reservation is not stored.
    assert_eq!(node.receive(&ping, Instant::from_millis(10)), None);
    assert_eq!(node.receive(&open, Instant::from_millis(20)), None);
    assert!(node.pulses().is_empty());
    let confirmed_elsewhere = NodeAuthRecord {
        key: Some(key()),
        rx_floor: u64::MAX,
    };
    assert_eq!(
        node.node.persisted(&confirmed_elsewhere),
        Err(NodeError::AuthRecordNotRequested),
        "a record the node did not ask for confirms nothing"
    );
    assert!(node.node.poll_transmit().is_none());

    // The flash recovers. The gateway's next retransmission is the chance to
    // store the reservation, but the unlock in it is still dropped: acting on
    // it before the write could let a restart accept it a second time.
    node.auth_flash_broken = false;
    let late = answer_of(node.receive(&open, Instant::from_millis(80)));
    assert!(
        matches!(late, Report::Pong { .. }),
        "the ping's answer, at last"
    );
    assert!(node.pulses().is_empty());
    assert_eq!(
        answer_of(node.receive(&open, Instant::from_millis(140))),
        Report::Ack
    );
    let stored = node
        .log
        .iter()
        .position(|s| matches!(s, Step::StoredAuth(r) if r.rx_floor > stored_at_boot.rx_floor))
        .expect("the reservation is stored");
    let sent = node
        .log
        .iter()
        .position(|s| matches!(s, Step::Sent(_)))
        .unwrap();
    let pulsed = node
        .log
        .iter()
        .position(|s| matches!(s, Step::Pulsed(..)))
        .unwrap();
    assert!(
        stored < sent && sent < pulsed,
        "stored, then answered, then pulsed: {:?}",
        node.log
    );
}

#[test]
fn a_new_key_is_acknowledged_only_once_it_is_in_flash() {
    let mut node = Firmware::boot(
        NodeAuthRecord {
            key: None,
            rx_floor: 0,
        },
        Vec::new(),
        ResetReason::PowerOn,
        Instant::ZERO,
    );
    // The technician fits the provisioning jumper; the bench tool sends the key.
    node.node.set_provisioning(true);
    let provision = unsigned(&command_frame(1, Command::Provision { key: key() }));
    assert_eq!(
        answer_of(node.receive(&provision, Instant::from_millis(5))),
        Report::Ack
    );
    node.node.set_provisioning(false);

    let stored = node
        .log
        .iter()
        .position(|s| matches!(s, Step::StoredAuth(r) if r.key == Some(key())))
        .expect("the key is in flash");
    let acked = node
        .log
        .iter()
        .position(|s| *s == Step::Sent(Report::Ack))
        .unwrap();
    assert!(stored < acked, "{:?}", node.log);
    // And it survives a power cut.
    node.restart(ResetReason::PowerOn, Instant::from_millis(10));
    assert!(node.node.link().has_key());
}

#[test]
fn garbage_on_the_line_between_two_good_frames_loses_neither() {
    let mut node = Firmware::fresh();
    let mut line = signed(&command_frame(1, unlock(2, 200)), 0);
    line.extend_from_slice(&[0x13, 0x37, 0xff, 0x02, 0x55, 0x00]);
    line.extend(signed(&command_frame(2, unlock(3, 250)), 1));

    // Byte by byte, as a UART interrupt delivers them, answering each frame.
    let mut answers = Vec::new();
    for byte in &line {
        if let Some(answer) = node.receive(std::slice::from_ref(byte), Instant::from_millis(100)) {
            answers.push(answer_of(Some(answer)));
        }
    }

    assert_eq!(answers, [Report::Ack, Report::Ack]);
    assert_eq!(node.pulses(), [(Channel(2), 200), (Channel(3), 250)]);
    assert_eq!(node.node.bad_frames(), 1);
}

#[test]
fn a_frame_split_anywhere_is_the_same_frame() {
    let wire = signed(&command_frame(9, unlock(7, 300)), 0);
    for split in 1..wire.len() {
        let mut node = Firmware::fresh();
        let (head, tail) = wire.split_at(split);
        assert_eq!(node.receive(head, Instant::from_millis(10)), None);
        assert_eq!(
            answer_of(node.receive(tail, Instant::from_millis(11))),
            Report::Ack,
            "split at {split}"
        );
        assert_eq!(node.pulses(), [(Channel(7), 300)]);
        assert_eq!(node.node.bad_frames(), 0);
    }
}

#[test]
fn a_reboot_command_is_answered_before_the_node_reboots() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    assert_eq!(
        cabinet.gateway_sends(Command::Reboot {
            kind: RebootKind::Soft
        }),
        Report::Ack
    );
    let log = &cabinet.firmware.log;
    let acked = log.iter().rposition(|s| *s == Step::Sent(Report::Ack));
    let rebooted = log.iter().position(|s| matches!(s, Step::Rebooted(_)));
    assert!(
        matches!((acked, rebooted), (Some(a), Some(r)) if a < r),
        "{log:?}"
    );
    // The gateway hears why the node started again.
    cabinet.run_for(Duration::from_secs(1));
    assert!(cabinet.events.contains(&Event::NodeStarted {
        reset_reason: ResetReason::SoftReboot,
        held: None,
    }));
    assert_eq!(cabinet.firmware.reboots(), 1);
}

#[test]
fn calibration_is_in_flash_before_the_node_says_it_is_done_and_survives_a_reboot() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(4);
    let now = cabinet.now;
    cabinet
        .node()
        .handle_presence_reading(Channel(2), 900, now)
        .unwrap();
    assert_eq!(
        cabinet.gateway_sends(Command::Calibrate {
            channel: Channel(2)
        }),
        Report::Ack
    );
    let log = &cabinet.firmware.log;
    let stored = log.iter().position(|s| *s == Step::StoredController);
    let acked = log.iter().rposition(|s| *s == Step::Sent(Report::Ack));
    assert!(
        matches!((stored, acked), (Some(s), Some(a)) if s < a),
        "{log:?}"
    );
    let saved = cabinet.firmware.controller_flash.clone();
    cabinet.firmware.restart(ResetReason::PowerOn, cabinet.now);
    let mut again = [0u8; MAX_FRAME];
    assert_eq!(cabinet.node().save_controller(&mut again).unwrap(), saved);
}

#[test]
fn a_node_whose_queue_overflows_tells_the_gateway_how_many_events_it_lost() {
    let mut cabinet = Cabinet::new();
    // A door flaps while the bus is down: far more events than the queue holds.
    let mut now = Instant::from_millis(10);
    for flap in 0..40 {
        let open = flap % 2 == 0;
        cabinet
            .node()
            .handle_door_level(Channel(0), open, now)
            .unwrap();
        now += Duration::from_millis(100);
        cabinet.node().handle_timeout(now);
    }
    let dropped = cabinet.node().dropped_events();
    assert!(dropped > 0);
    cabinet.now = now;
    // Its next event report says how many it lost.
    let poll = unsigned(&command_frame(7, Command::PollEvents));
    let Report::Events {
        dropped: reported, ..
    } = answer_of(cabinet.node_receives(&poll))
    else {
        panic!("an event report")
    };
    assert_eq!(reported, dropped);
    cabinet.run_for(Duration::from_secs(5));

    // The oldest events arrive, in order; the rest are counted, not hidden.
    assert_eq!(cabinet.events.len(), node_support::QUEUE);
    assert_eq!(
        cabinet.events[0],
        Event::NodeStarted {
            reset_reason: ResetReason::PowerOn,
            held: None,
        }
    );
    // (The master reports the loss again after the start event resets its
    // count: told at least once, never hidden.)
    assert!(cabinet.dropped_told >= dropped);
    assert_eq!(cabinet.node().queued_events(), 0);
}

#[test]
fn a_sample_for_a_channel_the_node_does_not_have_is_refused_and_changes_nothing() {
    let mut node = Firmware::fresh();
    let queued = node.node.queued_events();
    let result = node
        .node
        .handle_door_level(Channel(40), true, Instant::from_millis(5));
    assert!(matches!(
        result,
        Err(NodeError::Controller(
            ControllerError::UnknownChannel { .. }
        ))
    ));
    assert_eq!(node.node.queued_events(), queued);
    assert_eq!(node.node.poll_timeout(), None);
}

// ---------------------------------------------------------------------
// Attacks, as the attacker would try them.
// ---------------------------------------------------------------------

#[test]
fn a_recorded_unlock_replayed_after_the_node_restarts_opens_nothing() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    assert_eq!(cabinet.gateway_sends(unlock(4, 300)), Report::Ack);
    let recorded_unlock = recorded(&cabinet, unlock(4, 300));
    // The attacker cuts the power, then replays the unlock.
    cabinet.firmware.restart(ResetReason::PowerOn, cabinet.now);
    let answer = answer_of(cabinet.node_receives(&recorded_unlock));

    assert!(matches!(answer, Report::Nack(NackReason::Stale { .. })));
    assert_eq!(cabinet.pulses(), [(Channel(4), 300)]);
}

#[test]
fn a_signed_tag_moved_onto_another_command_is_refused_and_reported() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    assert_eq!(cabinet.gateway_sends(unlock(1, 300)), Report::Ack);
    let recorded = recorded(&cabinet, unlock(1, 300));
    // The attacker keeps the tag and counter, and asks for the next door.
    let mut decoder = Decoder::new();
    let Feed::Frame { frame, .. } = decoder.feed::<Command>(&recorded) else {
        panic!("recorded frame")
    };
    let trailer = decoder.last_authenticated().unwrap().trailer;
    let spliced = Frame {
        body: unlock(2, 300),
        ..frame
    };
    let mut buf = [0u8; MAX_FRAME];
    let wire = encode_authenticated(&spliced, &mut buf, |_| trailer)
        .unwrap()
        .to_vec();

    let answer = answer_of(cabinet.node_receives(&wire));
    assert_eq!(answer, Report::Nack(NackReason::Unauthenticated));
    assert_eq!(cabinet.pulses(), [(Channel(1), 300)]);
    cabinet.run_for(Duration::from_secs(1));
    assert_eq!(cabinet.refusals.get("Unauthenticated"), Some(&1));
}

#[test]
fn a_key_sent_over_the_bus_without_the_jumper_is_refused_and_reported() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    let theirs = locker_proto::NodeKey::from_bytes([0x66; 32]);
    let frame = command_frame(90, Command::Provision { key: theirs });
    let answer = answer_of(cabinet.node_receives(&unsigned(&frame)));

    assert_eq!(answer, Report::Nack(NackReason::ProvisioningDisabled));
    assert_eq!(cabinet.firmware.auth_flash.key, Some(key()));
    // The node still obeys its gateway, with the old key.
    assert_eq!(cabinet.gateway_sends(unlock(0, 300)), Report::Ack);
    cabinet.run_for(Duration::from_secs(1));
    assert_eq!(cabinet.refusals.get("ProvisioningDisabled"), Some(&1));
}

#[test]
fn a_flood_of_garbage_does_not_keep_the_gateways_command_from_the_node() {
    let mut cabinet = Cabinet::new();
    cabinet.settle(10);
    // Ten kilobytes of noise with delimiters sprinkled in, in odd chunks.
    let noise: Vec<u8> = (0..10_000u32)
        .map(|i| {
            if i % 97 == 0 {
                0
            } else {
                (i.wrapping_mul(2_654_435_761) >> 13) as u8
            }
        })
        .collect();
    for chunk in noise.chunks(61) {
        assert_eq!(cabinet.node_receives(chunk), None);
    }
    assert!(cabinet.node().bad_frames() > 50);
    // Whatever partial frame the noise left in the decoder costs the
    // gateway one attempt at most: the master retransmits.
    assert_eq!(cabinet.gateway_sends(unlock(6, 300)), Report::Ack);
    assert_eq!(cabinet.pulses(), [(Channel(6), 300)]);
}

#[test]
fn frames_for_another_node_or_from_another_node_are_ignored() {
    let mut node = Firmware::fresh();
    let mut to_neighbour = command_frame(3, unlock(1, 300));
    to_neighbour.header.dst = NodeAddr(9);
    let mut from_neighbour = command_frame(4, unlock(1, 300));
    from_neighbour.header.src = NodeAddr(9);
    for frame in [to_neighbour, from_neighbour] {
        assert_eq!(
            node.receive(&signed(&frame, 0), Instant::from_millis(5)),
            None
        );
    }
    assert!(node.pulses().is_empty());
    assert_eq!(node.node.refused_commands(), 0);
}

/// What the attacker's tap recorded of the gateway sending `command`.
fn recorded(cabinet: &Cabinet, command: Command) -> Vec<u8> {
    cabinet
        .recorded
        .iter()
        .find(|wire| {
            let mut decoder = Decoder::new();
            matches!(decoder.feed::<Command>(wire), Feed::Frame { frame, .. } if frame.body == command)
        })
        .expect("the tap recorded it")
        .clone()
}

// ---------------------------------------------------------------------
// Whatever arrives, in whatever pieces.
// ---------------------------------------------------------------------

/// What arrives on the node's line next.
#[derive(Clone, Debug)]
enum Arrival {
    /// A fresh unlock the gateway signed.
    Signed { channel: u8 },
    /// An unlock without a tag.
    Unsigned { channel: u8 },
    /// An unlock with a tag the attacker made up.
    Forged { channel: u8, guess: u8 },
    /// An earlier arrival again, possibly with one bit flipped.
    Again { index: usize, flip: Option<u16> },
    /// Line noise.
    Noise(Vec<u8>),
    /// Time passes.
    Wait(u16),
}

fn arrival() -> impl Strategy<Value = Arrival> {
    prop_oneof![
        3 => (0..16u8).prop_map(|channel| Arrival::Signed { channel }),
        1 => (0..16u8).prop_map(|channel| Arrival::Unsigned { channel }),
        1 => (0..16u8, any::<u8>()).prop_map(|(channel, guess)| Arrival::Forged { channel, guess }),
        2 => (any::<usize>(), proptest::option::of(any::<u16>()))
            .prop_map(|(index, flip)| Arrival::Again { index, flip }),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Arrival::Noise),
        1 => any::<u16>().prop_map(Arrival::Wait),
    ]
}

/// The pulse length every unlock not signed by the gateway asks for.
const ATTACKER_PULSE: u16 = 77;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Whatever bytes arrive, cut into whatever pieces, the node never
    /// panics, never pulses a lock for an unlock the gateway did not sign,
    /// and never pulses twice for one it did (each signed unlock asks for
    /// its own pulse length: its identity).
    #[test]
    fn arbitrary_bytes_in_arbitrary_pieces_never_open_a_door_without_a_signed_unlock(
        arrivals in proptest::collection::vec(arrival(), 1..60),
        pieces in proptest::collection::vec(1..40usize, 1..16),
    ) {
        let mut node = Firmware::fresh();
        // The rate limit is a story of its own.
        node.node.set_maintenance(true);
        let mut now = Instant::from_millis(1);
        let mut counter = 0u64;
        let mut seq = 0u8;
        let mut wires: Vec<Vec<u8>> = Vec::new();
        let mut signed_pulses = Vec::new();
        let mut line = Vec::new();
        for arrival in arrivals {
            seq = seq.wrapping_add(1);
            let wire = match arrival {
                Arrival::Signed { channel } => {
                    let ms = 100 + counter as u16;
                    signed_pulses.push(ms);
                    let wire = signed(&command_frame(seq, unlock(channel, ms)), counter);
                    counter += 1;
                    wire
                }
                Arrival::Unsigned { channel } => {
                    unsigned(&command_frame(seq, unlock(channel, ATTACKER_PULSE)))
                }
                Arrival::Forged { channel, guess } => {
                    forged(&command_frame(seq, unlock(channel, ATTACKER_PULSE)), guess)
                }
                Arrival::Again { index, flip } => {
                    let Some(mut wire) = wires.get(index % wires.len().max(1)).cloned() else {
                        continue;
                    };
                    if let Some(bit) = flip {
                        let at = usize::from(bit / 8) % wire.len().max(1);
                        if let Some(byte) = wire.get_mut(at) {
                            *byte ^= 1 << (bit % 8);
                        }
                    }
                    wire
                }
                Arrival::Noise(bytes) => bytes,
                Arrival::Wait(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    node.node.handle_timeout(now);
                    node.service(now);
                    continue;
                }
            };
            wires.push(wire.clone());
            line.extend(wire);
        }
        // The whole line, cut where the UART's interrupts happen to fall.
        let mut rest = line.as_slice();
        for size in pieces.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at((*size).min(rest.len()));
            let _ = node.receive(piece, now);
            rest = tail;
        }

        let mut seen = BTreeMap::new();
        for (_, ms) in node.pulses() {
            prop_assert_ne!(ms, ATTACKER_PULSE, "an unsigned or forged unlock pulsed a lock");
            prop_assert!(signed_pulses.contains(&ms), "a pulse nobody asked for: {} ms", ms);
            *seen.entry(ms).or_insert(0) += 1;
            prop_assert!(seen[&ms] <= 1, "the unlock asking for {} ms pulsed twice", ms);
        }
    }
}
