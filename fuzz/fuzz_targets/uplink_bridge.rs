//! The uplink bridge (`locker_domain::uplink::Uplink`) on a small bank, on
//! its own (without the gateway): backend requests built by the harness
//! (reservations, cancellations, deadline extensions, signed and forged
//! remote opens, availability, resets of the gateway and of nodes,
//! configuration and diagnostics, snapshots), arbitrary postcard bytes as
//! requests, repeated and old message ids, acknowledgements, undecodable
//! messages, people at the bank (deposits and pickups) whose bank outputs
//! the harness hands to the bridge, node greetings, time, restarts with the
//! next epoch from the persisted state, and output left undrained so the
//! bridge runs out of room.
//!
//! Invariants: no panic; upward message ids only grow, across restarts
//! too; a request with a new id is answered exactly once (one `CallResult`
//! or `CallError` naming it), a request whose id was seen is reported a
//! duplicate and changes neither the bank nor the bridge's answers; an
//! acknowledgement is handed back as such; a call refused with `OutputFull`
//! or `BankBusy` changed nothing (bridge and bank); the bank's outputs are
//! all taken once there is room.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_domain::bank::{
    Bank, BankId, BankKeys, BankOutput, Compartment, ParcelKind, Policy, remote_open_tag,
};
use locker_domain::uplink::{GatewayAction, Handled, Uplink, UplinkConfig, UplinkError};
use locker_proto::uplink::{
    self as wire, DownEnvelope, Downward, EnvelopeHeader, MessageId, Upward,
};
use locker_proto::{
    Channel, CompartmentId, Dimensions, Duration, Event, FirmwareVersion, Instant, NodeAddr,
    Presence, RebootKind, ResetReason, SizeClass,
};

const NODES: [NodeAddr; 2] = [NodeAddr(1), NodeAddr(2)];

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
    /// Postcard bytes, as the transport would bring them.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A request with the next id (`again`: the last id used, a repeat).
    Request {
        again: bool,
        older: u8,
        request: Request,
    },
    Ack(u64),
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
    /// The gateway restarts: a new bridge from the persisted state, next epoch.
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

struct Dice(u64);

impl rand_core::RngCore for Dice {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u64() as u8;
        }
    }
}

struct Harness {
    bank: Bank<'static>,
    uplink: Uplink,
    epoch: u32,
    now: Instant,
    rng: Dice,
    /// The last upward id seen.
    last_up: Option<MessageId>,
    /// Requests handled as new, waiting for their answer.
    awaiting: BTreeSet<u64>,
    /// Requests answered.
    answered: BTreeSet<u64>,
    /// Bank outputs the bridge has not taken yet (it was full).
    backlog: Vec<BankOutput>,
    next_request: u64,
    hold: bool,
}

impl Harness {
    fn new() -> Self {
        let list: Vec<Compartment> = (0..8u16)
            .map(|i| {
                Compartment::new(
                    CompartmentId(i + 1),
                    NODES[usize::from(i / 4)],
                    Channel((i % 4) as u8),
                    if i % 2 == 0 {
                        SizeClass::Small
                    } else {
                        SizeClass::Medium
                    },
                    Dimensions::new(420, 80 + 100 * (i % 2), 600),
                )
            })
            .collect();
        let bank = Bank::on_heap(&list, Policy::default(), keys()).expect("a valid bank");
        let config =
            UplinkConfig::new("bank-5", FirmwareVersion::new(0, 1, 0)).expect("a short id");
        let uplink = Uplink::new(config, Default::default(), 1);
        let mut h = Harness {
            bank,
            uplink,
            epoch: 1,
            now: Instant::from_secs(1),
            rng: Dice(3),
            last_up: None,
            awaiting: BTreeSet::new(),
            answered: BTreeSet::new(),
            backlog: Vec::new(),
            next_request: 1,
            hold: false,
        };
        h.boot();
        h
    }

    fn boot(&mut self) {
        self.drain_uplink();
        self.uplink
            .boot(&self.bank, ResetReason::PowerOn, self.now)
            .expect("room after a drain");
        self.drain_uplink();
    }

    /// Everything the bridge has for the glue, checked.
    fn drain_uplink(&mut self) {
        while let Some(m) = self.uplink.poll_upward() {
            assert!(
                self.last_up.is_none_or(|last| m.id > last),
                "upward id {:?} after {:?}",
                m.id,
                self.last_up
            );
            self.last_up = Some(m.id);
            let answer = match &m.body {
                Upward::CallResult(r) => Some(r.request),
                Upward::CallError(e) => Some(e.request),
                _ => None,
            };
            if let Some(id) = answer {
                assert!(
                    self.awaiting.remove(&id.0),
                    "an answer to {id:?}, which was not awaiting one"
                );
                assert!(self.answered.insert(id.0), "{id:?} answered twice");
            }
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
                let mut tag = remote_open_tag(&keys(), c, request_id);
                if !signed {
                    tag[0] ^= 1;
                }
                Downward::RemoteOpen(wire::RemoteOpen {
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
            Request::Raw(_) => return None,
        })
    }

    fn snapshot(&self) -> Vec<u8> {
        self.bank.snapshot_to_vec().expect("a snapshot fits")
    }

    fn handle(&mut self, message: &DownEnvelope) {
        let seen_before =
            self.answered.contains(&message.id.0) || self.awaiting.contains(&message.id.0);
        let bank_before = self.snapshot();
        let uplink_before = format!("{:?}", self.uplink);
        let result = self
            .uplink
            .handle_downward(&mut self.bank, message, &mut self.rng, self.now);
        match result {
            Ok(Handled::Ack(id)) => {
                assert!(matches!(message.body, Downward::Ack(a) if a == id));
            }
            Ok(Handled::Duplicate(_)) => {
                assert_eq!(bank_before, self.snapshot(), "a duplicate changed the bank");
                assert!(!matches!(message.body, Downward::Ack(_)));
            }
            Ok(Handled::Answered) => {
                assert!(!seen_before, "{:?} carried out again", message.id);
                self.awaiting.insert(message.id.0);
            }
            Ok(other) => panic!("handled as {other:?}"),
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
        if seen_before {
            assert!(
                !matches!(result, Ok(Handled::Answered)),
                "a repeated request answered again"
            );
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
}

fuzz_target!(|ops: Vec<Op>| {
    let mut h = Harness::new();
    for op in ops.into_iter().take(200) {
        match op {
            Op::Request {
                again,
                older,
                request,
            } => {
                let id = if again {
                    h.next_request
                        .saturating_sub(1 + u64::from(older % 4))
                        .max(1)
                } else {
                    h.next_request += 1 + u64::from(older % 3);
                    h.next_request - 1
                };
                let raw = match &request {
                    Request::Raw(bytes) => Some(bytes.clone()),
                    _ => None,
                };
                h.drain_bank();
                match h.request_body(request) {
                    Some(body) => h.handle(&DownEnvelope::new(MessageId(id), body)),
                    None => {
                        if let Ok(m) = DownEnvelope::from_postcard(&raw.unwrap_or_default()) {
                            h.handle(&m);
                        }
                    }
                }
            }
            Op::Ack(id) => h.handle(&DownEnvelope::new(
                MessageId(id),
                Downward::Ack(MessageId(id)),
            )),
            Op::Undecodable { again } => {
                let id = if again {
                    h.next_request.saturating_sub(1).max(1)
                } else {
                    h.next_request += 1;
                    h.next_request - 1
                };
                let header = EnvelopeHeader {
                    v: wire::UPLINK_VERSION + 1,
                    id: MessageId(id),
                };
                let seen_before = h.answered.contains(&id) || h.awaiting.contains(&id);
                let before = format!("{:?}", h.uplink);
                match h.uplink.handle_undecodable(header) {
                    Ok(Handled::Answered) => {
                        assert!(!seen_before, "an undecodable {id} answered again");
                        h.awaiting.insert(id);
                    }
                    Ok(Handled::Duplicate(_)) => {}
                    Ok(other) => panic!("undecodable handled as {other:?}"),
                    Err(UplinkError::OutputFull) => {
                        assert_eq!(before, format!("{:?}", h.uplink), "OutputFull changed it");
                    }
                    Err(e) => panic!("handle_undecodable: {e:?}"),
                }
            }
            Op::Deposit(c) => {
                let id = compartment(c);
                let (node, channel) = channel_of(id);
                h.drain_bank();
                if h.backlog.is_empty() {
                    let _ = h.bank.start_deposit(id, h.now);
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
            }
            Op::Restart => {
                h.drain_uplink();
                h.drain_bank();
                h.feed_backlog();
                h.drain_uplink();
                let state = h.uplink.state().clone();
                let config = h.uplink.config().clone();
                h.epoch += 1;
                h.uplink = Uplink::new(config, state, h.epoch);
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
    h.feed_backlog();
    h.drain_uplink();
    assert!(h.backlog.is_empty(), "bank outputs the bridge never took");
    assert!(
        h.awaiting.is_empty(),
        "requests handled but never answered: {:?}",
        h.awaiting
    );
});
