//! `locker-gateway`'s options: one set, given as flags, as environment
//! variables (the secrets' paths) or as keys of a TOML config file
//! (`--config /etc/locker/gateway.toml`).
//!
//! Every flag `--some-option` is the key `some-option` of the file, with
//! the same meaning and the same value (`--nodes 1,2,3` is
//! `nodes = "1,2,3"` or `nodes = [1, 2, 3]`). A flag overrides the file; an
//! environment variable counts as a flag. Two flags are not keys:
//! `--config` itself, and `--new-incarnation`, a one-time confirmation
//! that must never stay written down.
//!
//! The file holds no secret: the bank secret, the bus key and the MQTT
//! password stay in files of their own, readable by their owner alone, and
//! the config names their paths (`bank-secret`, `bus-key`,
//! `mqtt-password-file`). A key that would hold a secret itself does not
//! exist, so such a file is refused like any unknown key, and the config
//! file may be readable by everyone.
//!
//! A file with an unknown key, a value of the wrong type or a value out of
//! range is refused at start, naming the file, the line and the key
//! ([`ConfigFileError`]).
//!
//! ```
//! use locker_examples::gateway::GatewayOptions;
//!
//! let file = GatewayOptions::from_toml(
//!     "/etc/locker/gateway.toml".as_ref(),
//!     "port = \"/dev/ttyUSB0\"\nnodes = [1, 2]\nchannels = 16\n",
//! )?;
//! let flags = GatewayOptions { channels: Some(8), ..GatewayOptions::default() };
//! let options = flags.over(file);
//! assert_eq!(options.port.as_deref(), Some("/dev/ttyUSB0"));
//! assert_eq!(options.channels, Some(8), "the flag wins");
//!
//! let refused = GatewayOptions::from_toml("gateway.toml".as_ref(), "port = 1\n").unwrap_err();
//! assert_eq!(
//!     refused.to_string(),
//!     "config file gateway.toml, line 1, key `port`: invalid type: integer `1`, expected a string"
//! );
//! # Ok::<(), locker_examples::gateway::ConfigFileError>(())
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use locker_drivers::kerong::BoardModel;
use locker_proto::NodeAddr;

use crate::logging::LogFormat;
use crate::uplink::Encoding;
#[cfg(feature = "mqtt")]
use crate::uplink::MqttFlags;

/// What is on the serial line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoardKind {
    /// Our own compartment nodes.
    #[default]
    Ours,
    /// Kerong KR-CU16 lock boards.
    KerongCu16,
    /// Kerong KR-CU48 lock boards (two nodes of 24 channels each).
    KerongCu48,
}

impl BoardKind {
    /// The Kerong model, `None` for our nodes.
    pub fn kerong(self) -> Option<BoardModel> {
        match self {
            BoardKind::Ours => None,
            BoardKind::KerongCu16 => Some(BoardModel::Cu16),
            BoardKind::KerongCu48 => Some(BoardModel::Cu48),
        }
    }
}

/// The node addresses on the bus: `1,2,3` on the command line, the same
/// string or an array of numbers in the config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeList(pub Vec<NodeAddr>);

impl FromStr for NodeList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(|n| n.trim().parse().map(NodeAddr))
            .collect::<Result<Vec<_>, _>>()
            .map(NodeList)
            .map_err(|_| format!("node addresses like 1,2,3 (numbers 1 to 247), not {s:?}"))
    }
}

impl<'de> serde::Deserialize<'de> for NodeList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeListVisitor)
    }
}

/// Reads `"1,2,3"` or `[1, 2, 3]`, saying which element is wrong.
struct NodeListVisitor;

impl<'de> serde::de::Visitor<'de> for NodeListVisitor {
    type Value = NodeList;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("node addresses: an array of numbers 1 to 247, or a string like \"1,2,3\"")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<NodeList, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NodeList, A::Error> {
        let mut nodes = Vec::new();
        while let Some(node) = seq.next_element::<u8>()? {
            nodes.push(NodeAddr(node));
        }
        Ok(NodeList(nodes))
    }
}

/// `locker-gateway`'s options, each `None` when not given; as flags
/// ([`clap::Args`]) and as the keys of its config file
/// ([`GatewayOptions::from_toml`]). [`GatewayOptions::over`] lays the flags
/// over the file.
#[derive(Clone, Debug, Default, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GatewayOptions {
    /// Serial port of the RS-485 adapter, e.g. /dev/ttyUSB0 (required)
    #[arg(long, short = 'p', value_name = "PATH")]
    pub port: Option<String>,
    /// What is on the line: our nodes (ours, the default) or Kerong lock
    /// boards driven as our nodes (see BOARDS below)
    #[arg(long, value_enum, value_name = "KIND")]
    pub board: Option<BoardKind>,
    /// Every lock has a feedback contact and its node reports a pulse that
    /// did not release it (our nodes do for locks with a contact; Kerong
    /// boards do not): an unlocked door nobody pulled is then not blamed
    /// on the lock, no lock-fault alert, the compartment stays in service
    /// [default: false]
    #[arg(long, value_name = "BOOL")]
    pub locks_report_jams: Option<bool>,
    /// Configure every node (ours): its presence threshold above the
    /// calibrated empty baseline, in the units its sensor reports (raw
    /// counts of a load-cell amplifier, or grams if the node scales them).
    /// The bank then gives every node this threshold and its own door-ajar
    /// limit at start, again to a node that restarts or is replaced, and
    /// watches drift in the same units. Unset, the nodes keep their own
    /// configuration [default: unset]
    #[arg(long, value_name = "N")]
    pub presence_threshold: Option<i32>,
    /// How far an empty compartment's reading may wander from its zero
    /// before it counts as drift, in the nodes' units: with
    /// --presence-threshold at least a twentieth of it and below half of it
    /// [default: two fifths of --presence-threshold; 4 without one]
    #[arg(long, value_name = "N")]
    pub drift_band: Option<i32>,
    /// The bank's time zone for quiet hours and the analytics, as a POSIX
    /// TZ rule such as CET-1CEST,M3.5.0,M10.5.0/3 (the last line of
    /// /usr/share/zoneinfo/Europe/Berlin); the bank's clock stays UTC. The
    /// backend's configuration replaces it [default: UTC0]
    #[arg(long, value_name = "TZ")]
    pub time_zone: Option<String>,
    /// Baud rate [default: 115200 for our nodes, 19200 for Kerong boards]
    #[arg(long, value_name = "N")]
    pub baud: Option<u32>,
    /// The bank's state file: restored at start, replaced atomically after
    /// every change; a corrupt one stops the gateway and is left untouched
    /// (required)
    #[arg(long, short = 's', value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Audit log, one JSON record per line, appended (required)
    #[arg(long, short = 'a', value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Node bus addresses, e.g. 1,2,3 (required)
    #[arg(long, short = 'n', value_name = "LIST")]
    pub nodes: Option<NodeList>,
    /// Compartments per node; sizes cycle 5 small, 3 medium, 2 large
    /// [default: 16]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=32))]
    pub channels: Option<u8>,
    /// The secret the bank shares with its backend: 64 hex digits in a file
    /// readable by its owner alone (created with fresh randomness, mode
    /// 0600, when it does not exist: give the backend the same file)
    /// (required)
    #[arg(
        long,
        value_name = "FILE",
        env = "LOCKER_BANK_SECRET",
        hide_env_values = true
    )]
    pub bank_secret: Option<PathBuf>,
    /// The bank's number, which its keys are bound to (the backend's
    /// --bank-number) [default: 1]
    #[arg(long, value_name = "N")]
    pub bank_number: Option<u32>,
    /// The bus key: 64 hex digits in a file; each node's key is derived
    /// from it and the node's address, and unlocks are signed (without it
    /// nodes refuse every unlock; with Kerong boards a key for this run is
    /// drawn instead)
    #[arg(
        long,
        value_name = "FILE",
        env = "LOCKER_BUS_KEY",
        hide_env_values = true
    )]
    pub bus_key: Option<PathBuf>,
    /// The program that cuts a node's power when it has not answered for a
    /// minute (a hung firmware), run as PROGRAM ADDRESS without waiting:
    /// a script that switches a relay on the node's supply off and on.
    /// Unset, such a node is a warning to power-cycle it by hand [default:
    /// unset]
    #[arg(long, value_name = "PROGRAM")]
    pub node_power_command: Option<PathBuf>,
    /// Stop (persisting first) after SECS seconds
    #[arg(long, value_name = "SECS")]
    pub exit_after: Option<f64>,
    /// The bank's name for the backend and the MQTT topics [default: bank-1]
    #[arg(long, value_name = "ID")]
    pub bank_id: Option<String>,
    /// The uplink's queue and state [default: uplink]
    #[arg(long, value_name = "DIR")]
    pub uplink_dir: Option<PathBuf>,
    /// Payload encoding on the uplink [default: json]
    #[arg(long, value_enum, value_name = "E")]
    pub uplink_encoding: Option<Encoding>,
    /// The MQTT broker: HOST:PORT, mqtt://HOST or mqtt://HOST:PORT (plain
    /// TCP, port 1883 by default), mqtts://HOST or mqtts://HOST:PORT (TLS,
    /// port 8883 by default)
    #[arg(long, value_name = "ADDRESS")]
    pub mqtt: Option<String>,
    /// TLS: the CA certificate(s) that signed the broker's certificate,
    /// PEM; TLS is on with it, and only this CA is trusted
    #[arg(long, value_name = "FILE")]
    pub mqtt_ca: Option<PathBuf>,
    /// TLS: a client certificate (PEM) for a broker that asks for one
    #[arg(long, value_name = "FILE")]
    pub mqtt_cert: Option<PathBuf>,
    /// TLS: the client certificate's unencrypted private key (PEM)
    #[arg(
        long,
        value_name = "FILE",
        env = "LOCKER_MQTT_KEY",
        hide_env_values = true
    )]
    pub mqtt_key: Option<PathBuf>,
    /// TLS: the name the broker's certificate carries, when it is not the
    /// host of --mqtt (e.g. an address)
    #[arg(long, value_name = "NAME")]
    pub mqtt_server_name: Option<String>,
    /// Log in to the broker as USER (with --mqtt-password-file)
    #[arg(long, value_name = "USER")]
    pub mqtt_user: Option<String>,
    /// The broker password, first line of FILE; without TLS it travels in
    /// clear (a warning says so at start)
    #[arg(
        long,
        value_name = "FILE",
        env = "LOCKER_MQTT_PASSWORD_FILE",
        hide_env_values = true
    )]
    pub mqtt_password_file: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace or off, or directives
    /// such as warn,locker_gateway=debug [default: RUST_LOG, else info]
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log lines as plain text (for journald) or JSON [default: plain]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// Why a config file cannot be used; each names the file, and the line and
/// key where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML, or a key is unknown, of the wrong type or out
    /// of range.
    #[error(
        "config file {}{}{}: {message}",
        path.display(),
        line.map(|l| format!(", line {l}")).unwrap_or_default(),
        key.as_ref().map(|k| format!(", key `{k}`")).unwrap_or_default()
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line the trouble is on, when the parser knows it.
        line: Option<usize>,
        /// The key on that line, when there is one.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
}

impl GatewayOptions {
    /// Reads the config file at `path`.
    ///
    /// # Errors
    /// [`ConfigFileError`] naming the file, line and key.
    pub fn from_file(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(path, &text)
    }

    /// The options in `text`, the contents of the config file at `path`.
    ///
    /// # Errors
    /// [`ConfigFileError::Invalid`] naming `path`, the line and the key.
    pub fn from_toml(path: &Path, text: &str) -> Result<Self, ConfigFileError> {
        let options: Self = toml::from_str(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => {
                    let start = span.start.min(text.len());
                    let before = text.get(..start).unwrap_or("");
                    let line = before.matches('\n').count() + 1;
                    // The key is on the line, or above it for a value that
                    // spans lines (an array written one element a line).
                    let key = text.lines().take(line).filter_map(key_on).last();
                    (Some(line), key)
                }
                None => (None, None),
            };
            ConfigFileError::Invalid {
                path: path.to_path_buf(),
                line,
                key,
                message: shorter(e.message()),
            }
        })?;
        if let Some(channels) = options.channels
            && !(1..=32).contains(&channels)
        {
            return Err(ConfigFileError::Invalid {
                path: path.to_path_buf(),
                line: line_of_key(text, "channels"),
                key: Some("channels".into()),
                message: format!("{channels} is not in 1..=32"),
            });
        }
        Ok(options)
    }

    /// These options (the flags) laid over `file`'s: each one given here
    /// wins, the file fills the rest.
    #[must_use]
    pub fn over(self, file: GatewayOptions) -> GatewayOptions {
        GatewayOptions {
            port: self.port.or(file.port),
            board: self.board.or(file.board),
            locks_report_jams: self.locks_report_jams.or(file.locks_report_jams),
            presence_threshold: self.presence_threshold.or(file.presence_threshold),
            drift_band: self.drift_band.or(file.drift_band),
            time_zone: self.time_zone.or(file.time_zone),
            baud: self.baud.or(file.baud),
            state: self.state.or(file.state),
            audit: self.audit.or(file.audit),
            nodes: self.nodes.or(file.nodes),
            channels: self.channels.or(file.channels),
            bank_secret: self.bank_secret.or(file.bank_secret),
            bank_number: self.bank_number.or(file.bank_number),
            bus_key: self.bus_key.or(file.bus_key),
            node_power_command: self.node_power_command.or(file.node_power_command),
            exit_after: self.exit_after.or(file.exit_after),
            bank_id: self.bank_id.or(file.bank_id),
            uplink_dir: self.uplink_dir.or(file.uplink_dir),
            uplink_encoding: self.uplink_encoding.or(file.uplink_encoding),
            mqtt: self.mqtt.or(file.mqtt),
            mqtt_ca: self.mqtt_ca.or(file.mqtt_ca),
            mqtt_cert: self.mqtt_cert.or(file.mqtt_cert),
            mqtt_key: self.mqtt_key.or(file.mqtt_key),
            mqtt_server_name: self.mqtt_server_name.or(file.mqtt_server_name),
            mqtt_user: self.mqtt_user.or(file.mqtt_user),
            mqtt_password_file: self.mqtt_password_file.or(file.mqtt_password_file),
            log_level: self.log_level.or(file.log_level),
            log_format: self.log_format.or(file.log_format),
        }
    }

    /// The secrets' paths that neither a flag, its environment variable nor
    /// the config file gave, taken from systemd's credentials directory
    /// `dir` (`$CREDENTIALS_DIRECTORY`, which a unit's `LoadCredential=`
    /// fills, systemd 247 and later) where a credential of the option's
    /// name is there: `bank-secret`, `bus-key`, `mqtt-key`, `mqtt-password`.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("creds-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("bank-secret"), "…").unwrap();
    /// let options = locker_examples::gateway::GatewayOptions::default().with_credentials(&dir);
    /// assert_eq!(options.bank_secret, Some(dir.join("bank-secret")));
    /// assert_eq!(options.bus_key, None, "no such credential");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    #[must_use]
    pub fn with_credentials(mut self, dir: &Path) -> GatewayOptions {
        let credential = |name: &str| Some(dir.join(name)).filter(|path| path.is_file());
        self.bank_secret = self.bank_secret.or_else(|| credential("bank-secret"));
        self.bus_key = self.bus_key.or_else(|| credential("bus-key"));
        self.mqtt_key = self.mqtt_key.or_else(|| credential("mqtt-key"));
        self.mqtt_password_file = self
            .mqtt_password_file
            .or_else(|| credential("mqtt-password"));
        self
    }

    /// The `--mqtt…` options, for [`MqttFlags::settings`].
    #[cfg(feature = "mqtt")]
    pub fn mqtt_flags(&self) -> MqttFlags {
        MqttFlags {
            mqtt: self.mqtt.clone(),
            mqtt_user: self.mqtt_user.clone(),
            mqtt_password_file: self.mqtt_password_file.clone(),
            mqtt_ca: self.mqtt_ca.clone(),
            mqtt_cert: self.mqtt_cert.clone(),
            mqtt_key: self.mqtt_key.clone(),
            mqtt_server_name: self.mqtt_server_name.clone(),
        }
    }
}

/// The key a line of TOML sets (`key = value`, quotes removed), or the
/// table it opens (`[table]`).
fn key_on(line: &str) -> Option<String> {
    let line = line.trim();
    if let Some(table) = line.strip_prefix('[') {
        return Some(table.trim_matches([']', '[', ' ']).to_string());
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches(['"', '\'']);
    (!key.is_empty()).then(|| key.to_string())
}

/// The 1-based line that sets `key`.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| key_on(l).as_deref() == Some(key))
        .map(|n| n + 1)
}

/// The parser's message without its list of every key there is, which
/// `--help` gives better.
fn shorter(message: &str) -> String {
    let message = message.trim();
    match message.split_once(", expected one of") {
        Some((unknown, _)) if message.starts_with("unknown field") => format!(
            "{unknown}: not an option (every key is a flag of --help without its --; \
             new-incarnation and config are flags only)"
        ),
        _ => message.to_string(),
    }
}
