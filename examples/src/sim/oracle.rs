//! The oracle: the system's alerts and notices judged against the world.
//!
//! The system under test (the gateway, the bus, the nodes) says what it
//! believes; the world knows what happened. The oracle holds the rules that
//! compare the two, apart from both, as TigerBeetle's VOPR keeps its
//! checkers apart from the replicas:
//!
//! - **False alarms**: an alert is explained only by something the world
//!   knows happened at that compartment (a door really forced, a lock really
//!   jammed, a sensor really drifting, a door really open, an item really
//!   inside or really gone, a node really down, a guesser really at the
//!   keypad, a fridge really outside its limits). A forced-door alert for a door opened by the person who typed
//!   the right code is a false alarm; so is a security alert about refused
//!   bus commands when nobody attacked the bus.
//! - **Detection**: each injected incident counts as detected once the
//!   system raised the alert or notice it calls for ([`expected_incident`]).
//! - **Resolution**: how each incident ended is kept in
//!   [`IncidentLog`](super::incidents::IncidentLog): by the system alone, or
//!   by someone who had to come to the bank.

use std::collections::BTreeMap;

use locker_domain::bank::{AlertKind, Evidence, NotificationKind};
use locker_proto::FaultCode;
use serde::Serialize;

use super::incidents::IncidentKind;

/// What the world knows about the compartment (and its node) an alert is
/// about, at the moment the alert is raised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    /// The door was opened without a valid code, command or override.
    pub forced_open: bool,
    /// The lock is jammed (an incident or a one-off jam).
    pub lock_jammed: bool,
    /// The presence sensor drifts from its calibration.
    pub sensor_drifting: bool,
    /// The presence sensor cannot be read (a dead load cell).
    pub sensor_dead: bool,
    /// The presence sensor repeats one reading whatever is inside (a stuck
    /// load cell).
    pub sensor_frozen: bool,
    /// The door is physically open.
    pub door_open: bool,
    /// Something is physically inside.
    pub item_inside: bool,
    /// The compartment's node is hung or without power.
    pub node_down: bool,
    /// A code guesser is at the keypad.
    pub keypad_attack: bool,
    /// Someone attacks the bus (the simulator never does: every refused
    /// command is the system's own doing).
    pub bus_attack: bool,
    /// The compartment's real temperature is outside the bank's limits for
    /// it (a failed fridge).
    pub out_of_range: bool,
}

/// Whether `kind`, raised where `truth` holds, is explained by the world.
pub fn explained(kind: AlertKind, truth: &Truth) -> bool {
    let t = truth;
    match kind {
        AlertKind::ForcedDoor => t.forced_open,
        AlertKind::LockFault => t.lock_jammed,
        AlertKind::DoorAjar | AlertKind::DoorOpenUnexpectedly => t.door_open,
        AlertKind::ParcelMissing => !t.item_inside || t.sensor_drifting || t.sensor_frozen,
        AlertKind::UnexpectedItem | AlertKind::RemovalNotVerified => {
            t.item_inside || t.sensor_drifting || t.sensor_frozen
        }
        AlertKind::Maintenance => {
            t.sensor_drifting || t.lock_jammed || t.sensor_dead || t.sensor_frozen
        }
        AlertKind::KeypadAttack => t.keypad_attack,
        AlertKind::NodeUnreachable => t.node_down,
        AlertKind::NodeFault => t.node_down || t.sensor_drifting || t.lock_jammed,
        AlertKind::BusCommandsRefused => t.bus_attack,
        AlertKind::TemperatureOutOfRange => t.out_of_range,
        // The simulator breaks no thermometer: only a node that is down
        // silences one (and the bank excuses those; see `bank::cold`).
        AlertKind::TemperatureSensorSilent => t.node_down,
        // Remote opens are not simulated: nobody forges one.
        AlertKind::ForgedRemoteOpen | AlertKind::RemoteOpenFlood => false,
        // A kind this oracle does not know yet is not explained: it shows
        // up in the false alarms until a rule is written for it.
        _ => false,
    }
}

/// The incident an alert detects, if it is the right alert for one: by
/// its kind, and for a maintenance alert by its evidence too (a sensor that
/// cannot be read is a dead cell, one whose readings are frozen a stuck
/// cell, anything else about the cell drift).
pub fn expected_incident(kind: AlertKind, evidence: &Evidence) -> Option<IncidentKind> {
    let unreadable = Evidence::Fault(FaultCode::PresenceSensorFailed);
    Some(match kind {
        AlertKind::Maintenance if *evidence == unreadable => IncidentKind::DeadSensor,
        AlertKind::Maintenance
            if matches!(
                evidence,
                Evidence::Health(locker_proto::HealthIssue::PresenceStuck { .. })
            ) =>
        {
            IncidentKind::StuckSensor
        }
        AlertKind::ForcedDoor => IncidentKind::ForcedDoor,
        AlertKind::LockFault => IncidentKind::JammedLock,
        AlertKind::DoorAjar => IncidentKind::DoorAjar,
        AlertKind::Maintenance
        | AlertKind::ParcelMissing
        | AlertKind::UnexpectedItem
        | AlertKind::RemovalNotVerified => IncidentKind::DriftingSensor,
        AlertKind::KeypadAttack => IncidentKind::BruteForce,
        AlertKind::NodeUnreachable => IncidentKind::NodeHang,
        AlertKind::TemperatureOutOfRange => IncidentKind::FridgeFailure,
        _ => return None,
    })
}

/// The incident a notification detects, if it is the right notice for one.
pub fn noticed_incident(kind: NotificationKind) -> Option<IncidentKind> {
    match kind {
        NotificationKind::NoParcelDetected => Some(IncidentKind::EmptyDoor),
        NotificationKind::CloseTheDoor => Some(IncidentKind::DoorAjar),
        _ => None,
    }
}

/// Alerts the world does not explain, in total and by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FalseAlarms {
    /// Every unexplained alert.
    pub total: u64,
    /// By alert kind ([`AlertKind::name`]).
    pub by_kind: BTreeMap<String, u64>,
}

impl FalseAlarms {
    /// Counts one unexplained alert.
    pub fn count(&mut self, kind: AlertKind) {
        self.total += 1;
        *self.by_kind.entry(kind.name().to_string()).or_default() += 1;
    }

    /// Adds another bank's.
    pub fn absorb(&mut self, other: &FalseAlarms) {
        self.total += other.total;
        for (k, v) in &other.by_kind {
            *self.by_kind.entry(k.clone()).or_default() += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forced_door_alert_for_a_door_opened_with_the_right_code_is_a_false_alarm() {
        let opened_with_code = Truth {
            door_open: true,
            ..Truth::default()
        };
        assert!(!explained(AlertKind::ForcedDoor, &opened_with_code));
        let pried_open = Truth {
            forced_open: true,
            door_open: true,
            ..Truth::default()
        };
        assert!(explained(AlertKind::ForcedDoor, &pried_open));
    }

    #[test]
    fn refused_bus_commands_with_nobody_on_the_bus_are_a_false_alarm() {
        assert!(!explained(AlertKind::BusCommandsRefused, &Truth::default()));
    }

    #[test]
    fn a_parcel_missing_alert_is_explained_by_an_empty_compartment_or_a_drifting_sensor() {
        let empty = Truth::default();
        assert!(explained(AlertKind::ParcelMissing, &empty));
        let full = Truth {
            item_inside: true,
            ..Truth::default()
        };
        assert!(!explained(AlertKind::ParcelMissing, &full));
        let drifting = Truth {
            item_inside: true,
            sensor_drifting: true,
            ..Truth::default()
        };
        assert!(explained(AlertKind::ParcelMissing, &drifting));
    }

    #[test]
    fn a_temperature_alert_is_explained_only_by_a_fridge_really_out_of_range() {
        assert!(!explained(
            AlertKind::TemperatureOutOfRange,
            &Truth::default()
        ));
        let warm = Truth {
            out_of_range: true,
            ..Truth::default()
        };
        assert!(explained(AlertKind::TemperatureOutOfRange, &warm));
        let evidence = Evidence::Temperature {
            reading: locker_proto::Temperature::from_deci_celsius(121),
            limit: locker_proto::Temperature::from_deci_celsius(80),
            out_for: locker_proto::Duration::from_mins(30),
        };
        assert_eq!(
            expected_incident(AlertKind::TemperatureOutOfRange, &evidence),
            Some(IncidentKind::FridgeFailure)
        );
        assert!(!explained(
            AlertKind::TemperatureSensorSilent,
            &Truth::default()
        ));
    }

    #[test]
    fn a_maintenance_alert_for_a_cell_that_cannot_be_read_or_reads_frozen_is_that_broken_cell() {
        let unreadable = Evidence::Fault(FaultCode::PresenceSensorFailed);
        assert_eq!(
            expected_incident(AlertKind::Maintenance, &unreadable),
            Some(IncidentKind::DeadSensor)
        );
        let drift = Evidence::Health(locker_proto::HealthIssue::PresenceDrift {
            reading: 900,
            threshold: 2_100,
            band: 840,
        });
        assert_eq!(
            expected_incident(AlertKind::Maintenance, &drift),
            Some(IncidentKind::DriftingSensor)
        );
        assert!(!explained(AlertKind::Maintenance, &Truth::default()));
        let dead = Truth {
            sensor_dead: true,
            ..Truth::default()
        };
        assert!(explained(AlertKind::Maintenance, &dead));
        let frozen = Evidence::Health(locker_proto::HealthIssue::PresenceStuck {
            reading: -73,
            since: locker_proto::time::Instant::from_secs(60),
        });
        assert_eq!(
            expected_incident(AlertKind::Maintenance, &frozen),
            Some(IncidentKind::StuckSensor)
        );
        let stuck = Truth {
            sensor_frozen: true,
            ..Truth::default()
        };
        assert!(explained(AlertKind::Maintenance, &stuck));
    }

    #[test]
    fn false_alarms_add_up_by_kind() {
        let mut a = FalseAlarms::default();
        a.count(AlertKind::ForcedDoor);
        a.count(AlertKind::ForcedDoor);
        let mut b = FalseAlarms::default();
        b.count(AlertKind::LockFault);
        a.absorb(&b);
        assert_eq!(a.total, 3);
        assert_eq!(a.by_kind.get("forced_door"), Some(&2));
        assert_eq!(a.by_kind.get("lock_fault"), Some(&1));
    }
}
