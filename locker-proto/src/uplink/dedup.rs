//! Receiver-side de-duplication by message id.

use serde::{Deserialize, Serialize};

use super::envelope::MessageId;

/// How many ids below the highest one a [`DedupWindow`] remembers.
pub const DEDUP_WINDOW: u64 = 128;

/// What a receiver should do with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Never seen: carry it out (and acknowledge it).
    New,
    /// Seen before: do not carry it out again, but acknowledge it again
    /// (the sender evidently missed the first acknowledgement).
    Duplicate,
    /// Older than the window remembers. Senders deliver in order and ids
    /// only grow, so such a message was carried out long ago: treat it as a
    /// duplicate.
    TooOld,
    /// Further ahead than one message may move the window: more than
    /// [`DEDUP_WINDOW`] ids past the highest within the same epoch, or not
    /// among the first [`DEDUP_WINDOW`] ids of a later epoch. Not carried
    /// out and not remembered; the sender should start a new epoch (its
    /// first ids are always accepted). A sender that numbers its messages
    /// to this receiver without gaps (acknowledgements included) never sees
    /// it unless more than a window's worth of its messages was lost.
    TooFar,
}

impl Verdict {
    /// Whether to carry the message out.
    pub const fn is_new(self) -> bool {
        matches!(self, Verdict::New)
    }
}

/// The ids one sender's messages carried, as far as they matter: the
/// highest, and which of the [`DEDUP_WINDOW`] ids below it were seen. 24
/// bytes; persist it with the receiver's state so a restart does not carry
/// out a redelivered message twice.
///
/// Both ends use one per peer: the gateway for the backend's messages, the
/// backend for each gateway's messages. Ids below the window are
/// [`Verdict::TooOld`]; a sender's new epoch moves the window past every id
/// of the old one.
///
/// One message moves the window by at most its size: within an epoch an id
/// may run at most [`DEDUP_WINDOW`] ahead of the highest, and a later epoch
/// is entered only through its first [`DEDUP_WINDOW`] ids; anything further
/// is [`Verdict::TooFar`] and leaves the window as it was. So no single
/// message, however large its id, can make every later id of its sender
/// [`Verdict::TooOld`]: a sender pushed aside goes on with a new epoch.
/// (The gateway also lets only authenticated messages near its window.)
///
/// ```
/// use locker_proto::uplink::{DedupWindow, MessageId, Verdict};
/// let mut seen = DedupWindow::new();
/// assert_eq!(seen.accept(MessageId(10)), Verdict::New);
/// assert_eq!(seen.accept(MessageId(12)), Verdict::New);
/// assert_eq!(seen.accept(MessageId(11)), Verdict::New); // late, but never seen
/// assert_eq!(seen.accept(MessageId(12)), Verdict::Duplicate);
/// assert_eq!(seen.accept(MessageId(140)), Verdict::New);
/// assert_eq!(seen.accept(MessageId(11)), Verdict::TooOld);
/// // A huge id does not move the window: the sender's next ids still count.
/// assert_eq!(seen.accept(MessageId(u64::MAX)), Verdict::TooFar);
/// assert_eq!(seen.accept(MessageId(141)), Verdict::New);
/// // A new epoch is entered at its start.
/// assert_eq!(seen.accept(MessageId::first_of_epoch(9)), Verdict::New);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DedupWindow {
    highest: Option<MessageId>,
    /// Bit `i` of `seen[i / 64]`: id `highest - i` was seen.
    seen: [u64; 2],
}

impl DedupWindow {
    /// A window that has seen nothing.
    pub const fn new() -> Self {
        DedupWindow {
            highest: None,
            seen: [0; 2],
        }
    }

    /// The highest id carried out.
    pub const fn highest(&self) -> Option<MessageId> {
        self.highest
    }

    /// What [`accept`](Self::accept) would say, without remembering `id`.
    pub fn check(&self, id: MessageId) -> Verdict {
        let Some(highest) = self.highest else {
            return Verdict::New;
        };
        if id > highest {
            let reachable = if id.epoch() == highest.epoch() {
                id.0 - highest.0 <= DEDUP_WINDOW
            } else {
                u64::from(id.counter()) < DEDUP_WINDOW
            };
            return if reachable {
                Verdict::New
            } else {
                Verdict::TooFar
            };
        }
        let back = highest.0 - id.0;
        if back >= DEDUP_WINDOW {
            Verdict::TooOld
        } else if self.bit(back) {
            Verdict::Duplicate
        } else {
            Verdict::New
        }
    }

    /// Whether to carry out the message with `id`; remembers it if so.
    pub fn accept(&mut self, id: MessageId) -> Verdict {
        let verdict = self.check(id);
        if verdict.is_new() {
            match self.highest {
                Some(highest) if id <= highest => self.set(highest.0 - id.0),
                Some(highest) => {
                    self.shift(id.0 - highest.0);
                    self.highest = Some(id);
                    self.set(0);
                }
                None => {
                    self.highest = Some(id);
                    self.seen = [1, 0];
                }
            }
        }
        verdict
    }

    fn bit(&self, back: u64) -> bool {
        let (word, bit) = ((back / 64) as usize, back % 64);
        self.seen.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn set(&mut self, back: u64) {
        let (word, bit) = ((back / 64) as usize, back % 64);
        if let Some(w) = self.seen.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    /// Moves the window up by `by` ids.
    fn shift(&mut self, by: u64) {
        let [lo, hi] = self.seen;
        let both = (u128::from(hi) << 64) | u128::from(lo);
        let moved = if by >= 128 { 0 } else { both << by };
        self.seen = [moved as u64, (moved >> 64) as u64];
    }
}
