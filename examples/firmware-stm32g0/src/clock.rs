//! A monotonic millisecond clock from SysTick: the only clock the node reads.

use core::cell::Cell;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;

static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts a 1 kHz SysTick interrupt on a core clocked at `core_hz`.
pub fn start(mut syst: SYST, core_hz: u32) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(core_hz / 1_000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Milliseconds since [`start`]. A `u64` never wraps in a locker's lifetime;
/// the Cortex-M0+ has no 64-bit atomics, so it is read in a critical section.
pub fn now_ms() -> u64 {
    critical_section::with(|cs| MILLIS.borrow(cs).get())
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let millis = MILLIS.borrow(cs);
        millis.set(millis.get().wrapping_add(1));
    });
}

#[cfg(feature = "drivers")]
/// A busy-wait delay counted in core cycles, for drivers that need
/// `DelayNs` (the solenoid pulse). SysTick stays free for the clock.
pub struct CycleDelay {
    cycles_per_us: u32,
}

#[cfg(feature = "drivers")]
impl CycleDelay {
    pub const fn new(core_hz: u32) -> Self {
        CycleDelay {
            cycles_per_us: core_hz / 1_000_000,
        }
    }
}

#[cfg(feature = "drivers")]
impl embedded_hal::delay::DelayNs for CycleDelay {
    /// Waits at least `ns`, rounded up to whole microseconds. In 32 bits:
    /// the one 64-bit division of the firmware cost 1,100 bytes of flash
    /// (the Cortex-M0+ divides in software).
    fn delay_ns(&mut self, ns: u32) {
        let cycles = ns.div_ceil(1_000).saturating_mul(self.cycles_per_us);
        cortex_m::asm::delay(cycles);
    }
}
