//! Golden files for every uplink message, in both encodings: the
//! byte-for-byte companion of `spec/uplink.md`.
//!
//! For each message below, `tests/golden/uplink/<name>.json` holds its
//! pretty-printed JSON and `<name>.postcard.hex` its postcard bytes in
//! lowercase hex. The tests
//!
//! 1. encode each sample and compare with the files, then decode the files
//!    and compare with the sample, so a change to a message's encoding
//!    cannot slip through unnoticed;
//! 2. pin the number and JSON name of every variant of every enum on the
//!    uplink ([`NUMBERING`]) and check that every one of them appears in at
//!    least one golden message;
//! 3. check every MAC in the golden messages (the downward tag, the remote
//!    open's tag, the code hash) and in `mac_vectors.json` (key derivation,
//!    offline token, deposit code) again from scratch, following
//!    `spec/uplink.md` with an HMAC-SHA256 and an HKDF built here from
//!    SHA-256 alone, under the published test secret.
//!
//! The samples' MACs are made by that from-scratch code, not by the crate
//! that makes them in a bank (`locker-domain`, which this crate cannot
//! depend on): `locker-domain/tests/uplink_tag_vector.rs` checks that
//! `sign_downward`, `RemoteOpen::signed`, `CodeHash::of`,
//! `OfflineToken::issue` and `DepositCode::for_parcel` produce exactly the
//! values in these files. Backends written in other languages can test
//! their codecs and MACs against the same files.
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

mod support;

use std::path::PathBuf;

use support::{hex, unhex, updating};

use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::*;
use locker_proto::{
    Channel, CompartmentId, Dimensions, DoorState, FaultCode, FirmwareVersion, NodeAddr,
    NodeConfig, PowerStatus, Presence, ProtocolVersions, RebootKind, ResetReason, SizeClass,
    Temperature, TimeZone,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The published test parameters (spec/uplink.md, "Golden messages").
// ---------------------------------------------------------------------------

/// The published test bank secret: 32 bytes of 0x5a. Never use it in a bank.
const BANK_SECRET: [u8; 32] = [0x5a; 32];
/// The bank number the keys are derived for.
const BANK_NUMBER: u32 = 7;
/// The bank's incarnation in the golden messages.
const INCARNATION: u32 = 0x6d1c_2e07;
/// The pickup code behind the code hash of `announce_parcel`.
const BACKEND_CODE: &str = "271828";
/// The gateway's epoch in the golden messages.
const GATEWAY_EPOCH: u32 = 3;
/// The backend's epoch in the golden messages.
const BACKEND_EPOCH: u32 = 1_700_000;

// ---------------------------------------------------------------------------
// spec/uplink.md's MACs, implemented from scratch: nothing below calls this
// crate.
// ---------------------------------------------------------------------------

mod spec {

    pub(super) use crate::support::hmac_sha256;

    /// The first 16 bytes of HMAC-SHA256(key, input): every uplink MAC.
    pub(super) fn mac16(key: &[u8], input: &[u8]) -> [u8; 16] {
        hmac_sha256(key, input)[..16].try_into().unwrap()
    }

    /// "Key derivation": the HKDF salt.
    pub(super) const SALT: &[u8] = b"locker/v1/bank-keys";
    pub(super) const CODE_HASH: &[u8] = b"locker/v1/code-hash";
    pub(super) const REMOTE_OPEN: &[u8] = b"locker/v1/remote-open";
    pub(super) const OFFLINE_TOKEN: &[u8] = b"locker/v1/offline-token";
    pub(super) const DOWNWARD: &[u8] = b"locker/v1/downward";
    pub(super) const DEPOSIT_CODE: &[u8] = b"locker/v1/deposit-code";
    /// Every label, in the order spec/uplink.md lists the keys.
    pub(super) const LABELS: [&[u8]; 5] = [
        CODE_HASH,
        REMOTE_OPEN,
        OFFLINE_TOKEN,
        DOWNWARD,
        DEPOSIT_CODE,
    ];

    /// HKDF-Extract: PRK = HMAC-SHA256(salt, bank secret).
    pub(super) fn prk(secret: &[u8]) -> [u8; 32] {
        hmac_sha256(SALT, secret)
    }

    /// HKDF-Expand's `info` for a key: label ‖ bank number (u32 LE).
    pub(super) fn info(label: &[u8], bank: u32) -> Vec<u8> {
        let mut info = label.to_vec();
        info.extend_from_slice(&bank.to_le_bytes());
        info
    }

    /// HKDF-Expand for 32 bytes: HMAC-SHA256(PRK, info ‖ 0x01).
    pub(super) fn key(secret: &[u8], bank: u32, label: &[u8]) -> [u8; 32] {
        let mut t1 = info(label, bank);
        t1.push(0x01);
        hmac_sha256(&prk(secret), &t1)
    }

    /// "The downward tag": label ‖ bank (u32 LE) ‖ postcard(v, id, body).
    pub(super) fn downward_input(bank: u32, covered: &[u8]) -> Vec<u8> {
        let mut input = info(DOWNWARD, bank);
        input.extend_from_slice(covered);
        input
    }

    /// "Remote opens": label ‖ bank ‖ incarnation (u32 LE) ‖ compartment
    /// (u16 LE) ‖ request id (u64 LE).
    pub(super) fn remote_open_input(
        bank: u32,
        incarnation: u32,
        compartment: u16,
        request_id: u64,
    ) -> Vec<u8> {
        let mut input = info(REMOTE_OPEN, bank);
        input.extend_from_slice(&incarnation.to_le_bytes());
        input.extend_from_slice(&compartment.to_le_bytes());
        input.extend_from_slice(&request_id.to_le_bytes());
        input
    }

    /// "Code hashes": bank (u32 LE) ‖ the code's ASCII digits; no label.
    pub(super) fn code_hash_input(bank: u32, code: &str) -> Vec<u8> {
        let mut input = bank.to_le_bytes().to_vec();
        input.extend_from_slice(code.as_bytes());
        input
    }

    /// "Offline tokens": the 23 bytes before the tag, format 2.
    pub(super) fn token_body(
        bank: u32,
        incarnation: u32,
        compartment: u16,
        parcel: u32,
        expires_at: u64,
    ) -> Vec<u8> {
        let mut body = vec![0x02];
        body.extend_from_slice(&bank.to_le_bytes());
        body.extend_from_slice(&incarnation.to_le_bytes());
        body.extend_from_slice(&compartment.to_le_bytes());
        body.extend_from_slice(&parcel.to_le_bytes());
        body.extend_from_slice(&expires_at.to_le_bytes());
        body
    }

    /// "Offline tokens": label ‖ the 23 bytes before the tag.
    pub(super) fn token_input(body: &[u8]) -> Vec<u8> {
        let mut input = OFFLINE_TOKEN.to_vec();
        input.extend_from_slice(body);
        input
    }

    /// "Deposit codes": label ‖ bank ‖ incarnation ‖ compartment (u16 LE)
    /// ‖ parcel (u32 LE).
    pub(super) fn deposit_input(
        bank: u32,
        incarnation: u32,
        compartment: u16,
        parcel: u32,
    ) -> Vec<u8> {
        let mut input = info(DEPOSIT_CODE, bank);
        input.extend_from_slice(&incarnation.to_le_bytes());
        input.extend_from_slice(&compartment.to_le_bytes());
        input.extend_from_slice(&parcel.to_le_bytes());
        input
    }

    /// "Deposit codes": the first 8 bytes of the tag as a u64 LE, modulo
    /// 10^8, as 8 digits.
    pub(super) fn deposit_code(tag: &[u8; 16]) -> String {
        let n = u64::from_le_bytes(tag[..8].try_into().unwrap()) % 100_000_000;
        format!("{n:08}")
    }

    /// CRC-32C (Castagnoli, reflected, polynomial 0x82F63B78, init and
    /// final XOR 0xFFFFFFFF), bit by bit.
    pub(super) fn crc32c(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// "Boot notification": the bytes the layout fingerprint covers, one
    /// compartment after another in layout order.
    pub(super) fn layout_bytes(compartments: &[super::CompartmentInfo]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in compartments {
            out.extend_from_slice(&c.id.0.to_le_bytes());
            let flags = u8::from(c.refrigerated) | (u8::from(c.accessible) << 1);
            out.extend_from_slice(&[c.node.0, c.channel.0, c.size as u8, flags]);
            out.extend_from_slice(&c.inner.width_mm.to_le_bytes());
            out.extend_from_slice(&c.inner.height_mm.to_le_bytes());
            out.extend_from_slice(&c.inner.depth_mm.to_le_bytes());
        }
        out
    }
}

fn downward_key() -> [u8; 32] {
    spec::key(&BANK_SECRET, BANK_NUMBER, spec::DOWNWARD)
}

fn remote_open_tag(compartment: u16, request_id: u64) -> Tag {
    let key = spec::key(&BANK_SECRET, BANK_NUMBER, spec::REMOTE_OPEN);
    let input = spec::remote_open_input(BANK_NUMBER, INCARNATION, compartment, request_id);
    HexArray(spec::mac16(&key, &input))
}

fn code_hash(code: &str) -> CodeHash {
    let key = spec::key(&BANK_SECRET, BANK_NUMBER, spec::CODE_HASH);
    HexArray(spec::mac16(&key, &spec::code_hash_input(BANK_NUMBER, code)))
}

// ---------------------------------------------------------------------------
// The samples.
// ---------------------------------------------------------------------------

fn at(ms: u64) -> Stamp {
    Stamp::new(
        Instant::from_millis(ms),
        Some(1_767_225_600 + (ms / 1000) as i64),
    )
}

fn up_id(n: u32) -> MessageId {
    MessageId(MessageId::first_of_epoch(GATEWAY_EPOCH).0 + u64::from(n))
}

fn down_id(n: u32) -> MessageId {
    MessageId(MessageId::first_of_epoch(BACKEND_EPOCH).0 + u64::from(n))
}

/// A sample audit link: 32 bytes that differ per record (the real ones are
/// the bank's hash chain, which this projection cannot recompute).
fn link(seq: u64) -> AuditLink {
    HexArray(core::array::from_fn(|i| {
        (seq as u8).wrapping_mul(31).wrapping_add(i as u8 * 7)
    }))
}

fn counts<const N: usize>(values: &[u32]) -> heapless::Vec<u32, N> {
    heapless::Vec::from_slice(values).unwrap()
}

fn text<const N: usize>(s: &str) -> heapless::String<N> {
    heapless::String::try_from(s).unwrap()
}

/// The nodes of the layout: every reset reason but the two the boot
/// notification and the node boot carry, and one node not yet heard from.
fn nodes() -> heapless::Vec<NodeInfo, MAX_NODES> {
    let heard = [
        ResetReason::PowerOn,
        ResetReason::Brownout,
        ResetReason::Watchdog,
        ResetReason::ResetPin,
        ResetReason::Unknown,
    ];
    let mut nodes = heapless::Vec::new();
    for (n, reason) in heard.into_iter().enumerate() {
        nodes
            .push(NodeInfo {
                node: NodeAddr(1 + n as u8),
                firmware: Some(FirmwareVersion::new(1, 4, 2)),
                reset_reason: Some(reason),
            })
            .unwrap();
    }
    nodes
        .push(NodeInfo {
            node: NodeAddr(6),
            firmware: None,
            reset_reason: None,
        })
        .unwrap();
    nodes
}

/// Eight compartments on the six nodes, every size class, the flags.
fn layout() -> heapless::Vec<CompartmentInfo, LAYOUT_PAGE> {
    let rows = [
        (1, 1, 0, SizeClass::Small, (420, 80, 600), false, true),
        (2, 1, 1, SizeClass::Small, (420, 80, 600), true, true),
        (3, 2, 0, SizeClass::Medium, (420, 190, 600), false, false),
        (4, 2, 1, SizeClass::Medium, (420, 190, 600), true, false),
        (5, 3, 0, SizeClass::Large, (420, 390, 600), false, false),
        (6, 4, 0, SizeClass::Large, (420, 390, 600), false, true),
        (
            7,
            5,
            0,
            SizeClass::ExtraLarge,
            (420, 790, 600),
            false,
            false,
        ),
        (
            8,
            6,
            0,
            SizeClass::ExtraLarge,
            (860, 790, 600),
            false,
            false,
        ),
    ];
    let mut page = heapless::Vec::new();
    for (id, node, channel, size, (w, h, d), refrigerated, accessible) in rows {
        page.push(CompartmentInfo {
            id: CompartmentId(id),
            node: NodeAddr(node),
            channel: Channel(channel),
            size,
            inner: Dimensions::new(w, h, d),
            refrigerated,
            accessible,
        })
        .unwrap();
    }
    page
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
        time_zone: TimeZone::european(60),
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
        node_config: Some(NodeConfig {
            debounce_ms: 30,
            door_ajar_limit_s: 120,
            presence_threshold: 2_000,
            max_pulse_ms: 1_000,
        }),
    }
}

enum Sample {
    Up(UpEnvelope),
    Down(DownEnvelope),
}

/// A downward message with its real tag under the test secret, made as
/// spec/uplink.md says: the postcard bytes of `v`, `id` and `body`, MACed
/// from scratch.
fn tagged(message: Envelope<Downward>) -> DownEnvelope {
    let mut buf = [0u8; MAX_POSTCARD_LEN];
    let covered = message.to_postcard(&mut buf).unwrap();
    let input = spec::downward_input(BANK_NUMBER, covered);
    let tag = HexArray(spec::mac16(&downward_key(), &input));
    DownEnvelope::with_tag(message, tag)
}

/// The name JSON gives the variant of enum `name` that `value` is (or holds).
fn variant_of<T: serde::Serialize>(value: &T, name: &str) -> String {
    let (_, _, variant) = record::variants(value)
        .into_iter()
        .find(|(e, _, _)| *e == name)
        .unwrap_or_else(|| panic!("no {name} in the value"));
    snake(variant)
}

/// `ExtraLarge` → `extra_large`; snake_case names stay as they are.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The golden messages, built in order: upward ones numbered as they come
/// (as the gateway numbers its messages), downward ones under the ids given.
#[derive(Default)]
struct Golden {
    samples: Vec<(String, Sample)>,
    next_up: u32,
}

impl Golden {
    fn up(&mut self, name: impl Into<String>, body: Upward) {
        let id = up_id(self.next_up);
        self.next_up += 1;
        self.samples
            .push((name.into(), Sample::Up(Envelope::new(id, body))));
    }

    fn down(&mut self, name: &str, n: u32, body: Downward) {
        let message = tagged(Envelope::new(down_id(n), body));
        self.samples.push((name.to_owned(), Sample::Down(message)));
    }

    fn result(&mut self, name: &str, request: u32, response: Response) {
        let body = Upward::CallResult(CallResult {
            request: down_id(request),
            response,
        });
        self.up(name, body);
    }
}

// Ids of the downward samples, which the answers and boot messages name.
const ACK: u32 = 0;
const RESERVE: u32 = 1;
const ANNOUNCE: u32 = 2;
const ANNOUNCE_TOKEN: u32 = 3;
const CANCEL: u32 = 4;
const EXTEND: u32 = 5;
const REMOTE_OPEN: u32 = 6;
const CHANGE_AVAILABILITY: u32 = 7;
const RESET: u32 = 8;
const CHANGE_CONFIGURATION: u32 = 9;
const GET_CONFIGURATION: u32 = 10;
const TRIGGER_SNAPSHOT: u32 = 11;
const GET_DIAGNOSTICS: u32 = 12;
const RESET_NODE: u32 = 13;
const BOOT_ACK: u32 = 14;
const RECALIBRATE: u32 = 15;

/// Every compartment status, as a status notification of compartment 3
/// would carry it (an inspection of an empty one taken out of service).
fn every_status() -> Vec<StatusNotification> {
    use CompartmentStatus as S;
    let c = CompartmentId(3);
    let p = Some(ParcelNumber(7));
    let rows = [
        (S::Free, DoorState::Closed, None, None, None),
        (S::Reserved, DoorState::Closed, Some(false), p, None),
        (S::Depositing, DoorState::Open, Some(false), p, None),
        (S::Stored, DoorState::Closed, Some(true), p, None),
        (S::Collecting, DoorState::Open, Some(true), p, None),
        (S::Expired, DoorState::Closed, Some(true), p, None),
        (S::Removing, DoorState::Open, Some(true), p, None),
        (
            S::Inspecting,
            DoorState::Open,
            Some(false),
            None,
            Some(ServiceReason::Override),
        ),
    ];
    rows.into_iter()
        .enumerate()
        .map(
            |(i, (status, door, occupied, parcel, out_of_service))| StatusNotification {
                compartment: c,
                status,
                door,
                occupied,
                parcel,
                out_of_service,
                at: at(60_000 + 1_000 * i as u64),
            },
        )
        .collect()
}

/// Every step of a parcel's life, with who takes it.
fn every_step() -> Vec<(ParcelStep, Actor)> {
    use ParcelStep as P;
    vec![
        (P::Reserved, Actor::Backend),
        (P::ReservationCancelled, Actor::Backend),
        (P::ReservationExpired, Actor::System),
        (P::DepositStarted, Actor::Courier),
        (P::Deposited, Actor::Courier),
        (P::NoParcelDetected, Actor::Courier),
        (P::Reminded, Actor::System),
        (P::Escalated, Actor::System),
        (P::Expired, Actor::System),
        (P::PickupStarted, Actor::Recipient),
        (P::PickedUp, Actor::Recipient),
        (P::LeftInside, Actor::Recipient),
        (P::Returned, Actor::Staff),
        (
            P::DeadlineExtended {
                by_ms: Duration::from_hours(24),
            },
            Actor::Backend,
        ),
    ]
}

/// Every notification, with whom it is for.
fn every_notification() -> Vec<(NotificationKind, Actor)> {
    use NotificationKind as N;
    vec![
        (N::ParcelReady, Actor::Recipient),
        (N::NoParcelDetected, Actor::Courier),
        (N::Reminder, Actor::Recipient),
        (N::Escalation, Actor::Recipient),
        (N::RemovalTask, Actor::Staff),
        (N::ParcelLeftInside, Actor::Recipient),
        (N::CloseTheDoor, Actor::Courier),
        (N::ReservationExpired, Actor::Courier),
        (N::DoorWouldNotOpen, Actor::Recipient),
        (N::ParcelExpired, Actor::Recipient),
        (N::MovedToCounter, Actor::Recipient),
        (N::ParcelIncident, Actor::Recipient),
    ]
}

/// Every alert, with the evidence the gateway sends with it, the
/// compartment and the parcel.
fn every_alert() -> Vec<(AlertKind, Evidence, Option<u16>, Option<u32>)> {
    use AlertKind as A;
    let drift = HealthIssue::PresenceDrift {
        reading: -9,
        threshold: 10,
        band: 4,
    };
    vec![
        (A::LockFault, Evidence::UnlockAttempts(2), Some(5), Some(9)),
        (A::DoorAjar, Evidence::Door(DoorState::Open), Some(3), None),
        (A::NoParcelDetected, Evidence::None, Some(3), Some(8)),
        (A::ParcelLeftInside, Evidence::None, Some(3), Some(7)),
        (
            A::ParcelMissing,
            Evidence::Presence(Presence::empty(1, 10)),
            Some(3),
            Some(7),
        ),
        (
            A::UnexpectedItem,
            Evidence::Presence(Presence::occupied(180, 10)),
            Some(4),
            None,
        ),
        (
            A::DoorOpenUnexpectedly,
            Evidence::Scan {
                door: DoorState::Open,
                occupied: false,
                faulted: false,
            },
            Some(6),
            None,
        ),
        (A::SensorHealth, Evidence::Health(drift), Some(5), None),
        (
            A::RemovalNotVerified,
            Evidence::Presence(Presence::occupied(240, 10)),
            Some(3),
            Some(7),
        ),
        (
            A::PowerOnBattery,
            Evidence::Power(PowerStatus::Battery {
                charge_percent: 64,
                minutes_left: 95,
            }),
            None,
            None,
        ),
        (
            A::PowerRestored,
            Evidence::Power(PowerStatus::Mains),
            None,
            None,
        ),
        (
            A::PowerCritical,
            Evidence::Power(PowerStatus::Critical { charge_percent: 4 }),
            None,
            None,
        ),
        (A::NodeLost, Evidence::Node(NodeAddr(2)), None, None),
        (A::NodeBack, Evidence::Node(NodeAddr(2)), None, None),
        (
            A::NodeFault,
            Evidence::Fault(FaultCode::Brownout),
            None,
            None,
        ),
        (
            A::ForgedRemoteOpen,
            Evidence::RemoteOpen { request_id: 9002 },
            None,
            None,
        ),
        (
            A::RemoteOpenFlood,
            Evidence::RemoteOpens {
                opens: 10,
                window_ms: Duration::from_hours(1),
            },
            None,
            None,
        ),
    ]
}

/// The sensor-health findings the `sensor_health` alert above does not carry.
fn more_health_issues() -> Vec<HealthIssue> {
    vec![
        HealthIssue::PresenceStuck {
            reading: 3,
            since: Instant::from_millis(5_000),
        },
        HealthIssue::DoorFlapping {
            changes: 11,
            within: Duration::from_mins(1),
        },
        HealthIssue::RepeatedLockFaults { count: 3 },
    ]
}

/// Every security event, as the gateway fills it.
fn every_security_event() -> Vec<SecurityEvent> {
    #[allow(clippy::too_many_arguments)]
    let event = |kind,
                 compartment: Option<u16>,
                 node: Option<u8>,
                 request_id,
                 keypad,
                 count,
                 snapshot,
                 ms| SecurityEvent {
        kind,
        compartment: compartment.map(CompartmentId),
        node: node.map(NodeAddr),
        request_id,
        keypad,
        count,
        snapshot,
        at: at(ms),
    };
    use SecurityKind as K;
    vec![
        event(
            K::ForgedTag,
            None,
            None,
            Some(down_id(40).0),
            None,
            1,
            None,
            130_000,
        ),
        event(K::Replay, Some(3), None, Some(9000), None, 1, None, 131_000),
        event(
            K::RateLimitTripped,
            None,
            Some(2),
            None,
            None,
            11,
            None,
            132_000,
        ),
        event(
            K::KeypadLockoutSpike,
            Some(3),
            None,
            None,
            Some(0),
            25,
            None,
            133_000,
        ),
        event(
            K::ForcedDoor,
            Some(4),
            Some(2),
            None,
            None,
            1,
            Some(12),
            134_000,
        ),
    ]
}

/// Every audit event, as the bank records it: the event, who, the
/// compartment and the parcel.
fn every_audit_event() -> Vec<(AuditEvent, Actor, Option<u16>, Option<u32>)> {
    use AuditEvent as E;
    let (c3, p7) = (Some(3), Some(7));
    vec![
        (E::Reserved, Actor::Backend, c3, p7),
        (E::ReservationCancelled, Actor::Backend, c3, p7),
        (E::ReservationExpired, Actor::System, c3, p7),
        (
            E::UnlockCommanded {
                purpose: Purpose::Deposit,
                attempt: 0,
            },
            Actor::Courier,
            c3,
            p7,
        ),
        (E::DoorOpened, Actor::Courier, c3, p7),
        (E::DoorClosed, Actor::Courier, c3, p7),
        (E::DepositVerified, Actor::Courier, c3, p7),
        (E::NoParcelDetected, Actor::Courier, c3, p7),
        (
            E::PickupVerified {
                purpose: Purpose::Pickup,
            },
            Actor::Recipient,
            c3,
            p7,
        ),
        (E::ParcelLeftInside, Actor::Recipient, c3, p7),
        (E::ReminderSent, Actor::System, c3, p7),
        (
            E::ReminderDeferred {
                by_ms: Duration::from_hours(3),
            },
            Actor::System,
            c3,
            p7,
        ),
        (E::EscalationSent, Actor::System, c3, p7),
        (E::Expired, Actor::System, c3, p7),
        (E::DoorForced, Actor::System, Some(4), None),
        (E::DoorAjar, Actor::System, c3, p7),
        (E::LockFault, Actor::System, Some(5), Some(9)),
        (
            E::SensorDisagrees {
                presence: Presence::occupied(250, 10),
            },
            Actor::System,
            c3,
            p7,
        ),
        (
            E::OutOfService {
                reason: ServiceReason::LockFault,
            },
            Actor::System,
            Some(5),
            None,
        ),
        (E::BackInService, Actor::Staff, Some(5), None),
        (
            E::DeadlineExtended {
                by_ms: Duration::from_hours(24),
            },
            Actor::Backend,
            c3,
            p7,
        ),
        (E::CodeRejected { keypad: 0 }, Actor::Recipient, None, None),
        (E::CodeAccepted { keypad: 0 }, Actor::Recipient, c3, p7),
        (E::KeypadAttackSuspected, Actor::System, None, None),
        (
            E::Power(PowerStatus::Battery {
                charge_percent: 64,
                minutes_left: 95,
            }),
            Actor::System,
            None,
            None,
        ),
        (E::Restored, Actor::System, None, None),
        (
            E::Discrepancy {
                door: DoorState::Open,
                occupied: true,
                faulted: false,
            },
            Actor::System,
            Some(6),
            None,
        ),
        (E::NodeLost(NodeAddr(2)), Actor::System, None, None),
        (E::NodeBack(NodeAddr(2)), Actor::System, None, None),
        (
            E::FaultReported(FaultCode::LockJammed),
            Actor::System,
            Some(5),
            None,
        ),
        (E::MaintenanceNeeded, Actor::System, Some(5), None),
        (
            E::RemoteOpenAccepted { request_id: 9001 },
            Actor::Backend,
            c3,
            p7,
        ),
        (
            E::RemoteOpenRefused {
                compartment: CompartmentId(3),
                request_id: 9000,
                reason: RemoteOpenRefusal::Replayed,
            },
            Actor::Backend,
            None,
            None,
        ),
        (
            E::RemoteOpensLocked { opens: 10 },
            Actor::System,
            None,
            None,
        ),
        (
            E::RemoteOpenLockCleared { staff: 4711 },
            Actor::Staff,
            None,
            None,
        ),
        (E::StaffOpened { staff: 4711 }, Actor::Staff, c3, p7),
        (
            E::StaffOpenAll {
                staff: 4711,
                opened: 6,
                remaining: 2,
            },
            Actor::Staff,
            None,
            None,
        ),
        (E::TokenAccepted { keypad: 1 }, Actor::Recipient, c3, p7),
        (E::TokenRefused { keypad: 1 }, Actor::Recipient, None, None),
        (
            E::SensorRecalibrated { staff: 4711 },
            Actor::Staff,
            Some(6),
            None,
        ),
        (
            E::IncarnationStarted {
                previous: 0x1d2c_3b4a,
                incarnation: INCARNATION,
            },
            Actor::System,
            None,
            None,
        ),
        (
            E::CodeForCounterParcel { keypad: 0 },
            Actor::Recipient,
            c3,
            p7,
        ),
        (
            E::DepositCodeAccepted { keypad: 0 },
            Actor::Courier,
            c3,
            Some(8),
        ),
        (
            E::DepositCodeRejected { keypad: 0 },
            Actor::Courier,
            None,
            None,
        ),
        (
            E::DepositOpenedBy { account: 880 },
            Actor::Courier,
            c3,
            Some(8),
        ),
        (E::RemovalCertified { staff: 4711 }, Actor::Staff, c3, p7),
        (E::PolicyChanged, Actor::Backend, None, None),
        (E::Other, Actor::System, None, None),
    ]
}

/// An audit record's sample: file name, event, actor, compartment, parcel.
type AuditSample = (String, AuditEvent, Actor, Option<u16>, Option<u32>);

/// The refrigerated compartments' audit events, after every other sample
/// so that the samples before keep their sequence numbers.
fn cold_audit_events() -> Vec<AuditSample> {
    use AuditEvent as E;
    [
        (
            E::TemperatureRestored {
                out_for_ms: Duration::from_mins(95),
                worst: Temperature::from_deci_celsius(143),
            },
            Actor::System,
            Some(6),
            None,
        ),
        (
            E::ColdChain {
                min: Some(Temperature::from_deci_celsius(31)),
                max: Some(Temperature::from_deci_celsius(97)),
                out_of_range_ms: Duration::from_mins(12),
            },
            Actor::Recipient,
            Some(6),
            Some(9),
        ),
    ]
    .into_iter()
    .map(|(event, actor, c, p)| {
        let name = format!("audit_{}", variant_of(&event, "AuditEvent"));
        (name, event, actor, c, p)
    })
    .collect()
}

/// Audit records for the variants of the enums audit events carry that the
/// list above does not reach.
fn more_audit_events() -> Vec<AuditSample> {
    use AuditEvent as E;
    let mut more = Vec::new();
    for (purpose, actor) in [
        (Purpose::Pickup, Actor::Recipient),
        (Purpose::Removal, Actor::Staff),
        (Purpose::Inspection, Actor::Staff),
    ] {
        let event = E::UnlockCommanded {
            purpose,
            attempt: 1,
        };
        let name = format!("audit_unlock_commanded_{}", variant_of(&purpose, "Purpose"));
        more.push((name, event, actor, Some(3), Some(7)));
    }
    for fault in [
        FaultCode::DoorDidNotOpen,
        FaultCode::DoorSwitchFlapping,
        FaultCode::PresenceStuck,
        FaultCode::PresenceDrift,
        FaultCode::PresenceSensorFailed,
        FaultCode::TemperatureOutOfRange,
        FaultCode::Brownout,
        FaultCode::EventsDropped,
    ] {
        let name = format!("audit_fault_reported_{}", variant_of(&fault, "FaultCode"));
        more.push((name, E::FaultReported(fault), Actor::System, Some(5), None));
    }
    for reason in [
        RemoteOpenRefusal::ForgedTag,
        RemoteOpenRefusal::Stale,
        RemoteOpenRefusal::RateLimited,
        RemoteOpenRefusal::Locked,
        RemoteOpenRefusal::OtherIncarnation,
    ] {
        let event = E::RemoteOpenRefused {
            compartment: CompartmentId(3),
            request_id: 8999,
            reason,
        };
        let name = format!(
            "audit_remote_open_refused_{}",
            variant_of(&reason, "RemoteOpenRefusal")
        );
        more.push((name, event, Actor::Backend, None, None));
    }
    more
}

/// Every error code, with a description as the gateway writes one.
fn every_error() -> Vec<(ErrorCode, &'static str)> {
    use ErrorCode as C;
    vec![
        (
            C::NotSupported,
            "this gateway (uplink version 1) cannot read that message",
        ),
        (
            C::FormationViolation,
            "give the parcel's size or its dimensions",
        ),
        (C::UnknownCompartment, "no compartment has this number"),
        (
            C::UnknownNode,
            "no compartment of this bank is on that node",
        ),
        (C::WrongStage, "compartment 3 is stored, not reserved"),
        (C::OutOfService, "compartment 5 is out of service"),
        (
            C::Oversize,
            "the parcel is larger than every compartment of the bank",
        ),
        (
            C::BankFull,
            "every compartment that fits this parcel is taken: try later",
        ),
        (
            C::NoRefrigeratedFree,
            "no refrigerated compartment that fits is free",
        ),
        (
            C::NoAccessibleFree,
            "no accessible compartment that fits is free",
        ),
        (
            C::LowBattery,
            "the bank runs on its battery (24 %): no new deposits",
        ),
        (
            C::ShuttingDown,
            "the bank is shutting down on a critical battery",
        ),
        (
            C::ResetInProgress,
            "the gateway is resetting: try again after its boot notification",
        ),
        (
            C::Unavailable,
            "the bank was made unavailable: make it available first",
        ),
        (
            C::NotAuthorized,
            "the message's tag is wrong or missing: sign every message with the bank's downward key",
        ),
        (
            C::Replayed,
            "remote open request 9000 was already carried out: send a new request id",
        ),
        (
            C::RateLimited,
            "remote opens are locked after too many in a short time",
        ),
        (
            C::InvalidConfiguration,
            "invalid configuration: pickup codes set from the backend have at least 6 digits",
        ),
        (C::Busy, "too many node resets under way: retry later"),
        (C::InternalError, "the gateway could not draw a pickup code"),
        (
            C::CodeInUse,
            "another active parcel has this pickup code: draw another",
        ),
        (
            C::OutOfWindow,
            "id message 1700000:999 is too far past message 1700000:12: start a new epoch",
        ),
        (
            C::OtherIncarnation,
            "remote open signed for another incarnation of the bank",
        ),
    ]
}

fn samples() -> Vec<(String, Sample)> {
    let mut g = Golden::default();
    let c3 = CompartmentId(3);
    let layout = layout();
    let fingerprint = spec::crc32c(&spec::layout_bytes(&layout));

    // The start of a gateway's run.
    g.up(
        "boot_notification",
        Upward::BootNotification(BootNotification {
            bank_id: text("bank-0042"),
            reason: ResetReason::SoftReboot,
            reset_request: Some(down_id(RESET)),
            gateway_firmware: FirmwareVersion::new(0, 1, 0),
            versions: ProtocolVersions::UPLINK,
            nodes: nodes(),
            compartments: u16::try_from(layout.len()).unwrap(),
            layout_fingerprint: fingerprint,
            incarnation: INCARNATION,
            at: at(1_200),
        }),
    );
    g.up(
        "layout",
        Upward::Layout(LayoutPage {
            first: 0,
            total: u16::try_from(layout.len()).unwrap(),
            compartments: layout,
        }),
    );
    g.up(
        "statistics",
        Upward::Statistics(Statistics {
            at: at(3_600_000),
            deposits: 120,
            pickups: 113,
            reminders: 14,
            escalations: 2,
            expiries: 1,
            alerts: 6,
            mean_dwell_s: Some(41_400),
            compartments: 8,
            free: 5,
            out_of_service: 1,
            backlog: 0,
        }),
    );
    g.up(
        "node_boot",
        Upward::NodeBoot(NodeBoot {
            node: NodeAddr(2),
            firmware: FirmwareVersion::new(1, 4, 2),
            reset_reason: ResetReason::HardReboot,
            uptime_ms: 850,
            reset_request: Some(down_id(RESET_NODE)),
            at: at(3_400),
        }),
    );
    g.up(
        "heartbeat",
        Upward::Heartbeat(Heartbeat {
            at: at(300_000),
            backlog: 2,
        }),
    );

    for status in every_status() {
        let name = format!(
            "status_notification_{}",
            variant_of(&status.status, "CompartmentStatus")
        );
        g.up(name, Upward::StatusNotification(status));
    }
    for (i, (step, actor)) in every_step().into_iter().enumerate() {
        let name = format!("parcel_event_{}", variant_of(&step, "ParcelStep"));
        let event = ParcelEvent {
            parcel: ParcelNumber(7),
            compartment: c3,
            step,
            actor,
            at: at(80_000 + 1_000 * i as u64),
        };
        g.up(name, Upward::ParcelEvent(event));
    }
    for (i, (kind, to)) in every_notification().into_iter().enumerate() {
        let name = format!("notification_{}", variant_of(&kind, "NotificationKind"));
        let staff_task = kind == NotificationKind::RemovalTask;
        let notification = Notification {
            to,
            compartment: c3,
            parcel: (!staff_task).then_some(ParcelNumber(7)),
            kind,
            at: at(81_000 + 1_000 * i as u64),
        };
        g.up(name, Upward::Notification(notification));
    }
    let alert = |kind, evidence, compartment: Option<u16>, parcel: Option<u32>, ms| {
        Upward::Alert(Alert {
            kind,
            compartment: compartment.map(CompartmentId),
            parcel: parcel.map(ParcelNumber),
            evidence,
            snapshot: None,
            at: at(ms),
        })
    };
    for (i, (kind, evidence, compartment, parcel)) in every_alert().into_iter().enumerate() {
        let name = format!("alert_{}", variant_of(&kind, "AlertKind"));
        let ms = 120_000 + 1_000 * i as u64;
        g.up(name, alert(kind, evidence, compartment, parcel, ms));
    }
    for (i, issue) in more_health_issues().into_iter().enumerate() {
        let name = format!("alert_sensor_health_{}", variant_of(&issue, "HealthIssue"));
        let ms = 140_000 + 1_000 * i as u64;
        let evidence = Evidence::Health(issue);
        g.up(
            name,
            alert(AlertKind::SensorHealth, evidence, Some(5), None, ms),
        );
    }
    for event in every_security_event() {
        let name = format!("security_event_{}", variant_of(&event.kind, "SecurityKind"));
        g.up(name, Upward::SecurityEvent(event));
    }
    let more = more_audit_events();
    let named = every_audit_event()
        .into_iter()
        .map(|(event, actor, c, p)| {
            let name = format!("audit_{}", variant_of(&event, "AuditEvent"));
            (name, event, actor, c, p)
        })
        .chain(more);
    for (i, (name, event, actor, compartment, parcel)) in named.enumerate() {
        let seq = 200 + i as u64;
        let snapshot = matches!(event, AuditEvent::DoorForced).then_some(12);
        let record = AuditRecord {
            seq,
            at: at(90_000 + 1_000 * i as u64),
            actor,
            compartment: compartment.map(CompartmentId),
            parcel: parcel.map(ParcelNumber),
            event,
            snapshot,
            link: link(seq),
        };
        g.up(name, Upward::Audit(record));
    }

    // The answers to the requests below.
    g.result(
        "call_result_reserved",
        RESERVE,
        Response::Reserved {
            compartment: c3,
            parcel: ParcelNumber(7),
            pickup_code: Some(text("493027")),
        },
    );
    g.result(
        "call_result_parcel_announced",
        ANNOUNCE,
        Response::ParcelAnnounced {
            compartment: CompartmentId(4),
            parcel: ParcelNumber(8),
            pickup_code: None,
        },
    );
    g.result(
        "call_result_reservation_cancelled",
        CANCEL,
        Response::ReservationCancelled { compartment: c3 },
    );
    g.result(
        "call_result_deadline_extended",
        EXTEND,
        Response::DeadlineExtended { compartment: c3 },
    );
    g.result(
        "call_result_opening",
        REMOTE_OPEN,
        Response::Opening {
            compartment: c3,
            request_id: 9001,
        },
    );
    g.result(
        "call_result_availability_changed",
        CHANGE_AVAILABILITY,
        Response::AvailabilityChanged {
            scope: Scope::Compartment(CompartmentId(5)),
            available: false,
        },
    );
    g.result(
        "call_result_reset_accepted",
        RESET_NODE,
        Response::ResetAccepted {
            target: ResetTarget::Node(NodeAddr(2)),
            in_flight: 1,
        },
    );
    g.result(
        "call_result_configuration_changed",
        CHANGE_CONFIGURATION,
        Response::ConfigurationChanged {
            reboot_required: true,
        },
    );
    g.result(
        "call_result_configuration",
        GET_CONFIGURATION,
        Response::Configuration(policy()),
    );
    g.result(
        "call_result_snapshot_scheduled",
        TRIGGER_SNAPSHOT,
        Response::SnapshotScheduled { compartment: c3 },
    );
    g.result(
        "call_result_sensor_recalibrating",
        RECALIBRATE,
        Response::SensorRecalibrating { compartment: c3 },
    );
    let mut out_of_service = heapless::Vec::new();
    let reasons = [
        ServiceReason::Override,
        ServiceReason::ForcedDoor,
        ServiceReason::LockFault,
        ServiceReason::SensorDisagrees,
        ServiceReason::RemovalNotVerified,
        ServiceReason::SensorFailed,
    ];
    for (c, reason) in [1, 4, 5, 6, 7, 8].into_iter().zip(reasons) {
        out_of_service
            .push(OutOfService {
                compartment: CompartmentId(c),
                reason,
            })
            .unwrap();
    }
    g.result(
        "call_result_diagnostics",
        GET_DIAGNOSTICS,
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
            out_of_service_total: 5,
            sensor_health_alerts: 2,
            backlog: 0,
            duplicates_ignored: 3,
            forged_refused: 2,
        }),
    );
    for (i, (code, description)) in every_error().into_iter().enumerate() {
        let name = format!("call_error_{}", variant_of(&code, "ErrorCode"));
        let body = Upward::CallError(CallError {
            request: down_id(100 + i as u32),
            code,
            description: text(description),
        });
        g.up(name, body);
    }

    // The backend's messages.
    g.down("ack", ACK, Downward::Ack(up_id(4)));
    // The acknowledgement of the boot notification (the first upward
    // sample): the backend speaks uplink versions 1 and 2.
    g.down(
        "boot_ack",
        BOOT_ACK,
        Downward::BootAck {
            boot: up_id(0),
            versions: ProtocolVersions::from_bits(0b11),
        },
    );
    g.down(
        "reserve_compartment",
        RESERVE,
        Downward::ReserveCompartment(ReserveCompartment {
            kind: ParcelKind::Delivery,
            needs: ParcelNeeds {
                size: Some(SizeClass::Medium),
                dimensions: None,
                perishable: false,
                accessible: false,
            },
        }),
    );
    g.down(
        "announce_parcel",
        ANNOUNCE,
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
            credential: Credential::CodeHash(code_hash(BACKEND_CODE)),
        }),
    );
    g.down(
        "announce_parcel_offline_token",
        ANNOUNCE_TOKEN,
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
            // Opaque to the uplink: the gateway neither keeps nor checks it.
            credential: Credential::OfflineToken(
                HexBytes::from_slice(b"\x01token-issued-by-backend\xff").unwrap(),
            ),
        }),
    );
    g.down(
        "cancel_reservation",
        CANCEL,
        Downward::CancelReservation { compartment: c3 },
    );
    g.down(
        "extend_deadline",
        EXTEND,
        Downward::ExtendDeadline {
            compartment: c3,
            by_ms: Duration::from_hours(24),
        },
    );
    g.down(
        "remote_open",
        REMOTE_OPEN,
        Downward::RemoteOpen(RemoteOpen {
            incarnation: INCARNATION,
            compartment: c3,
            request_id: 9001,
            tag: remote_open_tag(3, 9001),
        }),
    );
    g.down(
        "change_availability",
        CHANGE_AVAILABILITY,
        Downward::ChangeAvailability {
            scope: Scope::Bank,
            available: false,
        },
    );
    g.down(
        "reset",
        RESET,
        Downward::Reset {
            kind: RebootKind::Soft,
            target: ResetTarget::Gateway,
        },
    );
    g.down(
        "change_configuration",
        CHANGE_CONFIGURATION,
        Downward::ChangeConfiguration(policy()),
    );
    g.down(
        "get_configuration",
        GET_CONFIGURATION,
        Downward::GetConfiguration,
    );
    g.down(
        "trigger_snapshot",
        TRIGGER_SNAPSHOT,
        Downward::TriggerSnapshot { compartment: c3 },
    );
    g.down("get_diagnostics", GET_DIAGNOSTICS, Downward::GetDiagnostics);
    g.down(
        "recalibrate_sensor",
        RECALIBRATE,
        Downward::RecalibrateSensor { compartment: c3 },
    );
    g.down(
        "reset_node",
        RESET_NODE,
        Downward::Reset {
            kind: RebootKind::Hard,
            target: ResetTarget::Node(NodeAddr(2)),
        },
    );
    // Refrigerated compartments' messages, last so that the ids and
    // sequence numbers of every sample before stay as they were.
    let cold_alerts = [
        (
            AlertKind::TemperatureOutOfRange,
            Evidence::Temperature {
                reading: Temperature::from_deci_celsius(121),
                limit: Temperature::from_deci_celsius(80),
                out_for_ms: Duration::from_mins(30),
            },
            Some(9),
        ),
        (
            AlertKind::TemperatureSensorSilent,
            Evidence::TemperatureSilent {
                last: Some(Temperature::from_deci_celsius(i16::MIN)),
                silent_for_ms: Duration::from_mins(75),
            },
            None,
        ),
    ];
    for (i, (kind, evidence, parcel)) in cold_alerts.into_iter().enumerate() {
        let name = format!("alert_{}", variant_of(&kind, "AlertKind"));
        let ms = 150_000 + 1_000 * i as u64;
        g.up(name, alert(kind, evidence, Some(6), parcel, ms));
    }
    for (i, (name, event, actor, compartment, parcel)) in
        cold_audit_events().into_iter().enumerate()
    {
        let seq = 400 + i as u64;
        let record = AuditRecord {
            seq,
            at: at(160_000 + 1_000 * i as u64),
            actor,
            compartment: compartment.map(CompartmentId),
            parcel: parcel.map(ParcelNumber),
            event,
            snapshot: None,
            link: link(seq),
        };
        g.up(name, Upward::Audit(record));
    }
    // Appended after the rest, so every earlier sample keeps its id.
    g.up(
        "analytics",
        Upward::Analytics(Analytics {
            at: at(3_600_000),
            deposits_by_hour: counts(&[
                0, 0, 0, 0, 0, 0, 1, 4, 18, 15, 9, 7, 8, 6, 5, 6, 9, 14, 11, 4, 2, 1, 0, 0,
            ]),
            pickups_by_hour: counts(&[
                1, 0, 0, 0, 0, 0, 2, 6, 5, 3, 4, 5, 9, 6, 4, 5, 8, 16, 19, 11, 3, 1, 0, 0,
            ]),
            deposits_by_weekday: counts(&[22, 21, 19, 20, 24, 11, 3]),
            pickups_by_weekday: counts(&[18, 19, 17, 18, 19, 14, 8]),
            dwell: counts(&[9, 21, 27, 31, 18, 6, 1]),
            sizes: [
                (SizeClass::Small, 71, 4, 1, 0),
                (SizeClass::Medium, 38, 2, 1, 1),
                (SizeClass::Large, 11, 2, 0, 0),
            ]
            .into_iter()
            .map(
                |(size, deposits, compartments, occupied, out_of_service)| SizeFigures {
                    size,
                    deposits,
                    compartments,
                    occupied,
                    out_of_service,
                },
            )
            .collect(),
            refused_oversize: 2,
            refused_bank_full: 5,
            refused_unavailable: 1,
        }),
    );
    // The bank's own recalibration, appended after the analytics.
    let seq = 400 + cold_audit_events().len() as u64;
    g.up(
        "audit_sensor_recalibrated_automatically",
        Upward::Audit(AuditRecord {
            seq,
            at: at(3_700_000),
            actor: Actor::System,
            compartment: Some(CompartmentId(4)),
            parcel: None,
            event: AuditEvent::SensorRecalibratedAutomatically {
                drift: HealthIssue::PresenceDrift {
                    reading: -31,
                    threshold: 250,
                    band: 60,
                },
            },
            snapshot: None,
            link: link(seq),
        }),
    );
    // A forced door's snapshot: taken, and one the camera failed to take.
    for (i, (name, event, snapshot)) in [
        ("audit_snapshot_taken", AuditEvent::SnapshotTaken, 17),
        ("audit_snapshot_failed", AuditEvent::SnapshotFailed, 18),
    ]
    .into_iter()
    .enumerate()
    {
        let seq = seq + 1 + i as u64;
        g.up(
            name,
            Upward::Audit(AuditRecord {
                seq,
                at: at(3_800_000),
                actor: Actor::System,
                compartment: Some(CompartmentId(2)),
                parcel: Some(ParcelNumber(31)),
                event,
                snapshot: Some(snapshot),
                link: link(seq),
            }),
        );
    }
    // The backend's re-tare of a free compartment's sensor.
    let seq = seq + 3;
    g.up(
        "audit_sensor_recalibrated_remotely",
        Upward::Audit(AuditRecord {
            seq,
            at: at(3_900_000),
            actor: Actor::Backend,
            compartment: Some(CompartmentId(4)),
            parcel: None,
            event: AuditEvent::SensorRecalibratedRemotely,
            snapshot: None,
            link: link(seq),
        }),
    );
    // The backend's trigger_snapshot, named by the bank's reference.
    let seq = seq + 1;
    g.up(
        "audit_snapshot_requested",
        Upward::Audit(AuditRecord {
            seq,
            at: at(4_000_000),
            actor: Actor::Backend,
            compartment: Some(CompartmentId(5)),
            parcel: None,
            event: AuditEvent::SnapshotRequested,
            snapshot: Some(19),
            link: link(seq),
        }),
    );
    // Staff replaced compartment 6's lock: its fault history starts again.
    let seq = seq + 1;
    g.up(
        "audit_serviced",
        Upward::Audit(AuditRecord {
            seq,
            at: at(4_100_000),
            actor: Actor::Staff,
            compartment: Some(CompartmentId(6)),
            parcel: None,
            event: AuditEvent::Serviced { staff: 4711 },
            snapshot: None,
            link: link(seq),
        }),
    );
    // Compartment 7's zero moved 1,300 counts under its parcel: the bank
    // re-tares it once the parcel has left.
    let seq = seq + 1;
    g.up(
        "audit_drift_under_parcel",
        Upward::Audit(AuditRecord {
            seq,
            at: at(4_200_000),
            actor: Actor::System,
            compartment: Some(CompartmentId(7)),
            parcel: Some(ParcelNumber(77)),
            event: AuditEvent::DriftUnderParcel {
                drift: HealthIssue::PresenceDrift {
                    reading: 1_300,
                    threshold: 2_100,
                    band: 840,
                },
            },
            snapshot: None,
            link: link(seq),
        }),
    );
    // Staff asked compartment 8's sensor re-tared; the node refused the
    // calibrate: the sensor keeps its old baseline.
    let seq = seq + 1;
    g.up(
        "audit_recalibration_failed",
        Upward::Audit(AuditRecord {
            seq,
            at: at(4_260_000),
            actor: Actor::System,
            compartment: Some(CompartmentId(8)),
            parcel: None,
            event: AuditEvent::RecalibrationFailed,
            snapshot: None,
            link: link(seq),
        }),
    );
    g.samples
}

fn golden_dir() -> PathBuf {
    support::golden_dir("uplink")
}

/// Hex as the golden files hold it: one line.
fn hex_line(bytes: &[u8]) -> String {
    let mut s = hex(bytes);
    s.push('\n');
    s
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
    let golden = check_file(&format!("{name}.postcard.hex"), &hex_line(bytes));
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
                check(&name, &m);
                let mut buf = [0u8; MAX_POSTCARD_LEN];
                let bytes = m.to_postcard(&mut buf).unwrap();
                assert_eq!(UpEnvelope::from_postcard(bytes).unwrap(), m);
            }
            Sample::Down(m) => {
                check(&name, &m);
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
        "analytics",
        "announce_parcel",
        "audit",
        "boot_ack",
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
        "recalibrate_sensor",
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
    let mut known: Vec<String> = samples
        .iter()
        .flat_map(|(n, _)| [format!("{n}.json"), format!("{n}.postcard.hex")])
        .collect();
    let files = known.len();
    known.sort_unstable();
    known.dedup();
    assert_eq!(known.len(), files, "two samples have the same name");
    known.push("mac_vectors.json".to_owned());
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
            versions: ProtocolVersions::from_bits(0xff),
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
    let analytics = Envelope::new(
        MessageId(u64::MAX),
        Upward::Analytics(Analytics {
            at: big_stamp,
            deposits_by_hour: counts(&[u32::MAX; ANALYTICS_HOURS]),
            pickups_by_hour: counts(&[u32::MAX; ANALYTICS_HOURS]),
            deposits_by_weekday: counts(&[u32::MAX; ANALYTICS_WEEKDAYS]),
            pickups_by_weekday: counts(&[u32::MAX; ANALYTICS_WEEKDAYS]),
            dwell: counts(&[u32::MAX; ANALYTICS_DWELL_BUCKETS]),
            sizes: [SizeClass::Small; ANALYTICS_SIZES]
                .into_iter()
                .map(|size| SizeFigures {
                    size,
                    deposits: u32::MAX,
                    compartments: u16::MAX,
                    occupied: u16::MAX,
                    out_of_service: u16::MAX,
                })
                .collect(),
            refused_oversize: u32::MAX,
            refused_bank_full: u32::MAX,
            refused_unavailable: u32::MAX,
        }),
    );
    let mut buf = [0u8; MAX_POSTCARD_LEN];
    let mut largest = 0;
    for up in [&boot, &diagnostics, &layout, &analytics] {
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

    impl ser::Serializer for &mut Variants {
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
            "analytics",
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
            "boot_ack",
            "recalibrate_sensor",
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
            "sensor_recalibrating",
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
            "temperature_out_of_range",
            "temperature_sensor_silent",
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
            "temperature",
            "temperature_silent",
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
            "policy_changed",
            "other",
            "temperature_restored",
            "cold_chain",
            "sensor_recalibrated_automatically",
            "snapshot_taken",
            "snapshot_failed",
            "sensor_recalibrated_remotely",
            "snapshot_requested",
            "serviced",
            "drift_under_parcel",
            "recalibration_failed",
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
            "sensor_failed",
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
    for (e, names) in NUMBERING {
        for (i, v) in names.iter().enumerate() {
            let i = u32::try_from(i).unwrap();
            assert!(
                seen.contains(&(*e, i, *v)),
                "{e}::{v} (variant {i}) is in no golden message: add one"
            );
        }
    }
    assert_eq!(covered, total);
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

// ---------------------------------------------------------------------------
// The MACs, checked against spec/uplink.md from scratch.
// ---------------------------------------------------------------------------

fn read_golden(name: &str) -> String {
    let path = golden_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The byte-level known answers of spec/uplink.md's MAC section, under the
/// published test secret: what `mac_vectors.json` holds.
fn mac_vectors() -> Value {
    let keys: Vec<Value> = spec::LABELS
        .iter()
        .map(|label| {
            json!({
                "label": std::str::from_utf8(label).unwrap(),
                "info": hex(&spec::info(label, BANK_NUMBER)),
                "key": hex(&spec::key(&BANK_SECRET, BANK_NUMBER, label)),
            })
        })
        .collect();

    // The downward tag of the golden `get_diagnostics`.
    let get_diagnostics = Envelope::new(down_id(GET_DIAGNOSTICS), Downward::GetDiagnostics);
    let mut buf = [0u8; MAX_POSTCARD_LEN];
    let covered = get_diagnostics.to_postcard(&mut buf).unwrap().to_vec();
    let downward_input = spec::downward_input(BANK_NUMBER, &covered);
    let downward_tag = spec::mac16(&downward_key(), &downward_input);

    let remote_input = spec::remote_open_input(BANK_NUMBER, INCARNATION, 3, 9001);
    let remote_key = spec::key(&BANK_SECRET, BANK_NUMBER, spec::REMOTE_OPEN);

    let code_input = spec::code_hash_input(BANK_NUMBER, BACKEND_CODE);
    let code_key = spec::key(&BANK_SECRET, BANK_NUMBER, spec::CODE_HASH);

    // A token for parcel 7 in compartment 3, valid until 2026-01-04 00:00
    // of the bank's wall clock.
    let expires_at = 1_767_484_800u64;
    let token_body = spec::token_body(BANK_NUMBER, INCARNATION, 3, 7, expires_at);
    let token_input = spec::token_input(&token_body);
    let token_key = spec::key(&BANK_SECRET, BANK_NUMBER, spec::OFFLINE_TOKEN);
    let token_tag = spec::mac16(&token_key, &token_input);
    let mut token = token_body.clone();
    token.extend_from_slice(&token_tag);

    let deposit_input = spec::deposit_input(BANK_NUMBER, INCARNATION, 4, 8);
    let deposit_key = spec::key(&BANK_SECRET, BANK_NUMBER, spec::DEPOSIT_CODE);
    let deposit_tag = spec::mac16(&deposit_key, &deposit_input);

    json!({
        "about": "Known answers for every MAC of spec/uplink.md under the published test secret; \
                  never use this secret in a bank. Checked from scratch by \
                  locker-proto/tests/uplink_golden.rs and against the crate by \
                  locker-domain/tests/uplink_tag_vector.rs.",
        "bank_secret": hex(&BANK_SECRET),
        "bank_number": BANK_NUMBER,
        "incarnation": INCARNATION,
        "hkdf": {
            "salt": std::str::from_utf8(spec::SALT).unwrap(),
            "salt_hex": hex(spec::SALT),
            "prk": hex(&spec::prk(&BANK_SECRET)),
        },
        "keys": keys,
        "downward_tag": {
            "message": "get_diagnostics",
            "id": down_id(GET_DIAGNOSTICS).0,
            "postcard_before_tag": hex(&covered),
            "mac_input": hex(&downward_input),
            "tag": hex(&downward_tag),
        },
        "remote_open_tag": {
            "incarnation": INCARNATION,
            "compartment": 3,
            "request_id": 9001,
            "mac_input": hex(&remote_input),
            "tag": hex(&spec::mac16(&remote_key, &remote_input)),
        },
        "code_hash": {
            "code": BACKEND_CODE,
            "mac_input": hex(&code_input),
            "hash": hex(&spec::mac16(&code_key, &code_input)),
        },
        "offline_token": {
            "version": 2,
            "incarnation": INCARNATION,
            "compartment": 3,
            "parcel": 7,
            "expires_at": expires_at,
            "signed_bytes": hex(&token_body),
            "mac_input": hex(&token_input),
            "tag": hex(&token_tag),
            "token": hex(&token),
        },
        "deposit_code": {
            "incarnation": INCARNATION,
            "compartment": 4,
            "parcel": 8,
            "mac_input": hex(&deposit_input),
            "tag": hex(&deposit_tag),
            "first_8_bytes_le": u64::from_le_bytes(deposit_tag[..8].try_into().unwrap()),
            "code": spec::deposit_code(&deposit_tag),
        },
    })
}

#[test]
fn the_from_scratch_hmac_passes_its_rfc_vectors() {
    // RFC 4231, test case 2.
    assert_eq!(
        hex(&spec::hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // RFC 4231, test case 6: a key longer than a block.
    assert_eq!(
        hex(&spec::hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
    // RFC 5869, test case 1 (PRK and the first 32 bytes of OKM).
    let ikm = [0x0b; 22];
    let salt: Vec<u8> = (0x00..=0x0c).collect();
    let info: Vec<u8> = (0xf0..=0xf9).collect();
    let prk = spec::hmac_sha256(&salt, &ikm);
    assert_eq!(
        hex(&prk),
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    );
    let mut t1 = info.clone();
    t1.push(1);
    assert_eq!(
        hex(&spec::hmac_sha256(&prk, &t1)),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
    );
    // CRC-32C's check value.
    assert_eq!(spec::crc32c(b"123456789"), 0xe306_9283);
}

#[test]
fn mac_vectors_match_their_golden_file() {
    let text = serde_json::to_string_pretty(&mac_vectors()).unwrap() + "\n";
    check_file("mac_vectors.json", &text);
}

#[test]
fn every_tag_and_code_hash_in_the_golden_messages_follows_the_spec() {
    let downward_key = downward_key();
    let remote_key = spec::key(&BANK_SECRET, BANK_NUMBER, spec::REMOTE_OPEN);
    let code_key = spec::key(&BANK_SECRET, BANK_NUMBER, spec::CODE_HASH);
    let mut tags = 0;
    for (name, sample) in samples() {
        let Sample::Down(_) = sample else { continue };
        // The file's bytes: the tag is the last 17 (a length byte, 16 bytes)
        // and covers every byte before it.
        let bytes = unhex(&read_golden(&format!("{name}.postcard.hex")));
        let (covered, trailer) = bytes.split_at(bytes.len() - 17);
        assert_eq!(trailer[0], 16, "{name}: the tag's length byte");
        let input = spec::downward_input(BANK_NUMBER, covered);
        assert_eq!(
            trailer[1..],
            spec::mac16(&downward_key, &input),
            "{name}: the downward tag"
        );
        // The JSON file's tag is the same, in lowercase hex.
        let json: Value = serde_json::from_str(&read_golden(&format!("{name}.json"))).unwrap();
        assert_eq!(json["tag"], hex(&trailer[1..]), "{name}.json: the tag");
        tags += 1;
        let body = &json["body"];
        if let Some(open) = body.get("remote_open") {
            let input = spec::remote_open_input(
                BANK_NUMBER,
                u32::try_from(open["incarnation"].as_u64().unwrap()).unwrap(),
                u16::try_from(open["compartment"].as_u64().unwrap()).unwrap(),
                open["request_id"].as_u64().unwrap(),
            );
            assert_eq!(
                open["tag"],
                hex(&spec::mac16(&remote_key, &input)),
                "{name}: the remote open's tag"
            );
        }
        if let Some(hash) = body.pointer("/announce_parcel/credential/code_hash") {
            let input = spec::code_hash_input(BANK_NUMBER, BACKEND_CODE);
            assert_eq!(
                *hash,
                hex(&spec::mac16(&code_key, &input)),
                "{name}: the code hash of {BACKEND_CODE}"
            );
        }
    }
    assert_eq!(tags, 16, "every downward golden message checked");
}

#[test]
fn the_layout_fingerprint_is_the_crc_the_spec_names() {
    let layout = layout();
    let bytes = spec::layout_bytes(&layout);
    assert_eq!(bytes.len(), 12 * layout.len());
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    assert_eq!(spec::crc32c(&bytes), crc.checksum(&bytes));
    let boot: Value = serde_json::from_str(&read_golden("boot_notification.json")).unwrap();
    assert_eq!(
        boot["body"]["boot_notification"]["layout_fingerprint"],
        spec::crc32c(&bytes)
    );
}
