//! The secret a node shares with its gateway.
//!
//! The type lives outside the `auth` module because it is part of the
//! message set ([`Command::Provision`](crate::Command::Provision) carries
//! one) whether or not this build can compute tags.

use core::fmt;

use serde::{Deserialize, Serialize};

/// Bytes of a [`NodeKey`] (and of a bank key): 256 bits, the HMAC-SHA256
/// block-size-friendly key length.
pub const KEY_LEN: usize = 32;

/// The key one node and its gateway authenticate bus frames with.
///
/// Derived per node from the bank key (see `auth::BankKey::node_key`, feature
/// `auth`) and installed on the node in provisioning mode. Its bytes never
/// appear in `Debug` or `defmt` output, and no [`Report`](crate::Report) carries
/// one: a key leaves the gateway only inside a
/// [`Command::Provision`](crate::Command::Provision).
///
/// Unlike the bank key (`auth::BankKey`), a node key is `Copy` and is not
/// wiped on drop: a node keeps it in flash for its whole life, and the
/// gateway's bus master holds one per node for the life of the process and
/// can derive every one of them again from the bank key anyway, so wiping
/// copies would protect nothing the bank key does not already expose.
///
/// ```
/// use locker_proto::NodeKey;
///
/// let key = NodeKey::from_bytes([0x42; 32]);
/// assert_eq!(format!("{key:?}"), "NodeKey(<redacted>)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct NodeKey([u8; KEY_LEN]);

/// On the wire the key is its 32 bytes as a tuple (postcard: 32 raw bytes,
/// no length). Written by hand with loops: serde's derived array code is
/// unrolled 32 times, which costs a node kilobytes of flash.
impl Serialize for NodeKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tuple = serializer.serialize_tuple(KEY_LEN)?;
        for byte in &self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for NodeKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = NodeKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{KEY_LEN} key bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<NodeKey, A::Error> {
                let mut key = [0u8; KEY_LEN];
                for (i, byte) in key.iter_mut().enumerate() {
                    *byte = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(NodeKey(key))
            }
        }
        deserializer.deserialize_tuple(KEY_LEN, KeyVisitor)
    }
}

impl NodeKey {
    /// A key from its bytes (as stored in the node's flash or derived by the gateway).
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        NodeKey(bytes)
    }

    /// The key's bytes, for storing it. Handle with care: whoever has them
    /// can open this node's doors.
    pub const fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0
    }

    /// The key's bytes, borrowed.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeKey(<redacted>)")
    }
}

#[cfg(feature = "defmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "defmt")))]
impl defmt::Format for NodeKey {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "NodeKey(<redacted>)")
    }
}
