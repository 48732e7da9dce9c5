//! A Kerong board standing where one of our compartment nodes stands on the
//! bus: [`BoardNode`].

use locker_proto::frame::{Authenticated, Frame};
use locker_proto::link::{NodeLink, Outgoing};
use locker_proto::{
    BulkStatus, Channel, ChannelBits, ChannelStatus, Command, Duration, Event, FaultCode,
    FirmwareVersion, Instant, MAX_CHANNELS, NackReason, NodeAddr, ProtocolVersions, Report,
    ResetReason,
};

use super::status::ir_presence;
use super::{BoardStatus, KerongError, LockBoard};

/// The fault a [`BoardNode`] raises, for the whole node, while its board
/// does not answer.
///
/// The board carries every channel's sensors (latch contacts and IR beams),
/// so a silent board is a node whose sensors do not answer. The bus
/// vocabulary has no code of its own for a silent vendor board; this is the
/// closest node-wide one, and the bank raises a node fault alert for it.
/// `locker-domain`'s gateway takes a node-wide `PresenceSensorFailed` as a
/// silent node: a board still silent a minute later has its power cycled
/// (its `GatewayOutput::PowerCycleNode`), and the `FaultCleared` this
/// adapter reports when the board answers again ends the silence.
pub const BOARD_SILENT_FAULT: FaultCode = FaultCode::PresenceSensorFailed;

/// How a [`BoardNode`] reads its board, fixed when it is built: the bus's
/// [`NodeConfig`](locker_proto::NodeConfig) has nothing a Kerong board can
/// take (its pulse length and debounce are set on the board).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BoardNodeConfig {
    /// The version answered to [`Command::Ping`]: the adapter's, since the
    /// board reports none.
    pub firmware: FirmwareVersion,
    /// How long after an unlock this adapter carried out a door opening
    /// counts as commanded. Any other opening is reported as forced.
    pub unlock_window: Duration,
    /// How long a door may stay open before [`Event::DoorAjar`].
    pub door_ajar_limit: Duration,
    /// Failed exchanges in a row (each already retried once) before the
    /// board is reported silent with [`BOARD_SILENT_FAULT`]. At least 1.
    pub silent_after: u8,
}

impl Default for BoardNodeConfig {
    /// Version 0.1.0; the unlock window (10 s) and door-ajar limit (60 s)
    /// of our own nodes' defaults; silent after 3 failed exchanges.
    fn default() -> Self {
        BoardNodeConfig {
            firmware: FirmwareVersion::new(0, 1, 0),
            unlock_window: Duration::from_secs(10),
            door_ajar_limit: Duration::from_secs(60),
            silent_after: 3,
        }
    }
}

/// What a [`BoardNode`] has seen of its board since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BoardNodeStats {
    /// Status requests sent to the board, retries included.
    pub status_requests: u32,
    /// Of those, requests the board did not answer at all (nothing came
    /// back, or the serial port failed).
    pub unanswered: u32,
    /// Of those, requests answered with garbage: a frame cut short,
    /// corrupted, from another address or of another kind, or a line that
    /// never fell quiet.
    pub garbled: u32,
    /// Times the board was reported silent.
    pub silent_reports: u32,
    /// Unlock requests the adapter put on the line (a write the port
    /// refused included).
    pub unlocks: u32,
}

/// Where each open door stands, per node channel.
#[derive(Clone, Copy, Debug)]
struct Doors {
    /// When this adapter last unlocked the channel, until an opening uses it.
    unlocked_at: [Option<Instant>; MAX_CHANNELS],
    /// When the door was first seen open.
    open_since: [Option<Instant>; MAX_CHANNELS],
    /// Doors already reported ajar in their current opening.
    ajar_reported: ChannelBits,
}

/// A Kerong lock board adapted to stand where one of our compartment nodes
/// stands: it takes the gateway's [`Command`] frames addressed to its
/// [`NodeAddr`] and answers the [`Report`] frames our node would have sent,
/// carrying them out on the board in the vendor's frames. The gateway's
/// [`Master`](locker_proto::link::Master) drives it as it drives one of our
/// nodes, and the bank cannot tell.
///
/// # What it does
///
/// The bus side is [`NodeLink`], the link layer our nodes run: sequence
/// numbers, a retransmitted command answered from the cache and never
/// carried out twice (an unlock pulses the board's lock once), the
/// acknowledged event queue, and with feature `auth` the same refusal of
/// unsigned or replayed commands (give it the node's key through
/// [`link_mut`](Self::link_mut)). It starts with [`Event::NodeStarted`], so
/// the gateway greets it and asks for its status.
///
/// Every exchange addressed to it first asks the board for its status (one
/// status request; a failed one is retried once, so one garbled or late
/// answer changes nothing) and turns what changed since the last answer
/// into our nodes' events:
///
/// - a latch that released: [`Event::DoorOpened`], `commanded` if this
///   adapter unlocked that channel within
///   [`unlock_window`](BoardNodeConfig::unlock_window) (one unlock covers
///   one opening), forced otherwise. A Kerong board has one contact per
///   door, on the latch: see [`BoardStatus`](super::BoardStatus);
/// - a latch that caught again: [`Event::DoorClosed`];
/// - a door open past [`door_ajar_limit`](BoardNodeConfig::door_ajar_limit):
///   [`Event::DoorAjar`], once per opening;
/// - an IR beam that changed: [`Event::PresenceChanged`], with the beam as
///   a reading of 1 (blocked) or 0 against a threshold of 1;
/// - [`silent_after`](BoardNodeConfig::silent_after) failed exchanges in a
///   row: [`Event::FaultRaised`] with [`BOARD_SILENT_FAULT`] for the whole
///   node, and [`Event::FaultCleared`] once it answers again (then the
///   changes it missed are reported as above).
///
/// Unlike our nodes it raises no [`FaultCode::LockJammed`]: with one
/// contact on the latch, a lock that never released and a door held shut
/// through the pulse read the same, and a false jam alarm is worse than
/// none (the bank still sees no opening after the unlock, and blames the
/// lock as long as `Policy::locks_report_jams` is left off for a bank of
/// these boards). An unlock it cannot pass on (the board does not answer)
/// is refused, `Nack(Faulted)`: the lock was not pulsed, and the bank does
/// not blame it for that.
///
/// The first status after start is taken as it is, without events: the
/// gateway reconciles its books with a full status after
/// [`Event::NodeStarted`], as it does for our nodes.
///
/// Commands, answered as our node answers them:
///
/// | command | answer |
/// |---|---|
/// | `Ping` | `Pong`, with [`firmware`](BoardNodeConfig::firmware), the adapter's uptime and the bus versions this crate speaks ([`ProtocolVersions::BUS`]) |
/// | `GetAllStatus` | `BulkStatus` from this exchange's board status |
/// | `GetStatus` | `Status` of the channel from this exchange's board status |
/// | `Unlock` | the board pulses that lock; `Ack` |
/// | `Configure` | takes `door_ajar_limit_s` as its [`door_ajar_limit`](BoardNodeConfig::door_ajar_limit), so the bank's one limit reaches a Kerong bank too; `Ack` (the rest has nothing on a board to act on: it times its own pulse and has no load cell). A zero limit → `Nack(InvalidConfig)`. Not kept over an adapter restart: the bank sends it again at every start |
/// | anything else (indicator, calibrate, reboot) | `Nack(Unsupported)` |
///
/// Refusals: a channel past the node's → `Nack(UnknownChannel)`; a zero
/// pulse → `Nack(NotPermitted)` (the board's own pulse length applies to
/// any other); a board that did not answer this exchange's status request
/// → `Nack(Faulted)`, and an unlock is then not sent.
///
/// # Calling it
///
/// Sans-IO on the bus side, blocking on the board side: each call is at
/// most three board exchanges (a status request, its retry, an unlock),
/// each bounded by the serial port's read timeout. Time comes in as
/// `now`; there is no clock inside and no timer to run.
///
/// 1. Hand each frame the gateway transmits to
///    [`handle_received`](Self::handle_received) (or
///    [`handle_frame`](Self::handle_frame) for an unsigned one), with the
///    board driver.
/// 2. Take the answer from [`poll_outgoing`](Self::poll_outgoing) (or
///    [`poll_transmit`](Self::poll_transmit) without authentication) and
///    give it to the gateway's master as a received frame.
///
/// With feature `async`, `handle_received_async` does the same with a board
/// on an async port (`kerong::asynch`): every decision above is shared, only
/// the board exchanges are awaited.
///
/// The driver is passed per call because several boards usually share one
/// RS-485 line: build each board's driver on `&mut port` for the exchange
/// (see [`Cu16`](super::Cu16)). Pass the same board every time.
///
/// A KR-CU48 has more channels than one node reports (32): present it as
/// two nodes of 24 with [`with_channels`](Self::with_channels).
///
/// # Example
///
/// ```
/// # #[cfg(feature = "sim")] { // the simulated board is behind feature `sim`
/// use locker_drivers::kerong::{BoardNode, BoardNodeConfig, Cu16, Cu16Address};
/// use locker_drivers::sim::SimCu16;
/// use locker_proto::frame::{Flags, Frame, Header, Seq};
/// use locker_proto::{BulkStatus, ChannelBits, Command, Event, Instant, NodeAddr, Report, ResetReason};
///
/// let board = Cu16Address::new(0).unwrap();
/// let mut line = SimCu16::cu16(board, Instant::ZERO); // the RS-485 line, simulated
/// let mut node = BoardNode::<8>::new(NodeAddr(7), ResetReason::PowerOn, BoardNodeConfig::default(), Instant::ZERO);
///
/// // The gateway asks node 7 for every channel's status.
/// let request = Frame {
///     header: Header::new(NodeAddr::GATEWAY, NodeAddr(7), Seq(1), Flags::ACK_WANTED),
///     body: Command::GetAllStatus,
/// };
/// let now = Instant::from_millis(10);
/// node.handle_frame(&request, &mut Cu16::new(&mut line, board), now)?;
/// let answer = node.poll_transmit().unwrap();
/// assert_eq!(answer.header.src, NodeAddr(7));
/// let Report::BulkStatus(bulk) = answer.body else { panic!("{answer:?}") };
/// assert_eq!((bulk.channels, bulk.locked), (16, ChannelBits(0xFFFF)));
///
/// // Someone pries door 4 open: the next poll reports it forced.
/// line.compartment_mut(locker_proto::Channel(4)).unwrap().force_door();
/// let poll = Frame { body: Command::PollEvents, header: Header { seq: Seq(2), ..request.header } };
/// node.handle_frame(&poll, &mut Cu16::new(&mut line, board), Instant::from_millis(260))?;
/// let Report::Events { events, .. } = node.poll_transmit().unwrap().body else { panic!() };
/// assert!(matches!(events[0].event, Event::NodeStarted { .. }));
/// assert_eq!(events[1].event, Event::DoorOpened { channel: locker_proto::Channel(4), commanded: false });
/// # }
/// # Ok::<(), locker_drivers::kerong::KerongError<core::convert::Infallible>>(())
/// ```
#[derive(Clone, Debug)]
pub struct BoardNode<const QUEUE: usize> {
    link: NodeLink<QUEUE>,
    config: BoardNodeConfig,
    reset_reason: ResetReason,
    started_at: Instant,
    first: u8,
    count: u8,
    /// The node's channels as last seen, `None` until the board first answers.
    known: Option<BulkStatus>,
    doors: Doors,
    failures_in_row: u8,
    silent: bool,
    stats: BoardNodeStats,
}

impl<const QUEUE: usize> BoardNode<QUEUE> {
    /// A node at `addr` started at `now` for `reset_reason`, covering the
    /// board's channels from 0 up to the board's last or the 32 a node
    /// reports. `QUEUE` is the capacity of its acknowledged event queue.
    pub fn new(
        addr: NodeAddr,
        reset_reason: ResetReason,
        config: BoardNodeConfig,
        now: Instant,
    ) -> Self {
        BoardNode {
            link: NodeLink::new(addr, reset_reason),
            config,
            reset_reason,
            started_at: now,
            first: 0,
            count: MAX_CHANNELS as u8,
            known: None,
            doors: Doors {
                unlocked_at: [None; MAX_CHANNELS],
                open_since: [None; MAX_CHANNELS],
                ajar_reported: ChannelBits(0),
            },
            failures_in_row: 0,
            silent: false,
            stats: BoardNodeStats::default(),
        }
    }

    /// The same node covering the board's channels `first..first + count`,
    /// numbered from 0 on the bus (`count` is cut to 32 and to the board's
    /// last channel). For a KR-CU48: `with_channels(Channel(0), 24)` and
    /// `with_channels(Channel(24), 24)` on two nodes.
    #[must_use]
    pub fn with_channels(mut self, first: Channel, count: u8) -> Self {
        self.first = first.0;
        self.count = count.min(MAX_CHANNELS as u8);
        self
    }

    /// This node's bus address.
    pub fn addr(&self) -> NodeAddr {
        self.link.addr()
    }

    /// The link layer: events waiting, refusals counted, and with feature
    /// `auth` the key and counter state.
    pub fn link(&self) -> &NodeLink<QUEUE> {
        &self.link
    }

    /// The link layer, to restore and persist its authentication state
    /// (`restore_auth`, `poll_persist`, `persisted`) as our node firmware
    /// does, or to enter provisioning mode.
    pub fn link_mut(&mut self) -> &mut NodeLink<QUEUE> {
        &mut self.link
    }

    /// What the adapter has seen of its board.
    pub fn stats(&self) -> BoardNodeStats {
        self.stats
    }

    /// Whether the board is currently reported silent.
    pub fn is_board_silent(&self) -> bool {
        self.silent
    }

    /// Handles an unsigned frame from the gateway: as
    /// [`handle_received`](Self::handle_received) without authentication.
    ///
    /// # Errors
    ///
    /// As [`handle_received`](Self::handle_received).
    pub fn handle_frame<B: LockBoard>(
        &mut self,
        frame: &Frame<Command>,
        board: &mut B,
        now: Instant,
    ) -> Result<(), KerongError<B::SerialError>> {
        self.handle_received(frame, None, board, now)
    }

    /// Handles a frame the gateway transmitted, with the decoder's
    /// [`last_authenticated`](locker_proto::frame::Decoder::last_authenticated)
    /// for it (or `None`): asks `board` for its status, queues the events
    /// that follow from it, and carries out the command on `board`. The
    /// answer for the gateway is then waiting in
    /// [`poll_outgoing`](Self::poll_outgoing). Frames for other addresses
    /// are ignored and touch no board.
    ///
    /// # Errors
    ///
    /// What went wrong with the board in this exchange, for the log. The
    /// gateway's answer is queued whatever this returns (a `Nack(Faulted)`
    /// where the board was needed) and the failure is counted in
    /// [`stats`](Self::stats). No event comes from a failed exchange but
    /// the silent-board fault once
    /// [`silent_after`](BoardNodeConfig::silent_after) have failed in a row;
    /// what the board was last seen to report is kept.
    pub fn handle_received<B: LockBoard>(
        &mut self,
        frame: &Frame<Command>,
        auth: Option<Authenticated<'_>>,
        board: &mut B,
        now: Instant,
    ) -> Result<(), KerongError<B::SerialError>> {
        if !self.admit(frame, auth, now) {
            return Ok(());
        }
        let first = self.ask_status(board.status());
        let status = match first {
            Ok(status) => Ok(status),
            Err(_) => self.ask_status(board.status()),
        };
        let (status, outcome) = self.refresh(status, now);
        let Some(unlock) = self.answer(frame, auth, status, now) else {
            return outcome;
        };
        let unlocked = board.unlock(unlock.on_board);
        self.unlocked(unlock, unlocked, outcome, now)
    }

    /// As [`handle_received`](Self::handle_received), with a board on an
    /// async port ([`kerong::asynch`](super::asynch)): the same exchanges
    /// and decisions, the board awaited.
    ///
    /// # Errors
    ///
    /// As [`handle_received`](Self::handle_received).
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub async fn handle_received_async<B: super::asynch::LockBoard>(
        &mut self,
        frame: &Frame<Command>,
        auth: Option<Authenticated<'_>>,
        board: &mut B,
        now: Instant,
    ) -> Result<(), KerongError<B::SerialError>> {
        if !self.admit(frame, auth, now) {
            return Ok(());
        }
        let first = self.ask_status(board.status().await);
        let status = match first {
            Ok(status) => Ok(status),
            Err(_) => self.ask_status(board.status().await),
        };
        let (status, outcome) = self.refresh(status, now);
        let Some(unlock) = self.answer(frame, auth, status, now) else {
            return outcome;
        };
        let unlocked = board.unlock(unlock.on_board).await;
        self.unlocked(unlock, unlocked, outcome, now)
    }

    /// Whether `frame` needs the board: frames for other addresses are
    /// ignored, and the link answers `GetAuthFloor` alone.
    fn admit(
        &mut self,
        frame: &Frame<Command>,
        auth: Option<Authenticated<'_>>,
        now: Instant,
    ) -> bool {
        let header = frame.header;
        if header.dst != self.link.addr() || header.src != NodeAddr::GATEWAY {
            return false;
        }
        if frame.body == Command::GetAuthFloor {
            // The link answers it alone; the board has nothing to add.
            let _ = self.link.handle_received(frame, auth, now);
            return false;
        }
        true
    }

    /// Hands the frame to the link and answers the command it lets
    /// through, with this exchange's board `status`; an unlock is left for
    /// the caller to put on the line.
    fn answer(
        &mut self,
        frame: &Frame<Command>,
        auth: Option<Authenticated<'_>>,
        status: Option<BoardStatus>,
        now: Instant,
    ) -> Option<Unlock> {
        let command = self.link.handle_received(frame, auth, now)?;
        match self.carry_out(command, status, now) {
            Step::Answer(report) => {
                self.link.respond(report);
                None
            }
            Step::Unlock(unlock) => Some(unlock),
        }
    }

    /// Answers an unlock the board was asked for: `Ack` if the request went
    /// out (the door's opening then counts as commanded), `Nack(Faulted)`
    /// if not. Returns the exchange's outcome, the unlock's error first.
    fn unlocked<E>(
        &mut self,
        Unlock { channel, .. }: Unlock,
        unlocked: Result<(), KerongError<E>>,
        outcome: Result<(), KerongError<E>>,
        now: Instant,
    ) -> Result<(), KerongError<E>> {
        match unlocked {
            Ok(()) => {
                if let Some(slot) = self.doors.unlocked_at.get_mut(channel.index()) {
                    *slot = Some(now);
                }
                self.link.respond(Report::Ack);
                outcome
            }
            Err(e) => {
                self.link.respond(Report::Nack(NackReason::Faulted));
                Err(e)
            }
        }
    }

    /// The next frame for the gateway, with what it takes to sign it: give
    /// [`Outgoing::encode`]'s bytes (or its frame, with the authentication
    /// the encoding carries) to the gateway's master as received.
    #[must_use]
    pub fn poll_outgoing(&mut self) -> Option<Outgoing<Report>> {
        self.link.poll_outgoing()
    }

    /// The next frame for the gateway, unsigned. With feature `auth` use
    /// [`poll_outgoing`](Self::poll_outgoing): the answer to a signed
    /// command needs its tag.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Frame<Report>> {
        self.link.poll_transmit()
    }

    /// Takes this exchange's board status (after its one retry, which
    /// absorbs a single garbled or late answer) and queues the events its
    /// changes to this node's channels imply, or counts the failure towards
    /// a silent board. Returns the status, if any, and the outcome.
    fn refresh<E>(
        &mut self,
        status: Result<BoardStatus, KerongError<E>>,
        now: Instant,
    ) -> (Option<BoardStatus>, Result<(), KerongError<E>>) {
        match status {
            Ok(status) => {
                let bulk = self.window(&status);
                if core::mem::take(&mut self.silent) {
                    self.push(Event::FaultCleared {
                        channel: None,
                        fault: BOARD_SILENT_FAULT,
                    });
                }
                self.failures_in_row = 0;
                self.observe(bulk, now);
                (Some(status), Ok(()))
            }
            Err(e) => {
                self.failures_in_row = self.failures_in_row.saturating_add(1);
                if !self.silent && self.failures_in_row >= self.config.silent_after.max(1) {
                    self.silent = true;
                    self.stats.silent_reports = self.stats.silent_reports.saturating_add(1);
                    self.push(Event::FaultRaised {
                        channel: None,
                        fault: BOARD_SILENT_FAULT,
                    });
                }
                (None, Err(e))
            }
        }
    }

    /// Counts one status request by its outcome, and passes it on.
    fn ask_status<E>(
        &mut self,
        result: Result<BoardStatus, KerongError<E>>,
    ) -> Result<BoardStatus, KerongError<E>> {
        let stats = &mut self.stats;
        stats.status_requests = stats.status_requests.saturating_add(1);
        match &result {
            Ok(_) => {}
            Err(
                KerongError::Serial(_)
                | KerongError::WriteStalled { .. }
                | KerongError::Truncated { received: 0, .. },
            ) => stats.unanswered = stats.unanswered.saturating_add(1),
            Err(_) => stats.garbled = stats.garbled.saturating_add(1),
        }
        result
    }

    /// The node's channels of the board's `status`, numbered from 0.
    fn window(&self, status: &BoardStatus) -> BulkStatus {
        status.bulk_status_window(Channel(self.first), self.count)
    }

    /// The board channel behind the node's `channel`.
    fn on_board(&self, channel: Channel) -> Channel {
        Channel(self.first.saturating_add(channel.0))
    }

    /// Compares `bulk` with what was last seen and queues the events.
    fn observe(&mut self, bulk: BulkStatus, now: Instant) {
        let Some(known) = self.known.replace(bulk) else {
            // The first sight after start: the gateway reconciles it with a
            // full status, so it raises nothing, but open doors start their
            // ajar clock.
            for i in 0..bulk.channels {
                if bulk.door_open.get(Channel(i)) {
                    self.set_open_since(Channel(i), Some(now));
                }
            }
            return;
        };
        for i in 0..bulk.channels {
            let channel = Channel(i);
            let open = bulk.door_open.get(channel);
            if open != known.door_open.get(channel) {
                self.door_moved(channel, open, now);
            }
            let occupied = bulk.occupied.get(channel);
            if occupied != known.occupied.get(channel) {
                self.push(Event::PresenceChanged {
                    channel,
                    presence: ir_presence(occupied),
                });
            }
            self.check_ajar(channel, now);
        }
    }

    fn door_moved(&mut self, channel: Channel, open: bool, now: Instant) {
        let i = channel.index();
        if open {
            let unlocked_at = self.doors.unlocked_at.get_mut(i).and_then(Option::take);
            let commanded =
                unlocked_at.is_some_and(|at| now.saturating_since(at) <= self.config.unlock_window);
            self.set_open_since(channel, Some(now));
            self.push(Event::DoorOpened { channel, commanded });
        } else {
            self.set_open_since(channel, None);
            self.push(Event::DoorClosed { channel });
        }
    }

    fn set_open_since(&mut self, channel: Channel, since: Option<Instant>) {
        if let Some(slot) = self.doors.open_since.get_mut(channel.index()) {
            *slot = since;
        }
        self.doors.ajar_reported.set(channel, false);
    }

    fn check_ajar(&mut self, channel: Channel, now: Instant) {
        let since = self
            .doors
            .open_since
            .get(channel.index())
            .copied()
            .flatten();
        let due = since.is_some_and(|at| now.saturating_since(at) >= self.config.door_ajar_limit);
        if due && !self.doors.ajar_reported.get(channel) {
            self.doors.ajar_reported.set(channel, true);
            self.push(Event::DoorAjar { channel });
        }
    }

    /// Queues an event. A full queue drops it and the link counts it in
    /// every later events report, as on our nodes.
    fn push(&mut self, event: Event) {
        let _ = self.link.push_event(event);
    }

    /// Decides the answer to a command the link handed out; `status` is
    /// this exchange's board status, `None` if the board did not answer. An
    /// unlock that passes every check is counted and left to the caller.
    fn carry_out(&mut self, command: Command, status: Option<BoardStatus>, now: Instant) -> Step {
        // A silent board keeps the channels it was last seen with, so a
        // channel it never had is still refused as unknown.
        let last_seen = self.known.map_or(self.count, |k| k.channels);
        let channels = status.map_or(last_seen, |s| self.window(&s).channels);
        let known = |channel: Channel| channel.0 < channels;
        Step::Answer(match command {
            // The adapter speaks our bus to the gateway, in the versions
            // this crate speaks, whatever the board's own frames are.
            Command::Ping { .. } => Report::Pong {
                firmware: self.config.firmware,
                uptime_ms: u32::try_from(now.saturating_since(self.started_at).as_millis())
                    .unwrap_or(u32::MAX),
                reset_reason: self.reset_reason,
                versions: ProtocolVersions::BUS,
            },
            Command::GetAllStatus => match status {
                Some(status) => Report::BulkStatus(self.window(&status)),
                None => Report::Nack(NackReason::Faulted),
            },
            Command::GetStatus { channel } if !known(channel) => {
                Report::Nack(NackReason::UnknownChannel)
            }
            Command::GetStatus { channel } => {
                match status.and_then(|s| s.channel_status(self.on_board(channel))) {
                    Some(status) => Report::Status(ChannelStatus { channel, ..status }),
                    None => Report::Nack(NackReason::Faulted),
                }
            }
            Command::Unlock { channel, .. } if !known(channel) => {
                Report::Nack(NackReason::UnknownChannel)
            }
            // A zero pulse releases nothing: acknowledging it would tell the
            // gateway a door is open for a courier when it is not.
            Command::Unlock { pulse_ms: 0, .. } => Report::Nack(NackReason::NotPermitted),
            Command::Unlock { .. } if status.is_none() => Report::Nack(NackReason::Faulted),
            Command::Unlock { channel, .. } => {
                self.stats.unlocks = self.stats.unlocks.saturating_add(1);
                return Step::Unlock(Unlock {
                    channel,
                    on_board: self.on_board(channel),
                });
            }
            Command::Configure(config) if config.door_ajar_limit_s == 0 => {
                Report::Nack(NackReason::InvalidConfig)
            }
            Command::Configure(config) => {
                self.config.door_ajar_limit =
                    Duration::from_secs(u64::from(config.door_ajar_limit_s));
                Report::Ack
            }
            _ => Report::Nack(NackReason::Unsupported),
        })
    }
}

/// A command once decided.
// Lives for one call, as the `Report` inside it would anyway: boxing the
// small variant's sibling would need a heap.
#[allow(clippy::large_enum_variant)]
enum Step {
    /// This report answers it.
    Answer(Report),
    /// The board must pulse a lock first.
    Unlock(Unlock),
}

/// An unlock that passed every check, for the board to carry out.
struct Unlock {
    /// The node's channel.
    channel: Channel,
    /// The board's channel behind it.
    on_board: Channel,
}
