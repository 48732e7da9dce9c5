//! Arbitrary inputs to a whole gateway (`locker_domain::gateway::Gateway`):
//! answers and raw bytes on the bus (as a babbling node or an attacker
//! would send them), backend messages decoded from arbitrary postcard (as
//! they come, so almost always with a wrong tag), backend requests whose
//! body is decoded from arbitrary postcard and tagged with the bank's
//! downward key (`sign_downward`, so they reach the request handling), some
//! with a bit of the tag flipped, people at the bank, the power supply,
//! time, and a shell that confirms counter reservations late or never.
//!
//! Invariants: no panic; `poll` always drains to `None`; no signed frame
//! leaves with a counter above the reservation the shell confirmed for its
//! node (values below it may be used); a parcel is in at most one
//! compartment; a message with a wrong tag is `Forged` and leaves the
//! uplink's persisted state as it was, and a validly tagged one is never
//! taken for a forgery.
#![no_main]

use locker_fuzz::{Dice, NODES, two_node_layout};
use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_domain::bank::codes::KeypadId;
use locker_domain::bank::{
    Actor, Bank, BankId, BankKeys, Compartment, ParcelKind, ParcelNeeds, Policy, StaffId,
};
use locker_domain::gateway::GatewayError;
use locker_domain::gateway::{Gateway, GatewayOutput, Persist};
use locker_domain::uplink::{Handled, Uplink, UplinkConfig, UplinkState, sign_downward};
use locker_proto::frame::{Frame, MAX_FRAME, encode};
use locker_proto::link::MasterConfig;
use locker_proto::uplink::{DownEnvelope, Downward, EnvelopeHeader, MessageId};
use locker_proto::{
    CompartmentId, FirmwareVersion, Instant, NodeAddr, NodeKey, PowerStatus, Report, ResetReason,
    SizeClass,
};

#[derive(Arbitrary, Debug)]
enum Op {
    /// A report frame on the bus, unsigned, cut into chunks.
    Answer { frame: Frame<Report>, chunk: u8 },
    /// Raw bytes on the bus.
    Raw(Vec<u8>),
    /// A backend message, as postcard bytes.
    Backend(Vec<u8>),
    /// A backend request whose body is these postcard bytes, tagged with
    /// the bank's key under the next backend id (plus `skip`), or with one
    /// bit of the tag flipped (`tamper`).
    Signed {
        body: Vec<u8>,
        skip: u8,
        tamper: Option<u8>,
    },
    /// A courier reserves and starts a deposit.
    Deposit { size: u8 },
    /// A code typed at a keypad.
    Code { keypad: u8, text: String },
    /// Staff open a compartment.
    StaffOpen(u8),
    /// Staff certify a removal the presence sensor disputed.
    CertifyRemoval(u8),
    /// The backend's compartment goes out of or back into service.
    Service { compartment: u8, out: bool },
    /// The UPS reports.
    Power { mains: bool, charge: u8 },
    /// Time passes, then timers run.
    Wait(u16),
    /// The shell confirms the counter reservations it was asked to store.
    ConfirmCounters,
}

#[derive(Arbitrary, Debug)]
struct Script {
    with_uplink: bool,
    ops: Vec<Op>,
}

struct Shell {
    gateway: Gateway<'static, 4>,
    now: Instant,
    /// Reservations asked for and not yet confirmed.
    asked: Vec<(NodeAddr, u64)>,
    /// The reservation confirmed per node.
    confirmed: BTreeMap<NodeAddr, u64>,
    rng: Dice,
    keys: BankKeys,
    next_backend_id: u64,
}

impl Shell {
    fn new(with_uplink: bool) -> Self {
        let compartments: Vec<Compartment> = two_node_layout();
        let keys = BankKeys::derive(BankId(1), &[7; 32]);
        let bank =
            Bank::on_heap(&compartments, Policy::default(), keys.clone()).expect("a valid bank");
        let now = Instant::from_secs(1);
        let mut gateway =
            Gateway::<4>::new(bank, MasterConfig::default(), now).expect("two nodes fit");
        for node in NODES {
            gateway
                .set_node_key(node, NodeKey::from_bytes([node.0; 32]), 0)
                .expect("a node of the layout");
        }
        if with_uplink {
            let config = UplinkConfig::new("bank-1", FirmwareVersion::new(0, 1, 0))
                .expect("a short bank id");
            let uplink = Uplink::new(config, UplinkState::default(), 1);
            gateway
                .start_uplink(uplink, ResetReason::PowerOn, now)
                .expect("an empty uplink has room");
        }
        Shell {
            gateway,
            now,
            asked: Vec::new(),
            confirmed: BTreeMap::new(),
            rng: Dice(1),
            keys,
            next_backend_id: 1,
        }
    }

    /// Everything the gateway asks for, checked as it comes.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            let Some(output) = self.gateway.poll(self.now) else {
                return;
            };
            match output {
                GatewayOutput::Transmit(frame) => {
                    if let Some(counter) = frame.counter() {
                        let node = frame.frame.header.dst;
                        let up_to = self.confirmed.get(&node).copied().unwrap_or(0);
                        assert!(
                            counter < up_to,
                            "a frame to {node} left signed with counter {counter} \
                             beyond the confirmed reservation {up_to}"
                        );
                    }
                    let mut buf = [0u8; MAX_FRAME];
                    frame
                        .encode(&mut buf)
                        .expect("a frame the gateway made encodes");
                }
                GatewayOutput::Persist(Persist::Counter { node, up_to }) => {
                    self.asked.push((node, up_to));
                }
                GatewayOutput::Persist(Persist::BeforeReboot(_)) => {
                    self.gateway.persisted_for_reboot();
                }
                GatewayOutput::Persist(Persist::Bank(_)) => {
                    let mut buf = vec![0u8; 64 * 1024];
                    self.gateway.snapshot(&mut buf).expect("the snapshot fits");
                }
                _ => {}
            }
        }
        panic!("poll did not drain in 10,000 outputs");
    }

    fn check_books(&self) {
        let mut seen = BTreeSet::new();
        for view in self.gateway.bank().views() {
            if let Some(parcel) = view.parcel {
                assert!(
                    seen.insert(parcel.0),
                    "parcel {} in two compartments",
                    parcel.0
                );
            }
        }
    }
}

fuzz_target!(|script: Script| {
    let mut shell = Shell::new(script.with_uplink);
    shell.drain();
    for op in script.ops.into_iter().take(200) {
        let now = shell.now;
        match op {
            Op::Answer { frame, chunk } => {
                let mut buf = [0u8; MAX_FRAME];
                if let Ok(bytes) = encode(&frame, &mut buf) {
                    let chunk = usize::from(chunk).max(1);
                    for piece in bytes.chunks(chunk) {
                        shell.gateway.handle_bytes(piece, now);
                        shell.drain();
                    }
                }
            }
            Op::Raw(bytes) => shell.gateway.handle_bytes(&bytes, now),
            Op::Backend(bytes) => match DownEnvelope::from_postcard(&bytes) {
                Ok(message) => {
                    let _ = shell.gateway.handle_downward(&message, &mut shell.rng, now);
                }
                Err(_) => {
                    if let Some(header) = EnvelopeHeader::from_postcard(&bytes) {
                        let _ = shell.gateway.handle_undecodable(header, now);
                    }
                }
            },
            Op::Signed { body, skip, tamper } => {
                if let Ok(body) = postcard::from_bytes::<Downward>(&body) {
                    shell.next_backend_id += 1 + u64::from(skip % 4);
                    let id = MessageId(shell.next_backend_id);
                    let mut message = sign_downward(&shell.keys, id, body);
                    if let Some(bit) = tamper {
                        let bit = usize::from(bit) % 128;
                        if let Some(b) = message.tag.0.get_mut(bit / 8) {
                            *b ^= 1 << (bit % 8);
                        }
                    }
                    let state = shell.gateway.uplink_state().cloned();
                    let r = shell.gateway.handle_downward(&message, &mut shell.rng, now);
                    match (&r, tamper.is_some()) {
                        (Err(GatewayError::NoUplink), _) => assert!(state.is_none()),
                        (r, true) => {
                            assert!(matches!(r, Ok(Handled::Forged)), "tampered: {r:?}");
                            assert_eq!(
                                shell.gateway.uplink_state().cloned(),
                                state,
                                "a forged message changed the uplink's state"
                            );
                        }
                        (r, false) => {
                            assert!(!matches!(r, Ok(Handled::Forged)), "signed taken as forged");
                        }
                    }
                }
            }
            Op::Deposit { size } => {
                let size = if size % 2 == 0 {
                    SizeClass::Small
                } else {
                    SizeClass::Medium
                };
                let needs = ParcelNeeds::size(size);
                if let Ok(r) =
                    shell
                        .gateway
                        .reserve(needs, ParcelKind::Delivery, &mut shell.rng, now)
                {
                    let _ = shell.gateway.start_deposit(
                        r.compartment,
                        locker_domain::bank::StaffId(1),
                        now,
                    );
                }
            }
            Op::Code { keypad, text } => {
                let _ = shell.gateway.enter_code(KeypadId(keypad % 4), &text, now);
            }
            Op::StaffOpen(c) => {
                let _ = shell
                    .gateway
                    .staff_open(CompartmentId(u16::from(c % 10)), StaffId(9), now);
            }
            Op::CertifyRemoval(c) => {
                let _ = shell.gateway.certify_removal(
                    CompartmentId(u16::from(c % 10)),
                    StaffId(9),
                    now,
                );
            }
            Op::Service { compartment, out } => {
                let c = CompartmentId(u16::from(compartment % 10));
                let _ = if out {
                    shell.gateway.set_out_of_service(c, Actor::Backend, now)
                } else {
                    shell.gateway.set_in_service(c, Actor::Staff, now)
                };
            }
            Op::Power { mains, charge } => {
                let status = if mains {
                    PowerStatus::Mains
                } else {
                    PowerStatus::Battery {
                        charge_percent: charge % 101,
                        minutes_left: u16::from(charge),
                    }
                };
                let _ = shell.gateway.handle_power(status, now);
            }
            Op::Wait(ms) => {
                shell.now = now + locker_proto::Duration::from_millis(u64::from(ms));
                let _ = shell.gateway.handle_timeout(shell.now);
            }
            Op::ConfirmCounters => {
                for (node, up_to) in std::mem::take(&mut shell.asked) {
                    shell.confirmed.insert(node, up_to);
                    shell.gateway.counter_persisted(node, up_to);
                }
            }
        }
        shell.drain();
        shell.check_books();
    }
});
