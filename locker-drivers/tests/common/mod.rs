//! A scripted serial port: the exact bytes the driver must write, the
//! canned bytes the board answers, checked to be fully consumed.

#![allow(dead_code, clippy::panic, clippy::indexing_slicing)]

use std::collections::VecDeque;

use embedded_io::{ErrorKind, ErrorType, Read, Write};

/// One step of a serial conversation.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// The driver must write exactly these bytes next.
    Expect(Vec<u8>),
    /// The board answers these bytes, handed out at most `chunk` at a time.
    Reply { bytes: Vec<u8>, chunk: usize },
    /// The next read fails with this error.
    Fail(ErrorKind),
    /// The next read returns nothing: the caller's timeout expires, and
    /// whatever the script holds next arrives after it.
    Silence,
}

/// The driver must write `bytes`.
pub(crate) fn expect(bytes: &[u8]) -> Step {
    Step::Expect(bytes.to_vec())
}

/// The board answers `bytes` in one piece.
pub(crate) fn reply(bytes: &[u8]) -> Step {
    Step::Reply {
        bytes: bytes.to_vec(),
        chunk: usize::MAX,
    }
}

/// The caller's next read times out with nothing.
pub(crate) fn silence() -> Step {
    Step::Silence
}

/// The board answers `bytes`, one byte per read (a slow UART).
pub(crate) fn reply_bytewise(bytes: &[u8]) -> Step {
    Step::Reply {
        bytes: bytes.to_vec(),
        chunk: 1,
    }
}

/// The Kerong checksum: the low byte of the sum of `bytes`.
pub(crate) fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

/// A KR-CU16 status response (`0x35`) from `addr` with its correct checksum.
pub(crate) fn status_frame(addr: u8, locks: u16, ir: u16) -> Vec<u8> {
    let [l1, l2] = locks.to_le_bytes();
    let [i1, i2] = ir.to_le_bytes();
    let mut f = vec![0x02, addr, 0x35, l1, l2, i1, i2, 0x03];
    f.push(sum(&f));
    f
}

#[derive(Debug)]
pub(crate) struct ScriptedSerial {
    script: VecDeque<Step>,
    written: Vec<u8>,
}

impl ScriptedSerial {
    pub(crate) fn new(script: &[Step]) -> Self {
        ScriptedSerial {
            script: script.iter().cloned().collect(),
            written: Vec::new(),
        }
    }

    /// The next step not yet played, if any.
    pub(crate) fn next_step(&self) -> Option<&Step> {
        self.script.front()
    }

    /// Asserts the whole script was played.
    pub(crate) fn done(&self) {
        assert!(
            self.written.is_empty(),
            "a partial write was left: {:02x?}",
            self.written
        );
        assert!(
            self.script.is_empty(),
            "script not finished: {:02x?}",
            self.script
        );
    }
}

impl ErrorType for ScriptedSerial {
    type Error = ErrorKind;
}

impl Write for ScriptedSerial {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.written.extend_from_slice(buf);
        let Some(Step::Expect(expected)) = self.script.front() else {
            panic!(
                "unexpected write {:02x?}; next step is {:02x?}",
                self.written,
                self.script.front()
            );
        };
        assert!(
            expected.starts_with(&self.written),
            "wrote {:02x?}, expected {:02x?}",
            self.written,
            expected
        );
        if self.written.len() == expected.len() {
            self.script.pop_front();
            self.written.clear();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl Read for ScriptedSerial {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        match self.script.front_mut() {
            Some(Step::Reply { bytes, chunk }) => {
                let n = buf.len().min(*chunk).min(bytes.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.drain(..n);
                if bytes.is_empty() {
                    self.script.pop_front();
                }
                Ok(n)
            }
            Some(Step::Silence) => {
                self.script.pop_front();
                Ok(0)
            }
            Some(Step::Fail(kind)) => {
                let kind = *kind;
                self.script.pop_front();
                Err(kind)
            }
            // Nothing more from the board: the caller's timeout expires.
            _ => Ok(0),
        }
    }
}

/// The same script behind `embedded-io-async`: each read and write completes
/// at once, as a port whose reads time out does (`Silence` reads nothing).
#[cfg(feature = "async")]
impl embedded_io_async::Write for ScriptedSerial {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        Write::write(self, buf)
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Write::flush(self)
    }
}

#[cfg(feature = "async")]
impl embedded_io_async::Read for ScriptedSerial {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        Read::read(self, buf)
    }
}
