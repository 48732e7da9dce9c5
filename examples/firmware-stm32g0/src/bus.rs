//! The RS-485 bus on USART1, half-duplex, with the transceiver's driver
//! enable (DE) on PA12 driven by the USART itself.
//!
//! The STM32G0 USART asserts DE before the start bit and releases it after
//! the stop bit of the last byte (hardware DEM mode), so the line is never
//! driven while another station talks and no GPIO has to be timed around
//! transmission. We still wait for transmission complete before returning,
//! so the next receive starts with the bus released.

use embassy_stm32::Peri;
use embassy_stm32::mode::Blocking;
use embassy_stm32::peripherals::{PA9, PA10, PA12, USART1};
use embassy_stm32::usart::{Config, Uart};

/// The bus speed: 115 200 baud, 8N1, as Modbus RTU installations commonly run.
pub const BAUD: u32 = 115_200;

/// The node's end of the bus.
pub struct Rs485 {
    uart: Uart<'static, Blocking>,
}

impl Rs485 {
    /// USART1 on PA10 (RX) / PA9 (TX) with hardware DE on PA12.
    pub fn new(
        usart: Peri<'static, USART1>,
        rx: Peri<'static, PA10>,
        tx: Peri<'static, PA9>,
        de: Peri<'static, PA12>,
    ) -> Self {
        let mut config = Config::default();
        config.baudrate = BAUD;
        // The only failure is a baud rate the clock cannot make; 115 200 from
        // HSI16 always works, so a failure here is a wiring-time bug: halt.
        let Ok(uart) = Uart::new_blocking_with_de(usart, rx, tx, de, config) else {
            panic!("USART1 configuration");
        };
        Rs485 { uart }
    }

    /// A received byte, if one is waiting. Line errors (framing, noise,
    /// overrun) drop the byte: the frame CRC catches the damage.
    pub fn try_read(&mut self) -> Option<u8> {
        embedded_hal_nb::serial::Read::read(&mut self.uart).ok()
    }

    /// An answer is about to be encoded and sent. Nothing to do on this
    /// board; the QEMU board's meter reads its clock here.
    #[cfg(feature = "controller")]
    #[inline(always)]
    pub fn answer_ready(&mut self) {}

    /// Sends `bytes` and returns once the last stop bit has left and DE is released.
    pub fn send(&mut self, bytes: &[u8]) {
        // A blocking UART write cannot fail on this part; nothing to do if it did.
        let _ = self.uart.blocking_write(bytes);
        let _ = self.uart.blocking_flush();
    }
}
