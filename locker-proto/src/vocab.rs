//! The vocabulary every crate speaks: addresses, compartments, sizes and the
//! readings a compartment node reports.
//!
//! Every type here is small, `Copy`, serde-serialisable (postcard on the bus,
//! JSON on the uplink) and free of invariants that a decoder would have to
//! check: any value that decodes is a value the rest of the system can handle.

use core::fmt;

use serde::{Deserialize, Serialize};

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
    /// as on a Modbus RTU line; `255` is broadcast.
    #[derive(PartialOrd, Ord)]
    pub struct NodeAddr(pub u8);
}

impl NodeAddr {
    /// The gateway, master of the bus.
    pub const GATEWAY: NodeAddr = NodeAddr(0);
    /// Every node at once. Nodes act on broadcasts but never answer them.
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
    #[non_exhaustive]
    pub enum FaultCode {
        /// The lock was pulsed but its feedback never showed it released.
        LockJammed,
        /// The lock released but the door never opened within the window.
        DoorDidNotOpen,
        /// The door switch toggles faster than a door can move.
        DoorSwitchFlapping,
        /// The presence sensor reading has not changed for far too long.
        PresenceStuck,
        /// The presence sensor's empty reading drifted out of its calibration band.
        PresenceDrift,
        /// The presence sensor did not answer.
        PresenceSensorFailed,
        /// A temperature outside its allowed range.
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
}
