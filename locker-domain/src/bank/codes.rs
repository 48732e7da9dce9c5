//! Pickup codes and the keypad guard that rations guesses.
//!
//! A [`PickupCode`] is what a recipient types at the bank's keypad. It is
//! drawn from caller-supplied randomness with every digit uniform (no modulo
//! bias), compared in constant time, and never printed: `Debug`, `Display`
//! (and `defmt`) show only how many digits it has.
//!
//! A [`KeypadGuard`] counts wrong codes per keypad. The first
//! [`LockoutPolicy::free_attempts`] mistakes cost nothing (people mistype);
//! every further one locks that keypad for [`LockoutPolicy::base_lockout`],
//! doubling each time up to [`LockoutPolicy::max_lockout`]. Only a quiet
//! spell of [`FORGET_AFTER_MAX_LOCKOUTS`] maximum lockouts starts the keypad
//! afresh; a correct code does not (see "An attacker with a parcel of his
//! own" below). Independently, the guard counts wrong codes at
//! all keypads together and raises one bank-wide alert when more than
//! [`LockoutPolicy::spike_threshold`] of them fall within
//! [`LockoutPolicy::spike_window`]: many keypads failing at once is an
//! organised attempt, or a broken keypad, and staff should look.
//!
//! Uniqueness among active parcels and single use are the bank's business
//! (it holds the parcels); [`PickupCode::generate_unique`] helps with the
//! first.
//!
//! # Codes at rest: keyed hashes
//!
//! The bank never keeps a code. It keeps a [`CodeHash`]: HMAC-SHA256 under
//! the bank's code key (derived from the bank secret, see
//! [`BankKeys`]) of the bank id and the code's digits,
//! truncated to 16 bytes. A code the bank draws is handed to the caller once
//! (in the [`Reservation`](super::Reservation), for the recipient's message);
//! a backend that draws its own codes announces only the hash
//! ([`Bank::reserve_with_code_hash`](super::Bank::reserve_with_code_hash)).
//! A typed code is hashed once and compared in constant time with every
//! active hash.
//!
//! So a copy of the gateway's persisted state (a stolen SD card, a backup
//! left on a file share) holds no code and nothing from which a code can be
//! computed without the key: a plain SHA-256 of a 6-digit code would fall to
//! a million guesses in a second, the keyed hash does not without the
//! secret. Whoever also holds the bank secret can try all codes; the secret
//! belongs in the gateway's secure element or TPM, not next to the state file.
//!
//! ```
//! use locker_domain::bank::codes::{CodeHash, PickupCode};
//! use locker_domain::bank::{BankId, BankKeys};
//!
//! let keys = BankKeys::derive(BankId(7), &[42; 32]);
//! let code = PickupCode::parse("042917").unwrap();
//! let hash = CodeHash::of(&keys, &code);
//! assert!(hash.ct_eq(&CodeHash::of(&keys, &PickupCode::parse("042917").unwrap())));
//! // Another bank (or another secret) hashes the same code differently.
//! let other = BankKeys::derive(BankId(7), &[43; 32]);
//! assert!(!hash.ct_eq(&CodeHash::of(&other, &code)));
//! assert_eq!(format!("{hash:?}"), "CodeHash(..)");
//! ```
//!
//! # A typo never opens someone else's door
//!
//! The bank ([`Bank::reserve`](super::Bank::reserve)) gives out no code
//! that is one of an active code's [typo neighbours](PickupCode::typo_neighbours)
//! (one digit wrong, or two neighbouring digits swapped, the slips people
//! make most), so the relation holds both ways between any two active
//! codes. A resident who slips types a code that opens nothing: the keypad
//! counts it as a wrong code (and takes it back if the right one follows,
//! [`CORRECTION_WINDOW`]), instead of unlocking a stranger's door that nobody
//! then opens, which the bank could only take for a jammed lock.
//!
//! The cost is a check of 9 × digits + (digits − 1) neighbour hashes per
//! draw (59 for 6 digits), and code space: each active code takes up to 60
//! codes. In a 48-compartment bank that is 0.3 % of a million; in a full
//! 10,000-compartment bank on 6 digits nearly half of them, so a draw is
//! rejected about every other time (up to [`MAX_CODE_DRAWS`] draws are made),
//! one more reason to give large banks 8 digits. Guessing odds are
//! unchanged: a guess still hits one of the active codes with probability
//! active / 10^digits.
//!
//! # How hard is guessing under the default policy?
//!
//! The doc test below drives a real [`KeypadGuard`] as fast as it allows and
//! computes the odds from what it measures, so these numbers cannot drift
//! from the code. Six digits give 1,000,000 codes.
//!
//! - **Per guess.** A full bank of 48 compartments holds 48 active codes: a
//!   random guess opens *some* parcel with probability 48 / 1,000,000, 1 in
//!   20,833. A 10,000-compartment bank: 1 in 100.
//! - **Guesses per hour at one keypad.** 3 free guesses, then lockouts of
//!   30 s, 1, 2, 4, 8, 16 and 32 min, then 1 h per guess: 10 guesses in the
//!   first hour, 1 per hour from then on (33 in the first day). Never more
//!   than 8 wrong codes in any 10 minutes, so one keypad alone cannot trip
//!   the bank-wide spike alert (20 in 10 min): a spike means several keypads,
//!   or a keypad that misbehaves.
//! - **Waiting to be forgotten does not pay.** A keypad forgets its wrong
//!   codes after 12 quiet hours. Running the cheap start of the ramp and
//!   then waiting is always slower than guessing on, wherever the attacker
//!   stops (12 guesses, then a wait: 12 per 14 h, 0.85 per hour).
//!   Forgetting after 9 hours would pay (10 guesses per 9.5 h).
//! - **Expected time to open any parcel** (guesses are independent, the
//!   first success ends it): **about 868 days, 2.4 years** for the full
//!   48-compartment bank (even odds only after 20 months), and **about
//!   3.8 days** for a full 10,000-compartment bank. A bank with several
//!   keypads divides these by their number. The large bank is why a lockout
//!   is not enough on its own: there, use 8 digits (the same 10,000 codes in
//!   10^8 give 1 in 10,000 per guess, over a year) and watch lockouts in
//!   the audit trail.
//!
//! # An attacker with a parcel of his own
//!
//! He holds a valid code. Before, typing it between guesses cleared the
//! keypad's count, and closing the door on his parcel kept the code valid:
//! he guessed at the free, cheap start of the ramp for ever (a stranger's
//! code in about 8 days in a full 48-compartment bank, without a bank-wide
//! alert). Now a correct code leaves the count as it is, but for the one
//! wrong code just before it ([`CORRECTION_WINDOW`]: an honest typo put
//! right), and re-opening his own parcel is limited: after
//! [`MAX_REOPENS`](super::MAX_REOPENS) pickups that left the parcel inside,
//! the bank refuses the code, raises a keypad-attack alert, and staff or
//! the backend hand the parcel over. His own code thus buys him at most
//! `MAX_REOPENS` guesses at the start of the ramp; after them his guesses
//! come exactly when a stranger's would, and the expected time above holds
//! for him too (about 2.4 years, checked below).
//!
//! ```
//! use locker_domain::bank::codes::{FORGET_AFTER_MAX_LOCKOUTS, KeypadGuard, KeypadId, LockoutPolicy};
//! use locker_proto::time::{Duration, Instant};
//!
//! let policy = LockoutPolicy::default();
//! let hour = Duration::from_hours(1).as_millis() as f64;
//!
//! // When can the n-th guess be made? Ask a guard, guessing as soon as allowed.
//! let mut guard = KeypadGuard::<1>::new(policy);
//! let mut now = Instant::ZERO;
//! let mut guess_at = Vec::new(); // guess_at[n - 1]: time of the n-th guess, in hours
//! for _ in 0..40 {
//!     guess_at.push(now.as_millis() as f64 / hour);
//!     if let Some(until) = guard.record_failure(KeypadId(0), now).unwrap().locked_until {
//!         now = until;
//!     }
//! }
//! let in_first = |h: f64| guess_at.iter().filter(|t| **t < h).count();
//! assert_eq!(in_first(1.0), 10);
//! assert_eq!(in_first(10.0 / 60.0), 8); // the most any 10 minutes allow
//! // From the 11th guess on, one per maximum lockout: one per hour.
//! let steady = policy.max_lockout.as_millis() as f64 / hour;
//! assert_eq!(guess_at[39] - guess_at[38], steady);
//!
//! // Guess n times, then wait until the keypad forgets, and repeat. (Beyond
//! // 40, n / (t(n) + wait) only creeps towards the steady rate.)
//! let cycle_rate = |n: usize, wait: f64| n as f64 / (guess_at[n - 1] + wait);
//! let best_cycle = |wait: f64| (1..=40).map(|n| cycle_rate(n, wait)).fold(0.0, f64::max);
//! let forget = (FORGET_AFTER_MAX_LOCKOUTS as f64) * steady;
//! assert!(best_cycle(forget) < 1.0 / steady);
//! assert!((cycle_rate(12, forget) - 0.85).abs() < 0.01);
//! assert!(best_cycle(9.0 * steady) > 1.0 / steady);
//!
//! // Expected time of the first success: sum P(first success at n) * t(n) over
//! // the measured ramp, plus the closed form of the steady tail.
//! let expected_hours = |active: f64, digits: i32| {
//!     let p = active / 10f64.powi(digits);
//!     let q = 1.0 - p;
//!     let ramp: f64 = (0..40).map(|i| p * q.powi(i) * guess_at[i as usize]).sum();
//!     ramp + q.powi(40) * (guess_at[39] + steady / p)
//! };
//! let full_48 = expected_hours(48.0, 6);
//! let full_10k = expected_hours(10_000.0, 6);
//! println!("48: {:.0} days; 10,000: {:.1} days", full_48 / 24.0, full_10k / 24.0);
//! assert!((full_48 / 24.0 - 868.0).abs() < 1.0);
//! assert!((full_10k / 24.0 - 3.8).abs() < 0.05);
//! assert!(expected_hours(10_000.0, 8) / 24.0 > 365.0);
//!
//! // An attacker with a parcel of his own types his own code right after
//! // each guess. The guard takes the guess before it back (a typo,
//! // corrected: see CORRECTION_WINDOW), but each correct code opens his
//! // door, and the bank stops his code after MAX_REOPENS openings with the
//! // parcel left inside. He buys that many guesses, at the start of the
//! // ramp, and no more: his guesses then come exactly as a stranger's would.
//! let mut guard = KeypadGuard::<1>::new(policy);
//! let mut now = Instant::ZERO;
//! let reopens = usize::from(locker_domain::bank::MAX_REOPENS);
//! for n in 0..40 {
//!     let stranger = if n < reopens { 0.0 } else { guess_at[n - reopens] };
//!     assert_eq!(now.as_millis() as f64 / hour, stranger);
//!     if let Some(until) = guard.record_failure(KeypadId(0), now).unwrap().locked_until {
//!         now = until;
//!     }
//!     if n < reopens {
//!         guard.record_success(KeypadId(0), now).unwrap(); // his own code
//!     }
//! }
//! assert!(full_48 / 24.0 > 365.0);
//! // Even odds for the 48-compartment bank take ln 2 / p guesses: about 20 months.
//! let even_odds_days = (core::f64::consts::LN_2 / (48.0 / 1e6) - 11.0) * steady / 24.0;
//! assert!((even_odds_days / 30.44 - 19.8).abs() < 0.1);
//! ```

use core::fmt;

use locker_proto::time::{Duration, Instant};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::keys::{BankKeys, TAG_LEN, mac};
use super::persist::records::{
    KeypadRecord, KeypadsRecord, MAX_KEYPADS, MAX_SPIKE_BUCKETS, Rebase,
};

/// The longest pickup code the bank accepts.
pub const MAX_CODE_DIGITS: usize = 10;
/// The shortest pickup code the bank accepts; shorter codes are guessable
/// even behind a lockout.
pub const MIN_CODE_DIGITS: usize = 4;
/// The length the bank uses unless configured otherwise.
pub const DEFAULT_CODE_DIGITS: usize = 6;

/// How many codes [`Bank::reserve`](super::Bank::reserve) draws before it
/// gives up with [`CodeError::NoFreeCode`]. Even a full 10,000-compartment
/// bank on 6 digits, where about 45 % of draws are an active code or one
/// typo from one, fails all 64 with probability below 10^-20.
pub const MAX_CODE_DRAWS: usize = 64;

/// How many random bytes [`PickupCode::generate`] may throw away before it
/// concludes the random source is broken. An honest source rejects a byte
/// with probability 6/256, so 64 rejections in one code happen with
/// probability far below 10^-90; a source stuck at `0xff` hits it at once.
const MAX_REJECTED_BYTES: usize = 64;

/// Random bytes at or above this value are discarded: 250 is the largest
/// multiple of 10 that fits in a byte, so `byte % 10` of the rest is uniform.
const UNBIASED_BYTE_LIMIT: u8 = 250;

/// A pickup code: 4..=10 decimal digits.
///
/// There is deliberately no `PartialEq`: compare with [`PickupCode::ct_eq`],
/// which takes the same time whether the first or the last digit differs.
/// `Debug` and `Display` redact the digits.
///
/// ```
/// use locker_domain::bank::codes::PickupCode;
///
/// let code = PickupCode::parse("042917").unwrap();
/// assert_eq!(code.len(), 6);
/// assert_eq!(format!("{code:?}"), "PickupCode(******)");
/// assert!(code.ct_eq(&PickupCode::from_digits(&[0, 4, 2, 9, 1, 7]).unwrap()));
/// ```
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(into = "CodeOnWire", try_from = "CodeOnWire")]
pub struct PickupCode {
    /// Digits `0..=9`; positions at and beyond `len` are always zero so that
    /// equal codes are equal bytes.
    digits: [u8; MAX_CODE_DIGITS],
    len: u8,
}

/// The serialised form; decoding goes through [`PickupCode::from_digits`] so
/// a corrupt snapshot cannot smuggle in an invalid code.
#[derive(Serialize, Deserialize)]
struct CodeOnWire {
    digits: [u8; MAX_CODE_DIGITS],
    len: u8,
}

impl From<PickupCode> for CodeOnWire {
    fn from(code: PickupCode) -> Self {
        CodeOnWire {
            digits: code.digits,
            len: code.len,
        }
    }
}

impl TryFrom<CodeOnWire> for PickupCode {
    type Error = CodeError;

    fn try_from(wire: CodeOnWire) -> Result<Self, CodeError> {
        let len = usize::from(wire.len);
        let digits = wire.digits.get(..len).ok_or(CodeError::WrongLength {
            len,
            min: MIN_CODE_DIGITS,
            max: MAX_CODE_DIGITS,
        })?;
        PickupCode::from_digits(digits)
    }
}

impl PickupCode {
    /// Draws a fresh code of `len` uniformly random digits from `rng`.
    ///
    /// Each digit comes from one random byte; bytes of 250 and above are
    /// thrown away, so every digit is exactly equally likely.
    ///
    /// # Errors
    /// [`CodeError::WrongLength`] if `len` is outside
    /// [`MIN_CODE_DIGITS`]`..=`[`MAX_CODE_DIGITS`];
    /// [`CodeError::RandomnessFailed`] if `rng` keeps producing unusable bytes.
    ///
    /// ```
    /// use locker_domain::bank::codes::PickupCode;
    /// # struct Counter(u8);
    /// # impl rand_core::RngCore for Counter {
    /// #     fn next_u32(&mut self) -> u32 { rand_core::impls::next_u32_via_fill(self) }
    /// #     fn next_u64(&mut self) -> u64 { rand_core::impls::next_u64_via_fill(self) }
    /// #     fn fill_bytes(&mut self, dst: &mut [u8]) {
    /// #         for b in dst { self.0 = self.0.wrapping_add(37); *b = self.0; }
    /// #     }
    /// # }
    /// // Any `rand_core::RngCore`; on the gateway, the MCU's hardware RNG.
    /// let mut rng = Counter(0);
    /// let code = PickupCode::generate(&mut rng, 6).unwrap();
    /// assert_eq!(code.digits().len(), 6);
    /// assert!(code.digits().iter().all(|d| *d <= 9));
    /// ```
    pub fn generate<R: RngCore + ?Sized>(rng: &mut R, len: usize) -> Result<Self, CodeError> {
        check_length(len)?;
        let mut digits = [0u8; MAX_CODE_DIGITS];
        let mut rejected = 0usize;
        for slot in digits.iter_mut().take(len) {
            *slot = loop {
                let mut byte = [0u8; 1];
                rng.fill_bytes(&mut byte);
                let [b] = byte;
                if b < UNBIASED_BYTE_LIMIT {
                    break b % 10;
                }
                rejected += 1;
                if rejected > MAX_REJECTED_BYTES {
                    return Err(CodeError::RandomnessFailed);
                }
            };
        }
        Ok(PickupCode {
            digits,
            len: len_u8(len),
        })
    }

    /// Draws codes until one is not `in_use`, at most `max_draws` times.
    ///
    /// The bank passes a closure that checks its active parcels, so two
    /// parcels never share a code. With a million 6-digit codes and a few
    /// dozen active ones a second draw is rarely needed; the bound keeps a
    /// pathological configuration (4 digits, thousands of parcels) from
    /// spinning.
    ///
    /// # Errors
    /// As [`PickupCode::generate`], and [`CodeError::NoFreeCode`] when every
    /// draw was already in use.
    ///
    /// ```
    /// use locker_domain::bank::codes::PickupCode;
    /// # struct Counter(u8);
    /// # impl rand_core::RngCore for Counter {
    /// #     fn next_u32(&mut self) -> u32 { rand_core::impls::next_u32_via_fill(self) }
    /// #     fn next_u64(&mut self) -> u64 { rand_core::impls::next_u64_via_fill(self) }
    /// #     fn fill_bytes(&mut self, dst: &mut [u8]) {
    /// #         for b in dst { self.0 = self.0.wrapping_add(37); *b = self.0; }
    /// #     }
    /// # }
    /// let mut rng = Counter(0);
    /// let taken = PickupCode::generate(&mut Counter(0), 6).unwrap();
    /// let fresh = PickupCode::generate_unique(&mut rng, 6, 8, |c| c.ct_eq(&taken)).unwrap();
    /// assert!(!fresh.ct_eq(&taken));
    /// ```
    pub fn generate_unique<R, F>(
        rng: &mut R,
        len: usize,
        max_draws: usize,
        mut in_use: F,
    ) -> Result<Self, CodeError>
    where
        R: RngCore + ?Sized,
        F: FnMut(&PickupCode) -> bool,
    {
        for _ in 0..max_draws {
            let code = Self::generate(rng, len)?;
            if !in_use(&code) {
                return Ok(code);
            }
        }
        // Report a bad length even when no draw was attempted.
        check_length(len)?;
        Err(CodeError::NoFreeCode)
    }

    /// Reads a code as typed: ASCII digits only, no spaces or signs.
    ///
    /// # Errors
    /// [`CodeError::NotADigit`] for any other character (checked first, so
    /// `"12a"` is a typing error rather than a short code);
    /// [`CodeError::WrongLength`] for too few or too many digits.
    ///
    /// ```
    /// use locker_domain::bank::codes::{CodeError, PickupCode};
    ///
    /// assert!(PickupCode::parse("123456").is_ok());
    /// assert_eq!(PickupCode::parse("12 34").unwrap_err(), CodeError::NotADigit);
    /// assert!(matches!(PickupCode::parse("123"), Err(CodeError::WrongLength { len: 3, .. })));
    /// ```
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeError::NotADigit);
        }
        check_length(text.len())?;
        let mut digits = [0u8; MAX_CODE_DIGITS];
        for (slot, b) in digits.iter_mut().zip(text.bytes()) {
            *slot = b - b'0';
        }
        Ok(PickupCode {
            digits,
            len: len_u8(text.len()),
        })
    }

    /// Builds a code from digit values (each `0..=9`), e.g. from a keypad
    /// driver that reports key numbers.
    ///
    /// # Errors
    /// [`CodeError::NotADigit`] for a value above 9;
    /// [`CodeError::WrongLength`] for too few or too many digits.
    ///
    /// ```
    /// use locker_domain::bank::codes::{CodeError, PickupCode};
    ///
    /// assert_eq!(PickupCode::from_digits(&[1, 2, 3, 4]).unwrap().len(), 4);
    /// assert_eq!(PickupCode::from_digits(&[1, 2, 3, 10]).unwrap_err(), CodeError::NotADigit);
    /// ```
    pub fn from_digits(digits: &[u8]) -> Result<Self, CodeError> {
        if digits.iter().any(|d| *d > 9) {
            return Err(CodeError::NotADigit);
        }
        check_length(digits.len())?;
        let mut own = [0u8; MAX_CODE_DIGITS];
        for (slot, d) in own.iter_mut().zip(digits) {
            *slot = *d;
        }
        Ok(PickupCode {
            digits: own,
            len: len_u8(digits.len()),
        })
    }

    /// How many digits the code has.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always `false`: a code has at least [`MIN_CODE_DIGITS`] digits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether two codes are the same, in time that does not depend on where
    /// they differ. Codes of different lengths are never equal.
    ///
    /// All [`MAX_CODE_DIGITS`] positions are always compared (unused ones are
    /// zero in both), so the time does not reveal the length either.
    pub fn ct_eq(&self, other: &PickupCode) -> bool {
        let same_len = self.len.ct_eq(&other.len);
        let same_digits = self.digits[..].ct_eq(&other.digits[..]);
        (same_len & same_digits).into()
    }

    /// The digit values, for showing the code to its recipient once (SMS,
    /// app). Never log them.
    pub fn digits(&self) -> &[u8] {
        self.digits.get(..self.len()).unwrap_or(&[])
    }

    /// The codes one slip of the finger away from this one: each digit
    /// replaced by each other digit (9 per position), then each pair of
    /// neighbouring digits that differ swapped. These are the typos people
    /// make most; the bank never gives out a code that is one of them for an
    /// active parcel (see [the module docs](self#a-typo-never-opens-someone-elses-door)),
    /// and a backend that draws codes itself
    /// ([`Bank::reserve_with_code_hash`](super::Bank::reserve_with_code_hash))
    /// should do the same.
    ///
    /// ```
    /// use locker_domain::bank::codes::PickupCode;
    ///
    /// let code = PickupCode::parse("1123").unwrap();
    /// let near: Vec<String> = code.typo_neighbours().map(|c| {
    ///     c.digits().iter().map(|d| char::from(b'0' + d)).collect()
    /// }).collect();
    /// assert_eq!(near.len(), 4 * 9 + 2); // "11" swapped is the same code
    /// assert!(near.contains(&"1124".to_string()));
    /// assert!(near.contains(&"1213".to_string()));
    /// assert!(near.contains(&"1132".to_string()));
    /// assert!(!near.contains(&"1123".to_string()));
    /// ```
    pub fn typo_neighbours(&self) -> TypoNeighbours {
        TypoNeighbours {
            code: *self,
            step: 0,
        }
    }
}

/// The codes one typo away from a code, from [`PickupCode::typo_neighbours`].
#[derive(Clone, Debug)]
pub struct TypoNeighbours {
    code: PickupCode,
    /// `0..9 * len`: replacements (position `step / 9`, digit `+ 1 + step %
    /// 9` modulo 10); then `9 * len + k`: the swap of positions `k`, `k + 1`.
    step: usize,
}

impl Iterator for TypoNeighbours {
    type Item = PickupCode;

    fn next(&mut self) -> Option<PickupCode> {
        let len = self.code.len();
        let replacements = 9 * len;
        while self.step < replacements + len.saturating_sub(1) {
            let step = self.step;
            self.step += 1;
            let mut near = self.code;
            if step < replacements {
                let (at, by) = (step / 9, step % 9 + 1);
                if let Some(d) = near.digits.get_mut(at) {
                    // `by` is 1..=9, so the digit always changes.
                    *d = (*d + u8::try_from(by).unwrap_or(1)) % 10;
                }
                return Some(near);
            }
            let at = step - replacements;
            let (a, b) = (
                near.digits.get(at).copied(),
                near.digits.get(at + 1).copied(),
            );
            if let (Some(a), Some(b)) = (a, b) {
                if a != b {
                    near.digits.swap(at, at + 1);
                    return Some(near);
                }
            }
        }
        None
    }
}

/// One `*` per digit: the length is policy, not secret, and a log line can
/// hold no numeral of the code.
impl fmt::Debug for PickupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PickupCode(")?;
        fmt::Display::fmt(self, f)?;
        f.write_str(")")
    }
}

/// Shows one `*` per digit, like a keypad display.
impl fmt::Display for PickupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for _ in 0..self.len {
            f.write_str("*")?;
        }
        Ok(())
    }
}

#[cfg(feature = "defmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "defmt")))]
impl defmt::Format for PickupCode {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "PickupCode({=u8} digits)", self.len);
    }
}

/// A pickup code as the bank keeps it: a keyed hash (see the
/// [module docs](self#codes-at-rest-keyed-hashes)).
///
/// `HMAC-SHA256(code key, bank id (u32 LE) || the code's ASCII digits)`,
/// first 16 bytes. The compartment is not part of it, so a typed code is
/// hashed once and compared with every active parcel's hash. A backend that
/// draws its own codes computes the same value with [`CodeHash::of`] from
/// the same [`BankKeys`] and sends only the 16 bytes.
///
/// Equality is constant time; `Debug` prints no byte of it.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub struct CodeHash([u8; TAG_LEN]);

impl CodeHash {
    /// The hash of `code` in the bank of `keys`.
    pub fn of(keys: &BankKeys, code: &PickupCode) -> Self {
        let mut ascii = [0u8; MAX_CODE_DIGITS];
        for (a, d) in ascii.iter_mut().zip(code.digits()) {
            *a = b'0' + d;
        }
        let typed = ascii.get(..code.len()).unwrap_or(&[]);
        let bank = keys.bank().0.to_le_bytes();
        CodeHash(mac(keys.code_key(), &[&bank, typed]))
    }

    /// A hash received from the backend (16 bytes).
    pub const fn from_bytes(bytes: [u8; TAG_LEN]) -> Self {
        CodeHash(bytes)
    }

    /// The 16 bytes, e.g. to send to the bank over the uplink.
    pub const fn to_bytes(&self) -> [u8; TAG_LEN] {
        self.0
    }

    /// Whether two hashes are equal, in time that does not depend on where
    /// they differ.
    pub fn ct_eq(&self, other: &CodeHash) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }

    /// The first 8 bytes as a number: the bank's index bucket. Uniformly
    /// distributed, and says nothing about the code without the key.
    pub(crate) fn bucket_value(&self) -> u64 {
        let mut b = [0u8; 8];
        for (o, h) in b.iter_mut().zip(self.0.iter()) {
            *o = *h;
        }
        u64::from_le_bytes(b)
    }
}

impl PartialEq for CodeHash {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for CodeHash {}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeHash(..)")
    }
}

#[cfg(feature = "defmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "defmt")))]
impl defmt::Format for CodeHash {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "CodeHash(..)");
    }
}

fn check_length(len: usize) -> Result<(), CodeError> {
    if (MIN_CODE_DIGITS..=MAX_CODE_DIGITS).contains(&len) {
        Ok(())
    } else {
        Err(CodeError::WrongLength {
            len,
            min: MIN_CODE_DIGITS,
            max: MAX_CODE_DIGITS,
        })
    }
}

/// Callers have checked `len <= MAX_CODE_DIGITS`, which fits in a byte.
fn len_u8(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

/// Why a code was refused or could not be made.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CodeError {
    /// The code has too few or too many digits.
    #[error(
        "a pickup code has {min} to {max} digits, this one has {len}: check the code and type it again"
    )]
    WrongLength {
        /// Digits given.
        len: usize,
        /// Fewest digits accepted.
        min: usize,
        /// Most digits accepted.
        max: usize,
    },
    /// Something other than a digit 0–9 was entered.
    #[error("a pickup code has only the digits 0 to 9: check the code and type it again")]
    NotADigit,
    /// Too many wrong codes at this keypad; it accepts none until `until`.
    #[error("too many wrong codes at this keypad: wait until {until} and try again, or ask staff")]
    LockedOut {
        /// When the keypad accepts codes again.
        until: Instant,
    },
    /// The keypad number is beyond the bank's configured keypads.
    #[error(
        "this keypad is not configured in the bank: check the gateway's keypad wiring and count"
    )]
    UnknownKeypad,
    /// The random source kept producing unusable bytes (e.g. stuck at `0xff`).
    #[error("the random number source looks broken: check the gateway's RNG before issuing codes")]
    RandomnessFailed,
    /// Every code drawn was already held by an active parcel.
    #[error("no unused pickup code was found: configure longer codes for this many parcels")]
    NoFreeCode,
    /// The backend announced a code hash that an active parcel already has.
    #[error(
        "another active parcel in this bank has the same pickup code: draw another code and announce the parcel again"
    )]
    CodeInUse,
}

/// A keypad of the bank, numbered from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KeypadId(pub u8);

/// Wrong codes in a row at one keypad that raise the keypad-attack alert
/// for staff, even with no bank-wide spike: under the default ramp the
/// eighth locks the keypad for 8 minutes, and no honest person types eight
/// wrong codes in a row (they call the help line). A lone guesser the
/// lockout holds back is thus seen, not only contained. The alert comes at
/// every multiple of this count (8, 16, …) reached by a wrong code typed
/// within two maximum lockouts of the one before: a guesser who waits out
/// each lockout keeps raising it, a mistake hours after the last wrong
/// code does not.
pub const KEYPAD_ALERT_AFTER: u16 = 8;

/// How wrong codes are rationed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LockoutPolicy {
    /// Wrong codes at one keypad that cost nothing.
    pub free_attempts: u8,
    /// The lockout after the first wrong code beyond the free ones; each
    /// further wrong code doubles it.
    pub base_lockout: Duration,
    /// The longest lockout; reached after 7 doublings under the defaults.
    pub max_lockout: Duration,
    /// The period over which wrong codes at all keypads are counted.
    pub spike_window: Duration,
    /// More wrong codes than this within `spike_window`, bank-wide, raise an
    /// alert.
    pub spike_threshold: u16,
}

impl Default for LockoutPolicy {
    /// 3 free attempts, then 30 s doubling up to 1 h; alert above 20 wrong
    /// codes in 10 minutes.
    ///
    /// Three free attempts cover a recipient who mistypes twice and a
    /// neighbour who tries an old code. 30 s is short enough that an honest
    /// fourth mistake is a nuisance, not a lost afternoon; 1 h caps the
    /// damage a vandal can do by locking a keypad on purpose while still
    /// holding a guesser to 24 guesses a day. A busy bank sees perhaps a
    /// couple of mistakes per 10 minutes at its peak; 20 is an order of
    /// magnitude above that.
    fn default() -> Self {
        LockoutPolicy {
            free_attempts: 3,
            base_lockout: Duration::from_secs(30),
            max_lockout: Duration::from_hours(1),
            spike_window: Duration::from_mins(10),
            spike_threshold: 20,
        }
    }
}

impl LockoutPolicy {
    /// How soon after the last wrong code a new one still counts as the
    /// same guesser pressing on (twice [`max_lockout`](Self::max_lockout)):
    /// within it, the keypad-attack alert counts the new code with the
    /// last; later, it is somebody else's mistake.
    ///
    /// ```
    /// use locker_domain::bank::codes::LockoutPolicy;
    /// use locker_proto::time::Duration;
    ///
    /// assert_eq!(LockoutPolicy::default().pressing_window(), Duration::from_hours(2));
    /// ```
    pub fn pressing_window(&self) -> Duration {
        self.max_lockout.saturating_mul(2)
    }

    /// The lockout imposed by the `failures`-th consecutive wrong code.
    ///
    /// ```
    /// use locker_domain::bank::codes::LockoutPolicy;
    /// use locker_proto::time::Duration;
    ///
    /// let policy = LockoutPolicy::default();
    /// assert_eq!(policy.lockout_after(3), Duration::ZERO);
    /// assert_eq!(policy.lockout_after(4), Duration::from_secs(30));
    /// assert_eq!(policy.lockout_after(5), Duration::from_secs(60));
    /// assert_eq!(policy.lockout_after(40), Duration::from_hours(1));
    /// ```
    pub fn lockout_after(&self, failures: u16) -> Duration {
        let Some(beyond_free) = failures.checked_sub(u16::from(self.free_attempts)) else {
            return Duration::ZERO;
        };
        if beyond_free == 0 {
            return Duration::ZERO;
        }
        let doublings = u32::from(beyond_free - 1);
        let factor = 2u64.saturating_pow(doublings);
        let lockout = self.base_lockout.saturating_mul(factor);
        if lockout > self.max_lockout {
            self.max_lockout
        } else {
            lockout
        }
    }
}

/// What a wrong code led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FailureOutcome {
    /// Consecutive wrong codes at this keypad, this one included.
    pub failures: u16,
    /// When the keypad accepts codes again, if it is now locked.
    pub locked_until: Option<Instant>,
    /// `true` only for the wrong code that started a bank-wide spike episode;
    /// raise a staff alert.
    pub spike_alert: bool,
    /// `true` only for the wrong code that brought this keypad to
    /// [`KEYPAD_ALERT_AFTER`] wrong codes in a row; raise a staff alert.
    pub keypad_alert: bool,
}

/// The buckets of the bank-wide spike counter. The window is counted in
/// sixteenths, so failures are forgotten up to 1/16 of a window early.
const SPIKE_BUCKETS: usize = 16;

#[derive(Clone, Copy, Debug)]
struct KeypadState {
    /// Consecutive wrong codes since the last correct one.
    failures: u16,
    /// When the latest of them was typed.
    last_failure: Instant,
    /// When the keypad accepts codes again (kept until `handle_timeout`).
    locked_until: Option<Instant>,
    /// Whether the latest wrong code may still be taken back by a correct
    /// one within [`CORRECTION_WINDOW`]. Not in the snapshot: after a
    /// restart it is `false`, the strict side.
    correctable: bool,
}

impl KeypadState {
    const FRESH: KeypadState = KeypadState {
        failures: 0,
        last_failure: Instant::ZERO,
        locked_until: None,
        correctable: false,
    };
}

/// A correct code typed at most this long after a wrong one at the same
/// keypad takes that one wrong code back: it was a typo, corrected. Without
/// it a busy bank's honest typos add up (a correct code does not clear the
/// count, see "An attacker with a parcel of his own" in the [module
/// docs](self)) until two typos close together cross [`KEYPAD_ALERT_AFTER`]
/// and raise a keypad-attack alert nobody explains, and lock the keypad for
/// residents.
///
/// Only the one latest wrong code, once, and only if it did not lock the
/// keypad (not even after the lockout ends). An attacker with a parcel
/// of his own buys one guess back per opening of his own door, and the bank
/// stops his code after [`MAX_REOPENS`](super::MAX_REOPENS) openings that
/// leave the parcel inside: at most that many guesses in all, against a
/// million codes.
pub const CORRECTION_WINDOW: Duration = Duration::from_mins(2);

/// A keypad with no wrong code for this many maximum lockouts (12 h under
/// the defaults) starts afresh, so the morning's first typo is not punished
/// for last night's vandal.
///
/// Forgetting must not pay for an attacker: guessing through the cheap
/// start of the ramp and then waiting to be forgotten must stay slower than
/// guessing on at one per maximum lockout. With 12 it does, wherever he
/// stops; with 9 it would not (computed in the [module docs](self)); 12
/// leaves a margin over the break-even of about 10.
pub const FORGET_AFTER_MAX_LOCKOUTS: u64 = 12;

/// Wrong-code counting for `K` keypads, with per-keypad back-off and a
/// bank-wide spike alert. Fixed size, no heap.
///
/// Call [`check`](Self::check) before comparing a typed code, then
/// [`record_failure`](Self::record_failure) or
/// [`record_success`](Self::record_success). A record made while the keypad
/// is locked is refused with [`CodeError::LockedOut`] and changes nothing: a
/// locked keypad must not compare codes at all.
///
/// ```
/// use locker_domain::bank::codes::{CodeError, KeypadGuard, KeypadId, LockoutPolicy};
/// use locker_proto::time::{Duration, Instant};
///
/// let mut guard = KeypadGuard::<2>::new(LockoutPolicy::default());
/// let door_keypad = KeypadId(0);
/// let now = Instant::from_secs(100);
/// for _ in 0..3 {
///     guard.check(door_keypad, now)?;
///     assert_eq!(guard.record_failure(door_keypad, now)?.locked_until, None);
/// }
/// let outcome = guard.record_failure(door_keypad, now)?;
/// assert_eq!(outcome.locked_until, Some(now + Duration::from_secs(30)));
/// assert_eq!(guard.check(door_keypad, now), Err(CodeError::LockedOut { until: now + Duration::from_secs(30) }));
/// assert_eq!(guard.poll_timeout(), Some(now + Duration::from_secs(30)));
/// # Ok::<(), CodeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeypadGuard<const K: usize> {
    policy: LockoutPolicy,
    keypads: [KeypadState; K],
    /// `(bucket number, wrong codes in it)`; bucket number is
    /// `now / bucket length`.
    spike_buckets: [(u64, u16); SPIKE_BUCKETS],
    /// Whether a spike episode is under way (its alert already raised).
    in_spike: bool,
    /// The latest `now` seen, so a clock that steps back cannot reopen old
    /// buckets.
    latest: Instant,
}

impl<const K: usize> KeypadGuard<K> {
    /// A guard with every keypad fresh.
    pub fn new(policy: LockoutPolicy) -> Self {
        KeypadGuard {
            policy,
            keypads: [KeypadState::FRESH; K],
            spike_buckets: [(0, 0); SPIKE_BUCKETS],
            in_spike: false,
            latest: Instant::ZERO,
        }
    }

    /// New rules from now on. Lockouts already imposed run their course;
    /// the next wrong code is rationed by the new ramp. A new spike window
    /// starts the bank-wide count afresh.
    pub fn set_policy(&mut self, policy: LockoutPolicy) {
        if policy.spike_window != self.policy.spike_window {
            // The buckets are cut to the window: a new window counts afresh.
            self.spike_buckets = [(0, 0); SPIKE_BUCKETS];
            self.in_spike = false;
        }
        self.policy = policy;
    }

    /// The rules in force.
    pub fn policy(&self) -> &LockoutPolicy {
        &self.policy
    }

    /// Whether `keypad` may try a code now.
    ///
    /// A `now` earlier than one seen before counts as that later time, so a
    /// clock stepping back can neither open a keypad early nor reopen it.
    ///
    /// # Errors
    /// [`CodeError::LockedOut`] while it is locked; [`CodeError::UnknownKeypad`]
    /// for a keypad beyond `K`.
    pub fn check(&self, keypad: KeypadId, now: Instant) -> Result<(), CodeError> {
        let state = self.keypad(keypad)?;
        // A stale `now` is judged at the latest time seen, as the records are.
        let now = now.max(self.latest);
        match state.locked_until {
            Some(until) if now < until => Err(CodeError::LockedOut { until }),
            _ => Ok(()),
        }
    }

    /// Records a wrong code typed at `keypad`.
    ///
    /// # Errors
    /// As [`check`](Self::check); the state is then unchanged.
    pub fn record_failure(
        &mut self,
        keypad: KeypadId,
        now: Instant,
    ) -> Result<FailureOutcome, CodeError> {
        self.check(keypad, now)?;
        let now = self.advance(now);
        let policy = self.policy;
        let forget_after = policy.max_lockout.saturating_mul(FORGET_AFTER_MAX_LOCKOUTS);
        let state = self.keypad_mut(keypad)?;
        if now.saturating_since(state.last_failure) >= forget_after {
            state.failures = 0;
        }
        // A guesser goes on as soon as the lockout lets him; a wrong code
        // hours after the last is somebody else's mistake.
        let pressing = state.failures > 0
            && now.saturating_since(state.last_failure) <= policy.pressing_window();
        state.failures = state.failures.saturating_add(1);
        state.last_failure = now;
        let lockout = policy.lockout_after(state.failures);
        // A typo is put right at once; a wrong code that locked the keypad
        // is not taken back, even after the lockout.
        state.correctable = lockout == Duration::ZERO;
        state.locked_until = if lockout == Duration::ZERO {
            None
        } else {
            Some(now + lockout)
        };
        let (failures, locked_until) = (state.failures, state.locked_until);
        let spike_alert = self.count_bank_wide_failure(now);
        Ok(FailureOutcome {
            failures,
            locked_until,
            spike_alert,
            keypad_alert: pressing && failures % KEYPAD_ALERT_AFTER == 0,
        })
    }

    /// Records a correct code typed at `keypad`. It does **not** clear the
    /// keypad's wrong codes: whoever holds a parcel of his own could
    /// otherwise type his own code between guesses and guess at the free,
    /// cheap start of the ramp for ever. Only a quiet spell of
    /// [`FORGET_AFTER_MAX_LOCKOUTS`] maximum lockouts forgets them. It takes
    /// back the latest wrong code alone, once, when that came at most
    /// [`CORRECTION_WINDOW`] before: a typo, corrected.
    ///
    /// # Errors
    /// As [`check`](Self::check); the state is then unchanged.
    pub fn record_success(&mut self, keypad: KeypadId, now: Instant) -> Result<(), CodeError> {
        self.check(keypad, now)?;
        let now = self.advance(now);
        let state = self.keypad_mut(keypad)?;
        if state.correctable && now.saturating_since(state.last_failure) <= CORRECTION_WINDOW {
            state.failures = state.failures.saturating_sub(1);
        }
        state.correctable = false;
        Ok(())
    }

    /// Forgets lockouts that have ended, so [`poll_timeout`](Self::poll_timeout)
    /// moves on. Failure counts are kept: the next wrong code still doubles.
    /// Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        for state in &mut self.keypads {
            if state.locked_until.is_some_and(|until| until <= now) {
                state.locked_until = None;
            }
        }
    }

    /// The earliest end of a lockout not yet cleared by
    /// [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.keypads.iter().filter_map(|s| s.locked_until).min()
    }

    /// Consecutive wrong codes at `keypad` since its last correct one, as of
    /// the latest record (forgetting after a quiet spell happens at the next
    /// wrong code).
    ///
    /// # Errors
    /// [`CodeError::UnknownKeypad`] for a keypad beyond `K`.
    pub fn failures(&self, keypad: KeypadId) -> Result<u16, CodeError> {
        Ok(self.keypad(keypad)?.failures)
    }

    /// Wrong codes at all keypads within the spike window ending at `now`
    /// (to a sixteenth of the window).
    pub fn recent_failures(&self, now: Instant) -> u32 {
        let current = self.bucket_of(now);
        self.spike_buckets
            .iter()
            .filter(|(bucket, _)| *bucket <= current && current - *bucket < SPIKE_BUCKETS as u64)
            .map(|(_, count)| u32::from(*count))
            .sum()
    }

    fn keypad(&self, keypad: KeypadId) -> Result<&KeypadState, CodeError> {
        self.keypads
            .get(usize::from(keypad.0))
            .ok_or(CodeError::UnknownKeypad)
    }

    fn keypad_mut(&mut self, keypad: KeypadId) -> Result<&mut KeypadState, CodeError> {
        self.keypads
            .get_mut(usize::from(keypad.0))
            .ok_or(CodeError::UnknownKeypad)
    }

    fn advance(&mut self, now: Instant) -> Instant {
        if now > self.latest {
            self.latest = now;
        }
        self.latest
    }

    /// The lockouts and the bank-wide count as the snapshot keeps them.
    pub(crate) fn record(&self) -> KeypadsRecord {
        let width = self.bucket_width();
        KeypadsRecord {
            keypads: self
                .keypads
                .iter()
                .take(MAX_KEYPADS)
                .map(|k| KeypadRecord {
                    failures: k.failures,
                    last_failure: k.last_failure,
                    locked_until: k.locked_until,
                })
                .collect(),
            spike: self
                .spike_buckets
                .iter()
                .filter(|(_, count)| *count > 0)
                .take(MAX_SPIKE_BUCKETS)
                .map(|(bucket, count)| (Instant::from_millis(bucket.saturating_mul(width)), *count))
                .collect(),
            in_spike: self.in_spike,
            latest: self.latest,
        }
    }

    /// Takes the lockouts and the bank-wide count from a snapshot, on the
    /// restoring clock. Keypads beyond `K` are ignored; keypads the
    /// snapshot does not name start afresh.
    pub(crate) fn load_record(&mut self, r: &KeypadsRecord, clock: Rebase) {
        for (state, k) in self.keypads.iter_mut().zip(&r.keypads) {
            *state = KeypadState {
                failures: k.failures,
                last_failure: clock.at(k.last_failure),
                locked_until: clock.opt(k.locked_until),
                correctable: false,
            };
        }
        self.spike_buckets = [(0, 0); SPIKE_BUCKETS];
        for (start, count) in &r.spike {
            let bucket = self.bucket_of(clock.at(*start));
            let ring = (bucket % SPIKE_BUCKETS as u64) as usize;
            if let Some(slot) = self.spike_buckets.get_mut(ring) {
                if slot.0 != bucket {
                    *slot = (bucket, 0);
                }
                slot.1 = slot.1.saturating_add(*count);
            }
        }
        self.in_spike = r.in_spike;
        self.latest = clock.at(r.latest);
    }

    fn bucket_width(&self) -> u64 {
        (self.policy.spike_window.as_millis() / SPIKE_BUCKETS as u64).max(1)
    }

    fn bucket_of(&self, now: Instant) -> u64 {
        now.as_millis() / self.bucket_width()
    }

    /// Counts one wrong code bank-wide; `true` if it starts a spike episode.
    ///
    /// The episode ends once the count falls to half the threshold, so a
    /// steady attack hovering at the threshold raises one alert, not one per
    /// wobble.
    fn count_bank_wide_failure(&mut self, now: Instant) -> bool {
        let threshold = u32::from(self.policy.spike_threshold);
        if self.recent_failures(now) <= threshold / 2 {
            self.in_spike = false;
        }
        let current = self.bucket_of(now);
        let ring = (current % SPIKE_BUCKETS as u64) as usize;
        if let Some(bucket) = self.spike_buckets.get_mut(ring) {
            if bucket.0 != current {
                *bucket = (current, 0);
            }
            bucket.1 = bucket.1.saturating_add(1);
        }
        if self.recent_failures(now) > threshold && !self.in_spike {
            self.in_spike = true;
            true
        } else {
            false
        }
    }
}
