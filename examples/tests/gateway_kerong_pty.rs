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
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use locker_domain::bank::codes::KeypadId;
use locker_domain::bank::{AlertKind, AuditEvent, ParcelKind, Purpose, Stage};
use locker_drivers::kerong::{BoardModel, Cu16Address};
use locker_drivers::sim::{SimCompartment, SimCu16};
use locker_examples::gateway::{
    AuditLog, CONSOLE_ACCOUNT, ConsoleCommand, Gateway, GatewayError, KerongLine, MonotonicClock,
    NodeLine, Notice, Reply, code_text,
};
use locker_proto::{Channel, CompartmentId, DoorState, SizeClass};
use serialport::{SerialPort, TTYPort};

mod support;
use support::{PATIENCE, gateway_config, scratch_dir};

/// The bank's one node, node 1, is the CU16 at DIP address 0, with
/// `support::CHANNELS` compartments.
const CHANNELS: u8 = support::CHANNELS as u8;

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
                let mut answer = [0u8; 64];
                let m = {
                    let mut board = cabinet.lock().unwrap();
                    board.advance_to(clock.now());
                    board.hear(&buf[..n], &mut answer)
                };
                if io::Write::write_all(&mut tty, &answer[..m]).is_err() {
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
        let dir = scratch_dir("kerong");
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
        let config = gateway_config(&dir);
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

    /// A person at the unlocked door `id`: pulls it open, does `errand`
    /// inside (the bank sees the IR beam change), shuts it, and the bank
    /// books the compartment as `then`.
    fn door_session(&mut self, id: CompartmentId, errand: fn(&mut SimCompartment), then: Stage) {
        self.pull_door_open(id);
        let occupied_before = self.gateway.bank().view(id).unwrap().occupied;
        errand(&mut self.compartment(id));
        self.run_until("the bank to see the IR beam change", |g| {
            g.bank().view(id).unwrap().occupied != occupied_before
        });
        self.compartment(id).close_door();
        self.run_until("the door session to be booked", |g| {
            g.bank().view(id).unwrap().stage == then
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
    // The courier's parcel breaks the compartment's IR beam.
    bank.door_session(id, |c| c.place_item(500).unwrap(), Stage::Stored);
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
    bank.door_session(id, |c| c.remove_items().unwrap(), Stage::Free);

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

    // The compartment's audit trail is the parcel's whole story, step by
    // step, with one unlock per door session.
    let audit_path = bank.gateway.audit_log().path().to_path_buf();
    let Bank { gateway, dir, .. } = bank;
    gateway.shutdown().unwrap();
    let trail: Vec<AuditEvent> = AuditLog::read_all(&audit_path)
        .unwrap()
        .into_iter()
        .filter_map(|l| (l.record.compartment == Some(id)).then_some(l.record.event))
        .collect();
    let unlock = |purpose, attempt| AuditEvent::UnlockCommanded { purpose, attempt };
    assert_eq!(
        trail,
        [
            AuditEvent::Reserved,
            AuditEvent::DepositOpenedBy {
                account: CONSOLE_ACCOUNT
            },
            unlock(Purpose::Deposit, 0),
            AuditEvent::DoorOpened,
            AuditEvent::DoorClosed,
            AuditEvent::DepositVerified,
            AuditEvent::CodeAccepted {
                keypad: KeypadId(0)
            },
            unlock(Purpose::Pickup, 0),
            AuditEvent::DoorOpened,
            AuditEvent::DoorClosed,
            AuditEvent::PickupVerified {
                purpose: Purpose::Pickup
            },
        ]
    );
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

/// Waits, stepping nothing, until `done` says so; fails the test after
/// [`PATIENCE`].
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A program that is killed if the test fails before it stops.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_program_takes_a_deposit_on_a_kerong_cu16_named_on_its_command_line() {
    use std::process::{Command, Stdio};

    let dir = scratch_dir("kerong");
    let address = Cu16Address::new(0).unwrap();
    let cabinet = Arc::new(Mutex::new(SimCu16::cu16(
        address,
        locker_proto::Instant::ZERO,
    )));
    let (board_end, gateway_end) = TTYPort::pair().unwrap();
    let terminal = gateway_end.name().expect("the terminal has a path");
    let _board = Board::start(board_end, Arc::clone(&cabinet));
    let audit = dir.join("audit.jsonl");
    let mut program = Running(
        Command::new(env!("CARGO_BIN_EXE_locker-gateway"))
            .args(["--board", "kerong-cu16", "--port", &terminal])
            .args(["--nodes", "1", "--channels", "4", "--exit-after", "60"])
            .arg("--state")
            .arg(dir.join("bank.state"))
            .arg("--audit")
            .arg(&audit)
            .arg("--bank-secret")
            .arg(dir.join("bank.secret"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = program.0.stdin.take().unwrap();
    let mut say = |line: &str| io::Write::write_all(&mut stdin, line.as_bytes()).unwrap();
    let audit_has = |event: AuditEvent| {
        AuditLog::read_all(&audit).is_ok_and(|lines| lines.iter().any(|l| l.record.event == event))
    };

    // The operator books a small compartment for a courier; the board
    // pulses one lock, and the courier goes to that door.
    say("deposit small\n");
    let mut unlocked = None;
    wait_for("a lock to be pulsed", || {
        let board = cabinet.lock().unwrap();
        unlocked = (0..CHANNELS)
            .map(Channel)
            .find(|&c| board.compartment(c).unwrap().unlock_pulses() > 0);
        unlocked.is_some()
    });
    let channel = unlocked.unwrap();
    let at_the_door = |act: fn(&mut SimCompartment)| {
        act(cabinet.lock().unwrap().compartment_mut(channel).unwrap());
        // People take their time; the gateway polls the board meanwhile.
        thread::sleep(Duration::from_millis(400));
    };
    at_the_door(|c| c.open_door().unwrap());
    at_the_door(|c| c.place_item(500).unwrap());
    at_the_door(SimCompartment::close_door);
    wait_for("the deposit to be verified", || {
        audit_has(AuditEvent::DepositVerified)
    });

    say("quit\n");
    wait_for("the program to stop", || {
        program.0.try_wait().unwrap().is_some()
    });
    assert!(program.0.wait().unwrap().success());
    let mut said = String::new();
    io::Read::read_to_string(&mut program.0.stdout.take().unwrap(), &mut said).unwrap();
    // The log (nodes answering, alerts, warnings) is on standard error.
    io::Read::read_to_string(&mut program.0.stderr.take().unwrap(), &mut said).unwrap();
    assert!(said.contains("node 1 answers"), "{said}");
    assert!(
        !said.contains("ALERT") && !said.contains("WARN") && !said.contains("ERROR"),
        "{said}"
    );
    let board = cabinet.lock().unwrap();
    let pulses: Vec<u32> = (0..CHANNELS)
        .map(|c| board.compartment(Channel(c)).unwrap().unlock_pulses())
        .collect();
    assert_eq!(
        pulses.iter().sum::<u32>(),
        1,
        "one pulse, one door: {pulses:?}"
    );
    drop(gateway_end);
    let _ = std::fs::remove_dir_all(&dir);
}
