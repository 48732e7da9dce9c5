//! The node side of the link.

use heapless::Deque;

use super::outgoing::Outgoing;
#[cfg(feature = "auth")]
use super::outgoing::Seal;
#[cfg(feature = "auth")]
use crate::auth::{Direction, NodeAuthRecord, RxWindow, Verdict, query_binding};
use crate::frame::{Authenticated, Flags, Frame, Header, Seq};
#[cfg(feature = "auth")]
use crate::key::NodeKey;
use crate::message::{
    Command, Event, EventBatch, EventRecord, EventSeq, HeldEvents, MAX_EVENTS_PER_REPORT,
    NackReason, Report,
};
use crate::time::Instant;
use crate::vocab::{NodeAddr, ResetReason};

/// The event queue is full; the event was dropped and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[error("event queue full: event dropped ({dropped} dropped since boot)")]
pub struct QueueFull {
    /// Events dropped since boot, this one included (saturating).
    pub dropped: u16,
}

/// A command as the node received it: sequence number, body and, if its
/// tag was valid, the full counter it was signed with, or if it was a query
/// with a challenge, the binding its answer is tagged under.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Exchange {
    seq: Seq,
    command: Command,
    counter: Option<u64>,
    binding: Option<u64>,
}

impl Exchange {
    fn sign(&self) -> Sign {
        match (self.counter, self.binding) {
            (Some(counter), _) => Sign::Command(counter),
            (None, Some(binding)) => Sign::Query(binding),
            (None, None) => Sign::Plain,
        }
    }
}

/// How an answer is tagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "auth"), allow(dead_code))]
enum Sign {
    /// Not at all: an unkeyed node, or a query that came without a challenge.
    Plain,
    /// Under the signed command's counter ([`Direction::ToGateway`]).
    Command(u64),
    /// Under the query's binding ([`Direction::QueryAnswer`]).
    Query(u64),
}

/// An answered command, kept to answer its retransmissions.
#[derive(Clone, Debug)]
struct Answered {
    exchange: Exchange,
    report: Kept,
}

/// An answer kept for retransmissions: any report but an event batch. A
/// poll is answered afresh from the queue, never from a cache, so a cache
/// need not hold room for six events: it is a fifth of a [`Report`] (two of
/// them on every node's stack), and copied, not cloned.
#[derive(Clone, Copy, Debug)]
enum Kept {
    Pong {
        firmware: crate::vocab::FirmwareVersion,
        uptime_ms: u32,
        reset_reason: ResetReason,
        versions: crate::version::ProtocolVersions,
    },
    Status(crate::message::ChannelStatus),
    BulkStatus(crate::message::BulkStatus),
    Ack,
    Nack(NackReason),
    AuthFloor(crate::message::Floor),
}

impl Kept {
    /// `report` as kept; `None` for an event batch (or any report a later
    /// version adds), which is then not kept.
    fn of(report: &Report) -> Option<Kept> {
        Some(match *report {
            Report::Pong {
                firmware,
                uptime_ms,
                reset_reason,
                versions,
            } => Kept::Pong {
                firmware,
                uptime_ms,
                reset_reason,
                versions,
            },
            Report::Status(status) => Kept::Status(status),
            Report::BulkStatus(bulk) => Kept::BulkStatus(bulk),
            Report::Ack => Kept::Ack,
            Report::Nack(reason) => Kept::Nack(reason),
            Report::AuthFloor { floor } => Kept::AuthFloor(floor),
            _ => return None,
        })
    }

    fn report(self) -> Report {
        match self {
            Kept::Pong {
                firmware,
                uptime_ms,
                reset_reason,
                versions,
            } => Report::Pong {
                firmware,
                uptime_ms,
                reset_reason,
                versions,
            },
            Kept::Status(status) => Report::Status(status),
            Kept::BulkStatus(bulk) => Report::BulkStatus(bulk),
            Kept::Ack => Report::Ack,
            Kept::Nack(reason) => Report::Nack(reason),
            Kept::AuthFloor(floor) => Report::AuthFloor { floor },
        }
    }
}

/// Refusals not yet in the event queue (see [`Event::CommandsRefused`]),
/// counted apart for each reason: a flood of forged frames must not pass
/// off a rate-limit refusal (or a stale counter) as more of the same.
#[derive(Clone, Copy, Debug)]
struct Refusals {
    /// Per [`refusal_slot`]: refusals waiting, and the reason they were
    /// refused for (the latest, for a `Stale` floor).
    pending: [(u16, NackReason); REFUSAL_SLOTS],
    /// The slot flushed last: the next flush starts after it, so that no
    /// reason starves another.
    last: usize,
    total: u32,
}

/// Reasons a node counts apart: the four security refusals and any other.
const REFUSAL_SLOTS: usize = 5;

/// The slot of `reason` in [`Refusals::pending`].
fn refusal_slot(reason: NackReason) -> usize {
    match reason {
        NackReason::Unauthenticated => 0,
        NackReason::Stale { .. } => 1,
        NackReason::RateLimited => 2,
        NackReason::ProvisioningDisabled => 3,
        _ => 4,
    }
}

/// The node's authentication state.
#[cfg(feature = "auth")]
#[derive(Clone, Debug)]
struct NodeAuth {
    key: Option<NodeKey>,
    rx: RxWindow,
    provisioning: bool,
    /// The key changed and is not yet stored.
    key_unsaved: bool,
    /// A signed command was accepted since boot: a stale frame now is not
    /// the expected one-off after the floor jumped at restart.
    accepted_since_boot: bool,
}

/// The link layer of one compartment node.
///
/// `QUEUE` is the capacity of the unacknowledged event queue.
///
/// With feature `auth` (the default) the link is also the node's
/// gatekeeper: a command that [needs a tag](Command::needs_tag) reaches the
/// application only from a frame whose tag verifies with the node's key and
/// whose counter is fresh; anything else touching those commands is refused
/// with a typed [`Report::Nack`] and counted in an [`Event::CommandsRefused`]
/// security event. Feed frames with [`handle_received`](Self::handle_received)
/// and the decoder's [`last_authenticated`](crate::frame::Decoder::last_authenticated),
/// send what [`poll_outgoing`](Self::poll_outgoing) yields, and store what
/// [`poll_persist`](Self::poll_persist) asks for.
///
/// ```
/// use locker_proto::frame::{Flags, Frame, Header, Seq};
/// use locker_proto::link::NodeLink;
/// use locker_proto::{Command, Instant, NodeAddr, Report, ResetReason};
///
/// let mut link = NodeLink::<8>::new(NodeAddr(3), ResetReason::PowerOn);
/// let ping = Frame {
///     header: Header::new(NodeAddr::GATEWAY, NodeAddr(3), Seq(9), Flags::ACK_WANTED),
///     body: Command::PING,
/// };
/// let now = Instant::from_millis(0);
///
/// // First delivery: the application executes it and answers.
/// let command = link.handle_frame(&ping, now).unwrap();
/// assert_eq!(command, Command::PING);
/// link.respond(Report::Ack);
/// assert_eq!(link.poll_transmit().unwrap().body, Report::Ack);
///
/// // The answer was lost on the bus; the gateway retransmits with the same Seq.
/// assert_eq!(link.handle_frame(&ping, now), None); // not executed again
/// assert_eq!(link.poll_transmit().unwrap().body, Report::Ack); // answered from cache
/// ```
///
/// The unauthenticated unlock in the same place is refused (with `auth`):
///
/// ```
/// # #[cfg(feature = "auth")] { // without `auth` the link has nothing to refuse it with
/// # use locker_proto::frame::{Flags, Frame, Header, Seq};
/// # use locker_proto::link::NodeLink;
/// # use locker_proto::{Channel, Command, Instant, NackReason, NodeAddr, Report, ResetReason};
/// let mut link = NodeLink::<8>::new(NodeAddr(3), ResetReason::PowerOn);
/// let unlock = Frame {
///     header: Header::new(NodeAddr::GATEWAY, NodeAddr(3), Seq(9), Flags::ACK_WANTED),
///     body: Command::Unlock { channel: Channel(1), pulse_ms: 300 },
/// };
/// assert_eq!(link.handle_frame(&unlock, Instant::ZERO), None);
/// assert_eq!(link.poll_transmit().unwrap().body, Report::Nack(NackReason::Unauthenticated));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct NodeLink<const QUEUE: usize> {
    addr: NodeAddr,
    /// Handed to the application, no answer yet: a retransmission now is ignored.
    in_progress: Option<Exchange>,
    /// The last unsigned command answered.
    answered: Option<Answered>,
    /// The last signed command answered: kept apart so that no unsigned
    /// frame can evict it and turn a retransmitted unlock into a new one.
    #[cfg(feature = "auth")]
    answered_signed: Option<Answered>,
    queue: Deque<EventRecord, QUEUE>,
    next_seq: EventSeq,
    dropped: u16,
    refusals: Refusals,
    outgoing: Option<Outgoing<Report>>,
    #[cfg(feature = "auth")]
    auth: NodeAuth,
}

impl<const QUEUE: usize> NodeLink<QUEUE> {
    /// A node link for address `addr`, just started for `reset_reason`,
    /// with no record of what the previous life's queue held: as
    /// [`after_reset`](Self::after_reset) with `None`.
    #[inline]
    pub fn new(addr: NodeAddr, reset_reason: ResetReason) -> Self {
        Self::after_reset(addr, reset_reason, None)
    }

    /// A node link for address `addr`, just started for `reset_reason`;
    /// `held` is what the previous life's queue held when it reset (its
    /// last [`held`](Self::held), kept where the reset did not clear it),
    /// or `None` when no such record survived.
    ///
    /// The queue starts with [`Event::NodeStarted`] at sequence number 0,
    /// carrying `held`, so the gateway learns of every restart and exactly
    /// how many events it never received. With feature `auth` the link has
    /// no key and a floor of 0 until [`restore_auth`](Self::restore_auth).
    #[inline]
    pub fn after_reset(
        addr: NodeAddr,
        reset_reason: ResetReason,
        held: Option<HeldEvents>,
    ) -> Self {
        // The start event goes into the queue before the queue goes into
        // the link: one struct literal, which the compiler builds in the
        // caller's place, where pushing into a finished link would build
        // the link (1.6 KiB on a 16-event node) on the stack and copy it.
        let mut queue = Deque::new();
        let start = EventRecord {
            seq: EventSeq(0),
            event: Event::NodeStarted { reset_reason, held },
        };
        // With QUEUE == 0 the start event is counted as dropped, never lost silently.
        let (next_seq, dropped) = match queue.push_back(start) {
            Ok(()) => (EventSeq(0).next(), 0),
            Err(_) => (EventSeq(0), 1),
        };
        NodeLink {
            addr,
            in_progress: None,
            answered: None,
            #[cfg(feature = "auth")]
            answered_signed: None,
            queue,
            next_seq,
            dropped,
            refusals: Refusals {
                pending: [(0, NackReason::Unauthenticated); REFUSAL_SLOTS],
                last: REFUSAL_SLOTS - 1,
                total: 0,
            },
            outgoing: None,
            #[cfg(feature = "auth")]
            auth: NodeAuth {
                key: None,
                rx: RxWindow::resume(0),
                provisioning: false,
                key_unsaved: false,
                accepted_since_boot: false,
            },
        }
    }

    /// This node's bus address.
    pub fn addr(&self) -> NodeAddr {
        self.addr
    }

    /// Handles an unauthenticated frame received from the bus: as
    /// [`handle_received`](Self::handle_received) without a trailer.
    pub fn handle_frame(&mut self, frame: &Frame<Command>, now: Instant) -> Option<Command> {
        self.handle_received(frame, None, now)
    }

    /// Handles a frame received from the bus; pass the decoder's
    /// [`last_authenticated`](crate::frame::Decoder::last_authenticated) for
    /// it (or `None`).
    ///
    /// Returns a command the application must execute now and answer with
    /// [`respond`](Self::respond). Returns `None` when there is nothing for the
    /// application: the frame is not for this node, is a retransmission
    /// (answered from the cache, or ignored while the first copy is still being
    /// executed), is a link-level command ([`Command::PollEvents`],
    /// [`Command::AckEvents`], [`Command::Provision`],
    /// [`Command::GetAuthFloor`]) that the link answers itself, or is
    /// refused (an answer is queued). Broadcast frames are ignored: no
    /// command is safe to execute unanswered on every node.
    pub fn handle_received(
        &mut self,
        frame: &Frame<Command>,
        auth: Option<Authenticated<'_>>,
        _now: Instant,
    ) -> Option<Command> {
        let header = frame.header;
        if header.dst != self.addr || header.src != NodeAddr::GATEWAY {
            return None;
        }
        #[cfg(feature = "auth")]
        let (counter, binding) = match self.check(frame, auth) {
            Check::Plain => (None, None),
            Check::Challenged(binding) => (None, Some(binding)),
            Check::Fresh(counter) => (Some(counter), None),
            // Acting now could let a restart accept it again; the glue
            // stores the reservation and the retransmission gets through.
            Check::Unreserved => return None,
            Check::Stale(counter) => {
                self.stale(frame, counter);
                return None;
            }
            Check::Forged => {
                self.refuse(header.seq, NackReason::Unauthenticated, Sign::Plain);
                return None;
            }
        };
        #[cfg(not(feature = "auth"))]
        let (counter, binding): (Option<u64>, Option<u64>) = {
            let _ = auth;
            (None, None)
        };
        let exchange = Exchange {
            seq: header.seq,
            command: frame.body,
            counter,
            binding,
        };
        if counter.is_none() {
            if self.in_progress.as_ref() == Some(&exchange) {
                return None;
            }
            if let Some(answered) = self.answered.as_ref().filter(|a| a.exchange == exchange) {
                let report = answered.report;
                self.reply(header.seq, report, exchange.sign());
                return None;
            }
            #[cfg(feature = "auth")]
            if frame.body.needs_tag() {
                self.refuse(header.seq, NackReason::Unauthenticated, Sign::Plain);
                return None;
            }
        }
        #[cfg(feature = "auth")]
        if let Some(counter) = counter {
            self.auth.rx.accept(counter);
            self.auth.accepted_since_boot = true;
        }
        match frame.body {
            Command::PollEvents => {
                self.answer_poll(header.seq, exchange.sign());
                None
            }
            Command::AckEvents { up_to } => {
                self.acknowledge(up_to);
                self.answer(exchange, Kept::Ack);
                None
            }
            Command::GetAuthFloor => {
                #[cfg(feature = "auth")]
                let report = Kept::AuthFloor(crate::message::Floor::new(self.auth.rx.floor()));
                #[cfg(not(feature = "auth"))]
                let report = Kept::Nack(NackReason::Unsupported);
                self.answer(exchange, report);
                None
            }
            Command::Provision { key } => {
                #[cfg(feature = "auth")]
                if self.auth.provisioning {
                    self.auth.key = Some(key);
                    self.auth.key_unsaved = true;
                    // The gateway checks the acknowledgement with the key
                    // it just sent.
                    // `check` refused a trailer that is not this frame's.
                    let binding = auth.map(|a| query_binding(&key, a.covered, &a.trailer.tag));
                    self.answer(
                        Exchange {
                            binding,
                            ..exchange
                        },
                        Kept::Ack,
                    );
                    return None;
                }
                let _ = key;
                let sign = exchange.sign();
                self.refuse(header.seq, NackReason::ProvisioningDisabled, sign);
                None
            }
            command => {
                self.in_progress = Some(exchange);
                Some(command)
            }
        }
    }

    /// Answers the command [`handle_frame`](Self::handle_frame) handed out.
    /// The answer is cached for retransmissions and queued for
    /// [`poll_transmit`](Self::poll_transmit). Returns `false` (and does
    /// nothing) if no command is awaiting an answer.
    pub fn respond(&mut self, report: Report) -> bool {
        self.respond_with(|body| *body = report)
    }

    /// As [`respond`](Self::respond), with the answer written by `answer`
    /// straight into the place it leaves from (which holds [`Report::Ack`]
    /// when `answer` is called), so that the caller holds no report of its
    /// own on the stack: on a small node, a report is 136 bytes of the
    /// deepest frame. Returns `false` (and calls nothing) if no command is
    /// awaiting an answer.
    ///
    /// ```
    /// use locker_proto::frame::{Flags, Frame, Header, Seq};
    /// use locker_proto::link::NodeLink;
    /// use locker_proto::{Command, Instant, NackReason, NodeAddr, Report, ResetReason};
    ///
    /// let mut link = NodeLink::<8>::new(NodeAddr(3), ResetReason::PowerOn);
    /// let ping = Frame {
    ///     header: Header::new(NodeAddr::GATEWAY, NodeAddr(3), Seq(9), Flags::ACK_WANTED),
    ///     body: Command::PING,
    /// };
    /// assert!(link.handle_frame(&ping, Instant::ZERO).is_some());
    /// assert!(link.respond_with(|report| *report = Report::Nack(NackReason::Busy)));
    /// assert_eq!(link.poll_transmit().unwrap().body, Report::Nack(NackReason::Busy));
    /// ```
    pub fn respond_with(&mut self, answer: impl FnOnce(&mut Report)) -> bool {
        let Some(body) = self.open_answer() else {
            return false;
        };
        answer(body);
        self.close_answer();
        true
    }

    /// The outgoing answer to the command in progress, [`Report::Ack`] until
    /// written over; `None` if no command is in progress. The exchange
    /// stays in `in_progress` until [`close_answer`](Self::close_answer):
    /// the caller's frame holds neither it nor the report.
    fn open_answer(&mut self) -> Option<&mut Report> {
        let exchange = self.in_progress.as_ref()?;
        let (seq, sign) = (exchange.seq, exchange.sign());
        self.send(seq, Flags::NONE, sign)
    }

    /// The command in progress is answered: its answer is kept for its
    /// retransmissions, unless it is an event batch (answered afresh).
    fn close_answer(&mut self) {
        let Some(exchange) = self.in_progress.take() else {
            return;
        };
        let kept = self
            .outgoing
            .as_ref()
            .and_then(|outgoing| Kept::of(&outgoing.frame.body));
        let signed = exchange.counter.is_some();
        self.keep(kept.map(|report| Answered { exchange, report }), signed);
    }

    /// Answers `exchange` with `report` and keeps the answer for its
    /// retransmissions.
    fn answer(&mut self, exchange: Exchange, report: Kept) {
        self.reply(exchange.seq, report, exchange.sign());
        let signed = exchange.counter.is_some();
        self.keep(Some(Answered { exchange, report }), signed);
    }

    /// The last answer to a signed (`signed`) or unsigned command.
    #[cfg_attr(not(feature = "auth"), allow(unused_variables))]
    fn keep(&mut self, answered: Option<Answered>, signed: bool) {
        #[cfg(feature = "auth")]
        if signed && answered.is_some() {
            self.answered_signed = answered;
            return;
        }
        self.answered = answered;
    }

    /// Queues an event for the gateway.
    ///
    /// A security event ([`Event::CommandsRefused`]) is merged: while one is
    /// queued and not yet acknowledged, the counts of later ones are carried,
    /// reason by reason, into the next ones, queued one at a time (taking
    /// the reasons in turn) as each is acknowledged (the `Ok` value is then
    /// the queued one's sequence number). So refusals, however many, take one
    /// slot and never crowd out door events, and each event's count is of
    /// refusals for its own reason.
    ///
    /// # Errors
    ///
    /// [`QueueFull`] when `QUEUE` events are waiting for acknowledgement: the
    /// event is dropped (the oldest, unacknowledged events are kept so sequence
    /// numbers stay contiguous) and counted in the `dropped` field of every
    /// later [`Report::Events`]. A security event is never dropped: its count
    /// waits for room.
    pub fn push_event(&mut self, event: Event) -> Result<EventSeq, QueueFull> {
        if let Event::CommandsRefused { refused, reason } = event {
            if let Some(slot) = self.refusals.pending.get_mut(refusal_slot(reason)) {
                *slot = (slot.0.saturating_add(refused), reason);
            }
            self.flush_refusals();
            return self
                .queue
                .iter()
                .rev()
                .find(|r| matches!(r.event, Event::CommandsRefused { .. }))
                .map(|r| r.seq)
                .ok_or(QueueFull {
                    dropped: self.dropped,
                });
        }
        self.push_record(event)
    }

    fn push_record(&mut self, event: Event) -> Result<EventSeq, QueueFull> {
        let seq = self.next_seq;
        match self.queue.push_back(EventRecord { seq, event }) {
            Ok(()) => {
                self.next_seq = seq.next();
                Ok(seq)
            }
            Err(_) => {
                self.dropped = self.dropped.saturating_add(1);
                Err(QueueFull {
                    dropped: self.dropped,
                })
            }
        }
    }

    /// Queues the pending refusal count as a security event if none is queued.
    fn flush_refusals(&mut self) {
        let queued = self
            .queue
            .iter()
            .any(|r| matches!(r.event, Event::CommandsRefused { .. }));
        if queued || self.queue.len() >= QUEUE {
            return;
        }
        // The slots after the last one flushed, round to it again (counted
        // round without a remainder: a Cortex-M0 divides in software).
        let last = self.refusals.last;
        let next = (last + 1..REFUSAL_SLOTS)
            .chain(0..=last)
            .find(|&k| self.refusals.pending.get(k).is_some_and(|p| p.0 > 0));
        let Some(k) = next else {
            return;
        };
        let Some(&(refused, reason)) = self.refusals.pending.get(k) else {
            return;
        };
        if self
            .push_record(Event::CommandsRefused { refused, reason })
            .is_ok()
        {
            if let Some(slot) = self.refusals.pending.get_mut(k) {
                slot.0 = 0;
            }
            self.refusals.last = k;
        }
    }

    /// The next frame to send, if any, unsigned. Send it at once: the master
    /// is waiting. With feature `auth` use
    /// [`poll_outgoing`](Self::poll_outgoing) instead: an answer to a signed
    /// command sent through here goes out without its tag, and the gateway
    /// does not accept it.
    pub fn poll_transmit(&mut self) -> Option<Frame<Report>> {
        self.outgoing.take().map(|o| o.frame)
    }

    /// The next frame to send, if any, with what it takes to sign it:
    /// send [`Outgoing::encode`]'s bytes at once, the master is waiting.
    pub fn poll_outgoing(&mut self) -> Option<Outgoing<Report>> {
        self.outgoing.take()
    }

    /// The next frame to send, if any, encoded into `out` as
    /// [`Outgoing::encode`] encodes it, straight from where it waits: as
    /// [`poll_outgoing`](Self::poll_outgoing) and `encode`, without the
    /// copy of the frame (up to 184 bytes on a Cortex-M0+ node) that
    /// `poll_outgoing` hands out. The frame is gone afterwards, encoded or
    /// not.
    ///
    /// ```
    /// use locker_proto::frame::{Flags, Frame, Header, MAX_FRAME, Seq};
    /// use locker_proto::link::NodeLink;
    /// use locker_proto::{Command, Instant, NodeAddr, Report, ResetReason};
    ///
    /// let mut link = NodeLink::<8>::new(NodeAddr(3), ResetReason::PowerOn);
    /// let mut out = [0u8; MAX_FRAME];
    /// assert!(link.encode_outgoing(&mut out).is_none());
    /// let ping = Frame {
    ///     header: Header::new(NodeAddr::GATEWAY, NodeAddr(3), Seq(9), Flags::ACK_WANTED),
    ///     body: Command::PING,
    /// };
    /// link.handle_frame(&ping, Instant::ZERO);
    /// link.respond(Report::Ack);
    /// let wire = link.encode_outgoing(&mut out).unwrap()?;
    /// assert_eq!(wire.last(), Some(&0)); // the frame delimiter
    /// assert!(!link.has_outgoing());
    /// # Ok::<(), locker_proto::FrameError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Outgoing::encode`], inside the `Some`.
    pub fn encode_outgoing<'o>(
        &mut self,
        out: &'o mut [u8],
    ) -> Option<Result<&'o [u8], crate::error::FrameError>> {
        let wire = self.outgoing.as_ref()?.encode(out);
        self.outgoing = None;
        Some(wire)
    }

    /// Whether a frame waits for [`poll_outgoing`](Self::poll_outgoing)
    /// (or [`poll_transmit`](Self::poll_transmit)): the master is waiting for
    /// it, so whatever would delay it (a blocking lock pulse, a reboot) can
    /// wait until it has left.
    pub fn has_outgoing(&self) -> bool {
        self.outgoing.is_some()
    }

    /// Events waiting for acknowledgement.
    pub fn queued_events(&self) -> usize {
        self.queue.len()
    }

    /// Events dropped since boot because the queue was full (saturating).
    pub fn dropped_events(&self) -> u16 {
        self.dropped
    }

    /// What the queue holds now: keep it where a warm reset does not clear
    /// it (a `.uninit` RAM section, with a check) whenever it changes, and
    /// hand it to [`after_reset`](Self::after_reset) in the next life, so
    /// that the gateway learns exactly how many events the reset lost.
    ///
    /// ```
    /// use locker_proto::link::NodeLink;
    /// use locker_proto::{Channel, Event, EventSeq, HeldEvents, NodeAddr, ResetReason};
    /// let mut link = NodeLink::<8>::new(NodeAddr(3), ResetReason::PowerOn);
    /// link.push_event(Event::DoorClosed { channel: Channel(0) }).unwrap();
    /// let held = link.held();
    /// assert_eq!(held, HeldEvents { first: EventSeq(0), next: EventSeq(2), dropped: 0 });
    /// // The watchdog bites; the next life says what the last one held.
    /// let link = NodeLink::<8>::after_reset(NodeAddr(3), ResetReason::Watchdog, Some(held));
    /// assert_eq!(link.queued_events(), 1);
    /// ```
    pub fn held(&self) -> HeldEvents {
        HeldEvents {
            first: self.queue.front().map_or(self.next_seq, |r| r.seq),
            next: self.next_seq,
            dropped: self.dropped,
        }
    }

    /// Commands refused since boot for lack of a valid, fresh tag, for the
    /// rate limit, or outside provisioning mode (saturating).
    pub fn refused_commands(&self) -> u32 {
        self.refusals.total
    }

    /// Not inlined, so that nothing of it sits in `handle_received`'s frame
    /// under every other path; the batch is filled in the outgoing report
    /// itself, not built apart and copied (a 320-byte frame on a Cortex-M0+
    /// node, now 88).
    #[inline(never)]
    fn answer_poll(&mut self, seq: Seq, sign: Sign) {
        self.flush_refusals();
        let flags = if self.queue.len() > MAX_EVENTS_PER_REPORT {
            Flags::MORE_PENDING
        } else {
            Flags::NONE
        };
        let dropped = self.dropped;
        // The batch is filled where it leaves from.
        if let Some(body) = self.send(seq, flags, sign) {
            *body = Report::Events {
                events: EventBatch::new(),
                dropped,
            };
        }
        if let Some(Outgoing {
            frame:
                Frame {
                    body: Report::Events { events, .. },
                    ..
                },
            ..
        }) = self.outgoing.as_mut()
        {
            for record in self.queue.iter() {
                if events.push(*record).is_err() {
                    break;
                }
            }
        }
    }

    fn acknowledge(&mut self, up_to: EventSeq) {
        // An acknowledgement for events this node never issued (a stale
        // retransmission from before a restart) must not discard fresh ones.
        let newest = EventSeq(self.next_seq.0.wrapping_sub(1));
        if up_to.is_after(newest) {
            return;
        }
        while let Some(front) = self.queue.front() {
            if front.seq.is_after(up_to) {
                break;
            }
            self.queue.pop_front();
        }
        self.flush_refusals();
    }

    /// Refuses a command: answers `Nack(reason)` (signed as `sign` says:
    /// under the refused frame's counter when its tag was valid) and counts
    /// a security event.
    fn refuse(&mut self, seq: Seq, reason: NackReason, sign: Sign) {
        self.refusals.total = self.refusals.total.saturating_add(1);
        let _ = self.push_event(Event::CommandsRefused { refused: 1, reason });
        self.reply(seq, Kept::Nack(reason), sign);
    }

    /// Queues the answer `report` for the gateway, signed as `sign` says:
    /// passed as the fifth of a [`Report`] it is, and made a report only in
    /// the outgoing slot, so that no caller holds a whole one.
    fn reply(&mut self, seq: Seq, report: Kept, sign: Sign) {
        if let Some(body) = self.send(seq, Flags::NONE, sign) {
            *body = report.report();
        }
    }

    /// Queues an answer for the gateway, signed as `sign` says, and returns
    /// its report, [`Report::Ack`] until the caller writes the answer over
    /// it. The frame is one literal written straight into `outgoing`, and
    /// the report is written there too: a report is up to 136 bytes, and
    /// each intermediate value (the report, the frame, the `Outgoing`)
    /// would be another copy on the stack.
    #[cfg_attr(not(feature = "auth"), allow(unused_variables))]
    fn send(&mut self, seq: Seq, flags: Flags, sign: Sign) -> Option<&mut Report> {
        #[cfg(feature = "auth")]
        let (flags, seal) = seal(self.auth.key, flags, sign);
        self.outgoing = Some(Outgoing {
            frame: Frame {
                header: Header::new(self.addr, NodeAddr::GATEWAY, seq, flags),
                body: Report::Ack,
            },
            #[cfg(feature = "auth")]
            seal,
        });
        self.outgoing
            .as_mut()
            .map(|outgoing| &mut outgoing.frame.body)
    }
}

/// The flags and seal of an answer signed as `sign` says, under `key`: a
/// node without a key answers unsigned.
#[cfg(feature = "auth")]
fn seal(key: Option<NodeKey>, flags: Flags, sign: Sign) -> (Flags, Option<Seal>) {
    let tagged = match sign {
        Sign::Plain => None,
        Sign::Command(counter) => Some((counter, Direction::ToGateway)),
        Sign::Query(binding) => Some((binding, Direction::QueryAnswer)),
    };
    let (Some((counter, direction)), Some(key)) = (tagged, key) else {
        return (flags, None);
    };
    let seal = Seal::Tag {
        key,
        counter,
        direction,
    };
    (flags.with(Flags::AUTHENTICATED), Some(seal))
}

/// What the node made of a frame's authentication.
#[cfg(feature = "auth")]
enum Check {
    /// No trailer: an unsigned frame (or a query's challenge to a node
    /// without a key, answered unsigned).
    Plain,
    /// A query with the gateway's challenge: its answer is tagged under
    /// this binding.
    Challenged(u64),
    Fresh(u64),
    Unreserved,
    Stale(u64),
    Forged,
}

#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
impl<const QUEUE: usize> NodeLink<QUEUE> {
    /// Takes back the stored authentication state after a restart: the key
    /// and the receive floor. Every counter below the stored floor is
    /// refused; the gateway resynchronises on its first refusal.
    pub fn restore_auth(&mut self, record: NodeAuthRecord) {
        self.auth.key = record.key;
        self.auth.rx = RxWindow::resume(record.rx_floor);
        self.auth.key_unsaved = false;
    }

    /// The record to store, when the key changed or the receive counter
    /// needs a new reservation: write [`NodeAuthRecord::to_bytes`] to
    /// non-volatile memory, then call [`persisted`](Self::persisted). Call
    /// after every received frame (and once at boot, before the first):
    /// until the write is confirmed, signed commands beyond the old
    /// reservation are dropped unanswered, and the gateway retransmits them.
    pub fn poll_persist(&mut self) -> Option<NodeAuthRecord> {
        let floor = self.auth.rx.poll_persist();
        if floor.is_none() && !self.auth.key_unsaved {
            return None;
        }
        self.auth.key_unsaved = false;
        Some(NodeAuthRecord {
            key: self.auth.key,
            rx_floor: floor.unwrap_or_else(|| self.auth.rx.reservation()),
        })
    }

    /// The glue stored `record`.
    pub fn persisted(&mut self, record: &NodeAuthRecord) {
        self.auth.rx.persisted(record.rx_floor);
    }

    /// Enters or leaves provisioning mode, from a physical input on the node
    /// (a key switch, a jumper, a button held at power-on). Only in
    /// provisioning mode is [`Command::Provision`] accepted.
    pub fn set_provisioning(&mut self, on: bool) {
        self.auth.provisioning = on;
    }

    /// Whether the node is in provisioning mode.
    pub fn is_provisioning(&self) -> bool {
        self.auth.provisioning
    }

    /// Whether the node holds a key.
    pub fn has_key(&self) -> bool {
        self.auth.key.is_some()
    }

    /// The lowest counter value the node accepts next.
    pub fn rx_floor(&self) -> u64 {
        self.auth.rx.floor()
    }

    fn check(&mut self, frame: &Frame<Command>, auth: Option<Authenticated<'_>>) -> Check {
        let Some(auth) = auth else {
            return Check::Plain;
        };
        // A trailer that is not this frame's is refused whether or not the
        // node holds a key: after this check, a trailer handed in is the
        // frame's (the provisioning answer relies on it).
        if !super::covers(auth.covered, frame) {
            return Check::Forged;
        }
        let Some(key) = &self.auth.key else {
            return if frame.body.needs_tag() {
                Check::Forged
            } else {
                Check::Plain
            };
        };
        if !frame.body.needs_tag() {
            // A query: its trailer is the gateway's challenge, not a tag.
            // Nothing to verify (a query only reads); the answer is tagged
            // under the query and its challenge together.
            return Check::Challenged(query_binding(key, auth.covered, &auth.trailer.tag));
        }
        match self
            .auth
            .rx
            .check(key, auth.covered, &auth.trailer, Direction::ToNode)
        {
            Verdict::Fresh(counter) => Check::Fresh(counter),
            Verdict::Unreserved(_) => Check::Unreserved,
            Verdict::Stale(counter) => Check::Stale(counter),
            _ => Check::Forged,
        }
    }

    /// A valid tag with a used counter: a retransmission of the command in
    /// hand or last answered, else a replay, a late copy, or a gateway behind.
    fn stale(&mut self, frame: &Frame<Command>, counter: u64) {
        let exchange = Exchange {
            seq: frame.header.seq,
            command: frame.body,
            counter: Some(counter),
            binding: None,
        };
        if self.in_progress.as_ref() == Some(&exchange) {
            return;
        }
        if let Some(answered) = self
            .answered_signed
            .as_ref()
            .filter(|a| a.exchange == exchange)
        {
            let report = answered.report;
            self.reply(exchange.seq, report, Sign::Command(counter));
            return;
        }
        let reason = NackReason::Stale {
            floor: crate::message::Floor::new(self.auth.rx.floor()),
        };
        if self.auth.accepted_since_boot {
            self.refuse(exchange.seq, reason, Sign::Command(counter));
        } else {
            // The one expected refusal after a restart moved the floor to
            // the reservation: not a security event.
            self.reply(exchange.seq, Kept::Nack(reason), Sign::Command(counter));
        }
    }
}
