//! The bank's types in the uplink's words.
//!
//! `locker-proto` cannot name the bank's types (the arrows point down), so
//! the uplink has its own, and these functions translate. The matches are
//! exhaustive on purpose: a variant added to the bank does not compile
//! until it has its name on the uplink.

use core::fmt::Write;

use locker_proto::NackReason;
use locker_proto::time::Duration;
use locker_proto::uplink as wire;

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

pub(crate) fn evidence(e: Evidence) -> wire::Evidence {
    match e {
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
        Evidence::None | Evidence::Keypad { .. } | Evidence::CommandsRefused { .. } => {
            wire::Evidence::None
        }
    }
}

/// A bank alert is either a staff alert or a security event on the uplink.
pub(crate) enum AlertClass {
    Staff(wire::AlertKind),
    Security(wire::SecurityKind),
}

pub(crate) fn alert_class(k: AlertKind, e: Evidence) -> AlertClass {
    use wire::AlertKind as A;
    AlertClass::Staff(match k {
        AlertKind::BusCommandsRefused => {
            return AlertClass::Security(match e {
                Evidence::CommandsRefused {
                    reason: NackReason::Stale { .. },
                    ..
                } => wire::SecurityKind::Replay,
                Evidence::CommandsRefused {
                    reason: NackReason::RateLimited,
                    ..
                } => wire::SecurityKind::RateLimitTripped,
                _ => wire::SecurityKind::ForgedTag,
            });
        }
        AlertKind::ForcedDoor => return AlertClass::Security(wire::SecurityKind::ForcedDoor),
        AlertKind::KeypadAttack => {
            return AlertClass::Security(wire::SecurityKind::KeypadLockoutSpike);
        }
        AlertKind::LockFault => A::LockFault,
        AlertKind::DoorAjar => A::DoorAjar,
        AlertKind::ParcelMissing => A::ParcelMissing,
        AlertKind::UnexpectedItem => A::UnexpectedItem,
        AlertKind::DoorOpenUnexpectedly => A::DoorOpenUnexpectedly,
        AlertKind::Maintenance => A::SensorHealth,
        AlertKind::NodeUnreachable => A::NodeLost,
        AlertKind::NodeFault => A::NodeFault,
        AlertKind::RemovalNotVerified => A::RemovalNotVerified,
        AlertKind::ForgedRemoteOpen => A::ForgedRemoteOpen,
        AlertKind::RemoteOpenFlood => A::RemoteOpenFlood,
    })
}

pub(crate) fn audit_event(e: AuditEvent) -> wire::AuditEvent {
    use wire::AuditEvent as W;
    match e {
        AuditEvent::Reserved => W::Reserved,
        AuditEvent::ReservationCancelled => W::ReservationCancelled,
        AuditEvent::ReservationExpired => W::ReservationExpired,
        AuditEvent::UnlockCommanded { purpose, attempt } => W::UnlockCommanded { purpose, attempt },
        AuditEvent::DoorOpened => W::DoorOpened,
        AuditEvent::DoorClosed => W::DoorClosed,
        AuditEvent::DepositVerified => W::DepositVerified,
        AuditEvent::NoParcelDetected => W::NoParcelDetected,
        AuditEvent::PickupVerified { purpose } => W::PickupVerified { purpose },
        AuditEvent::ParcelLeftInside => W::ParcelLeftInside,
        AuditEvent::ReminderSent => W::ReminderSent,
        AuditEvent::ReminderDeferred { by } => W::ReminderDeferred { by_ms: by },
        AuditEvent::EscalationSent => W::EscalationSent,
        AuditEvent::Expired => W::Expired,
        AuditEvent::DoorForced => W::DoorForced,
        AuditEvent::DoorAjar => W::DoorAjar,
        AuditEvent::LockFault => W::LockFault,
        AuditEvent::SensorDisagrees { presence } => W::SensorDisagrees { presence },
        AuditEvent::OutOfService { reason } => W::OutOfService { reason },
        AuditEvent::BackInService => W::BackInService,
        AuditEvent::DeadlineExtended { by } => W::DeadlineExtended { by_ms: by },
        AuditEvent::CodeRejected { keypad } => W::CodeRejected { keypad: keypad.0 },
        AuditEvent::CodeAccepted { keypad } => W::CodeAccepted { keypad: keypad.0 },
        AuditEvent::KeypadAttackSuspected => W::KeypadAttackSuspected,
        AuditEvent::Power(p) => W::Power(p),
        AuditEvent::Restored => W::Restored,
        AuditEvent::Discrepancy {
            door,
            occupied,
            faulted,
        } => W::Discrepancy {
            door,
            occupied,
            faulted,
        },
        AuditEvent::NodeLost(n) => W::NodeLost(n),
        AuditEvent::NodeBack(n) => W::NodeBack(n),
        AuditEvent::FaultReported(f) => W::FaultReported(f),
        AuditEvent::MaintenanceNeeded => W::MaintenanceNeeded,
        AuditEvent::RemoteOpenAccepted { request_id } => W::RemoteOpenAccepted { request_id },
        AuditEvent::RemoteOpenRefused {
            compartment,
            request_id,
            reason,
        } => W::RemoteOpenRefused {
            compartment,
            request_id,
            reason: refusal(reason),
        },
        AuditEvent::RemoteOpensLocked { opens } => W::RemoteOpensLocked { opens },
        AuditEvent::RemoteOpenLockCleared { staff } => W::RemoteOpenLockCleared { staff: staff.0 },
        AuditEvent::StaffOpened { staff } => W::StaffOpened { staff: staff.0 },
        AuditEvent::StaffOpenAll {
            staff,
            opened,
            remaining,
        } => W::StaffOpenAll {
            staff: staff.0,
            opened,
            remaining,
        },
        AuditEvent::TokenAccepted { keypad } => W::TokenAccepted { keypad: keypad.0 },
        AuditEvent::TokenRefused { keypad, .. } => W::TokenRefused { keypad: keypad.0 },
    }
}

pub(crate) fn refusal(e: RemoteOpenError) -> wire::RemoteOpenRefusal {
    use wire::RemoteOpenRefusal as R;
    match e {
        RemoteOpenError::ForgedTag => R::ForgedTag,
        RemoteOpenError::Replayed { .. } => R::Replayed,
        RemoteOpenError::Stale { .. } => R::Stale,
        RemoteOpenError::RateLimited { .. } => R::RateLimited,
        RemoteOpenError::Locked => R::Locked,
    }
}

/// The security event an audit record is: each refused remote open.
pub(crate) fn audit_security(e: AuditEvent) -> Option<(wire::SecurityKind, u64)> {
    use wire::SecurityKind as S;
    let AuditEvent::RemoteOpenRefused {
        request_id, reason, ..
    } = e
    else {
        return None;
    };
    let kind = match reason {
        RemoteOpenError::ForgedTag => S::ForgedTag,
        RemoteOpenError::Replayed { .. } | RemoteOpenError::Stale { .. } => S::Replay,
        RemoteOpenError::RateLimited { .. } | RemoteOpenError::Locked => S::RateLimitTripped,
    };
    Some((kind, request_id))
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

/// The parcel step an audit event is, if it is one.
pub(crate) fn parcel_step(e: AuditEvent) -> Option<wire::ParcelStep> {
    use wire::ParcelStep as P;
    Some(match e {
        AuditEvent::Reserved => P::Reserved,
        AuditEvent::ReservationCancelled => P::ReservationCancelled,
        AuditEvent::ReservationExpired => P::ReservationExpired,
        AuditEvent::UnlockCommanded {
            purpose: Purpose::Deposit,
            attempt: 0,
        } => P::DepositStarted,
        AuditEvent::UnlockCommanded {
            purpose: Purpose::Pickup,
            attempt: 0,
        } => P::PickupStarted,
        AuditEvent::DepositVerified => P::Deposited,
        AuditEvent::NoParcelDetected => P::NoParcelDetected,
        AuditEvent::ReminderSent => P::Reminded,
        AuditEvent::EscalationSent => P::Escalated,
        AuditEvent::Expired => P::Expired,
        AuditEvent::PickupVerified {
            purpose: Purpose::Pickup,
        } => P::PickedUp,
        AuditEvent::PickupVerified {
            purpose: Purpose::Removal,
        } => P::Returned,
        AuditEvent::ParcelLeftInside => P::LeftInside,
        AuditEvent::DeadlineExtended { by } => P::DeadlineExtended { by_ms: by },
        _ => return None,
    })
}

/// The staff alert an audit event raises on the uplink (the bank tells
/// these through notifications and the audit trail, not its alerts).
pub(crate) fn audit_alert(e: AuditEvent) -> Option<(wire::AlertKind, wire::Evidence)> {
    use locker_proto::PowerStatus;
    use wire::AlertKind as A;
    Some(match e {
        AuditEvent::NoParcelDetected => (A::NoParcelDetected, wire::Evidence::None),
        AuditEvent::ParcelLeftInside => (A::ParcelLeftInside, wire::Evidence::None),
        AuditEvent::NodeBack(n) => (A::NodeBack, wire::Evidence::Node(n)),
        AuditEvent::Power(p) => {
            let kind = match p {
                PowerStatus::Mains => A::PowerRestored,
                PowerStatus::Battery { .. } => A::PowerOnBattery,
                PowerStatus::Critical { .. } => A::PowerCritical,
            };
            (kind, wire::Evidence::Power(p))
        }
        _ => return None,
    })
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
    if c.unlock_pulse_ms == 0 || c.min_charge_for_deposit > 100 {
        return Err("the lock pulse must be longer than zero and the charge at most 100 %");
    }
    if c.lockout.base_lockout_ms > c.lockout.max_lockout_ms {
        return Err("the first keypad lockout must not exceed the longest");
    }
    if let Some(q) = c.quiet_hours {
        if q.start_minute >= 1440 || q.end_minute >= 1440 {
            return Err("quiet hours are minutes of the day, below 1440");
        }
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
    Ok(p)
}

pub(crate) fn error_code(e: &BankError) -> wire::ErrorCode {
    use wire::ErrorCode as C;
    match e {
        BankError::UnknownCompartment(_) => C::UnknownCompartment,
        BankError::UnknownChannel { .. } | BankError::UnknownNode(_) => C::UnknownNode,
        BankError::OutputFull(_) => C::Busy,
        BankError::NoFit(a) => match a {
            AllocationError::Oversize => C::Oversize,
            AllocationError::BankFull => C::BankFull,
            AllocationError::NoRefrigeratedFree => C::NoRefrigeratedFree,
            AllocationError::NoAccessibleFree => C::NoAccessibleFree,
            AllocationError::LowBattery { .. } => C::LowBattery,
        },
        BankError::WrongStage { .. } => C::WrongStage,
        BankError::OutOfService(_) => C::OutOfService,
        BankError::Code(CodeError::LockedOut { .. }) => C::RateLimited,
        BankError::Code(CodeError::CodeInUse) => C::CodeInUse,
        BankError::RemoteOpen(e) => match e {
            RemoteOpenError::ForgedTag => C::NotAuthorized,
            RemoteOpenError::Replayed { .. } | RemoteOpenError::Stale { .. } => C::Replayed,
            RemoteOpenError::RateLimited { .. } | RemoteOpenError::Locked => C::RateLimited,
        },
        BankError::WrongCode => C::NotAuthorized,
        BankError::ShuttingDown => C::ShuttingDown,
        BankError::DepositsClosed(DepositsClosed::Resetting) => C::ResetInProgress,
        BankError::DepositsClosed(DepositsClosed::Unavailable) => C::Unavailable,
        _ => C::InternalError,
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
