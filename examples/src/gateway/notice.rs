//! What the gateway tells the people around it: the bank's notifications and
//! alerts, camera requests, node greetings and warnings, as printable lines.

use std::fmt;

use locker_domain::bank::codes::PickupCode;
use locker_domain::bank::{
    Alert, CodeOutcome, CompartmentView, Notification, NotificationKind, Reservation,
    SnapshotRequest,
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
    },
    /// Something the operator should look at; the gateway carries on.
    Warning(String),
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
            GatewayOutput::BackendSnapshot {
                compartment,
                request,
            } => Notice::Warning(format!(
                "the backend wants a camera snapshot of {compartment} ({request}); this gateway has no camera"
            )),
            GatewayOutput::NodeGreeted {
                node,
                firmware,
                uptime_ms,
                ..
            } => Notice::NodeGreeted {
                node,
                firmware,
                uptime_ms,
            },
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

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Notification(n) => {
                write!(f, "notify {:?}: compartment {}", n.to, n.compartment.0)?;
                if let Some(p) = n.parcel {
                    write!(f, ", parcel {}", p.0)?;
                }
                match &n.kind {
                    NotificationKind::ParcelReady => {
                        write!(f, ": deposit verified, send the recipient the pickup code")
                    }
                    other => write!(f, ": {other:?}"),
                }
            }
            Notice::Alert(a) => {
                write!(f, "ALERT {:?}", a.kind)?;
                if let Some(c) = a.compartment {
                    write!(f, " at compartment {}", c.0)?;
                }
                write!(f, " ({:?})", a.evidence)
            }
            Notice::SnapshotRequested(s) => write!(
                f,
                "camera snapshot {} wanted of compartment {} (no camera on this gateway)",
                s.reference.0, s.compartment.0
            ),
            Notice::NodeGreeted {
                node,
                firmware,
                uptime_ms,
            } => write!(
                f,
                "{node} answers: firmware {firmware:?}, up {uptime_ms} ms"
            ),
            Notice::Warning(w) => write!(f, "warning: {w}"),
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
    /// Every compartment's books.
    Books(Vec<CompartmentView>),
    /// The bank refused, with the reason to show.
    Refused(String),
    /// The gateway persists and stops.
    Stopping,
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
