//! The Kerong boards over an `embedded-io-async` serial port, for gateways
//! on an async executor.
//!
//! [`Cu16`](super::Cu16) and [`Cu48`](super::Cu48) are the same drivers as
//! on a blocking port: on a port implementing `embedded_io_async::Read +
//! Write` they implement [`LockBoard`] here, whose `unlock` and `status`
//! are awaited. Frames, checks, the discarding of stale bytes before every
//! request and every error are the blocking driver's, shared code; only the
//! reads and writes differ.
//!
//! # Timeouts
//!
//! The rule is the blocking driver's: the driver never reads a clock, and
//! the port's `read` must return zero bytes once the caller's read timeout
//! expires (reported as [`KerongError::Truncated`], or taken as a quiet line
//! while discarding stale bytes). An async UART's `read` usually waits for
//! the first byte for ever; wrap it in [`ReadTimeout`] with an
//! `embedded-hal-async` delay (Embassy's `Delay`, for instance) and the
//! timeout you want. The wrapped port's `read` must be cancel-safe (drop a
//! pending read without losing bytes), as Embassy's buffered UARTs are.
//!
//! # Example
//!
//! ```
//! use locker_drivers::kerong::asynch::LockBoard;
//! use locker_drivers::kerong::{Cu16, Cu16Address};
//! use locker_proto::Channel;
//! # struct Port { sent: Vec<u8>, reply: std::collections::VecDeque<u8> }
//! # impl embedded_io_async::ErrorType for Port { type Error = core::convert::Infallible; }
//! # impl embedded_io_async::Write for Port {
//! #     async fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> {
//! #         self.sent.extend_from_slice(b);
//! #         if self.sent.ends_with(&[0x02, 0x00, 0x30, 0x03, 0x35]) {
//! #             self.reply.extend([0x02, 0x00, 0x35, 0x01, 0x00, 0x00, 0x00, 0x03, 0x3b]);
//! #         }
//! #         Ok(b.len())
//! #     }
//! #     async fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
//! # }
//! # impl embedded_io_async::Read for Port {
//! #     async fn read(&mut self, b: &mut [u8]) -> Result<usize, Self::Error> {
//! #         let n = b.len().min(self.reply.len());
//! #         for x in &mut b[..n] { *x = self.reply.pop_front().unwrap(); }
//! #         Ok(n)
//! #     }
//! # }
//! # let port = Port { sent: Vec::new(), reply: Default::default() };
//! // `port` is the async RS-485 port (its reads time out, as above); board 0
//! // answers that only lock 1 is latched.
//! let mut board = Cu16::new(port, Cu16Address::new(0).unwrap());
//! embassy_futures::block_on(async {
//!     let status = board.status().await?;
//!     assert_eq!(status.bulk_status().locked.count(), 1);
//!     board.unlock(Channel(1)).await
//! })?;
//! assert_eq!(
//!     board.release().sent,
//!     [0x02, 0x00, 0x30, 0x03, 0x35, 0x02, 0x01, 0x31, 0x03, 0x37]
//! );
//! # Ok::<(), locker_drivers::kerong::KerongError<core::convert::Infallible>>(())
//! ```

// As in embedded-io-async: the futures carry no `Send` bound, so
// single-threaded executors can use them.
#![allow(async_fn_in_trait)]

use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{ErrorType, Read, Write};
use locker_proto::Channel;
use locker_proto::time::Duration;

use super::board::Model;
use super::frame::asynch::{exchange, request};
use super::{BoardStatus, KerongError};

/// A lock board driven over an async port: the async twin of
/// [`kerong::LockBoard`](super::LockBoard), with the same meaning per
/// method.
///
/// Implemented by [`Cu16`](super::Cu16) and [`Cu48`](super::Cu48) on an
/// `embedded_io_async::Read + Write` port.
pub trait LockBoard {
    /// The serial port's error.
    type SerialError;

    /// How many channels the board has.
    fn channel_count(&self) -> u8;

    /// Pulses one channel's lock. Fails with [`KerongError::NoSuchChannel`],
    /// sending nothing, for a channel the board does not have.
    async fn unlock(&mut self, channel: Channel) -> Result<(), KerongError<Self::SerialError>>;

    /// Every channel's latch and IR sensor, in one exchange. IR bits of
    /// channels calibrated as blocked-when-empty are cleared.
    async fn status(&mut self) -> Result<BoardStatus, KerongError<Self::SerialError>>;

    /// Whether `channel`'s IR sensor was recorded as blocked while empty.
    fn ir_blocked_when_empty(&self, channel: Channel) -> bool;

    /// Records whether `channel`'s IR sensor is blocked while empty; its item
    /// bit is ignored from then on. Channels the board lacks are ignored.
    fn set_ir_blocked_when_empty(&mut self, channel: Channel, blocked: bool);
}

/// The same frames and checks as the blocking board, awaited.
impl<B> LockBoard for B
where
    B: Model,
    B::Port: Read + Write,
{
    type SerialError = <B::Port as ErrorType>::Error;

    fn channel_count(&self) -> u8 {
        B::CHANNELS
    }

    async fn unlock(&mut self, channel: Channel) -> Result<(), KerongError<Self::SerialError>> {
        let body = self.checked_unlock(channel)?;
        request(self.port(), body.as_ref()).await
    }

    async fn status(&mut self) -> Result<BoardStatus, KerongError<Self::SerialError>> {
        let body = self.status_request();
        let mut response = B::Response::default();
        exchange(self.port(), body.as_ref(), response.as_mut()).await?;
        self.decode_status(&response)
    }

    fn ir_blocked_when_empty(&self, channel: Channel) -> bool {
        self.ir_mask().get(channel, B::CHANNELS)
    }

    fn set_ir_blocked_when_empty(&mut self, channel: Channel, blocked: bool) {
        self.ir_mask_mut().set(channel, B::CHANNELS, blocked);
    }
}

/// An async serial port whose reads give up after a timeout, returning zero
/// bytes, as the Kerong drivers expect of a port (see the module docs).
/// Writes pass through.
///
/// ```
/// use embedded_hal_mock::eh1::delay::NoopDelay;
/// use embedded_io_async::Read;
/// use locker_drivers::kerong::asynch::ReadTimeout;
/// use locker_proto::time::Duration;
/// # struct Silent;
/// # impl embedded_io_async::ErrorType for Silent { type Error = core::convert::Infallible; }
/// # impl embedded_io_async::Read for Silent {
/// #     async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> {
/// #         core::future::pending().await
/// #     }
/// # }
/// # impl embedded_io_async::Write for Silent {
/// #     async fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { Ok(b.len()) }
/// #     async fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// // A UART whose board never answers: the read ends with nothing after 20 ms.
/// let mut port = ReadTimeout::new(Silent, NoopDelay::new(), Duration::from_millis(20));
/// let mut buf = [0u8; 9];
/// assert_eq!(embassy_futures::block_on(port.read(&mut buf)), Ok(0));
/// ```
#[derive(Debug)]
pub struct ReadTimeout<S, D> {
    port: S,
    delay: D,
    timeout_ms: u32,
}

impl<S, D: DelayNs> ReadTimeout<S, D> {
    /// `port`, whose reads end after `timeout` (whole milliseconds, at most
    /// `u32::MAX`) measured by `delay`. At 19200 baud, 50 ms is ample for
    /// the longest answer once the board has started; a few milliseconds
    /// suffice to find the line quiet.
    pub fn new(port: S, delay: D, timeout: Duration) -> Self {
        ReadTimeout {
            port,
            delay,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        }
    }

    /// The port, e.g. to change its baud rate.
    pub fn port_mut(&mut self) -> &mut S {
        &mut self.port
    }

    /// Gives back the port and the delay.
    pub fn release(self) -> (S, D) {
        (self.port, self.delay)
    }
}

impl<S: ErrorType, D> ErrorType for ReadTimeout<S, D> {
    type Error = S::Error;
}

impl<S: Read, D: DelayNs> Read for ReadTimeout<S, D> {
    /// What the port reads first, or zero bytes once the timeout expires
    /// (the pending read is then dropped).
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, S::Error> {
        let mut read = pin!(self.port.read(buf));
        let mut expired = pin!(self.delay.delay_ms(self.timeout_ms));
        // Bytes that have come win over a timeout that expires in the same poll.
        poll_fn(|cx| match read.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => expired.as_mut().poll(cx).map(|()| Ok(0)),
        })
        .await
    }
}

impl<S: Write, D> Write for ReadTimeout<S, D> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, S::Error> {
        self.port.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), S::Error> {
        self.port.flush().await
    }
}
