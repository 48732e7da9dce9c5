//! A backend behind MQTT that acknowledges out of order: the gateway sends
//! two messages at a time, the backend's workers answer the second before
//! the first. An acknowledged message leaves the outbound queue at once,
//! so the gateway never refuses a message while it has room for it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;

use locker_domain::uplink::{Delivery, DeliveryConfig, OutboundQueue, OutboxError, Queued};
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{Envelope, Heartbeat, MessageId, Stamp, UpEnvelope, Upward};

/// Two in flight over one MQTT topic, which keeps order on the way up.
const MQTT: DeliveryConfig = DeliveryConfig {
    max_in_flight: 2,
    retry_after: Duration::from_secs(10),
};

fn beat(id: u64) -> UpEnvelope {
    Envelope::new(
        MessageId(id),
        Upward::Heartbeat(Heartbeat {
            at: Stamp::default(),
            backlog: 0,
        }),
    )
}

fn ids<'a>(messages: impl Iterator<Item = &'a UpEnvelope>) -> Vec<u64> {
    messages.map(|m| m.id.0).collect()
}

#[test]
fn an_acknowledgement_that_overtakes_an_earlier_one_frees_its_room() {
    let mut queue = OutboundQueue::<8>::new(MQTT);
    let now = Instant::from_secs(100);
    // A busy morning: eight messages wait for the backend.
    for id in 1..=8 {
        queue.push(beat(id)).unwrap();
    }
    assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(1)));
    assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(2)));
    assert!(queue.poll_transmit(now).is_none(), "two in flight at most");

    // The backend's second worker is quicker: 2 is acknowledged, 1 not yet.
    assert!(queue.handle_ack(MessageId(2), now));
    assert_eq!(queue.len(), 7, "seven messages await an acknowledgement");
    assert_eq!(queue.free(), 1);
    assert_eq!(ids(queue.pending()), [1, 3, 4, 5, 6, 7, 8]);

    // A parcel is deposited meanwhile: its event has room and is queued.
    queue.push(beat(9)).expect("room for a ninth message");
    assert_eq!(queue.len(), 8);
    // Now the queue is full for real: eight messages await the backend.
    assert_eq!(queue.push(beat(10)), Err(OutboxError::Full { capacity: 8 }));
    assert_eq!(queue.stats().refused, 1);

    // Only 1 is in flight now, so the next oldest goes out, in order.
    assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(3)));
    assert!(queue.poll_transmit(now).is_none());

    // A late copy of the acknowledgement of 2 forgets nothing more.
    assert!(!queue.handle_ack(MessageId(2), now));
    assert_eq!(queue.len(), 8);
    // Nor does an acknowledgement of a message not yet sent.
    assert!(!queue.handle_ack(MessageId(5), now));
    assert_eq!(queue.len(), 8);
    assert_eq!(queue.stats().ignored_acks, 2);

    // 3 is acknowledged before 1, again.
    assert!(queue.handle_ack(MessageId(3), now));
    assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(4)));
    assert!(queue.poll_transmit(now).is_none());
    assert_eq!(ids(queue.pending()), [1, 4, 5, 6, 7, 8, 9]);
    queue.push(beat(10)).expect("room again");

    // The acknowledgement of 1 is lost: after the timeout everything not
    // yet acknowledged goes again, oldest first, two at a time.
    let later = now + Duration::from_secs(10);
    assert_eq!(queue.poll_timeout(), Some(later));
    queue.handle_timeout(later);
    assert_eq!(queue.poll_transmit(later).map(|m| m.id), Some(MessageId(1)));
    assert_eq!(queue.poll_transmit(later).map(|m| m.id), Some(MessageId(4)));
    assert!(queue.poll_transmit(later).is_none());

    // The backend drains the rest, acknowledging each pair backwards.
    let mut delivered = vec![1, 4];
    let mut in_flight = vec![1, 4];
    while !in_flight.is_empty() {
        for id in in_flight.iter().rev() {
            assert!(queue.handle_ack(MessageId(*id), later));
        }
        in_flight = std::iter::from_fn(|| queue.poll_transmit(later))
            .map(|m| m.id.0)
            .collect();
        assert!(in_flight.len() <= 2);
        delivered.extend(&in_flight);
    }
    assert_eq!(delivered, [1, 4, 5, 6, 7, 8, 9, 10]);
    assert!(queue.is_empty());
    assert_eq!(queue.free(), 8);
    assert_eq!(queue.poll_timeout(), None);
    assert_eq!(queue.stats().acknowledged, 10);
}

#[test]
fn a_growable_backlog_forgets_out_of_order_acknowledgements_too() {
    // A Linux gateway keeps its queue's index in a VecDeque.
    let entries: VecDeque<Queued> = (1..=4).map(|id| Queued::new(beat(id))).collect();
    let mut queue = Delivery::with_backlog(entries, MQTT);
    let now = Instant::from_secs(5);
    assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(1)));
    assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(2)));
    assert!(queue.handle_ack(MessageId(2), now));
    assert_eq!(queue.len(), 3);
    assert_eq!(ids(queue.pending()), [1, 3, 4]);
    assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(3)));
    assert!(queue.poll_transmit(now).is_none());
}

#[test]
fn the_queue_wraps_around_with_acknowledgements_out_of_order() {
    // Round after round, so the fixed queue's ring wraps: each round the
    // second message is acknowledged first.
    let mut queue = OutboundQueue::<5>::new(MQTT);
    let now = Instant::from_secs(1);
    let mut next = 1;
    for _ in 0..5 {
        queue.push(beat(next)).unwrap();
        next += 1;
    }
    for round in 0..20 {
        let a = queue.poll_transmit(now).unwrap().id;
        let b = queue.poll_transmit(now).unwrap().id;
        assert_eq!(b.0, a.0 + 1, "round {round}: in order");
        assert!(queue.handle_ack(b, now));
        queue.push(beat(next)).expect("room for one");
        next += 1;
        assert!(queue.handle_ack(a, now));
        queue.push(beat(next)).expect("room for another");
        next += 1;
        assert_eq!(queue.len(), 5);
        let held = ids(queue.pending());
        assert!(held.windows(2).all(|w| w[0] < w[1]), "order kept: {held:?}");
    }
}
