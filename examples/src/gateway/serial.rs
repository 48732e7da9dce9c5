//! Frames over a serial port: the same code on the gateway and, in the
//! tests, on the simulated node at the other end of a pseudo-terminal.

use std::io::{self, Read, Write};
use std::time::Duration;

use locker_proto::frame::{
    AuthTrailer, Authenticated, Body, Decoder, Feed, Frame, MAX_FRAME, encode,
};
use locker_proto::link::Outgoing;
use serialport::SerialPort;

use super::GatewayError;

/// Counters of what crossed the line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Bytes written.
    pub bytes_out: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Frames written.
    pub frames_out: u64,
    /// Good frames read.
    pub frames_in: u64,
    /// Byte runs between delimiters that were not a valid frame (noise,
    /// corruption, a collision, or our own echo on an adapter that echoes).
    pub bad_frames: u64,
}

/// A frame read from the line, with its authentication trailer and the
/// bytes the trailer's tag covers, if it carried one.
#[derive(Clone, Debug)]
pub struct Received<B> {
    /// The frame.
    pub frame: Frame<B>,
    signed: Option<(Vec<u8>, AuthTrailer)>,
}

impl<B> Received<B> {
    /// What the link layer needs to verify the frame's tag
    /// (`handle_received`'s `auth` argument).
    pub fn authenticated(&self) -> Option<Authenticated<'_>> {
        self.signed
            .as_ref()
            .map(|(covered, trailer)| Authenticated {
                covered,
                trailer: *trailer,
            })
    }
}

/// A serial line carrying bus frames: encode and write out, read and decode in.
///
/// Half-duplex RS-485 needs nothing more here: the link layer's master
/// ([`locker_proto::link::Master`]) never has more than one request on the
/// bus, and a USB RS-485 adapter switches its driver itself.
pub struct SerialLine {
    port: Box<dyn SerialPort>,
    decoder: Decoder,
    stats: LineStats,
}

impl std::fmt::Debug for SerialLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialLine")
            .field("port", &self.port.name())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl SerialLine {
    /// Opens `path` at `baud`, 8N1, with reads waiting at most `read_timeout`.
    ///
    /// # Errors
    ///
    /// [`GatewayError::OpenPort`].
    pub fn open(path: &str, baud: u32, read_timeout: Duration) -> Result<Self, GatewayError> {
        Ok(SerialLine::new(open_port(path, baud, read_timeout)?))
    }

    /// A line over an already open port (e.g. one end of a
    /// [`serialport::TTYPort::pair`]). Reads wait for the port's own timeout.
    pub fn new(port: Box<dyn SerialPort>) -> Self {
        SerialLine {
            port,
            decoder: Decoder::new(),
            stats: LineStats::default(),
        }
    }

    /// Drops bytes received but not yet read, and any partly decoded frame:
    /// answers meant for a gateway that has since restarted must not be
    /// taken for answers to the new one's requests.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] if the port refuses.
    pub fn discard_pending_input(&mut self) -> Result<(), GatewayError> {
        self.decoder.reset();
        self.port
            .clear(serialport::ClearBuffer::Input)
            .map_err(|e| GatewayError::Serial(e.into()))
    }

    /// One read of the port, waiting at most its read timeout: the bytes
    /// that came (none when the line was quiet).
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] when the port fails.
    pub fn read<'b>(&mut self, buf: &'b mut [u8]) -> Result<&'b [u8], GatewayError> {
        let n = match self.port.read(buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                0
            }
            Err(e) => return Err(GatewayError::Serial(e)),
        };
        self.stats.bytes_in += n as u64;
        Ok(buf.get(..n).unwrap_or_default())
    }

    /// Counters so far.
    pub fn stats(&self) -> LineStats {
        self.stats
    }

    /// Encodes `frame` and writes it out whole.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] if the port fails.
    pub fn send<B: Body>(&mut self, frame: &Frame<B>) -> Result<(), GatewayError> {
        let mut buf = [0u8; MAX_FRAME];
        // Bodies of our message sets always fit MAX_FRAME (locker-proto's
        // frame contract), so this only fails for a foreign body type.
        let wire = encode(frame, &mut buf)
            .map_err(|e| GatewayError::Serial(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        self.write(wire)
    }

    /// Encodes what the link layer wants sent (signing it if it must be
    /// signed) and writes it out whole.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] if the port fails.
    pub fn send_outgoing<B: Body>(&mut self, outgoing: &Outgoing<B>) -> Result<(), GatewayError> {
        let mut buf = [0u8; MAX_FRAME];
        let wire = outgoing
            .encode(&mut buf)
            .map_err(|e| GatewayError::Serial(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        self.write(wire)
    }

    fn write(&mut self, wire: &[u8]) -> Result<(), GatewayError> {
        self.port.write_all(wire).map_err(GatewayError::Serial)?;
        self.port.flush().map_err(GatewayError::Serial)?;
        self.stats.bytes_out += wire.len() as u64;
        self.stats.frames_out += 1;
        Ok(())
    }

    /// Reads what has arrived, waiting at most the port's read timeout for
    /// the first byte, and appends every frame completed to `frames`.
    /// Returns how many bytes were read (0 after a quiet timeout).
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] if the port fails (a timeout is not a failure).
    pub fn receive<B: Body>(&mut self, frames: &mut Vec<Frame<B>>) -> Result<usize, GatewayError> {
        let mut received = Vec::new();
        let n = self.receive_signed(&mut received)?;
        frames.extend(received.into_iter().map(|r| r.frame));
        Ok(n)
    }

    /// As [`receive`](Self::receive), keeping each frame's authentication
    /// trailer for the link layer to verify.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serial`] if the port fails (a timeout is not a failure).
    pub fn receive_signed<B: Body>(
        &mut self,
        frames: &mut Vec<Received<B>>,
    ) -> Result<usize, GatewayError> {
        let mut buf = [0u8; 256];
        let n = match self.port.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                0
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(GatewayError::Serial(e)),
        };
        self.stats.bytes_in += n as u64;
        let mut rest = buf.get(..n).unwrap_or_default();
        loop {
            match self.decoder.feed::<B>(rest) {
                Feed::Consumed => break,
                Feed::Frame { frame, remaining } => {
                    self.stats.frames_in += 1;
                    let signed = self
                        .decoder
                        .last_authenticated()
                        .map(|a| (a.covered.to_vec(), a.trailer));
                    frames.push(Received { frame, signed });
                    rest = remaining;
                }
                Feed::Error { remaining, .. } => {
                    self.stats.bad_frames += 1;
                    rest = remaining;
                }
            }
        }
        Ok(n)
    }
}

/// Opens `path` at `baud`, 8N1, no flow control, with reads waiting at most
/// `read_timeout`.
pub(crate) fn open_port(
    path: &str,
    baud: u32,
    read_timeout: Duration,
) -> Result<Box<dyn SerialPort>, GatewayError> {
    serialport::new(path, baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(read_timeout)
        .open()
        .map_err(|source| GatewayError::OpenPort {
            port: path.to_string(),
            source,
        })
}
