//! Pickup codes and the keypad guard, told as stories from a locker's life.

use locker_domain::bank::codes::{
    CodeError, FORGET_AFTER_MAX_LOCKOUTS, KeypadGuard, KeypadId, LockoutPolicy, MAX_CODE_DIGITS,
    PickupCode,
};
use locker_proto::time::{Duration, Instant};
use rand_core::RngCore;

/// A small seeded generator (SplitMix64), so every run draws the same codes.
struct SeededRng(u64);

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dst)
    }
}

/// Yields 0, 1, …, 255, 0, 1, … : every byte value equally often.
struct EveryByte(u8);

impl RngCore for EveryByte {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
}

/// A hardware RNG that has failed high.
struct StuckHigh;

impl RngCore for StuckHigh {
    fn next_u32(&mut self) -> u32 {
        u32::MAX
    }
    fn next_u64(&mut self) -> u64 {
        u64::MAX
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(0xff);
    }
}

const FRONT: KeypadId = KeypadId(0);
const SIDE: KeypadId = KeypadId(1);

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

#[test]
fn a_burglar_trying_codes_at_the_keypad_is_locked_out_for_longer_each_time() {
    let mut guard = KeypadGuard::<2>::new(LockoutPolicy::default());
    let mut now = at(1_000);
    let mut lockouts = Vec::new();
    for attempt in 1..=14u16 {
        guard.check(FRONT, now).unwrap();
        let outcome = guard.record_failure(FRONT, now).unwrap();
        assert_eq!(outcome.failures, attempt);
        match outcome.locked_until {
            None => assert!(
                attempt <= 3,
                "attempt {attempt} should have locked the keypad"
            ),
            Some(until) => {
                // Locked right up to the end, open again at it.
                assert_eq!(
                    guard.check(FRONT, until - Duration::from_millis(1)),
                    Err(CodeError::LockedOut { until })
                );
                assert_eq!(guard.check(FRONT, until), Ok(()));
                lockouts.push((until - now).as_secs());
                now = until;
            }
        }
    }
    assert_eq!(
        lockouts,
        [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600]
    );
}

#[test]
fn a_correct_code_takes_back_only_the_typo_just_before_it_and_a_quiet_spell_forgets_the_rest() {
    let mut guard = KeypadGuard::<1>::new(LockoutPolicy::default());
    guard.record_failure(FRONT, at(10)).unwrap();
    guard.record_failure(FRONT, at(15)).unwrap();
    // The recipient gets it right five seconds later: the typo just before
    // is taken back, the one before it still counts, or a guesser with a
    // parcel of his own could wipe his count with his own code.
    guard.record_success(FRONT, at(20)).unwrap();
    assert_eq!(guard.failures(FRONT), Ok(1));
    // A second correct code takes nothing more back.
    guard.record_success(FRONT, at(25)).unwrap();
    assert_eq!(guard.failures(FRONT), Ok(1));
    // Two more typos minutes apart, the second never corrected: the last
    // free one.
    guard.record_failure(FRONT, at(100)).unwrap();
    guard.record_success(FRONT, at(100 + 3 * 60)).unwrap(); // too late to correct it
    let third = guard.record_failure(FRONT, at(400)).unwrap();
    assert_eq!((third.failures, third.locked_until), (3, None));
    // Twelve quiet hours later the keypad has forgotten: three free again.
    let later = 400 + FORGET_AFTER_MAX_LOCKOUTS * 3_600;
    for n in 1..=3 {
        let outcome = guard.record_failure(FRONT, at(later)).unwrap();
        assert_eq!((outcome.failures, outcome.locked_until), (n, None));
    }
}

#[test]
fn a_wrong_code_that_locked_the_keypad_is_not_taken_back_after_the_lockout() {
    let mut guard = KeypadGuard::<1>::new(LockoutPolicy::default());
    for _ in 0..3 {
        guard.record_failure(FRONT, at(0)).unwrap();
    }
    // The fourth locks the keypad for 30 s: not a typo put right at once.
    let fourth = guard.record_failure(FRONT, at(0)).unwrap();
    assert_eq!(fourth.locked_until, Some(at(30)));
    guard.record_success(FRONT, at(30)).unwrap();
    assert_eq!(guard.failures(FRONT), Ok(4));
}

#[test]
fn a_locked_keypad_refuses_even_the_right_code_until_the_lockout_ends() {
    let mut guard = KeypadGuard::<1>::new(LockoutPolicy::default());
    for _ in 0..4 {
        guard.record_failure(FRONT, at(0)).unwrap();
    }
    let until = at(30);
    let before = format!("{guard:?}");
    assert_eq!(
        guard.record_success(FRONT, at(10)),
        Err(CodeError::LockedOut { until })
    );
    assert_eq!(
        guard.record_failure(FRONT, at(10)),
        Err(CodeError::LockedOut { until })
    );
    assert_eq!(
        format!("{guard:?}"),
        before,
        "a refused attempt changes nothing"
    );
    guard.record_success(FRONT, until).unwrap();
    assert_eq!(guard.check(FRONT, until), Ok(()));
}

#[test]
fn last_night_s_vandal_does_not_cost_the_morning_s_first_typo_an_hour() {
    let mut guard = KeypadGuard::<1>::new(LockoutPolicy::default());
    // 02:00: a vandal hammers the keypad until it locks for an hour at a time.
    let mut now = Instant::ZERO + Duration::from_hours(2);
    for _ in 0..12 {
        now = guard
            .record_failure(FRONT, now)
            .unwrap()
            .locked_until
            .unwrap_or(now);
    }
    let last_vandal_guess = now;
    guard.record_failure(FRONT, last_vandal_guess).unwrap();
    // Still the same episode 11 hours later: the next mistake costs the full hour.
    let mut later = guard.clone();
    let eleven_hours_on = last_vandal_guess + Duration::from_hours(11);
    let outcome = later.record_failure(FRONT, eleven_hours_on).unwrap();
    assert_eq!(
        outcome.locked_until,
        Some(eleven_hours_on + Duration::from_hours(1))
    );
    // After 12 quiet hours the keypad has forgotten: a typo is free again.
    let next_day = last_vandal_guess + Duration::from_hours(12);
    let outcome = guard.record_failure(FRONT, next_day).unwrap();
    assert_eq!((outcome.failures, outcome.locked_until), (1, None));
}

#[test]
fn a_lockout_at_the_front_keypad_does_not_lock_the_side_keypad() {
    let mut guard = KeypadGuard::<2>::new(LockoutPolicy::default());
    for _ in 0..5 {
        let _ = guard.record_failure(FRONT, at(0));
    }
    assert!(guard.check(FRONT, at(1)).is_err());
    assert_eq!(guard.check(SIDE, at(1)), Ok(()));
    assert_eq!(guard.failures(SIDE), Ok(0));
}

#[test]
fn a_spike_of_failures_across_keypads_raises_one_bank_wide_alert() {
    // Eight keypads, three wrong codes each within two minutes: 24 failures.
    let mut guard = KeypadGuard::<8>::new(LockoutPolicy::default());
    let mut alerts = Vec::new();
    let mut n = 0;
    for round in 0..3u64 {
        for keypad in 0..8u8 {
            n += 1;
            let outcome =
                guard.record_failure(KeypadId(keypad), at(round * 40 + u64::from(keypad)));
            if outcome.unwrap().spike_alert {
                alerts.push(n);
            }
        }
    }
    assert_eq!(alerts, [21], "one alert, at the failure that crossed 20");
}

#[test]
fn a_second_attack_after_the_first_has_died_down_raises_a_second_alert() {
    let policy = LockoutPolicy {
        free_attempts: 100,
        ..LockoutPolicy::default()
    };
    let mut guard = KeypadGuard::<1>::new(policy);
    let mut alerts = Vec::new();
    // Two bursts of 30 wrong codes an hour apart.
    for burst_start in [0u64, 3_600] {
        for i in 0..30 {
            let t = at(burst_start + i);
            if guard.record_failure(FRONT, t).unwrap().spike_alert {
                alerts.push(t);
            }
        }
        guard.record_success(FRONT, at(burst_start + 60)).unwrap();
    }
    assert_eq!(alerts, [at(20), at(3_620)]);
}

#[test]
fn an_attack_that_keeps_going_all_evening_is_one_alert_not_one_per_window() {
    let policy = LockoutPolicy {
        free_attempts: 200,
        ..LockoutPolicy::default()
    };
    let mut guard = KeypadGuard::<4>::new(policy);
    let mut alerts = 0;
    // Four keypads, one wrong code each every 80 s for 4 hours: 30 per 10 min.
    for step in 0..180u64 {
        for keypad in 0..4u8 {
            let t = at(step * 80 + u64::from(keypad) * 20);
            let outcome = guard.record_failure(KeypadId(keypad), t).unwrap();
            alerts += u32::from(outcome.spike_alert);
        }
        if step % 40 == 39 {
            for keypad in 0..4u8 {
                guard
                    .record_success(KeypadId(keypad), at(step * 80 + 79))
                    .unwrap();
            }
        }
    }
    assert_eq!(alerts, 1);
}

#[test]
fn one_keypad_alone_cannot_trip_the_bank_wide_alert() {
    let mut guard = KeypadGuard::<1>::new(LockoutPolicy::default());
    let mut now = at(0);
    let mut most_in_ten_minutes = 0;
    while now < at(24 * 3_600) {
        let outcome = guard.record_failure(FRONT, now).unwrap();
        assert!(!outcome.spike_alert);
        most_in_ten_minutes = most_in_ten_minutes.max(guard.recent_failures(now));
        now = outcome.locked_until.unwrap_or(now);
    }
    assert_eq!(most_in_ten_minutes, 8);
}

#[test]
fn the_bank_wakes_when_the_earliest_lockout_ends_and_then_moves_on() {
    let mut guard = KeypadGuard::<2>::new(LockoutPolicy::default());
    assert_eq!(guard.poll_timeout(), None);
    for _ in 0..5 {
        let _ = guard.record_failure(FRONT, at(0));
    }
    for _ in 0..4 {
        guard.record_failure(SIDE, at(10)).unwrap();
    }
    // Front: 4th failure locked it until 30 s; the 5th was refused.
    assert_eq!(guard.failures(FRONT), Ok(4));
    assert_eq!(guard.poll_timeout(), Some(at(30)));
    guard.handle_timeout(at(29)); // early: harmless
    assert_eq!(guard.poll_timeout(), Some(at(30)));
    guard.handle_timeout(at(30));
    assert_eq!(guard.poll_timeout(), Some(at(40)));
    guard.handle_timeout(at(1_000));
    assert_eq!(guard.poll_timeout(), None);
    // The count survives the lockout: the next mistake doubles.
    assert_eq!(
        guard.record_failure(FRONT, at(1_000)).unwrap().locked_until,
        Some(at(1_060))
    );
}

#[test]
fn a_clock_that_steps_back_never_shortens_a_lockout() {
    let mut guard = KeypadGuard::<1>::new(LockoutPolicy::default());
    for _ in 0..4 {
        guard.record_failure(FRONT, at(1_000)).unwrap();
    }
    // A stale clock cannot open the keypad early or clear the lockout.
    assert_eq!(
        guard.check(FRONT, at(5)),
        Err(CodeError::LockedOut { until: at(1_030) })
    );
    guard.handle_timeout(at(5));
    assert_eq!(guard.poll_timeout(), Some(at(1_030)));

    guard.handle_timeout(at(1_030));
    assert_eq!(
        guard.record_failure(FRONT, at(1_030)).unwrap().locked_until,
        Some(at(1_090))
    );
    guard.handle_timeout(at(1_090));
    // A failure stamped in the past counts from the latest time seen.
    assert_eq!(
        guard.record_failure(FRONT, at(50)).unwrap().locked_until,
        Some(at(1_210))
    );
}

#[test]
fn a_keypad_the_bank_does_not_have_is_refused_and_changes_nothing() {
    let mut guard = KeypadGuard::<2>::new(LockoutPolicy::default());
    guard.record_failure(FRONT, at(0)).unwrap();
    let before = format!("{guard:?}");
    let ghost = KeypadId(2);
    assert_eq!(guard.check(ghost, at(1)), Err(CodeError::UnknownKeypad));
    assert_eq!(
        guard.record_failure(ghost, at(1)),
        Err(CodeError::UnknownKeypad)
    );
    assert_eq!(
        guard.record_success(ghost, at(1)),
        Err(CodeError::UnknownKeypad)
    );
    assert_eq!(guard.failures(ghost), Err(CodeError::UnknownKeypad));
    assert_eq!(format!("{guard:?}"), before);
}

#[test]
fn a_code_typed_too_short_too_long_or_with_letters_is_refused_with_the_reason() {
    assert_eq!(
        PickupCode::parse("123").unwrap_err(),
        CodeError::WrongLength {
            len: 3,
            min: 4,
            max: 10
        }
    );
    assert_eq!(
        PickupCode::parse("12345678901").unwrap_err(),
        CodeError::WrongLength {
            len: 11,
            min: 4,
            max: 10
        }
    );
    assert!(matches!(
        PickupCode::parse(""),
        Err(CodeError::WrongLength { len: 0, .. })
    ));
    for typed in [
        "12a456",
        "-12345",
        "123 456",
        "12345\n",
        "１２３４",
        "+123456",
    ] {
        assert_eq!(
            PickupCode::parse(typed).unwrap_err(),
            CodeError::NotADigit,
            "{typed:?}"
        );
    }
    assert_eq!(
        PickupCode::from_digits(&[1, 2, 3, 4, 10]).unwrap_err(),
        CodeError::NotADigit
    );
    assert!(matches!(
        PickupCode::from_digits(&[1; 11]),
        Err(CodeError::WrongLength { .. })
    ));
    let mut rng = SeededRng(1);
    for len in [0, 3, 11, usize::MAX] {
        assert!(matches!(
            PickupCode::generate(&mut rng, len),
            Err(CodeError::WrongLength { .. })
        ));
    }
}

#[test]
fn the_code_never_appears_in_logs() {
    let code = PickupCode::parse("9876543210").unwrap();
    for shown in [format!("{code:?}"), format!("{code}"), format!("{code:#?}")] {
        assert!(!shown.chars().any(|c| c.is_ascii_digit()), "{shown}");
    }
    assert_eq!(format!("{code}"), "**********");
    assert_eq!(code.digits(), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
}

#[test]
fn the_recipient_s_code_matches_only_itself() {
    let code = PickupCode::parse("042917").unwrap();
    assert!(code.ct_eq(&PickupCode::parse("042917").unwrap()));
    assert!(!code.ct_eq(&PickupCode::parse("042918").unwrap()));
    assert!(!code.ct_eq(&PickupCode::parse("142917").unwrap()));
    // Same leading digits, different length: not the same code.
    assert!(!code.ct_eq(&PickupCode::parse("0429170").unwrap()));
    assert!(!code.ct_eq(&PickupCode::parse("0429").unwrap()));
}

#[test]
fn every_digit_is_equally_likely_whatever_byte_the_rng_gives() {
    // Over every byte value equally often, each digit comes out exactly as
    // often as every other: bytes 250..=255 are thrown away, not folded in
    // (folding them would make 0..=5 come out 26 times per cycle, 6..=9 25).
    let mut rng = EveryByte(0);
    let mut counts = [0u32; 10];
    // 25,000 digits: exactly 100 cycles of the 250 usable byte values.
    for _ in 0..2_500 {
        let code = PickupCode::generate(&mut rng, MAX_CODE_DIGITS).unwrap();
        for d in code.digits() {
            counts[usize::from(*d)] += 1;
        }
    }
    assert!(counts.iter().all(|c| *c == 2_500), "{counts:?}");
}

#[test]
fn codes_from_a_good_rng_look_uniform() {
    let mut rng = SeededRng(0x10c_4e5);
    let mut counts = [0f64; 10];
    let draws = 20_000;
    for _ in 0..draws {
        for d in PickupCode::generate(&mut rng, 6).unwrap().digits() {
            counts[usize::from(*d)] += 1.0;
        }
    }
    let expected = f64::from(draws) * 6.0 / 10.0;
    let chi_square: f64 = counts
        .iter()
        .map(|c| (c - expected).powi(2) / expected)
        .sum();
    // 9 degrees of freedom: 27.9 is the 0.1 % critical value. Seeded, so stable.
    assert!(chi_square < 27.9, "chi² = {chi_square}, counts {counts:?}");
}

#[test]
fn a_broken_rng_is_reported_instead_of_hanging_the_bank() {
    assert_eq!(
        PickupCode::generate(&mut StuckHigh, 6).unwrap_err(),
        CodeError::RandomnessFailed
    );
}

#[test]
fn a_new_parcel_never_gets_a_code_another_parcel_holds() {
    let mut rng = SeededRng(7);
    let mut active: Vec<PickupCode> = Vec::new();
    // 4-digit codes for 2,000 parcels: collisions are common, so this bites.
    for _ in 0..2_000 {
        let code =
            PickupCode::generate_unique(&mut rng, 4, 100, |c| active.iter().any(|a| a.ct_eq(c)))
                .unwrap();
        active.push(code);
    }
    for (i, a) in active.iter().enumerate() {
        assert!(active[i + 1..].iter().all(|b| !a.ct_eq(b)));
    }
    assert_eq!(
        PickupCode::generate_unique(&mut rng, 6, 5, |_| true).unwrap_err(),
        CodeError::NoFreeCode
    );
    assert!(matches!(
        PickupCode::generate_unique(&mut rng, 2, 0, |_| false),
        Err(CodeError::WrongLength { .. })
    ));
}

#[test]
fn a_code_survives_a_snapshot_and_a_corrupt_one_is_refused() {
    let code = PickupCode::parse("00123456").unwrap();
    let mut buf = [0u8; 32];
    let bytes = postcard::to_slice(&code, &mut buf).unwrap().to_vec();
    assert_eq!(bytes.len(), 11);
    let back: PickupCode = postcard::from_bytes(&bytes).unwrap();
    assert!(back.ct_eq(&code));

    // Ten digit bytes then the length byte.
    let mut too_long = bytes.clone();
    *too_long.last_mut().unwrap() = 11;
    assert!(postcard::from_bytes::<PickupCode>(&too_long).is_err());
    let mut not_a_digit = bytes.clone();
    not_a_digit[0] = 12;
    assert!(postcard::from_bytes::<PickupCode>(&not_a_digit).is_err());
    assert!(postcard::from_bytes::<PickupCode>(&bytes[..5]).is_err());
    // Garbage beyond the length is ignored, and does not make codes unequal.
    let mut padded = bytes.clone();
    padded[9] = 7;
    let tolerant: PickupCode = postcard::from_bytes(&padded).unwrap();
    assert!(tolerant.ct_eq(&code));
}

#[test]
fn errors_tell_the_person_at_the_keypad_what_to_do() {
    let locked = CodeError::LockedOut { until: at(90) };
    assert!(locked.to_string().contains("wait until"));
    let short = CodeError::WrongLength {
        len: 3,
        min: 4,
        max: 10,
    };
    assert!(short.to_string().contains("4 to 10 digits"));
}

#[test]
fn the_typos_of_a_code_are_each_one_slip_away_and_all_different() {
    for text in ["042917", "1111", "0000000000", "9090", "12345678"] {
        let code = PickupCode::parse(text).unwrap();
        let len = code.len();
        let swaps = code.digits().windows(2).filter(|w| w[0] != w[1]).count();
        let near: Vec<Vec<u8>> = code
            .typo_neighbours()
            .map(|c| c.digits().to_vec())
            .collect();
        assert_eq!(near.len(), 9 * len + swaps, "{text}");
        let mut unique = near.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), near.len(), "{text}: a typo listed twice");
        for n in &near {
            assert_eq!(n.len(), len);
            let differ: Vec<usize> = (0..len).filter(|&k| n[k] != code.digits()[k]).collect();
            let swapped = differ.len() == 2
                && differ[1] == differ[0] + 1
                && n[differ[0]] == code.digits()[differ[1]]
                && n[differ[1]] == code.digits()[differ[0]];
            assert!(differ.len() == 1 || swapped, "{text} -> {n:?}");
        }
    }
}
