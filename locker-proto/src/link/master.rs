//! The gateway side of the link.

use heapless::{Deque, Vec};

use super::outgoing::Outgoing;
#[cfg(feature = "auth")]
use super::outgoing::Seal;
#[cfg(feature = "auth")]
use crate::auth::{Direction, TxCounter, challenge, freshness_bits, query_binding, verify};
#[cfg(feature = "auth")]
use crate::frame::{AuthTrailer, TAG_LEN};
use crate::frame::{Authenticated, Flags, Frame, Header, Seq};
#[cfg(feature = "auth")]
use crate::key::NodeKey;
#[cfg(feature = "auth")]
use crate::message::NackReason;
use crate::message::{Command, Event, EventRecord, EventSeq, MAX_EVENTS_PER_REPORT, Report};
use crate::time::{Duration, Instant};
use crate::vocab::NodeAddr;

/// Capacity of the master's output queue. Every `handle_*` call needs at most
/// `MAX_EVENTS_PER_REPORT + 2` free slots and declines input (to be
/// retransmitted later) rather than overflow, so nothing is ever dropped.
const OUTPUT_CAPACITY: usize = 2 * MAX_EVENTS_PER_REPORT + 4;
const ROOM_FOR_A_RESPONSE: usize = MAX_EVENTS_PER_REPORT + 2;

/// Timing and retry policy of the [`Master`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MasterConfig {
    /// How long to wait for an answer before retransmitting.
    pub response_timeout: Duration,
    /// Transmissions of one request (first try included) before it fails.
    pub max_attempts: u8,
    /// Failed requests in a row before a node is declared lost.
    pub unresponsive_after: u8,
    /// How often an idle node is polled for events.
    pub poll_interval: Duration,
    /// How often a lost node is tried again.
    pub lost_poll_interval: Duration,
    /// Mixed into every challenge of this run (feature `auth`, see
    /// [`challenge`](crate::auth::challenge)): give 16 random bytes per
    /// start where the gateway has randomness. Challenges are unique by the
    /// stored counters alone, unless that store is lost; with a fresh salt
    /// they stay unique even then, so an answer recorded in an earlier run
    /// never passes in this one. Default: zeros.
    pub challenge_salt: [u8; 16],
}

impl Default for MasterConfig {
    /// 50 ms response timeout (a full 128-byte frame takes 11 ms at 115,200
    /// baud, each way), 3 attempts, lost after 3 failed requests, events polled
    /// every 250 ms, a lost node retried every 5 s, a salt of zeros.
    fn default() -> Self {
        MasterConfig {
            response_timeout: Duration::from_millis(50),
            max_attempts: 3,
            unresponsive_after: 3,
            poll_interval: Duration::from_millis(250),
            lost_poll_interval: Duration::from_secs(5),
            challenge_salt: [0; 16],
        }
    }
}

/// Something the master learned, from [`Master::poll_event`].
// Boxing the large variant would need a heap; the queue holds few of them.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MasterEvent {
    /// A node answered a command sent with [`Master::send`].
    Response {
        /// The node.
        node: NodeAddr,
        /// The command it answered.
        command: Command,
        /// Its answer.
        report: Report,
    },
    /// A node event, delivered exactly once, in the node's order.
    Event {
        /// The node.
        node: NodeAddr,
        /// The event with its sequence number.
        record: EventRecord,
    },
    /// A command sent with [`Master::send`] got no answer after every attempt.
    /// It may or may not have been executed.
    RequestFailed {
        /// The node.
        node: NodeAddr,
        /// The command.
        command: Command,
    },
    /// A node stopped answering.
    NodeLost {
        /// The node.
        node: NodeAddr,
    },
    /// A lost node answers again. Ask it for full status: events from before
    /// a restart are gone.
    NodeBack {
        /// The node.
        node: NodeAddr,
    },
    /// Events of a node's that the gateway will never receive: its queue
    /// overflowed and it dropped them, or it reset before they were
    /// delivered (its [`Event::NodeStarted`] said what its queue held).
    /// Ask it for full status.
    EventsDropped {
        /// The node.
        node: NodeAddr,
        /// How many events were lost since the last report of this kind.
        count: u16,
    },
    /// Answers that claimed to come from a keyed node were ignored because
    /// their tag was missing or did not verify (feature `auth`): forged,
    /// replayed, or from a node that lost its key. A security event: the
    /// bus carries frames the node did not send. Each ignored answer counts
    /// once, in one report of this kind.
    AnswersRejected {
        /// The node the answers claimed to come from.
        node: NodeAddr,
        /// How many answers were ignored since the last report of this kind.
        count: u16,
    },
}

/// Why the master refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LinkError {
    /// The node was never added with [`Master::add_node`].
    #[error("{0} is not on this bus")]
    UnknownNode(NodeAddr),
    /// The master already serves as many nodes as its capacity.
    #[error("bus already has its maximum number of nodes")]
    TooManyNodes,
    /// The address is the gateway's or broadcast, or already added.
    #[error("{0} cannot be added as a node")]
    BadAddress(NodeAddr),
    /// A command to this node is still outstanding; wait for its response.
    #[error("{0} still has a command outstanding")]
    Busy(NodeAddr),
}

/// Counters for the gateway's bus statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkStats {
    /// Frames transmitted, retransmissions included.
    pub frames_sent: u32,
    /// Retransmissions after a timeout.
    pub retransmissions: u32,
    /// Responses matched to a request.
    pub responses: u32,
    /// Requests whose answer did not come in time.
    pub timeouts: u32,
    /// Frames that matched no request (late, misaddressed, wrong sequence).
    pub unexpected: u32,
    /// Node events delivered.
    pub events_delivered: u32,
    /// Repeated node events filtered out.
    pub duplicates_filtered: u32,
    /// Times a node was declared lost.
    pub nodes_lost: u32,
    /// Times a lost node came back.
    pub nodes_recovered: u32,
    /// Answers from keyed nodes ignored because their tag was missing or
    /// did not verify (feature `auth`): forged, replayed, or from a node
    /// without the right key. Each is also reported in a
    /// [`MasterEvent::AnswersRejected`].
    pub auth_rejected: u32,
    /// Commands sent again with a fresh counter after the node refused the
    /// first as stale (feature `auth`).
    pub resynchronisations: u32,
}

#[derive(Clone, Copy, Debug)]
struct Request {
    command: Command,
    seq: Seq,
    attempts: u8,
    /// The counter this request is signed with, fixed at its first
    /// transmission: a retransmission carries the same one, so the node
    /// recognises it and answers from its cache.
    #[cfg(feature = "auth")]
    counter: Option<u64>,
    /// Already sent again once after a stale refusal.
    #[cfg(feature = "auth")]
    resynced: bool,
    /// The challenge a query to a keyed node carries, fixed at its first
    /// transmission like `counter`.
    #[cfg(feature = "auth")]
    challenge: Option<[u8; TAG_LEN]>,
}

/// The gateway's key and counter for one node.
#[cfg(feature = "auth")]
#[derive(Clone, Debug)]
struct PeerAuth {
    key: NodeKey,
    tx: TxCounter,
    /// A counter value taken once in this run, never used for a command:
    /// with `queries`, what makes every challenge unique across restarts.
    epoch: Option<u64>,
    /// Challenges issued in this run.
    queries: u64,
    /// Answers rejected and not yet reported.
    rejected: u16,
    /// The node told its floor in this run ([`Command::GetAuthFloor`]), or
    /// said it cannot.
    floor_learned: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    User,
    Internal,
}

#[derive(Clone, Debug)]
struct Peer {
    addr: NodeAddr,
    next_seq: Seq,
    user: Option<Request>,
    internal: Option<Request>,
    failures: u8,
    lost: bool,
    next_poll: Instant,
    more_pending: bool,
    last_delivered: Option<EventSeq>,
    /// A start event was delivered and its acknowledgement not yet
    /// confirmed: the same start event at sequence 0 now is probably that
    /// one again.
    start_unconfirmed: Option<Event>,
    dropped_seen: u16,
    #[cfg(feature = "auth")]
    auth: Option<PeerAuth>,
}

impl Peer {
    fn request(&mut self, slot: Slot) -> &mut Option<Request> {
        match slot {
            Slot::User => &mut self.user,
            Slot::Internal => &mut self.internal,
        }
    }

    fn new_request(&mut self, command: Command) -> Request {
        let seq = self.next_seq;
        self.next_seq = seq.next();
        Request {
            command,
            seq,
            attempts: 0,
            #[cfg(feature = "auth")]
            counter: None,
            #[cfg(feature = "auth")]
            resynced: false,
            #[cfg(feature = "auth")]
            challenge: None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    peer: usize,
    slot: Slot,
    deadline: Instant,
}

/// The gateway's link layer: bus master for up to `NODES` nodes.
///
/// With feature `auth` (the default) give it each node's key with
/// [`set_key`](Self::set_key), store what [`poll_persist`](Self::poll_persist)
/// asks for, send what [`poll_outgoing`](Self::poll_outgoing) yields, and feed
/// answers with [`handle_received`](Self::handle_received).
///
/// ```
/// # #[cfg(feature = "auth")] { // keys and counters are behind feature `auth`
/// use locker_proto::auth::{BankKey, NodeAuthRecord, NodeIdentity};
/// use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
/// use locker_proto::link::{Master, MasterConfig, MasterEvent, NodeLink};
/// use locker_proto::{Channel, Command, Instant, NodeAddr, Report, ResetReason};
///
/// let key = BankKey::from_bytes([0x77; 32]).node_key(NodeIdentity::at(NodeAddr(3)));
/// let mut master = Master::<4>::new(MasterConfig::default());
/// master.add_node(NodeAddr(3), Instant::ZERO)?;
/// master.set_key(NodeAddr(3), key, 0)?;
/// let mut node = NodeLink::<8>::new(NodeAddr(3), ResetReason::PowerOn);
/// node.restore_auth(NodeAuthRecord { key: Some(key), rx_floor: 0 });
/// // Both ends store their first counter reservation.
/// while let Some((addr, up_to)) = master.poll_persist() { master.persisted(addr, up_to); }
/// while let Some(record) = node.poll_persist() { node.persisted(&record); }
///
/// let now = Instant::from_millis(10);
/// master.send(NodeAddr(3), Command::Unlock { channel: Channel(0), pulse_ms: 300 }, now)?;
/// let mut wire = [0u8; MAX_FRAME];
///
/// // First the master asks the node's counter floor; the node's link answers.
/// let ask = master.poll_outgoing(now).unwrap();
/// assert_eq!(ask.frame.body, Command::GetAuthFloor);
/// let bytes = ask.encode(&mut wire)?;
/// let mut decoder = Decoder::new();
/// let Feed::Frame { frame, .. } = decoder.feed::<Command>(bytes) else { panic!() };
/// assert!(node.handle_received(&frame, decoder.last_authenticated(), now).is_none());
/// let floor = node.poll_outgoing().unwrap();
/// let bytes = floor.encode(&mut wire)?;
/// let Feed::Frame { frame, .. } = decoder.feed::<Report>(bytes) else { panic!() };
/// master.handle_received(&frame, decoder.last_authenticated(), now);
///
/// // Then the unlock, signed.
/// let request = master.poll_outgoing(now).unwrap();
/// assert!(request.is_authenticated());
/// let bytes = request.encode(&mut wire)?;
///
/// // ... the bytes cross the bus ...
/// let mut decoder = Decoder::new();
/// let Feed::Frame { frame, .. } = decoder.feed::<Command>(bytes) else { panic!() };
/// let command = node.handle_received(&frame, decoder.last_authenticated(), now).unwrap();
/// assert!(matches!(command, Command::Unlock { .. }));
/// node.respond(Report::Ack); // after pulsing the lock
///
/// let answer = node.poll_outgoing().unwrap();
/// let bytes = answer.encode(&mut wire)?;
/// let mut decoder = Decoder::new();
/// let Feed::Frame { frame, .. } = decoder.feed::<Report>(bytes) else { panic!() };
/// master.handle_received(&frame, decoder.last_authenticated(), now);
/// assert!(matches!(master.poll_event(), Some(MasterEvent::Response { command: Command::Unlock { .. }, .. })));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Master<const NODES: usize> {
    config: MasterConfig,
    peers: Vec<Peer, NODES>,
    in_flight: Option<InFlight>,
    cursor: usize,
    output: Deque<MasterEvent, OUTPUT_CAPACITY>,
    stats: LinkStats,
}

impl<const NODES: usize> Master<NODES> {
    /// A master with no nodes yet.
    pub fn new(config: MasterConfig) -> Self {
        Master {
            config,
            peers: Vec::new(),
            in_flight: None,
            cursor: 0,
            output: Deque::new(),
            stats: LinkStats::default(),
        }
    }

    /// Adds a node to the bus; it is first polled at `now`.
    ///
    /// # Errors
    ///
    /// [`LinkError::BadAddress`] for the gateway's address, broadcast or an
    /// address already added; [`LinkError::TooManyNodes`] beyond `NODES`.
    pub fn add_node(&mut self, addr: NodeAddr, now: Instant) -> Result<(), LinkError> {
        self.add_node_starting_at(addr, Seq(0), now)
    }

    /// Adds a node whose first command carries `first_seq`. A restarted
    /// gateway should not start where its previous run did: an unsigned
    /// command that matches the node's cached last one (same sequence
    /// number, same body) is answered from the cache, not executed. Pick it
    /// at random, or persisted.
    ///
    /// # Errors
    ///
    /// As [`add_node`](Self::add_node).
    pub fn add_node_starting_at(
        &mut self,
        addr: NodeAddr,
        first_seq: Seq,
        now: Instant,
    ) -> Result<(), LinkError> {
        if !addr.is_node() || self.peers.iter().any(|p| p.addr == addr) {
            return Err(LinkError::BadAddress(addr));
        }
        let peer = Peer {
            addr,
            next_seq: first_seq,
            user: None,
            internal: None,
            failures: 0,
            lost: false,
            next_poll: now,
            more_pending: false,
            last_delivered: None,
            start_unconfirmed: None,
            dropped_seen: 0,
            #[cfg(feature = "auth")]
            auth: None,
        };
        self.peers.push(peer).map_err(|_| LinkError::TooManyNodes)
    }

    /// Queues a command for `node`. Its answer arrives as
    /// [`MasterEvent::Response`], or [`MasterEvent::RequestFailed`] after
    /// every retry.
    ///
    /// # Errors
    ///
    /// [`LinkError::UnknownNode`] if the node was not added;
    /// [`LinkError::Busy`] while a previous command to it is outstanding.
    pub fn send(
        &mut self,
        node: NodeAddr,
        command: Command,
        _now: Instant,
    ) -> Result<(), LinkError> {
        let peer = self
            .peers
            .iter_mut()
            .find(|p| p.addr == node)
            .ok_or(LinkError::UnknownNode(node))?;
        if peer.user.is_some() {
            return Err(LinkError::Busy(node));
        }
        let request = peer.new_request(command);
        peer.user = Some(request);
        Ok(())
    }

    /// Whether a command sent to `node` still awaits its answer.
    pub fn is_busy(&self, node: NodeAddr) -> bool {
        self.peers
            .iter()
            .any(|p| p.addr == node && p.user.is_some())
    }

    /// Whether a frame is on its way or awaits its answer: the bus is the
    /// master's until the answer comes or the wait times out.
    pub fn has_request_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether a command sent with [`send`](Self::send) to any node still
    /// awaits its answer.
    pub fn has_user_request(&self) -> bool {
        self.peers.iter().any(|p| p.user.is_some())
    }

    /// Whether `node` is currently considered lost.
    pub fn is_lost(&self, node: NodeAddr) -> bool {
        self.peers.iter().any(|p| p.addr == node && p.lost)
    }

    /// Whether any node is currently considered lost: the master keeps
    /// trying it every [`MasterConfig::lost_poll_interval`], and those
    /// tries are not idle polls whose answer is known.
    pub fn any_lost(&self) -> bool {
        self.peers.iter().any(|p| p.lost)
    }

    /// Bus statistics so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Sets the key the gateway shares with `node` and resumes its counter
    /// after `stored`, the last reservation stored for it (0 for a node
    /// never used with this key). From now on the commands that
    /// [need a tag](Command::needs_tag) go to it signed; the first waits for
    /// the counter's first reservation ([`poll_persist`](Self::poll_persist)).
    ///
    /// Before its first signed command the master asks the node for its
    /// floor ([`Command::GetAuthFloor`], answered tagged for the query) and
    /// moves the counter up to it, so a `stored` value that is lost or too
    /// old (a restored backup) costs one exchange, not a provisioning: the
    /// counter never moves down, and a value once used is never used again.
    ///
    /// # Errors
    ///
    /// [`LinkError::UnknownNode`].
    #[cfg(feature = "auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
    pub fn set_key(&mut self, node: NodeAddr, key: NodeKey, stored: u64) -> Result<(), LinkError> {
        let peer = self
            .peers
            .iter_mut()
            .find(|p| p.addr == node)
            .ok_or(LinkError::UnknownNode(node))?;
        peer.auth = Some(PeerAuth {
            key,
            tx: TxCounter::resume(stored),
            epoch: None,
            queries: 0,
            rejected: 0,
            floor_learned: false,
        });
        if peer.internal.is_none() {
            let ask = peer.new_request(Command::GetAuthFloor);
            peer.internal = Some(ask);
        }
        Ok(())
    }

    /// A counter reservation to store: `(node, up_to)`. Store `up_to` as
    /// that node's counter durably, then call
    /// [`persisted`](Self::persisted). Call after every `handle_*` until it
    /// returns `None`; each request is returned once.
    #[cfg(feature = "auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
    pub fn poll_persist(&mut self) -> Option<(NodeAddr, u64)> {
        self.peers.iter_mut().find_map(|peer| {
            let addr = peer.addr;
            peer.auth
                .as_mut()
                .and_then(|a| a.tx.poll_persist())
                .map(|up_to| (addr, up_to))
        })
    }

    /// The glue stored `up_to` for `node`.
    #[cfg(feature = "auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
    pub fn persisted(&mut self, node: NodeAddr, up_to: u64) {
        if let Some(a) = self
            .peers
            .iter_mut()
            .find(|p| p.addr == node)
            .and_then(|p| p.auth.as_mut())
        {
            a.tx.persisted(up_to);
        }
    }

    /// The counter value the next signed command to `node` will carry.
    #[cfg(feature = "auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
    pub fn tx_counter(&self, node: NodeAddr) -> Option<u64> {
        self.peers
            .iter()
            .find(|p| p.addr == node)
            .and_then(|p| p.auth.as_ref())
            .map(|a| a.tx.next())
    }

    /// The next frame to put on the bus, if the bus is free and a request is
    /// ready, unsigned. Call after every `handle_*` until it returns `None`.
    /// With keys set (feature `auth`) use
    /// [`poll_outgoing`](Self::poll_outgoing): a command that needs a tag sent
    /// through here goes out unsigned, and the node refuses it.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Frame<Command>> {
        self.poll_outgoing(now).map(|o| o.frame)
    }

    /// The next frame to put on the bus, with what it takes to sign it: send
    /// [`Outgoing::encode`]'s bytes. Commands that
    /// [need a tag](Command::needs_tag) to a node with a key are signed with
    /// a fresh counter at their first transmission, and with the same one at
    /// every retransmission; while that node's counter waits for its
    /// reservation to be stored ([`poll_persist`](Self::poll_persist)) its
    /// commands wait. Call after every `handle_*` until it returns `None`.
    pub fn poll_outgoing(&mut self, now: Instant) -> Option<Outgoing<Command>> {
        if self.in_flight.is_some() || self.peers.is_empty() {
            return None;
        }
        let count = self.peers.len();
        for step in 0..count {
            let index = (self.cursor + step) % count;
            let Some(peer) = self.peers.get_mut(index) else {
                continue;
            };
            // A signed request already under way is finished first, so a
            // node sees each gateway counter in order and a retransmission
            // always meets the answer it cached for it.
            #[cfg(feature = "auth")]
            let started = peer.internal.is_some_and(|r| r.counter.is_some());
            #[cfg(not(feature = "auth"))]
            let started = false;
            // The node's floor is asked before the first signed command.
            let floor_first = peer
                .internal
                .is_some_and(|r| r.command == Command::GetAuthFloor);
            let slot = if peer.user.is_some() && !started && !floor_first {
                Slot::User
            } else if peer.internal.is_some() {
                Slot::Internal
            } else {
                continue;
            };
            let addr = peer.addr;
            let Peer {
                user,
                internal,
                #[cfg(feature = "auth")]
                auth,
                ..
            } = peer;
            let Some(request) = (match slot {
                Slot::User => user.as_mut(),
                Slot::Internal => internal.as_mut(),
            }) else {
                continue;
            };
            #[cfg(feature = "auth")]
            let seal = match seal(auth.as_mut(), &self.config.challenge_salt, request) {
                Ok(seal) => seal,
                Err(()) => continue, // waiting for the counter's reservation
            };
            request.attempts = request.attempts.saturating_add(1);
            if request.attempts > 1 {
                self.stats.retransmissions = self.stats.retransmissions.saturating_add(1);
            }
            let frame = Frame {
                header: Header::new(NodeAddr::GATEWAY, addr, request.seq, Flags::ACK_WANTED),
                body: request.command,
            };
            self.stats.frames_sent = self.stats.frames_sent.saturating_add(1);
            self.in_flight = Some(InFlight {
                peer: index,
                slot,
                deadline: now + self.config.response_timeout,
            });
            self.cursor = (index + 1) % count;
            #[cfg(feature = "auth")]
            if let Some(seal) = seal {
                let mut frame = frame;
                frame.header.flags = frame.header.flags.with(Flags::AUTHENTICATED);
                return Some(Outgoing {
                    frame,
                    seal: Some(seal),
                });
            }
            return Some(Outgoing::plain(frame));
        }
        None
    }

    /// Handles an unauthenticated frame received from the bus: as
    /// [`handle_received`](Self::handle_received) without a trailer.
    pub fn handle_frame(&mut self, frame: &Frame<Report>, now: Instant) {
        self.handle_received(frame, None, now);
    }

    /// Handles a frame received from the bus; pass the decoder's
    /// [`last_authenticated`](crate::frame::Decoder::last_authenticated) for
    /// it (or `None`). Frames that answer nothing outstanding are counted in
    /// [`LinkStats::unexpected`] and ignored.
    ///
    /// From a node with a key ([`set_key`](Self::set_key)) an answer counts
    /// only with its tag: for a signed command, made with the command's own
    /// counter; for a query, made with the binding of the query and its
    /// challenge (see [`auth`](crate::auth), *Answers*). Any other answer,
    /// a refusal included, is no answer: the request waits on and is sent
    /// again, and the rejection is counted ([`LinkStats::auth_rejected`]) and
    /// reported ([`MasterEvent::AnswersRejected`]). (A node that lost its key
    /// cannot answer; it ends up lost, and every answer it sent unsigned was
    /// reported.) A signed `Nack(Stale)` answering a command's first
    /// transmission moves the node's counter up to the floor it names and
    /// sends the command again, once, with a fresh counter.
    ///
    /// Events are delivered only in the node's order: the next number after
    /// the last delivered (or a restart's start event). Repeats are filtered;
    /// a report that jumps ahead delivers nothing from the jump on; the
    /// acknowledgement that follows covers only what was delivered.
    pub fn handle_received(
        &mut self,
        frame: &Frame<Report>,
        auth: Option<Authenticated<'_>>,
        now: Instant,
    ) {
        let Some(flight) = self.in_flight else {
            self.stats.unexpected = self.stats.unexpected.saturating_add(1);
            return;
        };
        let Some(peer) = self.peers.get_mut(flight.peer) else {
            return;
        };
        let Some(request) = *peer.request(flight.slot) else {
            return;
        };
        let h = frame.header;
        if h.src != peer.addr || h.dst != NodeAddr::GATEWAY || h.seq != request.seq {
            self.stats.unexpected = self.stats.unexpected.saturating_add(1);
            return;
        }
        #[cfg(feature = "auth")]
        if let Some(peer_auth) = peer.auth.as_mut() {
            let signed = auth.is_some_and(|a| {
                super::covers(a.covered, frame)
                    && answer_is_signed(peer_auth, peer.addr, &request, a.covered, &a.trailer)
            });
            // A request sent before the node had a key cannot have a
            // tagged answer; every other answer from a keyed node must.
            let unkeyed_request = request.counter.is_none() && request.challenge.is_none();
            if !signed && !unkeyed_request {
                self.stats.auth_rejected = self.stats.auth_rejected.saturating_add(1);
                peer_auth.rejected = peer_auth.rejected.saturating_add(1);
                self.report_rejected();
                return;
            }
            if let (true, Some(_), Report::Nack(NackReason::Stale { floor })) =
                (signed, request.counter, &frame.body)
            {
                if !request.resynced && request.attempts == 1 {
                    // The first transmission was refused, so never executed:
                    // safe to send again with a counter the node accepts.
                    peer_auth.tx.advance_to(floor.get());
                    *peer.request(flight.slot) = Some(Request {
                        counter: None,
                        resynced: true,
                        attempts: 0,
                        ..request
                    });
                    self.in_flight = None;
                    self.cursor = flight.peer;
                    self.stats.responses = self.stats.responses.saturating_add(1);
                    self.stats.resynchronisations = self.stats.resynchronisations.saturating_add(1);
                    return;
                }
            }
        }
        #[cfg(not(feature = "auth"))]
        let _ = auth;
        if self.output.capacity() - self.output.len() < ROOM_FOR_A_RESPONSE {
            // Declining is safe: the request times out and is retransmitted,
            // and the node answers the retransmission from its cache.
            return;
        }
        self.in_flight = None;
        self.stats.responses = self.stats.responses.saturating_add(1);
        let addr = peer.addr;
        peer.failures = 0;
        if peer.lost {
            peer.lost = false;
            self.stats.nodes_recovered = self.stats.nodes_recovered.saturating_add(1);
            let _ = self.output.push_back(MasterEvent::NodeBack { node: addr });
        }
        *peer.request(flight.slot) = None;
        match flight.slot {
            Slot::User => {
                let _ = self.output.push_back(MasterEvent::Response {
                    node: addr,
                    command: request.command,
                    report: frame.body.clone(),
                });
            }
            Slot::Internal => self.internal_answered(flight.peer, request.command, frame, now),
        }
    }

    fn internal_answered(
        &mut self,
        index: usize,
        command: Command,
        frame: &Frame<Report>,
        now: Instant,
    ) {
        let Some(peer) = self.peers.get_mut(index) else {
            return;
        };
        let addr = peer.addr;
        match (command, &frame.body) {
            (Command::PollEvents, Report::Events { events, dropped }) => {
                // What may be acknowledged: the last event of this report
                // that the gateway has delivered, now or before. Never more.
                let mut delivered_up_to = None;
                let mut in_order = true;
                for record in events {
                    let is_start = matches!(record.event, Event::NodeStarted { .. })
                        && record.seq == EventSeq(0);
                    let fresh = if is_start {
                        // A restart, unless it is the start event we already
                        // delivered and whose acknowledgement was lost. (A node
                        // that restarts twice within one acknowledgement round
                        // trip may look the same; it is also lost and back,
                        // which makes the gateway ask for full status. One
                        // that kept a record of its queue does not: the
                        // record differs from the last start event's.)
                        peer.start_unconfirmed != Some(record.event)
                    } else {
                        match peer.last_delivered {
                            None => true,
                            Some(last) if record.seq == last.next() => true,
                            Some(last) if !record.seq.is_after(last) => false,
                            Some(_) => {
                                // A node numbers its events without gaps and
                                // forgets only what the gateway acknowledged:
                                // a jump ahead is not the node's. Deliver
                                // nothing from here, acknowledge nothing
                                // beyond what was delivered.
                                in_order = false;
                                break;
                            }
                        }
                    };
                    delivered_up_to = Some(record.seq);
                    if !fresh {
                        self.stats.duplicates_filtered =
                            self.stats.duplicates_filtered.saturating_add(1);
                        continue;
                    }
                    // What the node's previous life held and the gateway
                    // never received, when the node kept a record of it.
                    let lost = match record.event {
                        Event::NodeStarted {
                            held: Some(held), ..
                        } if is_start => held
                            .lost_after(peer.last_delivered)
                            .saturating_add(held.dropped.saturating_sub(peer.dropped_seen)),
                        _ => 0,
                    };
                    if is_start {
                        // A new life counts its drops from zero.
                        peer.dropped_seen = 0;
                    }
                    peer.last_delivered = Some(record.seq);
                    if is_start {
                        peer.start_unconfirmed = Some(record.event);
                    }
                    self.stats.events_delivered = self.stats.events_delivered.saturating_add(1);
                    let _ = self.output.push_back(MasterEvent::Event {
                        node: addr,
                        record: *record,
                    });
                    if lost > 0 {
                        let _ = self.output.push_back(MasterEvent::EventsDropped {
                            node: addr,
                            count: lost,
                        });
                    }
                }
                // Counted after the events: a report that starts a new life
                // counts that life's drops.
                if *dropped > peer.dropped_seen {
                    let count = dropped - peer.dropped_seen;
                    let _ = self
                        .output
                        .push_back(MasterEvent::EventsDropped { node: addr, count });
                }
                peer.dropped_seen = *dropped;
                if !in_order {
                    self.stats.unexpected = self.stats.unexpected.saturating_add(1);
                }
                peer.more_pending = in_order && frame.header.flags.contains(Flags::MORE_PENDING);
                if let Some(up_to) = delivered_up_to {
                    let ack = peer.new_request(Command::AckEvents { up_to });
                    peer.internal = Some(ack);
                } else {
                    peer.next_poll = now + self.config.poll_interval;
                }
            }
            (Command::AckEvents { .. }, _) => {
                if frame.body == Report::Ack {
                    peer.start_unconfirmed = None;
                }
                peer.next_poll = if peer.more_pending {
                    now
                } else {
                    now + self.config.poll_interval
                };
                if peer.more_pending {
                    let poll = peer.new_request(Command::PollEvents);
                    peer.internal = Some(poll);
                }
            }
            #[cfg(feature = "auth")]
            (Command::GetAuthFloor, report) => {
                if let Some(auth) = peer.auth.as_mut() {
                    if let Report::AuthFloor { floor } = report {
                        if floor.get() > auth.tx.next() {
                            auth.tx.advance_to(floor.get());
                            self.stats.resynchronisations =
                                self.stats.resynchronisations.saturating_add(1);
                        }
                    }
                    // Any other answer (`Unsupported` from a node built
                    // without `auth`) is the node's word too:
                    // resynchronisation by stale refusals is all it offers.
                    auth.floor_learned = true;
                }
                // On with the event poll the floor went before.
                let poll = peer.new_request(Command::PollEvents);
                peer.internal = Some(poll);
                peer.next_poll = now + self.config.poll_interval;
            }
            _ => peer.next_poll = now + self.config.poll_interval,
        }
    }

    /// Handles timers: response timeouts (retransmit or give up) and event
    /// polls that are due. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(flight) = self.in_flight.filter(|f| f.deadline <= now) {
            if self.output.capacity() - self.output.len() < 2 {
                return; // drain poll_event first; nothing is lost by waiting
            }
            self.in_flight = None;
            self.stats.timeouts = self.stats.timeouts.saturating_add(1);
            self.request_timed_out(flight, now);
        }
        #[cfg(feature = "auth")]
        self.report_rejected();
        let poll_interval = self.config.poll_interval;
        for peer in self.peers.iter_mut() {
            if peer.internal.is_none() && peer.next_poll <= now {
                #[cfg(feature = "auth")]
                let command = if peer.auth.as_ref().is_some_and(|a| !a.floor_learned) {
                    Command::GetAuthFloor
                } else {
                    Command::PollEvents
                };
                #[cfg(not(feature = "auth"))]
                let command = Command::PollEvents;
                let poll = peer.new_request(command);
                peer.internal = Some(poll);
                peer.next_poll = now + poll_interval;
            }
        }
    }

    fn request_timed_out(&mut self, flight: InFlight, now: Instant) {
        let config = self.config;
        let Some(peer) = self.peers.get_mut(flight.peer) else {
            return;
        };
        let Some(request) = *peer.request(flight.slot) else {
            return;
        };
        if request.attempts < config.max_attempts {
            // Retransmit next, with the same sequence number.
            self.cursor = flight.peer;
            return;
        }
        *peer.request(flight.slot) = None;
        let addr = peer.addr;
        peer.failures = peer.failures.saturating_add(1);
        if flight.slot == Slot::User {
            let _ = self.output.push_back(MasterEvent::RequestFailed {
                node: addr,
                command: request.command,
            });
        }
        if peer.failures >= config.unresponsive_after && !peer.lost {
            peer.lost = true;
            self.stats.nodes_lost = self.stats.nodes_lost.saturating_add(1);
            let _ = self.output.push_back(MasterEvent::NodeLost { node: addr });
        }
        peer.next_poll = now
            + if peer.lost {
                config.lost_poll_interval
            } else {
                config.poll_interval
            };
    }

    /// Reports the answers rejected since the last report, node by node, as
    /// far as the output queue has room (the rest wait for the next call).
    #[cfg(feature = "auth")]
    fn report_rejected(&mut self) {
        for peer in self.peers.iter_mut() {
            let Some(auth) = peer.auth.as_mut().filter(|a| a.rejected > 0) else {
                continue;
            };
            if self.output.capacity() - self.output.len() <= ROOM_FOR_A_RESPONSE {
                return;
            }
            let _ = self.output.push_back(MasterEvent::AnswersRejected {
                node: peer.addr,
                count: auth.rejected,
            });
            auth.rejected = 0;
        }
    }

    /// The next thing the master learned, if any. Drain after every `handle_*`.
    pub fn poll_event(&mut self) -> Option<MasterEvent> {
        self.output.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let polls = self
            .peers
            .iter()
            .filter(|p| p.internal.is_none())
            .map(|p| p.next_poll)
            .min();
        match (self.in_flight.map(|f| f.deadline), polls) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The seal of a request: `Ok(None)` unsigned (a node without a key),
/// `Ok(Some)` signed (taking a counter at the first transmission) or, for a
/// query to a keyed node, a challenge (made at the first transmission);
/// `Err` while no counter is reserved.
#[cfg(feature = "auth")]
fn seal(
    auth: Option<&mut PeerAuth>,
    salt: &[u8; 16],
    request: &mut Request,
) -> Result<Option<Seal>, ()> {
    let Some(auth) = auth else {
        return Ok(None);
    };
    if !request.command.needs_tag() {
        let made = match request.challenge {
            Some(made) => made,
            None => {
                let epoch = match auth.epoch {
                    Some(epoch) => epoch,
                    None => {
                        let epoch = auth.tx.take().ok_or(())?;
                        auth.epoch = Some(epoch);
                        epoch
                    }
                };
                let made = challenge(&auth.key, salt, epoch, auth.queries);
                auth.queries = auth.queries.saturating_add(1);
                request.challenge = Some(made);
                made
            }
        };
        return Ok(Some(Seal::Challenge(made)));
    }
    let counter = match request.counter {
        Some(counter) => counter,
        None => {
            let counter = auth.tx.take().ok_or(())?;
            request.counter = Some(counter);
            counter
        }
    };
    Ok(Some(Seal::Tag {
        key: auth.key,
        counter,
        direction: Direction::ToNode,
    }))
}

/// Whether an answer's trailer is the tag the node makes for `request`:
/// under the command's counter for a signed command, under the binding of
/// the query and its challenge for a query.
#[cfg(feature = "auth")]
fn answer_is_signed(
    auth: &PeerAuth,
    addr: NodeAddr,
    request: &Request,
    covered: &[u8],
    trailer: &AuthTrailer,
) -> bool {
    let (counter, direction) = match (request.counter, request.challenge) {
        (Some(counter), _) => (counter, Direction::ToGateway),
        (None, Some(challenge)) => {
            let query = Frame {
                header: Header::new(
                    NodeAddr::GATEWAY,
                    addr,
                    request.seq,
                    Flags::ACK_WANTED.with(Flags::AUTHENTICATED),
                ),
                body: request.command,
            };
            let mut buf = [0u8; crate::frame::MAX_FRAME];
            let Some(bytes) = super::covered_bytes(&query, &mut buf) else {
                return false;
            };
            (
                query_binding(&auth.key, bytes, &challenge),
                Direction::QueryAnswer,
            )
        }
        (None, None) => return false,
    };
    trailer.freshness == freshness_bits(counter)
        && verify(&auth.key, covered, counter, direction, &trailer.tag)
}
