//! The node side of the link.

use heapless::Deque;

use crate::frame::{Flags, Frame, Header, Seq};
use crate::message::{Command, Event, EventBatch, EventRecord, EventSeq, Report};
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

/// What the node remembers of the last command, for de-duplication.
#[derive(Clone, Debug)]
enum LastCommand {
    None,
    /// Handed to the application, no answer yet: a retransmission now is ignored.
    InProgress {
        seq: Seq,
        command: Command,
    },
    /// Answered: a retransmission is answered from here.
    Answered {
        seq: Seq,
        command: Command,
        report: Report,
    },
}

/// The link layer of one compartment node.
///
/// `QUEUE` is the capacity of the unacknowledged event queue.
///
/// ```
/// use locker_proto::frame::{Flags, Frame, Header, Seq};
/// use locker_proto::link::NodeLink;
/// use locker_proto::{Channel, Command, Instant, NodeAddr, Report, ResetReason};
///
/// let mut link = NodeLink::<8>::new(NodeAddr(3), ResetReason::PowerOn);
/// let unlock = Frame {
///     header: Header::new(NodeAddr::GATEWAY, NodeAddr(3), Seq(9), Flags::ACK_WANTED),
///     body: Command::Unlock { channel: Channel(1), pulse_ms: 300 },
/// };
/// let now = Instant::from_millis(0);
///
/// // First delivery: the application executes it and answers.
/// let command = link.handle_frame(&unlock, now).unwrap();
/// assert!(matches!(command, Command::Unlock { .. }));
/// link.respond(Report::Ack);
/// assert_eq!(link.poll_transmit().unwrap().body, Report::Ack);
///
/// // The answer was lost on the bus; the gateway retransmits with the same Seq.
/// assert_eq!(link.handle_frame(&unlock, now), None); // not executed again
/// assert_eq!(link.poll_transmit().unwrap().body, Report::Ack); // answered from cache
/// ```
#[derive(Clone, Debug)]
pub struct NodeLink<const QUEUE: usize> {
    addr: NodeAddr,
    last: LastCommand,
    queue: Deque<EventRecord, QUEUE>,
    next_seq: EventSeq,
    dropped: u16,
    outgoing: Option<Frame<Report>>,
}

impl<const QUEUE: usize> NodeLink<QUEUE> {
    /// A node link for address `addr`, just started for `reset_reason`.
    ///
    /// The queue starts with [`Event::NodeStarted`] at sequence number 0, so
    /// the gateway learns of every restart.
    pub fn new(addr: NodeAddr, reset_reason: ResetReason) -> Self {
        let mut link = NodeLink {
            addr,
            last: LastCommand::None,
            queue: Deque::new(),
            next_seq: EventSeq(0),
            dropped: 0,
            outgoing: None,
        };
        // With QUEUE == 0 the start event is counted as dropped, never lost silently.
        let _ = link.push_event(Event::NodeStarted { reset_reason });
        link
    }

    /// This node's bus address.
    pub fn addr(&self) -> NodeAddr {
        self.addr
    }

    /// Handles a frame received from the bus.
    ///
    /// Returns a command the application must execute now and answer with
    /// [`respond`](Self::respond). Returns `None` when there is nothing for the
    /// application: the frame is not for this node, is a retransmission
    /// (answered from the cache, or ignored while the first copy is still being
    /// executed), or is a link-level command ([`Command::PollEvents`],
    /// [`Command::AckEvents`]) that the link answers itself. Broadcast frames
    /// are ignored: no command is safe to execute unanswered on every node.
    pub fn handle_frame(&mut self, frame: &Frame<Command>, _now: Instant) -> Option<Command> {
        let header = frame.header;
        if header.dst != self.addr || header.src != NodeAddr::GATEWAY {
            return None;
        }
        match &self.last {
            LastCommand::InProgress { seq, command }
                if *seq == header.seq && *command == frame.body =>
            {
                return None;
            }
            LastCommand::Answered {
                seq,
                command,
                report,
            } if *seq == header.seq && *command == frame.body => {
                let report = report.clone();
                self.reply(header.seq, report, Flags::NONE);
                return None;
            }
            _ => {}
        }
        match frame.body {
            Command::PollEvents => {
                self.answer_poll(header.seq);
                None
            }
            Command::AckEvents { up_to } => {
                self.acknowledge(up_to);
                self.last = LastCommand::Answered {
                    seq: header.seq,
                    command: frame.body,
                    report: Report::Ack,
                };
                self.reply(header.seq, Report::Ack, Flags::NONE);
                None
            }
            command => {
                self.last = LastCommand::InProgress {
                    seq: header.seq,
                    command,
                };
                Some(command)
            }
        }
    }

    /// Answers the command [`handle_frame`](Self::handle_frame) handed out.
    /// The answer is cached for retransmissions and queued for
    /// [`poll_transmit`](Self::poll_transmit). Returns `false` (and does
    /// nothing) if no command is awaiting an answer.
    pub fn respond(&mut self, report: Report) -> bool {
        let LastCommand::InProgress { seq, command } = self.last else {
            return false;
        };
        self.last = LastCommand::Answered {
            seq,
            command,
            report: report.clone(),
        };
        self.reply(seq, report, Flags::NONE);
        true
    }

    /// Queues an event for the gateway.
    ///
    /// # Errors
    ///
    /// [`QueueFull`] when `QUEUE` events are waiting for acknowledgement: the
    /// event is dropped (the oldest, unacknowledged events are kept so sequence
    /// numbers stay contiguous) and counted in the `dropped` field of every
    /// later [`Report::Events`].
    pub fn push_event(&mut self, event: Event) -> Result<EventSeq, QueueFull> {
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

    /// The next frame to send, if any. Send it at once: the master is waiting.
    pub fn poll_transmit(&mut self) -> Option<Frame<Report>> {
        self.outgoing.take()
    }

    /// Events waiting for acknowledgement.
    pub fn queued_events(&self) -> usize {
        self.queue.len()
    }

    /// Events dropped since boot because the queue was full (saturating).
    pub fn dropped_events(&self) -> u16 {
        self.dropped
    }

    fn answer_poll(&mut self, seq: Seq) {
        let mut events = EventBatch::new();
        for record in self.queue.iter() {
            if events.push(*record).is_err() {
                break;
            }
        }
        let flags = if self.queue.len() > events.len() {
            Flags::MORE_PENDING
        } else {
            Flags::NONE
        };
        self.reply(
            seq,
            Report::Events {
                events,
                dropped: self.dropped,
            },
            flags,
        );
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
    }

    fn reply(&mut self, seq: Seq, report: Report, flags: Flags) {
        self.outgoing = Some(Frame {
            header: Header::new(self.addr, NodeAddr::GATEWAY, seq, flags),
            body: report,
        });
    }
}
