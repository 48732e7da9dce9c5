//! A board with nothing wired: the gateway as it runs on a bare
//! NUCLEO-H743ZI2, to bring up and to measure.
//!
//! It reads no byte, no key and no UPS, and everything the gateway asks of
//! it goes nowhere. The gateway greets its eight nodes, finds them silent,
//! reports them lost and keeps trying them: the bus master, the bank's
//! timers and its alerts all run.
//!
//! Every input it returns passes through [`core::hint::black_box`], and so
//! does every output it takes: the compiler must assume a real board's
//! bytes, codes and power reports, so the binary keeps every path a real
//! board exercises (decoding node reports, reconciling status scans,
//! checking codes, snapshots) and the stack report measures them.
//!
//! Its secrets are a published constant: it drives no bus, so there is no
//! door they could open. A board that does must return the secrets
//! provisioned for its bank.

use core::hint::black_box;

use chrono::NaiveDateTime;
use locker_domain::bank::codes::KeypadId;
use locker_domain::bank::{
    Alert, AuditRecord, BankError, BankId, CodeOutcome, KEY_LEN, Notification, SnapshotRequest,
};
use locker_proto::auth::BankKey;
use locker_proto::{NodeAddr, PowerStatus};

use crate::board::{Board, LogEntry, Provisioning};

/// The board with nothing wired. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Bench;

impl Board for Bench {
    fn provisioning(&mut self) -> Provisioning {
        Provisioning {
            bank: black_box(BankId(1)),
            bank_secret: black_box([0x5a; KEY_LEN]),
            bus_key: BankKey::from_bytes(black_box([0xa5; KEY_LEN])),
        }
    }

    fn load_snapshot<'b>(&mut self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let buf = black_box(buf);
        black_box(false).then_some(&*buf)
    }

    fn stored_counter(&mut self, node: NodeAddr) -> u64 {
        black_box(node);
        black_box(0)
    }

    fn wall_clock(&mut self) -> Option<NaiveDateTime> {
        black_box(None)
    }

    fn send(&mut self, wire: &[u8]) {
        black_box(wire);
    }

    fn receive<'b>(&mut self, buf: &'b mut [u8]) -> &'b [u8] {
        let buf = black_box(buf);
        let received = black_box(0).min(buf.len());
        buf.get(..received).unwrap_or_default()
    }

    fn code_entered(&mut self) -> Option<(KeypadId, &str)> {
        black_box(None)
    }

    fn show_code_answer(&mut self, keypad: KeypadId, answer: Result<CodeOutcome, BankError>) {
        black_box(&(keypad, answer));
    }

    fn power_changed(&mut self) -> Option<PowerStatus> {
        black_box(None)
    }

    fn store_counter(&mut self, node: NodeAddr, up_to: u64) -> bool {
        black_box((node, up_to));
        true
    }

    fn store_snapshot(&mut self, snapshot: &[u8]) -> bool {
        black_box(snapshot);
        true
    }

    fn append_audit(&mut self, record: &AuditRecord) {
        black_box(record);
    }

    fn alert(&mut self, alert: &Alert) {
        black_box(alert);
    }

    fn notify(&mut self, notification: &Notification) {
        black_box(notification);
    }

    fn take_picture(&mut self, request: &SnapshotRequest) {
        black_box(request);
    }

    fn log(&mut self, entry: LogEntry<'_>) {
        black_box(entry);
    }
}
