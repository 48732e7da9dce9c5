//! A Linux gateway on a real serial line.
//!
//! The gateway is the bank's computer. Everything it decides is the
//! library's [`locker_domain::gateway::Gateway`] (the bank, the bus master,
//! the uplink, node greetings, the per-node command queue); this module is
//! the I/O around it, which the `locker-gateway` program runs:
//!
//! ```text
//!  stdin lines ──► Gateway::execute ──► core: reserve, start_deposit, enter_code…
//!  node line   ──► NodeLine::read ───► core.handle_bytes
//!  MQTT        ──► UplinkGlue ────────► core.handle_downward
//!                                        │ core.poll(now)
//!  node line   ◄── Transmit ◄────────────┤
//!  state file  ◄── Persist::Bank ◄───────┤ (atomic replace, before the audit lines)
//!  counters    ◄── Persist::Counter ◄────┤ (before the signed frame that needs it)
//!  audit log   ◄── Audit ◄───────────────┤ (JSON lines, synced)
//!  disk queue  ◄── Upward ◄──────────────┤ (one file per message, until acknowledged)
//!  log (stderr) ◄── notices ◄────────────┘
//! ```
//!
//! - **State**: the bank's snapshot is written to the state file
//!   ([`StateFile`], write-temporary, `fsync`, `rename`) every time the
//!   gateway asks ([`Persist::Bank`], after every state change) and at shutdown; it is restored at start, and a
//!   state file that cannot be restored stops the gateway and is left as it is.
//! - **Audit**: every record goes to the audit log as one JSON line
//!   ([`AuditLog`]), gap-free across restarts (see its docs for why), with
//!   its hash-chain link; a record re-issued with other content after a
//!   rollback is written too and reported as a security warning, and
//!   [`verify_audit`] (`locker-gateway verify-audit FILE`) checks the chain.
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
//! - **Nodes**: the line is a [`NodeLine`]: our own bus ([`SerialLine`]) or
//!   Kerong lock boards standing in for nodes ([`KerongLine`]); the gateway
//!   machine cannot tell which.
//!
//! # Example
//!
//! A gateway on one end of a pseudo-terminal (`tests/gateway_pty.rs` puts a
//! simulated node on the other end):
//!
//! ```no_run
//! use locker_domain::bank::{BankId, BankKeys};
//! use locker_examples::{gateway::*, secret::read_or_create_secret};
//! use locker_proto::NodeAddr;
//!
//! let (_node_end, gateway_end) = serialport::TTYPort::pair()?;
//! let keys = BankKeys::derive(BankId(1), &read_or_create_secret("bank.secret".as_ref())?.0);
//! let config = GatewayConfig::new(vec![NodeAddr(1)], 4, "bank.state", "audit.jsonl", keys);
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
mod config;
mod console;
mod counters;
mod error;
mod inspect;
mod kerong;
mod layout;
mod line;
mod node_power;
mod notice;
mod options;
mod serial;
mod start;
mod state_file;
mod uplink;
mod verify_audit;

use std::collections::VecDeque;

use locker_domain::bank::{Bank, SnapshotOutcome};
use locker_domain::gateway::{self as core, GatewayOutput, Persist};
use locker_domain::uplink::Handled;
use locker_proto::RebootKind;
use locker_proto::time::Instant;
use rand_chacha::ChaCha20Rng;

pub use audit_log::{Appended, AuditLine, AuditLog};
pub use clock::MonotonicClock;
use clock::unix_ms;
pub use config::GatewayConfig;
pub use console::{CONSOLE_ACCOUNT, COURIER_KEYPAD, ConsoleCommand, ConsoleError};
pub use counters::CounterFile;
pub use error::GatewayError;
pub use kerong::{KERONG_BAUD, KERONG_READ_TIMEOUT, KerongLine, run_bus_key};
pub use layout::{MAX_COMPARTMENTS, bank_layout, size_of_channel};
pub use line::NodeLine;
pub use node_power::NodePower;
pub use notice::{Notice, Reply, code_text, please_close};
pub use options::{BoardKind, ConfigFileError, GatewayOptions, NodeList};
pub use serial::{LineStats, Received, SerialLine};
pub use state_file::StateFile;
pub use uplink::{GATEWAY_VERSION, QUEUE_HEADROOM, UplinkSettings};
pub use verify_audit::{AuditFault, AuditVerdict, BrokenAt, verify_audit};

/// The most nodes on one bus.
pub const MAX_NODES: usize = 32;

/// The bank this gateway runs (its books on the heap).
pub type GatewayBank = Bank<'static>;
/// The gateway machine this program is the shell of.
pub type GatewayCore = core::Gateway<'static, MAX_NODES>;

/// The gateway: the library's gateway machine, the node line and the files.
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
    line: Box<dyn NodeLine>,
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
    /// The program that cuts a silent node's power, if there is one.
    node_power: Option<NodePower>,
}

impl Gateway {
    /// One pass of the main loop: one read of the node line (waiting at
    /// most its read timeout), timers, the backend's messages, and
    /// everything the gateway asks for after each.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] and file errors: stop the gateway. Node
    /// input the bank refuses becomes a [`Notice::Warning`] instead.
    pub fn step(&mut self) -> Result<(), GatewayError> {
        // Answers before timers: a line of vendor boards answers as soon as
        // it is asked, and the answer must reach the master before it times out.
        let mut buf = [0u8; 256];
        let bytes = self.read_line(&mut buf)?;
        let now = self.clock.now();
        self.anchor_wall_clock(now)?;
        self.core.handle_bytes(bytes, now);
        self.carry_out(now)?;
        self.core.handle_timeout(now)?;
        self.carry_out(now)?;
        let failed = self.node_power.as_mut().map(NodePower::failures);
        for failure in failed.into_iter().flatten() {
            self.warn(&format!(
                "the node power-cycle program failed: {failure}; power-cycle the node by hand"
            ));
        }
        self.exchange_uplink(now)
    }

    /// The backend's messages in, the outbound queue out.
    fn exchange_uplink(&mut self, now: Instant) -> Result<(), GatewayError> {
        let Some(glue) = self.uplink.as_mut() else {
            return Ok(());
        };
        for incoming in glue.receive(&mut self.notices) {
            // A full output is drained and the message handed in again.
            for _ in 0..3 {
                let handled = match &incoming {
                    uplink::Incoming::Message(m) => {
                        self.core.handle_downward(m, &mut self.rng, now)
                    }
                    uplink::Incoming::Unreadable(h) => self.core.handle_undecodable(*h, now),
                };
                match handled {
                    Ok(Handled::Ack(id)) => {
                        if let Some(glue) = self.uplink.as_mut() {
                            glue.acknowledged(id, now)?;
                        }
                        break;
                    }
                    Ok(Handled::BootAck { boot, agreed }) => {
                        if let Some(glue) = self.uplink.as_mut() {
                            glue.acknowledged(boot, now)?;
                        }
                        self.notices.push_back(match agreed {
                            Ok(version) => Notice::UplinkVersion(version),
                            Err(e) => Notice::Warning(format!(
                                "the backend speaks no uplink version this gateway speaks ({e}); \
                                 writing version 1 regardless: update the backend or the gateway"
                            )),
                        });
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
        let mut unpictured = Vec::new();
        while let Some(output) = self.core.poll(now) {
            match output {
                GatewayOutput::Transmit(frame) => self.line.send(&frame, now)?,
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
                        "the backend changed the configuration: in force now, and kept for the next start",
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
                        Appended::AfterGap { expected } => self.warn(&format!(
                            "audit records {expected}..{} are missing",
                            record.seq
                        )),
                        Appended::Reissued { seq } => self.warn(&format!(
                            "SECURITY: audit record {seq} was issued again with other content: \
                             the state file was rolled back or the audit log tampered with; \
                             both records are kept (the new one marked reissued)"
                        )),
                        Appended::BelowLast { last } => self.warn(&format!(
                            "SECURITY: audit record {} follows record {last} in the audit log, \
                             which the bank never reached in order (a forged line?); written",
                            record.seq
                        )),
                        _ => {}
                    }
                    wrote = true;
                }
                GatewayOutput::Upward(message) => {
                    let mut dropped = None;
                    if let Some(glue) = self.uplink.as_mut() {
                        if !glue.push(message)? {
                            dropped = Some(glue.dropped());
                        }
                    }
                    // One warning per hundred, so the console is not flooded.
                    if let Some(n) = dropped.filter(|n| n % 100 == 1) {
                        self.warn(&format!(
                            "ALERT: the uplink queue on disk is full: {n} message(s) for the \
                             backend dropped"
                        ));
                    }
                }
                GatewayOutput::Reboot(kind) => {
                    self.reboot = Some(kind);
                    self.warn(&format!(
                        "the backend asked for a {kind:?} reboot; everything is persisted"
                    ));
                }
                GatewayOutput::PowerCycleNode(node) => self.cut_node_power(node),
                GatewayOutput::Snapshot(request) => {
                    // No camera here: told, and reported failed once the
                    // outputs are out, so the audit trail says that the
                    // alert, handoff or backend request has no picture.
                    self.notices.push_back(Notice::SnapshotRequested(request));
                    unpictured.push(request);
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
        for request in unpictured {
            self.core
                .handle_snapshot_result(&request, SnapshotOutcome::Failed, now)?;
            self.carry_out(now)?;
        }
        if let Some(glue) = self.uplink.as_ref() {
            let was_full = self.core.uplink().is_some_and(|u| u.backlog_full());
            self.core.set_uplink_backlog(glue.backlog());
            let full = self.core.uplink().is_some_and(|u| u.backlog_full());
            let backlog = glue.backlog();
            if full && !was_full {
                self.warn(&format!(
                    "ALERT: {backlog} messages wait for the backend: the bank takes no new \
                     parcels until it is reachable again; check the network and the broker"
                ));
            } else if was_full && !full {
                self.warn(&format!(
                    "the backend took the backlog ({backlog} messages left): new parcels again"
                ));
            }
        }
        Ok(())
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

    /// A node silent for a minute needs its power cycled: the operator's
    /// program does it, or staff are told.
    fn cut_node_power(&mut self, node: locker_proto::NodeAddr) {
        let after = core::POWER_CYCLE_AFTER.as_secs();
        let text = match self.node_power.as_mut() {
            Some(power) => match power.cycle(node) {
                Ok(()) => format!(
                    "{node} has not answered for {after} s: cycling its power ({} {})",
                    power.program().display(),
                    node.0
                ),
                Err(e) => format!(
                    "{node} has not answered for {after} s, and its power could not be cycled \
                     ({e}); power-cycle it by hand"
                ),
            },
            None => format!(
                "{node} has not answered for {after} s and needs its power cycled: no \
                 --node-power-command is set, so power-cycle it by hand"
            ),
        };
        self.warn(&text);
    }

    fn warn(&mut self, text: &str) {
        self.notices.push_back(Notice::Warning(text.to_string()));
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
