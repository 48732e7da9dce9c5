//! The gateway's line to its nodes: our own bus ([`SerialLine`]) or a line
//! of vendor lock boards standing in for nodes ([`KerongLine`](super::KerongLine)).
//! The gateway machine sends and reads frames and cannot tell which it has.

use locker_proto::Command;
use locker_proto::link::Outgoing;
use locker_proto::time::Instant;

use super::{Gateway, GatewayError, LineStats, SerialLine};

/// Where the gateway's frames go and its nodes' answers come from.
///
/// Implement it for another kind of node line (another vendor's boards, a
/// TCP bridge); [`Gateway::start`] takes any.
pub trait NodeLine: std::fmt::Debug + Send {
    /// Puts `frame`, which the gateway machine transmits at `now`, on the line.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] when the port fails: the gateway stops.
    fn send(&mut self, frame: &Outgoing<Command>, now: Instant) -> Result<(), GatewayError>;

    /// What came back from the nodes, our bus encoding, read into `buf`;
    /// waits at most the port's read timeout when nothing is waiting, so
    /// the gateway's loop neither spins nor stalls.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] when the port fails (a quiet line is not).
    fn read<'b>(&mut self, buf: &'b mut [u8]) -> Result<&'b [u8], GatewayError>;

    /// Drops what arrived for a gateway that has since restarted.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] if the port refuses.
    fn discard_pending_input(&mut self) -> Result<(), GatewayError>;

    /// Bytes and frames that crossed the line.
    fn stats(&self) -> LineStats;

    /// Something about the line the operator should know (a board that did
    /// not answer); the gateway shows it as a [`Notice::Warning`](super::Notice::Warning).
    fn poll_warning(&mut self) -> Option<String> {
        None
    }
}

impl<L: NodeLine + 'static> From<L> for Box<dyn NodeLine> {
    fn from(line: L) -> Self {
        Box::new(line)
    }
}

impl NodeLine for SerialLine {
    fn send(&mut self, frame: &Outgoing<Command>, _now: Instant) -> Result<(), GatewayError> {
        self.send_outgoing(frame)
    }

    fn read<'b>(&mut self, buf: &'b mut [u8]) -> Result<&'b [u8], GatewayError> {
        SerialLine::read(self, buf)
    }

    fn discard_pending_input(&mut self) -> Result<(), GatewayError> {
        SerialLine::discard_pending_input(self)
    }

    fn stats(&self) -> LineStats {
        SerialLine::stats(self)
    }
}

impl Gateway {
    /// One read of the line; what the line wants the operator to know
    /// becomes a warning.
    pub(super) fn read_line<'b>(&mut self, buf: &'b mut [u8]) -> Result<&'b [u8], GatewayError> {
        let bytes = self.line.read(buf)?;
        while let Some(warning) = self.line.poll_warning() {
            self.warn(&warning);
        }
        Ok(bytes)
    }
}
