//! The whole gateway of a locker bank as one sans-IO machine.
//!
//! A [`Gateway`] owns the [`Bank`] (the books), the bus [`Master`] (the
//! link layer to the compartment nodes), an optional [`Uplink`] (the
//! backend), the queue of commands waiting for each node and the greeting
//! of every node before its first command. A program around it (the Linux
//! gateway, the simulator, a test) owns only I/O: the serial port, files,
//! clocks, the console, the MQTT client. It reads no clock and touches no
//! port, as quinn-proto's `Connection` is to the `quinn` crate.
//!
//! ```text
//!  serial bytes ─► handle_bytes ─► Master ─► Bank ◄─ reserve, enter_code, staff_open…
//!  backend msg  ─► handle_downward ─► Uplink ─┘  │
//!  UPS          ─► handle_power                  │ poll(now)
//!  timers       ─► handle_timeout                ▼
//!        Transmit │ Persist │ Audit │ Notification │ Alert │ Snapshot │ Upward │ Reboot …
//! ```
//!
//! # What the gateway guarantees
//!
//! - **Nothing signed leaves before its counter is stored.** A signed
//!   command waits until [`Persist::Counter`] was confirmed with
//!   [`Gateway::counter_persisted`], so a restarted gateway never reuses a
//!   counter.
//! - **The snapshot comes first**: [`Persist::Bank`] comes before the
//!   audit records of the change and before any upward message about it,
//!   so neither the audit log nor the backend ever hears of a state the
//!   books on disk do not have.
//! - **Every node is greeted** with a ping before its first bank command:
//!   after the gateway starts, after the node reports a restart and when a
//!   lost node answers again (see `sessions.rs` for why).
//! - **The uplink sees every bank output.** Each audit record, alert and
//!   notification the shell gets is also projected onto the uplink, whose
//!   messages come out as [`GatewayOutput::Upward`].
//! - **Bad input changes nothing.** A frame that does not decode is counted
//!   ([`GatewayStats::bad_frames`]); a node report the bank refuses comes
//!   out as [`GatewayOutput::NodeInputRefused`]; a bank call refused
//!   returns its typed error with the books unchanged.
//!
//! # Example
//!
//! A gateway for one node with one compartment greets the node first:
//!
//! ```
//! use locker_domain::bank::{Bank, BankId, BankKeys, Compartment, Books, Policy};
//! use locker_domain::gateway::{Gateway, GatewayOutput};
//! use locker_proto::link::MasterConfig;
//! use locker_proto::time::Instant;
//! use locker_proto::{Channel, Command, CompartmentId, Dimensions, NodeAddr, SizeClass};
//!
//! let small = Compartment::new(CompartmentId(1), NodeAddr(1), Channel(0), SizeClass::Small,
//!     Dimensions::new(420, 80, 600));
//! let keys = BankKeys::derive(BankId(7), &[0x3d; 32]); // in production: the secret from provisioning
//! let mut books = Books::<8>::new();
//! let bank = Bank::new(&mut books, &[small], Policy::default(), keys)?;
//! let now = Instant::from_secs(1);
//! let mut gateway = Gateway::<4>::new(bank, MasterConfig::default(), now)?;
//!
//! let mut sent = Vec::new();
//! while let Some(output) = gateway.poll(now) {
//!     if let GatewayOutput::Transmit(frame) = output {
//!         sent.push(frame.frame.body);
//!     }
//! }
//! // The greeting lists the bus versions the gateway speaks.
//! assert_eq!(sent, [Command::PING]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod output;
mod revive;
mod sessions;

use chrono::NaiveDateTime;
use locker_proto::frame::{Authenticated, Decoder, Feed, Frame};
use locker_proto::link::{LinkStats, Master, MasterConfig, MasterEvent};
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{BusStats, DownEnvelope, EnvelopeHeader};
use locker_proto::{
    Command, CompartmentId, Event, FaultCode, NackReason, NodeAddr, PowerStatus, ProtocolVersions,
    Report,
};
use rand_core::RngCore;

use crate::bank::codes::KeypadId;
use crate::bank::{
    Actor, Bank, BankError, BankOutput, CodeOutcome, CommandOutcome, DepositsClosed, OpenAll,
    ParcelKind, ParcelNeeds, PersistError, RemoteOpen, Reservation, SNAPSHOT_QUEUE,
    SnapshotOutcome, SnapshotRequest, StaffId,
};
use crate::uplink::{GatewayAction, Handled, Uplink, UplinkState};

pub use error::GatewayError;
pub use output::{GatewayOutput, GatewayStats, Persist};
pub use revive::{POWER_CYCLE_AFTER, POWER_CYCLE_AGAIN, POWER_CYCLE_ATTEMPTS};
pub use sessions::COMMAND_QUEUE;

use revive::Revival;
use sessions::Sessions;

/// Times a lost status scan of a node that still answers is asked again
/// before the bank hears that it failed.
const SCAN_RETRIES: u8 = 3;

/// Commands for lost nodes waiting to be reported to the bank as failed:
/// every command the bank can have waiting (its queue, and a status request
/// per node), so the gateway can always drain the bank before it reports.
const FAILED_QUEUE: usize = crate::bank::COMMAND_QUEUE + 256;

/// The gateway of a bank of up to `N` compartments on a bus of up to
/// `NODES` nodes. See the [module documentation](self) for what it owns.
///
/// # Methods, by kind
///
/// - **Getters** ([`bank`](Self::bank), [`link`](Self::link),
///   [`uplink`](Self::uplink), [`stats`](Self::stats),
///   [`is_idle`](Self::is_idle), [`snapshot`](Self::snapshot)…) change
///   nothing.
/// - **`handle_*`** take what happened outside: bytes or a frame from the
///   bus ([`handle_bytes`](Self::handle_bytes),
///   [`handle_frame`](Self::handle_frame)), a backend message
///   ([`handle_downward`](Self::handle_downward)), the power supply
///   ([`handle_power`](Self::handle_power)), time
///   ([`handle_timeout`](Self::handle_timeout)). Calling `handle_timeout`
///   early does nothing harmful.
/// - **Bank calls** are the people at the bank: [`reserve`](Self::reserve),
///   [`start_deposit`](Self::start_deposit), [`enter_code`](Self::enter_code),
///   [`staff_open`](Self::staff_open) and the other staff actions. Each
///   returns the bank's answer; a refusal changes nothing.
/// - **Confirmations** tell the gateway the shell did what it was asked:
///   [`counter_persisted`](Self::counter_persisted),
///   [`persisted_for_reboot`](Self::persisted_for_reboot).
/// - **`poll*`**: [`poll`](Self::poll) yields the next thing to do;
///   [`poll_timeout`](Self::poll_timeout) when to call `handle_timeout`.
///
/// # The order to poll in
///
/// After every `handle_*`, bank call and confirmation, call
/// [`poll`](Self::poll) until it returns `None`, carrying out each output as
/// it comes (a [`GatewayOutput::Persist`] before asking for the next one);
/// then sleep until [`poll_timeout`](Self::poll_timeout) or the next input.
/// A bank call made before the outputs were drained may be refused with
/// [`BankError::OutputsPending`] having changed nothing: drain and call again.
#[derive(Debug)]
pub struct Gateway<'a, const NODES: usize> {
    bank: Bank<'a>,
    master: Master<NODES>,
    uplink: Option<Uplink>,
    decoder: Decoder,
    sessions: Sessions<NODES>,
    /// A master event the bank had no room for yet.
    held: Option<MasterEvent>,
    /// The bank's next output, taken from its stream but not handed on yet
    /// (a command waiting for room in the sessions).
    bank_next: Option<BankOutput>,
    /// Commands that will not be sent (their node was lost), to report
    /// to the bank as failed.
    failed: heapless::Deque<(NodeAddr, Command), FAILED_QUEUE>,
    /// A node command from the uplink waiting for room in the queue.
    held_action: Option<(NodeAddr, Command)>,
    /// A request from the uplink for the bank (extra pickup time, a
    /// snapshot) waiting for room in the bank.
    held_for_bank: Option<ForBank>,
    /// UPS readings that came while the bank's outputs waited, oldest first.
    held_power: heapless::Deque<PowerStatus, 4>,
    /// Snapshot outcomes reported while the bank's outputs waited, oldest
    /// first (as many as the bank hands out requests at once).
    held_snapshots: heapless::Deque<(SnapshotRequest, SnapshotOutcome), SNAPSHOT_QUEUE>,
    /// Status scans asked again per node since its last full status.
    scan_retries: sessions::Retries<NODES>,
    /// Silent nodes and their power cycles.
    revival: Revival<NODES>,
    /// Something came in since `poll` last returned `None`: until then
    /// `poll` has nothing to find and answers at once.
    stirred: bool,
    stats: GatewayStats,
}

impl<'a, const NODES: usize> Gateway<'a, NODES> {
    /// A gateway around `bank` (new or restored), bus master of every node
    /// in the bank's layout, each of which it greets before its first
    /// command. Give nodes their keys with [`set_node_key`](Self::set_node_key)
    /// and the backend with [`start_uplink`](Self::start_uplink) before the
    /// first [`poll`](Self::poll).
    ///
    /// # Errors
    /// [`GatewayError::Link`] when the layout has more nodes than `NODES` or
    /// a node address the bus cannot have.
    pub fn new(bank: Bank<'a>, link: MasterConfig, now: Instant) -> Result<Self, GatewayError> {
        let mut master = Master::new(link);
        let mut sessions = Sessions::new();
        for node in bank.layout().nodes() {
            master.add_node(node, now)?;
            sessions.greet(node);
        }
        Ok(Gateway {
            bank,
            master,
            uplink: None,
            decoder: Decoder::new(),
            sessions,
            held: None,
            bank_next: None,
            failed: heapless::Deque::new(),
            held_action: None,
            held_for_bank: None,
            held_power: heapless::Deque::new(),
            held_snapshots: heapless::Deque::new(),
            scan_retries: sessions::Retries::new(),
            revival: Revival::new(),
            stirred: true,
            stats: GatewayStats::default(),
        })
    }

    /// Signs the commands to `node` that need a tag with `key`, resuming
    /// its counter after `stored`, the reservation last stored for it (0 for
    /// a node never used with this key), and accepts answers to them only
    /// with a valid tag.
    ///
    /// # Errors
    /// [`GatewayError::Link`] for a node not in the layout.
    #[cfg(feature = "auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
    pub fn set_node_key(
        &mut self,
        node: NodeAddr,
        key: locker_proto::NodeKey,
        stored: u64,
    ) -> Result<(), GatewayError> {
        self.stirred = true;
        self.master.set_key(node, key, stored)?;
        Ok(())
    }

    /// Connects the backend: `uplink` (restored from its state, numbering
    /// its messages in a new epoch) sends its boot notification, naming
    /// `reason` unless the last run ended with a reset the backend asked
    /// for. From now on every bank output is projected upward.
    ///
    /// # Errors
    /// [`GatewayError::Uplink`] if the uplink's output is full (drain
    /// [`poll`](Self::poll) and call again).
    pub fn start_uplink(
        &mut self,
        mut uplink: Uplink,
        reason: locker_proto::ResetReason,
        now: Instant,
    ) -> Result<(), GatewayError> {
        self.stirred = true;
        uplink.boot(&self.bank, reason, now)?;
        self.uplink = Some(uplink);
        self.sync_deposits_closed();
        Ok(())
    }

    // ----- getters ---------------------------------------------------------

    /// The bank, for its books, views and statistics.
    pub fn bank(&self) -> &Bank<'a> {
        &self.bank
    }

    /// The bus master, for its statistics and node states.
    pub fn link(&self) -> &Master<NODES> {
        &self.master
    }

    /// The bus statistics.
    pub fn link_stats(&self) -> LinkStats {
        self.master.stats()
    }

    /// The uplink, if the gateway has one.
    pub fn uplink(&self) -> Option<&Uplink> {
        self.uplink.as_ref()
    }

    /// The uplink's state to persist ([`Persist::Uplink`]), if the gateway
    /// has an uplink.
    pub fn uplink_state(&self) -> Option<&UplinkState> {
        self.uplink.as_ref().map(Uplink::state)
    }

    /// The gateway's own counters.
    pub fn stats(&self) -> GatewayStats {
        self.stats
    }

    /// Whether `node` answered its greeting and may take bank commands.
    pub fn is_greeted(&self, node: NodeAddr) -> bool {
        self.sessions.is_greeted(node)
    }

    /// The bus protocol version agreed with `node` at its last greeting:
    /// the highest both speak (`spec/versioning.md` §4.1). `None` before
    /// the node answered a greeting, and while it is refused for speaking
    /// no version the gateway speaks ([`GatewayOutput::NodeRefused`]).
    pub fn bus_version(&self, node: NodeAddr) -> Option<u8> {
        self.sessions.version(node)
    }

    /// The uplink version agreed with the backend, as
    /// [`Uplink::agreed_version`]: `None` without an uplink or before the
    /// backend acknowledged this run's boot notification.
    pub fn uplink_version(&self) -> Option<Result<u8, locker_proto::NoCommonVersion>> {
        self.uplink.as_ref().and_then(Uplink::agreed_version)
    }

    /// Commands waiting for their node.
    pub fn commands_waiting(&self) -> usize {
        self.sessions.waiting()
    }

    /// Whether the bus has nothing to carry but idle polls: no greeting or
    /// command waiting, no request outstanding, no node event held back,
    /// no lost node being tried again. A simulator may skip ahead in time
    /// while this holds.
    pub fn is_idle(&self) -> bool {
        self.held.is_none()
            && self.bank_next.is_none()
            && self.failed.is_empty()
            && self.held_action.is_none()
            && self.held_for_bank.is_none()
            && self.held_power.is_empty()
            && self.held_snapshots.is_empty()
            && self.sessions.is_idle()
            && !self.master.has_request_in_flight()
            && !self.master.has_user_request()
            && !self.master.any_lost()
    }

    /// Whether the bank persisted everything on a critical battery and the
    /// gateway may be switched off.
    pub fn ready_to_shut_down(&self) -> bool {
        self.bank.ready_to_shut_down()
    }

    /// The bank's snapshot, to write when [`Persist::Bank`] asks (and at
    /// shutdown).
    ///
    /// # Errors
    /// As [`Bank::snapshot`].
    pub fn snapshot<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], PersistError> {
        self.bank.snapshot(buf)
    }

    // ----- handle_* ----------------------------------------------------------

    /// Bytes read from the bus, in any chunking. Frames that do not decode
    /// are counted in [`GatewayStats::bad_frames`]; the good frames around
    /// them are not lost.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        self.stirred = true;
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.decoder.feed::<Report>(rest) {
                Feed::Consumed => break,
                Feed::Frame { frame, remaining } => {
                    let auth = self.decoder.last_authenticated();
                    self.stats.frames_received = self.stats.frames_received.saturating_add(1);
                    self.master.handle_received(&frame, auth, now);
                    rest = remaining;
                }
                Feed::Error { remaining, .. } => {
                    self.stats.bad_frames = self.stats.bad_frames.saturating_add(1);
                    rest = remaining;
                }
            }
        }
    }

    /// A frame decoded from the bus by the caller, with the decoder's
    /// [`last_authenticated`](Decoder::last_authenticated) for it.
    pub fn handle_frame(
        &mut self,
        frame: &Frame<Report>,
        auth: Option<Authenticated<'_>>,
        now: Instant,
    ) {
        self.stirred = true;
        self.stats.frames_received = self.stats.frames_received.saturating_add(1);
        self.master.handle_received(frame, auth, now);
    }

    /// Forgets a partly received frame (after the port was reopened).
    pub fn reset_decoder(&mut self) {
        self.decoder.reset();
    }

    /// Timers: retransmissions and event polls on the bus, the bank's
    /// deadlines, the uplink's heartbeats and resets. Calling it early does
    /// nothing harmful; what finds no room in the bank's outputs stays due.
    ///
    /// # Errors
    /// [`GatewayError::Bank`] with [`BankError::TimeWentBackwards`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), GatewayError> {
        if self.poll_timeout().is_none_or(|due| due > now) {
            // Nothing is due: an early call changes nothing, and the next
            // poll has nothing new to find.
            return Ok(());
        }
        self.stirred = true;
        self.master.handle_timeout(now);
        self.bank.handle_timeout(now)?;
        if let Some(uplink) = self.uplink.as_mut() {
            uplink.set_bus_stats(bus_stats(&self.master.stats()));
            uplink.handle_timeout(&self.bank, now);
        }
        self.sync_deposits_closed();
        Ok(())
    }

    /// The power supply's state, from the UPS. Never refused for waiting
    /// outputs: the reading is held and given to the bank, in order, once
    /// [`poll`](Self::poll) has drained them.
    ///
    /// # Errors
    /// As [`Bank::handle_power`] (a time that went backwards).
    pub fn handle_power(&mut self, status: PowerStatus, now: Instant) -> Result<(), GatewayError> {
        self.stirred = true;
        if self.held_power.is_empty() {
            match self.bank.handle_power(status, now) {
                Err(BankError::OutputsPending) => {}
                result => return Ok(result?),
            }
        }
        // The bank's outputs wait: the reading goes in after them, in order.
        // Four readings in the time a poll takes is a flickering supply; the
        // latest replaces the newest held one.
        if let Err(status) = self.held_power.push_back(status) {
            if let Some(newest) = self.held_power.back_mut() {
                *newest = status;
            }
        }
        Ok(())
    }

    /// Anchors wall time (audit stamps, quiet hours, uplink stamps): `wall`
    /// (UTC) is the time at monotonic `now`. Call at start and whenever the
    /// clock is corrected.
    ///
    /// # Errors
    /// As [`Bank::set_wall_clock`].
    pub fn set_wall_clock(
        &mut self,
        wall: NaiveDateTime,
        now: Instant,
    ) -> Result<(), GatewayError> {
        self.stirred = true;
        self.bank.set_wall_clock(wall, now)?;
        if let Some(uplink) = self.uplink.as_mut() {
            uplink.set_wall_clock(wall.and_utc().timestamp(), now);
        }
        Ok(())
    }

    /// A message from the backend. Its tag is checked first (a forged one
    /// changes nothing and is [`Handled::Forged`]). Requests are carried out
    /// once per message id and answered through [`GatewayOutput::Upward`];
    /// [`Handled::Ack`] and [`Handled::BootAck`] name an upward message the
    /// backend acknowledged:
    /// hand it to the outbound queue, which forgets it only if it was in
    /// flight.
    ///
    /// # Errors
    /// [`GatewayError::NoUplink`]; [`GatewayError::Uplink`] when the uplink
    /// or the bank had no room (nothing was carried out: drain
    /// [`poll`](Self::poll) and hand the message in again).
    pub fn handle_downward<R: RngCore + ?Sized>(
        &mut self,
        message: &DownEnvelope,
        rng: &mut R,
        now: Instant,
    ) -> Result<Handled, GatewayError> {
        self.stirred = true;
        let uplink = self.uplink.as_mut().ok_or(GatewayError::NoUplink)?;
        let now = now.max(self.bank.now());
        let handled = uplink.handle_downward(&mut self.bank, message, rng, now)?;
        self.sync_deposits_closed();
        Ok(handled)
    }

    /// A backend message whose header could be read but whose body could
    /// not: answered with a `not_supported` error, rationed (see
    /// [`Uplink::handle_undecodable`](crate::uplink::Uplink::handle_undecodable)).
    ///
    /// # Errors
    /// [`GatewayError::NoUplink`].
    pub fn handle_undecodable(
        &mut self,
        header: EnvelopeHeader,
        now: Instant,
    ) -> Result<Handled, GatewayError> {
        self.stirred = true;
        let uplink = self.uplink.as_mut().ok_or(GatewayError::NoUplink)?;
        let now = now.max(self.bank.now());
        Ok(uplink.handle_undecodable(header, now))
    }

    /// How many upward messages wait in the shell's outbound queue, for
    /// heartbeats and diagnostics; at the uplink's backlog limit the bank
    /// closes to new parcels ([`Uplink::backlog_full`]: alert staff when it
    /// turns true) and opens again once the queue is down to nine tenths.
    pub fn set_uplink_backlog(&mut self, backlog: usize) {
        if let Some(uplink) = self.uplink.as_mut() {
            uplink.set_backlog(backlog);
        }
        self.sync_deposits_closed();
    }

    // ----- bank calls --------------------------------------------------------

    /// Reserves the smallest free compartment that fits `needs` and draws
    /// its pickup code from `rng`. See [`Bank::reserve`].
    ///
    /// # Errors
    /// As [`Bank::reserve`], and [`BankError::DepositsClosed`] while the
    /// backend has the bank closed or resetting.
    pub fn reserve<R: RngCore + ?Sized>(
        &mut self,
        needs: ParcelNeeds,
        kind: ParcelKind,
        rng: &mut R,
        now: Instant,
    ) -> Result<Reservation, BankError> {
        self.stirred = true;
        self.bank.reserve(needs, kind, rng, now)
    }

    /// An account signed in at the bank's screen opens a reserved
    /// compartment for the deposit (audited with the account).
    ///
    /// # Errors
    /// As [`Bank::start_deposit`].
    pub fn start_deposit(
        &mut self,
        compartment: CompartmentId,
        account: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.start_deposit(compartment, account, now)
    }

    /// A courier typed `compartment`'s deposit code on `keypad`.
    ///
    /// # Errors
    /// As [`Bank::enter_deposit_code`].
    pub fn enter_deposit_code(
        &mut self,
        keypad: KeypadId,
        compartment: CompartmentId,
        code: &str,
        now: Instant,
    ) -> Result<CodeOutcome, BankError> {
        self.stirred = true;
        self.bank.enter_deposit_code(keypad, compartment, code, now)
    }

    /// Cancels a reservation before the deposit.
    ///
    /// # Errors
    /// As [`Bank::cancel_reservation`].
    pub fn cancel_reservation(
        &mut self,
        compartment: CompartmentId,
        actor: Actor,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.cancel_reservation(compartment, actor, now)
    }

    /// A code typed on `keypad`.
    ///
    /// # Errors
    /// As [`Bank::enter_code`].
    pub fn enter_code(
        &mut self,
        keypad: KeypadId,
        code: &str,
        now: Instant,
    ) -> Result<CodeOutcome, BankError> {
        self.stirred = true;
        self.bank.enter_code(keypad, code, now)
    }

    /// An offline token presented at `keypad`'s reader.
    ///
    /// # Errors
    /// As [`Bank::redeem_token`].
    pub fn redeem_token(
        &mut self,
        bytes: &[u8],
        keypad: KeypadId,
        now: Instant,
    ) -> Result<CompartmentId, BankError> {
        self.stirred = true;
        self.bank.redeem_token(bytes, keypad, now)
    }

    /// Staff open one compartment (audited).
    ///
    /// # Errors
    /// As [`Bank::staff_open`].
    pub fn staff_open(
        &mut self,
        compartment: CompartmentId,
        staff: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.staff_open(compartment, staff, now)
    }

    /// Staff open every closed door (audited door by door).
    ///
    /// # Errors
    /// As [`Bank::staff_open_all`].
    pub fn staff_open_all(&mut self, staff: StaffId, now: Instant) -> Result<OpenAll, BankError> {
        self.stirred = true;
        self.bank.staff_open_all(staff, now)
    }

    /// A remote open, checked by the bank (tag, freshness, rate limit).
    ///
    /// # Errors
    /// As [`Bank::remote_open`].
    pub fn remote_open(&mut self, request: &RemoteOpen, now: Instant) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.remote_open(request, now)
    }

    /// Takes a compartment out of service.
    ///
    /// # Errors
    /// As [`Bank::set_out_of_service`].
    pub fn set_out_of_service(
        &mut self,
        compartment: CompartmentId,
        actor: Actor,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.set_out_of_service(compartment, actor, now)
    }

    /// Puts a compartment back in service.
    ///
    /// # Errors
    /// As [`Bank::set_in_service`].
    pub fn set_in_service(
        &mut self,
        compartment: CompartmentId,
        actor: Actor,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.set_in_service(compartment, actor, now)
    }

    /// Staff have a free compartment's presence sensor take its reading as
    /// the empty baseline (the node is sent a signed calibrate command).
    ///
    /// # Errors
    /// As [`Bank::recalibrate`].
    pub fn recalibrate(
        &mut self,
        compartment: CompartmentId,
        staff: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.recalibrate(compartment, staff, now)
    }

    /// What became of a snapshot the bank asked for
    /// ([`GatewayOutput::Snapshot`]): call it after the camera driver's
    /// `capture` under `request.reference`, taken or failed, so the audit
    /// trail says whether the picture exists. While the bank's outputs wait
    /// (a shell reporting as soon as the camera answers, before its
    /// [`poll`](Self::poll) has drained them), the outcome is held and
    /// recorded, in order, once they are out.
    ///
    /// # Errors
    /// [`BankError::UnknownSnapshot`] for a request the bank never gave
    /// out, nothing recorded; [`BankError::TimeWentBackwards`];
    /// [`BankError::OutputsPending`] only when as many outcomes as the bank
    /// hands out requests at once are already held.
    pub fn handle_snapshot_result(
        &mut self,
        request: &SnapshotRequest,
        outcome: SnapshotOutcome,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.snapshot_slot(request)?;
        if self.held_snapshots.is_empty() {
            match self.bank.handle_snapshot_result(request, outcome, now) {
                Err(BankError::OutputsPending) => {}
                result => return result,
            }
        }
        self.held_snapshots
            .push_back((*request, outcome))
            .map_err(|_| BankError::OutputsPending)
    }

    /// Staff saw empty a compartment whose expired parcel's removal the
    /// presence sensor disputed, and certify the removal: the parcel leaves
    /// the books, the compartment is back in service and its sensor is
    /// recalibrated (a signed calibrate command to the node).
    ///
    /// # Errors
    /// As [`Bank::certify_removal`].
    pub fn certify_removal(
        &mut self,
        compartment: CompartmentId,
        staff: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.certify_removal(compartment, staff, now)
    }

    /// Staff repaired or replaced a compartment's hardware: its health
    /// history starts again.
    ///
    /// # Errors
    /// As [`Bank::serviced`].
    pub fn serviced(
        &mut self,
        compartment: CompartmentId,
        staff: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.serviced(compartment, staff, now)
    }

    /// Gives a stored parcel more time before its reminders and expiry.
    ///
    /// # Errors
    /// As [`Bank::extend_deadline`].
    pub fn extend_deadline(
        &mut self,
        compartment: CompartmentId,
        by: Duration,
        actor: Actor,
        now: Instant,
    ) -> Result<(), BankError> {
        self.stirred = true;
        self.bank.extend_deadline(compartment, by, actor, now)
    }

    // ----- confirmations -----------------------------------------------------

    /// The shell stored `up_to` as `node`'s counter reservation
    /// ([`Persist::Counter`]): signed commands to it may leave.
    pub fn counter_persisted(&mut self, node: NodeAddr, up_to: u64) {
        self.stirred = true;
        #[cfg(feature = "auth")]
        self.master.persisted(node, up_to);
        #[cfg(not(feature = "auth"))]
        let _ = (node, up_to);
    }

    /// The shell wrote everything [`Persist::BeforeReboot`] asked for: the
    /// reboot follows ([`GatewayOutput::Reboot`]).
    pub fn persisted_for_reboot(&mut self) {
        self.stirred = true;
        if let Some(uplink) = self.uplink.as_mut() {
            uplink.confirm_persisted();
        }
    }

    // ----- poll --------------------------------------------------------------

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.master.poll_timeout(),
            self.bank.poll_timeout(),
            self.revival.next_due(),
            self.uplink.as_ref().and_then(Uplink::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next thing for the shell to do, or `None` when there is nothing
    /// until the next input. Node reports are handed to the bank here, as
    /// room allows, so call it until it returns `None` after every input.
    /// `now` is the time a frame would leave.
    #[must_use]
    pub fn poll(&mut self, now: Instant) -> Option<GatewayOutput> {
        if !self.stirred {
            return None;
        }
        // Each turn either returns an output or moves one node report into
        // the bank; the master's queue is bounded, so this ends.
        loop {
            if let Some(output) = self.poll_records() {
                return Some(output);
            }
            if let Some(node) = self.revival.take_due(now) {
                self.stats.power_cycles = self.stats.power_cycles.saturating_add(1);
                return Some(GatewayOutput::PowerCycleNode(node));
            }
            match self.poll_uplink_actions(now) {
                Fed::Output(output) => return Some(output),
                Fed::Progress => continue,
                Fed::Nothing => {}
            }
            match self.feed_bank(now) {
                Fed::Output(output) => return Some(output),
                Fed::Progress => continue,
                Fed::Nothing => {}
            }
            let failing = self.failed.len();
            self.dispatch(now);
            if self.failed.len() > failing {
                // Commands for a lost node go back to the bank first.
                continue;
            }
            let frame = self.master.poll_outgoing(now).map(GatewayOutput::Transmit);
            self.stirred = frame.is_some();
            return frame;
        }
    }

    /// Counter reservations, uplink messages, the snapshot and the bank's
    /// outputs, in the order that keeps the records safe.
    fn poll_records(&mut self) -> Option<GatewayOutput> {
        #[cfg(feature = "auth")]
        if let Some((node, up_to)) = self.master.poll_persist() {
            return Some(GatewayOutput::Persist(Persist::Counter { node, up_to }));
        }
        // The books on disk before anything leaves that speaks of them: a
        // reservation's answer to the backend never outruns its snapshot.
        if let Some(BankOutput::Persist(reason)) =
            self.take_bank_output(|o| matches!(o, BankOutput::Persist(_)))
        {
            return Some(GatewayOutput::Persist(Persist::Bank(reason)));
        }
        // Upward messages next: the uplink then has room to project the
        // bank's outputs that follow.
        if let Some(message) = self.uplink.as_mut().and_then(Uplink::poll_upward) {
            return Some(GatewayOutput::Upward(message));
        }
        // The bank's records; its commands wait for the sessions (`dispatch`).
        let record = self.take_bank_output(|o| !matches!(o, BankOutput::Command { .. }));
        if let Some(output) = record.and_then(|o| self.project(o)) {
            return Some(output);
        }
        if self.uplink.as_mut().is_some_and(Uplink::poll_persist) {
            return Some(GatewayOutput::Persist(Persist::Uplink));
        }
        None
    }

    /// The bank's next output if `wanted` takes it; otherwise it waits in
    /// `bank_next`.
    fn take_bank_output(&mut self, wanted: impl Fn(&BankOutput) -> bool) -> Option<BankOutput> {
        if self.bank_next.is_none() {
            self.bank_next = self.bank.poll();
        }
        if self.bank_next.as_ref().is_some_and(wanted) {
            self.bank_next.take()
        } else {
            None
        }
    }

    /// A bank record as the gateway's output, shown to the uplink first.
    fn project(&mut self, output: BankOutput) -> Option<GatewayOutput> {
        let uplink = self.uplink.as_mut();
        let projected = match (&output, uplink) {
            (BankOutput::Audit(record), Some(u)) => u.on_audit(&self.bank, record).is_ok(),
            (BankOutput::Alert(alert), Some(u)) => u.on_alert(&self.bank, alert).is_ok(),
            (BankOutput::Notification(n), Some(u)) => u.on_notification(n).is_ok(),
            _ => true,
        };
        if !projected {
            self.stats.uplink_overflow = self.stats.uplink_overflow.saturating_add(1);
        }
        match output {
            BankOutput::Persist(reason) => Some(GatewayOutput::Persist(Persist::Bank(reason))),
            BankOutput::Audit(record) => Some(GatewayOutput::Audit(record)),
            BankOutput::Alert(alert) => Some(GatewayOutput::Alert(alert)),
            BankOutput::Notification(n) => Some(GatewayOutput::Notification(n)),
            BankOutput::CameraSnapshot(request) => Some(GatewayOutput::Snapshot(request)),
            BankOutput::Command { node, command } => {
                // Not a record: back to wait for the sessions.
                self.bank_next = Some(BankOutput::Command { node, command });
                None
            }
        }
    }

    /// What the uplink asks of the gateway: an output for the shell, a
    /// request carried into the bank (whose outputs come out next), or
    /// nothing (no action, or no room for it yet).
    fn poll_uplink_actions(&mut self, now: Instant) -> Fed {
        // A request for the bank that found no room goes first; the bank
        // has no room while its outputs wait, which come out first.
        if let Some(request) = self.held_for_bank.take() {
            return self.give_bank(request, now);
        }
        // A node command needs room in the command queue; it waits here
        // until there is, and the uplink's other actions go on meanwhile.
        if let Some((node, command)) = self.held_action {
            if self.sessions.queue(node, command).is_ok() {
                self.held_action = None;
            }
        }
        if self.held_action.is_some() && !self.sessions.has_room() {
            return Fed::Nothing;
        }
        let Some(action) = self.uplink.as_mut().and_then(Uplink::poll_action) else {
            return Fed::Nothing;
        };
        Fed::Output(match action {
            GatewayAction::SendCommand { node, command } => {
                if self.sessions.queue(node, command).is_err() {
                    self.held_action = Some((node, command));
                }
                GatewayOutput::BackendCommand { node, command }
            }
            GatewayAction::ExtendDeadline { compartment, by } => {
                return self.give_bank(ForBank::Extension(compartment, by), now);
            }
            GatewayAction::TakeSnapshot { compartment, .. } => {
                return self.give_bank(ForBank::Snapshot(compartment), now);
            }
            GatewayAction::ApplyPolicy(policy) => {
                // In force at once (the bank's records are drained here, so
                // it has room for its audit record); kept for the next start.
                let _ = self.bank.set_policy(policy, Actor::Backend, now);
                GatewayOutput::Persist(Persist::Policy(policy))
            }
            GatewayAction::PrepareForReboot { kind } => {
                GatewayOutput::Persist(Persist::BeforeReboot(kind))
            }
            GatewayAction::Reboot { kind } => GatewayOutput::Reboot(kind),
        })
    }

    /// Carries the backend's `request` into the bank; held for later while
    /// the bank has no room. A request the bank refuses for good (the
    /// parcel already gone) is done with: the uplink checked the
    /// compartment, and the backend had its answer.
    fn give_bank(&mut self, request: ForBank, now: Instant) -> Fed {
        let now = now.max(self.bank.now());
        let done = match request {
            ForBank::Extension(compartment, by) => self
                .bank
                .extend_deadline(compartment, by, Actor::Backend, now)
                .map(|_| ()),
            ForBank::Snapshot(compartment) => {
                self.bank.snapshot_for_backend(compartment, now).map(|_| ())
            }
        };
        match done {
            Err(BankError::OutputsPending) => {
                self.held_for_bank = Some(request);
                Fed::Nothing
            }
            _ => Fed::Progress,
        }
    }

    /// Moves one thing the master learned (or a held UPS reading) into the
    /// bank.
    fn feed_bank(&mut self, now: Instant) -> Fed {
        if let Some(&status) = self.held_power.front() {
            let now = now.max(self.bank.now());
            return match self.bank.handle_power(status, now) {
                Err(BankError::OutputsPending) => Fed::Nothing,
                _ => {
                    self.held_power.pop_front();
                    Fed::Progress
                }
            };
        }
        if let Some(&(request, outcome)) = self.held_snapshots.front() {
            let now = now.max(self.bank.now());
            return match self.bank.handle_snapshot_result(&request, outcome, now) {
                Err(BankError::OutputsPending) => Fed::Nothing,
                // Recorded (the request was checked when it was held).
                _ => {
                    self.held_snapshots.pop_front();
                    Fed::Progress
                }
            };
        }
        if let Some(&(node, command)) = self.failed.front() {
            let now = now.max(self.bank.now());
            return match self.bank.handle_command_result(
                node,
                &command,
                CommandOutcome::NotSent,
                now,
            ) {
                Err(BankError::OutputsPending) => Fed::Nothing,
                Ok(()) => {
                    self.failed.pop_front();
                    Fed::Progress
                }
                Err(error) => {
                    self.failed.pop_front();
                    self.stats.refused_node_input = self.stats.refused_node_input.saturating_add(1);
                    Fed::Output(GatewayOutput::NodeInputRefused { node, error })
                }
            };
        }
        let Some(event) = self.held.take().or_else(|| self.master.poll_event()) else {
            return Fed::Nothing;
        };
        let now = now.max(self.bank.now());
        match self.apply(&event, now) {
            Ok(Some(output)) => Fed::Output(output),
            Ok(None) => Fed::Progress,
            Err(BankError::OutputsPending) => {
                // The bank's outputs are drained by the caller's next polls;
                // the report waits here, nothing is lost.
                self.held = Some(event);
                Fed::Nothing
            }
            Err(error) => {
                self.stats.refused_node_input = self.stats.refused_node_input.saturating_add(1);
                let node = match event {
                    MasterEvent::Response { node, .. }
                    | MasterEvent::Event { node, .. }
                    | MasterEvent::RequestFailed { node, .. }
                    | MasterEvent::NodeLost { node }
                    | MasterEvent::NodeBack { node }
                    | MasterEvent::EventsDropped { node, .. }
                    | MasterEvent::AnswersRejected { node, .. } => node,
                };
                Fed::Output(GatewayOutput::NodeInputRefused { node, error })
            }
        }
    }

    /// One master event into the bank and the sessions.
    fn apply(
        &mut self,
        event: &MasterEvent,
        now: Instant,
    ) -> Result<Option<GatewayOutput>, BankError> {
        let bank = &mut self.bank;
        match event {
            MasterEvent::Response {
                node,
                command: Command::Ping { .. },
                report,
            } => {
                let Report::Pong {
                    firmware,
                    uptime_ms,
                    reset_reason,
                    versions,
                } = *report
                else {
                    // Any answer means the node's cache now holds the ping.
                    self.sessions.greeted(*node);
                    return Ok(None);
                };
                let version = match ProtocolVersions::BUS.agree(versions) {
                    Ok(version) => version,
                    Err(error) => {
                        // Nothing the node says can be trusted to mean what
                        // the gateway reads: its compartments are unverified
                        // (the bank's node-unreachable path, which alerts
                        // staff) and it takes no command.
                        bank.handle_node_lost(*node, now)?;
                        let failed = &mut self.failed;
                        self.sessions.refuse(*node, |command| {
                            // Cannot fail: the queue it came from is no larger.
                            let _ = failed.push_back((*node, command));
                        });
                        self.stats.versions_refused = self.stats.versions_refused.saturating_add(1);
                        return Ok(Some(GatewayOutput::NodeRefused {
                            node: *node,
                            firmware,
                            error,
                        }));
                    }
                };
                if self.sessions.is_refused(*node) {
                    // A node refused before (new firmware since?) is
                    // operated again: the bank asks it for full status.
                    bank.handle_node_back(*node, now)?;
                }
                self.sessions.agreed(*node, version);
                self.stats.greetings = self.stats.greetings.saturating_add(1);
                if let Some(uplink) = self.uplink.as_mut() {
                    if uplink
                        .on_node_greeted(*node, firmware, reset_reason, uptime_ms, now)
                        .is_err()
                    {
                        self.stats.uplink_overflow = self.stats.uplink_overflow.saturating_add(1);
                    }
                }
                Ok(Some(GatewayOutput::NodeGreeted {
                    node: *node,
                    firmware,
                    reset_reason,
                    uptime_ms,
                    version,
                }))
            }
            MasterEvent::Response {
                node,
                report: Report::BulkStatus(status),
                ..
            } => {
                bank.handle_bulk_status(*node, status, now)?;
                self.scan_retries.clear(*node);
                self.stats.status_reports = self.stats.status_reports.saturating_add(1);
                Ok(None)
            }
            MasterEvent::Response {
                node,
                report: Report::Status(status),
                ..
            } => bank
                .handle_channel_status(*node, status, now)
                .map(|()| None),
            MasterEvent::Response {
                node,
                command,
                report: Report::Nack(reason),
            } => bank
                .handle_command_result(*node, command, CommandOutcome::Nacked(*reason), now)
                .map(|()| None),
            MasterEvent::Response { node, command, .. } => bank
                .handle_command_result(*node, command, CommandOutcome::Acked, now)
                .map(|()| None),
            MasterEvent::Event { node, record }
                if self.sessions.is_refused(*node)
                    && !matches!(record.event, Event::NodeStarted { .. }) =>
            {
                // A refused node is not operated: what it reports is not
                // read, until a restart (perhaps into firmware that speaks
                // a version the gateway speaks) has it greeted again.
                Ok(None)
            }
            MasterEvent::Event { node, record } => {
                bank.handle_node_event(*node, &record.event, now)?;
                match record.event {
                    Event::NodeStarted { .. } => {
                        // A restarted node forgot the gateway's sequence numbers.
                        self.sessions.greet(*node);
                    }
                    // The hardware behind the node does not answer (a
                    // vendor board behind its adapter): silent as a lost
                    // node is, until it answers again.
                    Event::FaultRaised {
                        channel: None,
                        fault: FaultCode::PresenceSensorFailed,
                    } => self.revival.silent(*node, now),
                    Event::FaultCleared {
                        channel: None,
                        fault: FaultCode::PresenceSensorFailed,
                    } => self.revival.answers(*node),
                    _ => {}
                }
                Ok(None)
            }
            MasterEvent::RequestFailed {
                node,
                command: Command::Ping { .. },
            } => {
                // A lost node is greeted again when it is back.
                if !self.master.is_lost(*node) {
                    self.sessions.greet(*node);
                }
                Ok(None)
            }
            MasterEvent::RequestFailed {
                node,
                command: Command::GetAllStatus,
            } if !self.master.is_lost(*node)
                && self.sessions.has_room()
                && self.scan_retries.get(*node) < SCAN_RETRIES =>
            {
                // The node answers, only its scan was lost on the line: ask
                // again rather than have the bank call it unreachable. Once
                // the master gives up on the node, its loss is reported.
                self.scan_retries.count(*node);
                let _ = self.sessions.queue(*node, Command::GetAllStatus);
                Ok(None)
            }
            MasterEvent::RequestFailed { node, command } => bank
                .handle_command_result(*node, command, CommandOutcome::Failed, now)
                .map(|()| None),
            MasterEvent::NodeLost { node } => {
                bank.handle_node_lost(*node, now)?;
                self.revival.silent(*node, now);
                let failed = &mut self.failed;
                self.sessions.lost(*node, |command| {
                    // Cannot fail: the queue it came from is no larger.
                    let _ = failed.push_back((*node, command));
                });
                Ok(Some(GatewayOutput::NodeLost(*node)))
            }
            MasterEvent::NodeBack { node } => {
                bank.handle_node_back(*node, now)?;
                self.revival.answers(*node);
                self.scan_retries.clear(*node);
                self.sessions.greet(*node);
                Ok(Some(GatewayOutput::NodeBack(*node)))
            }
            MasterEvent::EventsDropped { node, .. } => {
                // The bank asks the node for full status and alerts staff.
                let dropped = Event::FaultRaised {
                    channel: None,
                    fault: FaultCode::EventsDropped,
                };
                bank.handle_node_event(*node, &dropped, now).map(|()| None)
            }
            MasterEvent::AnswersRejected { node, count } => {
                // Frames on the bus that the node did not send: the same
                // bus security alert as a node's own refusals of forged
                // commands, so staff hear of an attacker whichever end he
                // talks to.
                let forged = Event::CommandsRefused {
                    refused: *count,
                    reason: NackReason::Unauthenticated,
                };
                bank.handle_node_event(*node, &forged, now).map(|()| None)
            }
        }
    }

    /// Greetings and waiting commands to the master, as nodes are free.
    fn dispatch(&mut self, now: Instant) {
        while self.sessions.has_room() && !self.failed.is_full() {
            let Some(BankOutput::Command { node, command }) =
                self.take_bank_output(|o| matches!(o, BankOutput::Command { .. }))
            else {
                break;
            };
            if self.master.is_lost(node) || self.sessions.is_refused(node) {
                // Nobody would be served by it when the node is back (or
                // is operated again).
                let _ = self.failed.push_back((node, command));
            } else {
                // Cannot fail: room was checked.
                let _ = self.sessions.queue(node, command);
            }
        }
        let mut greeting: heapless::Vec<NodeAddr, NODES> = heapless::Vec::new();
        for node in self.sessions.to_greet() {
            if !self.master.is_busy(node) && self.master.send(node, Command::PING, now).is_ok() {
                let _ = greeting.push(node);
            }
        }
        for node in greeting {
            self.sessions.greeting_sent(node);
        }
        let master = &mut self.master;
        self.sessions.dispatch(|node, command| {
            !master.is_busy(node) && master.send(node, command, now).is_ok()
        });
    }

    /// Keeps the bank's "no new parcels" rule in step with the uplink.
    fn sync_deposits_closed(&mut self) {
        let closed = self.uplink.as_ref().and_then(|u| {
            // A full outbound queue closes the bank as an operator would:
            // the backend cannot hear of new parcels, so none are taken.
            if u.state().unavailable || u.backlog_full() {
                Some(DepositsClosed::Unavailable)
            } else if u.refuses_new_transactions() {
                Some(DepositsClosed::Resetting)
            } else {
                None
            }
        });
        self.bank.set_deposits_closed(closed);
    }
}

/// A request from the uplink the bank must take.
#[derive(Clone, Copy, Debug)]
enum ForBank {
    /// Extra pickup time for the parcel in a compartment.
    Extension(CompartmentId, Duration),
    /// A camera snapshot of a compartment.
    Snapshot(CompartmentId),
}

/// What [`Gateway::feed_bank`] or [`Gateway::poll_uplink_actions`] did.
// Lives for one turn of `poll`, on its way to being returned.
#[allow(clippy::large_enum_variant)]
enum Fed {
    /// Something for the shell.
    Output(GatewayOutput),
    /// A report went into the bank; look again.
    Progress,
    /// Nothing to move, or the bank has no room yet.
    Nothing,
}

/// The master's counters as the uplink reports them.
fn bus_stats(s: &LinkStats) -> BusStats {
    BusStats {
        frames_sent: s.frames_sent,
        retransmissions: s.retransmissions,
        responses: s.responses,
        timeouts: s.timeouts,
        unexpected: s.unexpected,
        duplicates_filtered: s.duplicates_filtered,
        nodes_lost: s.nodes_lost,
    }
}
