//! Answers to requests: OCPP's CallResult and CallError.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use super::down::{PolicyConfig, ResetTarget, Scope};
use super::envelope::MessageId;
use super::types::{Description, ParcelNumber, PickupCodeText};
use super::up::{MAX_NODES, NodeInfo};
use crate::vocab::{CompartmentId, FirmwareVersion, ServiceReason};

/// The most out-of-service compartments a diagnostics report lists.
pub const MAX_LISTED_OUT_OF_SERVICE: usize = 32;

/// A request was carried out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallResult {
    /// The request's message id.
    pub request: MessageId,
    /// The answer.
    pub response: Response,
}

/// The answer to a request, one variant per request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
// Messages are values: there is no heap to box the big ones on `no_std`.
#[allow(clippy::large_enum_variant)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Response {
    /// Answers `reserve_compartment`: send the courier to `compartment`.
    Reserved {
        /// The compartment held.
        compartment: CompartmentId,
        /// The parcel's number in this bank (its events carry it).
        parcel: ParcelNumber,
        /// The pickup code the bank drew, sent this once: keep it and send
        /// it to the collector when the parcel is ready
        /// ([`NotificationKind::ParcelReady`](super::NotificationKind::ParcelReady)).
        /// The bank keeps only its hash.
        #[cfg_attr(feature = "schema", schemars(with = "Option<super::schema::Text<10>>"))]
        pickup_code: Option<PickupCodeText>,
    },
    /// Answers `announce_parcel`.
    ParcelAnnounced {
        /// The compartment held.
        compartment: CompartmentId,
        /// The parcel's number in this bank (its events carry it).
        parcel: ParcelNumber,
        /// `None` for a parcel announced with a code hash (the code never
        /// reaches the gateway); for one announced with an offline token,
        /// the code the bank drew for its keypad, sent this once.
        #[cfg_attr(feature = "schema", schemars(with = "Option<super::schema::Text<10>>"))]
        pickup_code: Option<PickupCodeText>,
    },
    /// Answers `cancel_reservation`.
    ReservationCancelled {
        /// The compartment, free again.
        compartment: CompartmentId,
    },
    /// Answers `extend_deadline`.
    DeadlineExtended {
        /// The compartment holding the parcel.
        compartment: CompartmentId,
    },
    /// Answers `remote_open`: the unlock is on its way to the node; parcel
    /// events and status notifications follow.
    Opening {
        /// The compartment.
        compartment: CompartmentId,
        /// The request id of the remote open.
        request_id: u64,
    },
    /// Answers `change_availability`.
    AvailabilityChanged {
        /// What changed.
        scope: Scope,
        /// Whether it is now available.
        available: bool,
    },
    /// Answers `reset`: the target restarts once the door sessions under
    /// way are over (at most the gateway's drain limit).
    ResetAccepted {
        /// What restarts.
        target: ResetTarget,
        /// Door sessions under way that are finished first.
        in_flight: u16,
    },
    /// Answers `change_configuration`.
    ConfigurationChanged {
        /// Whether the new rules apply only after the gateway restarts
        /// (OCPP's `RebootRequired`).
        reboot_required: bool,
    },
    /// Answers `get_configuration`.
    Configuration(PolicyConfig),
    /// Answers `trigger_snapshot`: the bank names the picture with its own
    /// reference, in the `snapshot_requested` audit record (actor
    /// `backend`) that follows, and `snapshot_taken` or `snapshot_failed`
    /// follows under the same reference.
    SnapshotScheduled {
        /// The compartment in view.
        compartment: CompartmentId,
    },
    /// Answers `get_diagnostics`.
    Diagnostics(Diagnostics),
    /// Answers `recalibrate_sensor`: the signed calibrate is on its way to
    /// the node; the audit record `sensor_recalibrated_remotely` and the
    /// node's next presence report follow.
    SensorRecalibrating {
        /// The compartment.
        compartment: CompartmentId,
    },
}

/// Bus statistics of the gateway's link layer since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BusStats {
    /// Frames transmitted, retransmissions included.
    pub frames_sent: u32,
    /// Retransmissions after a timeout.
    pub retransmissions: u32,
    /// Responses matched to a request.
    pub responses: u32,
    /// Requests whose answer did not come in time.
    pub timeouts: u32,
    /// Frames that matched no request.
    pub unexpected: u32,
    /// Repeated node events filtered out.
    pub duplicates_filtered: u32,
    /// Times a node was declared lost.
    pub nodes_lost: u32,
}

/// A compartment out of service, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OutOfService {
    /// The compartment.
    pub compartment: CompartmentId,
    /// Why.
    pub reason: ServiceReason,
}

/// Versions, bus statistics and what needs service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Diagnostics {
    /// The gateway's software version.
    pub gateway_firmware: FirmwareVersion,
    /// The nodes, with their firmware.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<NodeInfo, MAX_NODES>")
    )]
    pub nodes: Vec<NodeInfo, MAX_NODES>,
    /// Bus statistics.
    pub bus: BusStats,
    /// Compartments out of service (the first [`MAX_LISTED_OUT_OF_SERVICE`]).
    #[cfg_attr(
        feature = "schema",
        schemars(with = "super::schema::List<OutOfService, MAX_LISTED_OUT_OF_SERVICE>")
    )]
    pub out_of_service: Vec<OutOfService, MAX_LISTED_OUT_OF_SERVICE>,
    /// Compartments out of service in all.
    pub out_of_service_total: u16,
    /// Sensor-health alerts raised since the bank was first started.
    pub sensor_health_alerts: u32,
    /// Upward messages waiting for the backend's acknowledgement.
    pub backlog: u32,
    /// Downward messages received twice and not carried out again.
    pub duplicates_ignored: u32,
    /// Downward messages refused since the gateway started because their
    /// tag was wrong or missing.
    #[serde(default)]
    pub forged_refused: u32,
}

/// A request was refused (OCPP's CallError).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallError {
    /// The request's message id.
    pub request: MessageId,
    /// Why, for programs.
    pub code: ErrorCode,
    /// Why, for people (may be cut short).
    #[cfg_attr(feature = "schema", schemars(with = "super::schema::Text<96>"))]
    pub description: Description,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ErrorCode {
    /// The gateway does not know this request or protocol version.
    NotSupported,
    /// The request is malformed (e.g. neither size nor dimensions given).
    FormationViolation,
    /// No compartment has this number.
    UnknownCompartment,
    /// No node has this address.
    UnknownNode,
    /// The compartment is not in a stage where this is allowed.
    WrongStage,
    /// The compartment is out of service.
    OutOfService,
    /// The parcel is larger than every compartment of the bank.
    Oversize,
    /// Every compartment that fits is taken.
    BankFull,
    /// No refrigerated compartment that fits is free.
    NoRefrigeratedFree,
    /// No accessible-height compartment that fits is free.
    NoAccessibleFree,
    /// The bank runs on a low battery and takes no new deposits.
    LowBattery,
    /// The bank is shutting down on a critical battery.
    ShuttingDown,
    /// A reset is under way: no new transactions until after the restart.
    ResetInProgress,
    /// The bank was made unavailable.
    Unavailable,
    /// The authentication tag is wrong or missing (a remote open's, or the
    /// message's own).
    NotAuthorized,
    /// The request id is not newer than one already used.
    Replayed,
    /// Too many requests of this kind; try again later.
    RateLimited,
    /// The configuration values are out of range.
    InvalidConfiguration,
    /// The gateway is busy (its outbound queue is at its limit, or a table
    /// of work under way is full): send the request again later, under a
    /// new message id (an answered id is used up: the same id again is a
    /// duplicate and gets no answer).
    Busy,
    /// Something else went wrong inside the gateway.
    InternalError,
    /// Another active parcel has the same pickup code: draw another code
    /// and announce the parcel again.
    CodeInUse,
    /// The message id is further ahead of the last one carried out than
    /// one message may move the gateway's de-duplication window (see
    /// [`Verdict::TooFar`](super::Verdict::TooFar)): start a new epoch and
    /// send the request again under an id of it.
    OutOfWindow,
    /// The remote open was signed for another incarnation of the bank
    /// (before a restore or a fresh start): sign it again for the
    /// incarnation of the gateway's latest boot notification.
    OtherIncarnation,
}
