//! QEMU's `mps2-an385`: what the node needs of it.
//!
//! | what | where |
//! |---|---|
//! | the bus | CMSDK APB UART0 at `0x4000_4000` (QEMU's first `-serial`) |
//! | the meter's clock | CMSDK APB timer 0 at `0x4000_0000`, free-running at the 25 MHz APB clock |
//! | the "flash" (key, counters, configuration) | SSRAM at `0x0010_0000`, 64 KiB, laid out as the STM32G031's flash (`storage.rs`) |
//! | what survives a warm reset (`retained.rs`) | SSRAM at `0x0011_0000`, 12 bytes |
//! | what lies in each compartment (`compartment.rs`) | SSRAM from `0x0011_0010`, 12 bytes per channel |
//! | the compartments | simulated inside the board (`compartment.rs`) |
//!
//! The flash keeps what the node writes until QEMU stops; a test provisions
//! the node as the bench would leave it by loading an authentication record
//! at `FLASH_BASE + 60 KiB` (`-device loader,file=…,addr=0x0010f000`).

use crate::bus::Rs485;
use crate::compartment::Compartment;

/// Channels of the simulated cabinet: four, as the STM32G0 board.
pub const CHANNELS: usize = 4;

/// Core clock of the MPS2 FPGA image: 25 MHz (SysTick counts it).
pub const CORE_HZ: u32 = 25_000_000;

/// Where the emulated flash starts.
pub const FLASH_BASE: usize = 0x0010_0000;
/// Its size: the STM32G031K8's 64 KiB, so that `storage.rs`'s pages fit.
const FLASH_SIZE: u32 = 64 * 1024;

/// Where the record of the event queue that survives a warm reset lives
/// (`retained.rs`): SSRAM just past the emulated flash. Not the `.uninit`
/// section the STM32G0 board uses: QEMU zero-fills every part of the ELF's
/// RAM segment at each system reset, which real SRAM does not, while it
/// leaves SSRAM outside the ELF as it was.
pub fn retained_record() -> *mut [u32; 3] {
    (FLASH_BASE + FLASH_SIZE as usize) as *mut [u32; 3]
}

/// Where the simulated cabinet keeps what lies in compartment `channel` and
/// how often its lock was pulsed (`compartment.rs`): SSRAM after the
/// retained record, outside the firmware image, so that a reset of the node
/// does not empty the cabinet. The cabinet is not the MCU.
pub fn cabinet_record(channel: u32) -> *mut [u32; 3] {
    (FLASH_BASE + FLASH_SIZE as usize + 16 + channel as usize * 12) as *mut [u32; 3]
}

/// Timer 0's current value register (counts down).
const TIMER0_VALUE: *const u32 = 0x4000_0004 as *const u32;

/// The board's peripherals, as the main loop wants them.
pub struct Board {
    pub compartments: [Compartment; CHANNELS],
    pub bus: Rs485,
    pub flash: Flash,
    pub security: SecurityInputs,
}

impl Board {
    /// Starts the UART and the meter's timer, builds the cabinet.
    pub fn take() -> Self {
        // SAFETY: timer 0's registers (CTRL, VALUE, RELOAD); nothing else
        // uses it. Reload with the largest value, enable.
        unsafe {
            (0x4000_0008 as *mut u32).write_volatile(u32::MAX);
            (0x4000_0004 as *mut u32).write_volatile(u32::MAX);
            (0x4000_0000 as *mut u32).write_volatile(1);
        }
        Board {
            compartments: [0, 1, 2, 3].map(Compartment::new),
            bus: Rs485::new(),
            flash: Flash(()),
            security: SecurityInputs(()),
        }
    }
}

/// Ticks of the 25 MHz APB clock, counting up (wraps every 171 s). With
/// `-icount shift=0` one tick is 40 instructions.
pub fn ticks() -> u32 {
    // SAFETY: a read of timer 0's value register.
    u32::MAX - unsafe { TIMER0_VALUE.read_volatile() }
}

/// Instructions in `ticks` meter ticks (`-icount shift=0`: 1 ns each).
pub const INSTRUCTIONS_PER_TICK: u32 = 1_000_000_000 / 25_000_000;

/// The physical inputs only someone inside the cabinet can set: on this
/// board the provisioning jumper is never fitted (the test loads the key
/// as provisioning left it) and the maintenance switch is off.
pub struct SecurityInputs(());

impl SecurityInputs {
    /// Whether the provisioning jumper is fitted.
    pub fn provisioning(&self) -> bool {
        false
    }

    /// Whether the maintenance key switch is on.
    pub fn maintenance(&self) -> bool {
        false
    }
}

/// The emulated flash: SSRAM with the blocking interface of embassy's
/// flash driver, which `storage.rs` is written against. Erased bytes read
/// `0xFF`, as on the STM32G0.
pub struct Flash(());

/// An access outside the emulated flash.
#[derive(Debug)]
pub struct OutOfRange;

impl Flash {
    fn range(offset: u32, len: usize) -> Result<*mut u8, OutOfRange> {
        let end = usize::try_from(offset).map_err(|_| OutOfRange)? + len;
        if end > FLASH_SIZE as usize {
            return Err(OutOfRange);
        }
        Ok((FLASH_BASE + offset as usize) as *mut u8)
    }

    /// Reads `bytes.len()` bytes at `offset`.
    pub fn blocking_read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), OutOfRange> {
        let at = Self::range(offset, bytes.len())?;
        for (i, byte) in bytes.iter_mut().enumerate() {
            // SAFETY: inside the emulated flash, which nothing else uses.
            *byte = unsafe { at.add(i).read_volatile() };
        }
        Ok(())
    }

    /// Erases `from..to` to `0xFF`.
    pub fn blocking_erase(&mut self, from: u32, to: u32) -> Result<(), OutOfRange> {
        let len = to.checked_sub(from).ok_or(OutOfRange)? as usize;
        let at = Self::range(from, len)?;
        for i in 0..len {
            // SAFETY: inside the emulated flash.
            unsafe { at.add(i).write_volatile(0xFF) };
        }
        Ok(())
    }

    /// Writes `bytes` at `offset`.
    pub fn blocking_write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), OutOfRange> {
        let at = Self::range(offset, bytes.len())?;
        for (i, &byte) in bytes.iter().enumerate() {
            // SAFETY: inside the emulated flash.
            unsafe { at.add(i).write_volatile(byte) };
        }
        Ok(())
    }
}
