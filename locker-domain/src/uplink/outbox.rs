//! The gateway's outbound queue: upward messages wait here until the
//! backend acknowledges them.

use heapless::Deque;
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{MessageId, UpEnvelope};

/// How the outbound queue sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Messages sent but not yet acknowledged at any time. `1` (the
    /// default) keeps the backend's order strict over any transport, even
    /// one that loses a message and delivers the next; more is faster over
    /// a long round trip, and still in order over a transport that keeps
    /// order (MQTT on one topic), with the receiver's de-duplication
    /// catching what is resent.
    pub max_in_flight: u8,
    /// After this long without an acknowledgement, everything not yet
    /// acknowledged is sent again, oldest first.
    pub retry_after: Duration,
}

impl Default for DeliveryConfig {
    /// One message in flight, resent after 10 s.
    fn default() -> Self {
        DeliveryConfig {
            max_in_flight: 1,
            retry_after: Duration::from_secs(10),
        }
    }
}

/// Why a message was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The queue holds its capacity of unacknowledged messages; the message
    /// was not queued (and is counted in [`QueueStats::refused`]).
    #[error(
        "the outbound queue is full ({capacity} messages wait for the backend): \
         check the link, or give the queue more room"
    )]
    Full {
        /// The queue's capacity.
        capacity: usize,
    },
}

/// What the queue has done since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages queued.
    pub queued: u64,
    /// Transmissions, first ones and repeats.
    pub transmissions: u64,
    /// Repeated transmissions (after a timeout or a lost link).
    pub retransmissions: u64,
    /// Messages acknowledged and forgotten.
    pub acknowledged: u64,
    /// Messages refused because the queue was full.
    pub refused: u64,
    /// Acknowledgements that named no message in flight, and forgot nothing.
    pub ignored_acks: u64,
}

/// A message waiting in a queue, with what delivery knows of it.
#[derive(Clone, Debug)]
pub struct Queued {
    message: UpEnvelope,
    /// Handed out by `poll_transmit` since its delivery was created.
    transmitted: bool,
}

impl Queued {
    /// A message not yet sent.
    pub fn new(message: UpEnvelope) -> Self {
        Queued {
            message,
            transmitted: false,
        }
    }

    /// The message.
    pub fn message(&self) -> &UpEnvelope {
        &self.message
    }
}

/// Where a [`Delivery`] keeps its messages, oldest first: a fixed
/// `heapless::Deque` on `no_std` ([`OutboundQueue`]), a growable
/// `VecDeque` with feature `std` (a gateway's disk-backed queue keeps its
/// index in one).
pub trait Backlog {
    /// Appends `entry`; `false` if there is no room (`entry` is dropped).
    fn push_back(&mut self, entry: Queued) -> bool;
    /// Removes the oldest entry.
    fn pop_front(&mut self) -> Option<Queued>;
    /// Entries held.
    fn len(&self) -> usize;
    /// Whether no entry is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The entries, oldest first.
    fn iter(&self) -> impl DoubleEndedIterator<Item = &Queued>;
    /// The entries, oldest first, to update.
    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Queued>;
    /// Removes the entry at `index` (0 is the oldest), keeping the others
    /// in order; `None` if there is no such entry.
    ///
    /// The provided version turns the whole backlog round once with
    /// [`pop_front`](Self::pop_front) and [`push_back`](Self::push_back)
    /// (each entry put back where one was just taken, so there is always
    /// room); a store that can remove in place should do so.
    fn remove(&mut self, index: usize) -> Option<Queued> {
        let len = self.len();
        if index >= len {
            return None;
        }
        let mut removed = None;
        for i in 0..len {
            let entry = self.pop_front()?;
            if i == index {
                removed = Some(entry);
            } else {
                // A slot was just freed, so this always fits.
                let _ = self.push_back(entry);
            }
        }
        removed
    }
}

impl<const CAP: usize> Backlog for Deque<Queued, CAP> {
    fn push_back(&mut self, entry: Queued) -> bool {
        Deque::push_back(self, entry).is_ok()
    }
    fn pop_front(&mut self) -> Option<Queued> {
        Deque::pop_front(self)
    }
    fn len(&self) -> usize {
        Deque::len(self)
    }
    fn iter(&self) -> impl DoubleEndedIterator<Item = &Queued> {
        Deque::iter(self)
    }
    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Queued> {
        Deque::iter_mut(self)
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl Backlog for std::collections::VecDeque<Queued> {
    fn push_back(&mut self, entry: Queued) -> bool {
        std::collections::VecDeque::push_back(self, entry);
        true
    }
    fn pop_front(&mut self) -> Option<Queued> {
        std::collections::VecDeque::pop_front(self)
    }
    fn len(&self) -> usize {
        std::collections::VecDeque::len(self)
    }
    fn iter(&self) -> impl DoubleEndedIterator<Item = &Queued> {
        std::collections::VecDeque::iter(self)
    }
    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Queued> {
        std::collections::VecDeque::iter_mut(self)
    }
    fn remove(&mut self, index: usize) -> Option<Queued> {
        std::collections::VecDeque::remove(self, index)
    }
}

/// At-least-once, in-order delivery of upward messages held in a
/// [`Backlog`]: the one delivery state machine behind [`OutboundQueue`] and
/// any other store a gateway keeps its messages in.
///
/// [`poll_transmit`](Self::poll_transmit) hands out messages oldest first,
/// at most [`DeliveryConfig::max_in_flight`] unacknowledged at a time; an
/// acknowledgement ([`handle_ack`](Self::handle_ack)) forgets a message at
/// once, wherever it stands in the backlog (an acknowledgement may overtake
/// an earlier one, or the earlier message may be lost), so the backlog
/// holds exactly the messages not yet acknowledged; a
/// timeout ([`handle_timeout`](Self::handle_timeout)) or a lost link
/// ([`link_down`](Self::link_down)) sends everything unacknowledged again,
/// oldest first. A full backlog refuses a new message with
/// [`OutboxError::Full`] and counts it: nothing is dropped silently.
#[derive(Clone, Debug)]
pub struct Delivery<B> {
    entries: B,
    config: DeliveryConfig,
    /// Entries `..sent` were transmitted since the last rewind and are
    /// in flight (an acknowledged entry leaves the backlog at once).
    sent: usize,
    retry_at: Option<Instant>,
    stats: QueueStats,
}

/// Upward messages waiting for the backend's acknowledgement, at most `CAP`:
/// a [`Delivery`] over a fixed `heapless::Deque`.
///
/// Delivery is at least once and in order: [`poll_transmit`](Self::poll_transmit)
/// hands out messages oldest first, at most
/// [`DeliveryConfig::max_in_flight`] unacknowledged at a time; an
/// acknowledgement ([`handle_ack`](Self::handle_ack)) forgets a message;
/// a timeout ([`handle_timeout`](Self::handle_timeout)) or a lost link
/// ([`link_down`](Self::link_down)) sends everything unacknowledged again,
/// oldest first. A full queue refuses a new message with
/// [`OutboxError::Full`] and counts it: nothing is dropped silently. Check
/// [`free`](Self::free) before taking a message out of the
/// [`Uplink`](super::Uplink).
///
/// ```
/// use locker_domain::uplink::{DeliveryConfig, OutboundQueue};
/// use locker_proto::time::Instant;
/// use locker_proto::uplink::{Envelope, Heartbeat, MessageId, Stamp, Upward};
///
/// let mut queue = OutboundQueue::<8>::new(DeliveryConfig::default());
/// let beat = |n| Envelope::new(MessageId(n), Upward::Heartbeat(Heartbeat { at: Stamp::default(), backlog: 0 }));
/// queue.push(beat(1))?;
/// queue.push(beat(2))?;
/// let now = Instant::from_secs(1);
/// assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(1)));
/// assert!(queue.poll_transmit(now).is_none()); // one in flight at a time
/// queue.link_down(); // the broker went away: message 1 goes again
/// assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(1)));
/// assert!(!queue.handle_ack(MessageId(2), now)); // not sent yet: not acknowledged
/// assert!(queue.handle_ack(MessageId(1), now));
/// assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(2)));
/// # Ok::<(), locker_domain::uplink::OutboxError>(())
/// ```
pub type OutboundQueue<const CAP: usize> = Delivery<Deque<Queued, CAP>>;

impl<const CAP: usize> Delivery<Deque<Queued, CAP>> {
    /// An empty queue.
    pub const fn new(config: DeliveryConfig) -> Self {
        Delivery {
            entries: Deque::new(),
            config,
            sent: 0,
            retry_at: None,
            stats: QueueStats {
                queued: 0,
                transmissions: 0,
                retransmissions: 0,
                acknowledged: 0,
                refused: 0,
                ignored_acks: 0,
            },
        }
    }

    /// Room for this many more messages.
    pub fn free(&self) -> usize {
        CAP - self.entries.len()
    }
}

impl<B: Backlog> Delivery<B> {
    /// Delivery of the messages already in `entries` (say, reloaded from
    /// disk after a restart), none of them sent yet, and of those pushed
    /// later.
    pub fn with_backlog(entries: B, config: DeliveryConfig) -> Self {
        Delivery {
            entries,
            config,
            sent: 0,
            retry_at: None,
            stats: QueueStats::default(),
        }
    }

    /// The messages held, with their delivery state.
    pub fn backlog(&self) -> &B {
        &self.entries
    }

    /// Appends a message.
    ///
    /// # Errors
    /// [`OutboxError::Full`]; the message is not queued and the refusal counted.
    pub fn push(&mut self, message: UpEnvelope) -> Result<(), OutboxError> {
        if self.entries.push_back(Queued::new(message)) {
            self.stats.queued += 1;
            Ok(())
        } else {
            self.stats.refused += 1;
            Err(OutboxError::Full {
                capacity: self.entries.len(),
            })
        }
    }

    /// Messages not yet acknowledged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether every message was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// The messages not yet acknowledged, oldest first: persist them to
    /// keep them across a restart, and [`push`](Self::push) them back.
    pub fn pending(&self) -> impl Iterator<Item = &UpEnvelope> + '_ {
        self.entries.iter().map(|e| &e.message)
    }

    fn in_flight(&self) -> usize {
        self.sent.min(self.entries.len())
    }

    /// The next message to send, if the in-flight limit allows one.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<UpEnvelope> {
        if self.in_flight() >= usize::from(self.config.max_in_flight.max(1)) {
            return None;
        }
        let entry = self.entries.iter_mut().nth(self.sent)?;
        self.sent += 1;
        if entry.transmitted {
            self.stats.retransmissions += 1;
        }
        entry.transmitted = true;
        let message = entry.message.clone();
        self.stats.transmissions += 1;
        if self.retry_at.is_none() {
            self.retry_at = Some(now + self.config.retry_after);
        }
        Some(message)
    }

    /// The backend acknowledged `id`. Returns whether it was in flight:
    /// handed out by [`poll_transmit`](Self::poll_transmit) (since this
    /// delivery was created) and not yet acknowledged. An acknowledgement
    /// of a message never sent, or of an id the queue does not hold,
    /// forgets nothing: the backend cannot have seen such a message, so
    /// the acknowledgement is a mistake or a forgery, and dropping the
    /// message would lose it.
    ///
    /// The message leaves the queue at once, even if an earlier one is
    /// still unacknowledged (its acknowledgement overtaken or lost): its
    /// room is free for the next [`push`](Self::push), and the messages
    /// left keep their order.
    pub fn handle_ack(&mut self, id: MessageId, now: Instant) -> bool {
        let Some(index) = self
            .entries
            .iter()
            .position(|e| e.message.id == id && e.transmitted)
        else {
            self.stats.ignored_acks += 1;
            return false;
        };
        if self.entries.remove(index).is_none() {
            // The entry was just found there; nothing was forgotten.
            self.stats.ignored_acks += 1;
            return false;
        }
        if index < self.sent {
            self.sent -= 1;
        }
        self.stats.acknowledged += 1;
        // The clock restarts for whatever is still in flight.
        self.retry_at = (self.in_flight() > 0).then(|| now + self.config.retry_after);
        true
    }

    /// Sends everything unacknowledged again if the acknowledgement is
    /// overdue. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.retry_at.is_some_and(|at| at <= now) {
            self.link_down();
        }
    }

    /// The link is gone (or came back after being gone): everything
    /// unacknowledged goes again, oldest first.
    pub fn link_down(&mut self) {
        self.sent = 0;
        self.retry_at = None;
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retry_at
    }
}
