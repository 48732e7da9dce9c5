//! The tag: truncated HMAC-SHA256 over header, body, full counter and direction.

use crate::frame::{AuthTrailer, FRESHNESS_LEN, TAG_LEN};
use crate::key::NodeKey;

#[cfg(feature = "auth-compact")]
use super::sha256::HmacSha256;
#[cfg(not(feature = "auth-compact"))]
use unrolled::HmacSha256;

/// HMAC-SHA256 through the `hmac` and `sha2` crates, with the interface of
/// our own compact one (`auth-compact`, in `sha256.rs`).
#[cfg(not(feature = "auth-compact"))]
mod unrolled {
    use core::marker::PhantomData;

    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use crate::key::KEY_LEN;

    /// The lifetime is the compact one's, which borrows the key.
    pub(super) struct HmacSha256<'k>(Option<Hmac<Sha256>>, PhantomData<&'k ()>);

    impl HmacSha256<'_> {
        pub(super) fn new(key: &[u8; KEY_LEN]) -> Self {
            // HMAC takes a key of any length: never `None`.
            HmacSha256(Hmac::new_from_slice(key).ok(), PhantomData)
        }

        /// Nothing to do: `new` started it.
        pub(super) fn start(&mut self) {}

        pub(super) fn update(&mut self, data: &[u8]) {
            if let Some(mac) = self.0.as_mut() {
                mac.update(data);
            }
        }

        /// The MAC's first `N` bytes (at most 32).
        pub(super) fn finish<const N: usize>(&mut self) -> [u8; N] {
            let mut out = [0u8; N];
            if let Some(mac) = self.0.take() {
                for (o, b) in out.iter_mut().zip(mac.finalize().into_bytes()) {
                    *o = b;
                }
            }
            out
        }
    }
}

/// Which way a frame travels. Part of every tag, so a node's answer can
/// never be reflected back at it as a command, nor a command at the gateway
/// as an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// Gateway to node: commands.
    ToNode,
    /// Node to gateway: answers to signed commands, under the command's
    /// counter.
    ToGateway,
    /// Node to gateway: answers to queries (polls, status, ping), under the
    /// [binding](query_binding) of the query and the gateway's challenge.
    /// Kept apart from [`ToGateway`](Self::ToGateway) so that no answer to a
    /// query can pass for the answer to a signed command.
    QueryAnswer,
}

impl Direction {
    const fn byte(self) -> u8 {
        match self {
            Direction::ToNode => 0x01,
            Direction::ToGateway => 0x02,
            Direction::QueryAnswer => 0x03,
        }
    }
}

/// Domain byte of a query's binding ([`query_binding`]).
const BINDING: u8 = 0x04;
/// Domain byte of a gateway challenge ([`challenge`]).
const CHALLENGE: u8 = 0x05;

/// `HMAC-SHA256(key, covered || counter LE || domain)`, truncated to
/// [`TAG_LEN`] bytes. Inlined into its callers (tag, check, challenge), so
/// that the MAC is started and finished where it lies: returned by value,
/// its state would be built apart and copied.
#[inline(always)]
fn mac_in(key: &NodeKey, covered: &[u8], counter: u64, domain: u8) -> [u8; TAG_LEN] {
    let mut mac = HmacSha256::new(key.as_bytes());
    mac.start();
    mac.update(covered);
    mac.update(&counter.to_le_bytes());
    mac.update(&[domain]);
    truncated(&mut mac)
}

/// The first [`TAG_LEN`] bytes of `mac`'s result. Finished where it lies,
/// and read from the hash's state words: a copy of the MAC's state on the
/// way would be 108 more bytes on the deepest stack of a node (a query's
/// binding under `deliver`), and the digest as 32 bytes 32 more.
fn truncated(mac: &mut HmacSha256<'_>) -> [u8; TAG_LEN] {
    mac.finish()
}

/// The gateway's challenge for the `index`-th query of the run that began
/// with the counter value `epoch`, under the run's `salt`:
/// `HMAC-SHA256(key, epoch LE || salt || index LE || 0x05)`, truncated to
/// [`TAG_LEN`] bytes. Unique as long as `(salt, epoch, index)` is, and
/// unpredictable without the key: nobody on the bus can ask a node in
/// advance for the answer to a query the gateway has yet to send.
///
/// `epoch` comes from the gateway's stored counter, so it alone repeats
/// only if that store is lost; a random `salt` per run
/// ([`MasterConfig::challenge_salt`](crate::link::MasterConfig::challenge_salt))
/// keeps challenges unique even then. The node never checks a challenge, so
/// how the gateway makes it is its own affair.
///
/// ```
/// use locker_proto::auth::challenge;
/// use locker_proto::NodeKey;
///
/// let key = NodeKey::from_bytes([7; 32]);
/// let salt = [3; 16];
/// assert_ne!(challenge(&key, &salt, 1024, 0), challenge(&key, &salt, 1024, 1));
/// assert_ne!(challenge(&key, &salt, 1024, 0), challenge(&key, &[4; 16], 1024, 0));
/// ```
pub fn challenge(key: &NodeKey, salt: &[u8; 16], epoch: u64, index: u64) -> [u8; TAG_LEN] {
    let mut covered = [0u8; 24];
    let (head, tail) = covered.split_at_mut(8);
    head.copy_from_slice(&epoch.to_le_bytes());
    tail.copy_from_slice(salt);
    mac_in(key, &covered, index, CHALLENGE)
}

/// What ties a node's answer to the query it answers: `HMAC-SHA256(key,
/// query header and body || challenge || 0x04)`, the first 8 bytes read as a
/// little-endian number. The node tags its answer under this value in the
/// [`Direction::QueryAnswer`] direction; the gateway, which knows the query
/// it sent, checks it. An answer recorded for one query is worthless for
/// any other: another sequence number, command or challenge gives another
/// binding.
///
/// ```
/// use locker_proto::auth::query_binding;
/// use locker_proto::NodeKey;
///
/// let key = NodeKey::from_bytes([7; 32]);
/// assert_ne!(query_binding(&key, b"poll", &[1; 8]), query_binding(&key, b"status", &[1; 8]));
/// ```
pub fn query_binding(key: &NodeKey, query: &[u8], challenge: &[u8; TAG_LEN]) -> u64 {
    let mut mac = HmacSha256::new(key.as_bytes());
    mac.start();
    mac.update(query);
    mac.update(challenge);
    mac.update(&[BINDING]);
    u64::from_le_bytes(truncated(&mut mac))
}

/// The tag of `covered` (a frame's header and body bytes, as
/// [`encode_authenticated`](crate::frame::encode_authenticated) hands them to
/// its signer) under `key`, for the full `counter` and `direction`:
/// `HMAC-SHA256(key, covered || counter as u64 LE || direction)` truncated
/// to its first [`TAG_LEN`] bytes.
///
/// ```
/// use locker_proto::auth::{tag, verify, Direction};
/// use locker_proto::NodeKey;
///
/// let key = NodeKey::from_bytes([7; 32]);
/// let t = tag(&key, b"header and body", 41, Direction::ToNode);
/// assert!(verify(&key, b"header and body", 41, Direction::ToNode, &t));
/// assert!(!verify(&key, b"header and body", 42, Direction::ToNode, &t));
/// ```
pub fn tag(key: &NodeKey, covered: &[u8], counter: u64, direction: Direction) -> [u8; TAG_LEN] {
    mac_in(key, covered, counter, direction.byte())
}

/// Whether `tag` is the tag of `covered` under `key` for `counter` and
/// `direction`. The comparison takes the same time whatever the bytes: it
/// ORs the XOR of every byte pair, with no early exit, and looks at the
/// result once.
pub fn verify(
    key: &NodeKey,
    covered: &[u8],
    counter: u64,
    direction: Direction,
    tag: &[u8; TAG_LEN],
) -> bool {
    let expected = mac_in(key, covered, counter, direction.byte());
    let difference = expected
        .iter()
        .zip(tag)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    core::hint::black_box(difference) == 0
}

/// The trailer for `covered` sent with `counter`: its low
/// [`FRESHNESS_LEN`] bytes and the tag.
pub fn trailer(key: &NodeKey, covered: &[u8], counter: u64, direction: Direction) -> AuthTrailer {
    AuthTrailer {
        freshness: freshness_bits(counter),
        tag: tag(key, covered, counter, direction),
    }
}

/// The low [`FRESHNESS_LEN`] bytes of `counter`, little-endian: what the
/// wire carries of it.
pub fn freshness_bits(counter: u64) -> [u8; FRESHNESS_LEN] {
    let mut out = [0u8; FRESHNESS_LEN];
    for (o, b) in out.iter_mut().zip(counter.to_le_bytes()) {
        *o = b;
    }
    out
}

/// The counter value of `freshness` read as a little-endian number.
pub(crate) fn freshness_value(freshness: [u8; FRESHNESS_LEN]) -> u64 {
    freshness
        .iter()
        .rev()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}
