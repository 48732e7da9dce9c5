//! The node side of a simulated bank: our own node firmware ([`SimNode`]s)
//! or Kerong KR-CU16 lock boards behind the library's adapter
//! ([`KerongSide`]), chosen by [`Board`]. [`SimBank`](super::SimBank) talks
//! to either through [`NodeSide`] and cannot tell them apart otherwise, as
//! the gateway cannot.

use locker_drivers::kerong::{BoardLine, BoardModel, BoardNode, BoardNodeConfig, Cu16Address};
use locker_drivers::sim::{SimCompartment, SimCu16, SimRs485};
use locker_proto::NodeAddr;
use locker_proto::auth::NodeAuthRecord;
use locker_proto::time::{Duration, Instant};
use locker_proto::{DoorState, NodeKey, ResetReason};
use rand_core::RngCore;
use serde::Serialize;

use super::locker::NODES_PER_BANK;
use super::node::{CHANNELS, LOAD_CELL_NOISE, SimNode};
use super::rng::Dice;

/// Which hardware stands on the bank's bus as its nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Board {
    /// Our node firmware (`locker_domain::node::Node`) on every node.
    #[default]
    Ours,
    /// One simulated Kerong KR-CU16 per node (DIP address = node − 1),
    /// driven through the library's `BoardLine` adapter. The boards have an
    /// IR beam per channel instead of a load cell, so the simulated world
    /// reads "occupied" as "holds anything" and no load cell drifts.
    KerongCu16,
}

impl Board {
    /// The name on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Board::Ours => "ours",
            Board::KerongCu16 => "kerong_cu16",
        }
    }
}

/// Events each Kerong adapter keeps until the gateway acknowledges them
/// (as many as our nodes keep).
const KERONG_QUEUE: usize = super::node::NODE_QUEUE;

/// The simulated RS-485 line behind the adapters: one board per possible node.
type KerongPort = SimRs485<SimCu16, NODES_PER_BANK>;

/// The nodes of one bank, whichever hardware they are.
#[derive(Debug)]
pub enum NodeSide {
    /// Our node firmware, in address order (node `k` has address `k + 1`).
    Ours(Vec<SimNode>),
    /// Kerong boards behind the library's adapter.
    Kerong(Box<KerongSide>),
}

impl NodeSide {
    /// `board` nodes for `chunks` compartments per node, node `k` at
    /// address `k + 1` with `keys[k]`, switched on at `now`; every
    /// compartment's door releases for `release` after an unlock. Our
    /// nodes' load cells read with [`LOAD_CELL_NOISE`], each cell's noise
    /// seeded from `cell_seeds` (a stream of the bank's own, so no two
    /// cells of a site share their noise).
    ///
    /// # Errors
    ///
    /// A message if a node could not be built (a bug).
    pub fn new(
        board: Board,
        chunks: &[usize],
        keys: &[NodeKey],
        release: Duration,
        mut cell_seeds: Dice,
        now: Instant,
    ) -> Result<Self, String> {
        let compartments = |n: usize| {
            (0..n)
                .map(|_| {
                    let mut c = SimCompartment::new(now);
                    c.set_release_window(release);
                    c
                })
                .collect::<Vec<_>>()
        };
        match board {
            Board::Ours => {
                let mut nodes = Vec::new();
                for (k, (&n, &key)) in chunks.iter().zip(keys).enumerate() {
                    let addr = NodeAddr(k as u8 + 1);
                    let mut cells = compartments(n);
                    for c in &mut cells {
                        c.set_presence_noise(LOAD_CELL_NOISE, cell_seeds.next_u64());
                    }
                    nodes.push(SimNode::new(addr, cells, key, now).map_err(|e| e.to_string())?);
                }
                Ok(NodeSide::Ours(nodes))
            }
            Board::KerongCu16 => Ok(NodeSide::Kerong(Box::new(KerongSide::new(
                chunks, keys, release, now,
            )?))),
        }
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        match self {
            NodeSide::Ours(nodes) => nodes.len(),
            NodeSide::Kerong(k) => k.counts.len(),
        }
    }

    /// Whether there are no nodes (never: a bank has at least one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The physical compartment of `slot`.
    pub fn compartment(&self, slot: usize) -> Option<&SimCompartment> {
        let (k, ch) = (slot / CHANNELS, slot % CHANNELS);
        match self {
            NodeSide::Ours(nodes) => nodes.get(k).and_then(|n| n.compartments.get(ch)),
            NodeSide::Kerong(side) => side.compartment(k, ch),
        }
    }

    /// The empty baseline `slot`'s node holds for its load cell (raw
    /// counts); `None` on a Kerong board, which has no load cell.
    pub fn presence_baseline(&self, slot: usize) -> Option<i32> {
        let (k, ch) = (slot / CHANNELS, slot % CHANNELS);
        match self {
            NodeSide::Ours(nodes) => nodes.get(k)?.presence_baseline(ch),
            NodeSide::Kerong(_) => None,
        }
    }

    /// The physical compartment of `slot`, to act on it.
    pub fn compartment_mut(&mut self, slot: usize) -> Option<&mut SimCompartment> {
        let (k, ch) = (slot / CHANNELS, slot % CHANNELS);
        match self {
            NodeSide::Ours(nodes) => nodes.get_mut(k).and_then(|n| n.compartment(ch)),
            NodeSide::Kerong(side) => side.compartment_mut(k, ch),
        }
    }

    /// Bytes the gateway put on the line reach every node at `now`. Returns
    /// the answers, each with the node that sends it.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Vec<(NodeAddr, Vec<u8>)> {
        match self {
            NodeSide::Ours(nodes) => nodes
                .iter_mut()
                .filter_map(|n| n.receive(bytes, now).map(|a| (n.addr(), a)))
                .collect(),
            NodeSide::Kerong(side) => side.receive(bytes, now),
        }
    }

    /// When node `k` next needs [`handle_timeout`](Self::handle_timeout):
    /// its firmware's timers. A Kerong board has none; its adapter acts
    /// only when the gateway polls it.
    pub fn poll_timeout(&self, k: usize) -> Option<Instant> {
        match self {
            NodeSide::Ours(nodes) => nodes.get(k).and_then(SimNode::poll_timeout),
            NodeSide::Kerong(_) => None,
        }
    }

    /// Runs node `k`'s due timers.
    pub fn handle_timeout(&mut self, k: usize, now: Instant) {
        // A Kerong board has no timers ([`poll_timeout`](Self::poll_timeout)
        // is `None`): nothing to run there.
        if let Some(n) = self.ours_mut(k) {
            n.handle_timeout(now);
        }
    }

    /// Our node `k`, if the nodes are ours.
    fn ours_mut(&mut self, k: usize) -> Option<&mut SimNode> {
        match self {
            NodeSide::Ours(nodes) => nodes.get_mut(k),
            NodeSide::Kerong(_) => None,
        }
    }

    /// Node `k`'s compartments changed physically: our firmware samples
    /// them now; a Kerong adapter sees the change at the gateway's next
    /// poll of that node.
    pub fn sample(&mut self, k: usize, now: Instant) {
        match self {
            NodeSide::Ours(nodes) => {
                if let Some(n) = nodes.get_mut(k) {
                    n.sample(now);
                }
            }
            NodeSide::Kerong(side) => side.changed(k),
        }
    }

    /// Whether the nodes sample their compartments on their own while the
    /// bus is idle (our firmware does; a Kerong board is only read when
    /// polled).
    pub fn samples_while_idle(&self) -> bool {
        matches!(self, NodeSide::Ours(_))
    }

    /// Whether no node has anything for the gateway: nothing queued, and
    /// on Kerong boards no physical change a poll has not seen yet.
    pub fn is_quiet(&self) -> bool {
        match self {
            NodeSide::Ours(nodes) => nodes.iter().all(SimNode::is_quiet),
            NodeSide::Kerong(side) => side.is_quiet(),
        }
    }

    /// Mains and battery gone: every node goes dark.
    pub fn power_off(&mut self) {
        match self {
            NodeSide::Ours(nodes) => nodes.iter_mut().for_each(|n| n.powered = false),
            NodeSide::Kerong(side) => side.power_off(),
        }
    }

    /// Power back at `now`: our nodes restart from flash; the boards wake,
    /// and the adapters start again with the gateway program (reporting
    /// `NodeStarted`, so the gateway greets them and scans their status).
    pub fn power_on(&mut self, now: Instant) {
        match self {
            NodeSide::Ours(nodes) => nodes
                .iter_mut()
                .for_each(|n| n.restart(ResetReason::PowerOn, now)),
            NodeSide::Kerong(side) => side.power_on(now),
        }
    }

    /// Node `k` hangs (firmware, or a Kerong board gone silent). `false` if
    /// it already was or does not exist.
    pub fn hang(&mut self, k: usize) -> bool {
        match self {
            NodeSide::Ours(nodes) => match nodes.get_mut(k) {
                Some(n) if !n.hung => {
                    n.hung = true;
                    true
                }
                _ => false,
            },
            NodeSide::Kerong(side) => side.set_hung(k, true),
        }
    }

    /// Node `k` is power-cycled at `now`.
    pub fn power_cycle(&mut self, k: usize, now: Instant) {
        match self {
            NodeSide::Ours(nodes) => {
                if let Some(n) = nodes.get_mut(k) {
                    n.restart(ResetReason::PowerOn, now);
                }
            }
            NodeSide::Kerong(side) => {
                side.set_hung(k, false);
                // The adapter finds the board answering at its next poll.
                side.changed(k);
            }
        }
    }

    /// Whether node `k` is hung or without power.
    pub fn is_down(&self, k: usize) -> bool {
        match self {
            NodeSide::Ours(nodes) => nodes.get(k).is_some_and(|n| n.hung || !n.powered),
            NodeSide::Kerong(side) => !side.powered || side.hung.get(k).copied().unwrap_or(false),
        }
    }

    /// Whether any node is hung.
    pub fn any_hung(&self) -> bool {
        match self {
            NodeSide::Ours(nodes) => nodes.iter().any(|n| n.hung),
            NodeSide::Kerong(side) => side.hung.contains(&true),
        }
    }

    /// Frames the nodes' decoders rejected.
    pub fn bad_frames(&self) -> u64 {
        match self {
            NodeSide::Ours(nodes) => nodes.iter().map(|n| n.bad_frames).sum(),
            NodeSide::Kerong(side) => {
                side.bad_frames_before + u64::from(side.line.stats().bad_frames)
            }
        }
    }
}

/// One bank's nodes as Kerong KR-CU16 boards on one RS-485 line, each
/// driven by the library's adapter ([`BoardLine`]) that answers the gateway
/// as our node would: the adapters live in the gateway's process (they are
/// the sans-IO half of `locker-gateway --kerong`), the boards on the line.
#[derive(Debug)]
pub struct KerongSide {
    /// The adapters. The line holds the boards only during an exchange
    /// (see [`boards`](Self::boards)); in between it holds blank ones.
    line: BoardLine<KerongPort, NODES_PER_BANK, KERONG_QUEUE>,
    /// The boards on the line, with their compartments: the world reads
    /// and acts on them between the gateway's exchanges.
    boards: KerongPort,
    /// Compartments wired on each node's board.
    counts: Vec<u8>,
    /// Each adapter's stored authentication record (its key and receive
    /// reservation), as `locker-gateway` keeps it in `.kerong-counters`.
    flash: Vec<NodeAuthRecord>,
    /// Boards whose compartments changed since the gateway last polled
    /// them: the adapter has not seen the change yet.
    unseen: Vec<bool>,
    /// Boards gone silent (a hung unit).
    hung: Vec<bool>,
    powered: bool,
    /// Bad frames counted by adapters before their last restart.
    bad_frames_before: u64,
}

impl KerongSide {
    fn new(
        chunks: &[usize],
        keys: &[NodeKey],
        release: Duration,
        now: Instant,
    ) -> Result<Self, String> {
        let counts = chunks
            .iter()
            .map(|&n| u8::try_from(n.min(CHANNELS)).unwrap_or(0))
            .collect::<Vec<_>>();
        let flash: Vec<NodeAuthRecord> = keys
            .iter()
            .map(|&key| NodeAuthRecord {
                key: Some(key),
                rx_floor: 0,
            })
            .collect();
        let line = Self::build_line(&counts, &flash, now)?;
        let n = counts.len();
        let mut side = KerongSide {
            line,
            boards: boards(release, now)?,
            counts,
            flash,
            unseen: vec![false; n],
            hung: vec![false; n],
            powered: true,
            bad_frames_before: 0,
        };
        side.store_reservations();
        Ok(side)
    }

    /// The adapters, started at `now` over `port`'s boards with their
    /// stored records, as the gateway program builds them at its start.
    fn build_line(
        counts: &[u8],
        flash: &[NodeAuthRecord],
        now: Instant,
    ) -> Result<BoardLine<KerongPort, NODES_PER_BANK, KERONG_QUEUE>, String> {
        // Blank boards stand in on the line between exchanges.
        let blank = boards(Duration::ZERO, now)?;
        let mut line = BoardLine::new(blank, BoardNodeConfig::default());
        for (k, (&count, &record)) in counts.iter().zip(flash).enumerate() {
            let addr = NodeAddr(k as u8 + 1);
            let on = BoardModel::Cu16
                .channels_of(addr, count)
                .map_err(|e| e.to_string())?;
            line.add_node(addr, on, now).map_err(|e| e.to_string())?;
            line.restore_auth(addr, record).map_err(|e| e.to_string())?;
        }
        Ok(line)
    }

    /// Stores every receive reservation an adapter asks for before it may
    /// accept counters past it.
    fn store_reservations(&mut self) {
        while let Some((addr, record)) = self.line.poll_persist() {
            if let Some(slot) = self.flash.get_mut(usize::from(addr.0).saturating_sub(1)) {
                *slot = record;
            }
            self.line.persisted(addr, &record);
        }
    }

    fn compartment(&self, k: usize, ch: usize) -> Option<&SimCompartment> {
        if ch >= usize::from(*self.counts.get(k)?) {
            return None;
        }
        self.boards.device(k)?.compartment(super::node::channel(ch))
    }

    fn compartment_mut(&mut self, k: usize, ch: usize) -> Option<&mut SimCompartment> {
        if ch >= usize::from(*self.counts.get(k)?) {
            return None;
        }
        self.boards
            .device_mut(k)?
            .compartment_mut(super::node::channel(ch))
    }

    fn receive(&mut self, bytes: &[u8], now: Instant) -> Vec<(NodeAddr, Vec<u8>)> {
        if !self.powered {
            return Vec::new();
        }
        self.boards.advance_to(now);
        // The boards go onto the line for the exchange and come back
        // after it, so the world finds them as the exchange left them.
        core::mem::swap(self.line.port_mut(), &mut self.boards);
        self.line.handle_transmit(bytes, now);
        core::mem::swap(self.line.port_mut(), &mut self.boards);
        self.store_reservations();
        // Board troubles are the adapters' business: they answer
        // `Nack(Faulted)` and raise the silent-board fault themselves.
        while self.line.poll_trouble().is_some() {}
        let mut answers = Vec::new();
        while let Some(answer) = self.line.poll_answer() {
            let addr = answer.node();
            // The adapter read its board in this exchange.
            if let Some(u) = self.unseen.get_mut(usize::from(addr.0).saturating_sub(1)) {
                *u = false;
            }
            answers.push((addr, answer.bytes().to_vec()));
        }
        answers
    }

    fn changed(&mut self, k: usize) {
        if let Some(u) = self.unseen.get_mut(k) {
            *u = true;
        }
    }

    /// Nothing for the gateway to learn: no adapter holds unacknowledged
    /// events, no board holds a change (or an open door or released
    /// latch, whose timing only polls can follow) that a poll has not seen,
    /// and no board hangs that its adapter has not reported silent yet (the
    /// polls that fail are how the adapter notices).
    fn is_quiet(&self) -> bool {
        if !self.powered {
            return true;
        }
        (0..self.counts.len()).all(|k| {
            let addr = NodeAddr(k as u8 + 1);
            let hung = self.hung.get(k).copied().unwrap_or(false);
            let queued = self
                .line
                .node(addr)
                .is_some_and(|n| n.link().queued_events() > 0);
            let moving =
                !hung && (self.unseen.get(k).copied().unwrap_or(false) || self.in_motion(k));
            let unnoticed_hang =
                hung && !self.line.node(addr).is_some_and(BoardNode::is_board_silent);
            !queued && !moving && !unnoticed_hang
        })
    }

    /// A door open or a latch released on board `k`: the adapter times the
    /// door-ajar limit and notices a latch catching again only by polling,
    /// so the gateway keeps polling as a real one would.
    fn in_motion(&self, k: usize) -> bool {
        let count = usize::from(self.counts.get(k).copied().unwrap_or(0));
        self.boards.device(k).is_some_and(|b| {
            (0..count).any(|ch| {
                b.compartment(super::node::channel(ch))
                    .is_some_and(|c| c.door() == DoorState::Open || !c.is_latched())
            })
        })
    }

    fn power_off(&mut self) {
        self.powered = false;
        for k in 0..self.counts.len() {
            if let Some(b) = self.boards.device_mut(k) {
                b.set_silent(true);
            }
        }
    }

    fn power_on(&mut self, now: Instant) {
        self.powered = true;
        self.bad_frames_before += u64::from(self.line.stats().bad_frames);
        for k in 0..self.counts.len() {
            if let Some(b) = self.boards.device_mut(k) {
                b.set_silent(false);
            }
        }
        self.hung.iter_mut().for_each(|h| *h = false);
        // The gateway program starts over: a new line of adapters over the
        // same boards, each with its key and stored reservation. It was
        // built the same way at the start, so it cannot fail here; if it
        // did, the old adapters would stay and answer as before.
        if let Ok(line) = Self::build_line(&self.counts, &self.flash, now) {
            self.line = line;
        }
        self.unseen.iter_mut().for_each(|u| *u = true);
        self.store_reservations();
    }

    /// Board `k` goes silent (or answers again). Returns whether that changed.
    fn set_hung(&mut self, k: usize, hung: bool) -> bool {
        let Some(h) = self.hung.get_mut(k) else {
            return false;
        };
        if *h == hung {
            return false;
        }
        *h = hung;
        if let Some(b) = self.boards.device_mut(k) {
            b.set_silent(hung);
        }
        true
    }
}

/// One KR-CU16 per possible node of a bank, DIP address `k` for node
/// `k + 1` (as [`BoardModel::channels_of`] places them), every
/// compartment's door releasing for `release` after an unlock.
fn boards(release: Duration, now: Instant) -> Result<KerongPort, String> {
    let boards: Vec<SimCu16> = (0..NODES_PER_BANK)
        .filter_map(|k| Cu16Address::new(k as u8))
        .map(|address| {
            let mut board = SimCu16::cu16(address, now);
            for ch in 0..CHANNELS {
                if let Some(c) = board.compartment_mut(super::node::channel(ch)) {
                    c.set_release_window(release);
                }
            }
            board
        })
        .collect();
    let boards: [SimCu16; NODES_PER_BANK] = boards
        .try_into()
        .map_err(|_| format!("a KR-CU16 line holds at most 16 boards, not {NODES_PER_BANK}"))?;
    Ok(SimRs485::new(boards))
}
