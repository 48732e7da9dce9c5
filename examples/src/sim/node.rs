//! One compartment node as its firmware runs it: `locker_domain::node::Node`
//! (frame decoder, link layer that verifies every signed command, and
//! controller) with its flash, and simulated compartments behind the driver
//! traits.

use locker_domain::bank::health::HealthPolicy;
use locker_domain::controller::{self, Controller, ControllerError};
use locker_domain::node::{Action, Node};
use locker_drivers::sim::SimCompartment;
use locker_drivers::{DoorSensor, Lock, PresenceSensor, TemperatureSensor};
use locker_proto::auth::NodeAuthRecord;
use locker_proto::frame::{Flags, Frame, Header, MAX_FRAME, Seq};
use locker_proto::time::{Duration, Instant};
use locker_proto::{
    Channel, Command, DoorState, FirmwareVersion, NodeAddr, NodeConfig, NodeKey, RebootKind,
    ResetReason,
};

/// Channels per node: a 16-way lock board, as vendors build them.
pub const CHANNELS: usize = 16;
/// Events a node keeps until the gateway acknowledges them.
pub const NODE_QUEUE: usize = 32;
/// How often the firmware reads its thermometers.
pub const TEMPERATURE_EVERY: Duration = Duration::from_secs(60);

const FIRMWARE: FirmwareVersion = FirmwareVersion::new(1, 0, 0);

/// A simulated compartment node.
#[derive(Debug)]
pub struct SimNode {
    addr: NodeAddr,
    node: Node<CHANNELS, NODE_QUEUE>,
    /// The node's next timer, as of its last change.
    timer: Option<Instant>,
    /// The physical compartments on channels `0..len`.
    pub compartments: Vec<SimCompartment>,
    flash: Vec<u8>,
    /// The authentication record in flash: key and receive-counter reservation.
    auth_flash: NodeAuthRecord,
    /// Frames this node's decoder rejected (CRC, COBS, length).
    pub bad_frames: u64,
    /// A hung firmware: receives nothing, answers nothing.
    pub hung: bool,
    /// Whether the node has power.
    pub powered: bool,
    /// Restarts since the simulation began.
    pub restarts: u32,
    /// When the thermometers were last read (RAM: forgotten at a restart).
    temperatures_read: Option<Instant>,
}

/// How far either way each simulated load-cell reading strays from the
/// truth, in counts: 100, a quarter of a gram at 420 counts per gram, about
/// the peak noise of an HX711 read at 10 samples a second. Successive
/// readings differ, as a working cell's do; a stuck cell's do not
/// (`stuck_sensor`). It stays under the steadiness the bank asks of a
/// settling zero before it re-tares one (a quarter of the drift band, 210
/// counts here): a noisier cell needs a wider band.
pub const LOAD_CELL_NOISE: i32 = 100;

/// The presence threshold of the simulated nodes: 5 g on the simulated
/// load cell (420 counts per gram).
const PRESENCE_THRESHOLD: i32 = 5 * 420;

/// The bank's drift band for the simulated load cells, in the node's units
/// (counts): 2 g, two fifths of the 5 g occupied threshold
/// ([`HealthPolicy::drift_band_for`]). Readings reach the bank in counts;
/// the default band (4) would count a few counts of creep, well within any
/// cell's tolerance, as drift, and the bank refuses it with these nodes.
pub const DRIFT_BAND: i32 = HealthPolicy::drift_band_for(PRESENCE_THRESHOLD);

/// The node configuration the simulated bank runs with.
pub fn node_config() -> NodeConfig {
    NodeConfig {
        presence_threshold: PRESENCE_THRESHOLD,
        ..NodeConfig::default()
    }
}

impl SimNode {
    /// A node with `compartments` on its first channels, calibrated at the
    /// factory (empty) and switched on at `now`.
    ///
    /// # Errors
    ///
    /// The controller refused [`node_config`] (it does not).
    pub fn new(
        addr: NodeAddr,
        compartments: Vec<SimCompartment>,
        key: NodeKey,
        now: Instant,
    ) -> Result<Self, ControllerError> {
        let mut compartments = compartments;
        let flash = factory_calibration(&mut compartments, now)?;
        let mut node = SimNode {
            addr,
            node: Node::new(
                addr,
                Controller::new(node_config(), FIRMWARE, ResetReason::PowerOn, now)?,
            ),
            timer: None,
            compartments,
            flash,
            auth_flash: NodeAuthRecord {
                key: None,
                rx_floor: 0,
            },
            bad_frames: 0,
            hung: false,
            powered: true,
            restarts: 0,
            temperatures_read: None,
        };
        // Provisioned on the bench: the technician holds the provisioning
        // input while the bank's tool sends the node its derived key.
        node.node.set_provisioning(true);
        let provision = Frame {
            header: Header::new(NodeAddr::GATEWAY, addr, Seq(0), Flags::ACK_WANTED),
            body: Command::Provision { key },
        };
        node.node.handle_frame(&provision, None, now);
        let _ = node.service(now);
        node.node.set_provisioning(false);
        // Installed and switched on.
        node.restart(ResetReason::PowerOn, now);
        node.restarts = 0;
        Ok(node)
    }

    /// This node's address.
    pub fn addr(&self) -> NodeAddr {
        self.addr
    }

    /// The empty baseline the node holds for channel `ch` (raw counts).
    pub fn presence_baseline(&self, ch: usize) -> Option<i32> {
        self.node.controller().presence_baseline(channel(ch)).ok()
    }

    /// The compartment on `ch`, if wired.
    pub fn compartment(&mut self, ch: usize) -> Option<&mut SimCompartment> {
        self.compartments.get_mut(ch)
    }

    /// Restarts the firmware (power cycle, watchdog, commanded reboot):
    /// RAM is lost, configuration, calibration, key and counter reservation
    /// come back from flash.
    pub fn restart(&mut self, reason: ResetReason, now: Instant) {
        // The configuration was accepted at the factory; it still is.
        if let Ok(controller) = Controller::new(node_config(), FIRMWARE, reason, now) {
            self.node = Node::new(self.addr, controller);
            let _ = self.node.restore_controller(&self.flash);
            self.node.restore_auth(self.auth_flash);
        }
        self.hung = false;
        self.powered = true;
        self.restarts += 1;
        self.temperatures_read = None;
        let _ = self.service(now);
        self.sample(now);
    }

    /// Whether the node has nothing to tell and nothing to time. A hung
    /// node is not quiet: the gateway's polls to it time out, which is how
    /// a real gateway, polling every node several times a second, notices
    /// it within seconds. Skipping those polls would hide the hang until
    /// the next sweep.
    pub fn is_quiet(&self) -> bool {
        !self.powered || (!self.hung && self.node.queued_events() == 0)
    }

    /// When the controller next needs [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.powered || self.hung {
            return None;
        }
        self.timer
    }

    /// Runs the controller's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.powered || self.hung {
            return;
        }
        self.sample(now);
        self.node.handle_timeout(now);
        let _ = self.service(now);
    }

    /// One pass of the firmware's sampling loop: every wired channel's door
    /// switch, lock feedback and load cell, read through the driver traits.
    pub fn sample(&mut self, now: Instant) {
        if !self.powered || self.hung {
            return;
        }
        for (ch, c) in self.compartments.iter_mut().enumerate() {
            c.advance_to(now);
            let channel = channel(ch);
            // Every wired channel exists on a 16-channel node, and the node
            // drains its events after every sample: nothing is refused.
            if let Ok(door) = c.door_state() {
                let _ = self
                    .node
                    .handle_door_level(channel, door == DoorState::Open, now);
            }
            if let Ok(lock) = c.lock_state() {
                let _ = self.node.handle_lock_feedback(channel, lock, now);
            }
            // A cell that cannot be read is reported (once, until it reads
            // again), never taken for an empty compartment.
            let _ = match c.reading() {
                Ok(reading) => self.node.handle_presence_reading(channel, reading, now),
                Err(_) => self.node.handle_presence_failure(channel, now),
            };
        }
        let _ = self.service(now);
    }

    /// The firmware's thermometer loop: every channel's temperature, once
    /// per [`TEMPERATURE_EVERY`] (a status answer carries the last one).
    /// Run as frames arrive, so an idle node costs nothing between them.
    fn read_temperatures(&mut self, now: Instant) {
        if self
            .temperatures_read
            .is_some_and(|at| now.saturating_since(at) < TEMPERATURE_EVERY)
        {
            return;
        }
        self.temperatures_read = Some(now);
        for (ch, c) in self.compartments.iter_mut().enumerate() {
            c.advance_to(now);
            if let Ok(t) = c.temperature() {
                let _ = self.node.handle_temperature(channel(ch), t, now);
            }
        }
    }

    /// Bytes from the line. Returns the answer to put on the line, if any.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Option<Vec<u8>> {
        if !self.powered || self.hung {
            return None;
        }
        self.read_temperatures(now);
        let before = self.node.bad_frames();
        self.node.handle_bytes(bytes, now);
        self.bad_frames += u64::from(self.node.bad_frames().wrapping_sub(before));
        self.service(now)
    }

    /// Commands this node refused since its last restart (no valid tag,
    /// rate limit).
    pub fn refused_commands(&self) -> u32 {
        self.node.refused_commands()
    }

    /// Does what the node asks, in its polling order: flash writes, the
    /// answer (returned, the last one if several), then lock pulses and a
    /// reboot, which the node holds back until the answer has left.
    fn service(&mut self, now: Instant) -> Option<Vec<u8>> {
        let answer = self.drain(now);
        // Every change to the node ends here: its next timer is noted once,
        // not recomputed at every step of the simulation.
        self.timer = self.node.poll_timeout();
        answer
    }

    fn drain(&mut self, now: Instant) -> Option<Vec<u8>> {
        let mut answer = None;
        loop {
            while let Some(action) = self.node.poll_action() {
                self.carry_out(action, now);
            }
            let Some(outgoing) = self.node.poll_transmit() else {
                return answer;
            };
            let mut buf = [0u8; MAX_FRAME];
            if let Ok(bytes) = outgoing.encode(&mut buf) {
                answer = Some(bytes.to_vec());
            }
        }
    }

    fn carry_out(&mut self, action: Action, now: Instant) {
        match action {
            Action::Controller(controller::Action::PulseLock { channel, .. }) => {
                if let Some(c) = self.compartments.get_mut(channel.index()) {
                    c.advance_to(now);
                    let _ = c.unlock();
                    if let Ok(state) = c.lock_state() {
                        let _ = self.node.handle_lock_feedback(channel, state, now);
                    }
                }
            }
            Action::Controller(controller::Action::Persist) => {
                let mut buf = [0u8; Node::<CHANNELS, NODE_QUEUE>::SAVED_LEN_MAX];
                if let Ok(saved) = self.node.save_controller(&mut buf) {
                    self.flash = saved.to_vec();
                }
            }
            Action::PersistAuth(record) => {
                self.auth_flash = record;
                let _ = self.node.persisted(&record);
            }
            Action::Controller(controller::Action::Reboot(kind)) => self.restart(
                match kind {
                    RebootKind::Soft => ResetReason::SoftReboot,
                    RebootKind::Hard => ResetReason::HardReboot,
                },
                now,
            ),
            _ => {}
        }
    }
}

/// At the factory: every load cell reads empty and is taken as its
/// channel's baseline (`Controller::factory_calibrate`: no event, no room
/// needed), saved to flash. Nothing of this reaches the bus, so the bench
/// tool drives the controller alone. A cell that cannot be read keeps the
/// uncalibrated baseline of zero. Returns the flash bytes.
fn factory_calibration(
    compartments: &mut [SimCompartment],
    now: Instant,
) -> Result<Vec<u8>, ControllerError> {
    let mut controller =
        Controller::<CHANNELS>::new(node_config(), FIRMWARE, ResetReason::PowerOn, now)?;
    let mut empty = [0i32; CHANNELS];
    for (reading, c) in empty.iter_mut().zip(compartments.iter_mut()) {
        c.advance_to(now);
        *reading = c.reading().unwrap_or(0);
    }
    controller.factory_calibrate(empty)?;
    let mut buf = [0u8; Controller::<CHANNELS>::SAVED_LEN_MAX];
    Ok(controller.save(&mut buf)?.to_vec())
}

/// Channel number `ch` (nodes have at most 32).
pub fn channel(ch: usize) -> Channel {
    Channel(ch as u8)
}
