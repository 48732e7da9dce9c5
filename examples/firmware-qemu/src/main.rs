//! The compartment node of `examples/firmware-stm32g0`, run on QEMU's
//! `mps2-an385` machine (a Cortex-M3 executing the same `thumbv6m-none-eabi`
//! code) so that the firmware is executed, not only built.
//!
//! What is the STM32G0 node's, compiled from its files: the main loop
//! (`node.rs`: `locker_domain::node::Node` fed and served), the flash layout
//! of key, counter reservation and configuration (`storage.rs`) and the
//! SysTick millisecond clock (`clock.rs`). What is this board's:
//!
//! - `bus`: the bus on the CMSDK APB UART0, which QEMU connects to a
//!   pseudo-terminal or socket (`-serial`);
//! - `board`: the emulated flash (SSRAM the test may preload with
//!   `-device loader`), the security inputs, the timer the meter reads;
//! - `compartment`: a simulated cabinet inside the board: a latch released
//!   by the lock pulse, a person who opens the door, puts a parcel in or
//!   takes it out, and shuts the door;
//! - `report`: lines on the semihosting console (QEMU's standard output):
//!   `boot`, every lock pulse, the stack's high-water mark (the stack is
//!   painted at reset) and the instructions each exchange cost (with
//!   `-icount shift=0` QEMU's virtual nanosecond is one instruction).
//!
//! Run: `cargo run --release` here (see `.cargo/config.toml`), or the
//! end-to-end test `examples/tests/node_qemu.rs`.

#![no_std]
#![no_main]

mod board;
mod bus;
#[path = "../../firmware-stm32g0/src/clock.rs"]
mod clock;
mod compartment;
#[path = "../../firmware-stm32g0/src/node.rs"]
mod node;
mod report;
#[path = "../../firmware-stm32g0/src/retained.rs"]
mod retained;
#[path = "../../firmware-stm32g0/src/storage.rs"]
mod storage;

use cortex_m_rt::entry;

use board::{Board, CORE_HZ};

#[entry]
fn main() -> ! {
    report::paint_stack();
    report::line(b"boot", &[]);
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    let board = Board::take();
    clock::start(core.SYST, CORE_HZ);
    node::run(board.bus, board.compartments, board.flash, board.security)
}
