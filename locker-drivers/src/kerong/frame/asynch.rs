//! The same exchange as [`request`](super::request),
//! [`exchange`](super::exchange) and [`receive`](super::receive), over an `embedded-io-async` port: the
//! draining, stall and truncation rules are [`Drain`], [`Outgoing`] and
//! [`Incoming`], shared; only the reads and writes are awaited.

use embedded_io_async::{Read, Write};

use super::{Drain, Incoming, Outgoing};
use crate::kerong::KerongError;

/// As the blocking [`request`](super::request).
pub(crate) async fn request<S: Read + Write>(
    serial: &mut S,
    body: &[u8],
) -> Result<(), KerongError<S::Error>> {
    let mut drain = Drain::new();
    loop {
        let read = serial.read(&mut drain.scratch).await;
        if !drain.after_read(read)? {
            break;
        }
    }
    let mut out = Outgoing::new(body);
    while let Some(rest) = out.rest() {
        let n = serial.write(rest).await.map_err(KerongError::Serial)?;
        out.advance(n)?;
    }
    serial.flush().await.map_err(KerongError::Serial)
}

/// As the blocking [`exchange`](super::exchange).
pub(crate) async fn exchange<S: Read + Write>(
    serial: &mut S,
    body: &[u8],
    response: &mut [u8],
) -> Result<(), KerongError<S::Error>> {
    request(serial, body).await?;
    receive(serial, response).await
}

/// As the blocking [`receive`](super::receive).
pub(crate) async fn receive<S: Read>(
    serial: &mut S,
    buf: &mut [u8],
) -> Result<(), KerongError<S::Error>> {
    let mut incoming = Incoming::new(buf);
    while let Some(rest) = incoming.rest() {
        let n = serial.read(rest).await.map_err(KerongError::Serial)?;
        incoming.advance(n)?;
    }
    Ok(())
}
