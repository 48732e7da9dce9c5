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
use locker_domain::bank::{AlertKind, BankError, CodeOutcome, MAX_REOPENS, ParcelNeeds, Policy};
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
            Ok(CodeOutcome::Opening(_) | CodeOutcome::CollectAtCounter) => opened += 1,
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

/// The attack from the field: a man with a parcel of his own types his own
/// code between guesses (which used to wipe the keypad's count) and closes
/// the door on his parcel each time (which kept his code valid).
#[test]
fn an_attacker_with_a_parcel_of_his_own_gains_nothing_from_his_code() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let mine = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let my_code = sim.deposit(mine.compartment);
    let stranger = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let their_code = sim.deposit(stranger.compartment);
    let keypad = KeypadId(0);
    let free = LockoutPolicy::default().free_attempts;
    let mut guess = 0u32;
    let mut wrong = |sim: &mut Sim<24>| loop {
        let text = format!("{:06}", 100_000 + guess * 7919 % 900_000);
        guess += 1;
        if text == my_code || text == their_code {
            continue;
        }
        sim.drain();
        return sim.bank.enter_code(keypad, &text, sim.now).unwrap();
    };
    let rejected = |outcome| match outcome {
        CodeOutcome::Rejected {
            failures,
            locked_until,
        } => (failures, locked_until),
        other => panic!("a wrong code opened a door: {other:?}"),
    };
    // His free guesses are spent.
    for _ in 0..free {
        assert!(matches!(
            wrong(&mut sim),
            CodeOutcome::Rejected {
                locked_until: None,
                ..
            }
        ));
    }
    // His own code opens his door; he closes it on his parcel again.
    sim.advance(Duration::from_secs(5));
    sim.drain();
    assert_eq!(
        sim.bank.enter_code(keypad, &my_code, sim.now),
        Ok(CodeOutcome::Opening(mine.compartment))
    );
    sim.answer_status_requests();
    sim.open_door(mine.compartment, true);
    sim.close_door(mine.compartment);
    sim.advance(Duration::from_secs(30));
    sim.timeout();
    // His own code, typed within the correction window of his last guess,
    // took that one guess back as a corrected typo: one more free guess,
    // never the whole count.
    let (failures, locked_until) = rejected(wrong(&mut sim));
    assert_eq!(
        failures,
        u16::from(free),
        "one guess back, not the count wiped"
    );
    assert_eq!(locked_until, None);
    // The next is locked out as if he had never typed his code.
    let (failures, locked_until) = rejected(wrong(&mut sim));
    assert_eq!(failures, u16::from(free) + 1, "the count goes on");
    assert!(locked_until.is_some(), "the ramp goes on");

    // Re-opening his own parcel is limited: after MAX_REOPENS pickups that
    // left it inside, the code opens nothing more and staff are alerted.
    let reopen = |sim: &mut Sim<24>| {
        sim.advance(Duration::from_hours(2));
        sim.timeout();
        sim.drain();
        let out = sim.bank.enter_code(KeypadId(2), &my_code, sim.now);
        if out.is_ok() {
            sim.answer_status_requests();
            sim.open_door(mine.compartment, true);
            sim.close_door(mine.compartment);
            sim.advance(Duration::from_secs(30));
            sim.timeout();
        }
        out
    };
    let mut opened = 1;
    let refused = loop {
        match reopen(&mut sim) {
            Ok(CodeOutcome::Opening(c)) => {
                assert_eq!(c, mine.compartment);
                opened += 1;
            }
            other => break other,
        }
        assert!(opened <= usize::from(MAX_REOPENS), "the code kept opening");
    };
    assert_eq!(opened, usize::from(MAX_REOPENS));
    assert_eq!(refused, Err(BankError::ReopenLimit(mine.compartment)));
    sim.drain();
    assert_eq!(sim.alerts_of(AlertKind::KeypadAttack), 1);
    // His parcel is still in its compartment, for staff to hand over.
    let view = sim.bank.view(mine.compartment).unwrap();
    assert_eq!(view.parcel, Some(mine.parcel));
}

#[test]
fn a_lone_guesser_held_back_by_the_lockout_is_reported_to_staff_once() {
    use locker_domain::bank::codes::KEYPAD_ALERT_AFTER;
    use locker_domain::bank::{AlertKind, Evidence};
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let real = sim.deposit(r.compartment);
    let keypad = KeypadId(2);
    let mut typed = 0u16;
    // He waits out every lockout and goes on guessing.
    for guess in 0..12u32 {
        let text = format!("{:06}", 123_457 + guess);
        if text == real {
            continue;
        }
        sim.drain();
        match sim.bank.enter_code(keypad, &text, sim.now) {
            Ok(CodeOutcome::Rejected { locked_until, .. }) => {
                typed += 1;
                if let Some(until) = locked_until {
                    sim.now = until;
                }
            }
            other => panic!("guess {guess}: {other:?}"),
        }
        sim.drain();
        let alerts = sim.alerts_of(AlertKind::KeypadAttack);
        let expected = usize::from(typed >= KEYPAD_ALERT_AFTER);
        assert_eq!(alerts, expected, "after {typed} wrong codes");
    }
    let alert = sim
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::KeypadAttack)
        .unwrap();
    assert_eq!(
        alert.evidence,
        Evidence::Keypad {
            keypad,
            failures: KEYPAD_ALERT_AFTER
        }
    );
}

#[test]
fn a_mistake_hours_after_a_guesser_gave_up_is_not_taken_for_his_attack() {
    use locker_domain::bank::AlertKind;
    use locker_domain::bank::codes::KEYPAD_ALERT_AFTER;
    let mut sim = Sim::<24>::new(24, Policy::default());
    let keypad = KeypadId(0);
    // Seven wrong codes, each after the lockout, then he gives up.
    for guess in 0..KEYPAD_ALERT_AFTER - 1 {
        sim.drain();
        let out = sim
            .bank
            .enter_code(
                keypad,
                &format!("{:06}", 900_000 + u32::from(guess)),
                sim.now,
            )
            .unwrap();
        if let CodeOutcome::Rejected {
            locked_until: Some(until),
            ..
        } = out
        {
            sim.now = until;
        }
    }
    // Ten hours later a resident mistypes once.
    sim.advance(Duration::from_hours(10));
    sim.drain();
    let out = sim.bank.enter_code(keypad, "999999", sim.now).unwrap();
    assert!(
        matches!(out, CodeOutcome::Rejected { failures, .. } if failures == KEYPAD_ALERT_AFTER)
    );
    sim.drain();
    assert_eq!(sim.alerts_of(AlertKind::KeypadAttack), 0);
}

#[test]
fn a_busy_day_of_typos_each_corrected_at_once_never_locks_the_keypad_or_calls_security() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let mut codes = Vec::new();
    for _ in 0..20 {
        let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
        codes.push((r.compartment, sim.deposit(r.compartment)));
    }
    let keypad = KeypadId(0);
    // Twenty residents over an afternoon, one every twenty minutes: each
    // types the code's digits reversed, sees "wrong code", types it right.
    for (compartment, code) in &codes {
        sim.advance(Duration::from_mins(20));
        sim.timeout();
        sim.drain();
        let typo: String = code.chars().rev().collect();
        if typo != *code {
            let outcome = sim.bank.enter_code(keypad, &typo, sim.now).unwrap();
            assert!(matches!(
                outcome,
                CodeOutcome::Rejected {
                    failures: 1,
                    locked_until: None
                }
            ));
        }
        sim.advance(Duration::from_secs(8));
        sim.pick_up(code, *compartment);
    }
    assert_eq!(sim.alerts_of(AlertKind::KeypadAttack), 0);
}

#[test]
fn a_wrong_code_the_right_one_follows_only_minutes_later_still_counts() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    let keypad = KeypadId(0);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    sim.drain();
    sim.bank.enter_code(keypad, wrong, sim.now).unwrap();
    // Beyond the correction window: not a typo put right, a guess and then
    // somebody's code.
    sim.advance(Duration::from_mins(3));
    sim.timeout();
    sim.pick_up(&code, r.compartment);
    sim.drain();
    let CodeOutcome::Rejected { failures, .. } =
        sim.bank.enter_code(keypad, wrong, sim.now).unwrap()
    else {
        panic!("a wrong code opened a door");
    };
    assert_eq!(failures, 2, "the first wrong code still counts");
}

/// Two codes one slip of the finger apart (a digit wrong, or two
/// neighbouring digits swapped).
fn one_typo_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let differ: Vec<usize> = (0..a.len()).filter(|&k| a[k] != b[k]).collect();
    match differ[..] {
        [_] => true,
        [k, l] => l == k + 1 && a[k] == b[l] && a[l] == b[k],
        _ => false,
    }
}

#[test]
fn a_resident_s_slip_at_the_keypad_never_opens_a_stranger_s_door() {
    // Four-digit codes and a full bank of 24, twenty times over: drawn
    // blindly, about one pair of active codes in each bank would be one
    // typo apart, and a resident's slip would unlock a stranger's door that
    // nobody then opens.
    let policy = Policy {
        code_digits: 4,
        ..Policy::default()
    };
    for seed in 1..=20u64 {
        let mut sim = Sim::<24>::new(24, policy);
        sim.dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut active: Vec<(String, _)> = Vec::new();
        while let Ok(r) = sim.try_reserve(ParcelNeeds::size(SizeClass::Small)) {
            sim.drain();
            let code = sim.deposit(r.compartment);
            active.push((code, r.compartment));
        }
        assert!(active.len() >= 8, "seed {seed}: {} parcels", active.len());
        for (a, _) in &active {
            for (b, _) in &active {
                assert!(
                    !one_typo_apart(a, b),
                    "seed {seed}: {a} and {b} are one typo apart"
                );
            }
        }
        // The slip itself, at the keypad: the first parcel's code with its
        // last two digits swapped (or its last digit one key over) opens
        // nothing, and the right code right after it opens the right door.
        let (code, door) = active[0].clone();
        let mut slip: Vec<char> = code.chars().collect();
        if slip[2] != slip[3] {
            slip.swap(2, 3);
        } else {
            slip[3] = char::from(b'0' + (slip[3] as u8 - b'0' + 1) % 10);
        }
        let slip: String = slip.into_iter().collect();
        assert!(matches!(sim.type_code(&slip), CodeOutcome::Rejected { .. }));
        assert_eq!(sim.type_code(&code), CodeOutcome::Opening(door));
    }
}
