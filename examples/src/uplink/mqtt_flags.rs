//! The `--mqtt…` options `locker-gateway` and `locker-backend` share: one
//! set of flags (`clap`), one set of refusals. `locker-gateway` takes the
//! same options as keys of its config file too
//! ([`GatewayOptions`](crate::gateway::GatewayOptions)).

use std::path::PathBuf;

use super::mqtt::{MqttSettings, read_password};
use super::tls::{TlsFileRole, TlsFiles, TlsSetupError};

/// The `--mqtt…` options, as `clap` parses them (flatten them into a
/// program's command line) or a hand-written argument loop meets them
/// ([`MqttFlags::take`]), then checked together and turned into
/// [`MqttSettings`] ([`MqttFlags::settings`]).
///
/// TLS is on with `--mqtt-ca` (or an `mqtts://` address, which needs it):
/// there is no TLS without a CA to check the broker against. Every file is
/// read and checked in [`MqttFlags::settings`], before any connection.
///
/// # Examples
///
/// ```
/// use locker_examples::uplink::{MqttFlagError, MqttFlags};
///
/// let mut flags = MqttFlags::default();
/// let mut args = ["--mqtt", "mqtts://broker.example", "--bank-id", "bank-1"].into_iter();
/// let mut others = Vec::new();
/// while let Some(flag) = args.next() {
///     if !flags.take(flag, || args.next().map(String::from))? {
///         others.push(flag); // the program's own options
///     }
/// }
/// assert_eq!(others, ["--bank-id", "bank-1"]);
/// // mqtts:// needs the CA that signed the broker's certificate.
/// assert!(matches!(
///     flags.settings("locker-gateway-bank-1", "bank-1"),
///     Err(MqttFlagError::NeedsCa { flag: "mqtts://" })
/// ));
/// # Ok::<(), MqttFlagError>(())
/// ```
#[derive(Clone, Debug, Default, clap::Args)]
pub struct MqttFlags {
    /// The MQTT broker: HOST:PORT, mqtt://HOST or mqtt://HOST:PORT (plain
    /// TCP, port 1883 by default), mqtts://HOST or mqtts://HOST:PORT (TLS,
    /// port 8883 by default)
    #[arg(long = "mqtt", value_name = "ADDRESS")]
    pub mqtt: Option<String>,
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
}

/// Why the `--mqtt…` options cannot be used; each names the option.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MqttFlagError {
    /// An option came last, without its value.
    #[error("{flag} needs a value")]
    MissingValue {
        /// The option.
        flag: &'static str,
    },
    /// `--mqtt` was not a broker address.
    #[error(
        "--mqtt needs HOST:PORT, mqtt://HOST[:PORT] or mqtts://HOST[:PORT] \
         (e.g. localhost:1883), not {given:?}"
    )]
    Address {
        /// What was given.
        given: String,
    },
    /// A broker option without `--mqtt`.
    #[error("{flag} is for the broker, but no --mqtt names one")]
    NoBroker {
        /// The option.
        flag: &'static str,
    },
    /// `--mqtt-user` without `--mqtt-password-file`, or the other way.
    #[error("--mqtt-user and --mqtt-password-file go together")]
    HalfCredentials,
    /// `--mqtt-cert` without `--mqtt-key`, or the other way.
    #[error("--mqtt-cert and --mqtt-key go together: the client certificate and its private key")]
    HalfIdentity,
    /// A TLS option (or `mqtts://`) without `--mqtt-ca`.
    #[error(
        "{flag} is for TLS, which needs --mqtt-ca FILE: the CA certificate that \
         signed the broker's certificate"
    )]
    NeedsCa {
        /// The option.
        flag: &'static str,
    },
    /// `mqtt://` (plain TCP) with `--mqtt-ca` (TLS).
    #[error(
        "--mqtt {given} says plain TCP but --mqtt-ca asks for TLS: write mqtts:// \
         (or HOST:PORT alone)"
    )]
    PlainWithCa {
        /// The address given.
        given: String,
    },
    /// The password file cannot be read or is empty.
    #[error("--mqtt-password-file: {0}")]
    Password(String),
    /// A TLS file is missing, unreadable or not what it should be.
    #[error("{flag}: {source}")]
    Tls {
        /// The option that named it.
        flag: &'static str,
        /// What is wrong.
        #[source]
        source: TlsSetupError,
    },
}

/// A broker address: whether its scheme asks for TLS, host and port.
struct Address {
    tls: Option<bool>,
    host: String,
    port: u16,
}

impl Address {
    fn parse(given: &str) -> Result<Self, MqttFlagError> {
        let bad = || MqttFlagError::Address {
            given: given.to_string(),
        };
        let (tls, rest) = if let Some(rest) = given.strip_prefix("mqtts://") {
            (Some(true), rest)
        } else if let Some(rest) = given.strip_prefix("mqtt://") {
            (Some(false), rest)
        } else {
            (None, given)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match (rest.rsplit_once(':'), tls) {
            (Some((host, port)), _) => (host, port.parse().map_err(|_| bad())?),
            (None, Some(true)) => (rest, 8883),
            (None, Some(false)) => (rest, 1883),
            (None, None) => return Err(bad()),
        };
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        Ok(Address {
            tls,
            host: host.to_string(),
            port,
        })
    }
}

impl MqttFlags {
    /// Takes `flag` if it is one of the `--mqtt…` options, reading its value
    /// with `value`; returns `false` (and leaves `value` uncalled) for any
    /// other flag, which is the program's own.
    ///
    /// # Errors
    /// [`MqttFlagError::MissingValue`] when `value` has none.
    pub fn take(
        &mut self,
        flag: &str,
        value: impl FnOnce() -> Option<String>,
    ) -> Result<bool, MqttFlagError> {
        let (name, slot): (&'static str, Slot<'_>) = match flag {
            "--mqtt" => ("--mqtt", Slot::Text(&mut self.mqtt)),
            "--mqtt-user" => ("--mqtt-user", Slot::Text(&mut self.mqtt_user)),
            "--mqtt-password-file" => (
                "--mqtt-password-file",
                Slot::Path(&mut self.mqtt_password_file),
            ),
            "--mqtt-ca" => ("--mqtt-ca", Slot::Path(&mut self.mqtt_ca)),
            "--mqtt-cert" => ("--mqtt-cert", Slot::Path(&mut self.mqtt_cert)),
            "--mqtt-key" => ("--mqtt-key", Slot::Path(&mut self.mqtt_key)),
            "--mqtt-server-name" => ("--mqtt-server-name", Slot::Text(&mut self.mqtt_server_name)),
            _ => return Ok(false),
        };
        let value = value().ok_or(MqttFlagError::MissingValue { flag: name })?;
        match slot {
            Slot::Text(slot) => *slot = Some(value),
            Slot::Path(slot) => *slot = Some(value.into()),
        }
        Ok(true)
    }

    /// The settings for a client `client_id` of bank `bank_id`, every file
    /// read and checked; `None` without `--mqtt` (and no other `--mqtt…`
    /// option).
    ///
    /// # Errors
    /// An [`MqttFlagError`] naming the option: a malformed address, half a
    /// pair (user without password, certificate without key), a TLS option
    /// without `--mqtt-ca`, a password file or TLS file that cannot be
    /// used.
    pub fn settings(
        &self,
        client_id: impl Into<String>,
        bank_id: impl Into<String>,
    ) -> Result<Option<MqttSettings>, MqttFlagError> {
        let Some(given) = &self.mqtt else {
            return match self.first_without_broker() {
                Some(flag) => Err(MqttFlagError::NoBroker { flag }),
                None => Ok(None),
            };
        };
        let address = Address::parse(given)?;
        let mut settings = MqttSettings::new(&address.host, address.port, client_id, bank_id);
        settings.credentials = match (&self.mqtt_user, &self.mqtt_password_file) {
            (Some(user), Some(file)) => Some((
                user.clone(),
                read_password(file).map_err(MqttFlagError::Password)?,
            )),
            (None, None) => None,
            _ => return Err(MqttFlagError::HalfCredentials),
        };
        let client_identity = match (&self.mqtt_cert, &self.mqtt_key) {
            (Some(certificate), Some(key)) => Some((certificate.clone(), key.clone())),
            (None, None) => None,
            _ => return Err(MqttFlagError::HalfIdentity),
        };
        let Some(ca) = &self.mqtt_ca else {
            let needs_ca = [
                (address.tls == Some(true), "mqtts://"),
                (client_identity.is_some(), "--mqtt-cert"),
                (self.mqtt_server_name.is_some(), "--mqtt-server-name"),
            ];
            return match needs_ca.into_iter().find(|(given, _)| *given) {
                Some((_, flag)) => Err(MqttFlagError::NeedsCa { flag }),
                None => Ok(Some(settings)),
            };
        };
        if address.tls == Some(false) {
            return Err(MqttFlagError::PlainWithCa {
                given: given.clone(),
            });
        }
        let files = TlsFiles {
            ca: ca.clone(),
            client_identity,
            server_name: self.mqtt_server_name.clone(),
        };
        let tls = files
            .load(&address.host)
            .map_err(|source| MqttFlagError::Tls {
                flag: match source {
                    TlsSetupError::ServerName { .. } if self.mqtt_server_name.is_none() => "--mqtt",
                    _ => flag_of(&source),
                },
                source,
            })?;
        settings.tls = Some(tls);
        Ok(Some(settings))
    }

    fn first_without_broker(&self) -> Option<&'static str> {
        [
            (self.mqtt_user.is_some(), "--mqtt-user"),
            (self.mqtt_password_file.is_some(), "--mqtt-password-file"),
            (self.mqtt_ca.is_some(), "--mqtt-ca"),
            (self.mqtt_cert.is_some(), "--mqtt-cert"),
            (self.mqtt_key.is_some(), "--mqtt-key"),
            (self.mqtt_server_name.is_some(), "--mqtt-server-name"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

enum Slot<'a> {
    Text(&'a mut Option<String>),
    Path(&'a mut Option<PathBuf>),
}

/// The option that named what a TLS error is about.
fn flag_of(error: &TlsSetupError) -> &'static str {
    let role = match error {
        TlsSetupError::Unreadable { role, .. }
        | TlsSetupError::BadPem { role, .. }
        | TlsSetupError::NoCertificate { role, .. } => *role,
        TlsSetupError::BadCa { .. } | TlsSetupError::Library { .. } => TlsFileRole::Ca,
        TlsSetupError::NoKey { .. } => TlsFileRole::ClientKey,
        TlsSetupError::ClientIdentity { .. } => return "--mqtt-cert/--mqtt-key",
        TlsSetupError::ServerName { .. } => return "--mqtt-server-name",
    };
    match role {
        TlsFileRole::Ca => "--mqtt-ca",
        TlsFileRole::ClientCertificate => "--mqtt-cert",
        TlsFileRole::ClientKey => "--mqtt-key",
    }
}
