//! What the test reads: lines on the semihosting console, the stack's
//! high-water mark, the cost of each exchange.
//!
//! Lines are built without `core::fmt`, in a small buffer, so that
//! reporting adds little to the stack it measures.

use core::sync::atomic::{AtomicU32, Ordering};

/// The word the free stack is painted with at reset.
const PAINT: u32 = 0xDEAD_BEEF;

unsafe extern "C" {
    /// The end of `.bss`: the lowest address the stack may grow to.
    static mut __sheap: u32;
    /// The top of RAM, where the stack starts.
    static _stack_start: u32;
}

/// Paints the stack from the end of static RAM up to just below this
/// function's frame. Called first thing in `main`.
#[inline(never)]
pub fn paint_stack() {
    let bottom = &raw mut __sheap;
    // Leave this frame and a margin alone: the writes run below the live
    // stack pointer, word by word (volatile, so no `memset` frame is
    // pushed into the region being painted).
    let top = (cortex_m::register::msp::read() as usize).saturating_sub(64) as *mut u32;
    let mut at = bottom;
    while at < top {
        // SAFETY: between the end of .bss and below the live stack: no
        // object lives there.
        unsafe {
            at.write_volatile(PAINT);
            at = at.add(1);
        }
    }
}

/// Bytes of stack ever used: from the top of RAM down to the lowest word
/// that no longer holds the paint.
pub fn stack_high_water() -> u32 {
    let mut at = (&raw const __sheap).cast::<u32>();
    let top = &raw const _stack_start;
    // SAFETY: reads of RAM between the end of .bss and the top of the stack.
    while at < top && unsafe { at.read_volatile() } == PAINT {
        at = unsafe { at.add(1) };
    }
    (top as usize - at as usize) as u32
}

static LAST_HIGH_WATER: AtomicU32 = AtomicU32::new(0);

/// Reports the high-water mark if it grew since the last report.
pub fn high_water_if_grown() {
    let now = stack_high_water();
    if now > LAST_HIGH_WATER.load(Ordering::Relaxed) {
        LAST_HIGH_WATER.store(now, Ordering::Relaxed);
        line(b"stack high-water", &[now]);
    }
}

/// Prints `label` and `values` (decimal, space-separated) as one line.
#[inline(never)]
pub fn line(label: &[u8], values: &[u32]) {
    const LINE: usize = 96;
    let mut buf = [0u8; LINE];
    let mut len = 0;
    let mut put = |byte: u8| {
        // The last byte stays 0: the string's terminator.
        if len + 1 < LINE {
            if let Some(slot) = buf.get_mut(len) {
                *slot = byte;
                len += 1;
            }
        }
    };
    for &byte in label {
        put(byte);
    }
    for &value in values {
        put(b' ');
        let mut digits = [0u8; 10];
        let mut n = value;
        let mut count = 0;
        loop {
            if let Some(d) = digits.get_mut(count) {
                *d = b'0' + (n % 10) as u8;
            }
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in digits.iter().take(count).rev() {
            put(d);
        }
    }
    put(b'\n');
    // SYS_WRITE0: a zero-terminated string to the debugger's console
    // (QEMU: standard output with `-semihosting-config target=native`).
    // SAFETY: `buf` is zero-terminated and outlives the call.
    unsafe {
        cortex_m::asm::semihosting_syscall(0x04, buf.as_ptr() as u32);
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    line(b"panic", &[]);
    loop {
        cortex_m::asm::nop();
    }
}
