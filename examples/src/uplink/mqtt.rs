//! The uplink over MQTT, through a broker such as Mosquitto.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttc::{Client, Event, LastWill, MqttOptions, Packet, QoS};

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
}

/// One end of the uplink over MQTT: a gateway (publishes on `up`,
/// subscribes to `down`, announces itself on `status` with a last will) or
/// a backend (the other way round).
///
/// A background thread keeps the connection, reconnecting every 200 ms
/// while the broker is away, and subscribes again after every connect (the
/// session is clean: nothing is left to the broker; the uplink's queues
/// resend what was lost).
pub struct MqttTransport {
    client: Client,
    publish_to: String,
    events: Receiver<TransportEvent>,
    connected: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
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
        options.set_clean_session(true);
        if let Some(status) = &status {
            options.set_last_will(LastWill::new(status, "offline", QoS::AtLeastOnce, true));
        }
        let (client, mut connection) = Client::new(options, 256);
        let (tx, events) = mpsc::channel();
        let connected = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (client, connected, stop) = (client.clone(), connected.clone(), stop.clone());
            std::thread::spawn(move || {
                for event in connection.iter() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let report = match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = client.try_subscribe(&subscribe_to, QoS::AtLeastOnce);
                            if let Some(status) = &status {
                                let _ =
                                    client.try_publish(status, QoS::AtLeastOnce, true, "online");
                            }
                            connected.store(true, Ordering::Relaxed);
                            Some(TransportEvent::Up)
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) if p.topic == subscribe_to => {
                            Some(TransportEvent::Message(p.payload.to_vec()))
                        }
                        Ok(_) => None,
                        Err(_) => {
                            let was = connected.swap(false, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(200));
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
            thread: Some(thread),
        }
    }

    /// Whether the broker connection is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
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
