//! Errors of the frame codec.

use crate::frame::{MAX_BODY, MAX_FRAME};

/// Why a frame could not be encoded or decoded.
///
/// Decoding errors describe one frame; the decoder has already moved on to
/// the next delimiter, so the frames around a bad one are unaffected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// The output buffer is too small for the encoded frame.
    #[error(
        "output buffer too small: this frame needs {needed} bytes (use MAX_FRAME = {MAX_FRAME})"
    )]
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
    },
    /// The message does not fit in one frame.
    #[error("message body longer than {MAX_BODY} bytes")]
    BodyTooLong,
    /// More than [`MAX_FRAME`] bytes arrived without a delimiter; they were discarded.
    #[error("frame longer than {MAX_FRAME} bytes (missing delimiter?); discarded")]
    TooLong,
    /// The bytes between two delimiters are not valid COBS.
    #[error("bad COBS encoding (line noise or a truncated frame)")]
    BadCobs,
    /// The frame is shorter than a header and a CRC.
    #[error("frame of {len} bytes is shorter than a header and CRC")]
    Truncated {
        /// Decoded length.
        len: usize,
    },
    /// The CRC does not match: the frame was corrupted on the wire.
    #[error("CRC mismatch: frame carries {received:#06x}, computed {computed:#06x}")]
    BadCrc {
        /// CRC carried by the frame.
        received: u16,
        /// CRC computed over every byte before it: header, body and, in an
        /// authenticated frame, the trailer.
        computed: u16,
    },
    /// The frame is from a protocol version this crate does not speak.
    #[error("unknown protocol version {0} (this side speaks version {v})", v = crate::frame::VERSION)]
    UnknownVersion(u8),
    /// The CRC is good but the body is not a known message (or has trailing bytes):
    /// usually a newer peer sending a message this side does not know.
    #[error("body is not a known message (newer peer?)")]
    BadBody,
}
