//! Alerts for staff and security, each with the evidence that raised it, and
//! camera snapshot requests.

use locker_proto::time::{Duration, Instant};
use locker_proto::{
    Channel, CompartmentId, DoorState, FaultCode, NackReason, NodeAddr, Presence, Temperature,
};
use serde::{Deserialize, Serialize};

use super::codes::KeypadId;
use super::health::HealthIssue;
use super::parcel::ParcelId;

/// What an alert is about. Also indexes [`Stats::alerts`](super::Stats::alerts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AlertKind {
    /// A door opened without a command (security).
    ForcedDoor,
    /// A lock did not release after an unlock and its retry.
    LockFault,
    /// A door stayed open past its limit.
    DoorAjar,
    /// A parcel the books hold is not seen by the presence sensor.
    ParcelMissing,
    /// An item is seen where the books say empty.
    UnexpectedItem,
    /// A door is open where the books say closed.
    DoorOpenUnexpectedly,
    /// A sensor or lock needs maintenance before a resident notices.
    Maintenance,
    /// Failed code attempts spiked bank-wide (security).
    KeypadAttack,
    /// A node stopped answering; its compartments are unverified.
    NodeUnreachable,
    /// A node reported a node-wide fault.
    NodeFault,
    /// Staff closed the door after a removal but the parcel is still seen.
    RemovalNotVerified,
    /// A remote open carried a tag the backend key did not make: someone
    /// other than the backend is sending commands (security).
    ForgedRemoteOpen,
    /// Remote opens exceeded the bank-wide rate limit; remote opens are
    /// locked until staff clear them (security: a compromised backend?).
    RemoteOpenFlood,
    /// A node refused bus commands that lacked a valid, fresh tag or were
    /// over its unlock rate limit: someone is injecting frames on the bus,
    /// or the gateway's bus key does not match the node's (security).
    BusCommandsRefused,
    /// A refrigerated compartment read out of its limits for longer than
    /// the grace period (see [`cold`](super::cold)).
    TemperatureOutOfRange,
    /// A refrigerated compartment's temperature sensor gave no plausible
    /// reading for too long, its node answering (see [`cold`](super::cold)).
    TemperatureSensorSilent,
}

impl AlertKind {
    /// A stable snake_case name, for logs, counters and JSON keys (never
    /// derived from `Debug`).
    pub const fn name(self) -> &'static str {
        match self {
            AlertKind::ForcedDoor => "forced_door",
            AlertKind::LockFault => "lock_fault",
            AlertKind::DoorAjar => "door_ajar",
            AlertKind::ParcelMissing => "parcel_missing",
            AlertKind::UnexpectedItem => "unexpected_item",
            AlertKind::DoorOpenUnexpectedly => "door_open_unexpectedly",
            AlertKind::Maintenance => "maintenance",
            AlertKind::KeypadAttack => "keypad_attack",
            AlertKind::NodeUnreachable => "node_unreachable",
            AlertKind::NodeFault => "node_fault",
            AlertKind::RemovalNotVerified => "removal_not_verified",
            AlertKind::ForgedRemoteOpen => "forged_remote_open",
            AlertKind::RemoteOpenFlood => "remote_open_flood",
            AlertKind::BusCommandsRefused => "bus_commands_refused",
            AlertKind::TemperatureOutOfRange => "temperature_out_of_range",
            AlertKind::TemperatureSensorSilent => "temperature_sensor_silent",
        }
    }

    /// How many kinds there are.
    pub const COUNT: usize = 16;

    /// A dense index for per-kind counters.
    pub const fn index(self) -> usize {
        match self {
            AlertKind::ForcedDoor => 0,
            AlertKind::LockFault => 1,
            AlertKind::DoorAjar => 2,
            AlertKind::ParcelMissing => 3,
            AlertKind::UnexpectedItem => 4,
            AlertKind::DoorOpenUnexpectedly => 5,
            AlertKind::Maintenance => 6,
            AlertKind::KeypadAttack => 7,
            AlertKind::NodeUnreachable => 8,
            AlertKind::NodeFault => 9,
            AlertKind::RemovalNotVerified => 10,
            AlertKind::ForgedRemoteOpen => 11,
            AlertKind::RemoteOpenFlood => 12,
            AlertKind::BusCommandsRefused => 13,
            AlertKind::TemperatureOutOfRange => 14,
            AlertKind::TemperatureSensorSilent => 15,
        }
    }
}

/// The observation behind an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Evidence {
    /// Nothing beyond the alert itself.
    None,
    /// A presence reading.
    Presence(Presence),
    /// The door state seen.
    Door(DoorState),
    /// A fault a node reported.
    Fault(FaultCode),
    /// Unlock attempts made without the door opening.
    UnlockAttempts(u8),
    /// What a full status scan saw.
    Scan {
        /// Door.
        door: DoorState,
        /// Presence.
        occupied: bool,
        /// Channel fault.
        faulted: bool,
    },
    /// A sensor-health finding.
    Health(HealthIssue),
    /// A keypad's failed attempts.
    Keypad {
        /// Which keypad.
        keypad: KeypadId,
        /// Failures counted.
        failures: u16,
    },
    /// A node.
    Node(NodeAddr),
    /// A remote-open request (its id as sent).
    RemoteOpen {
        /// The request's id.
        request_id: u64,
    },
    /// Bus commands a node refused, as its security event counted them.
    CommandsRefused {
        /// The node that refused them.
        node: NodeAddr,
        /// How many this event reports.
        refused: u16,
        /// Why the last of them was refused.
        reason: NackReason,
    },
    /// Remote opens accepted within the rate-limit window.
    RemoteOpens {
        /// How many.
        opens: u8,
        /// The window they fell in.
        window: Duration,
    },
    /// A refrigerated compartment out of its limits.
    Temperature {
        /// The reading that raised the alert.
        reading: Temperature,
        /// The limit it is beyond (the maximum when too warm, the minimum
        /// when too cold).
        limit: Temperature,
        /// How long the compartment has read out of range.
        out_for: Duration,
    },
    /// A refrigerated compartment's silent temperature sensor.
    TemperatureSilent {
        /// The last reading it gave, if any (an absurd value, such as a
        /// sensor's error code, is kept here).
        last: Option<Temperature>,
        /// How long since its last plausible reading (or since the watch
        /// began).
        silent_for: Duration,
    },
}

/// A reference to a camera snapshot, assigned by the bank and repeated in the
/// alert and audit record of the event that asked for it (the vocabulary's
/// one [`SnapshotRef`](locker_proto::SnapshotRef), which the camera driver
/// takes too).
pub use locker_proto::SnapshotRef;

/// An alert for staff or security.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// What.
    pub kind: AlertKind,
    /// Where, if one compartment.
    pub compartment: Option<CompartmentId>,
    /// Which parcel, if one.
    pub parcel: Option<ParcelId>,
    /// Why the bank believes it.
    pub evidence: Evidence,
    /// The camera snapshot taken for it.
    pub snapshot: Option<SnapshotRef>,
    /// When.
    pub at: Instant,
}

/// What became of a [`SnapshotRequest`], as the shell reports it to
/// [`Bank::handle_snapshot_result`](super::Bank::handle_snapshot_result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SnapshotOutcome {
    /// The camera took it.
    Taken,
    /// The camera did not (no answer, a broken trigger line, no camera).
    Failed,
}

/// Why the bank asks for a snapshot (a recorder may file them apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SnapshotCause {
    /// A door opened without a command: evidence for the alert.
    ForcedDoor,
    /// A verified deposit: proof of delivery
    /// ([`Policy::snapshot_handoffs`](super::Policy::snapshot_handoffs)).
    Deposit,
    /// A verified pickup or removal: proof of the handoff.
    Pickup,
    /// The backend asked for it (`trigger_snapshot`,
    /// [`Bank::snapshot_for_backend`](super::Bank::snapshot_for_backend)).
    Backend,
}

/// Please take a camera snapshot of this compartment and file it as `reference`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SnapshotRequest {
    /// The reference the audit trail uses.
    pub reference: SnapshotRef,
    /// Why.
    pub cause: SnapshotCause,
    /// The compartment in view.
    pub compartment: CompartmentId,
    /// Its node.
    pub node: NodeAddr,
    /// Its channel.
    pub channel: Channel,
    /// When.
    pub at: Instant,
}
