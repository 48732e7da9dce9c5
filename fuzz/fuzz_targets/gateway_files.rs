//! The Linux gateway's files (`locker_examples::gateway`,
//! `locker_examples::uplink`), each written with arbitrary bytes into a
//! scratch directory and read back the way the gateway reads it at start:
//! the counters file (`CounterFile`), the audit log and its tail
//! (`AuditLog::open`, `AuditLog::read_all`), the backend's policy
//! (`UplinkSettings::stored_policy`, `policy.json`), the uplink state
//! (`uplink.state`, JSON as `UplinkState`) and a message file in the disk
//! queue (`DiskQueue::open`).
//!
//! Invariants: no panic, a typed error or a value, never anything else.
//! Counters: opened iff every non-blank line is `node up_to` (node below
//! 256), with the last value per node; what is stored reads back. Audit
//! log: opened, its torn last line (if any) is dropped and every line left
//! reads back; the epoch and last sequence number are the last line's (a
//! new epoch after it when not continuing); a record is skipped as a
//! duplicate only when the log's last epoch already holds its sequence
//! number with the same content, and written otherwise (a re-issued number
//! with other content is never dropped). Policy: a policy
//! read back survives its own round trip through the wire config. Uplink
//! state: what decodes re-encodes to the same state. Disk queue: a message
//! file is either loaded (and it is the message its bytes decode to) or set
//! aside as `.bad` and reported, never dropped silently.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_domain::bank::{Actor, AuditEvent, AuditLink, AuditRecord, Policy};
use locker_domain::uplink::{DeliveryConfig, UplinkState, policy_from_config, policy_to_config};
use locker_examples::gateway::{Appended, AuditLog, CounterFile, GatewayError, UplinkSettings};
use locker_examples::uplink::DiskQueue;
use locker_proto::uplink::{MessageId, UpEnvelope};
use locker_proto::{Instant, NodeAddr};

#[derive(Arbitrary, Debug)]
enum File {
    Counters {
        bytes: Vec<u8>,
        store: (u8, u64),
    },
    Audit {
        bytes: Vec<u8>,
        continuing: bool,
        seq: u64,
    },
    Policy(Vec<u8>),
    UplinkState(Vec<u8>),
    QueueMessage(Vec<u8>),
}

/// A scratch directory of this process, emptied before each input; in
/// memory where the system has `/dev/shm`, for the files are synced.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        // Directories left by earlier runs whose process is gone.
        if let Ok(entries) = std::fs::read_dir(&base) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let pid = name
                    .to_str()
                    .and_then(|n| n.strip_prefix("locker-fuzz-files-"));
                if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = base.join(format!("locker-fuzz-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

fn fresh(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The counters a file holds, read as its docs say: `node up_to` per line.
fn counters_model(bytes: &[u8]) -> Option<Vec<(u8, u64)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [node, up_to] = words[..] else {
            return None;
        };
        let node: u8 = u8::try_from(node.parse::<u64>().ok()?).ok()?;
        out.push((node, up_to.parse().ok()?));
    }
    Some(out)
}

fn counters(bytes: &[u8], store: (u8, u64)) {
    let dir = fresh("counters");
    let state = dir.join("bank.state");
    std::fs::write(dir.join("bank.state.counters"), bytes).expect("written");
    let model = counters_model(bytes);
    match CounterFile::open(&state) {
        Ok(mut file) => {
            let model = model.expect("a file that is not counters was opened");
            for &(node, up_to) in &model {
                let last = model.iter().rev().find(|(n, _)| *n == node).map(|c| c.1);
                assert_eq!(Some(file.stored(NodeAddr(node))), last);
                let _ = up_to;
            }
            let (node, up_to) = store;
            file.store(NodeAddr(node), up_to).expect("stored");
            let again = CounterFile::open(&state).expect("what was stored opens");
            assert_eq!(again.stored(NodeAddr(node)), up_to);
            for &(n, _) in &model {
                assert_eq!(again.stored(NodeAddr(n)), file.stored(NodeAddr(n)));
            }
        }
        Err(GatewayError::CorruptCounters(_)) => {
            assert!(model.is_none(), "counters refused as corrupt: {model:?}");
        }
        Err(e) => panic!("counters: an unexpected error {e:?}"),
    }
}

fn record(seq: u64) -> AuditRecord {
    AuditRecord {
        seq,
        at: Instant::from_secs(1),
        wall: None,
        actor: Actor::System,
        compartment: None,
        parcel: None,
        event: AuditEvent::DoorOpened,
        snapshot: None,
        link: AuditLink::GENESIS,
    }
}

fn audit(bytes: &[u8], continuing: bool, seq: u64) {
    let dir = fresh("audit");
    let path = dir.join("audit.jsonl");
    std::fs::write(&path, bytes).expect("written");
    let mut log = match AuditLog::open(&path, continuing) {
        Ok(log) => log,
        Err(GatewayError::CorruptAudit { .. } | GatewayError::File { .. }) => return,
        Err(e) => panic!("audit: an unexpected error {e:?}"),
    };
    // The torn last line is gone; everything left reads.
    let text = String::from_utf8(bytes.to_vec()).expect("an opened log is text");
    let whole = text.rfind('\n').map_or(0, |at| at + 1);
    let kept = std::fs::read(&path).expect("read back");
    assert_eq!(
        kept,
        bytes[..whole],
        "the log was not cut at its last whole line"
    );
    let lines = AuditLog::read_all(&path).expect("an opened log reads");
    let last = lines.last();
    match (last, continuing) {
        (None, _) => {
            assert_eq!(log.epoch(), 0);
            assert_eq!(log.last_seq(), None);
        }
        (Some(l), true) => {
            assert_eq!(log.epoch(), l.epoch);
            assert_eq!(log.last_seq(), Some(l.record.seq));
        }
        (Some(l), false) => {
            assert_eq!(log.epoch(), l.epoch.saturating_add(1));
            assert_eq!(log.last_seq(), None);
        }
    }
    // The last epoch's lines (its trailing run), when continuing.
    let epoch_lines: Vec<_> = match (lines.last(), continuing) {
        (Some(l), true) => lines
            .iter()
            .rev()
            .take_while(|x| x.epoch == l.epoch)
            .collect(),
        _ => Vec::new(),
    };
    // The latest line with this number; equal but for a link it may have.
    let held = epoch_lines.iter().find(|l| l.record.seq == seq);
    let same = held.is_some_and(|l| {
        let mut r = l.record;
        r.link = AuditLink::GENESIS;
        r == record(seq)
    });
    let appended = log.append(&record(seq), 0).expect("appended");
    match same {
        true => assert_eq!(appended, Appended::Duplicate),
        false => {
            assert_ne!(appended, Appended::Duplicate);
            assert_eq!(log.last_seq(), Some(seq));
            let again = AuditLog::read_all(&path).expect("the log reads");
            assert_eq!(again.len(), lines.len() + 1);
            let line = again.last().expect("the line written");
            assert_eq!((line.epoch, line.record), (log.epoch(), record(seq)));
        }
    }
}

fn policy(bytes: &[u8]) {
    let dir = fresh("policy");
    std::fs::write(dir.join("policy.json"), bytes).expect("written");
    let settings = UplinkSettings::new("bank-1", &dir);
    let base = Policy::default();
    match settings.stored_policy(&base) {
        Ok(policy) => {
            let again = policy_from_config(&base, &policy_to_config(&policy))
                .expect("a policy in use converts back");
            assert_eq!(again, policy, "a policy changed on its round trip");
        }
        Err(GatewayError::File { .. }) => {}
        Err(e) => panic!("policy: an unexpected error {e:?}"),
    }
    // The file is left as it was.
    assert_eq!(std::fs::read(dir.join("policy.json")).expect("read"), bytes);
}

fn uplink_state(bytes: &[u8]) {
    // The gateway reads `uplink.state` with exactly this call.
    if let Ok(state) = serde_json::from_slice::<UplinkState>(bytes) {
        let text = serde_json::to_vec(&state).expect("a state encodes");
        let again: UplinkState = serde_json::from_slice(&text).expect("its encoding decodes");
        assert_eq!(again, state);
    }
}

fn queue_message(bytes: &[u8]) {
    let dir = fresh("queue");
    let name = format!("{:020}.msg", 7);
    std::fs::write(dir.join(&name), bytes).expect("written");
    let decoded = UpEnvelope::from_postcard(bytes).ok();
    let (queue, bad) = DiskQueue::open(&dir, DeliveryConfig::default()).expect("the queue opens");
    match decoded {
        Some(message) => {
            assert!(bad.is_empty(), "a message that decodes was set aside");
            assert_eq!(queue.len(), 1);
            let mut queue = queue;
            let sent = queue.poll_transmit(Instant::from_secs(1));
            assert_eq!(sent.as_ref(), Some(&message));
            let id: MessageId = message.id;
            assert_eq!(queue.last_id(), Some(id));
        }
        None => {
            assert_eq!(queue.len(), 0);
            assert_eq!(bad.len(), 1, "a damaged message not reported");
            assert!(bad[0].exists(), "a damaged message not kept aside");
            assert_eq!(std::fs::read(&bad[0]).expect("read"), bytes);
        }
    }
}

fuzz_target!(|file: File| match file {
    File::Counters { bytes, store } => counters(&bytes, store),
    File::Audit {
        bytes,
        continuing,
        seq,
    } => audit(&bytes, continuing, seq),
    File::Policy(bytes) => policy(&bytes),
    File::UplinkState(bytes) => uplink_state(&bytes),
    File::QueueMessage(bytes) => queue_message(&bytes),
});
