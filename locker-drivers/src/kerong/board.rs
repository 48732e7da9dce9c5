//! What a Kerong board offers, whatever its model, and the per-channel view
//! that makes one channel a [`Lock`] + [`DoorSensor`] + [`PresenceSensor`].

use locker_proto::{Channel, DoorState, LockState};

use embedded_io::{Read, Write};

use super::frame::{exchange, request};
use super::{BoardStatus, KerongError};
use crate::{DoorSensor, Lock, PresenceSensor};

/// A lock board that drives several channels over one serial exchange each.
///
/// Implemented by [`Cu16`](super::Cu16) and [`Cu48`](super::Cu48).
pub trait LockBoard {
    /// The serial port's error.
    type SerialError;

    /// How many channels the board has.
    fn channel_count(&self) -> u8;

    /// Pulses one channel's lock. Fails with [`KerongError::NoSuchChannel`],
    /// sending nothing, for a channel the board does not have.
    fn unlock(&mut self, channel: Channel) -> Result<(), KerongError<Self::SerialError>>;

    /// Every channel's latch and IR sensor, in one exchange. IR bits of
    /// channels calibrated as blocked-when-empty are cleared.
    fn status(&mut self) -> Result<BoardStatus, KerongError<Self::SerialError>>;

    /// Whether `channel`'s IR sensor was seen blocked while the compartment
    /// was empty (see [`PresenceSensor::calibrate_empty`] on a channel).
    fn ir_blocked_when_empty(&self, channel: Channel) -> bool;

    /// Records whether `channel`'s IR sensor is blocked while empty; its item
    /// bit is ignored from then on. Channels the board lacks are ignored.
    fn set_ir_blocked_when_empty(&mut self, channel: Channel, blocked: bool);

    /// A view of one channel as a [`Lock`], [`DoorSensor`] and
    /// [`PresenceSensor`], borrowing the board. Fails for a channel the
    /// board does not have.
    fn channel(
        &mut self,
        channel: Channel,
    ) -> Result<BoardChannel<'_, Self>, KerongError<Self::SerialError>>
    where
        Self: Sized,
    {
        check_channel(channel, self.channel_count())?;
        Ok(BoardChannel {
            board: self,
            channel,
        })
    }
}

pub(crate) fn check_channel<E>(channel: Channel, count: u8) -> Result<(), KerongError<E>> {
    if channel.0 < count {
        Ok(())
    } else {
        Err(KerongError::NoSuchChannel {
            channel: channel.0,
            last: count.saturating_sub(1),
        })
    }
}

/// One board model without its I/O: its frames, its status layout and the
/// state its driver keeps. [`LockBoard`] and, with feature `async`, its
/// async twin are written once over it; a model only says what sets it
/// apart.
///
/// Sealed: `pub` only so the public blanket impls may name it; this module
/// is private, so no one outside the crate can name or implement it.
#[allow(unreachable_pub)]
pub trait Model {
    /// The serial port.
    type Port;
    /// A request body, up to and including ETX.
    type Request: AsRef<[u8]>;
    /// A status response, read whole.
    type Response: AsMut<[u8]> + Default;
    /// How many channels the board has.
    const CHANNELS: u8;

    fn port(&mut self) -> &mut Self::Port;
    fn ir_mask(&self) -> IrMask;
    fn ir_mask_mut(&mut self) -> &mut IrMask;
    /// The unlock request for a channel the board has.
    fn unlock_request(&self, channel: Channel) -> Self::Request;
    fn status_request(&self) -> Self::Request;
    /// The answer to [`status_request`](Self::status_request), checked and
    /// read, IR sensors masked by [`ir_mask`](Self::ir_mask).
    fn decode_status<E>(&self, response: &Self::Response) -> Result<BoardStatus, KerongError<E>>;

    /// The unlock request for `channel`, or why there is none.
    fn checked_unlock<E>(&self, channel: Channel) -> Result<Self::Request, KerongError<E>> {
        check_channel(channel, Self::CHANNELS)?;
        Ok(self.unlock_request(channel))
    }
}

impl<B> LockBoard for B
where
    B: Model,
    B::Port: Read + Write,
{
    type SerialError = <B::Port as embedded_io::ErrorType>::Error;

    fn channel_count(&self) -> u8 {
        B::CHANNELS
    }

    fn unlock(&mut self, channel: Channel) -> Result<(), KerongError<Self::SerialError>> {
        let body = self.checked_unlock(channel)?;
        request(self.port(), body.as_ref())
    }

    fn status(&mut self) -> Result<BoardStatus, KerongError<Self::SerialError>> {
        let body = self.status_request();
        let mut response = B::Response::default();
        exchange(self.port(), body.as_ref(), response.as_mut())?;
        self.decode_status(&response)
    }

    fn ir_blocked_when_empty(&self, channel: Channel) -> bool {
        self.ir_mask().get(channel, B::CHANNELS)
    }

    fn set_ir_blocked_when_empty(&mut self, channel: Channel, blocked: bool) {
        self.ir_mask_mut().set(channel, B::CHANNELS, blocked);
    }
}

/// The channels of a board whose IR sensor was seen blocked while the
/// compartment was empty; their item bits are ignored. Kept by the board
/// drivers, blocking and async alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(unreachable_pub)] // sealed with `Model`, whose methods hand it out
pub struct IrMask(u64);

impl IrMask {
    pub(crate) fn get(self, channel: Channel, count: u8) -> bool {
        channel.0 < count && self.0 & (1 << channel.0) != 0
    }

    /// Channels the board lacks (`count` and above) are ignored.
    pub(crate) fn set(&mut self, channel: Channel, count: u8, blocked: bool) {
        if channel.0 < count {
            let bit = 1u64 << channel.0;
            if blocked {
                self.0 |= bit;
            } else {
                self.0 &= !bit;
            }
        }
    }

    /// `items` (channel 0 in bit 0) without the masked channels.
    pub(crate) fn apply(self, items: u64) -> u64 {
        items & !self.0
    }
}

/// One channel of a lock board. Each call is one serial exchange.
#[derive(Debug)]
pub struct BoardChannel<'a, B> {
    board: &'a mut B,
    channel: Channel,
}

impl<B: LockBoard> BoardChannel<'_, B> {
    /// Which channel this is.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    fn read(&mut self) -> Result<BoardStatus, KerongError<B::SerialError>> {
        self.board.status()
    }
}

fn missing<E>(channel: Channel, count: u8) -> KerongError<E> {
    KerongError::NoSuchChannel {
        channel: channel.0,
        last: count.saturating_sub(1),
    }
}

impl<B: LockBoard> Lock for BoardChannel<'_, B> {
    type Error = KerongError<B::SerialError>;

    fn unlock(&mut self) -> Result<(), Self::Error> {
        self.board.unlock(self.channel)
    }

    fn lock_state(&mut self) -> Result<LockState, Self::Error> {
        let status = self.read()?;
        status
            .lock(self.channel)
            .ok_or_else(|| missing(self.channel, status.channels()))
    }
}

impl<B: LockBoard> DoorSensor for BoardChannel<'_, B> {
    type Error = KerongError<B::SerialError>;

    fn door_state(&mut self) -> Result<DoorState, Self::Error> {
        let status = self.read()?;
        status
            .door(self.channel)
            .ok_or_else(|| missing(self.channel, status.channels()))
    }
}

/// The IR sensor is binary: the reading is 1 while it sees an item, the
/// threshold 1. A sensor blocked while the compartment is empty (seen by
/// [`calibrate_empty`](PresenceSensor::calibrate_empty)) gets a baseline of
/// 1, so it never reports an item again until recalibrated.
impl<B: LockBoard> PresenceSensor for BoardChannel<'_, B> {
    type Error = KerongError<B::SerialError>;

    fn reading(&mut self) -> Result<i32, Self::Error> {
        let status = self.read()?;
        let seen = status
            .item_detected(self.channel)
            .ok_or_else(|| missing(self.channel, status.channels()))?;
        // A masked sensor reads as its baseline: blocked, as when calibrated.
        Ok(i32::from(seen) + self.baseline())
    }

    fn calibrate_empty(&mut self) -> Result<i32, Self::Error> {
        let previous = self.board.ir_blocked_when_empty(self.channel);
        self.board.set_ir_blocked_when_empty(self.channel, false);
        let seen = match self.read() {
            Ok(status) => status.item_detected(self.channel).unwrap_or(false),
            Err(e) => {
                // A failed exchange changes no state.
                self.board.set_ir_blocked_when_empty(self.channel, previous);
                return Err(e);
            }
        };
        self.board.set_ir_blocked_when_empty(self.channel, seen);
        Ok(i32::from(seen))
    }

    fn baseline(&self) -> i32 {
        i32::from(self.board.ir_blocked_when_empty(self.channel))
    }

    fn threshold(&self) -> i32 {
        1
    }
}
