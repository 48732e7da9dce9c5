//! What a node keeps in non-volatile memory for authentication.

use crate::frame::CRC;
use crate::key::{KEY_LEN, NodeKey};

/// A node's authentication state as the glue stores it: the key and the
/// receive-counter reservation. [`NodeLink::poll_persist`](crate::link::NodeLink::poll_persist)
/// hands out the record to write; after a restart,
/// [`NodeLink::restore_auth`](crate::link::NodeLink::restore_auth) takes it back.
///
/// ```
/// use locker_proto::auth::NodeAuthRecord;
/// use locker_proto::NodeKey;
///
/// let record = NodeAuthRecord { key: Some(NodeKey::from_bytes([1; 32])), rx_floor: 2048 };
/// let bytes = record.to_bytes();
/// assert_eq!(NodeAuthRecord::from_bytes(&bytes), Ok(record));
/// // A blank flash page is no record.
/// assert!(NodeAuthRecord::from_bytes(&[0xFF; NodeAuthRecord::LEN]).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeAuthRecord {
    /// The node's key, once provisioned.
    pub key: Option<NodeKey>,
    /// Every counter below this is refused after a restart.
    pub rx_floor: u64,
}

/// Why stored bytes are not a [`NodeAuthRecord`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RecordError {
    /// Fewer bytes than a record (torn write?).
    #[error(
        "authentication record truncated: {len} of {} bytes",
        NodeAuthRecord::LEN
    )]
    Truncated {
        /// Bytes given.
        len: usize,
    },
    /// Not written as an authentication record (blank or foreign flash).
    #[error("stored bytes are not an authentication record (blank or foreign flash page)")]
    NotARecord,
    /// Written by a firmware with another record format.
    #[error("authentication record has format {0}, this firmware reads format 1")]
    UnsupportedFormat(u8),
    /// The CRC does not match: the record is corrupt. The node must be
    /// provisioned again; it refuses every authenticated command meanwhile.
    #[error("authentication record failed its CRC (corrupt flash?): provision the node again")]
    Corrupt,
}

const MAGIC: [u8; 2] = *b"LA";
const FORMAT: u8 = 1;

impl NodeAuthRecord {
    /// Bytes of a stored record: magic, format, key flag, key, floor (u64
    /// LE), CRC-16/MODBUS (LE) over everything before it.
    pub const LEN: usize = 2 + 1 + 1 + KEY_LEN + 8 + 2;

    /// The bytes to store.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        let (head, rest) = out.split_at_mut(4);
        head.copy_from_slice(&[MAGIC[0], MAGIC[1], FORMAT, u8::from(self.key.is_some())]);
        let (key, rest) = rest.split_at_mut(KEY_LEN);
        if let Some(k) = &self.key {
            key.copy_from_slice(k.as_bytes());
        }
        let (floor, crc) = rest.split_at_mut(8);
        floor.copy_from_slice(&self.rx_floor.to_le_bytes());
        let _ = crc;
        let sum = CRC.checksum(out.get(..Self::LEN - 2).unwrap_or(&[]));
        if let Some(crc) = out.get_mut(Self::LEN - 2..) {
            crc.copy_from_slice(&sum.to_le_bytes());
        }
        out
    }

    /// Reads stored bytes (trailing bytes after [`LEN`](Self::LEN) are ignored).
    ///
    /// # Errors
    ///
    /// [`RecordError`]: truncated, blank or foreign, another format, corrupt.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let record = bytes
            .get(..Self::LEN)
            .ok_or(RecordError::Truncated { len: bytes.len() })?;
        let (covered, crc) = record.split_at(Self::LEN - 2);
        let [m0, m1, format, has_key, rest @ ..] = covered else {
            return Err(RecordError::Truncated { len: bytes.len() });
        };
        if [*m0, *m1] != MAGIC {
            return Err(RecordError::NotARecord);
        }
        if *format != FORMAT {
            return Err(RecordError::UnsupportedFormat(*format));
        }
        let stored = crc
            .try_into()
            .map(u16::from_le_bytes)
            .map_err(|_| RecordError::Corrupt)?;
        if CRC.checksum(covered) != stored || *has_key > 1 {
            return Err(RecordError::Corrupt);
        }
        let (key, floor) = rest.split_at_checked(KEY_LEN).ok_or(RecordError::Corrupt)?;
        let key: [u8; KEY_LEN] = key.try_into().map_err(|_| RecordError::Corrupt)?;
        let floor: [u8; 8] = floor.try_into().map_err(|_| RecordError::Corrupt)?;
        Ok(NodeAuthRecord {
            key: (*has_key == 1).then_some(NodeKey::from_bytes(key)),
            rx_floor: u64::from_le_bytes(floor),
        })
    }
}
