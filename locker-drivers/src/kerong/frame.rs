//! The framing both Kerong boards share: `STX … ETX SUM`, where SUM is the
//! low byte of the sum of every byte before it.

use embedded_io::{Error as _, ErrorKind, Read, Write};

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
    drain(serial)?;
    send(serial, body)
}

/// Reads until the line is quiet: a read of zero bytes, or a read that
/// times out, means nothing more is waiting. Costs one read timeout of the
/// port when the line is already quiet.
fn drain<S: Read>(serial: &mut S) -> Result<(), KerongError<S::Error>> {
    let mut scratch = [0u8; 16];
    let mut discarded = 0;
    loop {
        let n = match serial.read(&mut scratch) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::TimedOut => 0,
            Err(e) => return Err(KerongError::Serial(e)),
        };
        if n == 0 {
            return Ok(());
        }
        discarded += n;
        if discarded > DRAIN_LIMIT {
            return Err(KerongError::LineBusy { discarded });
        }
    }
}

/// Writes `body` (everything up to and including ETX) followed by its checksum.
fn send<S: Write>(serial: &mut S, body: &[u8]) -> Result<(), KerongError<S::Error>> {
    let sum = [checksum(body)];
    let total = body.len() + 1;
    let mut written = 0;
    for part in [body, &sum[..]] {
        let mut rest = part;
        while !rest.is_empty() {
            // embedded-io's write_all panics on a zero-length write; a
            // misbehaving port must not take the gateway down.
            let n = serial.write(rest).map_err(KerongError::Serial)?;
            if n == 0 {
                return Err(KerongError::WriteStalled { written, total });
            }
            written += n;
            rest = rest.get(n..).unwrap_or(&[]);
        }
    }
    serial.flush().map_err(KerongError::Serial)
}

/// Fills `buf` with one response. A read of zero bytes means the caller's
/// timeout expired: the response is [`KerongError::Truncated`].
pub(crate) fn receive<S: Read>(
    serial: &mut S,
    buf: &mut [u8],
) -> Result<(), KerongError<S::Error>> {
    let expected = buf.len();
    let mut received = 0;
    while received < expected {
        let Some(rest) = buf.get_mut(received..) else {
            break;
        };
        let n = serial.read(rest).map_err(KerongError::Serial)?;
        if n == 0 {
            return Err(KerongError::Truncated { expected, received });
        }
        received += n;
    }
    Ok(())
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
