//! Authenticated frames at a node: forged, wrong-key, truncated, replayed,
//! reordered and bit-flipped unlocks are refused, never handed to the
//! application, and counted as security events.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use locker_proto::auth::{BankKey, Direction, NodeAuthRecord, NodeIdentity, tag, trailer};
use locker_proto::frame::{
    AuthTrailer, CRC, Decoder, Feed, Flags, Frame, Header, MAX_FRAME, Seq, TAG_LEN,
    encode_authenticated,
};
use locker_proto::link::NodeLink;
use locker_proto::{
    Channel, Command, Event, Floor, Instant, NackReason, NodeAddr, NodeKey, Report, ResetReason,
};

const NODE: NodeAddr = NodeAddr(5);

fn key() -> NodeKey {
    BankKey::from_bytes([0x21; 32]).node_key(NodeIdentity::at(NODE))
}

fn unlock(seq: u8, channel: u8) -> Frame<Command> {
    frame(
        seq,
        Command::Unlock {
            channel: Channel(channel),
            pulse_ms: 300,
        },
    )
}

fn frame(seq: u8, body: Command) -> Frame<Command> {
    Frame {
        header: Header::new(NodeAddr::GATEWAY, NODE, Seq(seq), Flags::ACK_WANTED),
        body,
    }
}

/// A frame as the gateway would sign it with `key` and `counter`.
fn signed(frame: &Frame<Command>, key: &NodeKey, counter: u64) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    encode_authenticated(frame, &mut buf, |covered| {
        trailer(key, covered, counter, Direction::ToNode)
    })
    .unwrap()
    .to_vec()
}

/// A node holding `key`, with its first reservation stored.
fn node() -> NodeLink<8> {
    let mut link = NodeLink::new(NODE, ResetReason::PowerOn);
    link.restore_auth(NodeAuthRecord {
        key: Some(key()),
        rx_floor: 0,
    });
    store(&mut link);
    link
}

fn store(link: &mut NodeLink<8>) {
    while let Some(record) = link.poll_persist() {
        link.persisted(&record);
    }
}

/// What the node made of some bytes: the command handed to the
/// application (answered with Ack), and the answers it sent.
fn deliver(link: &mut NodeLink<8>, wire: &[u8]) -> (Vec<Command>, Vec<Report>) {
    let mut decoder = Decoder::new();
    let mut commands = Vec::new();
    let mut answers = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        match decoder.feed::<Command>(rest) {
            Feed::Consumed => break,
            Feed::Error { remaining, .. } => rest = remaining,
            Feed::Frame { frame, remaining } => {
                rest = remaining;
                let auth = decoder.last_authenticated();
                if let Some(command) = link.handle_received(&frame, auth, Instant::ZERO) {
                    commands.push(command);
                    link.respond(Report::Ack);
                }
                store(link);
                answers.extend(link.poll_transmit().map(|f| f.body));
            }
        }
    }
    (commands, answers)
}

/// Every refusal the node reports, as the gateway collects it: poll the
/// events, sum the security events, acknowledge (signed, with counters from
/// 500 up: fresh for these tests), until none is left.
fn refusals_reported(link: &mut NodeLink<8>) -> u16 {
    refusals_by_reason(link).iter().map(|(_, n)| n).sum()
}

/// As [`refusals_reported`], each security event as it arrived: its reason
/// and its count.
fn refusals_by_reason(link: &mut NodeLink<8>) -> Vec<(NackReason, u16)> {
    let mut reported = Vec::new();
    for round in 0..20u8 {
        let poll = Frame {
            header: Header::new(NodeAddr::GATEWAY, NODE, Seq(200 + round), Flags::ACK_WANTED),
            body: Command::PollEvents,
        };
        link.handle_frame(&poll, Instant::ZERO);
        let Some(Report::Events { events, .. }) = link.poll_transmit().map(|f| f.body) else {
            panic!("no events report")
        };
        let Some(last) = events.last() else {
            return reported;
        };
        reported.extend(events.iter().filter_map(|r| match r.event {
            Event::CommandsRefused { refused, reason } => Some((reason, refused)),
            _ => None,
        }));
        let ack = Frame {
            header: Header::new(NodeAddr::GATEWAY, NODE, Seq(100 + round), Flags::ACK_WANTED),
            body: Command::AckEvents { up_to: last.seq },
        };
        let (_, answers) = deliver(link, &signed(&ack, &key(), 500 + u64::from(round)));
        assert_eq!(answers, vec![Report::Ack]);
    }
    panic!("the node kept reporting")
}

/// COBS-encodes a raw frame and appends the delimiter.
fn cobs(raw: &[u8]) -> Vec<u8> {
    support::cobs_encode(raw)
}

/// Undoes [`cobs`].
fn uncobs(wire: &[u8]) -> Vec<u8> {
    support::cobs_decode(&wire[..wire.len() - 1]).unwrap()
}

/// A raw frame (header, body, trailer) with a fresh CRC, as an attacker who
/// knows the CRC algorithm would put it on the bus.
fn with_crc(covered_and_trailer: &[u8]) -> Vec<u8> {
    let mut raw = covered_and_trailer.to_vec();
    raw.extend_from_slice(&CRC.checksum(covered_and_trailer).to_le_bytes());
    cobs(&raw)
}

#[test]
fn a_correctly_signed_unlock_is_executed_once() {
    let mut link = node();
    let (commands, answers) = deliver(&mut link, &signed(&unlock(1, 2), &key(), 0));
    assert_eq!(commands.len(), 1);
    assert_eq!(answers, vec![Report::Ack]);
    assert_eq!(refusals_reported(&mut link), 0);
}

#[test]
fn an_unlock_without_a_tag_is_refused_and_reported() {
    let mut link = node();
    let mut buf = [0u8; MAX_FRAME];
    let wire = locker_proto::frame::encode(&unlock(1, 2), &mut buf).unwrap();
    let (commands, answers) = deliver(&mut link, wire);
    assert!(commands.is_empty());
    assert_eq!(answers, vec![Report::Nack(NackReason::Unauthenticated)]);
    assert_eq!(refusals_reported(&mut link), 1);
}

#[test]
fn a_forged_tag_is_refused_and_reported() {
    let mut link = node();
    let mut buf = [0u8; MAX_FRAME];
    // Every tag an attacker might try for counter 0: a few guesses.
    for guess in 0u8..20 {
        let wire = encode_authenticated(&unlock(guess, 2), &mut buf, |_| AuthTrailer {
            freshness: [0, 0],
            tag: [guess; TAG_LEN],
        })
        .unwrap();
        let (commands, answers) = deliver(&mut link, wire);
        assert!(commands.is_empty());
        assert_eq!(answers, vec![Report::Nack(NackReason::Unauthenticated)]);
    }
    assert_eq!(refusals_reported(&mut link), 20);
    assert_eq!(link.refused_commands(), 20);
}

#[test]
fn a_frame_signed_with_another_nodes_key_is_refused() {
    let mut link = node();
    let other = BankKey::from_bytes([0x21; 32]).node_key(NodeIdentity::at(NodeAddr(6)));
    let foreign_bank = BankKey::from_bytes([0x22; 32]).node_key(NodeIdentity::at(NODE));
    for wrong in [other, foreign_bank] {
        let (commands, answers) = deliver(&mut link, &signed(&unlock(1, 2), &wrong, 0));
        assert!(commands.is_empty());
        assert_eq!(answers, vec![Report::Nack(NackReason::Unauthenticated)]);
    }
    // The right key still works afterwards: refusals change no counter state.
    let (commands, _) = deliver(&mut link, &signed(&unlock(2, 2), &key(), 0));
    assert_eq!(commands.len(), 1);
}

#[test]
fn a_truncated_tag_is_refused() {
    let good = uncobs(&signed(&unlock(1, 2), &key(), 0));
    let without_crc = &good[..good.len() - 2];
    for cut in 1..=TAG_LEN {
        let mut link = node();
        let (commands, _) = deliver(
            &mut link,
            &with_crc(&without_crc[..without_crc.len() - cut]),
        );
        assert!(commands.is_empty(), "tag cut by {cut} bytes was accepted");
    }
}

#[test]
fn a_replayed_unlock_is_refused_as_stale_and_reported() {
    let mut link = node();
    let recorded = signed(&unlock(1, 2), &key(), 0);
    assert_eq!(deliver(&mut link, &recorded).0.len(), 1);
    // The gateway moves on; the attacker replays what they recorded.
    assert_eq!(
        deliver(&mut link, &signed(&unlock(2, 3), &key(), 1))
            .0
            .len(),
        1
    );
    let (commands, answers) = deliver(&mut link, &recorded);
    assert!(commands.is_empty());
    assert_eq!(
        answers,
        vec![Report::Nack(NackReason::Stale {
            floor: Floor::new(2)
        })]
    );
    assert_eq!(refusals_reported(&mut link), 1);
}

#[test]
fn the_retransmission_of_the_last_unlock_is_answered_from_the_cache_not_executed() {
    let mut link = node();
    let frame = signed(&unlock(1, 2), &key(), 0);
    assert_eq!(deliver(&mut link, &frame).0.len(), 1);
    let (commands, answers) = deliver(&mut link, &frame);
    assert!(commands.is_empty());
    assert_eq!(answers, vec![Report::Ack]);
    // An unsigned frame cannot evict the cached signed answer and turn the
    // retransmission into a new unlock.
    let ping = Frame {
        header: Header::new(NodeAddr::GATEWAY, NODE, Seq(9), Flags::ACK_WANTED),
        body: Command::PING,
    };
    assert!(link.handle_frame(&ping, Instant::ZERO).is_some());
    link.respond(Report::Ack);
    let (commands, answers) = deliver(&mut link, &frame);
    assert!(commands.is_empty());
    assert_eq!(answers, vec![Report::Ack]);
    assert_eq!(refusals_reported(&mut link), 0);
}

#[test]
fn a_reordered_frame_is_refused() {
    let mut link = node();
    let first = signed(&unlock(1, 2), &key(), 0);
    let second = signed(&unlock(2, 3), &key(), 1);
    // The later frame overtakes the earlier one (a delayed copy on the bus).
    assert_eq!(deliver(&mut link, &second).0.len(), 1);
    let (commands, answers) = deliver(&mut link, &first);
    assert!(commands.is_empty());
    assert_eq!(
        answers,
        vec![Report::Nack(NackReason::Stale {
            floor: Floor::new(2)
        })]
    );
}

#[test]
fn every_single_bit_flip_of_an_authenticated_unlock_is_rejected() {
    let wire = signed(&unlock(7, 2), &key(), 0);
    // On the wire: the CRC catches every flip.
    for bit in 0..wire.len() * 8 {
        let mut flipped = wire.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let mut link = node();
        let (commands, _) = deliver(&mut link, &flipped);
        assert!(commands.is_empty(), "wire bit {bit} flipped was accepted");
    }
    // By an attacker who recomputes the CRC: the tag catches every flip of
    // header, body, counter bits or tag.
    let raw = uncobs(&wire);
    let covered_and_trailer = &raw[..raw.len() - 2];
    for bit in 0..covered_and_trailer.len() * 8 {
        let mut flipped = covered_and_trailer.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let mut link = node();
        let (commands, _) = deliver(&mut link, &with_crc(&flipped));
        assert!(
            commands.is_empty(),
            "raw bit {bit} flipped with a fresh CRC was accepted"
        );
    }
}

#[test]
fn the_tag_covers_the_direction_so_an_answer_is_no_command() {
    let key = key();
    let covered = b"same bytes";
    let to_node = tag(&key, covered, 3, Direction::ToNode);
    let to_gateway = tag(&key, covered, 3, Direction::ToGateway);
    assert_ne!(to_node, to_gateway);
}

#[test]
fn keys_never_appear_in_debug_output() {
    let key = NodeKey::from_bytes([0xAB; 32]);
    let provision = Command::Provision { key };
    let record = NodeAuthRecord {
        key: Some(key),
        rx_floor: 5,
    };
    let mut link = node();
    link.restore_auth(record);
    for text in [
        format!("{provision:?}"),
        format!("{record:?}"),
        format!("{link:?}"),
        format!("{:?}", BankKey::from_bytes([0xAB; 32])),
    ] {
        assert!(!text.to_lowercase().contains("ab, ab"), "{text}");
        assert!(!text.contains("171"), "{text}");
    }
}

#[test]
fn node_keys_differ_per_address_serial_and_bank() {
    let bank = BankKey::from_bytes([1; 32]);
    let plain = bank.node_key(NodeIdentity::at(NODE));
    let with_serial = bank.node_key(NodeIdentity {
        addr: NODE,
        serial: Some(0),
    });
    let other_serial = bank.node_key(NodeIdentity {
        addr: NODE,
        serial: Some(1),
    });
    let other_bank = BankKey::from_bytes([2; 32]).node_key(NodeIdentity::at(NODE));
    let all = [plain, with_serial, other_serial, other_bank];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // Deterministic: the gateway derives the same key every time.
    assert_eq!(plain, bank.node_key(NodeIdentity::at(NODE)));
}

#[test]
fn a_key_is_installed_only_in_provisioning_mode() {
    let mut link = NodeLink::<8>::new(NODE, ResetReason::PowerOn);
    let provision = Frame {
        header: Header::new(NodeAddr::GATEWAY, NODE, Seq(1), Flags::ACK_WANTED),
        body: Command::Provision { key: key() },
    };
    assert_eq!(link.handle_frame(&provision, Instant::ZERO), None);
    assert_eq!(
        link.poll_transmit().unwrap().body,
        Report::Nack(NackReason::ProvisioningDisabled)
    );
    assert!(!link.has_key());
    // Even signed with the current key: a key never crosses the bus outside
    // provisioning mode.
    let mut keyed = node();
    let (commands, answers) = deliver(&mut keyed, &{
        let mut buf = [0u8; MAX_FRAME];
        let frame = Frame {
            body: Command::Provision {
                key: NodeKey::from_bytes([9; 32]),
            },
            ..provision.clone()
        };
        encode_authenticated(&frame, &mut buf, |c| {
            trailer(&key(), c, 0, Direction::ToNode)
        })
        .unwrap()
        .to_vec()
    });
    assert!(commands.is_empty());
    assert_eq!(
        answers,
        vec![Report::Nack(NackReason::ProvisioningDisabled)]
    );
    assert_eq!(refusals_reported(&mut keyed), 1);

    link.set_provisioning(true);
    let provision = Frame {
        header: Header::new(NodeAddr::GATEWAY, NODE, Seq(2), Flags::ACK_WANTED),
        ..provision
    };
    assert_eq!(link.handle_frame(&provision, Instant::ZERO), None);
    assert_eq!(link.poll_transmit().unwrap().body, Report::Ack);
    link.set_provisioning(false);
    assert!(link.has_key());
    let record = link.poll_persist().unwrap();
    assert_eq!(record.key, Some(key()));
    link.persisted(&record);
    store(&mut link);
    // The new key opens.
    let (commands, _) = deliver(&mut link, &signed(&unlock(3, 1), &key(), 0));
    assert_eq!(commands.len(), 1);
}

#[test]
fn stored_records_survive_and_blank_or_corrupt_ones_are_refused() {
    let record = NodeAuthRecord {
        key: Some(key()),
        rx_floor: 123_456,
    };
    let bytes = record.to_bytes();
    assert_eq!(NodeAuthRecord::from_bytes(&bytes), Ok(record));
    for i in 0..bytes.len() {
        let mut bad = bytes;
        bad[i] ^= 0x01;
        assert!(NodeAuthRecord::from_bytes(&bad).is_err(), "byte {i}");
    }
    assert!(NodeAuthRecord::from_bytes(&bytes[..10]).is_err());
}

#[test]
fn a_flood_of_forged_unlocks_does_not_hide_the_rate_limit_refusals_among_them() {
    let mut link = node();
    // An attacker floods the node with unsigned unlocks, while its own
    // application refuses two real ones for its unlock rate limit.
    let mut buf = [0u8; MAX_FRAME];
    for seq in 1..=30u8 {
        let wire = locker_proto::frame::encode(&unlock(seq, 2), &mut buf).unwrap();
        deliver(&mut link, wire);
        if seq % 15 == 0 {
            link.push_event(Event::CommandsRefused {
                refused: 1,
                reason: NackReason::RateLimited,
            })
            .unwrap();
        }
    }
    let reported = refusals_by_reason(&mut link);
    let count = |reason: NackReason| -> u16 {
        reported
            .iter()
            .filter(|(r, _)| *r == reason)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(count(NackReason::Unauthenticated), 30, "{reported:?}");
    assert_eq!(count(NackReason::RateLimited), 2, "{reported:?}");
    // The first refusal went out at once; the rest were merged, each
    // reason into an event of its own.
    assert!(
        reported.contains(&(NackReason::RateLimited, 2)),
        "{reported:?}"
    );
    assert!(
        reported.len() <= 3,
        "merged, not one event each: {reported:?}"
    );
}
