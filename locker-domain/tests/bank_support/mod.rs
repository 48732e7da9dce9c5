//! A small harness shared by the bank scenario tests: a bank with simulated
//! nodes behind it, a deterministic random source and a clock.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;

use locker_domain::bank::codes::PickupCode;
use locker_domain::bank::{
    Alert, AuditRecord, Bank, BankError, BankId, BankKeys, BankOutput, CommandOutcome, Compartment,
    CompartmentFlags, Notification, NotificationKind, ParcelKind, ParcelNeeds, PersistReason,
    Policy, Reservation, SnapshotRequest,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::{
    BulkStatus, Channel, ChannelBits, ChannelStatus, Command, CompartmentId, Dimensions, DoorState,
    Event, LockState, NodeAddr, Presence, SizeClass,
};

/// A seeded xorshift: same seed, same run.
pub struct Dice(pub u64);

impl rand_core::RngCore for Dice {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u64() as u8;
        }
    }
}

/// The test bank's keys (bank 1042, a fixed secret).
pub fn keys() -> BankKeys {
    BankKeys::derive(BankId(1042), &[0x2b; 32])
}

pub fn small() -> Dimensions {
    Dimensions::new(420, 80, 600)
}
pub fn medium() -> Dimensions {
    Dimensions::new(420, 190, 600)
}
pub fn large() -> Dimensions {
    Dimensions::new(420, 390, 600)
}

/// `n` compartments, 16 per node: half small, 30 % medium, 20 % large.
pub fn mixed_layout(n: usize) -> Vec<Compartment> {
    (0..n)
        .map(|k| {
            let large_from = n - (n * 2 + 5) / 10;
            let (size, dims) = if k < n / 2 {
                (SizeClass::Small, small())
            } else if k < large_from {
                (SizeClass::Medium, medium())
            } else {
                (SizeClass::Large, large())
            };
            let mut c = Compartment::new(
                CompartmentId(k as u16 + 1),
                NodeAddr((k / 16) as u8 + 1),
                Channel((k % 16) as u8),
                size,
                dims,
            );
            if k % 16 == 15 {
                c = c.with_flags(CompartmentFlags::REFRIGERATED);
            }
            if k % 16 < 4 {
                c = c.with_flags(CompartmentFlags::ACCESSIBLE);
            }
            c
        })
        .collect()
}

/// The physical side: what each compartment really looks like.
#[derive(Clone, Copy, Default, Debug)]
pub struct Physical {
    pub door_open: bool,
    pub occupied: bool,
}

pub struct Sim<const N: usize> {
    pub bank: Box<Bank<'static>>,
    pub physical: Vec<Physical>,
    pub now: Instant,
    pub dice: Dice,
    pub notes: Vec<Notification>,
    pub alerts: Vec<Alert>,
    pub audit: Vec<AuditRecord>,
    pub commands: Vec<(NodeAddr, Command)>,
    pub camera: Vec<SnapshotRequest>,
    pub persists: Vec<PersistReason>,
    /// The codes handed out with reservations, by parcel number (what the
    /// backend keeps for the collector's message).
    pub codes: BTreeMap<u32, String>,
    /// Whether the nodes acknowledge every unlock (the default, as a node
    /// on a clean bus does; the lock pulses, the door opens only when the
    /// person pulls it). Off, the unlocks go unanswered until the test
    /// says how they went.
    pub ack_unlocks: bool,
}

pub fn code_text(code: &PickupCode) -> String {
    code.digits().iter().map(|d| char::from(b'0' + d)).collect()
}

impl<const N: usize> Sim<N> {
    pub fn new(n: usize, policy: Policy) -> Self {
        Sim::with_layout(&mixed_layout(n), policy)
    }

    /// A bank of `layout`'s compartments, all empty and shut.
    pub fn with_layout(layout: &[Compartment], policy: Policy) -> Self {
        let bank = Box::new(Bank::on_heap(layout, policy, keys()).unwrap());
        let mut sim = Sim {
            bank,
            physical: vec![Physical::default(); layout.len()],
            now: Instant::from_secs(1),
            dice: Dice(0x9E37_79B9_7F4A_7C15),
            notes: Vec::new(),
            alerts: Vec::new(),
            audit: Vec::new(),
            commands: Vec::new(),
            camera: Vec::new(),
            persists: Vec::new(),
            codes: BTreeMap::new(),
            ack_unlocks: true,
        };
        sim.answer_status_requests();
        sim
    }

    /// The gateway restarts: the bank is snapshotted, a new one restored
    /// from the bytes (same layout, policy and keys) with its monotonic clock
    /// at `now`, and the nodes answer its status requests.
    pub fn restart_at(&mut self, now: Instant) {
        self.drain();
        let bytes = self.bank.snapshot_to_vec().unwrap();
        let layout = self.bank.layout().compartments().to_vec();
        let policy = *self.bank.policy();
        self.now = now;
        *self.bank = Bank::restore_on_heap(&layout, policy, keys(), &bytes, self.now).unwrap();
        self.answer_status_requests();
    }

    pub fn wiring(&self, id: CompartmentId) -> (NodeAddr, Channel) {
        let c = self
            .bank
            .layout()
            .compartments()
            .iter()
            .find(|c| c.id == id)
            .unwrap();
        (c.node, c.channel)
    }

    fn index(&self, id: CompartmentId) -> usize {
        self.bank.layout().slot_of(id).unwrap().get()
    }

    /// Drains every output into the harness's logs (checking that the
    /// audit sequence is gap-free) and sends the commands to the simulated
    /// nodes: status requests are answered from the physical state, unlocks
    /// are acknowledged (unless [`Sim::ack_unlocks`] is off) and logged (the
    /// door does not open by itself: the person opens it).
    pub fn drain(&mut self) {
        loop {
            let mut scans = Vec::new();
            let mut unlocks = Vec::new();
            while let Some(output) = self.bank.poll() {
                match output {
                    BankOutput::Notification(n) => self.notes.push(n),
                    BankOutput::Alert(a) => self.alerts.push(a),
                    BankOutput::Audit(r) => {
                        if let Some(last) = self.audit.last() {
                            assert_eq!(r.seq, last.seq + 1, "audit sequence has a gap");
                            assert!(r.follows(&last.link), "audit chain broken at {}", r.seq);
                        } else if r.seq == 0 {
                            let genesis = locker_domain::bank::AuditLink::GENESIS;
                            assert!(r.follows(&genesis), "audit chain does not start at genesis");
                        }
                        self.audit.push(r);
                    }
                    BankOutput::CameraSnapshot(request) => self.camera.push(request),
                    BankOutput::Persist(reason) => self.persists.push(reason),
                    BankOutput::Command { node, command } => {
                        self.commands.push((node, command));
                        if command == Command::GetAllStatus {
                            scans.push(node);
                        }
                        if matches!(command, Command::Unlock { .. }) && self.ack_unlocks {
                            unlocks.push((node, command));
                        }
                    }
                }
            }
            for (node, command) in &unlocks {
                self.bank
                    .handle_command_result(*node, command, CommandOutcome::Acked, self.now)
                    .unwrap();
            }
            if scans.is_empty() && unlocks.is_empty() {
                return;
            }
            // Answers are inputs: one at a time, each drained before the next.
            for node in scans {
                let status = self.bulk_status(node);
                self.bank
                    .handle_bulk_status(node, &status, self.now)
                    .unwrap();
                self.drain();
            }
        }
    }

    /// The bank, its outputs drained first (as every caller must before an
    /// input).
    pub fn ready(&mut self) -> &mut Bank<'static> {
        self.drain();
        &mut self.bank
    }

    /// [`Sim::drain`], named for what a test waits for.
    pub fn answer_status_requests(&mut self) {
        self.drain();
    }

    pub fn bulk_status(&self, node: NodeAddr) -> BulkStatus {
        let mut s = BulkStatus {
            channels: 16,
            door_open: ChannelBits(0),
            locked: ChannelBits(0),
            occupied: ChannelBits(0),
            faulted: ChannelBits(0),
        };
        for (k, c) in self.bank.layout().compartments().iter().enumerate() {
            if c.node == node {
                let p = self.physical[k];
                s.door_open.set(c.channel, p.door_open);
                s.locked.set(c.channel, !p.door_open);
                s.occupied.set(c.channel, p.occupied);
            }
        }
        s
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    pub fn event(&mut self, id: CompartmentId, event: Event) {
        self.drain();
        let (node, _) = self.wiring(id);
        self.bank.handle_node_event(node, &event, self.now).unwrap();
        self.answer_status_requests();
    }

    /// Compartment `id`'s door opens, its node's report of it not yet
    /// polled.
    pub fn door_opens_unreported(&mut self, id: CompartmentId) {
        let k = self.index(id);
        self.physical[k].door_open = true;
    }

    /// The full status of `id`'s node reaches the bank, read from the
    /// physical state (a periodic scan's answer).
    pub fn scan(&mut self, id: CompartmentId) {
        self.drain();
        let (node, _) = self.wiring(id);
        let status = self.bulk_status(node);
        self.bank
            .handle_bulk_status(node, &status, self.now)
            .unwrap();
        self.drain();
    }

    pub fn open_door(&mut self, id: CompartmentId, commanded: bool) {
        let k = self.index(id);
        self.physical[k].door_open = true;
        let (_, channel) = self.wiring(id);
        self.event(id, Event::DoorOpened { channel, commanded });
    }

    pub fn close_door(&mut self, id: CompartmentId) {
        let k = self.index(id);
        self.physical[k].door_open = false;
        let (_, channel) = self.wiring(id);
        self.event(id, Event::DoorClosed { channel });
    }

    pub fn put_parcel(&mut self, id: CompartmentId) {
        let k = self.index(id);
        self.physical[k].occupied = true;
        let (_, channel) = self.wiring(id);
        self.event(
            id,
            Event::PresenceChanged {
                channel,
                presence: Presence::occupied(300, 10),
            },
        );
    }

    pub fn take_parcel(&mut self, id: CompartmentId) {
        let k = self.index(id);
        self.physical[k].occupied = false;
        let (_, channel) = self.wiring(id);
        self.event(
            id,
            Event::PresenceChanged {
                channel,
                presence: Presence::empty(1, 10),
            },
        );
    }

    pub fn reserve(&mut self, needs: ParcelNeeds) -> Reservation {
        self.drain();
        let r = self.try_reserve(needs).unwrap();
        self.drain();
        r
    }

    /// The node answers a status request for `id` (no fault, no
    /// thermometer): its door `door` (latched when shut), its presence
    /// `presence`; the outputs drained before and after.
    pub fn status_answer(&mut self, id: CompartmentId, door: DoorState, presence: Presence) {
        self.drain();
        let (node, channel) = self.wiring(id);
        let lock = match door {
            DoorState::Closed => LockState::Locked,
            DoorState::Open => LockState::Unlocked,
        };
        let status = ChannelStatus {
            channel,
            door,
            lock,
            presence,
            fault: None,
            temperature: None,
        };
        self.bank
            .handle_channel_status(node, &status, self.now)
            .unwrap();
        self.drain();
    }

    /// A small compartment reserved, a member of staff's deposit session
    /// started on it, and its door opened by the unlock: the door session
    /// the door-ajar stories start from.
    pub fn staff_deposit_with_the_door_open(&mut self) -> Reservation {
        let r = self.reserve(ParcelNeeds::size(SizeClass::Small));
        self.drain();
        self.bank
            .start_deposit(r.compartment, locker_domain::bank::StaffId(1), self.now)
            .unwrap();
        self.answer_status_requests();
        self.open_door(r.compartment, true);
        r
    }

    /// The backend asks for a compartment for a delivery with `needs`, the
    /// outputs as they are (not drained first); a reservation's code is
    /// remembered.
    pub fn try_reserve(&mut self, needs: ParcelNeeds) -> Result<Reservation, BankError> {
        let r = self
            .bank
            .reserve(needs, ParcelKind::Delivery, &mut self.dice, self.now)?;
        self.remember(&r);
        Ok(r)
    }

    /// Keeps the code handed out with `r`, as the backend does.
    pub fn remember(&mut self, r: &Reservation) {
        if let Some(code) = &r.code {
            self.codes.insert(r.parcel.0, code_text(code));
        }
    }

    /// The pickup code of the last parcel announced ready in `id`.
    pub fn code_for(&self, id: CompartmentId) -> Option<String> {
        self.notes
            .iter()
            .rev()
            .find_map(|n| match (n.kind, n.parcel) {
                (NotificationKind::ParcelReady, Some(p)) if n.compartment == id => {
                    self.codes.get(&p.0).cloned()
                }
                _ => None,
            })
    }

    /// Courier deposits a parcel in a reserved compartment, opening it with
    /// its deposit code on keypad 1; returns the pickup code sent.
    pub fn deposit(&mut self, id: CompartmentId) -> String {
        self.drain();
        let code = self.bank.deposit_code(id).unwrap().to_string();
        let out = self
            .bank
            .enter_deposit_code(locker_domain::bank::codes::KeypadId(1), id, &code, self.now)
            .unwrap();
        assert_eq!(out, locker_domain::bank::CodeOutcome::Opening(id));
        self.answer_status_requests();
        self.open_door(id, true);
        self.put_parcel(id);
        self.close_door(id);
        self.code_for(id).expect("a pickup code was sent")
    }

    /// Recipient types `code` on keypad 0, and the node answers the
    /// status requests that follow; the door is not pulled yet.
    pub fn type_code(&mut self, code: &str) -> locker_domain::bank::CodeOutcome {
        self.drain();
        let out = self
            .bank
            .enter_code(locker_domain::bank::codes::KeypadId(0), code, self.now)
            .unwrap();
        self.answer_status_requests();
        out
    }

    /// Recipient types the code, takes the parcel and closes the door.
    pub fn pick_up(&mut self, code: &str, id: CompartmentId) {
        let out = self.type_code(code);
        assert_eq!(out, locker_domain::bank::CodeOutcome::Opening(id));
        self.open_door(id, true);
        self.take_parcel(id);
        self.close_door(id);
    }

    pub fn timeout(&mut self) {
        self.drain();
        self.bank.handle_timeout(self.now).unwrap();
        self.answer_status_requests();
    }

    /// Runs every deadline up to `until`.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(t) = self.bank.poll_timeout() {
            if t > until {
                break;
            }
            if t > self.now {
                self.now = t;
            }
            self.timeout();
        }
        self.now = self.now.max(until);
        self.timeout();
    }

    pub fn alerts_of(&self, kind: locker_domain::bank::AlertKind) -> usize {
        self.alerts.iter().filter(|a| a.kind == kind).count()
    }
}
