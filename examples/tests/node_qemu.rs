//! The node firmware executed: `examples/firmware-qemu` (the STM32G0 node's
//! main loop on QEMU's `mps2-an385`, a simulated cabinet inside the board)
//! against the real `locker-gateway` on a pseudo-terminal. A signed deposit,
//! a gateway restart, garbage, bit-flipped, replayed and forged frames while
//! the gateway is down, the node's reset pin pressed, and a pickup; the lock
//! pulsed exactly once per unlock, the bad frames never reset the node, the
//! refusals the reset cut short were reported to the next gateway as lost;
//! its stack's high-water mark against the call-graph estimate and the
//! instructions each exchange cost.
//!
//! Ignored by default: it needs `qemu-system-arm` and the firmware built
//! with stack sizes. `scripts/node-qemu` does both and runs it (CI does).
//! The firmware's path may be given in `LOCKER_NODE_QEMU_ELF`.

// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use locker_proto::auth::{BankKey, NodeAuthRecord, NodeIdentity};
use locker_proto::frame::{CRC, CRC_LEN, Decoder, Feed};
use locker_proto::{Command, NackReason, NodeAddr, Report};
use serialport::{SerialPort, TTYPort};

mod support;
use support::program::{Program, gateway_command_for};
use support::{BUS_KEY, PATIENCE, scratch_dir};

/// The firmware's bus address (`node.rs`, as on the STM32G0 board).
const NODE: NodeAddr = NodeAddr(3);
/// Where the board's emulated flash keeps the authentication record:
/// `FLASH_BASE` + `storage.rs`'s `AUTH_PAGE`.
const AUTH_RECORD_AT: u32 = 0x0010_0000 + 60 * 1024;
/// How long a node that has nothing to say is listened to.
const SILENCE: Duration = Duration::from_millis(600);

#[test]
#[ignore = "needs qemu-system-arm and the QEMU firmware: run scripts/node-qemu"]
fn the_firmware_takes_a_deposit_survives_a_gateway_restart_and_bad_frames_and_gives_the_pickup() {
    let elf = firmware();
    let estimate = stack_estimate(&elf);
    let dir = scratch_dir("node-qemu");
    let key_file = write_bus_key(&dir);

    // The node, provisioned as the bench leaves it: its key in its flash.
    let record = NodeAuthRecord {
        key: Some(BankKey::from_bytes(BUS_KEY).node_key(NodeIdentity::at(NODE))),
        rx_floor: 0,
    };
    std::fs::write(dir.join("auth.bin"), record.to_bytes()).unwrap();
    let socket = dir.join("bus.sock");
    let monitor = dir.join("monitor.sock");
    let mut node = Program::spawn(qemu(&elf, &socket, &monitor, &dir.join("auth.bin")));
    node.expect("boot");
    let tap = Tap::start(&socket);

    // First start of the gateway: a courier's deposit.
    let mut gateway = Program::spawn(gateway_on(&tap.terminal, &dir, &key_file));
    gateway.expect("empty bank");
    gateway.expect("node 3 answers");
    let (number, code) = gateway.deposit_small();
    let channel = number - 1;
    // The person in the board opens, puts the parcel in, shuts the door.
    assert_eq!(node.expect("pulse "), format!("pulse {channel} 1"));
    gateway.expect("deposit verified");
    gateway.quit();

    // The gateway is down; someone else talks on the bus.
    tap.take_over();
    let attack_started = node.said().len();
    let attack = Attack::new(&tap);
    attack.garbage();
    attack.bit_flipped();
    attack.replayed_unlock();
    attack.forged_unlock();
    assert_eq!(
        pulses(&mut node),
        1,
        "bad frames pulsed a lock: {:#?}",
        node.seen
    );
    let boots = |node: &mut Program| node.said().iter().filter(|l| l.starts_with("boot")).count();
    assert_eq!(
        boots(&mut node),
        1,
        "bad frames reset the node: {:#?}",
        node.seen
    );

    // Someone presses the node's reset pin: a warm reset. The refusals of
    // the attack still waited in its queue (no gateway acknowledged them);
    // the record of what the queue held survives in the board's RAM.
    let attack_ended = node.said().len();
    press_reset(&monitor);
    node.expect("boot");

    // The gateway starts again from its state file: it hears the restart
    // and that the events the node held are lost (an alert, and a scan),
    // then the recipient's pickup.
    tap.give_back();
    let mut gateway = Program::spawn(gateway_on(&tap.terminal, &dir, &key_file));
    gateway.expect("node 3 answers");
    gateway.expect("Fault(EventsDropped)");
    gateway.say(&format!("pickup {code}"));
    gateway.expect("code accepted");
    assert_eq!(node.expect("pulse "), format!("pulse {channel} 2"));
    gateway.await_free(number);
    gateway.quit();
    // One last look at the stack after the idle check has run.
    thread::sleep(SILENCE);

    let lines = node.said().to_vec();
    let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(
        count("boot"),
        2,
        "the node reset other than by its pin: {lines:#?}"
    );
    assert_eq!(count("panic"), 0, "{lines:#?}");
    assert_eq!(pulses(&mut node), 2, "one pulse per unlock: {lines:#?}");

    let high_water = lines
        .iter()
        .filter_map(|l| l.strip_prefix("stack high-water "))
        .filter_map(|n| n.parse::<u32>().ok())
        .max()
        .expect("the node reported its stack");
    println!("stack: high-water mark {high_water} bytes, call-graph estimate {estimate} bytes");
    assert!(
        high_water <= estimate,
        "the stack reached {high_water} bytes, more than the estimate of {estimate}"
    );
    let gateway_lines = [&lines[..attack_started], &lines[attack_ended..]].concat();
    report_exchanges("the gateway's", &gateway_lines);
    report_exchanges("the attack's", &lines[attack_started..attack_ended]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The board's reset pin, pressed through QEMU's monitor (`system_reset`:
/// the core and the peripherals reset, RAM outside the firmware image
/// keeps what it held, as SRAM does over a pin reset).
fn press_reset(monitor: &Path) {
    let mut stream = UnixStream::connect(monitor).unwrap();
    stream.write_all(b"system_reset\n").unwrap();
    // The monitor reads the line before the connection closes.
    thread::sleep(Duration::from_millis(300));
}

/// The firmware ELF, built by `scripts/node-qemu`.
fn firmware() -> PathBuf {
    let elf = std::env::var_os("LOCKER_NODE_QEMU_ELF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/firmware-qemu/thumbv6m-none-eabi/release/locker-firmware-qemu")
        });
    assert!(
        elf.exists(),
        "{}: build the QEMU firmware first (scripts/node-qemu)",
        elf.display()
    );
    elf
}

/// The worst-case stack of the firmware's main loop with a SysTick on top,
/// from `scripts/stack_walk.py`'s call-graph walk (as `scripts/size-report`).
fn stack_estimate(elf: &Path) -> u32 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack_walk.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(elf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stack walk failed (built with stack sizes?): {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("main: worst-case stack "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no estimate in {text}"))
}

fn write_bus_key(dir: &Path) -> PathBuf {
    let key_file = dir.join("bus.key");
    std::fs::write(&key_file, locker_examples::secret::to_hex(&BUS_KEY)).unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    key_file
}

/// QEMU with the firmware: its UART on a socket the test connects to, its
/// reports on standard output, one instruction per virtual nanosecond, the
/// authentication record loaded into its flash.
fn qemu(elf: &Path, socket: &Path, monitor: &Path, auth: &Path) -> std::process::Command {
    let mut command = std::process::Command::new("qemu-system-arm");
    command
        .args(["-M", "mps2-an385", "-display", "none"])
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", monitor.display()))
        .arg("-chardev")
        .arg(format!(
            "socket,id=bus,path={},server=on,wait=off",
            socket.display()
        ))
        .args(["-serial", "chardev:bus"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-icount", "shift=0"])
        .arg("-kernel")
        .arg(elf)
        .arg("-device")
        .arg(format!(
            "loader,file={},addr={AUTH_RECORD_AT:#x},force-raw=on",
            auth.display()
        ));
    command
}

fn gateway_on(terminal: &str, dir: &Path, key_file: &Path) -> std::process::Command {
    let mut command = gateway_command_for(terminal, dir, NODE.0);
    command.arg("--bus-key").arg(key_file);
    command
}

/// Lock pulses the node reported so far.
fn pulses(node: &mut Program) -> usize {
    node.said()
        .iter()
        .filter(|l| l.starts_with("pulse "))
        .count()
}

/// Who sent a frame on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Gateway,
    Node,
}

/// Every frame on the bus so far, in order, with its sender.
type Recording = Arc<Mutex<Vec<(Side, Vec<u8>)>>>;

/// The wire between the gateway's pseudo-terminal and the node's UART
/// socket, with the test in the middle: it records every frame, and can
/// take the node's end while the gateway is down.
struct Tap {
    terminal: String,
    to_node: UnixStream,
    frames: Recording,
    relaying: Arc<AtomicBool>,
    answers: Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// The gateway's end held open while no gateway runs, as a USB adapter
    /// stays plugged in.
    _held: TTYPort,
}

impl Tap {
    fn start(socket: &Path) -> Self {
        let started = Instant::now();
        let node = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(e) => {
                    assert!(started.elapsed() < PATIENCE, "no node socket: {e}");
                    thread::sleep(Duration::from_millis(20));
                }
            }
        };
        node.set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let (mut master, gateway_end) = TTYPort::pair().unwrap();
        master.set_timeout(Duration::from_millis(1)).unwrap();
        let terminal = gateway_end.name().expect("the terminal has a path");
        let frames = Arc::new(Mutex::new(Vec::new()));
        let relaying = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (answer_tx, answers) = mpsc::channel();
        let to_node = node.try_clone().unwrap();
        let thread = {
            let (frames, relaying, stop) = (frames.clone(), relaying.clone(), stop.clone());
            thread::spawn(move || relay(master, node, &frames, &relaying, &stop, &answer_tx))
        };
        Tap {
            terminal,
            to_node,
            frames,
            relaying,
            answers,
            stop,
            thread: Some(thread),
            _held: gateway_end,
        }
    }

    /// The node's answers come to the test now, once the answer to the
    /// gateway's last command (late on a loaded machine) has gone by.
    fn take_over(&self) {
        self.relaying.store(false, Ordering::SeqCst);
        while self.answers.recv_timeout(SILENCE).is_ok() {}
    }

    /// The node's answers go to the gateway's terminal again.
    fn give_back(&self) {
        self.relaying.store(true, Ordering::SeqCst);
    }

    /// Frames seen so far, in order.
    fn recorded(&self) -> Vec<(Side, Vec<u8>)> {
        self.frames.lock().unwrap().clone()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn relay(
    mut master: TTYPort,
    mut node: UnixStream,
    frames: &Mutex<Vec<(Side, Vec<u8>)>>,
    relaying: &AtomicBool,
    stop: &AtomicBool,
    answers: &Sender<Vec<u8>>,
) {
    let mut from_gateway = Vec::new();
    let mut from_node = Vec::new();
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::SeqCst) {
        if let Ok(n) = master.read(&mut buf) {
            if n > 0 {
                node.write_all(&buf[..n]).unwrap();
                collect(&buf[..n], &mut from_gateway, |f| {
                    frames.lock().unwrap().push((Side::Gateway, f));
                });
            }
        }
        if let Ok(n) = node.read(&mut buf) {
            if relaying.load(Ordering::SeqCst) {
                let _ = master.write_all(&buf[..n]);
            }
            collect(&buf[..n], &mut from_node, |f| {
                frames.lock().unwrap().push((Side::Node, f.clone()));
                if !relaying.load(Ordering::SeqCst) {
                    let _ = answers.send(f);
                }
            });
        }
    }
}

/// Appends `bytes` to `partial`, handing over each complete frame
/// (delimiter included).
fn collect(bytes: &[u8], partial: &mut Vec<u8>, mut frame: impl FnMut(Vec<u8>)) {
    for &byte in bytes {
        partial.push(byte);
        if byte == 0 {
            frame(std::mem::take(partial));
        }
    }
}

/// Someone on the bus while the gateway is down.
struct Attack<'t> {
    tap: &'t Tap,
}

impl<'t> Attack<'t> {
    fn new(tap: &'t Tap) -> Self {
        Attack { tap }
    }

    fn send(&self, bytes: &[u8]) {
        (&self.tap.to_node).write_all(bytes).unwrap();
    }

    /// Frames the node sent within [`SILENCE`].
    fn answers(&self) -> Vec<Vec<u8>> {
        let until = Instant::now() + SILENCE;
        let mut got = Vec::new();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.tap.answers.recv_timeout(left) {
                Ok(frame) => got.push(frame),
                Err(_) => break,
            }
        }
        got
    }

    /// Line noise: bytes from a fixed generator, delimiters among them.
    /// §8.1: nothing decodes, the node stays silent.
    fn garbage(&self) {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..600)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        for chunk in noise.chunks(40) {
            self.send(chunk);
            self.send(&[0]);
        }
        assert_eq!(self.answers(), Vec::<Vec<u8>>::new(), "answered garbage");
    }

    /// Every frame the gateway sent, one bit flipped in each: the CRC fails
    /// (§8.1), the node stays silent.
    fn bit_flipped(&self) {
        let sent: Vec<Vec<u8>> = self
            .tap
            .recorded()
            .into_iter()
            .filter(|(from, _)| *from == Side::Gateway)
            .map(|(_, f)| f)
            .take(40)
            .collect();
        assert!(!sent.is_empty());
        for (i, frame) in sent.iter().enumerate() {
            let mut flipped = frame.clone();
            let at = 1 + i % (frame.len() - 2);
            let bit = 1 << (i % 8);
            // Flipping a bit must not make a delimiter or the frame is cut
            // in two, which is another test.
            if flipped[at] ^ bit == 0 {
                continue;
            }
            flipped[at] ^= bit;
            self.send(&flipped);
        }
        assert_eq!(
            self.answers(),
            Vec::<Vec<u8>>::new(),
            "answered a corrupt frame"
        );
    }

    /// The deposit's signed unlock with one bit of its tag flipped and the
    /// CRC made right again: it decodes, and its tag does not verify. §7.7,
    /// §8.3: refused `Nack(Unauthenticated)`, unsigned; never executed.
    fn forged_unlock(&self) {
        let recorded = self.tap.recorded();
        let mut raw = cobs_decode(&recorded[signed_unlock(&recorded)].1);
        let crc_at = raw.len() - CRC_LEN;
        raw[crc_at - 1] ^= 0x01; // the tag's last byte
        let crc = CRC.checksum(&raw[..crc_at]);
        raw[crc_at..].copy_from_slice(&crc.to_le_bytes());
        self.send(&cobs_encode(&raw));
        let answers = self.answers();
        assert_eq!(
            answers.len(),
            1,
            "one answer to a forged unlock: {answers:?}"
        );
        let (report, tagged) = decode::<Report>(&answers[0]).expect("the answer decodes");
        assert_eq!(report, Report::Nack(NackReason::Unauthenticated));
        assert!(!tagged, "the refusal of a forged frame is unsigned");
    }

    /// The signed unlock of the deposit, recorded and sent again. §7.7: a
    /// stale signed frame is answered from the signed cache if it is the
    /// last signed exchange, else refused `Nack(Stale)`; never executed.
    fn replayed_unlock(&self) {
        let recorded = self.tap.recorded();
        let at = signed_unlock(&recorded);
        let first_answer = recorded[at + 1..]
            .iter()
            .find(|(from, _)| *from == Side::Node)
            .map(|(_, f)| f.clone())
            .expect("the node answered the unlock");
        self.send(&recorded[at].1);
        let answers = self.answers();
        assert_eq!(
            answers.len(),
            1,
            "one answer to a replayed unlock: {answers:?}"
        );
        let (report, _) = decode::<Report>(&answers[0]).expect("the answer decodes");
        let cached = answers[0] == first_answer;
        assert!(
            cached || matches!(report, Report::Nack(NackReason::Stale { .. })),
            "a replayed unlock is answered from the cache or refused as stale, not {report:?}"
        );
        println!(
            "replayed signed unlock: {}",
            if cached {
                "answered again from the signed cache"
            } else {
                "refused as stale"
            }
        );
    }
}

/// Where the first signed unlock the gateway sent is in `recorded`.
fn signed_unlock(recorded: &[(Side, Vec<u8>)]) -> usize {
    recorded
        .iter()
        .position(|(from, frame)| {
            *from == Side::Gateway
                && matches!(
                    decode::<Command>(frame),
                    Some((Command::Unlock { .. }, true))
                )
        })
        .expect("the gateway sent a signed unlock")
}

/// The raw frame inside one COBS-encoded frame (delimiter included).
fn cobs_decode(wire: &[u8]) -> Vec<u8> {
    let encoded = &wire[..wire.len() - 1];
    let mut raw = Vec::new();
    let mut at = 0;
    while at < encoded.len() {
        let code = usize::from(encoded[at]);
        raw.extend_from_slice(&encoded[at + 1..at + code]);
        at += code;
        if code < 0xFF && at < encoded.len() {
            raw.push(0);
        }
    }
    raw
}

/// `raw` COBS-encoded, with its delimiter.
fn cobs_encode(raw: &[u8]) -> Vec<u8> {
    let mut wire = vec![0];
    let mut code_at = 0;
    for &byte in raw {
        if byte != 0 {
            wire.push(byte);
        }
        if byte == 0 || wire.len() - code_at == 0xFF {
            wire[code_at] = (wire.len() - code_at) as u8;
            code_at = wire.len();
            wire.push(0);
        }
    }
    wire[code_at] = (wire.len() - code_at) as u8;
    wire.push(0);
    wire
}

/// One frame's body and whether it carries a trailer.
fn decode<B: locker_proto::frame::Body>(wire: &[u8]) -> Option<(B, bool)> {
    let mut decoder = Decoder::new();
    match decoder.feed::<B>(wire) {
        Feed::Frame { frame, .. } => Some((frame.body, decoder.last_authenticated().is_some())),
        _ => None,
    }
}

/// The node's `exchange LEN RECEIVE ANSWER_LEN SEND` lines, summed up.
fn report_exchanges(whose: &str, lines: &[String]) {
    let mut exchanges: Vec<[u64; 4]> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("exchange "))
        .filter_map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            v.try_into().ok()
        })
        .collect();
    assert!(!exchanges.is_empty(), "the node reported no exchange");
    println!(
        "{whose} {} exchanges, commands of {} to {} bytes on the wire:",
        exchanges.len(),
        exchanges.iter().map(|e| e[0]).min().unwrap(),
        exchanges.iter().map(|e| e[0]).max().unwrap()
    );
    let mut summary = |what: &str, field: usize| {
        exchanges.sort_by_key(|e| e[field]);
        let median = exchanges[exchanges.len() / 2][field];
        println!(
            "  {what}: min {} median {median} max {} instructions",
            exchanges[0][field],
            exchanges[exchanges.len() - 1][field],
        );
    };
    summary(
        "per received frame (last byte in to answer ready: decode, authenticate, execute)",
        1,
    );
    summary(
        "per sent frame (answer ready to last byte out: tag, CRC, COBS, UART)",
        3,
    );
}
