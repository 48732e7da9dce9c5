//! The bank's types in the uplink's words, where the two really differ.
//!
//! The words both speak (actors, parcel kinds, door purposes, service
//! reasons, notification kinds, sensor-health findings) are one type each in
//! [`locker_proto::vocab`]: the bank uses them and the uplink carries them
//! as they are, so nothing here translates them. What is left are the
//! mirrors whose wire contract differs from the bank's types:
//!
//! - audit events, alerts and their evidence: the bank's carry what stays at
//!   the bank (staff and keypad ids as types, why a token was refused, the
//!   details of a refused remote open, a node's refusal reason), and a bank
//!   alert is either a staff alert or a security event on the uplink;
//! - a compartment's stage, which the uplink flattens into one status;
//! - the bank's policy and the uplink's configuration (milliseconds, only
//!   what the backend may change), parcel needs and compartments;
//! - bank errors, as the uplink's error codes.
//!
//! (Monotonic instants become [`Stamp`](wire::Stamp)s and parcel ids become
//! [`ParcelNumber`](wire::ParcelNumber)s where the messages are built.)
//!
//! Every match names every variant and none has a catch-all arm: a variant
//! added to a bank enum does not compile until it has been decided what it
//! is on the uplink. The `locker-proto` enums matched here
//! ([`Purpose`], [`PowerStatus`], [`NackReason`]) are closed, not
//! `#[non_exhaustive]`, so the same holds for them (a `#[non_exhaustive]`
//! enum of another crate cannot be matched without a wildcard).

use core::fmt::Write;

use locker_proto::time::Duration;
use locker_proto::uplink as wire;
use locker_proto::{NackReason, NodeAddr, PowerStatus};

use crate::bank::codes::{CodeError, MAX_CODE_DIGITS, MIN_CODE_DIGITS, PickupCode};
use crate::bank::{
    AlertKind, AllocationError, AuditEvent, BankError, Compartment, CompartmentFlags,
    DepositsClosed, Evidence, Fit, ParcelNeeds, Policy, Purpose, QuietHours, RemoteOpenError,
    Stage,
};

pub(crate) fn status(stage: Stage) -> wire::CompartmentStatus {
    use wire::CompartmentStatus as S;
    match stage {
        Stage::Free => S::Free,
        Stage::Reserved => S::Reserved,
        Stage::Stored => S::Stored,
        Stage::Expired => S::Expired,
        Stage::Door { purpose, .. } => match purpose {
            Purpose::Deposit => S::Depositing,
            Purpose::Pickup => S::Collecting,
            Purpose::Removal => S::Removing,
            Purpose::Inspection => S::Inspecting,
        },
    }
}

/// A bank alert on the uplink: a staff alert, or a security event.
pub(crate) enum AlertClass {
    /// A staff alert, with its evidence.
    Staff(wire::AlertKind, wire::Evidence),
    /// A security event.
    Security(Security),
}

/// A security event, as far as its alert tells.
pub(crate) struct Security {
    pub(crate) kind: wire::SecurityKind,
    /// The node the evidence names (`None`: the compartment's).
    pub(crate) node: Option<NodeAddr>,
    /// The keypad, for keypad failures.
    pub(crate) keypad: Option<u8>,
    /// Refusals or failures counted.
    pub(crate) count: u32,
}

pub(crate) fn alert_class(k: AlertKind, e: Evidence) -> AlertClass {
    use wire::AlertKind as A;
    use wire::SecurityKind as S;
    let staff = |kind| AlertClass::Staff(kind, evidence(e));
    match k {
        // Its kind is the reason the node refused the last command for.
        AlertKind::BusCommandsRefused => AlertClass::Security(security(None, e)),
        AlertKind::ForcedDoor => AlertClass::Security(security(Some(S::ForcedDoor), e)),
        AlertKind::KeypadAttack => AlertClass::Security(security(Some(S::KeypadLockoutSpike), e)),
        AlertKind::LockFault => staff(A::LockFault),
        AlertKind::DoorAjar => staff(A::DoorAjar),
        AlertKind::ParcelMissing => staff(A::ParcelMissing),
        AlertKind::UnexpectedItem => staff(A::UnexpectedItem),
        AlertKind::DoorOpenUnexpectedly => staff(A::DoorOpenUnexpectedly),
        AlertKind::Maintenance => staff(A::SensorHealth),
        AlertKind::NodeUnreachable => staff(A::NodeLost),
        AlertKind::NodeFault => staff(A::NodeFault),
        AlertKind::RemovalNotVerified => staff(A::RemovalNotVerified),
        AlertKind::ForgedRemoteOpen => staff(A::ForgedRemoteOpen),
        AlertKind::RemoteOpenFlood => staff(A::RemoteOpenFlood),
        AlertKind::TemperatureOutOfRange => staff(A::TemperatureOutOfRange),
        AlertKind::TemperatureSensorSilent => staff(A::TemperatureSensorSilent),
    }
}

/// An alert's evidence as a staff alert carries it. What only security
/// events carry (a keypad's failures, a node's refusals) is no evidence here.
fn evidence(e: Evidence) -> wire::Evidence {
    match e {
        Evidence::None => wire::Evidence::None,
        Evidence::Presence(p) => wire::Evidence::Presence(p),
        Evidence::Door(d) => wire::Evidence::Door(d),
        Evidence::Fault(f) => wire::Evidence::Fault(f),
        Evidence::UnlockAttempts(n) => wire::Evidence::UnlockAttempts(n),
        Evidence::Scan {
            door,
            occupied,
            faulted,
        } => wire::Evidence::Scan {
            door,
            occupied,
            faulted,
        },
        Evidence::Health(h) => wire::Evidence::Health(h),
        Evidence::Node(n) => wire::Evidence::Node(n),
        Evidence::RemoteOpen { request_id } => wire::Evidence::RemoteOpen { request_id },
        Evidence::RemoteOpens { opens, window } => wire::Evidence::RemoteOpens {
            opens,
            window_ms: window,
        },
        Evidence::Temperature {
            reading,
            limit,
            out_for,
        } => wire::Evidence::Temperature {
            reading,
            limit,
            out_for_ms: out_for,
        },
        Evidence::TemperatureSilent { last, silent_for } => wire::Evidence::TemperatureSilent {
            last,
            silent_for_ms: silent_for,
        },
        Evidence::Keypad { .. } | Evidence::CommandsRefused { .. } => wire::Evidence::None,
    }
}

/// A security event from its alert's evidence. Without a `kind`, the kind
/// is that of the node's refusals in the evidence (a forged tag if there are
/// none: the bank always puts them there).
fn security(kind: Option<wire::SecurityKind>, e: Evidence) -> Security {
    let event = |kind: Option<_>, node, keypad, count| Security {
        kind: kind.unwrap_or(wire::SecurityKind::ForgedTag),
        node,
        keypad,
        count,
    };
    match e {
        Evidence::Keypad { keypad, failures } => {
            event(kind, None, Some(keypad.0), u32::from(failures))
        }
        Evidence::CommandsRefused {
            node,
            refused,
            reason,
        } => event(
            kind.or(Some(bus_refusal(reason))),
            Some(node),
            None,
            u32::from(refused),
        ),
        Evidence::None
        | Evidence::Presence(_)
        | Evidence::Door(_)
        | Evidence::Fault(_)
        | Evidence::UnlockAttempts(_)
        | Evidence::Scan { .. }
        | Evidence::Health(_)
        | Evidence::Node(_)
        | Evidence::RemoteOpen { .. }
        | Evidence::RemoteOpens { .. }
        | Evidence::Temperature { .. }
        | Evidence::TemperatureSilent { .. } => event(kind, None, None, 1),
    }
}

/// The security event a node's refusal of a bus command is.
fn bus_refusal(reason: NackReason) -> wire::SecurityKind {
    use wire::SecurityKind as S;
    match reason {
        NackReason::Stale { .. } => S::Replay,
        NackReason::RateLimited => S::RateLimitTripped,
        NackReason::Unauthenticated | NackReason::ProvisioningDisabled => S::ForgedTag,
        // A node counts none of these as a security refusal.
        NackReason::UnknownChannel
        | NackReason::Busy
        | NackReason::NotPermitted
        | NackReason::InvalidConfig
        | NackReason::Faulted
        | NackReason::Unsupported => S::ForgedTag,
    }
}

/// An audit event on the uplink: the event its audit record carries, and
/// the parcel event, staff alert and security event it also raises.
pub(crate) struct AuditProjection {
    /// The audit record's event.
    pub(crate) event: wire::AuditEvent,
    /// The step in a parcel's life it is, if one.
    pub(crate) step: Option<wire::ParcelStep>,
    /// The staff alert it raises: the bank tells these through
    /// notifications and the audit trail, not its alerts.
    pub(crate) alert: Option<(wire::AlertKind, wire::Evidence)>,
    /// The security event it is (each refused remote open), with the
    /// request's id.
    pub(crate) security: Option<(wire::SecurityKind, u64)>,
}

impl AuditProjection {
    const fn of(event: wire::AuditEvent) -> Self {
        AuditProjection {
            event,
            step: None,
            alert: None,
            security: None,
        }
    }

    fn step(self, step: impl Into<Option<wire::ParcelStep>>) -> Self {
        AuditProjection {
            step: step.into(),
            ..self
        }
    }

    const fn alert(self, kind: wire::AlertKind, evidence: wire::Evidence) -> Self {
        AuditProjection {
            alert: Some((kind, evidence)),
            ..self
        }
    }

    const fn security(self, kind: wire::SecurityKind, request_id: u64) -> Self {
        AuditProjection {
            security: Some((kind, request_id)),
            ..self
        }
    }
}

/// Everything an audit event is on the uplink, in one match: a variant added
/// to the bank's [`AuditEvent`] does not compile until it is decided here
/// what it is in the audit trail, whether it is a parcel step, and whether it
/// raises an alert or a security event.
pub(crate) fn audit(e: AuditEvent) -> AuditProjection {
    use wire::AlertKind as A;
    use wire::AuditEvent as W;
    use wire::ParcelStep as P;
    let of = AuditProjection::of;
    match e {
        AuditEvent::Reserved => of(W::Reserved).step(P::Reserved),
        AuditEvent::ReservationCancelled => {
            of(W::ReservationCancelled).step(P::ReservationCancelled)
        }
        AuditEvent::ReservationExpired => of(W::ReservationExpired).step(P::ReservationExpired),
        AuditEvent::UnlockCommanded { purpose, attempt } => {
            // A session starts with its first unlock; retries are no new step.
            let step = match (purpose, attempt) {
                (Purpose::Deposit, 0) => Some(P::DepositStarted),
                (Purpose::Pickup, 0) => Some(P::PickupStarted),
                (Purpose::Deposit | Purpose::Pickup, 1..) => None,
                (Purpose::Removal | Purpose::Inspection, _) => None,
            };
            of(W::UnlockCommanded { purpose, attempt }).step(step)
        }
        AuditEvent::DoorOpened => of(W::DoorOpened),
        AuditEvent::DoorClosed => of(W::DoorClosed),
        AuditEvent::DepositVerified => of(W::DepositVerified).step(P::Deposited),
        AuditEvent::NoParcelDetected => of(W::NoParcelDetected)
            .step(P::NoParcelDetected)
            .alert(A::NoParcelDetected, wire::Evidence::None),
        AuditEvent::PickupVerified { purpose } => {
            let step = match purpose {
                Purpose::Pickup => Some(P::PickedUp),
                Purpose::Removal => Some(P::Returned),
                Purpose::Deposit | Purpose::Inspection => None,
            };
            of(W::PickupVerified { purpose }).step(step)
        }
        AuditEvent::ParcelLeftInside => of(W::ParcelLeftInside)
            .step(P::LeftInside)
            .alert(A::ParcelLeftInside, wire::Evidence::None),
        AuditEvent::ReminderSent => of(W::ReminderSent).step(P::Reminded),
        AuditEvent::ReminderDeferred { by } => of(W::ReminderDeferred { by_ms: by }),
        AuditEvent::EscalationSent => of(W::EscalationSent).step(P::Escalated),
        AuditEvent::Expired => of(W::Expired).step(P::Expired),
        AuditEvent::DoorForced => of(W::DoorForced),
        AuditEvent::DoorAjar => of(W::DoorAjar),
        AuditEvent::LockFault => of(W::LockFault),
        AuditEvent::SensorDisagrees { presence } => of(W::SensorDisagrees { presence }),
        AuditEvent::OutOfService { reason } => of(W::OutOfService { reason }),
        AuditEvent::BackInService => of(W::BackInService),
        AuditEvent::DeadlineExtended { by } => {
            of(W::DeadlineExtended { by_ms: by }).step(P::DeadlineExtended { by_ms: by })
        }
        AuditEvent::CodeRejected { keypad } => of(W::CodeRejected { keypad: keypad.0 }),
        AuditEvent::CodeAccepted { keypad } => of(W::CodeAccepted { keypad: keypad.0 }),
        AuditEvent::KeypadAttackSuspected => of(W::KeypadAttackSuspected),
        AuditEvent::Power(p) => {
            let kind = match p {
                PowerStatus::Mains => A::PowerRestored,
                PowerStatus::Battery { .. } => A::PowerOnBattery,
                PowerStatus::Critical { .. } => A::PowerCritical,
            };
            of(W::Power(p)).alert(kind, wire::Evidence::Power(p))
        }
        AuditEvent::Restored => of(W::Restored),
        AuditEvent::Discrepancy {
            door,
            occupied,
            faulted,
        } => of(W::Discrepancy {
            door,
            occupied,
            faulted,
        }),
        AuditEvent::NodeLost(n) => of(W::NodeLost(n)),
        AuditEvent::NodeBack(n) => of(W::NodeBack(n)).alert(A::NodeBack, wire::Evidence::Node(n)),
        AuditEvent::FaultReported(f) => of(W::FaultReported(f)),
        AuditEvent::MaintenanceNeeded => of(W::MaintenanceNeeded),
        AuditEvent::RemoteOpenAccepted { request_id } => of(W::RemoteOpenAccepted { request_id }),
        AuditEvent::RemoteOpenRefused {
            compartment,
            request_id,
            reason,
        } => of(W::RemoteOpenRefused {
            compartment,
            request_id,
            reason: refusal(reason),
        })
        .security(refusal_security(reason), request_id),
        AuditEvent::RemoteOpensLocked { opens } => of(W::RemoteOpensLocked { opens }),
        AuditEvent::RemoteOpenLockCleared { staff } => {
            of(W::RemoteOpenLockCleared { staff: staff.0 })
        }
        AuditEvent::StaffOpened { staff } => of(W::StaffOpened { staff: staff.0 }),
        AuditEvent::SensorRecalibrated { staff } => of(W::SensorRecalibrated { staff: staff.0 }),
        AuditEvent::IncarnationStarted {
            previous,
            incarnation,
        } => of(W::IncarnationStarted {
            previous: previous.0,
            incarnation: incarnation.0,
        }),
        AuditEvent::PolicyChanged => of(W::PolicyChanged),
        AuditEvent::TemperatureRestored { out_for, worst } => of(W::TemperatureRestored {
            out_for_ms: out_for,
            worst,
        }),
        AuditEvent::ColdChain {
            min,
            max,
            out_of_range,
        } => of(W::ColdChain {
            min,
            max,
            out_of_range_ms: out_of_range,
        }),
        AuditEvent::CodeForCounterParcel { keypad } => {
            of(W::CodeForCounterParcel { keypad: keypad.0 })
        }
        AuditEvent::DepositCodeAccepted { keypad } => {
            of(W::DepositCodeAccepted { keypad: keypad.0 })
        }
        AuditEvent::DepositCodeRejected { keypad } => {
            of(W::DepositCodeRejected { keypad: keypad.0 })
        }
        AuditEvent::DepositOpenedBy { account } => of(W::DepositOpenedBy { account: account.0 }),
        AuditEvent::RemovalCertified { staff } => of(W::RemovalCertified { staff: staff.0 }),
        AuditEvent::StaffOpenAll {
            staff,
            opened,
            remaining,
        } => of(W::StaffOpenAll {
            staff: staff.0,
            opened,
            remaining,
        }),
        AuditEvent::TokenAccepted { keypad } => of(W::TokenAccepted { keypad: keypad.0 }),
        // Why a token was refused stays at the bank.
        AuditEvent::TokenRefused { keypad, reason: _ } => of(W::TokenRefused { keypad: keypad.0 }),
        AuditEvent::SensorRecalibratedAutomatically { drift } => {
            of(W::SensorRecalibratedAutomatically { drift })
        }
        AuditEvent::SnapshotTaken => of(W::SnapshotTaken),
        AuditEvent::SnapshotFailed => of(W::SnapshotFailed),
        AuditEvent::SensorRecalibratedRemotely => of(W::SensorRecalibratedRemotely),
        AuditEvent::SnapshotRequested => of(W::SnapshotRequested),
        AuditEvent::Serviced { staff } => of(W::Serviced { staff: staff.0 }),
        AuditEvent::DriftUnderParcel { drift } => of(W::DriftUnderParcel { drift }),
        AuditEvent::RecalibrationFailed => of(W::RecalibrationFailed),
    }
}

fn refusal(e: RemoteOpenError) -> wire::RemoteOpenRefusal {
    use wire::RemoteOpenRefusal as R;
    match e {
        RemoteOpenError::ForgedTag => R::ForgedTag,
        RemoteOpenError::Replayed { .. } => R::Replayed,
        RemoteOpenError::Stale { .. } => R::Stale,
        RemoteOpenError::RateLimited { .. } => R::RateLimited,
        RemoteOpenError::Locked => R::Locked,
        RemoteOpenError::OtherIncarnation { .. } => R::OtherIncarnation,
    }
}

/// The security event a refused remote open is.
fn refusal_security(e: RemoteOpenError) -> wire::SecurityKind {
    use wire::SecurityKind as S;
    match e {
        RemoteOpenError::ForgedTag => S::ForgedTag,
        RemoteOpenError::Replayed { .. }
        | RemoteOpenError::Stale { .. }
        | RemoteOpenError::OtherIncarnation { .. } => S::Replay,
        RemoteOpenError::RateLimited { .. } | RemoteOpenError::Locked => S::RateLimitTripped,
    }
}

/// A pickup code's digits as text.
pub(crate) fn code_text(code: &PickupCode) -> wire::PickupCodeText {
    let mut text = wire::PickupCodeText::new();
    for d in code.digits() {
        // A code has at most 10 digits, the text's capacity.
        let _ = text.push(char::from(b'0' + d % 10));
    }
    text
}

pub(crate) fn compartment_info(c: &Compartment) -> wire::CompartmentInfo {
    wire::CompartmentInfo {
        id: c.id,
        node: c.node,
        channel: c.channel,
        size: c.size,
        inner: c.inner,
        refrigerated: c.flags.contains(CompartmentFlags::REFRIGERATED),
        accessible: c.flags.contains(CompartmentFlags::ACCESSIBLE),
    }
}

/// The bank's needs for a wire request, or `None` without size and dimensions.
pub(crate) fn needs(n: wire::ParcelNeeds) -> Option<ParcelNeeds> {
    let fit = match (n.dimensions, n.size) {
        (Some(d), _) => Fit::Dimensions(d),
        (None, Some(s)) => Fit::Size(s),
        (None, None) => return None,
    };
    Some(ParcelNeeds {
        fit,
        perishable: n.perishable,
        accessible: n.accessible,
    })
}

pub(crate) fn policy_config(p: &Policy) -> wire::PolicyConfig {
    wire::PolicyConfig {
        reminder_after_ms: p.reminder_after,
        escalation_after_ms: p.escalation_after,
        expiry_after_ms: p.expiry_after,
        reservation_hold_ms: p.reservation_hold,
        deposit_window_ms: p.deposit_window,
        door_ajar_limit_ms: p.door_ajar_limit,
        unlock_confirm_ms: p.unlock_confirm,
        presence_settle_ms: p.presence_settle,
        unlock_pulse_ms: p.unlock_pulse_ms,
        code_digits: p.code_digits,
        min_charge_for_deposit: p.min_charge_for_deposit,
        quiet_hours: p.quiet_hours.map(|q| wire::QuietHours {
            start_minute: q.start_minute,
            end_minute: q.end_minute,
        }),
        time_zone: p.time_zone,
        lockout: wire::LockoutConfig {
            free_attempts: p.lockout.free_attempts,
            base_lockout_ms: p.lockout.base_lockout,
            max_lockout_ms: p.lockout.max_lockout,
            spike_window_ms: p.lockout.spike_window,
            spike_threshold: p.lockout.spike_threshold,
        },
        health: wire::HealthConfig {
            drift_band: p.health.drift_band,
            stuck_after_ms: p.health.stuck_after,
            flap_window_ms: p.health.flap_window,
            flap_changes: p.health.flap_changes,
            lock_fault_limit: p.health.lock_fault_limit,
        },
        node_config: p.node_config,
    }
}

/// `base` with the values of `c`, or why they cannot be a bank's rules.
pub(crate) fn policy(base: &Policy, c: &wire::PolicyConfig) -> Result<Policy, &'static str> {
    let positive = [
        c.reminder_after_ms,
        c.reservation_hold_ms,
        c.deposit_window_ms,
        c.door_ajar_limit_ms,
        c.unlock_confirm_ms,
        c.lockout.spike_window_ms,
        c.health.flap_window_ms,
        c.health.stuck_after_ms,
    ];
    if positive.contains(&Duration::ZERO) {
        return Err("deadlines and windows must be longer than zero");
    }
    if !(c.reminder_after_ms <= c.escalation_after_ms && c.escalation_after_ms <= c.expiry_after_ms)
    {
        return Err("reminder, escalation and expiry must come in that order");
    }
    let digits = usize::from(c.code_digits);
    if !(MIN_CODE_DIGITS..=MAX_CODE_DIGITS).contains(&digits) {
        return Err("pickup codes have 4 to 10 digits");
    }
    if c.unlock_pulse_ms == 0 || c.unlock_pulse_ms > locker_proto::MAX_UNLOCK_PULSE_MS {
        return Err("the lock pulse must be longer than zero and at most 1,000 ms");
    }
    if c.min_charge_for_deposit > 100 {
        return Err("the charge for deposits is at most 100 %");
    }
    if c.lockout.base_lockout_ms > c.lockout.max_lockout_ms {
        return Err("the first keypad lockout must not exceed the longest");
    }
    if let Some(q) = c.quiet_hours {
        if q.start_minute >= 1440 || q.end_minute >= 1440 {
            return Err("quiet hours are minutes of the day, below 1440");
        }
    }
    if c.time_zone.check().is_err() {
        return Err(
            "the time zone is an offset within 14 hours of UTC and, if any, a summer time of 1 to 120 minutes between two real days",
        );
    }
    if c.health.drift_band < 0 || c.health.flap_changes == 0 || c.health.lock_fault_limit == 0 {
        return Err("sensor-health thresholds must be positive");
    }
    let mut p = *base;
    p.reminder_after = c.reminder_after_ms;
    p.escalation_after = c.escalation_after_ms;
    p.expiry_after = c.expiry_after_ms;
    p.reservation_hold = c.reservation_hold_ms;
    p.deposit_window = c.deposit_window_ms;
    p.door_ajar_limit = c.door_ajar_limit_ms;
    p.unlock_confirm = c.unlock_confirm_ms;
    p.presence_settle = c.presence_settle_ms;
    p.unlock_pulse_ms = c.unlock_pulse_ms;
    p.code_digits = c.code_digits;
    p.min_charge_for_deposit = c.min_charge_for_deposit;
    p.quiet_hours = c.quiet_hours.map(|q| QuietHours {
        start_minute: q.start_minute,
        end_minute: q.end_minute,
    });
    p.time_zone = c.time_zone;
    p.lockout.free_attempts = c.lockout.free_attempts;
    p.lockout.base_lockout = c.lockout.base_lockout_ms;
    p.lockout.max_lockout = c.lockout.max_lockout_ms;
    p.lockout.spike_window = c.lockout.spike_window_ms;
    p.lockout.spike_threshold = c.lockout.spike_threshold;
    p.health.drift_band = c.health.drift_band;
    p.health.stuck_after = c.health.stuck_after_ms;
    p.health.flap_window = c.health.flap_window_ms;
    p.health.flap_changes = c.health.flap_changes;
    p.health.lock_fault_limit = c.health.lock_fault_limit;
    p.node_config = c.node_config;
    if p.check_node_config().is_err() {
        return Err(
            "the node configuration would be refused by the nodes (pulse 1-1,000 ms, debounce at most 1,000 ms, threshold at least 1) or cut the unlock pulse short",
        );
    }
    Ok(p)
}

pub(crate) fn error_code(e: &BankError) -> wire::ErrorCode {
    use wire::ErrorCode as C;
    match e {
        BankError::UnknownCompartment(_) => C::UnknownCompartment,
        BankError::UnknownChannel { .. } | BankError::UnknownNode(_) => C::UnknownNode,
        BankError::OutputsPending => C::Busy,
        BankError::NoFit(a) => match a {
            AllocationError::Oversize => C::Oversize,
            AllocationError::BankFull => C::BankFull,
            AllocationError::NoRefrigeratedFree => C::NoRefrigeratedFree,
            AllocationError::NoAccessibleFree => C::NoAccessibleFree,
            AllocationError::LowBattery { .. } => C::LowBattery,
        },
        // A door left open and a removal not disputed are the compartment
        // not being where the call is allowed (staff calls, never the
        // backend's).
        BankError::WrongStage { .. } | BankError::DoorOpen(_) | BankError::NoDisputedRemoval(_) => {
            C::WrongStage
        }
        BankError::OutOfService(_) => C::OutOfService,
        BankError::ReopenLimit(_) => C::NotAuthorized,
        BankError::Code(c) => match c {
            CodeError::LockedOut { .. } => C::RateLimited,
            CodeError::CodeInUse => C::CodeInUse,
            // A code typed at a keypad, or trouble of the gateway's own
            // (its randomness, its code length): not the backend's doing.
            CodeError::WrongLength { .. }
            | CodeError::NotADigit
            | CodeError::UnknownKeypad
            | CodeError::RandomnessFailed
            | CodeError::NoFreeCode => C::InternalError,
        },
        BankError::RemoteOpen(e) => match e {
            RemoteOpenError::ForgedTag => C::NotAuthorized,
            RemoteOpenError::Replayed { .. } | RemoteOpenError::Stale { .. } => C::Replayed,
            RemoteOpenError::RateLimited { .. } | RemoteOpenError::Locked => C::RateLimited,
            RemoteOpenError::OtherIncarnation { .. } => C::OtherIncarnation,
        },
        BankError::WrongCode => C::NotAuthorized,
        BankError::ShuttingDown => C::ShuttingDown,
        BankError::NodeConfig(_) => C::InvalidConfiguration,
        BankError::UnknownSnapshot(_) => C::InternalError,
        BankError::SensorReadsItem(_) => C::WrongStage,
        BankError::DepositsClosed(d) => match d {
            DepositsClosed::Resetting => C::ResetInProgress,
            DepositsClosed::Unavailable => C::Unavailable,
        },
        // The gateway's own trouble, or a keypad's: not the backend's doing.
        BankError::TimeWentBackwards { .. }
        | BankError::TokenRefused { .. }
        | BankError::SameIncarnation => C::InternalError,
    }
}

/// `what` as a description, cut at a character boundary if too long.
pub(crate) fn describe(what: impl core::fmt::Display) -> wire::Description {
    struct Cut(wire::Description);
    impl Write for Cut {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for c in s.chars() {
                if self.0.push(c).is_err() {
                    break;
                }
            }
            Ok(())
        }
    }
    let mut cut = Cut(wire::Description::new());
    let _ = write!(cut, "{what}");
    cut.0
}
