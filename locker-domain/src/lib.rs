#![no_std]
#![doc = include_str!("../README.md")]

#[cfg(any(feature = "std", test))]
extern crate std;
