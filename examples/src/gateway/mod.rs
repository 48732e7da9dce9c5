//! A Linux gateway on a real serial line.
//!
//! The gateway is the bank's computer. Everything it decides is the
//! library's [`locker_domain::gateway::Gateway`] (the bank, the bus master,
//! the uplink, node greetings, the per-node command queue); this module is
//! the I/O around it, which the `locker-gateway` program runs:
//!
//! ```text
//!  stdin lines ──► Gateway::execute ──► core: reserve, start_deposit, enter_code…
//!  serial port ──► SerialLine::read ──► core.handle_bytes
//!  MQTT        ──► UplinkGlue ────────► core.handle_downward
//!                                        │ core.poll(now)
//!  serial port ◄── Transmit ◄────────────┤
//!  state file  ◄── Persist::Bank ◄───────┤ (atomic replace, before the audit lines)
//!  counters    ◄── Persist::Counter ◄────┤ (before the signed frame that needs it)
//!  audit log   ◄── Audit ◄───────────────┤ (JSON lines, synced)
//!  disk queue  ◄── Upward ◄──────────────┤ (one file per message, until acknowledged)
//!  stdout      ◄── notices ◄─────────────┘
//! ```
//!
//! - **State**: the bank's snapshot is written to the state file
//!   ([`StateFile`], write-temporary, `fsync`, `rename`) every time the
//!   gateway asks ([`Persist::Bank`], after every state change) and at shutdown; it is restored at start, and a
//!   state file that cannot be restored stops the gateway and is left as it is.
//! - **Audit**: every record goes to the audit log as one JSON line
//!   ([`AuditLog`]), gap-free across restarts (see its docs for why).
//! - **Time**: [`MonotonicClock`] is the only clock; every state machine gets
//!   its readings as [`Instant`]s. The bank's wall clock (audit stamps, quiet
//!   hours) is the system clock in UTC, re-anchored every minute so that NTP
//!   corrections reach it; quiet hours therefore count in UTC in this example.
//! - **Bus authentication**: with a bus key ([`GatewayConfig::bus_key`]) the
//!   gateway signs every command that needs a tag with the node's derived
//!   key ([`locker_proto::auth`]) and accepts answers to them only with a
//!   valid tag; each node's counter reservation is stored in
//!   `<state file>.counters` ([`CounterFile`]) before a signed command
//!   leaves, so a restarted gateway never reuses a counter.
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
mod counters;
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
    Actor, Bank, BankError, BankId, BankKeys, CodeOutcome, ParcelNeeds, Policy,
};
use locker_domain::gateway::{self as core, GatewayOutput, Persist};
use locker_domain::uplink::{Handled, UplinkStats};
use locker_proto::auth::{BankKey, NodeIdentity};
use locker_proto::link::{LinkStats, MasterConfig};
use locker_proto::time::Instant;
use locker_proto::{NodeAddr, RebootKind};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub use audit_log::{Appended, AuditLine, AuditLog};
pub use clock::MonotonicClock;
pub use console::{ConsoleCommand, ConsoleError};
pub use counters::CounterFile;
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
/// The gateway machine this program is the shell of.
pub type GatewayCore = core::Gateway<MAX_COMPARTMENTS, MAX_NODES>;

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

/// The gateway: the library's gateway machine, the serial line and the files.
///
/// Call [`Gateway::step`] in a loop; feed operator lines to
/// [`Gateway::execute`]; print [`Gateway::poll_notice`]; end with
/// [`Gateway::shutdown`]. Dropping it without `shutdown` is a crash: the state
/// file still holds everything up to the last completed step.
#[derive(Debug)]
pub struct Gateway {
    /// Boxed: the bank and the keys and counters of 32 nodes are large, and
    /// the gateway is moved around by value.
    core: Box<GatewayCore>,
    line: SerialLine,
    state: StateFile,
    audit: AuditLog,
    counters: CounterFile,
    clock: MonotonicClock,
    rng: ChaCha20Rng,
    notices: VecDeque<Notice>,
    snapshot_buf: Vec<u8>,
    persisted: u64,
    wall_anchored: Option<Instant>,
    restored: bool,
    stopping: bool,
    /// The uplink's files, queue and transport, when the gateway has one.
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
        let keys = config.bank_keys.clone();
        let (bank, restored) = match state.load()? {
            Some(bytes) => {
                let bank =
                    Bank::restore(layout, config.policy, keys, &bytes, now).map_err(|source| {
                        GatewayError::CorruptState {
                            path: config.state_path.clone(),
                            source,
                        }
                    })?;
                (bank, true)
            }
            None => (Bank::new(layout, config.policy, keys)?, false),
        };
        let audit = AuditLog::open(&config.audit_path, restored)?;
        let mut core = Box::new(GatewayCore::new(bank, config.link, now)?);
        let counters = CounterFile::open(&config.state_path)?;
        if let Some(bus_key) = &config.bus_key {
            for &node in &config.nodes {
                let key = bus_key.node_key(NodeIdentity::at(node));
                core.set_node_key(node, key, counters.stored(node))?;
            }
        }
        let seed = match config.code_seed {
            Some(seed) => seed,
            None => os_seed()?,
        };
        let mut line = connect()?;
        line.discard_pending_input()?;
        let mut gateway = Gateway {
            core,
            line,
            state,
            audit,
            counters,
            clock,
            rng: ChaCha20Rng::from_seed(seed),
            notices: VecDeque::new(),
            snapshot_buf: vec![0; MAX_COMPARTMENTS * 96 + 32 * 1024],
            persisted: 0,
            wall_anchored: None,
            restored,
            stopping: false,
            uplink: None,
            reboot: None,
        };
        gateway.anchor_wall_clock(now)?;
        if let Some((settings, transport)) = uplink {
            let (glue, bridge, reason) =
                uplink::UplinkGlue::open(&settings, transport, now, &mut gateway.notices)?;
            gateway.uplink = Some(glue);
            gateway.core.start_uplink(bridge, reason, now)?;
        }
        // Persist at once: a first start creates the state file, a restore
        // writes down the `Restored` record before anything else happens.
        gateway.persist()?;
        gateway.carry_out(now)?;
        Ok(gateway)
    }

    /// One pass of the main loop: timers, one read of the serial port
    /// (waiting at most its read timeout), the backend's messages, and
    /// everything the gateway asks for after each.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] and file errors: stop the gateway. Node
    /// input the bank refuses becomes a [`Notice::Warning`] instead.
    pub fn step(&mut self) -> Result<(), GatewayError> {
        let now = self.clock.now();
        self.anchor_wall_clock(now)?;
        self.core.handle_timeout(now)?;
        self.carry_out(now)?;
        let mut buf = [0u8; 256];
        let bytes = self.line.read(&mut buf)?;
        let now = self.clock.now();
        self.core.handle_bytes(bytes, now);
        self.carry_out(now)?;
        self.exchange_uplink(now)
    }

    /// The backend's messages in, the outbound queue out.
    fn exchange_uplink(&mut self, now: Instant) -> Result<(), GatewayError> {
        let Some(glue) = self.uplink.as_mut() else {
            return Ok(());
        };
        for message in glue.receive(&mut self.notices) {
            // A full output is drained and the message handed in again.
            for _ in 0..3 {
                match self.core.handle_downward(&message, &mut self.rng, now) {
                    Ok(Handled::Ack(id)) => {
                        if let Some(glue) = self.uplink.as_mut() {
                            glue.acknowledged(id, now)?;
                        }
                        break;
                    }
                    Ok(_) => break,
                    Err(core::GatewayError::Uplink(_)) => self.carry_out(now)?,
                    Err(e) => return Err(e.into()),
                }
            }
            // The answer is on disk before the request counts as done.
            self.carry_out(now)?;
        }
        if let Some(glue) = self.uplink.as_mut() {
            glue.transmit(now);
        }
        Ok(())
    }

    /// Carries out everything the gateway asks for, in its order.
    fn carry_out(&mut self, now: Instant) -> Result<(), GatewayError> {
        let mut wrote = false;
        while let Some(output) = self.core.poll(now) {
            match output {
                GatewayOutput::Transmit(frame) => self.line.send_outgoing(&frame)?,
                GatewayOutput::Persist(Persist::Counter { node, up_to }) => {
                    self.counters.store(node, up_to)?;
                    self.core.counter_persisted(node, up_to);
                }
                GatewayOutput::Persist(Persist::Bank(_)) => self.persist()?,
                GatewayOutput::Persist(Persist::Uplink) => self.persist_uplink()?,
                GatewayOutput::Persist(Persist::Policy(policy)) => {
                    if let Some(glue) = self.uplink.as_ref() {
                        glue.store_policy(&policy)?;
                    }
                    self.warn(
                        "the backend changed the configuration: it applies from the next start",
                    );
                }
                GatewayOutput::Persist(Persist::BeforeReboot(_)) => {
                    self.persist()?;
                    self.audit.sync()?;
                    self.persist_uplink()?;
                    self.core.persisted_for_reboot();
                }
                GatewayOutput::Audit(record) => {
                    match self.audit.append(&record, unix_ms())? {
                        Appended::Written | Appended::Duplicate => {}
                        Appended::AfterGap { expected } => self.warn(&format!(
                            "audit records {expected}..{} are missing",
                            record.seq
                        )),
                    }
                    wrote = true;
                }
                GatewayOutput::Upward(message) => {
                    if let Some(glue) = self.uplink.as_mut() {
                        glue.push(message)?;
                    }
                }
                GatewayOutput::Reboot(kind) => {
                    self.reboot = Some(kind);
                    self.warn(&format!(
                        "the backend asked for a {kind:?} reboot; everything is persisted"
                    ));
                }
                other => {
                    if let Some(notice) = Notice::of(other) {
                        self.notices.push_back(notice);
                    }
                }
            }
        }
        if wrote {
            self.audit.sync()?;
        }
        if let Some(glue) = self.uplink.as_ref() {
            self.core.set_uplink_backlog(glue.backlog());
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
        let reply = match self.bank_call(command, now) {
            Ok(reply) => reply,
            Err(BankError::OutputFull(_)) => {
                // Drain and try once more; the bank changed nothing.
                self.carry_out(now)?;
                self.bank_call(command, now)
                    .unwrap_or_else(|e| Reply::Refused(e.to_string()))
            }
            Err(e) => Reply::Refused(e.to_string()),
        };
        self.carry_out(now)?;
        Ok(reply)
    }

    fn bank_call(&mut self, command: &ConsoleCommand, now: Instant) -> Result<Reply, BankError> {
        let core = &mut self.core;
        Ok(match command {
            ConsoleCommand::Courier(compartment) => {
                core.start_deposit(*compartment, now)?;
                match core.bank().view(*compartment).and_then(|v| v.parcel) {
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
                let reservation = core.reserve(needs, *kind, &mut self.rng, now)?;
                if let Err(e) = core.start_deposit(reservation.compartment, now) {
                    // Do not leave a compartment held for a courier who was sent away.
                    let _ = core.cancel_reservation(reservation.compartment, Actor::System, now);
                    return Err(e);
                }
                Reply::Depositing(reservation)
            }
            ConsoleCommand::Pickup { code } => match core.enter_code(KeypadId(0), code, now)? {
                CodeOutcome::Opening(c) => Reply::Opening(c),
                rejected => Reply::CodeRejected(rejected),
            },
            ConsoleCommand::StaffOpen(c) => {
                core.staff_open(*c, now)?;
                Reply::StaffOpening(*c)
            }
            ConsoleCommand::Status => Reply::Books(core.bank().views().collect()),
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

    /// The gateway machine, for its bank, bus and uplink.
    pub fn core(&self) -> &GatewayCore {
        &self.core
    }

    /// The bank, for its books and statistics.
    pub fn bank(&self) -> &GatewayBank {
        self.core.bank()
    }

    /// Bus statistics of the link layer.
    pub fn link_stats(&self) -> LinkStats {
        self.core.link_stats()
    }

    /// Byte and frame counts of the serial line.
    pub fn line_stats(&self) -> LineStats {
        let core = self.core.stats();
        LineStats {
            frames_in: core.frames_received,
            bad_frames: core.bad_frames,
            ..self.line.stats()
        }
    }

    /// How many times the state file was replaced since start.
    pub fn persist_count(&self) -> u64 {
        self.persisted
    }

    /// How many full status reports of a node the bank has reconciled its
    /// books with since start (one per node at start and after a node restart
    /// or outage).
    pub fn status_reports(&self) -> u64 {
        self.core.stats().status_reports
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
        self.uplink.as_ref().map(uplink::UplinkGlue::backlog)
    }

    /// The uplink's counters, if the gateway has an uplink.
    pub fn uplink_stats(&self) -> Option<UplinkStats> {
        self.core.uplink().map(locker_domain::uplink::Uplink::stats)
    }

    /// Persists the bank one last time and stops.
    ///
    /// # Errors
    ///
    /// File errors.
    pub fn shutdown(mut self) -> Result<(), GatewayError> {
        let now = self.clock.now();
        self.carry_out(now)?;
        self.persist()?;
        if let (Some(glue), Some(state)) = (self.uplink.as_mut(), self.core.uplink_state()) {
            glue.mark_clean_stop(state)?;
        }
        self.audit.sync()
    }

    fn warn(&mut self, text: &str) {
        self.notices.push_back(Notice::Warning(text.to_string()));
    }

    fn anchor_wall_clock(&mut self, now: Instant) -> Result<(), GatewayError> {
        let due = self
            .wall_anchored
            .is_none_or(|at| now.saturating_since(at) >= WALL_CLOCK_ANCHOR_EVERY);
        let wall = i64::try_from(unix_ms())
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis);
        if let (true, Some(wall)) = (due, wall) {
            self.core.set_wall_clock(wall.naive_utc(), now)?;
            self.wall_anchored = Some(now);
        }
        Ok(())
    }

    fn persist(&mut self) -> Result<(), GatewayError> {
        let snapshot = self
            .core
            .snapshot(&mut self.snapshot_buf)
            .map_err(GatewayError::Snapshot)?;
        self.state.replace(snapshot)?;
        self.persisted += 1;
        Ok(())
    }

    fn persist_uplink(&mut self) -> Result<(), GatewayError> {
        match (self.uplink.as_mut(), self.core.uplink_state()) {
            (Some(glue), Some(state)) => glue.persist_state(state),
            _ => Ok(()),
        }
    }
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
