//! Kerong KR-CU16 and KR-CU48 boards (`locker_drivers::kerong`) on a
//! scripted serial port: arbitrary bytes in arbitrary chunks, quiet reads,
//! timeouts, port errors and stalled writes, mixed with well-formed status
//! answers the harness encodes from arbitrary lock and IR bits; then a
//! `BoardLine` (the adapter that stands a board in for one of our nodes) fed
//! arbitrary command frames and raw bytes as the gateway's transmissions,
//! with the same kind of port behind it, and frames signed with each node's
//! key.
//!
//! Invariants: no panic; every request the driver writes is a well-formed
//! Kerong frame (STX, the board's address, a known command, ETX, checksum),
//! and an unlock names the channel asked for; a status is returned only when
//! the bytes read after the request are one well-formed answer of that board
//! (checksum, address, answer code) and it equals the bits they carry
//! (decode of the vendor's frame agrees with the harness's encoding); a
//! well-formed answer after a quiet line always decodes; a channel the board
//! lacks is refused without a byte written. Every answer the `BoardLine`
//! hands back decodes as a report frame from the node it names, and no
//! board unlock is written but for a frame signed with the node's key.
#![no_main]

use std::collections::VecDeque;

use arbitrary::Arbitrary;
use embedded_io::{ErrorKind, ErrorType, Read, Write};
use libfuzzer_sys::fuzz_target;
use locker_drivers::kerong::{
    BoardAddress, BoardChannels, BoardLine, BoardNodeConfig, BoardStatus, Cu16, Cu16Address,
    Cu16StatusRequest, Cu48, KerongError, LockBitPolarity, LockBoard,
};
use locker_proto::auth::{Direction, NodeAuthRecord, trailer};
use locker_proto::frame::{Decoder, Feed, Frame, MAX_FRAME, encode, encode_authenticated};
use locker_proto::{Channel, Command, Instant, NodeAddr, NodeKey, Report};

const STX: u8 = 0x02;
const ETX: u8 = 0x03;

#[derive(Arbitrary, Debug, Clone)]
enum Step {
    Bytes(Vec<u8>),
    /// A read of zero bytes: the line is quiet (or the read timed out).
    Quiet,
    TimedOut,
    Fail,
}

#[derive(Default)]
struct Port {
    script: VecDeque<Step>,
    /// Bytes accepted per write call (0: the port stalls).
    write_chunk: usize,
    written: Vec<u8>,
    /// Bytes read since the last write.
    read_since_write: Vec<u8>,
}

impl ErrorType for Port {
    type Error = ErrorKind;
}

impl Read for Port {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        match self.script.pop_front() {
            None | Some(Step::Quiet) => Ok(0),
            Some(Step::TimedOut) => Err(ErrorKind::TimedOut),
            Some(Step::Fail) => Err(ErrorKind::Other),
            Some(Step::Bytes(bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.script.push_front(Step::Bytes(bytes[n..].to_vec()));
                }
                self.read_since_write.extend_from_slice(&bytes[..n]);
                Ok(n)
            }
        }
    }
}

impl Write for Port {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let n = buf.len().min(self.write_chunk);
        self.written.extend_from_slice(&buf[..n]);
        self.read_since_write.clear();
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

#[derive(Arbitrary, Debug)]
enum BoardOp {
    /// Steps appended to the port's script.
    Line(Vec<Step>),
    /// A quiet line, then a well-formed status answer in chunks, then a
    /// status request.
    CleanStatus {
        locks: u64,
        items: u64,
        chunk: u8,
    },
    Status,
    Unlock(u8),
    IrBlocked {
        channel: u8,
        blocked: bool,
    },
    WriteChunk(u8),
}

#[derive(Arbitrary, Debug)]
struct BoardScript {
    cu48: bool,
    address: u8,
    inverted: bool,
    query_all: bool,
    ops: Vec<BoardOp>,
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

/// The board's model, as the harness knows it.
struct Model {
    cu48: bool,
    address: u8,
    /// The status request's command and answer codes.
    codes: (u8, u8),
}

impl Model {
    fn channels(&self) -> u8 {
        if self.cu48 { 48 } else { 16 }
    }

    /// The header of a status answer (after STX), as the harness encodes it.
    fn answer_header(&self) -> Vec<u8> {
        if self.cu48 {
            vec![self.address, 0x00, 0x75]
        } else {
            vec![self.address << 4, self.codes.1]
        }
    }

    fn bits_len(&self) -> usize {
        if self.cu48 { 6 } else { 2 }
    }

    fn answer(&self, locks: u64, items: u64) -> Vec<u8> {
        let n = self.bits_len();
        let mut f = vec![STX];
        f.extend(self.answer_header());
        f.extend_from_slice(&locks.to_le_bytes()[..n]);
        f.extend_from_slice(&items.to_le_bytes()[..n]);
        f.push(ETX);
        f.push(checksum(&f));
        f
    }

    /// The bits a well-formed answer carries, or `None` if `f` is not one.
    fn parse(&self, f: &[u8]) -> Option<(u64, u64)> {
        let header = self.answer_header();
        let n = self.bits_len();
        let len = 1 + header.len() + 2 * n + 2;
        if f.len() != len
            || f[0] != STX
            || f[len - 2] != ETX
            || checksum(&f[..len - 1]) != f[len - 1]
        {
            return None;
        }
        if f[1..1 + header.len()] != header[..] {
            return None;
        }
        let bits = |at: usize| {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&f[at..at + n]);
            u64::from_le_bytes(b)
        };
        Some((bits(1 + header.len()), bits(1 + header.len() + n)))
    }

    fn status_request(&self) -> Vec<u8> {
        if self.cu48 {
            vec![STX, self.address, 0x00, 0x60, ETX]
        } else {
            vec![STX, self.address << 4, self.codes.0, ETX]
        }
    }

    fn unlock_request(&self, channel: u8) -> Vec<u8> {
        if self.cu48 {
            vec![STX, self.address, channel, 0x61, ETX]
        } else {
            vec![STX, (self.address << 4) | channel, 0x31, ETX]
        }
    }
}

fn with_sum(mut body: Vec<u8>) -> Vec<u8> {
    body.push(checksum(&body));
    body
}

fn boards(script: BoardScript) {
    let polarity = if script.inverted {
        LockBitPolarity::SetMeansUnlocked
    } else {
        LockBitPolarity::SetMeansLocked
    };
    let request = if script.query_all {
        Cu16StatusRequest::QueryAll
    } else {
        Cu16StatusRequest::Status
    };
    let mut port = Port {
        write_chunk: 64,
        ..Port::default()
    };
    let model = Model {
        cu48: script.cu48,
        address: if script.cu48 {
            script.address
        } else {
            script.address % 16
        },
        codes: if script.query_all {
            (0x32, 0x36)
        } else {
            (0x30, 0x35)
        },
    };
    let mut blocked = 0u64;
    for op in script.ops.into_iter().take(64) {
        match op {
            BoardOp::Line(steps) => {
                port.script.extend(steps.into_iter().take(32));
                continue;
            }
            BoardOp::WriteChunk(n) => {
                port.write_chunk = usize::from(n % 8);
                continue;
            }
            BoardOp::IrBlocked {
                channel,
                blocked: b,
            } => {
                let mut board = board_on(&model, &mut port, polarity, request, blocked);
                board.set_ir_blocked_when_empty(Channel(channel), b);
                assert_eq!(
                    board.ir_blocked_when_empty(Channel(channel)),
                    b && channel < model.channels()
                );
                if channel < model.channels() {
                    blocked = (blocked & !(1 << channel)) | (u64::from(b) << channel);
                }
                continue;
            }
            BoardOp::Unlock(channel) => {
                let before = port.written.len();
                let result = board_on(&model, &mut port, polarity, request, blocked)
                    .unlock(Channel(channel));
                let sent = &port.written[before..];
                if channel >= model.channels() {
                    assert!(
                        matches!(result, Err(KerongError::NoSuchChannel { .. })),
                        "unlock of channel {channel} on a board without it: {result:?}"
                    );
                    assert!(
                        sent.is_empty(),
                        "bytes written for a channel the board lacks"
                    );
                } else {
                    let want = with_sum(model.unlock_request(channel));
                    if result.is_ok() {
                        assert_eq!(sent, &want[..], "unlock request malformed");
                    } else {
                        assert!(want.starts_with(sent), "partial unlock request malformed");
                    }
                }
                continue;
            }
            BoardOp::CleanStatus {
                locks,
                items,
                chunk,
            } => {
                let answer = model.answer(locks, items);
                let chunk = usize::from(chunk).max(1);
                port.script.clear();
                port.script.push_back(Step::Quiet);
                for piece in answer.chunks(chunk) {
                    port.script.push_back(Step::Bytes(piece.to_vec()));
                }
                port.write_chunk = port.write_chunk.max(1);
                let before = port.written.len();
                let status = status_of(&model, &mut port, polarity, request, blocked);
                let sent = &port.written[before..];
                assert_eq!(sent, &with_sum(model.status_request())[..]);
                let want =
                    BoardStatus::from_bits(model.channels(), locks, items & !blocked, polarity);
                assert_eq!(status, Ok(want), "a well-formed answer was not decoded");
                continue;
            }
            BoardOp::Status => {}
        }
        let before = port.written.len();
        let status = status_of(&model, &mut port, polarity, request, blocked);
        let sent = port.written[before..].to_vec();
        let want = with_sum(model.status_request());
        if let Ok(status) = status {
            assert_eq!(sent, want, "status request malformed");
            let read = &port.read_since_write;
            let Some((locks, items)) = model.parse(read) else {
                panic!("a status accepted from bytes that are no answer: {read:02x?}");
            };
            let want = BoardStatus::from_bits(model.channels(), locks, items & !blocked, polarity);
            assert_eq!(status, want, "status does not carry the answer's bits");
        } else {
            assert!(want.starts_with(&sent), "partial status request malformed");
        }
    }
}

/// The board of `model` on `port`, for one exchange (the adapter builds
/// it the same way, per frame).
fn board_on<'p>(
    model: &Model,
    port: &'p mut Port,
    polarity: LockBitPolarity,
    request: Cu16StatusRequest,
    blocked: u64,
) -> Box<dyn LockBoard<SerialError = ErrorKind> + 'p> {
    let mut board: Box<dyn LockBoard<SerialError = ErrorKind> + 'p> = if model.cu48 {
        Box::new(Cu48::new(port, model.address).with_polarity(polarity))
    } else {
        let address = Cu16Address::new(model.address).expect("a CU16 address below 16");
        Box::new(
            Cu16::new(port, address)
                .with_polarity(polarity)
                .with_status_request(request),
        )
    };
    for c in 0..model.channels() {
        board.set_ir_blocked_when_empty(Channel(c), blocked & (1 << c) != 0);
    }
    board
}

fn status_of(
    model: &Model,
    port: &mut Port,
    polarity: LockBitPolarity,
    request: Cu16StatusRequest,
    blocked: u64,
) -> Result<BoardStatus, KerongError<ErrorKind>> {
    board_on(model, port, polarity, request, blocked).status()
}

#[derive(Arbitrary, Debug)]
enum LineOp {
    /// A command frame the gateway transmits, in chunks, unsigned.
    Frame {
        frame: Frame<Command>,
        chunk: u8,
    },
    /// A command frame to one of the line's nodes, signed with its key.
    Signed {
        node: u8,
        frame: Frame<Command>,
        counter: u16,
        chunk: u8,
    },
    /// Raw bytes the gateway transmits.
    Raw(Vec<u8>),
    /// Steps appended to the board port's script.
    Port(Vec<Step>),
    /// A well-formed CU16 status answer from board 0 on the port.
    Answer {
        locks: u16,
        items: u16,
    },
    Wait(u16),
}

fn line(ops: Vec<LineOp>) {
    let port = Port {
        write_chunk: 64,
        ..Port::default()
    };
    let mut line: BoardLine<Port, 4, 8> = BoardLine::new(port, BoardNodeConfig::default());
    let nodes = [NodeAddr(20), NodeAddr(21), NodeAddr(22)];
    let seats = [
        BoardChannels {
            board: BoardAddress::Cu16(Cu16Address::new(0).expect("0 < 16")),
            first: Channel(0),
            count: 16,
        },
        BoardChannels {
            board: BoardAddress::Cu48(1),
            first: Channel(0),
            count: 24,
        },
        BoardChannels {
            board: BoardAddress::Cu48(1),
            first: Channel(24),
            count: 24,
        },
    ];
    let mut now = Instant::from_secs(1);
    for (node, on) in nodes.iter().zip(seats) {
        line.add_node(*node, on, now).expect("a valid seat");
        let record = NodeAuthRecord {
            key: Some(key_of(*node)),
            rx_floor: 0,
        };
        line.restore_auth(*node, record)
            .expect("a node of the line");
    }
    while let Some((node, record)) = line.poll_persist() {
        line.persisted(node, &record);
    }
    let cu16 = Model {
        cu48: false,
        address: 0,
        codes: (0x30, 0x35),
    };
    let mut wire = [0u8; MAX_FRAME];
    for op in ops.into_iter().take(64) {
        let written = line.port_mut().written.len();
        let mut signed = false;
        match op {
            LineOp::Frame { frame, chunk } => {
                if let Ok(bytes) = encode(&frame, &mut wire) {
                    for piece in bytes.chunks(usize::from(chunk).max(1)) {
                        line.handle_transmit(piece, now);
                    }
                }
            }
            LineOp::Signed {
                node,
                mut frame,
                counter,
                chunk,
            } => {
                let node = nodes[usize::from(node) % nodes.len()];
                frame.header.src = NodeAddr::GATEWAY;
                frame.header.dst = node;
                let key = key_of(node);
                let sign = |c: &[u8]| trailer(&key, c, u64::from(counter), Direction::ToNode);
                if let Ok(bytes) = encode_authenticated(&frame, &mut wire, sign) {
                    signed = true;
                    for piece in bytes.chunks(usize::from(chunk).max(1)) {
                        line.handle_transmit(piece, now);
                    }
                }
            }
            LineOp::Raw(bytes) => line.handle_transmit(&bytes, now),
            LineOp::Port(steps) => line.port_mut().script.extend(steps.into_iter().take(32)),
            LineOp::Answer { locks, items } => {
                let answer = cu16.answer(u64::from(locks), u64::from(items));
                line.port_mut().script.push_back(Step::Quiet);
                line.port_mut().script.push_back(Step::Bytes(answer));
            }
            LineOp::Wait(ms) => now += locker_proto::Duration::from_millis(u64::from(ms)),
        }
        while let Some(answer) = line.poll_answer() {
            let mut decoder = Decoder::new();
            match decoder.feed::<Report>(answer.bytes()) {
                Feed::Frame { frame, remaining } => {
                    assert!(remaining.is_empty(), "an answer with trailing bytes");
                    assert_eq!(
                        frame.header.src,
                        answer.node(),
                        "an answer from another node"
                    );
                }
                other => panic!("an answer that does not decode: {other:?}"),
            }
        }
        while line.poll_trouble().is_some() {}
        while let Some((node, record)) = line.poll_persist() {
            line.persisted(node, &record);
        }
        if !signed {
            let sent = &line.port_mut().written[written..];
            assert!(
                !has_unlock(sent),
                "a board unlock without a signed frame: {sent:02x?}"
            );
        }
    }
}

fn key_of(node: NodeAddr) -> NodeKey {
    NodeKey::from_bytes([node.0; 32])
}

/// Whether `bytes` (what the adapter wrote to the boards) hold an unlock
/// request for the line's CU16 (board 0) or CU48 (address 1).
fn has_unlock(bytes: &[u8]) -> bool {
    let cu16 = bytes
        .windows(5)
        .any(|w| w[0] == STX && w[1] >> 4 == 0 && w[2] == 0x31 && w[3] == ETX);
    let cu48 = bytes
        .windows(6)
        .any(|w| w[0] == STX && w[1] == 1 && w[3] == 0x61 && w[4] == ETX);
    cu16 || cu48
}

#[derive(Arbitrary, Debug)]
enum Input {
    Boards(BoardScript),
    Line(Vec<LineOp>),
}

fuzz_target!(|input: Input| match input {
    Input::Boards(script) => boards(script),
    Input::Line(ops) => line(ops),
});
