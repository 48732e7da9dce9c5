//! Bus frames: header, postcard body, CRC-16, COBS, `0x00` delimiter.
//!
//! ```text
//!  raw:     | ver<<4 | flags | src | dst | seq | body (postcard) ... | crc16 lo | crc16 hi |
//!  on wire: | COBS(raw) ............................................................ | 0x00 |
//! ```
//!
//! The CRC is CRC-16/MODBUS (the catalogue algorithm RS-485 engineers already
//! have in their analysers; check value `0x4B37`) over header and body. It
//! detects every single-bit and every two-bit error, and every burst up to 16
//! bits, in frames of this length.
//!
//! # Contract
//!
//! In the spirit of smoltcp's `wire` module:
//!
//! - [`encode`] never panics. With an output buffer of at least [`MAX_FRAME`]
//!   bytes it never fails with [`FrameError::BufferTooSmall`]; it fails with
//!   [`FrameError::BodyTooLong`] only for a body over [`MAX_BODY`] bytes, which
//!   no [`Command`](crate::Command) and no [`Report`](crate::Report) reaches.
//! - [`Decoder::feed`] never panics on any input, in any chunking. It holds at
//!   most [`MAX_FRAME`] bytes. Every byte sequence between two delimiters yields
//!   exactly one outcome: a frame, or one [`FrameError`]; empty sequences (two
//!   delimiters in a row) are skipped silently so a sender may flush the line
//!   with a leading `0x00`. A bad frame never swallows the good frame after it.
//! - A decoded frame passed its CRC and carries a body that decoded completely
//!   with no trailing bytes; anything else is an error and changes nothing but
//!   the decoder's own buffer.
//!
//! # Example
//!
//! ```
//! use locker_proto::frame::{encode, Decoder, Feed, Flags, Frame, Header, Seq, MAX_FRAME};
//! use locker_proto::{Channel, Command, NodeAddr};
//!
//! let unlock = Frame {
//!     header: Header::new(NodeAddr::GATEWAY, NodeAddr(3), Seq(7), Flags::ACK_WANTED),
//!     body: Command::Unlock { channel: Channel(2), pulse_ms: 300 },
//! };
//! let mut buf = [0u8; MAX_FRAME];
//! let wire = encode(&unlock, &mut buf).unwrap();
//! assert!(wire.len() <= 14);
//!
//! // The node receives the bytes in whatever chunks the UART hands over.
//! let mut decoder = Decoder::new();
//! let (first, second) = wire.split_at(5);
//! assert!(matches!(decoder.feed::<Command>(first), Feed::Consumed));
//! match decoder.feed::<Command>(second) {
//!     Feed::Frame { frame, remaining } => {
//!         assert_eq!(frame, unlock);
//!         assert!(remaining.is_empty());
//!     }
//!     other => panic!("expected a frame, got {other:?}"),
//! }
//! ```

use crc::{CRC_16_MODBUS, Crc};
use serde::{Serialize, de::DeserializeOwned};

use crate::cobs;
use crate::error::FrameError;
use crate::vocab::NodeAddr;

/// The protocol version this crate speaks, carried in every header.
pub const VERSION: u8 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 4;
/// CRC length in bytes.
pub const CRC_LEN: usize = 2;
/// The longest frame on the wire, COBS overhead and delimiter included. Size
/// receive and transmit buffers with this.
pub const MAX_FRAME: usize = 128;
/// The longest frame before COBS: header, body and CRC.
pub const MAX_RAW: usize = MAX_FRAME - 2;
/// The longest postcard body a frame carries.
pub const MAX_BODY: usize = MAX_RAW - HEADER_LEN - CRC_LEN;

const _: () = assert!(cobs::max_encoded_len(MAX_RAW) < MAX_FRAME);

/// The bus CRC: CRC-16/MODBUS, with a 512-byte lookup table (about ten times
/// faster than bitwise). Feature `crc-bitwise` computes it bit by bit instead,
/// for nodes where those 512 bytes of flash matter more than speed.
#[cfg(not(feature = "crc-bitwise"))]
pub const CRC: Crc<u16, crc::Table<1>> = Crc::<u16, crc::Table<1>>::new(&CRC_16_MODBUS);
/// The bus CRC: CRC-16/MODBUS, computed bit by bit (feature `crc-bitwise`):
/// no 512-byte table in flash, about ten times slower.
#[cfg(feature = "crc-bitwise")]
pub const CRC: Crc<u16, crc::NoTable> = Crc::<u16, crc::NoTable>::new(&CRC_16_MODBUS);

/// A frame's sequence number. Commands carry the master's sequence number and
/// a response echoes it; a retransmission reuses it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Seq(pub u8);

impl Seq {
    /// The next sequence number (wrapping).
    pub const fn next(self) -> Seq {
        Seq(self.0.wrapping_add(1))
    }
}

/// Header flags (the low nibble of the first byte).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Flags(u8);

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Flags {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Flags(u.arbitrary::<u8>()? & 0x0F))
    }
}

impl Flags {
    /// No flag set.
    pub const NONE: Flags = Flags(0);
    /// The sender wants an answer (every command from the master).
    pub const ACK_WANTED: Flags = Flags(0b0001);
    /// The frame carries an authentication tag.
    pub const AUTHENTICATED: Flags = Flags(0b0010);
    /// The node has more events queued than this report carries.
    pub const MORE_PENDING: Flags = Flags(0b0100);

    /// The raw nibble.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags from a raw nibble; the high bits are dropped.
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits & 0x0F)
    }

    /// Whether every flag in `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the flags in `other` added.
    #[must_use]
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// A frame header. The protocol version is implicit: [`encode`] writes
/// [`VERSION`] and the decoder rejects any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Header {
    /// Sender.
    pub src: NodeAddr,
    /// Receiver.
    pub dst: NodeAddr,
    /// Sequence number.
    pub seq: Seq,
    /// Flags.
    pub flags: Flags,
}

impl Header {
    /// A header from its fields.
    pub const fn new(src: NodeAddr, dst: NodeAddr, seq: Seq, flags: Flags) -> Self {
        Header {
            src,
            dst,
            seq,
            flags,
        }
    }

    fn to_bytes(self) -> [u8; HEADER_LEN] {
        [
            (VERSION << 4) | self.flags.bits(),
            self.src.0,
            self.dst.0,
            self.seq.0,
        ]
    }

    fn from_bytes(b: [u8; HEADER_LEN]) -> Result<Header, FrameError> {
        let [vf, src, dst, seq] = b;
        let version = vf >> 4;
        if version != VERSION {
            return Err(FrameError::UnknownVersion(version));
        }
        Ok(Header {
            src: NodeAddr(src),
            dst: NodeAddr(dst),
            seq: Seq(seq),
            flags: Flags::from_bits(vf),
        })
    }
}

/// A header and a body: a [`Command`](crate::Command) from the gateway or a
/// [`Report`](crate::Report) from a node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Frame<B> {
    /// Addressing, sequence number and flags.
    pub header: Header,
    /// The message.
    pub body: B,
}

/// Encodes `frame` into `out` and returns the bytes to send, delimiter included.
///
/// # Errors
///
/// [`FrameError::BodyTooLong`] if the body exceeds [`MAX_BODY`];
/// [`FrameError::BufferTooSmall`] if `out` cannot hold the encoded frame (never
/// when `out.len() >= MAX_FRAME`).
pub fn encode<'o, B: Serialize>(
    frame: &Frame<B>,
    out: &'o mut [u8],
) -> Result<&'o [u8], FrameError> {
    let mut raw = [0u8; MAX_RAW];
    let (head, rest) = raw.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&frame.header.to_bytes());
    let body_space = rest.get_mut(..MAX_BODY).ok_or(FrameError::BodyTooLong)?;
    let body_len = postcard::to_slice(&frame.body, body_space)
        .map_err(|_| FrameError::BodyTooLong)?
        .len();
    let crc_at = HEADER_LEN + body_len;
    let crc = CRC.checksum(raw.get(..crc_at).ok_or(FrameError::BodyTooLong)?);
    raw.get_mut(crc_at..crc_at + CRC_LEN)
        .ok_or(FrameError::BodyTooLong)?
        .copy_from_slice(&crc.to_le_bytes());
    let raw = raw.get(..crc_at + CRC_LEN).ok_or(FrameError::BodyTooLong)?;
    let needed = cobs::max_encoded_len(raw.len()) + 1;
    let too_small = FrameError::BufferTooSmall { needed };
    let n = cobs::encode(raw, out).ok_or(too_small)?;
    *out.get_mut(n).ok_or(too_small)? = 0;
    out.get(..=n).ok_or(too_small)
}

/// Checks and parses one raw (COBS-decoded) frame.
fn parse<B: DeserializeOwned>(raw: &[u8]) -> Result<Frame<B>, FrameError> {
    if raw.len() < HEADER_LEN + CRC_LEN {
        return Err(FrameError::Truncated { len: raw.len() });
    }
    let (covered, crc_bytes) = raw.split_at(raw.len() - CRC_LEN);
    let received = match crc_bytes {
        [lo, hi] => u16::from_le_bytes([*lo, *hi]),
        _ => return Err(FrameError::Truncated { len: raw.len() }),
    };
    let computed = CRC.checksum(covered);
    if received != computed {
        return Err(FrameError::BadCrc { received, computed });
    }
    let (head, body) = covered.split_at(HEADER_LEN);
    let header = match head {
        [a, b, c, d] => Header::from_bytes([*a, *b, *c, *d])?,
        _ => return Err(FrameError::Truncated { len: raw.len() }),
    };
    match postcard::take_from_bytes::<B>(body) {
        Ok((body, [])) => Ok(Frame { header, body }),
        _ => Err(FrameError::BadBody),
    }
}

/// What [`Decoder::feed`] made of the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed<'a, B> {
    /// Every byte was taken; no frame is complete yet.
    Consumed,
    /// A frame is complete. Feed `remaining` next.
    Frame {
        /// The decoded frame.
        frame: Frame<B>,
        /// Input after the frame's delimiter, not yet looked at.
        remaining: &'a [u8],
    },
    /// The bytes up to a delimiter were not a valid frame. Feed `remaining` next.
    Error {
        /// What was wrong.
        error: FrameError,
        /// Input after the bad frame's delimiter, not yet looked at.
        remaining: &'a [u8],
    },
}

/// A streaming frame decoder with a fixed [`MAX_FRAME`]-byte buffer.
///
/// Feed it bytes as they arrive, in any chunking. Each call returns at the
/// first complete frame (or bad frame) with the unread rest of the input;
/// call again with that rest until [`Feed::Consumed`].
///
/// ```
/// use locker_proto::frame::{encode, Decoder, Feed, Flags, Frame, Header, Seq, MAX_FRAME};
/// use locker_proto::{NodeAddr, Report};
///
/// let mut buf = [0u8; MAX_FRAME];
/// let ack = Frame { header: Header::new(NodeAddr(3), NodeAddr::GATEWAY, Seq(7), Flags::NONE), body: Report::Ack };
/// let wire = encode(&ack, &mut buf).unwrap();
///
/// // Line noise, then the frame.
/// let mut input = [0u8; 64];
/// input[..3].copy_from_slice(&[0x55, 0x12, 0x00]);
/// input[3..3 + wire.len()].copy_from_slice(wire);
/// let mut rest = &input[..3 + wire.len()];
/// let mut decoder = Decoder::new();
/// let mut frames = 0;
/// let mut errors = 0;
/// while !rest.is_empty() {
///     match decoder.feed::<Report>(rest) {
///         Feed::Consumed => break,
///         Feed::Frame { remaining, .. } => { frames += 1; rest = remaining; }
///         Feed::Error { remaining, .. } => { errors += 1; rest = remaining; }
///     }
/// }
/// assert_eq!((frames, errors), (1, 1));
/// ```
#[derive(Clone, Debug)]
pub struct Decoder {
    buf: [u8; MAX_FRAME],
    len: usize,
    overflowed: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        Decoder {
            buf: [0; MAX_FRAME],
            len: 0,
            overflowed: false,
        }
    }

    /// Forgets a partly received frame (e.g. after a bus turnaround timeout).
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    /// Bytes of an incomplete frame currently held.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Takes bytes from `input` until a frame completes or the input ends.
    pub fn feed<'a, B: DeserializeOwned>(&mut self, input: &'a [u8]) -> Feed<'a, B> {
        let mut rest = input;
        loop {
            let (chunk, tail) = match rest.iter().position(|&b| b == 0) {
                Some(at) => (rest.get(..at).unwrap_or_default(), rest.get(at + 1..)),
                None => (rest, None),
            };
            self.take(chunk);
            let Some(tail) = tail else {
                return Feed::Consumed;
            };
            rest = tail;
            if self.len == 0 && !self.overflowed {
                continue; // an empty frame: line flush
            }
            let outcome = self.finish::<B>();
            self.reset();
            return match outcome {
                Ok(frame) => Feed::Frame {
                    frame,
                    remaining: rest,
                },
                Err(error) => Feed::Error {
                    error,
                    remaining: rest,
                },
            };
        }
    }

    /// Appends delimiter-free bytes, or marks the frame as too long.
    fn take(&mut self, chunk: &[u8]) {
        if self.overflowed || chunk.is_empty() {
            return;
        }
        let end = self.len.saturating_add(chunk.len());
        match self.buf.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(chunk);
                self.len = end;
            }
            None => self.overflowed = true,
        }
    }

    fn finish<B: DeserializeOwned>(&mut self) -> Result<Frame<B>, FrameError> {
        if self.overflowed {
            return Err(FrameError::TooLong);
        }
        let block = self.buf.get_mut(..self.len).ok_or(FrameError::TooLong)?;
        let n = cobs::decode_in_place(block).ok_or(FrameError::BadCobs)?;
        parse(block.get(..n).ok_or(FrameError::BadCobs)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_the_catalogue_modbus_algorithm() {
        assert_eq!(CRC.checksum(b"123456789"), 0x4B37);
    }
}
