//! Which nodes may take bank commands, and the commands waiting for them.
//!
//! A node's link layer knows a retransmission by its sequence number, and a
//! restarted gateway's sequence numbers start again at 0 (so do a
//! restarted node's expectations). The gateway therefore greets a node with
//! a ping before it sends it any bank command: after a gateway start, after
//! the node reports that it restarted, and when a lost node answers again.
//! The ping leaves a harmless command in the node's cache, so a fresh unlock
//! can never be taken for a repeat of an old one and go unexecuted.
//!
//! The greeting is also where the master and the node agree on a bus
//! protocol version (`spec/versioning.md` §4.1): a node whose answer lists
//! none of the versions the master speaks is refused, and takes no bank
//! command until a later greeting agrees on one.

use heapless::{Deque, Vec};
use locker_proto::{Command, NodeAddr};

/// Commands waiting for their node (one is in flight per node at a time).
pub const COMMAND_QUEUE: usize = 32;

/// The greeting state of each node and the commands waiting for them.
#[derive(Clone, Debug)]
pub(crate) struct Sessions<const NODES: usize> {
    /// Nodes that answered the greeting: bank commands may go to them.
    greeted: Vec<NodeAddr, NODES>,
    /// The bus version agreed with each node at its last greeting.
    versions: Vec<(NodeAddr, u8), NODES>,
    /// Nodes whose last greeting named no version the master speaks.
    refused: Vec<NodeAddr, NODES>,
    /// Nodes that need a greeting.
    to_greet: Vec<NodeAddr, NODES>,
    /// Commands in the order the bank or backend gave them.
    waiting: Deque<(NodeAddr, Command), COMMAND_QUEUE>,
}

impl<const NODES: usize> Sessions<NODES> {
    pub(crate) const fn new() -> Self {
        Sessions {
            greeted: Vec::new(),
            versions: Vec::new(),
            refused: Vec::new(),
            to_greet: Vec::new(),
            waiting: Deque::new(),
        }
    }

    /// `node` must be greeted before its next bank command.
    pub(crate) fn greet(&mut self, node: NodeAddr) {
        self.greeted.retain(|n| *n != node);
        if !self.to_greet.contains(&node) {
            // Cannot fail: at most one entry per node, and the master has at
            // most NODES nodes.
            let _ = self.to_greet.push(node);
        }
    }

    /// `node` answered its greeting.
    pub(crate) fn greeted(&mut self, node: NodeAddr) {
        self.to_greet.retain(|n| *n != node);
        if !self.greeted.contains(&node) {
            let _ = self.greeted.push(node);
        }
    }

    /// `node` answered its greeting and speaks bus version `version` with
    /// the master.
    pub(crate) fn agreed(&mut self, node: NodeAddr, version: u8) {
        self.greeted(node);
        self.refused.retain(|n| *n != node);
        self.versions.retain(|(n, _)| *n != node);
        // Cannot fail: at most one entry per node.
        let _ = self.versions.push((node, version));
    }

    /// The bus version agreed with `node`, once it answered a greeting
    /// with one the master speaks.
    pub(crate) fn version(&self, node: NodeAddr) -> Option<u8> {
        self.versions
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, v)| *v)
    }

    /// `node` answered its greeting with no version the master speaks: it
    /// takes no bank command (those waiting are handed to `failed`, as for
    /// a lost node) until a later greeting agrees on a version.
    pub(crate) fn refuse(&mut self, node: NodeAddr, failed: impl FnMut(Command)) {
        self.to_greet.retain(|n| *n != node);
        self.versions.retain(|(n, _)| *n != node);
        if !self.refused.contains(&node) {
            // Cannot fail: at most one entry per node.
            let _ = self.refused.push(node);
        }
        self.lost(node, failed);
    }

    /// Whether `node`'s last greeting named no version the master speaks.
    pub(crate) fn is_refused(&self, node: NodeAddr) -> bool {
        self.refused.contains(&node)
    }

    /// `node` stopped answering: greet it when it is back. The commands
    /// waiting for it are handed to `failed`, oldest first: by the time the
    /// node answers again nobody stands at its doors any more, and a queue
    /// full of its commands would hold up every other node.
    pub(crate) fn lost(&mut self, node: NodeAddr, mut failed: impl FnMut(Command)) {
        self.greeted.retain(|n| *n != node);
        for _ in 0..self.waiting.len() {
            let Some((n, command)) = self.waiting.pop_front() else {
                break;
            };
            if n == node {
                failed(command);
            } else {
                // Cannot fail: one was just taken out.
                let _ = self.waiting.push_back((n, command));
            }
        }
    }

    /// The nodes waiting for a greeting, in the order they were added.
    pub(crate) fn to_greet(&self) -> impl Iterator<Item = NodeAddr> + '_ {
        self.to_greet.iter().copied()
    }

    /// A greeting is on its way to `node`.
    pub(crate) fn greeting_sent(&mut self, node: NodeAddr) {
        self.to_greet.retain(|n| *n != node);
    }

    /// Whether bank commands may go to `node`.
    pub(crate) fn is_greeted(&self, node: NodeAddr) -> bool {
        self.greeted.contains(&node)
    }

    /// Whether a command can be queued.
    pub(crate) fn has_room(&self) -> bool {
        !self.waiting.is_full()
    }

    /// Queues `command` for `node`.
    ///
    /// # Errors
    /// The command back, when [`COMMAND_QUEUE`] commands already wait.
    pub(crate) fn queue(
        &mut self,
        node: NodeAddr,
        command: Command,
    ) -> Result<(), (NodeAddr, Command)> {
        self.waiting.push_back((node, command))
    }

    /// Whether nothing waits: no greeting, no command.
    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.to_greet.is_empty()
    }

    /// Commands waiting.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Hands waiting commands to `send`, oldest first, keeping each node's
    /// order: once one command for a node must wait (the node is not
    /// greeted, or `send` refuses because it is busy), the later ones for
    /// that node wait behind it. `send` returns whether it took the command.
    pub(crate) fn dispatch(&mut self, mut send: impl FnMut(NodeAddr, Command) -> bool) {
        let mut blocked: Vec<NodeAddr, NODES> = Vec::new();
        for _ in 0..self.waiting.len() {
            let Some((node, command)) = self.waiting.pop_front() else {
                break;
            };
            let ready = !blocked.contains(&node) && self.greeted.contains(&node);
            if ready && send(node, command) {
                continue;
            }
            if !blocked.contains(&node) {
                let _ = blocked.push(node);
            }
            // Cannot fail: one was just taken out.
            let _ = self.waiting.push_back((node, command));
        }
    }
}

/// A small count per node (retries of something), saturating.
#[derive(Clone, Debug)]
pub(crate) struct Retries<const NODES: usize>(Vec<(NodeAddr, u8), NODES>);

impl<const NODES: usize> Retries<NODES> {
    pub(crate) const fn new() -> Self {
        Retries(Vec::new())
    }

    /// The count for `node` (0 if never counted).
    pub(crate) fn get(&self, node: NodeAddr) -> u8 {
        self.0
            .iter()
            .find(|(n, _)| *n == node)
            .map_or(0, |(_, c)| *c)
    }

    /// One more for `node`.
    pub(crate) fn count(&mut self, node: NodeAddr) {
        match self.0.iter_mut().find(|(n, _)| *n == node) {
            Some((_, c)) => *c = c.saturating_add(1),
            // At most one entry per node of the bus; a full table counts
            // nothing, so the caller falls back to reporting the failure.
            None => {
                let _ = self.0.push((node, 1));
            }
        }
    }

    /// Back to 0 for `node`.
    pub(crate) fn clear(&mut self, node: NodeAddr) {
        self.0.retain(|(n, _)| *n != node);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use locker_proto::Channel;

    const A: NodeAddr = NodeAddr(1);
    const B: NodeAddr = NodeAddr(2);

    fn unlock(ch: u8) -> Command {
        Command::Unlock {
            channel: Channel(ch),
            pulse_ms: 300,
        }
    }

    #[test]
    fn commands_wait_for_the_greeting_and_keep_their_order_per_node() {
        let mut s = Sessions::<4>::new();
        s.greet(A);
        s.greet(B);
        s.queue(A, unlock(0)).unwrap();
        s.queue(B, unlock(1)).unwrap();
        s.queue(A, unlock(2)).unwrap();
        let mut sent = std::vec::Vec::new();
        s.dispatch(|n, c| {
            sent.push((n, c));
            true
        });
        assert!(sent.is_empty(), "nothing goes to a node not yet greeted");
        s.greeted(B);
        s.dispatch(|n, c| {
            sent.push((n, c));
            true
        });
        assert_eq!(sent, [(B, unlock(1))]);
        s.greeted(A);
        // A busy node takes its first command later; the second waits behind it.
        s.dispatch(|_, _| false);
        s.dispatch(|n, c| {
            sent.push((n, c));
            true
        });
        assert_eq!(sent, [(B, unlock(1)), (A, unlock(0)), (A, unlock(2))]);
        assert!(s.is_idle());
    }

    #[test]
    fn a_lost_node_is_greeted_again_before_its_next_command() {
        let mut s = Sessions::<4>::new();
        s.greeted(A);
        s.queue(A, unlock(0)).unwrap();
        s.queue(B, unlock(1)).unwrap();
        let mut failed = std::vec::Vec::new();
        s.lost(A, |c| failed.push(c));
        assert_eq!(
            failed,
            [unlock(0)],
            "the lost node's command is handed back"
        );
        assert_eq!(s.waiting(), 1, "the other node's command still waits");
        assert!(!s.is_greeted(A));
        s.greet(A);
        assert_eq!(s.to_greet().collect::<std::vec::Vec<_>>(), [A]);
        s.greeting_sent(A);
        s.greeted(A);
        assert!(s.is_greeted(A));
    }
}
