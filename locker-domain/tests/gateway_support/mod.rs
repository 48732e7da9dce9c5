//! A locker bank on a test bench: one [`Gateway`] and two compartment nodes
//! (each a `NodeLink` and a `Controller`) on a simulated RS-485 line, with
//! simulated time and a shell that carries the gateway's outputs out the way
//! the real one does.
//!
//! The model is quinn-proto's `tests/util.rs` `Pair::drive`: a test body
//! says what people and faults do ("the courier opens the door", "the cable
//! to node 2 is cut") and [`Bench::run_for`] pumps bytes, timers and outputs
//! until the bank has had its say. Everything the gateway asked for is kept
//! in [`Bench::log`], in order, so a test can assert on the order.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::VecDeque;

use locker_domain::bank::codes::{KeypadId, PickupCode};
use locker_domain::bank::{
    AlertKind, AuditEvent, AuditRecord, Bank, BankError, BankId, BankKeys, CodeOutcome,
    Compartment, Evidence, ParcelKind, ParcelNeeds, Policy, Reservation,
};
use locker_domain::controller::{Action, Controller};
use locker_domain::gateway::{Gateway, GatewayOutput, Persist};
use locker_domain::uplink::{Uplink, UplinkConfig, UplinkState};
use locker_proto::auth::{BankKey, NodeAuthRecord, NodeIdentity};
use locker_proto::frame::{Decoder, Feed, Flags, Frame, Header, MAX_FRAME, Seq, encode};
use locker_proto::link::MasterConfig;
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::UpEnvelope;
use locker_proto::{
    Channel, Command, CompartmentId, Dimensions, EventBatch, EventRecord, FirmwareVersion,
    HealthIssue, HeldEvents, NodeAddr, NodeConfig, NodeKey, ProtocolVersions, Report, ResetReason,
    SizeClass,
};

/// Compartments the bench's gateway can hold.
pub const N: usize = 16;
/// Nodes the bench's gateway can drive.
pub const NODES: usize = 4;
/// Channels per node.
pub const CHANNELS: usize = 4;

pub const NODE_1: NodeAddr = NodeAddr(1);
pub const NODE_2: NodeAddr = NodeAddr(2);

/// The load-cell reading of a parcel (the node's threshold is 10).
pub const PARCEL_LOAD: i32 = 300;

/// How often the node firmware samples its switches at most (the bench
/// also samples at every gateway deadline).
const NODE_TICK: Duration = Duration::from_millis(100);

/// A seeded xorshift: same seed, same run.
pub struct Dice(pub u64);

impl rand_core::RngCore for Dice {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u64() as u8;
        }
    }
}

/// The bank's keys (bank 1042, a fixed secret).
pub fn bank_keys() -> BankKeys {
    BankKeys::derive(BankId(1042), &[0x2b; 32])
}

/// The key the gateway shares with `node`, from the bank's bus key.
pub fn node_key(node: NodeAddr) -> NodeKey {
    BankKey::from_bytes([0x42; 32]).node_key(NodeIdentity::at(node))
}

pub fn policy() -> Policy {
    Policy {
        quiet_hours: None,
        ..Policy::default()
    }
}

/// Two nodes of four channels: on each, two small compartments, a medium
/// and a large one. Compartments 1–4 are on node 1, 5–8 on node 2.
pub fn layout() -> Vec<Compartment> {
    let shapes = [
        (SizeClass::Small, Dimensions::new(420, 80, 600)),
        (SizeClass::Small, Dimensions::new(420, 80, 600)),
        (SizeClass::Medium, Dimensions::new(420, 190, 600)),
        (SizeClass::Large, Dimensions::new(420, 390, 600)),
    ];
    let list: Vec<Compartment> = (0..8u8)
        .map(|k| {
            let (size, dims) = shapes[usize::from(k % 4)];
            Compartment::new(
                CompartmentId(u16::from(k) + 1),
                NodeAddr(k / 4 + 1),
                Channel(k % 4),
                size,
                dims,
            )
        })
        .collect();
    list
}

/// Where a compartment is wired: (node, channel).
pub fn wiring(c: CompartmentId) -> (NodeAddr, Channel) {
    let k = c.0 - 1;
    (NodeAddr(k as u8 / 4 + 1), Channel(k as u8 % 4))
}

pub fn code_text(code: &PickupCode) -> String {
    code.digits().iter().map(|d| char::from(b'0' + d)).collect()
}

/// What happens to the next exchange on the line (one gateway frame and the
/// node's answer to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFault {
    /// The request never reaches the node.
    LoseRequest,
    /// The node's answer never reaches the gateway.
    LoseAnswer,
    /// A bit of the answer flips on the wire.
    CorruptAnswer,
    /// A bit of the request flips on the wire.
    CorruptRequest,
    /// The node gets the request twice (a reflection on the line).
    DuplicateRequest,
    /// The gateway gets the answer twice.
    DuplicateAnswer,
    /// Noise (ending in a delimiter) arrives just before the answer.
    NoiseBeforeAnswer,
    /// An attacker on the bus swallows the request and answers it himself
    /// with an unsigned `Ack`, copying the request's header.
    ForgedAck,
}

/// Something the bench saw a node do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pulse {
    pub node: NodeAddr,
    pub channel: Channel,
    pub at: Instant,
}

/// One simulated compartment node: the firmware's link layer and
/// controller, its flash, and the physical world of its four channels.
pub struct SimNode {
    pub addr: NodeAddr,
    pub link: locker_proto::link::NodeLink<16>,
    pub controller: Controller<CHANNELS>,
    decoder: Decoder,
    /// The authentication record in the node's flash.
    flash: NodeAuthRecord,
    /// The doors as they really are (`true` = open).
    pub doors: [bool; CHANNELS],
    /// The load cells' raw readings.
    pub load: [i32; CHANNELS],
    /// Commands the link handed to the application, in order.
    pub executed: Vec<Command>,
    /// A reboot the controller asked for, done once the answer has left.
    reboot: Option<locker_proto::RebootKind>,
    /// The bus versions the node's `Pong` claims when they are not the
    /// controller's own (a newer firmware, or a foreign one); kept across
    /// a restart of the node, like its firmware.
    pub speaks: Option<ProtocolVersions>,
}

impl SimNode {
    fn boot(
        addr: NodeAddr,
        flash: NodeAuthRecord,
        reason: ResetReason,
        held: Option<HeldEvents>,
        now: Instant,
    ) -> Self {
        let mut link = locker_proto::link::NodeLink::after_reset(addr, reason, held);
        link.restore_auth(flash);
        let controller = Controller::new(
            NodeConfig::default().with_presence_threshold(10),
            FirmwareVersion::new(1, 2, 0),
            reason,
            now,
        )
        .unwrap();
        let mut node = SimNode {
            addr,
            link,
            controller,
            decoder: Decoder::new(),
            flash,
            doors: [false; CHANNELS],
            load: [0; CHANNELS],
            executed: Vec::new(),
            reboot: None,
            speaks: None,
        };
        node.persist();
        node
    }

    /// The node stores what its link asks for (the flash never fails here).
    fn persist(&mut self) {
        while let Some(record) = self.link.poll_persist() {
            self.flash = record;
            self.link.persisted(&record);
        }
    }

    /// The firmware's main loop, once: sample the switches and load cells,
    /// run the controller's timers, carry out what it asks.
    fn tick(&mut self, now: Instant, pulses: &mut Vec<Pulse>) {
        for ch in 0..CHANNELS {
            let channel = Channel(ch as u8);
            self.carry_out(now, pulses);
            let _ = self
                .controller
                .handle_door_level(channel, self.doors[ch], now);
            self.carry_out(now, pulses);
            let _ = self
                .controller
                .handle_presence_reading(channel, self.load[ch], now);
        }
        self.controller.handle_timeout(now);
        self.carry_out(now, pulses);
    }

    fn carry_out(&mut self, now: Instant, pulses: &mut Vec<Pulse>) {
        while let Some(action) = self.controller.poll_action() {
            match action {
                Action::PulseLock { channel, .. } => pulses.push(Pulse {
                    node: self.addr,
                    channel,
                    at: now,
                }),
                Action::Reboot(kind) => self.reboot = Some(kind),
                _ => {}
            }
        }
        while let Some(event) = self.controller.poll_event() {
            let _ = self.link.push_event(event);
        }
    }

    /// Bytes from the line; returns the node's answer on the line, if any.
    fn receive(&mut self, wire: &[u8], now: Instant, pulses: &mut Vec<Pulse>) -> Vec<u8> {
        self.carry_out(now, pulses);
        let mut out = Vec::new();
        let mut rest = wire;
        while !rest.is_empty() {
            match self.decoder.feed::<Command>(rest) {
                Feed::Consumed => break,
                Feed::Error { remaining, .. } => rest = remaining,
                Feed::Frame { frame, remaining } => {
                    rest = remaining;
                    let auth = self.decoder.last_authenticated();
                    if let Some(command) = self.link.handle_received(&frame, auth, now) {
                        self.executed.push(command);
                        let mut report = self.controller.handle_command(&command, now);
                        if let (Report::Pong { versions, .. }, Some(speaks)) =
                            (&mut report, self.speaks)
                        {
                            *versions = speaks;
                        }
                        self.link.respond(report);
                    }
                    self.carry_out(now, pulses);
                    self.persist();
                    if let Some(answer) = self.link.poll_outgoing() {
                        let mut buf = [0u8; MAX_FRAME];
                        out.extend_from_slice(answer.encode(&mut buf).unwrap());
                    }
                }
            }
        }
        out
    }
}

/// A frame the gateway put on the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub node: NodeAddr,
    pub command: Command,
    pub seq: Seq,
    /// Signed with a counter (a query's challenge does not count).
    pub signed: bool,
    /// The counter it is signed with.
    pub counter: Option<u64>,
    /// Its place in [`Bench::log`].
    pub index: usize,
}

/// What the shell stored on the gateway's disk.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// The last bank snapshot, and the place in the log of the
    /// `Persist::Bank` that wrote it.
    pub snapshot: Option<(Vec<u8>, usize)>,
    /// Every snapshot written, with its place in the log.
    pub snapshots: Vec<(Vec<u8>, usize)>,
    /// Counter reservations stored, by node.
    pub counters: Vec<(NodeAddr, u64)>,
    /// Times the uplink state was written.
    pub uplink_writes: usize,
    /// The uplink state last written.
    pub uplink_state: Option<UplinkState>,
    /// Every upward message written to the disk queue, in order.
    pub upward: Vec<UpEnvelope>,
}

/// The bench: gateway, nodes, line, clock and shell.
pub struct Bench {
    pub gateway: Box<Gateway<'static, NODES>>,
    pub nodes: Vec<SimNode>,
    pub now: Instant,
    pub dice: Dice,
    /// Every output of `gateway.poll`, in order.
    pub log: Vec<GatewayOutput>,
    /// Every frame the gateway sent.
    pub sent: Vec<Sent>,
    /// Every lock pulse any node drove.
    pub pulses: Vec<Pulse>,
    pub disk: Disk,
    /// Whether the shell confirms counter reservations (a real shell does,
    /// once the write is durable).
    pub confirm_counters: bool,
    /// Reservations stored but not yet confirmed.
    pub unconfirmed_counters: Vec<(NodeAddr, u64)>,
    /// Nodes whose cable is cut: nothing reaches them, nothing comes back.
    pub cut: Vec<NodeAddr>,
    /// Nodes whose firmware hung: they answer nothing until their power
    /// is cycled.
    pub hung: Vec<NodeAddr>,
    /// The power cycles the gateway asked for, in order, with when.
    pub power_cycles: Vec<(NodeAddr, Instant)>,
    /// Faults for the next exchanges, in order.
    pub faults: VecDeque<LineFault>,
    /// Faults for the next exchanges that carry an unlock (taken before
    /// `faults`).
    pub unlock_faults: VecDeque<LineFault>,
    /// Faults for the next exchanges that carry a full status request
    /// (taken before `faults`).
    pub status_faults: VecDeque<LineFault>,
    /// Whether the shell confirms `Persist::BeforeReboot`.
    pub confirm_reboot: bool,
    /// The reboot the gateway asked for.
    pub rebooted: Option<locker_proto::RebootKind>,
    /// The pickup codes handed out, by parcel number.
    pub codes: Vec<(u32, String)>,
    /// An attacker's event report: the next event poll of this node is
    /// swallowed and answered with these events instead.
    pub forged_poll: Option<(NodeAddr, Vec<EventRecord>)>,
    /// Gateway restarts so far.
    pub restarts: usize,
    /// Where in the log each gateway restart happened.
    pub restarted_at: Vec<usize>,
    /// The process dies when the output with this place in the log comes
    /// out: it is not carried out, nor is anything after it, until
    /// [`Bench::restart_gateway`].
    pub crash_at: Option<usize>,
    /// The process is dead (see `crash_at`).
    pub crashed: bool,
    /// Whether a backend is connected (restarts connect it again).
    pub uplinked: bool,
}

impl Bench {
    /// A bank of eight compartments on two nodes, keyed, just powered on.
    /// Nothing has been polled yet.
    pub fn new() -> Self {
        Self::with_policy(policy())
    }

    /// [`Bench::new`] with the bank's rules `policy` (a node configuration
    /// in it reaches the nodes as the bank starts).
    pub fn with_policy(policy: Policy) -> Self {
        let now = Instant::from_secs(1);
        let bank = Bank::on_heap(&layout(), policy, bank_keys()).unwrap();
        let mut gateway = Box::new(Gateway::new(bank, MasterConfig::default(), now).unwrap());
        let mut nodes = Vec::new();
        for addr in [NODE_1, NODE_2] {
            gateway.set_node_key(addr, node_key(addr), 0).unwrap();
            let flash = NodeAuthRecord {
                key: Some(node_key(addr)),
                rx_floor: 0,
            };
            nodes.push(SimNode::boot(addr, flash, ResetReason::PowerOn, None, now));
        }
        Bench {
            gateway,
            nodes,
            now,
            dice: Dice(0x9E37_79B9_7F4A_7C15),
            log: Vec::new(),
            sent: Vec::new(),
            pulses: Vec::new(),
            disk: Disk::default(),
            confirm_counters: true,
            unconfirmed_counters: Vec::new(),
            cut: Vec::new(),
            hung: Vec::new(),
            power_cycles: Vec::new(),
            faults: VecDeque::new(),
            unlock_faults: VecDeque::new(),
            status_faults: VecDeque::new(),
            confirm_reboot: true,
            rebooted: None,
            codes: Vec::new(),
            forged_poll: None,
            restarts: 0,
            restarted_at: Vec::new(),
            crash_at: None,
            crashed: false,
            uplinked: false,
        }
    }

    /// Connects a backend (a first start: empty uplink state, epoch 1).
    pub fn start_uplink(&mut self) {
        let config = UplinkConfig::new("bank-1042", FirmwareVersion::new(0, 9, 0)).unwrap();
        let state = self.disk.uplink_state.clone().unwrap_or_default();
        // Message ids of each start are a new epoch.
        let epoch = u32::try_from(self.restarts).unwrap() + 1;
        let uplink = Uplink::new(config, state, epoch);
        self.gateway
            .start_uplink(uplink, ResetReason::PowerOn, self.now)
            .unwrap();
        self.uplinked = true;
    }

    pub fn node(&mut self, addr: NodeAddr) -> &mut SimNode {
        self.nodes.iter_mut().find(|n| n.addr == addr).unwrap()
    }

    // ----- the pump ----------------------------------------------------------

    /// Carries out every output until the gateway has nothing more to say at
    /// this instant, calling `handle_timeout` when it is due.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            if self.gateway.poll_timeout().is_some_and(|t| t <= self.now) {
                self.gateway.handle_timeout(self.now).unwrap();
            }
            if self.pump() == 0 {
                return;
            }
        }
        panic!("the gateway never went quiet at {:?}", self.now);
    }

    /// Polls until `None`, carrying out each output; returns how many.
    fn pump(&mut self) -> usize {
        let mut count = 0;
        if self.crashed {
            return 0;
        }
        while let Some(output) = self.gateway.poll(self.now) {
            count += 1;
            assert!(count < 100_000, "poll never returned None");
            let index = self.log.len();
            self.log.push(output.clone());
            if self.crash_at == Some(index) {
                self.crashed = true;
                return 0;
            }
            self.carry_out(output, index);
        }
        count
    }

    fn carry_out(&mut self, output: GatewayOutput, index: usize) {
        match output {
            GatewayOutput::Transmit(outgoing) => {
                let mut buf = [0u8; MAX_FRAME];
                let wire = outgoing.encode(&mut buf).unwrap().to_vec();
                let header = outgoing.frame.header;
                self.sent.push(Sent {
                    node: header.dst,
                    command: outgoing.frame.body,
                    seq: header.seq,
                    signed: outgoing.counter().is_some(),
                    counter: outgoing.counter(),
                    index,
                });
                if outgoing.frame.body == Command::PollEvents
                    && self
                        .forged_poll
                        .as_ref()
                        .is_some_and(|(n, _)| *n == header.dst)
                {
                    let (node, records) = self.forged_poll.take().unwrap();
                    let mut events = EventBatch::new();
                    for record in records {
                        events.push(record).unwrap();
                    }
                    let forged = Frame {
                        header: Header::new(node, NodeAddr::GATEWAY, header.seq, Flags::NONE),
                        body: Report::Events { events, dropped: 0 },
                    };
                    let mut buf = [0u8; MAX_FRAME];
                    let bytes = encode(&forged, &mut buf).unwrap().to_vec();
                    let now = self.now;
                    self.gateway.handle_bytes(&bytes, now);
                    return;
                }
                let aimed = match outgoing.frame.body {
                    Command::Unlock { .. } => self.unlock_faults.pop_front(),
                    Command::GetAllStatus => self.status_faults.pop_front(),
                    _ => None,
                };
                self.exchange(header.dst, header.seq, aimed, wire);
            }
            GatewayOutput::Persist(Persist::Counter { node, up_to }) => {
                self.disk.counters.push((node, up_to));
                if self.confirm_counters {
                    self.gateway.counter_persisted(node, up_to);
                } else {
                    self.unconfirmed_counters.push((node, up_to));
                }
            }
            GatewayOutput::Persist(Persist::Bank(_)) => {
                let mut buf = vec![0u8; N * 96 + 32 * 1024];
                let bytes = self.gateway.snapshot(&mut buf).unwrap().to_vec();
                self.disk.snapshots.push((bytes.clone(), index));
                self.disk.snapshot = Some((bytes, index));
            }
            GatewayOutput::Persist(Persist::Uplink) => {
                self.disk.uplink_writes += 1;
                self.disk.uplink_state = self.gateway.uplink_state().cloned();
            }
            GatewayOutput::Upward(message) => self.disk.upward.push(message),
            GatewayOutput::Persist(Persist::BeforeReboot(_)) => {
                let mut buf = vec![0u8; N * 96 + 32 * 1024];
                let bytes = self.gateway.snapshot(&mut buf).unwrap().to_vec();
                self.disk.snapshot = Some((bytes, index));
                self.disk.uplink_writes += 1;
                self.disk.uplink_state = self.gateway.uplink_state().cloned();
                if self.confirm_reboot {
                    self.gateway.persisted_for_reboot();
                }
            }
            GatewayOutput::Reboot(kind) => self.rebooted = Some(kind),
            GatewayOutput::PowerCycleNode(node) => {
                self.power_cycles.push((node, self.now));
                // The relay cuts the node's supply: a hung firmware starts
                // afresh; a cut cable stays cut.
                if self.hung.contains(&node) {
                    self.hung.retain(|n| *n != node);
                    self.restart_node(node, ResetReason::PowerOn);
                }
            }
            _ => {}
        }
    }

    /// One frame to a node and its answer back, through the line's faults.
    fn exchange(&mut self, to: NodeAddr, seq: Seq, aimed: Option<LineFault>, mut wire: Vec<u8>) {
        if self.cut.contains(&to) || self.hung.contains(&to) {
            return;
        }
        let fault = aimed.or_else(|| self.faults.pop_front());
        let now = self.now;
        match fault {
            Some(LineFault::LoseRequest) => return,
            Some(LineFault::CorruptRequest) => flip_a_bit(&mut wire),
            Some(LineFault::DuplicateRequest) => wire.extend_from_slice(&wire.clone()),
            Some(LineFault::ForgedAck) => {
                let forged = Frame {
                    header: Header::new(to, NodeAddr::GATEWAY, seq, Flags::NONE),
                    body: Report::Ack,
                };
                let mut buf = [0u8; MAX_FRAME];
                let bytes = encode(&forged, &mut buf).unwrap().to_vec();
                self.gateway.handle_bytes(&bytes, now);
                return;
            }
            _ => {}
        }
        let mut pulses = std::mem::take(&mut self.pulses);
        let mut answer = self.node(to).receive(&wire, now, &mut pulses);
        self.pulses = pulses;
        // The firmware reboots once its answer has left the UART.
        if let Some(kind) = self.node(to).reboot.take() {
            let reason = match kind {
                locker_proto::RebootKind::Soft => ResetReason::SoftReboot,
                locker_proto::RebootKind::Hard => ResetReason::HardReboot,
            };
            self.warm_reset_node(to, reason);
        }
        if answer.is_empty() {
            return;
        }
        match fault {
            Some(LineFault::LoseAnswer) => return,
            Some(LineFault::CorruptAnswer) => flip_a_bit(&mut answer),
            Some(LineFault::DuplicateAnswer) => answer.extend_from_slice(&answer.clone()),
            Some(LineFault::NoiseBeforeAnswer) => {
                let mut noisy = vec![0x13, 0x37, 0xc0, 0xff, 0xee, 0x00];
                noisy.extend_from_slice(&answer);
                answer = noisy;
            }
            _ => {}
        }
        self.gateway.handle_bytes(&answer, now);
    }

    /// Lets simulated time pass: the nodes sample their switches, the
    /// gateway's deadlines fire, the bus carries what it must.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.tick_nodes();
        self.drive();
        while self.now < end {
            let mut next = (self.now + NODE_TICK).min(end);
            if let Some(t) = self.gateway.poll_timeout() {
                if t > self.now {
                    next = next.min(t);
                }
            }
            self.now = next;
            self.tick_nodes();
            self.drive();
        }
    }

    /// Jumps the clock forward without anything running in between (the
    /// gateway's process was stopped, say), then lets it catch up.
    pub fn jump(&mut self, d: Duration) {
        self.now += d;
        self.tick_nodes();
        self.drive();
    }

    fn tick_nodes(&mut self) {
        let now = self.now;
        let mut pulses = std::mem::take(&mut self.pulses);
        for node in &mut self.nodes {
            node.tick(now, &mut pulses);
        }
        self.pulses = pulses;
    }

    /// The shell writes what `Persist::BeforeReboot` asks; then
    /// `GatewayOutput::Reboot` is carried out as a restart from the disk.
    pub fn reboot_if_asked(&mut self) {
        if self.rebooted.take().is_some() {
            self.restart_gateway();
            self.drive();
        }
    }

    /// A short while: long enough for events to be polled and acknowledged.
    pub fn settle(&mut self) {
        self.run_for(Duration::from_secs(2));
    }

    // ----- people at the bank ------------------------------------------------

    /// The backend reserves a compartment for a small parcel.
    pub fn reserve_small(&mut self) -> Result<Reservation, BankError> {
        self.drive();
        let r = self.gateway.reserve(
            ParcelNeeds::size(SizeClass::Small),
            ParcelKind::Delivery,
            &mut self.dice,
            self.now,
        )?;
        if let Some(code) = &r.code {
            self.codes.push((r.parcel.0, code_text(code)));
        }
        self.drive();
        Ok(r)
    }

    /// The courier sent by the backend types `c`'s deposit code (which the
    /// backend computes from the bank's keys) on keypad 1.
    pub fn start_deposit(&mut self, c: CompartmentId) -> Result<(), BankError> {
        self.drive();
        let code = self.gateway.bank().deposit_code(c)?.to_string();
        let result = self.gateway.enter_deposit_code(
            locker_domain::bank::codes::KeypadId(1),
            c,
            &code,
            self.now,
        );
        self.drive();
        match result? {
            CodeOutcome::Opening(_) => Ok(()),
            CodeOutcome::Rejected { .. } | CodeOutcome::CollectAtCounter => {
                Err(BankError::WrongCode)
            }
        }
    }

    pub fn enter_code(&mut self, code: &str) -> Result<CodeOutcome, BankError> {
        self.drive();
        let result = self.gateway.enter_code(KeypadId(0), code, self.now);
        self.drive();
        result
    }

    fn physical(&mut self, c: CompartmentId) -> (&mut SimNode, usize) {
        let (node, channel) = wiring(c);
        (self.node(node), usize::from(channel.0))
    }

    /// Someone opens the door (it opens only if the lock let go, but the
    /// bench does not model the latch: a forced door opens too).
    pub fn open_door(&mut self, c: CompartmentId) {
        let (node, ch) = self.physical(c);
        node.doors[ch] = true;
        self.settle();
    }

    pub fn close_door(&mut self, c: CompartmentId) {
        let (node, ch) = self.physical(c);
        node.doors[ch] = false;
        self.settle();
    }

    pub fn put_parcel(&mut self, c: CompartmentId) {
        let (node, ch) = self.physical(c);
        node.load[ch] = PARCEL_LOAD;
        self.settle();
    }

    pub fn take_parcel(&mut self, c: CompartmentId) {
        let (node, ch) = self.physical(c);
        node.load[ch] = 0;
        self.settle();
    }

    /// The courier at a reserved compartment: door unlocked, parcel in,
    /// door shut.
    pub fn deposit(&mut self, c: CompartmentId) {
        self.start_deposit(c).unwrap();
        self.settle();
        self.open_door(c);
        self.put_parcel(c);
        self.close_door(c);
    }

    /// A courier's small parcel reserved, deposited and stored (checked):
    /// its reservation.
    pub fn stored_parcel(&mut self) -> Reservation {
        let r = self.reserve_small().unwrap();
        self.deposit(r.compartment);
        assert_eq!(
            self.gateway.bank().view(r.compartment).map(|v| v.stage),
            Some(locker_domain::bank::Stage::Stored)
        );
        r
    }

    /// The node restarts with its RAM gone (a power cut on its own supply,
    /// a brown-out): its flash and the physical world are not, and it has
    /// no record of what its event queue held.
    pub fn restart_node(&mut self, addr: NodeAddr, reason: ResetReason) {
        self.reset_node(addr, reason, false);
    }

    /// The node resets warm (watchdog, reset pin, a reboot command): as
    /// [`restart_node`](Self::restart_node), but the record of what its
    /// event queue held survives, as the reference firmware keeps it.
    pub fn warm_reset_node(&mut self, addr: NodeAddr, reason: ResetReason) {
        self.reset_node(addr, reason, true);
    }

    fn reset_node(&mut self, addr: NodeAddr, reason: ResetReason, warm: bool) {
        let now = self.now;
        let old = self.node(addr);
        let (flash, doors, load, speaks) = (old.flash, old.doors, old.load, old.speaks);
        let held = warm.then(|| old.link.held());
        let mut fresh = SimNode::boot(addr, flash, reason, held, now);
        fresh.speaks = speaks;
        fresh.doors = doors;
        fresh.load = load;
        *self.node(addr) = fresh;
    }

    /// The gateway loses power and starts again from its disk: the bank
    /// from the last snapshot, each node's counter after the last
    /// reservation stored. The nodes run on; a frame in flight is lost.
    pub fn restart_gateway(&mut self) {
        self.now += Duration::from_secs(20);
        // Nothing on disk yet: the shell starts a fresh bank.
        let bank = match &self.disk.snapshot {
            Some((snapshot, _)) => {
                Bank::restore_on_heap(&layout(), policy(), bank_keys(), snapshot, self.now).unwrap()
            }
            None => Bank::on_heap(&layout(), policy(), bank_keys()).unwrap(),
        };
        let mut gateway = Box::new(Gateway::new(bank, MasterConfig::default(), self.now).unwrap());
        for addr in [NODE_1, NODE_2] {
            let stored = self
                .disk
                .counters
                .iter()
                .rev()
                .find(|(n, _)| *n == addr)
                .map_or(0, |(_, up_to)| *up_to);
            gateway.set_node_key(addr, node_key(addr), stored).unwrap();
        }
        self.gateway = gateway;
        self.unconfirmed_counters.clear();
        self.restarts += 1;
        self.restarted_at.push(self.log.len());
        self.crashed = false;
        self.crash_at = None;
        if self.uplinked {
            self.start_uplink();
        }
    }

    /// The shell finally confirms the counter reservations it held back.
    pub fn confirm_held_counters(&mut self) {
        for (node, up_to) in std::mem::take(&mut self.unconfirmed_counters) {
            self.gateway.counter_persisted(node, up_to);
        }
        self.confirm_counters = true;
        self.drive();
    }

    // ----- what happened -----------------------------------------------------

    /// Frames sent to `node`, in order.
    pub fn sent_to(&self, node: NodeAddr) -> Vec<Sent> {
        self.sent
            .iter()
            .filter(|s| s.node == node)
            .copied()
            .collect()
    }

    /// Frames sent to `node` that carry a command from the bank or the
    /// gateway rather than the link's own business (event polling, asking
    /// the node's counter floor).
    pub fn commands_to(&self, node: NodeAddr) -> Vec<Sent> {
        self.sent_to(node)
            .into_iter()
            .filter(|s| {
                !matches!(
                    s.command,
                    Command::PollEvents | Command::AckEvents { .. } | Command::GetAuthFloor
                )
            })
            .collect()
    }

    /// Lock pulses on compartment `c`.
    pub fn pulses_of(&self, c: CompartmentId) -> usize {
        let (node, channel) = wiring(c);
        self.pulses
            .iter()
            .filter(|p| p.node == node && p.channel == channel)
            .count()
    }

    /// The audit records the shell appended, in order.
    pub fn audit(&self) -> Vec<AuditRecord> {
        self.log
            .iter()
            .filter_map(|o| match o {
                GatewayOutput::Audit(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    /// Maintenance alerts raised for a drifting presence sensor at `c`.
    pub fn drift_alerts(&self, c: CompartmentId) -> usize {
        self.log
            .iter()
            .filter(|o| {
                matches!(o, GatewayOutput::Alert(a)
                    if a.kind == AlertKind::Maintenance
                        && a.compartment == Some(c)
                        && matches!(a.evidence, Evidence::Health(HealthIssue::PresenceDrift { .. })))
            })
            .count()
    }

    /// The audit events of compartment `c`, in order.
    pub fn audit_of(&self, c: CompartmentId) -> Vec<AuditEvent> {
        self.audit()
            .into_iter()
            .filter(|r| r.compartment == Some(c))
            .map(|r| r.event)
            .collect()
    }

    /// The upward messages, in order.
    pub fn upward(&self) -> Vec<UpEnvelope> {
        self.log
            .iter()
            .filter_map(|o| match o {
                GatewayOutput::Upward(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// The place in the log of the first output `f` accepts.
    pub fn first(&self, f: impl Fn(&GatewayOutput) -> bool) -> Option<usize> {
        self.log.iter().position(f)
    }

    /// A bank restored from the last snapshot the shell wrote, as after a
    /// power cut now.
    pub fn restored_bank(&self, snapshot: &[u8]) -> Box<Bank<'static>> {
        Box::new(
            Bank::restore_on_heap(&layout(), policy(), bank_keys(), snapshot, self.now).unwrap(),
        )
    }
}

impl Default for Bench {
    fn default() -> Self {
        Self::new()
    }
}

/// Flips one bit in the middle of a frame (never the delimiter).
fn flip_a_bit(wire: &mut [u8]) {
    if wire.len() > 2 {
        let i = wire.len() / 2;
        wire[i] ^= 0x10;
        if wire[i] == 0 {
            wire[i] = 0x55;
        }
    }
}
