//! Golden files for every uplink message, in both encodings.
//!
//! For each message below, `tests/golden/uplink/<name>.json` holds its
//! pretty-printed JSON and `<name>.postcard.hex` its postcard bytes in
//! lowercase hex. The test encodes each sample and compares with the files,
//! then decodes the files and compares with the sample, so a change to a
//! message's encoding cannot slip through unnoticed. Backends written in
//! other languages can test their codecs against the same files.
//!
//! After an intended change, rewrite the files and review the diff:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p locker-proto --test uplink_golden
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::*;
use locker_proto::{
    Channel, CompartmentId, Dimensions, DoorState, FaultCode, FirmwareVersion, NodeAddr,
    PowerStatus, Presence, RebootKind, ResetReason, SizeClass,
};

fn at(ms: u64) -> Stamp {
    Stamp::new(
        Instant::from_millis(ms),
        Some(1_767_225_600 + (ms / 1000) as i64),
    )
}

/// Gateway epoch 3, backend epoch 1_700_000.
fn up_id(n: u32) -> MessageId {
    MessageId(MessageId::first_of_epoch(3).0 + u64::from(n))
}

fn down_id(n: u32) -> MessageId {
    MessageId(MessageId::first_of_epoch(1_700_000).0 + u64::from(n))
}

/// A sample audit link: 32 bytes that differ per record.
fn link(seq: u8) -> AuditLink {
    HexArray(core::array::from_fn(|i| {
        seq.wrapping_mul(31).wrapping_add(i as u8 * 7)
    }))
}

fn text<const N: usize>(s: &str) -> heapless::String<N> {
    heapless::String::try_from(s).unwrap()
}

fn nodes() -> heapless::Vec<NodeInfo, MAX_NODES> {
    let mut nodes = heapless::Vec::new();
    nodes
        .push(NodeInfo {
            node: NodeAddr(1),
            firmware: Some(FirmwareVersion::new(1, 4, 2)),
            reset_reason: Some(ResetReason::PowerOn),
        })
        .unwrap();
    nodes
        .push(NodeInfo {
            node: NodeAddr(2),
            firmware: None,
            reset_reason: None,
        })
        .unwrap();
    nodes
}

fn policy() -> PolicyConfig {
    PolicyConfig {
        reminder_after_ms: Duration::from_hours(24),
        escalation_after_ms: Duration::from_hours(48),
        expiry_after_ms: Duration::from_hours(72),
        reservation_hold_ms: Duration::from_hours(24),
        deposit_window_ms: Duration::from_mins(10),
        door_ajar_limit_ms: Duration::from_mins(2),
        unlock_confirm_ms: Duration::from_secs(15),
        presence_settle_ms: Duration::from_secs(3),
        unlock_pulse_ms: 500,
        code_digits: 6,
        min_charge_for_deposit: 30,
        quiet_hours: Some(QuietHours {
            start_minute: 21 * 60,
            end_minute: 8 * 60,
        }),
        lockout: LockoutConfig {
            free_attempts: 3,
            base_lockout_ms: Duration::from_secs(30),
            max_lockout_ms: Duration::from_hours(1),
            spike_window_ms: Duration::from_mins(10),
            spike_threshold: 20,
        },
        health: HealthConfig {
            drift_band: 4,
            stuck_after_ms: Duration::from_hours(24),
            flap_window_ms: Duration::from_mins(1),
            flap_changes: 10,
            lock_fault_limit: 3,
        },
    }
}

enum Sample {
    Up(UpEnvelope),
    Down(DownEnvelope),
}

/// A downward message with a tag: made-up bytes here (the golden files pin
/// the encoding; `locker-domain/tests/uplink_tag_vector.rs` pins the MAC).
fn tagged(message: Envelope<Downward>) -> DownEnvelope {
    DownEnvelope::with_tag(message, HexArray([0xa5; 16]))
}

fn result(n: u32, request: u32, response: Response) -> Sample {
    Sample::Up(Envelope::new(
        up_id(n),
        Upward::CallResult(CallResult {
            request: down_id(request),
            response,
        }),
    ))
}

fn samples() -> Vec<(&'static str, Sample)> {
    use Sample::{Down, Up};
    let c3 = CompartmentId(3);
    let mut layout = heapless::Vec::new();
    layout
        .push(CompartmentInfo {
            id: CompartmentId(1),
            node: NodeAddr(1),
            channel: Channel(0),
            size: SizeClass::Small,
            inner: Dimensions::new(420, 80, 600),
            refrigerated: false,
            accessible: true,
        })
        .unwrap();
    layout
        .push(CompartmentInfo {
            id: CompartmentId(2),
            node: NodeAddr(1),
            channel: Channel(1),
            size: SizeClass::Large,
            inner: Dimensions::new(420, 390, 600),
            refrigerated: true,
            accessible: false,
        })
        .unwrap();
    let mut out_of_service = heapless::Vec::new();
    out_of_service
        .push(OutOfService {
            compartment: CompartmentId(5),
            reason: ServiceReason::LockFault,
        })
        .unwrap();
    vec![
        (
            "boot_notification",
            Up(Envelope::new(
                up_id(0),
                Upward::BootNotification(BootNotification {
                    bank_id: text("bank-0042"),
                    reason: ResetReason::SoftReboot,
                    reset_request: Some(down_id(17)),
                    gateway_firmware: FirmwareVersion::new(0, 1, 0),
                    nodes: nodes(),
                    compartments: 2,
                    layout_fingerprint: 0xdead_beef,
                    incarnation: 0x6d1c_2e07,
                    at: at(1_200),
                }),
            )),
        ),
        (
            "layout",
            Up(Envelope::new(
                up_id(1),
                Upward::Layout(LayoutPage {
                    first: 0,
                    total: 2,
                    compartments: layout,
                }),
            )),
        ),
        (
            "node_boot",
            Up(Envelope::new(
                up_id(2),
                Upward::NodeBoot(NodeBoot {
                    node: NodeAddr(2),
                    firmware: FirmwareVersion::new(1, 4, 2),
                    reset_reason: ResetReason::SoftReboot,
                    uptime_ms: 850,
                    reset_request: Some(down_id(18)),
                    at: at(3_400),
                }),
            )),
        ),
        (
            "heartbeat",
            Up(Envelope::new(
                up_id(3),
                Upward::Heartbeat(Heartbeat {
                    at: at(300_000),
                    backlog: 2,
                }),
            )),
        ),
        (
            "status_notification",
            Up(Envelope::new(
                up_id(4),
                Upward::StatusNotification(StatusNotification {
                    compartment: c3,
                    status: CompartmentStatus::Stored,
                    door: DoorState::Closed,
                    occupied: Some(true),
                    parcel: Some(ParcelNumber(7)),
                    out_of_service: None,
                    at: at(81_234),
                }),
            )),
        ),
        (
            "parcel_event",
            Up(Envelope::new(
                up_id(5),
                Upward::ParcelEvent(ParcelEvent {
                    parcel: ParcelNumber(7),
                    compartment: c3,
                    step: ParcelStep::Deposited,
                    actor: Actor::Courier,
                    at: at(81_234),
                }),
            )),
        ),
        (
            "parcel_event_deadline_extended",
            Up(Envelope::new(
                up_id(6),
                Upward::ParcelEvent(ParcelEvent {
                    parcel: ParcelNumber(7),
                    compartment: c3,
                    step: ParcelStep::DeadlineExtended {
                        by_ms: Duration::from_hours(24),
                    },
                    actor: Actor::Backend,
                    at: at(90_000),
                }),
            )),
        ),
        (
            "notification",
            Up(Envelope::new(
                up_id(7),
                Upward::Notification(Notification {
                    to: Actor::Recipient,
                    compartment: c3,
                    parcel: Some(ParcelNumber(7)),
                    kind: NotificationKind::ParcelReady,
                    at: at(81_234),
                }),
            )),
        ),
        (
            "alert",
            Up(Envelope::new(
                up_id(8),
                Upward::Alert(Alert {
                    kind: AlertKind::SensorHealth,
                    compartment: Some(CompartmentId(5)),
                    parcel: None,
                    evidence: Evidence::Health(HealthIssue::PresenceDrift {
                        reading: -9,
                        threshold: 10,
                        band: 4,
                    }),
                    snapshot: None,
                    at: at(120_000),
                }),
            )),
        ),
        (
            "alert_power",
            Up(Envelope::new(
                up_id(9),
                Upward::Alert(Alert {
                    kind: AlertKind::PowerOnBattery,
                    compartment: None,
                    parcel: None,
                    evidence: Evidence::Power(PowerStatus::Battery {
                        charge_percent: 64,
                        minutes_left: 95,
                    }),
                    snapshot: None,
                    at: at(125_000),
                }),
            )),
        ),
        (
            "security_event",
            Up(Envelope::new(
                up_id(10),
                Upward::SecurityEvent(SecurityEvent {
                    kind: SecurityKind::ForcedDoor,
                    compartment: Some(CompartmentId(4)),
                    node: Some(NodeAddr(1)),
                    request_id: None,
                    keypad: None,
                    count: 1,
                    snapshot: Some(12),
                    at: at(130_000),
                }),
            )),
        ),
        (
            "audit",
            Up(Envelope::new(
                up_id(11),
                Upward::Audit(AuditRecord {
                    seq: 211,
                    at: at(81_234),
                    actor: Actor::Courier,
                    compartment: Some(c3),
                    parcel: Some(ParcelNumber(7)),
                    event: AuditEvent::SensorDisagrees {
                        presence: Presence::occupied(250, 10),
                    },
                    snapshot: None,
                    link: link(211),
                }),
            )),
        ),
        (
            "audit_fault",
            Up(Envelope::new(
                up_id(12),
                Upward::Audit(AuditRecord {
                    seq: 212,
                    at: at(82_000),
                    actor: Actor::System,
                    compartment: Some(CompartmentId(5)),
                    parcel: None,
                    event: AuditEvent::FaultReported(FaultCode::LockJammed),
                    snapshot: None,
                    link: link(212),
                }),
            )),
        ),
        (
            "audit_remote_open_refused",
            Up(Envelope::new(
                up_id(26),
                Upward::Audit(AuditRecord {
                    seq: 213,
                    at: at(83_000),
                    actor: Actor::Backend,
                    compartment: Some(c3),
                    parcel: None,
                    event: AuditEvent::RemoteOpenRefused {
                        compartment: c3,
                        request_id: 9000,
                        reason: RemoteOpenRefusal::Replayed,
                    },
                    snapshot: None,
                    link: link(213),
                }),
            )),
        ),
        (
            "statistics",
            Up(Envelope::new(
                up_id(13),
                Upward::Statistics(Statistics {
                    at: at(3_600_000),
                    deposits: 120,
                    pickups: 113,
                    reminders: 14,
                    escalations: 2,
                    expiries: 1,
                    alerts: 6,
                    mean_dwell_s: Some(41_400),
                    compartments: 48,
                    free: 30,
                    out_of_service: 1,
                    backlog: 0,
                }),
            )),
        ),
        (
            "call_result_reserved",
            result(
                14,
                1,
                Response::Reserved {
                    compartment: c3,
                    parcel: ParcelNumber(7),
                    pickup_code: Some(text("493027")),
                },
            ),
        ),
        (
            "call_result_parcel_announced",
            result(
                15,
                2,
                Response::ParcelAnnounced {
                    compartment: c3,
                    parcel: ParcelNumber(8),
                    pickup_code: None,
                },
            ),
        ),
        (
            "call_result_reservation_cancelled",
            result(16, 3, Response::ReservationCancelled { compartment: c3 }),
        ),
        (
            "call_result_deadline_extended",
            result(17, 4, Response::DeadlineExtended { compartment: c3 }),
        ),
        (
            "call_result_opening",
            result(
                18,
                5,
                Response::Opening {
                    compartment: c3,
                    request_id: 9001,
                },
            ),
        ),
        (
            "call_result_availability_changed",
            result(
                19,
                6,
                Response::AvailabilityChanged {
                    scope: Scope::Compartment(CompartmentId(5)),
                    available: false,
                },
            ),
        ),
        (
            "call_result_reset_accepted",
            result(
                20,
                7,
                Response::ResetAccepted {
                    target: ResetTarget::Node(NodeAddr(2)),
                    in_flight: 1,
                },
            ),
        ),
        (
            "call_result_configuration_changed",
            result(
                21,
                8,
                Response::ConfigurationChanged {
                    reboot_required: true,
                },
            ),
        ),
        (
            "call_result_configuration",
            result(22, 9, Response::Configuration(policy())),
        ),
        (
            "call_result_snapshot_scheduled",
            result(23, 10, Response::SnapshotScheduled { compartment: c3 }),
        ),
        (
            "call_result_diagnostics",
            result(
                24,
                11,
                Response::Diagnostics(Diagnostics {
                    gateway_firmware: FirmwareVersion::new(0, 1, 0),
                    nodes: nodes(),
                    bus: BusStats {
                        frames_sent: 91_000,
                        retransmissions: 12,
                        responses: 90_950,
                        timeouts: 38,
                        unexpected: 2,
                        duplicates_filtered: 4,
                        nodes_lost: 1,
                    },
                    out_of_service,
                    out_of_service_total: 1,
                    sensor_health_alerts: 2,
                    backlog: 0,
                    duplicates_ignored: 3,
                    forged_refused: 2,
                }),
            ),
        ),
        (
            "call_error",
            Up(Envelope::new(
                up_id(25),
                Upward::CallError(CallError {
                    request: down_id(12),
                    code: ErrorCode::BankFull,
                    description: text(
                        "every compartment that fits this parcel is taken: try later",
                    ),
                }),
            )),
        ),
        (
            "ack",
            Down(tagged(Envelope::new(down_id(0), Downward::Ack(up_id(5))))),
        ),
        (
            "reserve_compartment",
            Down(tagged(Envelope::new(
                down_id(1),
                Downward::ReserveCompartment(ReserveCompartment {
                    kind: ParcelKind::Delivery,
                    needs: ParcelNeeds {
                        size: Some(SizeClass::Medium),
                        dimensions: None,
                        perishable: false,
                        accessible: false,
                    },
                }),
            ))),
        ),
        (
            "announce_parcel",
            Down(tagged(Envelope::new(
                down_id(2),
                Downward::AnnounceParcel(AnnounceParcel {
                    parcel_ref: text("JJD000390007751234"),
                    recipient: text("resident:4711"),
                    kind: ParcelKind::Delivery,
                    needs: ParcelNeeds {
                        size: None,
                        dimensions: Some(Dimensions::new(300, 120, 200)),
                        perishable: true,
                        accessible: false,
                    },
                    deadlines: Deadlines {
                        extra_pickup_ms: Duration::from_hours(48),
                    },
                    credential: Credential::CodeHash(HexArray([
                        0x5e, 0x88, 0x48, 0x98, 0xda, 0x28, 0x04, 0x71, 0x51, 0xd0, 0xe5, 0x6f,
                        0x8d, 0xc6, 0x29, 0x27,
                    ])),
                }),
            ))),
        ),
        (
            "announce_parcel_offline_token",
            Down(tagged(Envelope::new(
                down_id(3),
                Downward::AnnounceParcel(AnnounceParcel {
                    parcel_ref: text("RET-2026-0042"),
                    recipient: text("courier:dhl"),
                    kind: ParcelKind::Return,
                    needs: ParcelNeeds {
                        size: Some(SizeClass::Small),
                        dimensions: None,
                        perishable: false,
                        accessible: true,
                    },
                    deadlines: Deadlines::default(),
                    credential: Credential::OfflineToken(
                        HexBytes::from_slice(b"\x01token-issued-by-backend\xff").unwrap(),
                    ),
                }),
            ))),
        ),
        (
            "cancel_reservation",
            Down(tagged(Envelope::new(
                down_id(4),
                Downward::CancelReservation { compartment: c3 },
            ))),
        ),
        (
            "extend_deadline",
            Down(tagged(Envelope::new(
                down_id(5),
                Downward::ExtendDeadline {
                    compartment: c3,
                    by_ms: Duration::from_hours(24),
                },
            ))),
        ),
        (
            "remote_open",
            Down(tagged(Envelope::new(
                down_id(6),
                Downward::RemoteOpen(RemoteOpen {
                    incarnation: 0x6d1c_2e07,
                    compartment: c3,
                    request_id: 9001,
                    tag: HexArray([
                        0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x97, 0xa6, 0xb5, 0xc4,
                        0xd3, 0xe2, 0xf1, 0x00,
                    ]),
                }),
            ))),
        ),
        (
            "change_availability",
            Down(tagged(Envelope::new(
                down_id(7),
                Downward::ChangeAvailability {
                    scope: Scope::Bank,
                    available: false,
                },
            ))),
        ),
        (
            "reset",
            Down(tagged(Envelope::new(
                down_id(8),
                Downward::Reset {
                    kind: RebootKind::Soft,
                    target: ResetTarget::Gateway,
                },
            ))),
        ),
        (
            "change_configuration",
            Down(tagged(Envelope::new(
                down_id(9),
                Downward::ChangeConfiguration(policy()),
            ))),
        ),
        (
            "get_configuration",
            Down(tagged(Envelope::new(
                down_id(10),
                Downward::GetConfiguration,
            ))),
        ),
        (
            "trigger_snapshot",
            Down(tagged(Envelope::new(
                down_id(11),
                Downward::TriggerSnapshot { compartment: c3 },
            ))),
        ),
        (
            "get_diagnostics",
            Down(tagged(Envelope::new(down_id(12), Downward::GetDiagnostics))),
        ),
    ]
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/uplink")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    for b in bytes {
        write!(s, "{b:02x}").unwrap();
    }
    s.push('\n');
    s
}

fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Compares `actual` with the golden file, or writes it when updating.
fn check_file(name: &str, actual: &str) -> String {
    let path = golden_dir().join(name);
    if updating() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `UPDATE_GOLDEN=1 cargo test -p locker-proto --test uplink_golden`",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} no longer matches; if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
    expected
}

fn check<T>(name: &str, sample: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string_pretty(sample).unwrap() + "\n";
    let golden = check_file(&format!("{name}.json"), &json);
    let decoded: T = serde_json::from_str(&golden).unwrap();
    assert_eq!(&decoded, sample, "{name}.json decodes to something else");

    let mut buf = [0u8; MAX_POSTCARD_LEN];
    let bytes = postcard::to_slice(sample, &mut buf).unwrap();
    let golden = check_file(&format!("{name}.postcard.hex"), &hex(bytes));
    let decoded: T = postcard::from_bytes(&unhex(&golden)).unwrap();
    assert_eq!(
        &decoded, sample,
        "{name}.postcard.hex decodes to something else"
    );
}

#[test]
fn every_uplink_message_matches_its_golden_files_in_json_and_postcard() {
    for (name, sample) in samples() {
        match sample {
            Sample::Up(m) => {
                check(name, &m);
                let mut buf = [0u8; MAX_POSTCARD_LEN];
                let bytes = m.to_postcard(&mut buf).unwrap();
                assert_eq!(UpEnvelope::from_postcard(bytes).unwrap(), m);
            }
            Sample::Down(m) => {
                check(name, &m);
                let mut buf = [0u8; MAX_POSTCARD_LEN];
                let bytes = m.to_postcard(&mut buf).unwrap();
                assert_eq!(DownEnvelope::from_postcard(bytes).unwrap(), m);
            }
        }
    }
}

#[test]
fn every_message_kind_has_a_golden_sample_and_no_golden_file_is_orphaned() {
    let samples = samples();
    let mut names: Vec<&str> = samples
        .iter()
        .map(|(_, s)| match s {
            Sample::Up(m) => m.body.name(),
            Sample::Down(m) => m.body.name(),
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let every = [
        "ack",
        "alert",
        "announce_parcel",
        "audit",
        "boot_notification",
        "call_error",
        "call_result",
        "cancel_reservation",
        "change_availability",
        "change_configuration",
        "extend_deadline",
        "get_configuration",
        "get_diagnostics",
        "heartbeat",
        "layout",
        "node_boot",
        "notification",
        "parcel_event",
        "remote_open",
        "reserve_compartment",
        "reset",
        "security_event",
        "statistics",
        "status_notification",
        "trigger_snapshot",
    ];
    assert_eq!(names, every);
    if updating() {
        return;
    }
    let known: Vec<String> = samples
        .iter()
        .flat_map(|(n, _)| [format!("{n}.json"), format!("{n}.postcard.hex")])
        .collect();
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        assert!(known.contains(&file), "golden file {file} has no sample");
    }
}

#[test]
fn a_newer_peer_or_garbage_is_refused_with_a_reason_not_a_panic() {
    let mut buf = [0u8; MAX_POSTCARD_LEN];
    let ok = tagged(Envelope::new(MessageId(1), Downward::GetDiagnostics));
    let bytes = ok.to_postcard(&mut buf).unwrap().to_vec();
    let mut newer = bytes.clone();
    newer[0] = UPLINK_VERSION + 1;
    assert_eq!(
        DownEnvelope::from_postcard(&newer),
        Err(CodecError::UnsupportedVersion(UPLINK_VERSION + 1))
    );
    let mut unknown = bytes.clone();
    unknown[2] = 0x7f; // a variant this side does not know
    assert_eq!(
        DownEnvelope::from_postcard(&unknown),
        Err(CodecError::Malformed)
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        DownEnvelope::from_postcard(&longer),
        Err(CodecError::TrailingBytes(1))
    );
    assert_eq!(DownEnvelope::from_postcard(&[]), Err(CodecError::Malformed));
    let json = r#"{"v":2,"id":1,"body":"get_diagnostics"}"#;
    let newer: DownEnvelope = serde_json::from_str(json).unwrap();
    assert_eq!(
        newer.check_version(),
        Err(CodecError::UnsupportedVersion(2))
    );
    let bad_hex =
        r#"{"v":1,"id":1,"body":{"remote_open":{"compartment":3,"request_id":1,"tag":"zz"}}}"#;
    assert!(serde_json::from_str::<DownEnvelope>(bad_hex).is_err());
    let long_ref = format!(
        r#"{{"v":1,"id":1,"body":{{"cancel_reservation":{{"compartment":{}}}}}}}"#,
        u32::MAX
    );
    assert!(serde_json::from_str::<DownEnvelope>(&long_ref).is_err());
}

#[test]
fn the_largest_messages_fit_max_postcard_len() {
    let mut nodes = heapless::Vec::new();
    for n in 0..MAX_NODES {
        nodes
            .push(NodeInfo {
                node: NodeAddr(200 + n as u8),
                firmware: Some(FirmwareVersion::new(255, 255, 255)),
                reset_reason: Some(ResetReason::HardReboot),
            })
            .unwrap();
    }
    let mut out_of_service = heapless::Vec::new();
    for n in 0..MAX_LISTED_OUT_OF_SERVICE {
        out_of_service
            .push(OutOfService {
                compartment: CompartmentId(60_000 + n as u16),
                reason: ServiceReason::RemovalNotVerified,
            })
            .unwrap();
    }
    let big_stamp = Stamp::new(Instant::MAX, Some(i64::MIN));
    let boot = Envelope::new(
        MessageId(u64::MAX),
        Upward::BootNotification(BootNotification {
            bank_id: text(&"b".repeat(32)),
            reason: ResetReason::HardReboot,
            reset_request: Some(MessageId(u64::MAX)),
            gateway_firmware: FirmwareVersion::new(255, 255, 255),
            nodes: nodes.clone(),
            compartments: u16::MAX,
            layout_fingerprint: u32::MAX,
            incarnation: u32::MAX,
            at: big_stamp,
        }),
    );
    let diagnostics = Envelope::new(
        MessageId(u64::MAX),
        Upward::CallResult(CallResult {
            request: MessageId(u64::MAX),
            response: Response::Diagnostics(Diagnostics {
                gateway_firmware: FirmwareVersion::new(255, 255, 255),
                nodes,
                bus: BusStats {
                    frames_sent: u32::MAX,
                    retransmissions: u32::MAX,
                    responses: u32::MAX,
                    timeouts: u32::MAX,
                    unexpected: u32::MAX,
                    duplicates_filtered: u32::MAX,
                    nodes_lost: u32::MAX,
                },
                out_of_service,
                out_of_service_total: u16::MAX,
                sensor_health_alerts: u32::MAX,
                backlog: u32::MAX,
                duplicates_ignored: u32::MAX,
                forged_refused: u32::MAX,
            }),
        }),
    );
    let mut page = heapless::Vec::new();
    for n in 0..LAYOUT_PAGE {
        page.push(CompartmentInfo {
            id: CompartmentId(60_000 + n as u16),
            node: NodeAddr(247),
            channel: Channel(31),
            size: SizeClass::ExtraLarge,
            inner: Dimensions::new(u16::MAX, u16::MAX, u16::MAX),
            refrigerated: true,
            accessible: true,
        })
        .unwrap();
    }
    let layout = Envelope::new(
        MessageId(u64::MAX),
        Upward::Layout(LayoutPage {
            first: u16::MAX,
            total: u16::MAX,
            compartments: page,
        }),
    );
    let announce = tagged(Envelope::new(
        MessageId(u64::MAX),
        Downward::AnnounceParcel(AnnounceParcel {
            parcel_ref: text(&"r".repeat(32)),
            recipient: text(&"x".repeat(64)),
            kind: ParcelKind::Return,
            needs: ParcelNeeds {
                size: Some(SizeClass::ExtraLarge),
                dimensions: Some(Dimensions::new(u16::MAX, u16::MAX, u16::MAX)),
                perishable: true,
                accessible: true,
            },
            deadlines: Deadlines {
                extra_pickup_ms: Duration::MAX,
            },
            credential: Credential::OfflineToken(HexBytes::from_slice(&[0xff; 64]).unwrap()),
        }),
    ));
    let mut buf = [0u8; MAX_POSTCARD_LEN];
    let mut largest = 0;
    for up in [&boot, &diagnostics, &layout] {
        largest = largest.max(up.to_postcard(&mut buf).unwrap().len());
    }
    largest = largest.max(announce.to_postcard(&mut buf).unwrap().len());
    assert!(largest <= MAX_POSTCARD_LEN, "{largest} bytes");
    assert!(
        largest > MAX_POSTCARD_LEN / 2,
        "MAX_POSTCARD_LEN is far too generous: {largest}"
    );
}
