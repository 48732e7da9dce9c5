//! Freshness across power loss and resynchronisation: a restart at any
//! instant never reuses a counter nor re-accepts one, and a gateway and a
//! node that drifted apart get back in step with one refusal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use locker_proto::auth::{
    ACCEPT_WINDOW, Direction, NodeAuthRecord, RxWindow, TxCounter, Verdict, trailer,
};
use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
use locker_proto::link::{Master, MasterConfig, MasterEvent, NodeLink, Outgoing};
use locker_proto::{
    Channel, Command, Duration, Instant, NackReason, NodeAddr, NodeKey, Report, ResetReason,
};
use proptest::prelude::*;

const NODE: NodeAddr = NodeAddr(9);
const KEY: NodeKey = NodeKey::from_bytes([0x5e; 32]);

/// The glue's stores: what survives a power cut.
#[derive(Default)]
struct Flash {
    gateway_counter: u64,
    node: Option<NodeAuthRecord>,
}

struct Bus {
    master: Master<2>,
    node: NodeLink<8>,
    flash: Flash,
    now: Instant,
    pulses: u32,
    answers: Vec<Report>,
}

fn carry<B, R>(
    outgoing: &Outgoing<B>,
    receive: impl FnOnce(
        &locker_proto::frame::Frame<B>,
        Option<locker_proto::frame::Authenticated<'_>>,
    ) -> R,
) -> R
where
    B: locker_proto::frame::Body,
{
    let mut buf = [0u8; MAX_FRAME];
    let bytes = outgoing.encode(&mut buf).unwrap();
    let mut decoder = Decoder::new();
    match decoder.feed::<B>(bytes) {
        Feed::Frame { frame, .. } => receive(&frame, decoder.last_authenticated()),
        _ => panic!("frame did not survive the wire"),
    }
}

impl Bus {
    fn new() -> Self {
        let mut bus = Bus {
            master: Master::new(MasterConfig::default()),
            node: NodeLink::new(NODE, ResetReason::PowerOn),
            flash: Flash {
                gateway_counter: 0,
                node: Some(NodeAuthRecord {
                    key: Some(KEY),
                    rx_floor: 0,
                }),
            },
            now: Instant::ZERO,
            pulses: 0,
            answers: Vec::new(),
        };
        bus.restart_gateway();
        bus.restart_node();
        bus
    }

    fn restart_gateway(&mut self) {
        self.master = Master::new(MasterConfig::default());
        self.master.add_node(NODE, self.now).unwrap();
        self.master
            .set_key(NODE, KEY, self.flash.gateway_counter)
            .unwrap();
    }

    fn restart_node(&mut self) {
        self.node = NodeLink::new(NODE, ResetReason::PowerOn);
        if let Some(record) = self.flash.node {
            self.node.restore_auth(record);
        }
    }

    fn persist(&mut self) {
        while let Some((_, up_to)) = self.master.poll_persist() {
            self.flash.gateway_counter = up_to;
            self.master.persisted(NODE, up_to);
        }
        while let Some(record) = self.node.poll_persist() {
            self.flash.node = Some(record);
            self.node.persisted(&record);
        }
    }

    fn step(&mut self) {
        self.persist();
        self.master.handle_timeout(self.now);
        if let Some(request) = self.master.poll_outgoing(self.now) {
            let (now, node) = (self.now, &mut self.node);
            if let Some(command) = carry(&request, |f, a| node.handle_received(f, a, now)) {
                if matches!(command, Command::Unlock { .. }) {
                    self.pulses += 1;
                }
                self.node.respond(Report::Ack);
            }
            self.persist();
            if let Some(answer) = self.node.poll_outgoing() {
                let master = &mut self.master;
                carry(&answer, |f, a| master.handle_received(f, a, now));
            }
        }
        while let Some(event) = self.master.poll_event() {
            if let MasterEvent::Response { report, .. } = event {
                self.answers.push(report);
            }
        }
        self.now += Duration::from_millis(20);
    }

    fn unlock(&mut self) {
        self.master
            .send(
                NODE,
                Command::Unlock {
                    channel: Channel(1),
                    pulse_ms: 300,
                },
                self.now,
            )
            .unwrap();
        for _ in 0..20 {
            self.step();
        }
    }
}

#[test]
fn a_node_restart_moves_its_floor_ahead_and_one_stale_refusal_resynchronises_the_gateway() {
    let mut bus = Bus::new();
    bus.unlock();
    assert_eq!((bus.pulses, bus.answers.len()), (1, 1));
    bus.restart_node();
    assert!(bus.node.rx_floor() > bus.master.tx_counter(NODE).unwrap());
    bus.unlock();
    assert_eq!(
        bus.pulses, 2,
        "the unlock after the restart was executed, once"
    );
    assert_eq!(bus.answers.last(), Some(&Report::Ack));
    assert_eq!(bus.master.stats().resynchronisations, 1);
    // The expected refusal after a restart is not reported as an attack.
    assert_eq!(bus.node.refused_commands(), 0);
}

#[test]
fn a_gateway_restart_resumes_past_its_reservation_and_the_node_follows() {
    let mut bus = Bus::new();
    bus.unlock();
    let before = bus.master.tx_counter(NODE).unwrap();
    bus.restart_gateway();
    bus.unlock();
    assert_eq!(bus.pulses, 2);
    assert!(
        bus.node.rx_floor() > before + 1,
        "the counter skipped ahead"
    );
    assert_eq!(bus.master.stats().resynchronisations, 0);
}

#[test]
fn a_gateway_that_lost_its_counter_store_is_refused_until_it_resynchronises() {
    let mut bus = Bus::new();
    for _ in 0..3 {
        bus.unlock();
    }
    // The counter file is restored from an old backup: the gateway is behind.
    bus.flash.gateway_counter = 0;
    bus.restart_gateway();
    bus.unlock();
    assert_eq!(bus.pulses, 4);
    assert_eq!(bus.master.stats().resynchronisations, 1);
}

#[test]
fn a_forged_stale_refusal_cannot_push_the_gateway_counter_ahead() {
    let mut bus = Bus::new();
    bus.unlock();
    let counter = bus.master.tx_counter(NODE).unwrap();
    bus.master
        .send(
            NODE,
            Command::Reboot {
                kind: locker_proto::RebootKind::Soft,
            },
            bus.now,
        )
        .unwrap();
    bus.persist();
    let request = bus.master.poll_outgoing(bus.now).unwrap();
    // An attacker answers first, unsigned, naming a floor far ahead.
    let forged = locker_proto::frame::Frame {
        header: locker_proto::frame::Header::new(
            NODE,
            NodeAddr::GATEWAY,
            request.frame.header.seq,
            locker_proto::frame::Flags::NONE,
        ),
        body: Report::Nack(NackReason::Stale {
            floor: locker_proto::Floor::new(u64::MAX / 2),
        }),
    };
    bus.master.handle_frame(&forged, bus.now);
    assert_eq!(bus.master.stats().auth_rejected, 1);
    assert_eq!(bus.master.tx_counter(NODE), Some(counter + 1));
}

#[test]
fn a_counter_at_the_edge_of_the_window_is_accepted_and_one_beyond_looks_forged() {
    let mut rx = RxWindow::resume(0).with_block(1 << 20);
    let up_to = rx.poll_persist().unwrap();
    rx.persisted(up_to);
    let covered = b"frame";
    let edge = ACCEPT_WINDOW - 1;
    let t = trailer(&KEY, covered, edge, Direction::ToNode);
    assert_eq!(
        rx.check(&KEY, covered, &t, Direction::ToNode),
        Verdict::Fresh(edge)
    );
    let beyond = trailer(&KEY, covered, ACCEPT_WINDOW, Direction::ToNode);
    assert_eq!(
        rx.check(&KEY, covered, &beyond, Direction::ToNode),
        Verdict::Forged
    );
}

#[test]
fn a_valid_frame_beyond_the_stored_reservation_waits_for_the_write() {
    let mut rx = RxWindow::resume(0).with_block(8);
    let up_to = rx.poll_persist().unwrap();
    rx.persisted(up_to);
    let covered = b"frame";
    let t = trailer(&KEY, covered, 20, Direction::ToNode);
    assert_eq!(
        rx.check(&KEY, covered, &t, Direction::ToNode),
        Verdict::Unreserved(20)
    );
    let up_to = rx.poll_persist().unwrap();
    assert!(up_to > 20);
    rx.persisted(up_to);
    assert_eq!(
        rx.check(&KEY, covered, &t, Direction::ToNode),
        Verdict::Fresh(20)
    );
}

/// What may happen to a counter and its store.
#[derive(Clone, Debug)]
enum Op {
    /// Use (send, or accept) the next value if the counter allows.
    Use,
    /// The glue stores what the counter asks for, and confirms.
    Store,
    /// The glue stores but power fails before it confirms.
    StoreAndCut,
    /// The glue is asked, power fails before the write.
    AskAndCut,
    /// Power fails now.
    Cut,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Use),
        3 => Just(Op::Store),
        1 => Just(Op::StoreAndCut),
        1 => Just(Op::AskAndCut),
        1 => Just(Op::Cut),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A sender restarted at any point never sends a counter value twice.
    #[test]
    fn a_restart_at_any_point_never_reuses_a_sending_counter(
        ops in proptest::collection::vec(op(), 1..300),
        block in 2u64..40,
    ) {
        let mut stored = 0u64;
        let mut counter = TxCounter::resume(stored).with_block(block);
        let mut used = BTreeSet::new();
        for op in ops {
            match op {
                Op::Use => {
                    if let Some(v) = counter.take() {
                        prop_assert!(used.insert(v), "counter {} used twice", v);
                    }
                }
                Op::Store => {
                    if let Some(up_to) = counter.poll_persist() {
                        stored = up_to;
                        counter.persisted(up_to);
                    }
                }
                Op::StoreAndCut => {
                    if let Some(up_to) = counter.poll_persist() {
                        stored = up_to;
                    }
                    counter = TxCounter::resume(stored).with_block(block);
                }
                Op::AskAndCut => {
                    let _ = counter.poll_persist();
                    counter = TxCounter::resume(stored).with_block(block);
                }
                Op::Cut => counter = TxCounter::resume(stored).with_block(block),
            }
        }
    }

    /// A receiver restarted at any point never accepts a counter value
    /// twice, whatever it is offered (replays of everything it accepted
    /// included).
    #[test]
    fn a_restart_at_any_point_never_re_accepts_a_counter(
        ops in proptest::collection::vec((op(), 0u64..200), 1..300),
        block in 2u64..40,
    ) {
        let covered = b"unlock";
        let mut stored = 0u64;
        let mut rx = RxWindow::resume(stored).with_block(block);
        let mut accepted = BTreeSet::new();
        for (op, offered) in ops {
            match op {
                Op::Use => {
                    let t = trailer(&KEY, covered, offered, Direction::ToNode);
                    if let Verdict::Fresh(v) = rx.check(&KEY, covered, &t, Direction::ToNode) {
                        prop_assert_eq!(v, offered);
                        prop_assert!(accepted.insert(v), "counter {} accepted twice", v);
                        rx.accept(v);
                    }
                }
                Op::Store => {
                    if let Some(up_to) = rx.poll_persist() {
                        stored = up_to;
                        rx.persisted(up_to);
                    }
                }
                Op::StoreAndCut => {
                    if let Some(up_to) = rx.poll_persist() {
                        stored = up_to;
                    }
                    rx = RxWindow::resume(stored).with_block(block);
                }
                Op::AskAndCut => {
                    let _ = rx.poll_persist();
                    rx = RxWindow::resume(stored).with_block(block);
                }
                Op::Cut => rx = RxWindow::resume(stored).with_block(block),
            }
        }
    }
}
