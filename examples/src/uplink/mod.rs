//! The uplink on a Linux gateway and a small backend: a disk-backed
//! outbound queue, an MQTT transport and the backend's side of the
//! protocol.
//!
//! The message set and its encodings are `locker_proto::uplink`; the
//! bridge to the bank is `locker_domain::uplink`. This module adds what
//! needs an operating system:
//!
//! - [`DiskQueue`]: upward messages wait on disk, one file per message,
//!   written atomically, until the backend acknowledges them: nothing is
//!   lost while the broker is away, or across a gateway restart.
//! - [`Transport`]: how envelopes travel. [`MqttTransport`] speaks MQTT
//!   through a broker ([`rumqttc`]), over TLS with [`MqttTls`] (read from
//!   [`TlsFiles`]); [`MemoryTransport`] joins two ends in one process for
//!   tests.
//! - [`MqttFlags`]: the `--mqtt…` options `locker-gateway` and
//!   `locker-backend` share, turned into [`MqttSettings`].
//! - [`Backend`]: the backend's side: it numbers its requests, repeats
//!   them until answered, acknowledges every upward message and carries
//!   each out once.
//!
//! # MQTT topics
//!
//! | topic | publisher | payload | QoS |
//! |---|---|---|---|
//! | `locker/<bank>/up` | gateway | one upward envelope | 1 |
//! | `locker/<bank>/down` | backend | one downward envelope | 1 |
//! | `locker/<bank>/status` | gateway (retained; last will) | `online` / `offline` | 1 |
//!
//! `<bank>` is the bank id of the boot notification. Payloads are JSON by
//! default ([`Encoding::Json`]) or postcard ([`Encoding::Postcard`]); both
//! ends must agree. QoS 1 gets a message to the broker at least once; the
//! uplink's own acknowledgements and de-duplication carry it the rest of the
//! way, across broker restarts and clean sessions.

mod backend;
mod codec;
mod disk_queue;
#[cfg(feature = "mqtt")]
mod mqtt;
#[cfg(feature = "mqtt")]
mod mqtt_flags;
#[cfg(feature = "mqtt")]
mod tls;
mod transport;

pub use backend::{Backend, BackendConfig, BackendTally};
pub use codec::{DecodeError, Encoding, WireMessage};
pub use disk_queue::DiskQueue;
#[cfg(feature = "mqtt")]
pub use mqtt::{
    BrokerFailure, MAX_PACKET_SIZE, MAX_RECONNECT_DELAY, MqttSettings, MqttTransport, Topics,
    read_password,
};
#[cfg(feature = "mqtt")]
pub use mqtt_flags::{MqttFlagError, MqttFlags};
#[cfg(feature = "mqtt")]
pub use tls::{MqttTls, TlsFileRole, TlsFiles, TlsSetupError};
pub use transport::{MemoryTransport, Transport, TransportError, TransportEvent};
