//! The uplink bridge (`locker_domain::uplink::Uplink`) on a small bank, on
//! its own (without the gateway) but with the outbound queue a gateway
//! keeps (`OutboundQueue`): backend requests built by the harness
//! (reservations, cancellations, deadline extensions, signed and forged
//! remote opens, availability, resets of the gateway and of nodes,
//! configuration and diagnostics, snapshots), arbitrary postcard bodies,
//! each message mostly tagged with the bank's downward key
//! (`sign_downward`) and otherwise forged (another bank's key, no tag, a
//! flipped bit) or tampered with after signing (id or body changed);
//! repeated, old and far-ahead message ids, new backend epochs;
//! acknowledgements of messages in flight, queued but not sent, or unknown;
//! undecodable messages, people at the bank (deposits and pickups) whose
//! bank outputs the harness hands to the bridge, node greetings, time, lost
//! links, restarts with the next epoch from the persisted state and the
//! queue rebuilt from what it held, and output left undrained so the bridge
//! runs out of room.
//!
//! Invariants: no panic; upward message ids only grow, across restarts
//! too, and the de-duplication window's highest id never goes back. A
//! validly tagged message with a new id is carried out once: a request is
//! answered exactly once (answers come out in the order messages were
//! handled), an acknowledgement is handed back as such; one whose id was
//! carried out is a duplicate and changes nothing (bank, state, answers);
//! one too far ahead is answered `out_of_window` and moves nothing. A
//! forged or tampered message is `Forged`: no bank call, no move of the
//! window, no acknowledgement, nothing to persist, counted in
//! `stats().forged`, answered `not_authorized` (with a `forged_tag`
//! security event) at most once per `FORGERY_REPORT_PERIOD`, and every
//! forgery is counted in some security event once the period is over. An
//! undecodable message changes nothing and is answered at most once per
//! period. The queue forgets an acknowledged message iff it was in flight
//! (handed out since the queue was built, not yet acknowledged); any other
//! acknowledgement deletes nothing. A call refused with `OutputFull` or
//! `BankBusy` changed nothing (bridge and bank); the bank's outputs are
//! all taken once there is room.
#![no_main]

use locker_fuzz::{Dice, NODES, two_node_layout};
use std::collections::{BTreeSet, VecDeque};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_domain::bank::{
    Bank, BankId, BankKeys, BankOutput, Compartment, ParcelKind, Policy, remote_open_tag,
};
use locker_domain::uplink::{
    DeliveryConfig, FORGERY_REPORT_PERIOD, GatewayAction, Handled, OutboundQueue, Uplink,
    UplinkConfig, UplinkError, Verdict, sign_downward, verify_downward,
};
use locker_proto::uplink::{
    self as wire, DEDUP_WINDOW, DownEnvelope, Downward, Envelope, EnvelopeHeader, HexArray,
    MessageId, UpEnvelope, Upward,
};
use locker_proto::{
    Channel, CompartmentId, Duration, Event, FirmwareVersion, Instant, NodeAddr, Presence,
    ProtocolVersions, RebootKind, ResetReason, SizeClass,
};

fn keys() -> BankKeys {
    BankKeys::derive(BankId(5), &[0x21; 32])
}

#[derive(Arbitrary, Debug)]
enum Request {
    Reserve {
        medium: bool,
        kind: ParcelKind,
    },
    Cancel(u8),
    Extend {
        compartment: u8,
        minutes: u16,
    },
    RemoteOpen {
        compartment: u8,
        request_id: u64,
        signed: bool,
    },
    Availability {
        compartment: Option<u8>,
        available: bool,
    },
    ResetGateway(bool),
    ResetNode {
        second: bool,
        hard: bool,
    },
    GetConfiguration,
    GetDiagnostics,
    Snapshot(u8),
    /// Postcard bytes, as the transport would bring them: the body they
    /// decode to is tagged as the message says (`as_is`: the decoded
    /// message itself, tag and id included, is handed in).
    Raw {
        bytes: Vec<u8>,
        as_is: bool,
    },
}

/// Which upward message an acknowledgement names.
#[derive(Arbitrary, Debug)]
enum Pick {
    /// One in flight.
    InFlight(u8),
    /// One queued (in flight or not yet sent).
    Queued(u8),
    /// Any id.
    Any(u64),
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A request with the next id (`again`: an id at most 4 back, often a
    /// repeat), tagged as `auth` says (see [`Harness::tagged`]).
    Request {
        again: bool,
        older: u8,
        auth: u8,
        request: Request,
    },
    /// A validly tagged request with an id beyond what one message may
    /// move the window (`epochs`: in a far later epoch).
    FarAhead {
        epochs: bool,
        by: u16,
    },
    /// The backend restarts its numbering in its next epoch.
    BackendEpoch,
    /// The backend acknowledges a boot notification (any id) with the
    /// protocol versions it speaks (any set, the empty one included).
    BootAck {
        again: bool,
        auth: u8,
        boot: u64,
        versions: u8,
    },
    /// An acknowledgement with the next backend id (or an old one).
    Ack {
        pick: Pick,
        again: bool,
        auth: u8,
    },
    /// The queue sends what it may, up to `n` messages.
    Transmit(u8),
    /// The broker connection drops: the queue sends everything again.
    LinkDown,
    /// A message whose body did not decode.
    Undecodable {
        again: bool,
    },
    /// A courier deposits in a reserved compartment (door, presence, door).
    Deposit(u8),
    /// A door opens and closes with the compartment empty (a pickup).
    Empty(u8),
    Greeted {
        second: bool,
        uptime: u32,
    },
    Wait(u16),
    /// The gateway restarts: a new bridge from the persisted state, next
    /// epoch; the queue rebuilt from the messages it held.
    Restart,
    /// Leave the bridge's output undrained until the next `Drain`.
    Hold,
    Drain,
}

fn compartment(c: u8) -> CompartmentId {
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

/// Capacity of the harness's outbound queue.
const QUEUE: usize = 24;

/// What an answer in the upward stream must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A request carried out: any result or error.
    Request,
    /// A forged message: `not_authorized`.
    Forged,
    /// Beyond the window: `out_of_window`.
    OutOfWindow,
    /// Undecodable: `not_supported`.
    Unreadable,
}

struct Harness {
    bank: Bank<'static>,
    uplink: Uplink,
    queue: OutboundQueue<QUEUE>,
    max_in_flight: u8,
    epoch: u32,
    now: Instant,
    rng: Dice,
    /// The last upward id seen.
    last_up: Option<MessageId>,
    /// Answers due, in the order the messages were handled.
    expect: VecDeque<(u64, Expect)>,
    /// Backend ids carried out (requests and acknowledgements).
    carried: BTreeSet<u64>,
    /// Bank outputs the bridge has not taken yet (it was full).
    backlog: Vec<BankOutput>,
    next_request: u64,
    hold: bool,
    /// Ids in the queue, oldest first.
    queued: VecDeque<u64>,
    /// Handed out since the queue was built and not acknowledged.
    in_flight: BTreeSet<u64>,
    /// Forgeries counted in security events by this bridge (since its start).
    forged_reported: u64,
    /// A `forged_tag` event naming a request, waiting for its answer.
    forged_event: Option<(u64, u32)>,
    /// When this bridge last answered a forgery, and an undecodable message.
    forged_answered: Option<Instant>,
    unreadable_answered: Option<Instant>,
}

impl Harness {
    fn new(max_in_flight: u8) -> Self {
        let list: Vec<Compartment> = two_node_layout();
        let bank = Bank::on_heap(&list, Policy::default(), keys()).expect("a valid bank");
        let config =
            UplinkConfig::new("bank-5", FirmwareVersion::new(0, 1, 0)).expect("a short id");
        let uplink = Uplink::new(config, Default::default(), 1);
        let mut h = Harness {
            bank,
            uplink,
            queue: OutboundQueue::new(Self::delivery(max_in_flight)),
            max_in_flight,
            epoch: 1,
            now: Instant::from_secs(1),
            rng: Dice(3),
            last_up: None,
            expect: VecDeque::new(),
            carried: BTreeSet::new(),
            backlog: Vec::new(),
            next_request: 1,
            hold: false,
            queued: VecDeque::new(),
            in_flight: BTreeSet::new(),
            forged_reported: 0,
            forged_event: None,
            forged_answered: None,
            unreadable_answered: None,
        };
        h.boot();
        h
    }

    fn delivery(max_in_flight: u8) -> DeliveryConfig {
        DeliveryConfig {
            max_in_flight,
            retry_after: Duration::from_secs(10),
        }
    }

    fn boot(&mut self) {
        self.drain_all();
        self.uplink
            .boot(&self.bank, ResetReason::PowerOn, self.now)
            .expect("room after a drain");
        self.drain_uplink();
    }

    /// Everything the bridge has for the glue, checked, as far as the
    /// queue has room.
    fn drain_uplink(&mut self) {
        while self.queue.free() > 0 {
            let Some(m) = self.uplink.poll_upward() else {
                break;
            };
            self.check_upward(&m);
            self.queue.push(m.clone()).expect("the queue had room");
            self.queued.push_back(m.id.0);
        }
        while let Some(action) = self.uplink.poll_action() {
            match action {
                GatewayAction::PrepareForReboot { .. } => self.uplink.confirm_persisted(),
                GatewayAction::ExtendDeadline { compartment, by } => {
                    self.drain_bank();
                    let _ = self.bank.extend_deadline(
                        compartment,
                        by,
                        locker_domain::bank::Actor::Backend,
                        self.now,
                    );
                }
                _ => {}
            }
        }
        let _ = self.uplink.poll_persist();
        self.check_queue();
    }

    /// The bridge drained completely: the backend takes what the queue
    /// holds as far as needed.
    fn drain_all(&mut self) {
        for _ in 0..1000 {
            self.drain_uplink();
            if self.queue.free() > 0 {
                break;
            }
            self.backend_catches_up();
        }
        assert!(self.uplink.poll_upward().is_none() || self.queue.free() == 0);
    }

    /// The bank's outputs and the bridge's messages all taken, the backend
    /// catching up as needed.
    fn flush(&mut self) {
        for _ in 0..1000 {
            self.drain_all();
            self.drain_bank();
            if self.backlog.is_empty() {
                break;
            }
        }
        self.drain_all();
    }

    /// The backend acknowledges everything the queue sends.
    fn backend_catches_up(&mut self) {
        self.queue.link_down();
        for _ in 0..QUEUE + 1 {
            let sent: Vec<MessageId> = std::iter::from_fn(|| self.queue.poll_transmit(self.now))
                .map(|m| m.id)
                .collect();
            if sent.is_empty() {
                break;
            }
            for id in sent {
                self.in_flight.insert(id.0);
                self.queue_ack(id);
            }
        }
    }

    fn check_upward(&mut self, m: &UpEnvelope) {
        assert!(
            self.last_up.is_none_or(|last| m.id > last),
            "upward id {:?} after {:?}",
            m.id,
            self.last_up
        );
        self.last_up = Some(m.id);
        // The bridge's report of a forgery it answers comes right before
        // the answer; a summary names no request. (A remote open the bank
        // refused for its own tag is a `forged_tag` event too, naming the
        // remote open's request id.)
        let report = self.forged_event.take();
        let answer = match &m.body {
            Upward::CallResult(r) => Some((r.request, None)),
            Upward::CallError(e) => Some((e.request, Some(e.code))),
            Upward::SecurityEvent(e)
                if e.kind == wire::SecurityKind::ForgedTag
                    && e.compartment.is_none()
                    && e.node.is_none()
                    && e.keypad.is_none() =>
            {
                match e.request_id {
                    None => self.forged_reported += u64::from(e.count),
                    Some(id) => self.forged_event = Some((id, e.count)),
                }
                None
            }
            _ => None,
        };
        if let Some((id, code)) = answer {
            let Some((want, kind)) = self.expect.pop_front() else {
                panic!("an answer to {id:?} ({code:?}), which nothing awaited");
            };
            assert_eq!(
                id.0, want,
                "an answer to {id:?} where {want} was due ({kind:?})"
            );
            let want_code = match kind {
                Expect::Request => code,
                Expect::Forged => Some(wire::ErrorCode::NotAuthorized),
                Expect::OutOfWindow => Some(wire::ErrorCode::OutOfWindow),
                Expect::Unreadable => Some(wire::ErrorCode::NotSupported),
            };
            assert_eq!(code, want_code, "the answer to {id:?} ({kind:?})");
            if kind == Expect::Forged {
                let Some((named, count)) = report.filter(|(named, _)| *named == id.0) else {
                    panic!("a forgery answered without its security event: {report:?}");
                };
                assert_eq!(named, id.0);
                self.forged_reported += u64::from(count);
            }
        }
    }

    fn check_queue(&self) {
        let held: Vec<u64> = self.queue.pending().map(|m| m.id.0).collect();
        assert!(
            held.iter().eq(self.queued.iter()),
            "the queue holds {held:?}, not {:?}",
            self.queued
        );
        assert_eq!(self.queue.len(), self.queued.len());
        assert_eq!(self.queue.free(), QUEUE - self.queued.len());
    }

    /// The backend's acknowledgement of `id`, passed to the queue.
    fn queue_ack(&mut self, id: MessageId) {
        let in_flight = self.in_flight.contains(&id.0);
        let len = self.queue.len();
        let taken = self.queue.handle_ack(id, self.now);
        assert_eq!(
            taken, in_flight,
            "ack of {id:?}: taken {taken}, in flight {in_flight}"
        );
        if taken {
            self.in_flight.remove(&id.0);
            self.queued.retain(|q| *q != id.0);
            assert_eq!(
                self.queue.len(),
                len - 1,
                "an ack forgot more than its message"
            );
        } else {
            assert_eq!(
                self.queue.len(),
                len,
                "an ack of {id:?}, not in flight, forgot a message"
            );
        }
        self.check_queue();
    }

    fn transmit(&mut self, n: u8) {
        for _ in 0..=n % 8 {
            let Some(m) = self.queue.poll_transmit(self.now) else {
                break;
            };
            assert!(
                self.queued.contains(&m.id.0),
                "{:?} sent but not queued",
                m.id
            );
            self.in_flight.insert(m.id.0);
        }
        assert!(self.in_flight.len() <= QUEUE);
    }

    /// The next backend id, or (`again`) one at most four back.
    fn backend_id(&mut self, again: bool, older: u8) -> MessageId {
        if again {
            MessageId(
                self.next_request
                    .saturating_sub(1 + u64::from(older % 4))
                    .max(1),
            )
        } else {
            self.next_request += 1 + u64::from(older % 3);
            MessageId(self.next_request - 1)
        }
    }

    /// `body` as message `id`, tagged with the bank's key for `auth` below
    /// 200, else forged: another bank's key, no tag, one bit of the tag
    /// flipped, the id changed after signing, or the body changed after
    /// signing. Returns the message and whether it is validly tagged.
    fn tagged(id: MessageId, body: Downward, auth: u8) -> (DownEnvelope, bool) {
        if auth < 200 {
            return (sign_downward(&keys(), id, body), true);
        }
        let message = match auth % 5 {
            0 => sign_downward(&BankKeys::derive(BankId(6), &[0x21; 32]), id, body),
            1 => DownEnvelope::with_tag(Envelope::new(id, body), HexArray([0; 16])),
            2 => {
                let mut m = sign_downward(&keys(), id, body);
                let bit = usize::from(auth) % 128;
                if let Some(b) = m.tag.0.get_mut(bit / 8) {
                    *b ^= 1 << (bit % 8);
                }
                m
            }
            3 => {
                let mut m = sign_downward(&keys(), id, body);
                m.id = MessageId(id.0 ^ 1);
                m
            }
            _ => {
                let other = if body == Downward::GetDiagnostics {
                    Downward::GetConfiguration
                } else {
                    Downward::GetDiagnostics
                };
                let mut m = sign_downward(&keys(), id, body);
                m.body = other;
                m
            }
        };
        (message, false)
    }

    /// The highest backend id carried out.
    fn highest(&self) -> Option<MessageId> {
        self.carried.last().map(|h| MessageId(*h))
    }

    fn too_old(&self, id: MessageId) -> bool {
        self.highest()
            .is_some_and(|h| id <= h && h.0 - id.0 >= DEDUP_WINDOW)
    }

    fn too_far(&self, id: MessageId) -> bool {
        self.highest().is_some_and(|h| {
            id > h
                && if id.epoch() == h.epoch() {
                    id.0 - h.0 > DEDUP_WINDOW
                } else {
                    u64::from(id.counter()) >= DEDUP_WINDOW
                }
        })
    }

    /// Takes the bank's outputs and hands them to the bridge as it has room.
    fn drain_bank(&mut self) {
        while let Some(o) = self.bank.poll() {
            self.backlog.push(o);
        }
        self.feed_backlog();
    }

    fn feed_backlog(&mut self) {
        let mut rest = Vec::new();
        for o in std::mem::take(&mut self.backlog) {
            if !rest.is_empty() {
                rest.push(o);
                continue;
            }
            let before = format!("{:?}", self.uplink);
            let r = match &o {
                BankOutput::Notification(n) => self.uplink.on_notification(n),
                BankOutput::Alert(a) => self.uplink.on_alert(&self.bank, a),
                BankOutput::Audit(a) => self.uplink.on_audit(&self.bank, a),
                _ => Ok(()),
            };
            match r {
                Ok(()) => {}
                Err(UplinkError::OutputFull) => {
                    assert_eq!(
                        before,
                        format!("{:?}", self.uplink),
                        "OutputFull changed it"
                    );
                    rest.push(o);
                }
                Err(e) => panic!("a bank output refused: {e:?}"),
            }
        }
        self.backlog = rest;
    }

    fn request_body(&mut self, request: Request) -> Option<Downward> {
        Some(match request {
            Request::Reserve { medium, kind } => {
                Downward::ReserveCompartment(wire::ReserveCompartment {
                    kind,
                    needs: wire::ParcelNeeds {
                        size: Some(if medium {
                            SizeClass::Medium
                        } else {
                            SizeClass::Small
                        }),
                        ..Default::default()
                    },
                })
            }
            Request::Cancel(c) => Downward::CancelReservation {
                compartment: compartment(c),
            },
            Request::Extend {
                compartment: c,
                minutes,
            } => Downward::ExtendDeadline {
                compartment: compartment(c),
                by_ms: Duration::from_mins(u64::from(minutes)),
            },
            Request::RemoteOpen {
                compartment: c,
                request_id,
                signed,
            } => {
                let c = compartment(c);
                let life = self.bank.incarnation();
                let mut tag = remote_open_tag(&keys(), life, c, request_id);
                if !signed {
                    tag[0] ^= 1;
                }
                Downward::RemoteOpen(wire::RemoteOpen {
                    incarnation: life.0,
                    compartment: c,
                    request_id,
                    tag: wire::HexArray(tag),
                })
            }
            Request::Availability {
                compartment: c,
                available,
            } => Downward::ChangeAvailability {
                scope: match c {
                    Some(c) => wire::Scope::Compartment(compartment(c)),
                    None => wire::Scope::Bank,
                },
                available,
            },
            Request::ResetGateway(hard) => Downward::Reset {
                kind: if hard {
                    RebootKind::Hard
                } else {
                    RebootKind::Soft
                },
                target: wire::ResetTarget::Gateway,
            },
            Request::ResetNode { second, hard } => Downward::Reset {
                kind: if hard {
                    RebootKind::Hard
                } else {
                    RebootKind::Soft
                },
                target: wire::ResetTarget::Node(NODES[usize::from(second)]),
            },
            Request::GetConfiguration => Downward::GetConfiguration,
            Request::GetDiagnostics => Downward::GetDiagnostics,
            Request::Snapshot(c) => Downward::TriggerSnapshot {
                compartment: compartment(c),
            },
            Request::Raw { .. } => return None,
        })
    }

    fn snapshot(&self) -> Vec<u8> {
        self.bank.snapshot_to_vec().expect("a snapshot fits")
    }

    fn handle(&mut self, message: &DownEnvelope, valid: bool) {
        assert_eq!(
            verify_downward(&keys(), message),
            valid,
            "the tag check of {message:?}"
        );
        // The bank's earlier outputs go to the bridge first (as far as it
        // has room), so whatever the bank says next is this message's doing.
        self.drain_bank();
        let id = message.id;
        let bank_before = self.snapshot();
        let state_before = self.uplink.state().clone();
        let stats_before = self.uplink.stats();
        let _ = self.uplink.poll_persist();
        let uplink_before = format!("{:?}", self.uplink);
        let result = self
            .uplink
            .handle_downward(&mut self.bank, message, &mut self.rng, self.now);
        let stats = self.uplink.stats();
        let produced = stats.produced - stats_before.produced;
        assert!(
            self.uplink.state().seen.highest() >= state_before.seen.highest(),
            "the window went back"
        );
        let unchanged = |h: &mut Self, why: &str| {
            assert_eq!(bank_before, h.snapshot(), "{why} changed the bank");
            assert!(h.bank.poll().is_none(), "{why} made the bank speak");
            assert_eq!(&state_before, h.uplink.state(), "{why} changed the state");
            assert!(!h.uplink.poll_persist(), "{why} asked to persist");
            assert_eq!(h.uplink.stats().requests, stats_before.requests, "{why}");
        };
        if !valid {
            assert_eq!(result, Ok(Handled::Forged), "{message:?}");
            unchanged(self, "a forged message");
            assert_eq!(
                stats.forged,
                stats_before.forged + 1,
                "a forgery not counted"
            );
            match produced {
                0 => {}
                2 => {
                    assert!(
                        self.forged_answered
                            .is_none_or(|t| self.now >= t + FORGERY_REPORT_PERIOD),
                        "two forgeries answered within a report period"
                    );
                    self.forged_answered = Some(self.now);
                    self.expect.push_back((id.0, Expect::Forged));
                }
                n => panic!("a forgery produced {n} messages"),
            }
            return;
        }
        let carried = self.carried.contains(&id.0);
        let too_old = self.too_old(id);
        let too_far = self.too_far(id);
        match result {
            Ok(Handled::Duplicate(verdict)) => {
                match verdict {
                    Verdict::Duplicate => assert!(carried, "{id:?} a duplicate, never carried out"),
                    Verdict::TooOld => assert!(too_old, "{id:?} too old"),
                    v => panic!("a duplicate with verdict {v:?}"),
                }
                unchanged(self, "a duplicate");
                assert_eq!(produced, 0, "a duplicate answered");
            }
            Ok(Handled::Answered) => {
                assert!(
                    !carried && !too_old && !too_far,
                    "{id:?} carried out, seen {carried}"
                );
                assert!(!matches!(message.body, Downward::Ack(_)));
                assert!(produced >= 1);
                self.carried.insert(id.0);
                self.expect.push_back((id.0, Expect::Request));
            }
            Ok(Handled::Ack(acked)) => {
                assert!(
                    !carried && !too_old && !too_far,
                    "ack {id:?} taken, seen {carried}"
                );
                assert_eq!(message.body, Downward::Ack(acked));
                assert_eq!(bank_before, self.snapshot(), "an ack changed the bank");
                assert_eq!(produced, 0);
                self.carried.insert(id.0);
                self.queue_ack(acked);
            }
            Ok(Handled::OutOfWindow) => {
                assert!(too_far, "{id:?} out of the window");
                unchanged(self, "a message beyond the window");
                assert_eq!(stats.out_of_window, stats_before.out_of_window + 1);
                assert_eq!(produced, 1);
                self.expect.push_back((id.0, Expect::OutOfWindow));
            }
            Ok(Handled::BootAck { boot, agreed }) => {
                assert!(
                    !carried && !too_old && !too_far,
                    "boot ack {id:?} taken, seen {carried}"
                );
                let Downward::BootAck {
                    boot: acked,
                    versions,
                } = message.body
                else {
                    panic!("{message:?} handled as a boot ack");
                };
                assert_eq!(acked, boot);
                assert_eq!(agreed, ProtocolVersions::UPLINK.agree(versions));
                assert_eq!(self.uplink.agreed_version(), Some(agreed));
                assert_eq!(bank_before, self.snapshot(), "a boot ack changed the bank");
                assert_eq!(produced, 0, "a boot ack answered");
                self.carried.insert(id.0);
            }
            Ok(other) => panic!("{message:?} handled as {other:?}"),
            Err(e @ (UplinkError::OutputFull | UplinkError::BankBusy)) => {
                assert_eq!(bank_before, self.snapshot(), "{e:?} changed the bank");
                assert_eq!(
                    uplink_before,
                    format!("{:?}", self.uplink),
                    "{e:?} changed it"
                );
            }
            Err(e) => panic!("handle_downward: {e:?}"),
        }
        if carried || too_old {
            assert!(
                matches!(result, Ok(Handled::Duplicate(_))),
                "a repeated message {id:?} handled as {result:?}"
            );
        }
    }

    fn undecodable(&mut self, id: MessageId) {
        let header = EnvelopeHeader {
            v: wire::UPLINK_VERSION + 1,
            id,
        };
        let bank_before = self.snapshot();
        let state_before = self.uplink.state().clone();
        let stats_before = self.uplink.stats();
        assert_eq!(
            self.uplink.handle_undecodable(header, self.now),
            Handled::Unreadable
        );
        let stats = self.uplink.stats();
        assert_eq!(
            bank_before,
            self.snapshot(),
            "an undecodable message changed the bank"
        );
        assert_eq!(
            &state_before,
            self.uplink.state(),
            "an undecodable message changed the state"
        );
        assert_eq!(stats.unreadable, stats_before.unreadable + 1);
        match stats.produced - stats_before.produced {
            0 => {}
            1 => {
                assert!(
                    self.unreadable_answered
                        .is_none_or(|t| self.now >= t + FORGERY_REPORT_PERIOD),
                    "two undecodable messages answered within a report period"
                );
                self.unreadable_answered = Some(self.now);
                self.expect.push_back((id.0, Expect::Unreadable));
            }
            n => panic!("an undecodable message produced {n} messages"),
        }
    }

    fn bank_event(&mut self, node: NodeAddr, event: Event) {
        self.drain_bank();
        if self.backlog.is_empty() {
            let _ = self.bank.handle_node_event(node, &event, self.now);
        }
    }

    fn settle(&mut self) {
        if !self.hold {
            self.drain_uplink();
        }
        self.drain_bank();
        if !self.hold {
            self.drain_uplink();
            self.feed_backlog();
            self.drain_uplink();
        }
    }

    /// Every forgery since this bridge started went up in some event.
    fn check_forgeries_reported(&mut self) {
        for _ in 0..2 {
            self.flush();
            self.now += FORGERY_REPORT_PERIOD;
            self.uplink.handle_timeout(&self.bank, self.now);
        }
        self.flush();
        assert_eq!(
            self.forged_reported,
            u64::from(self.uplink.stats().forged),
            "forgeries counted but never reported"
        );
    }
}

fuzz_target!(|input: (u8, Vec<Op>)| {
    let (max_in_flight, ops) = input;
    let mut h = Harness::new(max_in_flight % 4 + 1);
    for op in ops.into_iter().take(200) {
        match op {
            Op::Request {
                again,
                older,
                auth,
                request,
            } => {
                let id = h.backend_id(again, older);
                h.drain_bank();
                match request {
                    Request::Raw { bytes, as_is } => {
                        if let Ok(m) = DownEnvelope::from_postcard(&bytes) {
                            if as_is {
                                let valid = verify_downward(&keys(), &m);
                                h.handle(&m, valid);
                            } else {
                                let (m, valid) = Harness::tagged(id, m.body, auth);
                                h.handle(&m, valid);
                            }
                        }
                    }
                    request => {
                        if let Some(body) = h.request_body(request) {
                            let (m, valid) = Harness::tagged(id, body, auth);
                            h.handle(&m, valid);
                        }
                    }
                }
            }
            Op::FarAhead { epochs, by } => {
                if let Some(highest) = h.highest() {
                    let id = if epochs {
                        MessageId::first_of_epoch(highest.epoch().saturating_add(1000)).0
                            + DEDUP_WINDOW
                            + u64::from(by)
                    } else {
                        highest.0 + (1 << 20) + u64::from(by)
                    };
                    h.drain_bank();
                    let (m, valid) = Harness::tagged(MessageId(id), Downward::GetDiagnostics, 0);
                    h.handle(&m, valid);
                }
            }
            Op::BootAck {
                again,
                auth,
                boot,
                versions,
            } => {
                let id = h.backend_id(again, 0);
                h.drain_bank();
                let body = Downward::BootAck {
                    boot: MessageId(boot),
                    versions: ProtocolVersions::from_bits(versions),
                };
                let (m, valid) = Harness::tagged(id, body, auth);
                h.handle(&m, valid);
            }
            Op::BackendEpoch => {
                let epoch = MessageId(h.next_request).epoch().saturating_add(1);
                h.next_request = MessageId::first_of_epoch(epoch).0;
            }
            Op::Ack { pick, again, auth } => {
                let target = match pick {
                    Pick::InFlight(i) => h
                        .in_flight
                        .iter()
                        .nth(usize::from(i) % h.in_flight.len().max(1))
                        .copied(),
                    Pick::Queued(i) => h
                        .queued
                        .get(usize::from(i) % h.queued.len().max(1))
                        .copied(),
                    Pick::Any(id) => Some(id),
                };
                let target = MessageId(target.unwrap_or(0));
                let id = h.backend_id(again, 0);
                let (m, valid) = Harness::tagged(id, Downward::Ack(target), auth);
                h.handle(&m, valid);
            }
            Op::Transmit(n) => h.transmit(n),
            Op::LinkDown => h.queue.link_down(),
            Op::Undecodable { again } => {
                let id = h.backend_id(again, 0);
                h.undecodable(id);
            }
            Op::Deposit(c) => {
                let id = compartment(c);
                let (node, channel) = channel_of(id);
                h.drain_bank();
                if h.backlog.is_empty() {
                    let _ = h
                        .bank
                        .start_deposit(id, locker_domain::bank::StaffId(1), h.now);
                }
                h.bank_event(
                    node,
                    Event::DoorOpened {
                        channel,
                        commanded: true,
                    },
                );
                let presence = Presence::occupied(300, 100);
                h.bank_event(node, Event::PresenceChanged { channel, presence });
                h.bank_event(node, Event::DoorClosed { channel });
            }
            Op::Empty(c) => {
                let (node, channel) = channel_of(compartment(c));
                h.bank_event(
                    node,
                    Event::DoorOpened {
                        channel,
                        commanded: true,
                    },
                );
                let presence = Presence::empty(10, 100);
                h.bank_event(node, Event::PresenceChanged { channel, presence });
                h.bank_event(node, Event::DoorClosed { channel });
            }
            Op::Greeted { second, uptime } => {
                let node = NODES[usize::from(second)];
                let fw = FirmwareVersion::new(1, 0, 0);
                let before = format!("{:?}", h.uplink);
                let r = h
                    .uplink
                    .on_node_greeted(node, fw, ResetReason::PowerOn, uptime, h.now);
                if r.is_err() {
                    assert_eq!(before, format!("{:?}", h.uplink), "a refusal changed it");
                }
            }
            Op::Wait(ms) => {
                h.now += Duration::from_millis(u64::from(ms) * 100);
                h.drain_bank();
                if h.backlog.is_empty() {
                    let _ = h.bank.handle_timeout(h.now);
                }
                h.drain_bank();
                h.uplink.handle_timeout(&h.bank, h.now);
                let due = h.queue.poll_timeout().is_some_and(|at| at <= h.now);
                h.queue.handle_timeout(h.now);
                if due {
                    // Everything not acknowledged goes again.
                    h.transmit(7);
                }
            }
            Op::Restart => {
                h.flush();
                assert!(h.expect.is_empty(), "answers never given: {:?}", h.expect);
                assert!(
                    h.forged_reported <= u64::from(h.uplink.stats().forged),
                    "more forgeries reported than counted"
                );
                let state = h.uplink.state().clone();
                let config = h.uplink.config().clone();
                h.epoch += 1;
                h.uplink = Uplink::new(config, state, h.epoch);
                h.forged_reported = 0;
                h.forged_answered = None;
                h.unreadable_answered = None;
                // The queue is rebuilt from what it held; nothing is in
                // flight for the new one.
                let held: Vec<UpEnvelope> = h.queue.pending().cloned().collect();
                h.queue = OutboundQueue::new(Harness::delivery(h.max_in_flight));
                for m in held {
                    h.queue.push(m).expect("what was held fits again");
                }
                h.in_flight.clear();
                h.hold = false;
                h.boot();
            }
            Op::Hold => h.hold = true,
            Op::Drain => h.hold = false,
        }
        h.settle();
    }
    h.hold = false;
    h.settle();
    h.flush();
    assert!(h.backlog.is_empty(), "bank outputs the bridge never took");
    h.check_forgeries_reported();
    assert!(
        h.expect.is_empty(),
        "messages handled but never answered: {:?}",
        h.expect
    );
    h.backend_catches_up();
    assert!(
        h.queue.is_empty(),
        "messages the backend never got: {:?}",
        h.queued
    );
});
