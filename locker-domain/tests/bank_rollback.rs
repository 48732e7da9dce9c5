//! A bank put back to an older life: a restored backup, a deleted state
//! file. Each scenario is the attack (a captured remote open replayed, an
//! old token shown, an older snapshot put back) and shows that it is
//! caught at start or opens nothing in the bank's new incarnation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use chrono::NaiveDate;
use locker_domain::bank::codes::KeypadId;
use locker_domain::bank::{
    AuditChain, AuditEvent, AuditRecord, AuditTail, Bank, BankError, BankOutput, Incarnation,
    OfflineToken, ParcelNeeds, Policy, RemoteOpen, RemoteOpenError, RollbackError, SnapshotInfo,
    Stage, TokenError, Witnesses, verify_chain,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::{Command, CompartmentId, SizeClass};

const FIRST_LIFE: Incarnation = Incarnation(0x6d1c_2e07);
const SECOND_LIFE: Incarnation = Incarnation(0x91a0_5b3f);

/// A bank in its first life with one parcel stored.
fn first_life() -> (Sim<24>, CompartmentId) {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.drain();
    sim.bank
        .begin_incarnation(FIRST_LIFE, &Witnesses::default(), sim.now)
        .unwrap();
    sim.drain();
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    sim.drain();
    (sim, r.compartment)
}

/// What the gateway's audit log holds: the last record the bank handed out.
fn log_of(sim: &Sim<24>) -> Witnesses {
    let last = sim.audit.last().unwrap();
    Witnesses {
        audit_log: Some(AuditTail {
            seq: last.seq,
            link: Some(last.link),
        }),
        ..Witnesses::default()
    }
}

/// A restore of `snapshot` at `now`, its outputs drained into a list.
fn restore(snapshot: &[u8], now: Instant) -> (Box<Bank<'static>>, Vec<AuditRecord>) {
    let mut bank = Box::new(
        Bank::restore_on_heap(&mixed_layout(24), Policy::default(), keys(), snapshot, now).unwrap(),
    );
    let audit = drain(&mut bank);
    (bank, audit)
}

fn drain(bank: &mut Bank<'_>) -> Vec<AuditRecord> {
    let mut audit = Vec::new();
    while let Some(output) = bank.poll() {
        if let BankOutput::Audit(r) = output {
            audit.push(r);
        }
    }
    audit
}

fn unlocks(bank: &mut Bank<'_>) -> usize {
    let mut n = 0;
    while let Some(output) = bank.poll() {
        if matches!(
            output,
            BankOutput::Command {
                command: Command::Unlock { .. },
                ..
            }
        ) {
            n += 1;
        }
    }
    n
}

#[test]
fn a_backup_older_than_the_audit_log_is_refused_at_start() {
    let (mut sim, stored) = first_life();
    let backup = sim.bank.snapshot_to_vec().unwrap();
    // Since the backup: the parcel was collected.
    let code = sim.code_for(stored).unwrap();
    sim.advance(Duration::from_secs(60));
    sim.pick_up(&code, stored);
    sim.drain();

    let info = SnapshotInfo::read(&backup).unwrap();
    assert_eq!(info.incarnation, FIRST_LIFE);
    let witnesses = log_of(&sim);
    assert_eq!(
        info.check(&witnesses),
        Err(RollbackError::BehindAuditLog {
            snapshot_next: info.next_seq,
            log_last: sim.audit.last().unwrap().seq,
        })
    );
    // The uplink's mark alone tells it too.
    let uplink = Witnesses {
        uplink_audit_next: Some(sim.bank.next_audit_seq()),
        ..Witnesses::default()
    };
    assert!(matches!(
        info.check(&uplink),
        Err(RollbackError::BehindUplink { .. })
    ));
    // The current snapshot passes both.
    let current = SnapshotInfo::read(&sim.bank.snapshot_to_vec().unwrap()).unwrap();
    assert_eq!(current.check(&witnesses), Ok(()));
    assert_eq!(current.check(&uplink), Ok(()));
}

#[test]
fn a_snapshot_of_another_history_is_refused_though_its_numbers_fit() {
    let (sim, _) = first_life();
    let snapshot = sim.bank.snapshot_to_vec().unwrap();
    let info = SnapshotInfo::read(&snapshot).unwrap();
    // A log whose last record has the snapshot's last number, but another
    // link: the log is of another life (or edited).
    let ours = sim.audit.last().copied().unwrap();
    let before = sim.audit[sim.audit.len() - 2].link;
    let mut theirs = ours;
    theirs.event = AuditEvent::Restored;
    let witnesses = Witnesses {
        audit_log: Some(AuditTail {
            seq: theirs.seq,
            link: Some(before.then(&theirs)),
        }),
        ..Witnesses::default()
    };
    assert_eq!(info.next_seq, ours.seq + 1);
    assert_eq!(
        info.check(&witnesses),
        Err(RollbackError::OtherHistory { seq: ours.seq })
    );
}

#[test]
fn a_missing_snapshot_is_refused_when_a_witness_shows_a_previous_life() {
    let (sim, _) = first_life();
    assert_eq!(Witnesses::default().check_no_snapshot(), Ok(()));
    let last = sim.audit.last().unwrap().seq;
    assert_eq!(
        log_of(&sim).check_no_snapshot(),
        Err(RollbackError::SnapshotMissing {
            audit_log_last: Some(last),
            uplink_audit_next: None,
        })
    );
    let counters = Witnesses {
        other_files: true,
        ..Witnesses::default()
    };
    assert!(counters.check_no_snapshot().is_err());
    let err = log_of(&sim).check_no_snapshot().unwrap_err().to_string();
    assert!(err.contains("no snapshot"), "{err}");
}

#[test]
fn a_remote_open_captured_before_a_confirmed_restore_opens_nothing() {
    let (mut sim, stored) = first_life();
    let backup = sim.bank.snapshot_to_vec().unwrap();
    // After the backup the backend opened the compartment (request 10); an
    // attacker on the broker captured the request.
    let captured = RemoteOpen::signed(&keys(), FIRST_LIFE, stored, 10);
    sim.bank.remote_open(&captured, sim.now).unwrap();
    sim.answer_status_requests();
    sim.open_door(stored, true);
    sim.take_parcel(stored);
    sim.close_door(stored);
    sim.drain();
    let witnesses = log_of(&sim);

    // The operator puts the backup back and confirms a new incarnation.
    let now = Instant::from_secs(5);
    let (mut bank, restored) = restore(&backup, now);
    assert_eq!(restored.last().unwrap().event, AuditEvent::Restored);
    // Without one, the captured request would open the door again: the
    // backup has never seen request 10.
    assert_eq!(bank.last_remote_request(), None);
    bank.begin_incarnation(SECOND_LIFE, &witnesses, now)
        .unwrap();
    let begun = drain(&mut bank);
    assert_eq!(
        begun[0].event,
        AuditEvent::IncarnationStarted {
            previous: FIRST_LIFE,
            incarnation: SECOND_LIFE
        }
    );
    // The replay: refused, audited, no door opens.
    assert_eq!(
        bank.remote_open(&captured, now),
        Err(BankError::RemoteOpen(RemoteOpenError::OtherIncarnation {
            sent: FIRST_LIFE.0,
            current: SECOND_LIFE.0
        }))
    );
    let refused = drain(&mut bank);
    assert!(matches!(
        refused[0].event,
        AuditEvent::RemoteOpenRefused {
            reason: RemoteOpenError::OtherIncarnation { .. },
            ..
        }
    ));
    assert_eq!(bank.stats().remote_opens_refused, 1);
    // A request signed for the new incarnation works.
    let fresh = RemoteOpen::signed(&keys(), SECOND_LIFE, stored, 11);
    bank.remote_open(&fresh, now).unwrap();
    assert_eq!(unlocks(&mut bank), 1);
}

#[test]
fn a_new_incarnation_never_issues_an_audit_number_twice_and_chains_on_from_the_log() {
    let (mut sim, stored) = first_life();
    let backup = sim.bank.snapshot_to_vec().unwrap();
    let code = sim.code_for(stored).unwrap();
    sim.advance(Duration::from_secs(60));
    sim.pick_up(&code, stored);
    sim.drain();
    let log_last = *sim.audit.last().unwrap();

    let now = Instant::from_secs(5);
    let (mut bank, _restored) = restore(&backup, now);
    bank.begin_incarnation(SECOND_LIFE, &log_of(&sim), now)
        .unwrap();
    let begun = drain(&mut bank);
    assert_eq!(
        begun[0].seq,
        log_last.seq + 1,
        "numbering goes on after the log"
    );
    assert_eq!(
        verify_chain(AuditChain::after(log_last.seq, log_last.link), &begun),
        Ok(1),
        "the new life's first record follows the log's last"
    );
    // And the snapshot now carries the new life and its numbers.
    let info = SnapshotInfo::read(&bank.snapshot_to_vec().unwrap()).unwrap();
    assert_eq!(info.incarnation, SECOND_LIFE);
    assert_eq!(info.check(&log_of(&sim)), Ok(()));
    // The same incarnation twice is refused and changes nothing.
    assert_eq!(
        bank.begin_incarnation(SECOND_LIFE, &Witnesses::default(), now),
        Err(BankError::SameIncarnation)
    );
    assert!(bank.poll().is_none());
}

#[test]
fn a_token_issued_before_the_bank_was_started_afresh_opens_nothing() {
    let noon = NaiveDate::from_ymd_opt(2026, 5, 1)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let expires = noon.and_utc().timestamp() as u64 + 2 * 86_400;
    let (mut sim, stored) = first_life();
    let parcel = sim.bank.view(stored).unwrap().parcel.unwrap();
    let old_token = OfflineToken::issue(&keys(), FIRST_LIFE, stored, parcel, expires).encode();

    // The state file is lost; the gateway starts afresh in a new life, and
    // the same compartment gets a parcel with the same number again.
    let mut fresh = Sim::<24>::new(24, Policy::default());
    fresh.drain();
    fresh
        .bank
        .begin_incarnation(SECOND_LIFE, &Witnesses::default(), fresh.now)
        .unwrap();
    fresh.drain();
    fresh.bank.set_wall_clock(noon, fresh.now).unwrap();
    let r = fresh.reserve(ParcelNeeds::size(SizeClass::Small));
    fresh.deposit(r.compartment);
    fresh.drain();
    assert_eq!(
        (r.compartment, r.parcel),
        (stored, parcel),
        "the same numbers"
    );
    fresh.commands.clear();

    assert_eq!(
        fresh.bank.redeem_token(&old_token, KeypadId(0), fresh.now),
        Err(BankError::TokenRefused {
            reason: TokenError::OtherIncarnation {
                incarnation: FIRST_LIFE
            },
            locked_until: None
        })
    );
    fresh.drain();
    assert!(
        !fresh
            .commands
            .iter()
            .any(|(_, c)| matches!(c, Command::Unlock { .. })),
        "no door opened"
    );
    assert_eq!(fresh.bank.view(stored).unwrap().stage, Stage::Stored);
    // A token of this life opens it.
    let good = OfflineToken::issue(&keys(), SECOND_LIFE, stored, parcel, expires).encode();
    assert_eq!(
        fresh.bank.redeem_token(&good, KeypadId(0), fresh.now),
        Ok(stored)
    );
    sim.drain();
}

#[test]
fn a_format_4_snapshot_restores_into_no_incarnation() {
    let golden = std::fs::read(format!(
        "{}/tests/golden/snapshot/v4.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let info = SnapshotInfo::read(&golden).unwrap();
    assert_eq!((info.version, info.incarnation), (4, Incarnation::UNSET));
    let (bank, _) = restore(&golden, Instant::from_secs(5));
    assert_eq!(bank.incarnation(), Incarnation::UNSET);
}
