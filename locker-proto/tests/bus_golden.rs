//! Golden vectors for the bus: the byte-for-byte companion of `spec/bus.md`.
//!
//! For every sample below, `tests/golden/bus/<name>.hex` holds the exact
//! bytes on the wire (COBS and the `0x00` delimiter included) in lowercase
//! hex, and `<name>.json` what they are: the header, the decoded message,
//! its postcard bytes, the raw frame before COBS, the CRC and, for a frame
//! with an authentication trailer, the key (and how it was derived), the
//! counter, challenge or binding, the direction byte and the exact MAC
//! input. `malformed_*` files hold byte runs that are not frames, with the
//! decoder's outcome for each; `node_key_derivation.json` and
//! `counter_reconstruction.json` are known-answer tables. The tests
//!
//! 1. encode each sample and compare with the files;
//! 2. decode the files and compare with the samples;
//! 3. check every frame again from scratch, following `spec/bus.md` and not
//!    this crate: COBS, CRC-16/MODBUS, the header, and every tag with an
//!    HMAC-SHA256 and an HKDF built here from SHA-256 alone, so the spec's
//!    byte lists are checked along with the code;
//! 4. drive the real master and node link through the `session_*` vectors;
//! 5. pin the number and order of the variants of every enum on the bus.
//!
//! After an intended change, rewrite the files and review the diff:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p locker-proto --test bus_golden
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

use locker_proto::auth::{
    BankKey, Direction, NodeAuthRecord, NodeIdentity, RxWindow, Verdict, challenge, query_binding,
    trailer,
};
use locker_proto::frame::{
    AuthTrailer, Decoder, Feed, Flags, Frame, Header, MAX_FRAME, Seq, encode, encode_authenticated,
};
use locker_proto::link::{Master, MasterConfig, MasterEvent, NodeLink};
use locker_proto::{
    BulkStatus, Channel, ChannelBits, ChannelStatus, Command, DoorState, Event, EventBatch,
    EventRecord, EventSeq, FaultCode, FirmwareVersion, Floor, FrameError, HeldEvents, Indicator,
    Instant, LockState, NackReason, NodeAddr, NodeConfig, NodeKey, PowerStatus, Presence,
    ProtocolVersions, RebootKind, Report, ResetReason, Temperature,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The published test parameters (spec/bus.md, "Golden vectors").
// ---------------------------------------------------------------------------

/// The published test bank key: bytes 0x00, 0x01, …, 0x1f. Never use it in
/// a real bank.
const BANK_KEY: [u8; 32] = counting(0x00);
/// The node every vector talks to.
const NODE: NodeAddr = NodeAddr(3);
/// The serial number of the board provisioned in `query_provision`.
const SERIAL: u64 = 0x0123_4567_89ab_cdef;
/// The gateway's challenge salt for the run: bytes 0xa0, …, 0xaf.
const SALT: [u8; 16] = {
    let full = counting(0xa0);
    let mut salt = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        salt[i] = full[i];
        i += 1;
    }
    salt
};
/// The counter value the gateway took as the run's challenge epoch (its
/// stored counter when it started).
const EPOCH: u64 = 70_000;
/// The node's stored floor when the session starts.
const NODE_FLOOR: u64 = EPOCH + 1;

const fn counting(from: u8) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        bytes[i] = from.wrapping_add(i as u8);
        i += 1;
    }
    bytes
}

/// Which of the two published node keys a tag is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    /// Node 3's key, address only: what the gateway and node 3 share.
    Node,
    /// The key `query_provision` installs: node 3 with serial [`SERIAL`].
    Provisioned,
}

impl Key {
    fn identity(self) -> NodeIdentity {
        match self {
            Key::Node => NodeIdentity::at(NODE),
            Key::Provisioned => NodeIdentity {
                addr: NODE,
                serial: Some(SERIAL),
            },
        }
    }

    fn node_key(self) -> NodeKey {
        BankKey::from_bytes(BANK_KEY).node_key(self.identity())
    }
}

// ---------------------------------------------------------------------------
// The samples.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Body {
    Command(Command),
    Report(Report),
}

/// What a frame carries in its authentication trailer, if anything.
#[derive(Clone, Copy, Debug)]
enum Seal {
    /// No trailer.
    Plain,
    /// A command signed under `counter` (direction 0x01), or an answer to a
    /// signed command, tagged under that command's counter (0x02).
    Counter { counter: u64 },
    /// A query: freshness zero, the gateway's challenge number `index` of
    /// the run in place of the tag.
    Challenge { index: u64 },
    /// An answer to the query sample `query`, tagged under its binding
    /// (0x03) with `key`.
    Binding { query: &'static str, key: Key },
}

#[derive(Clone, Debug)]
struct Sample {
    name: &'static str,
    about: &'static str,
    header: Header,
    body: Body,
    seal: Seal,
}

fn command(name: &'static str, about: &'static str, seq: u8, body: Command, seal: Seal) -> Sample {
    Sample {
        name,
        about,
        header: Header::new(NodeAddr::GATEWAY, NODE, Seq(seq), Flags::ACK_WANTED),
        body: Body::Command(body),
        seal,
    }
}

fn report(name: &'static str, about: &'static str, seq: u8, body: Report, seal: Seal) -> Sample {
    Sample {
        name,
        about,
        header: Header::new(NODE, NodeAddr::GATEWAY, Seq(seq), Flags::NONE),
        body: Body::Report(body),
        seal,
    }
}

fn events(records: &[(u16, Event)]) -> EventBatch {
    let mut batch = EventBatch::new();
    for &(seq, event) in records {
        batch
            .push(EventRecord {
                seq: EventSeq(seq),
                event,
            })
            .unwrap();
    }
    batch
}

fn samples() -> Vec<Sample> {
    use Seal::{Binding, Challenge, Counter, Plain};
    let query = |query| Binding {
        query,
        key: Key::Node,
    };
    let mut all = vec![
        // Unsigned commands: to a node without a key (or on a bus without
        // authentication). A node that authenticates refuses the four
        // actuating ones and `AckEvents` unsigned (`rep_nack_unauthenticated`).
        command(
            "cmd_ping",
            "Ping, unsigned: the master speaks bus version 1 (bit 0)",
            1,
            Command::PING,
            Plain,
        ),
        command(
            "cmd_get_status",
            "Status of channel 2, unsigned",
            2,
            Command::GetStatus {
                channel: Channel(2),
            },
            Plain,
        ),
        command(
            "cmd_get_all_status",
            "Bulk status, unsigned",
            3,
            Command::GetAllStatus,
            Plain,
        ),
        command(
            "cmd_unlock",
            "Unlock channel 2 for 300 ms, unsigned: executed only by a node without authentication",
            4,
            Command::Unlock {
                channel: Channel(2),
                pulse_ms: 300,
            },
            Plain,
        ),
        command(
            "cmd_set_indicator",
            "Blink channel 1's indicator, unsigned",
            5,
            Command::SetIndicator {
                channel: Channel(1),
                indicator: Indicator::Blink,
            },
            Plain,
        ),
        command(
            "cmd_calibrate",
            "Calibrate channel 0's presence sensor, unsigned",
            6,
            Command::Calibrate {
                channel: Channel(0),
            },
            Plain,
        ),
        command(
            "cmd_configure",
            "Configure: 30 ms debounce, 120 s ajar limit, threshold 250, pulses up to 800 ms; unsigned",
            7,
            Command::Configure(NodeConfig {
                debounce_ms: 30,
                door_ajar_limit_s: 120,
                presence_threshold: 250,
                max_pulse_ms: 800,
            }),
            Plain,
        ),
        command(
            "cmd_poll_events",
            "Event poll, unsigned",
            8,
            Command::PollEvents,
            Plain,
        ),
        command(
            "cmd_ack_events",
            "Acknowledge events up to 300, unsigned",
            9,
            Command::AckEvents {
                up_to: EventSeq(300),
            },
            Plain,
        ),
        command(
            "cmd_reboot",
            "Hard reboot, unsigned",
            10,
            Command::Reboot {
                kind: RebootKind::Hard,
            },
            Plain,
        ),
        command(
            "cmd_provision",
            "Install node 3's key (derived from the test bank key, address only) on a node in provisioning mode; the key crosses in the clear",
            11,
            Command::Provision {
                key: Key::Node.node_key(),
            },
            Plain,
        ),
        command(
            "cmd_get_auth_floor",
            "Ask the node's counter floor, unsigned",
            12,
            Command::GetAuthFloor,
            Plain,
        ),
        // Unsigned answers.
        report(
            "rep_pong",
            "Answer to a ping: firmware 1.4.2, up for a day, last reset by the watchdog, \
             speaks bus versions 1 and 2 (bits 0 and 1)",
            1,
            Report::Pong {
                firmware: FirmwareVersion::new(1, 4, 2),
                uptime_ms: 86_400_000,
                reset_reason: ResetReason::Watchdog,
                versions: ProtocolVersions::from_bits(0b11),
            },
            Plain,
        ),
        report(
            "rep_status",
            "Status of channel 2: door open, lock released, occupied (reading 523 against 10), temperature fault, -4.5 °C",
            2,
            Report::Status(ChannelStatus {
                channel: Channel(2),
                door: DoorState::Open,
                lock: LockState::Unlocked,
                presence: Presence::occupied(523, 10),
                fault: Some(FaultCode::TemperatureOutOfRange),
                temperature: Some(Temperature(-45)),
            }),
            Plain,
        ),
        report(
            "rep_bulk_status",
            "Bulk status of a 16-channel node: door 2 open, all locked but 2, 0, 2, 8 and 9 occupied, 15 faulted",
            3,
            Report::BulkStatus(BulkStatus {
                channels: 16,
                door_open: ChannelBits(0x0004),
                locked: ChannelBits(0xfffb),
                occupied: ChannelBits(0x0305),
                faulted: ChannelBits(0x8000),
            }),
            Plain,
        ),
        Sample {
            header: Header::new(NODE, NodeAddr::GATEWAY, Seq(8), Flags::MORE_PENDING),
            ..report(
                "rep_events_more_pending",
                "Six events (the most a report carries), more waiting: flag MORE_PENDING",
                8,
                Report::Events {
                    events: events(&[
                        (
                            40,
                            Event::DoorOpened {
                                channel: Channel(2),
                                commanded: false,
                            },
                        ),
                        (
                            41,
                            Event::DoorClosed {
                                channel: Channel(2),
                            },
                        ),
                        (
                            42,
                            Event::PresenceChanged {
                                channel: Channel(2),
                                presence: Presence::occupied(523, 10),
                            },
                        ),
                        (
                            43,
                            Event::FaultRaised {
                                channel: Some(Channel(1)),
                                fault: FaultCode::LockJammed,
                            },
                        ),
                        (
                            44,
                            Event::FaultCleared {
                                channel: Some(Channel(1)),
                                fault: FaultCode::LockJammed,
                            },
                        ),
                        (
                            45,
                            Event::Power(PowerStatus::Battery {
                                charge_percent: 80,
                                minutes_left: 95,
                            }),
                        ),
                    ]),
                    dropped: 0,
                },
                Plain,
            )
        },
        report(
            "rep_events_rest",
            "The rest of the queue: door ajar, a node-wide fault, critical power, three refusals, mains back; two events dropped since boot",
            9,
            Report::Events {
                events: events(&[
                    (
                        46,
                        Event::DoorAjar {
                            channel: Channel(3),
                        },
                    ),
                    (
                        47,
                        Event::FaultRaised {
                            channel: None,
                            fault: FaultCode::Brownout,
                        },
                    ),
                    (
                        48,
                        Event::Power(PowerStatus::Critical { charge_percent: 12 }),
                    ),
                    (
                        49,
                        Event::CommandsRefused {
                            refused: 3,
                            reason: NackReason::Unauthenticated,
                        },
                    ),
                    (50, Event::Power(PowerStatus::Mains)),
                ]),
                dropped: 2,
            },
            Plain,
        ),
        report(
            "rep_events_warm_start",
            "The start event after a watchdog reset, with what the queue held: events 40 to 42 unacknowledged, one dropped",
            3,
            Report::Events {
                events: events(&[(
                    0,
                    Event::NodeStarted {
                        reset_reason: ResetReason::Watchdog,
                        held: Some(HeldEvents {
                            first: EventSeq(40),
                            next: EventSeq(43),
                            dropped: 1,
                        }),
                    },
                )]),
                dropped: 0,
            },
            Plain,
        ),
        report(
            "rep_events_empty",
            "Nothing to report",
            8,
            Report::Events {
                events: EventBatch::new(),
                dropped: 0,
            },
            Plain,
        ),
        report("rep_ack", "Done", 4, Report::Ack, Plain),
        report(
            "rep_auth_floor",
            "The node accepts counters from 1024 on",
            12,
            Report::AuthFloor {
                floor: Floor::new(1024),
            },
            Plain,
        ),
    ];
    let nacks: [(&'static str, &'static str, u8, NackReason); 9] = [
        (
            "rep_nack_unknown_channel",
            "Refused: no such channel",
            2,
            NackReason::UnknownChannel,
        ),
        (
            "rep_nack_busy",
            "Refused: the lock is still pulsing",
            4,
            NackReason::Busy,
        ),
        (
            "rep_nack_not_permitted",
            "Refused: not permitted now (e.g. calibrating without a reading)",
            6,
            NackReason::NotPermitted,
        ),
        (
            "rep_nack_invalid_config",
            "Refused: configuration out of range",
            7,
            NackReason::InvalidConfig,
        ),
        (
            "rep_nack_faulted",
            "Refused: the channel is faulted",
            4,
            NackReason::Faulted,
        ),
        (
            "rep_nack_unsupported",
            "Refused: the node does not know the command",
            12,
            NackReason::Unsupported,
        ),
        (
            "rep_nack_unauthenticated",
            "Refused: the command needs a valid tag; always unsigned, even from a keyed node",
            4,
            NackReason::Unauthenticated,
        ),
        (
            "rep_nack_rate_limited",
            "Refused: unlock rate limit reached",
            4,
            NackReason::RateLimited,
        ),
        (
            "rep_nack_provisioning_disabled",
            "Refused: a key offered outside provisioning mode",
            11,
            NackReason::ProvisioningDisabled,
        ),
    ];
    all.extend(
        nacks.into_iter().map(|(name, about, seq, reason)| {
            report(name, about, seq, Report::Nack(reason), Plain)
        }),
    );
    all.extend([
        // A session between the gateway's master and keyed node 3, exactly
        // as the link layer speaks it (`the_real_master_and_node_speak_the_session_vectors`).
        command(
            "session_1_get_auth_floor",
            "The gateway's first query of its run to keyed node 3: its counter floor, with challenge 0",
            0x20,
            Command::GetAuthFloor,
            Challenge { index: 0 },
        ),
        report(
            "session_2_auth_floor",
            "The node's floor, tagged under the binding of session_1",
            0x20,
            Report::AuthFloor { floor: Floor::new(NODE_FLOOR) },
            query("session_1_get_auth_floor"),
        ),
        command(
            "session_3_poll_events",
            "Event poll with challenge 1",
            0x21,
            Command::PollEvents,
            Challenge { index: 1 },
        ),
        report(
            "session_4_events",
            "The node's start event (always sequence 0), tagged under the binding of session_3",
            0x21,
            Report::Events {
                events: events(&[(
                    0,
                    Event::NodeStarted {
                        reset_reason: ResetReason::PowerOn,
                        held: None,
                    },
                )]),
                dropped: 0,
            },
            query("session_3_poll_events"),
        ),
        command(
            "session_5_ack_events",
            "Acknowledge event 0, signed under counter 70001",
            0x22,
            Command::AckEvents { up_to: EventSeq(0) },
            Counter {
                counter: NODE_FLOOR,
            },
        ),
        report(
            "session_6_ack",
            "Done, tagged under session_5's counter",
            0x22,
            Report::Ack,
            Counter {
                counter: NODE_FLOOR,
            },
        ),
        command(
            "session_7_unlock",
            "Unlock channel 2 for 300 ms, signed under counter 70002",
            0x23,
            Command::Unlock {
                channel: Channel(2),
                pulse_ms: 300,
            },
            Counter {
                counter: NODE_FLOOR + 1,
            },
        ),
        report(
            "session_8_ack",
            "The lock is pulsed: done, tagged under session_7's counter",
            0x23,
            Report::Ack,
            Counter {
                counter: NODE_FLOOR + 1,
            },
        ),
        // More signed commands and tagged answers to keyed node 3.
        command(
            "signed_calibrate",
            "Calibrate channel 1, signed under counter 70010",
            0x30,
            Command::Calibrate {
                channel: Channel(1),
            },
            Counter { counter: 70_010 },
        ),
        command(
            "signed_configure",
            "Configure 30 ms debounce, 60 s ajar limit, presence threshold 10, 1000 ms pulse, signed under counter 70011",
            0x31,
            Command::Configure(NodeConfig::default().with_presence_threshold(10)),
            Counter { counter: 70_011 },
        ),
        command(
            "signed_reboot",
            "Soft reboot, signed under counter 70012",
            0x32,
            Command::Reboot {
                kind: RebootKind::Soft,
            },
            Counter { counter: 70_012 },
        ),
        command(
            "query_ping",
            "Ping with challenge 2: the master speaks bus version 1",
            0x33,
            Command::PING,
            Challenge { index: 2 },
        ),
        report(
            "answer_pong",
            "Answer to query_ping, tagged under its binding",
            0x33,
            Report::Pong {
                firmware: FirmwareVersion::new(0, 1, 0),
                uptime_ms: 5_000,
                reset_reason: ResetReason::PowerOn,
                versions: ProtocolVersions::BUS,
            },
            query("query_ping"),
        ),
        command(
            "query_get_status",
            "Status of channel 1 with challenge 3",
            0x34,
            Command::GetStatus {
                channel: Channel(1),
            },
            Challenge { index: 3 },
        ),
        report(
            "answer_status",
            "Channel 1 closed, locked, empty (reading 2 against 10), no fault, no thermometer; tagged under query_get_status's binding",
            0x34,
            Report::Status(ChannelStatus {
                channel: Channel(1),
                door: DoorState::Closed,
                lock: LockState::Locked,
                presence: Presence::empty(2, 10),
                fault: None,
                temperature: None,
            }),
            query("query_get_status"),
        ),
        command(
            "query_get_all_status",
            "Bulk status with challenge 4",
            0x35,
            Command::GetAllStatus,
            Challenge { index: 4 },
        ),
        report(
            "answer_bulk_status",
            "A 4-channel node: all closed and locked, channel 1 occupied; tagged under query_get_all_status's binding",
            0x35,
            Report::BulkStatus(BulkStatus {
                channels: 4,
                door_open: ChannelBits(0),
                locked: ChannelBits(0b1111),
                occupied: ChannelBits(0b0010),
                faulted: ChannelBits(0),
            }),
            query("query_get_all_status"),
        ),
        command(
            "query_set_indicator",
            "Indicator of channel 0 on, with challenge 5 (an indicator needs no tag)",
            0x36,
            Command::SetIndicator {
                channel: Channel(0),
                indicator: Indicator::On,
            },
            Challenge { index: 5 },
        ),
        report(
            "answer_ack_indicator",
            "Done, tagged under query_set_indicator's binding",
            0x36,
            Report::Ack,
            query("query_set_indicator"),
        ),
        command(
            "signed_unlock_stale",
            "Unlock channel 0, signed under counter 69990: below the node's floor of 70013",
            0x37,
            Command::Unlock {
                channel: Channel(0),
                pulse_ms: 500,
            },
            Counter { counter: 69_990 },
        ),
        report(
            "answer_nack_stale",
            "Refused as stale, floor 70013, tagged under the refused frame's own counter 69990",
            0x37,
            Report::Nack(NackReason::Stale { floor: Floor::new(70_013) }),
            Counter { counter: 69_990 },
        ),
        command(
            "query_provision",
            "Install a new key (node 3 with serial 0x0123456789abcdef) with challenge 6 (made with the current key)",
            0x38,
            Command::Provision {
                key: Key::Provisioned.node_key(),
            },
            Challenge { index: 6 },
        ),
        report(
            "answer_ack_provision",
            "Done, tagged under query_provision's binding made with the NEW key",
            0x38,
            Report::Ack,
            Binding {
                query: "query_provision",
                key: Key::Provisioned,
            },
        ),
    ]);
    all
}

fn postcard_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    postcard::to_slice(value, &mut buf).unwrap().to_vec()
}

fn find<'s>(samples: &'s [Sample], name: &str) -> &'s Sample {
    samples
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no sample {name}"))
}

// ---------------------------------------------------------------------------
// Encoding with this crate.
// ---------------------------------------------------------------------------

fn encode_sample(sample: &Sample, samples: &[Sample]) -> Vec<u8> {
    match &sample.body {
        Body::Command(body) => encode_with_seal(
            &Frame {
                header: sample.header,
                body: *body,
            },
            sample.seal,
            Direction::ToNode,
            samples,
        ),
        Body::Report(body) => encode_with_seal(
            &Frame {
                header: sample.header,
                body: body.clone(),
            },
            sample.seal,
            Direction::ToGateway,
            samples,
        ),
    }
}

fn encode_with_seal<B: locker_proto::frame::Body>(
    frame: &Frame<B>,
    seal: Seal,
    direction: Direction,
    samples: &[Sample],
) -> Vec<u8> {
    let key = Key::Node.node_key();
    let mut buf = [0u8; MAX_FRAME];
    let wire = match seal {
        Seal::Plain => encode(frame, &mut buf),
        Seal::Counter { counter } => {
            encode_authenticated(frame, &mut buf, |c| trailer(&key, c, counter, direction))
        }
        Seal::Challenge { index } => encode_authenticated(frame, &mut buf, |_| AuthTrailer {
            freshness: [0; 2],
            tag: challenge(&key, &SALT, EPOCH, index),
        }),
        Seal::Binding { query, key } => {
            let query = encode_sample(find(samples, query), samples);
            let mut decoder = Decoder::new();
            let Feed::Frame { .. } = decoder.feed::<Command>(&query) else {
                panic!("query does not decode");
            };
            let signed = decoder.last_authenticated().unwrap();
            let key = key.node_key();
            let binding = query_binding(&key, signed.covered, &signed.trailer.tag);
            encode_authenticated(frame, &mut buf, |c| {
                trailer(&key, c, binding, Direction::QueryAnswer)
            })
        }
    };
    wire.unwrap().to_vec()
}

// ---------------------------------------------------------------------------
// spec/bus.md, implemented from scratch: nothing below calls this crate.
// ---------------------------------------------------------------------------

mod scratch {

    pub(super) use crate::support::hmac_sha256;

    /// HKDF-SHA256 (RFC 5869) for a 32-byte output: the pseudorandom key
    /// and the output key.
    pub(super) fn hkdf_sha256_32(salt: &[u8], ikm: &[u8], info: &[u8]) -> ([u8; 32], [u8; 32]) {
        let prk = hmac_sha256(salt, ikm);
        let mut t1 = info.to_vec();
        t1.push(0x01);
        (prk, hmac_sha256(&prk, &t1))
    }

    /// spec/bus.md, "Key derivation": the HKDF `info`.
    pub(super) fn key_info(addr: u8, serial: Option<u64>) -> Vec<u8> {
        match serial {
            None => vec![0x00, addr],
            Some(serial) => {
                let mut info = vec![0x01, addr];
                info.extend_from_slice(&serial.to_le_bytes());
                info
            }
        }
    }

    pub(super) const KEY_SALT: &[u8] = b"locker bus node key v1";

    /// The node key.
    pub(super) fn node_key(bank_key: &[u8], addr: u8, serial: Option<u64>) -> [u8; 32] {
        hkdf_sha256_32(KEY_SALT, bank_key, &key_info(addr, serial)).1
    }

    /// spec/bus.md, "The tag": covered ‖ counter (u64 LE) ‖ direction.
    pub(super) fn mac_input(covered: &[u8], counter: u64, direction: u8) -> Vec<u8> {
        let mut input = covered.to_vec();
        input.extend_from_slice(&counter.to_le_bytes());
        input.push(direction);
        input
    }

    /// spec/bus.md, "Queries": epoch (u64 LE) ‖ salt ‖ index (u64 LE) ‖ 0x05.
    pub(super) fn challenge_input(epoch: u64, salt: &[u8], index: u64) -> Vec<u8> {
        let mut input = epoch.to_le_bytes().to_vec();
        input.extend_from_slice(salt);
        input.extend_from_slice(&index.to_le_bytes());
        input.push(0x05);
        input
    }

    /// spec/bus.md, "Queries": query covered bytes ‖ challenge ‖ 0x04.
    pub(super) fn binding_input(query_covered: &[u8], challenge: &[u8]) -> Vec<u8> {
        let mut input = query_covered.to_vec();
        input.extend_from_slice(challenge);
        input.push(0x04);
        input
    }

    /// The first 8 bytes of HMAC-SHA256(key, input).
    pub(super) fn truncated(key: &[u8], input: &[u8]) -> [u8; 8] {
        let full = hmac_sha256(key, input);
        let mut out = [0u8; 8];
        out.copy_from_slice(&full[..8]);
        out
    }

    /// spec/bus.md, "Counter reconstruction": the full counter the two
    /// freshness bytes stand for, and whether it is fresh (at or above the
    /// floor) or stale (below it); `None` below zero or above `u64::MAX`.
    pub(super) fn reconstruct(floor: u64, freshness: [u8; 2]) -> Option<(u64, bool)> {
        let bits = u64::from(u16::from_le_bytes(freshness));
        let ahead = bits.wrapping_sub(floor) % 65_536;
        if ahead < 32_768 {
            floor.checked_add(ahead).map(|c| (c, true))
        } else {
            floor
                .checked_add(ahead)
                .and_then(|c| c.checked_sub(65_536))
                .map(|c| (c, false))
        }
    }

    /// CRC-16/MODBUS, bit by bit: initial 0xFFFF, reflected polynomial
    /// 0xA001, no final XOR.
    pub(super) fn crc16_modbus(bytes: &[u8]) -> u16 {
        let mut crc = 0xffffu16;
        for &b in bytes {
            crc ^= u16::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xa001
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    pub(super) use crate::support::{cobs_decode, cobs_encode};

    /// A frame taken apart as spec/bus.md, "The frame", describes it.
    #[derive(Debug)]
    pub(super) struct Parsed {
        pub(super) raw: Vec<u8>,
        pub(super) version: u8,
        pub(super) flags: u8,
        pub(super) src: u8,
        pub(super) dst: u8,
        pub(super) seq: u8,
        pub(super) body: Vec<u8>,
        /// Header and body: what a tag covers.
        pub(super) covered: Vec<u8>,
        pub(super) freshness: Option<[u8; 2]>,
        pub(super) tag: Option<[u8; 8]>,
        pub(super) crc: u16,
    }

    pub(super) fn parse(wire: &[u8]) -> Parsed {
        let (delimiter, encoded) = wire.split_last().unwrap();
        assert_eq!(*delimiter, 0x00, "a frame ends with its delimiter");
        assert!(!encoded.contains(&0), "no zero inside a frame");
        assert!(wire.len() <= 128, "at most 128 bytes on the wire");
        let raw = cobs_decode(encoded).unwrap();
        assert_eq!(raw.len() + 2, wire.len(), "COBS adds exactly one byte");
        let n = raw.len();
        let crc = u16::from_le_bytes([raw[n - 2], raw[n - 1]]);
        assert_eq!(crc, crc16_modbus(&raw[..n - 2]), "CRC over all before it");
        let flags = raw[0] & 0x0f;
        let authenticated = flags & 0x02 != 0;
        let body_end = if authenticated { n - 12 } else { n - 2 };
        let (freshness, tag) = if authenticated {
            let mut f = [0u8; 2];
            f.copy_from_slice(&raw[n - 12..n - 10]);
            let mut t = [0u8; 8];
            t.copy_from_slice(&raw[n - 10..n - 2]);
            (Some(f), Some(t))
        } else {
            (None, None)
        };
        Parsed {
            version: raw[0] >> 4,
            flags,
            src: raw[1],
            dst: raw[2],
            seq: raw[3],
            body: raw[4..body_end].to_vec(),
            covered: raw[..body_end].to_vec(),
            freshness,
            tag,
            crc,
            raw,
        }
    }
}

// ---------------------------------------------------------------------------
// Files.
// ---------------------------------------------------------------------------

fn golden_dir() -> PathBuf {
    support::golden_dir("bus")
}

/// With `UPDATE_GOLDEN=1`, writes every sample's files once, before any
/// test reads a file another test writes (tests run in parallel).
fn prepare() {
    static WRITTEN: std::sync::Once = std::sync::Once::new();
    if updating() {
        WRITTEN.call_once(|| {
            let samples = samples();
            for sample in &samples {
                let wire = encode_sample(sample, &samples);
                check_hex(sample.name, &wire);
                check_json(sample.name, &describe(sample, &wire, &samples));
            }
        });
    }
}

fn read(name: &str) -> String {
    let path = golden_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `UPDATE_GOLDEN=1 cargo test -p locker-proto --test bus_golden`",
            path.display()
        )
    })
}

fn write(name: &str, text: &str) {
    std::fs::create_dir_all(golden_dir()).unwrap();
    std::fs::write(golden_dir().join(name), text).unwrap();
}

/// Compares the wire bytes with `<name>.hex` (or writes them); returns the
/// bytes the file holds.
fn check_hex(name: &str, wire: &[u8]) -> Vec<u8> {
    let file = format!("{name}.hex");
    if updating() {
        write(&file, &(hex(wire) + "\n"));
    }
    let golden = unhex(&read(&file));
    assert_eq!(
        hex(wire),
        hex(&golden),
        "{file} no longer matches; if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff"
    );
    golden
}

/// Compares a description with `<name>.json` (or writes it), as JSON
/// values: the order of keys does not matter.
fn check_json(name: &str, value: &Value) -> Value {
    let file = format!("{name}.json");
    if updating() {
        write(
            &file,
            &(serde_json::to_string_pretty(value).unwrap() + "\n"),
        );
    }
    let golden: Value = serde_json::from_str(&read(&file)).unwrap();
    assert_eq!(
        value, &golden,
        "{file} no longer matches; if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff"
    );
    golden
}

// ---------------------------------------------------------------------------
// Descriptions.
// ---------------------------------------------------------------------------

fn flag_names(flags: u8) -> Vec<&'static str> {
    [
        (0x01, "ACK_WANTED"),
        (0x02, "AUTHENTICATED"),
        (0x04, "MORE_PENDING"),
    ]
    .into_iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, name)| name)
    .collect()
}

fn key_json(key: Key) -> Value {
    let id = key.identity();
    json!({
        "bank_key": hex(&BANK_KEY),
        "addr": id.addr.0,
        "serial": id.serial.map(|s| format!("{s:#018x}")),
        "hkdf_salt": hex(scratch::KEY_SALT),
        "hkdf_info": hex(&scratch::key_info(id.addr.0, id.serial)),
        "node_key": hex(key.node_key().as_bytes()),
    })
}

fn body_json(body: &Body) -> Value {
    match body {
        Body::Command(c) => json!({ "Command": c }),
        Body::Report(r) => json!({ "Report": r }),
    }
}

fn describe(sample: &Sample, wire: &[u8], samples: &[Sample]) -> Value {
    let p = scratch::parse(wire);
    let key = Key::Node;
    let auth = match sample.seal {
        Seal::Plain => Value::Null,
        Seal::Counter { counter } => {
            let (kind, direction) = match sample.body {
                Body::Command(_) => ("signed command", 0x01),
                Body::Report(_) => ("answer to a signed command", 0x02),
            };
            let input = scratch::mac_input(&p.covered, counter, direction);
            json!({
                "kind": kind,
                "key": key_json(key),
                "counter": counter,
                "direction": direction,
                "covered": hex(&p.covered),
                "mac_input": hex(&input),
                "tag": hex(&p.tag.unwrap()),
                "freshness": hex(&p.freshness.unwrap()),
            })
        }
        Seal::Challenge { index } => {
            let input = scratch::challenge_input(EPOCH, &SALT, index);
            json!({
                "kind": "query",
                "key": key_json(key),
                "salt": hex(&SALT),
                "epoch": EPOCH,
                "index": index,
                "challenge_input": hex(&input),
                "challenge": hex(&p.tag.unwrap()),
                "freshness": hex(&p.freshness.unwrap()),
                "covered": hex(&p.covered),
            })
        }
        Seal::Binding { query, key } => {
            let q = scratch::parse(&encode_sample(find(samples, query), samples));
            let challenge = q.tag.unwrap();
            let node_key = key.node_key();
            let binding_input = scratch::binding_input(&q.covered, &challenge);
            let binding = scratch::truncated(node_key.as_bytes(), &binding_input);
            let input = [p.covered.as_slice(), &binding, &[0x03]].concat();
            json!({
                "kind": "answer to a query",
                "answers": query,
                "key": key_json(key),
                "query_covered": hex(&q.covered),
                "challenge": hex(&challenge),
                "binding_input": hex(&binding_input),
                "binding": hex(&binding),
                "direction": 0x03,
                "covered": hex(&p.covered),
                "mac_input": hex(&input),
                "tag": hex(&p.tag.unwrap()),
                "freshness": hex(&p.freshness.unwrap()),
            })
        }
    };
    json!({
        "name": sample.name,
        "about": sample.about,
        "direction": if p.src == 0 { "gateway to node" } else { "node to gateway" },
        "header": {
            "version": p.version,
            "flags": p.flags,
            "flag_names": flag_names(p.flags),
            "src": p.src,
            "dst": p.dst,
            "seq": p.seq,
        },
        "body": body_json(&sample.body),
        "body_postcard": hex(&p.body),
        "raw": hex(&p.raw),
        "crc16": format!("{:#06x}", p.crc),
        "wire_length": wire.len(),
        "auth": auth,
    })
}

// ---------------------------------------------------------------------------
// (1) and (2): every sample against its files, both ways.
// ---------------------------------------------------------------------------

fn decode_wire(sample: &Sample, wire: &[u8]) -> (Body, Header, Option<AuthTrailer>) {
    let mut decoder = Decoder::new();
    match &sample.body {
        Body::Command(_) => match decoder.feed::<Command>(wire) {
            Feed::Frame { frame, remaining } => {
                assert!(remaining.is_empty());
                let trailer = decoder.last_authenticated().map(|a| a.trailer);
                (Body::Command(frame.body), frame.header, trailer)
            }
            other => panic!("{}: {other:?}", sample.name),
        },
        Body::Report(_) => match decoder.feed::<Report>(wire) {
            Feed::Frame { frame, remaining } => {
                assert!(remaining.is_empty());
                let trailer = decoder.last_authenticated().map(|a| a.trailer);
                (Body::Report(frame.body), frame.header, trailer)
            }
            other => panic!("{}: {other:?}", sample.name),
        },
    }
}

#[test]
fn every_bus_sample_matches_its_golden_files_and_decodes_back() {
    prepare();
    let samples = samples();
    for sample in &samples {
        let wire = encode_sample(sample, &samples);
        let golden = check_hex(sample.name, &wire);
        check_json(sample.name, &describe(sample, &wire, &samples));
        let (body, header, trailer) = decode_wire(sample, &golden);
        assert_eq!(body, sample.body, "{}", sample.name);
        let sealed = !matches!(sample.seal, Seal::Plain);
        let expected_flags = if sealed {
            sample.header.flags.with(Flags::AUTHENTICATED)
        } else {
            sample.header.flags
        };
        assert_eq!(
            header,
            Header {
                flags: expected_flags,
                ..sample.header
            },
            "{}",
            sample.name
        );
        assert_eq!(trailer.is_some(), sealed, "{}", sample.name);
    }
}

/// Every `Command` and `Report` variant has a vector unsigned and one with
/// a trailer; every `Event` and `NackReason` variant appears.
#[test]
fn the_vectors_cover_every_message_both_ways() {
    fn command_index(c: &Command) -> u8 {
        postcard_bytes(c)[0]
    }
    fn report_index(r: &Report) -> u8 {
        postcard_bytes(r)[0]
    }
    let samples = samples();
    let mut commands = [[false; 2]; 12];
    let mut reports = [[false; 2]; 7];
    let mut events = [false; 9];
    let mut reasons = [false; 10];
    for s in &samples {
        let sealed = usize::from(!matches!(s.seal, Seal::Plain));
        match &s.body {
            Body::Command(c) => commands[usize::from(command_index(c))][sealed] = true,
            Body::Report(r) => {
                reports[usize::from(report_index(r))][sealed] = true;
                match r {
                    Report::Events { events: batch, .. } => {
                        for record in batch {
                            let i = postcard_bytes(&record.event)[0];
                            events[usize::from(i)] = true;
                        }
                    }
                    Report::Nack(reason) => {
                        reasons[usize::from(postcard_bytes(reason)[0])] = true;
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(commands.iter().flatten().all(|&c| c), "{commands:?}");
    assert!(reports.iter().flatten().all(|&r| r), "{reports:?}");
    assert!(events.iter().all(|&e| e), "{events:?}");
    assert!(reasons.iter().all(|&r| r), "{reasons:?}");
}

#[test]
fn no_golden_file_is_orphaned() {
    if updating() {
        return;
    }
    let mut known: Vec<String> = samples()
        .iter()
        .flat_map(|s| [format!("{}.hex", s.name), format!("{}.json", s.name)])
        .collect();
    known.extend(
        malformed()
            .iter()
            .flat_map(|m| [format!("{}.hex", m.name), format!("{}.json", m.name)]),
    );
    known.push("node_key_derivation.json".into());
    known.push("counter_reconstruction.json".into());
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        assert!(known.contains(&file), "golden file {file} has no sample");
    }
}

// ---------------------------------------------------------------------------
// (3): every frame and tag again, from the files and spec/bus.md alone.
// ---------------------------------------------------------------------------

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn check_key_description(name: &str, k: &Value) -> Vec<u8> {
    let serial = k["serial"]
        .as_str()
        .map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap());
    let addr = u8::try_from(k["addr"].as_u64().unwrap()).unwrap();
    assert_eq!(s(&k["hkdf_salt"]), hex(b"locker bus node key v1"), "{name}");
    assert_eq!(
        s(&k["hkdf_info"]),
        hex(&scratch::key_info(addr, serial)),
        "{name}"
    );
    let derived = scratch::node_key(&unhex(s(&k["bank_key"])), addr, serial);
    assert_eq!(s(&k["node_key"]), hex(&derived), "{name}: node key");
    derived.to_vec()
}

#[test]
fn every_frame_and_tag_follows_the_spec_byte_for_byte() {
    prepare();
    for sample in samples() {
        let name = sample.name;
        let wire = unhex(&read(&format!("{name}.hex")));
        let d: Value = serde_json::from_str(&read(&format!("{name}.json"))).unwrap();
        let p = scratch::parse(&wire);
        assert_eq!(p.version, 1, "{name}");
        assert_eq!(s(&d["raw"]), hex(&p.raw), "{name}");
        assert_eq!(s(&d["body_postcard"]), hex(&p.body), "{name}");
        let h = &d["header"];
        for (field, value) in [
            ("flags", p.flags),
            ("src", p.src),
            ("dst", p.dst),
            ("seq", p.seq),
        ] {
            assert_eq!(h[field].as_u64(), Some(u64::from(value)), "{name}: {field}");
        }
        let a = &d["auth"];
        if a.is_null() {
            assert_eq!(p.flags & 0x02, 0, "{name}: unsigned, no AUTHENTICATED flag");
            continue;
        }
        assert_eq!(p.flags & 0x02, 0x02, "{name}: AUTHENTICATED flag");
        let key = check_key_description(name, &a["key"]);
        let (tag, freshness) = (p.tag.unwrap(), p.freshness.unwrap());
        assert_eq!(s(&a["covered"]), hex(&p.covered), "{name}");
        match s(&a["kind"]) {
            "query" => {
                let input = scratch::challenge_input(
                    a["epoch"].as_u64().unwrap(),
                    &unhex(s(&a["salt"])),
                    a["index"].as_u64().unwrap(),
                );
                assert_eq!(s(&a["challenge_input"]), hex(&input), "{name}");
                assert_eq!(tag, scratch::truncated(&key, &input), "{name}: challenge");
                assert_eq!(freshness, [0, 0], "{name}: a query's freshness is zero");
            }
            kind @ ("signed command" | "answer to a signed command") => {
                let direction = if kind == "signed command" { 0x01 } else { 0x02 };
                assert_eq!(a["direction"].as_u64(), Some(direction), "{name}");
                let counter = a["counter"].as_u64().unwrap();
                let input = scratch::mac_input(&p.covered, counter, direction as u8);
                assert_eq!(s(&a["mac_input"]), hex(&input), "{name}");
                assert_eq!(tag, scratch::truncated(&key, &input), "{name}: tag");
                assert_eq!(freshness, counter.to_le_bytes()[..2], "{name}: freshness");
            }
            "answer to a query" => {
                let query = s(&a["answers"]);
                let q = scratch::parse(&unhex(&read(&format!("{query}.hex"))));
                assert_eq!(s(&a["query_covered"]), hex(&q.covered), "{name}");
                let challenge = q.tag.unwrap();
                assert_eq!(s(&a["challenge"]), hex(&challenge), "{name}");
                let binding_input = scratch::binding_input(&q.covered, &challenge);
                assert_eq!(s(&a["binding_input"]), hex(&binding_input), "{name}");
                let binding = scratch::truncated(&key, &binding_input);
                assert_eq!(s(&a["binding"]), hex(&binding), "{name}");
                let input = scratch::mac_input(&p.covered, u64::from_le_bytes(binding), 0x03);
                assert_eq!(s(&a["mac_input"]), hex(&input), "{name}");
                assert_eq!(tag, scratch::truncated(&key, &input), "{name}: tag");
                assert_eq!(freshness, binding[..2], "{name}: freshness");
            }
            other => panic!("{name}: unknown kind {other}"),
        }
    }
}

/// The from-scratch primitives are themselves right: RFC 4231 and RFC 5869
/// test vectors, the CRC catalogue's check value.
#[test]
fn the_from_scratch_primitives_pass_their_rfc_vectors() {
    assert_eq!(
        hex(&scratch::hmac_sha256(&[0x0b; 20], b"Hi There")),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    assert_eq!(
        hex(&scratch::hmac_sha256(
            b"Jefe",
            b"what do ya want for nothing?"
        )),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let salt: Vec<u8> = (0x00..=0x0c).collect();
    let info: Vec<u8> = (0xf0..=0xf9).collect();
    let (prk, okm) = scratch::hkdf_sha256_32(&salt, &[0x0b; 22], &info);
    assert_eq!(
        hex(&prk),
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    );
    assert_eq!(
        hex(&okm),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
    );
    assert_eq!(scratch::crc16_modbus(b"123456789"), 0x4b37);
    assert_eq!(
        scratch::cobs_encode(&[0x11, 0x22, 0x00, 0x33]),
        [0x03, 0x11, 0x22, 0x02, 0x33, 0x00]
    );
}

#[test]
fn node_keys_derive_as_the_spec_says() {
    let cases: Vec<Value> = [
        (NodeAddr(3), None),
        (NodeAddr(3), Some(SERIAL)),
        (NodeAddr(247), None),
    ]
    .into_iter()
    .map(|(addr, serial)| {
        let id = NodeIdentity { addr, serial };
        let info = scratch::key_info(addr.0, serial);
        let (prk, okm) = scratch::hkdf_sha256_32(scratch::KEY_SALT, &BANK_KEY, &info);
        assert_eq!(BankKey::from_bytes(BANK_KEY).node_key(id).to_bytes(), okm);
        json!({
            "bank_key": hex(&BANK_KEY),
            "addr": addr.0,
            "serial": serial.map(|s| format!("{s:#018x}")),
            "hkdf_salt": hex(scratch::KEY_SALT),
            "hkdf_info": hex(&info),
            "prk": hex(&prk),
            "node_key": hex(&okm),
        })
    })
    .collect();
    let table = json!({
        "about": "Node keys: HKDF-SHA256(salt = \"locker bus node key v1\", ikm = bank key, info = kind || address [|| serial u64 LE]), 32 bytes",
        "cases": cases,
    });
    let golden = check_json("node_key_derivation", &table);
    for case in golden["cases"].as_array().unwrap() {
        check_key_description("node_key_derivation", case);
    }
}

#[test]
fn counters_are_reconstructed_as_the_spec_says() {
    let key = Key::Node.node_key();
    let covered = b"\x13\x00\x03\x07\x03\x02\xac\x02";
    // (receiver floor, counter the sender used)
    let cases: [(u64, u64); 10] = [
        (0, 0),
        (0, 32_767),
        (0, 32_768),
        (70_001, 70_001),
        (70_001, 102_768),
        (70_001, 102_769),
        (70_013, 69_990),
        (65_530, 65_541),
        (40_000, 7_232),
        (10, 65_535),
    ];
    let mut rows = Vec::new();
    for (floor, sent) in cases {
        let t = trailer(&key, covered, sent, Direction::ToNode);
        let mut rx = RxWindow::resume(floor).with_block(1 << 40);
        let up_to = rx.poll_persist().unwrap();
        rx.persisted(up_to);
        let verdict = rx.check(&key, covered, &t, Direction::ToNode);
        // The spec's algorithm: reconstruct, then the tag decides.
        let by_spec = match scratch::reconstruct(floor, t.freshness) {
            Some((c, true)) if c == sent => format!("fresh {c}"),
            Some((c, false)) if c == sent => format!("stale {c}"),
            _ => "forged".to_string(),
        };
        let by_code = match verdict {
            Verdict::Fresh(c) => format!("fresh {c}"),
            Verdict::Stale(c) => format!("stale {c}"),
            Verdict::Forged => "forged".to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(by_spec, by_code, "floor {floor}, counter {sent}");
        let reconstructed = scratch::reconstruct(floor, t.freshness).map(|(c, _)| c);
        rows.push(json!({
            "floor": floor,
            "sent": sent,
            "freshness": hex(&t.freshness),
            "reconstructed": reconstructed,
            "verdict": by_code,
        }));
    }
    check_json(
        "counter_reconstruction",
        &json!({
            "about": "What a receiver at `floor` makes of a signed frame whose sender used counter `sent`: the counter reconstructed from the freshness bytes, and the verdict once the tag is checked under it (a tag made under another counter does not verify: forged)",
            "cases": rows,
        }),
    );
}

// ---------------------------------------------------------------------------
// Malformed input: what the decoder reports for each.
// ---------------------------------------------------------------------------

struct Malformed {
    name: &'static str,
    about: &'static str,
    /// Decoded as commands (what a node does) or reports (the gateway).
    as_report: bool,
    bytes: Vec<u8>,
    expect: Vec<Result<(), FrameError>>,
}

fn raw_frame(raw: &[u8]) -> Vec<u8> {
    let mut with_crc = raw.to_vec();
    with_crc.extend_from_slice(&scratch::crc16_modbus(raw).to_le_bytes());
    scratch::cobs_encode(&with_crc)
}

fn malformed() -> Vec<Malformed> {
    let ping = raw_frame(&[0x11, 0x00, 0x03, 0x01, 0x00, 0x01]);
    let mut bad_crc_raw = vec![0x11, 0x00, 0x03, 0x01, 0x00, 0x01];
    let crc = scratch::crc16_modbus(&bad_crc_raw);
    bad_crc_raw.extend_from_slice(&(crc ^ 0x00ff).to_le_bytes());
    let with = |prefix: &[u8], frame: &[u8]| [prefix, frame].concat();
    vec![
        Malformed {
            name: "malformed_bad_crc",
            about: "A ping with its CRC's low byte inverted",
            as_report: false,
            bytes: scratch::cobs_encode(&bad_crc_raw),
            expect: vec![Err(FrameError::BadCrc {
                received: crc ^ 0x00ff,
                computed: crc,
            })],
        },
        Malformed {
            name: "malformed_bad_cobs",
            about: "A COBS code byte promising four bytes where two come before the delimiter",
            as_report: false,
            bytes: vec![0x05, 0x11, 0x22, 0x00],
            expect: vec![Err(FrameError::BadCobs)],
        },
        Malformed {
            name: "malformed_too_long",
            about: "128 bytes without a delimiter (127 is the most a frame has)",
            as_report: false,
            bytes: [vec![0x01; 128], vec![0x00]].concat(),
            expect: vec![Err(FrameError::TooLong)],
        },
        Malformed {
            name: "malformed_truncated",
            about: "Five raw bytes: shorter than a header and a CRC",
            as_report: false,
            bytes: scratch::cobs_encode(&[0x11, 0x00, 0x03, 0x01, 0x07]),
            expect: vec![Err(FrameError::Truncated { len: 5 })],
        },
        Malformed {
            name: "malformed_unknown_version",
            about: "A ping from protocol version 2 (speaking versions 1 and 2), CRC good",
            as_report: false,
            bytes: raw_frame(&[0x21, 0x00, 0x03, 0x01, 0x00, 0x03]),
            expect: vec![Err(FrameError::UnknownVersion(2))],
        },
        Malformed {
            name: "malformed_unknown_command",
            about: "Command number 12, which version 1 does not define, CRC good",
            as_report: false,
            bytes: raw_frame(&[0x11, 0x00, 0x03, 0x01, 0x0c]),
            expect: vec![Err(FrameError::BadBody)],
        },
        Malformed {
            name: "malformed_trailing_byte",
            about: "A ping with one byte after its body, CRC good",
            as_report: false,
            bytes: raw_frame(&[0x11, 0x00, 0x03, 0x01, 0x00, 0x01, 0x00]),
            expect: vec![Err(FrameError::BadBody)],
        },
        Malformed {
            name: "malformed_short_trailer",
            about: "Flag AUTHENTICATED with 6 bytes between header and CRC (a trailer needs 10), CRC good",
            as_report: false,
            bytes: raw_frame(&[0x13, 0x00, 0x03, 0x01, 0x00, 0, 0, 1, 2, 3]),
            expect: vec![Err(FrameError::Truncated { len: 12 })],
        },
        Malformed {
            name: "malformed_bad_bool",
            about: "A report of a door opening whose `commanded` byte is 2, CRC good",
            as_report: true,
            bytes: raw_frame(&[
                0x10, 0x03, 0x00, 0x08, 0x03, 0x01, 0x28, 0x00, 0x02, 0x02, 0x00,
            ]),
            expect: vec![Err(FrameError::BadBody)],
        },
        Malformed {
            name: "malformed_noise_then_frame",
            about: "Line noise up to a delimiter, then a good ping: one error, then the frame",
            as_report: false,
            bytes: with(&[0x55, 0x12, 0x00], &ping),
            expect: vec![Err(FrameError::BadCobs), Ok(())],
        },
        Malformed {
            name: "malformed_flush_then_frame",
            about: "Two delimiters (a line flush), then a good ping: empty frames are skipped silently",
            as_report: false,
            bytes: with(&[0x00, 0x00], &ping),
            expect: vec![Ok(())],
        },
    ]
}

fn error_json(e: &FrameError) -> Value {
    match *e {
        FrameError::BadCrc { received, computed } => json!({
            "error": "BadCrc",
            "received": format!("{received:#06x}"),
            "computed": format!("{computed:#06x}"),
        }),
        FrameError::Truncated { len } => json!({ "error": "Truncated", "len": len }),
        FrameError::UnknownVersion(v) => json!({ "error": "UnknownVersion", "version": v }),
        FrameError::TooLong => json!({ "error": "TooLong" }),
        FrameError::BadCobs => json!({ "error": "BadCobs" }),
        FrameError::BadBody => json!({ "error": "BadBody" }),
        other => json!({ "error": format!("{other:?}") }),
    }
}

/// Feeds `bytes` to a fresh decoder and lists the outcomes in order.
fn outcomes(bytes: &[u8], as_report: bool) -> Vec<(Result<(), FrameError>, Value)> {
    let mut decoder = Decoder::new();
    let mut rest = bytes;
    let mut out = Vec::new();
    loop {
        let (outcome, remaining) = if as_report {
            match decoder.feed::<Report>(rest) {
                Feed::Consumed => break,
                Feed::Frame { frame, remaining } => (
                    (
                        Ok(()),
                        json!({ "frame": body_json(&Body::Report(frame.body)) }),
                    ),
                    remaining,
                ),
                Feed::Error { error, remaining } => ((Err(error), error_json(&error)), remaining),
            }
        } else {
            match decoder.feed::<Command>(rest) {
                Feed::Consumed => break,
                Feed::Frame { frame, remaining } => (
                    (
                        Ok(()),
                        json!({ "frame": body_json(&Body::Command(frame.body)) }),
                    ),
                    remaining,
                ),
                Feed::Error { error, remaining } => ((Err(error), error_json(&error)), remaining),
            }
        };
        out.push(outcome);
        rest = remaining;
    }
    out
}

#[test]
fn malformed_input_gives_the_error_the_spec_names() {
    for m in malformed() {
        let golden = check_hex(m.name, &m.bytes);
        let got = outcomes(&golden, m.as_report);
        let results: Vec<_> = got.iter().map(|(r, _)| *r).collect();
        assert_eq!(results, m.expect, "{}", m.name);
        // Every chunking gives the same outcomes.
        for chunk in 1..golden.len() {
            let mut decoder = Decoder::new();
            let mut seen = Vec::new();
            for piece in golden.chunks(chunk) {
                let mut rest = piece;
                loop {
                    let feed = if m.as_report {
                        match decoder.feed::<Report>(rest) {
                            Feed::Consumed => None,
                            Feed::Frame { remaining, .. } => Some((Ok(()), remaining)),
                            Feed::Error { error, remaining } => Some((Err(error), remaining)),
                        }
                    } else {
                        match decoder.feed::<Command>(rest) {
                            Feed::Consumed => None,
                            Feed::Frame { remaining, .. } => Some((Ok(()), remaining)),
                            Feed::Error { error, remaining } => Some((Err(error), remaining)),
                        }
                    };
                    let Some((result, remaining)) = feed else {
                        break;
                    };
                    seen.push(result);
                    rest = remaining;
                }
            }
            assert_eq!(seen, m.expect, "{} in chunks of {chunk}", m.name);
        }
        check_json(
            m.name,
            &json!({
                "name": m.name,
                "about": m.about,
                "decode_as": if m.as_report { "Report" } else { "Command" },
                "outcomes": got.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            }),
        );
    }
}

// ---------------------------------------------------------------------------
// (4): the session vectors are what the real link layer says.
// ---------------------------------------------------------------------------

#[test]
fn the_real_master_and_node_speak_the_session_vectors() {
    prepare();
    let key = Key::Node.node_key();
    let mut master = Master::<1>::new(MasterConfig {
        challenge_salt: SALT,
        ..MasterConfig::default()
    });
    let now = Instant::from_millis(1);
    master
        .add_node_starting_at(NODE, Seq(0x20), Instant::ZERO)
        .unwrap();
    master.set_key(NODE, key, EPOCH).unwrap();
    let mut node = NodeLink::<8>::new(NODE, ResetReason::PowerOn);
    node.restore_auth(NodeAuthRecord {
        key: Some(key),
        rx_floor: NODE_FLOOR,
    });
    let mut transcript: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; MAX_FRAME];
    for unlock in [false, false, false, true] {
        if unlock {
            master
                .send(
                    NODE,
                    Command::Unlock {
                        channel: Channel(2),
                        pulse_ms: 300,
                    },
                    now,
                )
                .unwrap();
        }
        while let Some((n, up_to)) = master.poll_persist() {
            master.persisted(n, up_to);
        }
        while let Some(record) = node.poll_persist() {
            node.persisted(&record);
        }
        let request = master.poll_outgoing(now).unwrap();
        let wire = request.encode(&mut buf).unwrap().to_vec();
        let mut decoder = Decoder::new();
        let Feed::Frame { frame, .. } = decoder.feed::<Command>(&wire) else {
            panic!("request does not decode");
        };
        if let Some(command) = node.handle_received(&frame, decoder.last_authenticated(), now) {
            assert!(matches!(command, Command::Unlock { .. }));
            node.respond(Report::Ack);
        }
        transcript.push(wire);
        while let Some(record) = node.poll_persist() {
            node.persisted(&record);
        }
        let answer = node.poll_outgoing().unwrap();
        let wire = answer.encode(&mut buf).unwrap().to_vec();
        let mut decoder = Decoder::new();
        let Feed::Frame { frame, .. } = decoder.feed::<Report>(&wire) else {
            panic!("answer does not decode");
        };
        master.handle_received(&frame, decoder.last_authenticated(), now);
        transcript.push(wire);
    }
    let learned: Vec<MasterEvent> = std::iter::from_fn(|| master.poll_event()).collect();
    assert!(
        learned
            .iter()
            .any(|e| matches!(e, MasterEvent::Event { .. }))
    );
    assert!(learned.iter().any(|e| matches!(
        e,
        MasterEvent::Response {
            report: Report::Ack,
            ..
        }
    )));
    assert_eq!(master.stats().auth_rejected, 0);
    let names = [
        "session_1_get_auth_floor",
        "session_2_auth_floor",
        "session_3_poll_events",
        "session_4_events",
        "session_5_ack_events",
        "session_6_ack",
        "session_7_unlock",
        "session_8_ack",
    ];
    for (name, wire) in names.iter().zip(&transcript) {
        assert_eq!(
            hex(wire),
            read(&format!("{name}.hex")).trim(),
            "{name}: the link layer said something else"
        );
    }
}

// ---------------------------------------------------------------------------
// (5): the numbering of every enum on the bus.
// ---------------------------------------------------------------------------

/// Asserts that `values[i]` is postcard variant `i` and that variant
/// `values.len()` does not exist: appending, removing or reordering a
/// variant fails here (and in spec/bus.md's tables, which list the same).
fn pin<T>(values: &[T], names: &[&str])
where
    T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    assert_eq!(values.len(), names.len());
    for (i, (value, name)) in values.iter().zip(names).enumerate() {
        let bytes = postcard_bytes(value);
        assert_eq!(usize::from(bytes[0]), i, "{value:?} is variant {i}");
        assert!(
            format!("{value:?}").starts_with(name),
            "{value:?} is {name}"
        );
    }
    // One past the last: unknown, whatever bytes follow.
    let mut beyond = vec![u8::try_from(values.len()).unwrap()];
    beyond.extend_from_slice(&[0u8; 64]);
    assert_eq!(
        postcard::from_bytes::<T>(&beyond).err(),
        Some(postcard::Error::SerdeDeCustom),
        "a variant {} exists: add it to spec/bus.md and to this table",
        values.len()
    );
}

#[test]
fn every_enum_on_the_bus_keeps_its_numbering() {
    let ch = Channel(0);
    pin(
        &[
            Command::PING,
            Command::GetStatus { channel: ch },
            Command::GetAllStatus,
            Command::Unlock {
                channel: ch,
                pulse_ms: 1,
            },
            Command::SetIndicator {
                channel: ch,
                indicator: Indicator::Off,
            },
            Command::Calibrate { channel: ch },
            Command::Configure(NodeConfig::default().with_presence_threshold(10)),
            Command::PollEvents,
            Command::AckEvents { up_to: EventSeq(0) },
            Command::Reboot {
                kind: RebootKind::Soft,
            },
            Command::Provision {
                key: NodeKey::from_bytes([0; 32]),
            },
            Command::GetAuthFloor,
        ],
        &[
            "Ping",
            "GetStatus",
            "GetAllStatus",
            "Unlock",
            "SetIndicator",
            "Calibrate",
            "Configure",
            "PollEvents",
            "AckEvents",
            "Reboot",
            "Provision",
            "GetAuthFloor",
        ],
    );
    let status = ChannelStatus {
        channel: ch,
        door: DoorState::Closed,
        lock: LockState::Locked,
        presence: Presence::empty(0, 1),
        fault: None,
        temperature: None,
    };
    pin(
        &[
            Report::Pong {
                firmware: FirmwareVersion::new(0, 0, 0),
                uptime_ms: 0,
                reset_reason: ResetReason::PowerOn,
                versions: ProtocolVersions::BUS,
            },
            Report::Status(status),
            Report::BulkStatus(BulkStatus {
                channels: 0,
                door_open: ChannelBits(0),
                locked: ChannelBits(0),
                occupied: ChannelBits(0),
                faulted: ChannelBits(0),
            }),
            Report::Events {
                events: EventBatch::new(),
                dropped: 0,
            },
            Report::Ack,
            Report::Nack(NackReason::Busy),
            Report::AuthFloor {
                floor: Floor::new(0),
            },
        ],
        &[
            "Pong",
            "Status",
            "BulkStatus",
            "Events",
            "Ack",
            "Nack",
            "AuthFloor",
        ],
    );
    pin(
        &[
            Event::DoorOpened {
                channel: ch,
                commanded: true,
            },
            Event::DoorClosed { channel: ch },
            Event::PresenceChanged {
                channel: ch,
                presence: Presence::empty(0, 1),
            },
            Event::FaultRaised {
                channel: None,
                fault: FaultCode::Brownout,
            },
            Event::FaultCleared {
                channel: None,
                fault: FaultCode::Brownout,
            },
            Event::Power(PowerStatus::Mains),
            Event::DoorAjar { channel: ch },
            Event::NodeStarted {
                reset_reason: ResetReason::PowerOn,
                held: None,
            },
            Event::CommandsRefused {
                refused: 1,
                reason: NackReason::Busy,
            },
        ],
        &[
            "DoorOpened",
            "DoorClosed",
            "PresenceChanged",
            "FaultRaised",
            "FaultCleared",
            "Power",
            "DoorAjar",
            "NodeStarted",
            "CommandsRefused",
        ],
    );
    pin(
        &[
            NackReason::UnknownChannel,
            NackReason::Busy,
            NackReason::NotPermitted,
            NackReason::InvalidConfig,
            NackReason::Faulted,
            NackReason::Unsupported,
            NackReason::Unauthenticated,
            NackReason::Stale {
                floor: Floor::new(0),
            },
            NackReason::RateLimited,
            NackReason::ProvisioningDisabled,
        ],
        &[
            "UnknownChannel",
            "Busy",
            "NotPermitted",
            "InvalidConfig",
            "Faulted",
            "Unsupported",
            "Unauthenticated",
            "Stale",
            "RateLimited",
            "ProvisioningDisabled",
        ],
    );
    pin(
        &[
            Indicator::Off,
            Indicator::On,
            Indicator::Blink,
            Indicator::Error,
        ],
        &["Off", "On", "Blink", "Error"],
    );
    pin(&[RebootKind::Soft, RebootKind::Hard], &["Soft", "Hard"]);
    pin(&[DoorState::Closed, DoorState::Open], &["Closed", "Open"]);
    pin(
        &[LockState::Locked, LockState::Unlocked, LockState::Unknown],
        &["Locked", "Unlocked", "Unknown"],
    );
    pin(
        &[
            PowerStatus::Mains,
            PowerStatus::Battery {
                charge_percent: 0,
                minutes_left: 0,
            },
            PowerStatus::Critical { charge_percent: 0 },
        ],
        &["Mains", "Battery", "Critical"],
    );
    pin(
        &[
            FaultCode::LockJammed,
            FaultCode::DoorDidNotOpen,
            FaultCode::DoorSwitchFlapping,
            FaultCode::PresenceStuck,
            FaultCode::PresenceDrift,
            FaultCode::PresenceSensorFailed,
            FaultCode::TemperatureOutOfRange,
            FaultCode::Brownout,
            FaultCode::EventsDropped,
        ],
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
    );
    pin(
        &[
            ResetReason::PowerOn,
            ResetReason::Brownout,
            ResetReason::Watchdog,
            ResetReason::SoftReboot,
            ResetReason::HardReboot,
            ResetReason::ResetPin,
            ResetReason::Unknown,
        ],
        &[
            "PowerOn",
            "Brownout",
            "Watchdog",
            "SoftReboot",
            "HardReboot",
            "ResetPin",
            "Unknown",
        ],
    );
}
