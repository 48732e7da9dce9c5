//! The gateway of a 256-compartment locker bank on an STM32H743ZI
//! (Cortex-M7, 2 MiB flash, 1 MiB RAM of which this program uses the
//! 512 KiB AXI SRAM; the NUCLEO-H743ZI2 board), with the bank's books in a
//! `static`.
//!
//! The program is a shell around [`Gateway`]: the bank, the bus master of
//! its eight compartment nodes and the node sessions, in one sans-IO
//! machine. A SysTick interrupt counts milliseconds ([`clock`]); the main
//! loop ([`shell`]) hands the gateway the bytes from the bus, keypad codes,
//! UPS reports and its due timers, and carries every output out: frames to
//! the bus, counter reservations and snapshots to durable storage, audit
//! records, alerts and notifications to where they go.
//!
//! # Where the memory is
//!
//! Nothing that grows with the bank is ever built on the stack:
//!
//! - `BOOKS`, the bank's per-compartment books ([`Books<256>`], 53,512
//!   bytes on this target), is a `ConstStaticCell` built by the compiler (`Books::new` is a
//!   `const fn`). The bank borrows it for the program's life. Its empty
//!   state is not all zero (a free slot's and a detached free-list link's
//!   markers), so it lies in `.data`: its image takes as much flash again
//!   and the start-up code copies it into RAM.
//! - `GATEWAY` holds the gateway machine (the bank's fixed part, the bus
//!   master, the node sessions, the room for an uplink: 39,888 bytes) in a
//!   `StaticCell`, written by `init_with`. The main loop only borrows it.
//! - `SNAPSHOT` is the buffer the bank's snapshot is written into before it
//!   is stored: 120 bytes per compartment plus 48 KiB, the size the bank's
//!   docs give as generous.
//! - The layout (`layout::LAYOUT`) is a `static` computed by the compiler,
//!   in flash.
//!
//! What does pass through the stack, once, is the start: [`Bank::new`] and
//! [`Gateway::new`] return their values, so `start` holds the bank's fixed
//! part (21,960 bytes) and the gateway while they are built and moved,
//! about twice the books. `init_with` keeps that to one frame; moving a
//! finished gateway into the static (`StaticCell::init`) would add
//! another 40 KB to `main`'s own frame for the program's life. Building
//! them in place needs constructors that write into the caller's storage,
//! as the books already are. The main loop needs a few KB.
//!
//! `scripts/gateway-mcu-stack` builds this program, reads the statics'
//! symbols from the ELF and measures the worst-case stack of `main`, of its
//! start and of its main loop with the node firmware's method
//! (`-Z emit-stack-sizes` and a walk of the call graph). It fails if the
//! main loop's stack could hold the books, or if the statics and the
//! stack do not fit the RAM. The numbers are in the README's footprint
//! section.
//!
//! # The board
//!
//! This crate drives no peripheral but SysTick. Everything else goes
//! through the [`Board`] trait: the RS-485 UART, durable
//! storage, keypads, the UPS, the camera and the service log. An integrator
//! implements it with their HAL and replaces the [`Bench`] in
//! `main`, a board with nothing wired on which the gateway greets its nodes,
//! finds them silent and keeps trying them. No uplink is started here; a
//! board with a modem would start one with [`Gateway::start_uplink`].
//!
//! Build with `cargo build --release` in this directory (the target is set
//! in `.cargo/config.toml`); `cargo run --release` flashes a connected
//! NUCLEO-H743ZI2 through probe-rs.

#![no_std]
#![no_main]

mod bench;
mod board;
mod clock;
mod layout;
mod shell;

use cortex_m_rt::entry;
use locker_domain::bank::{Bank, BankKeys, Books, Policy};
use locker_domain::gateway::{Gateway, GatewayError};
use locker_proto::NodeAddr;
use locker_proto::auth::NodeIdentity;
use locker_proto::link::MasterConfig;
use locker_proto::time::Instant;
use panic_halt as _;
use static_cell::{ConstStaticCell, StaticCell};

use bench::Bench;
use board::{Board, LogEntry, Provisioning};
use layout::{COMPARTMENTS, LAYOUT, NODES};
use shell::Shell;

/// The gateway machine of this bank.
pub type BankGateway = Gateway<'static, NODES>;

/// Bytes for the bank's snapshot: generous, as the bank's docs size it.
const SNAPSHOT_LEN: usize = COMPARTMENTS * 120 + 48 * 1024;

/// The bank's per-compartment books, zero at reset: in `.bss`.
static BOOKS: ConstStaticCell<Books<COMPARTMENTS>> = ConstStaticCell::new(Books::new());
/// The gateway machine, once started.
static GATEWAY: StaticCell<Result<BankGateway, GatewayError>> = StaticCell::new();
/// The snapshot buffer.
static SNAPSHOT: ConstStaticCell<[u8; SNAPSHOT_LEN]> = ConstStaticCell::new([0; SNAPSHOT_LEN]);

#[entry]
fn main() -> ! {
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    clock::start(core.SYST, clock::CORE_HZ);
    // An integrator's board goes here.
    let mut board = Bench;
    let snapshot = SNAPSHOT.take();
    let gateway = start(&mut board, snapshot);
    Shell::new(gateway, board, snapshot).run()
}

/// Builds the bank on the static books (restored from the board's last
/// snapshot, if any) and the gateway around it, in its static, and gives
/// the gateway the nodes' keys and the wall-clock time. Apart from `main`
/// so that what it builds on the way does not stay in the main loop's
/// frame.
#[inline(never)]
fn start<B: Board>(board: &mut B, snapshot: &mut [u8]) -> &'static mut BankGateway {
    let now = clock::now();
    let Provisioning {
        bank: bank_id,
        bank_secret,
        bus_key,
    } = board.provisioning();
    let keys = BankKeys::derive(bank_id, &bank_secret);
    let Ok(gateway) = GATEWAY.init_with(|| {
        let Ok(mut bank) = Bank::new(BOOKS.take(), &LAYOUT, Policy::default(), keys) else {
            panic!("the built-in layout fits the books");
        };
        restore(&mut bank, board, snapshot, now);
        Gateway::new(bank, MasterConfig::default(), now)
    }) else {
        panic!("the layout's nodes fit the bus master");
    };
    for addr in 1..=NODES as u8 {
        let node = NodeAddr(addr);
        let key = bus_key.node_key(NodeIdentity::at(node));
        let stored = board.stored_counter(node);
        if gateway.set_node_key(node, key, stored).is_err() {
            panic!("every node of the layout is on the bus");
        }
    }
    if let Some(wall) = board.wall_clock() {
        // Monotonic time never goes backwards, the only error.
        let _ = gateway.set_wall_clock(wall, now);
    }
    gateway
}

/// Gives a new bank back the books of the board's last snapshot. Apart
/// from `start`, so that the snapshot's records are decoded in a frame of
/// their own and not beside the bank being built.
#[inline(never)]
fn restore<B: Board>(bank: &mut Bank<'static>, board: &mut B, snapshot: &mut [u8], now: Instant) {
    if let Some(bytes) = board.load_snapshot(snapshot) {
        if let Err(e) = bank.restore(bytes, now) {
            board.log(LogEntry::RestoreRefused(e));
        }
    }
}
