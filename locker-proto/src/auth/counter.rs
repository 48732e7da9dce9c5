//! Freshness counters that survive power loss, sans-IO.
//!
//! Every authenticated frame carries a counter value its sender never used
//! before and its receiver never accepted before. Both ends keep their
//! counter in RAM and persist, through the glue, a *reservation*: a value
//! the counter will not reach before the next write. After a restart the
//! counter resumes at the stored reservation, so a value is never reused
//! even if power fails right after it was used, at the price of skipping
//! what was left of the block. The glue writes once per half block, not once
//! per frame: flash endures it.
//!
//! The sans-IO contract, the same for [`TxCounter`] and [`RxWindow`]:
//!
//! 1. at boot, `resume(stored)` with the last value the glue stored (0 for
//!    a node never used);
//! 2. whenever `poll_persist()` returns `Some(up_to)`, store `up_to` durably
//!    (before sending or acting on anything else), then call
//!    `persisted(up_to)`;
//! 3. a value at or above the last *confirmed* reservation is never used
//!    (sent, or acted upon): the counter waits for the write instead.

use crate::frame::{AuthTrailer, FRESHNESS_LEN};

use super::mac::{Direction, freshness_value, verify};
use crate::key::NodeKey;

/// Counter values reserved per write. A restart skips at most this many
/// values; a node that restarted is at most this far ahead of its gateway,
/// well inside [`ACCEPT_WINDOW`], so one authenticated refusal resynchronises
/// them. At one write per half block, a node that accepts a thousand
/// authenticated commands a day writes twice a day.
pub const RESERVATION_BLOCK: u64 = 1024;

/// How many counter values the freshness bits can tell apart.
const SPAN: u64 = 1 << (8 * FRESHNESS_LEN);

/// How far ahead of the receiver's floor a frame's counter may be: half the
/// span of the freshness bits. The bits of a frame at most this far ahead
/// name exactly one counter value ahead; any other bits name the one value
/// behind the floor that has them, which is stale.
pub const ACCEPT_WINDOW: u64 = SPAN / 2;

/// A sender's counter (the gateway's, one per node).
///
/// ```
/// use locker_proto::auth::TxCounter;
///
/// let mut counter = TxCounter::resume(0);
/// assert_eq!(counter.take(), None); // nothing reserved yet
/// let up_to = counter.poll_persist().unwrap();
/// // ... the glue writes `up_to` to its store ...
/// counter.persisted(up_to);
/// assert_eq!(counter.take(), Some(0));
/// assert_eq!(counter.take(), Some(1));
///
/// // Power fails. Whatever was sent, the counter resumes past the block.
/// let stored = up_to;
/// let mut counter = TxCounter::resume(stored);
/// let up_to = counter.poll_persist().unwrap();
/// counter.persisted(up_to);
/// assert_eq!(counter.take(), Some(stored));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TxCounter {
    next: u64,
    durable: u64,
    requested: Option<u64>,
    block: u64,
}

impl TxCounter {
    /// A counter resuming after the value last stored (0 if none ever was).
    pub const fn resume(stored: u64) -> Self {
        TxCounter {
            next: stored,
            durable: stored,
            requested: None,
            block: RESERVATION_BLOCK,
        }
    }

    /// The same counter reserving `block` values per write instead of
    /// [`RESERVATION_BLOCK`] (at least 2).
    #[must_use]
    pub const fn with_block(mut self, block: u64) -> Self {
        self.block = if block < 2 { 2 } else { block };
        self
    }

    /// The value the next [`take`](Self::take) returns.
    pub const fn next(&self) -> u64 {
        self.next
    }

    /// The next value to send, if it is below the confirmed reservation;
    /// `None` while the glue has not confirmed one (see
    /// [`poll_persist`](Self::poll_persist)).
    pub fn take(&mut self) -> Option<u64> {
        if self.next >= self.durable {
            return None;
        }
        let value = self.next;
        self.next += 1;
        Some(value)
    }

    /// Moves the counter up to `floor` (what the receiver accepts next).
    /// Never moves it down: a used value is never used again.
    pub fn advance_to(&mut self, floor: u64) {
        self.next = self.next.max(floor);
    }

    /// A reservation to store, when less than half a block is left: store
    /// the value, then call [`persisted`](Self::persisted). Returns each
    /// request once; if the write fails, retry it with the value you hold.
    pub fn poll_persist(&mut self) -> Option<u64> {
        wanted(
            &mut self.requested,
            self.next,
            self.durable,
            self.next,
            self.block,
        )
    }

    /// The glue stored `up_to`: values below it may be used.
    pub fn persisted(&mut self, up_to: u64) {
        confirm(&mut self.requested, &mut self.durable, up_to);
    }
}

/// What the receiver makes of an authenticated frame, from [`RxWindow::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// The tag is valid for this counter, which is fresh: accept it with
    /// [`RxWindow::accept`] and act on the frame.
    Fresh(u64),
    /// Valid and fresh, but at or above the stored reservation: acting on
    /// it now could let a restart accept it again. Drop the frame without an
    /// answer; [`RxWindow::poll_persist`] asks for the write, and the
    /// sender's retransmission (same counter) is accepted after it.
    Unreserved(u64),
    /// The tag is valid for this counter, which is at or below the last one
    /// accepted: a replay, a reordered or late frame, or a sender that fell
    /// behind.
    Stale(u64),
    /// The tag is not valid: forged, corrupted, wrong key, or a frame more
    /// than [`ACCEPT_WINDOW`] away from the floor.
    Forged,
}

/// A receiver's floor (the node's, for commands from its gateway): the
/// lowest counter value it accepts next, and the reservation that makes
/// that floor survive a restart.
///
/// ```
/// use locker_proto::auth::{trailer, Direction, RxWindow, Verdict};
/// use locker_proto::NodeKey;
///
/// let key = NodeKey::from_bytes([9; 32]);
/// let mut rx = RxWindow::resume(0);
/// let up_to = rx.poll_persist().unwrap();
/// rx.persisted(up_to);
///
/// let frame = b"header+body";
/// let t = trailer(&key, frame, 5, Direction::ToNode);
/// assert_eq!(rx.check(&key, frame, &t, Direction::ToNode), Verdict::Fresh(5));
/// rx.accept(5);
/// // The same frame again is a replay.
/// assert_eq!(rx.check(&key, frame, &t, Direction::ToNode), Verdict::Stale(5));
/// assert_eq!(rx.floor(), 6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RxWindow {
    floor: u64,
    durable: u64,
    requested: Option<u64>,
    /// A valid frame came with a counter at or above the reservation.
    wanted: u64,
    block: u64,
}

impl RxWindow {
    /// A window resuming after the value last stored (0 if none ever was):
    /// every counter below it is refused.
    pub const fn resume(stored: u64) -> Self {
        RxWindow {
            floor: stored,
            durable: stored,
            requested: None,
            wanted: stored,
            block: RESERVATION_BLOCK,
        }
    }

    /// The same window reserving `block` values per write (at least 2).
    #[must_use]
    pub const fn with_block(mut self, block: u64) -> Self {
        self.block = if block < 2 { 2 } else { block };
        self
    }

    /// The lowest counter value accepted next.
    pub const fn floor(&self) -> u64 {
        self.floor
    }

    /// The full counter value the freshness bits stand for: the one at most
    /// [`ACCEPT_WINDOW`] − 1 above the floor, else the one below the floor.
    /// `Err` with the value below when it is stale; `None` when no counter
    /// value has those bits (below zero).
    fn reconstruct(&self, freshness: [u8; FRESHNESS_LEN]) -> Option<Result<u64, u64>> {
        let bits = freshness_value(freshness);
        let ahead = bits.wrapping_sub(self.floor) % SPAN;
        if ahead < ACCEPT_WINDOW {
            self.floor.checked_add(ahead).map(Ok)
        } else {
            self.floor
                .checked_add(ahead)
                .and_then(|c| c.checked_sub(SPAN))
                .map(Err)
        }
    }

    /// Checks a frame's trailer: reconstructs the full counter from the
    /// freshness bits and verifies the tag with it, one HMAC per frame
    /// whatever the input. Changes nothing but the wish for a reservation
    /// ([`Verdict::Unreserved`]).
    pub fn check(
        &mut self,
        key: &NodeKey,
        covered: &[u8],
        trailer: &AuthTrailer,
        direction: Direction,
    ) -> Verdict {
        let (counter, fresh) = match self.reconstruct(trailer.freshness) {
            Some(Ok(counter)) => (counter, true),
            Some(Err(counter)) => (counter, false),
            None => return Verdict::Forged,
        };
        if !verify(key, covered, counter, direction, &trailer.tag) {
            Verdict::Forged
        } else if !fresh {
            Verdict::Stale(counter)
        } else if counter >= self.durable {
            self.wanted = self.wanted.max(counter.saturating_add(1));
            Verdict::Unreserved(counter)
        } else {
            Verdict::Fresh(counter)
        }
    }

    /// Accepts `counter` (a [`Verdict::Fresh`] one): the floor moves past it.
    /// Never moves the floor down.
    pub fn accept(&mut self, counter: u64) {
        self.floor = self.floor.max(counter.saturating_add(1));
    }

    /// A reservation to store: when less than half a block is left above
    /// the floor, or a valid frame came from beyond the reservation. Store
    /// the value, then call [`persisted`](Self::persisted).
    pub fn poll_persist(&mut self) -> Option<u64> {
        let from = self.floor.max(self.wanted);
        wanted(
            &mut self.requested,
            self.floor,
            self.durable,
            from,
            self.block,
        )
        .or_else(|| {
            // A jump beyond what is being written: ask for more.
            (self.wanted > self.durable && self.requested.is_some_and(|r| r < self.wanted)).then(
                || {
                    let up_to = self.wanted.saturating_add(self.block);
                    self.requested = Some(up_to);
                    up_to
                },
            )
        })
    }

    /// The highest reservation asked for or confirmed: what to store when
    /// the record is written for another reason.
    pub(crate) fn reservation(&self) -> u64 {
        self.requested.unwrap_or(self.durable).max(self.durable)
    }

    /// The glue stored `up_to`: after a restart the floor resumes there.
    pub fn persisted(&mut self, up_to: u64) {
        confirm(&mut self.requested, &mut self.durable, up_to);
    }
}

/// A reservation is wanted when at most half a block is left between `at`
/// and `durable`, or more is wanted (`from` beyond it), and none is pending.
fn wanted(
    requested: &mut Option<u64>,
    at: u64,
    durable: u64,
    from: u64,
    block: u64,
) -> Option<u64> {
    if requested.is_some() {
        return None;
    }
    let low = durable.saturating_sub(at) <= block / 2;
    if !low && from < durable {
        return None;
    }
    let up_to = from.max(at).saturating_add(block);
    *requested = Some(up_to);
    Some(up_to)
}

fn confirm(requested: &mut Option<u64>, durable: &mut u64, up_to: u64) {
    *durable = (*durable).max(up_to);
    if requested.is_some_and(|r| r <= up_to) {
        *requested = None;
    }
}
