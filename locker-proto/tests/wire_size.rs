//! Pins the wire sizes listed in the `message` module docs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use locker_proto::auth::{Direction, trailer};
use locker_proto::frame::{
    AUTH_TRAILER_LEN, Flags, Frame, Header, MAX_FRAME, Seq, encode, encode_authenticated,
};
use locker_proto::{
    BulkStatus, Channel, ChannelBits, Command, Event, EventBatch, EventRecord, EventSeq, Floor,
    HeldEvents, NackReason, NodeAddr, Report,
};

fn size<B: locker_proto::frame::Body>(body: B, seq: u8) -> usize {
    let frame = Frame {
        header: Header::new(NodeAddr::GATEWAY, NodeAddr(12), Seq(seq), Flags::ACK_WANTED),
        body,
    };
    let mut buf = [0u8; MAX_FRAME];
    encode(&frame, &mut buf).unwrap().len()
}

#[test]
fn an_unlock_command_fits_in_14_bytes() {
    let n = size(
        Command::Unlock {
            channel: Channel(15),
            pulse_ms: 16_000,
        },
        200,
    );
    assert_eq!(n, 12);
    assert!(n <= 14);
}

#[test]
fn polling_and_acknowledging_events_is_cheap() {
    assert_eq!(size(Command::PollEvents, 1), 9);
    assert_eq!(
        size(
            Command::AckEvents {
                up_to: EventSeq(100)
            },
            1
        ),
        10
    );
    assert_eq!(
        size(
            Command::AckEvents {
                up_to: EventSeq(u16::MAX)
            },
            1
        ),
        12
    );
    assert_eq!(size(Report::Ack, 1), 9);
}

#[test]
fn bulk_status_of_16_channels_fits_in_24_bytes() {
    let all = ChannelBits(0xFFFF);
    let n = size(
        Report::BulkStatus(BulkStatus {
            channels: 16,
            door_open: all,
            locked: all,
            occupied: all,
            faulted: all,
        }),
        7,
    );
    assert_eq!(n, 22);
    assert!(n <= 24);
    let all = ChannelBits(u32::MAX);
    let n = size(
        Report::BulkStatus(BulkStatus {
            channels: 32,
            door_open: all,
            locked: all,
            occupied: all,
            faulted: all,
        }),
        7,
    );
    assert_eq!(n, 30);
}

#[test]
fn one_door_event_fits_in_17_bytes() {
    let mut events = EventBatch::new();
    events
        .push(EventRecord {
            seq: EventSeq(5),
            event: Event::DoorOpened {
                channel: Channel(3),
                commanded: true,
            },
        })
        .unwrap();
    assert_eq!(
        size(
            Report::Events {
                events: events.clone(),
                dropped: 0
            },
            3
        ),
        15
    );
    events[0].seq = EventSeq(u16::MAX);
    assert_eq!(size(Report::Events { events, dropped: 0 }, 3), 17);
}

/// Sizes of signed frames: the trailer adds [`AUTH_TRAILER_LEN`] bytes (COBS
/// still adds one byte in all: frames stay shorter than a COBS block).
fn signed_size<B: locker_proto::frame::Body>(body: B, src: NodeAddr, dst: NodeAddr) -> usize {
    let frame = Frame {
        header: Header::new(src, dst, Seq(200), Flags::ACK_WANTED),
        body,
    };
    let key = locker_proto::NodeKey::from_bytes([0; 32]);
    let mut buf = [0u8; MAX_FRAME];
    encode_authenticated(&frame, &mut buf, |covered| {
        trailer(&key, covered, 70_000, Direction::ToNode)
    })
    .unwrap()
    .len()
}

#[test]
fn an_authenticated_unlock_fits_in_22_bytes() {
    assert_eq!(AUTH_TRAILER_LEN, 10);
    let unlock = Command::Unlock {
        channel: Channel(15),
        pulse_ms: 16_000,
    };
    assert_eq!(signed_size(unlock, NodeAddr::GATEWAY, NodeAddr(12)), 22);
    // Its signed answer.
    assert_eq!(
        signed_size(Report::Ack, NodeAddr(12), NodeAddr::GATEWAY),
        19
    );
    assert_eq!(
        signed_size(
            Report::Nack(NackReason::Stale {
                floor: Floor::new(70_001)
            }),
            NodeAddr(12),
            NodeAddr::GATEWAY
        ),
        23
    );
    assert_eq!(
        signed_size(
            Command::AckEvents {
                up_to: EventSeq(100)
            },
            NodeAddr::GATEWAY,
            NodeAddr(12)
        ),
        20
    );
    // Provisioning carries the 32-byte key, unsigned.
    assert_eq!(
        size(
            Command::Provision {
                key: locker_proto::NodeKey::from_bytes([0x11; 32])
            },
            1
        ),
        41
    );
}

/// To a keyed node, queries carry the gateway's challenge and their answers
/// a tag (see the `auth` module, *Answers*): ten bytes each way more than
/// unsigned, made and checked as the link layer makes and checks them.
#[test]
fn a_keyed_nodes_event_poll_and_its_answer_cost_ten_bytes_more_each_way() {
    use locker_proto::auth::NodeAuthRecord;
    use locker_proto::link::{Master, MasterConfig, NodeLink};
    use locker_proto::{Decoder, Feed, Instant, ResetReason};

    let key = locker_proto::NodeKey::from_bytes([0x42; 32]);
    let node_addr = NodeAddr(12);
    let mut master = Master::<1>::new(MasterConfig::default());
    master.add_node(node_addr, Instant::ZERO).unwrap();
    master.set_key(node_addr, key, 0).unwrap();
    while let Some((n, up_to)) = master.poll_persist() {
        master.persisted(n, up_to);
    }
    let mut node = NodeLink::<8>::new(node_addr, ResetReason::PowerOn);
    node.restore_auth(NodeAuthRecord {
        key: Some(key),
        rx_floor: 0,
    });
    // The master's first query asks the node's counter floor; take it as
    // answered and look at the event poll that follows.
    let ask = master.poll_outgoing(Instant::ZERO).unwrap();
    assert_eq!(ask.frame.body, Command::GetAuthFloor);
    let mut buf = [0u8; MAX_FRAME];
    let ask_wire = ask.encode(&mut buf).unwrap().to_vec();
    assert_eq!(ask_wire.len(), 9 + AUTH_TRAILER_LEN);
    // The node hears a query and answers it itself (its link does).
    let answer_to = |node: &mut NodeLink<8>, wire: &[u8]| {
        let mut decoder = Decoder::new();
        let Feed::Frame { frame, .. } = decoder.feed::<Command>(wire) else {
            panic!("not a frame");
        };
        assert_eq!(
            node.handle_received(&frame, decoder.last_authenticated(), Instant::ZERO),
            None
        );
        node.poll_outgoing().unwrap()
    };
    let floor = answer_to(&mut node, &ask_wire);
    let mut decoder = Decoder::new();
    let floor_wire = floor.encode(&mut buf).unwrap().to_vec();
    // Header 4, variant 1, a floor of 0 in 1 byte, trailer 10, CRC 2, COBS
    // and delimiter 2: 20 bytes.
    assert_eq!(
        floor.frame.body,
        Report::AuthFloor {
            floor: Floor::new(0)
        }
    );
    assert_eq!(floor_wire.len(), 20);
    let Feed::Frame { frame, .. } = decoder.feed::<Report>(&floor_wire) else {
        panic!("not a frame");
    };
    master.handle_received(&frame, decoder.last_authenticated(), Instant::ZERO);
    while master.poll_event().is_some() {}
    master.handle_timeout(Instant::ZERO);
    let poll = master.poll_outgoing(Instant::ZERO).unwrap();
    assert_eq!(poll.frame.body, Command::PollEvents);
    let mut buf = [0u8; MAX_FRAME];
    let wire = poll.encode(&mut buf).unwrap().to_vec();
    assert_eq!(wire.len(), 9 + AUTH_TRAILER_LEN);

    // The node answers with its start event, tagged (after a power-on: no
    // record of a previous queue, one byte).
    let answer = answer_to(&mut node, &wire);
    assert!(answer.is_authenticated());
    let unsigned = {
        let mut buf = [0u8; MAX_FRAME];
        encode(&answer.frame, &mut buf).unwrap().len()
    };
    let mut buf = [0u8; MAX_FRAME];
    let signed = answer.encode(&mut buf).unwrap().len();
    assert_eq!((unsigned, signed), (15, 15 + AUTH_TRAILER_LEN));

    // Nothing to report, a door event, a 16-channel scan: each ten more.
    assert_eq!(
        signed_size(
            Report::Events {
                events: EventBatch::new(),
                dropped: 0
            },
            node_addr,
            NodeAddr::GATEWAY
        ),
        11 + AUTH_TRAILER_LEN
    );
    let all = ChannelBits(0xFFFF);
    assert_eq!(
        signed_size(
            Report::BulkStatus(BulkStatus {
                channels: 16,
                door_open: all,
                locked: all,
                occupied: all,
                faulted: all,
            }),
            node_addr,
            NodeAddr::GATEWAY
        ),
        22 + AUTH_TRAILER_LEN
    );
    // The start event after a warm reset, with the record of what the
    // queue held: three bytes more than after a power-on, two more when
    // the sequence numbers are past 127.
    let warm = |first: u16, next: u16| {
        let mut events = EventBatch::new();
        events
            .push(EventRecord {
                seq: EventSeq(0),
                event: Event::NodeStarted {
                    reset_reason: ResetReason::Watchdog,
                    held: Some(HeldEvents {
                        first: EventSeq(first),
                        next: EventSeq(next),
                        dropped: 0,
                    }),
                },
            })
            .unwrap();
        signed_size(
            Report::Events { events, dropped: 0 },
            node_addr,
            NodeAddr::GATEWAY,
        )
    };
    assert_eq!(warm(40, 43), 15 + 3 + AUTH_TRAILER_LEN);
    assert_eq!(warm(4000, 4003), 15 + 5 + AUTH_TRAILER_LEN);
}
