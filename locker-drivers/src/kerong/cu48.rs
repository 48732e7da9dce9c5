//! The Kerong KR-CU48: 48 locks and 48 IR inputs per board.
//!
//! # Frames
//!
//! Learnt from the captures in `AshurkovAV/KerongConsole` ("Коды для
//! контролера запрос ответ.txt", a TCP-to-RS-485 bridge in front of a
//! CU48) and checked against the field layout a TypeScript CU48 driver
//! documents. Requests are `02 ADDR LOCK CMD 03 SUM`, SUM as on the CU16,
//! ADDR the board address, LOCK the lock index counted from zero:
//!
//! | request | bytes (board 0) | response |
//! |---|---|---|
//! | status of all channels | `02 00 00 60 03 65` | `02 00 00 75 L1-8 … L41-48 IR1-8 … IR41-48 03 SUM` (18 bytes) |
//! | unlock lock index 1 | `02 00 01 61 03 67` | none expected (see below) |
//!
//! Lock bytes and IR bytes carry the lowest channel in bit 0 of the first
//! byte (a capture reports cell 14 as `00 20`: bit 5 of the second byte).
//!
//! Where the sources disagree or are silent:
//! - KerongConsole's `CodesClass.Unlock` puts the lock index in byte 1 and
//!   0 in byte 2, while its captures (and the TypeScript driver) put the
//!   board in byte 1 and the lock in byte 2. Both give the same checksum;
//!   this driver follows the captures.
//! - The captures show no reply to an unlock; one capture shows an 18-byte
//!   frame with command `0x77` whose meaning is not documented. This driver
//!   reads no reply to an unlock, like the CU16 driver; read the status to
//!   confirm the latch released. If a board does answer, the driver
//!   discards its bytes before the next request.
//! - Lock-bit polarity: the captures label a set bit "lock closed", hence
//!   the default [`LockBitPolarity::SetMeansLocked`].

use locker_proto::Channel;

use super::board::{IrMask, Model};
use super::frame::{ETX, Field, STX, check};
use super::{BoardStatus, KerongError, LockBitPolarity};

pub(crate) const CMD_STATUS: u8 = 0x60;
pub(crate) const CMD_UNLOCK: u8 = 0x61;
pub(crate) const RESP_STATUS: u8 = 0x75;
pub(crate) const STATUS_LEN: usize = 18;

/// Channels on a KR-CU48.
pub const CU48_CHANNELS: u8 = 48;

/// One KR-CU48 board on a serial port.
///
/// Ownership, several boards per line and timeouts work as for
/// [`Cu16`](super::Cu16). A CU48 has more channels than one bulk status
/// holds; see [`BoardStatus::bulk_status_window`].
#[derive(Debug)]
pub struct Cu48<S> {
    serial: S,
    address: u8,
    polarity: LockBitPolarity,
    ir_blocked_when_empty: IrMask,
}

impl<S> Cu48<S> {
    /// A board at `address` on `serial`, reading lock bits with the default
    /// [`LockBitPolarity`].
    pub fn new(serial: S, address: u8) -> Self {
        Cu48 {
            serial,
            address,
            polarity: LockBitPolarity::default(),
            ir_blocked_when_empty: IrMask::default(),
        }
    }

    /// The same board, reading lock bits with `polarity`.
    pub fn with_polarity(mut self, polarity: LockBitPolarity) -> Self {
        self.polarity = polarity;
        self
    }

    /// The board's address.
    pub fn address(&self) -> u8 {
        self.address
    }

    /// Gives the serial port back.
    pub fn release(self) -> S {
        self.serial
    }
}

fn le48(bytes: [u8; 6]) -> u64 {
    let [a, b, c, d, e, f] = bytes;
    u64::from_le_bytes([a, b, c, d, e, f, 0, 0])
}

impl<S> Model for Cu48<S> {
    type Port = S;
    type Request = [u8; 5];
    type Response = [u8; STATUS_LEN];
    const CHANNELS: u8 = CU48_CHANNELS;

    fn port(&mut self) -> &mut S {
        &mut self.serial
    }

    fn ir_mask(&self) -> IrMask {
        self.ir_blocked_when_empty
    }

    fn ir_mask_mut(&mut self) -> &mut IrMask {
        &mut self.ir_blocked_when_empty
    }

    fn unlock_request(&self, channel: Channel) -> [u8; 5] {
        [STX, self.address, channel.0, CMD_UNLOCK, ETX]
    }

    fn status_request(&self) -> [u8; 5] {
        [STX, self.address, 0x00, CMD_STATUS, ETX]
    }

    fn decode_status<E>(&self, frame: &[u8; STATUS_LEN]) -> Result<BoardStatus, KerongError<E>> {
        check(
            frame,
            &[
                (self.address, Field::Address),
                (0x00, Field::Command),
                (RESP_STATUS, Field::Command),
            ],
        )?;
        let [
            _,
            _,
            _,
            _,
            l0,
            l1,
            l2,
            l3,
            l4,
            l5,
            i0,
            i1,
            i2,
            i3,
            i4,
            i5,
            _,
            _,
        ] = *frame;
        let locks = le48([l0, l1, l2, l3, l4, l5]);
        let items = le48([i0, i1, i2, i3, i4, i5]);
        Ok(BoardStatus::from_bits(
            CU48_CHANNELS,
            locks,
            self.ir_blocked_when_empty.apply(items),
            self.polarity,
        ))
    }
}
