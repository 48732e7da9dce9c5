//! The tag: truncated HMAC-SHA256 over header, body, full counter and direction.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::frame::{AuthTrailer, FRESHNESS_LEN, TAG_LEN};
use crate::key::NodeKey;

type HmacSha256 = Hmac<Sha256>;

/// Which way a frame travels. Part of every tag, so a node's answer can
/// never be reflected back at it as a command, nor a command at the gateway
/// as an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// Gateway to node: commands.
    ToNode,
    /// Node to gateway: answers.
    ToGateway,
}

impl Direction {
    const fn byte(self) -> u8 {
        match self {
            Direction::ToNode => 0x01,
            Direction::ToGateway => 0x02,
        }
    }
}

fn mac(key: &NodeKey, covered: &[u8], counter: u64, direction: Direction) -> Option<HmacSha256> {
    // HMAC takes a key of any length; the error arm is unreachable.
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).ok()?;
    mac.update(covered);
    mac.update(&counter.to_le_bytes());
    mac.update(&[direction.byte()]);
    Some(mac)
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
    let mut out = [0u8; TAG_LEN];
    if let Some(mac) = mac(key, covered, counter, direction) {
        let full = mac.finalize().into_bytes();
        for (o, b) in out.iter_mut().zip(full.iter()) {
            *o = *b;
        }
    }
    out
}

/// Whether `tag` is the tag of `covered` under `key` for `counter` and
/// `direction`. The comparison takes the same time whatever the bytes (the
/// `subtle` crate's constant-time equality, through `hmac`).
pub fn verify(
    key: &NodeKey,
    covered: &[u8],
    counter: u64,
    direction: Direction,
    tag: &[u8; TAG_LEN],
) -> bool {
    mac(key, covered, counter, direction).is_some_and(|mac| mac.verify_truncated_left(tag).is_ok())
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
