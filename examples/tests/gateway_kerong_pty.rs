//! The gateway driving a Kerong KR-CU16 as one of its nodes: the board is a
//! simulated CU16 behind the far end of a pseudo-terminal, speaking the
//! vendor's bytes through a real tty with real read timeouts; the gateway is
//! the Linux gateway with its Kerong line. A courier deposits a parcel, the
//! recipient collects it with the code, and a door pried open raises the
//! alarm, all without the bank knowing it is not one of our nodes.

#![cfg(unix)]
// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use embedded_io::{Read, Write};
use locker_domain::bank::{AlertKind, AuditEvent, ParcelKind, Purpose, Stage};
use locker_drivers::kerong::{BoardModel, Cu16Address};
use locker_drivers::sim::{SimCompartment, SimCu16};
use locker_examples::gateway::{
    AuditLog, ConsoleCommand, Gateway, GatewayConfig, GatewayError, KerongLine, MonotonicClock,
    NodeLine, Notice, Reply, code_text,
};
use locker_proto::auth::BankKey;
use locker_proto::{Channel, CompartmentId, DoorState, NodeAddr, SizeClass};
use serialport::{SerialPort, TTYPort};

/// Node 1 of the bank's layout is the CU16 at DIP address 0.
const NODE: NodeAddr = NodeAddr(1);
const CHANNELS: u8 = 4;
/// No wait in this test may take longer; CI never hangs.
const PATIENCE: Duration = Duration::from_secs(30);

/// The KR-CU16 and its compartments, shared by the board's thread and the
/// people of the test.
type Cabinet = Arc<Mutex<SimCu16>>;

/// The board at the far end of the tty: answers every request it hears,
/// with its compartments' time kept running.
struct Board {
    stop: Arc<AtomicBool>,
    worker: Option<thread::JoinHandle<()>>,
}

impl Board {
    fn start(mut tty: TTYPort, cabinet: Cabinet) -> Self {
        tty.set_timeout(Duration::from_millis(2)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let worker = thread::spawn(move || {
            let clock = MonotonicClock::start();
            let started = std::time::Instant::now();
            let mut buf = [0u8; 64];
            while !stopping.load(Ordering::Relaxed) && started.elapsed() < 4 * PATIENCE {
                let n = match io::Read::read(&mut tty, &mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => 0,
                    Err(_) => return,
                };
                let mut answer = Vec::new();
                {
                    let mut board = cabinet.lock().unwrap();
                    board.advance_to(clock.now());
                    board.write_all(&buf[..n]).unwrap();
                    let mut out = [0u8; 64];
                    loop {
                        let m = board.read(&mut out).unwrap();
                        if m == 0 {
                            break;
                        }
                        answer.extend_from_slice(&out[..m]);
                    }
                }
                if io::Write::write_all(&mut tty, &answer).is_err() {
                    return;
                }
            }
        });
        Board {
            stop,
            worker: Some(worker),
        }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The gateway, the board and the people at it.
struct Bank {
    gateway: Gateway,
    cabinet: Cabinet,
    notices: Vec<Notice>,
    dir: PathBuf,
    _board: Board,
}

impl Bank {
    fn start() -> Self {
        let dir = scratch_dir();
        let address = Cu16Address::new(0).unwrap();
        let cabinet = Arc::new(Mutex::new(SimCu16::cu16(
            address,
            locker_proto::Instant::ZERO,
        )));
        let (board_end, mut gateway_end) = TTYPort::pair().unwrap();
        let board = Board::start(board_end, Arc::clone(&cabinet));
        // Generous, so a loaded machine does not turn a slow answer into a
        // lost one (and a warning).
        gateway_end.set_timeout(Duration::from_millis(100)).unwrap();
        let config = config(&dir);
        let line_config = config.clone();
        let connect = move || -> Result<Box<dyn NodeLine>, GatewayError> {
            let line = KerongLine::new(Box::new(gateway_end), BoardModel::Cu16, &line_config)?;
            Ok(Box::new(line))
        };
        let gateway = Gateway::start_on(config, connect, None).unwrap();
        let mut bank = Bank {
            gateway,
            cabinet,
            notices: Vec::new(),
            dir,
            _board: board,
        };
        // The gateway greets the board's node at start and again for the
        // start it reports, scanning its status each time: a bank at rest.
        bank.run_until("the greetings and status scans", |g| {
            g.core().stats().greetings >= 2 && g.status_reports() > 0 && g.core().is_idle()
        });
        bank
    }

    /// One pass of the gateway's main loop, keeping what it tells.
    fn step(&mut self) {
        self.gateway.step().unwrap();
        self.notices
            .extend(std::iter::from_fn(|| self.gateway.poll_notice()));
    }

    fn run_until(&mut self, what: &str, mut done: impl FnMut(&Gateway) -> bool) {
        let started = std::time::Instant::now();
        loop {
            self.step();
            if done(&self.gateway) {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "timed out waiting for {what}; books: {:#?}; notices: {:#?}",
                self.gateway.bank().views().collect::<Vec<_>>(),
                self.notices
            );
        }
    }

    /// The compartment behind `id` on the board.
    fn compartment(&self, id: CompartmentId) -> CompartmentGuard<'_> {
        CompartmentGuard {
            board: self.cabinet.lock().unwrap(),
            channel: Channel(u8::try_from(id.0 - 1).unwrap()),
        }
    }

    /// A person pulls the door until the latch lets go, and the bank sees it open.
    fn pull_door_open(&mut self, id: CompartmentId) {
        let cabinet = Arc::clone(&self.cabinet);
        let channel = Channel(u8::try_from(id.0 - 1).unwrap());
        self.run_until("the latch to release", |_| {
            let mut board = cabinet.lock().unwrap();
            board.compartment_mut(channel).unwrap().open_door().is_ok()
        });
        self.run_until("the bank to see the door open", |g| {
            g.bank().view(id).unwrap().door == DoorState::Open
        });
    }

    fn stage(&self, id: CompartmentId) -> Stage {
        self.gateway.bank().view(id).unwrap().stage
    }

    fn alerts(&self) -> Vec<AlertKind> {
        self.notices
            .iter()
            .filter_map(|n| match n {
                Notice::Alert(a) => Some(a.kind),
                _ => None,
            })
            .collect()
    }
}

/// A compartment of the board, held while a person acts on it.
struct CompartmentGuard<'a> {
    board: MutexGuard<'a, SimCu16>,
    channel: Channel,
}

impl std::ops::Deref for CompartmentGuard<'_> {
    type Target = SimCompartment;
    fn deref(&self) -> &SimCompartment {
        self.board.compartment(self.channel).unwrap()
    }
}

impl std::ops::DerefMut for CompartmentGuard<'_> {
    fn deref_mut(&mut self) -> &mut SimCompartment {
        self.board.compartment_mut(self.channel).unwrap()
    }
}

fn scratch_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("locker-kerong-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path) -> GatewayConfig {
    let mut config = GatewayConfig::new(
        vec![NODE],
        CHANNELS,
        dir.join("bank.state"),
        dir.join("audit.jsonl"),
    );
    config.code_seed = Some([7; 32]);
    config.bus_key = Some(BankKey::from_bytes([0x4b; 32]));
    config.policy.quiet_hours = None;
    config
}

#[test]
fn a_courier_deposits_in_a_kerong_compartment_and_the_recipient_collects_with_the_code() {
    let mut bank = Bank::start();

    // The courier asks for a small compartment; the bank unlocks it.
    let Reply::Depositing(reservation) = bank
        .gateway
        .execute(&ConsoleCommand::Deposit {
            size: SizeClass::Small,
            kind: ParcelKind::Delivery,
        })
        .unwrap()
    else {
        panic!("deposit refused; notices: {:#?}", bank.notices)
    };
    let id = reservation.compartment;
    let code = code_text(&reservation.code.expect("the bank drew a pickup code"));
    bank.pull_door_open(id);
    // The parcel breaks the compartment's IR beam.
    bank.compartment(id).place_item(500).unwrap();
    bank.run_until("the bank to see the parcel", |g| {
        g.bank().view(id).unwrap().occupied == Some(true)
    });
    bank.compartment(id).close_door();
    bank.run_until("the deposit to be verified", |g| {
        g.bank().view(id).unwrap().stage == Stage::Stored
    });
    assert_eq!(
        bank.compartment(id).unlock_pulses(),
        1,
        "one pulse to deposit"
    );
    assert!(bank.compartment(id).is_latched());

    // The recipient types the code, opens, takes the parcel, closes.
    assert_eq!(
        bank.gateway
            .execute(&ConsoleCommand::Pickup { code })
            .unwrap(),
        Reply::Opening(id)
    );
    bank.pull_door_open(id);
    bank.compartment(id).remove_items().unwrap();
    bank.run_until("the bank to see the compartment empty", |g| {
        g.bank().view(id).unwrap().occupied == Some(false)
    });
    bank.compartment(id).close_door();
    bank.run_until("the pickup to be verified", |g| {
        g.bank().view(id).unwrap().stage == Stage::Free
    });

    // One pulse per door session, the books balance, nobody was alarmed.
    assert_eq!(
        bank.compartment(id).unlock_pulses(),
        2,
        "one pulse to collect"
    );
    assert_eq!(bank.stage(id), Stage::Free);
    let stats = *bank.gateway.bank().stats();
    assert_eq!((stats.deposits, stats.pickups), (1, 1));
    assert!(
        bank.gateway
            .bank()
            .views()
            .all(|v| v.stage == Stage::Free && v.out_of_service.is_none())
    );
    assert!(
        !bank
            .notices
            .iter()
            .any(|n| matches!(n, Notice::Alert(_) | Notice::Warning(_))),
        "{:#?}",
        bank.notices
    );
    // The other compartments were never pulsed.
    for other in (1..=u16::from(CHANNELS)).filter(|&n| n != id.0) {
        assert_eq!(bank.compartment(CompartmentId(other)).unlock_pulses(), 0);
    }

    // The audit trail tells the parcel's story in order.
    let audit_path = bank.gateway.audit_log().path().to_path_buf();
    let Bank { gateway, dir, .. } = bank;
    gateway.shutdown().unwrap();
    let story: Vec<AuditEvent> = AuditLog::read_all(&audit_path)
        .unwrap()
        .iter()
        .filter(|l| l.record.compartment == Some(id))
        .map(|l| l.record.event)
        .collect();
    let position = |e: AuditEvent| {
        story
            .iter()
            .position(|s| *s == e)
            .unwrap_or_else(|| panic!("{e:?} missing from {story:?}"))
    };
    let pickup = AuditEvent::PickupVerified {
        purpose: Purpose::Pickup,
    };
    assert!(position(AuditEvent::Reserved) < position(AuditEvent::DepositVerified));
    assert!(position(AuditEvent::DepositVerified) < position(pickup));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_door_pried_open_on_the_kerong_board_raises_the_forced_door_alarm() {
    let mut bank = Bank::start();
    let id = CompartmentId(3);

    bank.compartment(id).force_door();
    let started = std::time::Instant::now();
    while !bank.alerts().contains(&AlertKind::ForcedDoor) {
        bank.step();
        assert!(
            started.elapsed() < PATIENCE,
            "no forced-door alarm; notices: {:#?}",
            bank.notices
        );
    }
    let alert = bank
        .notices
        .iter()
        .find_map(|n| match n {
            Notice::Alert(a) if a.kind == AlertKind::ForcedDoor => Some(*a),
            _ => None,
        })
        .unwrap();
    assert_eq!(alert.compartment, Some(id));
    assert_eq!(
        bank.compartment(id).unlock_pulses(),
        0,
        "nobody unlocked it"
    );
    assert!(
        !bank.notices.iter().any(|n| matches!(n, Notice::Warning(_))),
        "{:#?}",
        bank.notices
    );
    let Bank { gateway, dir, .. } = bank;
    gateway.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `locker-gateway` program, killed if the test fails.
struct Program {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Program {
    fn start(args: &[std::ffi::OsString]) -> Self {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_locker-gateway"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Program {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn say(&mut self, line: &str) {
        io::Write::write_all(&mut self.stdin, format!("{line}\n").as_bytes()).unwrap();
        io::Write::flush(&mut self.stdin).unwrap();
    }

    /// The first output line containing `text`, waiting at most [`PATIENCE`].
    fn expect(&mut self, text: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            let left = PATIENCE.saturating_sub(started.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {text:?}; the program said {:#?}", self.seen),
            }
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_program_takes_a_deposit_on_a_kerong_cu16_named_on_its_command_line() {
    let dir = scratch_dir();
    let address = Cu16Address::new(0).unwrap();
    let cabinet = Arc::new(Mutex::new(SimCu16::cu16(
        address,
        locker_proto::Instant::ZERO,
    )));
    let (board_end, gateway_end) = TTYPort::pair().unwrap();
    let terminal = gateway_end.name().expect("the terminal has a path");
    let _board = Board::start(board_end, Arc::clone(&cabinet));
    let state = dir.join("bank.state");
    let audit = dir.join("audit.jsonl");
    let mut args: Vec<std::ffi::OsString> = [
        "--board",
        "kerong-cu16",
        "--port",
        &terminal,
        "--nodes",
        "1",
        "--channels",
        "4",
        "--exit-after",
        "60",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.extend(["--state".into(), state.into_os_string()]);
    args.extend(["--audit".into(), audit.clone().into_os_string()]);
    let mut program = Program::start(&args);
    program.expect("empty bank");
    program.expect("node 1 answers");

    program.say("deposit small");
    let reply = program.expect("unlocking for parcel");
    let number: u16 = reply
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no compartment number in {reply:?}"));
    let channel = Channel(u8::try_from(number - 1).unwrap());
    // The courier pulls until the latch lets go, puts the parcel in, closes.
    let started = std::time::Instant::now();
    while cabinet
        .lock()
        .unwrap()
        .compartment_mut(channel)
        .unwrap()
        .open_door()
        .is_err()
    {
        assert!(started.elapsed() < PATIENCE, "the latch never released");
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(400));
    let with_parcel = |f: fn(&mut SimCompartment)| {
        f(cabinet.lock().unwrap().compartment_mut(channel).unwrap());
        thread::sleep(Duration::from_millis(400));
    };
    with_parcel(|c| c.place_item(500).unwrap());
    with_parcel(SimCompartment::close_door);
    program.expect("deposit verified");

    program.say("quit");
    program.expect("persisting and stopping");
    assert!(program.child.wait().unwrap().success());
    assert!(
        !program
            .seen
            .iter()
            .any(|l| l.contains("ALERT") || l.contains("warning")),
        "{:#?}",
        program.seen
    );
    let board = cabinet.lock().unwrap();
    assert_eq!(board.compartment(channel).unwrap().unlock_pulses(), 1);
    let events: Vec<AuditEvent> = AuditLog::read_all(&audit)
        .unwrap()
        .iter()
        .map(|l| l.record.event)
        .collect();
    assert!(events.contains(&AuditEvent::DepositVerified));
    drop(gateway_end);
    let _ = std::fs::remove_dir_all(&dir);
}
