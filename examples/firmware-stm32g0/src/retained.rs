//! What a warm reset does not clear: a record of the node's event queue
//! (`locker_proto::HeldEvents`) and, when the node reset itself on the
//! gateway's command, which reboot it was.
//!
//! The record lives where the board says (`crate::board::retained_record`): RAM
//! that the start-up code neither loads nor zeroes, so a watchdog reset, a
//! `Reboot` command or the reset pin leave it as the last life wrote it. At
//! power-on that RAM holds whatever it powered up with; a check word tells
//! a record from that. The next life's start
//! event carries the record (`Node::after_reset`), and the gateway learns
//! exactly how many events the reset lost (bus spec §6.5).
//!
//! Three words, written every pass of the main loop (a few stores; the
//! queue changes with any frame or input). A reset in the middle of a write
//! leaves a record whose check fails: it is reported as "no record", never
//! as a wrong one.

use locker_proto::{EventSeq, HeldEvents, RebootKind, ResetReason};

use crate::board::retained_record;

/// Mixed into the check so that RAM of all zeros or all ones is no record.
const MAGIC: u32 = 0x4c4b_5251;

/// The check word: power-on noise matches it once in 2^32, and RAM of all
/// zeros or all ones never. (Not a defence against anyone: whoever can
/// write this RAM runs code on the node.)
fn check(queue: u32, rest: u32) -> u32 {
    queue ^ rest.rotate_left(7) ^ MAGIC
}

/// What the last life left: its queue's record and, if it rebooted on
/// command, the reason to report. `(None, None)` after a power-on.
pub fn take() -> (Option<HeldEvents>, Option<ResetReason>) {
    // SAFETY: `retained_record()` is three aligned words of RAM that only this
    // module touches, from the one thread of the main loop, and that the
    // start-up code leaves alone: every word holds some bit pattern (the
    // last life's, or power-on noise), every bit pattern is a `u32`, and
    // the check decides which it is.
    let [queue, rest, sum] = unsafe { retained_record().read_volatile() };
    if sum != check(queue, rest) {
        return (None, None);
    }
    let held = HeldEvents {
        first: EventSeq(queue as u16),
        next: EventSeq((queue >> 16) as u16),
        dropped: rest as u16,
    };
    let reason = match rest >> 16 {
        1 => Some(ResetReason::SoftReboot),
        2 => Some(ResetReason::HardReboot),
        _ => None,
    };
    (Some(held), reason)
}

/// Records what the queue holds now (every pass, with `None`) and, just
/// before the node reboots on command, the reboot's kind: the next life
/// reports it as its reset reason.
pub fn keep(held: HeldEvents, rebooting: Option<RebootKind>) {
    let reason = match rebooting {
        None => 0,
        Some(RebootKind::Soft) => 1,
        Some(RebootKind::Hard) => 2,
    };
    let queue = u32::from(held.first.0) | u32::from(held.next.0) << 16;
    let rest = u32::from(held.dropped) | reason << 16;
    // SAFETY: as in `take`; a plain volatile store of three words.
    unsafe { retained_record().write_volatile([queue, rest, check(queue, rest)]) };
}
