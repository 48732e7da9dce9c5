#![no_std]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub mod auth;
mod body;
mod checksum;
mod cobs;
pub mod error;
pub mod frame;
mod key;
pub mod link;
pub mod message;
pub mod time;
pub mod uplink;
pub mod version;
pub mod vocab;
pub mod wire;
pub mod zone;

pub use error::FrameError;
pub use frame::{Decoder, Feed, Flags, Frame, Header, MAX_FRAME, Seq};
pub use key::{KEY_LEN, NodeKey};
pub use message::{
    BulkStatus, ChannelBits, ChannelStatus, Command, Event, EventBatch, EventRecord, EventSeq,
    Floor, HeldEvents, Indicator, MAX_EVENTS_PER_REPORT, MAX_UNLOCK_PULSE_MS, NackReason,
    NodeConfig, RebootKind, Report,
};
pub use time::{Duration, Instant};
pub use version::{NoCommonVersion, ProtocolVersions};
pub use vocab::{
    Actor, Channel, CompartmentId, Dimensions, DoorState, FaultCode, FirmwareVersion, HealthIssue,
    LockState, MAX_CHANNELS, NodeAddr, NotificationKind, ParcelKind, PowerStatus, Presence,
    Purpose, ResetReason, ServiceReason, SizeClass, SnapshotRef, Temperature,
};
pub use zone::TimeZone;
