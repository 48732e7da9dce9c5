//! The framing both Kerong boards share: `STX … ETX SUM`, where SUM is the
//! low byte of the sum of every byte before it.

use embedded_io::{ErrorKind, Read, Write};

#[cfg(feature = "async")]
pub(crate) mod asynch;

use super::KerongError;

/// The most stale bytes [`request`] discards before giving up: several of
/// the longest response (18 bytes), so a late answer or two and some noise
/// are swallowed, while a line that never falls quiet is reported.
pub(crate) const DRAIN_LIMIT: usize = 64;

/// Start of every frame.
pub(crate) const STX: u8 = 0x02;
/// End of every frame's body, before the checksum.
pub(crate) const ETX: u8 = 0x03;

/// The low byte of the sum of `bytes`.
pub(crate) fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

/// The longest request body: `STX ADDR LOCK CMD ETX` (CU48).
const MAX_BODY: usize = 5;

/// Sends one request: first discards whatever is waiting on the line, then
/// writes `body` and its checksum.
///
/// Kerong frames carry no sequence number, so a response that arrives after
/// its request timed out (or an answer the driver does not read, such as
/// some boards' reply to an unlock) would otherwise be read as the answer to
/// the next request, and every later read would be one request old.
pub(crate) fn request<S: Read + Write>(
    serial: &mut S,
    body: &[u8],
) -> Result<(), KerongError<S::Error>> {
    let mut drain = Drain::new();
    loop {
        let read = serial.read(&mut drain.scratch);
        if !drain.after_read(read)? {
            break;
        }
    }
    let mut out = Outgoing::new(body);
    while let Some(rest) = out.rest() {
        let n = serial.write(rest).map_err(KerongError::Serial)?;
        out.advance(n)?;
    }
    serial.flush().map_err(KerongError::Serial)
}

/// One request answered by a response that fills `response`: [`request`],
/// then [`receive`]. The response is not checked yet.
pub(crate) fn exchange<S: Read + Write>(
    serial: &mut S,
    body: &[u8],
    response: &mut [u8],
) -> Result<(), KerongError<S::Error>> {
    request(serial, body)?;
    receive(serial, response)
}

/// Fills `buf` with one response. A read of zero bytes means the caller's
/// timeout expired: the response is [`KerongError::Truncated`].
pub(crate) fn receive<S: Read>(
    serial: &mut S,
    buf: &mut [u8],
) -> Result<(), KerongError<S::Error>> {
    let mut incoming = Incoming::new(buf);
    while let Some(rest) = incoming.rest() {
        let n = serial.read(rest).map_err(KerongError::Serial)?;
        incoming.advance(n)?;
    }
    Ok(())
}

/// Clearing the line before a request: reads until the line is quiet (a
/// read of zero bytes, or one that times out), at most [`DRAIN_LIMIT`]
/// bytes. Costs one read timeout of the port when the line is already
/// quiet. The blocking and async transports feed it their reads.
pub(crate) struct Drain {
    /// Where the next read goes; its bytes are thrown away.
    pub(crate) scratch: [u8; 16],
    discarded: usize,
}

impl Drain {
    pub(crate) fn new() -> Self {
        Drain {
            scratch: [0; 16],
            discarded: 0,
        }
    }

    /// Takes one read's outcome: `true` to read again, `false` once quiet.
    pub(crate) fn after_read<E: embedded_io::Error>(
        &mut self,
        read: Result<usize, E>,
    ) -> Result<bool, KerongError<E>> {
        let n = match read {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::TimedOut => 0,
            Err(e) => return Err(KerongError::Serial(e)),
        };
        if n == 0 {
            return Ok(false);
        }
        self.discarded += n;
        if self.discarded > DRAIN_LIMIT {
            return Err(KerongError::LineBusy {
                discarded: self.discarded,
            });
        }
        Ok(true)
    }
}

/// A request on its way out: the body and its checksum, and how much of
/// them the port has taken.
pub(crate) struct Outgoing {
    bytes: [u8; MAX_BODY + 1],
    total: usize,
    written: usize,
}

impl Outgoing {
    /// `body` (everything up to and including ETX) with its checksum. A
    /// body longer than any Kerong request is cut (none is).
    pub(crate) fn new(body: &[u8]) -> Self {
        let mut bytes = [0u8; MAX_BODY + 1];
        let len = body.len().min(MAX_BODY);
        let (head, tail) = bytes.split_at_mut(len);
        head.copy_from_slice(body.get(..len).unwrap_or(&[]));
        if let Some(sum) = tail.first_mut() {
            *sum = checksum(head);
        }
        Outgoing {
            bytes,
            total: len + 1,
            written: 0,
        }
    }

    /// What is left to write, `None` once all is written.
    pub(crate) fn rest(&self) -> Option<&[u8]> {
        self.bytes
            .get(self.written..self.total)
            .filter(|rest| !rest.is_empty())
    }

    /// The port took `n` bytes. A port that takes none has stalled:
    /// embedded-io's `write_all` would panic there, and a misbehaving port
    /// must not take the gateway down.
    pub(crate) fn advance<E>(&mut self, n: usize) -> Result<(), KerongError<E>> {
        if n == 0 {
            return Err(KerongError::WriteStalled {
                written: self.written,
                total: self.total,
            });
        }
        self.written = self.written.saturating_add(n).min(self.total);
        Ok(())
    }
}

/// A response coming in: the caller's buffer and how much of it is filled.
pub(crate) struct Incoming<'a> {
    buf: &'a mut [u8],
    received: usize,
}

impl<'a> Incoming<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Incoming { buf, received: 0 }
    }

    /// The part of the buffer still to fill, `None` once full.
    pub(crate) fn rest(&mut self) -> Option<&mut [u8]> {
        self.buf
            .get_mut(self.received..)
            .filter(|rest| !rest.is_empty())
    }

    /// The port gave `n` bytes; none means the caller's timeout expired.
    pub(crate) fn advance<E>(&mut self, n: usize) -> Result<(), KerongError<E>> {
        if n == 0 {
            return Err(KerongError::Truncated {
                expected: self.buf.len(),
                received: self.received,
            });
        }
        self.received = self.received.saturating_add(n);
        Ok(())
    }
}

/// Checks a complete response: STX first, ETX before the checksum, the
/// checksum, then that the bytes after STX equal `header` (address and
/// command fields). `header_fields` names each header byte as an address
/// or a command, for the error.
///
/// The checksum is checked before the header so a corrupted frame is
/// reported as corrupted, and a clean frame from the wrong board as such.
pub(crate) fn check<E>(frame: &[u8], header: &[(u8, Field)]) -> Result<(), KerongError<E>> {
    let (Some(&first), Some((&sum, before_sum))) = (frame.first(), frame.split_last()) else {
        return Err(KerongError::Truncated {
            expected: header.len() + 3,
            received: frame.len(),
        });
    };
    if first != STX {
        return Err(KerongError::BadStart { received: first });
    }
    let end = before_sum.last().copied().unwrap_or(first);
    if end != ETX {
        return Err(KerongError::BadEnd { received: end });
    }
    let computed = checksum(before_sum);
    if computed != sum {
        return Err(KerongError::BadChecksum {
            computed,
            received: sum,
        });
    }
    for (&(expected, field), &received) in header.iter().zip(frame.iter().skip(1)) {
        if expected != received {
            return Err(match field {
                Field::Address => KerongError::WrongAddress { expected, received },
                Field::Command => KerongError::UnexpectedCommand { expected, received },
            });
        }
    }
    Ok(())
}

/// What a header byte of a response means, for error reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Address,
    Command,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_examples_have_the_documented_checksums() {
        assert_eq!(checksum(&[0x02, 0x00, 0x30, 0x03]), 0x35);
        assert_eq!(checksum(&[0x02, 0x01, 0x31, 0x03]), 0x37);
    }

    #[test]
    fn an_empty_frame_is_truncated_not_a_panic() {
        let r: Result<(), KerongError<()>> = check(&[], &[(0, Field::Address)]);
        assert!(matches!(r, Err(KerongError::Truncated { .. })));
        let r: Result<(), KerongError<()>> = check(&[0x02], &[(0, Field::Address)]);
        assert!(matches!(r, Err(KerongError::BadEnd { received: 0x02 })));
    }
}
