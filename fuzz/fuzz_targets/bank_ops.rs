//! Arbitrary sequences of public `Bank` operations on a small bank (8
//! compartments on two nodes): reservations (with codes drawn by the bank or
//! hashes sent by the backend), cancellations, deposits, door, presence and
//! raw node events, codes at the keypads (right ones and typed garbage),
//! offline tokens, deadline extensions, service changes, staff opens,
//! recalibrations and certified removals, signed and forged remote opens, command outcomes for the commands the
//! bank sent, bulk and channel status, nodes lost and back, power, the wall
//! clock, deposits closed, and time moving forward (timeouts run until
//! nothing is due) or, now and then, backwards. `poll()` is drained after
//! every input, as the type docs require, except when the script says not to.
//!
//! Invariants: no panic; `poll` drains; an input made with outputs pending
//! is refused with `BankError::OutputsPending` (time going backwards with
//! `TimeWentBackwards`); a refused input changes nothing observable (the
//! snapshot's bytes, the compartment views, whether outputs are pending),
//! except that a new parcel turned away is counted in the analytics (that
//! count alone moves), and that a security refusal (forged or rationed remote open, refused
//! token, the reopen limit) may leave its trace, and then it changes no
//! parcel, unlocks nothing and leaves an audit record; audit records are numbered without gaps; a parcel
//! is in at most one compartment; a parcel appears in the books only with a
//! `Reserved` record naming it, and leaves them only with a record naming it
//! that explains why (cancelled, expired reservation, pickup verified);
//! a removal is certified only where the books held an expired parcel whose
//! removal the sensor disputed (out of service for `RemovalNotVerified`,
//! door shut), and then the compartment is free and in service, the
//! certificate is audited before the removal, and the node is sent a
//! calibrate; `handle_timeout` leaves nothing due after a bounded number of
//! rounds.
#![no_main]

use locker_fuzz::{Dice, NODES, two_node_layout};
use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_domain::bank::codes::{CodeHash, KeypadId, PickupCode};
use locker_domain::bank::{
    Actor, AuditEvent, Bank, BankError, BankId, BankKeys, BankOutput, CommandOutcome, Compartment,
    CompartmentView, DepositsClosed, Incarnation, OfflineToken, ParcelId, ParcelKind, ParcelNeeds,
    Policy, Purpose, RemoteOpen, ServiceReason, SnapshotOutcome, SnapshotRef, SnapshotRequest,
    StaffId, Stage, Stats, Witnesses,
};
use locker_proto::message::{BulkStatus, ChannelStatus};
use locker_proto::{
    Channel, Command, CompartmentId, DoorState, Duration, Event, Instant, NackReason, NodeAddr,
    PowerStatus, Presence, SizeClass,
};

/// Unix time the wall clock is anchored to at the start.
const WALL_START: i64 = 1_000_000_000;

fn keys() -> BankKeys {
    BankKeys::derive(BankId(3), &[0x17; 32])
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Outcome {
    Acked,
    Nacked(NackReason),
    Failed,
    NotSent,
}

impl From<Outcome> for CommandOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Acked => CommandOutcome::Acked,
            Outcome::Nacked(r) => CommandOutcome::Nacked(r),
            Outcome::Failed => CommandOutcome::Failed,
            Outcome::NotSent => CommandOutcome::NotSent,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A reservation; the bank draws the code.
    Reserve {
        medium: bool,
        kind: ParcelKind,
        perishable: bool,
        accessible: bool,
    },
    /// A reservation with a code the backend drew (digits from the fuzzer).
    ReserveHash {
        medium: bool,
        code: u32,
    },
    Cancel(u8),
    StartDeposit(u8),
    /// A courier types a deposit code for a compartment: its own (right),
    /// or a made-up one.
    DepositCode {
        compartment: u8,
        keypad: u8,
        right: bool,
        guess: u32,
    },
    /// The door of a compartment opens or closes.
    Door {
        compartment: u8,
        open: bool,
        commanded: bool,
    },
    /// The presence sensor of a compartment changes.
    Presence {
        compartment: u8,
        occupied: bool,
    },
    /// Any event from one of the nodes.
    Event {
        second: bool,
        event: Event,
    },
    /// A code handed out earlier, typed at a keypad.
    Code {
        keypad: u8,
        reservation: u8,
    },
    /// What became of a snapshot the bank asked for (by index), or of an
    /// invented one (another reference).
    Snapshot {
        index: u8,
        taken: bool,
        invented: Option<u32>,
    },
    /// Anything typed at a keypad.
    Typed {
        keypad: u8,
        text: String,
    },
    /// An offline token for a reservation made earlier.
    Token {
        keypad: u8,
        reservation: u8,
        expires_in: i32,
    },
    /// Arbitrary bytes as an offline token.
    TokenBytes {
        keypad: u8,
        bytes: Vec<u8>,
    },
    Extend {
        compartment: u8,
        minutes: u16,
    },
    Service {
        compartment: u8,
        out: bool,
    },
    StaffOpen(u8),
    StaffOpenAll(u32),
    Recalibrate {
        compartment: u8,
        staff: u32,
    },
    CertifyRemoval {
        compartment: u8,
        staff: u32,
    },
    /// The backend re-tares a compartment's sensor.
    RecalibrateRemotely(u8),
    /// Staff repaired a compartment's hardware.
    Serviced(u8, u32),
    /// The backend asks for a snapshot.
    BackendSnapshot(u8),
    ClearRemoteLock(u32),
    RemoteOpen {
        compartment: u8,
        request_id: u64,
        forged: bool,
        /// Signed for an earlier incarnation of the bank.
        old_life: bool,
    },
    /// The bank begins a new incarnation (a start after a confirmed restore).
    BeginIncarnation(u32),
    /// The outcome of a command the bank sent (by index) or any command.
    CommandResult {
        index: u8,
        outcome: Outcome,
        any: Option<(bool, Command)>,
    },
    Bulk {
        second: bool,
        status: BulkStatus,
    },
    ChannelStatus {
        second: bool,
        status: ChannelStatus,
    },
    NodeLost(bool),
    NodeBack(bool),
    Power(PowerStatus),
    Wall(u32),
    DepositsClosed(bool),
    /// Time moves forward, then timeouts run until nothing is due.
    Wait {
        ms: u16,
        shift: u8,
    },
    /// The next input comes with a time this much earlier than the bank's.
    Stale(u16),
    /// The next input comes before the outputs were drained.
    SkipDrain,
}

/// What an input did, as the harness classifies it.
enum Kind {
    /// Starts with the bank's common checks (time, outputs drained).
    Checked,
    /// Checks time only (`set_wall_clock`, `handle_timeout`,
    /// `begin_incarnation`).
    TimeOnly,
    /// Checks nothing (`set_deposits_closed`).
    Unchecked,
}

struct Harness {
    bank: Bank<'static>,
    now: Instant,
    rng: Dice,
    /// Reservations handed out: compartment, parcel, code (if drawn here).
    reservations: Vec<(CompartmentId, ParcelId, Option<PickupCode>)>,
    /// Commands the bank sent.
    commands: Vec<(NodeAddr, Command)>,
    /// Snapshots the bank asked for.
    shots: Vec<SnapshotRequest>,
    next_seq: u64,
    /// Parcel ids ever seen in the books; an id never comes back.
    ever: BTreeSet<u32>,
    /// The books when the outputs were last drained and checked.
    last_views: Vec<CompartmentView>,
    /// Outputs drained since then.
    since: Vec<BankOutput>,
}

fn compartment(c: u8) -> CompartmentId {
    // 1..=8 exist; 0 and 9 do not.
    CompartmentId(u16::from(c % 10))
}

fn channel_of(id: CompartmentId) -> (NodeAddr, Channel) {
    match id.0 {
        1..=8 => {
            let i = id.0 - 1;
            (NODES[usize::from(i / 4)], Channel((i % 4) as u8))
        }
        _ => (NODES[0], Channel(7)),
    }
}

fn node(second: bool) -> NodeAddr {
    NODES[usize::from(second)]
}

fn digits(code: &PickupCode) -> String {
    code.digits().iter().map(|d| char::from(b'0' + d)).collect()
}

fn parcels(views: &[CompartmentView]) -> BTreeMap<u32, CompartmentId> {
    let mut map = BTreeMap::new();
    for v in views {
        if let Some(p) = v.parcel {
            let other = map.insert(p.0, v.id);
            assert!(
                other.is_none(),
                "parcel {} in compartments {:?} and {:?}",
                p.0,
                other,
                v.id
            );
        }
    }
    map
}

impl Harness {
    /// A bank whose locks report their jams (`Policy::locks_report_jams`)
    /// or not: the two ways the bank judges a door that stayed shut.
    fn new(locks_report_jams: bool) -> Self {
        let list: Vec<Compartment> = two_node_layout();
        let policy = Policy {
            locks_report_jams,
            ..Policy::default()
        };
        let bank = Bank::on_heap(&list, policy, keys()).expect("a valid bank");
        let mut h = Harness {
            bank,
            now: Instant::from_secs(1),
            rng: Dice(7),
            reservations: Vec::new(),
            commands: Vec::new(),
            shots: Vec::new(),
            next_seq: 0,
            ever: BTreeSet::new(),
            last_views: Vec::new(),
            since: Vec::new(),
        };
        h.drain();
        let wall = chrono::DateTime::from_timestamp(WALL_START, 0)
            .expect("a valid time")
            .naive_utc();
        h.bank
            .set_wall_clock(wall, h.now)
            .expect("time moves forward");
        h.drain();
        h.last_views = h.bank.views().collect();
        h
    }

    /// Drains `poll`, checks what came out, and keeps it for `check_parcels`.
    fn drain(&mut self) -> Vec<BankOutput> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let Some(o) = self.bank.poll() else {
                self.check_outputs(&out);
                self.since.extend(out.iter().copied());
                return out;
            };
            out.push(o);
        }
        panic!("poll did not drain in 10,000 outputs");
    }

    fn check_outputs(&mut self, out: &[BankOutput]) {
        for o in out {
            match o {
                BankOutput::Audit(r) => {
                    assert_eq!(r.seq, self.next_seq, "audit records numbered with a gap");
                    self.next_seq += 1;
                }
                BankOutput::Command { node, command } if self.commands.len() < 64 => {
                    self.commands.push((*node, *command));
                }
                BankOutput::CameraSnapshot(request) if self.shots.len() < 64 => {
                    self.shots.push(*request);
                }
                _ => {}
            }
        }
        assert_eq!(self.bank.next_audit_seq(), self.next_seq);
    }

    /// Runs one input at `now`; returns its result and kind.
    fn apply(&mut self, op: Op, now: Instant) -> (Result<(), BankError>, Kind) {
        let b = &mut self.bank;
        let checked = |r: Result<(), BankError>| (r, Kind::Checked);
        match op {
            Op::Reserve {
                medium,
                kind,
                perishable,
                accessible,
            } => {
                let size = if medium {
                    SizeClass::Medium
                } else {
                    SizeClass::Small
                };
                let mut needs = ParcelNeeds::size(size);
                needs.perishable = perishable;
                needs.accessible = accessible;
                checked(b.reserve(needs, kind, &mut self.rng, now).map(|r| {
                    self.reservations.push((r.compartment, r.parcel, r.code));
                }))
            }
            Op::ReserveHash { medium, code } => {
                let size = if medium {
                    SizeClass::Medium
                } else {
                    SizeClass::Small
                };
                let text = format!("{:0width$}", code % 1_000_000, width = 6);
                let digits: Vec<u8> = text.bytes().map(|c| c - b'0').collect();
                let Ok(code) = PickupCode::from_digits(&digits) else {
                    return (Ok(()), Kind::Unchecked);
                };
                let hash = CodeHash::of(&keys(), &code);
                let needs = ParcelNeeds::size(size);
                checked(
                    b.reserve_with_code_hash(needs, ParcelKind::Delivery, hash, now)
                        .map(|r| {
                            self.reservations
                                .push((r.compartment, r.parcel, Some(code)));
                        }),
                )
            }
            Op::Cancel(c) => checked(b.cancel_reservation(compartment(c), Actor::Backend, now)),
            Op::StartDeposit(c) => checked(b.start_deposit(compartment(c), StaffId(1), now)),
            Op::DepositCode {
                compartment: c,
                keypad,
                right,
                guess,
            } => {
                let c = compartment(c);
                let code = match b.deposit_code(c) {
                    Ok(code) if right => code.to_string(),
                    _ => format!("{:08}", guess % 100_000_000),
                };
                checked(
                    b.enter_deposit_code(KeypadId(keypad % 5), c, &code, now)
                        .map(|_| ()),
                )
            }
            Op::Door {
                compartment: c,
                open,
                commanded,
            } => {
                let (node, channel) = channel_of(compartment(c));
                let event = if open {
                    Event::DoorOpened { channel, commanded }
                } else {
                    Event::DoorClosed { channel }
                };
                checked(b.handle_node_event(node, &event, now))
            }
            Op::Presence {
                compartment: c,
                occupied,
            } => {
                let (node, channel) = channel_of(compartment(c));
                let presence = if occupied {
                    Presence::occupied(300, 100)
                } else {
                    Presence::empty(10, 100)
                };
                let event = Event::PresenceChanged { channel, presence };
                checked(b.handle_node_event(node, &event, now))
            }
            Op::Event { second, event } => checked(b.handle_node_event(node(second), &event, now)),
            Op::Code {
                keypad,
                reservation,
            } => {
                let code = self
                    .reservations
                    .get(usize::from(reservation))
                    .and_then(|r| r.2)
                    .map_or_else(|| "000000".to_string(), |c| digits(&c));
                checked(b.enter_code(KeypadId(keypad % 5), &code, now).map(|_| ()))
            }
            Op::Typed { keypad, text } => {
                checked(b.enter_code(KeypadId(keypad % 5), &text, now).map(|_| ()))
            }
            Op::Token {
                keypad,
                reservation,
                expires_in,
            } => {
                let (c, p) = self
                    .reservations
                    .get(usize::from(reservation))
                    .map_or((CompartmentId(1), ParcelId(0)), |r| (r.0, r.1));
                let at = WALL_START + i64::from(expires_in);
                let token = OfflineToken::issue(&keys(), b.incarnation(), c, p, at.max(0) as u64);
                let bytes = token.encode();
                checked(
                    b.redeem_token(&bytes, KeypadId(keypad % 5), now)
                        .map(|_| ()),
                )
            }
            Op::TokenBytes { keypad, bytes } => checked(
                b.redeem_token(&bytes, KeypadId(keypad % 5), now)
                    .map(|_| ()),
            ),
            Op::Extend {
                compartment: c,
                minutes,
            } => {
                let by = Duration::from_secs(60 * u64::from(minutes));
                checked(b.extend_deadline(compartment(c), by, Actor::Backend, now))
            }
            Op::Service {
                compartment: c,
                out,
            } => checked(if out {
                b.set_out_of_service(compartment(c), Actor::Staff, now)
            } else {
                b.set_in_service(compartment(c), Actor::Staff, now)
            }),
            Op::StaffOpen(c) => checked(b.staff_open(compartment(c), StaffId(c.into()), now)),
            Op::StaffOpenAll(staff) => checked(b.staff_open_all(StaffId(staff), now).map(|_| ())),
            Op::Recalibrate {
                compartment: c,
                staff,
            } => checked(b.recalibrate(compartment(c), StaffId(staff), now)),
            Op::CertifyRemoval {
                compartment: c,
                staff,
            } => checked(b.certify_removal(compartment(c), StaffId(staff), now)),
            Op::RecalibrateRemotely(c) => checked(b.recalibrate_remotely(compartment(c), now)),
            Op::Serviced(c, staff) => checked(b.serviced(compartment(c), StaffId(staff), now)),
            Op::BackendSnapshot(c) => {
                checked(b.snapshot_for_backend(compartment(c), now).map(|_| ()))
            }
            Op::ClearRemoteLock(staff) => checked(
                b.staff_clear_remote_open_lock(StaffId(staff), now)
                    .map(|_| ()),
            ),
            Op::RemoteOpen {
                compartment: c,
                request_id,
                forged,
                old_life,
            } => {
                let life = if old_life {
                    Incarnation(b.incarnation().0.wrapping_add(1))
                } else {
                    b.incarnation()
                };
                let mut request = RemoteOpen::signed(&keys(), life, compartment(c), request_id);
                if forged {
                    request.tag[0] ^= 1;
                }
                checked(b.remote_open(&request, now))
            }
            // Start-up only: allowed with outputs pending (it needs room for
            // one record, not an empty queue).
            Op::BeginIncarnation(life) => (
                b.begin_incarnation(Incarnation(life), &Witnesses::default(), now),
                Kind::TimeOnly,
            ),
            Op::CommandResult {
                index,
                outcome,
                any,
            } => {
                let (node, command) = match any {
                    Some((second, command)) => (node(second), command),
                    None => match self.commands.get(usize::from(index)) {
                        Some(c) => *c,
                        // Nothing to report: no input is made.
                        None => return (Ok(()), Kind::Unchecked),
                    },
                };
                checked(b.handle_command_result(node, &command, outcome.into(), now))
            }
            Op::Snapshot {
                index,
                taken,
                invented,
            } => {
                let Some(mut request) = self.shots.get(usize::from(index)).copied() else {
                    return (Ok(()), Kind::Unchecked);
                };
                if let Some(reference) = invented {
                    request.reference = SnapshotRef(reference);
                }
                let outcome = if taken {
                    SnapshotOutcome::Taken
                } else {
                    SnapshotOutcome::Failed
                };
                checked(b.handle_snapshot_result(&request, outcome, now))
            }
            Op::Bulk { second, status } => {
                checked(b.handle_bulk_status(node(second), &status, now))
            }
            Op::ChannelStatus { second, status } => {
                checked(b.handle_channel_status(node(second), &status, now))
            }
            Op::NodeLost(second) => checked(b.handle_node_lost(node(second), now)),
            Op::NodeBack(second) => checked(b.handle_node_back(node(second), now)),
            Op::Power(status) => checked(b.handle_power(status, now)),
            Op::Wall(secs) => {
                let wall = chrono::DateTime::from_timestamp(WALL_START + i64::from(secs), 0)
                    .expect("a valid time")
                    .naive_utc();
                (b.set_wall_clock(wall, now), Kind::TimeOnly)
            }
            Op::DepositsClosed(closed) => {
                b.set_deposits_closed(closed.then_some(DepositsClosed::Unavailable));
                (Ok(()), Kind::Unchecked)
            }
            Op::Wait { .. } | Op::Stale(_) | Op::SkipDrain => (Ok(()), Kind::Unchecked),
        }
    }

    /// Runs `handle_timeout` at `now` until nothing is due.
    fn run_timeouts(&mut self) {
        for _ in 0..1_000 {
            let r = self.bank.handle_timeout(self.now);
            assert!(
                r.is_ok(),
                "handle_timeout refused at the bank's time: {r:?}"
            );
            self.drain();
            self.check_parcels();
            match self.bank.poll_timeout() {
                Some(at) if at <= self.now => {}
                _ => return,
            }
        }
        panic!("deadlines still due after 1,000 rounds of handle_timeout");
    }

    /// Since the last check, parcels appeared with a `Reserved` record and
    /// left with a record that explains why.
    fn check_parcels(&mut self) {
        let after: Vec<CompartmentView> = self.bank.views().collect();
        let out = std::mem::take(&mut self.since);
        let (was, is) = (parcels(&self.last_views), parcels(&after));
        let named = |p: u32, ok: &dyn Fn(&AuditEvent) -> bool| {
            out.iter().any(|o| {
                matches!(o, BankOutput::Audit(r)
                    if r.parcel == Some(ParcelId(p)) && ok(&r.event))
            })
        };
        for (&p, &c) in &was {
            if let Some(&now_in) = is.get(&p) {
                assert_eq!(now_in, c, "parcel {p} moved from {c:?} to {now_in:?}");
                continue;
            }
            assert!(
                named(p, &|e| matches!(
                    e,
                    AuditEvent::ReservationCancelled
                        | AuditEvent::ReservationExpired
                        | AuditEvent::PickupVerified { .. }
                )),
                "parcel {p} left {c:?} without a record explaining it: {out:?}"
            );
        }
        for &p in is.keys() {
            if !was.contains_key(&p) {
                assert!(self.ever.insert(p), "parcel id {p} came back");
                assert!(
                    named(p, &|e| matches!(e, AuditEvent::Reserved)),
                    "parcel {p} appeared without a reservation record: {out:?}"
                );
            }
        }
        self.last_views = after;
    }
}

/// A removal certified in `c`: the books held a disputed removal there,
/// now the compartment is free and in service, the certificate came first
/// and named the parcel, and the node is asked to calibrate.
fn check_certified(
    c: CompartmentId,
    before: &[CompartmentView],
    after: &[CompartmentView],
    out: &[BankOutput],
) {
    let was = before
        .iter()
        .find(|v| v.id == c)
        .expect("a known compartment");
    assert_eq!(was.stage, Stage::Expired, "certified {was:?}");
    assert_eq!(
        was.out_of_service,
        Some(ServiceReason::RemovalNotVerified),
        "certified {was:?}"
    );
    assert_eq!(was.door, DoorState::Closed, "certified {was:?}");
    let is = after
        .iter()
        .find(|v| v.id == c)
        .expect("a known compartment");
    assert_eq!(
        (is.stage, is.parcel, is.out_of_service),
        (Stage::Free, None, None),
        "certified {is:?}"
    );
    // A perishable parcel's cold chain is recorded just before its
    // removal; the order of the others is the point here.
    let events: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            BankOutput::Audit(r) if !matches!(r.event, AuditEvent::ColdChain { .. }) => {
                Some((r.event, r.parcel))
            }
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            events.as_slice(),
            [
                (AuditEvent::RemovalCertified { .. }, p1),
                (AuditEvent::PickupVerified { purpose: Purpose::Removal }, p2),
                ..
            ] if *p1 == was.parcel && *p2 == was.parcel
        ),
        "certificate not audited first: {events:?}"
    );
    let (node, channel) = channel_of(c);
    assert!(
        out.iter().any(|o| matches!(o,
            BankOutput::Command { node: n, command: Command::Calibrate { channel: ch } }
                if *n == node && *ch == channel)),
        "no calibrate for {c:?}: {out:?}"
    );
}

/// A new parcel the bank turned away is counted in its analytics (why it
/// was refused), and that count is the only thing that changed.
fn counted_refusal(before: &Stats, after: &Stats) -> bool {
    let mut rest = *after;
    rest.analytics.refusals = before.analytics.refusals;
    let total = |s: &Stats| {
        s.analytics
            .refusals
            .iter()
            .map(|&n| u64::from(n))
            .sum::<u64>()
    };
    rest == *before && total(after) == total(before) + 1
}

fn security_refusal(e: &BankError) -> bool {
    matches!(
        e,
        BankError::RemoteOpen(_) | BankError::TokenRefused { .. } | BankError::ReopenLimit(_)
    )
}

fuzz_target!(|input: (bool, Vec<Op>)| {
    let (locks_report_jams, ops) = input;
    let mut h = Harness::new(locks_report_jams);
    let mut stale = None;
    let mut skip_drain = false;
    for op in ops.into_iter().take(300) {
        match op {
            Op::Wait { ms, shift } => {
                h.now += Duration::from_millis(u64::from(ms) << (shift % 22));
                if !skip_drain {
                    h.run_timeouts();
                }
                continue;
            }
            Op::Stale(ms) => {
                stale = Some(ms.max(1));
                continue;
            }
            Op::SkipDrain => {
                skip_drain = true;
                continue;
            }
            _ => {}
        }
        let at = match stale.take() {
            Some(back) if h.now.as_millis() >= u64::from(back) => {
                Instant::from_millis(h.now.as_millis() - u64::from(back))
            }
            _ => h.now,
        };
        let pending = h.bank.has_outputs();
        let latest = h.bank.now();
        let views: Vec<CompartmentView> = h.bank.views().collect();
        let snapshot = h.bank.snapshot_to_vec().expect("a snapshot fits");
        let stats = *h.bank.stats();
        let certified = match op {
            Op::CertifyRemoval { compartment: c, .. } => Some(compartment(c)),
            _ => None,
        };
        let (result, kind) = h.apply(op, at);
        match (&kind, &result) {
            (Kind::Unchecked, _) => {}
            (_, Err(BankError::TimeWentBackwards { .. })) => assert!(at < latest),
            (_, r) if at < latest => panic!("an input from the past was not refused: {r:?}"),
            (Kind::Checked, r) if pending => {
                assert!(
                    matches!(r, Err(BankError::OutputsPending)),
                    "an input made with outputs pending was not refused: {r:?}"
                );
            }
            (_, Err(BankError::OutputsPending)) if !pending => {
                panic!("OutputsPending with nothing pending")
            }
            _ => {}
        }
        if let Err(e) = &result {
            let after: Vec<CompartmentView> = h.bank.views().collect();
            let same_books = views == after && pending == h.bank.has_outputs();
            let unchanged = same_books
                && (h.bank.snapshot_to_vec().expect("a snapshot fits") == snapshot
                    || counted_refusal(&stats, h.bank.stats()));
            if !unchanged {
                // Only a security refusal leaves a trace, and only that.
                assert!(security_refusal(e), "refused ({e:?}) but the bank changed");
                let refused_out = h.drain();
                let parcels_of =
                    |v: &[CompartmentView]| v.iter().map(|v| (v.id, v.parcel)).collect::<Vec<_>>();
                assert_eq!(
                    parcels_of(&views),
                    parcels_of(&after),
                    "{e:?} moved a parcel"
                );
                assert!(
                    !refused_out.iter().any(|o| matches!(
                        o,
                        BankOutput::Command {
                            command: Command::Unlock { .. },
                            ..
                        }
                    )),
                    "{e:?} unlocked a door"
                );
                assert!(
                    refused_out
                        .iter()
                        .any(|o| matches!(o, BankOutput::Audit(_))),
                    "{e:?} changed the bank without an audit record"
                );
            }
        }
        if skip_drain {
            // Left pending for the next input, which must be refused.
            skip_drain = false;
            continue;
        }
        let out = h.drain();
        if let (Some(c), Ok(())) = (certified, &result) {
            check_certified(c, &views, &h.bank.views().collect::<Vec<_>>(), &out);
        }
        h.check_parcels();
    }
});
