//! The link layer on a lossy bus: a gateway master and one node, with frames
//! really encoded (and signed), carried, decoded (and verified), and
//! simulated time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use locker_proto::auth::NodeAuthRecord;
use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
use locker_proto::link::{Master, MasterConfig, MasterEvent, NodeLink, Outgoing};
use locker_proto::{
    Channel, Command, Duration, Event, EventRecord, EventSeq, HeldEvents, Instant, NodeAddr,
    NodeKey, Report, ResetReason,
};
use proptest::prelude::*;

const NODE: NodeAddr = NodeAddr(7);
const KEY: NodeKey = NodeKey::from_bytes([0x3c; 32]);

/// Carries one frame across the wire: encode (and sign), then decode from the
/// bytes and hand frame and trailer to `receive`.
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

/// A gateway, a node, and a bus that may lose frames.
struct Bank {
    master: Master<4>,
    node: NodeLink<8>,
    now: Instant,
    pulses: u32,
    responses: Vec<(Command, Report)>,
    events: Vec<EventRecord>,
    other: Vec<MasterEvent>,
    node_alive: bool,
    /// The node's stored authentication record.
    node_flash: NodeAuthRecord,
}

impl Bank {
    fn new() -> Self {
        let mut master = Master::new(MasterConfig::default());
        master.add_node(NODE, Instant::ZERO).unwrap();
        master.set_key(NODE, KEY, 0).unwrap();
        let node_flash = NodeAuthRecord {
            key: Some(KEY),
            rx_floor: 0,
        };
        let mut node = NodeLink::new(NODE, ResetReason::PowerOn);
        node.restore_auth(node_flash);
        Bank {
            master,
            node,
            node_flash,
            now: Instant::ZERO,
            pulses: 0,
            responses: Vec::new(),
            events: Vec::new(),
            other: Vec::new(),
            node_alive: true,
        }
    }

    /// The node restarts: RAM is gone, the stored record comes back.
    fn restart_node(&mut self, reason: ResetReason) {
        self.node = NodeLink::new(NODE, reason);
        self.node.restore_auth(self.node_flash);
    }

    /// A bank whose gateway has the node's start event and one closed door.
    fn with_two_events_delivered() -> Self {
        let mut bank = Bank::new();
        bank.node
            .push_event(Event::DoorClosed {
                channel: Channel(1),
            })
            .unwrap();
        bank.run(10, &mut |_| false, &mut |_| false);
        assert_eq!(bank.events.len(), 2);
        bank
    }

    /// A warm reset (watchdog, reset pin): RAM is gone but for the record
    /// of what the queue held, kept where the reset does not clear it.
    fn warm_reset_node(&mut self, reason: ResetReason) {
        let held = self.node.held();
        self.node = NodeLink::after_reset(NODE, reason, Some(held));
        self.node.restore_auth(self.node_flash);
    }

    /// Doors `0..n` close, one event each, into the node's queue: how many
    /// of those events the full queue dropped.
    fn close_doors(&mut self, n: u8) -> usize {
        (0..n)
            .filter(|&i| {
                self.node
                    .push_event(Event::DoorClosed {
                        channel: Channel(i),
                    })
                    .is_err()
            })
            .count()
    }

    /// How many events the master reported lost.
    fn lost(&self) -> u16 {
        self.other
            .iter()
            .map(|e| match e {
                MasterEvent::EventsDropped { count, .. } => *count,
                _ => 0,
            })
            .sum()
    }

    /// Both ends store what they are asked to, at once.
    fn persist(&mut self) {
        while let Some((node, up_to)) = self.master.poll_persist() {
            self.master.persisted(node, up_to);
        }
        while let Some(record) = self.node.poll_persist() {
            self.node_flash = record;
            self.node.persisted(&record);
        }
    }

    /// One bus exchange: the master transmits if it wants to, the node
    /// answers. `lose_request` / `lose_response` decide each frame's fate.
    fn exchange(
        &mut self,
        lose_request: &mut dyn FnMut(&Command) -> bool,
        lose_response: &mut dyn FnMut(&Report) -> bool,
    ) {
        self.persist();
        self.master.handle_timeout(self.now);
        if let Some(request) = self.master.poll_outgoing(self.now) {
            if self.node_alive && !lose_request(&request.frame.body) {
                let now = self.now;
                let node = &mut self.node;
                let command = carry(&request, |frame, auth| {
                    node.handle_received(frame, auth, now)
                });
                if let Some(command) = command {
                    let report = match command {
                        Command::Unlock { .. } => {
                            self.pulses += 1;
                            Report::Ack
                        }
                        _ => Report::Ack,
                    };
                    self.node.respond(report);
                }
                self.persist();
                if let Some(response) = self.node.poll_outgoing() {
                    if !lose_response(&response.frame.body) {
                        let master = &mut self.master;
                        carry(&response, |frame, auth| {
                            master.handle_received(frame, auth, now)
                        });
                    }
                }
            }
        }
        while let Some(event) = self.master.poll_event() {
            match event {
                MasterEvent::Response {
                    command, report, ..
                } => self.responses.push((command, report)),
                MasterEvent::Event { record, .. } => self.events.push(record),
                other => self.other.push(other),
            }
        }
        let next = self
            .master
            .poll_timeout()
            .unwrap_or(self.now + Duration::from_millis(10));
        self.now = next.max(self.now + Duration::from_millis(1));
    }

    fn run(
        &mut self,
        steps: usize,
        lose_request: &mut dyn FnMut(&Command) -> bool,
        lose_response: &mut dyn FnMut(&Report) -> bool,
    ) {
        for _ in 0..steps {
            self.exchange(lose_request, lose_response);
        }
    }
}

#[test]
fn unlock_answer_lost_on_the_bus_is_retransmitted_without_pulsing_the_lock_again() {
    let mut bank = Bank::new();
    bank.run(5, &mut |_| false, &mut |_| false); // settle: start event delivered
    bank.master
        .send(
            NODE,
            Command::Unlock {
                channel: Channel(2),
                pulse_ms: 300,
            },
            bank.now,
        )
        .unwrap();
    let mut lost_acks = 0;
    bank.run(10, &mut |_| false, &mut |r| {
        // The node's first two answers to the unlock are corrupted on the wire.
        if *r == Report::Ack && lost_acks < 2 {
            lost_acks += 1;
            true
        } else {
            false
        }
    });
    assert_eq!(bank.pulses, 1, "the lock was pulsed exactly once");
    assert_eq!(
        bank.responses,
        vec![(
            Command::Unlock {
                channel: Channel(2),
                pulse_ms: 300
            },
            Report::Ack
        )]
    );
    assert!(bank.master.stats().retransmissions >= 2);
}

#[test]
fn lost_acknowledgements_still_deliver_every_event_exactly_once() {
    let mut bank = Bank::new();
    let mut pushed = vec![Event::NodeStarted {
        reset_reason: ResetReason::PowerOn,
        held: None,
    }];
    let mut ack_requests = 0u32;
    let mut ack_answers = 0u32;
    for i in 0..20u8 {
        let event = Event::DoorOpened {
            channel: Channel(i % 4),
            commanded: i % 2 == 0,
        };
        bank.node.push_event(event).unwrap();
        pushed.push(event);
        // Every acknowledgement's answer is lost twice, and every other
        // acknowledgement never reaches the node at all on its first try.
        bank.run(
            6,
            &mut |c| {
                matches!(c, Command::AckEvents { .. }) && i % 2 == 0 && bank_flip(&mut ack_requests)
            },
            &mut |r| *r == Report::Ack && bank_flip(&mut ack_answers),
        );
    }
    bank.run(40, &mut |_| false, &mut |_| false);
    let got: Vec<Event> = bank.events.iter().map(|r| r.event).collect();
    assert_eq!(got, pushed);
    assert_eq!(bank.node.queued_events(), 0);
}

fn bank_flip(counter: &mut u32) -> bool {
    *counter += 1;
    *counter % 2 == 1
}

#[test]
fn a_node_that_stops_answering_is_declared_lost_and_welcomed_back() {
    let mut bank = Bank::new();
    bank.run(5, &mut |_| false, &mut |_| false);
    bank.node_alive = false;
    bank.run(30, &mut |_| false, &mut |_| false);
    assert!(bank.other.contains(&MasterEvent::NodeLost { node: NODE }));
    assert!(bank.master.is_lost(NODE));
    bank.node_alive = true;
    bank.run(10, &mut |_| false, &mut |_| false);
    assert!(bank.other.contains(&MasterEvent::NodeBack { node: NODE }));
    assert!(!bank.master.is_lost(NODE));
    let stats = bank.master.stats();
    assert_eq!((stats.nodes_lost, stats.nodes_recovered), (1, 1));
}

#[test]
fn a_node_restart_is_announced_even_after_its_first_start_was_acknowledged() {
    let mut bank = Bank::with_two_events_delivered();
    // Watchdog reset: the node comes back with an empty queue and sequence 0.
    bank.restart_node(ResetReason::Watchdog);
    bank.run(10, &mut |_| false, &mut |_| false);
    assert_eq!(bank.events.len(), 3);
    assert_eq!(
        bank.events[2].event,
        Event::NodeStarted {
            reset_reason: ResetReason::Watchdog,
            held: None,
        }
    );
}

#[test]
fn a_watchdog_reset_tells_the_gateway_exactly_how_many_events_it_never_received() {
    // The start event and a closed door reach the gateway.
    let mut bank = Bank::with_two_events_delivered();
    // A door is forced and shut again; the node hangs before any poll and
    // its watchdog bites.
    for event in [
        Event::DoorOpened {
            channel: Channel(2),
            commanded: false,
        },
        Event::DoorClosed {
            channel: Channel(2),
        },
    ] {
        bank.node.push_event(event).unwrap();
    }
    bank.warm_reset_node(ResetReason::Watchdog);
    bank.run(10, &mut |_| false, &mut |_| false);
    // The gateway hears the restart with the record, and that two events
    // are gone: it alerts and scans the node (the gateway's part).
    assert_eq!(
        bank.events[2].event,
        Event::NodeStarted {
            reset_reason: ResetReason::Watchdog,
            held: Some(HeldEvents {
                first: EventSeq(2),
                next: EventSeq(4),
                dropped: 0,
            }),
        }
    );
    assert_eq!(bank.lost(), 2);
}

#[test]
fn a_warm_reset_after_every_event_was_delivered_reports_nothing_lost() {
    let mut bank = Bank::new();
    bank.node
        .push_event(Event::DoorClosed {
            channel: Channel(1),
        })
        .unwrap();
    // The gateway receives the events, but every acknowledgement is lost:
    // the node still holds them when it resets.
    bank.run(
        10,
        &mut |c| matches!(c, Command::AckEvents { .. }),
        &mut |_| false,
    );
    assert_eq!(bank.events.len(), 2);
    assert_eq!(bank.node.queued_events(), 2);
    bank.warm_reset_node(ResetReason::ResetPin);
    bank.run(10, &mut |_| false, &mut |_| false);
    assert_eq!(bank.events.len(), 3, "the restart is delivered");
    assert_eq!(bank.lost(), 0, "nothing was lost: the gateway had both");
}

#[test]
fn events_dropped_before_a_warm_reset_and_never_reported_are_counted_once() {
    let mut bank = Bank::new();
    bank.run(10, &mut |_| false, &mut |_| false);
    // The queue fills and overflows with nobody polling (the node is cut
    // off from the bus), then the node resets.
    bank.node_alive = false;
    assert_eq!(bank.close_doors(10), 2, "dropped");
    bank.warm_reset_node(ResetReason::Watchdog);
    bank.node_alive = true;
    bank.run(40, &mut |_| false, &mut |_| false);
    // Eight events held and two dropped: all ten lost, reported once.
    assert_eq!(bank.lost(), 10);
}

#[test]
fn an_overflowing_event_queue_is_reported_never_silent() {
    let mut bank = Bank::new();
    assert_eq!(
        bank.close_doors(12),
        5,
        "dropped: 8 slots, one taken by the start event"
    );
    bank.run(20, &mut |_| false, &mut |_| false);
    assert_eq!(bank.events.len(), 8);
    assert!(bank.other.contains(&MasterEvent::EventsDropped {
        node: NODE,
        count: 5
    }));
}

#[test]
fn a_second_command_while_one_is_outstanding_is_refused_not_queued_silently() {
    let mut bank = Bank::new();
    bank.master.send(NODE, Command::PING, bank.now).unwrap();
    assert_eq!(
        bank.master.send(NODE, Command::GetAllStatus, bank.now),
        Err(locker_proto::link::LinkError::Busy(NODE))
    );
    assert_eq!(
        bank.master.send(NodeAddr(99), Command::PING, bank.now),
        Err(locker_proto::link::LinkError::UnknownNode(NodeAddr(99)))
    );
}

/// A tiny deterministic PRNG for loss patterns.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the loss pattern, every event arrives exactly once and in
    /// order, and every unlock pulses the lock at most once per command.
    #[test]
    fn any_loss_pattern_loses_no_event_and_repeats_no_unlock(seed in 1u64.., loss_percent in 0u64..40) {
        let mut bank = Bank::new();
        let mut rng = seed;
        let mut pushed = vec![Event::NodeStarted { reset_reason: ResetReason::PowerOn, held: None }];
        let mut unlocks_sent = 0u32;
        for i in 0..30u8 {
            if i % 5 == 0 && !bank.master.is_busy(NODE) {
                bank.master.send(NODE, Command::Unlock { channel: Channel(i % 8), pulse_ms: 200 }, bank.now).unwrap();
                unlocks_sent += 1;
            }
            if bank.node.queued_events() < 7 {
                let event = Event::DoorClosed { channel: Channel(i) };
                bank.node.push_event(event).unwrap();
                pushed.push(event);
            }
            let mut r1 = xorshift(&mut rng);
            let mut r2 = xorshift(&mut rng);
            bank.run(
                4,
                &mut |_| { r1 = r1.rotate_left(7); r1 % 100 < loss_percent },
                &mut |_| { r2 = r2.rotate_left(11); r2 % 100 < loss_percent },
            );
        }
        // A quiet bus afterwards lets everything drain.
        bank.run(400, &mut |_| false, &mut |_| false);
        let got: Vec<Event> = bank.events.iter().map(|r| r.event).collect();
        prop_assert_eq!(got, pushed);
        prop_assert!(bank.pulses <= unlocks_sent);
        let answered = bank.responses.len() as u32;
        let failed = bank.other.iter().filter(|e| matches!(e, MasterEvent::RequestFailed { .. })).count() as u32;
        prop_assert_eq!(answered + failed, unlocks_sent);
        prop_assert!(answered <= bank.pulses);
    }
}
