//! Kerong lock boards (KR-CU16, KR-CU48) over a serial port.
//!
//! Integrators often already own a bank of lockers driven by Kerong
//! boards. The gateway drives them through this module, speaking the
//! vendor's frames, and converts their status into the same
//! `locker_proto` reports our own nodes send ([`BoardStatus::bulk_status`],
//! [`BoardStatus::channel_status`]): the bank cannot tell a Kerong bank
//! from ours. Each channel is also a [`Lock`](crate::Lock) +
//! [`DoorSensor`](crate::DoorSensor) + [`PresenceSensor`](crate::PresenceSensor)
//! through [`LockBoard::channel`].
//!
//! # Standing in for a node
//!
//! [`BoardNode`] puts a board where one of our compartment nodes stands:
//! the gateway's bus master sends it [`Command`](locker_proto::Command)
//! frames and gets back the [`Report`](locker_proto::Report) frames our
//! node would have sent, events, sequence numbers, retransmissions and
//! authentication included. The gateway shell routes the frames it
//! transmits to a Kerong node's address into the adapter instead of onto
//! our bus, and hands the answer back to the master as if received:
//!
//! ```
//! # #[cfg(feature = "sim")] { // the simulated board is behind feature `sim`
//! use locker_drivers::kerong::{BoardNode, BoardNodeConfig, Cu16, Cu16Address};
//! use locker_drivers::sim::SimCu16;
//! use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
//! use locker_proto::link::{Master, MasterConfig, MasterEvent};
//! use locker_proto::{Command, Instant, NodeAddr, Report, ResetReason};
//!
//! let kerong = NodeAddr(20); // the address the bank's layout gives the board
//! let board = Cu16Address::new(0).unwrap(); // its DIP switches
//! let mut rs485 = SimCu16::cu16(board, Instant::ZERO); // the serial port to the board
//!
//! let mut master = Master::<8>::new(MasterConfig::default());
//! master.add_node(kerong, Instant::ZERO)?;
//! let mut node = BoardNode::<16>::new(kerong, ResetReason::PowerOn, BoardNodeConfig::default(), Instant::ZERO);
//!
//! let now = Instant::from_millis(5);
//! master.send(kerong, Command::GetAllStatus, now)?;
//! let mut wire = [0u8; MAX_FRAME];
//! while let Some(request) = master.poll_outgoing(now) {
//!     // Gateway → adapter: the bytes our bus would have carried.
//!     let bytes = request.encode(&mut wire)?;
//!     let mut decoder = Decoder::new();
//!     let Feed::Frame { frame, .. } = decoder.feed::<Command>(bytes) else { continue };
//!     let _board_trouble = node.handle_received(
//!         &frame,
//!         decoder.last_authenticated(),
//!         &mut Cu16::new(&mut rs485, board),
//!         now,
//!     );
//!     // Adapter → gateway: the answer, as if received from the bus.
//!     while let Some(answer) = node.poll_outgoing() {
//!         let bytes = answer.encode(&mut wire)?;
//!         let mut decoder = Decoder::new();
//!         if let Feed::Frame { frame, .. } = decoder.feed::<Report>(bytes) {
//!             master.handle_received(&frame, decoder.last_authenticated(), now);
//!         }
//!     }
//! }
//! let answered = core::iter::from_fn(|| master.poll_event())
//!     .any(|e| matches!(e, MasterEvent::Response { report: Report::BulkStatus(_), .. }));
//! assert!(answered);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A shell that drives a whole line of boards need not route by hand:
//! [`BoardLine`] takes the gateway's transmitted bytes, runs each frame's
//! exchange with the board of its node (up to 16 KR-CU16 boards, or KR-CU48
//! boards as two nodes each, on one port) and hands back the encoded answers
//! ([`BoardModel`] says which node sits on which board).
//!
//! Call the adapter synchronously, with the `now` the request went out
//! at: the board exchange (at most three requests, each bounded by the
//! port's read timeout) then never counts against the master's response
//! timeout. Give the adapter the node's key through
//! [`BoardNode::link_mut`] (`restore_auth`) and store what `poll_persist`
//! asks for, as node firmware does; the gateway holds the same key.
//!
//! # Wiring
//!
//! The boards speak RS-485, half duplex, **19200 baud, 8 data bits, no
//! parity, 1 stop bit** (the factory default). Wire a USB or UART RS-485
//! adapter A to A and B to B, with a common ground and 120 Ω termination
//! at both ends of a long line. Set each board's address on its DIP
//! switches. The port is anything implementing `embedded_io::Read +
//! Write` (`embedded-io-adapters` wraps `std::io` and `serialport`).
//!
//! # Timeouts
//!
//! The driver reads a fixed-length response and never waits on a clock:
//! the port's `read` must return once the caller's timeout expires, with
//! zero bytes (reported as [`KerongError::Truncated`]) or with an error
//! (reported as [`KerongError::Serial`]). Every malformed response is a
//! typed error: [`BadStart`](KerongError::BadStart),
//! [`BadEnd`](KerongError::BadEnd), [`BadChecksum`](KerongError::BadChecksum),
//! [`WrongAddress`](KerongError::WrongAddress),
//! [`UnexpectedCommand`](KerongError::UnexpectedCommand).
//!
//! Kerong frames carry no sequence number, so before every request the
//! driver reads and discards whatever is waiting until the port reports
//! nothing more (a read of zero bytes or a timed-out read): a late answer to
//! an earlier request is never taken for the answer to this one. A line
//! that does not fall quiet within a few frames' worth of bytes is
//! [`KerongError::LineBusy`], and nothing is sent.
//!
//! # Lock-bit polarity
//!
//! Public implementations disagree on it; see [`LockBitPolarity`].
//!
//! # Example
//!
//! ```
//! use locker_drivers::kerong::{Cu16, Cu16Address, LockBoard};
//! use locker_drivers::{DoorSensor, Lock};
//! use locker_proto::{Channel, DoorState};
//! # struct Port { sent: Vec<u8>, reply: std::collections::VecDeque<u8> }
//! # impl embedded_io::ErrorType for Port { type Error = core::convert::Infallible; }
//! # impl embedded_io::Write for Port {
//! #     fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> {
//! #         self.sent.extend_from_slice(b);
//! #         if self.sent.ends_with(&[0x02, 0x00, 0x30, 0x03, 0x35]) {
//! #             self.reply.extend([0x02, 0x00, 0x35, 0x01, 0x00, 0x00, 0x00, 0x03, 0x3b]);
//! #         }
//! #         Ok(b.len())
//! #     }
//! #     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
//! # }
//! # impl embedded_io::Read for Port {
//! #     fn read(&mut self, b: &mut [u8]) -> Result<usize, Self::Error> {
//! #         let n = b.len().min(self.reply.len());
//! #         for x in &mut b[..n] { *x = self.reply.pop_front().unwrap(); }
//! #         Ok(n)
//! #     }
//! # }
//! # let port = Port { sent: Vec::new(), reply: Default::default() };
//! // `port` is the RS-485 adapter; board 0 answers that only lock 1 is latched.
//! let mut board = Cu16::new(port, Cu16Address::new(0).unwrap());
//! let status = board.status()?;
//! assert_eq!(status.bulk_status().locked.count(), 1);
//! board.channel(Channel(1))?.unlock()?;
//! let port = board.release();
//! assert_eq!(port.sent, [0x02, 0x00, 0x30, 0x03, 0x35, 0x02, 0x01, 0x31, 0x03, 0x37]);
//! # Ok::<(), locker_drivers::kerong::KerongError<core::convert::Infallible>>(())
//! ```

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynch;
mod board;
pub(crate) mod cu16;
pub(crate) mod cu48;
mod error;
pub(crate) mod frame;
mod line;
mod node;
mod status;

pub use board::{BoardChannel, LockBoard};
pub use cu16::{CU16_CHANNELS, Cu16, Cu16Address, Cu16StatusRequest};
pub use cu48::{CU48_CHANNELS, Cu48};
pub use error::KerongError;
pub use line::{
    BoardAddress, BoardAnswer, BoardChannels, BoardLine, BoardLineError, BoardLineStats,
    BoardModel, BoardTrouble,
};
pub use node::{BOARD_SILENT_FAULT, BoardNode, BoardNodeConfig, BoardNodeStats};
pub use status::{BoardStatus, LockBitPolarity};
