//! Everything that can go wrong talking to a Kerong board.

/// What went wrong in an exchange with a Kerong lock board.
///
/// `E` is the serial port's error, carried unchanged. Every way a response
/// can be malformed has its own variant, so a log tells a loose RS-485 wire
/// (`BadChecksum`, `Truncated`) from a mis-set DIP switch (`WrongAddress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum KerongError<E> {
    /// The serial port failed (including the caller's read timeout, if the
    /// port reports it as an error).
    #[error("the serial port failed: {0:?}")]
    Serial(E),
    /// The serial port accepted no bytes: the frame could not be sent.
    #[error("the serial port accepted {written} of {total} bytes; check the port is open")]
    WriteStalled {
        /// Bytes the port took before stalling.
        written: usize,
        /// Bytes in the frame.
        total: usize,
    },
    /// The response ended early (the caller's read timed out or returned
    /// end-of-stream). Check the board is powered, addressed and wired A-to-A.
    #[error(
        "the board's response ended after {received} of {expected} bytes; is it powered and wired?"
    )]
    Truncated {
        /// Bytes a complete response has.
        expected: usize,
        /// Bytes received.
        received: usize,
    },
    /// The response did not start with STX (`0x02`).
    #[error(
        "the response started with {received:#04x} instead of STX 0x02: line noise or another device"
    )]
    BadStart {
        /// The first byte received.
        received: u8,
    },
    /// The response did not carry ETX (`0x03`) before its checksum.
    #[error("the response has {received:#04x} where ETX 0x03 belongs: corrupted or mis-framed")]
    BadEnd {
        /// The byte found where ETX belongs.
        received: u8,
    },
    /// The checksum byte does not match the frame: the response was corrupted.
    #[error(
        "response checksum {received:#04x} does not match the computed {computed:#04x}: line noise"
    )]
    BadChecksum {
        /// The checksum computed over the frame as received.
        computed: u8,
        /// The checksum byte the frame carried.
        received: u8,
    },
    /// A well-formed response came from another board address.
    #[error(
        "the response came from address {received:#04x}, not {expected:#04x}: check the DIP switches"
    )]
    WrongAddress {
        /// The address the request went to.
        expected: u8,
        /// The address the response carried.
        received: u8,
    },
    /// A well-formed response carried another command code than the one expected.
    #[error(
        "the response carried command {received:#04x} instead of {expected:#04x}: wrong board model?"
    )]
    UnexpectedCommand {
        /// The response code expected.
        expected: u8,
        /// The code received.
        received: u8,
    },
    /// Bytes kept arriving while the driver cleared stale input before a
    /// request; nothing was sent. Another master or a babbling device is on
    /// the line.
    #[error(
        "the line never fell quiet: {discarded} stray bytes discarded before the request; is another master on the bus?"
    )]
    LineBusy {
        /// Bytes discarded before giving up.
        discarded: usize,
    },
    /// The board has no such channel. Nothing was sent.
    #[error("channel {channel} does not exist: this board has channels 0 to {last}")]
    NoSuchChannel {
        /// The channel asked for.
        channel: u8,
        /// The board's highest channel.
        last: u8,
    },
}
