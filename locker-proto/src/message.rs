//! The bus message set: [`Command`]s from the gateway to a node and
//! [`Report`]s from a node to the gateway.
//!
//! Messages are encoded with postcard inside a [frame](crate::frame). Enum
//! variants are numbered by position, so **new variants are only ever appended**
//! and existing ones never reordered: a node and a gateway of different
//! versions still agree on everything they both know, and the unknown rest
//! decodes to a typed [`FrameError::BadBody`](crate::FrameError::BadBody).
//! `spec/bus.md` (at the repository root) lists every variant's number and
//! fields; `tests/bus_golden.rs` fails if one changes.
//!
//! # Wire size
//!
//! Sizes on the wire, COBS overhead and the `0x00` delimiter included, pinned
//! by tests in `tests/wire_size.rs`:
//!
//! | message | bytes |
//! |---|---|
//! | `Command::Unlock` (pulse up to 16 s) | 12 |
//! | `Command::PollEvents` | 9 |
//! | `Command::AckEvents` | 10–12 |
//! | `Report::Ack` | 9 |
//! | `Report::BulkStatus`, 16 channels, all bits set | 22 |
//! | `Report::BulkStatus`, 32 channels, all bits set | 30 |
//! | `Report::Events`, one door event | 15–17 |
//!
//! Authenticated (feature `auth`; see [`auth`](crate::auth)): the trailer
//! adds [`AUTH_TRAILER_LEN`](crate::frame::AUTH_TRAILER_LEN) = 10 bytes, 2 of
//! counter and 8 of tag, to the frames that carry one:
//!
//! | message | bytes |
//! |---|---|
//! | `Command::Unlock`, signed (pulse up to 16 s) | 22 |
//! | `Command::AckEvents`, signed | 20–22 |
//! | `Report::Ack` answering a signed command | 19 |
//! | `Report::Nack(Stale { floor })` (floor below 2²¹) | 23 |
//! | `Command::Provision` (32-byte key, never signed) | 41 |
//! | `Command::PollEvents` with the gateway's challenge | 19 |
//! | `Report::Events`, nothing to report, tagged | 21 |
//! | `Report::Events`, the start event, tagged | 24 |
//! | `Report::BulkStatus`, 16 channels, tagged | 32 |
//!
//! Queries to a keyed node (polls, status, pings) carry the gateway's
//! challenge in the trailer's place and every answer is tagged, so each
//! costs the same 10 bytes. At 115,200 baud a signed unlock and its signed
//! answer take 3.6 ms of bus time instead of 1.8 ms, and an idle node's
//! event poll with its answer 40 bytes, 3.5 ms, instead of 20 bytes, 1.7 ms:
//! at the default 4 polls a second, 1.4% of the line per idle node instead
//! of 0.7%.
//!
//! Vendor boards such as the Kerong KR-CU16 spend 5 bytes on an unlock and 9
//! on a 16-channel status with an 8-bit additive checksum and no sequence
//! number; we spend a few bytes more for a sequence number (so a retransmitted
//! unlock is never executed twice) and a real CRC-16, and ten more on the
//! commands that open a door, so that only the gateway can send them.

use core::fmt;

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::key::NodeKey;
use crate::version::ProtocolVersions;
use crate::vocab::{
    Channel, DoorState, FaultCode, FirmwareVersion, LockState, PowerStatus, Presence, ResetReason,
    Temperature, derive_wire,
};

/// The most events a node sends in one [`Report::Events`]; more wait for the
/// next poll (the frame's `more-pending` flag says so).
pub const MAX_EVENTS_PER_REPORT: usize = 6;

derive_wire! {
    /// A command from the gateway to one node. Nothing is sent by broadcast:
    /// a node ignores frames addressed to
    /// [`NodeAddr::BROADCAST`](crate::NodeAddr::BROADCAST).
    #[non_exhaustive]
    pub enum Command {
        /// Are you there, and which bus protocol versions do you speak?
        /// Answered with [`Report::Pong`]. The master greets every node
        /// with it (`spec/versioning.md` §4.1) and uses the highest version
        /// both sides speak from then on.
        Ping {
            /// The bus protocol versions the master speaks
            /// ([`ProtocolVersions::BUS`] for this crate).
            versions: ProtocolVersions,
        },
        /// Status of one channel. Answered with [`Report::Status`].
        GetStatus {
            /// The channel to report.
            channel: Channel,
        },
        /// Status of every channel in one response. Answered with [`Report::BulkStatus`].
        GetAllStatus,
        /// Release a channel's lock for `pulse_ms` milliseconds. The node clamps
        /// the pulse to its configured maximum. Answered with [`Report::Ack`].
        Unlock {
            /// The channel whose lock to release.
            channel: Channel,
            /// How long to drive the lock, in milliseconds.
            pulse_ms: u16,
        },
        /// Drive a channel's indicator (LED or buzzer). Answered with [`Report::Ack`].
        SetIndicator {
            /// The channel whose indicator to drive.
            channel: Channel,
            /// What to show.
            indicator: Indicator,
        },
        /// Take the current presence reading of an (empty) channel as its
        /// baseline. Answered with [`Report::Ack`].
        Calibrate {
            /// The channel to calibrate.
            channel: Channel,
        },
        /// Change the node's timing and thresholds. Answered with [`Report::Ack`].
        Configure(NodeConfig),
        /// Send queued events. Answered with [`Report::Events`] (possibly empty).
        PollEvents,
        /// The gateway has every event up to and including `up_to`; the node may
        /// forget them. Answered with [`Report::Ack`].
        AckEvents {
            /// The highest event sequence number received.
            up_to: EventSeq,
        },
        /// Restart the node. Answered with [`Report::Ack`] before restarting.
        Reboot {
            /// Soft (keep calibration) or hard (full reset).
            kind: RebootKind,
        },
        /// Install the key this node authenticates frames with. Accepted only
        /// while the node is in provisioning mode, which a physical input on
        /// the node enables; refused with
        /// [`NackReason::ProvisioningDisabled`] otherwise, whatever the frame
        /// carries. The key crosses the bus in the clear, so provision on the
        /// bench or with the cabinet closed. Answered with [`Report::Ack`].
        Provision {
            /// The node's key, derived from the bank key and the node's identity.
            key: NodeKey,
        },
        /// The lowest command counter the node accepts next. Answered by the
        /// node's link layer with [`Report::AuthFloor`] (with feature
        /// `auth`; [`NackReason::Unsupported`] without), tagged for the
        /// gateway's challenge like every answer to a query. The gateway asks
        /// once per run, before its first signed command, and moves its
        /// counter up to the floor: a gateway that lost its stored counters
        /// (a restored backup, a replaced disk) resumes without provisioning
        /// the node again, however far behind it fell (see
        /// `locker_proto::auth`, *Resynchronisation*).
        GetAuthFloor,
    }
}

impl Command {
    /// The greeting this crate's master sends: a [`Command::Ping`] listing
    /// [`ProtocolVersions::BUS`].
    pub const PING: Command = Command::Ping {
        versions: ProtocolVersions::BUS,
    };

    /// Whether a node with authentication (feature `auth`) executes this
    /// command only from a frame with a valid, fresh tag: every actuating
    /// command, and [`Command::AckEvents`], so that nobody but the gateway
    /// can make a node forget the events (security events among them) it
    /// still holds. Everything else only reads, or drives an indicator.
    pub const fn needs_tag(&self) -> bool {
        self.is_actuating() || matches!(self, Command::AckEvents { .. })
    }

    /// Whether executing this command twice would do harm (release a lock
    /// twice, reboot twice). The node answers a retransmission of such a
    /// command from its cache; the others are merely cheaper to answer so too.
    pub const fn is_actuating(&self) -> bool {
        matches!(
            self,
            Command::Unlock { .. }
                | Command::Calibrate { .. }
                | Command::Configure(_)
                | Command::Reboot { .. }
        )
    }
}

derive_wire! {
    /// What a channel's indicator shows.
    pub enum Indicator {
        /// Off.
        Off,
        /// Steady on (e.g. "this door").
        On,
        /// Blinking (e.g. "close this door").
        Blink,
        /// Error pattern (e.g. "no parcel detected").
        Error,
    }
}

derive_wire! {
    /// Soft or hard reboot.
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub enum RebootKind {
        /// Restart the firmware, keeping calibration and configuration.
        Soft,
        /// Full reset, as if power-cycled.
        Hard,
    }
}

derive_wire! {
    /// A node's timing and thresholds, set by [`Command::Configure`].
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub struct NodeConfig {
        /// How long the door switch must hold a level before it counts, in ms.
        pub debounce_ms: u16,
        /// How long a door may stay open before a door-ajar fault, in seconds.
        pub door_ajar_limit_s: u16,
        /// Presence threshold above the calibrated baseline, in the presence
        /// sensor's own units (raw counts for a load cell, beams for IR
        /// beams): for a driver of `locker-drivers`, its
        /// `PresenceSensor::threshold()`. Nothing guesses it: 0, the
        /// default, is "not set", and a node refuses a configuration
        /// without one.
        pub presence_threshold: i32,
        /// Longest lock pulse the node will ever drive, in ms; longer requests are clamped.
        /// At most [`MAX_UNLOCK_PULSE_MS`].
        pub max_pulse_ms: u16,
    }
}

/// The longest lock pulse anything in this project drives, in milliseconds:
/// one second, within the duty rating of common 12 V cabinet solenoids (held
/// for seconds they overheat and burn out their coil). The one limit: the
/// node's controller refuses a configuration above it and clamps every
/// pulse to it, and the lock drivers refuse a longer pulse, so a pulse that
/// passes configuration is one the driver drives.
pub const MAX_UNLOCK_PULSE_MS: u16 = 1_000;

impl Default for NodeConfig {
    /// 30 ms debounce, 60 s door-ajar limit, 1 s maximum pulse, and **no**
    /// presence threshold (0): its units are the sensor's (an HX711 load
    /// cell counts hundreds per gram, an IR beam 0 or 1), so no default
    /// fits, and a node refuses this configuration until one is given with
    /// [`NodeConfig::with_presence_threshold`].
    fn default() -> Self {
        NodeConfig {
            debounce_ms: 30,
            door_ajar_limit_s: 60,
            presence_threshold: 0,
            max_pulse_ms: 1000,
        }
    }
}

impl NodeConfig {
    /// The same configuration with `threshold` as its presence threshold,
    /// in the sensor's own units: for a load cell on an HX711, its driver's
    /// `PresenceSensor::threshold()` (half the smallest item, in counts).
    ///
    /// ```
    /// use locker_proto::NodeConfig;
    ///
    /// // A load cell of 420 counts per gram; the smallest item 10 g.
    /// let config = NodeConfig::default().with_presence_threshold(2_100);
    /// assert_eq!(config.presence_threshold, 2_100);
    /// assert_eq!(NodeConfig::default().presence_threshold, 0, "not set");
    /// ```
    pub const fn with_presence_threshold(mut self, threshold: i32) -> Self {
        self.presence_threshold = threshold;
        self
    }
}

derive_wire! {
    /// A node event's sequence number. Wraps; compare with [`EventSeq::is_after`].
    #[derive(PartialOrd, Ord)]
    pub struct EventSeq(pub u16);
}

impl EventSeq {
    /// The sequence number that follows this one.
    pub const fn next(self) -> EventSeq {
        EventSeq(self.0.wrapping_add(1))
    }

    /// Whether `self` comes after `other` in wrapping (serial number) order:
    /// true when `self` is less than half the sequence space ahead.
    pub const fn is_after(self, other: EventSeq) -> bool {
        let d = self.0.wrapping_sub(other.0);
        d != 0 && d < 0x8000
    }
}

derive_wire! {
    /// Something a node noticed.
    #[non_exhaustive]
    pub enum Event {
        /// A door opened. `commanded` is true when it opened inside the window
        /// after an unlock, false when it was forced.
        DoorOpened {
            /// The door's channel.
            channel: Channel,
            /// Whether the opening followed an unlock command.
            commanded: bool,
        },
        /// A door closed.
        DoorClosed {
            /// The door's channel.
            channel: Channel,
        },
        /// The presence sensor changed its mind.
        PresenceChanged {
            /// The channel.
            channel: Channel,
            /// The new decision with its evidence.
            presence: Presence,
        },
        /// A fault appeared. `channel` is `None` for node-wide faults.
        FaultRaised {
            /// The channel, if the fault belongs to one.
            channel: Option<Channel>,
            /// What went wrong.
            fault: FaultCode,
        },
        /// A fault went away.
        FaultCleared {
            /// The channel, if the fault belongs to one.
            channel: Option<Channel>,
            /// What had gone wrong.
            fault: FaultCode,
        },
        /// The node's view of the power supply changed.
        Power(PowerStatus),
        /// The door stayed open past the configured limit.
        DoorAjar {
            /// The door's channel.
            channel: Channel,
        },
        /// The node (re)started. Always the first event after boot, with
        /// sequence number 0: the gateway learns that events not yet
        /// acknowledged before the restart are gone and reconciles with a
        /// full status.
        NodeStarted {
            /// Why the node started.
            reset_reason: ResetReason,
            /// What the node's event queue held when it reset, if a record
            /// of it survived the reset (memory kept over a warm reset, see
            /// [`HeldEvents`]); `None` after a power-on or when the record
            /// failed its check. The gateway counts the events it never
            /// received from this as lost, exactly.
            held: Option<HeldEvents>,
        },
        /// A security event: the node refused commands that lacked a valid,
        /// fresh tag, were over the unlock rate limit, or tried to provision
        /// outside provisioning mode. Refusals that arrive while one such
        /// event still waits for acknowledgement are counted into the next,
        /// so an attacker cannot crowd door events out of the queue; the
        /// counts add up to every refusal.
        CommandsRefused {
            /// Refusals this event reports (saturating), all for `reason`.
            refused: u16,
            /// Why they were refused (for `Stale`, the latest floor). A node
            /// merges refusals for the same reason only, so each reason's
            /// count arrives whole.
            reason: NackReason,
        },
    }
}

derive_wire! {
    /// What a node's event queue held at one moment: the events numbered
    /// `first` up to (not including) `next` waited for acknowledgement, and
    /// `dropped` events had been dropped since the node's start.
    ///
    /// A node keeps this record where a warm reset (watchdog, reboot
    /// command, reset pin) does not clear it and reports it in the
    /// [`Event::NodeStarted`] of its next life: the events themselves are
    /// gone, but the gateway learns exactly how many of them it never
    /// received. See [`NodeLink::held`](crate::link::NodeLink::held).
    ///
    /// ```
    /// use locker_proto::{EventSeq, HeldEvents};
    /// let held = HeldEvents { first: EventSeq(40), next: EventSeq(43), dropped: 0 };
    /// assert_eq!(held.waiting(), 3);
    /// // Of those, the gateway had received 40 and 41: one event is lost.
    /// assert_eq!(held.lost_after(Some(EventSeq(41))), 1);
    /// ```
    pub struct HeldEvents {
        /// The oldest event not yet acknowledged (`next` when none waited).
        pub first: EventSeq,
        /// The number the node's next event would have had.
        pub next: EventSeq,
        /// Events dropped because the queue was full, since the node's start
        /// (as [`Report::Events`]'s `dropped` said).
        pub dropped: u16,
    }
}

impl HeldEvents {
    /// How many events waited for acknowledgement.
    pub const fn waiting(self) -> u16 {
        self.next.0.wrapping_sub(self.first.0)
    }

    /// How many of the waiting events come after `delivered` (the last
    /// event the gateway received from this node's previous life): those
    /// the gateway never received. With `None` (the gateway received
    /// nothing it remembers) every waiting event counts.
    pub const fn lost_after(self, delivered: Option<EventSeq>) -> u16 {
        let Some(delivered) = delivered else {
            return self.waiting();
        };
        // `delivered` inside first..next: what follows it is lost; before
        // `first` (already acknowledged): all waiting are lost; at or after
        // `next`: none.
        let into = delivered.0.wrapping_sub(self.first.0);
        if into < self.waiting() {
            self.waiting() - into - 1
        } else if self.first.is_after(delivered) {
            self.waiting()
        } else {
            0
        }
    }
}

derive_wire! {
    /// An event with its sequence number.
    pub struct EventRecord {
        /// Sequence number, kept until the gateway acknowledges it.
        pub seq: EventSeq,
        /// What happened.
        pub event: Event,
    }
}

/// Up to [`MAX_EVENTS_PER_REPORT`] events, oldest first.
pub type EventBatch = Vec<EventRecord, MAX_EVENTS_PER_REPORT>;

/// One bit per channel, channel 0 in bit 0, for bulk status.
///
/// On the wire a bitmap is a postcard varint: seven channels per byte, so a
/// 16-channel bitmap takes at most 3 bytes, 32 channels at most 5, and an
/// all-clear bitmap 1 byte. In JSON it is a plain number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ChannelBits(pub u32);

impl ChannelBits {
    /// Whether `channel`'s bit is set. Channels beyond [`MAX_CHANNELS`](crate::MAX_CHANNELS) are never set.
    pub const fn get(self, channel: Channel) -> bool {
        channel.0 < 32 && self.0 & (1 << channel.0) != 0
    }

    /// Sets or clears `channel`'s bit; channels beyond 31 are ignored.
    pub fn set(&mut self, channel: Channel, on: bool) {
        if channel.0 < 32 {
            let mask = 1u32 << channel.0;
            if on {
                self.0 |= mask;
            } else {
                self.0 &= !mask;
            }
        }
    }

    /// How many bits are set.
    pub const fn count(self) -> u32 {
        self.0.count_ones()
    }
}

derive_wire! {
    /// The status of one channel, answering [`Command::GetStatus`].
    pub struct ChannelStatus {
        /// Which channel.
        pub channel: Channel,
        /// Door switch (debounced).
        pub door: DoorState,
        /// Lock feedback.
        pub lock: LockState,
        /// Presence decision with its evidence.
        pub presence: Presence,
        /// The channel's active fault, if any.
        pub fault: Option<FaultCode>,
        /// Temperature, where the channel has a sensor.
        pub temperature: Option<Temperature>,
    }
}

derive_wire! {
    /// Every channel of a node in one report, as bitmaps; answers
    /// [`Command::GetAllStatus`].
    pub struct BulkStatus {
        /// How many channels the node has; bits at or above this are meaningless.
        pub channels: u8,
        /// Doors that are open.
        pub door_open: ChannelBits,
        /// Locks that are latched.
        pub locked: ChannelBits,
        /// Compartments where the presence sensor sees an item.
        pub occupied: ChannelBits,
        /// Channels with an active fault.
        pub faulted: ChannelBits,
    }
}

/// A node's answer to a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Report {
    /// Answer to [`Command::Ping`].
    Pong {
        /// Firmware running on the node.
        firmware: FirmwareVersion,
        /// Milliseconds since the node started (saturates at `u32::MAX`, ~49 days).
        uptime_ms: u32,
        /// Why the node last started.
        reset_reason: ResetReason,
        /// The bus protocol versions the node speaks: the master speaks the
        /// highest one both speak with it, and does not operate a node that
        /// speaks none of the master's.
        versions: ProtocolVersions,
    },
    /// Answer to [`Command::GetStatus`].
    Status(ChannelStatus),
    /// Answer to [`Command::GetAllStatus`].
    BulkStatus(BulkStatus),
    /// Answer to [`Command::PollEvents`]: the oldest unacknowledged events.
    Events {
        /// Oldest first.
        events: EventBatch,
        /// Events dropped since boot because the queue was full (saturating).
        /// A rising count tells the gateway to ask for full status.
        dropped: u16,
    },
    /// The command was carried out (or, for a retransmission, already had been).
    Ack,
    /// The command was refused.
    Nack(NackReason),
    /// Answer to [`Command::GetAuthFloor`].
    AuthFloor {
        /// The lowest command counter the node accepts next.
        floor: Floor,
    },
}

#[cfg(feature = "arbitrary")]
#[cfg_attr(docsrs, doc(cfg(feature = "arbitrary")))]
impl<'a> arbitrary::Arbitrary<'a> for Report {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.int_in_range(0u8..=6)? {
            0 => Report::Pong {
                firmware: u.arbitrary()?,
                uptime_ms: u.arbitrary()?,
                reset_reason: u.arbitrary()?,
                versions: u.arbitrary()?,
            },
            1 => Report::Status(u.arbitrary()?),
            2 => Report::BulkStatus(u.arbitrary()?),
            3 => {
                let mut events = EventBatch::new();
                let n = u.int_in_range(0..=MAX_EVENTS_PER_REPORT)?;
                for _ in 0..n {
                    // Cannot fail: n is at most the capacity.
                    let _ = events.push(u.arbitrary()?);
                }
                Report::Events {
                    events,
                    dropped: u.arbitrary()?,
                }
            }
            4 => Report::Ack,
            5 => Report::AuthFloor {
                floor: u.arbitrary()?,
            },
            _ => Report::Nack(u.arbitrary()?),
        })
    }
}

derive_wire! {
    /// Why a node refused a command.
    ///
    /// A closed list, not `#[non_exhaustive]`: a gateway cannot decode a
    /// reason it does not know (postcard numbers variants by position), so
    /// adding one is a change of the bus protocol
    /// ([`VERSION`](crate::frame::VERSION)). A gateway can therefore match
    /// every reason without a wildcard, and none is handled by accident: the
    /// gateway's uplink, for one, turns each reason of an
    /// [`Event::CommandsRefused`] into its own kind of security event.
    pub enum NackReason {
        /// The channel number is beyond the node's channels.
        UnknownChannel,
        /// The node is busy with a previous command on that channel (a lock
        /// pulse is still running).
        Busy,
        /// The command is not permitted now (e.g. calibrating an occupied
        /// compartment, or a zero-length unlock pulse).
        NotPermitted,
        /// The configuration values are out of range.
        InvalidConfig,
        /// The channel is faulted and out of service.
        Faulted,
        /// The node decoded the command but does not carry it out (a build
        /// without the feature, e.g. [`Command::GetAuthFloor`] without
        /// `auth`). A command the node does not know at all (newer gateway,
        /// older node) does not decode
        /// ([`FrameError::BadBody`](crate::FrameError::BadBody)) and gets no
        /// answer.
        Unsupported,
        /// The command needs a valid tag (see [`Command::needs_tag`]) and the
        /// frame had none, or one that does not verify with the node's key
        /// (forged, corrupted, or the node holds another key). Counted as a
        /// security event.
        Unauthenticated,
        /// The frame's tag is valid but its counter is at or below the last
        /// one the node accepted: a replay, a reordered frame, or a gateway
        /// whose counter fell behind (the node's floor jumps ahead after a
        /// restart). Tagged with the refused frame's own counter so the
        /// gateway can trust `floor` and resynchronise.
        Stale {
            /// The lowest counter the node accepts next.
            floor: Floor,
        },
        /// The node's unlock rate limit is reached; maintenance mode lifts it.
        /// Counted as a security event.
        RateLimited,
        /// A key was offered outside provisioning mode. Counted as a security event.
        ProvisioningDisabled,
    }
}

/// The lowest command counter a node accepts next: a 64-bit number on the
/// wire (a postcard varint, exactly as a `u64`), kept in memory as two
/// 32-bit halves.
///
/// A `u64` field would give its 8-byte alignment to every [`Event`],
/// [`EventRecord`] and [`Report`] that may hold one; a node keeps a queue
/// of events and several reports, and on a Cortex-M0 with 4 KiB of RAM the
/// padding counts. With the halves they are 4-byte aligned.
///
/// ```
/// use locker_proto::Floor;
///
/// let floor = Floor::from(70_013u64);
/// assert_eq!(floor.get(), 70_013);
/// assert_eq!(floor, 70_013);
/// // The same bytes on the wire as the u64 itself.
/// let mut a = [0u8; 10];
/// let mut b = [0u8; 10];
/// assert_eq!(
///     postcard::to_slice(&floor, &mut a).unwrap(),
///     postcard::to_slice(&70_013u64, &mut b).unwrap()
/// );
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Floor {
    // High half first, so the derived order is the number's order.
    high: u32,
    low: u32,
}

impl Floor {
    /// The floor `value`.
    pub const fn new(value: u64) -> Self {
        Floor {
            high: (value >> 32) as u32,
            low: value as u32,
        }
    }

    /// The counter value.
    pub const fn get(self) -> u64 {
        ((self.high as u64) << 32) | self.low as u64
    }
}

impl From<u64> for Floor {
    fn from(value: u64) -> Self {
        Floor::new(value)
    }
}

impl From<Floor> for u64 {
    fn from(floor: Floor) -> Self {
        floor.get()
    }
}

impl PartialEq<u64> for Floor {
    fn eq(&self, other: &u64) -> bool {
        self.get() == *other
    }
}

impl fmt::Debug for Floor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

impl fmt::Display for Floor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

impl Serialize for Floor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.get())
    }
}

impl<'de> Deserialize<'de> for Floor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer).map(Floor::new)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Floor {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=u64}", self.get());
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Floor {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        u64::arbitrary(u).map(Floor::new)
    }

    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        <u64 as arbitrary::Arbitrary>::size_hint(depth)
    }
}

impl fmt::Display for NackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NackReason::UnknownChannel => "unknown channel",
            NackReason::Busy => "busy",
            NackReason::NotPermitted => "not permitted",
            NackReason::InvalidConfig => "invalid configuration",
            NackReason::Faulted => "channel faulted",
            NackReason::Unsupported => "unsupported command",
            NackReason::Unauthenticated => "no valid authentication tag",
            NackReason::Stale { .. } => "stale authentication counter (replay or resync)",
            NackReason::RateLimited => "unlock rate limit reached",
            NackReason::ProvisioningDisabled => "not in provisioning mode",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_sequence_numbers_compare_across_the_wrap() {
        assert!(EventSeq(1).is_after(EventSeq(0)));
        assert!(EventSeq(0).is_after(EventSeq(u16::MAX)));
        assert!(!EventSeq(5).is_after(EventSeq(5)));
        assert!(!EventSeq(0).is_after(EventSeq(1)));
        assert_eq!(EventSeq(u16::MAX).next(), EventSeq(0));
    }

    #[test]
    fn bulk_status_bitmaps_ignore_channels_beyond_32() {
        let mut bits = ChannelBits::default();
        bits.set(Channel(3), true);
        bits.set(Channel(40), true);
        assert!(bits.get(Channel(3)));
        assert!(!bits.get(Channel(40)));
        assert_eq!(bits.count(), 1);
        bits.set(Channel(3), false);
        assert_eq!(bits, ChannelBits(0));
    }

    #[test]
    fn unlock_reboot_configure_and_calibrate_are_actuating() {
        assert!(
            Command::Unlock {
                channel: Channel(0),
                pulse_ms: 300
            }
            .is_actuating()
        );
        assert!(
            Command::Reboot {
                kind: RebootKind::Soft
            }
            .is_actuating()
        );
        assert!(!Command::PollEvents.is_actuating());
        assert!(!Command::GetAllStatus.is_actuating());
    }
}
