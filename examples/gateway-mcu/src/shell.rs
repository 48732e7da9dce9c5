//! The gateway's main loop: the board's inputs into the gateway machine,
//! its outputs back out to the board, in the order the machine gives them.

use locker_domain::gateway::{GatewayOutput, Persist};
use locker_proto::MAX_FRAME;
use locker_proto::time::Instant;

use crate::BankGateway;
use crate::board::{Board, LogEntry};
use crate::clock;

/// Bytes taken from the bus per pass: a few frames' worth, read into the
/// pass's own frame.
const RECEIVE_CHUNK: usize = 64;

/// The gateway machine and the board it runs on.
pub struct Shell<B: Board> {
    gateway: &'static mut BankGateway,
    board: B,
    /// Where the bank's snapshot is written before it is stored.
    snapshot: &'static mut [u8],
    /// Where a frame is encoded before it is sent.
    wire: [u8; MAX_FRAME],
}

impl<B: Board> Shell<B> {
    /// The shell around a started gateway.
    pub fn new(gateway: &'static mut BankGateway, board: B, snapshot: &'static mut [u8]) -> Self {
        Shell {
            gateway,
            board,
            snapshot,
            wire: [0; MAX_FRAME],
        }
    }

    /// Runs the gateway forever. Whatever the gateway asked for at start
    /// (greeting every node) goes out first. Never inlined: the stack report
    /// measures the main loop from here.
    #[inline(never)]
    pub fn run(mut self) -> ! {
        self.carry_out(clock::now());
        loop {
            self.pass();
        }
    }

    /// One pass of the main loop: bus bytes, a keypad code, the UPS, due
    /// timers, and everything the gateway asks for after each; then sleep
    /// until the next interrupt.
    #[inline(never)]
    fn pass(&mut self) {
        // Answers first: the node answered as soon as it was asked, and the
        // answer must reach the master before its response timeout.
        let mut received = [0u8; RECEIVE_CHUNK];
        let bytes = self.board.receive(&mut received);
        let now = clock::now();
        if !bytes.is_empty() {
            self.gateway.handle_bytes(bytes, now);
            self.carry_out(now);
        }
        // Every input is followed by carry_out, which empties the bank's
        // outputs, so a code or a UPS report finds the room it needs; a
        // refusal all the same is shown on the keypad or written to the log.
        if let Some((keypad, code)) = self.board.code_entered() {
            let answer = self.gateway.enter_code(keypad, code, now);
            self.board.show_code_answer(keypad, answer);
            self.carry_out(now);
        }
        if let Some(status) = self.board.power_changed() {
            if let Err(e) = self.gateway.handle_power(status, now) {
                self.board.log(LogEntry::PowerRefused(e));
            }
            self.carry_out(now);
        }
        if self.gateway.poll_timeout().is_some_and(|due| due <= now) {
            // The clock is monotonic, so time never goes backwards, the only
            // error handle_timeout has.
            let _ = self.gateway.handle_timeout(now);
            self.carry_out(now);
        }
        self.board.idle(self.gateway.poll_timeout());
    }

    /// Carries out everything the gateway asks for, in its order: the bank's
    /// snapshot before the audit records of the change, a counter
    /// reservation before the signed frame that needs it.
    #[inline(never)]
    fn carry_out(&mut self, now: Instant) {
        while let Some(output) = self.gateway.poll(now) {
            match output {
                GatewayOutput::Transmit(frame) => {
                    // A frame of the gateway's own always fits MAX_FRAME.
                    if let Ok(wire) = frame.encode(&mut self.wire) {
                        self.board.send(wire);
                    }
                }
                GatewayOutput::Persist(Persist::Counter { node, up_to }) => {
                    if self.board.store_counter(node, up_to) {
                        self.gateway.counter_persisted(node, up_to);
                    } else {
                        self.board.log(LogEntry::CounterNotStored(node));
                    }
                }
                GatewayOutput::Persist(Persist::Bank(_)) => self.persist(),
                GatewayOutput::Persist(Persist::BeforeReboot(_)) => {
                    self.persist();
                    self.gateway.persisted_for_reboot();
                }
                GatewayOutput::Audit(record) => self.board.append_audit(&record),
                GatewayOutput::Alert(alert) => self.board.alert(&alert),
                GatewayOutput::Notification(notification) => self.board.notify(&notification),
                GatewayOutput::Snapshot(request) => self.board.take_picture(&request),
                GatewayOutput::Reboot(_) => self.board.reboot(),
                GatewayOutput::PowerCycleNode(node) => self.board.cut_node_power(node),
                // Node greetings, losses and returns, refused node reports;
                // and what only a gateway with an uplink produces.
                other => self.board.log(LogEntry::Gateway(&other)),
            }
        }
    }

    /// Writes the bank's snapshot and stores it.
    fn persist(&mut self) {
        match self.gateway.snapshot(self.snapshot) {
            Ok(bytes) => {
                if !self.board.store_snapshot(bytes) {
                    self.board.log(LogEntry::SnapshotNotStored(None));
                }
            }
            Err(e) => self.board.log(LogEntry::SnapshotNotStored(Some(e))),
        }
    }
}
