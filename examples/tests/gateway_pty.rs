//! The gateway against a simulated compartment node on the other end of a
//! pseudo-terminal: real frames through the real serial code path, a
//! deposit, a gateway crash and restart from its state file, and a pickup.

// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use locker_domain::bank::{AuditEvent, NotificationKind, Purpose, Stage};
use locker_drivers::sim::SimCompartment;
use locker_examples::gateway::{
    AuditLog, ConsoleCommand, Gateway, GatewayConfig, Notice, Reply, SerialLine, code_text,
};
use locker_proto::auth::BankKey;
use locker_proto::{CompartmentId, DoorState, NodeAddr, SizeClass};
use serialport::{SerialPort, TTYPort};

const NODE: NodeAddr = NodeAddr(1);
/// The bus key the gateway is configured with; the node holds its key
/// derived from it, as provisioning left it.
const BUS_KEY: [u8; 32] = [0x6b; 32];
const CHANNELS: usize = 4;
/// No wait in this test may take longer; CI never hangs.
const PATIENCE: Duration = Duration::from_secs(20);

/// The physical compartments, shared between the node's firmware loop and
/// the people of the test (courier, recipient).
type Cabinet = Arc<Mutex<Vec<SimCompartment>>>;

/// The compartment node's firmware (`node::Node` and simulated hardware) on
/// its own thread, at the other end of the pseudo-terminal.
mod support;
use support::SimulatedNode;
use support::program::{Program, gateway_command};

/// Runs the gateway until `done` says so, collecting notices; fails the test
/// after [`PATIENCE`].
fn run_until(
    gateway: &mut Gateway,
    notices: &mut Vec<Notice>,
    what: &str,
    mut done: impl FnMut(&Gateway) -> bool,
) {
    let started = std::time::Instant::now();
    loop {
        gateway.step().unwrap();
        notices.extend(std::iter::from_fn(|| gateway.poll_notice()));
        if done(gateway) {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting for {what}; books: {:#?}; notices: {notices:#?}",
            gateway.bank().views().collect::<Vec<_>>()
        );
    }
}

/// A person at compartment `id`: pulls the door until the latch lets go,
/// and holds it open until the bank knows (a person takes longer than the
/// node's 30 ms debounce; a door open for less never counts as opened).
fn pull_door_until_open(
    gateway: &mut Gateway,
    notices: &mut Vec<Notice>,
    cabinet: &Cabinet,
    id: CompartmentId,
) {
    let index = usize::from(id.0 - 1);
    run_until(gateway, notices, "the latch to release", |_| {
        cabinet.lock().unwrap()[index].open_door().is_ok()
    });
    run_until(gateway, notices, "the bank to see the door open", |g| {
        g.bank().view(id).unwrap().door == DoorState::Open
    });
}

fn stage_of(gateway: &Gateway, id: CompartmentId) -> Stage {
    gateway.bank().view(id).unwrap().stage
}

fn scratch_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("locker-gateway-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &std::path::Path) -> GatewayConfig {
    let mut config = GatewayConfig::new(
        vec![NODE],
        CHANNELS as u8,
        dir.join("bank.state"),
        dir.join("audit.jsonl"),
        test_keys(),
    );
    config.code_seed = Some([42; 32]);
    config.bus_key = Some(BankKey::from_bytes(BUS_KEY));
    // A pseudo-terminal has no baud-rate delay, but a loaded CI machine may
    // not schedule the node's thread for a while: wait longer than on a bus.
    config.link.response_timeout = locker_proto::Duration::from_millis(500);
    config
}

fn connected(
    port: TTYPort,
) -> impl FnOnce() -> Result<SerialLine, locker_examples::gateway::GatewayError> {
    move || {
        let mut port = port;
        port.set_timeout(Duration::from_millis(2)).unwrap();
        Ok(SerialLine::new(Box::new(port)))
    }
}

fn new_cabinet() -> Cabinet {
    Arc::new(Mutex::new(
        (0..CHANNELS)
            .map(|_| {
                let mut c = SimCompartment::new(locker_proto::Instant::ZERO);
                // Load cell scaled to grams: the node's threshold of 10 units is 10 g.
                c.set_load_cell(0, 1);
                c
            })
            .collect(),
    ))
}

/// The bank has compared its books with a full status report of the node.
fn reconciled(gateway: &Gateway) -> bool {
    gateway.status_reports() > 0
}

#[test]
fn a_parcel_deposited_before_a_gateway_crash_is_picked_up_after_the_restart() {
    let dir = scratch_dir();
    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    // A second handle on the gateway's end keeps the terminal open while the
    // gateway is down, as the adapter stays plugged in.
    let gateway_end_after_restart = gateway_end.try_clone_native().unwrap();
    let _node = SimulatedNode::start(node_end, cabinet.clone());
    let mut notices = Vec::new();

    // First start: an empty bank learns the node's compartments.
    let mut gateway = Gateway::start(config(&dir), connected(gateway_end)).unwrap();
    assert!(!gateway.was_restored());
    run_until(
        &mut gateway,
        &mut notices,
        "the first status scan",
        reconciled,
    );

    // The courier asks for a small compartment; the bank unlocks it.
    let Reply::Depositing(reservation) = gateway
        .execute(&ConsoleCommand::Deposit {
            size: SizeClass::Small,
            kind: locker_domain::bank::ParcelKind::Delivery,
        })
        .unwrap()
    else {
        panic!("deposit refused; notices: {notices:#?}")
    };
    let id = reservation.compartment;
    let index = usize::from(id.0 - 1);
    pull_door_until_open(&mut gateway, &mut notices, &cabinet, id);
    cabinet.lock().unwrap()[index].place_item(500).unwrap();
    run_until(
        &mut gateway,
        &mut notices,
        "the bank to see the parcel",
        |g| g.bank().view(id).unwrap().occupied == Some(true),
    );
    cabinet.lock().unwrap()[index].close_door();
    run_until(
        &mut gateway,
        &mut notices,
        "the deposit to be verified",
        |g| stage_of(g, id) == Stage::Stored,
    );
    assert!(
        notices.iter().any(|n| matches!(n, Notice::Notification(n)
            if n.compartment == id && matches!(n.kind, NotificationKind::ParcelReady))),
        "the recipient is told the parcel is ready"
    );
    // The code came with the reservation; the bank keeps only its hash.
    let code = code_text(&reservation.code.expect("the bank drew a pickup code"));
    assert_eq!(gateway.bank().stats().deposits, 1);

    // The gateway dies without a goodbye: no shutdown, just gone. And its
    // bus counters file is lost with it (a disk half restored).
    drop(gateway);
    std::fs::remove_file(dir.join("bank.state.counters")).unwrap();

    // Restart from the state file; the books still hold the parcel and the
    // fresh status scan agrees with them.
    let mut gateway = Gateway::start(config(&dir), connected(gateway_end_after_restart)).unwrap();
    assert!(gateway.was_restored());
    run_until(
        &mut gateway,
        &mut notices,
        "the status scan after the restart",
        reconciled,
    );
    let view = gateway.bank().view(id).unwrap();
    assert_eq!(view.stage, Stage::Stored);
    assert_eq!(view.parcel, Some(reservation.parcel));
    assert_eq!(view.occupied, Some(true));
    assert_eq!(view.out_of_service, None);

    // The recipient types the code, opens, takes the parcel, closes.
    assert_eq!(
        gateway.execute(&ConsoleCommand::Pickup { code }).unwrap(),
        Reply::Opening(id)
    );
    pull_door_until_open(&mut gateway, &mut notices, &cabinet, id);
    cabinet.lock().unwrap()[index].remove_items().unwrap();
    run_until(
        &mut gateway,
        &mut notices,
        "the bank to see the compartment empty",
        |g| g.bank().view(id).unwrap().occupied == Some(false),
    );
    cabinet.lock().unwrap()[index].close_door();
    run_until(
        &mut gateway,
        &mut notices,
        "the pickup to be verified",
        |g| stage_of(g, id) == Stage::Free,
    );

    // Nothing lost: the books balance, nothing is out of service, no alert.
    let stats = *gateway.bank().stats();
    assert_eq!((stats.deposits, stats.pickups), (1, 1));
    assert!(
        gateway
            .bank()
            .views()
            .all(|v| v.stage == Stage::Free && v.out_of_service.is_none())
    );
    assert!(
        !notices.iter().any(|n| matches!(n, Notice::Alert(_))),
        "{notices:#?}"
    );
    // The lost counters file is the one warning; the signed unlock of the
    // pickup went through all the same, without provisioning the node.
    let warnings: Vec<_> = notices
        .iter()
        .filter_map(|n| match n {
            Notice::Warning(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains("counters file"), "{warnings:#?}");
    assert_eq!(
        cabinet.lock().unwrap()[index].unlock_pulses(),
        2,
        "one unlock per door session"
    );
    let audit_path = gateway.audit_log().path().to_path_buf();
    let (line, link) = (gateway.line_stats(), gateway.link_stats());
    eprintln!(
        "after the restart: {} frames out, {} in, {} bad, {} retransmissions; state file replaced {} times, {} bytes",
        line.frames_out,
        line.frames_in,
        line.bad_frames,
        link.retransmissions,
        gateway.persist_count(),
        std::fs::metadata(dir.join("bank.state")).unwrap().len()
    );
    gateway.shutdown().unwrap();

    // The audit trail is one epoch, numbered 0, 1, 2, … with no gap and no
    // repeat across the crash, and tells the parcel's story in order.
    let lines = AuditLog::read_all(&audit_path).unwrap();
    assert!(lines.iter().all(|l| l.epoch == 0));
    let seqs: Vec<u64> = lines.iter().map(|l| l.record.seq).collect();
    assert_eq!(seqs, (0..lines.len() as u64).collect::<Vec<_>>());
    let story: Vec<AuditEvent> = lines
        .iter()
        .filter(|l| l.record.compartment == Some(id) || l.record.event == AuditEvent::Restored)
        .map(|l| l.record.event)
        .collect();
    let position = |e: AuditEvent| {
        story
            .iter()
            .position(|s| *s == e)
            .unwrap_or_else(|| panic!("{e:?} missing from {story:?}"))
    };
    let deposit = AuditEvent::DepositVerified;
    let restored = AuditEvent::Restored;
    let pickup = AuditEvent::PickupVerified {
        purpose: Purpose::Pickup,
    };
    assert!(position(AuditEvent::Reserved) < position(deposit));
    assert!(position(deposit) < position(restored));
    assert!(position(restored) < position(pickup));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_forced_door_at_a_gateway_without_a_camera_is_on_record_with_its_picture_failed() {
    let dir = scratch_dir();
    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let _node = SimulatedNode::start(node_end, cabinet.clone());
    let mut notices = Vec::new();
    let mut gateway = Gateway::start(config(&dir), connected(gateway_end)).unwrap();
    run_until(
        &mut gateway,
        &mut notices,
        "the first status scan",
        reconciled,
    );
    // Someone prises door 2 open.
    cabinet.lock().unwrap()[1].force_door();
    let id = CompartmentId(2);
    run_until(&mut gateway, &mut notices, "the forced door", |g| {
        g.bank().view(id).unwrap().door == DoorState::Open
    });
    let audit = dir.join("audit.jsonl");
    run_until(
        &mut gateway,
        &mut notices,
        "the missing picture's record",
        |_| {
            AuditLog::read_all(&audit).is_ok_and(|lines| {
                lines
                    .iter()
                    .any(|l| l.record.event == AuditEvent::SnapshotFailed)
            })
        },
    );
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::SnapshotRequested(r) if r.compartment == id)),
        "the console says so: {notices:#?}"
    );
    gateway.shutdown().unwrap();
    // The record names the picture, and the next one says it was never
    // taken: this gateway has no camera.
    let lines = AuditLog::read_all(&audit).unwrap();
    let forced = lines
        .iter()
        .find(|l| l.record.event == AuditEvent::DoorForced)
        .expect("the forced door is on record");
    let reference = forced.record.snapshot.expect("naming its snapshot");
    let failed = lines
        .iter()
        .find(|l| l.record.event == AuditEvent::SnapshotFailed)
        .expect("the missing picture is on record");
    assert_eq!(failed.record.snapshot, Some(reference));
    assert_eq!(failed.record.compartment, Some(id));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_node_that_stops_answering_has_its_power_cycled_by_the_operators_program_a_minute_later() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir();
    // The operator's program: here it only writes down which node it was
    // asked to power-cycle.
    let cycled = dir.join("cycled");
    let program = dir.join("cycle-node");
    std::fs::write(
        &program,
        format!("#!/bin/sh\necho \"$1\" >> '{}'\n", cycled.display()),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = config(&dir);
    config.node_power_command = Some(program);

    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let node = SimulatedNode::start(node_end, cabinet);
    let mut notices = Vec::new();
    let mut gateway = Gateway::start(config, connected(gateway_end)).unwrap();
    run_until(
        &mut gateway,
        &mut notices,
        "the first status scan",
        reconciled,
    );
    // The node's firmware hangs: it answers nothing from now on.
    node.hang();
    let hung = std::time::Instant::now();
    let after = locker_domain::gateway::POWER_CYCLE_AFTER.as_secs();
    let patience = Duration::from_secs(after) + PATIENCE;
    while std::fs::read_to_string(&cycled).is_err() {
        gateway.step().unwrap();
        notices.extend(std::iter::from_fn(|| gateway.poll_notice()));
        assert!(
            hung.elapsed() < patience,
            "the program never ran; notices: {notices:#?}"
        );
    }
    let waited = hung.elapsed();
    assert!(
        waited >= Duration::from_secs(after),
        "not before its minute: {waited:?}"
    );
    // The program's run ends; the gateway says what it did, and waits for
    // the node (the next power cycle is ten minutes off).
    for _ in 0..200 {
        gateway.step().unwrap();
        notices.extend(std::iter::from_fn(|| gateway.poll_notice()));
    }
    assert_eq!(std::fs::read_to_string(&cycled).unwrap(), "1\n");
    let said = notices.iter().any(|n| {
        matches!(n, Notice::Warning(w) if w.contains("cycling its power") && w.contains("cycle-node 1"))
    });
    assert!(said, "{notices:#?}");
    assert!(
        !notices
            .iter()
            .any(|n| matches!(n, Notice::Warning(w) if w.contains("power-cycle program failed"))),
        "{notices:#?}"
    );
    gateway.shutdown().unwrap();
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A person at compartment `index`: pulls until the latch lets go, then
/// takes their time, as people do.
fn open_by_hand(cabinet: &Cabinet, index: usize) {
    let started = std::time::Instant::now();
    while cabinet.lock().unwrap()[index].open_door().is_err() {
        assert!(started.elapsed() < PATIENCE, "the latch never released");
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(400));
}

#[test]
fn the_program_takes_a_deposit_and_a_pickup_typed_on_its_standard_input() {
    let (program, _code) = deposit_and_pickup(|terminal, dir, key_file| {
        let mut command = gateway_command(terminal, dir);
        command.arg("--bus-key").arg(key_file);
        command
    });
    assert!(
        !program
            .seen
            .iter()
            .any(|l| l.contains("ALERT") || l.contains("WARN") || l.contains("ERROR")),
        "{:#?}",
        program.seen
    );
}

/// The gateway started from a config file alone, logging everything it
/// can (`trace`, as JSON lines): the code the recipient types is on the
/// console's answer to the deposit, and in no log line.
#[test]
fn the_gateways_log_never_holds_a_pickup_code() {
    let (program, code) = deposit_and_pickup(|terminal, dir, key_file| {
        let config = dir.join("gateway.toml");
        let path = |name: &str| dir.join(name).display().to_string();
        std::fs::write(
            &config,
            format!(
                "# locker-gateway's config, as an operator writes it\n\
                 port = {terminal:?}\n\
                 nodes = [1]\n\
                 channels = 4\n\
                 state = {:?}\n\
                 audit = {:?}\n\
                 bank-secret = {:?}\n\
                 bus-key = {:?}\n\
                 exit-after = 60\n\
                 log-level = \"trace\"\n\
                 log-format = \"json\"\n",
                path("bank.state"),
                path("audit.jsonl"),
                path("bank.secret"),
                key_file.display().to_string(),
            ),
        )
        .unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_locker-gateway"));
        command.arg("--config").arg(&config);
        command
    });
    assert!(!program.log.is_empty());
    for line in &program.log {
        let record: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            record["timestamp"].is_string() && record["level"].is_string(),
            "{line}"
        );
        assert!(
            !line.contains(&code),
            "the pickup code {code} is in the log: {line}"
        );
    }
    // Every level was on: the commands and answers, debug-printed, are there.
    assert!(
        program.log.iter().any(|l| l.contains("\"DEBUG\"")),
        "{:#?}",
        program.log
    );
}

/// A courier's deposit and a recipient's pickup typed on the console of
/// the gateway `command` starts (given the pseudo-terminal, the scratch
/// directory and the bus key file), against a simulated node; the program,
/// ended, and the pickup code it gave.
fn deposit_and_pickup(
    command: impl FnOnce(&str, &std::path::Path, &std::path::Path) -> std::process::Command,
) -> (Program, String) {
    let dir = scratch_dir();
    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let terminal = gateway_end.name().expect("the terminal has a path");
    let _node = SimulatedNode::start(node_end, cabinet.clone());
    let key_file = dir.join("bus.key");
    let hex = locker_examples::secret::to_hex(&BUS_KEY);
    std::fs::write(&key_file, hex).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut program = Program::spawn(command(&terminal, &dir, &key_file));
    program.expect("empty bank");
    program.expect("node 1 answers");

    // The code comes with the reservation; the bank keeps only its hash.
    let (number, code) = program.deposit_small();
    let index = usize::from(number - 1);
    open_by_hand(&cabinet, index);
    cabinet.lock().unwrap()[index].place_item(500).unwrap();
    thread::sleep(Duration::from_millis(400));
    cabinet.lock().unwrap()[index].close_door();
    program.expect("deposit verified");

    program.say(&format!("pickup {code}"));
    program.expect("code accepted");
    open_by_hand(&cabinet, index);
    cabinet.lock().unwrap()[index].remove_items().unwrap();
    thread::sleep(Duration::from_millis(400));
    cabinet.lock().unwrap()[index].close_door();

    // The books show every compartment free again, then the program stops.
    program.await_free(number);
    program.quit();
    let events: Vec<AuditEvent> = AuditLog::read_all(&dir.join("audit.jsonl"))
        .unwrap()
        .iter()
        .map(|l| l.record.event)
        .collect();
    assert!(events.contains(&AuditEvent::DepositVerified));
    assert!(events.contains(&AuditEvent::PickupVerified {
        purpose: Purpose::Pickup
    }));
    let _ = std::fs::remove_dir_all(&dir);
    (program, code)
}

/// This test's own bank secret (no program carries one in its code).
fn test_keys() -> locker_domain::bank::BankKeys {
    locker_domain::bank::BankKeys::derive(locker_domain::bank::BankId(1), &[0x3c; 32])
}
