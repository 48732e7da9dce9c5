//! The uplink's delivery queue (`locker_domain::uplink::Delivery`, over the
//! fixed `OutboundQueue` and over a `VecDeque` backlog) and the receiver's
//! de-duplication window (`locker_proto::uplink::DedupWindow`), joined by a
//! link that loses, repeats and delays messages and acknowledgements as
//! the script says (keeping order when more than one message may be in
//! flight, as `DeliveryConfig` requires), with pushes, acknowledgements of
//! any id, timeouts, lost links, and restarts (the queue rebuilt from what it says is pending, the
//! window from its persisted bytes); and, on its own, the window fed
//! arbitrary ids against a reference model, and arbitrary bytes as a
//! persisted window.
//!
//! Invariants: no panic; a push is refused only when the queue is full, and
//! then counted; what the queue holds as pending is exactly what was queued
//! and not yet acknowledged, in order; a message is transmitted only while
//! pending; between rewinds no message goes out twice and they go out
//! oldest first, and after a rewind the first to go is the oldest pending;
//! no more are in flight than allowed; the queue never sits idle with
//! something to send and room in flight; an acknowledgement is taken iff
//! its id is pending; a retry deadline is set while anything is in flight;
//! once the link heals every queued message has been carried out by the
//! receiver exactly once (but for those the script acknowledged falsely). The window's verdicts match the model (`New` iff
//! never seen and within 128 of the highest, `Duplicate` iff seen, `TooOld`
//! below the window), `check` agrees with `accept`, the highest id never
//! goes backwards, and a window's postcard bytes restore the same window.
#![no_main]

use std::collections::{BTreeSet, VecDeque};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_domain::uplink::{
    Backlog, DedupWindow, Delivery, DeliveryConfig, OutboundQueue, OutboxError, Queued, Verdict,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{
    DEDUP_WINDOW, Envelope, Heartbeat, MessageId, Stamp, UpEnvelope, Upward,
};

const CAP: usize = 8;

#[derive(Arbitrary, Debug)]
enum Op {
    /// The gateway queues `n` messages.
    Push(u8),
    /// The queue sends what it may; each message reaches the receiver or not.
    Send {
        lost: u8,
    },
    /// A message the receiver had reaches it again (a late copy).
    Late(u8),
    /// The receiver's acknowledgements travel back, some lost.
    Acks {
        lost: u8,
    },
    /// An acknowledgement of any id.
    AckAny(u64),
    Wait(u16),
    LinkDown,
    /// The gateway restarts: queue rebuilt from its pending messages, the
    /// receiver restarts from its persisted window.
    Restart,
}

#[derive(Arbitrary, Debug)]
struct Script {
    max_in_flight: u8,
    retry_ms: u16,
    vec_backlog: bool,
    ops: Vec<Op>,
    /// Ids for the window alone.
    ids: Vec<u64>,
    /// Bytes presented as a persisted window.
    persisted: Vec<u8>,
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

/// Persists and restores a window as a receiver would.
fn reload(window: &DedupWindow) -> DedupWindow {
    let bytes = postcard::to_allocvec(window).expect("a window serialises");
    let back: DedupWindow = postcard::from_bytes(&bytes).expect("its bytes restore");
    assert_eq!(&back, window, "a window changed across persistence");
    back
}

struct Harness<B, F> {
    queue: Delivery<B>,
    make: F,
    cap: Option<usize>,
    config: DeliveryConfig,
    now: Instant,
    next_id: u64,
    /// Queued and not acknowledged, oldest first.
    pending: VecDeque<u64>,
    /// Sent since the last rewind, in order.
    sent_since_rewind: Vec<u64>,
    /// The receiver.
    window: DedupWindow,
    carried_out: BTreeSet<u64>,
    acks_to_send: Vec<u64>,
    /// Pending ids an `AckAny` took before the receiver had them: the queue
    /// forgets a message on any acknowledgement of its id (it must, for an
    /// acknowledgement that arrives after a restart), so these are lost by
    /// the backend's doing, not the queue's.
    false_acks: BTreeSet<u64>,
    /// With more than one message in flight the link must keep order (see
    /// `DeliveryConfig::max_in_flight`): once it loses one, it loses every
    /// later one until the queue rewinds.
    broken: bool,
}

impl<B: Backlog, F: Fn(Vec<UpEnvelope>, DeliveryConfig) -> Delivery<B>> Harness<B, F> {
    fn rewound(&mut self) {
        self.sent_since_rewind.clear();
        self.broken = false;
    }

    fn in_flight(&self) -> usize {
        self.sent_since_rewind
            .iter()
            .filter(|id| self.pending.contains(id))
            .count()
    }

    fn check_pending(&self) {
        let held: Vec<u64> = self.queue.pending().map(|m| m.id.0).collect();
        let want: Vec<u64> = self.pending.iter().copied().collect();
        assert_eq!(
            held, want,
            "the queue's pending messages are not what was queued"
        );
        if self.in_flight() > 0 {
            assert!(
                self.queue.poll_timeout().is_some(),
                "messages in flight without a retry deadline"
            );
        }
    }

    fn receive(&mut self, id: u64) {
        let before = self.window.highest();
        let checked = self.window.check(MessageId(id));
        let verdict = self.window.accept(MessageId(id));
        assert_eq!(checked, verdict, "check and accept disagree");
        assert!(
            self.window.highest() >= before,
            "the window's highest went back"
        );
        if verdict.is_new() {
            assert!(
                self.carried_out.insert(id),
                "message {id} carried out twice"
            );
        }
        self.acks_to_send.push(id);
    }

    fn send(&mut self, lost: u8) {
        let limit = usize::from(self.config.max_in_flight.max(1));
        for bit in 0..64 {
            let Some(m) = self.queue.poll_transmit(self.now) else {
                // Idle only with the window full or everything sent.
                let unsent = self
                    .pending
                    .iter()
                    .any(|id| !self.sent_since_rewind.contains(id));
                assert!(
                    self.in_flight() >= limit || !unsent,
                    "the queue holds back a message with room in flight"
                );
                break;
            };
            let id = m.id.0;
            assert!(
                self.pending.contains(&id),
                "message {id} sent but not pending"
            );
            assert!(
                !self.sent_since_rewind.contains(&id),
                "message {id} sent twice without a rewind"
            );
            let expected = self
                .pending
                .iter()
                .find(|p| !self.sent_since_rewind.contains(p))
                .copied();
            assert_eq!(Some(id), expected, "not the oldest unsent message");
            self.sent_since_rewind.push(id);
            assert!(self.in_flight() <= limit, "more in flight than allowed");
            let lost = lost & (1 << (bit % 8)) != 0;
            if lost && limit > 1 {
                self.broken = true;
            }
            if !lost && !self.broken {
                self.receive(id);
            }
        }
    }

    fn ack(&mut self, id: u64) {
        let was_pending = self.pending.contains(&id);
        let taken = self.queue.handle_ack(MessageId(id), self.now);
        assert_eq!(
            taken, was_pending,
            "ack of {id}: taken {taken}, pending {was_pending}"
        );
        if taken {
            self.pending.retain(|p| *p != id);
        }
    }

    fn push(&mut self) {
        let id = self.next_id;
        let full = self.cap.is_some_and(|cap| self.pending.len() >= cap);
        let refused_before = self.queue.stats().refused;
        match self.queue.push(message(id)) {
            Ok(()) => {
                assert!(!full, "a push taken beyond the capacity");
                self.pending.push_back(id);
                self.next_id += 1;
            }
            Err(OutboxError::Full { .. }) => {
                assert!(
                    full,
                    "a push refused with {} of {CAP} messages unacknowledged \
                     (OutboxError::Full: the queue holds its capacity of \
                     unacknowledged messages)",
                    self.pending.len()
                );
                assert_eq!(self.queue.stats().refused, refused_before + 1);
            }
            Err(e) => panic!("push: {e:?}"),
        }
    }

    fn run(&mut self, ops: Vec<Op>) {
        for op in ops.into_iter().take(200) {
            match op {
                Op::Push(n) => {
                    for _ in 0..(n % 4) + 1 {
                        self.push();
                    }
                }
                Op::Send { lost } => self.send(lost),
                Op::Late(i) => {
                    // A copy of a message the receiver already had.
                    if let Some(&id) = self
                        .carried_out
                        .iter()
                        .nth(usize::from(i) % self.carried_out.len().max(1))
                    {
                        self.receive(id);
                    }
                }
                Op::Acks { lost } => {
                    for (bit, id) in std::mem::take(&mut self.acks_to_send)
                        .into_iter()
                        .enumerate()
                    {
                        if lost & (1 << (bit % 8)) == 0 {
                            self.ack(id);
                        }
                    }
                }
                Op::AckAny(id) => {
                    if self.pending.contains(&id) && !self.carried_out.contains(&id) {
                        self.false_acks.insert(id);
                    }
                    self.ack(id);
                }
                Op::Wait(ms) => {
                    self.now += Duration::from_millis(u64::from(ms));
                    let due = self.queue.poll_timeout().is_some_and(|at| at <= self.now);
                    self.queue.handle_timeout(self.now);
                    if due {
                        self.rewound();
                    }
                }
                Op::LinkDown => {
                    self.queue.link_down();
                    self.rewound();
                }
                Op::Restart => {
                    let held: Vec<UpEnvelope> = self.queue.pending().cloned().collect();
                    self.queue = (self.make)(held, self.config);
                    self.rewound();
                    self.window = reload(&self.window);
                    self.acks_to_send.clear();
                }
            }
            self.check_pending();
        }
        // The link heals: everything queued is carried out exactly once.
        for _ in 0..4 * (self.pending.len() + 1) {
            self.queue.link_down();
            self.rewound();
            self.send(0);
            for id in std::mem::take(&mut self.acks_to_send) {
                self.ack(id);
            }
            if self.pending.is_empty() {
                break;
            }
        }
        assert!(self.queue.is_empty(), "messages left after the link healed");
        let all: BTreeSet<u64> = (1..self.next_id)
            .filter(|id| !self.false_acks.contains(id))
            .collect();
        assert_eq!(self.carried_out, all, "not every message carried out once");
    }
}

/// The window against a model: the highest id and every id seen.
fn window_alone(ids: &[u64]) {
    let mut window = DedupWindow::new();
    let mut seen = BTreeSet::new();
    let mut highest: Option<u64> = None;
    for &raw in ids.iter().take(256) {
        // Mostly near the highest, sometimes anywhere.
        let id = match highest {
            Some(h) if raw % 4 != 0 => h.saturating_add(raw % 300).saturating_sub(150),
            _ => raw,
        };
        let want = match highest {
            Some(h) if id <= h && h - id >= DEDUP_WINDOW => Verdict::TooOld,
            _ if seen.contains(&id) => Verdict::Duplicate,
            _ => Verdict::New,
        };
        assert_eq!(window.check(MessageId(id)), want, "check of {id}");
        assert_eq!(window.accept(MessageId(id)), want, "accept of {id}");
        if want.is_new() {
            seen.insert(id);
            highest = Some(highest.map_or(id, |h| h.max(id)));
        }
        assert_eq!(window.highest().map(|m| m.0), highest);
    }
    reload(&window);
}

fuzz_target!(|script: Script| {
    window_alone(&script.ids);
    if let Ok(window) = postcard::from_bytes::<DedupWindow>(&script.persisted) {
        // Any window restored from bytes keeps working.
        let mut window = reload(&window);
        for &id in script.ids.iter().take(16) {
            assert_eq!(window.check(MessageId(id)), window.accept(MessageId(id)));
        }
    }

    let config = DeliveryConfig {
        max_in_flight: script.max_in_flight % 10,
        retry_after: Duration::from_millis(u64::from(script.retry_ms)),
    };
    let base = Harness {
        queue: OutboundQueue::<CAP>::new(config),
        make: |held: Vec<UpEnvelope>, config| {
            let mut q = OutboundQueue::<CAP>::new(config);
            for m in held {
                q.push(m).expect("what was held fits again");
            }
            q
        },
        cap: Some(CAP),
        config,
        now: Instant::from_secs(1),
        next_id: 1,
        pending: VecDeque::new(),
        sent_since_rewind: Vec::new(),
        broken: false,
        false_acks: BTreeSet::new(),
        window: DedupWindow::new(),
        carried_out: BTreeSet::new(),
        acks_to_send: Vec::new(),
    };
    if script.vec_backlog {
        let make = |held: Vec<UpEnvelope>, config| {
            let entries: VecDeque<Queued> = held.into_iter().map(Queued::new).collect();
            Delivery::with_backlog(entries, config)
        };
        let mut h = Harness {
            queue: make(Vec::new(), config),
            make,
            cap: None,
            config,
            now: base.now,
            next_id: 1,
            pending: VecDeque::new(),
            sent_since_rewind: Vec::new(),
            broken: false,
            false_acks: BTreeSet::new(),
            window: DedupWindow::new(),
            carried_out: BTreeSet::new(),
            acks_to_send: Vec::new(),
        };
        h.run(script.ops);
    } else {
        let mut h = base;
        h.run(script.ops);
    }
});
