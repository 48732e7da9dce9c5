//! Downward messages: requests from the backend to the gateway, and the
//! backend's acknowledgements of upward messages ([`Downward::Ack`], and
//! [`Downward::BootAck`] for a boot notification).
//!
//! Every request is answered exactly once, with an
//! [`Upward::CallResult`](super::Upward::CallResult) carrying the
//! [`Response`](super::Response) variant named in the request's docs, or an
//! [`Upward::CallError`](super::Upward::CallError). A request repeated with
//! the same [`MessageId`] (a transport redelivery, a backend retry) is not
//! carried out again: its one answer is already in the gateway's outbound
//! queue, delivered until acknowledged.

use serde::{Deserialize, Serialize};

use super::envelope::MessageId;
use super::types::{CodeHash, OfflineToken, ParcelRef, Recipient, Tag};
use crate::message::{NodeConfig, RebootKind};
use crate::time::Duration;
use crate::version::ProtocolVersions;
use crate::vocab::{CompartmentId, Dimensions, NodeAddr, ParcelKind, SizeClass};
use crate::zone::TimeZone;

/// A message from the backend to the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
// Messages are values: there is no heap to box the big ones on `no_std`.
#[allow(clippy::large_enum_variant)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Downward {
    /// The backend has upward message `message`: the gateway may forget it.
    /// Not itself acknowledged.
    Ack(MessageId),
    /// Hold a compartment for a parcel. Answered with [`Response::Reserved`](super::Response::Reserved).
    ReserveCompartment(ReserveCompartment),
    /// A parcel is on its way: reserve a compartment and keep its pickup
    /// credential. Answered with [`Response::ParcelAnnounced`](super::Response::ParcelAnnounced).
    AnnounceParcel(AnnounceParcel),
    /// Cancel a reservation before the deposit. Answered with
    /// [`Response::ReservationCancelled`](super::Response::ReservationCancelled).
    CancelReservation {
        /// The reserved compartment.
        compartment: CompartmentId,
    },
    /// Push a stored parcel's reminder, escalation and expiry back. Answered
    /// with [`Response::DeadlineExtended`](super::Response::DeadlineExtended).
    ExtendDeadline {
        /// The compartment holding the parcel.
        compartment: CompartmentId,
        /// By how much, in milliseconds.
        by_ms: Duration,
    },
    /// Open a compartment remotely (audited). Answered with
    /// [`Response::Opening`](super::Response::Opening).
    RemoteOpen(RemoteOpen),
    /// Take a compartment, or the whole bank, out of service or back.
    /// Answered with [`Response::AvailabilityChanged`](super::Response::AvailabilityChanged).
    ChangeAvailability {
        /// One compartment or the bank.
        scope: Scope,
        /// `true` puts it back in service.
        available: bool,
    },
    /// Restart the gateway or one node, finishing door sessions under way
    /// first. Answered with [`Response::ResetAccepted`](super::Response::ResetAccepted)
    /// at once; the boot notification after the restart names this request.
    Reset {
        /// Soft (keep calibration) or hard.
        kind: RebootKind,
        /// The gateway or one node.
        target: ResetTarget,
    },
    /// Replace the bank's rules. Answered with
    /// [`Response::ConfigurationChanged`](super::Response::ConfigurationChanged).
    ChangeConfiguration(PolicyConfig),
    /// The bank's rules in force. Answered with
    /// [`Response::Configuration`](super::Response::Configuration).
    GetConfiguration,
    /// Take a camera snapshot of a compartment. Answered with
    /// [`Response::SnapshotScheduled`](super::Response::SnapshotScheduled).
    TriggerSnapshot {
        /// The compartment in view.
        compartment: CompartmentId,
    },
    /// Versions, bus statistics and compartments needing service. Answered
    /// with [`Response::Diagnostics`](super::Response::Diagnostics).
    GetDiagnostics,
    /// The backend has the [`BootNotification`](super::BootNotification)
    /// `boot` (an [`Ack`](Downward::Ack) of it) and speaks the uplink
    /// versions `versions`: the gateway speaks the highest one both speak
    /// (`spec/versioning.md` §4.2). The backend acknowledges every boot
    /// notification with this, and every other upward message with `Ack`.
    /// Not itself acknowledged.
    BootAck {
        /// The boot notification acknowledged.
        boot: MessageId,
        /// The uplink versions the backend speaks, one bit per version
        /// ([`ProtocolVersions::UPLINK`] for this crate).
        versions: ProtocolVersions,
    },
    /// Have a free compartment's presence sensor take its reading now as
    /// the empty baseline (a signed calibrate to its node), the remote
    /// answer to a drift alert. Refused unless the books say free, the door
    /// is shut, the last reading is empty and the compartment is not out of
    /// service for a forced door or a disagreeing sensor (`wrong_stage`,
    /// `out_of_service`): a baseline taken over an item would hide it.
    /// Answered with
    /// [`Response::SensorRecalibrating`](super::Response::SensorRecalibrating).
    RecalibrateSensor {
        /// The compartment.
        compartment: CompartmentId,
    },
}

impl Downward {
    /// Whether this is a request (answered with a result or an error)
    /// rather than an acknowledgement.
    pub const fn is_request(&self) -> bool {
        !matches!(self, Downward::Ack(_) | Downward::BootAck { .. })
    }

    /// The snake_case name of the message, as in JSON.
    pub const fn name(&self) -> &'static str {
        match self {
            Downward::Ack(_) => "ack",
            Downward::ReserveCompartment(_) => "reserve_compartment",
            Downward::AnnounceParcel(_) => "announce_parcel",
            Downward::CancelReservation { .. } => "cancel_reservation",
            Downward::ExtendDeadline { .. } => "extend_deadline",
            Downward::RemoteOpen(_) => "remote_open",
            Downward::ChangeAvailability { .. } => "change_availability",
            Downward::Reset { .. } => "reset",
            Downward::ChangeConfiguration(_) => "change_configuration",
            Downward::GetConfiguration => "get_configuration",
            Downward::TriggerSnapshot { .. } => "trigger_snapshot",
            Downward::GetDiagnostics => "get_diagnostics",
            Downward::BootAck { .. } => "boot_ack",
            Downward::RecalibrateSensor { .. } => "recalibrate_sensor",
        }
    }
}

/// What a parcel needs from a compartment. Give `dimensions` when the
/// parcel was measured, else its carrier's `size` label; at least one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ParcelNeeds {
    /// The carrier's size label.
    pub size: Option<SizeClass>,
    /// Measured outer dimensions (take precedence over `size`).
    pub dimensions: Option<Dimensions>,
    /// Perishable: refrigerated compartments only.
    pub perishable: bool,
    /// For a recipient who needs an accessible-height door.
    pub accessible: bool,
}

/// Hold a compartment for a parcel; the bank issues its pickup code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReserveCompartment {
    /// Delivery or return.
    pub kind: ParcelKind,
    /// What the parcel needs.
    pub needs: ParcelNeeds,
}

/// How the collector will prove they may open the compartment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Credential {
    /// The backend chose the pickup code and keeps it; the bank gets its
    /// 16-byte hash (`{"code_hash": "hex…"}`).
    CodeHash(CodeHash),
    /// An offline token the collector presents (QR code, NFC), opaque to the
    /// uplink, at most 64 bytes (`{"offline_token": "hex…"}`).
    OfflineToken(OfflineToken),
}

/// The parcel's deadlines beyond the bank's policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deadlines {
    /// Extra pickup time for this parcel, in milliseconds, added to the
    /// bank's reminder, escalation and expiry once the deposit is verified.
    pub extra_pickup_ms: Duration,
}

/// A parcel is on its way to the bank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AnnounceParcel {
    /// The backend's reference (tracking number).
    #[cfg_attr(feature = "schema", schemars(with = "super::schema::Text<32>"))]
    pub parcel_ref: ParcelRef,
    /// Who it is for, as the backend addresses them.
    #[cfg_attr(feature = "schema", schemars(with = "super::schema::Text<64>"))]
    pub recipient: Recipient,
    /// Delivery or return.
    pub kind: ParcelKind,
    /// What the parcel needs.
    pub needs: ParcelNeeds,
    /// Deadlines beyond the bank's policy.
    pub deadlines: Deadlines,
    /// The code hash or the offline token the collector will present.
    pub credential: Credential,
}

/// Open a compartment remotely.
///
/// `tag` authenticates the request: the first 16 bytes of
/// HMAC-SHA256(backend key, `b"locker/v1/remote-open"` ‖ bank id as u32 LE ‖
/// `incarnation` as u32 LE ‖ `compartment` as u16 LE ‖ `request_id` as u64
/// LE). `request_id` must grow with every remote open of the bank, so a
/// replayed request is refused; `incarnation` is the one of the gateway's
/// latest [`BootNotification`](super::BootNotification), so a request made
/// before a restore or a fresh start of the bank is refused too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RemoteOpen {
    /// The bank's incarnation the request is signed for.
    pub incarnation: u32,
    /// The compartment to open.
    pub compartment: CompartmentId,
    /// The backend's counter for remote opens of this bank.
    pub request_id: u64,
    /// The authentication tag.
    pub tag: Tag,
}

/// One compartment or the whole bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Scope {
    /// The whole bank: unavailable means no new reservations or deposits;
    /// stored parcels can still be collected.
    Bank,
    /// One compartment.
    Compartment(CompartmentId),
}

/// What a reset restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ResetTarget {
    /// The gateway itself.
    Gateway,
    /// One compartment node, over the bus.
    Node(NodeAddr),
}

/// Quiet hours for reminders, in minutes since local midnight (the bank's
/// UTC clock in [`PolicyConfig::time_zone`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QuietHours {
    /// First quiet minute (0..1440).
    pub start_minute: u16,
    /// First minute after the quiet period (0..1440).
    pub end_minute: u16,
}

/// Keypad attempt limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LockoutConfig {
    /// Wrong codes at one keypad that cost nothing.
    pub free_attempts: u8,
    /// The first lockout, doubling with each further wrong code.
    pub base_lockout_ms: Duration,
    /// The longest lockout.
    pub max_lockout_ms: Duration,
    /// The window over which wrong codes bank-wide are counted.
    pub spike_window_ms: Duration,
    /// More wrong codes than this within the window raise a security event.
    pub spike_threshold: u16,
}

/// Sensor-health thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HealthConfig {
    /// How far an empty compartment's reading may drift from 0.
    pub drift_band: i32,
    /// How long a reading may stay exactly the same before it is stuck.
    pub stuck_after_ms: Duration,
    /// The window over which door changes are counted.
    pub flap_window_ms: Duration,
    /// More door changes than this within the window is a flapping switch.
    pub flap_changes: u8,
    /// This many lock faults need a technician.
    pub lock_fault_limit: u8,
}

/// The bank's rules, every field as the bank's `Policy` has it (durations
/// in milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PolicyConfig {
    /// After deposit, the first reminder.
    pub reminder_after_ms: Duration,
    /// After deposit, the escalation.
    pub escalation_after_ms: Duration,
    /// After deposit, expiry and removal.
    pub expiry_after_ms: Duration,
    /// How long a reservation holds a compartment.
    pub reservation_hold_ms: Duration,
    /// How long a courier has to retry after "no parcel detected".
    pub deposit_window_ms: Duration,
    /// How long a door may stay open before an alert.
    pub door_ajar_limit_ms: Duration,
    /// How long after an unlock the door must have opened.
    pub unlock_confirm_ms: Duration,
    /// How long after the door closes the presence sensor may take to settle.
    pub presence_settle_ms: Duration,
    /// Lock pulse length.
    pub unlock_pulse_ms: u16,
    /// Digits in a pickup code.
    pub code_digits: u8,
    /// Below this battery charge (percent) new deposits are refused.
    pub min_charge_for_deposit: u8,
    /// When reminders wait, if ever, on the bank's local clock.
    pub quiet_hours: Option<QuietHours>,
    /// The bank's time zone: turns its UTC clock into the local time of
    /// quiet hours and of the analytics' hours and weekdays. Every stamp on
    /// the uplink stays UTC. Absent from JSON written before it existed:
    /// UTC.
    #[serde(default)]
    pub time_zone: TimeZone,
    /// Keypad attempt limits.
    pub lockout: LockoutConfig,
    /// Sensor-health thresholds.
    pub health: HealthConfig,
    /// The configuration the bank gives its nodes, if it configures them:
    /// sent to every node when it changes (the door-ajar limit is
    /// `door_ajar_limit_ms`, rounded up to seconds, whatever this says), so
    /// a node is configured from the backend without anyone at the bank.
    /// Absent from JSON written before it existed: none.
    #[serde(default)]
    pub node_config: Option<NodeConfig>,
}
