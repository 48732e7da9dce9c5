//! One cabinet on a bus an attacker can tap: the gateway's link master, a
//! compartment node (`node::Node`) with its flash, and what physically
//! happened. The harness hides the pumping so a test body reads as the
//! story; the node's shell here does exactly what firmware does.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use locker_domain::controller::{self, Controller};
use locker_domain::node::{Action, Node};
use locker_proto::auth::{BankKey, Direction, NodeAuthRecord, NodeIdentity, trailer};
use locker_proto::frame::{
    AuthTrailer, Decoder, Feed, Flags, Frame, Header, MAX_FRAME, Seq, TAG_LEN, encode,
    encode_authenticated,
};
use locker_proto::link::{Master, MasterConfig, MasterEvent};
use locker_proto::{
    Channel, Command, Duration, Event, FirmwareVersion, Instant, NodeAddr, NodeConfig, NodeKey,
    RebootKind, Report, ResetReason,
};

pub const NODE: NodeAddr = NodeAddr(4);
pub const CHANNELS: usize = 16;
pub const QUEUE: usize = 16;
pub const FIRMWARE: FirmwareVersion = FirmwareVersion::new(1, 0, 0);

pub fn key() -> NodeKey {
    BankKey::from_bytes([0x42; 32]).node_key(NodeIdentity::at(NODE))
}

/// What the node's shell did, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Wrote the authentication record to flash.
    StoredAuth(NodeAuthRecord),
    /// Wrote the controller's configuration and calibration to flash.
    StoredController,
    /// Put an answer on the bus.
    Sent(Report),
    /// Drove a lock.
    Pulsed(Channel, u16),
    /// Reset the MCU.
    Rebooted(RebootKind),
}

/// The node's flash and RAM: what survives a restart and what does not.
pub struct Firmware {
    pub node: Node<CHANNELS, QUEUE>,
    pub auth_flash: NodeAuthRecord,
    pub controller_flash: Vec<u8>,
    /// The flash refuses writes of the authentication record (worn out, brown-out).
    pub auth_flash_broken: bool,
    /// Everything the shell did, oldest first.
    pub log: Vec<Step>,
}

impl Firmware {
    /// A node whose flash holds `auth_flash`, started at `now` for
    /// `reason`, that has done what it asked at start.
    pub fn boot(
        auth_flash: NodeAuthRecord,
        controller_flash: Vec<u8>,
        reason: ResetReason,
        now: Instant,
    ) -> Self {
        let mut firmware = Firmware {
            node: start(&auth_flash, &controller_flash, reason, now),
            auth_flash,
            controller_flash,
            auth_flash_broken: false,
            log: Vec::new(),
        };
        firmware.service(now);
        firmware
    }

    /// A provisioned node, never used.
    pub fn fresh() -> Self {
        Firmware::boot(
            NodeAuthRecord {
                key: Some(key()),
                rx_floor: 0,
            },
            Vec::new(),
            ResetReason::PowerOn,
            Instant::ZERO,
        )
    }

    /// Bytes from the bus; returns the answer put on the bus, if any.
    pub fn receive(&mut self, wire: &[u8], now: Instant) -> Option<Vec<u8>> {
        self.node.handle_bytes(wire, now);
        self.service(now)
    }

    /// The shell's loop after an input, in the node's polling order.
    /// Returns the last answer sent.
    pub fn service(&mut self, now: Instant) -> Option<Vec<u8>> {
        let mut sent = None;
        loop {
            while let Some(action) = self.node.poll_action() {
                self.carry_out(action, now);
            }
            let Some(answer) = self.node.poll_transmit() else {
                return sent;
            };
            let mut buf = [0u8; MAX_FRAME];
            sent = Some(answer.encode(&mut buf).unwrap().to_vec());
            self.log.push(Step::Sent(answer.frame.body));
        }
    }

    fn carry_out(&mut self, action: Action, now: Instant) {
        match action {
            // A broken flash confirms nothing.
            Action::PersistAuth(record) if !self.auth_flash_broken => {
                self.auth_flash = record;
                self.log.push(Step::StoredAuth(record));
                self.node.persisted(&record).unwrap();
            }
            Action::Controller(controller::Action::Persist) => {
                let mut buf = [0u8; Node::<CHANNELS, QUEUE>::SAVED_LEN_MAX];
                self.controller_flash = self.node.save_controller(&mut buf).unwrap().to_vec();
                self.log.push(Step::StoredController);
            }
            Action::Controller(controller::Action::PulseLock { channel, duration }) => {
                self.log.push(Step::Pulsed(channel, duration.as_millis()));
            }
            Action::Controller(controller::Action::Reboot(kind)) => {
                self.log.push(Step::Rebooted(kind));
                self.restart(
                    match kind {
                        RebootKind::Soft => ResetReason::SoftReboot,
                        RebootKind::Hard => ResetReason::HardReboot,
                    },
                    now,
                );
            }
            _ => {}
        }
    }

    /// RAM is lost; the flash is read back.
    pub fn restart(&mut self, reason: ResetReason, now: Instant) {
        self.node = start(&self.auth_flash, &self.controller_flash, reason, now);
        self.service(now);
    }

    /// Lock pulses driven so far: (channel, milliseconds).
    pub fn pulses(&self) -> Vec<(Channel, u16)> {
        self.log
            .iter()
            .filter_map(|s| match s {
                Step::Pulsed(c, ms) => Some((*c, *ms)),
                _ => None,
            })
            .collect()
    }

    pub fn reboots(&self) -> usize {
        self.log
            .iter()
            .filter(|s| matches!(s, Step::Rebooted(_)))
            .count()
    }
}

/// The firmware's start: a fresh node, given back what its flash holds.
fn start(
    auth_flash: &NodeAuthRecord,
    controller_flash: &[u8],
    reason: ResetReason,
    now: Instant,
) -> Node<CHANNELS, QUEUE> {
    let controller = Controller::new(
        NodeConfig::default().with_presence_threshold(10),
        FIRMWARE,
        reason,
        now,
    )
    .expect("default config");
    let mut node = Node::new(NODE, controller);
    // A blank page is no saved state: the node runs on defaults.
    let _ = node.restore_controller(controller_flash);
    node.restore_auth(*auth_flash);
    node
}

/// The gateway's master, the node, and what an attacker's tap recorded.
pub struct Cabinet {
    pub master: Master<2>,
    pub firmware: Firmware,
    pub now: Instant,
    /// Everything the gateway put on the bus, as an attacker records it.
    pub recorded: Vec<Vec<u8>>,
    pub responses: Vec<(Command, Report)>,
    /// Every event the gateway received, in order.
    pub events: Vec<Event>,
    /// Security events the gateway received: refusals by reason.
    pub refusals: BTreeMap<String, u32>,
    /// Events the node said it dropped, as the master reported them.
    pub dropped_told: u16,
}

impl Cabinet {
    pub fn new() -> Self {
        let mut master = Master::new(MasterConfig::default());
        master.add_node(NODE, Instant::ZERO).unwrap();
        master.set_key(NODE, key(), 0).unwrap();
        let mut cabinet = Cabinet {
            master,
            firmware: Firmware::fresh(),
            now: Instant::ZERO,
            recorded: Vec::new(),
            responses: Vec::new(),
            events: Vec::new(),
            refusals: BTreeMap::new(),
            dropped_told: 0,
        };
        cabinet.persist_gateway();
        cabinet
    }

    pub fn node(&mut self) -> &mut Node<CHANNELS, QUEUE> {
        &mut self.firmware.node
    }

    pub fn pulses(&self) -> Vec<(Channel, u16)> {
        self.firmware.pulses()
    }

    fn persist_gateway(&mut self) {
        while let Some((node, up_to)) = self.master.poll_persist() {
            self.master.persisted(node, up_to);
        }
    }

    /// Bytes from the bus reach the node; returns its answer.
    pub fn node_receives(&mut self, wire: &[u8]) -> Option<Vec<u8>> {
        self.firmware.receive(wire, self.now)
    }

    pub fn gateway_receives(&mut self, wire: &[u8]) {
        let mut decoder = Decoder::new();
        if let Feed::Frame { frame, .. } = decoder.feed::<Report>(wire) {
            self.master
                .handle_received(&frame, decoder.last_authenticated(), self.now);
        }
        self.drain();
    }

    pub fn drain(&mut self) {
        while let Some(event) = self.master.poll_event() {
            match event {
                MasterEvent::Response {
                    command, report, ..
                } => self.responses.push((command, report)),
                MasterEvent::Event { record, .. } => {
                    if let Event::CommandsRefused { refused, reason } = record.event {
                        let name = format!("{reason:?}").split(' ').next().unwrap().to_string();
                        *self.refusals.entry(name).or_default() += u32::from(refused);
                    }
                    self.events.push(record.event);
                }
                MasterEvent::EventsDropped { count, .. } => self.dropped_told += count,
                _ => {}
            }
        }
    }

    /// The gateway's next frame, recorded by the tap, if it has one.
    pub fn gateway_transmits(&mut self) -> Option<Vec<u8>> {
        self.persist_gateway();
        self.master.handle_timeout(self.now);
        let request = self.master.poll_outgoing(self.now)?;
        let mut buf = [0u8; MAX_FRAME];
        let wire = request.encode(&mut buf).unwrap().to_vec();
        self.recorded.push(wire.clone());
        Some(wire)
    }

    /// One exchange on a clean bus: sent, answered, delivered; 25 ms pass.
    pub fn exchange(&mut self) {
        if let Some(wire) = self.gateway_transmits() {
            if let Some(answer) = self.node_receives(&wire) {
                self.gateway_receives(&answer);
            }
        }
        self.firmware.node.handle_timeout(self.now);
        self.firmware.service(self.now);
        self.drain();
        self.now += Duration::from_millis(25);
    }

    pub fn settle(&mut self, steps: usize) {
        for _ in 0..steps {
            self.exchange();
        }
    }

    /// Runs the bus for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.exchange();
        }
    }

    /// The gateway sends `command` and runs the bus until it has the answer.
    pub fn gateway_sends(&mut self, command: Command) -> Report {
        self.master.send(NODE, command, self.now).unwrap();
        let before = self.responses.len();
        for _ in 0..40 {
            self.exchange();
            if self.responses.len() > before {
                return self.responses.last().unwrap().1.clone();
            }
        }
        panic!("no answer to {command:?}");
    }

    pub fn refused(&self) -> u32 {
        self.refusals.values().sum()
    }
}

impl Default for Cabinet {
    fn default() -> Self {
        Cabinet::new()
    }
}

/// A command from the gateway to the node, before encoding.
pub fn command_frame(seq: u8, body: Command) -> Frame<Command> {
    Frame {
        header: Header::new(NodeAddr::GATEWAY, NODE, Seq(seq), Flags::ACK_WANTED),
        body,
    }
}

/// On the wire without a tag.
pub fn unsigned(frame: &Frame<Command>) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    encode(frame, &mut buf).unwrap().to_vec()
}

/// On the wire signed with the node's key and `counter`, as only the gateway can.
pub fn signed(frame: &Frame<Command>, counter: u64) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    encode_authenticated(frame, &mut buf, |covered| {
        trailer(&key(), covered, counter, Direction::ToNode)
    })
    .unwrap()
    .to_vec()
}

/// On the wire with a trailer the attacker made up.
pub fn forged(frame: &Frame<Command>, guess: u8) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    encode_authenticated(frame, &mut buf, |_| AuthTrailer {
        freshness: [guess, 0],
        tag: [guess.wrapping_mul(31); TAG_LEN],
    })
    .unwrap()
    .to_vec()
}

/// The report in an answer from the node.
pub fn answer_of(wire: Option<Vec<u8>>) -> Report {
    let wire = wire.expect("the node answers");
    let mut decoder = Decoder::new();
    match decoder.feed::<Report>(&wire) {
        Feed::Frame { frame, .. } => frame.body,
        _ => panic!("bad answer"),
    }
}
