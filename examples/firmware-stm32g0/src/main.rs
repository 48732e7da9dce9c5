//! A compartment node on an STM32G031K8 (Cortex-M0+, 64 KiB flash, 8 KiB RAM):
//! four compartments (lock, door switch, IR beam, indicator) behind an
//! RS-485 bus.
//!
//! The main loop is a shell around `locker_domain::node::Node` (decoder,
//! link layer and controller in one). Every pass it:
//!
//! 1. reads every door switch, lock contact and IR beam and feeds the raw
//!    values to the node with the time (the controller debounces);
//! 2. runs the node's timers when they are due;
//! 3. feeds each received UART byte to the node;
//! 4. after each of these, does what the node asks, in the node's order: the
//!    counter reservation and changed configuration to flash, the answer on
//!    the bus (before any lock moves, so the master never times out on a
//!    pulse), then lock pulses, indicators and a reboot.
//!
//! Cargo features select the footprint report's configurations: none (bare
//! HAL: echo bytes, mirror doors to locks), `proto`, `controller`, `drivers`,
//! and `auth` (authenticated commands; on by default with `drivers`).
//!
//! Feature `async` (off by default) runs the same node on an Embassy
//! executor instead (`node_async.rs`): one task that sleeps until a bus
//! byte, a door-switch edge, the node's next timeout or a 10 ms sampling
//! tick, then makes the same pass, awaiting lock pulses and bus answers.

#![no_std]
#![no_main]

mod board;
mod bus;
#[cfg_attr(feature = "async", path = "clock_embassy.rs")]
mod clock;
mod compartment;
// With `async`, the polling loop (`run`, `pass`, `serve`) is compiled, as
// the file is shared with the QEMU board, but not called: the default
// build and the QEMU board check it.
#[cfg(feature = "proto")]
#[cfg_attr(feature = "async", allow(dead_code, unused_imports))]
mod node;
#[cfg(feature = "async")]
mod node_async;
#[cfg(feature = "controller")]
mod retained;
#[cfg(feature = "controller")]
mod storage;

#[cfg(not(feature = "async"))]
use cortex_m_rt::entry;
use panic_halt as _;

#[cfg(not(feature = "async"))]
use board::CORE_HZ;
use board::{Board, CHANNELS};
use compartment::Compartment;

#[cfg(not(feature = "async"))]
#[entry]
fn main() -> ! {
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    let board = Board::take();
    clock::start(core.SYST, CORE_HZ);
    let [c0, c1, c2, c3] = board.compartments;
    let compartments: [Compartment; CHANNELS] = [
        Compartment::new(c0),
        Compartment::new(c1),
        Compartment::new(c2),
        Compartment::new(c3),
    ];

    #[cfg(feature = "proto")]
    node::run(
        board.bus,
        compartments,
        #[cfg(feature = "controller")]
        board.flash,
        #[cfg(feature = "auth")]
        board.security,
    );

    #[cfg(not(feature = "proto"))]
    baseline(board.bus, compartments);
}

/// The node on an Embassy executor (feature `async`, `node_async.rs`): the
/// same node, one task that sleeps between events.
#[cfg(feature = "async")]
#[embassy_executor::main]
async fn main(_spawner: embassy_executor::Spawner) {
    let board = Board::take();
    let [c0, c1, c2, c3] = board.compartments;
    let compartments: [Compartment; CHANNELS] = [
        Compartment::new(c0),
        Compartment::new(c1),
        Compartment::new(c2),
        Compartment::new(c3),
    ];
    node_async::run(
        board.bus,
        compartments,
        board.flash,
        #[cfg(feature = "auth")]
        board.security,
    )
    .await
}

/// The bare HAL baseline of the footprint report: the same peripherals
/// used, none of our crates linked. The millisecond test is on the low 32
/// bits: a `u64` remainder would link the Cortex-M0+'s software 64-bit
/// division (904 bytes) that the node never uses, and so flatter every
/// figure measured above the baseline by as much.
#[cfg(not(feature = "proto"))]
fn baseline(mut bus: bus::Rs485, mut compartments: [Compartment; CHANNELS]) -> ! {
    loop {
        if let Some(byte) = bus.try_read() {
            bus.send(&[byte]);
        }
        let now = clock::now_ms();
        for compartment in &mut compartments {
            let open = compartment.door_open();
            let occupied = compartment.presence() != 0;
            compartment.indicate(open ^ occupied);
            if open && (now as u32) % 1000 == 0 {
                compartment.pulse(1);
            }
        }
    }
}
