//! Protocol versions and how two peers agree on one.
//!
//! Each wire says which of its protocol versions a side speaks in one byte,
//! [`ProtocolVersions`]: bit `k - 1` set means "I speak version `k`", so one
//! byte covers versions 1 to 8. On the bus the master sends its set in
//! [`Command::Ping`](crate::Command::Ping) and the node answers with its own
//! in [`Report::Pong`](crate::Report::Pong); on the uplink the gateway sends
//! its set in the boot notification and the backend answers with its own in
//! the boot notification's acknowledgement. Both sides then use the highest
//! version both speak ([`ProtocolVersions::agree`]); a peer that speaks none
//! of ours is refused with [`NoCommonVersion`]. `spec/versioning.md` §4 (at
//! the repository root) is the normative text.
//!
//! ```
//! use locker_proto::version::{NoCommonVersion, ProtocolVersions};
//!
//! let ours = ProtocolVersions::only(1);
//! // A newer peer that speaks versions 1 and 2 is spoken to in version 1.
//! assert_eq!(ours.agree(ProtocolVersions::from_bits(0b11)), Ok(1));
//! // A peer that speaks only version 2 is refused.
//! let theirs = ProtocolVersions::from_bits(0b10);
//! assert_eq!(ours.agree(theirs), Err(NoCommonVersion { ours, theirs }));
//! ```

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::vocab::derive_wire;

derive_wire! {
    /// The set of protocol versions a side speaks, one bit per version:
    /// bit `k - 1` (value `1 << (k - 1)`) is version `k`, so `0x01` is
    /// "version 1 only" and `0x03` "versions 1 and 2". One byte on the
    /// wire (postcard writes a `u8` as itself), a plain number in JSON.
    ///
    /// Any byte is a valid set, the empty one included (a peer that claims
    /// nothing is refused by [`agree`](Self::agree), never trusted).
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub struct ProtocolVersions(u8);
}

impl ProtocolVersions {
    /// The bus protocol versions this crate speaks: version 1
    /// ([`frame::VERSION`](crate::frame::VERSION)).
    pub const BUS: ProtocolVersions = ProtocolVersions::only(crate::frame::VERSION);
    /// The uplink versions this crate speaks: version 1
    /// ([`UPLINK_VERSION`](crate::uplink::UPLINK_VERSION)).
    pub const UPLINK: ProtocolVersions = ProtocolVersions::only(crate::uplink::UPLINK_VERSION);

    /// The set as it is on the wire.
    pub const fn from_bits(bits: u8) -> Self {
        ProtocolVersions(bits)
    }

    /// The byte on the wire.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The set holding `version` alone; empty for a version outside 1..=8.
    pub const fn only(version: u8) -> Self {
        match version {
            1..=8 => ProtocolVersions(1 << (version - 1)),
            _ => ProtocolVersions(0),
        }
    }

    /// Whether `version` is in the set.
    pub const fn contains(self, version: u8) -> bool {
        ProtocolVersions::only(version).0 & self.0 != 0
    }

    /// The highest version in the set, if any.
    pub const fn highest(self) -> Option<u8> {
        match self.0 {
            0 => None,
            // At most 8: a u8 has 8 bits.
            bits => Some((u8::BITS - bits.leading_zeros()) as u8),
        }
    }

    /// The version to speak with a peer that speaks `theirs`: the highest
    /// version in both sets.
    ///
    /// # Errors
    /// [`NoCommonVersion`] when the sets share no version (the peer claims
    /// none, or only versions this side does not speak).
    pub const fn agree(self, theirs: ProtocolVersions) -> Result<u8, NoCommonVersion> {
        match ProtocolVersions(self.0 & theirs.0).highest() {
            Some(version) => Ok(version),
            None => Err(NoCommonVersion { ours: self, theirs }),
        }
    }
}

impl fmt::Display for ProtocolVersions {
    /// The versions in the set, lowest first: `{1, 2}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        let mut first = true;
        for version in 1..=8u8 {
            if self.contains(version) {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                write!(f, "{version}")?;
            }
        }
        f.write_str("}")
    }
}

/// Two peers share no protocol version: the peer is not spoken to in any
/// version this side would have chosen (see [`ProtocolVersions::agree`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[error("no common protocol version: this side speaks {ours}, the peer {theirs}")]
pub struct NoCommonVersion {
    /// What this side speaks.
    pub ours: ProtocolVersions,
    /// What the peer said it speaks.
    pub theirs: ProtocolVersions,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_k_minus_1_is_version_k() {
        assert_eq!(ProtocolVersions::only(1).bits(), 0x01);
        assert_eq!(ProtocolVersions::only(2).bits(), 0x02);
        assert_eq!(ProtocolVersions::only(8).bits(), 0x80);
        assert_eq!(ProtocolVersions::only(0).bits(), 0);
        assert_eq!(ProtocolVersions::only(9).bits(), 0);
        assert_eq!(ProtocolVersions::BUS.bits(), 0x01);
        assert_eq!(ProtocolVersions::UPLINK.bits(), 0x01);
        assert_eq!(ProtocolVersions::from_bits(0x85).highest(), Some(8));
        assert_eq!(ProtocolVersions::from_bits(0).highest(), None);
    }

    #[test]
    fn the_highest_common_version_is_agreed() {
        let ours = ProtocolVersions::from_bits(0b0111);
        assert_eq!(ours.agree(ProtocolVersions::from_bits(0b1110)), Ok(3));
        assert_eq!(ours.agree(ProtocolVersions::from_bits(0xff)), Ok(3));
        assert_eq!(ours.agree(ProtocolVersions::from_bits(0b0001)), Ok(1));
    }

    #[test]
    fn every_byte_either_agrees_or_is_refused() {
        for bits in 0..=u8::MAX {
            let theirs = ProtocolVersions::from_bits(bits);
            match ProtocolVersions::BUS.agree(theirs) {
                Ok(v) => assert!(v == 1 && bits & 1 == 1),
                Err(e) => {
                    assert_eq!(bits & 1, 0);
                    assert_eq!(e.theirs, theirs);
                }
            }
        }
    }
}
