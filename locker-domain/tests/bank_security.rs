//! The bank under attack from its own backend connection, from copies of its
//! persisted state, and from people presenting made-up tokens.
//!
//! December 2020: an attacker with access to a locker operator's backend
//! opened 2,732 parcel lockers across Moscow at once. These scenarios show
//! what the bank does when someone holds its backend connection.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use chrono::{NaiveDate, NaiveDateTime};
use locker_domain::bank::codes::{CodeError, CodeHash, KeypadId, PickupCode};
use locker_domain::bank::{
    Actor, AlertKind, AuditChain, AuditEvent, Bank, BankError, BankId, BankKeys, BankOutput,
    ChainBreak, CodeOutcome, Incarnation, OfflineToken, ParcelId, ParcelKind, ParcelNeeds,
    PersistError, Policy, RemoteOpen, RemoteOpenError, SNAPSHOT_VERSION, StaffId, Stage,
    TokenError, remote_open_tag, verify_chain,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::{Command, CompartmentId, SizeClass};

const STAFF: StaffId = StaffId(4711);

fn unlocks(sim: &Sim<24>) -> usize {
    sim.commands
        .iter()
        .filter(|(_, c)| matches!(c, Command::Unlock { .. }))
        .count()
}

fn refused_remote_opens(sim: &Sim<24>) -> usize {
    sim.audit
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::RemoteOpenRefused { .. }))
        .count()
}

/// Every compartment of the test bank.
fn all_compartments(sim: &Sim<24>) -> Vec<CompartmentId> {
    sim.bank.views().map(|v| v.id).collect()
}

/// A bank with `parcels` deposited parcels, ready for pickup.
fn bank_with_parcels(parcels: usize) -> Sim<24> {
    let mut sim = Sim::<24>::new(24, Policy::default());
    for _ in 0..parcels {
        let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
        sim.deposit(r.compartment);
    }
    sim.commands.clear();
    sim
}

#[test]
fn a_compromised_backend_opens_exactly_the_limit_then_the_bank_locks_and_alerts_staff() {
    let mut sim = bank_with_parcels(10);
    let limit = usize::from(Policy::default().remote_open_limit);
    assert_eq!(limit, 5);
    // The attacker holds the backend, and so its key: every request is
    // authentic and fresh. He asks for every door, as fast as he can.
    let backend = keys();
    let mut results = Vec::new();
    for (k, id) in all_compartments(&sim).into_iter().enumerate() {
        let request = RemoteOpen::signed(&backend, sim.bank.incarnation(), id, 1_000 + k as u64);
        sim.drain();
        results.push(sim.bank.remote_open(&request, sim.now));
        sim.answer_status_requests();
        sim.advance(Duration::from_millis(20));
    }
    let opened = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        opened, limit,
        "exactly the configured number of doors opens"
    );
    assert_eq!(unlocks(&sim), limit);
    assert!(results[..limit].iter().all(Result::is_ok));
    assert_eq!(
        results[limit],
        Err(BankError::RemoteOpen(RemoteOpenError::RateLimited {
            limit: 5
        }))
    );
    assert!(
        results[limit + 1..]
            .iter()
            .all(|r| *r == Err(BankError::RemoteOpen(RemoteOpenError::Locked)))
    );
    // Staff hear about it once, as a security alert; every refusal is audited.
    assert_eq!(sim.alerts_of(AlertKind::RemoteOpenFlood), 1);
    assert_eq!(refused_remote_opens(&sim), 24 - limit);
    assert_eq!(sim.bank.stats().remote_opens, 5);
    assert_eq!(sim.bank.stats().remote_opens_refused, 19);
    assert!(
        sim.audit
            .iter()
            .any(|r| r.event == AuditEvent::RemoteOpensLocked { opens: 5 })
    );
    assert!(sim.bank.remote_opens_locked());

    // Waiting out the window does not help: the lock holds until staff clear it.
    sim.advance(Duration::from_hours(3));
    let later = RemoteOpen::signed(&backend, sim.bank.incarnation(), CompartmentId(24), 5_000);
    sim.drain();
    assert_eq!(
        sim.bank.remote_open(&later, sim.now),
        Err(BankError::RemoteOpen(RemoteOpenError::Locked))
    );
    sim.answer_status_requests();
    assert_eq!(unlocks(&sim), limit);
    assert_eq!(refused_remote_opens(&sim), 24 - limit + 1);

    // Staff check the bank and clear the lock, on the record.
    sim.drain();
    assert!(
        sim.bank
            .staff_clear_remote_open_lock(STAFF, sim.now)
            .unwrap()
    );
    sim.drain();
    let cleared = sim.audit.last().unwrap();
    assert_eq!(
        cleared.event,
        AuditEvent::RemoteOpenLockCleared { staff: STAFF }
    );
    assert_eq!(cleared.actor, Actor::Staff);
    assert!(!sim.bank.remote_opens_locked());
    // The request held back by the lock stays dead; a new one is served.
    sim.drain();
    assert_eq!(
        sim.bank.remote_open(&later, sim.now),
        Err(BankError::RemoteOpen(RemoteOpenError::Replayed {
            request_id: 5_000
        }))
    );
    let fresh = RemoteOpen::signed(&backend, sim.bank.incarnation(), CompartmentId(24), 5_001);
    sim.drain();
    sim.bank.remote_open(&fresh, sim.now).unwrap();
    sim.answer_status_requests();
    assert_eq!(unlocks(&sim), limit + 1);
}

#[test]
fn opens_spread_over_time_stay_within_the_limit_and_keep_working() {
    let mut sim = bank_with_parcels(0);
    let backend = keys();
    // One remote open every three minutes, all day: never more than 4 in 10 minutes.
    for k in 0..40u64 {
        let id = CompartmentId((k % 24) as u16 + 1);
        sim.drain();
        sim.bank
            .remote_open(
                &RemoteOpen::signed(&backend, sim.bank.incarnation(), id, k + 1),
                sim.now,
            )
            .unwrap();
        sim.answer_status_requests();
        sim.open_door(id, true);
        sim.close_door(id);
        sim.advance(Duration::from_mins(3));
        sim.timeout();
    }
    assert!(!sim.bank.remote_opens_locked());
    assert_eq!(sim.alerts_of(AlertKind::RemoteOpenFlood), 0);
    assert_eq!(sim.bank.stats().remote_opens, 40);
}

#[test]
fn forged_replayed_reordered_and_wrongly_keyed_remote_opens_open_nothing() {
    let mut sim = bank_with_parcels(3);
    let parcel_in = sim
        .bank
        .views()
        .find(|v| v.stage == Stage::Stored)
        .unwrap()
        .id;
    let backend = keys();
    let forged = |e| Err(BankError::RemoteOpen(e));

    // A made-up tag.
    let made_up = RemoteOpen {
        incarnation: sim.bank.incarnation(),
        compartment: parcel_in,
        request_id: 1,
        tag: [0xA5; 16],
    };
    sim.drain();
    assert_eq!(
        sim.bank.remote_open(&made_up, sim.now),
        forged(RemoteOpenError::ForgedTag)
    );
    // Signed with another secret, or with the keys of another bank.
    let stranger = BankKeys::derive(BankId(1042), &[0x99; 32]);
    let neighbour = BankKeys::derive(BankId(1043), &[0x2b; 32]);
    for wrong in [&stranger, &neighbour] {
        let r = RemoteOpen::signed(wrong, sim.bank.incarnation(), parcel_in, 2);
        sim.drain();
        assert_eq!(
            sim.bank.remote_open(&r, sim.now),
            forged(RemoteOpenError::ForgedTag)
        );
    }
    // Every single-bit flip of a valid tag, and of the fields it covers.
    let valid = RemoteOpen::signed(&backend, sim.bank.incarnation(), parcel_in, 10);
    for bit in 0..128 {
        let mut r = valid;
        r.tag[bit / 8] ^= 1 << (bit % 8);
        sim.drain();
        assert_eq!(
            sim.bank.remote_open(&r, sim.now),
            forged(RemoteOpenError::ForgedTag),
            "tag bit {bit}"
        );
        sim.answer_status_requests();
    }
    for bit in 0..64 {
        let r = RemoteOpen {
            request_id: valid.request_id ^ (1 << bit),
            ..valid
        };
        sim.drain();
        assert!(sim.bank.remote_open(&r, sim.now).is_err(), "id bit {bit}");
        sim.answer_status_requests();
    }
    for bit in 0..32 {
        let r = RemoteOpen {
            incarnation: Incarnation(valid.incarnation.0 ^ (1 << bit)),
            ..valid
        };
        sim.drain();
        assert_eq!(
            sim.bank.remote_open(&r, sim.now),
            forged(RemoteOpenError::ForgedTag),
            "incarnation bit {bit}"
        );
        sim.answer_status_requests();
    }
    for bit in 0..16 {
        let r = RemoteOpen {
            compartment: CompartmentId(parcel_in.0 ^ (1 << bit)),
            ..valid
        };
        sim.drain();
        assert!(
            sim.bank.remote_open(&r, sim.now).is_err(),
            "compartment bit {bit}"
        );
        sim.answer_status_requests();
    }
    sim.answer_status_requests();
    assert_eq!(unlocks(&sim), 0, "no forgery opened a door");
    assert_eq!(sim.bank.view(parcel_in).unwrap().stage, Stage::Stored);
    // One alert for staff (per window), one audit record per forgery.
    assert_eq!(sim.alerts_of(AlertKind::ForgedRemoteOpen), 1);
    let forgeries = 1 + 2 + 128 + 64 + 32 + 16;
    assert_eq!(refused_remote_opens(&sim), forgeries);
    assert_eq!(sim.bank.stats().remote_opens_refused, forgeries as u32);

    // The unaltered request was authentic all along.
    sim.drain();
    sim.bank.remote_open(&valid, sim.now).unwrap();
    sim.answer_status_requests();
    assert_eq!(unlocks(&sim), 1);
    // Replaying it, or sending an older one (reordered or captured), is refused.
    let other = sim
        .bank
        .views()
        .find(|v| v.stage == Stage::Free)
        .unwrap()
        .id;
    let replay = RemoteOpen::signed(&backend, sim.bank.incarnation(), other, 10);
    sim.drain();
    assert_eq!(
        sim.bank.remote_open(&replay, sim.now),
        forged(RemoteOpenError::Replayed { request_id: 10 })
    );
    let older = RemoteOpen::signed(&backend, sim.bank.incarnation(), other, 9);
    sim.drain();
    assert_eq!(
        sim.bank.remote_open(&older, sim.now),
        forged(RemoteOpenError::Stale {
            request_id: 9,
            last: 10
        })
    );
    sim.answer_status_requests();
    assert_eq!(unlocks(&sim), 1);
    assert_eq!(refused_remote_opens(&sim), forgeries + 2);
    // Each refusal names the request in the audit trail.
    assert!(sim.audit.iter().any(|r| r.event
        == AuditEvent::RemoteOpenRefused {
            compartment: other,
            request_id: 9,
            reason: RemoteOpenError::Stale {
                request_id: 9,
                last: 10
            },
        }));
}

#[test]
fn the_remote_open_tag_is_the_documented_hmac() {
    use hmac::{Hmac, Mac};
    // The backend may be written in anything: the tag is plain HMAC-SHA256
    // under the HKDF-derived key, over the documented bytes.
    let secret = [0x11; 32];
    let keys = BankKeys::derive(BankId(0x0102_0304), &secret);
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"locker/v1/bank-keys"), &secret);
    let mut key = [0u8; 32];
    hk.expand_multi_info(&[b"locker/v1/remote-open", &[4, 3, 2, 1]], &mut key)
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(b"locker/v1/remote-open");
    mac.update(&[4, 3, 2, 1]);
    mac.update(&[0x0d, 0x0c, 0x0b, 0x0a]);
    mac.update(&[7, 0]);
    mac.update(&[42, 0, 0, 0, 0, 0, 0, 0]);
    let full = mac.finalize().into_bytes();
    let life = Incarnation(0x0a0b_0c0d);
    assert_eq!(
        remote_open_tag(&keys, life, CompartmentId(7), 42)[..],
        full[..16]
    );
}

#[test]
fn a_restart_keeps_the_last_request_id_and_the_lock_and_codes_still_work() {
    let mut sim = bank_with_parcels(0);
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    let backend = keys();
    // Five opens of empty compartments, then the one that trips the lock.
    let empty: Vec<CompartmentId> = sim
        .bank
        .views()
        .filter(|v| v.stage == Stage::Free)
        .map(|v| v.id)
        .collect();
    for (k, id) in empty.iter().take(6).enumerate() {
        sim.drain();
        let _ = sim.bank.remote_open(
            &RemoteOpen::signed(&backend, sim.bank.incarnation(), *id, 100 + k as u64),
            sim.now,
        );
        sim.answer_status_requests();
        sim.open_door(*id, true);
        sim.close_door(*id);
    }
    assert!(sim.bank.remote_opens_locked());
    assert_eq!(sim.bank.last_remote_request(), Some(105));

    // The gateway restarts from its snapshot.
    sim.restart_at(Instant::from_secs(3));
    sim.commands.clear();
    assert!(
        sim.bank.remote_opens_locked(),
        "the lock survives the restart"
    );
    assert_eq!(sim.bank.last_remote_request(), Some(105));
    // A captured request from before the restart is still a replay.
    let captured = RemoteOpen::signed(&backend, sim.bank.incarnation(), empty[0], 100);
    sim.drain();
    assert_eq!(
        sim.bank.remote_open(&captured, sim.now),
        Err(BankError::RemoteOpen(RemoteOpenError::Stale {
            request_id: 100,
            last: 105
        }))
    );
    let fresh = RemoteOpen::signed(&backend, sim.bank.incarnation(), empty[0], 106);
    sim.drain();
    assert_eq!(
        sim.bank.remote_open(&fresh, sim.now),
        Err(BankError::RemoteOpen(RemoteOpenError::Locked))
    );
    // The recipient's code survived as its hash and still opens the door.
    sim.pick_up(&code, r.compartment);
    assert_eq!(unlocks(&sim), 1);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
}

#[test]
fn the_snapshot_holds_no_code_only_a_hash_that_needs_the_bank_secret() {
    // Two banks, same layout, same random codes, different secrets.
    let secret_a = [0x2b; 32];
    let secret_b = [0x2c; 32];
    let mut snapshots = Vec::new();
    let mut codes = Vec::new();
    for secret in [secret_a, secret_b] {
        let keys = BankKeys::derive(BankId(1042), &secret);
        let mut bank = Bank::on_heap(&mixed_layout(24), Policy::default(), keys.clone()).unwrap();
        // The status requests of a new bank come first.
        while bank.poll().is_some() {}
        let mut dice = Dice(77);
        let r = bank
            .reserve(
                ParcelNeeds::size(SizeClass::Small),
                ParcelKind::Delivery,
                &mut dice,
                Instant::from_secs(1),
            )
            .unwrap();
        let code = r.code.unwrap();
        let bytes = bank.snapshot_to_vec().unwrap();
        let hash = CodeHash::of(&keys, &code).to_bytes();
        assert!(contains(&bytes, &hash), "the snapshot keeps the keyed hash");
        snapshots.push((bytes, hash));
        codes.push(code);
    }
    assert!(codes[0].ct_eq(&codes[1]), "same dice, same code");
    let ((a, hash_a), (b, hash_b)) = (&snapshots[0], &snapshots[1]);
    assert_ne!(
        hash_a, hash_b,
        "the same code hashes differently per secret"
    );
    assert!(!contains(a, hash_b) && !contains(b, hash_a));
    // Neither the typed code, nor its digit values, nor its BCD is in either.
    let digits = codes[0].digits().to_vec();
    let ascii: Vec<u8> = digits.iter().map(|d| b'0' + d).collect();
    let bcd: Vec<u8> = digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect();
    for bytes in [a, b] {
        assert!(!contains(bytes, &ascii));
        assert!(!contains(bytes, &digits));
        assert!(!contains(bytes, &bcd));
    }
    // Without the secret the hash cannot even be tested against a guess.
    let guess_keys = BankKeys::derive(BankId(1042), &[0; 32]);
    assert_ne!(CodeHash::of(&guess_keys, &codes[0]).to_bytes(), *hash_a);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_snapshot_restored_with_the_wrong_secret_or_bank_or_from_the_old_format_is_refused() {
    let mut sim = bank_with_parcels(1);
    let bytes = sim.bank.snapshot_to_vec().unwrap();
    let restore = |keys: BankKeys, b: &[u8]| {
        Bank::restore_on_heap(&mixed_layout(24), Policy::default(), keys, b, Instant::ZERO)
            .map(|_| ())
    };
    assert_eq!(restore(keys(), &bytes), Ok(()));
    assert_eq!(
        restore(BankKeys::derive(BankId(1042), &[0x2c; 32]), &bytes),
        Err(PersistError::WrongKeys)
    );
    assert_eq!(
        restore(BankKeys::derive(BankId(7), &[0x2b; 32]), &bytes),
        Err(PersistError::WrongBank {
            snapshot: BankId(1042),
            keys: BankId(7)
        })
    );
    // A version-1 snapshot (codes in the clear) is refused, not misread.
    assert_eq!(SNAPSHOT_VERSION, 7);
    let mut old = bytes.clone();
    old[4] = 1;
    assert_eq!(
        restore(keys(), &old),
        Err(PersistError::UnsupportedVersion { found: 1 })
    );
    sim.drain();
}

#[test]
fn a_backend_that_draws_its_own_code_sends_only_the_hash() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let code = PickupCode::parse("246810").unwrap();
    let hash = CodeHash::of(&keys(), &code);
    sim.drain();
    let r = sim
        .bank
        .reserve_with_code_hash(
            ParcelNeeds::size(SizeClass::Small),
            ParcelKind::Delivery,
            hash,
            sim.now,
        )
        .unwrap();
    assert!(r.code.is_none(), "the bank never saw the code");
    // The same code cannot be given to a second active parcel.
    sim.drain();
    assert_eq!(
        sim.bank.reserve_with_code_hash(
            ParcelNeeds::size(SizeClass::Small),
            ParcelKind::Delivery,
            hash,
            sim.now
        ),
        Err(BankError::Code(CodeError::CodeInUse))
    );
    sim.codes.insert(r.parcel.0, "246810".into());
    let typed = sim.deposit(r.compartment);
    sim.drain();
    assert_eq!(
        sim.bank.enter_code(KeypadId(0), &typed, sim.now).unwrap(),
        CodeOutcome::Opening(r.compartment)
    );
}

// ----- staff open-all ------------------------------------------------------

#[test]
fn a_staff_opening_names_the_member_of_staff_in_the_audit_before_the_unlock() {
    let mut sim = bank_with_parcels(3);
    sim.drain();
    let before = sim.audit.len();
    let id = sim.bank.layout().compartments()[0].id;
    let now = sim.now;
    sim.ready().staff_open(id, STAFF, now).unwrap();
    sim.drain();
    let records: Vec<_> = sim.audit[before..]
        .iter()
        .filter(|r| r.compartment == Some(id))
        .collect();
    assert_eq!(
        records.first().map(|r| (r.event, r.actor)),
        Some((AuditEvent::StaffOpened { staff: STAFF }, Actor::Staff)),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(r.event, AuditEvent::UnlockCommanded { .. })),
        "{records:?}"
    );
    assert_eq!(unlocks(&sim), 1);
}

#[test]
fn only_staff_open_every_door_and_each_door_is_audited_with_their_id() {
    let mut sim = bank_with_parcels(3);
    sim.drain();
    let before = sim.audit.len();
    sim.drain();
    let done = sim.bank.staff_open_all(STAFF, sim.now).unwrap();
    assert_eq!((done.opened, done.remaining), (24, 0));
    sim.answer_status_requests();
    assert_eq!(unlocks(&sim), 24);
    let records = &sim.audit[before..];
    let per_door: Vec<_> = records
        .iter()
        .filter(|r| r.event == AuditEvent::StaffOpened { staff: STAFF })
        .collect();
    assert_eq!(per_door.len(), 24);
    assert!(
        per_door
            .iter()
            .all(|r| r.actor == Actor::Staff && r.compartment.is_some())
    );
    assert!(records.iter().any(|r| r.event
        == AuditEvent::StaffOpenAll {
            staff: STAFF,
            opened: 24,
            remaining: 0
        }));
    // Calling again opens no door twice.
    sim.drain();
    let again = sim.bank.staff_open_all(STAFF, sim.now).unwrap();
    assert_eq!((again.opened, again.remaining), (0, 0));
    sim.answer_status_requests();
    assert_eq!(unlocks(&sim), 24);
}

#[test]
fn opening_every_door_of_a_big_bank_goes_in_batches_the_queues_can_hold() {
    let mut sim = Sim::<128>::new(100, Policy::default());
    sim.commands.clear();
    sim.drain();
    let first = sim.bank.staff_open_all(STAFF, sim.now).unwrap();
    assert!(first.opened > 0 && first.remaining > 0);
    assert_eq!(usize::from(first.opened + first.remaining), 100);
    sim.answer_status_requests();
    sim.drain();
    let second = sim.bank.staff_open_all(STAFF, sim.now).unwrap();
    assert_eq!(second.opened, first.remaining);
    assert_eq!(second.remaining, 0);
    sim.answer_status_requests();
    let unlocked = sim
        .commands
        .iter()
        .filter(|(_, c)| matches!(c, Command::Unlock { .. }))
        .count();
    assert_eq!(unlocked, 100);
    let per_door = sim
        .audit
        .iter()
        .filter(|r| r.event == AuditEvent::StaffOpened { staff: STAFF })
        .count();
    assert_eq!(per_door, 100);
}

// ----- offline tokens -------------------------------------------------------

fn noon() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 5, 1)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
}

fn noon_secs() -> u64 {
    noon().and_utc().timestamp() as u64
}

/// A bank at noon with one parcel waiting: (sim, compartment, parcel).
fn bank_with_a_waiting_parcel() -> (Sim<24>, CompartmentId, ParcelId) {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.bank.set_wall_clock(noon(), sim.now).unwrap();
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    sim.commands.clear();
    (sim, r.compartment, r.parcel)
}

#[test]
fn an_offline_token_opens_its_parcel_exactly_once_without_the_backend() {
    let (mut sim, c, p) = bank_with_a_waiting_parcel();
    let token =
        OfflineToken::issue(&keys(), sim.bank.incarnation(), c, p, noon_secs() + 86_400).encode();
    sim.drain();
    assert_eq!(sim.bank.redeem_token(&token, KeypadId(0), sim.now), Ok(c));
    sim.answer_status_requests();
    assert_eq!(unlocks(&sim), 1);
    assert!(sim.audit.iter().any(|r| r.event
        == AuditEvent::TokenAccepted {
            keypad: KeypadId(0)
        }
        && r.parcel == Some(p)));
    // While the door is open, and after the parcel is gone, the token is spent.
    sim.drain();
    let again = sim.bank.redeem_token(&token, KeypadId(0), sim.now);
    assert!(matches!(
        again,
        Err(BankError::TokenRefused {
            reason: TokenError::NotWaiting,
            ..
        })
    ));
    sim.open_door(c, true);
    sim.take_parcel(c);
    sim.close_door(c);
    assert_eq!(sim.bank.view(c).unwrap().stage, Stage::Free);
    sim.drain();
    let after = sim.bank.redeem_token(&token, KeypadId(1), sim.now);
    assert!(matches!(
        after,
        Err(BankError::TokenRefused {
            reason: TokenError::NotWaiting,
            ..
        })
    ));
    sim.answer_status_requests();
    assert_eq!(unlocks(&sim), 1);
    assert_eq!(sim.bank.stats().tokens_redeemed, 1);
    assert_eq!(sim.bank.stats().tokens_refused, 2);
}

#[test]
fn expired_misdirected_forged_truncated_and_bit_flipped_tokens_open_nothing() {
    let (sim, c, p) = bank_with_a_waiting_parcel();
    let keys = keys();
    let valid = OfflineToken::issue(&keys, sim.bank.incarnation(), c, p, noon_secs() + 3_600);
    let other_compartment = sim
        .bank
        .views()
        .find(|v| v.stage == Stage::Free)
        .unwrap()
        .id;
    let refused = |bytes: &[u8]| {
        // A fresh copy of the bank each time, so the reader's lockout does
        // not hide which check refused the token.
        let mut bank = sim.bank.to_heap();
        let result = bank.redeem_token(bytes, KeypadId(0), sim.now);
        let opened = std::iter::from_fn(|| bank.poll()).any(|o| {
            matches!(
                o,
                BankOutput::Command {
                    command: Command::Unlock { .. },
                    ..
                }
            )
        });
        assert!(!opened, "{result:?} opened a door");
        match result {
            Err(BankError::TokenRefused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    let expired = OfflineToken::issue(&keys, sim.bank.incarnation(), c, p, noon_secs());
    assert_eq!(
        refused(&expired.encode()),
        TokenError::Expired {
            expires_at: noon_secs()
        }
    );
    let elsewhere = OfflineToken::issue(
        &keys,
        sim.bank.incarnation(),
        other_compartment,
        p,
        noon_secs() + 60,
    );
    assert_eq!(refused(&elsewhere.encode()), TokenError::WrongCompartment);
    let nowhere = OfflineToken::issue(
        &keys,
        sim.bank.incarnation(),
        CompartmentId(999),
        p,
        noon_secs() + 60,
    );
    assert_eq!(refused(&nowhere.encode()), TokenError::WrongCompartment);
    let other_parcel = OfflineToken::issue(
        &keys,
        sim.bank.incarnation(),
        c,
        ParcelId(p.0 + 50),
        noon_secs() + 60,
    );
    assert_eq!(refused(&other_parcel.encode()), TokenError::WrongParcel);
    let neighbour = OfflineToken::issue(
        &BankKeys::derive(BankId(1043), &[0x2b; 32]),
        sim.bank.incarnation(),
        c,
        p,
        noon_secs() + 60,
    );
    assert_eq!(
        refused(&neighbour.encode()),
        TokenError::WrongBank { bank: BankId(1043) }
    );
    let stranger = OfflineToken::issue(
        &BankKeys::derive(BankId(1042), &[0x77; 32]),
        sim.bank.incarnation(),
        c,
        p,
        noon_secs() + 60,
    );
    assert_eq!(refused(&stranger.encode()), TokenError::Forged);
    // Prolonging one's own token is forgery.
    let mut prolonged = valid;
    prolonged.expires_at += 86_400;
    assert_eq!(refused(&prolonged.encode()), TokenError::Forged);

    let bytes = valid.encode();
    for n in 0..bytes.len() {
        assert_eq!(
            refused(&bytes[..n]),
            TokenError::WrongLength { len: n },
            "cut to {n}"
        );
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert_eq!(refused(&longer), TokenError::WrongLength { len: 40 });
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes;
        flipped[bit / 8] ^= 1 << (bit % 8);
        let reason = refused(&flipped);
        assert!(
            matches!(
                reason,
                TokenError::Forged
                    | TokenError::WrongBank { .. }
                    | TokenError::UnsupportedVersion { .. }
            ),
            "bit {bit}: {reason:?}"
        );
    }
    // And the unaltered token was good all along.
    let mut bank = sim.bank.to_heap();
    assert_eq!(bank.redeem_token(&bytes, KeypadId(0), sim.now), Ok(c));
}

#[test]
fn wrong_tokens_count_against_the_reader_like_wrong_codes() {
    let (mut sim, c, p) = bank_with_a_waiting_parcel();
    let reader = KeypadId(2);
    let forged = OfflineToken {
        tag: [0; 16],
        ..OfflineToken::issue(&keys(), sim.bank.incarnation(), c, p, noon_secs() + 60)
    }
    .encode();
    let lockout = Policy::default().lockout;
    for _ in 0..lockout.free_attempts {
        sim.drain();
        let e = sim.bank.redeem_token(&forged, reader, sim.now).unwrap_err();
        assert_eq!(
            e,
            BankError::TokenRefused {
                reason: TokenError::Forged,
                locked_until: None
            }
        );
    }
    sim.drain();
    let e = sim.bank.redeem_token(&forged, reader, sim.now).unwrap_err();
    assert_eq!(
        e,
        BankError::TokenRefused {
            reason: TokenError::Forged,
            locked_until: Some(sim.now + lockout.base_lockout)
        }
    );
    // Locked: even a good token waits at this reader (and a code too).
    let good =
        OfflineToken::issue(&keys(), sim.bank.incarnation(), c, p, noon_secs() + 60).encode();
    sim.drain();
    assert!(matches!(
        sim.bank.redeem_token(&good, reader, sim.now),
        Err(BankError::Code(CodeError::LockedOut { .. }))
    ));
    sim.drain();
    assert!(matches!(
        sim.bank.enter_code(reader, "123456", sim.now),
        Err(BankError::Code(CodeError::LockedOut { .. }))
    ));
    sim.drain();
    let refusals = sim
        .audit
        .iter()
        .filter(|r| {
            r.event
                == AuditEvent::TokenRefused {
                    keypad: reader,
                    reason: TokenError::Forged,
                }
        })
        .count();
    assert_eq!(refusals, usize::from(lockout.free_attempts) + 1);
    // Another reader is not affected.
    sim.drain();
    assert_eq!(sim.bank.redeem_token(&good, KeypadId(0), sim.now), Ok(c));
}

#[test]
fn a_bank_that_cannot_tell_the_time_refuses_tokens_but_not_codes() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    let token = OfflineToken::issue(
        &keys(),
        sim.bank.incarnation(),
        r.compartment,
        r.parcel,
        u64::MAX,
    )
    .encode();
    sim.drain();
    assert_eq!(
        sim.bank.redeem_token(&token, KeypadId(0), sim.now),
        Err(BankError::TokenRefused {
            reason: TokenError::NoWallClock,
            locked_until: None
        })
    );
    sim.pick_up(&code, r.compartment);
}

#[test]
fn the_token_layout_is_the_documented_one() {
    let keys = BankKeys::derive(BankId(0x0A0B_0C0D), &[3; 32]);
    let t = OfflineToken::issue(
        &keys,
        Incarnation(0x0506_0708),
        CompartmentId(0x0102),
        ParcelId(0x1122_3344),
        0x0102_0304_0506_0708,
    );
    let b = t.encode();
    assert_eq!(b.len(), OfflineToken::LEN);
    assert_eq!(b.len(), 39);
    assert_eq!(b[0], 2);
    assert_eq!(b[1..5], [0x0D, 0x0C, 0x0B, 0x0A]);
    assert_eq!(b[5..9], [0x08, 0x07, 0x06, 0x05]);
    assert_eq!(b[9..11], [0x02, 0x01]);
    assert_eq!(b[11..15], [0x44, 0x33, 0x22, 0x11]);
    assert_eq!(b[15..23], [8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(b[23..], t.tag);
    assert_eq!(OfflineToken::decode(&b), Ok(t));
    assert!(t.verify(&keys));
    // Format 1 (no incarnation) and any other version are refused.
    for version in [1, 3] {
        let mut other = b;
        other[0] = version;
        assert_eq!(
            OfflineToken::decode(&other),
            Err(TokenError::UnsupportedVersion { found: version })
        );
    }
}

#[test]
fn security_refusals_read_as_instructions() {
    let e = BankError::RemoteOpen(RemoteOpenError::Locked);
    assert!(e.to_string().contains("staff"));
    let e = BankError::TokenRefused {
        reason: TokenError::Expired { expires_at: 0 },
        locked_until: None,
    };
    assert!(e.to_string().contains("new one"));
    assert_eq!(
        format!("{:?}", keys()),
        "BankKeys { bank: BankId(1042), .. }"
    );
}

/// An attacker puts back last week's state file, hoping the pickup that
/// emptied a compartment since then is forgotten. The restored bank numbers
/// its next records from where that snapshot stood, so the same sequence
/// numbers come again, but with other links: whoever holds the links that
/// went up (the backend) or were written (the gateway's log) sees that the
/// trail forked, and the new records still form a chain from the old
/// snapshot's last link.
#[test]
fn a_rolled_back_snapshot_reissues_sequence_numbers_with_other_links() {
    let mut sim = bank_with_parcels(2);
    sim.drain();
    let old = sim.bank.snapshot_to_vec().unwrap();
    let old_last = sim.audit.last().copied().unwrap();
    // Since then: a parcel was picked up.
    let stored = sim
        .bank
        .views()
        .find(|v| v.stage == Stage::Stored)
        .unwrap()
        .id;
    let code = sim.code_for(stored).unwrap();
    sim.advance(Duration::from_secs(60));
    sim.pick_up(&code, stored);
    sim.drain();
    let genuine: Vec<_> = sim
        .audit
        .iter()
        .filter(|r| r.seq > old_last.seq)
        .copied()
        .collect();
    assert!(genuine.len() >= 3, "the pickup is on record");

    // The old state file is put back.
    let now = sim.now + Duration::from_secs(5);
    let mut bank =
        Bank::restore_on_heap(&mixed_layout(24), Policy::default(), keys(), &old, now).unwrap();
    let mut reissued = Vec::new();
    while let Some(output) = bank.poll() {
        if let BankOutput::Audit(r) = output {
            reissued.push(r);
        }
    }
    let first = reissued[0];
    assert_eq!(first.seq, genuine[0].seq, "the same number comes again");
    assert_ne!(first.link, genuine[0].link, "with another link");
    // The new records chain on from the old snapshot's last link: a
    // consistent fork, not noise.
    assert_eq!(
        verify_chain(AuditChain::after(old_last.seq, old_last.link), &reissued),
        Ok(reissued.len() as u64)
    );
    // Checked against the genuine trail, the first re-issued record breaks it.
    let mut chain = AuditChain::after(old_last.seq, old_last.link);
    chain.check(&genuine[0]).unwrap();
    assert_eq!(
        chain.check(&first),
        Err(ChainBreak::OutOfOrder {
            last: first.seq,
            found: first.seq
        })
    );
}
