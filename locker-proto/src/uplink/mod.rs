//! The uplink: typed messages between a bank's gateway and its backend.
//!
//! The bus ([`message`](crate::message)) carries commands between the
//! gateway and its nodes; the uplink carries everything between the gateway
//! and the operator's backend, over any transport (MQTT in the examples,
//! HTTPS or a serial modem elsewhere). It is modelled on OCPP, the protocol
//! between EV chargers and their central systems: see [`ocpp`] for the
//! message-by-message comparison.
//!
//! - [`Envelope`]: version `v`, a [`MessageId`] unique per sender, a body.
//! - [`Upward`] (gateway → backend): boot, layout, node boots, heartbeat,
//!   status notifications, parcel events, notifications, alerts, security
//!   events, audit records, statistics, and the answers to requests
//!   ([`CallResult`] / [`CallError`]).
//! - [`Downward`] (backend → gateway): requests (reserve, announce parcel,
//!   cancel, extend deadline, remote open, change availability, reset,
//!   change/get configuration, trigger snapshot, get diagnostics) and
//!   [`Downward::Ack`]s of upward messages.
//! - [`DedupWindow`]: the receiver's memory of ids seen, so a message
//!   delivered twice is carried out once.
//!
//! # Delivery
//!
//! Every upward message waits in the gateway's outbound queue until the
//! backend acknowledges its id (`{"ack": id}`), and is sent again, in order,
//! after a timeout or a reconnect: at least once, in order. The backend
//! acknowledges every message it receives, even a duplicate, and carries out
//! only those its [`DedupWindow`] calls [`Verdict::New`]. Requests work the
//! same way downward: the backend repeats a request (same id) until its
//! answer arrives, and the gateway carries each id out once. The sans-IO
//! queue and the bridge to the bank live in `locker-domain::uplink`.
//!
//! # Encodings
//!
//! Every message is serde: **postcard** for constrained links (at most
//! [`MAX_POSTCARD_LEN`] bytes; [`Envelope::to_postcard`] /
//! [`Envelope::from_postcard`]) and **JSON** through `serde_json` for
//! integrators. JSON names are stable and snake_case:
//!
//! ```json
//! {"v": 1, "id": 4294967299,
//!  "body": {"parcel_event": {"parcel": 7, "compartment": 3, "step": "deposited",
//!           "actor": "courier", "at": {"mono_ms": 81234, "unix_s": 1767225600}}}}
//! ```
//!
//! - Enums are *externally tagged*: `{"name": {fields}}`, or `"name"` for a
//!   variant without fields. That form decodes without buffering in both
//!   encodings on `no_std` (internally tagged enums need `deserialize_any`,
//!   which postcard does not offer).
//! - Values of the bus vocabulary ([`SizeClass`](crate::SizeClass),
//!   [`DoorState`](crate::DoorState), [`ResetReason`](crate::ResetReason),
//!   [`FaultCode`](crate::FaultCode), [`PowerStatus`](crate::PowerStatus),
//!   [`RebootKind`](crate::RebootKind)) keep the names they have everywhere
//!   else in the workspace: `"Small"`, `"Open"`, `"SoftReboot"`.
//! - The bank's words ([`Actor`], [`ParcelKind`], [`Purpose`],
//!   [`ServiceReason`], [`NotificationKind`], [`HealthIssue`]) are the very
//!   types the bank uses, defined once in [`vocab`](crate::vocab) and
//!   re-exported here; they are snake_case: `"courier"`, `"parcel_ready"`.
//! - Times are a [`Stamp`]: monotonic milliseconds since the gateway started
//!   (`mono_ms`) and Unix seconds (`unix_s`, `null` until the gateway's
//!   clock is set). Durations are milliseconds, in fields ending in `_ms`.
//! - Tags, code hashes, audit links and offline tokens are lowercase hex
//!   strings in JSON and byte strings in postcard.
//! - Text is bounded: bank id and parcel reference 32 bytes, recipient 64,
//!   error descriptions 96. Longer text does not decode.
//!
//! Golden files for every message in both encodings are in
//! `locker-proto/tests/golden/uplink/` (`<message>.json`,
//! `<message>.postcard.hex`); `tests/uplink_golden.rs` keeps them true.
//! A backend in another language can test its codec against them.
//!
//! With the `schema` feature, every type on the uplink implements
//! `schemars::JsonSchema`, and the `schema` module gives the JSON Schemas
//! (draft 2020-12) of an [`UpEnvelope`] and a [`DownEnvelope`] as a
//! conforming writer writes them: the files `spec/schema/*.schema.json`
//! at the repository root, which `tests/uplink_schema.rs` keeps equal to
//! the types and checks every golden message against. A type added to the
//! uplink derives `JsonSchema` under the feature beside its serde derives.
//!
//! # Versioning
//!
//! [`UPLINK_VERSION`] is in every envelope. New messages and variants are
//! appended (never reordered: postcard numbers variants by position); a
//! field added to a message, even an optional one, is an incompatible change
//! and needs a new version (postcard has no field tags). A receiver that
//! cannot decode a message still reads its [`EnvelopeHeader`]: the gateway
//! answers an unknown request with [`ErrorCode::NotSupported`], the backend
//! acknowledges an unknown upward message, so one unknown message never
//! blocks the queue behind it. `spec/uplink.md` (at the repository root)
//! specifies every message byte for byte and `spec/versioning.md` what may
//! change under one version.
//!
//! ```
//! use locker_proto::uplink::{Downward, DownEnvelope, Envelope, HexArray, MessageId};
//! use locker_proto::CompartmentId;
//!
//! // The tag comes from `locker_domain::uplink::sign_downward`; a made-up one here.
//! let request = DownEnvelope::with_tag(
//!     Envelope::new(MessageId(42), Downward::TriggerSnapshot { compartment: CompartmentId(3) }),
//!     HexArray([0xab; 16]),
//! );
//! let json = serde_json::to_string(&request)?;
//! assert_eq!(json, r#"{"v":1,"id":42,"body":{"trigger_snapshot":{"compartment":3}},"tag":"abababababababababababababababab"}"#);
//! let back: DownEnvelope = serde_json::from_str(&json)?;
//! assert_eq!(back, request);
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Authentication
//!
//! Every downward message carries a tag over all of it
//! ([`DownEnvelope`]: HMAC-SHA256 under a key derived from the bank secret,
//! over the version, the growing id and the body), and the gateway carries
//! out nothing, acknowledgements included, whose tag is wrong: anyone who
//! can publish on the transport (a broker's other clients) can neither ask
//! the bank for anything, nor acknowledge the gateway's messages away, nor
//! move its [`DedupWindow`]. Upward messages are not tagged: the backend
//! authenticates the gateway through its transport (broker credentials,
//! TLS), and nothing upward opens a door.

mod dedup;
mod down;
mod envelope;
pub mod ocpp;
mod response;
#[cfg(feature = "schema")]
#[cfg_attr(docsrs, doc(cfg(feature = "schema")))]
pub mod schema;
mod types;
mod up;

pub use dedup::{DEDUP_WINDOW, DedupWindow, Verdict};
pub use down::{
    AnnounceParcel, Credential, Deadlines, Downward, HealthConfig, LockoutConfig, ParcelNeeds,
    PolicyConfig, QuietHours, RemoteOpen, ReserveCompartment, ResetTarget, Scope,
};
pub use envelope::{
    CodecError, DOWNWARD_TAG_LABEL, DOWNWARD_TAG_OVERHEAD_POSTCARD, DownEnvelope, Envelope,
    EnvelopeHeader, MAX_POSTCARD_LEN, MessageId, UPLINK_VERSION, UpEnvelope,
};
pub use response::{
    BusStats, CallError, CallResult, Diagnostics, ErrorCode, MAX_LISTED_OUT_OF_SERVICE,
    OutOfService, Response,
};
pub use types::{
    BankId, CodeHash, Description, HexArray, HexBytes, OfflineToken, ParcelNumber, ParcelRef,
    PickupCodeText, Recipient, Stamp, Tag,
};
pub use up::{
    ANALYTICS_DWELL_BUCKETS, ANALYTICS_HOURS, ANALYTICS_SIZES, ANALYTICS_WEEKDAYS, Analytics,
    SizeFigures,
};
pub use up::{
    Alert, AlertKind, AuditEvent, AuditLink, AuditRecord, BootNotification, CompartmentInfo,
    CompartmentStatus, Evidence, Heartbeat, LAYOUT_PAGE, LayoutPage, MAX_NODES, NodeBoot, NodeInfo,
    Notification, ParcelEvent, ParcelStep, RemoteOpenRefusal, SecurityEvent, SecurityKind,
    Statistics, StatusNotification, Upward,
};
// The bank's words, shared with the bank and defined once in the vocabulary;
// here too so that every type an uplink message holds is at hand.
pub use crate::vocab::{Actor, HealthIssue, NotificationKind, ParcelKind, Purpose, ServiceReason};
