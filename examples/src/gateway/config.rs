//! How to run a gateway: nodes, files, rules, keys.

use std::path::PathBuf;

use locker_domain::bank::{BankKeys, Policy};
use locker_proto::NodeAddr;
use locker_proto::auth::BankKey;
use locker_proto::link::MasterConfig;

/// How to run a gateway.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The nodes on the bus.
    pub nodes: Vec<NodeAddr>,
    /// Compartments (channels) per node.
    pub channels: u8,
    /// The bank's state file.
    pub state_path: PathBuf,
    /// The audit log (JSON lines).
    pub audit_path: PathBuf,
    /// The bank's rules.
    pub policy: Policy,
    /// Bus timing and retries.
    pub link: MasterConfig,
    /// Seed for pickup codes; `None` draws one from `/dev/urandom` (do that
    /// in production: codes must not be guessable).
    pub code_seed: Option<[u8; 32]>,
    /// The bank's keys, from the secret it shares with the backend (code
    /// hashes, remote opens, offline tokens): derive them with
    /// [`BankKeys::derive`] from the secret in the gateway's storage
    /// (`locker-gateway` keeps it in a file, see [`crate::secret`]).
    pub bank_keys: BankKeys,
    /// The bus key: the bank key of [`locker_proto::auth`] every node's key
    /// is derived from (by bus address). Without it commands go out
    /// unsigned, and nodes with authentication refuse every unlock.
    pub bus_key: Option<BankKey>,
    /// The operator confirms a start the gateway's files contradict: a
    /// state file older than the audit log or the uplink's state (a backup
    /// restored on purpose), or none though they show the bank ran before.
    /// The bank then begins a new incarnation, so remote opens and offline
    /// tokens issued before open nothing (see
    /// [`locker_domain::bank::incarnation`]). Without it such a start is
    /// refused ([`GatewayError::RolledBack`](super::GatewayError::RolledBack)).
    pub new_incarnation: bool,
    /// The program that cuts a silent node's power, run as `PROGRAM
    /// ADDRESS` (see [`NodePower`](super::NodePower)). Without it a node
    /// the gateway would power-cycle is a warning for staff.
    pub node_power_command: Option<PathBuf>,
}

impl GatewayConfig {
    /// A configuration with the default policy and bus timing, for a bank
    /// with `bank_keys`.
    pub fn new(
        nodes: Vec<NodeAddr>,
        channels: u8,
        state_path: impl Into<PathBuf>,
        audit_path: impl Into<PathBuf>,
        bank_keys: BankKeys,
    ) -> Self {
        GatewayConfig {
            nodes,
            channels,
            state_path: state_path.into(),
            audit_path: audit_path.into(),
            policy: Policy::default(),
            link: MasterConfig::default(),
            code_seed: None,
            bank_keys,
            bus_key: None,
            new_incarnation: false,
            node_power_command: None,
        }
    }
}
