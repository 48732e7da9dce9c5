//! The uplink bridge between a bank and its backend, in scenarios from a
//! locker's life: announced parcels, resets of the gateway and of one node
//! with a deposit under way, configuration, security, refusals.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use locker_domain::bank::codes::{CodeHash, KeypadId, PickupCode};
use locker_domain::bank::{
    Bank, BankId, BankKeys, BankOutput, CodeOutcome, Compartment, Incarnation, Policy,
    RemoteOpen as SignedOpen, Stage,
};
use locker_domain::uplink::{
    GatewayAction, Handled, Uplink, UplinkConfig, UplinkError, UplinkState, downward_tag,
    sign_downward,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{
    AnnounceParcel, AuditEvent as WireAuditEvent, CallError, CallResult, Credential, Deadlines,
    DownEnvelope, Downward, Envelope, ErrorCode, HexArray, MessageId, NotificationKind,
    ParcelNeeds as Needs, ParcelStep, PolicyConfig, ResetTarget, Response, Scope, SecurityKind,
    UpEnvelope, Upward,
};
use locker_proto::{
    BulkStatus, Channel, ChannelBits, Command, CompartmentId, Dimensions, DoorState, Event,
    FirmwareVersion, Floor, NackReason, NoCommonVersion, NodeAddr, Presence, ProtocolVersions,
    RebootKind, ResetReason, SizeClass,
};

struct Dice(u64);

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

const BACKEND_EPOCH: u32 = 1_700_000;

fn layout() -> Vec<Compartment> {
    let list: Vec<Compartment> = (0..8u16)
        .map(|k| {
            let (size, dims) = if k % 2 == 0 {
                (SizeClass::Small, Dimensions::new(420, 80, 600))
            } else {
                (SizeClass::Medium, Dimensions::new(420, 190, 600))
            };
            Compartment::new(
                CompartmentId(k + 1),
                NodeAddr(k as u8 / 4 + 1),
                Channel(k as u8 % 4),
                size,
                dims,
            )
        })
        .collect();
    list
}

/// The keys the bank and the backend derive from their shared secret.
fn keys() -> BankKeys {
    BankKeys::derive(BankId(7), &[0x5a; 32])
}

/// A message as the backend sends it: tagged with the bank's downward key.
fn signed(id: MessageId, body: Downward) -> DownEnvelope {
    sign_downward(&keys(), id, body)
}

/// The code the backend draws for the announced parcel; the bank gets its hash.
const BACKEND_CODE: &str = "482915";

fn policy() -> Policy {
    Policy {
        quiet_hours: None,
        ..Policy::default()
    }
}

/// A bank, its uplink, and a backend's view of everything that went up.
struct Gateway {
    bank: Box<Bank<'static>>,
    uplink: Uplink,
    epoch: u32,
    now: Instant,
    dice: Dice,
    up: Vec<UpEnvelope>,
    actions: Vec<GatewayAction>,
    unlocks: Vec<(NodeAddr, Command)>,
    next_request: u64,
}

impl Gateway {
    fn start() -> Self {
        let bank = Box::new(Bank::on_heap(&layout(), policy(), keys()).unwrap());
        let config = UplinkConfig::new("bank-test", FirmwareVersion::new(0, 1, 0)).unwrap();
        let mut g = Gateway {
            bank,
            uplink: Uplink::new(config, UplinkState::default(), 1),
            epoch: 1,
            now: Instant::from_secs(1),
            dice: Dice(0x9E37_79B9_7F4A_7C15),
            up: Vec::new(),
            actions: Vec::new(),
            unlocks: Vec::new(),
            next_request: MessageId::first_of_epoch(BACKEND_EPOCH).0,
        };
        g.uplink.boot(&g.bank, ResetReason::PowerOn, g.now).unwrap();
        g.pump();
        g
    }

    /// A gateway restart: the bank and the uplink state are persisted and
    /// restored, the epoch goes up.
    fn restart(&mut self, hardware_reason: ResetReason) {
        let snapshot = self.bank.snapshot_to_vec().unwrap();
        let mut buf = [0u8; 2048];
        let state = postcard::to_slice(self.uplink.state(), &mut buf).unwrap();
        self.now += Duration::from_secs(30);
        let restored: UplinkState = postcard::from_bytes(state).unwrap();
        *self.bank =
            Bank::restore_on_heap(&layout(), policy(), keys(), &snapshot, self.now).unwrap();
        self.epoch += 1;
        let config = self.uplink.config().clone();
        self.uplink = Uplink::new(config, restored, self.epoch);
        self.uplink
            .boot(&self.bank, hardware_reason, self.now)
            .unwrap();
        self.pump();
    }

    /// The glue's loop: bus commands answered, bank outputs to the uplink,
    /// uplink outputs to the backend's log, until quiet.
    fn pump(&mut self) {
        let mut scans = Vec::new();
        for _ in 0..100 {
            let mut quiet = true;
            while let Some(output) = self.bank.poll() {
                quiet = false;
                match output {
                    BankOutput::Command {
                        node,
                        command: Command::GetAllStatus,
                    } => scans.push(node),
                    BankOutput::Command { node, command } => self.unlocks.push((node, command)),
                    BankOutput::Notification(n) => {
                        let _ = self.uplink.on_notification(&n);
                    }
                    BankOutput::Alert(a) => {
                        let _ = self.uplink.on_alert(&self.bank, &a);
                    }
                    BankOutput::Audit(r) => {
                        let _ = self.uplink.on_audit(&self.bank, &r);
                    }
                    BankOutput::CameraSnapshot(_) | BankOutput::Persist(_) => {}
                }
            }
            // Each answer is an input of its own, its outputs drained first.
            if let Some(node) = scans.pop() {
                let status = self.status_of(node);
                self.bank
                    .handle_bulk_status(node, &status, self.now)
                    .unwrap();
                continue;
            }
            self.uplink.handle_timeout(&self.bank, self.now);
            while let Some(m) = self.uplink.poll_upward() {
                self.up.push(m);
                quiet = false;
            }
            while let Some(a) = self.uplink.poll_action() {
                if let GatewayAction::ExtendDeadline { compartment, by } = a {
                    // The glue gives the bank the announced extra time.
                    let _ = self.bank.extend_deadline(
                        compartment,
                        by,
                        locker_domain::bank::Actor::Backend,
                        self.now,
                    );
                }
                self.actions.push(a);
                quiet = false;
            }
            if quiet && !self.bank.has_outputs() && scans.is_empty() {
                return;
            }
        }
        panic!("the gateway never went quiet");
    }

    /// Every door closed and every compartment as the books say.
    fn status_of(&self, node: NodeAddr) -> BulkStatus {
        let mut s = BulkStatus {
            channels: 4,
            door_open: ChannelBits(0),
            locked: ChannelBits(0xf),
            occupied: ChannelBits(0),
            faulted: ChannelBits(0),
        };
        for c in self.bank.layout().compartments() {
            if c.node == node {
                let v = self.bank.view(c.id).unwrap();
                s.occupied.set(c.channel, v.stage.holds_parcel());
                s.door_open.set(c.channel, v.door == DoorState::Open);
            }
        }
        s
    }

    fn request(&mut self, body: Downward) -> MessageId {
        let id = MessageId(self.next_request);
        self.next_request += 1;
        let message = signed(id, body);
        assert_eq!(self.send(&message), Ok(Handled::Answered));
        id
    }

    fn send(&mut self, message: &DownEnvelope) -> Result<Handled, UplinkError> {
        let handled =
            self.uplink
                .handle_downward(&mut self.bank, message, &mut self.dice, self.now);
        self.pump();
        handled
    }

    fn answer(&self, request: MessageId) -> Result<Response, CallError> {
        let answers: Vec<&UpEnvelope> = self
            .up
            .iter()
            .filter(|m| match &m.body {
                Upward::CallResult(r) => r.request == request,
                Upward::CallError(e) => e.request == request,
                _ => false,
            })
            .collect();
        assert_eq!(answers.len(), 1, "exactly one answer to {request}");
        match &answers[0].body {
            Upward::CallResult(CallResult { response, .. }) => Ok(response.clone()),
            Upward::CallError(e) => Err(e.clone()),
            _ => unreachable!(),
        }
    }

    fn event(&mut self, id: CompartmentId, event: Event) {
        let c = *self
            .bank
            .layout()
            .compartments()
            .iter()
            .find(|c| c.id == id)
            .unwrap();
        self.bank
            .handle_node_event(c.node, &event, self.now)
            .unwrap();
        self.pump();
    }

    fn channel(&self, id: CompartmentId) -> Channel {
        self.bank
            .layout()
            .compartments()
            .iter()
            .find(|c| c.id == id)
            .unwrap()
            .channel
    }

    /// A person opens the unlocked door, puts a parcel in (or takes it
    /// out) and closes it.
    fn use_door(&mut self, id: CompartmentId, leaves_parcel: bool) {
        let channel = self.channel(id);
        self.event(
            id,
            Event::DoorOpened {
                channel,
                commanded: true,
            },
        );
        let presence = if leaves_parcel {
            Presence::occupied(250, 10)
        } else {
            Presence::empty(0, 10)
        };
        self.event(id, Event::PresenceChanged { channel, presence });
        self.event(id, Event::DoorClosed { channel });
        self.advance(Duration::from_secs(5));
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.bank.handle_timeout(self.now).unwrap();
        self.pump();
    }

    fn steps_of(&self, parcel: u32) -> Vec<ParcelStep> {
        self.up
            .iter()
            .filter_map(|m| match &m.body {
                Upward::ParcelEvent(e) if e.parcel.0 == parcel => Some(e.step),
                _ => None,
            })
            .collect()
    }

    fn parcel_ready(&self, parcel: u32) -> bool {
        self.up.iter().any(|m| {
            matches!(&m.body, Upward::Notification(n)
                if n.parcel.map(|p| p.0) == Some(parcel) && n.kind == NotificationKind::ParcelReady)
        })
    }
}

fn announce(extra: Duration) -> Downward {
    Downward::AnnounceParcel(AnnounceParcel {
        parcel_ref: "JJD0001".try_into().unwrap(),
        recipient: "resident:12".try_into().unwrap(),
        kind: locker_proto::uplink::ParcelKind::Delivery,
        needs: Needs {
            size: Some(SizeClass::Small),
            ..Needs::default()
        },
        deadlines: Deadlines {
            extra_pickup_ms: extra,
        },
        credential: Credential::CodeHash(HexArray(
            CodeHash::of(&keys(), &PickupCode::parse(BACKEND_CODE).unwrap()).to_bytes(),
        )),
    })
}

fn reserve_small() -> Downward {
    Downward::ReserveCompartment(locker_proto::uplink::ReserveCompartment {
        kind: locker_proto::uplink::ParcelKind::Delivery,
        needs: Needs {
            size: Some(SizeClass::Small),
            ..Needs::default()
        },
    })
}

fn announced(g: &Gateway, request: MessageId) -> (CompartmentId, u32) {
    match g.answer(request) {
        Ok(Response::ParcelAnnounced {
            compartment,
            parcel,
            ..
        })
        | Ok(Response::Reserved {
            compartment,
            parcel,
            ..
        }) => (compartment, parcel.0),
        other => panic!("not reserved: {other:?}"),
    }
}

#[test]
fn an_announced_parcel_is_deposited_reminded_and_collected_and_every_step_goes_up_once() {
    let mut g = Gateway::start();
    assert!(matches!(&g.up[0].body, Upward::BootNotification(b)
        if b.reason == ResetReason::PowerOn && b.compartments == 8 && b.reset_request.is_none()));
    assert!(matches!(&g.up[1].body, Upward::Layout(page) if page.compartments.len() == 8));

    let request = g.request(announce(Duration::from_hours(1)));
    let (compartment, parcel) = announced(&g, request);
    assert!(
        matches!(
            g.answer(request),
            Ok(Response::ParcelAnnounced {
                pickup_code: None,
                ..
            })
        ),
        "the code never reaches the gateway"
    );

    // The transport delivers the announcement again: not carried out twice.
    let again = signed(request, announce(Duration::from_hours(1)));
    let reserved_before = g.bank.utilisation().free;
    assert!(matches!(g.send(&again), Ok(Handled::Duplicate(_))));
    assert_eq!(g.bank.utilisation().free, reserved_before);
    assert_eq!(g.uplink.stats().duplicates, 1);

    // The courier arrives.
    g.bank
        .start_deposit(compartment, locker_domain::bank::StaffId(1), g.now)
        .unwrap();
    g.pump();
    g.use_door(compartment, true);
    assert_eq!(g.bank.view(compartment).unwrap().stage, Stage::Stored);
    assert!(
        g.parcel_ready(parcel),
        "the backend is told to send the code"
    );
    let code = BACKEND_CODE;

    // 24 h of policy plus the announced hour: no reminder at 24 h 30 min.
    g.advance(Duration::from_hours(24) + Duration::from_mins(30));
    assert!(!g.steps_of(parcel).contains(&ParcelStep::Reminded));
    g.advance(Duration::from_mins(31));
    assert!(g.steps_of(parcel).contains(&ParcelStep::Reminded));

    assert_eq!(
        g.bank.enter_code(KeypadId(0), code, g.now).unwrap(),
        CodeOutcome::Opening(compartment)
    );
    g.pump();
    g.use_door(compartment, false);
    assert_eq!(
        g.steps_of(parcel),
        [
            ParcelStep::Reserved,
            ParcelStep::DepositStarted,
            ParcelStep::Deposited,
            ParcelStep::DeadlineExtended {
                by_ms: Duration::from_hours(1)
            },
            ParcelStep::Reminded,
            ParcelStep::PickupStarted,
            ParcelStep::PickedUp,
        ]
    );
    let last_status =
        g.up.iter()
            .rev()
            .find_map(|m| match &m.body {
                Upward::StatusNotification(s) if s.compartment == compartment => Some(*s),
                _ => None,
            })
            .unwrap();
    assert_eq!(
        last_status.status,
        locker_proto::uplink::CompartmentStatus::Free
    );
    // Ids only grow, with no gaps within the boot.
    for pair in g.up.windows(2) {
        assert_eq!(pair[1].id, pair[0].id.next());
    }
}

#[test]
fn a_gateway_reset_waits_for_the_deposit_under_way_then_persists_reboots_and_names_the_request() {
    let mut g = Gateway::start();
    let (compartment, parcel) = {
        let r = g.request(reserve_small());
        announced(&g, r)
    };
    g.bank
        .start_deposit(compartment, locker_domain::bank::StaffId(1), g.now)
        .unwrap();
    g.pump();

    let reset = g.request(Downward::Reset {
        kind: RebootKind::Soft,
        target: ResetTarget::Gateway,
    });
    assert_eq!(
        g.answer(reset),
        Ok(Response::ResetAccepted {
            target: ResetTarget::Gateway,
            in_flight: 1
        })
    );
    assert!(g.uplink.refuses_new_transactions());
    let refused = g.request(reserve_small());
    assert_eq!(
        g.answer(refused).unwrap_err().code,
        ErrorCode::ResetInProgress
    );
    g.advance(Duration::from_secs(10));
    assert!(
        !g.actions
            .iter()
            .any(|a| matches!(a, GatewayAction::PrepareForReboot { .. })),
        "the courier is still at the open door"
    );

    // The courier finishes; the reset goes ahead.
    g.use_door(compartment, true);
    assert_eq!(g.bank.view(compartment).unwrap().stage, Stage::Stored);
    assert!(g.actions.contains(&GatewayAction::PrepareForReboot {
        kind: RebootKind::Soft
    }));
    assert!(
        !g.actions
            .iter()
            .any(|a| matches!(a, GatewayAction::Reboot { .. }))
    );
    g.uplink.confirm_persisted();
    g.pump();
    assert_eq!(
        g.actions.last(),
        Some(&GatewayAction::Reboot {
            kind: RebootKind::Soft
        })
    );
    let last_id_before = g.up.last().unwrap().id;

    g.restart(ResetReason::PowerOn);
    let boot =
        g.up.iter()
            .rev()
            .find_map(|m| match &m.body {
                Upward::BootNotification(b) => Some((m.id, b.clone())),
                _ => None,
            })
            .unwrap();
    assert!(
        boot.0 > last_id_before,
        "ids keep growing across the restart"
    );
    assert_eq!(boot.1.reason, ResetReason::SoftReboot);
    assert_eq!(boot.1.reset_request, Some(reset));
    assert!(!g.uplink.refuses_new_transactions());
    assert_eq!(g.bank.view(compartment).unwrap().parcel.unwrap().0, parcel);
    assert_eq!(g.bank.view(compartment).unwrap().stage, Stage::Stored);

    // The next boot, not asked for, reports what the hardware says.
    g.restart(ResetReason::Watchdog);
    let last_boot =
        g.up.iter()
            .rev()
            .find_map(|m| match &m.body {
                Upward::BootNotification(b) => Some(b.clone()),
                _ => None,
            })
            .unwrap();
    assert_eq!(last_boot.reason, ResetReason::Watchdog);
    assert_eq!(last_boot.reset_request, None);
}

#[test]
fn a_reset_does_not_wait_forever_for_a_door_left_open() {
    let mut g = Gateway::start();
    let r = g.request(reserve_small());
    let (compartment, _) = announced(&g, r);
    g.bank
        .start_deposit(compartment, locker_domain::bank::StaffId(1), g.now)
        .unwrap();
    g.pump();
    let channel = g.channel(compartment);
    g.event(
        compartment,
        Event::DoorOpened {
            channel,
            commanded: true,
        },
    );
    g.request(Downward::Reset {
        kind: RebootKind::Hard,
        target: ResetTarget::Gateway,
    });
    g.advance(Duration::from_mins(1));
    assert!(
        !g.actions
            .iter()
            .any(|a| matches!(a, GatewayAction::PrepareForReboot { .. }))
    );
    g.advance(Duration::from_mins(1) + Duration::from_secs(1));
    assert!(g.actions.contains(&GatewayAction::PrepareForReboot {
        kind: RebootKind::Hard
    }));
}

#[test]
fn a_node_reset_waits_for_its_door_session_then_reboots_the_node_and_its_greeting_names_the_request()
 {
    let mut g = Gateway::start();
    let r = g.request(reserve_small());
    let (compartment, _) = announced(&g, r);
    let node = g
        .bank
        .layout()
        .compartments()
        .iter()
        .find(|c| c.id == compartment)
        .unwrap()
        .node;
    g.bank
        .start_deposit(compartment, locker_domain::bank::StaffId(1), g.now)
        .unwrap();
    g.pump();

    let reset = g.request(Downward::Reset {
        kind: RebootKind::Soft,
        target: ResetTarget::Node(node),
    });
    assert_eq!(
        g.answer(reset),
        Ok(Response::ResetAccepted {
            target: ResetTarget::Node(node),
            in_flight: 1
        })
    );
    assert!(g.uplink.node_draining(node));
    assert!(
        !g.uplink.refuses_new_transactions(),
        "the rest of the bank works on"
    );
    let reboot = GatewayAction::SendCommand {
        node,
        command: Command::Reboot {
            kind: RebootKind::Soft,
        },
    };
    assert!(!g.actions.contains(&reboot));
    // A remote open on the draining node is refused.
    let open = g.request(Downward::RemoteOpen(locker_proto::uplink::RemoteOpen {
        incarnation: g.bank.incarnation().0,
        compartment,
        request_id: 1,
        tag: HexArray([0; 16]),
    }));
    assert_eq!(g.answer(open).unwrap_err().code, ErrorCode::ResetInProgress);

    g.use_door(compartment, true);
    assert_eq!(g.bank.view(compartment).unwrap().stage, Stage::Stored);
    assert!(
        g.actions.contains(&reboot),
        "the node reboots once the deposit is done"
    );

    // The node restarts and the gateway greets it.
    g.bank
        .handle_node_event(
            node,
            &Event::NodeStarted {
                reset_reason: ResetReason::SoftReboot,
                held: None,
            },
            g.now,
        )
        .unwrap();
    g.pump();
    g.uplink
        .on_node_greeted(
            node,
            FirmwareVersion::new(1, 2, 3),
            ResetReason::SoftReboot,
            40,
            g.now,
        )
        .unwrap();
    g.pump();
    let greeting =
        g.up.iter()
            .find_map(|m| match &m.body {
                Upward::NodeBoot(b) => Some(*b),
                _ => None,
            })
            .unwrap();
    assert_eq!(greeting.node, node);
    assert_eq!(greeting.reset_reason, ResetReason::SoftReboot);
    assert_eq!(greeting.reset_request, Some(reset));
    assert!(!g.uplink.node_draining(node));
    assert_eq!(g.bank.view(compartment).unwrap().stage, Stage::Stored);
    assert_eq!(
        g.uplink.state().nodes[0].firmware,
        Some(FirmwareVersion::new(1, 2, 3))
    );
}

#[test]
fn configuration_is_validated_and_takes_effect_at_the_next_start() {
    let mut g = Gateway::start();
    let current = g.request(Downward::GetConfiguration);
    let Ok(Response::Configuration(config)) = g.answer(current) else {
        panic!("no configuration");
    };
    assert_eq!(config.reminder_after_ms, Duration::from_hours(24));

    let bad = g.request(Downward::ChangeConfiguration(PolicyConfig {
        code_digits: 3,
        ..config
    }));
    assert_eq!(
        g.answer(bad).unwrap_err().code,
        ErrorCode::InvalidConfiguration
    );
    assert!(g.actions.is_empty());

    let good = g.request(Downward::ChangeConfiguration(PolicyConfig {
        reminder_after_ms: Duration::from_hours(12),
        ..config
    }));
    assert_eq!(
        g.answer(good),
        Ok(Response::ConfigurationChanged {
            reboot_required: false
        })
    );
    let Some(GatewayAction::ApplyPolicy(policy)) = g.actions.last() else {
        panic!("no policy to apply");
    };
    assert_eq!(policy.reminder_after, Duration::from_hours(12));
    assert_eq!(policy.code_digits, 6);
}

#[test]
fn a_forced_door_goes_up_as_a_security_event_and_the_backend_takes_the_bank_offline_and_back() {
    let mut g = Gateway::start();
    let forced = CompartmentId(6);
    let channel = g.channel(forced);
    g.event(
        forced,
        Event::DoorOpened {
            channel,
            commanded: false,
        },
    );
    let event =
        g.up.iter()
            .find_map(|m| match &m.body {
                Upward::SecurityEvent(e) => Some(*e),
                _ => None,
            })
            .unwrap();
    assert_eq!(event.kind, SecurityKind::ForcedDoor);
    assert_eq!(event.compartment, Some(forced));
    assert_eq!(event.node, Some(NodeAddr(2)));

    let snapshot = g.request(Downward::TriggerSnapshot {
        compartment: forced,
    });
    assert!(g.answer(snapshot).is_ok());
    assert!(g.actions.contains(&GatewayAction::TakeSnapshot {
        compartment: forced,
        request: snapshot
    }));

    let offline = g.request(Downward::ChangeAvailability {
        scope: Scope::Bank,
        available: false,
    });
    assert!(g.answer(offline).is_ok());
    let refused = g.request(reserve_small());
    assert_eq!(g.answer(refused).unwrap_err().code, ErrorCode::Unavailable);
    assert!(g.uplink.refuses_new_transactions());
    g.request(Downward::ChangeAvailability {
        scope: Scope::Bank,
        available: true,
    });
    let works = g.request(reserve_small());
    assert!(g.answer(works).is_ok());

    let one = g.request(Downward::ChangeAvailability {
        scope: Scope::Compartment(CompartmentId(1)),
        available: false,
    });
    assert!(g.answer(one).is_ok());
    assert!(
        g.bank
            .view(CompartmentId(1))
            .unwrap()
            .out_of_service
            .is_some()
    );
    let diagnostics = g.request(Downward::GetDiagnostics);
    let Ok(Response::Diagnostics(d)) = g.answer(diagnostics) else {
        panic!("no diagnostics");
    };
    assert!(
        d.out_of_service
            .iter()
            .any(|o| o.compartment == CompartmentId(1))
    );
    assert_eq!(usize::from(d.out_of_service_total), d.out_of_service.len());
}

#[test]
fn the_backend_re_tares_a_free_compartment_s_sensor_but_never_one_that_feels_an_item() {
    let mut g = Gateway::start();
    let free = CompartmentId(2);
    let channel = g.channel(free);
    g.unlocks.clear();
    let asked = g.request(Downward::RecalibrateSensor { compartment: free });
    assert_eq!(
        g.answer(asked),
        Ok(Response::SensorRecalibrating { compartment: free })
    );
    assert!(
        g.unlocks
            .iter()
            .any(|(_, c)| *c == Command::Calibrate { channel }),
        "the signed calibrate goes to the node"
    );
    let record = g
        .up
        .iter()
        .find_map(|m| match &m.body {
            Upward::Audit(r) if r.event == WireAuditEvent::SensorRecalibratedRemotely => Some(r),
            _ => None,
        })
        .expect("the re-tare goes up in the audit trail");
    assert_eq!(record.actor, locker_proto::Actor::Backend);
    assert_eq!(record.compartment, Some(free));

    // Something lies in a compartment the books say is free: nobody at a
    // screen may make the sensor call that empty.
    let feels = CompartmentId(3);
    let channel = g.channel(feels);
    g.event(
        feels,
        Event::PresenceChanged {
            channel,
            presence: locker_proto::Presence::occupied(900, 10),
        },
    );
    g.unlocks.clear();
    let asked = g.request(Downward::RecalibrateSensor { compartment: feels });
    let refused = g.answer(asked).unwrap_err();
    assert!(
        matches!(
            refused.code,
            ErrorCode::WrongStage | ErrorCode::OutOfService
        ),
        "{refused:?}"
    );
    assert!(
        !g.unlocks
            .iter()
            .any(|(_, c)| matches!(c, Command::Calibrate { .. })),
        "no calibrate sent"
    );
}

#[test]
fn refusals_carry_a_code_a_program_can_act_on_and_a_reason_a_person_can_read() {
    let mut g = Gateway::start();
    let huge = g.request(Downward::ReserveCompartment(
        locker_proto::uplink::ReserveCompartment {
            kind: locker_proto::uplink::ParcelKind::Delivery,
            needs: Needs {
                dimensions: Some(Dimensions::new(900, 900, 900)),
                ..Needs::default()
            },
        },
    ));
    let e = g.answer(huge).unwrap_err();
    assert_eq!(e.code, ErrorCode::Oversize);
    assert!(e.description.contains("counter"), "{}", e.description);

    let shapeless = g.request(Downward::ReserveCompartment(
        locker_proto::uplink::ReserveCompartment {
            kind: locker_proto::uplink::ParcelKind::Return,
            needs: Needs::default(),
        },
    ));
    assert_eq!(
        g.answer(shapeless).unwrap_err().code,
        ErrorCode::FormationViolation
    );

    let cancel = g.request(Downward::CancelReservation {
        compartment: CompartmentId(2),
    });
    assert_eq!(g.answer(cancel).unwrap_err().code, ErrorCode::WrongStage);
    let nobody = g.request(Downward::Reset {
        kind: RebootKind::Soft,
        target: ResetTarget::Node(NodeAddr(9)),
    });
    assert_eq!(g.answer(nobody).unwrap_err().code, ErrorCode::UnknownNode);

    let mut newer = Envelope::new(MessageId(g.next_request), Downward::GetDiagnostics);
    newer.v = 2;
    let tag = downward_tag(
        &keys(),
        &Envelope {
            v: 2,
            id: newer.id,
            body: &newer.body,
        },
    );
    let newer = DownEnvelope::with_tag(newer, tag);
    assert_eq!(g.send(&newer), Ok(Handled::Answered));
    assert_eq!(
        g.answer(newer.id).unwrap_err().code,
        ErrorCode::NotSupported
    );

    assert!(matches!(
        g.send(&signed(MessageId(g.next_request + 1), Downward::Ack(g.up[0].id))),
        Ok(Handled::Ack(id)) if id == g.up[0].id
    ));
}

#[test]
fn a_request_that_finds_no_room_is_not_carried_out_and_can_be_sent_again() {
    let mut g = Gateway::start();
    let mut refused = None;
    for n in 0..20u64 {
        let message = signed(
            MessageId(MessageId::first_of_epoch(BACKEND_EPOCH).0 + 100 + n),
            Downward::ExtendDeadline {
                compartment: CompartmentId(1),
                by_ms: Duration::from_hours(1),
            },
        );
        // Nobody drains the uplink's output.
        match g
            .uplink
            .handle_downward(&mut g.bank, &message, &mut g.dice, g.now)
        {
            Ok(Handled::Answered) => {}
            Err(UplinkError::OutputFull) => {
                refused = Some(message);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let message = refused.expect("the output filled up");
    g.pump();
    assert!(
        !g.up
            .iter()
            .any(|m| matches!(&m.body, Upward::CallError(e) if e.request == message.id)),
        "no answer yet: it was not carried out"
    );
    assert_eq!(g.send(&message), Ok(Handled::Answered));
    assert_eq!(
        g.answer(message.id).unwrap_err().code,
        ErrorCode::WrongStage
    );
}

#[test]
fn a_request_from_a_newer_backend_is_answered_not_supported_and_never_blocks() {
    let mut g = Gateway::start();
    let header = locker_proto::uplink::EnvelopeHeader {
        v: 1,
        id: MessageId(MessageId::first_of_epoch(BACKEND_EPOCH).0 + 500),
    };
    assert_eq!(
        g.uplink.handle_undecodable(header, g.now),
        Handled::Unreadable
    );
    g.pump();
    assert_eq!(
        g.answer(header.id).unwrap_err().code,
        ErrorCode::NotSupported
    );
    // It could not be authenticated: its id moved nothing.
    assert_eq!(g.uplink.state().seen.highest(), None);
}

#[test]
fn a_remote_open_needs_the_backend_key_and_a_fresh_id_and_every_refusal_is_a_security_event() {
    let mut g = Gateway::start();
    let r = g.request(reserve_small());
    let Ok(Response::Reserved {
        compartment,
        pickup_code: Some(code),
        ..
    }) = g.answer(r)
    else {
        panic!("no reservation with a code");
    };
    assert_eq!(code.len(), 6, "the bank's code goes to the backend, once");
    g.bank
        .start_deposit(compartment, locker_domain::bank::StaffId(1), g.now)
        .unwrap();
    g.pump();
    g.use_door(compartment, true);

    let wire_open = |open: SignedOpen| {
        Downward::RemoteOpen(locker_proto::uplink::RemoteOpen {
            incarnation: open.incarnation.0,
            compartment: open.compartment,
            request_id: open.request_id,
            tag: HexArray(open.tag),
        })
    };
    let life = g.bank.incarnation();
    let good = g.request(wire_open(SignedOpen::signed(
        &keys(),
        life,
        compartment,
        41,
    )));
    assert_eq!(
        g.answer(good),
        Ok(Response::Opening {
            compartment,
            request_id: 41
        })
    );
    g.use_door(compartment, false);

    let replayed = g.request(wire_open(SignedOpen::signed(
        &keys(),
        life,
        compartment,
        41,
    )));
    assert_eq!(g.answer(replayed).unwrap_err().code, ErrorCode::Replayed);
    // Signed right, but for another life of the bank (before a restore).
    let earlier = Incarnation(life.0 ^ 0x5555_5555);
    let old_life = g.request(wire_open(SignedOpen::signed(
        &keys(),
        earlier,
        compartment,
        45,
    )));
    assert_eq!(
        g.answer(old_life).unwrap_err().code,
        ErrorCode::OtherIncarnation
    );
    let other_keys = BankKeys::derive(BankId(7), &[0x66; 32]);
    let forged = g.request(wire_open(SignedOpen::signed(
        &other_keys,
        life,
        compartment,
        42,
    )));
    assert_eq!(g.answer(forged).unwrap_err().code, ErrorCode::NotAuthorized);

    let events: Vec<(SecurityKind, Option<u64>)> =
        g.up.iter()
            .filter_map(|m| match &m.body {
                Upward::SecurityEvent(e) => Some((e.kind, e.request_id)),
                _ => None,
            })
            .collect();
    assert_eq!(
        events,
        [
            (SecurityKind::Replay, Some(41)),
            (SecurityKind::Replay, Some(45)),
            (SecurityKind::ForgedTag, Some(42))
        ]
    );
    assert!(g.up.iter().any(|m| matches!(&m.body,
        Upward::Alert(a) if a.kind == locker_proto::uplink::AlertKind::ForgedRemoteOpen)));
}

#[test]
fn forged_and_replayed_bus_commands_a_node_refused_reach_the_backend_as_security_events() {
    let mut g = Gateway::start();
    let node = NodeAddr(2);
    let on_node_2 = *g
        .bank
        .layout()
        .compartments()
        .iter()
        .find(|c| c.node == node)
        .unwrap();
    let refusals = [
        (7, NackReason::Unauthenticated, SecurityKind::ForgedTag),
        (
            2,
            NackReason::Stale {
                floor: Floor::new(40),
            },
            SecurityKind::Replay,
        ),
        (11, NackReason::RateLimited, SecurityKind::RateLimitTripped),
    ];
    for (refused, reason, _) in refusals {
        g.bank
            .handle_node_event(node, &Event::CommandsRefused { refused, reason }, g.now)
            .unwrap();
        g.pump();
    }
    let events: Vec<_> =
        g.up.iter()
            .filter_map(|m| match &m.body {
                Upward::SecurityEvent(e) => Some(*e),
                _ => None,
            })
            .collect();
    assert_eq!(events.len(), refusals.len());
    for (event, (refused, _, kind)) in events.iter().zip(refusals) {
        assert_eq!(event.kind, kind);
        assert_eq!(event.node, Some(node));
        assert_eq!(event.count, u32::from(refused));
    }
    assert_eq!(
        g.bank
            .stats()
            .alerts_of(locker_domain::bank::AlertKind::BusCommandsRefused),
        3
    );
    // Nothing opened, and the compartment on that node is still in service.
    assert!(g.unlocks.is_empty());
    assert!(g.bank.view(on_node_2.id).unwrap().out_of_service.is_none());
}

/// The gateway persists the bank's snapshot before the audit records it
/// holds go up; after a restart the restored bank hands those records out
/// again. The backend must not hear them twice: the uplink remembers which
/// audit record went up last, in the state it persists.
#[test]
fn audit_records_a_restored_bank_hands_out_again_go_up_once() {
    let mut g = Gateway::start();
    // A reservation: its audit record waits in the bank while the snapshot
    // is taken, as the gateway's order (snapshot first) has it.
    g.bank
        .reserve(
            locker_domain::bank::ParcelNeeds::size(SizeClass::Small),
            locker_domain::bank::ParcelKind::Delivery,
            &mut g.dice,
            g.now,
        )
        .unwrap();
    let snapshot = g.bank.snapshot_to_vec().unwrap();
    g.pump();
    let audits_of = |up: &[UpEnvelope]| -> Vec<u64> {
        up.iter()
            .filter_map(|m| match &m.body {
                Upward::Audit(a) => Some(a.seq),
                _ => None,
            })
            .collect()
    };
    let before = audits_of(&g.up);
    assert!(!before.is_empty(), "the reservation's record went up");

    // The power fails; the gateway comes back from that snapshot.
    let mut buf = [0u8; 2048];
    let state = postcard::to_slice(g.uplink.state(), &mut buf).unwrap();
    let restored: UplinkState = postcard::from_bytes(state).unwrap();
    g.now += Duration::from_secs(30);
    *g.bank = Bank::restore_on_heap(&layout(), policy(), keys(), &snapshot, g.now).unwrap();
    let config = g.uplink.config().clone();
    g.uplink = Uplink::new(config, restored, 2);
    g.uplink.boot(&g.bank, ResetReason::PowerOn, g.now).unwrap();
    g.pump();

    let all = audits_of(&g.up);
    let mut unique = all.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        all.len(),
        unique.len(),
        "an audit record went up twice: {all:?}"
    );
    assert!(
        all.len() > before.len(),
        "the records made after the restore (Restored, the rescan) still go up"
    );
}

/// A bank started afresh (its state file lost) numbers its audit records
/// from 0 again: the uplink must not take them for records already sent.
#[test]
fn a_bank_started_afresh_still_has_every_audit_record_go_up() {
    let mut g = Gateway::start();
    for _ in 0..3 {
        g.bank
            .reserve(
                locker_domain::bank::ParcelNeeds::size(SizeClass::Small),
                locker_domain::bank::ParcelKind::Delivery,
                &mut g.dice,
                g.now,
            )
            .unwrap();
        g.pump();
    }
    let mut buf = [0u8; 2048];
    let state = postcard::to_slice(g.uplink.state(), &mut buf).unwrap();
    let restored: UplinkState = postcard::from_bytes(state).unwrap();
    assert!(restored.audit_next >= 3);
    *g.bank = Bank::on_heap(&layout(), policy(), keys()).unwrap();
    let config = g.uplink.config().clone();
    g.uplink = Uplink::new(config, restored, 2);
    g.uplink.boot(&g.bank, ResetReason::PowerOn, g.now).unwrap();
    g.pump();
    g.up.clear();
    g.bank
        .reserve(
            locker_domain::bank::ParcelNeeds::size(SizeClass::Small),
            locker_domain::bank::ParcelKind::Delivery,
            &mut g.dice,
            g.now,
        )
        .unwrap();
    g.pump();
    assert!(
        g.up.iter()
            .any(|m| matches!(&m.body, Upward::Audit(a) if a.seq == 0)),
        "the fresh bank's first record went up"
    );
}

/// Each audit record goes up with its link in the bank's hash chain, so the
/// backend holds the link the gateway's audit file must show for it.
#[test]
fn audit_records_go_up_with_the_banks_chain_links() {
    let mut g = Gateway::start();
    for _ in 0..2 {
        g.pump();
        g.bank
            .reserve(
                locker_domain::bank::ParcelNeeds::size(SizeClass::Small),
                locker_domain::bank::ParcelKind::Delivery,
                &mut g.dice,
                g.now,
            )
            .unwrap();
    }
    g.pump();
    let links: Vec<(u64, [u8; 32])> =
        g.up.iter()
            .filter_map(|m| match &m.body {
                Upward::Audit(a) => Some((a.seq, a.link.0)),
                _ => None,
            })
            .collect();
    assert!(links.len() >= 2);
    let (_, last) = links.last().unwrap();
    assert_eq!(*last, g.bank.last_audit_link().0);
    let mut distinct: Vec<[u8; 32]> = links.iter().map(|(_, l)| *l).collect();
    distinct.dedup();
    assert_eq!(distinct.len(), links.len(), "every record has its own link");
}

// ----- attacks on the uplink: someone who can publish on the transport ---------------

/// Everything a stranger on the broker would try, none of it tagged with the
/// bank's key: a made-up tag, no tag at all, a tag made with another secret.
fn forgeries(first_id: u64) -> Vec<DownEnvelope> {
    let config = locker_domain::uplink::policy_to_config(&policy());
    let lockout_off = PolicyConfig {
        lockout: locker_proto::uplink::LockoutConfig {
            free_attempts: u8::MAX,
            base_lockout_ms: Duration::ZERO,
            max_lockout_ms: Duration::ZERO,
            ..config.lockout
        },
        ..config
    };
    let bodies = [
        Downward::ChangeConfiguration(lockout_off),
        Downward::Reset {
            kind: RebootKind::Hard,
            target: ResetTarget::Gateway,
        },
        Downward::Reset {
            kind: RebootKind::Soft,
            target: ResetTarget::Node(NodeAddr(1)),
        },
        Downward::ChangeAvailability {
            scope: Scope::Bank,
            available: false,
        },
        Downward::ChangeAvailability {
            scope: Scope::Compartment(CompartmentId(1)),
            available: false,
        },
        reserve_small(),
        // A remote open whose own tag is right (captured earlier, say) in a
        // message whose tag is not.
        {
            let open = SignedOpen::signed(&keys(), Incarnation::UNSET, CompartmentId(1), 99);
            Downward::RemoteOpen(locker_proto::uplink::RemoteOpen {
                incarnation: open.incarnation.0,
                compartment: open.compartment,
                request_id: open.request_id,
                tag: HexArray(open.tag),
            })
        },
        Downward::TriggerSnapshot {
            compartment: CompartmentId(1),
        },
        Downward::GetDiagnostics,
        Downward::RecalibrateSensor {
            compartment: CompartmentId(1),
        },
    ];
    let stranger = BankKeys::derive(BankId(7), &[0x66; 32]);
    let mut out = Vec::new();
    for (n, body) in bodies.into_iter().enumerate() {
        let id = MessageId(first_id + n as u64);
        let tagged_by_stranger = sign_downward(&stranger, id, body.clone());
        let zero_tag = DownEnvelope::with_tag(Envelope::new(id, body), HexArray([0; 16]));
        out.push(tagged_by_stranger);
        out.push(zero_tag);
    }
    out
}

#[test]
fn forged_requests_of_every_kind_change_nothing_and_are_reported_as_a_security_event() {
    let mut g = Gateway::start();
    let state_before = g.uplink.state().clone();
    let free_before = g.bank.utilisation();
    let up_before = g.up.len();
    // Ids of the attacker's choosing, unlike any the backend uses.
    let attacks = forgeries(u64::MAX - 100);
    for message in &attacks {
        assert_eq!(g.send(message), Ok(Handled::Forged), "{:?}", message.body);
    }
    // Nothing changed: no action for the glue, no door, no reservation, the
    // bank still open, the window where it was.
    assert!(g.actions.is_empty(), "{:?}", g.actions);
    assert!(g.unlocks.is_empty(), "{:?}", g.unlocks);
    assert_eq!(g.bank.utilisation(), free_before);
    assert!(!g.uplink.refuses_new_transactions());
    assert_eq!(g.uplink.state(), &state_before);
    assert_eq!(g.uplink.stats().forged, attacks.len() as u32);
    assert_eq!(g.uplink.stats().requests, 0);

    // Reported: the first one answered `not_authorized` and a security
    // event at once, nothing more during the report period.
    let new: Vec<&UpEnvelope> = g.up[up_before..].iter().collect();
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(matches!(&new[0].body, Upward::SecurityEvent(e)
        if e.kind == SecurityKind::ForgedTag && e.count == 1 && e.request_id == Some(attacks[0].id.0)));
    assert_eq!(
        g.answer(attacks[0].id).unwrap_err().code,
        ErrorCode::NotAuthorized
    );
    // At the period's end, one event counts the rest.
    g.now += locker_domain::uplink::FORGERY_REPORT_PERIOD;
    g.pump();
    let summary: Vec<u32> = g.up[up_before + 2..]
        .iter()
        .filter_map(|m| match &m.body {
            Upward::SecurityEvent(e) if e.kind == SecurityKind::ForgedTag => Some(e.count),
            _ => None,
        })
        .collect();
    assert_eq!(summary, [attacks.len() as u32 - 1]);

    // The backend's own requests are carried out as before, and the
    // diagnostics count the forgeries.
    let diagnostics = g.request(Downward::GetDiagnostics);
    let Ok(Response::Diagnostics(d)) = g.answer(diagnostics) else {
        panic!("no diagnostics");
    };
    assert_eq!(d.forged_refused, attacks.len() as u32);
}

#[test]
fn a_flood_of_forged_messages_costs_the_outbound_queue_three_messages_a_minute() {
    let mut g = Gateway::start();
    let up_before = g.up.len();
    for n in 0..10_000u64 {
        let forged = DownEnvelope::with_tag(
            Envelope::new(MessageId(n), Downward::GetDiagnostics),
            HexArray([n as u8; 16]),
        );
        assert_eq!(g.send(&forged), Ok(Handled::Forged));
        if n % 1000 == 999 {
            g.now += Duration::from_secs(6);
        }
    }
    g.now += Duration::from_mins(1);
    g.pump();
    let went_up = g.up.len() - up_before;
    // 60 s of flood: answer + event, one summary at the minute, one after.
    assert!(went_up <= 4, "{went_up} messages for a flood");
    let counted: u32 = g.up[up_before..]
        .iter()
        .filter_map(|m| match &m.body {
            Upward::SecurityEvent(e) => Some(e.count),
            _ => None,
        })
        .sum();
    assert_eq!(counted, 10_000, "every forgery is counted in some event");
}

#[test]
fn a_tampered_request_is_refused_though_its_tag_was_once_right() {
    let mut g = Gateway::start();
    let id = MessageId(g.next_request);
    let mut message = signed(
        id,
        Downward::ChangeAvailability {
            scope: Scope::Compartment(CompartmentId(2)),
            available: false,
        },
    );
    // On the way, the attacker takes the whole bank out instead.
    message.body = Downward::ChangeAvailability {
        scope: Scope::Bank,
        available: false,
    };
    assert_eq!(g.send(&message), Ok(Handled::Forged));
    assert!(!g.uplink.refuses_new_transactions());
    // So is one re-numbered to pass the de-duplication window.
    let mut renumbered = signed(id, Downward::GetConfiguration);
    renumbered.id = MessageId(id.0 + 1);
    assert_eq!(g.send(&renumbered), Ok(Handled::Forged));
}

#[test]
fn a_forged_acknowledgement_is_not_passed_to_the_queue() {
    let mut g = Gateway::start();
    let queued = g.up[0].id;
    let forged = DownEnvelope::with_tag(
        Envelope::new(MessageId(1), Downward::Ack(queued)),
        HexArray([0; 16]),
    );
    assert_eq!(g.send(&forged), Ok(Handled::Forged));
    let genuine = signed(MessageId(g.next_request), Downward::Ack(queued));
    assert_eq!(g.send(&genuine), Ok(Handled::Ack(queued)));
    // Delivered again (the transport repeats it): acknowledged once only.
    assert!(matches!(g.send(&genuine), Ok(Handled::Duplicate(_))));
}

// ----- uplink versions ----------------------------------------------------------

#[test]
fn a_backend_that_speaks_versions_1_and_2_is_spoken_to_in_version_1() {
    let mut g = Gateway::start();
    let Upward::BootNotification(boot) = &g.up[0].body else {
        panic!("the boot notification goes up first: {:?}", g.up[0]);
    };
    assert_eq!(
        boot.versions,
        ProtocolVersions::from_bits(0b01),
        "the gateway says it speaks uplink version 1"
    );
    let boot_id = g.up[0].id;
    assert_eq!(
        g.uplink.agreed_version(),
        None,
        "nothing agreed before the backend answers"
    );

    let ack = signed(
        MessageId(g.next_request),
        Downward::BootAck {
            boot: boot_id,
            versions: ProtocolVersions::from_bits(0b11),
        },
    );
    assert_eq!(
        g.send(&ack),
        Ok(Handled::BootAck {
            boot: boot_id,
            agreed: Ok(1),
        }),
        "the boot notification is acknowledged and version 1 agreed"
    );
    assert_eq!(g.uplink.agreed_version(), Some(Ok(1)));
    assert_eq!(g.uplink.stats().versions_refused, 0);
    // Everything the gateway writes is version 1.
    g.pump();
    assert!(g.up.iter().all(|m| m.v == 1));

    // The next run agrees again, from its own boot notification.
    g.restart(ResetReason::PowerOn);
    assert_eq!(g.uplink.agreed_version(), None);
}

#[test]
fn a_backend_that_claims_no_version_we_speak_is_refused_and_the_gateway_says_so() {
    let mut g = Gateway::start();
    let boot_id = g.up[0].id;
    let ack = signed(
        MessageId(g.next_request),
        Downward::BootAck {
            boot: boot_id,
            versions: ProtocolVersions::from_bits(0b100),
        },
    );
    let expected = NoCommonVersion {
        ours: ProtocolVersions::UPLINK,
        theirs: ProtocolVersions::from_bits(0b100),
    };
    assert_eq!(
        g.send(&ack),
        Ok(Handled::BootAck {
            boot: boot_id,
            agreed: Err(expected),
        }),
        "the refusal is handed to the shell, with the boot notification acknowledged"
    );
    assert_eq!(g.uplink.agreed_version(), Some(Err(expected)));
    assert_eq!(g.uplink.stats().versions_refused, 1);
    assert_eq!(
        expected.to_string(),
        "no common protocol version: this side speaks {1}, the peer {3}"
    );
    // A forged acknowledgement cannot change what was agreed.
    let forged = DownEnvelope::with_tag(
        Envelope::new(
            MessageId(g.next_request + 1),
            Downward::BootAck {
                boot: boot_id,
                versions: ProtocolVersions::UPLINK,
            },
        ),
        HexArray([0; 16]),
    );
    assert_eq!(g.send(&forged), Ok(Handled::Forged));
    assert_eq!(g.uplink.agreed_version(), Some(Err(expected)));
}

#[test]
fn a_huge_id_cannot_make_the_gateway_ignore_its_backend() {
    let mut g = Gateway::start();
    let first = g.request(Downward::GetConfiguration);
    // A stranger's message with the largest id: refused before the window.
    let forged = DownEnvelope::with_tag(
        Envelope::new(MessageId(u64::MAX - 1), Downward::GetDiagnostics),
        HexArray([0; 16]),
    );
    assert_eq!(g.send(&forged), Ok(Handled::Forged));
    assert_eq!(g.uplink.state().seen.highest(), Some(first));
    // Even a message tagged with the key (a backend gone wrong) moves the
    // window by at most its size: refused, answered, the window unmoved.
    let huge = signed(MessageId(u64::MAX), Downward::GetDiagnostics);
    assert_eq!(g.send(&huge), Ok(Handled::OutOfWindow));
    assert_eq!(g.answer(huge.id).unwrap_err().code, ErrorCode::OutOfWindow);
    assert_eq!(g.uplink.state().seen.highest(), Some(first));
    let far = signed(MessageId(first.0 + 1_000), Downward::GetDiagnostics);
    assert_eq!(g.send(&far), Ok(Handled::OutOfWindow));
    // The backend's next requests are carried out, in this epoch or a new one.
    let next = g.request(Downward::GetDiagnostics);
    assert!(g.answer(next).is_ok());
    g.next_request = MessageId::first_of_epoch(BACKEND_EPOCH + 5).0;
    let after_restart = g.request(Downward::GetDiagnostics);
    assert!(g.answer(after_restart).is_ok());
    assert_eq!(g.uplink.stats().out_of_window, 2);
}

#[test]
fn configuration_from_the_backend_cannot_take_security_limits_below_their_floors() {
    let mut g = Gateway::start();
    let config = locker_domain::uplink::policy_to_config(&policy());
    let lockout = config.lockout;
    let attempts = [
        PolicyConfig {
            code_digits: 4,
            ..config
        },
        PolicyConfig {
            lockout: locker_proto::uplink::LockoutConfig {
                base_lockout_ms: Duration::ZERO,
                max_lockout_ms: Duration::ZERO,
                ..lockout
            },
            ..config
        },
        PolicyConfig {
            lockout: locker_proto::uplink::LockoutConfig {
                free_attempts: 200,
                ..lockout
            },
            ..config
        },
        PolicyConfig {
            lockout: locker_proto::uplink::LockoutConfig {
                max_lockout_ms: Duration::from_secs(60),
                ..lockout
            },
            ..config
        },
        PolicyConfig {
            lockout: locker_proto::uplink::LockoutConfig {
                spike_threshold: u16::MAX,
                ..lockout
            },
            ..config
        },
        PolicyConfig {
            lockout: locker_proto::uplink::LockoutConfig {
                spike_window_ms: Duration::from_secs(1),
                ..lockout
            },
            ..config
        },
    ];
    for attempt in attempts {
        let id = g.request(Downward::ChangeConfiguration(attempt));
        assert_eq!(
            g.answer(id).unwrap_err().code,
            ErrorCode::InvalidConfiguration,
            "{attempt:?}"
        );
    }
    assert!(g.actions.is_empty(), "no policy applied: {:?}", g.actions);
    // At the floors exactly: accepted.
    let at_floor = g.request(Downward::ChangeConfiguration(PolicyConfig {
        code_digits: locker_domain::uplink::MIN_CODE_DIGITS,
        lockout: locker_proto::uplink::LockoutConfig {
            free_attempts: locker_domain::uplink::MAX_FREE_ATTEMPTS,
            base_lockout_ms: locker_domain::uplink::MIN_BASE_LOCKOUT,
            max_lockout_ms: locker_domain::uplink::MIN_MAX_LOCKOUT,
            spike_window_ms: locker_domain::uplink::MIN_SPIKE_WINDOW,
            spike_threshold: locker_domain::uplink::MAX_SPIKE_THRESHOLD,
        },
        ..config
    }));
    assert!(g.answer(at_floor).is_ok());
}

#[test]
fn a_gateway_cut_off_past_its_backlog_limit_refuses_new_transactions_until_it_drains() {
    let mut g = Gateway::start();
    let mut config = g.uplink.config().clone();
    config.backlog_limit = 100;
    g.uplink = Uplink::new(config, UplinkState::default(), 2);
    g.uplink.boot(&g.bank, ResetReason::PowerOn, g.now).unwrap();
    g.pump();

    g.uplink.set_backlog(99);
    assert!(!g.uplink.backlog_full());
    // A flood of messages (or a week offline) reaches the limit.
    g.uplink.set_backlog(100);
    assert!(g.uplink.backlog_full());
    assert!(g.uplink.refuses_new_transactions());
    let refused = g.request(reserve_small());
    assert_eq!(g.answer(refused).unwrap_err().code, ErrorCode::Busy);
    // Still closed until the backend took a tenth of it.
    g.uplink.set_backlog(91);
    assert!(g.uplink.backlog_full());
    g.uplink.set_backlog(90);
    assert!(!g.uplink.backlog_full());
    let taken = g.request(reserve_small());
    assert!(g.answer(taken).is_ok());
}
