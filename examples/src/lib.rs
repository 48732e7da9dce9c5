//! The pieces behind the runnable programs of the `locker` workspace.
//!
//! - [`sim`]: the simulated locker bank (`cargo run --release --bin locker-sim`).
//! - [`gateway`]: a Linux gateway on a real serial line (`--bin locker-gateway`).
//! - [`uplink`]: the gateway's disk-backed outbound queue, the MQTT transport
//!   and a small backend (`--bin locker-backend`).
//! - [`secret`]: the secrets the programs keep in files.
//! - [`logging`]: the programs' log lines on standard error, plain or JSON.

pub mod gateway;
pub mod logging;
pub mod secret;
pub mod sim;
pub mod uplink;
