//! What the gateway tells the people around it: the bank's notifications and
//! alerts, camera requests, node greetings and warnings, as printable lines.

use std::fmt;

use locker_domain::bank::codes::PickupCode;
use locker_domain::bank::{
    Alert, AlertKind, CodeOutcome, CompartmentView, Evidence, Notification, NotificationKind,
    Reservation, SnapshotRequest,
};
use locker_domain::gateway::GatewayOutput;
use locker_proto::{CompartmentId, FirmwareVersion, NodeAddr};

/// Something for a courier, recipient, staff or the operator.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Notice {
    /// A bank notification (the pickup code, a reminder, "close the door"…).
    Notification(Notification),
    /// A bank alert for staff or security.
    Alert(Alert),
    /// The bank wants a camera snapshot; this example has no camera.
    SnapshotRequested(SnapshotRequest),
    /// A node answered the gateway's opening ping.
    NodeGreeted {
        /// The node.
        node: NodeAddr,
        /// Its firmware.
        firmware: FirmwareVersion,
        /// Milliseconds since it started.
        uptime_ms: u32,
        /// The bus protocol version agreed with it.
        version: u8,
    },
    /// The backend acknowledged the boot notification and the uplink
    /// version both sides speak is agreed (logged at info level).
    UplinkVersion(u8),
    /// Something the operator should look at; the gateway carries on.
    Warning(String),
    /// The connection to the backend's broker came up or went down. Why an
    /// attempt failed is the transport's to tell
    /// ([`MqttTransport::take_failures`](crate::uplink::MqttTransport::take_failures)).
    Backend {
        /// Whether the broker is reachable now.
        connected: bool,
        /// Messages waiting in the uplink queue at that moment.
        waiting: usize,
    },
}

impl Notice {
    /// The notice for a gateway output that is only told, not carried out
    /// (`None` for the outputs the shell carries out: frames, files, the
    /// outbound queue, reboots).
    pub fn of(output: GatewayOutput) -> Option<Notice> {
        Some(match output {
            GatewayOutput::Notification(n) => Notice::Notification(n),
            GatewayOutput::Alert(a) => Notice::Alert(a),
            GatewayOutput::Snapshot(s) => Notice::SnapshotRequested(s),
            GatewayOutput::NodeGreeted {
                node,
                firmware,
                uptime_ms,
                version,
                ..
            } => Notice::NodeGreeted {
                node,
                firmware,
                uptime_ms,
                version,
            },
            GatewayOutput::NodeRefused {
                node,
                firmware,
                error,
            } => Notice::Warning(format!(
                "{node} (firmware {firmware}) is not operated: {error}; update its firmware"
            )),
            GatewayOutput::NodeLost(node) => Notice::Warning(format!(
                "{node} stopped answering; trying it again every few seconds"
            )),
            GatewayOutput::NodeBack(node) => {
                Notice::Warning(format!("{node} answers again; asking it for full status"))
            }
            GatewayOutput::NodeInputRefused { node, error } => {
                Notice::Warning(format!("the bank refused a report of {node}: {error}"))
            }
            GatewayOutput::BackendCommand { node, command } => {
                Notice::Warning(format!("the backend asked for {command:?} of {node}"))
            }
            _ => return None,
        })
    }
}

/// The digits of a pickup code as the recipient types them.
pub fn code_text(code: &PickupCode) -> String {
    code.digits().iter().map(|d| char::from(b'0' + d)).collect()
}

/// What an alert means and what the person on call should do, in words.
fn alert_words(kind: AlertKind) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        AlertKind::ForcedDoor => (
            "the door was forced: it opened without a code, a command or staff",
            "security: go and look, and keep the camera's pictures",
        ),
        AlertKind::LockFault => (
            "the lock did not release after an unlock and its retry",
            "a technician should look at the lock; the person at the door was told to use another compartment",
        ),
        AlertKind::DoorAjar => (
            "the door has stayed open past its limit",
            "close it, or check the door switch",
        ),
        AlertKind::ParcelMissing => (
            "a parcel the books hold is no longer seen inside",
            "check the compartment: a theft, or a presence sensor at fault",
        ),
        AlertKind::UnexpectedItem => (
            "something is seen inside a compartment the books say is empty",
            "check the compartment and empty it",
        ),
        AlertKind::DoorOpenUnexpectedly => (
            "the door is open though the books say it is closed",
            "close it and check the lock",
        ),
        AlertKind::Maintenance => (
            "a sensor or lock is wearing out",
            "plan maintenance before residents notice",
        ),
        AlertKind::KeypadAttack => (
            "many wrong codes were typed: someone may be guessing codes",
            "security: look at the keypad and the camera",
        ),
        AlertKind::NodeUnreachable => (
            "a compartment node stopped answering, so its compartments cannot be checked",
            "check the node's power and bus cable",
        ),
        AlertKind::NodeFault => ("a compartment node reported a fault", "check the node"),
        AlertKind::RemovalNotVerified => (
            "staff closed the door after a removal but the parcel is still seen inside",
            "look inside; if it is empty, certify the removal (certify-removal N ID)",
        ),
        AlertKind::ForgedRemoteOpen => (
            "a remote open came with a signature the backend did not make: someone else is sending commands",
            "security: check who can publish to the broker",
        ),
        AlertKind::RemoteOpenFlood => (
            "too many remote opens: they are locked until staff clear them",
            "security: check the backend, it may be misused",
        ),
        AlertKind::BusCommandsRefused => (
            "a node refused commands without a valid signature: frames are being injected on the bus, or the bus key does not match the node's",
            "security: check the bus wiring and the bus key",
        ),
        _ => return None,
    })
}

/// What a notification asks of its reader, in words.
fn notification_words(kind: NotificationKind) -> Option<&'static str> {
    Some(match kind {
        NotificationKind::ParcelReady => "deposit verified, send the recipient the pickup code",
        NotificationKind::NoParcelDetected => {
            "the door closed on an empty compartment: put the parcel in and close it again"
        }
        NotificationKind::Reminder => "reminder: the parcel is still waiting",
        NotificationKind::Escalation => "the parcel has waited long and will be removed soon",
        NotificationKind::RemovalTask => "the parcel's time is up: staff, remove it",
        NotificationKind::ParcelLeftInside => {
            "the door closed with the parcel still inside; the code still opens it"
        }
        NotificationKind::CloseTheDoor => "please close the door",
        NotificationKind::ReservationExpired => "the reservation ran out before a deposit",
        NotificationKind::DoorWouldNotOpen => {
            "the door could not be opened: use another compartment or the counter"
        }
        NotificationKind::ParcelExpired => {
            "the pickup time is up: the parcel goes to the counter, the code no longer opens the door"
        }
        NotificationKind::MovedToCounter => "the parcel is at the counter: collect it there",
        NotificationKind::ParcelIncident => {
            "the parcel was affected by an incident at the bank; staff will be in touch"
        }
        _ => return None,
    })
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Notification(n) => {
                write!(f, "notify {:?}: compartment {}", n.to, n.compartment.0)?;
                if let Some(p) = n.parcel {
                    write!(f, ", parcel {}", p.0)?;
                }
                match notification_words(n.kind) {
                    Some(words) => write!(f, ": {words}"),
                    None => write!(f, ": {:?}", n.kind),
                }
            }
            Notice::Alert(a) => {
                write!(f, "ALERT")?;
                if let Some(c) = a.compartment {
                    write!(f, " at compartment {}", c.0)?;
                }
                if let Some(p) = a.parcel {
                    write!(f, ", parcel {}", p.0)?;
                }
                match alert_words(a.kind) {
                    Some((what, todo)) => write!(f, ": {what}. What to do: {todo}")?,
                    None => write!(f, ": {:?}", a.kind)?,
                }
                if a.evidence != Evidence::None {
                    write!(f, " (seen: {:?})", a.evidence)?;
                }
                if let Some(snapshot) = a.snapshot {
                    write!(f, " (camera snapshot {})", snapshot.0)?;
                }
                Ok(())
            }
            Notice::SnapshotRequested(s) => write!(
                f,
                "camera snapshot {} wanted of compartment {}: no camera on this gateway, recorded as failed",
                s.reference.0, s.compartment.0
            ),
            Notice::NodeGreeted {
                node,
                firmware,
                uptime_ms,
                version,
            } => write!(
                f,
                "{node} answers: firmware {firmware:?}, up {uptime_ms} ms, bus version {version}"
            ),
            Notice::UplinkVersion(version) => write!(
                f,
                "the backend acknowledged the boot notification: speaking uplink version {version}"
            ),
            // The log line carries the level: no "warning:" of its own.
            Notice::Warning(w) => f.write_str(w),
            Notice::Backend {
                connected: true,
                waiting,
            } => write!(
                f,
                "connected to the backend's broker; the {waiting} message(s) waiting go out now"
            ),
            Notice::Backend {
                connected: false,
                waiting,
            } => write!(
                f,
                "lost the connection to the backend's broker; messages wait in the uplink \
                 queue ({waiting} now) until it is back"
            ),
        }
    }
}

/// The gateway's answer to a [`ConsoleCommand`](super::ConsoleCommand).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// A compartment is reserved and being unlocked for the depositor.
    Depositing(Reservation),
    /// The code is right; this compartment is being unlocked.
    Opening(CompartmentId),
    /// The code was refused.
    CodeRejected(CodeOutcome),
    /// Staff's door is being unlocked.
    StaffOpening(CompartmentId),
    /// Staff certified the disputed removal: the compartment is free, back
    /// in service, its sensor being recalibrated.
    RemovalCertified(CompartmentId),
    /// Staff's repair is on record: the compartment's health history
    /// starts again.
    Serviced(CompartmentId),
    /// Every compartment's books.
    Books(Vec<CompartmentView>),
    /// The bank refused, with the reason to show.
    Refused(String),
    /// The gateway persists and stops.
    Stopping,
}

impl Reply {
    /// Whether the reply lets someone at the bank in (a compartment is
    /// being unlocked for them): the moment the screen asks them to shut
    /// the doors left standing open
    /// ([`Bank::doors_left_open`](locker_domain::bank::Bank::doors_left_open)).
    pub fn lets_someone_in(&self) -> bool {
        matches!(
            self,
            Reply::Depositing(_) | Reply::Opening(_) | Reply::StaffOpening(_)
        )
    }
}

/// The line the bank's screen shows whoever it just let in, for a door left
/// standing open.
pub fn please_close(door: CompartmentId) -> String {
    format!("door {} is standing open: please close it", door.0)
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Depositing(r) => {
                write!(
                    f,
                    "compartment {} unlocking for parcel {}: open, put the parcel in, close",
                    r.compartment.0, r.parcel.0
                )?;
                if let Some(code) = &r.code {
                    write!(f, "; recipient's pickup code {}", code_text(code))?;
                }
                Ok(())
            }
            Reply::Opening(c) => write!(f, "code accepted: compartment {} unlocking", c.0),
            Reply::CodeRejected(outcome) => write!(f, "code refused ({outcome:?})"),
            Reply::StaffOpening(c) => write!(f, "compartment {} unlocking for staff", c.0),
            Reply::RemovalCertified(c) => write!(
                f,
                "compartment {}: removal certified, free and back in service; its presence sensor is being recalibrated",
                c.0
            ),
            Reply::Serviced(c) => write!(
                f,
                "compartment {}: repair on record, its lock and sensor start with a clean history",
                c.0
            ),
            Reply::Books(views) => {
                for (n, v) in views.iter().enumerate() {
                    if n > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "compartment {}: {:?}", v.id.0, v.stage)?;
                    if let Some(p) = v.parcel {
                        write!(f, ", parcel {}", p.0)?;
                    }
                    write!(f, ", door {:?}, occupied {:?}", v.door, v.occupied)?;
                    if let Some(r) = v.out_of_service {
                        write!(f, ", OUT OF SERVICE ({r:?})")?;
                    }
                }
                Ok(())
            }
            Reply::Refused(why) => write!(f, "refused: {why}"),
            Reply::Stopping => write!(f, "persisting and stopping"),
        }
    }
}

#[cfg(test)]
mod tests {
    use locker_domain::bank::{Alert, AlertKind, Evidence, SnapshotRef};
    use locker_proto::time::Instant;
    use locker_proto::{CompartmentId, DoorState};

    use super::Notice;

    #[test]
    fn a_forced_door_reads_as_words_for_the_person_on_call() {
        let alert = Alert {
            kind: AlertKind::ForcedDoor,
            compartment: Some(CompartmentId(7)),
            parcel: None,
            evidence: Evidence::Door(DoorState::Open),
            snapshot: Some(SnapshotRef(3)),
            at: Instant::from_millis(0),
        };
        assert_eq!(
            Notice::Alert(alert).to_string(),
            "ALERT at compartment 7: the door was forced: it opened without a code, a command \
             or staff. What to do: security: go and look, and keep the camera's pictures \
             (seen: Door(Open)) (camera snapshot 3)"
        );
    }
}
