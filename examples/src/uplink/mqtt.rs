//! The uplink over MQTT, through a broker such as Mosquitto.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttc::v5::mqttbytes::Error as MqttError;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::ConnectReturnCode;
use rumqttc::v5::mqttbytes::v5::{Filter, LastWill, Packet, RetainForwardRule};
use rumqttc::v5::{Client, ConnectionError, Event, MqttOptions, StateError, TlsError};

use super::tls::MqttTls;
use super::transport::{Transport, TransportError, TransportEvent};

/// The topics of one bank (see the [module documentation](super)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    /// Gateway → backend: `locker/<bank>/up`.
    pub up: String,
    /// Backend → gateway: `locker/<bank>/down`.
    pub down: String,
    /// The gateway's presence, retained: `locker/<bank>/status`.
    pub status: String,
}

impl Topics {
    /// The topics of bank `bank_id`.
    pub fn of(bank_id: &str) -> Self {
        Topics {
            up: format!("locker/{bank_id}/up"),
            down: format!("locker/{bank_id}/down"),
            status: format!("locker/{bank_id}/status"),
        }
    }
}

/// The largest MQTT packet either end accepts: 8 KiB. The largest uplink
/// message is 512 bytes in postcard and under 2 KiB in JSON (an
/// announcement with the longest reference, recipient and token, every
/// character escaped), so this leaves room and bounds what a stranger on
/// the broker can make the gateway read.
pub const MAX_PACKET_SIZE: u32 = 8 * 1024;

/// The longest wait between two connection attempts: after every failed
/// attempt the wait doubles from 200 ms up to this.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);

/// Where the broker is, who we are, and how the connection is secured.
///
/// # Examples
///
/// ```
/// use locker_examples::uplink::MqttSettings;
///
/// let mut settings = MqttSettings::new("broker.example", 1883, "locker-gateway-bank-1", "bank-1");
/// settings.credentials = Some(("bank-1".into(), "secret".into()));
/// // No TLS: the password would cross the network in clear, and the
/// // programs say so at start.
/// assert!(settings.cleartext_warning().is_some());
/// // Nor does the password show in debug output.
/// assert!(!format!("{settings:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct MqttSettings {
    /// Broker host name or address. With TLS, the broker's certificate
    /// must carry it (or [`TlsFiles::server_name`](super::TlsFiles::server_name)).
    pub host: String,
    /// Broker port (1883 without TLS, 8883 with, by convention).
    pub port: u16,
    /// The MQTT client id; unique per connection to the broker.
    pub client_id: String,
    /// The bank whose topics to use.
    pub bank_id: String,
    /// User name and password for the broker, if it asks for them (it
    /// should: with them the broker's access lists keep other clients off
    /// the bank's topics). With [`MqttSettings::tls`] they travel
    /// encrypted; without it they cross the network in clear
    /// ([`MqttSettings::cleartext_warning`]).
    pub credentials: Option<(String, String)>,
    /// TLS to the broker (`None`: plain TCP). There is no fallback: with
    /// TLS set, a broker whose certificate is refused is never spoken to in
    /// clear.
    pub tls: Option<MqttTls>,
}

impl MqttSettings {
    /// A broker at `host:port`, plain TCP, without credentials.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        client_id: impl Into<String>,
        bank_id: impl Into<String>,
    ) -> Self {
        MqttSettings {
            host: host.into(),
            port,
            client_id: client_id.into(),
            bank_id: bank_id.into(),
            credentials: None,
            tls: None,
        }
    }

    /// A warning for the operator when the broker password would cross the
    /// network in clear (credentials without TLS); `None` otherwise.
    pub fn cleartext_warning(&self) -> Option<&'static str> {
        (self.credentials.is_some() && self.tls.is_none()).then_some(
            "the MQTT user name and password cross the network in clear: without \
             TLS (--mqtt-ca FILE) anyone on the path can read them; use this only \
             on a trusted network",
        )
    }
}

impl std::fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("bank_id", &self.bank_id)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why a connection to the broker failed or ended, as
/// [`MqttTransport::take_failures`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerFailure {
    /// TLS failed: the broker's certificate was refused (signed by another
    /// CA, for another name, expired), the broker refused ours, or the port
    /// does not speak TLS. Nothing was sent in clear.
    #[error("TLS with the broker failed: {0}")]
    Tls(String),
    /// The broker refused the session (a wrong user name or password, a
    /// client the broker does not allow).
    #[error("the broker refused the connection: {0}")]
    Refused(String),
    /// The network: nothing listening, the connection reset or closed, no
    /// answer in time.
    #[error("no connection to the broker: {0}")]
    Network(String),
}

impl BrokerFailure {
    fn of(error: &ConnectionError) -> Self {
        // rustls's error travels inside an I/O error, wrapped once or more
        // deeply depending on whether the handshake or a later read met it
        // (a broker that wants a client certificate says so after the
        // TLS 1.3 handshake, at the first read).
        let io = match error {
            ConnectionError::Io(io)
            | ConnectionError::Tls(TlsError::Io(io))
            | ConnectionError::MqttState(StateError::Io(io))
            | ConnectionError::MqttState(StateError::Deserialization(MqttError::Io(io))) => {
                Some(io)
            }
            _ => None,
        };
        let tls = match error {
            ConnectionError::Tls(TlsError::TLS(e)) => Some(e),
            _ => io
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        };
        match (tls, io, error) {
            (Some(e), _, _) => BrokerFailure::Tls(tls_words(e)),
            (None, _, ConnectionError::Tls(e)) => BrokerFailure::Tls(e.to_string()),
            (None, _, ConnectionError::ConnectionRefused(code)) => {
                BrokerFailure::Refused(match code {
                    ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => {
                        format!("{code:?} (check the user name and password)")
                    }
                    _ => format!("{code:?}"),
                })
            }
            (None, Some(io), _) => BrokerFailure::Network(io.to_string()),
            (None, None, other) => BrokerFailure::Network(other.to_string()),
        }
    }
}

/// A rustls error, with what it means for the operator where that is clear.
fn tls_words(error: &rustls::Error) -> String {
    use rustls::AlertDescription;
    use rustls::CertificateError as C;
    let meaning = match error {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "the broker's certificate is not signed by the trusted CA; "
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "the broker's certificate does not carry the name connected to; ",
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the broker's certificate has expired; "
        }
        rustls::Error::InvalidMessage(_) => "the broker does not speak TLS on this port; ",
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the broker asks for a client certificate; "
        }
        rustls::Error::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown,
        ) => "the broker refused our client certificate; ",
        rustls::Error::AlertReceived(_) => "the broker ended the handshake; ",
        _ => "",
    };
    format!("{meaning}{error}")
}

/// The broker password in the first line of `path`.
///
/// # Errors
/// A message naming the file if it cannot be read or is empty.
pub fn read_password(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the MQTT password in {}: {e}", path.display()))?;
    let password = text.lines().next().unwrap_or("").trim_end().to_string();
    if password.is_empty() {
        return Err(format!(
            "the MQTT password file {} is empty",
            path.display()
        ));
    }
    Ok(password)
}

/// One end of the uplink over MQTT: a gateway (publishes on `up`,
/// subscribes to `down`, announces itself on `status` with a last will) or
/// a backend (the other way round).
///
/// A background thread keeps the connection and subscribes again after
/// every connect (the session is clean: nothing is left to the broker; the
/// uplink's queues resend what was lost). While the broker is away it tries
/// again after 200 ms, doubling the wait after every failure up to
/// [`MAX_RECONNECT_DELAY`]; a connection that delivers a message or a
/// ping answer resets the wait.
///
/// The client speaks MQTT 5, for two of its guarantees:
///
/// - its CONNECT says the largest packet it takes ([`MAX_PACKET_SIZE`]),
///   and the broker drops a larger message for this client instead of
///   sending it, so an oversize message (retained or not) costs nothing
///   and never breaks the connection;
/// - it subscribes with "never send retained messages": the uplink's
///   messages are never retained, so a retained one on the topic is not the
///   peer's, and it cannot be replayed at every connect.
///
/// A message that still arrives retained, or larger than
/// [`MAX_PACKET_SIZE`], is dropped and counted ([`MqttTransport::dropped`]).
///
/// With [`MqttSettings::tls`] every connection is TLS, checked against
/// the trusted CA; a failed handshake is a failed attempt like any other
/// (retried with the same back-off), never a reason to try in clear. Why
/// attempts fail is reported once per reason ([`MqttTransport::take_failures`]).
pub struct MqttTransport {
    client: Client,
    publish_to: String,
    events: Receiver<TransportEvent>,
    connected: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    failures: Option<Receiver<BrokerFailure>>,
    thread: Option<JoinHandle<()>>,
}

impl MqttTransport {
    /// The gateway's end.
    pub fn gateway(settings: &MqttSettings) -> Self {
        let topics = Topics::of(&settings.bank_id);
        Self::start(settings, topics.up, topics.down, Some(topics.status))
    }

    /// The backend's end for one bank.
    pub fn backend(settings: &MqttSettings) -> Self {
        let topics = Topics::of(&settings.bank_id);
        Self::start(settings, topics.down, topics.up, None)
    }

    fn start(
        settings: &MqttSettings,
        publish_to: String,
        subscribe_to: String,
        status: Option<String>,
    ) -> Self {
        let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_clean_start(true);
        options.set_max_packet_size(Some(MAX_PACKET_SIZE));
        if let Some((user, password)) = &settings.credentials {
            options.set_credentials(user, password);
        }
        if let Some(tls) = &settings.tls {
            options.set_transport(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Rustls(
                tls.client_config(),
            )));
        }
        if let Some(status) = &status {
            options.set_last_will(LastWill::new(
                status,
                "offline",
                QoS::AtLeastOnce,
                true,
                None,
            ));
        }
        let (client, mut connection) = Client::new(options, 256);
        let (tx, events) = mpsc::channel();
        let connected = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (failed, failures) = mpsc::sync_channel(FAILURES_KEPT);
        let thread = {
            let (client, connected, stop, dropped) = (
                client.clone(),
                connected.clone(),
                stop.clone(),
                dropped.clone(),
            );
            std::thread::spawn(move || {
                let mut delay = Duration::from_millis(200);
                let mut told = None;
                for event in connection.iter() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let report = match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let filter = Filter {
                                retain_forward_rule: RetainForwardRule::Never,
                                ..Filter::new(subscribe_to.as_str(), QoS::AtLeastOnce)
                            };
                            let _ = client.try_subscribe_many([filter]);
                            if let Some(status) = &status {
                                let _ =
                                    client.try_publish(status, QoS::AtLeastOnce, true, "online");
                            }
                            connected.store(true, Ordering::Relaxed);
                            told = None;
                            Some(TransportEvent::Up)
                        }
                        Ok(Event::Incoming(Packet::Publish(p)))
                            if p.topic == subscribe_to.as_bytes() =>
                        {
                            delay = Duration::from_millis(200);
                            let oversize = p.payload.len() > MAX_PACKET_SIZE as usize;
                            if p.retain || oversize {
                                dropped.fetch_add(1, Ordering::Relaxed);
                                None
                            } else {
                                Some(TransportEvent::Message(p.payload.to_vec()))
                            }
                        }
                        Ok(Event::Incoming(Packet::PingResp(_))) => {
                            delay = Duration::from_millis(200);
                            None
                        }
                        Ok(_) => None,
                        Err(e) => {
                            tell(&failed, &mut told, BrokerFailure::of(&e));
                            let was = connected.swap(false, Ordering::Relaxed);
                            std::thread::sleep(delay);
                            delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                            was.then_some(TransportEvent::Down)
                        }
                    };
                    if let Some(report) = report {
                        if tx.send(report).is_err() {
                            return;
                        }
                    }
                }
            })
        };
        MqttTransport {
            client,
            publish_to,
            events,
            connected,
            stop,
            dropped,
            failures: Some(failures),
            thread: Some(thread),
        }
    }

    /// Why connection attempts fail, from now on: each reason once (the
    /// same failure again at every retry is not repeated) until a
    /// connection succeeds, then again. The receiver stays valid when the
    /// transport is handed on (to a gateway), so a program can keep
    /// telling its operator. While 16 reasons are unread, a new one is
    /// told only once there is room again. `None` after the first call.
    pub fn take_failures(&mut self) -> Option<Receiver<BrokerFailure>> {
        self.failures.take()
    }

    /// Whether the broker connection is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Messages dropped because they came retained or larger than
    /// [`MAX_PACKET_SIZE`] (a broker that honours MQTT 5 drops those itself).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// How many unread [`BrokerFailure`]s a transport keeps.
const FAILURES_KEPT: usize = 16;

/// Reports `failure` unless it is the one reported last; drops it when
/// nobody reads them (the receiver gone or full).
fn tell(to: &SyncSender<BrokerFailure>, told: &mut Option<BrokerFailure>, failure: BrokerFailure) {
    if told.as_ref() == Some(&failure) {
        return;
    }
    match to.try_send(failure.clone()) {
        Ok(()) => *told = Some(failure),
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
    }
}

impl std::fmt::Debug for MqttTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttTransport")
            .field("publish_to", &self.publish_to)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Transport for MqttTransport {
    fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        if !self.is_connected() {
            return Err(TransportError::Down);
        }
        self.client
            .try_publish(&self.publish_to, QoS::AtLeastOnce, false, payload.to_vec())
            .map_err(|_| TransportError::Down)
    }

    fn poll(&mut self) -> Option<TransportEvent> {
        self.events.try_recv().ok()
    }
}

impl Drop for MqttTransport {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.client.disconnect();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
