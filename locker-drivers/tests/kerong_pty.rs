//! A simulated Kerong board at the far end of a pseudo-terminal: the
//! driver and the adapter talk to it through a real tty, with real read
//! timeouts, as the gateway talks to a USB RS-485 adapter.

#![cfg(unix)]
// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration as StdDuration;

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use locker_drivers::kerong::{BoardNode, BoardNodeConfig, Cu16, Cu16Address, LockBoard};
use locker_drivers::sim::SimCu16;
use locker_proto::frame::{Flags, Frame, Header, Seq};
use locker_proto::{Channel, ChannelBits, Command, Event, Instant, NodeAddr, Report, ResetReason};
use serialport::{SerialPort, TTYPort};

/// The gateway's end of the line, read as the Kerong driver expects: a
/// read that times out returns 0 bytes.
struct Tty(TTYPort);

impl ErrorType for Tty {
    type Error = ErrorKind;
}

impl Read for Tty {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        match io::Read::read(&mut self.0, buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(0),
            Err(_) => Err(ErrorKind::Other),
        }
    }
}

impl Write for Tty {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        io::Write::write(&mut self.0, buf).map_err(|_| ErrorKind::Other)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        io::Write::flush(&mut self.0).map_err(|_| ErrorKind::Other)
    }
}

/// Runs `board` behind the far end of a pseudo-terminal until dropped.
struct FarEnd {
    stop: Arc<AtomicBool>,
    worker: Option<thread::JoinHandle<()>>,
}

impl FarEnd {
    fn start(mut tty: TTYPort, board: Arc<Mutex<SimCu16>>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::clone(&stop);
        tty.set_timeout(StdDuration::from_millis(2)).unwrap();
        let worker = thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !running.load(Ordering::Relaxed) {
                let n = match io::Read::read(&mut tty, &mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                    Err(_) => return,
                };
                let mut answer = [0u8; 64];
                let m = board.lock().unwrap().hear(&buf[..n], &mut answer);
                io::Write::write_all(&mut tty, &answer[..m]).unwrap();
            }
        });
        FarEnd {
            stop,
            worker: Some(worker),
        }
    }
}

impl Drop for FarEnd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn request(seq: u8, body: Command) -> Frame<Command> {
    Frame {
        header: Header::new(NodeAddr::GATEWAY, NodeAddr(3), Seq(seq), Flags::ACK_WANTED),
        body,
    }
}

#[test]
fn a_kerong_bank_runs_across_a_pseudo_terminal() {
    let address = Cu16Address::new(1).unwrap();
    let board = Arc::new(Mutex::new(SimCu16::cu16(address, Instant::ZERO)));
    let (gateway_end, board_end) = TTYPort::pair().unwrap();
    let _far = FarEnd::start(board_end, Arc::clone(&board));
    let mut port = Tty(gateway_end);
    // Generous, so a loaded machine does not turn a slow answer into a lost one.
    port.0.set_timeout(StdDuration::from_millis(100)).unwrap();

    // The driver alone: the status of every channel crosses the tty.
    let status = Cu16::new(&mut port, address).status().unwrap();
    assert_eq!(status.bulk_status().locked, ChannelBits(0xFFFF));

    // The adapter: a door pried open is reported forced at the next poll.
    let mut node = BoardNode::<8>::new(
        NodeAddr(3),
        ResetReason::PowerOn,
        BoardNodeConfig::default(),
        Instant::ZERO,
    );
    node.handle_frame(
        &request(1, Command::GetAllStatus),
        &mut Cu16::new(&mut port, address),
        Instant::from_millis(10),
    )
    .unwrap();
    assert!(matches!(
        node.poll_transmit().map(|f| f.body),
        Some(Report::BulkStatus(_))
    ));
    board
        .lock()
        .unwrap()
        .compartment_mut(Channel(6))
        .unwrap()
        .force_door();
    node.handle_frame(
        &request(2, Command::PollEvents),
        &mut Cu16::new(&mut port, address),
        Instant::from_millis(260),
    )
    .unwrap();
    let Some(Report::Events { events, .. }) = node.poll_transmit().map(|f| f.body) else {
        panic!("no events report")
    };
    let events: Vec<_> = events.iter().map(|r| r.event).collect();
    assert!(events.contains(&Event::DoorOpened {
        channel: Channel(6),
        commanded: false
    }));
}
