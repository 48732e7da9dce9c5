//! Somebody guessing codes at a keypad.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::codes::{CodeError, KeypadId, LockoutPolicy};
use locker_domain::bank::{AlertKind, BankError, CodeOutcome, ParcelNeeds, Policy};
use locker_proto::SizeClass;
use locker_proto::time::Duration;

#[test]
fn brute_force_at_a_keypad_runs_into_the_lockout_and_opens_nothing() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let mut real = Vec::new();
    for _ in 0..10 {
        let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
        real.push(sim.deposit(r.compartment));
    }
    let keypad = KeypadId(1);
    let mut guesses = 0u32;
    let mut locked = 0u32;
    let mut opened = 0u32;
    let end = sim.now + Duration::from_hours(2);
    let mut guess = 0u32;
    while sim.now < end {
        let text = format!("{:06}", guess * 7919 % 1_000_000);
        guess += 1;
        if real.contains(&text) {
            continue;
        }
        sim.drain();
        match sim.bank.enter_code(keypad, &text, sim.now) {
            Ok(CodeOutcome::Rejected { .. }) => guesses += 1,
            Ok(CodeOutcome::Opening(_)) => opened += 1,
            Err(BankError::Code(CodeError::LockedOut { until })) => {
                locked += 1;
                sim.now = until;
            }
            Err(e) => panic!("{e}"),
        }
        sim.drain();
        sim.advance(Duration::from_secs(2));
    }
    assert_eq!(opened, 0);
    assert!(locked >= 5, "lockouts: {locked}");
    assert!(
        guesses <= 12,
        "an attacker gets only about ten guesses in two hours, got {guesses}"
    );
    // Another keypad is not affected, and a right code there still works.
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.drain();
    assert_eq!(
        sim.bank.enter_code(KeypadId(2), &code, sim.now).unwrap(),
        CodeOutcome::Opening(r.compartment)
    );
}

#[test]
fn many_failures_across_keypads_raise_one_bank_wide_alert() {
    let lockout = LockoutPolicy {
        spike_threshold: 10,
        ..LockoutPolicy::default()
    };
    let mut sim = Sim::<24>::new(
        24,
        Policy {
            lockout,
            ..Policy::default()
        },
    );
    for k in 0..4u8 {
        for g in 0..6 {
            sim.drain();
            let _ = sim
                .bank
                .enter_code(KeypadId(k), &format!("{:06}", 100 + g), sim.now);
            sim.drain();
        }
    }
    assert_eq!(sim.alerts_of(AlertKind::KeypadAttack), 1);
}

#[test]
fn a_code_of_the_wrong_length_is_refused_and_not_counted() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let before = *sim.bank.stats();
    let seq_before = sim.audit.len();
    for bad in ["12345", "1234567", "12a456", ""] {
        sim.drain();
        let err = sim.bank.enter_code(KeypadId(0), bad, sim.now).unwrap_err();
        assert!(
            matches!(
                err,
                BankError::Code(CodeError::WrongLength { .. } | CodeError::NotADigit)
            ),
            "{bad}: {err}"
        );
    }
    sim.drain();
    assert_eq!(sim.audit.len(), seq_before);
    assert_eq!(sim.bank.stats(), &before);
}

#[test]
fn a_code_works_once() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.pick_up(&code, r.compartment);
    sim.drain();
    let again = sim.bank.enter_code(KeypadId(0), &code, sim.now).unwrap();
    assert!(matches!(again, CodeOutcome::Rejected { .. }));
}
