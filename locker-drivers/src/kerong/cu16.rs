//! The Kerong KR-CU16: 16 locks and 16 IR inputs per board, up to 16 boards
//! on one RS-485 line.
//!
//! # Frames
//!
//! Requests are `02 ADDR CMD 03 SUM`, SUM the low byte of the sum of the
//! bytes before it, ADDR `(board << 4) | lock_index`:
//!
//! | request | bytes (board 0) | response |
//! |---|---|---|
//! | status of all channels | `02 00 30 03 35` | `02 00 35 L1-8 L9-16 IR1-8 IR9-16 03 SUM` (9 bytes) |
//! | query all | `02 00 32 03 37` | `02 00 36 L1-8 L9-16 IR1-8 IR9-16 03 SUM` (9 bytes) |
//! | unlock lock index 1 | `02 01 31 03 37` | none |
//!
//! Lock and IR bytes carry channel 0 (lock 1) in bit 0. The board does not
//! answer an unlock; read the status to see the latch release.
//!
//! Query all (`0x32`, answered `0x36`) is what the vendor lists as "all
//! locks' status"; `julio-alv/lkaas-kerong` sends it to board 0 and reads a
//! 9-byte answer with the lock and IR bytes where the `0x35` answer has
//! them. Public sources name the answer code but show no capture of it, so
//! the status request is a choice ([`Cu16StatusRequest`]), and the driver
//! checks the answer code against the request it sent.
//!
//! Before every request the driver discards whatever is waiting on the line
//! (a late answer to a request that timed out, a reply to an unlock from
//! firmware that sends one), so no read is ever one request old. That costs
//! one read timeout of the port per request; keep it short (a few
//! milliseconds suffice at 19200 baud once the port is quiet).

use locker_proto::Channel;

use super::board::{IrMask, Model};
use super::frame::{ETX, Field, STX, check};
use super::{BoardStatus, KerongError, LockBitPolarity};

pub(crate) const CMD_STATUS: u8 = 0x30;
pub(crate) const CMD_UNLOCK: u8 = 0x31;
pub(crate) const CMD_QUERY_ALL: u8 = 0x32;
pub(crate) const RESP_STATUS: u8 = 0x35;
pub(crate) const RESP_QUERY_ALL: u8 = 0x36;
pub(crate) const STATUS_LEN: usize = 9;

/// Which request [`LockBoard::status`](super::LockBoard::status) sends to a KR-CU16. Both are
/// answered with every channel's latch and IR bits, in the same layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Cu16StatusRequest {
    /// `0x30` ("status") to lock index 0, answered `0x35`: the default,
    /// seen answered on boards in the field.
    #[default]
    Status,
    /// `0x32` ("query all"), answered `0x36`.
    QueryAll,
}

impl Cu16StatusRequest {
    /// The command byte sent and the command byte of its answer.
    const fn codes(self) -> (u8, u8) {
        match self {
            Cu16StatusRequest::Status => (CMD_STATUS, RESP_STATUS),
            Cu16StatusRequest::QueryAll => (CMD_QUERY_ALL, RESP_QUERY_ALL),
        }
    }
}

/// Channels on a KR-CU16.
pub const CU16_CHANNELS: u8 = 16;

/// A KR-CU16 board address, 0 to 15, as set on its DIP switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cu16Address(u8);

impl Cu16Address {
    /// The address `board`, or `None` if it is above 15 (the address shares
    /// a byte with the lock index, four bits each).
    pub const fn new(board: u8) -> Option<Self> {
        if board < 16 {
            Some(Cu16Address(board))
        } else {
            None
        }
    }

    /// The board number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// One KR-CU16 board on a serial port.
///
/// The driver owns the port (give it back with [`release`](Self::release)).
/// Several boards on one RS-485 line share a port: `embedded-io`
/// implements `Read + Write` for `&mut` a port, so build a driver on
/// `&mut port` for each board as you poll it (drivers are a few bytes and
/// building one does no I/O). Calibration of IR sensors lives in the
/// driver; keep one driver per board if you use it.
///
/// # Timeouts
///
/// The driver never waits on a clock. The port's `read` must return what
/// it has once the caller's timeout expires (zero bytes means nothing
/// came): a response cut short is a [`KerongError::Truncated`]. 50 ms is
/// ample at 19200 baud for a 9-byte response.
#[derive(Debug)]
pub struct Cu16<S> {
    serial: S,
    board: Cu16Address,
    polarity: LockBitPolarity,
    status_request: Cu16StatusRequest,
    ir_blocked_when_empty: IrMask,
}

impl<S> Cu16<S> {
    /// A board at `board` on `serial`, reading lock bits with the default
    /// [`LockBitPolarity`].
    pub fn new(serial: S, board: Cu16Address) -> Self {
        Cu16 {
            serial,
            board,
            polarity: LockBitPolarity::default(),
            status_request: Cu16StatusRequest::default(),
            ir_blocked_when_empty: IrMask::default(),
        }
    }

    /// The same board, reading lock bits with `polarity`.
    pub fn with_polarity(mut self, polarity: LockBitPolarity) -> Self {
        self.polarity = polarity;
        self
    }

    /// The same board, asking for its status with `request`.
    ///
    /// ```
    /// use locker_drivers::kerong::{Cu16, Cu16Address, Cu16StatusRequest, LockBoard};
    /// # struct Port { sent: Vec<u8> }
    /// # impl embedded_io::ErrorType for Port { type Error = core::convert::Infallible; }
    /// # impl embedded_io::Write for Port {
    /// #     fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { self.sent.extend_from_slice(b); Ok(b.len()) }
    /// #     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
    /// # }
    /// # impl embedded_io::Read for Port {
    /// #     fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> { Ok(0) }
    /// # }
    /// let port = Port { sent: Vec::new() }; // a board that stays silent
    /// let mut board = Cu16::new(port, Cu16Address::new(2).unwrap())
    ///     .with_status_request(Cu16StatusRequest::QueryAll);
    /// assert!(board.status().is_err());
    /// assert_eq!(board.release().sent, [0x02, 0x20, 0x32, 0x03, 0x57]);
    /// ```
    pub fn with_status_request(mut self, request: Cu16StatusRequest) -> Self {
        self.status_request = request;
        self
    }

    /// The board's address.
    pub fn address(&self) -> Cu16Address {
        self.board
    }

    /// Gives the serial port back.
    pub fn release(self) -> S {
        self.serial
    }

    fn addr_byte(&self, lock_index: u8) -> u8 {
        (self.board.0 << 4) | (lock_index & 0x0F)
    }
}

impl<S> Model for Cu16<S> {
    type Port = S;
    type Request = [u8; 4];
    type Response = [u8; STATUS_LEN];
    const CHANNELS: u8 = CU16_CHANNELS;

    fn port(&mut self) -> &mut S {
        &mut self.serial
    }

    fn ir_mask(&self) -> IrMask {
        self.ir_blocked_when_empty
    }

    fn ir_mask_mut(&mut self) -> &mut IrMask {
        &mut self.ir_blocked_when_empty
    }

    fn unlock_request(&self, channel: Channel) -> [u8; 4] {
        [STX, self.addr_byte(channel.0), CMD_UNLOCK, ETX]
    }

    fn status_request(&self) -> [u8; 4] {
        [STX, self.addr_byte(0), self.status_request.codes().0, ETX]
    }

    fn decode_status<E>(&self, frame: &[u8; STATUS_LEN]) -> Result<BoardStatus, KerongError<E>> {
        let answer = self.status_request.codes().1;
        check(
            frame,
            &[
                (self.addr_byte(0), Field::Address),
                (answer, Field::Command),
            ],
        )?;
        let [_, _, _, l1, l2, i1, i2, _, _] = *frame;
        let locks = u64::from(u16::from_le_bytes([l1, l2]));
        let items = u64::from(u16::from_le_bytes([i1, i2]));
        Ok(BoardStatus::from_bits(
            CU16_CHANNELS,
            locks,
            self.ir_blocked_when_empty.apply(items),
            self.polarity,
        ))
    }
}
