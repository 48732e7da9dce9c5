//! The RS-485 bus on USART1, half-duplex, with the transceiver's driver
//! enable (DE) on PA12 driven by the USART itself.
//!
//! The STM32G0 USART asserts DE before the start bit and releases it after
//! the stop bit of the last byte (hardware DEM mode), so the line is never
//! driven while another station talks and no GPIO has to be timed around
//! transmission. We still wait for transmission complete before returning,
//! so the next receive starts with the bus released.

use embassy_stm32::Peri;
#[cfg(not(feature = "async"))]
use embassy_stm32::mode::Blocking;
use embassy_stm32::peripherals::{PA9, PA10, PA12, USART1};
#[cfg(feature = "async")]
use embassy_stm32::usart::BufferedUart;
use embassy_stm32::usart::Config;
#[cfg(not(feature = "async"))]
use embassy_stm32::usart::Uart;

/// The bus speed: 115 200 baud, 8N1, as Modbus RTU installations commonly run.
pub const BAUD: u32 = 115_200;

/// The node's end of the bus.
#[cfg(not(feature = "async"))]
pub struct Rs485 {
    uart: Uart<'static, Blocking>,
}

#[cfg(not(feature = "async"))]
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

/// The node's end of the bus, interrupt-driven (feature `async`): the
/// USART's interrupt moves bytes between the wire and two ring buffers, so
/// a frame that arrives while the main task awaits a lock pulse waits in
/// RAM instead of overrunning the one-byte receive register.
#[cfg(feature = "async")]
pub struct Rs485 {
    uart: BufferedUart<'static>,
}

/// Ring buffer sizes: one whole frame each way.
#[cfg(feature = "async")]
const RING: usize = locker_proto::frame::MAX_FRAME;

#[cfg(feature = "async")]
impl Rs485 {
    /// USART1 on PA10 (RX) / PA9 (TX) with hardware DE on PA12, its
    /// interrupt bound in `crate::board::Irqs`.
    pub fn new(
        usart: Peri<'static, USART1>,
        rx: Peri<'static, PA10>,
        tx: Peri<'static, PA9>,
        de: Peri<'static, PA12>,
        irqs: crate::board::Irqs,
    ) -> Self {
        let mut config = Config::default();
        config.baudrate = BAUD;
        // `new` runs once: the singletons are free.
        let (Some(tx_ring), Some(rx_ring)) = (
            cortex_m::singleton!(: [u8; RING] = [0; RING]),
            cortex_m::singleton!(: [u8; RING] = [0; RING]),
        ) else {
            panic!("bus ring buffers taken twice");
        };
        // As for the blocking bus: 115 200 from HSI16 always works.
        let Ok(uart) = BufferedUart::new_with_de(usart, rx, tx, de, irqs, tx_ring, rx_ring, config)
        else {
            panic!("USART1 configuration");
        };
        Rs485 { uart }
    }

    /// A received byte, if one is waiting in the ring. Line errors drop
    /// the byte, as on the blocking bus.
    pub fn try_read(&mut self) -> Option<u8> {
        embedded_hal_nb::serial::Read::read(&mut self.uart).ok()
    }

    /// Waits until a received byte is waiting, without taking it.
    pub async fn readable(&mut self) {
        let _ = embedded_io_async::BufRead::fill_buf(&mut self.uart).await;
    }

    /// As on the blocking bus (the QEMU board's meter hook).
    #[cfg(feature = "controller")]
    #[inline(always)]
    pub fn answer_ready(&mut self) {}

    /// Sends `bytes` and returns once the last stop bit has left and DE is
    /// released; the core sleeps meanwhile.
    pub async fn send_awaited(&mut self, bytes: &[u8]) {
        let _ = embedded_io_async::Write::write_all(&mut self.uart, bytes).await;
        let _ = embedded_io_async::Write::flush(&mut self.uart).await;
    }

    /// The blocking loop's send, which the async build compiles (the loop is
    /// shared with the QEMU board) but never calls.
    #[allow(dead_code)]
    pub fn send(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            let _ = nb::block!(embedded_hal_nb::serial::Write::write(&mut self.uart, byte));
        }
        let _ = nb::block!(embedded_hal_nb::serial::Write::flush(&mut self.uart));
    }
}
