//! The gateway's monotonic clock: milliseconds counted by the SysTick
//! interrupt. It is the only clock the program reads; the gateway machine
//! is handed its value as `now`.

use core::cell::Cell;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use locker_proto::time::Instant;

/// Core clock: the STM32H743's clock out of reset, HSI at 64 MHz. A board
/// that starts the PLL (up to 480 MHz) sets its own.
pub const CORE_HZ: u32 = 64_000_000;

static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts a 1 kHz SysTick interrupt on a core clocked at `core_hz`.
pub fn start(mut syst: SYST, core_hz: u32) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(core_hz / 1_000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// The time since [`start`]. A `u64` of milliseconds never wraps in a
/// locker's lifetime; the Cortex-M7 has no 64-bit atomics, so it is read in
/// a critical section.
pub fn now() -> Instant {
    Instant::from_millis(critical_section::with(|cs| MILLIS.borrow(cs).get()))
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let millis = MILLIS.borrow(cs);
        millis.set(millis.get().wrapping_add(1));
    });
}
