//! Properties of pickup codes and the keypad guard over generated inputs.

use locker_domain::bank::codes::{
    CORRECTION_WINDOW, CodeError, FORGET_AFTER_MAX_LOCKOUTS, KeypadGuard, KeypadId, LockoutPolicy,
    MAX_CODE_DIGITS, MIN_CODE_DIGITS, PickupCode,
};
use locker_proto::time::{Duration, Instant};
use proptest::prelude::*;
use rand_core::RngCore;

/// Replays the bytes proptest chose, then zeros: any byte stream at all.
struct ScriptedRng {
    bytes: Vec<u8>,
    at: usize,
}

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.bytes.get(self.at).copied().unwrap_or(0);
            self.at += 1;
        }
    }
}

fn digits() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..=9, MIN_CODE_DIGITS..=MAX_CODE_DIGITS)
}

fn policy() -> impl Strategy<Value = LockoutPolicy> {
    (
        0u8..6,
        0u64..120_000,
        0u64..7_200_000,
        1u64..1_200_000,
        0u16..40,
    )
        .prop_map(
            |(free_attempts, base, max, window, spike_threshold)| LockoutPolicy {
                free_attempts,
                base_lockout: Duration::from_millis(base),
                max_lockout: Duration::from_millis(max),
                spike_window: Duration::from_millis(window),
                spike_threshold,
            },
        )
}

#[derive(Clone, Debug)]
enum KeypadStep {
    Check(u8),
    Failure(u8),
    Success(u8),
    Timeout,
}

fn step() -> impl Strategy<Value = KeypadStep> {
    // Keypads 0..=4 against a guard of 4: one in five is unknown.
    prop_oneof![
        1 => (0u8..5).prop_map(KeypadStep::Check),
        4 => (0u8..5).prop_map(KeypadStep::Failure),
        1 => (0u8..5).prop_map(KeypadStep::Success),
        1 => Just(KeypadStep::Timeout),
    ]
}

proptest! {
    #[test]
    fn generated_codes_have_the_requested_length_and_only_digits(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        len in MIN_CODE_DIGITS..=MAX_CODE_DIGITS,
    ) {
        let mut rng = ScriptedRng { bytes, at: 0 };
        let code = PickupCode::generate(&mut rng, len).unwrap();
        prop_assert_eq!(code.len(), len);
        prop_assert_eq!(code.digits().len(), len);
        prop_assert!(code.digits().iter().all(|d| *d <= 9));
    }

    #[test]
    fn ct_eq_agrees_with_digit_equality(a in digits(), b in digits(), same in any::<bool>()) {
        let b = if same { a.clone() } else { b };
        let (ca, cb) = (PickupCode::from_digits(&a).unwrap(), PickupCode::from_digits(&b).unwrap());
        prop_assert_eq!(ca.ct_eq(&cb), a == b);
        prop_assert!(ca.ct_eq(&ca));
    }

    #[test]
    fn typing_a_code_reads_the_same_digits(d in digits()) {
        let typed: String = d.iter().map(|x| char::from(b'0' + x)).collect();
        let code = PickupCode::parse(&typed).unwrap();
        prop_assert_eq!(code.digits(), &d[..]);
        prop_assert!(code.ct_eq(&PickupCode::from_digits(&d).unwrap()));
        // And a snapshot gives it back.
        let mut buf = [0u8; 16];
        let bytes = postcard::to_slice(&code, &mut buf).unwrap();
        let back: PickupCode = postcard::from_bytes(bytes).unwrap();
        prop_assert!(back.ct_eq(&code));
    }

    #[test]
    fn any_non_digit_is_refused(text in "\\PC*") {
        let result = PickupCode::parse(&text);
        if text.bytes().any(|b| !b.is_ascii_digit()) {
            prop_assert_eq!(result.unwrap_err(), CodeError::NotADigit);
        } else if !(MIN_CODE_DIGITS..=MAX_CODE_DIGITS).contains(&text.len()) {
            let is_wrong_length = matches!(result, Err(CodeError::WrongLength { .. }));
            prop_assert!(is_wrong_length);
        } else {
            prop_assert!(result.is_ok());
        }
    }

    #[test]
    fn arbitrary_snapshot_bytes_never_yield_an_invalid_code(bytes in prop::collection::vec(any::<u8>(), 0..16)) {
        if let Ok(code) = postcard::from_bytes::<PickupCode>(&bytes) {
            prop_assert!((MIN_CODE_DIGITS..=MAX_CODE_DIGITS).contains(&code.len()));
            prop_assert!(code.digits().iter().all(|d| *d <= 9));
        }
    }

    #[test]
    fn lockout_never_shortens_as_failures_grow(policy in policy(), n in 0u16..200) {
        let (this, next) = (policy.lockout_after(n), policy.lockout_after(n + 1));
        prop_assert!(next >= this);
        prop_assert!(next <= policy.max_lockout);
        if n < u16::from(policy.free_attempts) {
            prop_assert_eq!(next, Duration::ZERO);
        }
    }

    /// Any sequence of keypad use: no panic, refusals change nothing, counts
    /// go up by one per recorded failure, a correct code lowers them only
    /// by taking back the one wrong code just before it (within the
    /// correction window, once), a lockout is honoured to the millisecond,
    /// and the wake-up is the earliest lockout end.
    #[test]
    fn no_keypad_sequence_panics_or_breaks_the_rules(
        policy in policy(),
        steps in prop::collection::vec((step(), -5_000i64..200_000), 0..120),
    ) {
        let mut guard = KeypadGuard::<4>::new(policy);
        let mut now: i64 = 1_000_000;
        let mut failures = [0u16; 4];
        let mut last_failure = [Instant::ZERO; 4];
        let mut correctable = [false; 4];
        let forget_after = policy.max_lockout.saturating_mul(FORGET_AFTER_MAX_LOCKOUTS);
        let mut locked_until: [Option<Instant>; 4] = [None; 4];
        // The latest time the guard accepted: it judges stale times by it.
        let mut latest = Instant::ZERO;
        for (step, dt) in steps {
            now = (now + dt).max(0);
            let t = Instant::from_millis(now as u64);
            let before = format!("{guard:?}");
            let known = |k: u8| usize::from(k) < 4;
            match step {
                KeypadStep::Check(k) => {
                    let result = guard.check(KeypadId(k), t);
                    prop_assert_eq!(format!("{guard:?}"), before.clone());
                    if !known(k) {
                        prop_assert_eq!(result, Err(CodeError::UnknownKeypad));
                    } else if let Some(until) =
                        locked_until[usize::from(k)].filter(|u| t.max(latest) < *u)
                    {
                        prop_assert_eq!(result, Err(CodeError::LockedOut { until }));
                    } else {
                        prop_assert_eq!(result, Ok(()));
                    }
                }
                KeypadStep::Failure(k) => match guard.record_failure(KeypadId(k), t) {
                    Ok(outcome) => {
                        let i = usize::from(k);
                        let t_eff = t.max(latest);
                        if t_eff.saturating_since(last_failure[i]) >= forget_after {
                            failures[i] = 0;
                        }
                        failures[i] = failures[i].saturating_add(1);
                        last_failure[i] = t_eff;
                        correctable[i] = outcome.locked_until.is_none();
                        prop_assert_eq!(outcome.failures, failures[i]);
                        if let Some(until) = outcome.locked_until {
                            prop_assert!(until >= t);
                            prop_assert_eq!(guard.check(KeypadId(k), until), Ok(()));
                        }
                        locked_until[i] = outcome.locked_until;
                        latest = latest.max(t);
                    }
                    Err(_) => prop_assert_eq!(format!("{guard:?}"), before),
                },
                KeypadStep::Success(k) => match guard.record_success(KeypadId(k), t) {
                    // A correct code leaves the count (and any lockout, which
                    // has ended if the code was taken) as it is, but for the
                    // one wrong code a typo-correction takes back.
                    Ok(()) => {
                        let i = usize::from(k);
                        let t_eff = t.max(latest);
                        if correctable[i]
                            && t_eff.saturating_since(last_failure[i]) <= CORRECTION_WINDOW
                        {
                            failures[i] = failures[i].saturating_sub(1);
                        }
                        correctable[i] = false;
                        prop_assert_eq!(guard.failures(KeypadId(k)), Ok(failures[i]));
                        latest = latest.max(t);
                    }
                    Err(_) => prop_assert_eq!(format!("{guard:?}"), before),
                },
                KeypadStep::Timeout => {
                    guard.handle_timeout(t);
                    latest = latest.max(t);
                }
            }
            if let Some(wake) = guard.poll_timeout() {
                prop_assert!(locked_until.contains(&Some(wake)));
            }
        }
    }

    /// The bank-wide alert fires at most once while the failures keep
    /// coming faster than the threshold allows, and never below it.
    #[test]
    fn a_spike_alert_needs_more_failures_than_the_threshold(
        threshold in 0u16..30,
        gaps in prop::collection::vec(0u64..60_000, 1..200),
    ) {
        let policy = LockoutPolicy {
            free_attempts: u8::MAX,
            spike_threshold: threshold,
            ..LockoutPolicy::default()
        };
        let mut guard = KeypadGuard::<1>::new(policy);
        let mut t = 0u64;
        let mut times = Vec::new();
        for gap in gaps {
            t += gap;
            times.push(t);
            if guard.failures(KeypadId(0)).unwrap() >= 250 {
                guard.record_success(KeypadId(0), Instant::from_millis(t)).unwrap();
            }
            let outcome = guard.record_failure(KeypadId(0), Instant::from_millis(t)).unwrap();
            if outcome.spike_alert {
                // Really more than `threshold` within the window (no false alarm).
                let window = policy.spike_window.as_millis();
                let recent = times.iter().filter(|x| t - **x < window).count();
                prop_assert!(recent > usize::from(threshold));
            }
        }
    }
}
