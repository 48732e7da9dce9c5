//! The controller behind the node's link layer, as the firmware wires them.

// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use locker_domain::controller::{Action, Controller};
use locker_proto::auth::{Direction, NodeAuthRecord, trailer};
use locker_proto::frame::{
    Decoder, Feed, Flags, Frame, Header, MAX_FRAME, Seq, encode, encode_authenticated,
};
use locker_proto::link::NodeLink;
use locker_proto::{
    Channel, Command, Event, FirmwareVersion, Instant, NodeAddr, NodeConfig, NodeKey, Report,
    ResetReason,
};

const ME: NodeAddr = NodeAddr(3);
const KEY: NodeKey = NodeKey::from_bytes([0xa5; 32]);

struct Node {
    link: NodeLink<8>,
    controller: Controller<4>,
    pulses: Vec<(Channel, u16)>,
}

impl Node {
    fn boot() -> Self {
        let mut link = NodeLink::new(ME, ResetReason::PowerOn);
        link.restore_auth(NodeAuthRecord {
            key: Some(KEY),
            rx_floor: 0,
        });
        while let Some(record) = link.poll_persist() {
            link.persisted(&record);
        }
        Node {
            link,
            controller: Controller::new(
                NodeConfig::default(),
                FirmwareVersion::new(1, 0, 0),
                ResetReason::PowerOn,
                Instant::ZERO,
            )
            .unwrap(),
            pulses: Vec::new(),
        }
    }

    /// One pass of the firmware's main loop for one received frame: events
    /// noticed since the last pass go to the link first, so a poll sees them.
    fn receive(&mut self, wire: &[u8], now: Instant) -> Vec<Report> {
        self.carry_out();
        let mut decoder = Decoder::new();
        let Feed::Frame { frame, .. } = decoder.feed::<Command>(wire) else {
            panic!("not a frame")
        };
        if let Some(command) = self
            .link
            .handle_received(&frame, decoder.last_authenticated(), now)
        {
            let report = self.controller.handle_command(&command, now);
            self.link.respond(report);
        }
        self.carry_out();
        std::iter::from_fn(|| self.link.poll_transmit())
            .map(|f| f.body)
            .collect()
    }

    fn carry_out(&mut self) {
        while let Some(action) = self.controller.poll_action() {
            if let Action::PulseLock { channel, duration } = action {
                self.pulses.push((channel, duration.as_millis()));
            }
        }
        while let Some(event) = self.controller.poll_event() {
            self.link.push_event(event).unwrap();
        }
    }
}

/// A command from the gateway on the wire, signed with `counter` if given.
fn from_gateway(seq: u8, counter: Option<u64>, body: Command) -> Vec<u8> {
    let frame = Frame {
        header: Header::new(NodeAddr::GATEWAY, ME, Seq(seq), Flags::ACK_WANTED),
        body,
    };
    let mut buf = [0u8; MAX_FRAME];
    match counter {
        Some(counter) => encode_authenticated(&frame, &mut buf, |covered| {
            trailer(&KEY, covered, counter, Direction::ToNode)
        }),
        None => encode(&frame, &mut buf),
    }
    .unwrap()
    .to_vec()
}

#[test]
fn a_retransmitted_unlock_is_answered_without_pulsing_again() {
    let mut node = Node::boot();
    let unlock = from_gateway(
        41,
        Some(0),
        Command::Unlock {
            channel: Channel(2),
            pulse_ms: 300,
        },
    );

    assert_eq!(
        node.receive(&unlock, Instant::from_millis(1_000)),
        vec![Report::Ack]
    );
    // The Ack was lost on the bus; the gateway retries with the same sequence
    // number, even after the pulse is over.
    assert_eq!(
        node.receive(&unlock, Instant::from_millis(1_250)),
        vec![Report::Ack]
    );
    assert_eq!(
        node.receive(&unlock, Instant::from_millis(2_500)),
        vec![Report::Ack]
    );
    assert_eq!(node.pulses, vec![(Channel(2), 300)]);

    // A new unlock (next sequence number) does pulse again.
    let again = from_gateway(
        42,
        Some(1),
        Command::Unlock {
            channel: Channel(2),
            pulse_ms: 300,
        },
    );
    assert_eq!(
        node.receive(&again, Instant::from_millis(3_000)),
        vec![Report::Ack]
    );
    assert_eq!(node.pulses, vec![(Channel(2), 300), (Channel(2), 300)]);
}

#[test]
fn a_forced_door_reaches_the_gateway_through_the_event_queue() {
    let mut node = Node::boot();
    node.controller
        .handle_door_level(Channel(1), true, Instant::from_millis(500))
        .unwrap();
    node.controller.handle_timeout(Instant::from_millis(600));
    let reports = node.receive(
        &from_gateway(1, None, Command::PollEvents),
        Instant::from_millis(700),
    );
    let [Report::Events { events, dropped: 0 }] = reports.as_slice() else {
        panic!("{reports:?}")
    };
    let kinds: Vec<Event> = events.iter().map(|r| r.event).collect();
    assert_eq!(
        kinds,
        vec![
            Event::NodeStarted {
                reset_reason: ResetReason::PowerOn
            },
            Event::DoorOpened {
                channel: Channel(1),
                commanded: false
            },
        ]
    );
}
