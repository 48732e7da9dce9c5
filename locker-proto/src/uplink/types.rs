//! Small types several uplink messages share: time stamps, parcel numbers,
//! bounded text and byte strings written as hex in JSON. (Actors and parcel
//! kinds are the bank's words too: they live in [`vocab`](crate::vocab).)

use core::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::Instant;

/// A bank's name as the backend knows it (at most 32 bytes of UTF-8).
pub type BankId = heapless::String<32>;
/// A backend's own reference for a parcel, e.g. a tracking number (at most 32 bytes).
pub type ParcelRef = heapless::String<32>;
/// Who a parcel is for, as the backend addresses them (at most 64 bytes):
/// an opaque handle, never needed by the bank itself.
pub type Recipient = heapless::String<64>;
/// A pickup code's digits (at most 10).
pub type PickupCodeText = heapless::String<10>;
/// A human-readable explanation in an error (at most 96 bytes).
pub type Description = heapless::String<96>;

/// When something happened: the gateway's monotonic clock, and wall time
/// where the gateway knows it.
///
/// `mono_ms` is milliseconds since the gateway started (it restarts at
/// zero with the gateway; compare it only within one boot); `unix_s` is
/// seconds since 1970-01-01 UTC, `null` until the gateway's clock is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Stamp {
    /// Monotonic milliseconds since the gateway started.
    pub mono_ms: Instant,
    /// Unix time in seconds, if the gateway knows it.
    pub unix_s: Option<i64>,
}

impl Stamp {
    /// A stamp at `mono_ms` with wall time `unix_s`.
    pub const fn new(mono_ms: Instant, unix_s: Option<i64>) -> Self {
        Stamp { mono_ms, unix_s }
    }
}

/// A parcel's number within its bank, assigned when a compartment is
/// reserved for it and returned in the reservation's response.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ParcelNumber(pub u32);

/// Exactly `N` bytes; hex in JSON (`"00ff…"`), a byte string in postcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HexArray<const N: usize>(pub [u8; N]);

/// At most `N` bytes; hex in JSON, a byte string in postcard.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct HexBytes<const N: usize>(pub heapless::Vec<u8, N>);

/// A 16-byte authentication tag (a truncated HMAC-SHA256).
pub type Tag = HexArray<16>;
/// A 16-byte hash of a pickup code.
pub type CodeHash = HexArray<16>;
/// An offline pickup token: opaque to the uplink, at most 64 bytes.
pub type OfflineToken = HexBytes<64>;

impl<const N: usize> HexBytes<N> {
    /// The bytes of `bytes`, or `None` if there are more than `N`.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        heapless::Vec::from_slice(bytes).ok().map(HexBytes)
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex `text` into `out`, returning how many bytes it held, or
/// `None` when it is not hex or longer than `out`.
fn unhex(text: &str, out: &mut [u8]) -> Option<usize> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) || text.len() / 2 > out.len() {
        return None;
    }
    for (dst, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (pair.first().copied()?, pair.get(1).copied()?);
        *dst = (nibble(hi)? << 4) | nibble(lo)?;
    }
    Some(text.len() / 2)
}

fn serialize_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.collect_str(&Hex(bytes))
    } else {
        s.serialize_bytes(bytes)
    }
}

/// Decodes either encoding into `out` (at most its length), returning the length.
struct BytesVisitor<'o> {
    out: &'o mut [u8],
    exact: bool,
}

impl<'de> Visitor<'de> for BytesVisitor<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exact {
            write!(f, "exactly {} bytes (hex in JSON)", self.out.len())
        } else {
            write!(f, "at most {} bytes (hex in JSON)", self.out.len())
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        let n =
            unhex(v, self.out).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))?;
        if self.exact && n != self.out.len() {
            return Err(E::invalid_length(n, &self));
        }
        Ok(n)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<usize, E> {
        if v.len() > self.out.len() || (self.exact && v.len() != self.out.len()) {
            return Err(E::invalid_length(v.len(), &self));
        }
        for (dst, src) in self.out.iter_mut().zip(v) {
            *dst = *src;
        }
        Ok(v.len())
    }
}

fn deserialize_into<'de, D: Deserializer<'de>>(
    d: D,
    out: &mut [u8],
    exact: bool,
) -> Result<usize, D::Error> {
    let visitor = BytesVisitor { out, exact };
    if d.is_human_readable() {
        d.deserialize_str(visitor)
    } else {
        d.deserialize_bytes(visitor)
    }
}

impl<const N: usize> Serialize for HexArray<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(&self.0, s)
    }
}

impl<'de, const N: usize> Deserialize<'de> for HexArray<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = [0u8; N];
        deserialize_into(d, &mut out, true)?;
        Ok(HexArray(out))
    }
}

impl<const N: usize> Serialize for HexBytes<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(&self.0, s)
    }
}

impl<'de, const N: usize> Deserialize<'de> for HexBytes<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = [0u8; N];
        let n = deserialize_into(d, &mut out, false)?;
        let bytes = out.get(..n).unwrap_or(&[]);
        Ok(HexBytes(
            heapless::Vec::from_slice(bytes).unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decoding_refuses_odd_lengths_non_hex_and_overlong_input() {
        let mut out = [0u8; 2];
        assert_eq!(unhex("0aFf", &mut out), Some(2));
        assert_eq!(out, [0x0a, 0xff]);
        assert_eq!(unhex("0a0", &mut out), None);
        assert_eq!(unhex("0g", &mut out), None);
        assert_eq!(unhex("000000", &mut out), None);
        assert_eq!(unhex("", &mut out), Some(0));
    }
}
