//! Several simulated devices on one RS-485 line.

use embedded_io::{ErrorType, Read, Write};
use locker_proto::time::Instant;

use super::{SimCu16, SimCu48};

/// Something on a simulated serial line whose time the simulation moves: a
/// simulated Kerong board, a [`SimRs485`] line of them, or a test's own
/// scripted port.
pub trait SimLineDevice: Read + Write {
    /// Moves the device's time to `now` (earlier instants are ignored).
    fn advance_to(&mut self, now: Instant);
}

impl SimLineDevice for SimCu16 {
    fn advance_to(&mut self, now: Instant) {
        SimCu16::advance_to(self, now);
    }
}

impl SimLineDevice for SimCu48 {
    fn advance_to(&mut self, now: Instant) {
        SimCu48::advance_to(self, now);
    }
}

/// `DEVICES` simulated devices sharing one half-duplex RS-485 line, as a
/// bank's Kerong boards share the gateway's serial port: every byte the
/// driver writes reaches every device, each acts only on frames addressed
/// to it, and the driver reads whatever the devices put on the line, in
/// the order of the array (on a real line only the addressed board talks).
///
/// ```
/// use locker_drivers::kerong::{Cu16, Cu16Address, LockBoard};
/// use locker_drivers::sim::{SimCu16, SimRs485};
/// use locker_proto::{Channel, time::Instant};
///
/// let [a, b] = [0, 1].map(|n| Cu16Address::new(n).unwrap());
/// let mut line = SimRs485::new([SimCu16::cu16(a, Instant::ZERO), SimCu16::cu16(b, Instant::ZERO)]);
/// Cu16::new(&mut line, b).unlock(Channel(2))?;
/// assert_eq!(line.device(1).unwrap().compartment(Channel(2)).unwrap().unlock_pulses(), 1);
/// assert_eq!(line.device(0).unwrap().compartment(Channel(2)).unwrap().unlock_pulses(), 0);
/// # Ok::<(), locker_drivers::kerong::KerongError<core::convert::Infallible>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SimRs485<D, const DEVICES: usize> {
    devices: [D; DEVICES],
}

impl<D: SimLineDevice, const DEVICES: usize> SimRs485<D, DEVICES> {
    /// A line with `devices` on it.
    pub fn new(devices: [D; DEVICES]) -> Self {
        SimRs485 { devices }
    }

    /// Moves every device's time to `now`.
    pub fn advance_to(&mut self, now: Instant) {
        for device in &mut self.devices {
            device.advance_to(now);
        }
    }

    /// The `index`th device on the line, or `None` past the last.
    pub fn device(&self, index: usize) -> Option<&D> {
        self.devices.get(index)
    }

    /// The `index`th device, to act on its compartments or faults.
    pub fn device_mut(&mut self, index: usize) -> Option<&mut D> {
        self.devices.get_mut(index)
    }

    /// Takes the devices off the line.
    pub fn into_devices(self) -> [D; DEVICES] {
        self.devices
    }
}

impl<D: SimLineDevice, const DEVICES: usize> SimLineDevice for SimRs485<D, DEVICES> {
    fn advance_to(&mut self, now: Instant) {
        SimRs485::advance_to(self, now);
    }
}

impl<D: ErrorType, const DEVICES: usize> ErrorType for SimRs485<D, DEVICES> {
    type Error = D::Error;
}

impl<D: SimLineDevice, const DEVICES: usize> Write for SimRs485<D, DEVICES> {
    /// Every device hears the whole of `buf`; a device that takes less in
    /// one write is given the rest until it has it all.
    fn write(&mut self, buf: &[u8]) -> Result<usize, D::Error> {
        for device in &mut self.devices {
            let mut rest = buf;
            while !rest.is_empty() {
                let n = device.write(rest)?;
                if n == 0 {
                    // A device that takes nothing has left the line.
                    break;
                }
                rest = rest.get(n..).unwrap_or(&[]);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), D::Error> {
        for device in &mut self.devices {
            device.flush()?;
        }
        Ok(())
    }
}

impl<D: SimLineDevice, const DEVICES: usize> Read for SimRs485<D, DEVICES> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, D::Error> {
        for device in &mut self.devices {
            let n = device.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
        }
        Ok(0)
    }
}
