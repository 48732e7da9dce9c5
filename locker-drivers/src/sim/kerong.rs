//! A simulated Kerong lock board on a serial line: a KR-CU16 or a KR-CU48
//! answering the vendor's frames from a row of [`SimCompartment`]s.

use core::convert::Infallible;

use embedded_io::{ErrorType, Read, Write};
use heapless::Deque;
use locker_proto::Channel;
use locker_proto::time::Instant;

use super::SimCompartment;
use crate::Lock;
use crate::kerong::frame::{ETX, STX, checksum};
use crate::kerong::{CU16_CHANNELS, CU48_CHANNELS, Cu16Address, cu16, cu48};

/// The longest frame either board sends or receives (a CU48 status answer).
const LONGEST_FRAME: usize = cu48::STATUS_LEN;

/// How many bytes the line holds for the driver: a few answers and some noise.
const LINE_BYTES: usize = 4 * LONGEST_FRAME;

/// Which board the simulation speaks as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Model {
    /// `02 ADDR CMD 03 SUM`, ADDR the board in the high nibble and the lock
    /// index in the low one.
    Cu16 { board: u8 },
    /// `02 ADDR LOCK CMD 03 SUM`.
    Cu48 { address: u8 },
}

impl Model {
    const fn request_len(self) -> usize {
        match self {
            Model::Cu16 { .. } => 5,
            Model::Cu48 { .. } => 6,
        }
    }
}

/// A simulated Kerong board: the serial port a [`Cu16`](crate::kerong::Cu16)
/// or [`Cu48`](crate::kerong::Cu48) driver talks to, with the board and its
/// compartments behind it.
///
/// `CHANNELS` is 16 for a [`SimCu16`] and 48 for a [`SimCu48`]; build them
/// with [`SimCu16::cu16`] and [`SimCu48::cu48`].
///
/// # Driver side
///
/// `embedded_io::Read + Write`. The board reads requests from what the
/// driver writes (line noise before a frame's STX and frames with a bad
/// checksum are ignored, as a real board ignores them) and answers status
/// requests at once: the answer is there for the driver's next `read`. A
/// `read` with nothing waiting returns 0 bytes, as a port does when its
/// timeout expires. Unlocks pulse the compartment's lock and are not
/// answered. Requests to another board address are ignored.
///
/// What the board reports is what its compartments show: the lock bit is
/// set while the latch is caught (the drivers' default
/// [`LockBitPolarity`](crate::kerong::LockBitPolarity)), the IR bit while
/// the compartment holds anything.
///
/// # World side
///
/// [`compartment_mut`](Self::compartment_mut) reaches a compartment to open
/// its door or put a parcel in; [`advance_to`](Self::advance_to) moves every
/// compartment's time. Line faults: [`set_silent`](Self::set_silent) (power
/// or cable lost), [`answer_next_late`](Self::answer_next_late),
/// [`corrupt_next_answer`](Self::corrupt_next_answer),
/// [`inject_line_noise`](Self::inject_line_noise).
///
/// Several boards share one line in a [`SimRs485`](super::SimRs485). To
/// put a board behind a real tty, pump the bytes of one end of a
/// pseudo-terminal pair through it (`tests/kerong_pty.rs` does).
///
/// # Example: a courier's door on board 3
///
/// ```
/// use locker_drivers::kerong::{Cu16, Cu16Address, LockBoard};
/// use locker_drivers::sim::SimCu16;
/// use locker_proto::{Channel, DoorState, time::Instant};
///
/// let address = Cu16Address::new(3).unwrap();
/// let mut line = SimCu16::cu16(address, Instant::ZERO);
///
/// Cu16::new(&mut line, address).unlock(Channel(5))?;
/// line.advance_to(Instant::from_millis(400));
/// let door = line.compartment_mut(Channel(5)).unwrap();
/// door.open_door()?;
/// door.place_item(800)?;
///
/// let status = Cu16::new(&mut line, address).status()?;
/// assert_eq!(status.door(Channel(5)), Some(DoorState::Open));
/// assert_eq!(status.item_detected(Channel(5)), Some(true));
/// assert_eq!(line.compartment(Channel(5)).unwrap().unlock_pulses(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SimKerongBoard<const CHANNELS: usize> {
    model: Model,
    compartments: [SimCompartment; CHANNELS],
    /// A request being received.
    request: [u8; 6],
    request_len: usize,
    /// Bytes on the line for the driver to read.
    line: Deque<u8, LINE_BYTES>,
    /// An answer held back until the driver's read has timed out.
    late: Option<([u8; LONGEST_FRAME], usize)>,
    silent: bool,
    answer_late: bool,
    corrupt_answer: bool,
    requests: u32,
}

/// A simulated KR-CU16.
pub type SimCu16 = SimKerongBoard<{ CU16_CHANNELS as usize }>;

/// A simulated KR-CU48.
pub type SimCu48 = SimKerongBoard<{ CU48_CHANNELS as usize }>;

impl SimKerongBoard<{ CU16_CHANNELS as usize }> {
    /// A KR-CU16 at `address` with 16 compartments as
    /// [`SimCompartment::new`] makes them: empty, shut and latched.
    pub fn cu16(address: Cu16Address, now: Instant) -> Self {
        Self::with_model(
            Model::Cu16 {
                board: address.get(),
            },
            now,
        )
    }
}

impl SimKerongBoard<{ CU48_CHANNELS as usize }> {
    /// A KR-CU48 at `address` with 48 compartments as
    /// [`SimCompartment::new`] makes them: empty, shut and latched.
    pub fn cu48(address: u8, now: Instant) -> Self {
        Self::with_model(Model::Cu48 { address }, now)
    }
}

impl<const CHANNELS: usize> SimKerongBoard<CHANNELS> {
    fn with_model(model: Model, now: Instant) -> Self {
        SimKerongBoard {
            model,
            compartments: core::array::from_fn(|_| SimCompartment::new(now)),
            request: [0; 6],
            request_len: 0,
            line: Deque::new(),
            late: None,
            silent: false,
            answer_late: false,
            corrupt_answer: false,
            requests: 0,
        }
    }

    /// Moves every compartment's time to `now` (see
    /// [`SimCompartment::advance_to`]).
    pub fn advance_to(&mut self, now: Instant) {
        for compartment in &mut self.compartments {
            compartment.advance_to(now);
        }
    }

    /// The compartment behind `channel`, or `None` past the board's last.
    pub fn compartment(&self, channel: Channel) -> Option<&SimCompartment> {
        self.compartments.get(channel.index())
    }

    /// The compartment behind `channel`, to act on it (open its door, put a
    /// parcel in, set a fault), or `None` past the board's last.
    pub fn compartment_mut(&mut self, channel: Channel) -> Option<&mut SimCompartment> {
        self.compartments.get_mut(channel.index())
    }

    /// Well-formed requests addressed to this board, answered or not.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// A board without power or with its cable cut: requests are neither
    /// carried out nor answered, until turned off again.
    pub fn set_silent(&mut self, silent: bool) {
        self.silent = silent;
    }

    /// The next answer misses the driver's timeout: the driver's read finds
    /// nothing, and the answer arrives just after, before the next request.
    pub fn answer_next_late(&mut self) {
        self.answer_late = true;
    }

    /// The next answer is garbled on the line: one bit of its first data
    /// byte flips, so its checksum no longer matches.
    pub fn corrupt_next_answer(&mut self) {
        self.corrupt_answer = true;
    }

    /// Puts `bytes` on the line ahead of anything the board sends (another
    /// device, a glitch). Returns how many fit; the line holds
    /// a few frames' worth.
    pub fn inject_line_noise(&mut self, bytes: &[u8]) -> usize {
        bytes
            .iter()
            .take_while(|&&b| self.line.push_back(b).is_ok())
            .count()
    }

    /// The board behind a real serial port: hears `bytes` off the line and
    /// puts what it answers into `answer`, returning how many bytes. A
    /// pseudo-terminal pump calls it with each chunk it reads and writes
    /// the answer back; an answer longer than `answer` stays on the line
    /// for the next call. ([`answer_next_late`](Self::answer_next_late)
    /// needs the driver's reads, which tell when its timeout expired.)
    ///
    /// ```
    /// use locker_drivers::kerong::Cu16Address;
    /// use locker_drivers::sim::SimCu16;
    /// use locker_proto::time::Instant;
    ///
    /// let mut board = SimCu16::cu16(Cu16Address::new(0).unwrap(), Instant::ZERO);
    /// let mut answer = [0u8; 32];
    /// let n = board.hear(&[0x02, 0x00, 0x30, 0x03, 0x35], &mut answer);
    /// assert_eq!(&answer[..3], [0x02, 0x00, 0x35]); // status of every channel
    /// assert_eq!(n, 9);
    /// assert_eq!(board.hear(&[0x02, 0x01, 0x31, 0x03, 0x37], &mut answer), 0); // unlocks go unanswered
    /// ```
    pub fn hear(&mut self, bytes: &[u8], answer: &mut [u8]) -> usize {
        for &byte in bytes {
            self.receive(byte);
        }
        let mut n = 0;
        while let Some(slot) = answer.get_mut(n) {
            let Some(byte) = self.line.pop_front() else {
                break;
            };
            *slot = byte;
            n += 1;
        }
        n
    }

    /// Takes one byte of a request from the driver.
    fn receive(&mut self, byte: u8) {
        if self.request_len == 0 && byte != STX {
            return;
        }
        if let Some(slot) = self.request.get_mut(self.request_len) {
            *slot = byte;
            self.request_len += 1;
        }
        let len = self.model.request_len();
        if self.request_len < len {
            return;
        }
        let frame = self.request;
        let Some((&sum, body)) = frame.get(..len).and_then(<[u8]>::split_last) else {
            self.request_len = 0;
            return;
        };
        if body.last() == Some(&ETX) && checksum(body) == sum {
            self.request_len = 0;
            let mut request = [0u8; 4];
            for (to, from) in request.iter_mut().zip(body) {
                *to = *from;
            }
            self.carry_out(request);
        } else {
            // A board hunts for the next STX: a request cut short must not
            // swallow the one after it.
            self.request_len = 0;
            for &byte in frame.get(1..len).unwrap_or(&[]) {
                self.receive(byte);
            }
        }
    }

    /// Carries out a well-formed request, `body` being its bytes before
    /// ETX (STX first).
    fn carry_out(&mut self, body: [u8; 4]) {
        let (lock, unlock, status, header) = match (self.model, body) {
            (Model::Cu16 { board }, [_, addr, command, _]) => {
                if addr >> 4 != board {
                    return;
                }
                let answer = match command {
                    cu16::CMD_STATUS => Some(cu16::RESP_STATUS),
                    cu16::CMD_QUERY_ALL => Some(cu16::RESP_QUERY_ALL),
                    _ => None,
                };
                let header = answer.map(|a| ([STX, board << 4, a, 0], 3));
                (
                    addr & 0x0F,
                    command == cu16::CMD_UNLOCK,
                    header.is_some(),
                    header,
                )
            }
            (Model::Cu48 { address }, [_, addr, lock, command]) => {
                if addr != address {
                    return;
                }
                let status = command == cu48::CMD_STATUS;
                let header = ([STX, address, 0x00, cu48::RESP_STATUS], 4);
                (lock, command == cu48::CMD_UNLOCK, status, Some(header))
            }
        };
        self.requests = self.requests.saturating_add(1);
        if self.silent {
            return;
        }
        if unlock {
            if let Some(compartment) = self.compartments.get_mut(usize::from(lock)) {
                // A simulated lock never fails to take a pulse.
                let _ = compartment.unlock();
            }
        } else if let (true, Some((header, len))) = (status, header) {
            self.answer_status(header.get(..len).unwrap_or(&[]));
        }
    }

    /// Sends every channel's latch and IR bits after `header`.
    fn answer_status(&mut self, header: &[u8]) {
        let mut latched = 0u64;
        let mut items = 0u64;
        for (i, compartment) in self.compartments.iter().enumerate() {
            latched |= u64::from(compartment.is_latched()) << i;
            items |= u64::from(compartment.item_grams() > 0) << i;
        }
        let data_len = CHANNELS / 8;
        let mut frame = [0u8; LONGEST_FRAME];
        let mut len = 0;
        let bytes = header
            .iter()
            .copied()
            .chain(latched.to_le_bytes().into_iter().take(data_len))
            .chain(items.to_le_bytes().into_iter().take(data_len))
            .chain([ETX]);
        for (slot, byte) in frame.iter_mut().zip(bytes) {
            *slot = byte;
            len += 1;
        }
        let sum = checksum(frame.get(..len).unwrap_or(&[]));
        if let Some(slot) = frame.get_mut(len) {
            *slot = sum;
            len += 1;
        }
        if core::mem::take(&mut self.corrupt_answer) {
            if let Some(first_data) = frame.get_mut(header.len()) {
                *first_data ^= 0x01;
            }
        }
        if core::mem::take(&mut self.answer_late) {
            self.late = Some((frame, len));
            return;
        }
        for &byte in frame.get(..len).unwrap_or(&[]) {
            // A full line drops the rest: the driver sees a truncated answer.
            let _ = self.line.push_back(byte);
        }
    }
}

impl<const CHANNELS: usize> ErrorType for SimKerongBoard<CHANNELS> {
    type Error = Infallible;
}

impl<const CHANNELS: usize> Read for SimKerongBoard<CHANNELS> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if self.line.is_empty() {
            // The driver's timeout expired; a late answer lands just after.
            if let Some((frame, len)) = self.late.take() {
                for &byte in frame.get(..len).unwrap_or(&[]) {
                    let _ = self.line.push_back(byte);
                }
            }
            return Ok(0);
        }
        let mut n = 0;
        for slot in buf.iter_mut() {
            let Some(byte) = self.line.pop_front() else {
                break;
            };
            *slot = byte;
            n += 1;
        }
        Ok(n)
    }
}

impl<const CHANNELS: usize> Write for SimKerongBoard<CHANNELS> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &byte in buf {
            self.receive(byte);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
