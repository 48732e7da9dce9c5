//! The gateway's files: a state file it cannot restore stops it and is left
//! alone; the audit log stays gap-free and repeat-free across restarts, its
//! hash chain shows a line deleted or altered, and a rolled-back or deleted
//! state file is refused (no file changed) until the operator confirms a new
//! incarnation, which loses no record.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::Command;

use locker_domain::bank::{
    Actor, AuditEvent, AuditLink, AuditRecord, ChainBreak, Incarnation, Purpose, RollbackError,
    ServiceReason,
};
use locker_examples::gateway::{
    Appended, AuditFault, AuditLog, ConsoleCommand, Gateway, GatewayConfig, GatewayError,
    MAX_COMPARTMENTS, MAX_NODES, Notice, StateFile, verify_audit,
};
use locker_proto::{Instant, NodeAddr};

/// Record `seq` of a bank's trail: a door opening at record 3, closings
/// otherwise, each linked to the one before as the bank links them.
fn record(seq: u64) -> AuditRecord {
    let mut link = AuditLink::GENESIS;
    let mut record = None;
    for n in 0..=seq {
        let mut r = AuditRecord {
            seq: n,
            at: Instant::from_millis(n * 10),
            wall: None,
            actor: Actor::System,
            compartment: Some(locker_proto::CompartmentId(4)),
            parcel: None,
            event: if n == 3 {
                AuditEvent::DoorOpened
            } else {
                AuditEvent::DoorClosed
            },
            snapshot: None,
            link: AuditLink::GENESIS,
        };
        r.link = link.then(&r);
        link = r.link;
        record = Some(r);
    }
    record.unwrap()
}

#[test]
fn a_corrupt_state_file_stops_the_gateway_before_the_port_is_opened_and_is_kept() {
    let dir = support::scratch_dir("corrupt");
    let state = dir.join("bank.state");
    let damaged = b"LKBK\x01 half a snapshot, then the power went".to_vec();
    std::fs::write(&state, &damaged).unwrap();
    let config = GatewayConfig::new(
        vec![NodeAddr(1)],
        4,
        &state,
        dir.join("audit.jsonl"),
        test_keys(),
    );

    let mut port_opened = false;
    let refused = Gateway::start(config, || {
        port_opened = true;
        Err(GatewayError::Nodes("unreachable".into()))
    });

    let Err(error) = refused else {
        panic!("the gateway started on a corrupt state file")
    };
    assert!(
        matches!(error, GatewayError::CorruptState { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("refusing to start"), "{error}");
    assert!(!port_opened);
    assert_eq!(std::fs::read(&state).unwrap(), damaged);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_largest_bank_the_gateway_accepts_starts_and_restarts_on_a_1_mib_stack() {
    // The bank's books live on the heap, never on the stack: a thread with
    // 1 MiB of stack (half a default test thread's) starts the biggest bank,
    // saves it, and starts again from its state file.
    let dir = support::scratch_dir("largest");
    let state = dir.join("bank.state");
    let audit = dir.join("audit.jsonl");
    let nodes: Vec<NodeAddr> = (1..=MAX_NODES as u8).map(NodeAddr).collect();
    let channels = (MAX_COMPARTMENTS / MAX_NODES) as u8;
    let run = move || {
        for start in 0..2 {
            let (_node_end, gateway_end) = serialport::TTYPort::pair().unwrap();
            let gateway = Gateway::start(
                GatewayConfig {
                    code_seed: Some([1; 32]),
                    ..GatewayConfig::new(nodes.clone(), channels, &state, &audit, test_keys())
                },
                || {
                    Ok(locker_examples::gateway::SerialLine::new(Box::new(
                        gateway_end,
                    )))
                },
            )
            .unwrap();
            assert_eq!(gateway.bank().layout().len(), MAX_COMPARTMENTS);
            gateway.shutdown().unwrap();
            assert!(
                std::fs::read(&state).is_ok(),
                "start {start} saved its books"
            );
        }
    };
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_state_file_from_another_layout_is_refused_too() {
    let dir = support::scratch_dir("layout");
    let state = dir.join("bank.state");
    let audit = dir.join("audit.jsonl");
    // A bank of one node with four compartments leaves its state file…
    let (_node_end, gateway_end) = serialport::TTYPort::pair().unwrap();
    let gateway = Gateway::start(
        GatewayConfig {
            code_seed: Some([1; 32]),
            ..GatewayConfig::new(vec![NodeAddr(1)], 4, &state, &audit, test_keys())
        },
        || {
            Ok(locker_examples::gateway::SerialLine::new(Box::new(
                gateway_end,
            )))
        },
    )
    .unwrap();
    gateway.shutdown().unwrap();
    let written = std::fs::read(&state).unwrap();

    // …which a gateway started with eight compartments per node must not take.
    let refused = Gateway::start(
        GatewayConfig::new(vec![NodeAddr(1)], 8, &state, &audit, test_keys()),
        || panic!("the port must not be opened"),
    );
    assert!(matches!(refused, Err(GatewayError::CorruptState { .. })));
    assert_eq!(std::fs::read(&state).unwrap(), written);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn records_handed_out_again_after_a_restart_are_written_once() {
    let dir = support::scratch_dir("audit");
    let path = dir.join("audit.jsonl");
    let mut log = AuditLog::open(&path, false).unwrap();
    for seq in 0..4 {
        assert_eq!(log.append(&record(seq), 1).unwrap(), Appended::Written);
    }
    drop(log);

    // The restored bank hands out records 2 and 3 again (polled after the
    // last snapshot, before the crash), then carries on with 4.
    let mut log = AuditLog::open(&path, true).unwrap();
    assert_eq!(log.last_seq(), Some(3));
    assert_eq!(log.append(&record(2), 2).unwrap(), Appended::Duplicate);
    assert_eq!(log.append(&record(3), 2).unwrap(), Appended::Duplicate);
    assert_eq!(log.append(&record(4), 2).unwrap(), Appended::Written);
    assert_eq!(
        log.append(&record(6), 2).unwrap(),
        Appended::AfterGap { expected: 5 }
    );
    log.sync().unwrap();

    let seqs: Vec<u64> = AuditLog::read_all(&path)
        .unwrap()
        .iter()
        .map(|l| l.record.seq)
        .collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4, 6]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_line_cut_short_by_a_power_loss_is_dropped_and_written_again() {
    let dir = support::scratch_dir("torn");
    let path = dir.join("audit.jsonl");
    let mut log = AuditLog::open(&path, false).unwrap();
    log.append(&record(0), 1).unwrap();
    log.append(&record(1), 1).unwrap();
    drop(log);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.truncate(text.len() - 20); // the last line lost its end
    std::fs::write(&path, &text).unwrap();

    let mut log = AuditLog::open(&path, true).unwrap();
    assert_eq!(log.last_seq(), Some(0));
    assert_eq!(log.append(&record(1), 2).unwrap(), Appended::Written);
    let seqs: Vec<u64> = AuditLog::read_all(&path)
        .unwrap()
        .iter()
        .map(|l| l.record.seq)
        .collect();
    assert_eq!(seqs, vec![0, 1]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bank_started_afresh_writes_a_new_audit_epoch() {
    let dir = support::scratch_dir("epoch");
    let path = dir.join("audit.jsonl");
    let mut log = AuditLog::open(&path, false).unwrap();
    log.append(&record(0), 1).unwrap();
    log.append(&record(1), 1).unwrap();
    drop(log);

    // No state file: the new bank numbers from 0 again, in epoch 1.
    let mut log = AuditLog::open(&path, false).unwrap();
    assert_eq!((log.epoch(), log.last_seq()), (1, None));
    assert_eq!(log.append(&record(0), 2).unwrap(), Appended::Written);
    let lines = AuditLog::read_all(&path).unwrap();
    let stamps: Vec<(u32, u64)> = lines.iter().map(|l| (l.epoch, l.record.seq)).collect();
    assert_eq!(stamps, vec![(0, 0), (0, 1), (1, 0)]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Lines as the gateway wrote them before actors, door purposes and service
/// reasons were shared with the uplink (Rust names then, snake_case now).
const LINES_OF_THE_PREVIOUS_VERSION: &str = r#"{"epoch":0,"logged_unix_ms":1767225600000,"seq":0,"at":0,"wall":null,"actor":"Courier","compartment":3,"parcel":7,"event":{"UnlockCommanded":{"purpose":"Deposit","attempt":0}},"snapshot":null}
{"epoch":0,"logged_unix_ms":1767225600001,"seq":1,"at":1000,"wall":null,"actor":"Recipient","compartment":3,"parcel":7,"event":{"PickupVerified":{"purpose":"Pickup"}},"snapshot":null}
{"epoch":0,"logged_unix_ms":1767225600002,"seq":2,"at":2000,"wall":null,"actor":"Staff","compartment":3,"parcel":7,"event":{"OutOfService":{"reason":"LockFault"}},"snapshot":null}
"#;

#[test]
fn an_audit_log_written_by_the_previous_version_still_opens_and_reads() {
    let dir = support::scratch_dir("previous");
    let path = dir.join("audit.jsonl");
    std::fs::write(&path, LINES_OF_THE_PREVIOUS_VERSION).unwrap();

    let mut log = AuditLog::open(&path, true).unwrap();
    assert_eq!((log.epoch(), log.last_seq()), (0, Some(2)));
    assert_eq!(log.append(&record(3), 4).unwrap(), Appended::Written);
    let lines = AuditLog::read_all(&path).unwrap();
    let read: Vec<(Actor, AuditEvent)> = lines
        .iter()
        .map(|l| (l.record.actor, l.record.event))
        .collect();
    assert_eq!(
        read,
        vec![
            (
                Actor::Courier,
                AuditEvent::UnlockCommanded {
                    purpose: Purpose::Deposit,
                    attempt: 0
                }
            ),
            (
                Actor::Recipient,
                AuditEvent::PickupVerified {
                    purpose: Purpose::Pickup
                }
            ),
            (
                Actor::Staff,
                AuditEvent::OutOfService {
                    reason: ServiceReason::LockFault
                }
            ),
            (Actor::System, AuditEvent::DoorOpened),
        ]
    );
    // New lines use the names the uplink uses, and carry their link.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.lines().last().unwrap().contains(r#""actor":"system""#));
    assert!(text.lines().last().unwrap().contains(r#""link":""#));
    // The old lines predate the chain; it starts at the first new one.
    let verdict = verify_audit(&path).unwrap();
    assert!(verdict.is_intact(), "{verdict}");
    assert_eq!((verdict.unlinked, verdict.linked), (3, 1));
    assert_eq!(verdict.anchors, vec![(4, 3)]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_garbled_audit_line_stops_the_gateway() {
    let dir = support::scratch_dir("garbled");
    let path = dir.join("audit.jsonl");
    std::fs::write(&path, "{\"not\": \"an audit record\"}\n").unwrap();
    let opened = AuditLog::open(&path, true);
    assert!(matches!(
        opened,
        Err(GatewayError::CorruptAudit { line: 1, .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_state_file_is_replaced_whole_and_leaves_no_temporary_behind() {
    let dir = support::scratch_dir("state");
    let file = StateFile::new(dir.join("bank.state"));
    assert_eq!(file.load().unwrap(), None);
    file.replace(b"first").unwrap();
    file.replace(b"second, longer").unwrap();
    assert_eq!(
        file.load().unwrap().as_deref(),
        Some(&b"second, longer"[..])
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["bank.state".to_string()]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_program_explains_itself_and_refuses_a_corrupt_state_file() {
    let program = env!("CARGO_BIN_EXE_locker-gateway");
    let help = Command::new(program).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for must in [
        "--port", "--state", "--audit", "--nodes", "deposit", "pickup",
    ] {
        assert!(text.contains(must), "--help does not mention {must}");
    }

    let dir = support::scratch_dir("cli");
    let state = dir.join("bank.state");
    std::fs::write(&state, b"not a snapshot").unwrap();
    // Without a bank secret it does not start, and says which option.
    let run = Command::new(program)
        .args(["--port", "/dev/null/no-such-port", "--nodes", "1"])
        .arg("--state")
        .arg(&state)
        .arg("--audit")
        .arg(dir.join("audit.jsonl"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8(run.stderr).unwrap();
    assert!(err.contains("--bank-secret"), "{err}");

    let run = Command::new(program)
        .args(["--port", "/dev/null/no-such-port", "--nodes", "1"])
        .arg("--state")
        .arg(&state)
        .arg("--audit")
        .arg(dir.join("audit.jsonl"))
        .arg("--bank-secret")
        .arg(dir.join("bank.secret"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8(run.stderr).unwrap();
    assert!(err.contains("refusing to start"), "{err}");
    assert_eq!(std::fs::read(&state).unwrap(), b"not a snapshot");
    let _ = std::fs::remove_dir_all(&dir);
}

/// This test's own bank secret (no program carries one in its code).
fn test_keys() -> locker_domain::bank::BankKeys {
    locker_domain::bank::BankKeys::derive(locker_domain::bank::BankId(1), &[0x3c; 32])
}

/// A log of records 0 to 5 (record 3 a door opening) at `path`.
fn write_trail(path: &std::path::Path) {
    let mut log = AuditLog::open(path, false).unwrap();
    for seq in 0..6 {
        assert_eq!(log.append(&record(seq), 1).unwrap(), Appended::Written);
    }
    log.sync().unwrap();
}

/// Runs `locker-gateway verify-audit path`: (exit code, standard output).
fn verify_with_the_program(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_locker-gateway"))
        .arg("verify-audit")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn a_door_opening_deleted_from_the_audit_file_is_caught_by_verify_audit() {
    let dir = support::scratch_dir("deleted");
    let path = dir.join("audit.jsonl");
    write_trail(&path);
    let (code, out) = verify_with_the_program(&path);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK: 6 records"), "{out}");

    // Someone removes the door opening (line 4, record 3).
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("\"DoorOpened\""))
        .collect();
    assert_eq!(kept.len(), 5);
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();

    let verdict = verify_audit(&path).unwrap();
    let broken = verdict.broken.clone().unwrap();
    assert_eq!((broken.line, broken.seq), (4, Some(4)));
    assert_eq!(
        broken.fault,
        AuditFault::Chain(ChainBreak::Missing {
            expected: 3,
            found: 4
        })
    );
    let (code, out) = verify_with_the_program(&path);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at line 4 (record 4)"), "{out}");
    assert!(out.contains("record 3 is missing"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_door_opening_altered_in_the_audit_file_is_caught_by_verify_audit() {
    let dir = support::scratch_dir("altered");
    let path = dir.join("audit.jsonl");
    write_trail(&path);

    // Someone turns the door opening into a closing, link left as it was.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"DoorOpened\"", "\"DoorClosed\"")).unwrap();
    let verdict = verify_audit(&path).unwrap();
    let broken = verdict.broken.unwrap();
    assert_eq!((broken.line, broken.seq), (4, Some(3)));
    assert_eq!(
        broken.fault,
        AuditFault::Chain(ChainBreak::Altered { seq: 3 })
    );

    // Or writes the link the altered record would have: the next record
    // no longer follows it.
    write_trail(&dir.join("again.jsonl"));
    let path = dir.join("again.jsonl");
    let mut lines = AuditLog::read_all(&path).unwrap();
    lines[3].record.event = AuditEvent::DoorClosed;
    lines[3].record.link = lines[2].record.link.then(&lines[3].record);
    let text: String = lines
        .iter()
        .map(|l| serde_json::to_string(l).unwrap() + "\n")
        .collect();
    std::fs::write(&path, text).unwrap();
    let broken = verify_audit(&path).unwrap().broken.unwrap();
    assert_eq!((broken.line, broken.seq), (5, Some(4)));
    assert_eq!(
        broken.fault,
        AuditFault::Chain(ChainBreak::Altered { seq: 4 })
    );

    // And a line copied to the end is a repeat the log never writes.
    write_trail(&dir.join("copied.jsonl"));
    let path = dir.join("copied.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let fourth = text.lines().nth(3).unwrap().to_string();
    text.push_str(&fourth);
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    let broken = verify_audit(&path).unwrap().broken.unwrap();
    assert_eq!(
        broken.fault,
        AuditFault::Repeated {
            seq: 3,
            first_line: 4
        }
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_forged_line_with_a_huge_sequence_number_does_not_silence_later_records() {
    let dir = support::scratch_dir("forged");
    let path = dir.join("audit.jsonl");
    write_trail(&path);
    // The attacker appends a line numbered far ahead, hoping the log skips
    // every real record below it.
    let mut forged = AuditLog::read_all(&path).unwrap()[5].clone();
    forged.record.seq = 1 << 60;
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&(serde_json::to_string(&forged).unwrap() + "\n"));
    std::fs::write(&path, text).unwrap();

    let mut log = AuditLog::open(&path, true).unwrap();
    assert_eq!(
        log.append(&record(6), 2).unwrap(),
        Appended::BelowLast { last: 1 << 60 }
    );
    assert_eq!(log.append(&record(7), 2).unwrap(), Appended::Written);
    log.sync().unwrap();
    let seqs: Vec<u64> = AuditLog::read_all(&path)
        .unwrap()
        .iter()
        .map(|l| l.record.seq)
        .collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4, 5, 1 << 60, 6, 7]);
    // And the forged line is where verify-audit stops.
    let broken = verify_audit(&path).unwrap().broken.unwrap();
    assert_eq!(broken.line, 7);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts a gateway on `state` and `audit` with no node on the line.
fn gateway_on(state: &std::path::Path, audit: &std::path::Path) -> Gateway {
    start_gateway(state, audit, false).unwrap()
}

/// A gateway of one node with four compartments on a pseudo-terminal
/// nobody answers; `new_incarnation` as the operator's option.
fn start_gateway(
    state: &std::path::Path,
    audit: &std::path::Path,
    new_incarnation: bool,
) -> Result<Gateway, GatewayError> {
    let (node_end, gateway_end) = serialport::TTYPort::pair().unwrap();
    std::mem::forget(node_end);
    Gateway::start(
        GatewayConfig {
            code_seed: Some([1; 32]),
            new_incarnation,
            ..GatewayConfig::new(vec![NodeAddr(1)], 4, state, audit, test_keys())
        },
        || {
            Ok(locker_examples::gateway::SerialLine::new(Box::new(
                gateway_end,
            )))
        },
    )
}

fn deposit(gateway: &mut Gateway) {
    let _ = gateway
        .execute(&ConsoleCommand::Deposit {
            size: locker_proto::SizeClass::Small,
            kind: locker_domain::bank::ParcelKind::Delivery,
        })
        .unwrap();
}

fn warnings(gateway: &mut Gateway) -> Vec<String> {
    std::iter::from_fn(|| gateway.poll_notice())
        .filter_map(|n| match n {
            Notice::Warning(w) => Some(w),
            _ => None,
        })
        .collect()
}

/// Every file in `dir`, by name, with its bytes.
fn files_in(dir: &std::path::Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_rolled_back_state_file_is_refused_until_the_operator_confirms_a_new_incarnation() {
    let dir = support::scratch_dir("rollback");
    let state = dir.join("bank.state");
    let audit = dir.join("audit.jsonl");
    // Monday: a deposit. Someone keeps a copy of the state file.
    let mut gateway = gateway_on(&state, &audit);
    deposit(&mut gateway);
    let monday_life = gateway.bank().incarnation();
    gateway.shutdown().unwrap();
    let monday = std::fs::read(&state).unwrap();
    // Tuesday: two more deposits, the doors opened for them on record.
    let mut gateway = gateway_on(&state, &audit);
    deposit(&mut gateway);
    deposit(&mut gateway);
    gateway.shutdown().unwrap();
    let tuesday = AuditLog::read_all(&audit).unwrap();
    let last_tuesday = tuesday.last().unwrap().record.seq;

    // Wednesday: Monday's state file is put back, as if Tuesday never was.
    std::fs::write(&state, &monday).unwrap();
    let before = files_in(&dir);
    let refused = start_gateway(&state, &audit, false);
    let Err(GatewayError::RolledBack { source, .. }) = &refused else {
        panic!("a rolled-back state file was taken: {:?}", refused.err());
    };
    assert!(matches!(
        source,
        RollbackError::BehindAuditLog { log_last, .. } if *log_last == last_tuesday
    ));
    let said = refused.err().unwrap().to_string();
    assert!(said.contains("--new-incarnation"), "{said}");
    assert_eq!(files_in(&dir), before, "no file was changed");

    // The operator meant it: a new incarnation.
    let mut gateway = start_gateway(&state, &audit, true).unwrap();
    let life = gateway.bank().incarnation();
    assert_ne!(life, monday_life);
    deposit(&mut gateway);
    let told = warnings(&mut gateway);
    let bank_link = gateway.bank().last_audit_link();
    gateway.shutdown().unwrap();

    let wednesday = AuditLog::read_all(&audit).unwrap();
    assert_eq!(
        wednesday[..tuesday.len()],
        tuesday[..],
        "Tuesday's lines stay"
    );
    let added = &wednesday[tuesday.len()..];
    // Only the restore's own record is made from Monday's numbers: here it
    // is the very record Tuesday's restore made (a duplicate, skipped); had
    // it differed it would be written as re-issued and reported. The new
    // life goes on after Tuesday.
    let reissued: Vec<_> = added.iter().filter(|l| l.reissued).collect();
    assert!(
        reissued
            .iter()
            .all(|l| l.record.event == AuditEvent::Restored),
        "{added:#?}"
    );
    assert_eq!(
        told.iter()
            .filter(|w| w.starts_with("SECURITY: audit record"))
            .count(),
        reissued.len(),
        "{told:?}"
    );
    let begun = added.iter().find(|l| !l.reissued).unwrap();
    assert_eq!(begun.record.seq, last_tuesday + 1);
    assert_eq!(
        begun.record.event,
        AuditEvent::IncarnationStarted {
            previous: monday_life,
            incarnation: life
        }
    );
    assert!(
        begun.record.follows(&tuesday.last().unwrap().record.link),
        "the new life chains on from Tuesday's last record"
    );
    assert_eq!(added.last().unwrap().record.link, bank_link);
    let verdict = verify_audit(&audit).unwrap();
    assert!(verdict.is_intact(), "{verdict}");
    assert_eq!(verdict.reissued.len(), reissued.len());
    let (code, out) = verify_with_the_program(&audit);
    assert_eq!(code, if reissued.is_empty() { 0 } else { 3 }, "{out}");
    // And the next start is an ordinary restart.
    let gateway = start_gateway(&state, &audit, false).unwrap();
    assert_eq!(gateway.bank().incarnation(), life);
    gateway.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_program_refuses_a_restored_backup_and_names_the_option_that_confirms_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = support::scratch_dir("cli-rollback");
    let state = dir.join("bank.state");
    let audit = dir.join("audit.jsonl");
    let secret = dir.join("bank.secret");
    // The test's secret, as the program reads it (64 hex digits, mode 0600).
    std::fs::write(&secret, "3c".repeat(32)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut gateway = gateway_on(&state, &audit);
    deposit(&mut gateway);
    gateway.shutdown().unwrap();
    let backup = std::fs::read(&state).unwrap();
    let mut gateway = gateway_on(&state, &audit);
    deposit(&mut gateway);
    gateway.shutdown().unwrap();
    std::fs::write(&state, &backup).unwrap();
    let before = files_in(&dir);

    let run = Command::new(env!("CARGO_BIN_EXE_locker-gateway"))
        .args([
            "--port",
            "/dev/null/no-such-port",
            "--nodes",
            "1",
            "--channels",
            "4",
        ])
        .arg("--state")
        .arg(&state)
        .arg("--audit")
        .arg(&audit)
        .arg("--bank-secret")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8(run.stderr).unwrap();
    assert!(err.contains("older than the audit log"), "{err}");
    assert!(err.contains("--new-incarnation"), "{err}");
    assert_eq!(files_in(&dir), before, "no file was changed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_deleted_state_file_is_refused_when_the_audit_log_shows_the_bank_ran() {
    let dir = support::scratch_dir("deleted-state");
    let state = dir.join("bank.state");
    let audit = dir.join("audit.jsonl");
    let mut gateway = gateway_on(&state, &audit);
    deposit(&mut gateway);
    let first_life = gateway.bank().incarnation();
    gateway.shutdown().unwrap();
    let last = AuditLog::read_all(&audit)
        .unwrap()
        .last()
        .unwrap()
        .record
        .seq;

    std::fs::remove_file(&state).unwrap();
    let before = files_in(&dir);
    let refused = start_gateway(&state, &audit, false);
    assert!(
        matches!(
            &refused,
            Err(GatewayError::RolledBack {
                source: RollbackError::SnapshotMissing { audit_log_last: Some(l), .. },
                ..
            }) if *l == last
        ),
        "{:?}",
        refused.err()
    );
    assert_eq!(files_in(&dir), before, "no file was changed");

    // Confirmed: empty books in a new life, numbered on after the log.
    let gateway = start_gateway(&state, &audit, true).unwrap();
    assert_ne!(gateway.bank().incarnation(), first_life);
    assert!(gateway.bank().next_audit_seq() > last + 1);
    gateway.shutdown().unwrap();
    let lines = AuditLog::read_all(&audit).unwrap();
    assert!(lines.iter().all(|l| !l.reissued));
    assert!(verify_audit(&audit).unwrap().is_intact());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_first_start_begins_a_life_of_its_own() {
    // Two gateways started afresh, with the same secret: offline tokens and
    // remote opens made for one are void at the other.
    let mut lives = Vec::new();
    for name in ["first-a", "first-b"] {
        let dir = support::scratch_dir(name);
        let gateway = gateway_on(&dir.join("bank.state"), &dir.join("audit.jsonl"));
        lives.push(gateway.bank().incarnation());
        gateway.shutdown().unwrap();
        let lines = AuditLog::read_all(&dir.join("audit.jsonl")).unwrap();
        assert!(
            matches!(lines[0].record.event, AuditEvent::IncarnationStarted { previous, .. }
                if previous == Incarnation::UNSET)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_ne!(lives[0], lives[1]);
    assert!(!lives.contains(&Incarnation::UNSET));
}

#[test]
fn the_audit_chain_runs_on_across_gateway_restarts() {
    let dir = support::scratch_dir("restarts");
    let state = dir.join("bank.state");
    let audit = dir.join("audit.jsonl");
    for _ in 0..3 {
        let mut gateway = gateway_on(&state, &audit);
        deposit(&mut gateway);
        gateway.shutdown().unwrap();
    }
    let verdict = verify_audit(&audit).unwrap();
    assert!(verdict.is_intact(), "{verdict}");
    assert!(verdict.anchors.is_empty() && verdict.reissued.is_empty());
    assert_eq!(verdict.linked, AuditLog::read_all(&audit).unwrap().len());
    let _ = std::fs::remove_dir_all(&dir);
}
