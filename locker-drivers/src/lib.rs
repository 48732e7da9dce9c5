#![no_std]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynch;
pub mod camera;
pub mod door;
mod error;
pub mod hx711;
pub mod ir;
pub mod kerong;
pub mod lock;
pub mod max17048;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
mod traits;
pub mod ups;

pub use error::Error;
pub use traits::{
    Camera, CaptureReason, DoorSensor, Lock, PresenceSensor, SnapshotRef, TemperatureSensor, Ups,
};
