//! The vocabulary every crate speaks: addresses, compartments, sizes, the
//! readings a compartment node reports, and the words the bank and its
//! uplink share about parcels.
//!
//! Every type here is small, `Copy`, serde-serialisable (postcard on the bus
//! and in the bank's snapshots, JSON on the uplink) and free of invariants
//! that a decoder would have to check: any value that decodes is a value the
//! rest of the system can handle.
//!
//! # The bank's words
//!
//! [`Actor`], [`ParcelKind`], [`Purpose`], [`ServiceReason`],
//! [`NotificationKind`] and [`HealthIssue`] are what the bank
//! (`locker_domain::bank`) says and what the uplink
//! ([`uplink`](crate::uplink)) carries, one type each for both, so the two
//! cannot drift apart and nothing translates between them.
//!
//! - **Names.** In JSON they are snake_case (`"courier"`, `"parcel_ready"`,
//!   `{"presence_stuck": {"reading": 3, "since_ms": 5000}}`), as the uplink
//!   has always written them; the bus readings above keep their Rust names
//!   (`"Open"`, `"Small"`). [`Actor`], [`Purpose`] and [`ServiceReason`]
//!   also read their Rust names (`"Courier"`), which a gateway's JSON audit
//!   log holds from before these words were shared.
//! - **Order.** Postcard numbers variants by position, and the bank's
//!   snapshots and the uplink's postcard encoding both hold these enums:
//!   variants are only ever appended, never reordered or removed.
//! - **Growth.** [`Actor`], [`ParcelKind`] and [`Purpose`] are closed: a new
//!   variant would change the bank's parcel machine and the uplink protocol
//!   at once. [`ServiceReason`], [`NotificationKind`] and [`HealthIssue`]
//!   are `#[non_exhaustive]`: the bank may learn a new one, appended, which a
//!   backend that does not know it cannot decode (it acknowledges the
//!   message; see the uplink's versioning).
//!
//! ```
//! use locker_proto::{Actor, ParcelKind};
//!
//! assert_eq!(ParcelKind::Return.depositor(), Actor::Recipient);
//! assert_eq!(serde_json::to_string(&Actor::Courier)?, r#""courier""#);
//! # Ok::<(), serde_json::Error>(())
//! ```

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::time::{Duration, Instant};

macro_rules! derive_wire {
    ($(#[$m:meta])* $vis:vis struct $name:ident $($rest:tt)*) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        $vis struct $name $($rest)*
    };
    ($(#[$m:meta])* $vis:vis enum $name:ident $($rest:tt)*) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        $vis enum $name $($rest)*
    };
}
pub(crate) use derive_wire;

derive_wire! {
    /// The address of a station on the bus.
    ///
    /// `0` is the gateway (the bus master); compartment nodes use `1..=247`,
    /// as on a Modbus RTU line; `255` is reserved for broadcast, which nodes
    /// ignore (see [`NodeAddr::BROADCAST`]).
    #[derive(PartialOrd, Ord)]
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub struct NodeAddr(pub u8);
}

impl NodeAddr {
    /// The gateway, master of the bus.
    pub const GATEWAY: NodeAddr = NodeAddr(0);
    /// Reserved for addressing every node at once. No command is safe to
    /// execute unanswered on every node, so in this protocol version a node
    /// ignores a frame sent here (neither acts nor answers) and the master
    /// never sends one.
    pub const BROADCAST: NodeAddr = NodeAddr(255);

    /// Whether this is a node address (neither the gateway nor broadcast).
    pub const fn is_node(self) -> bool {
        self.0 != 0 && self.0 != 255
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NodeAddr::GATEWAY => f.write_str("gateway"),
            NodeAddr::BROADCAST => f.write_str("broadcast"),
            NodeAddr(n) => write!(f, "node {n}"),
        }
    }
}

derive_wire! {
    /// A compartment's number within its bank, as printed on its door.
    #[derive(PartialOrd, Ord)]
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub struct CompartmentId(pub u16);
}

impl fmt::Display for CompartmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "compartment {}", self.0)
    }
}

derive_wire! {
    /// A compartment's local index on its node (lock output / door input number),
    /// counted from zero. A node has at most [`MAX_CHANNELS`] channels.
    #[derive(PartialOrd, Ord)]
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub struct Channel(pub u8);
}

/// The most channels one node drives. Bulk status bitmaps are this wide.
pub const MAX_CHANNELS: usize = 32;

impl Channel {
    /// The channel as an index into per-channel tables.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "channel {}", self.0)
    }
}

derive_wire! {
    /// The size class of a compartment or a parcel, as carriers label them.
    #[derive(PartialOrd, Ord)]
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub enum SizeClass {
        /// Letters, small boxes (typically up to 8 cm high).
        Small,
        /// Shoe boxes (typically up to 19 cm high).
        Medium,
        /// Larger boxes (typically up to 39 cm high).
        Large,
        /// Anything bigger that still fits a locker.
        ExtraLarge,
    }
}

derive_wire! {
    /// Inner dimensions of a compartment, or outer dimensions of a parcel, in millimetres.
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub struct Dimensions {
        /// Width (left to right, facing the door).
        pub width_mm: u16,
        /// Height.
        pub height_mm: u16,
        /// Depth (front to back).
        pub depth_mm: u16,
    }
}

impl Dimensions {
    /// Dimensions from width, height and depth in millimetres.
    pub const fn new(width_mm: u16, height_mm: u16, depth_mm: u16) -> Self {
        Dimensions {
            width_mm,
            height_mm,
            depth_mm,
        }
    }

    fn sorted(self) -> [u16; 3] {
        let mut d = [self.width_mm, self.height_mm, self.depth_mm];
        d.sort_unstable();
        d
    }

    /// Whether a parcel of dimensions `parcel` fits inside `self`, in any
    /// orientation (a courier will turn a box to make it fit).
    ///
    /// ```
    /// use locker_proto::Dimensions;
    /// let compartment = Dimensions::new(400, 90, 600);
    /// assert!(compartment.fits(Dimensions::new(300, 500, 80)));
    /// assert!(!compartment.fits(Dimensions::new(300, 500, 100)));
    /// ```
    pub fn fits(self, parcel: Dimensions) -> bool {
        let (c, p) = (self.sorted(), parcel.sorted());
        c.iter().zip(p.iter()).all(|(c, p)| p <= c)
    }

    /// Volume in cubic centimetres (rounded down), for ranking compartments.
    pub const fn volume_cm3(self) -> u64 {
        (self.width_mm as u64 * self.height_mm as u64 * self.depth_mm as u64) / 1000
    }
}

derive_wire! {
    /// Whether a compartment door is open, as the door switch reports it.
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub enum DoorState {
        /// The door is shut.
        Closed,
        /// The door is open.
        Open,
    }
}

derive_wire! {
    /// The state of a compartment lock, from its feedback contact where it has one.
    pub enum LockState {
        /// Latched.
        Locked,
        /// Released (a pulse is running, or the latch has not caught again).
        Unlocked,
        /// The lock has no feedback contact.
        Unknown,
    }
}

derive_wire! {
    /// What a presence sensor decided, with the evidence.
    ///
    /// `reading` is the raw value after taring (load cell counts above the
    /// empty baseline, IR reflectance, or 0/1 for a break beam) and `threshold`
    /// the value it was compared against, so a log shows why a compartment was
    /// judged occupied.
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub struct Presence {
        /// Whether an item was detected.
        pub occupied: bool,
        /// The raw reading the decision was made on.
        pub reading: i32,
        /// The threshold in force when it was made.
        pub threshold: i32,
    }
}

impl Presence {
    /// An occupied reading.
    pub const fn occupied(reading: i32, threshold: i32) -> Self {
        Presence {
            occupied: true,
            reading,
            threshold,
        }
    }

    /// An empty reading.
    pub const fn empty(reading: i32, threshold: i32) -> Self {
        Presence {
            occupied: false,
            reading,
            threshold,
        }
    }
}

derive_wire! {
    /// Where the bank's power comes from, from the UPS.
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub enum PowerStatus {
        /// Mains present.
        Mains,
        /// Mains lost; running on the battery.
        Battery {
            /// State of charge, 0–100 %.
            charge_percent: u8,
            /// Estimated minutes of runtime left.
            minutes_left: u16,
        },
        /// Battery nearly exhausted: persist state and prepare to shut down.
        Critical {
            /// State of charge, 0–100 %.
            charge_percent: u8,
        },
    }
}

derive_wire! {
    /// A temperature in tenths of a degree Celsius (refrigerated compartments,
    /// electronics).
    #[derive(PartialOrd, Ord)]
    // Not on the uplink yet; cold-chain messages will carry it.
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub struct Temperature(pub i16);
}

impl Temperature {
    /// A temperature from tenths of a degree Celsius.
    pub const fn from_deci_celsius(dc: i16) -> Self {
        Temperature(dc)
    }

    /// Tenths of a degree Celsius.
    pub const fn deci_celsius(self) -> i16 {
        self.0
    }
}

impl fmt::Display for Temperature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{} °C", abs / 10, abs % 10)
    }
}

derive_wire! {
    /// A fault a node detected on one of its channels or on itself.
    ///
    /// Four of them are judgements over time that the bank makes better
    /// than a node can, with every compartment's history and the books
    /// beside it: this project's node firmware never sends
    /// [`DoorSwitchFlapping`](Self::DoorSwitchFlapping),
    /// [`PresenceStuck`](Self::PresenceStuck),
    /// [`PresenceDrift`](Self::PresenceDrift) or
    /// [`TemperatureOutOfRange`](Self::TemperatureOutOfRange) (on a
    /// Cortex-M0 the flash is better spent on the node's own duties). The
    /// gateway's bank watches for them in what nodes report (sensor
    /// health's [`HealthIssue`]s with their evidence, the temperature watch
    /// of refrigerated compartments). A node of another make may send them;
    /// the bank then calls staff with the code as evidence.
    #[non_exhaustive]
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub enum FaultCode {
        /// The lock was pulsed but its feedback never showed it released.
        LockJammed,
        /// The lock released but the door never opened within the window.
        DoorDidNotOpen,
        /// The door switch toggles faster than a door can move (found by
        /// the bank: [`HealthIssue::DoorFlapping`]).
        DoorSwitchFlapping,
        /// The presence sensor reading has not changed for far too long
        /// (found by the bank: [`HealthIssue::PresenceStuck`], the same
        /// reading across door changes, or status readings frozen where a
        /// sensor's noise should move every one).
        PresenceStuck,
        /// The presence sensor's empty reading drifted out of its
        /// calibration band (found by the bank:
        /// [`HealthIssue::PresenceDrift`], answered by a re-tare).
        PresenceDrift,
        /// The presence sensor did not answer.
        PresenceSensorFailed,
        /// A temperature outside its allowed range (judged by the bank
        /// against each compartment's limits; nodes report readings).
        TemperatureOutOfRange,
        /// The node's supply voltage dipped.
        Brownout,
        /// The node's event queue overflowed; some events were dropped and
        /// the gateway should ask for full status.
        EventsDropped,
    }
}

derive_wire! {
    /// A firmware version, semver-style.
    #[derive(PartialOrd, Ord)]
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub struct FirmwareVersion {
        /// Incompatible changes.
        pub major: u8,
        /// Compatible additions.
        pub minor: u8,
        /// Fixes.
        pub patch: u8,
    }
}

impl FirmwareVersion {
    /// A version from its three parts.
    pub const fn new(major: u8, minor: u8, patch: u8) -> Self {
        FirmwareVersion {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

derive_wire! {
    /// Why a node (or the gateway) last started.
    #[non_exhaustive]
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    pub enum ResetReason {
        /// Power was applied.
        PowerOn,
        /// The supply dipped below the brown-out level.
        Brownout,
        /// The watchdog fired: the firmware hung.
        Watchdog,
        /// A soft reboot was commanded.
        SoftReboot,
        /// A hard reboot was commanded.
        HardReboot,
        /// The reset pin was pulled.
        ResetPin,
        /// The hardware did not say.
        Unknown,
    }
}

/// Who caused something (a state change, an audit record, a parcel step),
/// or who a notification is for.
///
/// In JSON: `"courier"`, `"recipient"`, `"staff"`, `"backend"`, `"system"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Actor {
    /// A carrier's courier (deposits deliveries, collects returns).
    #[serde(alias = "Courier")]
    Courier,
    /// The resident a parcel is for (collects deliveries, drops off returns).
    #[serde(alias = "Recipient")]
    Recipient,
    /// Staff at the bank.
    #[serde(alias = "Staff")]
    Staff,
    /// The operator's backend, remotely.
    #[serde(alias = "Backend")]
    Backend,
    /// The bank itself (timers, sensors).
    #[serde(alias = "System")]
    System,
}

/// Delivery (courier deposits, recipient collects) or return (resident drops
/// off, courier collects): the same parcel machine with the roles swapped.
///
/// In JSON: `"delivery"`, `"return"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ParcelKind {
    /// Courier deposits, recipient collects.
    Delivery,
    /// Resident drops off, courier collects.
    Return,
}

impl ParcelKind {
    /// Who puts the parcel in.
    pub const fn depositor(self) -> Actor {
        match self {
            ParcelKind::Delivery => Actor::Courier,
            ParcelKind::Return => Actor::Recipient,
        }
    }

    /// Who takes it out, and receives the pickup code.
    pub const fn collector(self) -> Actor {
        match self {
            ParcelKind::Delivery => Actor::Recipient,
            ParcelKind::Return => Actor::Courier,
        }
    }
}

/// Why a door is being opened: the purpose of a door session.
///
/// In JSON: `"deposit"`, `"pickup"`, `"removal"`, `"inspection"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Purpose {
    /// To put a reserved parcel in.
    #[serde(alias = "Deposit")]
    Deposit,
    /// To take a stored parcel out (its collector, or an audited override).
    #[serde(alias = "Pickup")]
    Pickup,
    /// Staff removing an expired parcel.
    #[serde(alias = "Removal")]
    Removal,
    /// Staff looking into an empty compartment.
    #[serde(alias = "Inspection")]
    Inspection,
}

/// Why a compartment is out of service.
///
/// In JSON: `"override"`, `"forced_door"`, `"lock_fault"`,
/// `"sensor_disagrees"`, `"removal_not_verified"`, `"sensor_failed"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ServiceReason {
    /// Staff or the backend took it out.
    #[serde(alias = "Override")]
    Override,
    /// Its door was forced.
    #[serde(alias = "ForcedDoor")]
    ForcedDoor,
    /// Its lock did not release.
    #[serde(alias = "LockFault")]
    LockFault,
    /// Its sensors contradict the books.
    #[serde(alias = "SensorDisagrees")]
    SensorDisagrees,
    /// A removal could not be verified.
    #[serde(alias = "RemovalNotVerified")]
    RemovalNotVerified,
    /// Its presence sensor cannot be trusted: the node reported it cannot
    /// be read (`FaultCode::PresenceSensorFailed`; back in service by
    /// itself when the node reports it reading again), or its readings are
    /// frozen (`HealthIssue::PresenceStuck`; back when staff put it back):
    /// no deposit could be verified.
    #[serde(alias = "SensorFailed")]
    SensorFailed,
}

/// What to tell a courier, recipient or staff about a compartment (the
/// backend delivers it: SMS, app, e-mail).
///
/// In JSON: the variant's name in snake_case, e.g. `"parcel_ready"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum NotificationKind {
    /// The deposit is verified: the parcel waits for its collector. Send
    /// them the pickup code handed out with the reservation (or the
    /// backend's own code, or their offline token): the bank keeps only the
    /// code's hash and never sends a code in a notification.
    ParcelReady,
    /// The door closed on an empty compartment: put the parcel in and close
    /// again within the deposit window.
    NoParcelDetected,
    /// The parcel is still waiting.
    Reminder,
    /// The parcel has waited long; it will be removed soon.
    Escalation,
    /// Staff: the parcel expired; remove it from the compartment.
    RemovalTask,
    /// The door closed with the parcel still inside; the code still works.
    ParcelLeftInside,
    /// Please close the door.
    CloseTheDoor,
    /// The reservation ran out before a deposit.
    ReservationExpired,
    /// The door could not be opened; use another compartment or the counter.
    DoorWouldNotOpen,
    /// Collector: the parcel's pickup time is up; it will be taken to the
    /// counter (its code no longer opens the door).
    ParcelExpired,
    /// Collector: staff took the expired parcel to the counter; collect it
    /// there.
    MovedToCounter,
    /// Collector: the parcel was affected by an incident at the bank (its
    /// compartment was forced and it is no longer detected inside, its
    /// compartment's presence sensor failed so it waits for staff, or its
    /// refrigerated compartment stayed out of its temperature limits);
    /// staff will be in touch.
    ParcelIncident,
}

/// A sensor-health finding: what is wrong with a compartment's sensors or
/// lock, with the evidence a technician needs.
///
/// In JSON: externally tagged, snake_case, times in milliseconds:
/// `{"door_flapping": {"changes": 11, "within_ms": 60000}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum HealthIssue {
    /// An empty compartment's tared reading is outside the calibration band,
    /// or, behind a door shut on a parcel, the reading moved by more than the
    /// band since the parcel's first reading: recalibrate
    /// ([`Command::Calibrate`](crate::Command::Calibrate)) or check the sensor.
    PresenceDrift {
        /// The reading that showed it (under a parcel: how far it moved).
        reading: i32,
        /// The occupancy threshold in force.
        threshold: i32,
        /// The allowed distance from 0.
        band: i32,
    },
    /// The presence reading has not changed at all through door cycles.
    PresenceStuck {
        /// The frozen value.
        reading: i32,
        /// When it was first seen (the gateway's monotonic clock; `since_ms`
        /// in JSON).
        #[serde(rename = "since_ms")]
        since: Instant,
    },
    /// The door switch changes far too often: check the switch and the door
    /// alignment.
    DoorFlapping {
        /// Changes counted so far in the window.
        changes: u8,
        /// The time they took (`within_ms` in JSON).
        #[serde(rename = "within_ms")]
        within: Duration,
    },
    /// The lock has failed this many times since the last maintenance.
    RepeatedLockFaults {
        /// Lock faults counted.
        count: u8,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parcel_turned_on_its_side_still_fits() {
        let small = Dimensions::new(420, 80, 600);
        assert!(small.fits(Dimensions::new(80, 400, 300)));
        assert!(!small.fits(Dimensions::new(90, 400, 300)));
        assert!(small.fits(small));
    }

    #[test]
    fn addresses_name_themselves_in_logs() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(NodeAddr(3).to_string(), "node 3");
        assert_eq!(NodeAddr::GATEWAY.to_string(), "gateway");
        assert!(NodeAddr(3).is_node());
        assert!(!NodeAddr::BROADCAST.is_node());
        assert_eq!(Temperature(-45).to_string(), "-4.5 °C");
        assert_eq!(Temperature(41).to_string(), "4.1 °C");
    }

    /// The bank's snapshots and the uplink's postcard encoding number these
    /// variants by position: the numbers must never change.
    #[test]
    fn the_bank_words_keep_their_postcard_numbers() {
        fn number<T: Serialize>(value: T) -> u8 {
            let mut buf = [0u8; 16];
            postcard::to_slice(&value, &mut buf)
                .ok()
                .and_then(|bytes| bytes.first().copied())
                .unwrap_or(u8::MAX)
        }
        let actors = [
            Actor::Courier,
            Actor::Recipient,
            Actor::Staff,
            Actor::Backend,
            Actor::System,
        ];
        assert_eq!(actors.map(number), [0, 1, 2, 3, 4]);
        assert_eq!(
            [ParcelKind::Delivery, ParcelKind::Return].map(number),
            [0, 1]
        );
        let purposes = [
            Purpose::Deposit,
            Purpose::Pickup,
            Purpose::Removal,
            Purpose::Inspection,
        ];
        assert_eq!(purposes.map(number), [0, 1, 2, 3]);
        let reasons = [
            ServiceReason::Override,
            ServiceReason::ForcedDoor,
            ServiceReason::LockFault,
            ServiceReason::SensorDisagrees,
            ServiceReason::RemovalNotVerified,
            ServiceReason::SensorFailed,
        ];
        assert_eq!(reasons.map(number), [0, 1, 2, 3, 4, 5]);
        let kinds = [
            NotificationKind::ParcelReady,
            NotificationKind::NoParcelDetected,
            NotificationKind::Reminder,
            NotificationKind::Escalation,
            NotificationKind::RemovalTask,
            NotificationKind::ParcelLeftInside,
            NotificationKind::CloseTheDoor,
            NotificationKind::ReservationExpired,
            NotificationKind::DoorWouldNotOpen,
            NotificationKind::ParcelExpired,
            NotificationKind::MovedToCounter,
            NotificationKind::ParcelIncident,
        ];
        assert_eq!(kinds.map(number), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        let issues = [
            HealthIssue::PresenceDrift {
                reading: 0,
                threshold: 0,
                band: 0,
            },
            HealthIssue::PresenceStuck {
                reading: 0,
                since: Instant::ZERO,
            },
            HealthIssue::DoorFlapping {
                changes: 0,
                within: Duration::ZERO,
            },
            HealthIssue::RepeatedLockFaults { count: 0 },
        ];
        assert_eq!(issues.map(number), [0, 1, 2, 3]);
    }

    #[test]
    fn the_bank_words_are_snake_case_in_json_and_read_their_rust_names_too()
    -> serde_json::Result<()> {
        use serde_json::{from_str, to_string};
        assert_eq!(to_string(&Actor::Courier)?, r#""courier""#);
        assert_eq!(to_string(&ParcelKind::Return)?, r#""return""#);
        assert_eq!(to_string(&Purpose::Inspection)?, r#""inspection""#);
        assert_eq!(
            to_string(&ServiceReason::RemovalNotVerified)?,
            r#""removal_not_verified""#
        );
        assert_eq!(
            to_string(&NotificationKind::CloseTheDoor)?,
            r#""close_the_door""#
        );
        let stuck = HealthIssue::PresenceStuck {
            reading: 3,
            since: Instant::from_millis(5000),
        };
        let json = r#"{"presence_stuck":{"reading":3,"since_ms":5000}}"#;
        assert_eq!(to_string(&stuck)?, json);
        assert_eq!(from_str::<HealthIssue>(json)?, stuck);
        let flapping = HealthIssue::DoorFlapping {
            changes: 11,
            within: Duration::from_millis(60_000),
        };
        assert_eq!(
            to_string(&flapping)?,
            r#"{"door_flapping":{"changes":11,"within_ms":60000}}"#
        );
        // What a gateway's JSON audit log holds from before the words were shared.
        assert_eq!(from_str::<Actor>(r#""Courier""#)?, Actor::Courier);
        assert_eq!(from_str::<Purpose>(r#""Pickup""#)?, Purpose::Pickup);
        assert_eq!(
            from_str::<ServiceReason>(r#""LockFault""#)?,
            ServiceReason::LockFault
        );
        assert_eq!(from_str::<Actor>(r#""courier""#)?, Actor::Courier);
        Ok(())
    }
}

derive_wire! {
    /// The reference of one camera snapshot: the one number the bank's
    /// alerts and audit records, the uplink and the camera driver all use
    /// for it. The bank assigns it (a counter kept in its snapshot, so it
    /// never repeats across restarts); the driver files the picture under
    /// it, or, for a camera that cannot be told a name (an alarm input),
    /// the recorder's log matched by time links it to the picture.
    #[derive(PartialOrd, Ord)]
    pub struct SnapshotRef(pub u32);
}

impl core::fmt::Display for SnapshotRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "snapshot {}", self.0)
    }
}
