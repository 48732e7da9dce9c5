//! Upward messages: from the gateway to the backend.
//!
//! Everything the gateway says goes through its outbound queue and is
//! acknowledged by the backend with a [`Downward::Ack`](super::Downward::Ack);
//! the answers to the backend's requests ([`Upward::CallResult`] and
//! [`Upward::CallError`]) too.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use super::envelope::MessageId;
use super::response::{CallError, CallResult};
use super::types::{BankId, HexArray, ParcelNumber, Stamp};
use crate::time::Duration;
use crate::version::ProtocolVersions;
use crate::vocab::{
    Actor, Channel, CompartmentId, Dimensions, DoorState, FaultCode, FirmwareVersion, HealthIssue,
    NodeAddr, NotificationKind, PowerStatus, Presence, Purpose, ResetReason, ServiceReason,
    SizeClass, Temperature,
};

/// The most nodes a [`BootNotification`] or diagnostics report lists.
pub const MAX_NODES: usize = 32;
/// Compartments per [`LayoutPage`].
pub const LAYOUT_PAGE: usize = 16;

/// A message from the gateway to the backend.
///
/// JSON names are the variant names in snake_case: `{"boot_notification": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
// Messages are values: there is no heap to box the big ones on `no_std`.
#[allow(clippy::large_enum_variant)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Upward {
    /// The gateway started (first message of every boot).
    BootNotification(BootNotification),
    /// A page of the bank's layout; the pages follow the boot notification.
    Layout(LayoutPage),
    /// A compartment node (re)started and answered.
    NodeBoot(NodeBoot),
    /// The gateway is alive.
    Heartbeat(Heartbeat),
    /// A compartment's state changed.
    StatusNotification(StatusNotification),
    /// A step in a parcel's life.
    ParcelEvent(ParcelEvent),
    /// Something to tell a courier, recipient or staff (the backend sends it).
    Notification(Notification),
    /// Something staff must look at.
    Alert(Alert),
    /// Something security must look at.
    SecurityEvent(SecurityEvent),
    /// One record of the bank's audit trail (the chain of custody).
    Audit(AuditRecord),
    /// Counters.
    Statistics(Statistics),
    /// A request was carried out.
    CallResult(CallResult),
    /// A request was refused.
    CallError(CallError),
    /// What a property manager reads: deposits and pickups by hour and
    /// weekday, dwell times, sizes, refusals (sent with each
    /// [`Statistics`]; appended, see `spec/versioning.md` §2).
    Analytics(Analytics),
}

impl Upward {
    /// The snake_case name of the message, as in JSON.
    pub const fn name(&self) -> &'static str {
        match self {
            Upward::BootNotification(_) => "boot_notification",
            Upward::Layout(_) => "layout",
            Upward::NodeBoot(_) => "node_boot",
            Upward::Heartbeat(_) => "heartbeat",
            Upward::StatusNotification(_) => "status_notification",
            Upward::ParcelEvent(_) => "parcel_event",
            Upward::Notification(_) => "notification",
            Upward::Alert(_) => "alert",
            Upward::SecurityEvent(_) => "security_event",
            Upward::Audit(_) => "audit",
            Upward::Statistics(_) => "statistics",
            Upward::CallResult(_) => "call_result",
            Upward::CallError(_) => "call_error",
            Upward::Analytics(_) => "analytics",
        }
    }
}

/// What a node runs and why it last started, as far as the gateway knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NodeInfo {
    /// The node's bus address.
    pub node: NodeAddr,
    /// Its firmware, once it answered a ping.
    pub firmware: Option<FirmwareVersion>,
    /// Why it last started, once known.
    pub reset_reason: Option<ResetReason>,
}

/// The first message of every gateway boot (OCPP's BootNotification).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BootNotification {
    /// The bank's name.
    #[cfg_attr(feature = "schema", schemars(with = "super::schema::Text<32>"))]
    pub bank_id: BankId,
    /// Why the gateway started.
    pub reason: ResetReason,
    /// The backend's [`Reset`](super::Downward::Reset) request that caused
    /// this boot, if one did.
    pub reset_request: Option<MessageId>,
    /// The gateway's software version.
    pub gateway_firmware: FirmwareVersion,
    /// The uplink versions the gateway speaks, one bit per version (bit
    /// `k - 1` is version `k`; [`ProtocolVersions::UPLINK`] for this
    /// crate): the backend speaks the highest one both speak and answers
    /// with its own set in [`Downward::BootAck`](super::Downward::BootAck)
    /// (`spec/versioning.md` §4.2).
    pub versions: ProtocolVersions,
    /// The nodes, with the firmware last seen on each (fresh
    /// [`NodeBoot`] messages follow as they answer).
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<NodeInfo, MAX_NODES>")
    )]
    pub nodes: Vec<NodeInfo, MAX_NODES>,
    /// Compartments in the layout; [`LayoutPage`]s follow with the details.
    pub compartments: u16,
    /// Fingerprint of the layout: a backend that has the layout with this
    /// fingerprint may skip the pages.
    pub layout_fingerprint: u32,
    /// The bank's incarnation: sign remote opens and offline tokens, and
    /// compute deposit codes, for it (those made for an earlier one are
    /// refused). 0 until the bank begins one.
    pub incarnation: u32,
    /// When.
    pub at: Stamp,
}

/// One compartment of the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CompartmentInfo {
    /// Its number, as printed on the door.
    pub id: CompartmentId,
    /// The node that drives it.
    pub node: NodeAddr,
    /// Its channel on that node.
    pub channel: Channel,
    /// Its size class.
    pub size: SizeClass,
    /// Inner dimensions.
    pub inner: Dimensions,
    /// Refrigerated.
    pub refrigerated: bool,
    /// At an accessible height.
    pub accessible: bool,
}

/// A page of the layout: compartments `first ..` of `total`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LayoutPage {
    /// Index of the first compartment on this page.
    pub first: u16,
    /// Compartments in the whole layout.
    pub total: u16,
    /// Up to [`LAYOUT_PAGE`] compartments.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<CompartmentInfo, LAYOUT_PAGE>")
    )]
    pub compartments: Vec<CompartmentInfo, LAYOUT_PAGE>,
}

/// A compartment node (re)started and answered the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NodeBoot {
    /// The node.
    pub node: NodeAddr,
    /// Its firmware.
    pub firmware: FirmwareVersion,
    /// Why it started.
    pub reset_reason: ResetReason,
    /// Milliseconds it has been running.
    pub uptime_ms: u32,
    /// The backend's [`Reset`](super::Downward::Reset) request that
    /// rebooted it, if one did.
    pub reset_request: Option<MessageId>,
    /// When.
    pub at: Stamp,
}

/// The gateway is alive (OCPP's Heartbeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Heartbeat {
    /// When.
    pub at: Stamp,
    /// Messages waiting in the outbound queue behind this one.
    pub backlog: u32,
}

/// A compartment's place in a parcel's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum CompartmentStatus {
    /// Empty and available.
    Free,
    /// Held for a parcel not yet deposited.
    Reserved,
    /// The door is open (or opening) for a deposit.
    Depositing,
    /// A parcel waits for its collector.
    Stored,
    /// The door is open (or opening) for a pickup.
    Collecting,
    /// The parcel expired; staff must remove it.
    Expired,
    /// The door is open (or opening) for staff to remove an expired parcel.
    Removing,
    /// The door is open (or opening) for staff to inspect an empty compartment.
    Inspecting,
}

/// A compartment's state (OCPP's StatusNotification, per compartment
/// rather than per connector).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StatusNotification {
    /// Which compartment.
    pub compartment: CompartmentId,
    /// What it is doing.
    pub status: CompartmentStatus,
    /// Its door, as last reported.
    pub door: DoorState,
    /// Its presence sensor's last decision, if any yet.
    pub occupied: Option<bool>,
    /// The parcel reserved for, in, or leaving it.
    pub parcel: Option<ParcelNumber>,
    /// Why it is out of service, if it is.
    pub out_of_service: Option<ServiceReason>,
    /// When.
    pub at: Stamp,
}

/// A step in a parcel's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ParcelStep {
    /// A compartment was reserved.
    Reserved,
    /// The reservation was cancelled.
    ReservationCancelled,
    /// The reservation ran out before a deposit.
    ReservationExpired,
    /// The door was unlocked for the deposit.
    DepositStarted,
    /// The presence sensor confirmed the deposit.
    Deposited,
    /// The door closed on an empty compartment during a deposit.
    NoParcelDetected,
    /// A reminder went out.
    Reminded,
    /// An escalation went out.
    Escalated,
    /// The parcel expired; staff must remove it.
    Expired,
    /// The door was unlocked for the pickup.
    PickupStarted,
    /// The collector (or an audited override) took the parcel.
    PickedUp,
    /// The door closed with the parcel still inside.
    LeftInside,
    /// Staff removed the expired parcel (it goes back to the sender).
    Returned,
    /// The pickup deadlines were pushed back.
    DeadlineExtended {
        /// By how much, in milliseconds.
        by_ms: Duration,
    },
}

/// A step in a parcel's life (OCPP's StartTransaction / StopTransaction,
/// for parcels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ParcelEvent {
    /// The parcel.
    pub parcel: ParcelNumber,
    /// Its compartment.
    pub compartment: CompartmentId,
    /// What happened.
    pub step: ParcelStep,
    /// Who did it.
    pub actor: Actor,
    /// When.
    pub at: Stamp,
}

/// A message for someone about a compartment, for the backend to deliver
/// (SMS, app, e-mail).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Notification {
    /// Who should hear it.
    pub to: Actor,
    /// Which compartment.
    pub compartment: CompartmentId,
    /// Which parcel, if one.
    pub parcel: Option<ParcelNumber>,
    /// What.
    pub kind: NotificationKind,
    /// When.
    pub at: Stamp,
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum AlertKind {
    /// A lock did not release after an unlock and its retry.
    LockFault,
    /// A door stayed open past its limit.
    DoorAjar,
    /// The door closed on an empty compartment during a deposit.
    NoParcelDetected,
    /// The door closed with the parcel still inside after a pickup.
    ParcelLeftInside,
    /// A parcel the books hold is not seen by the presence sensor.
    ParcelMissing,
    /// An item is seen where the books say empty.
    UnexpectedItem,
    /// A door is open where the books say closed.
    DoorOpenUnexpectedly,
    /// A sensor or lock needs maintenance.
    SensorHealth,
    /// Staff closed the door after a removal but the parcel is still seen.
    RemovalNotVerified,
    /// Mains lost: the bank runs on its battery.
    PowerOnBattery,
    /// Mains is back.
    PowerRestored,
    /// The battery is nearly empty: the bank persists and shuts down.
    PowerCritical,
    /// A node stopped answering; its compartments are unverified.
    NodeLost,
    /// A lost node answers again.
    NodeBack,
    /// A node reported a node-wide fault.
    NodeFault,
    /// A remote open carried a wrong tag (raised once per rate-limit window;
    /// each refusal is a [`SecurityEvent`]).
    ForgedRemoteOpen,
    /// Remote opens exceeded the bank's rate limit: they are locked until
    /// staff at the bank clear the lock (a compromised backend?).
    RemoteOpenFlood,
    /// A refrigerated compartment read out of its limits for longer than
    /// the bank's grace period (its evidence: [`Evidence::Temperature`]).
    TemperatureOutOfRange,
    /// A refrigerated compartment's temperature sensor gave no plausible
    /// reading for too long while its node answered (its evidence:
    /// [`Evidence::TemperatureSilent`]).
    TemperatureSensorSilent,
}

/// The observation behind an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// A node.
    Node(NodeAddr),
    /// The power supply.
    Power(PowerStatus),
    /// A remote-open request (its id as sent).
    RemoteOpen {
        /// The request's id.
        request_id: u64,
    },
    /// Remote opens accepted within the rate-limit window.
    RemoteOpens {
        /// How many.
        opens: u8,
        /// The window, in milliseconds.
        window_ms: Duration,
    },
    /// A refrigerated compartment out of its limits.
    Temperature {
        /// The reading that raised the alert.
        reading: Temperature,
        /// The limit it is beyond (the maximum when too warm, the minimum
        /// when too cold).
        limit: Temperature,
        /// How long it has read out of range, in milliseconds.
        out_for_ms: Duration,
    },
    /// A refrigerated compartment's silent temperature sensor.
    TemperatureSilent {
        /// The last reading it gave, plausible or not, if any.
        last: Option<Temperature>,
        /// Milliseconds since its last plausible reading.
        silent_for_ms: Duration,
    },
}

/// Why the bank refused a remote open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RemoteOpenRefusal {
    /// The tag is wrong.
    ForgedTag,
    /// The request id was used before.
    Replayed,
    /// The request id is older than one already used.
    Stale,
    /// Over the rate limit: remote opens are now locked.
    RateLimited,
    /// Remote opens are locked until staff clear them.
    Locked,
    /// Signed for another incarnation of the bank (before a restore or a
    /// fresh start).
    OtherIncarnation,
}

/// Something staff must look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Alert {
    /// What.
    pub kind: AlertKind,
    /// Where, if one compartment.
    pub compartment: Option<CompartmentId>,
    /// Which parcel, if one.
    pub parcel: Option<ParcelNumber>,
    /// Why the gateway believes it.
    pub evidence: Evidence,
    /// The camera snapshot taken for it, if any.
    pub snapshot: Option<u32>,
    /// When.
    pub at: Stamp,
}

/// What a security event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum SecurityKind {
    /// A message carried a wrong authentication tag (a remote open, or a
    /// frame on the bus).
    ForgedTag,
    /// An authenticated message was replayed (an old counter or request id).
    Replay,
    /// Too many remote opens or authenticated commands in too short a time.
    RateLimitTripped,
    /// Wrong codes spiked across the bank's keypads.
    KeypadLockoutSpike,
    /// A door opened without a command.
    ForcedDoor,
}

/// Something security must look at (OCPP 1.6 has no such message; OCPP
/// 2.0.1 has SecurityEventNotification).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SecurityEvent {
    /// What.
    pub kind: SecurityKind,
    /// Which compartment, if one.
    pub compartment: Option<CompartmentId>,
    /// Which node, for events on the bus.
    pub node: Option<NodeAddr>,
    /// The remote open's request id, for events on the uplink.
    pub request_id: Option<u64>,
    /// Which keypad, for keypad events.
    pub keypad: Option<u8>,
    /// How many (wrong codes, rejected frames) were counted.
    pub count: u32,
    /// The camera snapshot taken for it, if any.
    pub snapshot: Option<u32>,
    /// When.
    pub at: Stamp,
}

/// What an audit record records (the bank's audit events, one for one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum AuditEvent {
    /// A compartment was reserved.
    Reserved,
    /// A reservation was cancelled.
    ReservationCancelled,
    /// A reservation ran out.
    ReservationExpired,
    /// An unlock was sent to the node.
    UnlockCommanded {
        /// Why.
        purpose: Purpose,
        /// 0 for the first attempt, 1 for the retry.
        attempt: u8,
    },
    /// The door opened after an unlock.
    DoorOpened,
    /// The door closed.
    DoorClosed,
    /// The presence sensor confirmed the deposit.
    DepositVerified,
    /// The door closed on an empty compartment during a deposit.
    NoParcelDetected,
    /// The presence sensor confirmed the parcel was taken.
    PickupVerified {
        /// The session that ended with the parcel gone.
        purpose: Purpose,
    },
    /// The door closed with the parcel still inside.
    ParcelLeftInside,
    /// A reminder went out.
    ReminderSent,
    /// A reminder fell in quiet hours and waits.
    ReminderDeferred {
        /// How long, in milliseconds.
        by_ms: Duration,
    },
    /// An escalation went out.
    EscalationSent,
    /// The parcel expired.
    Expired,
    /// The door opened without a command.
    DoorForced,
    /// The door stayed open past its limit.
    DoorAjar,
    /// The lock did not release.
    LockFault,
    /// The sensors contradict the books.
    SensorDisagrees {
        /// What the presence sensor said.
        presence: Presence,
    },
    /// Taken out of service.
    OutOfService {
        /// Why.
        reason: ServiceReason,
    },
    /// Put back in service.
    BackInService,
    /// A pickup deadline was pushed back.
    DeadlineExtended {
        /// By how much, in milliseconds.
        by_ms: Duration,
    },
    /// A wrong code at a keypad.
    CodeRejected {
        /// Which keypad.
        keypad: u8,
    },
    /// A right code at a keypad.
    CodeAccepted {
        /// Which keypad.
        keypad: u8,
    },
    /// Wrong codes spiked bank-wide.
    KeypadAttackSuspected,
    /// The power source changed.
    Power(PowerStatus),
    /// The books were restored after a restart.
    Restored,
    /// Reconciliation found the compartment different from the books.
    Discrepancy {
        /// Door seen.
        door: DoorState,
        /// Presence seen.
        occupied: bool,
        /// Channel fault seen.
        faulted: bool,
    },
    /// A node stopped answering.
    NodeLost(NodeAddr),
    /// A node answers again.
    NodeBack(NodeAddr),
    /// A node reported a fault.
    FaultReported(FaultCode),
    /// Sensor health asked for maintenance.
    MaintenanceNeeded,
    /// An authenticated remote open was accepted.
    RemoteOpenAccepted {
        /// The request's id.
        request_id: u64,
    },
    /// A remote open was refused; nothing was opened.
    RemoteOpenRefused {
        /// The compartment the request named.
        compartment: CompartmentId,
        /// The request's id, as sent.
        request_id: u64,
        /// Why.
        reason: RemoteOpenRefusal,
    },
    /// Too many remote opens: they are locked until staff clear the lock.
    RemoteOpensLocked {
        /// Remote opens accepted within the window when the lock closed.
        opens: u8,
    },
    /// Staff cleared the remote-open lock.
    RemoteOpenLockCleared {
        /// Who (staff id).
        staff: u32,
    },
    /// A named member of staff had this door opened.
    StaffOpened {
        /// Who (staff id).
        staff: u32,
    },
    /// A member of staff asked to open every door of the bank.
    StaffOpenAll {
        /// Who (staff id).
        staff: u32,
        /// Doors unlocked by this call.
        opened: u16,
        /// Doors left for the next call.
        remaining: u16,
    },
    /// An offline pickup token was accepted.
    TokenAccepted {
        /// The reader it was presented at.
        keypad: u8,
    },
    /// An offline pickup token was refused (counted like a wrong code).
    TokenRefused {
        /// The reader it was presented at.
        keypad: u8,
    },
    /// A named member of staff had the compartment's presence sensor take
    /// its reading as the empty baseline (after replacing a load cell).
    SensorRecalibrated {
        /// Who (staff id).
        staff: u32,
    },
    /// The bank began a new incarnation (a first start, or a restore the
    /// operator confirmed): remote opens and offline tokens of the previous
    /// one open nothing any more; sign new ones for `incarnation`.
    IncarnationStarted {
        /// The incarnation before (0: none).
        previous: u32,
        /// The incarnation from now on.
        incarnation: u32,
    },
    /// The right code of an expired parcel was typed: the collector was
    /// sent to the counter.
    CodeForCounterParcel {
        /// The keypad.
        keypad: u8,
    },
    /// The right deposit code was typed for a reserved compartment.
    DepositCodeAccepted {
        /// The keypad.
        keypad: u8,
    },
    /// A deposit code that opens nothing was typed (counted like a wrong
    /// pickup code).
    DepositCodeRejected {
        /// The keypad.
        keypad: u8,
    },
    /// An account signed in at the bank's screen opened a reserved
    /// compartment for a deposit.
    DepositOpenedBy {
        /// The account (staff or courier id).
        account: u32,
    },
    /// A named member of staff saw empty a compartment whose expired
    /// parcel's removal the presence sensor disputed, and certified the
    /// removal; the removal record follows.
    RemovalCertified {
        /// Who (staff id).
        staff: u32,
    },
    /// The bank's rules were changed.
    PolicyChanged,
    /// An audit event this version of the uplink has no name for.
    Other,
    /// A refrigerated compartment that was alerted out of range reads in
    /// range again.
    TemperatureRestored {
        /// How long it read out of range, in milliseconds.
        out_for_ms: Duration,
        /// The reading farthest out meanwhile.
        worst: Temperature,
    },
    /// A perishable parcel's temperatures while it was in its compartment,
    /// recorded as it leaves (just before its pickup or removal record).
    ColdChain {
        /// The lowest reading (`null`: none came while it was inside).
        min: Option<Temperature>,
        /// The highest reading.
        max: Option<Temperature>,
        /// Milliseconds its compartment read out of its limits meanwhile.
        out_of_range_ms: Duration,
    },
    /// The bank itself answered a free compartment's drifting presence
    /// sensor with a signed recalibration, and the node took its reading
    /// as the new empty baseline (actor `system`). No alert goes with it;
    /// drift found again is answered again while the bank's time to settle
    /// lasts, and is a maintenance alert after it.
    SensorRecalibratedAutomatically {
        /// The drift it answered.
        drift: HealthIssue,
    },
    /// The camera took the snapshot the record's `snapshot` names.
    SnapshotTaken,
    /// The camera failed to take the snapshot the record's `snapshot`
    /// names: the alert or handoff that asked for it has no picture.
    SnapshotFailed,
    /// The backend had a free compartment's presence sensor take its
    /// reading as the empty baseline (`recalibrate_sensor`; actor
    /// `backend`).
    SensorRecalibratedRemotely,
    /// The backend asked for a camera snapshot of the compartment
    /// (`trigger_snapshot`; actor `backend`): the record's `snapshot` names
    /// the picture, and `snapshot_taken` or `snapshot_failed` follows under
    /// the same reference.
    SnapshotRequested,
    /// A named member of staff repaired or replaced the compartment's
    /// hardware (a lock, a load cell, a door switch): its sensor-health
    /// history (lock faults, drift) starts again.
    Serviced {
        /// Who (staff id).
        staff: u32,
    },
    /// The zero of the compartment's presence sensor moved under a parcel
    /// resting behind its shut door (actor `system`): the bank follows the
    /// parcel's readings and re-tares the sensor itself once the parcel
    /// has left, so no alert goes with it. Should the zero move on after
    /// the bank's time to settle, or so far that the parcel or the empty
    /// compartment would be misread, the maintenance alert follows.
    DriftUnderParcel {
        /// The drift found: `reading` is how far the parcel's reading
        /// moved.
        drift: HealthIssue,
    },
    /// The re-tare a person asked for (`sensor_recalibrated`,
    /// `sensor_recalibrated_remotely`, a certified removal) did not take
    /// (actor `system`): the node refused the calibrate, never answered it,
    /// or it could not be sent. The sensor keeps its old baseline; the
    /// maintenance alert goes with it.
    RecalibrationFailed,
}

/// An audit record's link in the bank's hash chain: 32 bytes, lowercase
/// hex in JSON, a byte string in postcard (33 bytes with its length).
pub type AuditLink = HexArray<32>;

/// One record of the bank's audit trail. `seq` is gap-free across
/// restarts: a backend that sees a jump knows records are missing.
///
/// `link` is the record's link in the bank's audit hash chain: SHA-256 over
/// the previous record's link and the bank's own record (see
/// `locker_domain::bank::chain` for the exact bytes; the bank's record has
/// more detail than this projection, so a backend cannot recompute a link
/// from this message alone). What a backend does with it: keep the links it
/// received; the gateway's audit file, checked with `locker-gateway
/// verify-audit`, must show the same link at the same sequence number, or
/// it was rewritten. A record that comes again with a sequence number
/// already received and another link was re-issued after the bank's state
/// was rolled back (or forged): treat it as a security event, never as a
/// duplicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditRecord {
    /// Gap-free sequence number.
    pub seq: u64,
    /// When.
    pub at: Stamp,
    /// Who.
    pub actor: Actor,
    /// Which compartment, if one.
    pub compartment: Option<CompartmentId>,
    /// Which parcel, if one.
    pub parcel: Option<ParcelNumber>,
    /// What.
    pub event: AuditEvent,
    /// The camera snapshot taken for it, if any.
    pub snapshot: Option<u32>,
    /// The record's link in the bank's audit hash chain.
    pub link: AuditLink,
}

/// Counters since the bank was first started (OCPP's MeterValues, for lockers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Statistics {
    /// When.
    pub at: Stamp,
    /// Verified deposits.
    pub deposits: u32,
    /// Verified pickups.
    pub pickups: u32,
    /// Reminders sent.
    pub reminders: u32,
    /// Escalations sent.
    pub escalations: u32,
    /// Parcels expired.
    pub expiries: u32,
    /// Alerts raised, all kinds.
    pub alerts: u32,
    /// Mean time between deposit and pickup, in seconds.
    pub mean_dwell_s: Option<u64>,
    /// Compartments in the layout.
    pub compartments: u16,
    /// Compartments free and in service now.
    pub free: u16,
    /// Compartments out of service now.
    pub out_of_service: u16,
    /// Messages waiting in the outbound queue.
    pub backlog: u32,
}

/// Hours of the day in [`Analytics`].
pub const ANALYTICS_HOURS: usize = 24;
/// Days of the week in [`Analytics`], Monday first.
pub const ANALYTICS_WEEKDAYS: usize = 7;
/// Dwell-time buckets in [`Analytics`]: `< 1 h`, `1–4 h`, `4–12 h`,
/// `12–24 h`, `24–48 h`, `48–72 h`, `≥ 72 h`, each bound in the bucket
/// above it.
pub const ANALYTICS_DWELL_BUCKETS: usize = 7;
/// The most size classes an [`Analytics`] lists.
pub const ANALYTICS_SIZES: usize = 4;

/// One size class of the bank in [`Analytics`]: deposits since the bank
/// was first started, and how its compartments stand now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SizeFigures {
    /// The size class.
    pub size: SizeClass,
    /// Verified deposits into compartments of the class.
    pub deposits: u32,
    /// Compartments of the class in the layout.
    pub compartments: u16,
    /// Compartments of the class holding a parcel now.
    pub occupied: u16,
    /// Compartments of the class out of service now.
    pub out_of_service: u16,
}

/// The bank's analytics since it was first started, for a property
/// manager: when parcels arrive and leave (the bank's local wall clock;
/// deposits and pickups made while it had none are in no hour and no
/// weekday), how long they stay, which sizes are used, and why new
/// parcels were turned away. Sent with every [`Statistics`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Analytics {
    /// When.
    pub at: Stamp,
    /// Verified deposits by local hour of day (0 = midnight to 1 am).
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<u32, ANALYTICS_HOURS>")
    )]
    pub deposits_by_hour: Vec<u32, ANALYTICS_HOURS>,
    /// Verified pickups by local hour of day.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<u32, ANALYTICS_HOURS>")
    )]
    pub pickups_by_hour: Vec<u32, ANALYTICS_HOURS>,
    /// Verified deposits by local weekday, Monday first.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<u32, ANALYTICS_WEEKDAYS>")
    )]
    pub deposits_by_weekday: Vec<u32, ANALYTICS_WEEKDAYS>,
    /// Verified pickups by local weekday, Monday first.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<u32, ANALYTICS_WEEKDAYS>")
    )]
    pub pickups_by_weekday: Vec<u32, ANALYTICS_WEEKDAYS>,
    /// Verified pickups by time since the deposit, in the buckets of
    /// [`ANALYTICS_DWELL_BUCKETS`].
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<u32, ANALYTICS_DWELL_BUCKETS>")
    )]
    pub dwell: Vec<u32, ANALYTICS_DWELL_BUCKETS>,
    /// The bank's size classes, smallest first (those it has none of
    /// left out).
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<SizeFigures, ANALYTICS_SIZES>")
    )]
    pub sizes: Vec<SizeFigures, ANALYTICS_SIZES>,
    /// New parcels refused: larger than every compartment.
    pub refused_oversize: u32,
    /// New parcels refused: every compartment that fits was taken.
    pub refused_bank_full: u32,
    /// New parcels refused while the bank could have taken them: a
    /// compartment that fits stood empty out of service, the bank was made
    /// unavailable or was resetting, or the battery was low.
    pub refused_unavailable: u32,
}
