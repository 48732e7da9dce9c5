//! The audit trail: one record per state change, the chain of custody.
//!
//! Sequence numbers start at 0 and increase by exactly one per record, across
//! restarts (they are part of the snapshot), so a consumer that sees a jump
//! knows it lost records.
//!
//! Each record also carries its link in a hash chain over every record
//! before it ([`chain`](super::chain)), so a record altered, deleted or
//! re-issued with other content after the fact shows.

use chrono::NaiveDateTime;
use locker_proto::time::{Duration, Instant};
use locker_proto::{
    CompartmentId, DoorState, FaultCode, HealthIssue, NodeAddr, PowerStatus, Presence, Temperature,
};
use serde::{Deserialize, Serialize};

// The bank's words, shared with the uplink: defined once in the vocabulary.
pub use locker_proto::{Actor, ServiceReason};

use super::alert::SnapshotRef;
use super::chain::AuditLink;
use super::codes::KeypadId;
use super::incarnation::Incarnation;
use super::parcel::{ParcelId, Purpose};
use super::remote::RemoteOpenError;
use super::token::TokenError;

/// A member of staff, as the gateway's staff sign-in identifies them.
/// Recorded with every staff action that opens doors or lifts a security
/// lock, so each one is attributable to a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StaffId(pub u32);

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuditEvent {
    /// A compartment was reserved for a parcel.
    Reserved,
    /// A reservation was cancelled.
    ReservationCancelled,
    /// A reservation ran out before a parcel was deposited.
    ReservationExpired,
    /// An unlock was sent to the node.
    UnlockCommanded {
        /// Why the door is being opened.
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
    /// The parcel was taken: the presence sensor confirmed it, or, right
    /// after a [`RemovalCertified`](AuditEvent::RemovalCertified) record,
    /// the member of staff it names certified it.
    PickupVerified {
        /// What kind of door session ended with the parcel gone.
        purpose: Purpose,
    },
    /// The door closed with the parcel still inside.
    ParcelLeftInside,
    /// A reminder went out.
    ReminderSent,
    /// A reminder fell in quiet hours and was moved.
    ReminderDeferred {
        /// How long it waits.
        by: Duration,
    },
    /// An escalation went out.
    EscalationSent,
    /// The parcel expired; staff have a removal task.
    Expired,
    /// The door opened without a command.
    DoorForced,
    /// The door stayed open past its limit.
    DoorAjar,
    /// The door never opened after an unlock and its retry, or the node refused.
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
        /// By how much.
        by: Duration,
    },
    /// A wrong code at a keypad.
    CodeRejected {
        /// Which keypad.
        keypad: KeypadId,
    },
    /// A right code at a keypad.
    CodeAccepted {
        /// Which keypad.
        keypad: KeypadId,
    },
    /// Failed attempts spiked bank-wide.
    KeypadAttackSuspected,
    /// The bank's power source changed.
    Power(PowerStatus),
    /// A snapshot was restored after a restart.
    Restored,
    /// Reconciliation found the compartment different from the books.
    Discrepancy {
        /// Door seen by the scan.
        door: DoorState,
        /// Presence seen by the scan.
        occupied: bool,
        /// Channel fault seen by the scan.
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
    /// The backend's authenticated remote open was accepted; the unlock
    /// record follows.
    RemoteOpenAccepted {
        /// The request's id.
        request_id: u64,
    },
    /// A remote open was refused (a security event: forged, replayed, stale,
    /// or over the rate limit). Nothing was opened.
    RemoteOpenRefused {
        /// The compartment the request named.
        compartment: CompartmentId,
        /// The request's id, as sent (possibly forged).
        request_id: u64,
        /// Why.
        reason: RemoteOpenError,
    },
    /// Too many remote opens within the window: every further remote open is
    /// refused until staff clear the lock.
    RemoteOpensLocked {
        /// Remote opens accepted within the window when the lock closed.
        opens: u8,
    },
    /// Staff cleared the remote-open lock.
    RemoteOpenLockCleared {
        /// Who.
        staff: StaffId,
    },
    /// A named member of staff had this door opened (one record per door of
    /// an "open all"; the unlock record follows).
    StaffOpened {
        /// Who.
        staff: StaffId,
    },
    /// A member of staff asked to open every door of the bank.
    StaffOpenAll {
        /// Who.
        staff: StaffId,
        /// Doors unlocked by this call.
        opened: u16,
        /// Doors left for the next call (the output queues were full).
        remaining: u16,
    },
    /// An offline pickup token was accepted; the unlock record follows.
    TokenAccepted {
        /// The reader (keypad, QR scanner, BLE) it was presented at.
        keypad: KeypadId,
    },
    /// An offline pickup token was refused (counted like a wrong code).
    TokenRefused {
        /// The reader it was presented at.
        keypad: KeypadId,
        /// Why.
        reason: TokenError,
    },
    /// A member of staff had the compartment's presence sensor take its
    /// reading as the empty baseline (after replacing a load cell); the
    /// node's calibrate command follows.
    SensorRecalibrated {
        /// Who.
        staff: StaffId,
    },
    /// The right code of an expired parcel was typed: the collector was
    /// told to collect it at the counter (not counted as a wrong code).
    CodeForCounterParcel {
        /// Which keypad.
        keypad: KeypadId,
    },
    /// The right deposit code was typed for this reserved compartment; the
    /// unlock for the deposit follows.
    DepositCodeAccepted {
        /// Which keypad.
        keypad: KeypadId,
    },
    /// A deposit code was typed that opens nothing (wrong, or for a
    /// compartment that is not reserved); counted against the keypad.
    DepositCodeRejected {
        /// Which keypad.
        keypad: KeypadId,
    },
    /// An account signed in at the bank's screen opened this reserved
    /// compartment for a deposit; the unlock follows.
    DepositOpenedBy {
        /// The account (staff or courier).
        account: StaffId,
    },
    /// The bank began a new incarnation ([`Bank::begin_incarnation`](super::Bank::begin_incarnation)):
    /// remote opens and offline tokens of the previous one open nothing
    /// any more.
    IncarnationStarted {
        /// The incarnation before ([`Incarnation::UNSET`] for a fresh bank).
        previous: Incarnation,
        /// The incarnation from now on.
        incarnation: Incarnation,
    },
    /// A named member of staff looked into a compartment whose expired
    /// parcel's removal the presence sensor disputed, saw it empty and
    /// certified the removal. The removal record
    /// ([`PickupVerified`](AuditEvent::PickupVerified) for a
    /// [`Removal`](Purpose::Removal), by staff), the return to service and
    /// the sensor's recalibration follow.
    RemovalCertified {
        /// Who.
        staff: StaffId,
    },
    /// The bank's rules were changed ([`Bank::set_policy`](super::Bank::set_policy)).
    PolicyChanged,
    /// A refrigerated compartment that was alerted out of range reads in
    /// range again (see [`cold`](super::cold)).
    TemperatureRestored {
        /// How long it read out of range.
        out_for: Duration,
        /// The reading farthest out meanwhile.
        worst: Temperature,
    },
    /// A perishable parcel's temperatures while it was in its compartment,
    /// recorded as it leaves (before its pickup or removal record): the
    /// proof of the cold chain at each handoff (see [`cold`](super::cold)).
    ColdChain {
        /// The lowest plausible reading (`None`: no reading came while it
        /// was inside).
        min: Option<Temperature>,
        /// The highest plausible reading.
        max: Option<Temperature>,
        /// How long the compartment read out of its limits meanwhile.
        out_of_range: Duration,
    },
    /// The bank itself had a free compartment's drifting presence sensor
    /// take its reading as the empty baseline, and the node acknowledged
    /// it (actor [`Actor::System`]; see
    /// [`Policy::drift_settle_within`](super::Policy::drift_settle_within)).
    /// No alert goes with it: drift found again is answered again until
    /// that time after the first finding is over, and is a maintenance
    /// alert after it.
    SensorRecalibratedAutomatically {
        /// The drift it answered.
        drift: HealthIssue,
    },
    /// The camera took the snapshot the record's reference names
    /// ([`Bank::handle_snapshot_result`](super::Bank::handle_snapshot_result)).
    SnapshotTaken,
    /// The camera failed to take the snapshot the record's reference names:
    /// the alert or handoff that asked for it has no picture.
    SnapshotFailed,
    /// The backend had a free compartment's presence sensor take its
    /// reading as the empty baseline
    /// ([`Bank::recalibrate_remotely`](super::Bank::recalibrate_remotely),
    /// actor [`Actor::Backend`]); the node's calibrate command follows.
    SensorRecalibratedRemotely,
    /// The backend asked for a camera snapshot of the compartment
    /// ([`Bank::snapshot_for_backend`](super::Bank::snapshot_for_backend),
    /// actor [`Actor::Backend`]): the record's reference names the picture,
    /// and [`SnapshotTaken`](Self::SnapshotTaken) or
    /// [`SnapshotFailed`](Self::SnapshotFailed) follows under it.
    SnapshotRequested,
    /// A member of staff repaired or replaced the compartment's hardware
    /// ([`Bank::serviced`](super::Bank::serviced)): its sensor-health
    /// history starts again.
    Serviced {
        /// Who.
        staff: StaffId,
    },
    /// The zero of the compartment's presence sensor moved under a parcel
    /// resting behind its shut door (actor [`Actor::System`]): the bank follows the
    /// parcel's readings and re-tares the sensor itself once the parcel
    /// has left ([`SensorRecalibratedAutomatically`](Self::SensorRecalibratedAutomatically)).
    /// No alert goes with it; should the zero move on after
    /// [`Policy::drift_settle_within`](super::Policy::drift_settle_within),
    /// or so far that the parcel or the empty compartment would be
    /// misread, the maintenance alert follows.
    DriftUnderParcel {
        /// The drift found: its `reading` is how far the parcel's reading
        /// moved.
        drift: HealthIssue,
    },
    /// The re-tare a person asked for ([`SensorRecalibrated`](Self::SensorRecalibrated),
    /// [`SensorRecalibratedRemotely`](Self::SensorRecalibratedRemotely), a
    /// certified removal) did not take (actor [`Actor::System`]): the node
    /// refused the calibrate, never answered it, or it could not be sent.
    /// The sensor keeps its old baseline; the maintenance alert goes with
    /// it.
    RecalibrationFailed,
}

impl AuditEvent {
    /// A stable snake_case name for the kind of event, for logs, counters
    /// and JSON keys (never derived from `Debug`).
    pub const fn name(&self) -> &'static str {
        match self {
            AuditEvent::Reserved => "reserved",
            AuditEvent::ReservationCancelled => "reservation_cancelled",
            AuditEvent::ReservationExpired => "reservation_expired",
            AuditEvent::UnlockCommanded { .. } => "unlock_commanded",
            AuditEvent::DoorOpened => "door_opened",
            AuditEvent::DoorClosed => "door_closed",
            AuditEvent::DepositVerified => "deposit_verified",
            AuditEvent::NoParcelDetected => "no_parcel_detected",
            AuditEvent::PickupVerified { .. } => "pickup_verified",
            AuditEvent::ParcelLeftInside => "parcel_left_inside",
            AuditEvent::ReminderSent => "reminder_sent",
            AuditEvent::ReminderDeferred { .. } => "reminder_deferred",
            AuditEvent::EscalationSent => "escalation_sent",
            AuditEvent::Expired => "expired",
            AuditEvent::DoorForced => "door_forced",
            AuditEvent::DoorAjar => "door_ajar",
            AuditEvent::LockFault => "lock_fault",
            AuditEvent::SensorDisagrees { .. } => "sensor_disagrees",
            AuditEvent::OutOfService { .. } => "out_of_service",
            AuditEvent::BackInService => "back_in_service",
            AuditEvent::DeadlineExtended { .. } => "deadline_extended",
            AuditEvent::CodeRejected { .. } => "code_rejected",
            AuditEvent::CodeAccepted { .. } => "code_accepted",
            AuditEvent::KeypadAttackSuspected => "keypad_attack_suspected",
            AuditEvent::Power(_) => "power",
            AuditEvent::Restored => "restored",
            AuditEvent::Discrepancy { .. } => "discrepancy",
            AuditEvent::NodeLost(_) => "node_lost",
            AuditEvent::NodeBack(_) => "node_back",
            AuditEvent::FaultReported(_) => "fault_reported",
            AuditEvent::MaintenanceNeeded => "maintenance_needed",
            AuditEvent::RemoteOpenAccepted { .. } => "remote_open_accepted",
            AuditEvent::RemoteOpenRefused { .. } => "remote_open_refused",
            AuditEvent::RemoteOpensLocked { .. } => "remote_opens_locked",
            AuditEvent::RemoteOpenLockCleared { .. } => "remote_open_lock_cleared",
            AuditEvent::StaffOpened { .. } => "staff_opened",
            AuditEvent::StaffOpenAll { .. } => "staff_open_all",
            AuditEvent::TokenAccepted { .. } => "token_accepted",
            AuditEvent::TokenRefused { .. } => "token_refused",
            AuditEvent::SensorRecalibrated { .. } => "sensor_recalibrated",
            AuditEvent::IncarnationStarted { .. } => "incarnation_started",
            AuditEvent::PolicyChanged => "policy_changed",
            AuditEvent::TemperatureRestored { .. } => "temperature_restored",
            AuditEvent::ColdChain { .. } => "cold_chain",
            AuditEvent::SensorRecalibratedAutomatically { .. } => {
                "sensor_recalibrated_automatically"
            }
            AuditEvent::CodeForCounterParcel { .. } => "code_for_counter_parcel",
            AuditEvent::DepositCodeAccepted { .. } => "deposit_code_accepted",
            AuditEvent::DepositCodeRejected { .. } => "deposit_code_rejected",
            AuditEvent::DepositOpenedBy { .. } => "deposit_opened_by",
            AuditEvent::RemovalCertified { .. } => "removal_certified",
            AuditEvent::SensorRecalibratedRemotely => "sensor_recalibrated_remotely",
            AuditEvent::SnapshotTaken => "snapshot_taken",
            AuditEvent::SnapshotFailed => "snapshot_failed",
            AuditEvent::SnapshotRequested => "snapshot_requested",
            AuditEvent::Serviced { .. } => "serviced",
            AuditEvent::DriftUnderParcel { .. } => "drift_under_parcel",
            AuditEvent::RecalibrationFailed => "recalibration_failed",
        }
    }
}

/// One audit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Gap-free sequence number.
    pub seq: u64,
    /// Monotonic time.
    pub at: Instant,
    /// Wall time, UTC, once [`Bank::set_wall_clock`](super::Bank::set_wall_clock) was called.
    pub wall: Option<NaiveDateTime>,
    /// Who.
    pub actor: Actor,
    /// Which compartment, if one.
    pub compartment: Option<CompartmentId>,
    /// Which parcel, if one.
    pub parcel: Option<ParcelId>,
    /// What.
    pub event: AuditEvent,
    /// The camera snapshot requested for this event, if any.
    pub snapshot: Option<SnapshotRef>,
    /// The record's link in the audit hash chain: SHA-256 over the previous
    /// record's link and this record's fields (see [`chain`](super::chain)).
    /// Absent in JSON written before the chain, which reads as
    /// [`AuditLink::GENESIS`] (no link).
    #[serde(default)]
    pub link: AuditLink,
}
