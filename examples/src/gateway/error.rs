//! What can stop the gateway, in words an operator can act on.

use std::io;
use std::path::PathBuf;

use locker_domain::bank::{BankError, LayoutError, PersistError, RollbackError};

/// Why the gateway could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The serial port could not be opened or configured.
    #[error(
        "cannot open serial port {port}: {source} (check the path, permissions and that no other program holds it)"
    )]
    OpenPort {
        /// The port path.
        port: String,
        /// Why.
        source: serialport::Error,
    },
    /// Reading from or writing to the serial port failed.
    #[error("serial port failed: {0} (was the adapter unplugged?)")]
    Serial(#[source] io::Error),
    /// The state file exists but cannot be used. It is left untouched.
    #[error(
        "refusing to start: state file {path} cannot be restored: {source}. It was not modified; move it aside to start with an empty bank, or restore a backup"
    )]
    CorruptState {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        source: PersistError,
    },
    /// The state file is older than the gateway's other files, from
    /// another history, or missing though they show the bank ran before
    /// (see [`locker_domain::bank::incarnation`]). Nothing was changed.
    #[error(
        "refusing to start: {source}. No file was changed. If this is intended (a backup restored on purpose, a replaced disk), start once with --new-incarnation: remote opens and offline tokens issued before stop working, and the backend learns the new incarnation from the boot notification. Otherwise put the newest state file {path} back"
    )]
    RolledBack {
        /// The state file.
        path: PathBuf,
        /// What the witnesses say.
        source: RollbackError,
    },
    /// The audit log exists but a line in it is not an audit record.
    #[error(
        "refusing to start: audit log {path} line {line} is not an audit record. It was not modified; check the file"
    )]
    CorruptAudit {
        /// The audit log.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
    },
    /// A file could not be read, written or synced.
    #[error("{action} {path}: {source}")]
    File {
        /// What the gateway was doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// The bank could not take its snapshot (a bug: the buffer is sized for it).
    #[error("cannot take the bank's snapshot: {0}")]
    Snapshot(#[source] PersistError),
    /// The compartment layout derived from the command line was refused.
    #[error("bad layout: {0}")]
    Layout(#[from] LayoutError),
    /// The bank refused an input in a way the gateway cannot recover from.
    #[error("bank: {0}")]
    Bank(#[from] BankError),
    /// The node list is empty, too long, or holds an address that is not a node.
    #[error("bad node list: {0}")]
    Nodes(String),
    /// The uplink refused its configuration or an input.
    #[error("uplink: {0}")]
    Uplink(#[from] locker_domain::uplink::UplinkError),
    /// The gateway machine refused a call for another reason.
    #[error("gateway: {0}")]
    Machine(locker_domain::gateway::GatewayError),
    /// The file of authentication counters is corrupt: starting them at 0
    /// could reuse counter values, so the gateway stops.
    #[error("counter file {0} is corrupt: restore it from backup")]
    CorruptCounters(PathBuf),
}

impl From<locker_domain::gateway::GatewayError> for GatewayError {
    fn from(e: locker_domain::gateway::GatewayError) -> Self {
        use locker_domain::gateway::GatewayError as Core;
        match e {
            Core::Bank(e) => GatewayError::Bank(e),
            Core::Uplink(e) => GatewayError::Uplink(e),
            Core::Link(e) => GatewayError::Nodes(e.to_string()),
            other => GatewayError::Machine(other),
        }
    }
}

impl GatewayError {
    pub(crate) fn file(action: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        GatewayError::File {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
