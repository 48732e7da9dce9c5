//! The pieces behind the runnable programs of the `locker` workspace.
//!
//! - [`sim`]: the simulated locker bank (`cargo run --release --bin locker-sim`).
//! - [`gateway`]: a Linux gateway on a real serial line (`--bin locker-gateway`).

pub mod gateway;
pub mod sim;
