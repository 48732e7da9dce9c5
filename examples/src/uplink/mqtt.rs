//! The uplink over MQTT, through a broker such as Mosquitto.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, LastWill, Packet, RetainForwardRule};
use rumqttc::v5::{Client, Event, MqttOptions};

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

/// Where the broker is and who we are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttSettings {
    /// Broker host name or address.
    pub host: String,
    /// Broker port (1883 without TLS).
    pub port: u16,
    /// The MQTT client id; unique per connection to the broker.
    pub client_id: String,
    /// The bank whose topics to use.
    pub bank_id: String,
    /// User name and password for the broker, if it asks for them (it
    /// should: with them the broker's access lists keep other clients off
    /// the bank's topics). Without TLS they cross the network in clear:
    /// use them on a trusted network or through a TLS tunnel.
    pub credentials: Option<(String, String)>,
}

impl MqttSettings {
    /// A broker at `host:port`, without credentials.
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
        }
    }
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
pub struct MqttTransport {
    client: Client,
    publish_to: String,
    events: Receiver<TransportEvent>,
    connected: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
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
        let thread = {
            let (client, connected, stop, dropped) = (
                client.clone(),
                connected.clone(),
                stop.clone(),
                dropped.clone(),
            );
            std::thread::spawn(move || {
                let mut delay = Duration::from_millis(200);
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
                        Err(_) => {
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
            thread: Some(thread),
        }
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
