//! Who may open a reserved compartment to put a parcel in: the courier (or
//! the resident, for a return) with the compartment's deposit code, or a
//! named account at the bank's own screen.
//!
//! # Deposit codes
//!
//! Every reservation has a deposit code of [`DEPOSIT_CODE_DIGITS`] digits,
//! derived from the bank's keys, so the bank stores nothing for it and the
//! backend computes the same code ([`DepositCode::for_parcel`]):
//!
//! ```text
//! tag  = HMAC-SHA256(deposit key, "locker/v1/deposit-code" || bank id (u32 LE)
//!                    || incarnation (u32 LE) || compartment (u16 LE)
//!                    || parcel (u32 LE))
//! code = the first 8 bytes of tag as a u64 LE, modulo 10^8, as 8 digits
//! ```
//!
//! (the deposit key is [`BankKeys`]' `locker/v1/deposit-code` key). The
//! backend sends it to the courier with the parcel's compartment; at the
//! bank the courier picks the compartment and types the code
//! ([`Bank::enter_deposit_code`]). A deposit code is bound to one parcel in
//! one compartment of one incarnation of the bank, opens only while the
//! compartment is reserved, and is longer than a pickup code, so it can
//! never be taken for one. A wrong one counts against the keypad like a
//! wrong pickup code ([`KeypadGuard`](super::codes::KeypadGuard)), and is
//! audited; a right one is audited with the keypad
//! ([`AuditEvent::DepositCodeAccepted`]).
//!
//! # At the bank's own screen
//!
//! A courier without a reservation (walk-up), or staff putting a parcel in,
//! sign in at the bank's screen with an account; the gateway then reserves
//! and calls [`Bank::start_deposit`] with the account's id, which the audit
//! names ([`AuditEvent::DepositOpenedBy`]).

use locker_proto::CompartmentId;
use locker_proto::time::Instant;

use super::Bank;
use super::answers::CodeOutcome;
use super::audit::{Actor, AuditEvent};
use super::codes::{CodeError, KeypadId, PickupCode};
use super::error::BankError;
use super::incarnation::Incarnation;
use super::keys::{BankKeys, mac};
use super::parcel::{ParcelId, Purpose, Stage};
use super::slot::Slot;

/// Digits in a deposit code: two more than the longest default pickup code,
/// so the two are never confused.
pub const DEPOSIT_CODE_DIGITS: usize = 8;

const LABEL: &[u8] = b"locker/v1/deposit-code";

/// A reserved compartment's deposit code (see [the module docs](self)).
///
/// ```
/// use locker_domain::bank::{BankId, BankKeys, DepositCode, Incarnation, ParcelId};
/// use locker_proto::CompartmentId;
///
/// let keys = BankKeys::derive(BankId(3), &[0x3d; 32]);
/// let code = DepositCode::for_parcel(&keys, Incarnation(77), CompartmentId(12), ParcelId(4));
/// assert_eq!(code.to_string().len(), 8);
/// // Bound to the parcel: the next parcel in the same compartment has another.
/// assert_ne!(code, DepositCode::for_parcel(&keys, Incarnation(77), CompartmentId(12), ParcelId(5)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DepositCode([u8; DEPOSIT_CODE_DIGITS]);

impl DepositCode {
    /// The deposit code of `parcel` in `compartment`, in the bank's
    /// `incarnation`, under `keys` (what the backend computes to tell the
    /// courier).
    pub fn for_parcel(
        keys: &BankKeys,
        incarnation: Incarnation,
        compartment: CompartmentId,
        parcel: ParcelId,
    ) -> Self {
        let tag = mac(
            keys.deposit_key(),
            &[
                LABEL,
                &keys.bank().0.to_le_bytes(),
                &incarnation.0.to_le_bytes(),
                &compartment.0.to_le_bytes(),
                &parcel.0.to_le_bytes(),
            ],
        );
        let mut first = [0u8; 8];
        for (f, t) in first.iter_mut().zip(tag.iter()) {
            *f = *t;
        }
        // 2^64 is not a multiple of 10^8; the bias is below 10^-11.
        let mut n = u64::from_le_bytes(first) % 100_000_000;
        let mut digits = [0u8; DEPOSIT_CODE_DIGITS];
        for d in digits.iter_mut().rev() {
            *d = (n % 10) as u8;
            n /= 10;
        }
        DepositCode(digits)
    }

    /// The digits, most significant first (to tell the courier; never log
    /// them).
    pub fn digits(&self) -> &[u8] {
        &self.0
    }

    /// Whether `typed` is this code, compared in constant time.
    pub fn matches(&self, typed: &PickupCode) -> bool {
        use subtle::ConstantTimeEq;
        let same_len = typed.len().ct_eq(&DEPOSIT_CODE_DIGITS);
        let mut padded = [0u8; DEPOSIT_CODE_DIGITS];
        for (p, d) in padded.iter_mut().zip(typed.digits()) {
            *p = *d;
        }
        (same_len & padded.ct_eq(&self.0)).into()
    }
}

impl core::fmt::Display for DepositCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for d in self.0 {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Never shows the digits (a log line must not hand out a deposit code).
impl core::fmt::Debug for DepositCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DepositCode(********)")
    }
}

impl Bank<'_> {
    /// The deposit code of the parcel reserved in `compartment` (what the
    /// backend computes with [`DepositCode::for_parcel`]), for a gateway
    /// that tells the courier itself.
    ///
    /// # Errors
    /// [`BankError::UnknownCompartment`]; [`BankError::WrongStage`] unless
    /// the compartment is reserved.
    pub fn deposit_code(&self, compartment: CompartmentId) -> Result<DepositCode, BankError> {
        let (_, s) = self.slot_of(compartment)?;
        match (s.stage, s.parcel) {
            (Stage::Reserved, Some(p)) => Ok(DepositCode::for_parcel(
                &self.keys,
                self.incarnation,
                compartment,
                p.id,
            )),
            _ => Err(BankError::WrongStage {
                compartment,
                stage: s.stage,
            }),
        }
    }

    /// A courier (or a resident with a return) at `keypad` picked
    /// `compartment` and typed `code`: the right deposit code of a reserved
    /// compartment unlocks it for the deposit.
    ///
    /// A wrong code, or a compartment that is not reserved (a guesser
    /// learns nothing about which are), counts against the keypad like a
    /// wrong pickup code and is audited ([`AuditEvent::DepositCodeRejected`]);
    /// the answer is [`CodeOutcome::Rejected`].
    ///
    /// # Errors
    /// [`BankError::Code`] for a code that is not [`DEPOSIT_CODE_DIGITS`]
    /// digits (a misread, not counted) or a keypad locked out;
    /// [`BankError::OutOfService`], [`BankError::DepositsClosed`],
    /// [`BankError::NoFit`] (low battery), [`BankError::ShuttingDown`]: a
    /// right code, but no deposit now; nothing changed.
    pub fn enter_deposit_code(
        &mut self,
        keypad: KeypadId,
        compartment: CompartmentId,
        code: &str,
        now: Instant,
    ) -> Result<CodeOutcome, BankError> {
        self.begin(now)?;
        let typed = PickupCode::parse(code)?;
        if typed.len() != DEPOSIT_CODE_DIGITS {
            return Err(CodeError::WrongLength {
                len: typed.len(),
                min: DEPOSIT_CODE_DIGITS,
                max: DEPOSIT_CODE_DIGITS,
            }
            .into());
        }
        self.keypads.check(keypad, now)?;
        let target = self.layout.slot_of(compartment).and_then(|i| {
            let s = self.slots.get(i.get()).copied()?;
            let p = s.parcel?;
            let want = DepositCode::for_parcel(&self.keys, self.incarnation, compartment, p.id);
            (s.stage == Stage::Reserved && want.matches(&typed)).then_some((i, s))
        });
        let Some((i, s)) = target else {
            let outcome = self.keypads.record_failure(keypad, now)?;
            self.latest = now;
            let event = AuditEvent::DepositCodeRejected { keypad };
            self.record(now, Actor::Courier, None, event, None);
            if outcome.spike_alert || outcome.keypad_alert {
                self.keypad_spike(keypad, outcome.failures, now);
            }
            return Ok(CodeOutcome::Rejected {
                failures: outcome.failures,
                locked_until: outcome.locked_until,
            });
        };
        self.check_deposit_now(compartment, &s)?;
        self.keypads.record_success(keypad, now)?;
        self.latest = now;
        let by = s.parcel.map_or(Actor::Courier, |p| p.kind.depositor());
        let event = AuditEvent::DepositCodeAccepted { keypad };
        self.record(now, by, Some(i), event, None);
        self.open_session(i, s, Purpose::Deposit, by, now);
        Ok(CodeOutcome::Opening(compartment))
    }

    /// Whether a deposit into the reserved compartment may start now.
    pub(super) fn check_deposit_now(
        &self,
        compartment: CompartmentId,
        s: &Slot,
    ) -> Result<(), BankError> {
        if s.stage != Stage::Reserved {
            return Err(BankError::WrongStage {
                compartment,
                stage: s.stage,
            });
        }
        if s.out_of_service.is_some() {
            return Err(BankError::OutOfService(compartment));
        }
        self.check_deposits_allowed()
    }
}
