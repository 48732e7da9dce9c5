//! A gateway with an uplink, a simulated compartment node on a
//! pseudo-terminal (which reboots when told to), and a backend: the pieces
//! of the uplink's end-to-end tests. Beside them: a Mosquitto of the test's
//! own ([`broker`]), certificate authorities made by the test ([`pki`]) and
//! the shipped programs run with their input and output at hand
//! ([`program`]).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod broker;
pub mod pki;
pub mod program;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use locker_domain::controller::{self, Controller};
use locker_domain::node::{Action, Node};
use locker_drivers::sim::SimCompartment;
use locker_drivers::{DoorSensor, Lock, PresenceSensor};
use locker_examples::gateway::Received;
use locker_examples::gateway::{
    ConsoleCommand, Gateway, GatewayConfig, MonotonicClock, Notice, Reply, SerialLine,
    UplinkSettings,
};
use locker_examples::uplink::{
    Backend, BackendConfig, Encoding, MemoryTransport, Transport, TransportEvent,
};
use locker_proto::auth::{BankKey, NodeAuthRecord, NodeIdentity};
use locker_proto::uplink::{
    CallError, Downward, MessageId, ParcelNeeds, ParcelStep, ReserveCompartment, Response,
    UpEnvelope, Upward,
};
use locker_proto::{
    Channel, Command, CompartmentId, DoorState, FirmwareVersion, NodeAddr, NodeConfig, RebootKind,
    ResetReason, SizeClass,
};
use serialport::{SerialPort, TTYPort};

pub const NODE: NodeAddr = NodeAddr(1);
pub const CHANNELS: usize = 4;
pub const NODE_FIRMWARE: FirmwareVersion = FirmwareVersion::new(1, 3, 0);
/// No wait in these tests may take longer; CI never hangs.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The physical compartments, shared by the node's firmware and the people.
pub type Cabinet = Arc<Mutex<Vec<SimCompartment>>>;

pub fn new_cabinet() -> Cabinet {
    Arc::new(Mutex::new(
        (0..CHANNELS)
            .map(|_| {
                let mut c = SimCompartment::new(locker_proto::Instant::ZERO);
                c.set_load_cell(0, 1);
                c
            })
            .collect(),
    ))
}

/// A compartment node's firmware on its own thread. On `Command::Reboot`
/// it restarts as a real node would: a fresh link and controller, reporting
/// why it started.
pub struct SimulatedNode {
    stop: Arc<AtomicBool>,
    hung: Arc<AtomicBool>,
    pub reboots: Arc<AtomicU32>,
    thread: Option<thread::JoinHandle<()>>,
}

impl SimulatedNode {
    pub fn start(mut port: TTYPort, cabinet: Cabinet) -> Self {
        port.set_timeout(Duration::from_millis(2)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hung = Arc::new(AtomicBool::new(false));
        let reboots = Arc::new(AtomicU32::new(0));
        let (stopping, hanging, counting) = (stop.clone(), hung.clone(), reboots.clone());
        let thread = thread::spawn(move || {
            firmware(
                SerialLine::new(Box::new(port)),
                &cabinet,
                &stopping,
                &hanging,
                &counting,
            )
        });
        SimulatedNode {
            stop,
            hung,
            reboots,
            thread: Some(thread),
        }
    }

    /// The firmware hangs: its UART still takes bytes in, nothing is
    /// handled and nothing answered, until the node is dropped.
    pub fn hang(&self) {
        self.hung.store(true, Ordering::Relaxed);
    }
}

impl Drop for SimulatedNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The bus key the gateway is configured with; the node holds its key
/// derived from it, as provisioning left it.
pub const BUS_KEY: [u8; 32] = [0x6b; 32];

fn firmware(
    mut line: SerialLine,
    cabinet: &Cabinet,
    stop: &AtomicBool,
    hung: &AtomicBool,
    reboots: &AtomicU32,
) {
    let clock = MonotonicClock::start();
    // The node's flash: key, counter reservation, configuration and
    // calibration survive its reboots.
    let mut flash = Flash {
        auth: NodeAuthRecord {
            key: Some(BankKey::from_bytes(BUS_KEY).node_key(NodeIdentity::at(NODE))),
            rx_floor: 0,
        },
        controller: Vec::new(),
    };
    let mut reason = ResetReason::PowerOn;
    let started = std::time::Instant::now();
    let hanging = || hung.load(Ordering::Relaxed);
    // A hung node stays on the line (a closed one would be a cut cable)
    // until the test drops it.
    let running =
        || !stop.load(Ordering::Relaxed) && (hanging() || started.elapsed() < 4 * PATIENCE);
    while running() {
        let controller = Controller::<CHANNELS>::new(
            NodeConfig::default().with_presence_threshold(10),
            NODE_FIRMWARE,
            reason,
            clock.now(),
        )
        .unwrap();
        let mut node = Node::<CHANNELS, 16>::new(NODE, controller);
        let _ = node.restore_controller(&flash.controller);
        node.restore_auth(flash.auth);
        let mut frames: Vec<Received<Command>> = Vec::new();
        let kind = loop {
            if !running() {
                return;
            }
            if hanging() {
                let mut ignored: Vec<Received<Command>> = Vec::new();
                if line.receive_signed(&mut ignored).is_err() {
                    return;
                }
                continue;
            }
            let now = clock.now();
            for (index, compartment) in cabinet.lock().unwrap().iter_mut().enumerate() {
                let channel = Channel(index as u8);
                compartment.advance_to(now);
                let open = compartment.door_state().unwrap() == DoorState::Open;
                node.handle_door_level(channel, open, now).unwrap();
                let lock = compartment.lock_state().unwrap();
                node.handle_lock_feedback(channel, lock, now).unwrap();
                let reading = compartment.reading().unwrap();
                node.handle_presence_reading(channel, reading, now).unwrap();
            }
            node.handle_timeout(now);
            let Ok(mut reboot) = serve(&mut node, &mut line, cabinet, &mut flash) else {
                return;
            };
            frames.clear();
            if line.receive_signed(&mut frames).is_err() {
                return;
            }
            let now = clock.now();
            for received in &frames {
                node.handle_frame(&received.frame, received.authenticated(), now);
                match serve(&mut node, &mut line, cabinet, &mut flash) {
                    Ok(asked) => reboot = reboot.or(asked),
                    Err(_) => return,
                }
            }
            if let Some(kind) = reboot {
                break kind;
            }
        };
        // The acknowledgement has left the UART; the node goes dark for a
        // moment and starts again.
        thread::sleep(Duration::from_millis(100));
        reboots.fetch_add(1, Ordering::Relaxed);
        reason = match kind {
            RebootKind::Soft => ResetReason::SoftReboot,
            RebootKind::Hard => ResetReason::HardReboot,
        };
    }
}

/// What the node keeps in flash.
struct Flash {
    auth: NodeAuthRecord,
    controller: Vec<u8>,
}

/// Does what the node asks, in its polling order: flash writes, the answer
/// on the line, lock pulses. Returns the reboot it asked for, once its
/// acknowledgement has left.
fn serve(
    node: &mut Node<CHANNELS, 16>,
    line: &mut SerialLine,
    cabinet: &Cabinet,
    flash: &mut Flash,
) -> Result<Option<RebootKind>, locker_examples::gateway::GatewayError> {
    let mut reboot = None;
    loop {
        while let Some(action) = node.poll_action() {
            match action {
                Action::Controller(controller::Action::PulseLock { channel, .. }) => {
                    cabinet.lock().unwrap()[channel.index()].unlock().unwrap();
                }
                Action::PersistAuth(record) => {
                    flash.auth = record;
                    node.persisted(&record).unwrap();
                }
                Action::Controller(controller::Action::Persist) => {
                    let mut buf = [0u8; Node::<CHANNELS, 16>::SAVED_LEN_MAX];
                    flash.controller = node.save_controller(&mut buf).unwrap().to_vec();
                }
                Action::Controller(controller::Action::Reboot(kind)) => reboot = Some(kind),
                _ => {}
            }
        }
        let Some(answer) = node.poll_transmit() else {
            return Ok(reboot);
        };
        line.send_outgoing(&answer)?;
    }
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("locker-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn gateway_config(dir: &Path) -> GatewayConfig {
    let mut config = GatewayConfig::new(
        vec![NODE],
        CHANNELS as u8,
        dir.join("bank.state"),
        dir.join("audit.jsonl"),
        test_keys(),
    );
    config.code_seed = Some([42; 32]);
    config.bus_key = Some(BankKey::from_bytes(BUS_KEY));
    config.link.response_timeout = locker_proto::Duration::from_millis(500);
    config.policy.quiet_hours = None;
    config
}

pub fn uplink_settings(dir: &Path, encoding: Encoding) -> UplinkSettings {
    let mut settings = UplinkSettings::new("bank-e2e", dir.join("uplink"));
    settings.encoding = encoding;
    settings.delivery.retry_after = locker_proto::Duration::from_secs(2);
    settings
}

/// The backend with its end of the transport.
pub struct BackendEnd {
    pub backend: Backend,
    pub transport: Box<dyn Transport>,
    pub encoding: Encoding,
    pub up: bool,
    clock: MonotonicClock,
}

impl BackendEnd {
    pub fn new(transport: Box<dyn Transport>, encoding: Encoding) -> Self {
        let config = BackendConfig {
            retry_after: locker_proto::Duration::from_secs(2),
            answer_alerts: true,
        };
        BackendEnd {
            backend: Backend::new(config, 1_700_000, test_keys()),
            transport,
            encoding,
            up: false,
            clock: MonotonicClock::start(),
        }
    }

    pub fn pump(&mut self) {
        while let Some(event) = self.transport.poll() {
            match event {
                TransportEvent::Up => self.up = true,
                TransportEvent::Down => {
                    self.up = false;
                    self.backend.link_down();
                }
                TransportEvent::Message(payload) => {
                    let message: UpEnvelope = self.encoding.decode(&payload).unwrap();
                    self.backend.handle_upward(message);
                }
            }
        }
        let now = self.clock.now();
        while self.up {
            let Some(message) = self.backend.poll_transmit(now) else {
                break;
            };
            if self
                .transport
                .send(&self.encoding.encode(&message))
                .is_err()
            {
                self.up = false;
                self.backend.link_down();
            }
        }
    }

    pub fn applied(&self) -> &[UpEnvelope] {
        self.backend.applied()
    }

    pub fn answer(&self, id: MessageId) -> Option<Result<Response, CallError>> {
        self.backend.answer(id).cloned()
    }

    pub fn steps_of(&self, parcel: u32) -> Vec<ParcelStep> {
        self.applied()
            .iter()
            .filter_map(|m| match &m.body {
                Upward::ParcelEvent(e) if e.parcel.0 == parcel => Some(e.step),
                _ => None,
            })
            .collect()
    }

    /// Whether the backend was told the parcel is ready for its collector.
    pub fn parcel_ready(&self, parcel: u32) -> bool {
        self.applied().iter().any(|m| {
            matches!(&m.body, Upward::Notification(n)
                if n.parcel.map(|p| p.0) == Some(parcel)
                    && n.kind == locker_proto::uplink::NotificationKind::ParcelReady)
        })
    }

    pub fn boots(&self) -> Vec<locker_proto::uplink::BootNotification> {
        self.applied()
            .iter()
            .filter_map(|m| match &m.body {
                Upward::BootNotification(b) => Some(b.clone()),
                _ => None,
            })
            .collect()
    }
}

pub fn reserve_small() -> Downward {
    Downward::ReserveCompartment(ReserveCompartment {
        kind: locker_proto::uplink::ParcelKind::Delivery,
        needs: ParcelNeeds {
            size: Some(SizeClass::Small),
            ..ParcelNeeds::default()
        },
    })
}

/// The gateway, its node, the backend and the people, stepped together.
pub struct World {
    pub gateway: Gateway,
    pub backend: BackendEnd,
    pub cabinet: Cabinet,
    pub notices: Vec<Notice>,
}

impl World {
    pub fn step(&mut self) {
        self.gateway.step().unwrap();
        self.notices
            .extend(std::iter::from_fn(|| self.gateway.poll_notice()));
        self.backend.pump();
    }

    pub fn run_until(&mut self, what: &str, mut done: impl FnMut(&World) -> bool) {
        let started = std::time::Instant::now();
        loop {
            self.step();
            if done(self) {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "timed out waiting for {what}; books: {:#?}; notices: {:#?}; backend: {:#?}",
                self.gateway.bank().views().collect::<Vec<_>>(),
                self.notices,
                self.backend
                    .applied()
                    .iter()
                    .map(|m| m.body.name())
                    .collect::<Vec<_>>()
            );
        }
    }

    /// Sends a request and waits for its answer.
    pub fn ask(&mut self, request: Downward) -> Result<Response, CallError> {
        let id = self.backend.backend.request(request);
        self.run_until("the gateway's answer", |w| w.backend.answer(id).is_some());
        self.backend.answer(id).unwrap()
    }

    pub fn ask_id(&mut self, request: Downward) -> (MessageId, Result<Response, CallError>) {
        let id = self.backend.backend.request(request);
        self.run_until("the gateway's answer", |w| w.backend.answer(id).is_some());
        (id, self.backend.answer(id).unwrap())
    }

    pub fn console(&mut self, command: ConsoleCommand) -> Reply {
        self.gateway.execute(&command).unwrap()
    }

    /// The courier the backend sent types `compartment`'s deposit code at
    /// the console (the backend computes the code from the bank's keys).
    pub fn courier_at(&mut self, compartment: CompartmentId) -> Reply {
        let code = self.gateway.bank().deposit_code(compartment).unwrap();
        self.console(ConsoleCommand::Courier {
            compartment,
            code: code.to_string(),
        })
    }

    pub fn index(id: CompartmentId) -> usize {
        usize::from(id.0 - 1)
    }

    /// Pulls the door until the latch lets go and the bank sees it open.
    pub fn open_door(&mut self, id: CompartmentId) {
        let index = Self::index(id);
        let cabinet = self.cabinet.clone();
        self.run_until("the latch to release", |_| {
            cabinet.lock().unwrap()[index].open_door().is_ok()
        });
        self.run_until("the bank to see the door open", |w| {
            w.gateway.bank().view(id).unwrap().door == DoorState::Open
        });
    }

    /// Puts a parcel in (or takes it out) and closes the door.
    pub fn finish_at_door(&mut self, id: CompartmentId, leave_parcel: bool) {
        let index = Self::index(id);
        {
            let mut cabinet = self.cabinet.lock().unwrap();
            if leave_parcel {
                cabinet[index].place_item(500).unwrap();
            } else {
                cabinet[index].remove_items().unwrap();
            }
        }
        self.run_until("the bank to see the presence change", |w| {
            w.gateway.bank().view(id).unwrap().occupied == Some(leave_parcel)
        });
        self.cabinet.lock().unwrap()[index].close_door();
    }
}

pub fn connected(
    port: TTYPort,
) -> impl FnOnce() -> Result<SerialLine, locker_examples::gateway::GatewayError> {
    move || {
        let mut port = port;
        port.set_timeout(Duration::from_millis(2)).unwrap();
        Ok(SerialLine::new(Box::new(port)))
    }
}

/// A gateway with an uplink to an in-process backend and a simulated node
/// on a pseudo-terminal, run until it booted and scanned the node. Also
/// returns a spare handle on the gateway's end of the terminal (to restart
/// the gateway on it), the gateway's end of the link and the node.
pub fn world_with_uplink(
    dir: &std::path::Path,
) -> (World, TTYPort, MemoryTransport, SimulatedNode) {
    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let spare_end = gateway_end.try_clone_native().unwrap();
    let node = SimulatedNode::start(node_end, cabinet.clone());
    let (gateway_link, backend_link) = MemoryTransport::pair();
    let gateway = Gateway::start_with_uplink(
        gateway_config(dir),
        connected(gateway_end),
        Some((
            uplink_settings(dir, Encoding::Json),
            Box::new(gateway_link.clone()),
        )),
    )
    .unwrap();
    let mut world = World {
        gateway,
        backend: BackendEnd::new(Box::new(backend_link), Encoding::Json),
        cabinet,
        notices: Vec::new(),
    };
    world.run_until("the boot notification and the node's greeting", |w| {
        !w.backend.boots().is_empty()
            && w.backend
                .applied()
                .iter()
                .any(|m| matches!(m.body, Upward::NodeBoot(_)))
            && w.gateway.status_reports() > 0
    });
    (world, spare_end, gateway_link, node)
}

/// This test's own bank secret (no program carries one in its code).
pub fn test_keys() -> locker_domain::bank::BankKeys {
    locker_domain::bank::BankKeys::derive(locker_domain::bank::BankId(1), &[0x3c; 32])
}
