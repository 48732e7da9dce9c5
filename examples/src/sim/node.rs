//! One compartment node as its firmware runs it: a frame decoder, the link
//! layer (which verifies every signed command), the controller, and simulated
//! compartments behind the driver traits.

use locker_domain::controller::{Action, Controller, ControllerError};
use locker_drivers::sim::SimCompartment;
use locker_drivers::{DoorSensor, Lock, PresenceSensor};
use locker_proto::auth::NodeAuthRecord;
use locker_proto::frame::{Decoder, Feed, Flags, Frame, Header, Seq};
use locker_proto::link::NodeLink;
use locker_proto::time::Instant;
use locker_proto::{
    Channel, Command, DoorState, FirmwareVersion, NodeAddr, NodeConfig, NodeKey, ResetReason,
};

/// Channels per node: a 16-way lock board, as vendors build them.
pub const CHANNELS: usize = 16;
/// Events a node keeps until the gateway acknowledges them.
pub const NODE_QUEUE: usize = 32;

const FIRMWARE: FirmwareVersion = FirmwareVersion::new(1, 0, 0);

/// A simulated compartment node.
#[derive(Debug)]
pub struct SimNode {
    addr: NodeAddr,
    link: NodeLink<NODE_QUEUE>,
    controller: Controller<CHANNELS>,
    decoder: Decoder,
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
    reboot_pending: bool,
}

/// The node configuration the simulated bank runs with: the presence
/// threshold is 5 g on the simulated load cell (420 counts per gram).
pub fn node_config() -> NodeConfig {
    NodeConfig {
        presence_threshold: 5 * 420,
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
        let mut node = SimNode {
            addr,
            link: NodeLink::new(addr, ResetReason::PowerOn),
            controller: Controller::new(node_config(), FIRMWARE, ResetReason::PowerOn, now)?,
            decoder: Decoder::new(),
            compartments,
            flash: Vec::new(),
            auth_flash: NodeAuthRecord {
                key: None,
                rx_floor: 0,
            },
            bad_frames: 0,
            hung: false,
            powered: true,
            restarts: 0,
            reboot_pending: false,
        };
        // At the factory: every load cell read empty and taken as its
        // baseline, saved to flash. Nothing of this reaches the bus.
        node.sample(now);
        for ch in 0..node.compartments.len() {
            let _ = node.controller.handle_command(
                &Command::Calibrate {
                    channel: channel(ch),
                },
                now,
            );
            node.service(now);
        }
        let mut buf = [0u8; Controller::<CHANNELS>::SAVED_LEN_MAX];
        if let Ok(saved) = node.controller.save(&mut buf) {
            node.flash = saved.to_vec();
        }
        // Provisioned on the bench: the technician holds the provisioning
        // input while the bank's tool sends the node its derived key.
        node.link.set_provisioning(true);
        let provision = Frame {
            header: Header::new(NodeAddr::GATEWAY, addr, Seq(0), Flags::ACK_WANTED),
            body: Command::Provision { key },
        };
        let _ = node.link.handle_frame(&provision, now);
        let _ = node.link.poll_outgoing();
        node.link.set_provisioning(false);
        node.store_auth();
        // Installed and switched on.
        node.restart(ResetReason::PowerOn, now);
        node.restarts = 0;
        Ok(node)
    }

    /// This node's address.
    pub fn addr(&self) -> NodeAddr {
        self.addr
    }

    /// The compartment on `ch`, if wired.
    pub fn compartment(&mut self, ch: usize) -> Option<&mut SimCompartment> {
        self.compartments.get_mut(ch)
    }

    /// Restarts the firmware (power cycle, watchdog, commanded reboot):
    /// RAM is lost, configuration and calibration come back from flash.
    pub fn restart(&mut self, reason: ResetReason, now: Instant) {
        self.link = NodeLink::new(self.addr, reason);
        self.link.restore_auth(self.auth_flash);
        self.store_auth();
        // The configuration was accepted at the factory; it still is.
        if let Ok(controller) = Controller::new(node_config(), FIRMWARE, reason, now) {
            self.controller = controller;
        }
        let _ = self.controller.restore(&self.flash);
        self.decoder.reset();
        self.hung = false;
        self.powered = true;
        self.restarts += 1;
        self.sample(now);
    }

    /// Whether the node has nothing to tell and nothing to time.
    pub fn is_quiet(&self) -> bool {
        !self.powered || self.hung || self.link.queued_events() == 0
    }

    /// When the controller next needs [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.powered || self.hung {
            return None;
        }
        self.controller.poll_timeout()
    }

    /// Runs the controller's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.powered || self.hung {
            return;
        }
        for _ in 0..4 {
            self.sample(now);
            self.controller.handle_timeout(now);
            self.service(now);
            if self.controller.poll_timeout().is_none_or(|t| t > now) {
                break;
            }
        }
    }

    /// One pass of the firmware's sampling loop: every wired channel's door
    /// switch, lock feedback and load cell, read through the driver traits.
    pub fn sample(&mut self, now: Instant) {
        if !self.powered || self.hung {
            return;
        }
        for ch in 0..self.compartments.len() {
            let Some(c) = self.compartments.get_mut(ch) else {
                continue;
            };
            c.advance_to(now);
            let door = c.door_state().map(|d| d == DoorState::Open);
            let lock = c.lock_state();
            let reading = c.reading();
            let channel = channel(ch);
            if let Ok(open) = door {
                self.feed(now, |ctl| ctl.handle_door_level(channel, open, now));
            }
            if let Ok(lock) = lock {
                self.feed(now, |ctl| ctl.handle_lock_feedback(channel, lock, now));
            }
            if let Ok(reading) = reading {
                self.feed(now, |ctl| {
                    ctl.handle_presence_reading(channel, reading, now)
                });
            }
        }
        self.service(now);
    }

    /// Gives one input to the controller, draining its events first if its
    /// queue is full (the firmware's loop does the same).
    fn feed<E>(
        &mut self,
        now: Instant,
        mut input: impl FnMut(&mut Controller<CHANNELS>) -> Result<(), E>,
    ) {
        if input(&mut self.controller).is_err() {
            self.service(now);
            let _ = input(&mut self.controller);
        }
    }

    /// Bytes from the line. Returns the answer to put on the line, if any.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Option<Vec<u8>> {
        if !self.powered || self.hung {
            return None;
        }
        let mut rest = bytes;
        let mut answer = None;
        while !rest.is_empty() {
            match self.decoder.feed::<Command>(rest) {
                Feed::Consumed => break,
                Feed::Error { remaining, .. } => {
                    self.bad_frames += 1;
                    rest = remaining;
                }
                Feed::Frame { frame, remaining } => {
                    rest = remaining;
                    // Events noticed since the last pass go to the link
                    // first, so a poll sees them.
                    self.service(now);
                    let command =
                        self.link
                            .handle_received(&frame, self.decoder.last_authenticated(), now);
                    if let Some(reply) = self.handle_command(command, now) {
                        answer = Some(reply);
                    }
                }
            }
        }
        answer
    }

    fn handle_command(&mut self, command: Option<Command>, now: Instant) -> Option<Vec<u8>> {
        if let Some(command) = command {
            let report = self.controller.handle_command(&command, now);
            self.link.respond(report);
        }
        self.service(now);
        // The reservation is stored before the answer leaves.
        self.store_auth();
        let reply = self.link.poll_outgoing()?;
        let mut buf = [0u8; locker_proto::frame::MAX_FRAME];
        let bytes = reply.encode(&mut buf).ok()?.to_vec();
        self.after_reply(now);
        Some(bytes)
    }

    /// Writes what the link asks to keep (key, counter reservation) to flash.
    fn store_auth(&mut self) {
        while let Some(record) = self.link.poll_persist() {
            self.auth_flash = record;
            self.link.persisted(&record);
        }
    }

    /// Commands this node refused since its last restart (no valid tag,
    /// rate limit).
    pub fn refused_commands(&self) -> u32 {
        self.link.refused_commands()
    }

    /// Carries out the controller's actions and moves its events into the
    /// link's acknowledged queue.
    fn service(&mut self, now: Instant) {
        while let Some(action) = self.controller.poll_action() {
            match action {
                Action::PulseLock { channel, .. } => {
                    if let Some(c) = self.compartments.get_mut(channel.index()) {
                        c.advance_to(now);
                        let _ = c.unlock();
                        if let Ok(state) = c.lock_state() {
                            let _ = self.controller.handle_lock_feedback(channel, state, now);
                        }
                    }
                }
                Action::Persist => {
                    let mut buf = [0u8; Controller::<CHANNELS>::SAVED_LEN_MAX];
                    if let Ok(saved) = self.controller.save(&mut buf) {
                        self.flash = saved.to_vec();
                    }
                }
                Action::Reboot(_) => self.reboot_pending = true,
                _ => {}
            }
        }
        while let Some(event) = self.controller.poll_event() {
            // A full queue drops and counts; the count reaches the gateway.
            let _ = self.link.push_event(event);
        }
    }

    fn after_reply(&mut self, now: Instant) {
        if core::mem::take(&mut self.reboot_pending) {
            self.restart(ResetReason::SoftReboot, now);
        }
    }
}

/// Channel number `ch` (nodes have at most 32).
pub fn channel(ch: usize) -> Channel {
    Channel(ch as u8)
}
