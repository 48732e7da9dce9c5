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

// ---------------------------------------------------------------------------
// Every variant of every enum on the uplink, in order: the numbering is
// pinned, and each variant must appear in at least one golden message.
// ---------------------------------------------------------------------------

/// Every enum variant a value holds, as serde names it: (enum, variant
/// number, variant name). The enum is serde's name for it, the Rust type
/// name; the variant name is the one JSON uses.
mod record {
    use std::collections::BTreeSet;
    use std::fmt;

    use serde::Serialize;
    use serde::ser;

    pub(super) type Variant = (&'static str, u32, &'static str);

    #[derive(Debug)]
    pub(super) struct Never;

    impl fmt::Display for Never {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("recording cannot fail")
        }
    }

    impl std::error::Error for Never {}

    impl ser::Error for Never {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Never
        }
    }

    #[derive(Default)]
    pub(super) struct Variants(pub(super) BTreeSet<Variant>);

    /// The variants `value` holds, nested ones included.
    pub(super) fn variants<T: Serialize>(value: &T) -> BTreeSet<Variant> {
        let mut seen = Variants::default();
        value.serialize(&mut seen).unwrap();
        seen.0
    }

    type Done = Result<(), Never>;

    impl<'a> ser::Serializer for &'a mut Variants {
        type Ok = ();
        type Error = Never;
        type SerializeSeq = Self;
        type SerializeTuple = Self;
        type SerializeTupleStruct = Self;
        type SerializeTupleVariant = Self;
        type SerializeMap = Self;
        type SerializeStruct = Self;
        type SerializeStructVariant = Self;

        fn is_human_readable(&self) -> bool {
            false
        }
        fn serialize_bool(self, _: bool) -> Done {
            Ok(())
        }
        fn serialize_i8(self, _: i8) -> Done {
            Ok(())
        }
        fn serialize_i16(self, _: i16) -> Done {
            Ok(())
        }
        fn serialize_i32(self, _: i32) -> Done {
            Ok(())
        }
        fn serialize_i64(self, _: i64) -> Done {
            Ok(())
        }
        fn serialize_u8(self, _: u8) -> Done {
            Ok(())
        }
        fn serialize_u16(self, _: u16) -> Done {
            Ok(())
        }
        fn serialize_u32(self, _: u32) -> Done {
            Ok(())
        }
        fn serialize_u64(self, _: u64) -> Done {
            Ok(())
        }
        fn serialize_f32(self, _: f32) -> Done {
            Ok(())
        }
        fn serialize_f64(self, _: f64) -> Done {
            Ok(())
        }
        fn serialize_char(self, _: char) -> Done {
            Ok(())
        }
        fn serialize_str(self, _: &str) -> Done {
            Ok(())
        }
        fn serialize_bytes(self, _: &[u8]) -> Done {
            Ok(())
        }
        fn serialize_none(self) -> Done {
            Ok(())
        }
        fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Done {
            value.serialize(self)
        }
        fn serialize_unit(self) -> Done {
            Ok(())
        }
        fn serialize_unit_struct(self, _: &'static str) -> Done {
            Ok(())
        }
        fn serialize_unit_variant(self, name: &'static str, i: u32, v: &'static str) -> Done {
            self.0.insert((name, i, v));
            Ok(())
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            value: &T,
        ) -> Done {
            value.serialize(self)
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            name: &'static str,
            i: u32,
            v: &'static str,
            value: &T,
        ) -> Done {
            self.0.insert((name, i, v));
            value.serialize(self)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self, Never> {
            Ok(self)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self, Never> {
            Ok(self)
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
            Ok(self)
        }
        fn serialize_tuple_variant(
            self,
            name: &'static str,
            i: u32,
            v: &'static str,
            _: usize,
        ) -> Result<Self, Never> {
            self.0.insert((name, i, v));
            Ok(self)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self, Never> {
            Ok(self)
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
            Ok(self)
        }
        fn serialize_struct_variant(
            self,
            name: &'static str,
            i: u32,
            v: &'static str,
            _: usize,
        ) -> Result<Self, Never> {
            self.0.insert((name, i, v));
            Ok(self)
        }
    }

    impl ser::SerializeSeq for &mut Variants {
        type Ok = ();
        type Error = Never;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
            value.serialize(&mut **self)
        }
        fn end(self) -> Done {
            Ok(())
        }
    }

    impl ser::SerializeTuple for &mut Variants {
        type Ok = ();
        type Error = Never;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
            value.serialize(&mut **self)
        }
        fn end(self) -> Done {
            Ok(())
        }
    }

    impl ser::SerializeTupleStruct for &mut Variants {
        type Ok = ();
        type Error = Never;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
            value.serialize(&mut **self)
        }
        fn end(self) -> Done {
            Ok(())
        }
    }

    impl ser::SerializeTupleVariant for &mut Variants {
        type Ok = ();
        type Error = Never;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
            value.serialize(&mut **self)
        }
        fn end(self) -> Done {
            Ok(())
        }
    }

    impl ser::SerializeMap for &mut Variants {
        type Ok = ();
        type Error = Never;
        fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Done {
            key.serialize(&mut **self)
        }
        fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
            value.serialize(&mut **self)
        }
        fn end(self) -> Done {
            Ok(())
        }
    }

    impl ser::SerializeStruct for &mut Variants {
        type Ok = ();
        type Error = Never;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, _: &'static str, value: &T) -> Done {
            value.serialize(&mut **self)
        }
        fn end(self) -> Done {
            Ok(())
        }
    }

    impl ser::SerializeStructVariant for &mut Variants {
        type Ok = ();
        type Error = Never;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, _: &'static str, value: &T) -> Done {
            value.serialize(&mut **self)
        }
        fn end(self) -> Done {
            Ok(())
        }
    }
}

/// Every enum an uplink message holds, with its variants in postcard order
/// (variant `i` is number `i`) as JSON names them. spec/uplink.md lists the
/// same; appending, removing, renaming or reordering a variant fails here.
const NUMBERING: &[(&str, &[&str])] = &[
    (
        "Upward",
        &[
            "boot_notification",
            "layout",
            "node_boot",
            "heartbeat",
            "status_notification",
            "parcel_event",
            "notification",
            "alert",
            "security_event",
            "audit",
            "statistics",
            "call_result",
            "call_error",
        ],
    ),
    (
        "Downward",
        &[
            "ack",
            "reserve_compartment",
            "announce_parcel",
            "cancel_reservation",
            "extend_deadline",
            "remote_open",
            "change_availability",
            "reset",
            "change_configuration",
            "get_configuration",
            "trigger_snapshot",
            "get_diagnostics",
        ],
    ),
    (
        "Response",
        &[
            "reserved",
            "parcel_announced",
            "reservation_cancelled",
            "deadline_extended",
            "opening",
            "availability_changed",
            "reset_accepted",
            "configuration_changed",
            "configuration",
            "snapshot_scheduled",
            "diagnostics",
        ],
    ),
    (
        "ErrorCode",
        &[
            "not_supported",
            "formation_violation",
            "unknown_compartment",
            "unknown_node",
            "wrong_stage",
            "out_of_service",
            "oversize",
            "bank_full",
            "no_refrigerated_free",
            "no_accessible_free",
            "low_battery",
            "shutting_down",
            "reset_in_progress",
            "unavailable",
            "not_authorized",
            "replayed",
            "rate_limited",
            "invalid_configuration",
            "busy",
            "internal_error",
            "code_in_use",
            "out_of_window",
            "other_incarnation",
        ],
    ),
    (
        "CompartmentStatus",
        &[
            "free",
            "reserved",
            "depositing",
            "stored",
            "collecting",
            "expired",
            "removing",
            "inspecting",
        ],
    ),
    (
        "ParcelStep",
        &[
            "reserved",
            "reservation_cancelled",
            "reservation_expired",
            "deposit_started",
            "deposited",
            "no_parcel_detected",
            "reminded",
            "escalated",
            "expired",
            "pickup_started",
            "picked_up",
            "left_inside",
            "returned",
            "deadline_extended",
        ],
    ),
    (
        "AlertKind",
        &[
            "lock_fault",
            "door_ajar",
            "no_parcel_detected",
            "parcel_left_inside",
            "parcel_missing",
            "unexpected_item",
            "door_open_unexpectedly",
            "sensor_health",
            "removal_not_verified",
            "power_on_battery",
            "power_restored",
            "power_critical",
            "node_lost",
            "node_back",
            "node_fault",
            "forged_remote_open",
            "remote_open_flood",
        ],
    ),
    (
        "Evidence",
        &[
            "none",
            "presence",
            "door",
            "fault",
            "unlock_attempts",
            "scan",
            "health",
            "node",
            "power",
            "remote_open",
            "remote_opens",
        ],
    ),
    (
        "RemoteOpenRefusal",
        &[
            "forged_tag",
            "replayed",
            "stale",
            "rate_limited",
            "locked",
            "other_incarnation",
        ],
    ),
    (
        "SecurityKind",
        &[
            "forged_tag",
            "replay",
            "rate_limit_tripped",
            "keypad_lockout_spike",
            "forced_door",
        ],
    ),
    (
        "AuditEvent",
        &[
            "reserved",
            "reservation_cancelled",
            "reservation_expired",
            "unlock_commanded",
            "door_opened",
            "door_closed",
            "deposit_verified",
            "no_parcel_detected",
            "pickup_verified",
            "parcel_left_inside",
            "reminder_sent",
            "reminder_deferred",
            "escalation_sent",
            "expired",
            "door_forced",
            "door_ajar",
            "lock_fault",
            "sensor_disagrees",
            "out_of_service",
            "back_in_service",
            "deadline_extended",
            "code_rejected",
            "code_accepted",
            "keypad_attack_suspected",
            "power",
            "restored",
            "discrepancy",
            "node_lost",
            "node_back",
            "fault_reported",
            "maintenance_needed",
            "remote_open_accepted",
            "remote_open_refused",
            "remote_opens_locked",
            "remote_open_lock_cleared",
            "staff_opened",
            "staff_open_all",
            "token_accepted",
            "token_refused",
            "sensor_recalibrated",
            "incarnation_started",
            "code_for_counter_parcel",
            "deposit_code_accepted",
            "deposit_code_rejected",
            "deposit_opened_by",
            "removal_certified",
            "other",
        ],
    ),
    ("Credential", &["code_hash", "offline_token"]),
    ("Scope", &["bank", "compartment"]),
    ("ResetTarget", &["gateway", "node"]),
    (
        "Actor",
        &["courier", "recipient", "staff", "backend", "system"],
    ),
    ("ParcelKind", &["delivery", "return"]),
    ("Purpose", &["deposit", "pickup", "removal", "inspection"]),
    (
        "ServiceReason",
        &[
            "override",
            "forced_door",
            "lock_fault",
            "sensor_disagrees",
            "removal_not_verified",
        ],
    ),
    (
        "NotificationKind",
        &[
            "parcel_ready",
            "no_parcel_detected",
            "reminder",
            "escalation",
            "removal_task",
            "parcel_left_inside",
            "close_the_door",
            "reservation_expired",
            "door_would_not_open",
            "parcel_expired",
            "moved_to_counter",
            "parcel_incident",
        ],
    ),
    (
        "HealthIssue",
        &[
            "presence_drift",
            "presence_stuck",
            "door_flapping",
            "repeated_lock_faults",
        ],
    ),
    ("SizeClass", &["Small", "Medium", "Large", "ExtraLarge"]),
    ("DoorState", &["Closed", "Open"]),
    ("PowerStatus", &["Mains", "Battery", "Critical"]),
    (
        "FaultCode",
        &[
            "LockJammed",
            "DoorDidNotOpen",
            "DoorSwitchFlapping",
            "PresenceStuck",
            "PresenceDrift",
            "PresenceSensorFailed",
            "TemperatureOutOfRange",
            "Brownout",
            "EventsDropped",
        ],
    ),
    (
        "ResetReason",
        &[
            "PowerOn",
            "Brownout",
            "Watchdog",
            "SoftReboot",
            "HardReboot",
            "ResetPin",
            "Unknown",
        ],
    ),
    ("RebootKind", &["Soft", "Hard"]),
];

/// The variants the golden messages hold, and how many of the table's.
fn coverage() -> (std::collections::BTreeSet<record::Variant>, usize, usize) {
    let mut seen = std::collections::BTreeSet::new();
    for (_, sample) in samples() {
        match sample {
            Sample::Up(m) => seen.extend(record::variants(&m)),
            Sample::Down(m) => seen.extend(record::variants(&m)),
        }
    }
    let total = NUMBERING.iter().map(|(_, v)| v.len()).sum();
    let covered = NUMBERING
        .iter()
        .flat_map(|(e, vs)| vs.iter().enumerate().map(move |(i, v)| (*e, i, *v)))
        .filter(|(e, i, v)| seen.contains(&(*e, u32::try_from(*i).unwrap(), *v)))
        .count();
    (seen, covered, total)
}

#[test]
fn every_variant_the_golden_messages_hold_has_its_number_and_name() {
    let (seen, covered, total) = coverage();
    for (e, i, v) in &seen {
        let (_, names) = NUMBERING
            .iter()
            .find(|(name, _)| name == e)
            .unwrap_or_else(|| panic!("enum {e} is on the uplink but not in NUMBERING"));
        assert_eq!(
            names.get(*i as usize),
            Some(v),
            "{e} variant {i} is {v}: the numbering changed"
        );
    }
    println!("golden messages hold {covered} of {total} enum variants");
}

/// Asserts that the enum `T` (serde's name `name`) has no variant past the
/// last one in [`NUMBERING`]: a variant appended without being added to the
/// table (and to spec/uplink.md) fails here.
fn nothing_past_the_end<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    name: &'static str,
) -> &'static str {
    let (_, names) = NUMBERING.iter().find(|(e, _)| *e == name).unwrap();
    let mut beyond = vec![u8::try_from(names.len()).unwrap()];
    beyond.extend_from_slice(&[0u8; 64]);
    assert_eq!(
        postcard::from_bytes::<T>(&beyond).err(),
        Some(postcard::Error::SerdeDeCustom),
        "{name} has a variant {}: add it to NUMBERING, spec/uplink.md and a golden message",
        names.len()
    );
    name
}

#[test]
fn no_enum_on_the_uplink_has_a_variant_the_table_lacks() {
    let checked = [
        nothing_past_the_end::<Upward>("Upward"),
        nothing_past_the_end::<Downward>("Downward"),
        nothing_past_the_end::<Response>("Response"),
        nothing_past_the_end::<ErrorCode>("ErrorCode"),
        nothing_past_the_end::<CompartmentStatus>("CompartmentStatus"),
        nothing_past_the_end::<ParcelStep>("ParcelStep"),
        nothing_past_the_end::<AlertKind>("AlertKind"),
        nothing_past_the_end::<Evidence>("Evidence"),
        nothing_past_the_end::<RemoteOpenRefusal>("RemoteOpenRefusal"),
        nothing_past_the_end::<SecurityKind>("SecurityKind"),
        nothing_past_the_end::<AuditEvent>("AuditEvent"),
        nothing_past_the_end::<Credential>("Credential"),
        nothing_past_the_end::<Scope>("Scope"),
        nothing_past_the_end::<ResetTarget>("ResetTarget"),
        nothing_past_the_end::<Actor>("Actor"),
        nothing_past_the_end::<ParcelKind>("ParcelKind"),
        nothing_past_the_end::<Purpose>("Purpose"),
        nothing_past_the_end::<ServiceReason>("ServiceReason"),
        nothing_past_the_end::<NotificationKind>("NotificationKind"),
        nothing_past_the_end::<HealthIssue>("HealthIssue"),
        nothing_past_the_end::<SizeClass>("SizeClass"),
        nothing_past_the_end::<DoorState>("DoorState"),
        nothing_past_the_end::<PowerStatus>("PowerStatus"),
        nothing_past_the_end::<FaultCode>("FaultCode"),
        nothing_past_the_end::<ResetReason>("ResetReason"),
        nothing_past_the_end::<RebootKind>("RebootKind"),
    ];
    let table: Vec<&str> = NUMBERING.iter().map(|(e, _)| *e).collect();
    assert_eq!(
        checked.to_vec(),
        table,
        "every enum in NUMBERING is checked, in its order"
    );
}
