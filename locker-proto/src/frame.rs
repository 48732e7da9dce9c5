//! Bus frames: header, postcard body, CRC-16, COBS, `0x00` delimiter.
//!
//! ```text
//!  raw:     | vf | src | dst | seq | body (postcard) ... | [trailer (10)] | crc16 lo | crc16 hi |
//!  on wire: | COBS(raw) ............................................................... | 0x00 |
//! ```
//!
//! The first byte, `vf`, is `VERSION << 4 | flags`: the protocol version in
//! its high nibble and the [`Flags`] in its low nibble. The trailer is there
//! only when [`Flags::AUTHENTICATED`] is set (see [`AuthTrailer`]).
//!
//! The CRC is CRC-16/MODBUS (the catalogue algorithm RS-485 engineers already
//! have in their analysers; check value `0x4B37`) over every raw byte before
//! it: header, body and, in an authenticated frame, the trailer. It
//! detects every single-bit and every two-bit error, and every burst up to 16
//! bits, in frames of this length.
//!
//! The normative description of every byte, with golden vectors, is
//! `spec/bus.md` at the repository root.
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

pub use crate::body::Body;

use crate::checksum::crc16;
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
/// The longest frame before COBS: header, body, authentication trailer (if
/// any) and CRC.
pub const MAX_RAW: usize = MAX_FRAME - 2;
/// The longest postcard body a frame carries; an authenticated frame's body
/// is at most [`AUTH_TRAILER_LEN`] bytes shorter.
pub const MAX_BODY: usize = MAX_RAW - HEADER_LEN - CRC_LEN;

// Every frame fits one COBS block, so COBS adds exactly one byte.
const _: () = assert!(MAX_RAW <= cobs::MAX_UNSPLIT && MAX_RAW + 2 == MAX_FRAME);

/// The bus CRC, CRC-16/MODBUS: `CRC.checksum(bytes)`.
///
/// The same constant of the same type whatever the features; they choose
/// only how it is computed (see [`BusCrc`]).
pub const CRC: BusCrc = BusCrc { _private: () };

/// The bus CRC algorithm, CRC-16/MODBUS (initial value `0xFFFF`, reflected,
/// no final XOR): the frame codec's, and the one node firmware uses for
/// its own records (see [`CRC`]).
///
/// Features choose how it is computed, never what: by default from one
/// 512-byte table; with `crc-fast` (implied by `std`) from 16 lane tables
/// (8 KiB) that look up every byte of a short frame independently, about
/// three times faster on a frame; with `crc-bitwise` bit by bit, no table in
/// flash, about ten times slower than the default (it wins over `crc-fast`).
///
/// ```
/// use locker_proto::frame::CRC;
///
/// assert_eq!(CRC.checksum(b"123456789"), 0x4B37); // the catalogue's check value
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusCrc {
    _private: (),
}

impl BusCrc {
    /// The CRC of `bytes`, to be stored little-endian after them (as frames
    /// carry it).
    #[must_use]
    #[inline]
    pub fn checksum(&self, bytes: &[u8]) -> u16 {
        crc16(bytes)
    }
}

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

/// Header flags (the low nibble of the first byte). Bit 3 (`0b1000`) has
/// no meaning yet: senders leave it clear, receivers keep it (a tag covers
/// it) and otherwise ignore it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Flags(u8);

#[cfg(feature = "arbitrary")]
#[cfg_attr(docsrs, doc(cfg(feature = "arbitrary")))]
impl<'a> arbitrary::Arbitrary<'a> for Flags {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Flags(u.arbitrary::<u8>()? & 0x0F))
    }
}

impl Flags {
    /// No flag set.
    pub const NONE: Flags = Flags(0);
    /// The sender wants an answer: set on every command from the master,
    /// never on a node's answer. A node answers every command addressed to
    /// it whether or not the bit is set.
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

    /// `self` with the flags in `other` cleared.
    #[must_use]
    pub const fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
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

/// Bytes of the authentication trailer's freshness field: the low bits of
/// the sender's message counter. See [`AuthTrailer`].
pub const FRESHNESS_LEN: usize = 2;
/// Bytes of the truncated MAC carried by an authenticated frame.
pub const TAG_LEN: usize = 8;
/// Bytes an authenticated frame carries between its body and its CRC.
pub const AUTH_TRAILER_LEN: usize = FRESHNESS_LEN + TAG_LEN;

/// What an authenticated frame (flag [`Flags::AUTHENTICATED`]) carries after
/// its body and before its CRC: the low bits of the sender's counter and a
/// truncated MAC over header, body and the full counter.
///
/// The frame layer only carries these bytes; computing and checking them is
/// the business of the authentication layer, which sees exactly the bytes
/// the MAC covers through [`encode_authenticated`] and
/// [`Decoder::last_authenticated`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AuthTrailer {
    /// The low [`FRESHNESS_LEN`] bytes of the sender's counter, little-endian.
    pub freshness: [u8; FRESHNESS_LEN],
    /// The truncated MAC.
    pub tag: [u8; TAG_LEN],
}

impl AuthTrailer {
    fn write(&self, out: &mut [u8]) -> Option<()> {
        let (fresh, tag) = out.split_at_mut_checked(FRESHNESS_LEN)?;
        fresh.copy_from_slice(&self.freshness);
        tag.get_mut(..TAG_LEN)?.copy_from_slice(&self.tag);
        Some(())
    }

    fn read(bytes: &[u8]) -> Option<AuthTrailer> {
        let (fresh, tag) = bytes.split_at_checked(FRESHNESS_LEN)?;
        Some(AuthTrailer {
            freshness: fresh.try_into().ok()?,
            tag: tag.try_into().ok()?,
        })
    }
}

/// Encodes `frame` into `out` and returns the bytes to send, delimiter included.
///
/// The frame goes out unauthenticated: [`Flags::AUTHENTICATED`] is cleared
/// (use [`encode_authenticated`] to send a tag).
///
/// # Errors
///
/// [`FrameError::BodyTooLong`] if the body exceeds [`MAX_BODY`];
/// [`FrameError::BufferTooSmall`] if `out` cannot hold the encoded frame (never
/// when `out.len() >= MAX_FRAME`).
pub fn encode<'o, B: Body>(frame: &Frame<B>, out: &'o mut [u8]) -> Result<&'o [u8], FrameError> {
    encode_with(frame, out, None)
}

/// Encodes `frame` with an authentication trailer: sets
/// [`Flags::AUTHENTICATED`], serialises header and body, hands exactly those
/// bytes to `sign`, and appends the [`AuthTrailer`] it returns before the CRC.
///
/// # Errors
///
/// As [`encode`], with [`AUTH_TRAILER_LEN`] fewer bytes for the body.
pub fn encode_authenticated<'o, B: Body>(
    frame: &Frame<B>,
    out: &'o mut [u8],
    sign: impl FnOnce(&[u8]) -> AuthTrailer,
) -> Result<&'o [u8], FrameError> {
    let mut sign = Some(sign);
    let mut once = |covered: &[u8]| match sign.take() {
        Some(sign) => sign(covered),
        // encode_with calls it once; a second call would find nothing to sign with.
        None => AuthTrailer {
            freshness: [0; FRESHNESS_LEN],
            tag: [0; TAG_LEN],
        },
    };
    encode_with(frame, out, Some(&mut once))
}

/// What computes a frame's trailer from the bytes it covers.
type Signer<'s> = &'s mut dyn FnMut(&[u8]) -> AuthTrailer;

/// The one encoder. The raw frame is built at `out[1..]` and COBS-encoded in
/// place (every frame is shorter than one COBS block), so the bytes are
/// written once and never copied. The signer is a trait object so that signed
/// and unsigned frames of one body type share one copy of this code (on a
/// node, a second copy with the body's serialiser inlined costs 1.2 KiB).
fn encode_with<'o, B: Body>(
    frame: &Frame<B>,
    out: &'o mut [u8],
    sign: Option<Signer<'_>>,
) -> Result<&'o [u8], FrameError> {
    let trailer_len = if sign.is_some() { AUTH_TRAILER_LEN } else { 0 };
    // The flag says a trailer follows the body, so it is set exactly when one does.
    let mut header = frame.header;
    header.flags = match sign {
        Some(_) => header.flags.with(Flags::AUTHENTICATED),
        None => header.flags.without(Flags::AUTHENTICATED),
    };
    // out = code byte | header | body | trailer | crc | delimiter
    let overhead = 1 + HEADER_LEN + trailer_len + CRC_LEN + 1;
    let max_body = MAX_BODY - trailer_len;
    let room = out.len().saturating_sub(overhead).min(max_body);
    let body_at = 1 + HEADER_LEN;
    let body_len = match out
        .get_mut(body_at..body_at + room)
        .and_then(|space| frame.body.write_body(space))
    {
        Some(len) => len,
        None if room == max_body => return Err(FrameError::BodyTooLong),
        None => {
            // The caller's buffer is short: find out by how much.
            let mut scratch = [0u8; MAX_BODY];
            let space = scratch.get_mut(..max_body).ok_or(FrameError::BodyTooLong)?;
            let len = frame
                .body
                .write_body(space)
                .ok_or(FrameError::BodyTooLong)?;
            return Err(FrameError::BufferTooSmall {
                needed: overhead + len,
            });
        }
    };
    let raw_len = HEADER_LEN + body_len + trailer_len + CRC_LEN;
    let raw = out.get_mut(1..=raw_len).ok_or(FrameError::BufferTooSmall {
        needed: raw_len + 2,
    })?;
    raw.get_mut(..HEADER_LEN)
        .ok_or(FrameError::BodyTooLong)?
        .copy_from_slice(&header.to_bytes());
    let covered_len = HEADER_LEN + body_len;
    if let Some(sign) = sign {
        let trailer = sign(raw.get(..covered_len).ok_or(FrameError::BodyTooLong)?);
        raw.get_mut(covered_len..)
            .and_then(|t| trailer.write(t))
            .ok_or(FrameError::BodyTooLong)?;
    }
    let crc_at = covered_len + trailer_len;
    let crc = crc16(raw.get(..crc_at).ok_or(FrameError::BodyTooLong)?);
    raw.get_mut(crc_at..)
        .ok_or(FrameError::BodyTooLong)?
        .copy_from_slice(&crc.to_le_bytes());
    cobs::encode_in_place(out, raw_len).ok_or(FrameError::BodyTooLong)?;
    let end = raw_len + 1;
    *out.get_mut(end)
        .ok_or(FrameError::BufferTooSmall { needed: end + 1 })? = 0;
    out.get(..=end)
        .ok_or(FrameError::BufferTooSmall { needed: end + 1 })
}

/// Checks a raw (COBS-decoded) frame's length and CRC and reads its header;
/// returns the header and the bytes after it, CRC removed.
#[inline]
fn check(raw: &[u8]) -> Result<(Header, &[u8]), FrameError> {
    let (covered, crc_bytes) = raw
        .split_at_checked(raw.len().wrapping_sub(CRC_LEN))
        .filter(|(c, _)| c.len() >= HEADER_LEN)
        .ok_or(FrameError::Truncated { len: raw.len() })?;
    let received = match crc_bytes {
        [lo, hi] => u16::from_le_bytes([*lo, *hi]),
        _ => return Err(FrameError::Truncated { len: raw.len() }),
    };
    let computed = crc16(covered);
    if received != computed {
        return Err(FrameError::BadCrc { received, computed });
    }
    match covered {
        [a, b, c, d, rest @ ..] => Ok((Header::from_bytes([*a, *b, *c, *d])?, rest)),
        _ => Err(FrameError::Truncated { len: raw.len() }),
    }
}

/// Splits the authentication trailer off the body of an authenticated frame.
#[inline]
fn split_trailer(
    header: Header,
    after_header: &[u8],
) -> Result<(&[u8], Option<AuthTrailer>), FrameError> {
    if !header.flags.contains(Flags::AUTHENTICATED) {
        return Ok((after_header, None));
    }
    let (body, trailer) = after_header
        .split_at_checked(after_header.len().wrapping_sub(AUTH_TRAILER_LEN))
        .ok_or(FrameError::Truncated {
            len: HEADER_LEN + after_header.len() + CRC_LEN,
        })?;
    Ok((body, AuthTrailer::read(trailer)))
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

/// The header, body bytes and trailer of the last authenticated frame a
/// [`Decoder`] yielded: what a verifier needs. See
/// [`Decoder::last_authenticated`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authenticated<'d> {
    /// Header and body exactly as received: the bytes the MAC covers.
    pub covered: &'d [u8],
    /// The counter bits and tag.
    pub trailer: AuthTrailer,
}

/// A streaming frame decoder with a fixed buffer of [`MAX_RAW`] bytes.
///
/// Feed it bytes as they arrive, in any chunking. Each call returns at the
/// first complete frame (or bad frame) with the unread rest of the input;
/// call again with that rest until [`Feed::Consumed`]. COBS is undone byte
/// by byte as bytes arrive, so a frame is never copied or scanned twice.
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
    /// Decoded (unstuffed) bytes of the frame in progress, or of the last
    /// frame after it completed.
    buf: [u8; MAX_RAW],
    /// Decoded bytes held.
    len: usize,
    /// Encoded bytes of the frame in progress (the limit is on the wire).
    wire_len: usize,
    unstuffer: cobs::Unstuffer,
    overflowed: bool,
    /// Length of the covered part (header and body) of the last frame, if it
    /// was authenticated and decoded; `buf[..covered]` still holds it.
    last_authenticated: Option<(usize, AuthTrailer)>,
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
            buf: [0; MAX_RAW],
            len: 0,
            wire_len: 0,
            unstuffer: cobs::Unstuffer::new(),
            overflowed: false,
            last_authenticated: None,
        }
    }

    /// Forgets a partly received frame (e.g. after a bus turnaround timeout).
    pub fn reset(&mut self) {
        self.len = 0;
        self.wire_len = 0;
        self.unstuffer = cobs::Unstuffer::new();
        self.overflowed = false;
    }

    /// Bytes of an incomplete frame currently held (as received, before
    /// COBS decoding).
    pub fn pending(&self) -> usize {
        self.wire_len
    }

    /// The covered bytes and trailer of the frame the last call to
    /// [`feed`](Decoder::feed) (or [`take`](Decoder::take)) returned, if it
    /// was an authenticated frame ([`Flags::AUTHENTICATED`]); `None` after
    /// any other outcome. Valid until the next call to `feed` (or
    /// [`fill`](Decoder::fill)).
    pub fn last_authenticated(&self) -> Option<Authenticated<'_>> {
        let (covered, trailer) = self.last_authenticated?;
        Some(Authenticated {
            covered: self.buf.get(..covered)?,
            trailer,
        })
    }

    /// Takes bytes from `input` until a frame completes or the input ends.
    // Inlined so the decoded message is built where the caller keeps it
    // instead of being moved through `Result`, `Frame` and `Feed` (a
    // `Report` is 208 bytes on a 64-bit host, most of it the event batch).
    #[inline]
    pub fn feed<'a, B: Body>(&mut self, input: &'a [u8]) -> Feed<'a, B> {
        self.last_authenticated = None;
        let (complete, remaining) = self.unstuff(input);
        if !complete {
            return Feed::Consumed;
        }
        let outcome = self.finish::<B>(remaining);
        self.reset();
        outcome
    }

    /// The first half of [`feed`](Decoder::feed): takes bytes from `input`
    /// until a frame ends (at a delimiter) or the input ends, without
    /// decoding the frame. Returns the input after the frame's delimiter
    /// once one ended: call [`take`](Decoder::take) for the frame, then
    /// `fill` again with that rest. `None` when every byte was taken and no
    /// frame is complete yet.
    ///
    /// Two steps where [`feed`](Decoder::feed) is one, for a caller that
    /// hands the frame on to deeper work: the work done for the bytes is
    /// over when the frame is taken, and none of it stays on the stack
    /// under what follows.
    ///
    /// ```
    /// use locker_proto::frame::{encode, Decoder, Flags, Frame, Header, Seq, MAX_FRAME};
    /// use locker_proto::{NodeAddr, Report};
    ///
    /// let mut buf = [0u8; MAX_FRAME];
    /// let ack = Frame { header: Header::new(NodeAddr(3), NodeAddr::GATEWAY, Seq(7), Flags::NONE), body: Report::Ack };
    /// let wire = encode(&ack, &mut buf).unwrap();
    ///
    /// // Byte by byte, as a UART delivers them.
    /// let mut decoder = Decoder::new();
    /// let mut frames = Vec::new();
    /// for &byte in wire.iter() {
    ///     if decoder.fill(&[byte]).is_some() {
    ///         frames.push(decoder.take::<Report>());
    ///     }
    /// }
    /// assert_eq!(frames, [Ok(ack)]);
    /// ```
    #[inline]
    pub fn fill<'a>(&mut self, input: &'a [u8]) -> Option<&'a [u8]> {
        self.last_authenticated = None;
        let (complete, remaining) = self.unstuff(input);
        complete.then_some(remaining)
    }

    /// The second half of [`feed`](Decoder::feed): checks and decodes the
    /// frame whose end [`fill`](Decoder::fill) found, and starts on the
    /// next. Afterwards [`last_authenticated`](Decoder::last_authenticated)
    /// says what the frame's tag covers, as after `feed`. Called before
    /// `fill` found an end, it ends the frame in progress there, as a
    /// delimiter would (usually with an error; with nothing held,
    /// [`FrameError::Truncated`]).
    ///
    /// # Errors
    ///
    /// As [`Feed::Error`]: what was wrong with the frame.
    #[inline]
    pub fn take<B: Body>(&mut self) -> Result<Frame<B>, FrameError> {
        self.last_authenticated = None;
        let outcome = match self.finish::<B>(&[]) {
            Feed::Frame { frame, .. } => Ok(frame),
            Feed::Error { error, .. } => Err(error),
            // `finish` yields a frame or an error, never this.
            Feed::Consumed => Err(FrameError::BadCobs),
        };
        self.reset();
        outcome
    }

    /// Undoes COBS on `input` into the buffer up to the first delimiter that
    /// ends a non-empty frame. Returns whether one did, and the input after
    /// it. The delimiter is found first, so the bytes before it are decoded
    /// a COBS block at a time with no check for zeros.
    #[inline]
    fn unstuff<'a>(&mut self, mut input: &'a [u8]) -> (bool, &'a [u8]) {
        loop {
            let (stretch, rest, complete) = match input.iter().position(|&b| b == 0) {
                Some(at) => {
                    let (stretch, rest) = input.split_at(at);
                    (stretch, rest.get(1..).unwrap_or(&[]), true)
                }
                None => (input, &[][..], false),
            };
            if complete && stretch.is_empty() && self.wire_len == 0 && !self.overflowed {
                input = rest; // an empty frame: line flush
                continue;
            }
            // With its delimiter, a frame may take at most MAX_FRAME bytes;
            // beyond that the bytes are dropped, and not counted as held.
            let wire_len = self.wire_len.saturating_add(stretch.len());
            if wire_len >= MAX_FRAME {
                self.overflowed = true;
            }
            self.wire_len = wire_len.min(MAX_FRAME);
            if !self.overflowed {
                self.overflowed =
                    !self
                        .unstuffer
                        .decode_into(stretch, &mut self.buf, &mut self.len);
            }
            return (complete, rest);
        }
    }

    /// Checks and decodes the frame in the buffer. The message is built
    /// straight into the returned `Feed`, not moved there through a `Result`.
    #[inline]
    fn finish<'a, B: Body>(&mut self, remaining: &'a [u8]) -> Feed<'a, B> {
        let (header, body, trailer) = match self.check_raw() {
            Ok(parts) => parts,
            Err(error) => return Feed::Error { error, remaining },
        };
        match B::read_body(body) {
            // `read_body` takes the body only if it uses it up exactly.
            Some(body_value) => {
                self.last_authenticated = trailer.map(|t| (HEADER_LEN + body.len(), t));
                Feed::Frame {
                    frame: Frame {
                        header,
                        body: body_value,
                    },
                    remaining,
                }
            }
            None => Feed::Error {
                error: FrameError::BadBody,
                remaining,
            },
        }
    }

    /// The header, body bytes and trailer of the frame in the buffer, once
    /// its length, COBS and CRC are right.
    fn check_raw(&self) -> Result<(Header, &[u8], Option<AuthTrailer>), FrameError> {
        if self.overflowed {
            return Err(FrameError::TooLong);
        }
        if !self.unstuffer.at_boundary() {
            return Err(FrameError::BadCobs);
        }
        let raw = self.buf.get(..self.len).ok_or(FrameError::TooLong)?;
        let (header, after_header) = check(raw)?;
        let (body, trailer) = split_trailer(header, after_header)?;
        Ok((header, body, trailer))
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
