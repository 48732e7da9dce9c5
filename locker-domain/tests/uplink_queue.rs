//! The outbound queue with a receiver that de-duplicates, over a transport
//! that loses messages, acknowledgements and whole links, through gateway
//! restarts: nothing is lost, nothing is carried out twice, order is kept.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;

use locker_domain::uplink::{DedupWindow, DeliveryConfig, OutboundQueue, OutboxError};
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{Envelope, Heartbeat, MessageId, Stamp, UpEnvelope, Upward};
use proptest::prelude::*;

const CAP: usize = 16;

#[derive(Clone, Copy, Debug)]
enum Step {
    /// The bridge produces a message.
    Push,
    /// The gateway sends whatever the queue allows.
    Transmit,
    /// The transport delivers the oldest message in transit.
    Deliver,
    /// The transport loses the oldest message in transit.
    LoseMessage,
    /// The oldest acknowledgement in transit arrives.
    DeliverAck,
    /// The oldest acknowledgement is lost.
    LoseAck,
    /// The broker restarts: everything in transit is gone.
    LinkDrop,
    /// Time passes.
    Wait(u8),
    /// The gateway restarts from its persisted queue.
    Restart,
}

fn step(lossy_messages: bool) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Push),
        4 => Just(Step::Transmit),
        4 => Just(Step::Deliver),
        (if lossy_messages { 1 } else { 0 }) => Just(Step::LoseMessage),
        3 => Just(Step::DeliverAck),
        1 => Just(Step::LoseAck),
        1 => Just(Step::LinkDrop),
        2 => (0u8..30).prop_map(Step::Wait),
        1 => Just(Step::Restart),
    ]
}

fn message(id: u64) -> UpEnvelope {
    Envelope::new(
        MessageId(id),
        Upward::Heartbeat(Heartbeat {
            at: Stamp::default(),
            backlog: 0,
        }),
    )
}

struct World {
    queue: OutboundQueue<CAP>,
    config: DeliveryConfig,
    to_backend: VecDeque<UpEnvelope>,
    acks: VecDeque<MessageId>,
    seen: DedupWindow,
    carried_out: Vec<u64>,
    produced: Vec<u64>,
    next_id: u64,
    now: Instant,
}

impl World {
    fn new(max_in_flight: u8) -> Self {
        let config = DeliveryConfig {
            max_in_flight,
            retry_after: Duration::from_secs(10),
        };
        World {
            queue: OutboundQueue::new(config),
            config,
            to_backend: VecDeque::new(),
            acks: VecDeque::new(),
            seen: DedupWindow::new(),
            carried_out: Vec::new(),
            produced: Vec::new(),
            next_id: 1,
            now: Instant::from_secs(1),
        }
    }

    fn run(&mut self, step: Step) {
        match step {
            Step::Push => {
                let free = self.queue.free();
                match self.queue.push(message(self.next_id)) {
                    Ok(()) => {
                        self.produced.push(self.next_id);
                        self.next_id += 1;
                    }
                    Err(OutboxError::Full { capacity }) => {
                        assert_eq!(free, 0);
                        assert_eq!(capacity, CAP);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Step::Transmit => {
                while let Some(m) = self.queue.poll_transmit(self.now) {
                    self.to_backend.push_back(m);
                }
            }
            Step::Deliver => {
                if let Some(m) = self.to_backend.pop_front() {
                    if self.seen.accept(m.id).is_new() {
                        self.carried_out.push(m.id.0);
                    }
                    self.acks.push_back(m.id);
                }
            }
            Step::LoseMessage => {
                self.to_backend.pop_front();
            }
            Step::DeliverAck => {
                if let Some(id) = self.acks.pop_front() {
                    self.queue.handle_ack(id, self.now);
                }
            }
            Step::LoseAck => {
                self.acks.pop_front();
            }
            Step::LinkDrop => {
                self.to_backend.clear();
                self.acks.clear();
                self.queue.link_down();
            }
            Step::Wait(secs) => {
                self.now += Duration::from_secs(u64::from(secs));
                self.queue.handle_timeout(self.now);
            }
            Step::Restart => {
                let pending: Vec<UpEnvelope> = self.queue.pending().cloned().collect();
                self.queue = OutboundQueue::new(self.config);
                for m in pending {
                    self.queue.push(m).unwrap();
                }
            }
        }
    }

    /// The link becomes perfect until the queue is empty.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            if self.queue.is_empty() {
                return;
            }
            self.run(Step::Transmit);
            while !self.to_backend.is_empty() {
                self.run(Step::Deliver);
            }
            while !self.acks.is_empty() {
                self.run(Step::DeliverAck);
            }
            self.run(Step::Wait(11));
        }
        panic!("the queue never emptied: {} left", self.queue.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Over a transport that keeps order but may drop the link (losing
    /// everything in transit) and lose acknowledgements, with any number of
    /// messages in flight, and through gateway restarts: every message is
    /// carried out exactly once, in the order it was produced.
    #[test]
    fn nothing_is_lost_or_carried_out_twice_and_order_holds(
        max_in_flight in 1u8..5,
        steps in proptest::collection::vec(step(false), 0..200),
    ) {
        let mut world = World::new(max_in_flight);
        for s in steps {
            world.run(s);
        }
        world.settle();
        prop_assert_eq!(&world.carried_out, &world.produced);
    }

    /// With one message in flight (the default), order holds even over a
    /// transport that loses single messages and delivers the next.
    #[test]
    fn one_in_flight_keeps_order_over_a_transport_that_loses_single_messages(
        steps in proptest::collection::vec(step(true), 0..200),
    ) {
        let mut world = World::new(1);
        for s in steps {
            world.run(s);
        }
        world.settle();
        prop_assert_eq!(&world.carried_out, &world.produced);
    }

    /// With more in flight over a lossy transport, order may bend but every
    /// message is still carried out exactly once.
    #[test]
    fn many_in_flight_over_a_lossy_transport_still_carries_out_each_message_once(
        max_in_flight in 2u8..6,
        steps in proptest::collection::vec(step(true), 0..200),
    ) {
        let mut world = World::new(max_in_flight);
        for s in steps {
            world.run(s);
        }
        world.settle();
        let mut sorted = world.carried_out.clone();
        sorted.sort_unstable();
        prop_assert_eq!(&sorted, &world.produced);
    }
}

#[test]
fn a_full_queue_refuses_the_next_message_and_counts_it() {
    let mut queue = OutboundQueue::<2>::new(DeliveryConfig::default());
    queue.push(message(1)).unwrap();
    queue.push(message(2)).unwrap();
    assert_eq!(
        queue.push(message(3)),
        Err(OutboxError::Full { capacity: 2 })
    );
    assert_eq!(queue.stats().refused, 1);
    assert_eq!(queue.len(), 2);
    let now = Instant::from_secs(1);
    assert_eq!(queue.poll_transmit(now).unwrap().id, MessageId(1));
    assert!(queue.handle_ack(MessageId(1), now));
    assert!(
        !queue.handle_ack(MessageId(1), now),
        "a second ack finds nothing"
    );
    queue.push(message(3)).unwrap();
    assert_eq!(queue.poll_transmit(now).unwrap().id, MessageId(2));
}

#[test]
fn an_overdue_acknowledgement_sends_everything_unacknowledged_again_in_order() {
    let mut queue = OutboundQueue::<8>::new(DeliveryConfig {
        max_in_flight: 3,
        retry_after: Duration::from_secs(5),
    });
    for id in 1..=4 {
        queue.push(message(id)).unwrap();
    }
    let t0 = Instant::from_secs(100);
    let first: Vec<u64> = std::iter::from_fn(|| queue.poll_transmit(t0))
        .map(|m| m.id.0)
        .collect();
    assert_eq!(first, [1, 2, 3]);
    assert!(queue.handle_ack(MessageId(2), t0));
    assert_eq!(queue.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    queue.handle_timeout(t0 + Duration::from_secs(4));
    assert!(queue.poll_transmit(t0).unwrap().id == MessageId(4));
    queue.handle_timeout(t0 + Duration::from_secs(5));
    let again: Vec<u64> = std::iter::from_fn(|| queue.poll_transmit(t0))
        .map(|m| m.id.0)
        .collect();
    assert_eq!(again, [1, 3, 4], "2 was acknowledged and is not sent again");
    assert_eq!(queue.stats().retransmissions, 3);
}

#[test]
fn an_acknowledgement_of_a_message_not_yet_sent_or_unknown_forgets_nothing() {
    // Someone on the broker reads the gateway's ids off the `up` topic and
    // acknowledges ahead, hoping to have the queued messages deleted unsent.
    let mut queue = OutboundQueue::<8>::new(DeliveryConfig::default());
    for id in 1..=4 {
        queue.push(message(id)).unwrap();
    }
    let now = Instant::from_secs(1);
    assert_eq!(queue.poll_transmit(now).unwrap().id, MessageId(1));
    for early in [2, 3, 4, 99, u64::MAX] {
        assert!(!queue.handle_ack(MessageId(early), now), "ack of {early}");
    }
    assert_eq!(queue.len(), 4, "nothing forgotten");
    assert_eq!(queue.stats().ignored_acks, 5);
    // The genuine acknowledgement of the message in flight counts, and the
    // rest go out in order.
    assert!(queue.handle_ack(MessageId(1), now));
    let rest: Vec<u64> = std::iter::from_fn(|| {
        let m = queue.poll_transmit(now)?;
        assert!(queue.handle_ack(m.id, now));
        Some(m.id.0)
    })
    .collect();
    assert_eq!(rest, [2, 3, 4]);
}
