//! The bus on the CMSDK APB UART0 of the MPS2 board, which QEMU connects to
//! its first `-serial` (a pseudo-terminal, a socket). The emulated UART has
//! a one-byte receive buffer and no baud-rate delay; QEMU holds further
//! bytes back until the node has read the one waiting, so none is lost.
//!
//! The meter lives here too: it is where a command's last byte arrives and
//! its answer leaves. Each answer is reported as one line, `exchange`, with
//! the command's length in bytes, the instructions from its last byte to the
//! answer ready (`answer_ready`: decoding, authentication, execution, the
//! answer built), the answer's length, and the instructions from there to
//! its last byte handed to the UART (tag, CRC, COBS, the writes). The line
//! is printed after the measurement, so that printing is not counted.

use crate::board::{INSTRUCTIONS_PER_TICK, ticks};
use crate::report;

const UART0: usize = 0x4000_4000;
const DATA: *mut u32 = UART0 as *mut u32;
const STATE: *const u32 = (UART0 + 0x04) as *const u32;
const CTRL: *mut u32 = (UART0 + 0x08) as *mut u32;
const BAUDDIV: *mut u32 = (UART0 + 0x10) as *mut u32;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_RX_ENABLE: u32 = 0b11;

/// The node's end of the bus.
pub struct Rs485 {
    /// Bytes of the frame being received so far.
    receiving: u32,
    /// The length of the last complete frame and the meter reading when its
    /// delimiter was read.
    received: Option<(u32, u32)>,
    /// The meter reading when the node had its answer ready.
    answering: Option<u32>,
    /// The meter reading when idle was last checked for the stack.
    stack_checked_at: u32,
}

impl Rs485 {
    /// UART0 at 115 200 baud from the 25 MHz APB clock (QEMU ignores the
    /// rate), transmitter and receiver enabled.
    pub fn new() -> Self {
        // SAFETY: UART0's registers; nothing else uses it.
        unsafe {
            BAUDDIV.write_volatile(25_000_000 / 115_200);
            CTRL.write_volatile(CTRL_TX_RX_ENABLE);
        }
        Rs485 {
            receiving: 0,
            received: None,
            answering: None,
            stack_checked_at: 0,
        }
    }

    /// A received byte, if one is waiting.
    pub fn try_read(&mut self) -> Option<u8> {
        // SAFETY: reads of UART0's registers; reading DATA takes the byte.
        if unsafe { STATE.read_volatile() } & STATE_RX_FULL == 0 {
            self.idle();
            return None;
        }
        let byte = unsafe { DATA.read_volatile() } as u8;
        self.receiving += 1;
        if byte == 0 {
            self.received = Some((self.receiving, ticks()));
            self.receiving = 0;
        }
        Some(byte)
    }

    /// The node has an answer: the receiving side of the exchange ends
    /// here, the sending side (tag, CRC, COBS, the UART) starts.
    pub fn answer_ready(&mut self) {
        self.answering = Some(ticks());
    }

    /// Sends `bytes`, returning once the UART has taken the last one.
    pub fn send(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            // SAFETY: UART0's registers.
            unsafe {
                while STATE.read_volatile() & STATE_TX_FULL != 0 {}
                DATA.write_volatile(u32::from(byte));
            }
        }
        let sent = ticks();
        if let (Some((len, received)), Some(answering)) =
            (self.received.take(), self.answering.take())
        {
            report::line(
                b"exchange",
                &[
                    len,
                    answering.wrapping_sub(received) * INSTRUCTIONS_PER_TICK,
                    bytes.len() as u32,
                    sent.wrapping_sub(answering) * INSTRUCTIONS_PER_TICK,
                ],
            );
        }
    }

    /// Nothing to read: every 10 ms of meter time, see whether the stack
    /// grew (the scan would distort the meter if it ran between frames).
    fn idle(&mut self) {
        let now = ticks();
        if now.wrapping_sub(self.stack_checked_at) > 250_000 {
            self.stack_checked_at = now;
            report::high_water_if_grown();
        }
    }
}
