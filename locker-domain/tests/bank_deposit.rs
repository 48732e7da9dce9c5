//! Who may open a reserved compartment: the courier with its deposit code,
//! or a named account at the bank's screen. Each scenario is an attempt to
//! open a reserved (empty) door without the right credential.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use hmac::{Hmac, Mac};
use locker_domain::bank::codes::{CodeError, KeypadId};
use locker_domain::bank::{
    AuditEvent, BankError, BankId, BankKeys, CodeOutcome, DEPOSIT_CODE_DIGITS, DepositCode,
    Incarnation, ParcelId, ParcelNeeds, Policy, StaffId, Stage, Witnesses,
};
use locker_proto::time::Duration;
use locker_proto::{Command, CompartmentId, SizeClass};

const COURIER_KEYPAD: KeypadId = KeypadId(1);

fn unlocks(sim: &Sim<24>) -> usize {
    sim.commands
        .iter()
        .filter(|(_, c)| matches!(c, Command::Unlock { .. }))
        .count()
}

fn audit_events(sim: &Sim<24>) -> Vec<AuditEvent> {
    sim.audit.iter().map(|r| r.event).collect()
}

/// A bank with two compartments reserved for couriers, nothing unlocked.
fn two_reservations() -> (Sim<24>, CompartmentId, CompartmentId) {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let a = sim.reserve(ParcelNeeds::size(SizeClass::Small)).compartment;
    let b = sim.reserve(ParcelNeeds::size(SizeClass::Small)).compartment;
    sim.drain();
    sim.commands.clear();
    (sim, a, b)
}

#[test]
fn a_reserved_door_opens_for_its_deposit_code_and_no_other() {
    let (mut sim, a, b) = two_reservations();
    let code_a = sim.bank.deposit_code(a).unwrap().to_string();
    let code_b = sim.bank.deposit_code(b).unwrap().to_string();
    assert_eq!(code_a.len(), DEPOSIT_CODE_DIGITS);
    assert_ne!(code_a, code_b);

    // B's code at A, a made-up code, A's code at a free compartment: nothing.
    let free = sim
        .bank
        .views()
        .find(|v| v.stage == Stage::Free)
        .unwrap()
        .id;
    for (at, code) in [(a, &code_b), (a, &"12345678".to_string()), (free, &code_a)] {
        sim.drain();
        let out = sim
            .bank
            .enter_deposit_code(COURIER_KEYPAD, at, code, sim.now)
            .unwrap();
        assert!(matches!(out, CodeOutcome::Rejected { .. }), "{at:?}");
    }
    sim.drain();
    assert_eq!(unlocks(&sim), 0, "no wrong credential opened a door");
    let rejected = audit_events(&sim)
        .iter()
        .filter(|e| matches!(e, AuditEvent::DepositCodeRejected { .. }))
        .count();
    assert_eq!(rejected, 3, "every attempt is on record");
    assert_eq!(sim.bank.view(a).unwrap().stage, Stage::Reserved);

    // The right one opens A, audited with the keypad, before the unlock.
    sim.advance(Duration::from_secs(1));
    sim.drain();
    assert_eq!(
        sim.bank
            .enter_deposit_code(COURIER_KEYPAD, a, &code_a, sim.now)
            .unwrap(),
        CodeOutcome::Opening(a)
    );
    sim.drain();
    assert_eq!(unlocks(&sim), 1);
    let trail: Vec<_> = sim
        .audit
        .iter()
        .filter(|r| r.compartment == Some(a))
        .map(|r| r.event)
        .collect();
    assert!(
        trail.ends_with(&[
            AuditEvent::DepositCodeAccepted {
                keypad: COURIER_KEYPAD
            },
            AuditEvent::UnlockCommanded {
                purpose: locker_domain::bank::Purpose::Deposit,
                attempt: 0
            }
        ]),
        "{trail:?}"
    );
}

#[test]
fn guessing_deposit_codes_locks_the_keypad_like_guessing_pickup_codes() {
    let (mut sim, a, _) = two_reservations();
    let mut locked = None;
    for guess in 0..10u32 {
        sim.drain();
        match sim
            .bank
            .enter_deposit_code(COURIER_KEYPAD, a, &format!("{guess:08}"), sim.now)
        {
            Ok(CodeOutcome::Rejected {
                locked_until: Some(until),
                ..
            }) => {
                locked = Some(until);
                break;
            }
            Ok(CodeOutcome::Rejected { .. }) => {}
            other => panic!("guess {guess}: {other:?}"),
        }
    }
    let until = locked.expect("the keypad locks after a few wrong codes");
    // While locked, even the right code is turned away at that keypad.
    let right = sim.bank.deposit_code(a).unwrap().to_string();
    sim.drain();
    assert!(matches!(
        sim.bank
            .enter_deposit_code(COURIER_KEYPAD, a, &right, sim.now),
        Err(BankError::Code(CodeError::LockedOut { .. }))
    ));
    assert!(until > sim.now);
    sim.drain();
    assert_eq!(unlocks(&sim), 0);
    // A code of the wrong length is a misread: refused, not counted.
    assert!(matches!(
        sim.bank
            .enter_deposit_code(KeypadId(2), a, "123456", sim.now),
        Err(BankError::Code(CodeError::WrongLength { .. }))
    ));
}

#[test]
fn a_deposit_code_is_bound_to_its_parcel_and_to_the_banks_incarnation() {
    let keys = keys();
    let life = Incarnation(0x2e07_6d1c);
    let code = DepositCode::for_parcel(&keys, life, CompartmentId(3), ParcelId(9));
    for other in [
        DepositCode::for_parcel(
            &keys,
            Incarnation(life.0 + 1),
            CompartmentId(3),
            ParcelId(9),
        ),
        DepositCode::for_parcel(&keys, life, CompartmentId(4), ParcelId(9)),
        DepositCode::for_parcel(&keys, life, CompartmentId(3), ParcelId(10)),
        DepositCode::for_parcel(
            &BankKeys::derive(BankId(1043), &[0x2b; 32]),
            life,
            CompartmentId(3),
            ParcelId(9),
        ),
    ] {
        assert_ne!(code, other);
    }

    // A bank begun in a new life turns away the code of its previous one
    // for a reservation with the same compartment and parcel number.
    let (mut sim, a, _) = two_reservations();
    let old = sim.bank.deposit_code(a).unwrap().to_string();
    let mut fresh = Sim::<24>::new(24, Policy::default());
    fresh.drain();
    fresh
        .bank
        .begin_incarnation(life, &Witnesses::default(), fresh.now)
        .unwrap();
    let r = fresh.reserve(ParcelNeeds::size(SizeClass::Small));
    assert_eq!(r.compartment, a);
    fresh.drain();
    assert!(matches!(
        fresh
            .bank
            .enter_deposit_code(COURIER_KEYPAD, a, &old, fresh.now)
            .unwrap(),
        CodeOutcome::Rejected { .. }
    ));
    sim.drain();
}

#[test]
fn the_deposit_code_is_the_documented_hmac() {
    let secret = [0x11; 32];
    let keys = BankKeys::derive(BankId(0x0102_0304), &secret);
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"locker/v1/bank-keys"), &secret);
    let mut key = [0u8; 32];
    hk.expand_multi_info(&[b"locker/v1/deposit-code", &[4, 3, 2, 1]], &mut key)
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(b"locker/v1/deposit-code");
    mac.update(&[4, 3, 2, 1]);
    mac.update(&[0x0d, 0x0c, 0x0b, 0x0a]);
    mac.update(&[7, 0]);
    mac.update(&[42, 0, 0, 0]);
    let full = mac.finalize().into_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&full[..8]);
    let expected = format!("{:08}", u64::from_le_bytes(first) % 100_000_000);
    let code = DepositCode::for_parcel(
        &keys,
        Incarnation(0x0a0b_0c0d),
        CompartmentId(7),
        ParcelId(42),
    );
    assert_eq!(code.to_string(), expected);
    assert_eq!(format!("{code:?}"), "DepositCode(********)");
}

#[test]
fn a_deposit_at_the_banks_screen_names_the_account_in_the_audit() {
    let (mut sim, a, _) = two_reservations();
    sim.drain();
    sim.bank.start_deposit(a, StaffId(2207), sim.now).unwrap();
    sim.drain();
    let record = sim
        .audit
        .iter()
        .find(|r| r.compartment == Some(a) && matches!(r.event, AuditEvent::DepositOpenedBy { .. }))
        .unwrap();
    assert_eq!(
        record.event,
        AuditEvent::DepositOpenedBy {
            account: StaffId(2207)
        }
    );
    assert_eq!(unlocks(&sim), 1);
}
