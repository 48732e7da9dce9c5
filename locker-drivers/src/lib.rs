#![no_std]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod door;
mod error;
pub mod ir;
pub mod kerong;
pub mod lock;
#[cfg(feature = "sim")]
pub mod sim;
mod traits;

pub use error::Error;
pub use traits::{
    Camera, CaptureReason, DoorSensor, Lock, PresenceSensor, SnapshotRef, TemperatureSensor, Ups,
};
