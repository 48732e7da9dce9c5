//! A line of Kerong boards that the gateway drives as our nodes: [`BoardLine`].

use embedded_io::{ErrorType, Read, Write};
use heapless::{Deque, Vec};
use locker_proto::frame::{Decoder, Feed, Frame, MAX_FRAME};
use locker_proto::{Channel, Command, Instant, NodeAddr, ResetReason};

use super::{
    BoardNode, BoardNodeConfig, BoardStatus, CU16_CHANNELS, CU48_CHANNELS, Cu16, Cu16Address,
    Cu16StatusRequest, Cu48, KerongError, LockBitPolarity, LockBoard,
};

/// Board errors a [`BoardLine`] keeps for [`poll_trouble`](BoardLine::poll_trouble);
/// older ones make room for newer ones.
const TROUBLES: usize = 8;

/// One Kerong board on the line, by model and the address set on its DIP
/// switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BoardAddress {
    /// A KR-CU16 (16 channels).
    Cu16(Cu16Address),
    /// A KR-CU48 (48 channels) at this address.
    Cu48(u8),
}

impl BoardAddress {
    /// How many channels the board has.
    pub const fn channels(self) -> u8 {
        match self {
            BoardAddress::Cu16(_) => CU16_CHANNELS,
            BoardAddress::Cu48(_) => CU48_CHANNELS,
        }
    }
}

/// The channels of one board a node stands for: channels
/// `first..first + count` of `board`, numbered from 0 on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BoardChannels {
    /// The board.
    pub board: BoardAddress,
    /// The board channel that is the node's channel 0.
    pub first: Channel,
    /// How many channels the node has.
    pub count: u8,
}

impl BoardChannels {
    fn end(self) -> u16 {
        u16::from(self.first.0) + u16::from(self.count)
    }

    fn overlaps(self, other: BoardChannels) -> bool {
        self.board == other.board
            && u16::from(self.first.0) < other.end()
            && u16::from(other.first.0) < self.end()
    }
}

/// The model of the boards on a line, with the rule that puts each node of
/// the bank's layout on a board.
///
/// - [`Cu16`](Self::Cu16): node `N` (1 to 16) is the board whose DIP
///   address is `N - 1`, its channels 0 up to the node's channel count.
/// - [`Cu48`](Self::Cu48): a KR-CU48 is two nodes of 24 channels (a node
///   reports 32 at most): node `N` (1 to 254) is board `(N - 1) / 2`, its
///   lower half (channels 0 to 23) for odd `N` and its upper half (24 to
///   47) for even `N`.
///
/// ```
/// use locker_drivers::kerong::{BoardAddress, BoardModel, Cu16Address};
/// use locker_proto::{Channel, NodeAddr};
///
/// let node3 = BoardModel::Cu16.channels_of(NodeAddr(3), 16)?;
/// assert_eq!(node3.board, BoardAddress::Cu16(Cu16Address::new(2).unwrap()));
///
/// let node4 = BoardModel::Cu48.channels_of(NodeAddr(4), 24)?;
/// assert_eq!((node4.board, node4.first), (BoardAddress::Cu48(1), Channel(24)));
///
/// assert!(BoardModel::Cu16.channels_of(NodeAddr(17), 16).is_err());
/// # Ok::<(), locker_drivers::kerong::BoardLineError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BoardModel {
    /// KR-CU16 boards, one node each.
    Cu16,
    /// KR-CU48 boards, two nodes each.
    Cu48,
}

impl BoardModel {
    /// The most channels one node has on this model: 16 on a CU16, 24 on
    /// a CU48 (half a board).
    pub const fn node_channels(self) -> u8 {
        match self {
            BoardModel::Cu16 => CU16_CHANNELS,
            BoardModel::Cu48 => CU48_CHANNELS / 2,
        }
    }

    /// Where node `node`, with `channels` compartments, sits (see the type
    /// docs for the rule).
    ///
    /// # Errors
    ///
    /// [`BoardLineError::NoBoardFor`] for a node the rule puts on no board;
    /// [`BoardLineError::Channels`] for 0 channels or more than
    /// [`node_channels`](Self::node_channels).
    pub fn channels_of(
        self,
        node: NodeAddr,
        channels: u8,
    ) -> Result<BoardChannels, BoardLineError> {
        if channels == 0 || channels > self.node_channels() {
            return Err(BoardLineError::Channels {
                node,
                channels,
                most: self.node_channels(),
            });
        }
        let no_board = BoardLineError::NoBoardFor { node, model: self };
        if !node.is_node() {
            return Err(no_board);
        }
        let index = node.0.saturating_sub(1);
        let (board, first) = match self {
            BoardModel::Cu16 => (
                BoardAddress::Cu16(Cu16Address::new(index).ok_or(no_board)?),
                0,
            ),
            BoardModel::Cu48 => (
                BoardAddress::Cu48(index / 2),
                (index % 2) * self.node_channels(),
            ),
        };
        Ok(BoardChannels {
            board,
            first: Channel(first),
            count: channels,
        })
    }
}

/// Why a [`BoardLine`] refused a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BoardLineError {
    /// The board rule puts this node on no board.
    #[error(
        "{node} has no {model:?} board: CU16 nodes are 1 to 16 (DIP address = node - 1), CU48 nodes 1 to 254 (two per board)"
    )]
    NoBoardFor {
        /// The node.
        node: NodeAddr,
        /// The model of the line.
        model: BoardModel,
    },
    /// A node with no channels, or with more than its board offers.
    #[error("{node} cannot have {channels} channels: at most {most} on this board, at least 1")]
    Channels {
        /// The node.
        node: NodeAddr,
        /// The channels asked for.
        channels: u8,
        /// The most it can have.
        most: u8,
    },
    /// The address is the gateway's or broadcast, or is already on the line.
    #[error("{0} is not a free node address on this line")]
    Address(NodeAddr),
    /// Two nodes would drive the same lock.
    #[error("{node} would share board channels with {other}")]
    Overlap {
        /// The node refused.
        node: NodeAddr,
        /// The node already on those channels.
        other: NodeAddr,
    },
    /// The line holds no more nodes.
    #[error("the line holds {capacity} nodes at most")]
    Full {
        /// Its capacity.
        capacity: usize,
    },
    /// No node with this address is on the line.
    #[error("{0} is not on this line")]
    UnknownNode(NodeAddr),
}

/// A board exchange that went wrong, for the log: the node whose frame
/// asked for it and what the driver reported. The gateway got its answer
/// anyway (`Nack(Faulted)` where the board was needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BoardTrouble<E> {
    /// The node standing for the board.
    pub node: NodeAddr,
    /// What went wrong on the vendor's line.
    pub error: KerongError<E>,
}

/// An answer for the gateway: our bus encoding of a node's report, signed
/// where the node's link signs, delimiter included. Give
/// [`bytes`](Self::bytes) to the gateway as received from the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardAnswer {
    node: NodeAddr,
    bytes: [u8; MAX_FRAME],
    len: usize,
}

impl BoardAnswer {
    /// The node that answered.
    pub fn node(&self) -> NodeAddr {
        self.node
    }

    /// The encoded frame.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// What a [`BoardLine`] has seen since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BoardLineStats {
    /// Frames from the gateway decoded.
    pub frames: u32,
    /// Byte runs from the gateway that were not a frame.
    pub bad_frames: u32,
    /// Frames for an address no board stands for, left unanswered.
    pub no_board: u32,
    /// Board exchanges that went wrong (each also a [`BoardTrouble`]).
    pub board_errors: u32,
    /// Troubles dropped because nobody took them from
    /// [`poll_trouble`](BoardLine::poll_trouble).
    pub troubles_dropped: u32,
}

/// One node of the line: the adapter and the board channels behind it.
#[derive(Clone, Debug)]
struct Seat<const QUEUE: usize> {
    node: BoardNode<QUEUE>,
    on: BoardChannels,
}

/// A line of Kerong boards that the gateway drives as our nodes: the
/// gateway's transmitted bytes in, our nodes' answers out, the vendor's
/// frames on the serial port in between.
///
/// Each node of the bank's layout is a [`BoardNode`] over some channels of
/// a board ([`BoardChannels`], usually from [`BoardModel::channels_of`]);
/// up to `NODES` of them share the port `S`, up to 16 KR-CU16 boards or
/// KR-CU48 boards as two nodes each. `QUEUE` is each node's event queue.
///
/// # Calling it
///
/// Sans-IO towards the gateway, blocking on the vendor's line (each frame
/// is at most three board exchanges, each bounded by the port's read
/// timeout; see [`BoardNode`]). Time comes in as `now`.
///
/// 1. [`handle_transmit`](Self::handle_transmit) with the bytes the gateway
///    transmits, in any chunking, at the `now` they went out. A frame for a
///    node on the line runs its exchange with the board; a frame for any
///    other address is left unanswered, as on a bus, and the gateway's
///    master times out.
///    With feature `async` and a port implementing `embedded-io-async`,
///    `handle_transmit_async` does the same, awaiting the board exchanges.
/// 2. With feature `auth`, store what `poll_persist` asks for, as node
///    firmware does, then call `persisted`.
/// 3. [`poll_answer`](Self::poll_answer) until `None`: hand each answer's
///    bytes to the gateway as received (`Gateway::handle_bytes`).
/// 4. [`poll_trouble`](Self::poll_trouble) for the log: what went wrong
///    with a board. Nothing here panics; a board error is answered on the
///    bus and counted ([`stats`](Self::stats), [`BoardNode::stats`]).
///
/// The line is large (every node's event queue): build it where it stays,
/// `const fn new` fits a `static`.
///
/// # Example
///
/// Two CU16 boards on one line, driven by the gateway's bus master:
///
/// ```
/// # #[cfg(feature = "sim")] { // the simulated board is behind feature `sim`
/// use locker_drivers::kerong::{BoardLine, BoardModel, BoardNodeConfig, Cu16Address};
/// use locker_drivers::sim::{SimCu16, SimRs485};
/// use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
/// use locker_proto::link::{Master, MasterConfig, MasterEvent};
/// use locker_proto::{Command, Instant, NodeAddr, Report};
///
/// let boards = [0, 1].map(|a| SimCu16::cu16(Cu16Address::new(a).unwrap(), Instant::ZERO));
/// let mut line = BoardLine::<_, 4, 16>::new(SimRs485::new(boards), BoardNodeConfig::default());
/// let mut master = Master::<4>::new(MasterConfig::default());
/// for node in [NodeAddr(1), NodeAddr(2)] {
///     line.add_node(node, BoardModel::Cu16.channels_of(node, 16)?, Instant::ZERO)?;
///     master.add_node(node, Instant::ZERO)?;
/// }
///
/// let now = Instant::from_millis(5);
/// master.send(NodeAddr(2), Command::GetAllStatus, now)?;
/// let mut wire = [0u8; MAX_FRAME];
/// while let Some(request) = master.poll_outgoing(now) {
///     line.handle_transmit(request.encode(&mut wire)?, now);
///     while let Some(answer) = line.poll_answer() {
///         let mut decoder = Decoder::new();
///         if let Feed::Frame { frame, .. } = decoder.feed::<Report>(answer.bytes()) {
///             master.handle_received(&frame, decoder.last_authenticated(), now);
///         }
///     }
/// }
/// let answered = core::iter::from_fn(|| master.poll_event()).any(|e| {
///     matches!(e, MasterEvent::Response { node: NodeAddr(2), report: Report::BulkStatus(_), .. })
/// });
/// assert!(answered);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BoardLine<S: ErrorType, const NODES: usize, const QUEUE: usize> {
    port: S,
    seats: Vec<Seat<QUEUE>, NODES>,
    decoder: Decoder,
    config: BoardNodeConfig,
    polarity: LockBitPolarity,
    status_request: Cu16StatusRequest,
    troubles: Deque<BoardTrouble<S::Error>, TROUBLES>,
    stats: BoardLineStats,
}

impl<S: ErrorType, const NODES: usize, const QUEUE: usize> BoardLine<S, NODES, QUEUE> {
    /// An empty line on `port`, whose nodes will read their boards as
    /// `config` says, with the drivers' default [`LockBitPolarity`] and
    /// [`Cu16StatusRequest`].
    pub const fn new(port: S, config: BoardNodeConfig) -> Self {
        BoardLine {
            port,
            seats: Vec::new(),
            decoder: Decoder::new(),
            config,
            polarity: LockBitPolarity::SetMeansLocked,
            status_request: Cu16StatusRequest::Status,
            troubles: Deque::new(),
            stats: BoardLineStats {
                frames: 0,
                bad_frames: 0,
                no_board: 0,
                board_errors: 0,
                troubles_dropped: 0,
            },
        }
    }

    /// The same line, reading every board's lock bits with `polarity`.
    #[must_use]
    pub fn with_polarity(mut self, polarity: LockBitPolarity) -> Self {
        self.polarity = polarity;
        self
    }

    /// The same line, asking its CU16 boards for their status with `request`.
    #[must_use]
    pub fn with_status_request(mut self, request: Cu16StatusRequest) -> Self {
        self.status_request = request;
        self
    }

    /// Puts node `addr` on the line over `on`, started at `now` (a
    /// [`ResetReason::PowerOn`]: the gateway greets it and asks for its
    /// status). Returns the node, e.g. to give it its key.
    ///
    /// # Errors
    ///
    /// [`BoardLineError::Address`] for the gateway's or the broadcast
    /// address or one already on the line; [`BoardLineError::Channels`] for
    /// channels the board does not have; [`BoardLineError::Overlap`] when
    /// another node already has one of them; [`BoardLineError::Full`].
    /// Nothing changes.
    pub fn add_node(
        &mut self,
        addr: NodeAddr,
        on: BoardChannels,
        now: Instant,
    ) -> Result<&mut BoardNode<QUEUE>, BoardLineError> {
        if !addr.is_node() || self.node(addr).is_some() {
            return Err(BoardLineError::Address(addr));
        }
        if on.count == 0 || on.end() > u16::from(on.board.channels()) {
            return Err(BoardLineError::Channels {
                node: addr,
                channels: on.count,
                most: on.board.channels().saturating_sub(on.first.0),
            });
        }
        if let Some(other) = self.seats.iter().find(|s| s.on.overlaps(on)) {
            return Err(BoardLineError::Overlap {
                node: addr,
                other: other.node.addr(),
            });
        }
        let node = BoardNode::new(addr, ResetReason::PowerOn, self.config, now)
            .with_channels(on.first, on.count);
        self.seats
            .push(Seat { node, on })
            .map_err(|_| BoardLineError::Full { capacity: NODES })?;
        self.seats
            .last_mut()
            .map(|s| &mut s.node)
            .ok_or(BoardLineError::Full { capacity: NODES })
    }

    /// The next frame in `rest` for a node on the line, with that node's
    /// seat; `rest` moves past it. Frames for other addresses and bad bytes
    /// are counted and skipped. `None` once every byte is taken.
    fn next_frame(&mut self, rest: &mut &[u8]) -> Option<(Frame<Command>, usize)> {
        loop {
            match self.decoder.feed::<Command>(rest) {
                Feed::Consumed => {
                    *rest = &[];
                    return None;
                }
                Feed::Error { remaining, .. } => {
                    self.stats.bad_frames = self.stats.bad_frames.saturating_add(1);
                    *rest = remaining;
                }
                Feed::Frame { frame, remaining } => {
                    *rest = remaining;
                    self.stats.frames = self.stats.frames.saturating_add(1);
                    let dst = frame.header.dst;
                    match self.seats.iter().position(|s| s.node.addr() == dst) {
                        Some(seat) => return Some((frame, seat)),
                        None => self.stats.no_board = self.stats.no_board.saturating_add(1),
                    }
                }
            }
        }
    }

    /// Keeps what went wrong in `node`'s exchange, if anything.
    fn exchanged(&mut self, node: NodeAddr, outcome: Result<(), KerongError<S::Error>>) {
        if let Err(error) = outcome {
            self.trouble(BoardTrouble { node, error });
        }
    }

    fn trouble(&mut self, trouble: BoardTrouble<S::Error>) {
        self.stats.board_errors = self.stats.board_errors.saturating_add(1);
        if self.troubles.is_full() {
            let _ = self.troubles.pop_front();
            self.stats.troubles_dropped = self.stats.troubles_dropped.saturating_add(1);
        }
        let _ = self.troubles.push_back(trouble);
    }

    /// The next answer for the gateway, encoded as our nodes encode it.
    #[must_use]
    pub fn poll_answer(&mut self) -> Option<BoardAnswer> {
        for seat in &mut self.seats {
            while let Some(outgoing) = seat.node.poll_outgoing() {
                let mut bytes = [0u8; MAX_FRAME];
                // A report always fits MAX_FRAME (locker-proto's frame
                // contract); one that did not would be lost, as on a bus.
                if let Ok(len) = outgoing.encode(&mut bytes).map(<[u8]>::len) {
                    return Some(BoardAnswer {
                        node: seat.node.addr(),
                        bytes,
                        len,
                    });
                }
            }
        }
        None
    }

    /// The next board error, oldest first (the last eight are kept).
    #[must_use]
    pub fn poll_trouble(&mut self) -> Option<BoardTrouble<S::Error>> {
        self.troubles.pop_front()
    }

    /// What the line has seen.
    pub fn stats(&self) -> BoardLineStats {
        self.stats
    }

    /// Node `addr`, for its statistics and link.
    pub fn node(&self, addr: NodeAddr) -> Option<&BoardNode<QUEUE>> {
        self.seats
            .iter()
            .map(|s| &s.node)
            .find(|n| n.addr() == addr)
    }

    /// Node `addr`, to reach its link ([`BoardNode::link_mut`]).
    pub fn node_mut(&mut self, addr: NodeAddr) -> Option<&mut BoardNode<QUEUE>> {
        self.seats
            .iter_mut()
            .map(|s| &mut s.node)
            .find(|n| n.addr() == addr)
    }

    /// Every node on the line, with the board channels it stands for.
    pub fn nodes(&self) -> impl Iterator<Item = (&BoardNode<QUEUE>, BoardChannels)> {
        self.seats.iter().map(|s| (&s.node, s.on))
    }

    /// The serial port (a simulated line, to act on its boards).
    pub fn port_mut(&mut self) -> &mut S {
        &mut self.port
    }

    /// Gives the serial port back.
    pub fn release(self) -> S {
        self.port
    }
}

impl<S: Read + Write, const NODES: usize, const QUEUE: usize> BoardLine<S, NODES, QUEUE> {
    /// Takes bytes the gateway transmitted, in any chunking: each complete
    /// frame for a node on the line runs its exchange with the board, and
    /// the node's answer waits in [`poll_answer`](Self::poll_answer).
    /// Frames for other addresses are counted and left unanswered; bad
    /// bytes are counted and skipped; board errors wait in
    /// [`poll_trouble`](Self::poll_trouble).
    pub fn handle_transmit(&mut self, bytes: &[u8], now: Instant) {
        let mut rest = bytes;
        while let Some((frame, seat)) = self.next_frame(&mut rest) {
            let auth = self.decoder.last_authenticated();
            let Some(seat) = self.seats.get_mut(seat) else {
                continue;
            };
            let mut board = LineBoard::new(
                seat.on.board,
                &mut self.port,
                self.polarity,
                self.status_request,
            );
            let outcome = seat.node.handle_received(&frame, auth, &mut board, now);
            self.exchanged(frame.header.dst, outcome);
        }
    }
}

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl<S, const NODES: usize, const QUEUE: usize> BoardLine<S, NODES, QUEUE>
where
    S: embedded_io_async::Read + embedded_io_async::Write,
{
    /// As [`handle_transmit`](Self::handle_transmit), on an async port
    /// ([`kerong::asynch`](super::asynch), whose timeout rule applies): the
    /// same frames, answers and troubles, the board exchanges awaited.
    pub async fn handle_transmit_async(&mut self, bytes: &[u8], now: Instant) {
        let mut rest = bytes;
        while let Some((frame, seat)) = self.next_frame(&mut rest) {
            let auth = self.decoder.last_authenticated();
            let Some(seat) = self.seats.get_mut(seat) else {
                continue;
            };
            let mut board = LineBoard::new(
                seat.on.board,
                &mut self.port,
                self.polarity,
                self.status_request,
            );
            let outcome = seat
                .node
                .handle_received_async(&frame, auth, &mut board, now)
                .await;
            self.exchanged(frame.header.dst, outcome);
        }
    }
}

/// The driver of one board of the line, on the line's port for one
/// exchange: whichever model it is, blocking or async.
enum LineBoard<'a, S> {
    Cu16(Cu16<&'a mut S>),
    Cu48(Cu48<&'a mut S>),
}

impl<'a, S> LineBoard<'a, S> {
    fn new(
        board: BoardAddress,
        port: &'a mut S,
        polarity: LockBitPolarity,
        status_request: Cu16StatusRequest,
    ) -> Self {
        match board {
            BoardAddress::Cu16(address) => LineBoard::Cu16(
                Cu16::new(port, address)
                    .with_polarity(polarity)
                    .with_status_request(status_request),
            ),
            BoardAddress::Cu48(address) => {
                LineBoard::Cu48(Cu48::new(port, address).with_polarity(polarity))
            }
        }
    }
}

/// Delegates to the model's driver.
macro_rules! each_model {
    ($board:expr, $driver:ident => $call:expr) => {
        match $board {
            LineBoard::Cu16($driver) => $call,
            LineBoard::Cu48($driver) => $call,
        }
    };
}

impl<S: Read + Write> LockBoard for LineBoard<'_, S> {
    type SerialError = S::Error;

    fn channel_count(&self) -> u8 {
        each_model!(self, b => b.channel_count())
    }

    fn unlock(&mut self, channel: Channel) -> Result<(), KerongError<S::Error>> {
        each_model!(self, b => LockBoard::unlock(b, channel))
    }

    fn status(&mut self) -> Result<BoardStatus, KerongError<S::Error>> {
        each_model!(self, b => LockBoard::status(b))
    }

    fn ir_blocked_when_empty(&self, channel: Channel) -> bool {
        each_model!(self, b => LockBoard::ir_blocked_when_empty(b, channel))
    }

    fn set_ir_blocked_when_empty(&mut self, channel: Channel, blocked: bool) {
        each_model!(self, b => LockBoard::set_ir_blocked_when_empty(b, channel, blocked))
    }
}

#[cfg(feature = "async")]
impl<S> super::asynch::LockBoard for LineBoard<'_, S>
where
    S: embedded_io_async::Read + embedded_io_async::Write,
{
    type SerialError = S::Error;

    fn channel_count(&self) -> u8 {
        each_model!(self, b => super::asynch::LockBoard::channel_count(b))
    }

    async fn unlock(&mut self, channel: Channel) -> Result<(), KerongError<S::Error>> {
        each_model!(self, b => super::asynch::LockBoard::unlock(b, channel).await)
    }

    async fn status(&mut self) -> Result<BoardStatus, KerongError<S::Error>> {
        each_model!(self, b => super::asynch::LockBoard::status(b).await)
    }

    fn ir_blocked_when_empty(&self, channel: Channel) -> bool {
        each_model!(self, b => super::asynch::LockBoard::ir_blocked_when_empty(b, channel))
    }

    fn set_ir_blocked_when_empty(&mut self, channel: Channel, blocked: bool) {
        each_model!(self, b => super::asynch::LockBoard::set_ir_blocked_when_empty(b, channel, blocked))
    }
}

#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
impl<S: ErrorType, const NODES: usize, const QUEUE: usize> BoardLine<S, NODES, QUEUE> {
    /// Gives node `addr` its stored authentication state (its key, derived
    /// as the gateway derives it, and its receive floor), as node firmware
    /// does at boot. Then store what [`poll_persist`](Self::poll_persist)
    /// asks for before the first frame.
    ///
    /// # Errors
    ///
    /// [`BoardLineError::UnknownNode`]; nothing changes.
    pub fn restore_auth(
        &mut self,
        addr: NodeAddr,
        record: locker_proto::auth::NodeAuthRecord,
    ) -> Result<(), BoardLineError> {
        let node = self
            .node_mut(addr)
            .ok_or(BoardLineError::UnknownNode(addr))?;
        node.link_mut().restore_auth(record);
        Ok(())
    }

    /// The next authentication record a node asks to have stored: store it
    /// durably, then call [`persisted`](Self::persisted). Until then, the
    /// node leaves signed commands past its old reservation unanswered.
    #[must_use]
    pub fn poll_persist(&mut self) -> Option<(NodeAddr, locker_proto::auth::NodeAuthRecord)> {
        self.seats.iter_mut().find_map(|s| {
            let addr = s.node.addr();
            s.node.link_mut().poll_persist().map(|r| (addr, r))
        })
    }

    /// `record`, from [`poll_persist`](Self::poll_persist) for `addr`, is
    /// stored. An unknown node is ignored.
    pub fn persisted(&mut self, addr: NodeAddr, record: &locker_proto::auth::NodeAuthRecord) {
        if let Some(node) = self.node_mut(addr) {
            node.link_mut().persisted(record);
        }
    }
}
