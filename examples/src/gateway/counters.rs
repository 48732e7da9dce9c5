//! `<state file>.counters`: each node's stored counter reservation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use locker_proto::NodeAddr;

use super::{GatewayError, StateFile};

/// The counter reservations of the nodes' signed commands, one `node up_to`
/// line per node, replaced atomically. The gateway stores a reservation
/// before a signed command that needs it leaves, so a restarted gateway
/// never reuses a counter.
#[derive(Debug)]
pub struct CounterFile {
    file: StateFile,
    stored: BTreeMap<NodeAddr, u64>,
}

impl CounterFile {
    /// Reads the file beside `state_path`. A missing file is a first start.
    ///
    /// # Errors
    /// [`GatewayError::CorruptCounters`] for a file that cannot be read as
    /// counters (resuming at 0 could reuse counters, so the gateway stops),
    /// and file errors.
    pub fn open(state_path: &std::path::Path) -> Result<Self, GatewayError> {
        Self::open_named(state_path, ".counters")
    }

    /// Reads the file named `state_path` + `suffix`, as [`open`](Self::open).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_named(state_path: &std::path::Path, suffix: &str) -> Result<Self, GatewayError> {
        let mut path = state_path.as_os_str().to_os_string();
        path.push(suffix);
        let file = StateFile::new(PathBuf::from(path));
        let mut stored = BTreeMap::new();
        if let Some(bytes) = file.load()? {
            let corrupt = || GatewayError::CorruptCounters(file.path().to_path_buf());
            let text = String::from_utf8(bytes).map_err(|_| corrupt())?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let mut parts = line.split_whitespace().map(str::parse::<u64>);
                let (Some(Ok(node)), Some(Ok(up_to)), None) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(corrupt());
                };
                let node = u8::try_from(node).map_err(|_| corrupt())?;
                stored.insert(NodeAddr(node), up_to);
            }
        }
        Ok(CounterFile { file, stored })
    }

    /// Whether the file held nothing: a first start, or a file lost since.
    pub fn is_empty(&self) -> bool {
        self.stored.is_empty()
    }

    /// The reservation last stored for `node` (0 if none).
    pub fn stored(&self, node: NodeAddr) -> u64 {
        self.stored.get(&node).copied().unwrap_or(0)
    }

    /// Stores `up_to` for `node`, durably, before returning.
    ///
    /// # Errors
    /// File errors.
    pub fn store(&mut self, node: NodeAddr, up_to: u64) -> Result<(), GatewayError> {
        self.stored.insert(node, up_to);
        let text: String = self
            .stored
            .iter()
            .map(|(node, up_to)| format!("{} {up_to}\n", node.0))
            .collect();
        self.file.replace(text.as_bytes())
    }
}
