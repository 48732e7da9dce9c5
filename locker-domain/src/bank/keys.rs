//! The bank's secrets: one 32-byte bank secret, and the per-purpose keys
//! derived from it (see [`BankKeys`]).

use core::fmt;

use hkdf::Hkdf;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Bytes in the bank secret and in each derived key.
pub const KEY_LEN: usize = 32;
/// Bytes of every truncated HMAC-SHA256 tag (remote opens, tokens, code hashes).
pub const TAG_LEN: usize = 16;

const SALT: &[u8] = b"locker/v1/bank-keys";
const LABEL_CODE_HASH: &[u8] = b"locker/v1/code-hash";
const LABEL_REMOTE_OPEN: &[u8] = b"locker/v1/remote-open";
const LABEL_OFFLINE_TOKEN: &[u8] = b"locker/v1/offline-token";
const LABEL_KEY_CHECK: &[u8] = b"locker/v1/key-check";
const LABEL_DOWNWARD: &[u8] = b"locker/v1/downward";
const LABEL_DEPOSIT_CODE: &[u8] = b"locker/v1/deposit-code";

/// A bank's number within its operator, bound into every key, code hash,
/// remote-open tag and token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BankId(pub u32);

/// The keys of one bank, derived from its secret.
///
///
/// The operator's backend and the bank share one random 32-byte secret per
/// bank (provisioned into the gateway's secure storage, never sent over the
/// uplink). Both derive the same [`BankKeys`] from it with HKDF-SHA256
/// (RFC 5869):
///
/// ```text
/// PRK = HKDF-Extract(salt = "locker/v1/bank-keys", IKM = bank secret)
/// key = HKDF-Expand(PRK, info = label || bank id (u32 LE), 32 bytes)
/// ```
///
/// | label | key | used for |
/// |---|---|---|
/// | `locker/v1/code-hash` | code key | [`CodeHash`](super::codes::CodeHash): pickup codes at rest |
/// | `locker/v1/remote-open` | backend key | [`RemoteOpen`](super::RemoteOpen) tags |
/// | `locker/v1/offline-token` | token key | [`OfflineToken`](super::OfflineToken) tags |
/// | `locker/v1/downward` | downward key | tags of every message from the backend ([`sign_downward`](crate::uplink::sign_downward)) |
/// | `locker/v1/deposit-code` | deposit key | [`DepositCode`](super::DepositCode)s of reserved compartments |
///
/// One key per purpose means a tag made for one purpose is never valid for
/// another (a remote-open tag cannot be replayed as a token), and the bank
/// id in the info means two banks given the same secret by mistake still
/// get different keys.
///
/// Every MAC is HMAC-SHA256 truncated to its first 16 bytes (128 bits: a
/// forger's odds per attempt are 2^-128, and every attempt is audited).
/// SHA-256 uses only additions, rotations and logic operations, no
/// multiplications or table look-ups indexed by secrets, so it runs in
/// constant time even on a Cortex-M0; tags are compared with
/// `verify_truncated_left` (constant time, from the `digest` crate).
///
/// The keys are never persisted in a snapshot (a snapshot only carries
/// [`BankKeys::fingerprint`], so a restore with the wrong secret is refused)
/// and never shown: `Debug` prints the bank id only.
///
/// ```
/// use locker_domain::bank::{BankId, BankKeys};
///
/// // In production: 32 bytes from the provisioning system, not a constant.
/// let secret = [7u8; 32];
/// let keys = BankKeys::derive(BankId(1042), &secret);
/// assert_eq!(keys.bank(), BankId(1042));
/// assert_eq!(format!("{keys:?}"), "BankKeys { bank: BankId(1042), .. }");
/// // The backend derives the same keys from the same secret.
/// assert_eq!(BankKeys::derive(BankId(1042), &secret).fingerprint(), keys.fingerprint());
/// ```
///
/// Clone it only where it is needed: the bank holds one copy.
#[derive(Clone)]
pub struct BankKeys {
    bank: BankId,
    code: [u8; KEY_LEN],
    remote_open: [u8; KEY_LEN],
    token: [u8; KEY_LEN],
    downward: [u8; KEY_LEN],
    deposit: [u8; KEY_LEN],
}

/// The keys are overwritten with zeros when dropped (with `zeroize`, which
/// the compiler may not optimise away): a bank dropped or replaced leaves no
/// keys in freed memory. Copies the compiler made on the stack while they
/// were derived or moved are beyond its reach.
impl Drop for BankKeys {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.code.zeroize();
        self.remote_open.zeroize();
        self.token.zeroize();
        self.downward.zeroize();
        self.deposit.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for BankKeys {}

impl BankKeys {
    /// Derives the keys of bank `bank` from its 32-byte secret.
    pub fn derive(bank: BankId, secret: &[u8; KEY_LEN]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(SALT), secret);
        let id = bank.0.to_le_bytes();
        let expand = |label: &[u8]| {
            let mut okm = [0u8; KEY_LEN];
            // HKDF-Expand refuses only outputs longer than 255 hash lengths
            // (8,160 bytes); 32 bytes always succeed.
            let expanded = hk.expand_multi_info(&[label, &id], &mut okm);
            debug_assert!(expanded.is_ok());
            okm
        };
        BankKeys {
            bank,
            code: expand(LABEL_CODE_HASH),
            remote_open: expand(LABEL_REMOTE_OPEN),
            token: expand(LABEL_OFFLINE_TOKEN),
            downward: expand(LABEL_DOWNWARD),
            deposit: expand(LABEL_DEPOSIT_CODE),
        }
    }

    /// The bank these keys belong to.
    pub fn bank(&self) -> BankId {
        self.bank
    }

    /// A public 8-byte check value of the keys (a MAC of a fixed label under
    /// the code key): equal for equal secrets and bank ids, and revealing
    /// nothing about the keys. Snapshots carry it so that a bank restored
    /// with the wrong secret is refused instead of silently rejecting every
    /// pickup code; operators can compare it to check a provisioning.
    pub fn fingerprint(&self) -> [u8; 8] {
        let tag = mac(&self.code, &[LABEL_KEY_CHECK]);
        let mut out = [0u8; 8];
        for (o, t) in out.iter_mut().zip(tag.iter()) {
            *o = *t;
        }
        out
    }

    pub(crate) fn code_key(&self) -> &[u8; KEY_LEN] {
        &self.code
    }

    pub(crate) fn remote_open_key(&self) -> &[u8; KEY_LEN] {
        &self.remote_open
    }

    pub(crate) fn token_key(&self) -> &[u8; KEY_LEN] {
        &self.token
    }

    pub(crate) fn downward_key(&self) -> &[u8; KEY_LEN] {
        &self.downward
    }

    pub(crate) fn deposit_key(&self) -> &[u8; KEY_LEN] {
        &self.deposit
    }
}

impl fmt::Debug for BankKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BankKeys")
            .field("bank", &self.bank)
            .finish_non_exhaustive()
    }
}

/// HMAC-SHA256 keyed with a 32-byte key. HMAC pads short keys with zeros to
/// the 64-byte block, so padding here gives the same MAC and needs no
/// fallible constructor.
pub(crate) fn hmac(key: &[u8; KEY_LEN]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    for (b, k) in block.iter_mut().zip(key.iter()) {
        *b = *k;
    }
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

/// HMAC-SHA256 of the concatenated `parts`, truncated to [`TAG_LEN`] bytes.
pub(crate) fn mac(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; TAG_LEN] {
    let mut m = hmac(key);
    for p in parts {
        m.update(p);
    }
    let full = m.finalize().into_bytes();
    let mut tag = [0u8; TAG_LEN];
    for (t, f) in tag.iter_mut().zip(full.iter()) {
        *t = *f;
    }
    tag
}

/// Whether `tag` is the truncated MAC of `parts`, compared in constant time.
pub(crate) fn verify(key: &[u8; KEY_LEN], parts: &[&[u8]], tag: &[u8; TAG_LEN]) -> bool {
    let mut m = hmac(key);
    for p in parts {
        m.update(p);
    }
    m.verify_truncated_left(tag).is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_banks_keys_and_the_bus_key_are_wiped_when_dropped() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<BankKeys>();
        #[cfg(feature = "auth")]
        wiped_on_drop::<locker_proto::auth::BankKey>();
    }

    /// RFC 4231 test case 2 ("Jefe"), to show the zero-padded key gives
    /// standard HMAC-SHA256.
    #[test]
    fn padded_key_gives_standard_hmac() {
        let mut key = [0u8; KEY_LEN];
        key[..4].copy_from_slice(b"Jefe");
        let tag = mac(&key, &[b"what do ya want ", b"for nothing?"]);
        let want = [
            0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
            0x75, 0xc7,
        ];
        assert_eq!(tag, want);
        assert!(verify(&key, &[b"what do ya want for nothing?"], &want));
    }

    #[test]
    fn purposes_and_banks_get_different_keys() {
        let a = BankKeys::derive(BankId(1), &[9; 32]);
        let b = BankKeys::derive(BankId(2), &[9; 32]);
        assert_ne!(a.code, a.remote_open);
        assert_ne!(a.code, a.token);
        assert_ne!(a.remote_open, a.token);
        assert_ne!(a.downward, a.remote_open);
        assert_ne!(a.downward, a.code);
        assert_ne!(a.downward, a.token);
        assert_ne!(a.code, b.code);
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
