//! Silent nodes and when to cut their power.
//!
//! A node whose firmware hung answers nothing, and nothing on the bus can
//! wake it: its power has to be cut. The gateway decides when (the shell
//! carries it out, [`GatewayOutput::PowerCycleNode`](super::GatewayOutput::PowerCycleNode)),
//! so the Linux gateway, a gateway on a microcontroller and the simulator
//! revive a node by one rule:
//!
//! - A node is **silent** from the moment the master loses it (it answered
//!   none of its retries), or from the moment it reports, for the whole
//!   node, that its hardware does not answer (a node-wide
//!   [`FaultCode::PresenceSensorFailed`]: a vendor board behind its adapter
//!   that stopped answering: `locker-drivers`' Kerong adapter reports it
//!   so, as its `BOARD_SILENT_FAULT`). Our own nodes raise that fault only
//!   for one channel.
//! - After [`POWER_CYCLE_AFTER`] of silence its power is cycled. The wait
//!   lets a node that only lost frames on a noisy bus answer again (the
//!   master tries a lost node every few seconds): cutting the power of a
//!   working node would throw away the door and presence events it still
//!   holds.
//! - While it stays silent, again every [`POWER_CYCLE_AGAIN`], at most
//!   [`POWER_CYCLE_ATTEMPTS`] times in all. A node that three power cycles
//!   did not bring back needs hands (staff were alerted when it went
//!   silent), and a relay switched forever wears out.
//! - The silence ends when the node answers again (or its hardware does),
//!   and the count starts again.

use heapless::Vec;
use locker_proto::NodeAddr;
use locker_proto::time::{Duration, Instant};

/// How long a node stays silent before its power is cycled.
pub const POWER_CYCLE_AFTER: Duration = Duration::from_secs(60);

/// How long after a power cycle that did not bring a node back it is cycled
/// again.
pub const POWER_CYCLE_AGAIN: Duration = Duration::from_mins(10);

/// Power cycles of one silence at most.
pub const POWER_CYCLE_ATTEMPTS: u8 = 3;

/// One silent node: when its next power cycle is due, and how many it had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Silent {
    node: NodeAddr,
    /// `None` once [`POWER_CYCLE_ATTEMPTS`] were spent.
    due: Option<Instant>,
    cycles: u8,
}

/// The silent nodes of a bus of up to `NODES` nodes.
#[derive(Clone, Debug)]
pub(crate) struct Revival<const NODES: usize> {
    silent: Vec<Silent, NODES>,
}

impl<const NODES: usize> Revival<NODES> {
    pub(crate) const fn new() -> Self {
        Revival { silent: Vec::new() }
    }

    /// `node` went silent at `now`; a node silent already keeps its count
    /// and its due time.
    pub(crate) fn silent(&mut self, node: NodeAddr, now: Instant) {
        if self.silent.iter().any(|s| s.node == node) {
            return;
        }
        // At most one entry per node, and the master has at most NODES
        // nodes; a full table would only mean no power cycle.
        let _ = self.silent.push(Silent {
            node,
            due: Some(now + POWER_CYCLE_AFTER),
            cycles: 0,
        });
    }

    /// `node` answers again: its silence is over.
    pub(crate) fn answers(&mut self, node: NodeAddr) {
        self.silent.retain(|s| s.node != node);
    }

    /// When the next power cycle is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.silent.iter().filter_map(|s| s.due).min()
    }

    /// A node whose power cycle is due at `now`, counted as cycled.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<NodeAddr> {
        let s = self
            .silent
            .iter_mut()
            .find(|s| s.due.is_some_and(|due| due <= now))?;
        s.cycles = s.cycles.saturating_add(1);
        s.due = (s.cycles < POWER_CYCLE_ATTEMPTS).then(|| now + POWER_CYCLE_AGAIN);
        Some(s.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeAddr = NodeAddr(1);
    const B: NodeAddr = NodeAddr(2);

    fn at(secs: u64) -> Instant {
        Instant::from_secs(secs)
    }

    #[test]
    fn a_hung_node_is_cycled_after_a_minute_then_every_ten_three_times_in_all() {
        let mut r = Revival::<4>::new();
        r.silent(A, at(100));
        assert_eq!(r.next_due(), Some(at(160)));
        assert_eq!(r.take_due(at(159)), None);
        assert_eq!(r.take_due(at(160)), Some(A));
        assert_eq!(r.take_due(at(160)), None);
        assert_eq!(r.next_due(), Some(at(760)));
        assert_eq!(r.take_due(at(760)), Some(A));
        assert_eq!(r.take_due(at(1_360)), Some(A));
        // Three spent: the node needs hands.
        assert_eq!(r.next_due(), None);
        assert_eq!(r.take_due(at(100_000)), None);
        // Silent again before it answered: nothing new.
        r.silent(A, at(100_000));
        assert_eq!(r.next_due(), None);
    }

    #[test]
    fn a_node_that_answers_again_is_left_alone_and_counts_afresh() {
        let mut r = Revival::<4>::new();
        r.silent(A, at(0));
        r.silent(B, at(30));
        // Lost frames on a noisy bus: back before its minute was up.
        r.answers(A);
        assert_eq!(r.take_due(at(60)), None);
        assert_eq!(r.take_due(at(90)), Some(B));
        r.answers(B);
        r.silent(B, at(5_000));
        assert_eq!(r.next_due(), Some(at(5_060)));
    }

    #[test]
    fn going_silent_twice_keeps_the_first_due_time() {
        let mut r = Revival::<4>::new();
        r.silent(A, at(0));
        r.silent(A, at(50));
        assert_eq!(r.next_due(), Some(at(60)));
    }
}
