//! The link layer, sans-IO: [`Master`] on the gateway, [`NodeLink`] on a node.
//!
//! The gateway is bus master. It sends one command at a time on the
//! half-duplex bus and waits for the answer or a timeout; a node speaks only
//! when spoken to. Three promises hold across lost, corrupted and repeated
//! frames:
//!
//! 1. **A command is executed at most once.** A retransmission carries the
//!    same [`Seq`](crate::Seq); the node answers it from its cached response
//!    without handing it to the application again, so an unlock pulses the lock
//!    exactly once however often the answer is lost.
//! 2. **No event is lost.** A node keeps each event, with its own
//!    [`EventSeq`](crate::EventSeq), in a bounded queue until the gateway
//!    acknowledges it. A lost or corrupted poll response is simply polled again.
//!    A full queue drops the newest event and counts it; the count travels in
//!    every [`Report::Events`](crate::Report::Events), so overflow is never silent.
//! 3. **No event is delivered twice.** The master remembers the last event it
//!    delivered per node and filters repeats that follow a lost acknowledgement.
//!    It delivers events only in the node's order and acknowledges only
//!    what it delivered, and (feature `auth`) from a keyed node it believes
//!    only answers tagged for the request they answer (see
//!    [`auth`](crate::auth), *Answers*).
//!
//! Neither side reads a clock or touches a UART: feed received frames in with
//! `handle_frame`, call `handle_timeout` when `poll_timeout` says, and send
//! what `poll_transmit` yields.

mod master;
mod node;
mod outgoing;

pub use master::{LinkError, LinkStats, Master, MasterConfig, MasterEvent};
pub use node::{NodeLink, QueueFull};
pub use outgoing::Outgoing;

/// Whether `covered` (the bytes a tag covers) are exactly `frame`'s header
/// and body: the frame acted upon is the frame whose tag was checked.
#[cfg(feature = "auth")]
fn covers<B>(covered: &[u8], frame: &crate::frame::Frame<B>) -> bool
where
    B: crate::frame::Body + PartialEq,
{
    use crate::frame::{Flags, HEADER_LEN, VERSION};
    let Some((header, body)) = covered.split_at_checked(HEADER_LEN) else {
        return false;
    };
    let h = frame.header;
    let ours = [
        (VERSION << 4) | h.flags.with(Flags::AUTHENTICATED).bits(),
        h.src.0,
        h.dst.0,
        h.seq.0,
    ];
    header == ours && B::read_body(body).is_some_and(|b| b == frame.body)
}

/// The bytes a tag covers for `frame` sent authenticated: its header (with
/// [`Flags::AUTHENTICATED`](crate::frame::Flags::AUTHENTICATED)) and its
/// body, written into `buf`.
#[cfg(feature = "auth")]
fn covered_bytes<'b, B: crate::frame::Body>(
    frame: &crate::frame::Frame<B>,
    buf: &'b mut [u8],
) -> Option<&'b [u8]> {
    use crate::frame::{Flags, HEADER_LEN, VERSION};
    let h = frame.header;
    let (head, rest) = buf.split_at_mut_checked(HEADER_LEN)?;
    head.copy_from_slice(&[
        (VERSION << 4) | h.flags.with(Flags::AUTHENTICATED).bits(),
        h.src.0,
        h.dst.0,
        h.seq.0,
    ]);
    let body = frame.body.write_body(rest)?;
    buf.get(..HEADER_LEN.checked_add(body)?)
}
