//! Kerong lock boards standing in for our nodes, on the gateway's serial
//! port: [`KerongLine`], the library's
//! [`BoardLine`](locker_drivers::kerong::BoardLine) over a real tty.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use locker_drivers::kerong::{BoardLine, BoardModel, BoardNodeConfig};
use locker_proto::auth::{BankKey, NodeAuthRecord, NodeIdentity};
use locker_proto::frame::MAX_FRAME;
use locker_proto::link::Outgoing;
use locker_proto::time::Instant;
use locker_proto::{Command, NodeAddr};
use serialport::SerialPort;

use super::clock::os_seed;
use super::{CounterFile, GatewayConfig, GatewayError, LineStats, MAX_NODES, NodeLine};

/// Events each Kerong node keeps until the gateway acknowledges them.
const NODE_QUEUE: usize = 16;

/// The boards' factory line settings: 19200 baud, 8N1.
pub const KERONG_BAUD: u32 = 19_200;

/// How long a read waits for a board: a status answer takes 5 ms at 19200
/// baud, a USB adapter may hold bytes back up to 16 ms more. Every board
/// exchange also waits this long once for the line to fall quiet.
pub const KERONG_READ_TIMEOUT: Duration = Duration::from_millis(50);

/// The serial port as `embedded_io` sees it, for the board drivers: a read
/// that times out returns 0 bytes, as the drivers expect.
struct TtyPort(Box<dyn SerialPort>);

impl embedded_io::ErrorType for TtyPort {
    type Error = io::Error;
}

impl embedded_io::Read for TtyPort {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match io::Read::read(&mut self.0, buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(0)
            }
            other => other,
        }
    }
}

impl embedded_io::Write for TtyPort {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut self.0, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::Write::flush(&mut self.0)
    }
}

/// The bank's nodes as Kerong boards on one serial port.
///
/// Each node of the layout sits on a board by [`BoardModel`]'s rule: on a
/// KR-CU16 line node `N` is the board with DIP address `N - 1` (nodes 1 to
/// 16, `--channels` up to 16); on a KR-CU48 line nodes `2k + 1` and `2k + 2`
/// are the lower and upper 24 channels of board `k`. Each node is the
/// library's adapter, answering the gateway as our nodes do, signed: its key
/// is derived from the bus key as the gateway derives it, and its receive
/// reservations are stored in `<state file>.kerong-counters`, as node
/// firmware stores them in flash. A board that does not answer becomes a
/// warning for the operator (and, after three exchanges, a node fault alert
/// from the bank).
pub struct KerongLine {
    boards: Box<BoardLine<TtyPort, MAX_NODES, NODE_QUEUE>>,
    floors: CounterFile,
    answers: VecDeque<u8>,
    /// How long a read waits when no answer is waiting.
    idle: Duration,
    stats: LineStats,
}

impl std::fmt::Debug for KerongLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerongLine")
            .field("line", &self.boards.stats())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl KerongLine {
    /// Opens `path` at `baud` (the boards' factory setting is
    /// [`KERONG_BAUD`]), 8N1, with reads waiting [`KERONG_READ_TIMEOUT`],
    /// and puts `config`'s nodes on it as `model` boards.
    ///
    /// # Errors
    ///
    /// [`GatewayError::OpenPort`], and as [`KerongLine::new`].
    pub fn open(
        path: &str,
        baud: u32,
        model: BoardModel,
        config: &GatewayConfig,
    ) -> Result<Self, GatewayError> {
        let port = super::serial::open_port(path, baud, KERONG_READ_TIMEOUT)?;
        Self::new(port, model, config)
    }

    /// `config`'s nodes as `model` boards on an open `port`, whose read
    /// timeout bounds every board exchange.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Nodes`] for a node the model puts on no board, too
    /// many channels for it, or no bus key in `config` (the adapters sign
    /// as our nodes do); [`GatewayError::CorruptCounters`] and file errors
    /// of the stored reservations.
    pub fn new(
        port: Box<dyn SerialPort>,
        model: BoardModel,
        config: &GatewayConfig,
    ) -> Result<Self, GatewayError> {
        let bus_key = config.bus_key.as_ref().ok_or_else(|| {
            GatewayError::Nodes("Kerong boards need a bus key to sign their answers".into())
        })?;
        let idle = port.timeout().min(Duration::from_millis(5));
        let floors = CounterFile::open_named(&config.state_path, ".kerong-counters")?;
        let mut boards = Box::new(BoardLine::new(TtyPort(port), BoardNodeConfig::default()));
        let now = Instant::ZERO;
        for &node in &config.nodes {
            let on = model
                .channels_of(node, config.channels)
                .map_err(|e| GatewayError::Nodes(e.to_string()))?;
            boards
                .add_node(node, on, now)
                .map_err(|e| GatewayError::Nodes(e.to_string()))?;
            let record = NodeAuthRecord {
                key: Some(bus_key.node_key(NodeIdentity::at(node))),
                rx_floor: floors.stored(node),
            };
            boards
                .restore_auth(node, record)
                .map_err(|e| GatewayError::Nodes(e.to_string()))?;
        }
        let mut line = KerongLine {
            boards,
            floors,
            answers: VecDeque::new(),
            idle,
            stats: LineStats::default(),
        };
        line.store_reservations()?;
        Ok(line)
    }

    /// Stores every receive reservation an adapter asks for, durably,
    /// before it may accept counters past it.
    fn store_reservations(&mut self) -> Result<(), GatewayError> {
        while let Some((node, record)) = self.boards.poll_persist() {
            self.floors.store(node, record.rx_floor)?;
            self.boards.persisted(node, &record);
        }
        Ok(())
    }

    /// What the line has seen of the gateway's frames and the boards.
    pub fn board_stats(&self) -> locker_drivers::kerong::BoardLineStats {
        self.boards.stats()
    }

    /// The adapter standing for `node`, for its board statistics.
    pub fn node(&self, node: NodeAddr) -> Option<&locker_drivers::kerong::BoardNode<NODE_QUEUE>> {
        self.boards.node(node)
    }
}

impl NodeLine for KerongLine {
    fn send(&mut self, frame: &Outgoing<Command>, now: Instant) -> Result<(), GatewayError> {
        let mut buf = [0u8; MAX_FRAME];
        let wire = frame
            .encode(&mut buf)
            .map_err(|e| GatewayError::Serial(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        self.stats.frames_out += 1;
        self.stats.bytes_out += wire.len() as u64;
        self.boards.handle_transmit(wire, now);
        self.store_reservations()?;
        while let Some(answer) = self.boards.poll_answer() {
            self.answers.extend(answer.bytes());
        }
        Ok(())
    }

    fn read<'b>(&mut self, buf: &'b mut [u8]) -> Result<&'b [u8], GatewayError> {
        if self.answers.is_empty() {
            // The boards speak only when asked: pace the loop as a quiet
            // port would.
            std::thread::sleep(self.idle);
        }
        let n = buf.len().min(self.answers.len());
        for (slot, byte) in buf.iter_mut().zip(self.answers.drain(..n)) {
            *slot = byte;
        }
        self.stats.bytes_in += n as u64;
        Ok(buf.get(..n).unwrap_or_default())
    }

    fn discard_pending_input(&mut self) -> Result<(), GatewayError> {
        self.answers.clear();
        Ok(())
    }

    fn stats(&self) -> LineStats {
        self.stats
    }

    fn poll_warning(&mut self) -> Option<String> {
        let trouble = self.boards.poll_trouble()?;
        Some(format!(
            "the Kerong board of {} failed an exchange: {}",
            trouble.node, trouble.error
        ))
    }
}

/// A bus key for this run only, from the operating system's randomness:
/// for Kerong boards the signed hop never leaves the gateway process (the
/// vendor's frames carry no authentication), so no node needs provisioning.
///
/// # Errors
///
/// A file error reading `/dev/urandom`.
pub fn run_bus_key() -> Result<BankKey, GatewayError> {
    Ok(BankKey::from_bytes(os_seed()?))
}
