//! Attacks on the node's answers, written as the attacker would make them:
//! a man on the RS-485 bus between the gateway's master and a keyed node,
//! who can read every frame, drop it, and put his own on the wire. Each
//! attack must fail and be reported.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use locker_proto::auth::NodeAuthRecord;
use locker_proto::frame::{Decoder, Feed, Flags, Frame, Header, MAX_FRAME, encode};
use locker_proto::link::{Master, MasterConfig, MasterEvent, NodeLink};
use locker_proto::{
    Channel, Command, Event, EventBatch, EventRecord, EventSeq, Instant, NackReason, NodeAddr,
    NodeKey, Report, ResetReason,
};

const NODE: NodeAddr = NodeAddr(7);
const KEY: NodeKey = NodeKey::from_bytes([0x3c; 32]);

/// Bytes on the wire.
type Wire = Vec<u8>;

/// The gateway's master, one node, and the bus between them in the
/// attacker's hands: nothing crosses unless the test carries it.
struct Bus {
    master: Master<4>,
    node: NodeLink<8>,
    now: Instant,
    learned: Vec<MasterEvent>,
}

impl Bus {
    /// A keyed node and its gateway, counters stored, greeting done.
    fn keyed() -> Self {
        Self::new(true)
    }

    fn new(keyed: bool) -> Self {
        let mut bus = Self::unstarted(keyed.then_some((0, 0)));
        if keyed {
            // The master asks a keyed node's floor first.
            bus.exchange_honestly();
        }
        // The node's start event is delivered and acknowledged.
        bus.exchange_honestly();
        bus.exchange_honestly();
        bus
    }

    /// The gateway and the node before their first exchange; keyed with
    /// `(the gateway's stored counter, the node's floor)`.
    fn unstarted(counters: Option<(u64, u64)>) -> Self {
        let mut master = Master::new(MasterConfig::default());
        master.add_node(NODE, Instant::ZERO).unwrap();
        let mut node = NodeLink::new(NODE, ResetReason::PowerOn);
        if let Some((stored, floor)) = counters {
            master.set_key(NODE, KEY, stored).unwrap();
            node.restore_auth(NodeAuthRecord {
                key: Some(KEY),
                rx_floor: floor,
            });
        }
        let mut bus = Bus {
            master,
            node,
            now: Instant::ZERO,
            learned: Vec::new(),
        };
        bus.store_counters();
        bus
    }

    /// The gateway sends an unlock of channel 1 and every frame crosses
    /// faithfully until it has the answer; the answers to its unlocks.
    fn unlock_honestly(&mut self) -> Vec<Report> {
        let unlock = Command::Unlock {
            channel: Channel(1),
            pulse_ms: 300,
        };
        self.master.send(NODE, unlock, self.now).unwrap();
        for _ in 0..8 {
            if !self.unlock_answers().is_empty() {
                break;
            }
            self.exchange_honestly();
        }
        self.unlock_answers()
    }

    /// A door on the node is forced open; every frame crosses faithfully
    /// for a few exchanges. Whether the gateway learned of it.
    fn forced_door_reported(&mut self) -> bool {
        let forced = Event::DoorOpened {
            channel: Channel(1),
            commanded: false,
        };
        self.node.push_event(forced).unwrap();
        for _ in 0..4 {
            self.exchange_honestly();
        }
        self.events().contains(&forced)
    }

    /// The gateway's answers to its unlocks so far.
    fn unlock_answers(&self) -> Vec<Report> {
        self.learned
            .iter()
            .filter_map(|e| match e {
                MasterEvent::Response {
                    command: Command::Unlock { .. },
                    report,
                    ..
                } => Some(report.clone()),
                _ => None,
            })
            .collect()
    }

    fn store_counters(&mut self) {
        while let Some((addr, up_to)) = self.master.poll_persist() {
            self.master.persisted(addr, up_to);
        }
        while let Some(record) = self.node.poll_persist() {
            self.node.persisted(&record);
        }
    }

    /// The master's next frame, as bytes: what the attacker sees leave.
    /// Time passes until the master has one (a poll falls due, or a request
    /// times out and is sent again).
    fn gateway_sends(&mut self) -> (Frame<Command>, Wire) {
        for _ in 0..10 {
            self.master.handle_timeout(self.now);
            self.drain();
            self.store_counters();
            if let Some(outgoing) = self.master.poll_outgoing(self.now) {
                let mut buf = [0u8; MAX_FRAME];
                let wire = outgoing.encode(&mut buf).unwrap().to_vec();
                return (outgoing.frame, wire);
            }
            self.now = self.master.poll_timeout().unwrap().max(self.now);
        }
        panic!("the gateway has nothing to send");
    }

    fn drain(&mut self) {
        while let Some(event) = self.master.poll_event() {
            self.learned.push(event);
        }
    }

    /// The node hears `wire` and answers (an unlock is executed and
    /// acknowledged); the answer's bytes.
    fn node_answers(&mut self, wire: &[u8]) -> Option<Wire> {
        let mut decoder = Decoder::new();
        let Feed::Frame { frame, .. } = decoder.feed::<Command>(wire) else {
            panic!("not a frame");
        };
        if let Some(command) =
            self.node
                .handle_received(&frame, decoder.last_authenticated(), self.now)
        {
            // The application executes it (pulses the lock) and says so.
            let _ = command;
            self.node.respond(Report::Ack);
        }
        self.store_counters();
        let outgoing = self.node.poll_outgoing()?;
        let mut buf = [0u8; MAX_FRAME];
        Some(outgoing.encode(&mut buf).unwrap().to_vec())
    }

    /// The gateway hears `wire`.
    fn gateway_hears(&mut self, wire: &[u8]) {
        let mut decoder = Decoder::new();
        let Feed::Frame { frame, .. } = decoder.feed::<Report>(wire) else {
            panic!("not a frame");
        };
        self.master
            .handle_received(&frame, decoder.last_authenticated(), self.now);
        self.drain();
    }

    /// One request and its answer, carried faithfully.
    fn exchange_honestly(&mut self) {
        let (_, wire) = self.gateway_sends();
        let answer = self.node_answers(&wire).expect("the node answers");
        self.gateway_hears(&answer);
    }

    fn events(&self) -> Vec<Event> {
        self.learned
            .iter()
            .filter_map(|e| match e {
                MasterEvent::Event { record, .. } => Some(record.event),
                _ => None,
            })
            .collect()
    }

    fn rejected(&self) -> u16 {
        self.learned
            .iter()
            .map(|e| match e {
                MasterEvent::AnswersRejected { node, count } if *node == NODE => *count,
                _ => 0,
            })
            .sum()
    }
}

/// An answer with no tag, as anyone can make it.
fn forged(seq: locker_proto::Seq, body: Report) -> Wire {
    let frame = Frame {
        header: Header::new(NODE, NodeAddr::GATEWAY, seq, Flags::NONE),
        body,
    };
    let mut buf = [0u8; MAX_FRAME];
    encode(&frame, &mut buf).unwrap().to_vec()
}

fn far_ahead_events() -> Report {
    let mut events = EventBatch::new();
    for (i, event) in [
        Event::DoorOpened {
            channel: Channel(0),
            commanded: true,
        },
        Event::DoorClosed {
            channel: Channel(0),
        },
    ]
    .into_iter()
    .enumerate()
    {
        events
            .push(EventRecord {
                seq: EventSeq(1000 + i as u16),
                event,
            })
            .unwrap();
    }
    Report::Events { events, dropped: 0 }
}

#[test]
fn a_forged_event_report_numbered_far_ahead_hides_none_of_the_nodes_events() {
    let mut bus = Bus::keyed();
    let before = bus.events().len();

    // The attacker swallows the gateway's next poll and answers it himself
    // with events numbered far ahead of the node's.
    let (poll, _swallowed) = bus.gateway_sends();
    assert_eq!(poll.body, Command::PollEvents);
    bus.gateway_hears(&forged(poll.header.seq, far_ahead_events()));

    assert_eq!(bus.events().len(), before, "a forged event was believed");
    assert_eq!(bus.rejected(), 1, "the forgery was not reported");

    // Then a thief forces a door. The node's own event gets through.
    assert!(
        bus.forced_door_reported(),
        "the forced door went unreported: {:?}",
        bus.learned
    );
    assert_eq!(
        bus.node.queued_events(),
        0,
        "the node's event was acknowledged"
    );
}

#[test]
fn a_forged_nack_racing_a_signed_unlock_does_not_turn_the_pickup_into_a_lock_fault() {
    let mut bus = Bus::keyed();
    bus.master
        .send(
            NODE,
            Command::Unlock {
                channel: Channel(2),
                pulse_ms: 300,
            },
            bus.now,
        )
        .unwrap();
    let (unlock, wire) = bus.gateway_sends();
    assert!(matches!(unlock.body, Command::Unlock { .. }));

    // The attacker's Nack reaches the gateway before the node's answer.
    bus.gateway_hears(&forged(
        unlock.header.seq,
        Report::Nack(NackReason::Unauthenticated),
    ));
    let real = bus.node_answers(&wire).unwrap();
    bus.gateway_hears(&real);

    let answers: Vec<_> = bus
        .learned
        .iter()
        .filter_map(|e| match e {
            MasterEvent::Response {
                command: Command::Unlock { .. },
                report,
                ..
            } => Some(report.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![Report::Ack],
        "the door opened, and the gateway knows"
    );
    assert_eq!(bus.rejected(), 1, "the forged refusal was not reported");
}

#[test]
fn a_recorded_answer_replayed_onto_a_later_poll_is_no_answer() {
    let mut bus = Bus::keyed();

    // The attacker records the node's genuine, signed "nothing new".
    let (_, wire) = bus.gateway_sends();
    let recorded = bus.node_answers(&wire).unwrap();
    bus.gateway_hears(&recorded);
    assert_eq!(bus.rejected(), 0);

    // A door is forced; the attacker answers every later poll with his
    // recording, so that the node looks alive with nothing to say.
    bus.node
        .push_event(Event::DoorOpened {
            channel: Channel(3),
            commanded: false,
        })
        .unwrap();
    for attempt in 1..=3u16 {
        let (poll, _swallowed) = bus.gateway_sends();
        // Same sequence number as the recording (the attacker waits for it
        // to come round): only the challenge tells them apart.
        let mut decoder = Decoder::new();
        let Feed::Frame { frame, .. } = decoder.feed::<Report>(&recorded) else {
            panic!()
        };
        let mut replay = recorded.clone();
        if frame.header.seq != poll.header.seq {
            replay = {
                // Re-encode with the poll's sequence number: the tag no
                // longer matches either way.
                let mut f = frame.clone();
                f.header.seq = poll.header.seq;
                let mut buf = [0u8; MAX_FRAME];
                let trailer = decoder.last_authenticated().unwrap().trailer;
                locker_proto::frame::encode_authenticated(&f, &mut buf, |_| trailer)
                    .unwrap()
                    .to_vec()
            };
        }
        bus.gateway_hears(&replay);
        assert_eq!(bus.rejected(), attempt, "replay {attempt} was not reported");
        assert!(bus.events().iter().all(|e| !matches!(
            e,
            Event::DoorOpened {
                commanded: false,
                ..
            }
        )));
    }
}

#[test]
fn the_answer_to_another_query_under_the_gateways_challenge_is_no_answer() {
    let mut bus = Bus::keyed();
    let (poll, swallowed) = bus.gateway_sends();

    // The attacker keeps the poll from the node, copies its challenge into
    // a status request of his own with the same sequence number, and hands
    // the node's signed answer to the gateway as the answer to its poll.
    let mut decoder = Decoder::new();
    let Feed::Frame { .. } = decoder.feed::<Command>(&swallowed) else {
        panic!()
    };
    let challenge = decoder.last_authenticated().unwrap().trailer;
    let swapped = Frame {
        header: poll.header,
        body: Command::GetAllStatus,
    };
    let mut buf = [0u8; MAX_FRAME];
    let wire = locker_proto::frame::encode_authenticated(&swapped, &mut buf, |_| challenge)
        .unwrap()
        .to_vec();
    let mut decoder = Decoder::new();
    let Feed::Frame { frame, .. } = decoder.feed::<Command>(&wire) else {
        panic!()
    };
    let handed = bus
        .node
        .handle_received(&frame, decoder.last_authenticated(), bus.now);
    assert_eq!(handed, Some(Command::GetAllStatus));
    bus.node.respond(Report::Ack);
    let answer = bus.node.poll_outgoing().unwrap();
    let mut buf = [0u8; MAX_FRAME];
    let answer = answer.encode(&mut buf).unwrap().to_vec();
    bus.gateway_hears(&answer);

    assert_eq!(bus.rejected(), 1);
    assert!(bus.master.has_request_in_flight(), "the poll still waits");
}

#[test]
fn from_a_node_without_a_key_the_master_delivers_and_acknowledges_only_events_in_order() {
    let mut bus = Bus::new(false);
    let before = bus.events().len();
    let (poll, _swallowed) = bus.gateway_sends();
    bus.gateway_hears(&forged(poll.header.seq, far_ahead_events()));
    assert_eq!(
        bus.events().len(),
        before,
        "events out of order were delivered"
    );
    // Nothing was acknowledged on the node's behalf.
    let (next, _) = bus.gateway_sends();
    assert_eq!(next.body, Command::PollEvents);
    let answer = bus.node_answers(&bus_wire(&next)).unwrap();
    bus.gateway_hears(&answer);

    // The node's next real event is delivered.
    assert!(bus.forced_door_reported(), "{:?}", bus.learned);
    assert!(
        bus.events()
            .iter()
            .all(|e| !matches!(e, Event::DoorClosed { .. }))
    );
}

/// `frame` as an unsigned frame on the wire.
fn bus_wire(frame: &Frame<Command>) -> Wire {
    let mut buf = [0u8; MAX_FRAME];
    encode(frame, &mut buf).unwrap().to_vec()
}

#[test]
fn a_gateway_that_lost_its_stored_counters_opens_doors_again_without_provisioning() {
    // The gateway's counters file is gone (a disk replaced, a backup from
    // its first week restored); the node has accepted a million signed
    // commands since: far beyond what stale refusals can bridge.
    let mut bus = Bus::unstarted(Some((0, 1_000_000)));
    let (ask, wire) = bus.gateway_sends();
    assert_eq!(ask.body, Command::GetAuthFloor);
    let answer = bus.node_answers(&wire).unwrap();
    bus.gateway_hears(&answer);

    assert_eq!(bus.unlock_honestly(), vec![Report::Ack], "the door opened");
    assert_eq!(bus.rejected(), 0);
}

#[test]
fn a_forged_floor_far_ahead_cannot_push_the_gateway_out_of_step() {
    let mut bus = Bus::unstarted(Some((0, 0)));
    let (ask, _swallowed) = bus.gateway_sends();
    assert_eq!(ask.body, Command::GetAuthFloor);
    // The attacker answers for the node: a floor so high that every
    // counter the gateway used next would look forged to the node.
    bus.gateway_hears(&forged(
        ask.header.seq,
        Report::AuthFloor {
            floor: locker_proto::Floor::new(u64::MAX / 2),
        },
    ));
    assert_eq!(bus.rejected(), 1, "the forgery was not reported");

    // The node's own answer to the retransmission sets the floor; signed
    // commands go through.
    assert_eq!(bus.unlock_honestly(), vec![Report::Ack], "the door opened");
}
