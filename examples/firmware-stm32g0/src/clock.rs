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
/// A busy-wait delay counted in core cycles at the board's clock
/// (`crate::board::CORE_HZ`), for drivers that need `DelayNs` (the solenoid
/// pulse). SysTick stays free for the clock. No fields: each compartment's
/// lock holds one, and the clock is a constant.
pub struct CycleDelay;

#[cfg(feature = "drivers")]
impl CycleDelay {
    const CYCLES_PER_US: u32 = crate::board::CORE_HZ / 1_000_000;
    /// The longest wait in microseconds that `u32::MAX` cycles hold.
    const MAX_US: u32 = u32::MAX
        / if Self::CYCLES_PER_US == 0 {
            1
        } else {
            Self::CYCLES_PER_US
        };
}

#[cfg(feature = "drivers")]
impl embedded_hal::delay::DelayNs for CycleDelay {
    /// Waits at least `ns`, rounded up to whole microseconds (at most
    /// `u32::MAX` cycles, over four minutes at 16 MHz). In 32 bits, and
    /// bounded by a constant rather than a saturating multiplication: the
    /// Cortex-M0+ multiplies 64 bits and divides in software (the one
    /// 64-bit division of the firmware cost 1,100 bytes of flash, the
    /// multiplication 74).
    fn delay_ns(&mut self, ns: u32) {
        let cycles = ns.div_ceil(1_000).min(Self::MAX_US) * Self::CYCLES_PER_US;
        cortex_m::asm::delay(cycles);
    }
}
