//! The Kerong boards over `embedded-io-async`: the blocking drivers' exact
//! frames in both directions, awaited, and the read timeout an async UART
//! gets from `ReadTimeout`.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::poll_fn;
use std::task::Poll;

use common::{ScriptedSerial, Step, expect, reply, reply_bytewise, silence, status_frame, sum};
use embassy_futures::block_on;
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as DelayTx};
use embedded_io::ErrorKind;
use locker_drivers::kerong::asynch::{LockBoard, ReadTimeout};
use locker_drivers::kerong::{Cu16, Cu16Address, Cu16StatusRequest, Cu48, KerongError};
use locker_proto::time::Duration;
use locker_proto::{Channel, ChannelBits, LockState};

const QUERY_BOARD_0: [u8; 5] = [0x02, 0x00, 0x30, 0x03, 0x35];
const UNLOCK_LOCK_1: [u8; 5] = [0x02, 0x01, 0x31, 0x03, 0x37];
const CU48_QUERY_BOARD_0: [u8; 6] = [0x02, 0x00, 0x00, 0x60, 0x03, 0x65];

/// Captured from a CU48: cell 14 latched.
const CU48_CELL_14: [u8; 18] = [
    0x02, 0x00, 0x00, 0x75, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x9a,
];

fn board(script: &[Step]) -> Cu16<ScriptedSerial> {
    Cu16::new(ScriptedSerial::new(script), Cu16Address::new(0).unwrap())
}

#[test]
fn an_async_gateway_reads_board_0_and_releases_lock_1_with_the_documented_frames() {
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x00, 0x8003, 0x0002)),
        expect(&UNLOCK_LOCK_1),
    ]);
    let status = block_on(async {
        let status = cu16.status().await.unwrap();
        cu16.unlock(Channel(1)).await.unwrap();
        status
    });
    let bulk = status.bulk_status();
    assert_eq!(bulk.locked, ChannelBits(0x8003));
    assert_eq!(bulk.occupied, ChannelBits(0x0002));
    assert_eq!(status.lock(Channel(15)), Some(LockState::Locked));
    cu16.release().done();
}

#[test]
fn an_async_unlock_of_a_channel_the_board_lacks_sends_nothing() {
    let mut cu16 = board(&[]);
    assert_eq!(
        block_on(cu16.unlock(Channel(16))),
        Err(KerongError::NoSuchChannel {
            channel: 16,
            last: 15
        })
    );
    cu16.release().done();
}

#[test]
fn an_async_answer_arriving_byte_by_byte_is_reassembled() {
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        reply_bytewise(&status_frame(0x00, 0xFFFF, 0)),
    ]);
    let status = block_on(cu16.status()).unwrap();
    assert_eq!(status.bulk_status().locked, ChannelBits(0xFFFF));
    cu16.release().done();
}

#[test]
fn an_async_answer_cut_short_by_the_timeout_is_truncated() {
    let full = status_frame(0x00, 0, 0);
    let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&full[..5])]);
    assert_eq!(
        block_on(cu16.status()),
        Err(KerongError::Truncated {
            expected: 9,
            received: 5
        })
    );
    cu16.release().done();
}

#[test]
fn an_async_flipped_bit_is_a_bad_checksum_and_board_1_a_wrong_address() {
    let mut flipped = status_frame(0x00, 0x0001, 0);
    flipped[3] ^= 0x04;
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        reply(&flipped),
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x10, 0, 0)),
    ]);
    block_on(async {
        assert_eq!(
            cu16.status().await,
            Err(KerongError::BadChecksum {
                computed: 0x3F,
                received: 0x3B
            })
        );
        assert_eq!(
            cu16.status().await,
            Err(KerongError::WrongAddress {
                expected: 0x00,
                received: 0x10
            })
        );
    });
    cu16.release().done();
}

#[test]
fn an_async_late_answer_is_discarded_and_the_fresh_request_reads_the_fresh_answer() {
    let stale = status_frame(0x00, 0xFFFF, 0x0000);
    let fresh = status_frame(0x00, 0xFFFE, 0x0001);
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        silence(),
        reply(&stale),
        expect(&QUERY_BOARD_0),
        reply(&fresh),
    ]);
    block_on(async {
        assert_eq!(
            cu16.status().await,
            Err(KerongError::Truncated {
                expected: 9,
                received: 0
            })
        );
        let bulk = cu16.status().await.unwrap().bulk_status();
        assert_eq!(bulk.locked, ChannelBits(0xFFFE));
        assert_eq!(bulk.occupied, ChannelBits(0x0001));
    });
    cu16.release().done();
}

#[test]
fn an_async_line_that_never_falls_quiet_sends_nothing() {
    let mut cu16 = board(&[reply_bytewise(&[0x55u8; 80])]);
    assert_eq!(
        block_on(cu16.status()),
        Err(KerongError::LineBusy { discarded: 65 })
    );
    assert!(matches!(
        cu16.release().next_step(),
        Some(Step::Reply { .. })
    ));
}

#[test]
fn an_async_serial_error_while_clearing_the_line_is_carried_unchanged() {
    let mut cu16 = board(&[Step::Fail(ErrorKind::BrokenPipe)]);
    assert_eq!(
        block_on(cu16.status()),
        Err(KerongError::Serial(ErrorKind::BrokenPipe))
    );
    cu16.release().done();
}

#[test]
fn an_async_query_all_sends_0x32_and_reads_the_0x36_answer() {
    let mut answer = vec![0x02, 0x00, 0x36, 0x01, 0x00, 0x00, 0x00, 0x03];
    answer.push(sum(&answer));
    let mut cu16 = Cu16::new(
        ScriptedSerial::new(&[expect(&[0x02, 0x00, 0x32, 0x03, 0x37]), reply(&answer)]),
        Cu16Address::new(0).unwrap(),
    )
    .with_status_request(Cu16StatusRequest::QueryAll);
    let status = block_on(cu16.status()).unwrap();
    assert_eq!(status.bulk_status().locked, ChannelBits(1));
    cu16.release().done();
}

#[test]
fn an_async_ir_sensor_blocked_while_empty_is_masked_out_of_the_status() {
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x00, 0xFFFF, 0x0004)),
    ]);
    cu16.set_ir_blocked_when_empty(Channel(2), true);
    assert!(LockBoard::ir_blocked_when_empty(&cu16, Channel(2)));
    let status = block_on(cu16.status()).unwrap();
    assert_eq!(status.bulk_status().occupied, ChannelBits(0));
    cu16.release().done();
}

#[test]
fn an_async_cu48_reads_the_captured_cell_14_and_unlocks_cell_two() {
    let mut cu48 = Cu48::new(
        ScriptedSerial::new(&[
            expect(&CU48_QUERY_BOARD_0),
            reply_bytewise(&CU48_CELL_14),
            expect(&[0x02, 0x00, 0x01, 0x61, 0x03, 0x67]),
        ]),
        0x00,
    );
    block_on(async {
        let status = cu48.status().await.unwrap();
        assert_eq!(status.bulk_status().locked, ChannelBits(1 << 13));
        cu48.unlock(Channel(1)).await.unwrap();
        assert_eq!(
            cu48.unlock(Channel(48)).await,
            Err(KerongError::NoSuchChannel {
                channel: 48,
                last: 47
            })
        );
    });
    assert_eq!(cu48.channel_count(), 48);
    cu48.release().done();
}

/// An async UART as embassy's are: a read waits for the first byte for
/// ever. The board answers a status request once it is written, if it is
/// powered.
struct Uart {
    powered: bool,
    sent: Vec<u8>,
    rx: VecDeque<u8>,
}

impl Uart {
    fn new(powered: bool) -> Self {
        Uart {
            powered,
            sent: Vec::new(),
            rx: VecDeque::new(),
        }
    }
}

impl embedded_io_async::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io_async::Read for Uart {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        poll_fn(|_| {
            if self.rx.is_empty() {
                // Nothing will wake it: only the timeout ends this read.
                return Poll::Pending;
            }
            let n = buf.len().min(self.rx.len());
            for (slot, byte) in buf.iter_mut().zip(self.rx.drain(..n)) {
                *slot = byte;
            }
            Poll::Ready(Ok(n))
        })
        .await
    }
}

impl embedded_io_async::Write for Uart {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.sent.extend_from_slice(buf);
        if self.powered && self.sent.ends_with(&QUERY_BOARD_0) {
            self.rx.extend(status_frame(0x00, 0x0001, 0));
        }
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

#[test]
fn on_an_async_uart_the_read_timeout_finds_the_line_quiet_then_the_answer_comes() {
    // One timeout of 20 ms while clearing the quiet line; the answer is
    // waiting when the driver reads it, so no second timer even starts.
    let delay = CheckedDelay::new(&[DelayTx::async_delay_ms(20)]);
    let port = ReadTimeout::new(Uart::new(true), delay, Duration::from_millis(20));
    let mut cu16 = Cu16::new(port, Cu16Address::new(0).unwrap());
    let status = block_on(cu16.status()).unwrap();
    assert_eq!(status.bulk_status().locked, ChannelBits(1));
    let (uart, mut delay) = cu16.release().release();
    assert_eq!(uart.sent, QUERY_BOARD_0);
    delay.done();
}

#[test]
fn on_an_async_uart_an_unpowered_board_times_out_as_truncated_at_zero_bytes() {
    let port = ReadTimeout::new(
        Uart::new(false),
        NoopDelay::new(),
        Duration::from_millis(50),
    );
    let mut cu16 = Cu16::new(port, Cu16Address::new(0).unwrap());
    assert_eq!(
        block_on(cu16.status()),
        Err(KerongError::Truncated {
            expected: 9,
            received: 0
        })
    );
    assert_eq!(cu16.release().release().0.sent, QUERY_BOARD_0);
}

// ---- The adapter, standing where one of our nodes stands ----

mod adapter {
    use super::*;
    use locker_drivers::kerong::{BoardNode, BoardNodeConfig};
    use locker_proto::frame::{Flags, Frame, Header, Seq};
    use locker_proto::{Command, Event, Instant, NackReason, NodeAddr, Report, ResetReason};

    const NODE: NodeAddr = NodeAddr(7);

    fn from_gateway(seq: u8, body: Command) -> Frame<Command> {
        Frame {
            header: Header::new(NodeAddr::GATEWAY, NODE, Seq(seq), Flags::ACK_WANTED),
            body,
        }
    }

    fn node() -> BoardNode<8> {
        BoardNode::new(
            NODE,
            ResetReason::PowerOn,
            BoardNodeConfig::default(),
            Instant::ZERO,
        )
    }

    #[test]
    fn an_async_adapter_answers_the_status_poll_then_reports_a_pried_door_as_forced() {
        let mut cu16 = board(&[
            expect(&QUERY_BOARD_0),
            reply(&status_frame(0x00, 0xFFFF, 0)),
            expect(&QUERY_BOARD_0),
            reply(&status_frame(0x00, 0xFFEF, 0)), // lock 4 released: door 4 pried open
        ]);
        let mut node = node();
        block_on(async {
            let ask = from_gateway(1, Command::GetAllStatus);
            let at = Instant::from_millis(10);
            node.handle_received_async(&ask, None, &mut cu16, at)
                .await
                .unwrap();
            let Report::BulkStatus(bulk) = node.poll_transmit().unwrap().body else {
                panic!("a bulk status was due");
            };
            assert_eq!(bulk.locked, ChannelBits(0xFFFF));

            let poll = from_gateway(2, Command::PollEvents);
            let at = Instant::from_millis(260);
            node.handle_received_async(&poll, None, &mut cu16, at)
                .await
                .unwrap();
        });
        let Report::Events { events, .. } = node.poll_transmit().unwrap().body else {
            panic!("an events report was due");
        };
        assert!(matches!(events[0].event, Event::NodeStarted { .. }));
        assert_eq!(
            events[1].event,
            Event::DoorOpened {
                channel: Channel(4),
                commanded: false
            }
        );
        cu16.release().done();
    }

    #[test]
    fn an_async_adapter_whose_board_is_silent_answers_faulted_after_one_retry() {
        let mut cu16 = board(&[expect(&QUERY_BOARD_0), expect(&QUERY_BOARD_0)]);
        let mut node = node();
        let ask = from_gateway(1, Command::GetAllStatus);
        let outcome =
            block_on(node.handle_received_async(&ask, None, &mut cu16, Instant::from_millis(10)));
        assert_eq!(
            outcome,
            Err(KerongError::Truncated {
                expected: 9,
                received: 0
            })
        );
        assert_eq!(
            node.poll_transmit().unwrap().body,
            Report::Nack(NackReason::Faulted)
        );
        let stats = node.stats();
        assert_eq!((stats.status_requests, stats.unanswered), (2, 2));
        cu16.release().done();
    }
}

// ---- A line of boards ----

mod line {
    use super::*;
    use locker_drivers::kerong::{BoardLine, BoardModel, BoardNodeConfig};
    use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
    use locker_proto::link::{Master, MasterConfig, MasterEvent};
    use locker_proto::{Command, Instant, NodeAddr, Report};

    #[test]
    fn an_async_line_asks_board_1_for_node_2_and_the_gateway_gets_its_bulk_status() {
        // Node 2 is the CU16 at DIP address 1: its frames carry 0x10.
        let query_board_1 = [0x02, 0x10, 0x30, 0x03, 0x45];
        let port = ScriptedSerial::new(&[
            expect(&query_board_1),
            reply(&status_frame(0x10, 0x00FF, 0x0100)),
        ]);
        let mut line = BoardLine::<_, 4, 8>::new(port, BoardNodeConfig::default());
        let mut master = Master::<4>::new(MasterConfig::default());
        for node in [NodeAddr(1), NodeAddr(2)] {
            let on = BoardModel::Cu16.channels_of(node, 16).unwrap();
            line.add_node(node, on, Instant::ZERO).unwrap();
            master.add_node(node, Instant::ZERO).unwrap();
        }

        let now = Instant::from_millis(5);
        master
            .send(NodeAddr(2), Command::GetAllStatus, now)
            .unwrap();
        let mut wire = [0u8; MAX_FRAME];
        while let Some(request) = master.poll_outgoing(now) {
            let bytes = request.encode(&mut wire).unwrap();
            block_on(line.handle_transmit_async(bytes, now));
            while let Some(answer) = line.poll_answer() {
                let mut decoder = Decoder::new();
                if let Feed::Frame { frame, .. } = decoder.feed::<Report>(answer.bytes()) {
                    master.handle_received(&frame, decoder.last_authenticated(), now);
                }
            }
        }
        let bulk = std::iter::from_fn(|| master.poll_event()).find_map(|e| match e {
            MasterEvent::Response {
                node: NodeAddr(2),
                report: Report::BulkStatus(bulk),
                ..
            } => Some(bulk),
            _ => None,
        });
        let bulk = bulk.expect("node 2 answered with its bulk status");
        assert_eq!(bulk.locked, ChannelBits(0x00FF));
        assert_eq!(bulk.occupied, ChannelBits(0x0100));
        assert_eq!(line.poll_trouble(), None);
        line.release().done();
    }

    #[test]
    fn an_async_line_whose_board_is_silent_keeps_the_trouble_for_the_log() {
        let query_board_0 = QUERY_BOARD_0;
        let port = ScriptedSerial::new(&[expect(&query_board_0), expect(&query_board_0)]);
        let mut line = BoardLine::<_, 2, 8>::new(port, BoardNodeConfig::default());
        let mut master = Master::<2>::new(MasterConfig::default());
        let node = NodeAddr(1);
        let on = BoardModel::Cu16.channels_of(node, 16).unwrap();
        line.add_node(node, on, Instant::ZERO).unwrap();
        master.add_node(node, Instant::ZERO).unwrap();

        let now = Instant::from_millis(5);
        master.send(node, Command::GetAllStatus, now).unwrap();
        let mut wire = [0u8; MAX_FRAME];
        let request = master.poll_outgoing(now).unwrap();
        block_on(line.handle_transmit_async(request.encode(&mut wire).unwrap(), now));
        let trouble = line.poll_trouble().unwrap();
        assert_eq!(trouble.node, node);
        assert_eq!(
            trouble.error,
            KerongError::Truncated {
                expected: 9,
                received: 0
            }
        );
        assert_eq!(line.stats().board_errors, 1);
        assert!(
            line.poll_answer().is_some(),
            "the gateway is answered anyway"
        );
        line.release().done();
    }
}
