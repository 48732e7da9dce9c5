//! What the gateway asks its shell to do.

use locker_proto::link::Outgoing;
use locker_proto::uplink::UpEnvelope;
use locker_proto::{Command, FirmwareVersion, NoCommonVersion, NodeAddr, RebootKind, ResetReason};

use crate::bank::{
    Alert, AuditRecord, BankError, Notification, PersistReason, Policy, SnapshotRequest,
};

/// One thing for the shell to carry out, from [`Gateway::poll`](super::Gateway::poll).
///
/// The variants come out in an order that keeps the records safe: a
/// counter reservation before the signed frame that needs it, the bank's
/// snapshot before the audit records it already holds.
// A frame and an upward message are the large variants; the gateway holds
// none of these in a queue (it yields each as it is made), so boxing them
// would buy nothing and needs a heap.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum GatewayOutput {
    /// Put this frame on the bus: [`Outgoing::encode`] signs it when it
    /// must be signed. The bus is half duplex and the gateway is its master:
    /// a frame comes out only when the previous request was answered or
    /// timed out.
    Transmit(Outgoing<Command>),
    /// Store something durably, then (where the variant says so) confirm it.
    Persist(Persist),
    /// An audit record: append it to the chain of custody.
    Audit(AuditRecord),
    /// Tell a courier, a recipient or staff.
    Notification(Notification),
    /// An alert for staff or security.
    Alert(Alert),
    /// Take a camera snapshot and file it under the reference in the
    /// request (the bank already wrote that reference into the alert and
    /// the audit record), then report what became of it
    /// ([`Gateway::handle_snapshot_result`](super::Gateway::handle_snapshot_result)).
    /// The backend's `trigger_snapshot` comes out here too
    /// ([`SnapshotCause::Backend`](crate::bank::SnapshotCause::Backend)).
    Snapshot(SnapshotRequest),
    /// A message for the backend: put it in the outbound queue (which
    /// persists and resends it until the backend acknowledges it).
    Upward(UpEnvelope),
    /// A node answered the gateway's greeting; bank commands may go to it.
    NodeGreeted {
        /// The node.
        node: NodeAddr,
        /// Its firmware.
        firmware: FirmwareVersion,
        /// Why it last started.
        reset_reason: ResetReason,
        /// Milliseconds since it started.
        uptime_ms: u32,
        /// The bus protocol version agreed with it: the highest both speak
        /// ([`Gateway::bus_version`](super::Gateway::bus_version)).
        version: u8,
    },
    /// A node answered the gateway's greeting with no bus protocol version
    /// the gateway speaks (`spec/versioning.md` §4.1): it is not operated.
    /// It takes no command (those waiting for it fail), what it reports is
    /// not read, and the bank holds its compartments unverified, as for a
    /// lost node (staff are alerted that it is unreachable). Counted in
    /// [`GatewayStats::versions_refused`]. A restart of the node has it
    /// greeted again.
    NodeRefused {
        /// The node.
        node: NodeAddr,
        /// The firmware it said it runs.
        firmware: FirmwareVersion,
        /// What each side speaks.
        error: NoCommonVersion,
    },
    /// A node stopped answering; the bank alerts staff and the gateway
    /// keeps trying it (and cycles its power if it stays silent,
    /// [`GatewayOutput::PowerCycleNode`]).
    NodeLost(NodeAddr),
    /// A lost node answers again: the gateway greets it and the bank asks
    /// it for full status.
    NodeBack(NodeAddr),
    /// The bank refused something a node reported (a channel the layout
    /// does not know, a node the bank has not got). The input changed
    /// nothing; it is counted in [`GatewayStats::refused_node_input`].
    NodeInputRefused {
        /// The node that sent it.
        node: NodeAddr,
        /// Why the bank refused it.
        error: BankError,
    },
    /// The backend sent a command for a node (a reboot); it waits in the
    /// node's queue like a bank command. For the log.
    BackendCommand {
        /// The node.
        node: NodeAddr,
        /// The command.
        command: Command,
    },
    /// Everything is persisted for the reset the backend asked for: restart
    /// the gateway (soft: the program; hard: the machine).
    Reboot(RebootKind),
    /// The node has been silent for
    /// [`POWER_CYCLE_AFTER`](super::POWER_CYCLE_AFTER) (lost by the master,
    /// or reporting that the hardware behind it does not answer): a hung
    /// firmware that only a power cut wakes. Cut its supply briefly (a
    /// relay on its power line, for a second or so) if the installation
    /// can; it greets the gateway when it starts, and the bank scans its
    /// compartments. Repeated every
    /// [`POWER_CYCLE_AGAIN`](super::POWER_CYCLE_AGAIN) while it stays
    /// silent, [`POWER_CYCLE_ATTEMPTS`](super::POWER_CYCLE_ATTEMPTS) times at
    /// most; counted in [`GatewayStats::power_cycles`]. A shell that cannot
    /// cut a node's power logs it for staff, who were alerted already.
    PowerCycleNode(NodeAddr),
}

/// What to store, from [`GatewayOutput::Persist`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "a policy is persisted only when the backend changes it; boxing it would cost the enum `Copy` and the no-alloc path"
)]
pub enum Persist {
    /// Store `up_to` as `node`'s counter reservation, then call
    /// [`Gateway::counter_persisted`](super::Gateway::counter_persisted):
    /// no signed command to that node leaves before.
    Counter {
        /// The node.
        node: NodeAddr,
        /// The reservation to store.
        up_to: u64,
    },
    /// Write the bank's snapshot ([`Gateway::snapshot`](super::Gateway::snapshot))
    /// to durable storage, before the audit records that follow.
    Bank(PersistReason),
    /// Write the uplink's state ([`Gateway::uplink_state`](super::Gateway::uplink_state)).
    Uplink,
    /// Keep these rules; the bank takes them when it is next created or
    /// restored.
    Policy(Policy),
    /// A reset is due: write the bank's snapshot, the uplink's state and the
    /// outbound queue, then call
    /// [`Gateway::persisted_for_reboot`](super::Gateway::persisted_for_reboot);
    /// a [`GatewayOutput::Reboot`] follows.
    BeforeReboot(RebootKind),
}

/// Counters of the gateway's own work (the bus has
/// [`LinkStats`](locker_proto::link::LinkStats), the bank
/// [`Stats`](crate::bank::Stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// Frames from the bus that did not decode (CRC, COBS, length).
    pub bad_frames: u64,
    /// Frames from the bus handed to the bus master.
    pub frames_received: u64,
    /// Full status reports of a node the bank reconciled its books with.
    pub status_reports: u64,
    /// Greetings answered.
    pub greetings: u64,
    /// Greetings answered with no bus protocol version the gateway speaks
    /// ([`GatewayOutput::NodeRefused`]).
    pub versions_refused: u64,
    /// Node reports the bank refused ([`GatewayOutput::NodeInputRefused`]).
    pub refused_node_input: u64,
    /// Bank outputs the uplink could not project (its output was full);
    /// the bank's own outputs still went to the shell.
    pub uplink_overflow: u64,
    /// Power cycles of silent nodes asked for
    /// ([`GatewayOutput::PowerCycleNode`]).
    pub power_cycles: u64,
}
