//! A Linux gateway on a real serial line.
//!
//! The gateway is the bank's computer: it runs the
//! [`Bank`] state machine and is bus master
//! ([`Master`]) of the compartment nodes on an RS-485 line. This module is
//! the glue of its main loop, which the `locker-gateway` program runs:
//!
//! ```text
//!  stdin lines ──► Gateway::execute ──► Bank (reserve, start_deposit, enter_code…)
//!                                        │ poll_command
//!  serial port ◄── SerialLine::send ◄── Master ◄─┘
//!  serial port ──► SerialLine::receive ─► Decoder ─► Master ─► MasterEvent ─► Bank handle_*
//!                                        │ poll_persist, poll_audit, poll_notification…
//!                        state file ◄────┤ (atomic replace, before the audit lines)
//!                        audit log  ◄────┤ (JSON lines, synced)
//!                        stdout     ◄────┘ notices
//! ```
//!
//! - **State**: the bank's snapshot is written to the state file
//!   ([`StateFile`], write-temporary, `fsync`, `rename`) every time the
//!   bank asks ([`Bank::poll_persist`](locker_domain::bank::Bank::poll_persist),
//!   after every state change) and at shutdown; it is restored at start, and a
//!   state file that cannot be restored stops the gateway and is left as it is.
//! - **Audit**: every record goes to the audit log as one JSON line
//!   ([`AuditLog`]), gap-free across restarts (see its docs for why).
//! - **Time**: [`MonotonicClock`] is the only clock; every state machine gets
//!   its readings as [`Instant`]s. The bank's wall clock (audit stamps, quiet
//!   hours) is the system clock in UTC, re-anchored every minute so that NTP
//!   corrections reach it; quiet hours therefore count in UTC in this example.
//! - **Bus authentication**: with a bus key ([`GatewayConfig::bus_key`]) the
//!   master signs every command that needs a tag with the node's derived
//!   key ([`locker_proto::auth`]) and accepts answers to them only with a
//!   valid tag; each node's counter reservation is stored in
//!   `<state file>.counters` (atomic replace) before a signed command
//!   leaves, so a restarted gateway never reuses a counter.
//! - **Sessions**: when the gateway starts, or a lost node answers again, it
//!   pings the node before sending it any bank command. A node's link layer
//!   recognises a retransmission by its sequence number, and a restarted
//!   gateway's sequence numbers start again at 0: the ping makes sure the
//!   node's cached last command is a harmless ping, so a fresh unlock can
//!   never be mistaken for a repeat of an old one and go unexecuted.
//!
//! # Example
//!
//! A gateway on one end of a pseudo-terminal (`tests/gateway_pty.rs` puts a
//! simulated node on the other end):
//!
//! ```no_run
//! use locker_examples::gateway::{Gateway, GatewayConfig, SerialLine};
//! use locker_proto::NodeAddr;
//!
//! let (_node_end, gateway_end) = serialport::TTYPort::pair()?;
//! let config = GatewayConfig::new(vec![NodeAddr(1)], 4, "bank.state", "audit.jsonl");
//! let mut gateway = Gateway::start(config, || Ok(SerialLine::new(Box::new(gateway_end))))?;
//! for _ in 0..100 {
//!     gateway.step()?;
//!     while let Some(notice) = gateway.poll_notice() {
//!         println!("{notice}");
//!     }
//! }
//! gateway.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod audit_log;
mod clock;
mod console;
mod error;
mod layout;
mod notice;
mod serial;
mod state_file;
mod uplink;

use std::collections::VecDeque;
use std::io::Read;
use std::path::PathBuf;

use locker_domain::bank::codes::KeypadId;
use locker_domain::bank::{
    Actor, Bank, BankError, BankId, BankKeys, CodeOutcome, CommandOutcome, ParcelNeeds, Policy,
};
use locker_domain::uplink::{GatewayAction, UplinkStats};
use locker_proto::auth::{BankKey, NodeIdentity};
use locker_proto::link::{LinkStats, Master, MasterConfig, MasterEvent};
use locker_proto::time::Instant;
use locker_proto::uplink::BusStats;
use locker_proto::{Command, Event, FaultCode, NodeAddr, RebootKind, Report};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub use audit_log::{Appended, AuditLine, AuditLog};
pub use clock::MonotonicClock;
pub use console::{ConsoleCommand, ConsoleError};
pub use error::GatewayError;
pub use layout::{MAX_COMPARTMENTS, bank_layout, size_of_channel};
pub use notice::{Notice, Reply, code_text};
pub use serial::{LineStats, Received, SerialLine};
pub use state_file::StateFile;
pub use uplink::{GATEWAY_VERSION, UplinkSettings};

/// The most nodes on one bus.
pub const MAX_NODES: usize = 32;

/// How often the bank's wall clock is re-anchored to the system clock.
const WALL_CLOCK_ANCHOR_EVERY: locker_proto::Duration = locker_proto::Duration::from_secs(60);

/// The bank this gateway runs.
pub type GatewayBank = Bank<MAX_COMPARTMENTS>;

/// How to run a gateway.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The nodes on the bus.
    pub nodes: Vec<NodeAddr>,
    /// Compartments (channels) per node.
    pub channels: u8,
    /// The bank's state file.
    pub state_path: PathBuf,
    /// The audit log (JSON lines).
    pub audit_path: PathBuf,
    /// The bank's rules.
    pub policy: Policy,
    /// Bus timing and retries.
    pub link: MasterConfig,
    /// Seed for pickup codes; `None` draws one from `/dev/urandom` (do that
    /// in production: codes must not be guessable).
    pub code_seed: Option<[u8; 32]>,
    /// The bank's keys, from the secret it shares with the backend (code
    /// hashes, remote opens, offline tokens). [`GatewayConfig::new`] uses a
    /// fixed example secret: in production, derive them from the secret in
    /// the gateway's secure storage.
    pub bank_keys: BankKeys,
    /// The bus key: the bank key of [`locker_proto::auth`] every node's key
    /// is derived from (by bus address). Without it commands go out
    /// unsigned, and nodes with authentication refuse every unlock.
    pub bus_key: Option<BankKey>,
}

impl GatewayConfig {
    /// A configuration with the default policy and bus timing.
    pub fn new(
        nodes: Vec<NodeAddr>,
        channels: u8,
        state_path: impl Into<PathBuf>,
        audit_path: impl Into<PathBuf>,
    ) -> Self {
        GatewayConfig {
            nodes,
            channels,
            state_path: state_path.into(),
            audit_path: audit_path.into(),
            policy: Policy::default(),
            link: MasterConfig::default(),
            code_seed: None,
            bank_keys: BankKeys::derive(BankId(1), &[0x5a; 32]),
            bus_key: None,
        }
    }
}

/// The gateway: the bank, the bus master, the serial line and the files.
///
/// Call [`Gateway::step`] in a loop; feed operator lines to
/// [`Gateway::execute`]; print [`Gateway::poll_notice`]; end with
/// [`Gateway::shutdown`]. Dropping it without `shutdown` is a crash: the state
/// file still holds everything up to the last completed step.
#[derive(Debug)]
pub struct Gateway {
    bank: Box<GatewayBank>,
    /// Boxed: with keys and counters for 32 nodes it is 10 KiB, and the
    /// gateway is moved around by value.
    master: Box<Master<MAX_NODES>>,
    line: SerialLine,
    state: StateFile,
    audit: AuditLog,
    clock: MonotonicClock,
    rng: ChaCha20Rng,
    /// Bank commands not yet accepted by the master (a node is busy).
    commands: VecDeque<(NodeAddr, Command)>,
    /// Master events the bank had no room for yet.
    inbox: VecDeque<MasterEvent>,
    received: Vec<Received<Report>>,
    /// Each node's stored counter reservation, and where it is stored.
    counters: std::collections::BTreeMap<NodeAddr, u64>,
    counter_file: StateFile,
    notices: VecDeque<Notice>,
    /// Nodes that answered the opening ping: bank commands may go to them.
    greeted: Vec<NodeAddr>,
    /// Nodes that need an opening ping.
    to_ping: Vec<NodeAddr>,
    snapshot_buf: Vec<u8>,
    persisted: u64,
    status_reports: u64,
    wall_anchored: Option<Instant>,
    restored: bool,
    stopping: bool,
    /// The backend's side, when the gateway has an uplink.
    uplink: Option<uplink::UplinkGlue>,
    /// The uplink asked for a reboot; everything is persisted.
    reboot: Option<RebootKind>,
}

impl Gateway {
    /// Restores the bank from the state file (or starts an empty bank if
    /// there is none), opens the audit log, then calls `connect` for the
    /// serial line: the port is opened only once the books are known good.
    ///
    /// # Errors
    ///
    /// [`GatewayError::CorruptState`] (the file is left untouched),
    /// [`GatewayError::CorruptAudit`], [`GatewayError::Nodes`] and
    /// [`GatewayError::Layout`] for a bad node list, file errors, and
    /// whatever `connect` returns.
    pub fn start(
        config: GatewayConfig,
        connect: impl FnOnce() -> Result<SerialLine, GatewayError>,
    ) -> Result<Self, GatewayError> {
        Self::start_with_uplink(config, connect, None)
    }

    /// [`Gateway::start`] with an uplink to a backend through `transport`:
    /// the bank's notifications, alerts and audit records go up as well,
    /// the backend's requests come down (see [`crate::uplink`]). A policy
    /// the backend set with `change_configuration` replaces
    /// `config.policy`; the boot notification goes up first.
    ///
    /// # Errors
    ///
    /// As [`Gateway::start`], and file errors of the uplink's directory.
    pub fn start_with_uplink(
        mut config: GatewayConfig,
        connect: impl FnOnce() -> Result<SerialLine, GatewayError>,
        uplink: Option<(UplinkSettings, Box<dyn crate::uplink::Transport>)>,
    ) -> Result<Self, GatewayError> {
        if let Some((settings, _)) = &uplink {
            config.policy = settings.stored_policy(&config.policy)?;
        }
        let clock = MonotonicClock::start();
        let now = clock.now();
        let layout = bank_layout(&config.nodes, config.channels)?;
        let state = StateFile::new(&config.state_path);
        let (bank, restored) = match state.load()? {
            Some(bytes) => {
                let keys = config.bank_keys.clone();
                let bank =
                    Bank::restore(layout, config.policy, keys, &bytes, now).map_err(|source| {
                        GatewayError::CorruptState {
                            path: config.state_path.clone(),
                            source,
                        }
                    })?;
                (Box::new(bank), true)
            }
            None => (
                Box::new(Bank::new(layout, config.policy, config.bank_keys.clone())?),
                false,
            ),
        };
        let audit = AuditLog::open(&config.audit_path, restored)?;
        let mut master = Box::new(Master::new(config.link));
        let mut counter_path = config.state_path.clone().into_os_string();
        counter_path.push(".counters");
        let counter_file = StateFile::new(PathBuf::from(counter_path));
        let counters = load_counters(&counter_file)?;
        for &node in &config.nodes {
            master
                .add_node(node, now)
                .map_err(|e| GatewayError::Nodes(e.to_string()))?;
            if let Some(bus_key) = &config.bus_key {
                let key = bus_key.node_key(NodeIdentity::at(node));
                let stored = counters.get(&node).copied().unwrap_or(0);
                master
                    .set_key(node, key, stored)
                    .map_err(|e| GatewayError::Nodes(e.to_string()))?;
            }
        }
        let seed = match config.code_seed {
            Some(seed) => seed,
            None => os_seed()?,
        };
        let mut line = connect()?;
        line.discard_pending_input()?;
        let mut gateway = Gateway {
            bank,
            master,
            line,
            state,
            audit,
            clock,
            rng: ChaCha20Rng::from_seed(seed),
            commands: VecDeque::new(),
            inbox: VecDeque::new(),
            received: Vec::new(),
            counters,
            counter_file,
            notices: VecDeque::new(),
            greeted: Vec::new(),
            to_ping: config.nodes.clone(),
            snapshot_buf: vec![0; MAX_COMPARTMENTS * 96 + 32 * 1024],
            persisted: 0,
            status_reports: 0,
            wall_anchored: None,
            restored,
            stopping: false,
            uplink: None,
            reboot: None,
        };
        if let Some((settings, transport)) = uplink {
            let glue = uplink::UplinkGlue::open(
                &settings,
                transport,
                &gateway.bank,
                now,
                &mut gateway.notices,
            )?;
            gateway.uplink = Some(glue);
        }
        gateway.anchor_wall_clock(now)?;
        // Persist at once: a first start creates the state file, a restore
        // writes down the `Restored` record before anything else happens.
        gateway.pump(now)?;
        Ok(gateway)
    }

    /// One pass of the main loop: timers, bank commands to the bus, one read
    /// of the serial port (waiting at most its read timeout), node answers
    /// and events to the bank, then persistence, audit and notices.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] and file errors: stop the gateway. Node
    /// input the bank refuses becomes a [`Notice::Warning`] instead.
    pub fn step(&mut self) -> Result<(), GatewayError> {
        let now = self.clock.now();
        self.anchor_wall_clock(now)?;
        self.master.handle_timeout(now);
        self.bank.handle_timeout(now)?;
        self.deliver(now)?;
        self.pump(now)?;
        self.store_counters()?;
        while let Some(outgoing) = self.master.poll_outgoing(now) {
            self.line.send_outgoing(&outgoing)?;
        }
        let mut received = std::mem::take(&mut self.received);
        self.line.receive_signed(&mut received)?;
        let now = self.clock.now();
        for r in received.drain(..) {
            self.master
                .handle_received(&r.frame, r.authenticated(), now);
        }
        self.received = received;
        self.deliver(now)?;
        self.pump(now)?;
        self.exchange_uplink(now)?;
        // The answer came in: the next request can go out without waiting
        // for another pass.
        self.store_counters()?;
        while let Some(outgoing) = self.master.poll_outgoing(now) {
            self.line.send_outgoing(&outgoing)?;
        }
        Ok(())
    }

    /// Stores the counter reservations the master asks for, before any
    /// signed command that needs them leaves.
    fn store_counters(&mut self) -> Result<(), GatewayError> {
        let mut asked = Vec::new();
        while let Some(request) = self.master.poll_persist() {
            asked.push(request);
        }
        if asked.is_empty() {
            return Ok(());
        }
        self.counters.extend(asked.iter().copied());
        let text: String = self
            .counters
            .iter()
            .map(|(node, up_to)| format!("{} {up_to}\n", node.0))
            .collect();
        self.counter_file.replace(text.as_bytes())?;
        for (node, up_to) in asked {
            self.master.persisted(node, up_to);
        }
        Ok(())
    }

    /// The uplink's turn: requests from the backend, timers, the queue out,
    /// and the actions only the gateway can take.
    fn exchange_uplink(&mut self, now: Instant) -> Result<(), GatewayError> {
        let Some(glue) = self.uplink.as_mut() else {
            return Ok(());
        };
        let stats = self.master.stats();
        let bus = BusStats {
            frames_sent: stats.frames_sent,
            retransmissions: stats.retransmissions,
            responses: stats.responses,
            timeouts: stats.timeouts,
            unexpected: stats.unexpected,
            duplicates_filtered: stats.duplicates_filtered,
            nodes_lost: stats.nodes_lost,
        };
        let actions = glue.exchange(&mut self.bank, &mut self.rng, bus, now, &mut self.notices)?;
        for action in actions {
            self.carry_out(action)?;
        }
        // Requests may have changed the books: persist and pass the news on.
        self.pump(now)
    }

    fn carry_out(&mut self, action: GatewayAction) -> Result<(), GatewayError> {
        match action {
            GatewayAction::SendCommand { node, command } => {
                self.notices.push_back(Notice::Warning(format!(
                    "the backend asked for {command:?} of {node}"
                )));
                self.commands.push_back((node, command));
            }
            GatewayAction::TakeSnapshot {
                compartment,
                request,
                ..
            } => self.notices.push_back(Notice::Warning(format!(
                "the backend wants a camera snapshot of {compartment} ({request}); this gateway has no camera"
            ))),
            GatewayAction::ApplyPolicy(policy) => {
                if let Some(glue) = self.uplink.as_ref() {
                    glue.store_policy(&policy)?;
                }
                self.notices.push_back(Notice::Warning(
                    "the backend changed the configuration: it applies from the next start".into(),
                ));
            }
            GatewayAction::PrepareForReboot { .. } => {
                self.persist()?;
                self.audit.sync()?;
                if let Some(glue) = self.uplink.as_mut() {
                    glue.flush()?;
                    glue.persist_state()?;
                    glue.uplink.confirm_persisted();
                }
            }
            GatewayAction::Reboot { kind } => {
                self.reboot = Some(kind);
                self.notices.push_back(Notice::Warning(format!(
                    "the backend asked for a {kind:?} reboot; everything is persisted"
                )));
            }
            other => self
                .notices
                .push_back(Notice::Warning(format!("uplink action not handled: {other:?}"))),
        }
        Ok(())
    }

    /// Carries out an operator command.
    ///
    /// # Errors
    ///
    /// File errors while persisting the change. The bank's refusals are
    /// [`Reply::Refused`], not errors.
    pub fn execute(&mut self, command: &ConsoleCommand) -> Result<Reply, GatewayError> {
        let now = self.clock.now();
        let reply = match self.domain_call(command, now) {
            Ok(reply) => reply,
            Err(BankError::OutputFull(_)) => {
                // Drain and try once more; the bank changed nothing.
                self.pump(now)?;
                self.domain_call(command, now)
                    .unwrap_or_else(|e| Reply::Refused(e.to_string()))
            }
            Err(e) => Reply::Refused(e.to_string()),
        };
        self.pump(now)?;
        Ok(reply)
    }

    fn domain_call(&mut self, command: &ConsoleCommand, now: Instant) -> Result<Reply, BankError> {
        let refusing = self
            .uplink
            .as_ref()
            .is_some_and(|u| u.uplink.refuses_new_transactions());
        if refusing
            && matches!(
                command,
                ConsoleCommand::Deposit { .. } | ConsoleCommand::Courier(_)
            )
        {
            return Ok(Reply::Refused(
                "the bank takes no new parcels right now (a restart is under way or the operator \
                 closed it): please try again in a few minutes"
                    .into(),
            ));
        }
        Ok(match command {
            ConsoleCommand::Courier(compartment) => {
                self.bank.start_deposit(*compartment, now)?;
                let parcel = self.bank.view(*compartment).and_then(|v| v.parcel);
                match parcel {
                    // The code went to the backend with the reservation.
                    Some(parcel) => Reply::Depositing(locker_domain::bank::Reservation {
                        compartment: *compartment,
                        parcel,
                        code: None,
                    }),
                    None => Reply::Refused("no parcel is reserved there".into()),
                }
            }
            ConsoleCommand::Deposit { size, kind } => {
                let needs = ParcelNeeds::size(*size);
                let reservation = self.bank.reserve(needs, *kind, &mut self.rng, now)?;
                if let Err(e) = self.bank.start_deposit(reservation.compartment, now) {
                    // Do not leave a compartment held for a courier who was sent away.
                    let _ =
                        self.bank
                            .cancel_reservation(reservation.compartment, Actor::System, now);
                    return Err(e);
                }
                Reply::Depositing(reservation)
            }
            ConsoleCommand::Pickup { code } => {
                match self.bank.enter_code(KeypadId(0), code, now)? {
                    CodeOutcome::Opening(c) => Reply::Opening(c),
                    rejected => Reply::CodeRejected(rejected),
                }
            }
            ConsoleCommand::StaffOpen(c) => {
                self.bank.staff_open(*c, now)?;
                Reply::StaffOpening(*c)
            }
            ConsoleCommand::Status => Reply::Books(self.bank.views().collect()),
            ConsoleCommand::Quit => {
                self.stopping = true;
                Reply::Stopping
            }
        })
    }

    /// The next thing to tell someone, oldest first.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// Whether `quit` was given.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Whether the bank was restored from the state file at start.
    pub fn was_restored(&self) -> bool {
        self.restored
    }

    /// The bank, for its books and statistics.
    pub fn bank(&self) -> &GatewayBank {
        &self.bank
    }

    /// Bus statistics of the link layer.
    pub fn link_stats(&self) -> LinkStats {
        self.master.stats()
    }

    /// Byte and frame counts of the serial line.
    pub fn line_stats(&self) -> LineStats {
        self.line.stats()
    }

    /// How many times the state file was replaced since start.
    pub fn persist_count(&self) -> u64 {
        self.persisted
    }

    /// How many full status reports of a node the bank has reconciled its
    /// books with since start (one per node at start and after a node restart
    /// or outage).
    pub fn status_reports(&self) -> u64 {
        self.status_reports
    }

    /// The audit log being written.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// The time on the gateway's clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The reboot the backend asked for, once the gateway is ready for it
    /// (everything persisted): stop the gateway and start it again.
    pub fn reboot_requested(&self) -> Option<RebootKind> {
        self.reboot
    }

    /// Upward messages waiting for the backend, if the gateway has an uplink.
    pub fn uplink_backlog(&self) -> Option<usize> {
        self.uplink.as_ref().map(|u| u.backlog())
    }

    /// The uplink's counters, if the gateway has an uplink.
    pub fn uplink_stats(&self) -> Option<UplinkStats> {
        self.uplink.as_ref().map(|u| u.uplink.stats())
    }

    /// Persists the bank one last time and stops.
    ///
    /// # Errors
    ///
    /// File errors.
    pub fn shutdown(mut self) -> Result<(), GatewayError> {
        let now = self.clock.now();
        self.deliver(now)?;
        self.pump(now)?;
        self.persist()?;
        if let Some(glue) = self.uplink.as_mut() {
            glue.mark_clean_stop()?;
        }
        self.audit.sync()
    }

    /// Master events to the bank.
    fn deliver(&mut self, now: Instant) -> Result<(), GatewayError> {
        while let Some(event) = self.master.poll_event() {
            self.inbox.push_back(event);
        }
        while let Some(event) = self.inbox.pop_front() {
            match self.apply(&event, now) {
                Ok(()) => {}
                Err(BankError::OutputFull(_)) => {
                    self.pump(now)?;
                    if let Err(BankError::OutputFull(_)) = self.apply(&event, now) {
                        // Still no room: keep it for the next pass.
                        self.inbox.push_front(event);
                        break;
                    }
                }
                Err(e) => self
                    .notices
                    .push_back(Notice::Warning(format!("bank refused {event:?}: {e}"))),
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: &MasterEvent, now: Instant) -> Result<(), BankError> {
        let bank = &mut self.bank;
        match event {
            MasterEvent::Response {
                node,
                command: Command::Ping,
                report,
            } => {
                if let Report::Pong {
                    firmware,
                    uptime_ms,
                    reset_reason,
                } = report
                {
                    self.notices.push_back(Notice::NodeGreeted {
                        node: *node,
                        firmware: *firmware,
                        uptime_ms: *uptime_ms,
                    });
                    if let Some(glue) = self.uplink.as_mut() {
                        let (n, f, r, u) = (*node, *firmware, *reset_reason, *uptime_ms);
                        // The bank is not involved: an output full is the only
                        // refusal, and feed drains it first.
                        if glue.feed(|up| up.on_node_greeted(n, f, r, u, now)).is_err() {
                            self.notices.push_back(Notice::Warning(format!(
                                "could not report the greeting of {n} to the backend"
                            )));
                        }
                    }
                }
                if !self.greeted.contains(node) {
                    self.greeted.push(*node);
                }
                Ok(())
            }
            MasterEvent::Response {
                node,
                report: Report::BulkStatus(status),
                ..
            } => {
                bank.handle_bulk_status(*node, status, now)?;
                self.status_reports += 1;
                Ok(())
            }
            MasterEvent::Response {
                node,
                command,
                report: Report::Nack(reason),
            } => bank.handle_command_result(*node, command, CommandOutcome::Nacked(*reason), now),
            MasterEvent::Response { node, command, .. } => {
                bank.handle_command_result(*node, command, CommandOutcome::Acked, now)
            }
            MasterEvent::Event { node, record } => {
                bank.handle_node_event(*node, &record.event, now)?;
                if matches!(record.event, Event::NodeStarted { .. }) && !self.to_ping.contains(node)
                {
                    // Greet the restarted node: its firmware and reset reason
                    // go up to the backend.
                    self.to_ping.push(*node);
                }
                Ok(())
            }
            MasterEvent::RequestFailed {
                node,
                command: Command::Ping,
            } => {
                // A lost node is pinged again when it is back.
                if !self.master.is_lost(*node) && !self.to_ping.contains(node) {
                    self.to_ping.push(*node);
                }
                Ok(())
            }
            MasterEvent::RequestFailed { node, command } => {
                bank.handle_command_result(*node, command, CommandOutcome::Failed, now)
            }
            MasterEvent::NodeLost { node } => {
                self.greeted.retain(|n| n != node);
                bank.handle_node_lost(*node, now)
            }
            MasterEvent::NodeBack { node } => {
                bank.handle_node_back(*node, now)?;
                self.greeted.retain(|n| n != node);
                if !self.to_ping.contains(node) {
                    self.to_ping.push(*node);
                }
                Ok(())
            }
            MasterEvent::EventsDropped { node, .. } => {
                // The bank asks the node for full status and alerts staff.
                let dropped = Event::FaultRaised {
                    channel: None,
                    fault: FaultCode::EventsDropped,
                };
                bank.handle_node_event(*node, &dropped, now)
            }
        }
    }

    /// Bank outputs out: commands to the master, the snapshot to the state
    /// file (before the audit records it still holds), audit records to the
    /// log, notifications and alerts to the notices.
    fn pump(&mut self, now: Instant) -> Result<(), GatewayError> {
        while let Some(command) = self.bank.poll_command() {
            self.commands.push_back(command);
        }
        let mut pinged = Vec::new();
        for node in std::mem::take(&mut self.to_ping) {
            if self.master.is_busy(node) || self.master.send(node, Command::Ping, now).is_err() {
                self.to_ping.push(node);
            } else {
                pinged.push(node);
            }
        }
        // Per node, commands keep their order: once one waits, the rest for
        // that node wait behind it.
        let mut waiting: Vec<NodeAddr> = pinged;
        let mut kept = VecDeque::new();
        for (node, command) in std::mem::take(&mut self.commands) {
            let ready = !waiting.contains(&node)
                && self.greeted.contains(&node)
                && !self.master.is_busy(node);
            if ready && self.master.send(node, command, now).is_ok() {
                continue;
            }
            if !waiting.contains(&node) {
                waiting.push(node);
            }
            kept.push_back((node, command));
        }
        self.commands = kept;
        if self.bank.poll_persist().is_some() {
            self.persist()?;
        }
        let mut wrote = false;
        while let Some(record) = self.bank.poll_audit() {
            if let Some(glue) = self.uplink.as_mut() {
                let bank = &mut self.bank;
                glue.feed(|up| up.on_audit(bank, &record))?;
            }
            match self.audit.append(&record, unix_ms())? {
                Appended::Written | Appended::Duplicate => {}
                Appended::AfterGap { expected } => self.notices.push_back(Notice::Warning(
                    format!("audit records {expected}..{} are missing", record.seq),
                )),
            }
            wrote = true;
        }
        if wrote {
            self.audit.sync()?;
        }
        while let Some(n) = self.bank.poll_notification() {
            if let Some(glue) = self.uplink.as_mut() {
                glue.feed(|up| up.on_notification(&n))?;
            }
            self.notices.push_back(Notice::Notification(n));
        }
        while let Some(a) = self.bank.poll_alert() {
            if let Some(glue) = self.uplink.as_mut() {
                let bank = &self.bank;
                glue.feed(|up| up.on_alert(bank, &a))?;
            }
            self.notices.push_back(Notice::Alert(a));
        }
        if let Some(glue) = self.uplink.as_mut() {
            glue.flush()?;
        }
        while let Some(s) = self.bank.poll_snapshot_request() {
            self.notices.push_back(Notice::SnapshotRequested(s));
        }
        Ok(())
    }

    fn anchor_wall_clock(&mut self, now: Instant) -> Result<(), GatewayError> {
        let due = self
            .wall_anchored
            .is_none_or(|at| now.saturating_since(at) >= WALL_CLOCK_ANCHOR_EVERY);
        if !due {
            return Ok(());
        }
        let wall = i64::try_from(unix_ms())
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis);
        if let Some(wall) = wall {
            self.bank.set_wall_clock(wall.naive_utc(), now)?;
            if let Some(glue) = self.uplink.as_mut() {
                glue.uplink.set_wall_clock(wall.timestamp(), now);
            }
            self.wall_anchored = Some(now);
        }
        Ok(())
    }

    fn persist(&mut self) -> Result<(), GatewayError> {
        let snapshot = self
            .bank
            .snapshot(&mut self.snapshot_buf)
            .map_err(GatewayError::Snapshot)?;
        self.state.replace(snapshot)?;
        self.persisted += 1;
        Ok(())
    }
}

/// Reads `<state>.counters`: one `node up_to` line per node. A missing file
/// is a first start; a corrupt one stops the gateway (resuming at 0 could
/// reuse counters).
fn load_counters(
    file: &StateFile,
) -> Result<std::collections::BTreeMap<NodeAddr, u64>, GatewayError> {
    let mut counters = std::collections::BTreeMap::new();
    let Some(bytes) = file.load()? else {
        return Ok(counters);
    };
    let corrupt = || GatewayError::CorruptCounters(file.path().to_path_buf());
    let text = String::from_utf8(bytes).map_err(|_| corrupt())?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let node = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(corrupt)?;
        let up_to = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(corrupt)?;
        counters.insert(NodeAddr(node), up_to);
    }
    Ok(counters)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn os_seed() -> Result<[u8; 32], GatewayError> {
    let path = std::path::Path::new("/dev/urandom");
    let mut seed = [0u8; 32];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| GatewayError::file("cannot read randomness for pickup codes from", path, e))?;
    Ok(seed)
}
