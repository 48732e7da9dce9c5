//! Simulated devices for tests and the bank simulator (feature `sim`):
//! compartments, a UPS, a camera, and Kerong lock boards on a serial line
//! ([`SimCu16`], [`SimCu48`], several on one [`SimRs485`] line).
//!
//! Each device is plain state: no clock, no heap, no randomness it did not
//! get from you. The same calls with the same arguments give the same
//! readings, so a simulation run is reproducible from its seed.
//!
//! # Time
//!
//! The simulator owns time. Call `advance_to(now)` on a device before
//! reading it; everything that depends on time (a released latch catching
//! again, a battery draining, a sensor drifting) is computed from the
//! instants you pass, exactly, however often you call. An instant earlier
//! than one already seen is ignored (time never runs backwards).
//!
//! # Two sides
//!
//! A device has a **driver side**, the traits the firmware or gateway uses
//! ([`Lock`](crate::Lock), [`DoorSensor`](crate::DoorSensor),
//! [`PresenceSensor`](crate::PresenceSensor),
//! [`TemperatureSensor`](crate::TemperatureSensor), [`Ups`](crate::Ups),
//! [`Camera`](crate::Camera)), and a **world side**, what people and
//! physics do: open and close the door, put a parcel in, cut the mains.
//! World methods are inherent methods named for the action.
//!
//! # Faults
//!
//! Fault knobs are `set_*` methods, off by default, which can be turned on
//! and off at any time: a stuck lock, a door that does not latch, a noisy
//! or drifting load cell, a sensor that stops answering, a draining
//! battery, a dead camera. Noise comes from [`SimRng`], seeded by you.
//!
//! # Example: a courier deposits a parcel
//!
//! ```
//! use locker_drivers::sim::SimCompartment;
//! use locker_drivers::{DoorSensor, Lock, PresenceSensor};
//! use locker_proto::{DoorState, time::Instant};
//!
//! let mut c = SimCompartment::new(Instant::ZERO);
//! c.unlock()?; // the bank opens the door for the courier
//! c.advance_to(Instant::from_millis(200));
//! assert!(c.open_door().is_ok()); // within the release window
//! c.place_item(350)?; // a 350 g parcel
//! c.close_door();
//! assert_eq!(c.door_state()?, DoorState::Closed);
//! assert!(c.presence()?.occupied);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod camera;
mod compartment;
mod error;
mod kerong;
mod line;
mod rng;
mod ups;

pub use camera::{SimCamera, SimSnapshot};
pub use compartment::SimCompartment;
pub use error::{SimError, WorldError};
pub use kerong::{SimCu16, SimCu48, SimKerongBoard};
pub use line::{SimLineDevice, SimRs485};
pub use rng::SimRng;
pub use ups::SimUps;

use locker_proto::time::Duration;

/// `rate_per_hour × elapsed`, exact to the millisecond, saturating.
pub(crate) fn per_hour(rate_per_hour: i64, elapsed: Duration) -> i64 {
    let ms = i128::from(elapsed.as_millis().min(i64::MAX as u64) as i64);
    let v = i128::from(rate_per_hour) * ms / 3_600_000;
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
