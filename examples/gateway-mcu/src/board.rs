//! What the gateway program needs from the hardware around it: the one
//! boundary an integrator fills in for their board.
//!
//! The gateway machine ([`Gateway`](locker_domain::gateway::Gateway)) reads
//! no clock and touches no port; the [shell](crate::shell) around it calls
//! a [`Board`] for every byte that enters or leaves. Nothing in this crate
//! drives a peripheral besides SysTick: implement [`Board`] with your HAL's
//! UART (RS-485 with its driver-enable pin), flash or FRAM, keypad, UPS
//! input and service console, and hand it to the shell in `main`. Until
//! then the program runs on a [`Bench`](crate::bench::Bench), a board with
//! nothing wired.

use chrono::NaiveDateTime;
use locker_domain::bank::codes::KeypadId;
use locker_domain::bank::{
    Alert, AuditRecord, BankError, BankId, CodeOutcome, KEY_LEN, Notification, PersistError,
    SnapshotRequest,
};
use locker_domain::gateway::{GatewayError, GatewayOutput};
use locker_proto::auth::BankKey;
use locker_proto::time::Instant;
use locker_proto::{NodeAddr, PowerStatus};

/// The secrets of this bank, from its provisioning (a secure element, OTP
/// or a protected flash page), never from the program's code.
pub struct Provisioning {
    /// The bank's id.
    pub bank: BankId,
    /// The secret the gateway shares with its backend: pickup codes, remote
    /// opens and offline tokens are keyed from it.
    pub bank_secret: [u8; KEY_LEN],
    /// The bus key: every node's key is derived from it (see
    /// [`BankKey::node_key`]).
    pub bus_key: BankKey,
}

/// For the service log: what the gateway reports that no other method
/// takes, and what went wrong in the shell.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "read by an integrator's board; the bench drops them"
)]
pub enum LogEntry<'a> {
    /// A gateway output for the log: a node greeted, lost or back, a node
    /// report the bank refused, a backend command.
    Gateway(&'a GatewayOutput),
    /// The stored snapshot was refused; the bank started without it and the
    /// nodes' status scans now raise every parcel its books do not know.
    RestoreRefused(PersistError),
    /// The bank's snapshot could not be written: it did not fit the buffer,
    /// or [`Board::store_snapshot`] failed. The books on disk are stale.
    SnapshotNotStored(Option<PersistError>),
    /// A node's counter reservation was not stored: signed commands to that
    /// node wait until a later reservation is.
    CounterNotStored(NodeAddr),
    /// The UPS report was refused.
    PowerRefused(GatewayError),
}

/// The board around the gateway machine. Each method says when the shell
/// calls it; none of them may block for long, since the bus master's
/// response timeout (50 ms by default) runs meanwhile.
pub trait Board {
    // ----- at start --------------------------------------------------------

    /// The bank's secrets.
    fn provisioning(&mut self) -> Provisioning;

    /// The snapshot last stored with [`store_snapshot`](Self::store_snapshot),
    /// read into `buf`, or `None` on a bank's first start.
    fn load_snapshot<'b>(&mut self, buf: &'b mut [u8]) -> Option<&'b [u8]>;

    /// The counter reservation last stored for `node` with
    /// [`store_counter`](Self::store_counter), 0 if none ever was.
    fn stored_counter(&mut self, node: NodeAddr) -> u64;

    /// The time in UTC from the board's real-time clock, if it is set:
    /// audit records carry it beside the monotonic time.
    fn wall_clock(&mut self) -> Option<NaiveDateTime>;

    // ----- the bus to the compartment nodes ----------------------------------

    /// Puts one encoded frame on the bus and returns once it has left
    /// (RS-485: raise driver-enable, write, wait for transmission complete,
    /// release the bus).
    fn send(&mut self, wire: &[u8]);

    /// The bytes received from the bus since the last call, in `buf`; empty
    /// when none came. Any chunking will do.
    fn receive<'b>(&mut self, buf: &'b mut [u8]) -> &'b [u8];

    // ----- people and power at the bank ------------------------------------

    /// A pickup code typed on a keypad since the last call.
    fn code_entered(&mut self) -> Option<(KeypadId, &str)>;

    /// The bank's answer to that code, to show on the keypad's display.
    fn show_code_answer(&mut self, keypad: KeypadId, answer: Result<CodeOutcome, BankError>);

    /// The UPS's state, when it changed since the last call.
    fn power_changed(&mut self) -> Option<PowerStatus>;

    // ----- durable records -------------------------------------------------

    /// Stores `up_to` as `node`'s counter reservation durably; `true` once
    /// it is (only then may signed commands to the node leave).
    fn store_counter(&mut self, node: NodeAddr, up_to: u64) -> bool;

    /// Replaces the stored snapshot of the bank with `snapshot`, atomically
    /// (two slots, the newer valid one wins); `true` once it is stored.
    fn store_snapshot(&mut self, snapshot: &[u8]) -> bool;

    /// Appends one record to the chain of custody.
    fn append_audit(&mut self, record: &AuditRecord);

    // ----- staff, recipients, the camera -----------------------------------

    /// An alert for staff or security.
    fn alert(&mut self, alert: &Alert);

    /// A message for a courier, a recipient or staff.
    fn notify(&mut self, notification: &Notification);

    /// Takes a camera picture of a compartment and files it under the
    /// request's reference.
    fn take_picture(&mut self, request: &SnapshotRequest);

    /// The service log.
    fn log(&mut self, entry: LogEntry<'_>);

    /// A node has been silent for a minute
    /// ([`GatewayOutput::PowerCycleNode`]): a board with a relay on each
    /// node's supply switches it off here and on again a second later
    /// (from [`idle`](Self::idle), never by waiting here). A board without
    /// one logs it for staff, which is what this default does.
    fn cut_node_power(&mut self, node: NodeAddr) {
        self.log(LogEntry::Gateway(&GatewayOutput::PowerCycleNode(node)));
    }

    // ----- the core --------------------------------------------------------

    /// Nothing to do until the next input or `until` (the gateway's next
    /// deadline). Sleeps until the next interrupt; SysTick wakes the core
    /// every millisecond. A board whose bus is read by polling, not by
    /// interrupt, returns at once instead.
    fn idle(&mut self, until: Option<Instant>) {
        let _ = until;
        cortex_m::asm::wfi();
    }

    /// Restarts the gateway, after everything was persisted.
    fn reboot(&mut self) -> ! {
        cortex_m::peripheral::SCB::sys_reset()
    }
}
