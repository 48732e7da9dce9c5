//! The envelope every uplink message travels in, and message ids.

use core::fmt;

use serde::{Deserialize, Serialize};

use super::down::Downward;
use super::types::{HexArray, Tag};
use super::up::Upward;

/// The uplink protocol version this crate speaks, carried in every
/// [`Envelope::v`].
///
/// Postcard has no field tags and numbers enum variants by position, so
/// almost every change to a message is incompatible and needs a new
/// version: a field added (optional or not), removed, reordered or retyped
/// anywhere in a message, or a variant inserted, removed or reordered. Only
/// a variant appended at the end of an enum keeps the version: a peer that
/// does not know it cannot decode that one message and answers it
/// [`ErrorCode::NotSupported`](super::ErrorCode::NotSupported) (the
/// gateway) or acknowledges it unread (the backend), and reads every other
/// message as before. `spec/versioning.md` (at the repository root) has the
/// whole rule.
pub const UPLINK_VERSION: u8 = 1;

/// A message id, unique per sender.
///
/// The upper 32 bits are the sender's *epoch* (a boot counter the sender
/// persists and increments at every start), the lower 32 bits count messages
/// within the epoch. Ids therefore only ever grow, across restarts too,
/// without the sender persisting a counter per message; a receiver's
/// [`DedupWindow`](super::DedupWindow) relies on that.
///
/// In JSON a message id is a plain number, an unsigned 64-bit integer:
/// read it as one, never as a floating-point number. Ids of epochs below
/// 2^21 are below 2^53 and survive a JavaScript `number`, but the reference
/// gateway and backend take their epochs from the clock's seconds since
/// 1970, so their ids are far above 2^53.
///
/// ```
/// use locker_proto::uplink::MessageId;
/// let first = MessageId::first_of_epoch(7);
/// assert_eq!(first.epoch(), 7);
/// assert_eq!(first.next().counter(), 1);
/// assert!(MessageId::first_of_epoch(8) > first.next());
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MessageId(pub u64);

impl MessageId {
    /// The first id of `epoch`.
    pub const fn first_of_epoch(epoch: u32) -> Self {
        MessageId((epoch as u64) << 32)
    }

    /// The sender's epoch this id belongs to.
    pub const fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The position of this id within its epoch.
    pub const fn counter(self) -> u32 {
        self.0 as u32
    }

    /// The id after this one (saturating at the end of the id space).
    pub const fn next(self) -> Self {
        MessageId(self.0.saturating_add(1))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message {}:{}", self.epoch(), self.counter())
    }
}

/// One uplink message: protocol version, id and body.
///
/// In JSON:
///
/// ```json
/// {"v": 1, "id": 30064771073, "body": {"heartbeat": {"at": {"mono_ms": 5000, "unix_s": 1767225600}, "backlog": 0}}}
/// ```
///
/// The body is an externally tagged enum (`{"heartbeat": {...}}`): that form
/// decodes with postcard and JSON alike, without buffering, on `no_std`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Envelope<B> {
    /// Protocol version, [`UPLINK_VERSION`] for messages this crate writes.
    pub v: u8,
    /// Unique per sender; the receiver de-duplicates and acknowledges by it.
    pub id: MessageId,
    /// The message.
    pub body: B,
}

impl<B> Envelope<B> {
    /// `body` with id `id`, at the current [`UPLINK_VERSION`].
    pub const fn new(id: MessageId, body: B) -> Self {
        Envelope {
            v: UPLINK_VERSION,
            id,
            body,
        }
    }
}

/// The version and id of an envelope, readable when its body is not: a
/// message from a newer peer can still be acknowledged, or answered with
/// [`ErrorCode::NotSupported`](super::ErrorCode::NotSupported), so it never
/// blocks the sender's queue.
///
/// In JSON, deserialize it with `serde_json` (the body is skipped); in
/// postcard, use [`EnvelopeHeader::from_postcard`].
///
/// ```
/// use locker_proto::uplink::{EnvelopeHeader, MessageId};
/// // Version 1, id 300, then a body this side cannot read.
/// let bytes = [1, 0xac, 0x02, 0x7f, 0x00];
/// assert_eq!(EnvelopeHeader::from_postcard(&bytes), Some(EnvelopeHeader { v: 1, id: MessageId(300) }));
/// let json = r#"{"v":1,"id":300,"body":{"teleport_parcel":{}}}"#;
/// let header: EnvelopeHeader = serde_json::from_str(json).unwrap();
/// assert_eq!(header.id, MessageId(300));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnvelopeHeader {
    /// Protocol version.
    pub v: u8,
    /// Message id.
    pub id: MessageId,
}

impl EnvelopeHeader {
    /// The header at the start of a postcard envelope, if there is one.
    pub fn from_postcard(bytes: &[u8]) -> Option<Self> {
        postcard::take_from_bytes::<EnvelopeHeader>(bytes)
            .ok()
            .map(|(header, _)| header)
    }
}

/// A message from the gateway to the backend.
pub type UpEnvelope = Envelope<Upward>;

/// The label that opens the input of every [`DownEnvelope`] tag, so that a
/// tag made for a downward message is never valid as a remote-open tag, a
/// token or a bus MAC (those have labels, and keys, of their own).
pub const DOWNWARD_TAG_LABEL: &[u8] = b"locker/v1/downward";

/// What the tag adds to a downward message: 17 bytes in postcard (a length
/// byte and 16 bytes), 41 in JSON (`,"tag":"` 32 hex digits `"`).
pub const DOWNWARD_TAG_OVERHEAD_POSTCARD: usize = 17;

/// A message from the backend to the gateway, authenticated.
///
/// Every downward message, requests and acknowledgements alike, carries a
/// 16-byte `tag`:
///
/// ```text
/// tag = HMAC-SHA256(downward key, "locker/v1/downward" || bank number (u32 LE)
///                   || postcard(v, id, body))[..16]
/// ```
///
/// - the **downward key** is derived from the bank secret the backend and
///   the gateway share, with its own HKDF label (`locker/v1/downward`;
///   `locker_domain::bank::BankKeys` lists every key), so it is neither the
///   remote-open key nor a bus key;
/// - `postcard(v, id, body)` is every byte of the message before its tag
///   in the postcard encoding, which is canonical (one value, one encoding):
///   [`DownEnvelope::from_postcard`] refuses any other encoding of the same
///   value, so over a postcard transport the tag covers every byte received;
///   a JSON receiver re-encodes what it decoded, so the tag covers every
///   field, the version and the id;
/// - the **id** is the backend's [`MessageId`] (epoch ‖ counter), which
///   only grows: the gateway's [`DedupWindow`](super::DedupWindow) carries
///   each id out once, so a captured message replayed is not carried out
///   again.
///
/// `locker_domain::uplink::sign_downward` makes the tag and
/// `locker_domain::uplink::verify_downward` checks it (in constant time).
/// The tag costs [`DOWNWARD_TAG_OVERHEAD_POSTCARD`] bytes per message in
/// postcard and 41 in JSON, where it is lowercase hex:
///
/// ```json
/// {"v": 1, "id": 42, "body": "get_diagnostics", "tag": "00112233445566778899aabbccddeeff"}
/// ```
///
/// A JSON message without `tag` decodes with a tag of zeros, so it is
/// refused as unauthenticated (and reported) rather than as unreadable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DownEnvelope {
    /// Protocol version, [`UPLINK_VERSION`] for messages this crate writes.
    pub v: u8,
    /// Unique per sender and growing; the gateway de-duplicates by it.
    pub id: MessageId,
    /// The message.
    pub body: Downward,
    /// The authentication tag over `v`, `id` and `body`.
    #[serde(default = "no_tag")]
    pub tag: Tag,
}

fn no_tag() -> Tag {
    HexArray([0; 16])
}

impl DownEnvelope {
    /// `message` with `tag` (made by `locker_domain::uplink::sign_downward`).
    pub fn with_tag(message: Envelope<Downward>, tag: Tag) -> Self {
        DownEnvelope {
            v: message.v,
            id: message.id,
            body: message.body,
            tag,
        }
    }

    /// The part the tag covers: the envelope without its tag, whose
    /// postcard encoding is the MAC's input after the label and bank number.
    pub fn signed_part(&self) -> Envelope<&Downward> {
        Envelope {
            v: self.v,
            id: self.id,
            body: &self.body,
        }
    }

    /// The header (version and id).
    pub fn header(&self) -> EnvelopeHeader {
        EnvelopeHeader {
            v: self.v,
            id: self.id,
        }
    }

    /// Whether this envelope is of the version this side speaks; call it
    /// after decoding JSON (postcard decoding checks it itself).
    ///
    /// # Errors
    /// [`CodecError::UnsupportedVersion`].
    pub fn check_version(&self) -> Result<(), CodecError> {
        self.header().check_version()
    }

    /// The postcard encoding of this envelope, written into `buf`.
    ///
    /// # Errors
    /// [`CodecError::BufferTooSmall`].
    pub fn to_postcard<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], CodecError> {
        postcard::to_slice(self, buf).map_err(|_| CodecError::BufferTooSmall)
    }

    /// Decodes a postcard envelope that must fill `bytes` exactly, carry
    /// [`UPLINK_VERSION`] and be encoded canonically (as
    /// [`to_postcard`](Self::to_postcard) writes it), so that the tag covers
    /// every byte received.
    ///
    /// ```
    /// use locker_proto::uplink::{DownEnvelope, Downward, Envelope, HexArray, MessageId, MAX_POSTCARD_LEN};
    /// let ping = DownEnvelope::with_tag(Envelope::new(MessageId(3), Downward::GetDiagnostics), HexArray([7; 16]));
    /// let mut buf = [0u8; MAX_POSTCARD_LEN];
    /// let bytes = ping.to_postcard(&mut buf)?;
    /// assert_eq!(bytes.len(), 3 + 17);
    /// assert_eq!(DownEnvelope::from_postcard(bytes)?, ping);
    /// // The same id written in two bytes instead of one: refused.
    /// let mut padded = vec![1, 0x83, 0x00];
    /// padded.extend_from_slice(&bytes[2..]);
    /// assert!(DownEnvelope::from_postcard(&padded).is_err());
    /// # Ok::<(), locker_proto::uplink::CodecError>(())
    /// ```
    ///
    /// # Errors
    /// [`CodecError::Malformed`] (also for a non-canonical encoding),
    /// [`CodecError::TrailingBytes`], [`CodecError::UnsupportedVersion`].
    /// Never panics, on any input.
    pub fn from_postcard(bytes: &[u8]) -> Result<Self, CodecError> {
        if let Some(&v) = bytes.first() {
            if v != UPLINK_VERSION {
                return Err(CodecError::UnsupportedVersion(v));
            }
        }
        let (envelope, rest): (Self, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|_| CodecError::Malformed)?;
        if !rest.is_empty() {
            return Err(CodecError::TrailingBytes(rest.len()));
        }
        let mut buf = [0u8; MAX_POSTCARD_LEN];
        match envelope.to_postcard(&mut buf) {
            Ok(canonical) if *canonical == *bytes => Ok(envelope),
            _ => Err(CodecError::Malformed),
        }
    }
}

impl EnvelopeHeader {
    /// Whether the header is of the version this side speaks.
    ///
    /// # Errors
    /// [`CodecError::UnsupportedVersion`].
    pub fn check_version(&self) -> Result<(), CodecError> {
        if self.v == UPLINK_VERSION {
            Ok(())
        } else {
            Err(CodecError::UnsupportedVersion(self.v))
        }
    }
}

/// The largest postcard encoding of an [`UpEnvelope`] or [`DownEnvelope`];
/// size transmit buffers with it (a test pins it).
pub const MAX_POSTCARD_LEN: usize = 512;

/// Why an envelope could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The output buffer is too small.
    #[error(
        "the output buffer is too small for this message: use MAX_POSTCARD_LEN ({MAX_POSTCARD_LEN}) bytes"
    )]
    BufferTooSmall,
    /// The bytes are not an envelope this side knows (corrupt, or a newer
    /// message from a newer peer).
    #[error("not an uplink message this side knows (corrupt bytes or a newer peer)")]
    Malformed,
    /// The envelope carries bytes after its end.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The envelope is from a protocol version this side does not speak.
    #[error("uplink protocol version {0} is not supported (this side speaks version {v})", v = UPLINK_VERSION)]
    UnsupportedVersion(u8),
}

impl<B> Envelope<B> {
    /// Whether this envelope is of the version this side speaks; call it
    /// after decoding JSON (postcard decoding checks it itself).
    ///
    /// # Errors
    /// [`CodecError::UnsupportedVersion`].
    pub fn check_version(&self) -> Result<(), CodecError> {
        if self.v == UPLINK_VERSION {
            Ok(())
        } else {
            Err(CodecError::UnsupportedVersion(self.v))
        }
    }
}

impl<B: Serialize> Envelope<B> {
    /// The postcard encoding of this envelope, written into `buf`.
    ///
    /// # Errors
    /// [`CodecError::BufferTooSmall`].
    pub fn to_postcard<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], CodecError> {
        postcard::to_slice(self, buf).map_err(|_| CodecError::BufferTooSmall)
    }
}

impl<B: serde::de::DeserializeOwned> Envelope<B> {
    /// Decodes a postcard envelope that must fill `bytes` exactly and carry
    /// [`UPLINK_VERSION`].
    ///
    /// ```
    /// use locker_proto::uplink::{Envelope, Heartbeat, MessageId, Stamp, UpEnvelope, Upward, MAX_POSTCARD_LEN};
    /// let beat = Envelope::new(MessageId(3), Upward::Heartbeat(Heartbeat { at: Stamp::default(), backlog: 0 }));
    /// let mut buf = [0u8; MAX_POSTCARD_LEN];
    /// let bytes = beat.to_postcard(&mut buf)?;
    /// assert_eq!(UpEnvelope::from_postcard(bytes)?, beat);
    /// # Ok::<(), locker_proto::uplink::CodecError>(())
    /// ```
    ///
    /// # Errors
    /// [`CodecError::Malformed`], [`CodecError::TrailingBytes`],
    /// [`CodecError::UnsupportedVersion`]. Never panics, on any input.
    pub fn from_postcard(bytes: &[u8]) -> Result<Self, CodecError> {
        // The version is the first byte (postcard writes a u8 as itself):
        // check it first so a newer peer gets a precise answer, not "malformed".
        if let Some(&v) = bytes.first() {
            if v != UPLINK_VERSION {
                return Err(CodecError::UnsupportedVersion(v));
            }
        }
        let (envelope, rest): (Self, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|_| CodecError::Malformed)?;
        if !rest.is_empty() {
            return Err(CodecError::TrailingBytes(rest.len()));
        }
        Ok(envelope)
    }
}
