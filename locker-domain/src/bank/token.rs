//! Offline pickup tokens: a backend-issued pass for one parcel, checked by
//! the bank with no backend connection (app, QR code, BLE).

use locker_proto::CompartmentId;
use locker_proto::time::Instant;
use serde::{Deserialize, Serialize};

use super::Bank;
use super::alert::{AlertKind, Evidence};
use super::audit::{Actor, AuditEvent};
use super::codes::KeypadId;
use super::error::BankError;
use super::incarnation::Incarnation;
use super::keys::{BankId, BankKeys, TAG_LEN, mac, verify};
use super::layout::LayoutIndex;
use super::parcel::{ParcelId, Purpose, Stage};

/// The token format this crate writes and reads.
pub const TOKEN_VERSION: u8 = 2;

const LABEL: &[u8] = b"locker/v1/offline-token";
/// Bytes covered by the tag: everything before it.
const SIGNED_LEN: usize = 1 + 4 + 4 + 2 + 4 + 8;

/// An offline pickup token: a backend-issued pass for one parcel, checked
/// by the bank with no backend connection (app, QR code, BLE).
///
/// The backend issues a token for a parcel waiting in a compartment
/// ([`OfflineToken::issue`]) and gives it to the collector's app; the
/// collector shows it to the bank's reader, the gateway passes the bytes to
/// [`Bank::redeem_token`], and the bank opens the door as for a right pickup
/// code. The token is bound to the bank, its [`Incarnation`], the
/// compartment, the parcel and an expiry, and carries a 16-byte HMAC-SHA256 tag under the bank's token key
/// (see [`BankKeys`]), so it cannot be altered or made up without the bank
/// secret, and it is good for one pickup only: once the parcel is taken,
/// its compartment no longer holds it.
///
/// # Wire format, version 2 (39 bytes)
///
/// | offset | bytes | field |
/// |---|---|---|
/// | 0 | 1 | format version, `0x02` |
/// | 1 | 4 | bank id, u32 little-endian |
/// | 5 | 4 | the bank's [`Incarnation`], u32 little-endian |
/// | 9 | 2 | compartment id, u16 little-endian |
/// | 11 | 4 | parcel id, u32 little-endian |
/// | 15 | 8 | expiry, u64 little-endian: Unix time (seconds since 1970-01-01 00:00 UTC) |
/// | 23 | 16 | tag: `HMAC-SHA256(token key, "locker/v1/offline-token" \|\| bytes 0..23)`, first 16 bytes |
///
/// Version 1 (35 bytes, no incarnation) is no longer accepted: a token not
/// bound to an incarnation would open the parcel numbers of a bank started
/// afresh.
///
/// A token is valid while the bank's wall clock ([`Bank::set_wall_clock`])
/// is before its expiry. The wall clock is UTC (the bank's time zone only
/// shapes quiet hours and analytics), so the expiry is plain Unix time,
/// wherever the bank stands. A bank whose wall clock was never set refuses
/// every token. `spec/uplink.md` (at the
/// repository root) gives every byte of the format and a known answer.
///
/// # What the bank checks, and what a refusal costs
///
/// [`OfflineToken::decode`] refuses anything but exactly 39 bytes of version
/// 2 ([`TokenError::WrongLength`], [`TokenError::UnsupportedVersion`]): a
/// misread, not a guess, so not counted. A well-formed token is then checked
/// for the bank id, the tag (constant time), the incarnation (a token
/// issued before a restore or a fresh start of the bank:
/// [`TokenError::OtherIncarnation`], not counted, since only the backend
/// can make a valid tag), the expiry, and that its parcel is waiting for
/// pickup in its compartment. Any of those refusals is
/// audited ([`AuditEvent::TokenRefused`](super::AuditEvent::TokenRefused))
/// and counts against the reader's [`KeypadGuard`](super::codes::KeypadGuard)
/// exactly like a wrong code, so a reader cannot be used to try tokens any
/// faster than codes.
///
/// # Example
///
/// ```
/// use locker_domain::bank::{Bank, BankError, BankId, BankKeys, Incarnation, OfflineToken,
///     TokenError, Witnesses};
/// # use locker_domain::bank::{Compartment, Books, ParcelKind, ParcelNeeds, Policy};
/// # use locker_domain::bank::codes::KeypadId;
/// # use locker_proto::{Channel, CompartmentId, Dimensions, Event, NodeAddr, Presence, SizeClass};
/// # use locker_proto::time::Instant;
/// # struct Dice(u8);
/// # impl rand_core::RngCore for Dice {
/// #     fn next_u32(&mut self) -> u32 { rand_core::impls::next_u32_via_fill(self) }
/// #     fn next_u64(&mut self) -> u64 { rand_core::impls::next_u64_via_fill(self) }
/// #     fn fill_bytes(&mut self, dst: &mut [u8]) { for b in dst { self.0 = self.0.wrapping_add(77); *b = self.0; } }
/// # }
/// let keys = BankKeys::derive(BankId(3), &[0x3d; 32]);
/// # let c = Compartment::new(CompartmentId(1), NodeAddr(1), Channel(0), SizeClass::Small,
/// #     Dimensions::new(420, 80, 600));
/// # let mut books = Books::<8>::new();
/// # let mut bank = Bank::new(&mut books, &[c], Policy::default(), keys.clone())?;
/// let life = Incarnation(0x2b7e_1516); // drawn at random at the first start
/// bank.begin_incarnation(life, &Witnesses::default(), Instant::from_secs(1))?;
/// # while bank.poll().is_some() {}
/// # let now = Instant::from_secs(1);
/// // 2026-05-01 12:00 at the bank.
/// let noon = chrono::NaiveDate::from_ymd_opt(2026, 5, 1).unwrap().and_hms_opt(12, 0, 0).unwrap();
/// bank.set_wall_clock(noon, now)?;
/// # let r = bank.reserve(ParcelNeeds::size(SizeClass::Small), ParcelKind::Delivery, &mut Dice(0), now)?;
/// # while bank.poll().is_some() {}
/// # bank.start_deposit(r.compartment, locker_domain::bank::StaffId(1), now)?;
/// # while bank.poll().is_some() {}
/// # let ch = Channel(0);
/// # for e in [Event::DoorOpened { channel: ch, commanded: true },
/// #           Event::PresenceChanged { channel: ch, presence: Presence::occupied(250, 10) },
/// #           Event::DoorClosed { channel: ch }] {
/// #     bank.handle_node_event(NodeAddr(1), &e, now)?;
/// #     while bank.poll().is_some() {}
/// # }
/// // Parcel `r.parcel` waits in `r.compartment`. The backend issues a token
/// // for the bank's incarnation (from its boot notification), valid for two
/// // days, and sends its 39 bytes to the collector's app.
/// let expires = noon.and_utc().timestamp() as u64 + 2 * 86_400;
/// let bytes = OfflineToken::issue(&keys, life, r.compartment, r.parcel, expires).encode();
///
/// // At the bank, offline: the reader hands the bytes to the bank.
/// assert_eq!(bank.redeem_token(&bytes, KeypadId(0), now)?, r.compartment);
/// while bank.poll().is_some() {} // the unlock, the audit record
/// // One use: the parcel is on its way out; the same token opens nothing more.
/// assert!(matches!(bank.redeem_token(&bytes, KeypadId(0), now),
///     Err(BankError::TokenRefused { reason: TokenError::NotWaiting, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OfflineToken {
    /// The bank it is for.
    pub bank: BankId,
    /// The bank's incarnation it was issued for.
    pub incarnation: Incarnation,
    /// The compartment the parcel waits in.
    pub compartment: CompartmentId,
    /// The parcel.
    pub parcel: ParcelId,
    /// Valid while the bank's wall clock, in Unix time (seconds since
    /// 1970-01-01 00:00 UTC), is below this.
    pub expires_at: u64,
    /// The tag under the bank's token key.
    pub tag: [u8; TAG_LEN],
}

impl OfflineToken {
    /// Bytes in an encoded token.
    pub const LEN: usize = SIGNED_LEN + TAG_LEN;

    /// Issues a token for `parcel` in `compartment` of the bank of `keys`
    /// in its `incarnation`, valid until `expires_at` (what a backend calls).
    pub fn issue(
        keys: &BankKeys,
        incarnation: Incarnation,
        compartment: CompartmentId,
        parcel: ParcelId,
        expires_at: u64,
    ) -> Self {
        let mut token = OfflineToken {
            bank: keys.bank(),
            incarnation,
            compartment,
            parcel,
            expires_at,
            tag: [0; TAG_LEN],
        };
        token.tag = mac(keys.token_key(), &[LABEL, &token.signed_bytes()]);
        token
    }

    fn signed_bytes(&self) -> [u8; SIGNED_LEN] {
        let mut out = [0u8; SIGNED_LEN];
        let fields = [TOKEN_VERSION]
            .into_iter()
            .chain(self.bank.0.to_le_bytes())
            .chain(self.incarnation.0.to_le_bytes())
            .chain(self.compartment.0.to_le_bytes())
            .chain(self.parcel.0.to_le_bytes())
            .chain(self.expires_at.to_le_bytes());
        for (o, b) in out.iter_mut().zip(fields) {
            *o = b;
        }
        out
    }

    /// The 39 bytes of the token.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        for (o, b) in out
            .iter_mut()
            .zip(self.signed_bytes().into_iter().chain(self.tag))
        {
            *o = b;
        }
        out
    }

    /// Reads a token. Never panics; checks the format only (not the tag).
    ///
    /// # Errors
    /// [`TokenError::WrongLength`] unless exactly [`OfflineToken::LEN`]
    /// bytes; [`TokenError::UnsupportedVersion`] for another format version.
    pub fn decode(bytes: &[u8]) -> Result<Self, TokenError> {
        let wrong_length = TokenError::WrongLength { len: bytes.len() };
        let exact: &[u8; Self::LEN] = bytes.try_into().map_err(|_| wrong_length)?;
        let [
            version,
            b0,
            b1,
            b2,
            b3,
            i0,
            i1,
            i2,
            i3,
            c0,
            c1,
            p0,
            p1,
            p2,
            p3,
            e0,
            e1,
            e2,
            e3,
            e4,
            e5,
            e6,
            e7,
            tag @ ..,
        ] = *exact;
        if version != TOKEN_VERSION {
            return Err(TokenError::UnsupportedVersion { found: version });
        }
        Ok(OfflineToken {
            bank: BankId(u32::from_le_bytes([b0, b1, b2, b3])),
            incarnation: Incarnation(u32::from_le_bytes([i0, i1, i2, i3])),
            compartment: CompartmentId(u16::from_le_bytes([c0, c1])),
            parcel: ParcelId(u32::from_le_bytes([p0, p1, p2, p3])),
            expires_at: u64::from_le_bytes([e0, e1, e2, e3, e4, e5, e6, e7]),
            tag,
        })
    }

    /// Whether the tag is right for `keys` (constant time). Says nothing
    /// about the bank id, expiry or parcel.
    pub fn verify(&self, keys: &BankKeys) -> bool {
        verify(keys.token_key(), &[LABEL, &self.signed_bytes()], &self.tag)
    }
}

/// Why a token was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TokenError {
    /// Not the length of a token: a misread.
    #[error("an offline token has 39 bytes, this one has {len}: scan it again")]
    WrongLength {
        /// Bytes given.
        len: usize,
    },
    /// Another token format.
    #[error(
        "offline token format {found} is not supported (this bank reads format 2): update the app or the gateway"
    )]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The token is for another bank.
    #[error("this token is for bank {}, not this one: go to the bank named in the app", bank.0)]
    WrongBank {
        /// The bank it names.
        bank: BankId,
    },
    /// The tag is wrong: altered or made up.
    #[error("this token is not valid (altered or not issued for this bank): ask for a new one")]
    Forged,
    /// Issued for an earlier incarnation of the bank (before a restore or a
    /// fresh start): genuine, but void.
    #[error(
        "this token was issued before the bank was restored or restarted afresh: ask for a new one"
    )]
    OtherIncarnation {
        /// The incarnation it names.
        incarnation: Incarnation,
    },
    /// The token's time is up.
    #[error("this token expired: ask for a new one")]
    Expired {
        /// Its expiry, seconds of the bank's wall clock.
        expires_at: u64,
    },
    /// The bank cannot tell the time, so it cannot check the expiry.
    #[error(
        "the bank's wall clock is not set, so tokens cannot be checked: use the pickup code, or ask staff"
    )]
    NoWallClock,
    /// The parcel is not in the compartment the token names (or the bank
    /// has no such compartment).
    #[error(
        "this token names another compartment than the one holding the parcel: ask for a new one"
    )]
    WrongCompartment,
    /// The compartment holds another parcel.
    #[error("this token is for a parcel that is not in this compartment: ask for a new one")]
    WrongParcel,
    /// The parcel is not waiting for pickup: already collected (a token is
    /// good once), being collected, or not deposited yet.
    #[error("this parcel is not waiting for pickup (already collected, or not yet delivered)")]
    NotWaiting,
}

impl TokenError {
    /// Whether this refusal counts as a guess at the reader's keypad guard
    /// (a well-formed token that is not valid here and now).
    pub const fn counts_as_attempt(&self) -> bool {
        !matches!(
            self,
            TokenError::WrongLength { .. }
                | TokenError::UnsupportedVersion { .. }
                | TokenError::NoWallClock
                | TokenError::OtherIncarnation { .. }
        )
    }
}

impl Bank<'_> {
    /// An offline token presented at reader `keypad` (see the
    /// [`OfflineToken`]): a valid one opens its compartment for pickup
    /// exactly as the right pickup code would, once.
    ///
    /// # Errors
    /// [`BankError::TokenRefused`] naming why; a well-formed token that is
    /// refused is audited and counted against the reader like a wrong code
    /// (`locked_until` says when the reader accepts again, if now locked).
    /// [`BankError::Code`] when the reader is locked out or unknown;
    /// [`BankError::OutOfService`] when the compartment is;
    /// [`BankError::ShuttingDown`]; [`BankError::TimeWentBackwards`];
    /// [`BankError::OutputsPending`].
    pub fn redeem_token(
        &mut self,
        bytes: &[u8],
        keypad: KeypadId,
        now: Instant,
    ) -> Result<CompartmentId, BankError> {
        self.begin(now)?;
        let refused = |reason| BankError::TokenRefused {
            reason,
            locked_until: None,
        };
        let token = OfflineToken::decode(bytes).map_err(refused)?;
        self.keypads.check(keypad, now)?;
        let i = match self.check_token(&token, now) {
            Ok(i) => i,
            Err(reason) if !reason.counts_as_attempt() => return Err(refused(reason)),
            Err(reason) => {
                let outcome = self.keypads.record_failure(keypad, now)?;
                self.latest = now;
                self.stats.tokens_refused = self.stats.tokens_refused.saturating_add(1);
                let event = AuditEvent::TokenRefused { keypad, reason };
                self.record(now, Actor::Recipient, None, event, None);
                if outcome.spike_alert || outcome.keypad_alert {
                    self.keypad_spike(keypad, outcome.failures, now);
                }
                return Err(BankError::TokenRefused {
                    reason,
                    locked_until: outcome.locked_until,
                });
            }
        };
        let s = self
            .slots
            .get(i.get())
            .copied()
            .unwrap_or(super::slot::Slot::EMPTY);
        if s.out_of_service.is_some() {
            return Err(BankError::OutOfService(token.compartment));
        }
        if self.power.critical() {
            return Err(BankError::ShuttingDown);
        }
        self.keypads.record_success(keypad, now)?;
        self.latest = now;
        self.stats.tokens_redeemed = self.stats.tokens_redeemed.saturating_add(1);
        let by = s.parcel.map_or(Actor::Recipient, |p| p.kind.collector());
        self.record(now, by, Some(i), AuditEvent::TokenAccepted { keypad }, None);
        self.open_session(i, s, Purpose::Pickup, by, now);
        Ok(token.compartment)
    }

    /// Checks a decoded token against the keys, the clock and the books;
    /// the compartment's slot when it may open.
    fn check_token(&self, token: &OfflineToken, now: Instant) -> Result<LayoutIndex, TokenError> {
        if token.bank != self.keys.bank() {
            return Err(TokenError::WrongBank { bank: token.bank });
        }
        if !token.verify(&self.keys) {
            return Err(TokenError::Forged);
        }
        if token.incarnation != self.incarnation {
            return Err(TokenError::OtherIncarnation {
                incarnation: token.incarnation,
            });
        }
        let wall = self.wall_at(now).ok_or(TokenError::NoWallClock)?;
        let seconds = wall.and_utc().timestamp();
        if i128::from(seconds) >= i128::from(token.expires_at) {
            return Err(TokenError::Expired {
                expires_at: token.expires_at,
            });
        }
        let holds = |i: LayoutIndex| {
            self.slots
                .get(i.get())
                .and_then(|s| s.parcel)
                .is_some_and(|p| p.id == token.parcel)
        };
        let i = self
            .layout
            .slot_of(token.compartment)
            .ok_or(TokenError::WrongCompartment)?;
        if !holds(i) {
            return Err(if self.layout.indices().any(holds) {
                TokenError::WrongCompartment
            } else if self.slots.get(i.get()).is_some_and(|s| s.parcel.is_some()) {
                TokenError::WrongParcel
            } else {
                TokenError::NotWaiting
            });
        }
        match self.slots.get(i.get()).map(|s| s.stage) {
            Some(Stage::Stored) => Ok(i),
            _ => Err(TokenError::NotWaiting),
        }
    }

    /// Wrong codes spiked bank-wide, or one keypad saw
    /// [`KEYPAD_ALERT_AFTER`](super::codes::KEYPAD_ALERT_AFTER) in a row:
    /// alert staff (with the keypad and its count) and audit.
    pub(crate) fn keypad_spike(&mut self, keypad: KeypadId, failures: u16, now: Instant) {
        let evidence = Evidence::Keypad { keypad, failures };
        self.raise(now, AlertKind::KeypadAttack, None, evidence, None);
        self.record(
            now,
            Actor::System,
            None,
            AuditEvent::KeypadAttackSuspected,
            None,
        );
    }
}
