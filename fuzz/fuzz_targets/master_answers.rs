//! The gateway's bus master fed arbitrary node answers: a keyed node's real
//! answers, delivered, dropped, delayed and replayed, mixed with answers an
//! attacker on the bus makes up (unsigned, with forged trailers, raw bytes),
//! in arbitrary chunks, while events happen on the node and the gateway
//! sends commands of its own.
//!
//! Invariants: no panic; every event the master delivers is one the node
//! really queued, delivered once and in the node's order; every
//! acknowledgement the master sends covers only events it delivered; every
//! answer it hands up as a command's response is one the node really gave.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_proto::auth::NodeAuthRecord;
use locker_proto::frame::{
    AuthTrailer, Decoder, Feed, Frame, MAX_FRAME, encode, encode_authenticated,
};
use locker_proto::link::{Master, MasterConfig, MasterEvent, NodeLink};
use locker_proto::{
    Channel, Command, Duration, Event, EventRecord, EventSeq, Instant, NodeAddr, NodeKey, Report,
    ResetReason,
};

const NODE: NodeAddr = NodeAddr(5);
const KEY: NodeKey = NodeKey::from_bytes([0xa7; 32]);

#[derive(Arbitrary, Debug)]
enum Op {
    /// The node hears the gateway's last frame; its answer goes back or not.
    Carry { answer_arrives: bool, chunk: u8 },
    /// One of the node's earlier answers, again.
    Replay { index: usize, chunk: u8 },
    /// An answer the attacker made up, with or without a trailer.
    Forged {
        frame: Frame<Report>,
        trailer: Option<AuthTrailer>,
        chunk: u8,
    },
    /// Raw bytes on the line.
    Raw { bytes: Vec<u8>, chunk: u8 },
    /// A door on the node opens or closes by itself.
    NodeEvent { channel: u8, open: bool },
    /// The gateway sends a command of its own (an acknowledgement is
    /// skipped: the master's own are the ones checked).
    Send(Command),
    /// Time passes.
    Wait(u16),
}

struct Harness {
    master: Master<2>,
    node: NodeLink<8>,
    decoder: Decoder,
    now: Instant,
    /// The gateway's last frame on the wire.
    last_sent: Option<Vec<u8>>,
    /// Every answer the node gave, as bytes and as reports.
    answers: Vec<Vec<u8>>,
    reports: Vec<Report>,
    /// Every event the node queued, as far as the harness knows: those it
    /// pushed and those the node reported.
    queued: Vec<EventRecord>,
    /// The last event the master delivered.
    delivered: Option<EventSeq>,
}

impl Harness {
    fn new() -> Harness {
        let mut master = Master::new(MasterConfig::default());
        let _ = master.add_node(NODE, Instant::ZERO);
        let _ = master.set_key(NODE, KEY, 0);
        let mut node = NodeLink::new(NODE, ResetReason::PowerOn);
        node.restore_auth(NodeAuthRecord {
            key: Some(KEY),
            rx_floor: 0,
        });
        let queued = vec![EventRecord {
            seq: EventSeq(0),
            event: Event::NodeStarted {
                reset_reason: ResetReason::PowerOn,
                held: None,
            },
        }];
        Harness {
            master,
            node,
            decoder: Decoder::new(),
            now: Instant::ZERO,
            last_sent: None,
            answers: Vec::new(),
            reports: Vec::new(),
            queued,
            delivered: None,
        }
    }

    /// Stores counters, lets the master send, and checks what it sends.
    fn step(&mut self) {
        while let Some((addr, up_to)) = self.master.poll_persist() {
            self.master.persisted(addr, up_to);
        }
        while let Some(record) = self.node.poll_persist() {
            self.node.persisted(&record);
        }
        self.master.handle_timeout(self.now);
        self.drain();
        if let Some(outgoing) = self.master.poll_outgoing(self.now) {
            if let Command::AckEvents { up_to } = outgoing.frame.body {
                let delivered = self
                    .delivered
                    .expect("an acknowledgement before any delivery");
                assert!(
                    !up_to.is_after(delivered),
                    "acknowledged {up_to:?} beyond the last delivered {delivered:?}"
                );
            }
            let mut buf = [0u8; MAX_FRAME];
            self.last_sent = outgoing.encode(&mut buf).ok().map(<[u8]>::to_vec);
        }
    }

    fn drain(&mut self) {
        while let Some(event) = self.master.poll_event() {
            match event {
                MasterEvent::Event { node, record } => {
                    assert_eq!(node, NODE);
                    assert!(
                        self.queued.contains(&record),
                        "delivered {record:?}, which the node never queued"
                    );
                    if let Some(last) = self.delivered {
                        assert_eq!(record.seq, last.next(), "out of order or twice");
                    }
                    self.delivered = Some(record.seq);
                }
                MasterEvent::Response { report, .. } => {
                    assert!(
                        self.reports.contains(&report),
                        "handed up {report:?}, which the node never answered"
                    );
                }
                _ => {}
            }
        }
    }

    fn send_to_master(&mut self, bytes: &[u8], chunk: u8) {
        let chunk = usize::from(chunk).max(1);
        for piece in bytes.chunks(chunk) {
            let mut rest = piece;
            loop {
                match self.decoder.feed::<Report>(rest) {
                    Feed::Frame { frame, remaining } => {
                        let auth = self.decoder.last_authenticated();
                        self.master.handle_received(&frame, auth, self.now);
                        rest = remaining;
                    }
                    Feed::Error { remaining, .. } => rest = remaining,
                    Feed::Consumed => break,
                }
                if rest.is_empty() {
                    break;
                }
            }
            self.drain();
        }
    }

    fn carry(&mut self, answer_arrives: bool, chunk: u8) {
        let Some(wire) = self.last_sent.clone() else {
            return;
        };
        let mut decoder = Decoder::new();
        let Feed::Frame { frame, .. } = decoder.feed::<Command>(&wire) else {
            return;
        };
        if self
            .node
            .handle_received(&frame, decoder.last_authenticated(), self.now)
            .is_some()
        {
            self.node.respond(Report::Ack);
        }
        let Some(outgoing) = self.node.poll_outgoing() else {
            return;
        };
        let mut buf = [0u8; MAX_FRAME];
        let Ok(bytes) = outgoing.encode(&mut buf) else {
            return;
        };
        let bytes = bytes.to_vec();
        if let Report::Events { events, .. } = &outgoing.frame.body {
            // The node queues events of its own too (its refusals).
            self.queued.extend(events.iter().copied());
        }
        self.reports.push(outgoing.frame.body.clone());
        self.answers.push(bytes.clone());
        if answer_arrives {
            self.send_to_master(&bytes, chunk);
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut h = Harness::new();
    for op in ops.into_iter().take(256) {
        h.step();
        match op {
            Op::Carry {
                answer_arrives,
                chunk,
            } => h.carry(answer_arrives, chunk),
            Op::Replay { index, chunk } => {
                if let Some(bytes) = h.answers.get(index % h.answers.len().max(1)).cloned() {
                    h.send_to_master(&bytes, chunk);
                }
            }
            Op::Forged {
                frame,
                trailer,
                chunk,
            } => {
                let mut buf = [0u8; MAX_FRAME];
                let bytes = match trailer {
                    Some(t) => encode_authenticated(&frame, &mut buf, |_| t),
                    None => encode(&frame, &mut buf),
                };
                if let Ok(bytes) = bytes {
                    let bytes = bytes.to_vec();
                    h.send_to_master(&bytes, chunk);
                }
            }
            Op::Raw { bytes, chunk } => h.send_to_master(&bytes, chunk),
            Op::NodeEvent { channel, open } => {
                let channel = Channel(channel % 4);
                let event = if open {
                    Event::DoorOpened {
                        channel,
                        commanded: false,
                    }
                } else {
                    Event::DoorClosed { channel }
                };
                if let Ok(seq) = h.node.push_event(event) {
                    h.queued.push(EventRecord { seq, event });
                }
            }
            // Acknowledgements are the master's own business: the check
            // above is on those it makes.
            Op::Send(Command::AckEvents { .. }) => {}
            Op::Send(command) => {
                let _ = h.master.send(NODE, command, h.now);
            }
            Op::Wait(ms) => h.now += Duration::from_millis(u64::from(ms)),
        }
    }
});
