//! One simulated bank, every layer real: the library's gateway machine
//! ([`locker_domain::gateway::Gateway`]: the bank, the bus master, node
//! greetings and command queues and the uplink, exactly as `locker-gateway`
//! runs it), encoded frames on a noisy half-duplex [`Bus`], per node a
//! `Decoder`, a `NodeLink`, a `Controller` and simulated compartments behind
//! the driver traits, and an in-process backend behind a [`BackendLink`];
//! around it the world of couriers, residents, staff and incidents.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use locker_domain::bank::codes::{CodeError, KeypadId};
use locker_domain::bank::health::HealthPolicy;
use locker_domain::bank::{
    Actor, AlertKind, AuditEvent, Bank, BankError, BankId, BankKeys, CodeOutcome, Compartment,
    CompartmentFlags, Evidence, Incarnation, NotificationKind, ParcelKind, Policy, Purpose,
    SIZE_CLASSES, ServiceReason, SnapshotCause, SnapshotOutcome, StaffId, Stage, Stats, Witnesses,
    size_index,
};
use locker_domain::gateway::{Gateway, GatewayError, GatewayOutput, Persist};
use locker_domain::uplink::Handled;
use locker_drivers::kerong::BOARD_SILENT_FAULT;
use locker_drivers::sim::{SimCamera, SimCompartment, SimUps};
use locker_drivers::{Camera, CaptureReason, PresenceSensor, Ups};
use locker_proto::auth::{BankKey, NodeIdentity};
use locker_proto::frame::MAX_FRAME;
use locker_proto::link::{LinkStats, MasterConfig};
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{DownEnvelope, Downward, MessageId};
use locker_proto::{
    CompartmentId, Dimensions, HealthIssue, NodeAddr, PowerStatus, RebootKind, ResetReason,
    SizeClass,
};

use super::SimConfig;
use super::bus::{Bus, Talker};
use super::incidents::{IncidentKind, IncidentLog};
use super::kerong::{Board, NodeSide};
use super::node::{CHANNELS, node_config};
use super::oracle::{self, FalseAlarms, Truth};
use super::report::{AuditTally, Line, WorldCounts};
use super::rng::{Dice, Stream};
use super::traffic;
use super::uplink::BackendLink;
use super::world::{Agenda, CounterReason, Guesser, Task, Visitor, Whereabouts, WorldParcel};

mod broken_cell;
mod fridge;

/// The most compartments one simulated bank has; bigger sites are several banks.
pub const BANK_CAPACITY: usize = 64;
/// Nodes on one bank's bus.
pub const NODES_PER_BANK: usize = BANK_CAPACITY / CHANNELS;

/// How often the gateway sweeps its nodes when nothing happens. Polls in
/// between, whose answer is known to be empty, are skipped and counted.
const HEARTBEAT: Duration = Duration::from_mins(5);
const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

/// The share of drifting load cells whose zero shifts and then settles (a
/// re-tare fixes them), against failing cells that drift on until replaced.
/// A modelling assumption, not a measurement: field data on load-cell zero
/// shift that settles (creep, temperature steps, a knock) against cells
/// that fail would replace it.
const DRIFT_SETTLING_SHARE: f64 = 0.5;

type GatewayBank = Bank<'static>;
/// The gateway machine of one simulated bank.
pub type SimGateway = Gateway<'static, NODES_PER_BANK>;

/// The simulated bank's keys, from a secret drawn from the seed. A real
/// gateway gets its bank secret from its provisioning, never from a
/// constant.
fn bank_keys(seed: u64, index: usize) -> BankKeys {
    BankKeys::derive(
        BankId(index as u32 + 1),
        &seeded_secret(seed, index, Stream::BankSecret),
    )
}

/// The account couriers sign in with at the bank's screen: they walk up
/// with a parcel, the bank reserves a compartment and opens it for them
/// (the shipped gateway's console does the same, as its own account).
const COURIER_ACCOUNT: StaffId = StaffId(0);

/// A courier signed in at the bank's screen opens the compartment reserved
/// for his parcel.
fn courier_opens(
    gateway: &mut SimGateway,
    compartment: CompartmentId,
    now: Instant,
) -> Result<(), BankError> {
    gateway.start_deposit(compartment, COURIER_ACCOUNT, now)
}

/// The incarnation of bank `index`'s `life`-th start with empty books,
/// drawn from the seed as a gateway draws it from its randomness (never
/// [`Incarnation::UNSET`]).
fn seeded_incarnation(seed: u64, index: usize, life: u64) -> Incarnation {
    let bytes = seeded_secret(seed, index, Stream::Incarnation(life));
    Incarnation(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) | 1)
}

/// The wall-clock date of simulated day 0 (a Monday).
pub fn day_zero() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 2)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// The wall-clock time at simulated instant `now`.
fn wall_at(now: Instant) -> NaiveDateTime {
    day_zero() + chrono::TimeDelta::milliseconds(now.as_millis() as i64)
}

/// One bank and its world.
pub struct SimBank {
    /// The bank's number in the site.
    pub index: usize,
    layout: Vec<Compartment>,
    policy: Policy,
    /// The gateway, while it has power.
    gateway: Option<Box<SimGateway>>,
    /// The gateway's outbound queue, the link and the backend.
    uplink: BackendLink,
    /// The backend asked for a reboot and everything is persisted.
    reboot: Option<RebootKind>,
    /// A frame the gateway wants sent while the line was still busy.
    pending_frame: Option<Vec<u8>>,
    /// The bank key the gateway derives every node's key from.
    bank_key: BankKey,
    /// The gateway's stored counter reservation per node (survives outages).
    counters: BTreeMap<NodeAddr, u64>,
    /// The nodes, in address order (node `k` has address `k + 1`): our
    /// firmware or Kerong boards, as the configuration chose.
    nodes: NodeSide,
    bus: Bus,
    ups: SimUps,
    camera: SimCamera,
    reported_power: PowerStatus,
    saved: Vec<u8>,
    snapshot_buf: Vec<u8>,
    /// Simulated time.
    pub now: Instant,
    agenda: Agenda,
    /// Every parcel that came to this bank.
    pub parcels: Vec<WorldParcel>,
    by_bank_id: HashMap<u32, usize>,
    traffic: Dice,
    chance: Dice,
    codes: Dice,
    units: u32,
    config: SimConfig,
    /// Incidents and how they ended.
    pub incidents: IncidentLog,
    /// Alerts the world does not explain, as the oracle judged them.
    pub false_alarms: FalseAlarms,
    /// Notable events, in order.
    pub timeline: Vec<Line>,
    /// What the audit trail said, counted.
    pub audit: AuditTally,
    /// Every audit record in order, when asked for with
    /// [`SimBank::keep_audit_trail`] (off by default: a year is millions).
    pub audit_trail: Option<Vec<locker_domain::bank::AuditRecord>>,
    /// World-side counters.
    pub world: WorldCounts,
    /// When the bank last raised an alert about each compartment.
    pub alerted_at: Vec<Option<Instant>>,
    /// Unlock commands the audit trail recorded per compartment.
    pub unlocks_audited: Vec<u64>,
    /// Forced openings not yet seen alerted: (slot, when).
    pub forced_pending: Vec<(usize, Instant)>,
    /// Expired parcels' removals staff opened a door for and wait at:
    /// (slot, when the door was unlocked).
    removals_attended: Vec<(usize, Instant)>,
    /// The parcel physically inside each compartment.
    pub inside: Vec<Option<usize>>,
    /// Parcels taken out and not yet verified by the bank: (parcel, slot, when).
    pub leaving: Vec<(usize, usize, Instant)>,
    transient_jams: Vec<(usize, u32)>,
    /// Compartments whose one-pulse jam freed, the door not opened since.
    jams_freed: Vec<usize>,
    /// When a code guesser last typed a code the keypad took.
    last_guess: Option<Instant>,
    drift: Vec<i32>,
    /// For a drifting cell whose zero settles, when it stops moving.
    drift_settles: Vec<Option<Instant>>,
    /// Whether the bank re-tared each drifting cell since it began to
    /// drift (the system noticed it and answered).
    retared_by_bank: Vec<bool>,
    /// Whether an alert called staff to each drifting cell (the bank's
    /// own re-tares ask nobody to come).
    drift_alerted: Vec<bool>,
    dirty: Vec<bool>,
    /// Occupied compartments (books) at each hour; `None` for an hour the
    /// gateway was off (nothing was sampled, which is not zero).
    pub occupancy: Vec<Option<u32>>,
    /// Occupied compartments per size class (`bank::SIZES` order), summed
    /// over the hourly samples taken while the gateway ran.
    pub size_occupied: [u64; SIZE_CLASSES],
    /// Hourly samples taken while the gateway ran.
    pub samples: u64,
    /// When each incident started, and its kind.
    pub incident_marks: Vec<(Instant, IncidentKind)>,
    next_hour: Instant,
    /// Polls skipped while everything was quiet (their answer is known empty).
    pub elided_polls: u64,
    /// Bus statistics of gateways that were shut down (a restart starts a new master).
    link_before: LinkStats,
    powered: bool,
    stats_when_off: Stats,
    /// Bank calls refused, by error.
    pub refusals: BTreeMap<String, u64>,
    /// Fridges whose cooling failed, with when (see `fridge`).
    fridge_failed_at: Vec<(usize, Instant)>,
    /// Fridges a technician is on his way to.
    fridge_repairs_called: Vec<usize>,
    /// The fridges' own random stream.
    fridge_dice: Dice,
    /// Draws how each drifting load cell drifts (whether its zero settles,
    /// and where): a stream of its own, so the rest of the world is the
    /// same whatever the cells do.
    drift_dice: Dice,
    /// Draws the broken load cells (`dead_sensor`, `stuck_sensor`): when,
    /// and which.
    broken_cell_dice: Dice,
}

/// The bank's compartment layout for `n` compartments: 50/30/20
/// small/medium/large, one medium in five refrigerated, the lowest row
/// (every fourth compartment) accessible.
fn layout_of(n: usize) -> Vec<Compartment> {
    let small = n / 2;
    let medium = (n * 3).div_ceil(10);
    (0..n)
        .map(|i| {
            let (size, height) = if i < small {
                (SizeClass::Small, 80)
            } else if i < small + medium {
                (SizeClass::Medium, 190)
            } else {
                (SizeClass::Large, 390)
            };
            let mut flags = CompartmentFlags::NONE;
            if size == SizeClass::Medium && (i - small).is_multiple_of(5) {
                flags = flags.union(CompartmentFlags::REFRIGERATED);
            }
            if i % 4 == 3 {
                flags = flags.union(CompartmentFlags::ACCESSIBLE);
            }
            Compartment::new(
                CompartmentId(i as u16 + 1),
                NodeAddr((i / CHANNELS) as u8 + 1),
                super::node::channel(i % CHANNELS),
                size,
                Dimensions::new(420, height, 600),
            )
            .with_flags(flags)
        })
        .collect()
}

/// The gateway's link timing: the library defaults.
fn master_config() -> MasterConfig {
    MasterConfig::default()
}

fn slot_of(id: CompartmentId) -> usize {
    usize::from(id.0).saturating_sub(1)
}

fn id_of(slot: usize) -> CompartmentId {
    CompartmentId(slot as u16 + 1)
}

impl SimBank {
    /// Bank `index` of a site, with `compartments` compartments serving
    /// `units` households, starting at midnight of day 0.
    ///
    /// # Errors
    ///
    /// A message if the layout or a node could not be built (a bug).
    pub fn new(
        index: usize,
        compartments: usize,
        units: u32,
        config: &SimConfig,
    ) -> Result<Self, String> {
        let n = compartments.clamp(1, BANK_CAPACITY);
        let list = layout_of(n);
        // The bank configures its nodes, so a door left open has the
        // policy's one limit (a Kerong adapter takes the limit and has no
        // use for the rest).
        // Our nodes' locks have contacts and report every pulse that did
        // not release them; a Kerong board reports no jam.
        // Its drift band is in the nodes' units (counts), as their
        // threshold is.
        let policy = Policy {
            node_config: Some(node_config()),
            locks_report_jams: config.board == Board::Ours,
            health: HealthPolicy {
                drift_band: super::node::DRIFT_BAND,
                ..HealthPolicy::default()
            },
            ..Policy::default()
        };
        let now = Instant::ZERO;
        let mut gateway = first_gateway(&list, policy, config.seed, index, now)?;
        let layout = list.clone();
        gateway
            .set_wall_clock(day_zero(), now)
            .map_err(|e| e.to_string())?;
        let bank_key = bank_key(config.seed, index);
        let chunks: Vec<usize> = list.chunks(CHANNELS).map(<[Compartment]>::len).collect();
        let mut keys = Vec::new();
        for k in 0..chunks.len() {
            let addr = NodeAddr(k as u8 + 1);
            let key = bank_key.node_key(NodeIdentity::at(addr));
            gateway
                .set_node_key(addr, key, 0)
                .map_err(|e| e.to_string())?;
            keys.push(key);
        }
        // A courier needs a moment to reach the door after the click.
        let release = Duration::from_secs(5);
        let dice = |purpose: Stream| Dice::for_bank(config.seed, index, purpose);
        let cell_seeds = dice(Stream::CellNoise);
        let nodes = NodeSide::new(config.board, &chunks, &keys, release, cell_seeds, now)?;
        let mut sim = SimBank {
            index,
            layout,
            policy,
            gateway: None,
            uplink: BackendLink::new(index, bank_keys(config.seed, index)),
            reboot: None,
            pending_frame: None,
            bank_key,
            counters: BTreeMap::new(),
            dirty: vec![false; nodes.len()],
            nodes,
            bus: Bus::new(config.noise, dice(Stream::Bus)),
            ups: SimUps::new(now),
            camera: SimCamera::new(now),
            reported_power: PowerStatus::Mains,
            saved: Vec::new(),
            snapshot_buf: vec![0; BANK_CAPACITY * 96 + 32 * 1024],
            now,
            agenda: Agenda::default(),
            parcels: Vec::new(),
            by_bank_id: HashMap::new(),
            traffic: dice(Stream::Traffic),
            chance: dice(Stream::Chance),
            codes: dice(Stream::Codes),
            units,
            config: config.clone(),
            incidents: IncidentLog::default(),
            false_alarms: FalseAlarms::default(),
            timeline: Vec::new(),
            audit: AuditTally::default(),
            audit_trail: None,
            world: WorldCounts::default(),
            alerted_at: vec![None; n],
            unlocks_audited: vec![0; n],
            forced_pending: Vec::new(),
            removals_attended: Vec::new(),
            inside: vec![None; n],
            leaving: Vec::new(),
            transient_jams: Vec::new(),
            jams_freed: Vec::new(),
            last_guess: None,
            drift: vec![0; n],
            drift_settles: vec![None; n],
            retared_by_bank: vec![false; n],
            drift_alerted: vec![false; n],
            occupancy: Vec::new(),
            size_occupied: [0; SIZE_CLASSES],
            samples: 0,
            incident_marks: Vec::new(),
            next_hour: now,
            elided_polls: 0,
            link_before: LinkStats::default(),
            powered: true,
            stats_when_off: Stats::default(),
            refusals: BTreeMap::new(),
            fridge_failed_at: Vec::new(),
            fridge_repairs_called: Vec::new(),
            fridge_dice: dice(Stream::Fridges),
            drift_dice: dice(Stream::Drift),
            broken_cell_dice: dice(Stream::BrokenCells),
        };
        sim.chill_fridges();
        sim.connect(&mut gateway, now);
        sim.gateway = Some(gateway);
        sim.agenda.at(now, Task::DayStart(0));
        Ok(sim)
    }

    /// The compartments of this bank.
    pub fn len(&self) -> usize {
        self.layout.len()
    }

    /// Whether the bank has no compartments (never: at least one is built).
    pub fn is_empty(&self) -> bool {
        self.layout.is_empty()
    }

    /// The gateway's bank state machine, when the gateway is running.
    pub fn bank(&self) -> Option<&GatewayBank> {
        self.gateway.as_deref().map(SimGateway::bank)
    }

    /// The gateway machine, when the gateway is running.
    pub fn gateway(&self) -> Option<&SimGateway> {
        self.gateway.as_deref()
    }

    /// The backend link: the outbound queue and the backend.
    pub fn backend_link(&self) -> &BackendLink {
        &self.uplink
    }

    /// The backend asks the gateway something now, as an operator at the
    /// backend would; the answer comes back through the uplink like any
    /// other. Returns the request's id.
    pub fn backend_request(&mut self, body: Downward) -> MessageId {
        self.uplink.request(body, self.now)
    }

    /// Compartments of each size class (`bank::SIZES` order).
    pub fn compartments_by_size(&self) -> [u64; SIZE_CLASSES] {
        let mut by = [0; SIZE_CLASSES];
        for c in &self.layout {
            if let Some(n) = by.get_mut(size_index(c.size)) {
                *n += 1;
            }
        }
        by
    }

    /// An incident starts now: the log counts it, the chart marks it.
    fn start_incident(&mut self, kind: IncidentKind, slot: Option<usize>) {
        self.incident_marks.push((self.now, kind));
        self.incidents.start(kind, slot, self.now);
    }

    /// The bank's counters (as persisted, while the gateway is off).
    pub fn stats(&self) -> Stats {
        self.bank().map_or(self.stats_when_off, |b| *b.stats())
    }

    /// The physical compartment of `slot`.
    pub fn compartment(&self, slot: usize) -> Option<&SimCompartment> {
        self.nodes.compartment(slot)
    }

    /// The physical compartment of `slot`, brought to the present (so
    /// fault knobs turned now take effect now); its node samples it next step.
    fn compartment_mut(&mut self, slot: usize) -> Option<&mut SimCompartment> {
        if let Some(d) = self.dirty.get_mut(slot / CHANNELS) {
            *d = true;
        }
        let now = self.now;
        let c = self.nodes.compartment_mut(slot)?;
        c.advance_to(now);
        Some(c)
    }

    /// The bus statistics as the gateway's link layer counted them, over
    /// every gateway start.
    pub fn link_stats(&self) -> LinkStats {
        match self.gateway.as_deref() {
            Some(g) => add_link(&self.link_before, &g.link_stats()),
            None => self.link_before,
        }
    }

    /// Line statistics.
    pub fn line_stats(&self) -> super::bus::LineStats {
        self.bus.stats()
    }

    /// Frames the nodes' decoders rejected, plus the gateway's.
    pub fn bad_frames(&self) -> u64 {
        let running = self.gateway.as_deref().map_or(0, |g| g.stats().bad_frames);
        self.nodes.bad_frames() + self.world.gateway_bad_frames + running
    }

    fn note(&mut self, slot: Option<usize>, text: String) {
        self.timeline.push(Line {
            at: self.now,
            bank: self.index,
            compartment: slot.map(id_of),
            text,
        });
    }

    // ----- the main loop ----------------------------------------------------

    /// Runs until `end`, calling `after_step` after every step.
    pub fn run_until(&mut self, end: Instant, after_step: &mut dyn FnMut(&SimBank)) {
        loop {
            self.step();
            after_step(self);
            let mut next = self.next_time();
            let mut quiet = self.powered && self.quiet();
            // The backend link is not the bus: its messages cross between
            // the world's steps without waking the bus master, whose idle
            // polls would otherwise run at every one of them.
            while let Some(at) = self
                .uplink
                .next_event()
                .map(|at| at.max(self.now + Duration::from_millis(1)))
                .filter(|at| *at < next && *at <= end)
            {
                if quiet {
                    self.skip_idle_polls(at);
                }
                self.now = at;
                // Acknowledgements change no timer and no node: only a
                // request the gateway carried out can bring the next step
                // closer or wake the bus.
                if self.exchange_uplink() {
                    next = self.next_time_after_uplink(next);
                    quiet = self.powered && self.quiet();
                }
                after_step(self);
            }
            if quiet {
                self.skip_idle_polls(next.min(end));
            }
            if next > end {
                self.now = end;
                break;
            }
            self.now = next;
        }
    }

    /// Counts the idle polls a quiet bus skips until `until`.
    fn skip_idle_polls(&mut self, until: Instant) {
        let poll = master_config().poll_interval.as_millis().max(1);
        let gap = until.saturating_since(self.now).as_millis();
        self.elided_polls += self.nodes.len() as u64 * (gap / poll);
        // Our firmware keeps sampling while the bus is idle; a Kerong
        // board is read only when polled, and nothing changed on it.
        if self.nodes.samples_while_idle() {
            self.dirty.iter_mut().for_each(|d| *d = true);
        }
    }

    fn step(&mut self) {
        let now = self.now;
        while now >= self.next_hour {
            let sample = self.bank().map(|b| b.utilisation_by_size());
            if let Some(by_size) = sample {
                for (sum, u) in self.size_occupied.iter_mut().zip(by_size.iter()) {
                    *sum += u.occupied as u64;
                }
                self.samples += 1;
            }
            let occupied = sample.map(|by| by.iter().map(|u| u.occupied as u32).sum());
            self.occupancy.push(occupied);
            self.next_hour += Duration::from_millis(HOUR);
        }
        while let Some(task) = self.agenda.pop_due(now) {
            self.perform(task);
        }
        self.check_jams();
        self.check_power();
        if !self.powered {
            self.exchange_uplink();
            return;
        }
        self.send_pending_frame();
        while let Some((from, bytes)) = self.bus.arrival(now) {
            self.deliver(from, &bytes);
        }
        for k in 0..self.nodes.len() {
            let due = self.nodes.poll_timeout(k).is_some_and(|t| t <= now);
            let dirty = self.dirty.get(k).copied().unwrap_or(false);
            if due {
                self.nodes.handle_timeout(k, now);
            } else if dirty {
                self.nodes.sample(k, now);
            }
            if let Some(d) = self.dirty.get_mut(k) {
                *d = false;
            }
        }
        if let Some(gateway) = self.gateway.as_deref_mut() {
            if let Err(e) = gateway.handle_timeout(now) {
                self.note(None, format!("gateway refused its timers: {e}"));
            }
        }
        self.carry_out();
        self.exchange_uplink();
    }

    /// The next instant anything happens.
    fn next_time(&self) -> Instant {
        let now = self.now;
        let mut next = self.agenda.next_due();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        consider(Some(self.next_hour));
        if !self.ups.mains() {
            consider(Some(now + Duration::from_mins(1)));
        }
        if self.powered {
            consider(self.bus.next_arrival());
            for k in 0..self.nodes.len() {
                consider(self.nodes.poll_timeout(k));
            }
            if let Some(gateway) = self.gateway.as_deref() {
                consider(gateway.bank().poll_timeout());
                consider(gateway.uplink().and_then(|u| u.poll_timeout()));
                if self.quiet() {
                    consider(Some(now + HEARTBEAT));
                } else {
                    consider(gateway.link().poll_timeout());
                }
            }
        }
        next.unwrap_or(now + HEARTBEAT)
            .max(now + Duration::from_millis(1))
    }

    /// [`next_time`](Self::next_time) after a step that only carried the
    /// backend link's messages, which were `before`: such a step touches no
    /// node and no agenda task, so only the gateway's timers and the frames
    /// it put on the bus can have come closer.
    fn next_time_after_uplink(&self, before: Instant) -> Instant {
        let mut next = before;
        if self.powered {
            let mut consider = |t: Option<Instant>| {
                if let Some(t) = t {
                    next = next.min(t);
                }
            };
            consider(self.bus.next_arrival());
            if let Some(gateway) = self.gateway.as_deref() {
                consider(gateway.bank().poll_timeout());
                consider(gateway.uplink().and_then(|u| u.poll_timeout()));
                if !self.quiet() {
                    consider(gateway.link().poll_timeout());
                }
            }
        }
        next.max(self.now + Duration::from_millis(1))
    }

    /// Nothing for the link to do but idle polls.
    fn quiet(&self) -> bool {
        self.bus.is_idle(self.now)
            && self.pending_frame.is_none()
            && self.gateway.as_deref().is_none_or(SimGateway::is_idle)
            && self.nodes.is_quiet()
    }

    // ----- the gateway ------------------------------------------------------

    /// Calls the bank through the gateway, retrying once after draining if
    /// outputs of an earlier call were waiting, and carries the gateway's
    /// outputs out.
    fn with_bank<T>(
        &mut self,
        mut call: impl FnMut(&mut SimGateway, &mut Dice, Instant) -> Result<T, BankError>,
    ) -> Result<T, BankError> {
        let now = self.now;
        let Some(gateway) = self.gateway.as_deref_mut() else {
            return Err(BankError::ShuttingDown);
        };
        let mut result = call(gateway, &mut self.codes, now);
        if matches!(result, Err(BankError::OutputsPending)) {
            self.carry_out();
            if let Some(gateway) = self.gateway.as_deref_mut() {
                result = call(gateway, &mut self.codes, now);
            }
        }
        if let Err(e) = &result {
            let key = refusal_name(e);
            *self.refusals.entry(key).or_default() += 1;
        }
        self.carry_out();
        result
    }

    /// Carries out everything the gateway asks for, as `locker-gateway`
    /// does with its files, serial port and outbound queue: frames onto the
    /// line, counter reservations, snapshots and the uplink's state into
    /// "flash", upward messages into the queue, records to the world.
    fn carry_out(&mut self) {
        let now = self.now;
        // Snapshots taken or failed: inputs, given once the outputs are out.
        let mut shots = Vec::new();
        while let Some(output) = self.gateway.as_deref_mut().and_then(|g| g.poll(now)) {
            match output {
                GatewayOutput::Transmit(frame) => {
                    let mut buf = [0u8; MAX_FRAME];
                    if let Ok(bytes) = frame.encode(&mut buf) {
                        self.pending_frame = Some(bytes.to_vec());
                        self.send_pending_frame();
                    }
                }
                GatewayOutput::Persist(Persist::Counter { node, up_to }) => {
                    self.counters.insert(node, up_to);
                    if let Some(g) = self.gateway.as_deref_mut() {
                        g.counter_persisted(node, up_to);
                    }
                }
                GatewayOutput::Persist(Persist::Bank(_)) => self.persist_books(),
                GatewayOutput::Persist(Persist::Uplink) => self.persist_uplink_state(),
                GatewayOutput::Persist(Persist::BeforeReboot(_)) => {
                    // The outbound queue is always "on disk" already.
                    self.persist_books();
                    self.persist_uplink_state();
                    if let Some(g) = self.gateway.as_deref_mut() {
                        g.persisted_for_reboot();
                    }
                }
                GatewayOutput::Persist(Persist::Policy(policy)) => {
                    // In force at once in the bank; kept for its next start.
                    self.policy = policy;
                    self.note(
                        None,
                        "the backend changed the rules: in force now, and kept for the next start"
                            .into(),
                    );
                }
                GatewayOutput::Upward(message) => self.uplink.push(message),
                GatewayOutput::BackendCommand { node, command } => {
                    self.note(
                        None,
                        format!("the backend sends node {} {command:?}", node.0),
                    );
                }
                GatewayOutput::Reboot(kind) => self.reboot = Some(kind),
                GatewayOutput::Audit(record) => self.audited(&record),
                GatewayOutput::Alert(alert) => self.alerted(alert),
                GatewayOutput::Notification(n) => self.notified(n),
                GatewayOutput::Snapshot(s) => {
                    self.camera.advance_to(self.now);
                    let reason = match s.cause {
                        SnapshotCause::Deposit => CaptureReason::Deposit,
                        SnapshotCause::Pickup => CaptureReason::Pickup,
                        SnapshotCause::ForcedDoor => CaptureReason::ForcedEntry,
                        _ => CaptureReason::Requested,
                    };
                    let taken = self.camera.capture(reason, s.reference).is_ok();
                    self.world.snapshots += u64::from(taken);
                    shots.push((s, taken));
                    let slot = slot_of(s.compartment);
                    self.note(Some(slot), format!("camera snapshot #{}", s.reference.0));
                }
                GatewayOutput::NodeLost(node) => {
                    let k = usize::from(node.0).saturating_sub(1);
                    self.incidents
                        .detect(IncidentKind::NodeHang, Some(k), self.now);
                    self.note(
                        None,
                        format!(
                            "node {} stopped answering → power-cycled in 1 min unless it answers again",
                            node.0
                        ),
                    );
                }
                GatewayOutput::PowerCycleNode(node) => {
                    self.power_cycle(usize::from(node.0).saturating_sub(1));
                }
                GatewayOutput::NodeBack(node) => {
                    let k = usize::from(node.0).saturating_sub(1);
                    self.note(
                        None,
                        format!("node {} answers again → full status scan", node.0),
                    );
                    if self
                        .incidents
                        .resolve(IncidentKind::NodeHang, Some(k), false)
                    {
                        self.world.nodes_recovered += 1;
                    }
                }
                GatewayOutput::NodeInputRefused { error, .. } => {
                    *self.refusals.entry(refusal_name(&error)).or_default() += 1;
                }
                // Node greetings: the uplink already told the backend.
                _ => {}
            }
        }
        self.uplink.transmit(now);
        if let Some(g) = self.gateway.as_deref_mut() {
            g.set_uplink_backlog(self.uplink.backlog());
        }
        for (request, taken) in shots {
            let outcome = if taken {
                SnapshotOutcome::Taken
            } else {
                SnapshotOutcome::Failed
            };
            let _ = self.with_bank(|g, _, now| g.handle_snapshot_result(&request, outcome, now));
        }
    }

    /// Writes the bank's snapshot to "flash".
    fn persist_books(&mut self) {
        if let Some(g) = self.gateway.as_deref() {
            if let Ok(bytes) = g.snapshot(&mut self.snapshot_buf) {
                self.saved.clear();
                self.saved.extend_from_slice(bytes);
                self.world.persists += 1;
            }
        }
    }

    /// Writes the uplink's state to "flash" (`uplink.state`).
    fn persist_uplink_state(&mut self) {
        if let Some(state) = self.gateway.as_deref().and_then(SimGateway::uplink_state) {
            self.uplink.persist(state);
        }
    }

    /// What crossed the backend link by now: the backend carries out what
    /// reached it, the gateway what reached it, and both send what is due.
    /// Returns whether the gateway carried out a request (not only took
    /// acknowledgements).
    fn exchange_uplink(&mut self) -> bool {
        let now = self.now;
        if self.uplink.next_event().is_none_or(|at| at > now) {
            return false;
        }
        self.uplink.deliver_upward(now);
        let mut requests = false;
        while let Some(message) = self.uplink.downward_due(now) {
            requests |= self.hand_down(&message);
        }
        // Requests were carried out as they came; acknowledgements freed
        // room in flight for what waits behind them.
        self.uplink.transmit(now);
        if let Some(kind) = self.reboot.take() {
            self.reboot_gateway(kind);
            requests = true;
        }
        requests
    }

    /// A backend message into the gateway, as `locker-gateway` hands it
    /// in: an acknowledgement empties a queue slot; a full output is
    /// drained and the message handed in again. Returns whether it was
    /// more than an acknowledgement.
    fn hand_down(&mut self, message: &DownEnvelope) -> bool {
        let now = self.now;
        for _ in 0..3 {
            let Some(gateway) = self.gateway.as_deref_mut() else {
                return false;
            };
            match gateway.handle_downward(message, &mut self.codes, now) {
                Ok(Handled::Ack(id) | Handled::BootAck { boot: id, .. }) => {
                    // Nothing to carry out: the caller sends what the free
                    // slot lets go.
                    self.uplink.acknowledged(id, now);
                    gateway.set_uplink_backlog(self.uplink.backlog());
                    return false;
                }
                Ok(_) => break,
                Err(GatewayError::Uplink(_)) => self.carry_out(),
                Err(e) => {
                    self.note(None, format!("the gateway refused a backend message: {e}"));
                    break;
                }
            }
        }
        // The answer is in the queue before the request counts as done.
        self.carry_out();
        true
    }

    /// Connects a gateway starting now to the backend, its stamps in wall time.
    fn connect(&mut self, gateway: &mut SimGateway, now: Instant) {
        let unix_s = wall_at(now).and_utc().timestamp();
        let started = self.uplink.start(unix_s, now).and_then(|bridge| {
            // Every simulated stop is orderly (a critical battery persists
            // everything first, a reset waits for it): the hardware says
            // power-on, and a reset the backend asked for overrides it.
            gateway
                .start_uplink(bridge, ResetReason::PowerOn, now)
                .map_err(|e| e.to_string())
        });
        if let Err(e) = started {
            self.note(None, format!("the uplink did not start: {e}"));
        }
    }

    /// Puts the gateway's frame on the line once the line is free: the
    /// gateway's UART waits for the bus to go quiet, as RS-485 masters do.
    fn send_pending_frame(&mut self) {
        if !self.bus.is_idle(self.now) {
            return;
        }
        if let Some(bytes) = self.pending_frame.take() {
            self.bus.transmit(Talker::Gateway, &bytes, self.now);
        }
    }

    fn deliver(&mut self, from: Talker, bytes: &[u8]) {
        let now = self.now;
        match from {
            Talker::Gateway => {
                for (addr, answer) in self.nodes.receive(bytes, now) {
                    let at = now + self.bus.turnaround();
                    self.bus.transmit(Talker::Node(addr), &answer, at);
                }
            }
            Talker::Node(_) => {
                if let Some(gateway) = self.gateway.as_deref_mut() {
                    gateway.handle_bytes(bytes, now);
                }
                self.carry_out();
            }
        }
    }

    // ----- power ------------------------------------------------------------

    fn check_power(&mut self) {
        self.ups.advance_to(self.now);
        let Ok(status) = self.ups.power_status() else {
            return;
        };
        if !self.powered {
            return;
        }
        if status != self.reported_power {
            self.reported_power = status;
            self.power_to_gateway(status);
        }
        if self
            .gateway
            .as_deref()
            .is_some_and(SimGateway::ready_to_shut_down)
        {
            self.shut_down();
        }
    }

    fn shut_down(&mut self) {
        self.note(
            None,
            format!(
                "battery critical → state persisted ({} bytes), gateway and nodes off",
                self.saved.len()
            ),
        );
        self.world.shutdowns += 1;
        self.stop_gateway();
        self.powered = false;
        self.nodes.power_off();
    }

    /// The gateway program stops: what it counted is kept, its uplink state
    /// written down as at a clean stop.
    fn stop_gateway(&mut self) {
        if let Some(g) = self.gateway.as_deref() {
            self.link_before = add_link(&self.link_before, &g.link_stats());
            self.world.gateway_bad_frames += g.stats().bad_frames;
            self.stats_when_off = *g.bank().stats();
            self.uplink.stop(g.uplink_state());
        }
        self.gateway = None;
        self.pending_frame = None;
    }

    /// The gateway program starts: the books restored from "flash", the
    /// node keys resumed after their stored counters, the backend
    /// connected. `false` if no gateway could be built (a bug).
    fn start_gateway(&mut self) -> bool {
        let now = self.now;
        let keys = bank_keys(self.config.seed, self.index);
        let Ok(mut bank) = GatewayBank::on_heap(&self.layout, self.policy, keys) else {
            return false;
        };
        // The gateway's clock is anchored before the restore (its record
        // carries wall time), as the Linux gateway does.
        let _ = bank.set_wall_clock(wall_at(now), now);
        if let Err(e) = bank.restore(&self.saved, now) {
            // The bank is still the fresh one it was: it begins a new life.
            self.world.restore_failures += 1;
            let life =
                seeded_incarnation(self.config.seed, self.index, self.world.restore_failures);
            let _ = bank.begin_incarnation(life, &Witnesses::default(), now);
            self.note(
                None,
                format!("RESTORE FAILED ({e}): starting with empty books"),
            );
        }
        let Ok(mut gateway) = SimGateway::new(bank, master_config(), now) else {
            return false;
        };
        let _ = gateway.set_wall_clock(wall_at(now), now);
        for k in 0..self.nodes.len() {
            let addr = NodeAddr(k as u8 + 1);
            let key = self.bank_key.node_key(NodeIdentity::at(addr));
            let stored = self.counters.get(&addr).copied().unwrap_or(0);
            let _ = gateway.set_node_key(addr, key, stored);
        }
        self.connect(&mut gateway, now);
        self.gateway = Some(Box::new(gateway));
        true
    }

    /// The reboot the backend asked for: everything was persisted before
    /// [`GatewayOutput::Reboot`], so the gateway stops and starts again
    /// from its files; the nodes keep their power.
    fn reboot_gateway(&mut self, kind: RebootKind) {
        self.stop_gateway();
        if self.start_gateway() {
            let status = self.reported_power;
            if status != PowerStatus::Mains {
                self.power_to_gateway(status);
            }
            self.carry_out();
            self.note(
                None,
                format!(
                    "the backend asked for a {kind:?} reboot → gateway restarted from its files"
                ),
            );
        }
    }

    /// The UPS's reading to the gateway, and what follows from it.
    fn power_to_gateway(&mut self, status: PowerStatus) {
        let now = self.now;
        if status != PowerStatus::Mains {
            // The bank hears that mains is gone: the outage is noticed.
            if !self
                .incidents
                .detect(IncidentKind::PowerBlip, None, self.now)
            {
                self.incidents
                    .detect(IncidentKind::LongOutage, None, self.now);
            }
        }
        if let Some(gateway) = self.gateway.as_deref_mut() {
            if let Err(e) = gateway.handle_power(status, now) {
                self.note(None, format!("gateway refused the power reading: {e}"));
            }
        }
        self.carry_out();
    }

    fn power_up(&mut self) {
        let now = self.now;
        self.powered = true;
        self.nodes.power_on(now);
        if !self.start_gateway() {
            return;
        }
        self.reported_power = PowerStatus::Mains;
        self.power_to_gateway(PowerStatus::Mains);
        self.world.restores += 1;
        self.note(
            None,
            "power back → books restored, every node scanned and reconciled".into(),
        );
        self.incidents
            .resolve(IncidentKind::LongOutage, None, false);
    }

    // ----- what the bank said -----------------------------------------------

    /// Keeps every audit record from now on in [`SimBank::audit_trail`].
    pub fn keep_audit_trail(&mut self) {
        self.audit_trail.get_or_insert_with(Vec::new);
    }

    /// A depositor comes to the bank with `parcel` at `at`, besides the
    /// day's own traffic: for scripted days. Returns the parcel's number in
    /// [`SimBank::parcels`].
    pub fn schedule_parcel(&mut self, parcel: WorldParcel, at: Instant) -> usize {
        let p = self.parcels.len();
        self.parcels.push(parcel);
        self.world.arrived += 1;
        self.agenda.at(at, Task::Arrive(p));
        p
    }

    fn audited(&mut self, r: &locker_domain::bank::AuditRecord) {
        if !self.audit.record(r) {
            return;
        }
        if let Some(trail) = self.audit_trail.as_mut() {
            trail.push(*r);
        }
        let slot = r.compartment.map(slot_of);
        if let (AuditEvent::UnlockCommanded { attempt, .. }, Some(s)) = (r.event, slot) {
            if let Some(n) = self.unlocks_audited.get_mut(s) {
                *n += 1;
            }
            // A jammed lock shows from its first unlock on.
            if attempt == 0 {
                let now = self.now;
                self.incidents.exercised(IncidentKind::JammedLock, s, now);
            }
            // The gateway saw the door stay shut after its unlock and tries
            // again: it noticed the lock that did not release.
            if attempt > 0 {
                self.incidents
                    .detect(IncidentKind::JammedLock, Some(s), self.now);
            }
        }
        if let (
            AuditEvent::SensorRecalibrated { .. }
            | AuditEvent::SensorRecalibratedAutomatically { .. },
            Some(s),
        ) = (r.event, slot)
        {
            let by_bank = matches!(r.event, AuditEvent::SensorRecalibratedAutomatically { .. });
            self.retared(s, by_bank);
        }
        if let (AuditEvent::DriftUnderParcel { .. }, Some(s)) = (r.event, slot) {
            // The bank saw the cell's zero move under a parcel: it re-tares
            // it once the parcel has left, nobody called.
            self.incidents
                .detect(IncidentKind::DriftingSensor, Some(s), self.now);
            self.note(
                Some(s),
                "load cell's zero moved under the parcel: the bank re-tares it once the parcel has left"
                    .to_string(),
            );
        }
        if let (AuditEvent::DoorOpened, Some(s)) = (r.event, slot) {
            // A lock that freed on a later pulse: the door is open, the
            // incident over without anyone coming.
            if let Some(at) = self.jams_freed.iter().position(|j| *j == s) {
                self.jams_freed.swap_remove(at);
                self.incidents
                    .resolve(IncidentKind::JammedLock, Some(s), false);
            }
        }
        if let (AuditEvent::PickupVerified { purpose }, Some(id)) = (r.event, r.parcel) {
            if let Some(&p) = self.by_bank_id.get(&id.0) {
                if let Some(parcel) = self.parcels.get_mut(p) {
                    parcel.verified_out = true;
                }
                self.leaving.retain(|(q, _, _)| *q != p);
                if purpose == Purpose::Pickup && r.actor != Actor::Staff {
                    self.world.picked_up += 1;
                }
            }
        }
        if let (AuditEvent::CodeAccepted { .. }, Some(id)) = (r.event, r.parcel) {
            if let Some(parcel) = self
                .by_bank_id
                .get(&id.0)
                .and_then(|&p| self.parcels.get_mut(p))
            {
                parcel.code_accepted = true;
            }
        }
        if let (AuditEvent::DepositVerified, Some(id)) = (r.event, r.parcel) {
            if let Some(&p) = self.by_bank_id.get(&id.0) {
                self.world.deposited += 1;
                if let Some(parcel) = self.parcels.get_mut(p) {
                    if parcel.forgetful {
                        parcel.forgetful = false;
                        if let Some(s) = slot {
                            self.incidents
                                .resolve(IncidentKind::EmptyDoor, Some(s), false);
                        }
                    }
                }
            }
        }
    }

    fn alerted(&mut self, a: locker_domain::bank::Alert) {
        if let Evidence::CommandsRefused {
            node,
            refused,
            reason,
        } = a.evidence
        {
            self.world.commands_refused += u64::from(refused);
            self.note(
                None,
                format!(
                    "SECURITY node {}: {refused} command(s) refused ({reason})",
                    node.0
                ),
            );
        }
        let slot = a.compartment.map(slot_of);
        self.judge(&a, slot);
        self.call_fridge_technician(a.kind, slot);
        if let Some(s) = slot {
            if let Some(at) = self.alerted_at.get_mut(s) {
                *at = Some(self.now);
            }
            let about_the_cell = matches!(
                a.kind,
                AlertKind::Maintenance
                    | AlertKind::UnexpectedItem
                    | AlertKind::ParcelMissing
                    | AlertKind::RemovalNotVerified
            );
            if about_the_cell && self.drift.get(s).is_some_and(|d| *d != 0) {
                if let Some(told) = self.drift_alerted.get_mut(s) {
                    *told = true;
                }
            }
            self.forced_pending.retain(|(f, _)| *f != s);
        }
        let what = match a.kind {
            AlertKind::ForcedDoor => "forced door → security alert, out of service",
            AlertKind::LockFault => "lock fault → out of service, staff alert",
            AlertKind::DoorAjar => "door ajar → alert, user told to close it",
            AlertKind::ParcelMissing => "sensor says empty, books say parcel → out of service",
            AlertKind::UnexpectedItem => "sensor says occupied, books say empty → out of service",
            AlertKind::DoorOpenUnexpectedly => "door found open in a scan → out of service",
            AlertKind::Maintenance => "sensor health: maintenance needed",
            AlertKind::KeypadAttack => "keypad attack suspected → security alert",
            AlertKind::NodeUnreachable => "node unreachable → staff alert",
            AlertKind::NodeFault => "node reported a fault",
            AlertKind::RemovalNotVerified => "removal not verified → out of service",
            AlertKind::ForgedRemoteOpen => "remote open with a forged tag → security alert",
            AlertKind::RemoteOpenFlood => "remote opens over the limit → locked, security alert",
            AlertKind::BusCommandsRefused => "node refused bus commands → security alert",
            AlertKind::TemperatureOutOfRange => "fridge out of its limits → staff alert",
            AlertKind::TemperatureSensorSilent => "fridge thermometer silent → staff alert",
            // A kind this simulator does not know yet: its stable name.
            other => other.name(),
        };
        let snap = a
            .snapshot
            .map(|s| format!(", snapshot #{}", s.0))
            .unwrap_or_default();
        let why = match a.evidence {
            Evidence::Health(HealthIssue::PresenceDrift { reading, band, .. }) => {
                format!(" (drift {reading:+} counts, band {band})")
            }
            Evidence::Health(issue) => format!(" ({issue:?})"),
            _ => String::new(),
        };
        self.note(slot, format!("{what}{why}{snap}"));
        *self
            .world
            .alerts
            .entry(alert_name(a.kind).to_string())
            .or_default() += 1;
        if matches!(a.kind, AlertKind::ForcedDoor) {
            // Security comes within the hour.
            self.agenda
                .at(self.now + Duration::from_mins(45), Task::StaffVisit);
        }
        if let (AlertKind::RemovalNotVerified, Some(s)) = (a.kind, slot) {
            // The member of staff who opened the door for the removal is
            // still there (the verdict comes seconds after the door shut):
            // they look inside. Later (after an outage, say) they are gone,
            // and the next visit opens it again.
            let now = self.now;
            let attended = self
                .removals_attended
                .iter()
                .any(|&(r, at)| r == s && now.saturating_since(at) <= Duration::from_mins(10));
            self.removals_attended.retain(|&(r, _)| r != s);
            if attended {
                self.agenda
                    .at(now + Duration::from_secs(10), Task::LookInside(s));
            }
        }
    }

    /// The gateway asked for node `k`'s power to be cut
    /// ([`GatewayOutput::PowerCycleNode`]): the relay on its supply does
    /// it. Our node greets the gateway again (`NodeBack` ends the
    /// incident); a Kerong board answers its adapter at the next poll,
    /// which clears the silent-board fault.
    fn power_cycle(&mut self, k: usize) {
        if !self.powered || k >= self.nodes.len() {
            return;
        }
        self.nodes.power_cycle(k, self.now);
        self.note(None, format!("node {} power-cycled by the gateway", k + 1));
        if self.config.board == Board::KerongCu16
            && self
                .incidents
                .resolve(IncidentKind::NodeHang, Some(k), false)
        {
            self.world.nodes_recovered += 1;
            self.note(None, format!("board {} answers again", k + 1));
        }
    }

    /// The bank raised a silent-board fault: every silent Kerong board's
    /// hang is detected (the gateway power-cycles it after a minute, as it
    /// does a node that stopped answering).
    fn silent_boards_found(&mut self) {
        for k in 0..self.nodes.len() {
            if self.nodes.is_down(k)
                && self
                    .incidents
                    .detect(IncidentKind::NodeHang, Some(k), self.now)
            {
                self.note(
                    None,
                    format!(
                        "board {} reported silent → power-cycled in 1 min unless it answers again",
                        k + 1
                    ),
                );
            }
        }
    }

    /// The oracle's verdict on an alert: explained by the world or a false
    /// alarm, and which incident it detects.
    fn judge(&mut self, a: &locker_domain::bank::Alert, slot: Option<usize>) {
        let node = match a.evidence {
            Evidence::Node(node) | Evidence::CommandsRefused { node, .. } => {
                Some(usize::from(node.0).saturating_sub(1))
            }
            _ => slot.map(|s| s / CHANNELS),
        };
        // A Kerong adapter reports its silent board as a node-wide fault,
        // and the bank's alert names the fault, not the node: any silent
        // board explains it.
        let silent_board = self.config.board == Board::KerongCu16
            && a.kind == AlertKind::NodeFault
            && a.evidence == Evidence::Fault(BOARD_SILENT_FAULT);
        if silent_board {
            self.silent_boards_found();
        }
        let warm = a.kind == AlertKind::TemperatureOutOfRange && self.really_out_of_range(slot);
        let compartment = slot.and_then(|s| self.compartment(s));
        let truth = Truth {
            forced_open: slot
                .is_some_and(|s| self.incidents.is_open(IncidentKind::ForcedDoor, Some(s))),
            lock_jammed: slot.is_some_and(|s| {
                self.incidents.is_open(IncidentKind::JammedLock, Some(s))
                    || self.transient_jams.iter().any(|(j, _)| *j == s)
            }),
            sensor_drifting: slot.is_some_and(|s| {
                self.drift.get(s).is_some_and(|d| *d != 0)
                    || self
                        .incidents
                        .is_open(IncidentKind::DriftingSensor, Some(s))
            }),
            sensor_dead: slot
                .is_some_and(|s| self.incidents.is_open(IncidentKind::DeadSensor, Some(s))),
            sensor_frozen: slot
                .is_some_and(|s| self.incidents.is_open(IncidentKind::StuckSensor, Some(s))),
            door_open: compartment.is_some_and(|c| c.door() == locker_proto::DoorState::Open),
            item_inside: compartment.is_some_and(|c| c.item_grams() > 0),
            node_down: node.is_some_and(|k| {
                self.nodes.is_down(k) || self.incidents.is_open(IncidentKind::NodeHang, Some(k))
            }) || (silent_board && self.nodes.any_hung()),
            keypad_attack: self.incidents.is_open(IncidentKind::BruteForce, None),
            bus_attack: false,
            out_of_range: warm,
        };
        if !oracle::explained(a.kind, &truth) {
            self.false_alarms.count(a.kind);
            self.note(
                slot,
                format!(
                    "oracle: FALSE ALARM {} (nothing in the world explains it)",
                    a.kind.name()
                ),
            );
        }
        if let Some(kind) = oracle::expected_incident(a.kind, &a.evidence) {
            let on = if kind == IncidentKind::NodeHang {
                node
            } else {
                slot
            };
            self.incidents.detect(kind, on, self.now);
        }
    }

    fn notified(&mut self, n: locker_domain::bank::Notification) {
        let slot = slot_of(n.compartment);
        if let Some(kind) = oracle::noticed_incident(n.kind) {
            self.incidents.detect(kind, Some(slot), self.now);
        }
        let parcel = n.parcel.and_then(|id| self.by_bank_id.get(&id.0).copied());
        let now = self.now;
        match n.kind {
            NotificationKind::ParcelReady => {
                // The code came with the reservation; now the recipient is told.
                let Some(p) = parcel else { return };
                let Some(parcel) = self.parcels.get_mut(p) else {
                    return;
                };
                let at = if parcel.kind == ParcelKind::Return {
                    traffic::next_courier_round(now, &mut self.traffic)
                } else {
                    traffic::daytime(now + parcel.pickup_delay, &mut self.traffic)
                };
                self.agenda.at(at, Task::Collect(p));
            }
            NotificationKind::NoParcelDetected => {
                // The courier is told at once and puts the parcel in after all.
                self.note(
                    Some(slot),
                    "courier shut the door on an empty compartment → told at once, deposits again"
                        .into(),
                );
                if self
                    .with_bank(|b, _, now| courier_opens(b, n.compartment, now))
                    .is_ok()
                {
                    if let Some(p) = parcel {
                        self.agenda.at(
                            now + Duration::from_secs(3),
                            Task::TryOpen {
                                slot,
                                visitor: Visitor::Depositor(p),
                                tries: 0,
                            },
                        );
                    }
                }
            }
            // Three in four come back and shut it; staff shut the rest.
            NotificationKind::CloseTheDoor if self.chance.chance(0.75) => {
                let back = now + Duration::from_secs(self.chance.between(60, 600));
                let visitor = match parcel {
                    Some(p) => Visitor::Collector(p),
                    None => Visitor::Staff { take: false },
                };
                self.agenda.at(back, Task::Close { slot, visitor });
                self.world.ajar_closed_after_notice += 1;
            }
            NotificationKind::DoorWouldNotOpen => {
                let Some(p) = parcel else { return };
                let deposit = self
                    .parcels
                    .get(p)
                    .is_some_and(|x| matches!(x.at, Whereabouts::WithDepositor));
                if deposit {
                    // The backend gives the courier another compartment.
                    let _ = self.with_bank(|b, _, now| {
                        b.cancel_reservation(n.compartment, Actor::Backend, now)
                    });
                    self.agenda
                        .at(now + Duration::from_secs(30), Task::Arrive(p));
                } else if let Some(parcel) = self.parcels.get_mut(p) {
                    parcel.needed_staff = true;
                    self.agenda
                        .at(now + Duration::from_hours(6), Task::Collect(p));
                }
            }
            NotificationKind::Reminder | NotificationKind::Escalation => {
                if let Some(parcel) = parcel.and_then(|p| self.parcels.get_mut(p)) {
                    parcel.reminded = true;
                }
                if let Some(p) = parcel {
                    if n.to != Actor::Staff && self.traffic.chance(0.6) {
                        let at = traffic::daytime(
                            now + Duration::from_hours(self.traffic.between(1, 8)),
                            &mut self.traffic,
                        );
                        self.agenda.at(at, Task::Collect(p));
                    }
                }
            }
            NotificationKind::ReservationExpired => {
                if let Some(parcel) = parcel.and_then(|p| self.parcels.get_mut(p)) {
                    if parcel.at == Whereabouts::WithDepositor {
                        parcel.at = Whereabouts::AtCounter(CounterReason::DoorWouldNotOpen);
                    }
                }
            }
            NotificationKind::RemovalTask => {
                self.note(
                    Some(slot),
                    "parcel expired after 72 h → removal task for staff".into(),
                );
            }
            _ => {}
        }
    }

    // ----- the world --------------------------------------------------------

    fn perform(&mut self, task: Task) {
        let now = self.now;
        match task {
            Task::DayStart(day) => self.plan_day(day),
            Task::Arrive(p) => self.arrive(p),
            Task::Collect(p) => self.collect(p),
            Task::TryOpen {
                slot,
                visitor,
                tries,
            } => self.try_open(slot, visitor, tries),
            Task::Close { slot, visitor } => {
                if let Some(c) = self.compartment_mut(slot) {
                    if c.door() == locker_proto::DoorState::Open {
                        c.close_door();
                    }
                }
                if matches!(visitor, Visitor::Collector(_) | Visitor::Passerby)
                    && self.incidents.is_open(IncidentKind::DoorAjar, Some(slot))
                {
                    self.incidents
                        .resolve(IncidentKind::DoorAjar, Some(slot), false);
                }
            }
            Task::Sample(k) => {
                if let Some(d) = self.dirty.get_mut(k) {
                    *d = true;
                }
            }
            Task::Incident(kind) => self.incident(kind),
            Task::MainsBack => {
                self.ups.advance_to(now);
                self.ups.set_mains(true);
                if self.powered {
                    self.note(None, "mains back; the UPS carried the bank".into());
                    self.incidents.resolve(IncidentKind::PowerBlip, None, false);
                    self.incidents
                        .resolve(IncidentKind::LongOutage, None, false);
                } else {
                    self.power_up();
                }
            }
            Task::VandalCloses(slot) => {
                if let Some(c) = self.compartment_mut(slot) {
                    c.close_door();
                }
            }
            Task::Guess(g) => self.guess(g),
            Task::StaffVisit => self.staff_visit(),
            Task::FridgeRepair(slot) => self.repair_fridge(slot),
            Task::DriftSettles(slot) => {
                // Unless the cell was replaced (or drifts anew) meanwhile.
                if self.drift_settles.get(slot) == Some(&Some(self.now)) {
                    if let Some(c) = self.compartment_mut(slot) {
                        c.set_presence_drift(0);
                    }
                    self.note(Some(slot), "load cell's zero settles".to_string());
                    self.settled_within_band(slot);
                }
            }
            Task::LookInside(slot) => {
                self.certify_removal_if_empty(slot);
            }
            Task::StaffDone(slot) => {
                // A removal the sensor disputed is certified (which puts the
                // compartment back and recalibrates its sensor), not put
                // back in service with the parcel still in the books.
                if self.certify_removal_if_empty(slot) {
                    return;
                }
                // The sensor says occupied in a compartment the staff member
                // sees empty and the books hold free (a load cell replaced,
                // a baseline gone astray): recalibrate it before putting it
                // back in service.
                let empty = self.compartment(slot).is_some_and(|c| c.item_grams() == 0);
                let sensor_says_occupied = self.gateway.as_deref().is_some_and(|g| {
                    g.bank()
                        .view(id_of(slot))
                        .is_some_and(|v| v.stage == Stage::Free && v.occupied == Some(true))
                });
                if empty && sensor_says_occupied {
                    let staff = locker_domain::bank::StaffId(1);
                    if self
                        .with_bank(|b, _, now| b.recalibrate(id_of(slot), staff, now))
                        .is_ok()
                    {
                        self.note(
                            Some(slot),
                            "staff: presence sensor recalibrated".to_string(),
                        );
                    }
                }
                let _ =
                    self.with_bank(|b, _, now| b.set_in_service(id_of(slot), Actor::Staff, now));
            }
        }
    }

    fn plan_day(&mut self, day: u32) {
        let start = Instant::from_millis(u64::from(day) * DAY);
        if day >= self.config.days {
            return;
        }
        self.agenda
            .at(start + Duration::from_millis(DAY), Task::DayStart(day + 1));
        self.agenda
            .at(start + Duration::from_hours(10), Task::StaffVisit);
        let arrivals = traffic::plan_day(start, self.units, &mut self.traffic);
        let empty_door = self.config.rates.get(IncidentKind::EmptyDoor);
        let ajar = self.config.rates.get(IncidentKind::DoorAjar);
        for (at, mut parcel) in arrivals {
            parcel.forgetful =
                parcel.kind == ParcelKind::Delivery && self.chance.chance(empty_door);
            parcel.leaves_ajar = self.chance.chance(ajar);
            self.world.arrived += 1;
            let p = self.parcels.len();
            self.parcels.push(parcel);
            self.agenda.at(at, Task::Arrive(p));
        }
        let scale = self.len() as f64 / 48.0;
        self.plan_fridge_failures(start);
        self.plan_broken_cells(start);
        for kind in IncidentKind::ALL {
            if matches!(
                kind,
                IncidentKind::EmptyDoor
                    | IncidentKind::DoorAjar
                    | IncidentKind::FridgeFailure
                    | IncidentKind::DeadSensor
                    | IncidentKind::StuckSensor
            ) {
                continue;
            }
            // A Kerong board has an IR beam, not a load cell: nothing drifts.
            if kind == IncidentKind::DriftingSensor && self.config.board == Board::KerongCu16 {
                continue;
            }
            let per_bank = matches!(kind, IncidentKind::PowerBlip | IncidentKind::LongOutage);
            let mean = self.config.rates.get(kind) * if per_bank { 1.0 } else { scale };
            for _ in 0..self.chance.poisson(mean) {
                let at = start + Duration::from_millis(self.chance.between(0, DAY - 1));
                self.agenda.at(at, Task::Incident(kind));
            }
        }
    }

    fn arrive(&mut self, p: usize) {
        let now = self.now;
        let Some(parcel) = self.parcels.get(p).cloned() else {
            return;
        };
        if parcel.at != Whereabouts::WithDepositor {
            return;
        }
        if parcel.attempts >= 3 {
            self.send_to_counter(p, CounterReason::DoorWouldNotOpen);
            return;
        }
        if let Some(x) = self.parcels.get_mut(p) {
            x.attempts += 1;
        }
        let reserved =
            self.with_bank(|b, dice, now| b.reserve(parcel.needs, parcel.kind, dice, now));
        let r = match reserved {
            Ok(r) => r,
            Err(BankError::NoFit(e)) => {
                use locker_domain::bank::AllocationError as A;
                let why = match e {
                    A::Oversize => CounterReason::Oversize,
                    A::LowBattery { .. } => CounterReason::BankUnavailable,
                    _ => CounterReason::BankFull,
                };
                self.send_to_counter(p, why);
                return;
            }
            Err(_) => {
                self.send_to_counter(p, CounterReason::BankUnavailable);
                return;
            }
        };
        self.by_bank_id.insert(r.parcel.0, p);
        let slot = slot_of(r.compartment);
        if let Some(x) = self.parcels.get_mut(p) {
            x.bank_id = Some(r.parcel);
            x.slot = Some(slot);
            x.code = r
                .code
                .map(|c| c.digits().iter().map(|d| char::from(b'0' + d)).collect());
        }
        if self
            .with_bank(|b, _, now| courier_opens(b, r.compartment, now))
            .is_err()
        {
            let _ = self
                .with_bank(|b, _, now| b.cancel_reservation(r.compartment, Actor::Backend, now));
            self.send_to_counter(p, CounterReason::BankUnavailable);
            return;
        }
        self.world.interactions += 1;
        self.asked_to_shut_open_doors();
        let wait = Duration::from_millis(self.traffic.between(800, 3_000));
        self.agenda.at(
            now + wait,
            Task::TryOpen {
                slot,
                visitor: Visitor::Depositor(p),
                tries: 0,
            },
        );
    }

    /// Someone at the bank was let in (a courier's compartment, a
    /// recipient's code): its screen asks them to shut the doors left
    /// standing open (`Bank::doors_left_open`, what the gateway's keypad
    /// front-end shows). Two in three do, within a minute or two (a modelling
    /// assumption); the others leave it to the next person.
    fn asked_to_shut_open_doors(&mut self) {
        let Some(bank) = self.bank() else { return };
        let open: Vec<usize> = bank.doors_left_open().map(slot_of).collect();
        for slot in open {
            if !self.chance.chance(2.0 / 3.0) {
                continue;
            }
            let at = self.now + Duration::from_secs(self.chance.between(20, 120));
            self.agenda.at(
                at,
                Task::Close {
                    slot,
                    visitor: Visitor::Passerby,
                },
            );
            self.note(
                Some(slot),
                "door left open → the next person at the bank asked to shut it, and does".into(),
            );
        }
    }

    fn send_to_counter(&mut self, p: usize, why: CounterReason) {
        if let Some(x) = self.parcels.get_mut(p) {
            x.at = Whereabouts::AtCounter(why);
        }
        *self
            .world
            .to_counter
            .entry(why.name().to_string())
            .or_default() += 1;
    }

    fn collect(&mut self, p: usize) {
        let now = self.now;
        let Some(parcel) = self.parcels.get(p).cloned() else {
            return;
        };
        let (Some(code), Whereabouts::InCompartment(_)) = (parcel.code.clone(), parcel.at) else {
            return;
        };
        if parcel.verified_out {
            return;
        }
        let keypad = KeypadId(0);
        if parcel.mistypes {
            if let Some(x) = self.parcels.get_mut(p) {
                x.mistypes = false;
            }
            let wrong = slip_of_the_finger(&code, p);
            if wrong != code {
                let _ = self.with_bank(|b, _, now| b.enter_code(keypad, &wrong, now));
            }
        }
        match self.with_bank(|b, _, now| b.enter_code(keypad, &code, now)) {
            Ok(CodeOutcome::Opening(c)) => {
                self.world.interactions += 1;
                self.asked_to_shut_open_doors();
                let slot = slot_of(c);
                let wait = Duration::from_millis(self.traffic.between(800, 3_000));
                self.agenda.at(
                    now + wait,
                    Task::TryOpen {
                        slot,
                        visitor: Visitor::Collector(p),
                        tries: 0,
                    },
                );
            }
            Err(BankError::Code(locker_domain::bank::codes::CodeError::LockedOut { until })) => {
                self.agenda
                    .at(until.max(now) + Duration::from_secs(5), Task::Collect(p));
            }
            Ok(CodeOutcome::CollectAtCounter) => {
                // Too late: the bank sends the collector to the counter,
                // where staff hand the parcel over once it is removed.
                self.note(
                    parcel.slot,
                    "collector came after expiry → sent to the counter".into(),
                );
            }
            Err(BankError::OutOfService(_)) | Ok(CodeOutcome::Rejected { .. }) => {
                // The door stays shut, or the right code is refused: the
                // collector calls the help line (rather than type it again
                // and again); staff sort it out.
                if let Some(x) = self.parcels.get_mut(p) {
                    x.needed_staff = true;
                }
                self.agenda
                    .at(now + Duration::from_hours(6), Task::Collect(p));
            }
            _ => {
                // Busy door, bank off, battery: come back later.
                self.agenda
                    .at(now + Duration::from_hours(1), Task::Collect(p));
            }
        }
    }

    fn try_open(&mut self, slot: usize, visitor: Visitor, tries: u8) {
        let now = self.now;
        let Some(c) = self.compartment_mut(slot) else {
            return;
        };
        c.advance_to(now);
        if c.open_door().is_err() {
            if tries < 12 {
                self.agenda.at(
                    now + Duration::from_secs(2),
                    Task::TryOpen {
                        slot,
                        visitor,
                        tries: tries + 1,
                    },
                );
            }
            return;
        }
        let grams_inside = c.item_grams();
        let close_after = Duration::from_secs(self.traffic.between(4, 20));
        match visitor {
            Visitor::Depositor(p) => {
                let forgetful = self
                    .parcels
                    .get(p)
                    .is_some_and(|x| x.forgetful && x.placed_at.is_none());
                if forgetful {
                    self.start_incident(IncidentKind::EmptyDoor, Some(slot));
                    if let Some(x) = self.parcels.get_mut(p) {
                        x.placed_at = Some(now); // marks the first, empty attempt
                    }
                } else if self
                    .parcels
                    .get(p)
                    .is_some_and(|x| x.at == Whereabouts::InCompartment(slot))
                {
                    // Told his parcel is not there (a sensor that cannot
                    // see it), the courier finds it inside and shuts the
                    // door on it again.
                } else if let Some(grams) = self.parcels.get(p).map(|x| x.grams) {
                    if let Some(c) = self.compartment_mut(slot) {
                        let _ = c.place_item(grams);
                    }
                    if let Some(x) = self.parcels.get_mut(p) {
                        x.at = Whereabouts::InCompartment(slot);
                        x.placed_at = Some(now);
                    }
                    if let Some(i) = self.inside.get_mut(slot) {
                        *i = Some(p);
                    }
                }
                self.agenda
                    .at(now + close_after, Task::Close { slot, visitor });
            }
            Visitor::Collector(p) => {
                self.take_out(slot, Whereabouts::WithCollector);
                let ajar = self.parcels.get(p).is_some_and(|x| x.leaves_ajar);
                if ajar {
                    self.start_incident(IncidentKind::DoorAjar, Some(slot));
                    self.note(Some(slot), "collector walked away from an open door".into());
                } else {
                    self.agenda
                        .at(now + close_after, Task::Close { slot, visitor });
                }
            }
            Visitor::Staff { take } => {
                if take && grams_inside > 0 {
                    self.take_out(slot, Whereabouts::WithStaff);
                }
                self.agenda
                    .at(now + close_after, Task::Close { slot, visitor });
            }
            // Passers-by only shut doors; nobody unlocks one for them.
            Visitor::Passerby => {}
        }
    }

    /// Everything inside `slot` leaves with the person at the door.
    fn take_out(&mut self, slot: usize, to: Whereabouts) {
        if let Some(c) = self.compartment_mut(slot) {
            let _ = c.remove_items();
        }
        let Some(p) = self.inside.get_mut(slot).and_then(Option::take) else {
            return;
        };
        if let Some(x) = self.parcels.get_mut(p) {
            x.at = to;
            // Staff only take out what a staff override (audited) opened.
            if to == Whereabouts::WithCollector {
                self.leaving.push((p, slot, self.now));
            }
        }
    }

    fn incident(&mut self, kind: IncidentKind) {
        let now = self.now;
        let n = self.len();
        if !self.powered && !matches!(kind, IncidentKind::PowerBlip | IncidentKind::LongOutage) {
            return;
        }
        match kind {
            IncidentKind::ForcedDoor => {
                let slot = self.chance.between(0, n as u64 - 1) as usize;
                let Some(c) = self.compartment_mut(slot) else {
                    return;
                };
                if c.door() == locker_proto::DoorState::Open {
                    return;
                }
                c.force_door();
                let had = c.item_grams() > 0;
                self.start_incident(kind, Some(slot));
                self.forced_pending.push((slot, now));
                let steals = had && self.chance.chance(0.3);
                if steals {
                    self.take_out(slot, Whereabouts::Stolen);
                    self.world.stolen += 1;
                }
                self.note(
                    Some(slot),
                    format!("door forced{}", if steals { ", parcel taken" } else { "" }),
                );
                let leave = Duration::from_secs(self.chance.between(5, 90));
                self.agenda.at(now + leave, Task::VandalCloses(slot));
            }
            IncidentKind::JammedLock => {
                let slot = self.chance.between(0, n as u64 - 1) as usize;
                let transient = self.chance.chance(0.5);
                if self.incidents.is_open(kind, Some(slot)) {
                    // Jammed already: a second jam would end with the first.
                    return;
                }
                let Some(c) = self.compartment_mut(slot) else {
                    return;
                };
                c.set_lock_stuck(true);
                let pulses = c.unlock_pulses();
                self.start_incident(kind, Some(slot));
                if transient {
                    self.transient_jams.push((slot, pulses));
                }
                self.note(
                    Some(slot),
                    format!(
                        "lock jams{}",
                        if transient { " (for one pulse)" } else { "" }
                    ),
                );
            }
            IncidentKind::DriftingSensor => {
                let slot = self.chance.between(0, n as u64 - 1) as usize;
                let up = self.chance.chance(0.5);
                let rate = self.chance.between(200, 800) as i32 * if up { 1 } else { -1 };
                // Half the drifting cells have a zero that shifts and then
                // settles (creep after a knock, a temperature step): by
                // 3 to 15 g in all, after which the cell reads steadily off
                // its zero, and a re-tare fixes it for good. The other half
                // are failing cells that drift on until replaced.
                let settles = self.drift_dice.chance(DRIFT_SETTLING_SHARE);
                let grams = self.drift_dice.between(3, 15) as i64;
                let settle_at = settles.then(|| {
                    let ms = grams * 420 * 3_600_000 / i64::from(rate.unsigned_abs().max(1));
                    now + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
                });
                if self.incidents.is_open(kind, Some(slot)) {
                    // Drifting already: one failing cell, one incident.
                    return;
                }
                self.set_drift(slot, rate, settle_at);
                let Some(c) = self.compartment_mut(slot) else {
                    return;
                };
                c.set_presence_drift(rate);
                self.start_incident(kind, Some(slot));
                if let Some(at) = settle_at {
                    self.agenda.at(at, Task::DriftSettles(slot));
                }
                self.note(
                    Some(slot),
                    format!(
                        "load cell starts drifting {rate:+} counts/h{}",
                        if settles {
                            format!(" (its zero settles after {grams} g)")
                        } else {
                            String::new()
                        }
                    ),
                );
            }
            IncidentKind::PowerBlip | IncidentKind::LongOutage => {
                if !self.ups.mains() {
                    return;
                }
                self.ups.advance_to(now);
                self.ups.set_mains(false);
                let off = if kind == IncidentKind::PowerBlip {
                    Duration::from_secs(self.chance.between(1, 90))
                } else {
                    Duration::from_mins(self.chance.between(5 * 60, 9 * 60))
                };
                self.start_incident(kind, None);
                self.note(None, format!("mains off for {} → on UPS", human(off)));
                self.agenda.at(now + off, Task::MainsBack);
            }
            IncidentKind::NodeHang => {
                let k = self.chance.between(0, self.nodes.len() as u64 - 1) as usize;
                if !self.nodes.hang(k) {
                    return;
                }
                self.start_incident(kind, Some(k));
                let what = match self.config.board {
                    Board::Ours => "firmware hangs",
                    Board::KerongCu16 => "board falls silent",
                };
                self.note(None, format!("node {} {what}", k + 1));
            }
            IncidentKind::BruteForce => {
                // The incident starts with his first code (see `guess`).
                let guesses = self.chance.between(30, 80) as u32;
                let guesser = Guesser {
                    left: guesses,
                    typed: 0,
                    own: false,
                };
                self.agenda.at(now, Task::Guess(guesser));
            }
            IncidentKind::FridgeFailure => self.fail_a_fridge(),
            IncidentKind::DeadSensor | IncidentKind::StuckSensor => self.break_a_cell(kind),
            IncidentKind::EmptyDoor | IncidentKind::DoorAjar => {}
        }
    }

    fn guess(&mut self, mut g: Guesser) {
        let now = self.now;
        if g.typed == 0 && !g.own && g.left > 0 {
            // A guesser within the keypad's "pressing" window of the last
            // guess (twice its longest lockout) is, for the keypad, the
            // same attack going on: its one alert covers him.
            let pressing = self.policy.lockout.pressing_window();
            let continues = self
                .last_guess
                .is_some_and(|at| now.saturating_since(at) <= pressing);
            if continues {
                let text =
                    "a code guesser comes back while the keypad still counts the last attack";
                self.note(None, text.into());
            } else {
                // Open before the code goes in, so the bank's alert meets it.
                self.start_incident(IncidentKind::BruteForce, None);
                g.own = true;
            }
        }
        if g.left == 0 {
            self.guesser_leaves(g);
            return;
        }
        let code = format!("{:06}", self.chance.between(0, 999_999));
        let answer = self.with_bank(|b, _, now| b.enter_code(KeypadId(0), &code, now));
        if !matches!(answer, Err(BankError::Code(CodeError::LockedOut { .. }))) {
            self.last_guess = Some(now);
            if g.own && g.typed == 0 {
                self.note(None, "someone starts guessing codes at the keypad".into());
            }
            g.typed += 1;
        }
        g.left -= 1;
        match answer {
            Ok(CodeOutcome::Opening(c)) => {
                let slot = slot_of(c);
                self.world.codes_guessed += 1;
                self.note(
                    Some(slot),
                    "a guessed code opened a compartment; the guesser takes the parcel".into(),
                );
                if let Some(p) = self.inside.get(slot).copied().flatten() {
                    let visitor = Visitor::Collector(p);
                    self.agenda.at(
                        now + Duration::from_secs(2),
                        Task::TryOpen {
                            slot,
                            visitor,
                            tries: 0,
                        },
                    );
                }
                if g.own {
                    self.incidents.resolve(IncidentKind::BruteForce, None, true);
                }
            }
            Err(BankError::Code(CodeError::LockedOut { until })) => {
                // Waiting out a lockout is the only way on; most give up.
                if until.saturating_since(now) > Duration::from_mins(10) {
                    self.guesser_leaves(g);
                } else {
                    self.agenda
                        .at(until + Duration::from_secs(1), Task::Guess(g));
                }
            }
            _ => self.agenda.at(now + Duration::from_secs(4), Task::Guess(g)),
        }
    }

    /// A code guesser goes. One who typed no code (the keypad still locked
    /// from an earlier attack) or one alone (it locked him out at once) did
    /// nothing the keypad can tell from a resident's slip, and is no
    /// incident; the bank is right to raise nothing.
    fn guesser_leaves(&mut self, g: Guesser) {
        if !g.own {
            return;
        }
        if g.typed <= 1 && self.incidents.withdraw(IncidentKind::BruteForce, None) {
            let kind = IncidentKind::BruteForce;
            if let Some(at) = self.incident_marks.iter().rposition(|(_, k)| *k == kind) {
                self.incident_marks.remove(at);
            }
            let text = match g.typed {
                0 => "a code guesser found the keypad locked from an earlier attack and left",
                _ => "a code guesser typed one code, was locked out at once and left",
            };
            self.note(None, text.into());
            return;
        }
        if self
            .incidents
            .resolve(IncidentKind::BruteForce, None, false)
        {
            self.note(None, "code guesser gave up: no code guessed".into());
        }
    }

    fn check_jams(&mut self) {
        let mut freed = Vec::new();
        self.transient_jams.retain(|&(slot, pulses)| {
            let pulsed = self
                .nodes
                .compartment(slot)
                .is_some_and(|c| c.unlock_pulses() > pulses);
            if pulsed {
                freed.push(slot);
            }
            !pulsed
        });
        for slot in freed {
            // The pulse freed the lock, but the door stayed shut for it: the
            // incident lasts until the door opens (the gateway's retry).
            if let Some(c) = self.compartment_mut(slot) {
                c.set_lock_stuck(false);
            }
            self.jams_freed.push(slot);
        }
    }

    /// Staff walk along the bank: remove expired parcels, repair what the
    /// alerts point at, put compartments back in service.
    fn staff_visit(&mut self) {
        let now = self.now;
        if !self.powered {
            return;
        }
        self.fridges_found_on_round();
        let views: Vec<_> = match self.bank() {
            Some(b) => b.views().collect(),
            None => return,
        };
        for v in views {
            let slot = slot_of(v.id);
            let Some(c) = self.compartment(slot) else {
                continue;
            };
            let open = c.door() == locker_proto::DoorState::Open;
            let inside = c.item_grams() > 0;
            // Staff mend what the system told them of, not what only the
            // simulation knows.
            let jammed = self
                .incidents
                .is_known(IncidentKind::JammedLock, Some(slot));
            let ajar = self.incidents.is_known(IncidentKind::DoorAjar, Some(slot));
            // A drifting cell the bank answers by itself asks nobody to
            // come: staff replace one an alert named.
            let drifting = self.drift.get(slot).copied().unwrap_or(0) != 0
                && self.drift_alerted.get(slot).copied().unwrap_or(false)
                && self
                    .incidents
                    .is_known(IncidentKind::DriftingSensor, Some(slot));
            let broken = self.broken_cell_known(slot);
            let needs_work = v.out_of_service.is_some()
                || drifting
                || broken
                || v.stage == Stage::Expired
                || (open && (ajar || !matches!(v.stage, Stage::Door { .. })));
            if !needs_work {
                continue;
            }
            // Repairs first.
            if let Some(c) = self.compartment_mut(slot) {
                if jammed {
                    c.set_lock_stuck(false);
                }
                if open {
                    c.close_door();
                }
            }
            let books_hold = v.stage.holds_parcel();
            if drifting {
                self.fix_drift(slot);
            }
            if broken {
                self.replace_broken_cell(slot);
            }
            if jammed || drifting || broken {
                // New hardware: its history starts again (a new cell under
                // a parcel is not that parcel's weight moving).
                let staff = locker_domain::bank::StaffId(1);
                let _ = self.with_bank(|b, _, now| b.serviced(v.id, staff, now));
            }
            if drifting && !books_hold && !inside && !open {
                // The new cell, in an empty compartment, taken as the empty
                // baseline through the bank, as its docs say after a
                // replacement: the node's old baseline may have followed
                // the old cell's zero.
                let staff = locker_domain::bank::StaffId(1);
                let _ = self.with_bank(|b, _, now| b.recalibrate(v.id, staff, now));
            }
            let after = Duration::from_secs(60);
            if v.stage == Stage::Expired || (books_hold && !inside) || (!books_hold && inside) {
                // Open it with a staff override: the books follow what staff take out.
                if self
                    .with_bank(|b, _, now| b.staff_open(v.id, locker_domain::bank::StaffId(1), now))
                    .is_ok()
                {
                    if v.stage == Stage::Expired {
                        // Verified removals leave no word: forget old ones.
                        self.removals_attended
                            .retain(|&(_, at)| now.saturating_since(at) <= Duration::from_hours(1));
                        self.removals_attended.push((slot, now));
                    }
                    let visitor = Visitor::Staff { take: true };
                    self.agenda.at(
                        now + Duration::from_secs(3),
                        Task::TryOpen {
                            slot,
                            visitor,
                            tries: 0,
                        },
                    );
                }
            }
            if v.out_of_service.is_some() {
                self.agenda.at(now + after, Task::StaffDone(slot));
            }
            self.incidents.staff_cleared(slot);
            self.world.staff_jobs += 1;
            let mut what = Vec::new();
            if v.stage == Stage::Expired {
                what.push("expired parcel removed");
            }
            if jammed {
                what.push("lock repaired");
            }
            if drifting || broken {
                what.push("load cell replaced");
            }
            if open {
                what.push("door closed");
            }
            if books_hold && !inside {
                what.push("missing parcel written off");
            }
            if !books_hold && inside {
                what.push("unexpected item taken out");
            }
            if v.out_of_service.is_some() {
                what.push("back in service");
            }
            self.note(Some(slot), format!("staff: {}", what.join(", ")));
        }
    }

    /// Staff look into `slot`, whose expired parcel's removal the presence
    /// sensor would not verify: if they see it empty behind a shut door,
    /// they certify the removal (the bank recalibrates the sensor). Returns
    /// whether they did.
    fn certify_removal_if_empty(&mut self, slot: usize) -> bool {
        let seen_empty = self
            .compartment(slot)
            .is_some_and(|c| c.item_grams() == 0 && c.door() == locker_proto::DoorState::Closed);
        let disputed = self.bank().is_some_and(|b| {
            b.view(id_of(slot)).is_some_and(|v| {
                v.stage == Stage::Expired
                    && v.out_of_service == Some(ServiceReason::RemovalNotVerified)
            })
        });
        if !(seen_empty && disputed) {
            return false;
        }
        let staff = locker_domain::bank::StaffId(1);
        let certified = self
            .with_bank(|b, _, now| b.certify_removal(id_of(slot), staff, now))
            .is_ok();
        if certified {
            self.note(
                Some(slot),
                "staff: seen empty, removal certified, presence sensor recalibrated".to_string(),
            );
        }
        certified
    }

    /// The zero of `slot`'s drifting cell just settled: if the bank's
    /// re-tares on the way left the node's baseline within the drift band
    /// of the truth at every reading, the cell's noise included, the cell
    /// reads right from now on and the bank fixed it. A larger error is
    /// found at a later reading: re-tared (which [`retared`](Self::retared)
    /// counts), or, past the bank's time to settle, a visit.
    fn settled_within_band(&mut self, slot: usize) {
        if !self.retared_by_bank.get(slot).copied().unwrap_or(false) {
            return;
        }
        let Some(baseline) = self.nodes.presence_baseline(slot) else {
            return;
        };
        let Some(c) = self.compartment_mut(slot) else {
            return;
        };
        let grams = c.item_grams() as i32;
        let Ok(reading) = c.reading() else {
            return;
        };
        // What the node would read above the truth.
        let error = reading - baseline - grams * 420;
        if error.abs() > super::node::DRIFT_BAND - super::node::LOAD_CELL_NOISE {
            return;
        }
        self.set_drift(slot, 0, None);
        self.incidents
            .resolve(IncidentKind::DriftingSensor, Some(slot), false);
        self.note(
            Some(slot),
            "load cell's zero settled within the band of the bank's last re-tare: fixed"
                .to_string(),
        );
    }

    /// The world's record of `slot`'s load cell: drifting at `rate`
    /// counts an hour (0: not drifting), its zero settling at `settles`;
    /// neither re-tared by the bank nor alerted yet.
    fn set_drift(&mut self, slot: usize, rate: i32, settles: Option<Instant>) {
        if let Some(d) = self.drift.get_mut(slot) {
            *d = rate;
        }
        if let Some(t) = self.drift_settles.get_mut(slot) {
            *t = settles;
        }
        if let Some(b) = self.retared_by_bank.get_mut(slot) {
            *b = false;
        }
        if let Some(told) = self.drift_alerted.get_mut(slot) {
            *told = false;
        }
    }

    fn fix_drift(&mut self, slot: usize) {
        self.set_drift(slot, 0, None);
        // The node's stored baseline, which re-tares of the old cell
        // (the bank's, staff's, or one the bank did not credit) moved.
        let baseline = self.nodes.presence_baseline(slot).unwrap_or(8_000);
        let Some(c) = self.compartment_mut(slot) else {
            return;
        };
        c.set_presence_drift(0);
        // A new load cell: whatever the old one drifted is gone. The offset
        // that made up for an earlier replacement's drift goes with the old
        // cell too: the error is measured without it (otherwise a cell
        // replaced twice reads the first cell's drift on top of the truth).
        c.set_presence_offset(0);
        let grams = c.item_grams() as i32;
        if let Ok(reading) = c.reading() {
            // Fitted to the node's stored baseline, as a technician tares
            // it: a re-tare of the old cell moved that baseline.
            let truth = baseline + grams * 420;
            let error = reading - truth;
            c.set_presence_offset(-error);
        }
    }

    /// The node of `slot` took its cell's reading as the empty baseline (a
    /// re-tare the audit shows, by the bank or by staff): the world notes
    /// where the baseline now sits. A re-tare by the bank itself
    /// ([`AuditEvent::SensorRecalibratedAutomatically`]) is the system
    /// noticing the drift. Either re-tare fixes a cell whose zero has
    /// settled (and only that: a cell still drifting drifts on, and an item
    /// inside would be hidden, not found); staff's is a site visit.
    fn retared(&mut self, slot: usize, by_bank: bool) {
        let now = self.now;
        let Some(c) = self.compartment_mut(slot) else {
            return;
        };
        let grams = c.item_grams() as i32;
        if by_bank {
            self.incidents
                .detect(IncidentKind::DriftingSensor, Some(slot), self.now);
        }
        let drifting = self.drift.get(slot).copied().unwrap_or(0) != 0;
        if !drifting {
            return;
        }
        if let Some(b) = self.retared_by_bank.get_mut(slot) {
            *b |= by_bank;
        }
        let settled = self
            .drift_settles
            .get(slot)
            .copied()
            .flatten()
            .is_some_and(|at| at <= now);
        if settled && grams == 0 {
            self.set_drift(slot, 0, None);
            self.incidents
                .resolve(IncidentKind::DriftingSensor, Some(slot), !by_bank);
            let who = if by_bank { "the bank" } else { "staff" };
            self.note(
                Some(slot),
                format!("load cell re-tared by {who}: its zero had settled, fixed"),
            );
        } else if by_bank {
            self.note(
                Some(slot),
                "load cell re-tared by the bank: it drifts on".to_string(),
            );
        }
    }
}

/// Bank `index`'s gateway at its first start, on the heap: the bank with a
/// life of its own, and the gateway machine around it. Built in a frame of
/// its own, which is gone before the nodes are built: the bank and the
/// gateway are tens of kilobytes, and an unoptimised build keeps a copy of
/// each value it moves.
#[inline(never)]
fn first_gateway(
    list: &[Compartment],
    policy: Policy,
    seed: u64,
    index: usize,
    now: Instant,
) -> Result<Box<SimGateway>, String> {
    let mut bank =
        GatewayBank::on_heap(list, policy, bank_keys(seed, index)).map_err(|e| e.to_string())?;
    // A first start: a life of its own.
    let life = seeded_incarnation(seed, index, 0);
    bank.begin_incarnation(life, &Witnesses::default(), now)
        .map_err(|e| e.to_string())?;
    Ok(Box::new(
        SimGateway::new(bank, master_config(), now).map_err(|e| e.to_string())?,
    ))
}

/// The bank key of bank `index`: in the field 32 random bytes from the
/// backend; here drawn from the seed, so runs stay reproducible.
fn bank_key(seed: u64, index: usize) -> BankKey {
    BankKey::from_bytes(seeded_secret(seed, index, Stream::BusKey))
}

/// 32 bytes of bank `index`'s random stream `purpose`: the simulation's
/// stand-in for secrets provisioned at random, reproducible from the seed.
fn seeded_secret(seed: u64, index: usize, purpose: Stream) -> [u8; 32] {
    let mut dice = Dice::for_bank(seed, index, purpose);
    let mut bytes = [0u8; 32];
    for b in bytes.iter_mut() {
        *b = dice.between(0, 255) as u8;
    }
    bytes
}

fn add_link(a: &LinkStats, b: &LinkStats) -> LinkStats {
    LinkStats {
        frames_sent: a.frames_sent + b.frames_sent,
        retransmissions: a.retransmissions + b.retransmissions,
        responses: a.responses + b.responses,
        timeouts: a.timeouts + b.timeouts,
        unexpected: a.unexpected + b.unexpected,
        events_delivered: a.events_delivered + b.events_delivered,
        duplicates_filtered: a.duplicates_filtered + b.duplicates_filtered,
        nodes_lost: a.nodes_lost + b.nodes_lost,
        nodes_recovered: a.nodes_recovered + b.nodes_recovered,
        auth_rejected: a.auth_rejected + b.auth_rejected,
        resynchronisations: a.resynchronisations + b.resynchronisations,
    }
}

fn refusal_name(e: &BankError) -> String {
    let s = format!("{e:?}");
    s.split(['(', ' ', '{'])
        .next()
        .unwrap_or("other")
        .to_string()
}

/// A stable name for an alert kind.
pub fn alert_name(kind: AlertKind) -> &'static str {
    kind.name()
}

/// A duration for people: `45 s`, `12 min`, `6 h 05 min`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s} s")
    } else if s < 3_600 {
        format!("{} min", s / 60)
    } else {
        format!("{} h {:02} min", s / 3_600, s % 3_600 / 60)
    }
}

/// The code as a collector mistypes it (parcel `p`): two neighbouring
/// digits swapped, the commonest slip, at a position that varies from
/// parcel to parcel; where those two digits are the same, the last digit
/// one key over. No dice are thrown, so a slip changes no other draw.
fn slip_of_the_finger(code: &str, p: usize) -> String {
    let mut digits: Vec<u8> = code.bytes().collect();
    let len = digits.len();
    if len < 2 {
        return code.to_owned();
    }
    let at = p % (len - 1);
    if digits.get(at) != digits.get(at + 1) {
        digits.swap(at, at + 1);
    } else if let Some(last) = digits.last_mut() {
        *last = b'0' + (last.saturating_sub(b'0') + 1) % 10;
    }
    String::from_utf8(digits).unwrap_or_else(|_| code.to_owned())
}
