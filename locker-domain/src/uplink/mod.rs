//! The bridge between a bank and its backend: the uplink, sans-IO.
//!
//! An [`Uplink`] turns the bank's outputs into upward messages
//! ([`locker_proto::uplink::Upward`]) and the backend's requests into bank
//! calls, answering each with a result or an error. It reads no clock,
//! touches no socket and allocates nothing:
//!
//! - **Bank outputs in**: hand every notification, alert and audit record
//!   the bank yields ([`Bank::poll`](crate::bank::Bank::poll)) to
//!   [`Uplink::on_notification`], [`Uplink::on_alert`] and
//!   [`Uplink::on_audit`], and node greetings to [`Uplink::on_node_greeted`]
//!   ([`Gateway`](crate::gateway::Gateway) does all of this).
//! - **Requests in**: [`Uplink::handle_downward`] carries out a request once
//!   per message id, or returns the acknowledgement for the outbound queue.
//! - **Outputs out**: [`Uplink::poll_upward`] yields messages for the
//!   outbound queue ([`OutboundQueue`] on `no_std`, a disk-backed one on a
//!   Linux gateway); [`Uplink::poll_action`] yields what only the glue can
//!   do ([`GatewayAction`]: a bus command, a camera snapshot, persisting and
//!   rebooting); [`Uplink::poll_persist`] says when to write
//!   [`Uplink::state`] down.
//! - **Time**: [`Uplink::handle_timeout`] sends heartbeats and statistics
//!   (each followed by the bank's analytics when the queue has room),
//!   pages the layout out after a boot and moves resets along;
//!   [`Uplink::poll_timeout`] says when to call it next.
//!
//! Every call that produces messages first checks that its output has room
//! for the most it can produce and otherwise returns
//! [`UplinkError::OutputFull`] having changed nothing: drain
//! [`Uplink::poll_upward`] and call again.
//!
//! # Resets
//!
//! A [`Downward::Reset`] of the gateway is accepted at once, then:
//!
//! 1. **Drain**: door sessions under way finish (up to
//!    [`UplinkConfig::drain_limit`]); new transactions are refused, remote
//!    ones with [`ErrorCode::ResetInProgress`](wire::ErrorCode::ResetInProgress), local ones by the bank
//!    itself: the gateway closes it to new parcels
//!    ([`Bank::set_deposits_closed`](crate::bank::Bank::set_deposits_closed))
//!    while [`Uplink::refuses_new_transactions`] holds.
//! 2. **Persist**: [`GatewayAction::PrepareForReboot`]: the glue writes the
//!    bank's snapshot, [`Uplink::state`] and its outbound queue, then calls
//!    [`Uplink::confirm_persisted`].
//! 3. **Reboot**: [`GatewayAction::Reboot`].
//! 4. **Boot**: after the restart, [`Uplink::boot`] sends a boot notification
//!    whose reason is the requested reboot and which names the request.
//!
//! A reset of one node drains that node's door sessions, then asks the
//! glue to send [`Command::Reboot`] over the
//! bus ([`GatewayAction::SendCommand`]); the node's next greeting
//! ([`Uplink::on_node_greeted`]) goes up as a [`NodeBoot`](wire::NodeBoot)
//! naming the request.
//!
//! # Authentication
//!
//! Every message from the backend carries a tag
//! ([`DownEnvelope`] gives its exact input; the backend
//! makes it with [`sign_downward`], the uplink checks it with
//! [`verify_downward`] under the bank's own [`BankKeys`](crate::bank::BankKeys)),
//! before anything else, acknowledgements included:
//!
//! - A wrong or missing tag changes nothing: no bank call, no
//!   acknowledgement, no move of the de-duplication window. The message is
//!   counted ([`UplinkStats::forged`], `forged_refused` in diagnostics) and
//!   answered with `not_authorized` plus a
//!   [`SecurityEvent`](wire::SecurityEvent) (`forged_tag`); a flood gets one
//!   answer and one event, then one event with the count per
//!   [`FORGERY_REPORT_PERIOD`], so it cannot fill the outbound queue.
//! - Read-only requests (`get_configuration`, `get_diagnostics`) are tagged
//!   too: their answers tell which compartments are out of service and how
//!   hard the keypads are to guess, and every answer takes room in the
//!   outbound queue. One rule for every message also leaves nothing to
//!   get wrong.
//! - Only authenticated ids move the [`DedupWindow`], and one message moves
//!   it by at most its size ([`Verdict::TooFar`], answered `out_of_window`):
//!   no message can make the gateway ignore its backend.
//! - An acknowledgement is honoured only for a message in flight
//!   ([`Delivery::handle_ack`]).
//! - Configuration keeps every security limit at or above its floor
//!   ([`check_floors`]).
//!
//! # What passes through
//!
//! - [`Downward::RemoteOpen`] goes to [`Bank::remote_open`] as it is: the
//!   bank checks the tag, the incarnation, the request id's freshness and
//!   its rate limit. A refusal is answered with `not_authorized`,
//!   `other_incarnation`, `replayed` or `rate_limited`, and each refused
//!   request also goes up as a [`SecurityEvent`](wire::SecurityEvent) (from
//!   its audit record).
//! - [`Downward::AnnounceParcel`] with a code hash reserves with
//!   [`Bank::reserve_with_code_hash`]: the code never reaches the gateway.
//!   With an offline token, the bank draws a keypad code as for
//!   [`Downward::ReserveCompartment`]; tokens are checked when presented
//!   ([`Bank::redeem_token`]) against the bank's token key, so the bytes in
//!   the announcement are not kept. A code the bank draws goes to the
//!   backend once, in the answer (`pickup_code`), never in a notification:
//!   the bank keeps only its hash.
//! - [`Downward::ChangeConfiguration`] takes effect at once and is kept
//!   for the next start ([`GatewayAction::ApplyPolicy`]: the gateway gives
//!   the bank the new rules, [`Bank::set_policy`], and the shell stores
//!   them), answered with `reboot_required: false`.
//!
//! # Example
//!
//! ```
//! use locker_domain::bank::{Bank, BankId, BankKeys, Compartment, Books, Policy};
//! use locker_domain::uplink::{DeliveryConfig, OutboundQueue, Uplink, UplinkConfig, UplinkState, sign_downward};
//! use locker_proto::time::Instant;
//! use locker_proto::uplink::{Downward, MessageId, Response, Upward};
//! use locker_proto::{Channel, CompartmentId, Dimensions, FirmwareVersion, NodeAddr, ResetReason, SizeClass};
//! # struct Dice(u8);
//! # impl rand_core::RngCore for Dice {
//! #     fn next_u32(&mut self) -> u32 { rand_core::impls::next_u32_via_fill(self) }
//! #     fn next_u64(&mut self) -> u64 { rand_core::impls::next_u64_via_fill(self) }
//! #     fn fill_bytes(&mut self, dst: &mut [u8]) { for b in dst { self.0 = self.0.wrapping_add(77); *b = self.0; } }
//! # }
//!
//! let small = Compartment::new(CompartmentId(1), NodeAddr(1), Channel(0), SizeClass::Small,
//!     Dimensions::new(420, 80, 600));
//! let keys = BankKeys::derive(BankId(7), &[0x3d; 32]);
//! let mut books = Books::<8>::new();
//! let mut bank = Bank::new(&mut books, &[small], Policy::default(), keys.clone())?;
//! let config = UplinkConfig::new("bank-7", FirmwareVersion::new(0, 1, 0))?;
//! // The epoch is a boot counter the glue persists and increments at every start.
//! let mut uplink = Uplink::new(config, UplinkState::default(), 1);
//! let mut queue = OutboundQueue::<32>::new(DeliveryConfig::default());
//! let now = Instant::from_secs(1);
//! uplink.boot(&bank, ResetReason::PowerOn, now)?;
//!
//! // The backend tags every message with the keys it derives from the same secret.
//! let request = sign_downward(&keys, MessageId(77), Downward::GetConfiguration);
//! uplink.handle_downward(&mut bank, &request, &mut Dice(0), now)?;
//! while let Some(message) = uplink.poll_upward() {
//!     queue.push(message)?;
//! }
//! let sent: Vec<_> = std::iter::from_fn(|| queue.poll_transmit(now)).collect();
//! assert!(matches!(sent[0].body, Upward::BootNotification(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
mod convert;
mod error;
mod floors;
mod outbox;
mod requests;
mod state;

use heapless::{Deque, Vec};
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{self as wire, DownEnvelope, Downward, MessageId, UpEnvelope, Upward};
use locker_proto::{
    Command, CompartmentId, FirmwareVersion, NoCommonVersion, NodeAddr, ProtocolVersions,
    ResetReason,
};
use rand_core::RngCore;

use crate::bank::{Alert, AuditRecord, Bank, Notification, Policy, Stage};

pub use auth::{downward_tag, sign_downward, verify_downward};
pub use error::UplinkError;
pub use floors::{
    MAX_FREE_ATTEMPTS, MAX_SPIKE_THRESHOLD, MIN_BASE_LOCKOUT, MIN_CODE_DIGITS, MIN_MAX_LOCKOUT,
    MIN_SPIKE_WINDOW, check_floors,
};
pub use locker_proto::uplink::{DedupWindow, Verdict};
pub use outbox::{
    Backlog, Delivery, DeliveryConfig, OutboundQueue, OutboxError, QueueStats, Queued,
};
pub use state::{Extension, MAX_EXTENSIONS, PendingReset, UplinkState};

use convert::AlertClass;

/// A bank's rules as the uplink carries them ([`wire::PolicyConfig`]).
pub fn policy_to_config(policy: &Policy) -> wire::PolicyConfig {
    convert::policy_config(policy)
}

/// `base` with the rules of `config`, as [`Downward::ChangeConfiguration`]
/// applies them (fields the uplink does not carry keep `base`'s values).
///
/// ```
/// use locker_domain::bank::Policy;
/// use locker_domain::uplink::{policy_from_config, policy_to_config};
/// use locker_proto::time::Duration;
///
/// let mut config = policy_to_config(&Policy::default());
/// config.reminder_after_ms = Duration::from_hours(12);
/// assert_eq!(policy_from_config(&Policy::default(), &config)?.reminder_after, Duration::from_hours(12));
/// config.code_digits = 2;
/// assert!(policy_from_config(&Policy::default(), &config).is_err());
/// // Security limits have floors: no switching the keypad lockout off.
/// config.code_digits = 6;
/// config.lockout.base_lockout_ms = Duration::ZERO;
/// assert!(policy_from_config(&Policy::default(), &config).is_err());
/// # Ok::<(), locker_domain::uplink::InvalidPolicy>(())
/// ```
///
/// # Errors
/// [`InvalidPolicy`] naming the first value out of range or below its
/// floor ([`check_floors`]).
pub fn policy_from_config(
    base: &Policy,
    config: &wire::PolicyConfig,
) -> Result<Policy, InvalidPolicy> {
    check_floors(config)?;
    convert::policy(base, config).map_err(InvalidPolicy)
}

/// Why configuration values cannot be a bank's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct InvalidPolicy(pub &'static str);

/// Upward messages the [`Uplink`] holds until [`Uplink::poll_upward`].
pub const UPWARD_QUEUE: usize = 16;
/// Actions the [`Uplink`] holds until [`Uplink::poll_action`].
pub const ACTION_QUEUE: usize = 8;
/// Node resets under way at once.
pub const MAX_NODE_RESETS: usize = 8;

/// The most messages a single input produces (an audit record: the record,
/// a parcel event, a status notification and an alert).
const ROOM_ONE: usize = 4;

/// How often messages with a wrong tag are reported: the first of a period
/// is answered (`not_authorized`) and goes up as a security event at once;
/// those after it within the period are counted and go up as one security
/// event at its end. A flood of forgeries costs the outbound queue at most
/// three messages a minute.
pub const FORGERY_REPORT_PERIOD: Duration = Duration::from_mins(1);

/// How an [`Uplink`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UplinkConfig {
    /// The bank's name as the backend knows it.
    pub bank_id: wire::BankId,
    /// The gateway's software version.
    pub gateway_firmware: FirmwareVersion,
    /// How often to send a heartbeat (5 min).
    pub heartbeat_every: Duration,
    /// How often to send statistics (1 h), each followed by an
    /// [`Analytics`](wire::Analytics) message; `None` sends them only after
    /// boot.
    pub statistics_every: Option<Duration>,
    /// The longest a reset waits for door sessions to finish (2 min): a
    /// person at an open door gets that long, then the reset goes ahead and
    /// the bank reconciles the session after the restart.
    pub drain_limit: Duration,
    /// Whether to send every audit record up (`true`); parcel events,
    /// status notifications and alerts go up either way.
    pub forward_audit: bool,
    /// The most upward messages the outbound queue may hold before the
    /// gateway refuses new transactions (20,000: about a week of a busy
    /// bank cut off from its backend, 10 MB of postcard at most). See
    /// [`Uplink::backlog_full`].
    pub backlog_limit: u32,
}

/// The default [`UplinkConfig::backlog_limit`].
pub const BACKLOG_LIMIT: u32 = 20_000;

impl UplinkConfig {
    /// A configuration with the default periods.
    ///
    /// # Errors
    /// [`UplinkError::BankIdTooLong`] for a bank id over 32 bytes.
    pub fn new(bank_id: &str, gateway_firmware: FirmwareVersion) -> Result<Self, UplinkError> {
        let bank_id = wire::BankId::try_from(bank_id).map_err(|_| UplinkError::BankIdTooLong)?;
        Ok(UplinkConfig {
            bank_id,
            gateway_firmware,
            heartbeat_every: Duration::from_mins(5),
            statistics_every: Some(Duration::from_hours(1)),
            drain_limit: Duration::from_mins(2),
            forward_audit: true,
            backlog_limit: BACKLOG_LIMIT,
        })
    }
}

/// Something only the glue can do, from [`Uplink::poll_action`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
// Actions are values, as messages are: no heap to box the policy on `no_std`.
#[allow(clippy::large_enum_variant)]
pub enum GatewayAction {
    /// Send `command` to `node` through the bus master (a node reboot).
    SendCommand {
        /// The node.
        node: NodeAddr,
        /// The command.
        command: Command,
    },
    /// Have the bank take a camera snapshot of a compartment
    /// ([`Bank::snapshot_for_backend`]): it names the picture with its own
    /// reference, in the `snapshot_requested` audit record that goes up.
    TakeSnapshot {
        /// The compartment in view.
        compartment: CompartmentId,
        /// The backend's request (already answered `snapshot_scheduled`).
        request: MessageId,
    },
    /// New rules: give them to the bank ([`Bank::set_policy`]) and keep them
    /// to create or restore the bank with at the next start.
    ApplyPolicy(Policy),
    /// A reset is due: persist the bank's snapshot, [`Uplink::state`] and the
    /// outbound queue, then call [`Uplink::confirm_persisted`].
    PrepareForReboot {
        /// The reboot that follows.
        kind: locker_proto::RebootKind,
    },
    /// An announced parcel's deposit was verified: give it the extra pickup
    /// time the backend announced with it, through
    /// [`Bank::extend_deadline`] (actor: the backend). A refusal because
    /// the parcel is already gone needs nothing more.
    ExtendDeadline {
        /// The parcel's compartment.
        compartment: CompartmentId,
        /// The extra time.
        by: Duration,
    },
    /// Everything is persisted: restart the gateway now.
    Reboot {
        /// Soft (restart the program) or hard (restart the machine).
        kind: locker_proto::RebootKind,
    },
}

/// What [`Uplink::handle_downward`] did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled {
    /// A request was carried out (or refused); its answer is in
    /// [`Uplink::poll_upward`].
    Answered,
    /// The backend acknowledged this upward message: remove it from the
    /// outbound queue.
    Ack(MessageId),
    /// A request already carried out: not carried out again.
    Duplicate(Verdict),
    /// The message's tag is wrong (or missing): nothing was done. It was
    /// counted ([`UplinkStats::forged`]) and reported as a security event,
    /// at most once per [`FORGERY_REPORT_PERIOD`].
    Forged,
    /// An authenticated message whose id is beyond what one message may
    /// move the de-duplication window ([`Verdict::TooFar`]): not carried
    /// out, answered with `out_of_window` so the backend starts a new epoch.
    OutOfWindow,
    /// A message whose body did not decode, answered with `not_supported`
    /// at most once per [`FORGERY_REPORT_PERIOD`] (it cannot be
    /// authenticated, so it never touches the de-duplication window).
    Unreadable,
    /// The backend acknowledged the boot notification `boot` (remove it
    /// from the outbound queue, as for [`Handled::Ack`]) and said which
    /// uplink versions it speaks: `agreed` is the highest one both speak
    /// ([`Uplink::agreed_version`]), or why there is none. The gateway
    /// writes version 1 either way (the only one it has); a refusal is
    /// counted in [`UplinkStats::versions_refused`] for the operator.
    BootAck {
        /// The boot notification acknowledged.
        boot: MessageId,
        /// The uplink version agreed with the backend.
        agreed: Result<u8, NoCommonVersion>,
    },
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkStats {
    /// Requests carried out or refused.
    pub requests: u32,
    /// Requests refused with a call error.
    pub refused: u32,
    /// Requests received again and not carried out again.
    pub duplicates: u32,
    /// Upward messages produced.
    pub produced: u32,
    /// Downward messages refused for a wrong or missing tag.
    pub forged: u32,
    /// Authenticated messages refused for an id beyond the window.
    pub out_of_window: u32,
    /// Downward messages whose body did not decode.
    pub unreadable: u32,
    /// Boot acknowledgements naming no uplink version the gateway speaks.
    pub versions_refused: u32,
}

/// Reports of messages that could not be authenticated, rationed.
#[derive(Clone, Copy, Debug, Default)]
struct Ration {
    /// The current report period ends then.
    until: Option<Instant>,
    /// Counted in this period and not yet reported.
    unreported: u32,
}

impl Ration {
    /// Whether a report may go up now (opening a new period if so).
    fn report_now(&mut self, now: Instant) -> bool {
        if self.until.is_some_and(|until| now < until) {
            self.unreported = self.unreported.saturating_add(1);
            false
        } else {
            self.until = Some(now + FORGERY_REPORT_PERIOD);
            true
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResetPhase {
    Draining { until: Instant },
    Persisting,
    Rebooting,
}

#[derive(Clone, Copy, Debug)]
struct GatewayReset {
    request: MessageId,
    kind: locker_proto::RebootKind,
    phase: ResetPhase,
}

#[derive(Clone, Copy, Debug)]
struct NodeReset {
    request: MessageId,
    node: NodeAddr,
    kind: locker_proto::RebootKind,
    /// `None` once the reboot command was handed to the glue.
    until: Option<Instant>,
}

/// The uplink bridge of one bank. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Uplink {
    config: UplinkConfig,
    state: UplinkState,
    next_id: MessageId,
    upward: Deque<UpEnvelope, UPWARD_QUEUE>,
    actions: Deque<GatewayAction, ACTION_QUEUE>,
    persist: bool,
    wall: Option<(i64, Instant)>,
    booted: bool,
    layout_cursor: Option<usize>,
    next_heartbeat: Option<Instant>,
    next_statistics: Option<Instant>,
    reset: Option<GatewayReset>,
    node_resets: Vec<NodeReset, MAX_NODE_RESETS>,
    last_status: Option<wire::StatusNotification>,
    bus: wire::BusStats,
    backlog: u32,
    stats: UplinkStats,
    forgeries: Ration,
    unreadable: Ration,
    backlog_full: bool,
    /// What the backend's acknowledgement of this run's boot notification
    /// said of its versions; `None` before it came.
    agreed: Option<Result<u8, NoCommonVersion>>,
}

impl Uplink {
    /// An uplink restored from `state` (or [`UplinkState::default`] on a
    /// first start), numbering its messages in `epoch`: a boot counter the
    /// glue persists and increments at every start, so message ids keep
    /// growing across restarts. Call [`Uplink::boot`] next.
    pub fn new(config: UplinkConfig, state: UplinkState, epoch: u32) -> Self {
        Uplink {
            config,
            state,
            next_id: MessageId::first_of_epoch(epoch),
            upward: Deque::new(),
            actions: Deque::new(),
            persist: false,
            wall: None,
            booted: false,
            layout_cursor: None,
            next_heartbeat: None,
            next_statistics: None,
            reset: None,
            node_resets: Vec::new(),
            last_status: None,
            bus: wire::BusStats::default(),
            backlog: 0,
            stats: UplinkStats::default(),
            forgeries: Ration::default(),
            unreadable: Ration::default(),
            backlog_full: false,
            agreed: None,
        }
    }

    // ----- queries ---------------------------------------------------------

    /// The uplink version agreed with the backend: the highest both speak,
    /// from the backend's [`BootAck`](wire::Downward::BootAck) of this
    /// run's boot notification (`spec/versioning.md` §4.2). `None` until
    /// it came (the gateway writes version 1 meanwhile); `Some(Err(..))`
    /// when the backend speaks none of the gateway's versions.
    pub fn agreed_version(&self) -> Option<Result<u8, NoCommonVersion>> {
        self.agreed
    }

    /// What must survive a restart: persist it when [`Uplink::poll_persist`]
    /// says so, and before a reboot.
    pub fn state(&self) -> &UplinkState {
        &self.state
    }

    /// The configuration.
    pub fn config(&self) -> &UplinkConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> UplinkStats {
        self.stats
    }

    /// Whether new transactions (reservations, deposits, remote opens) are
    /// refused: a gateway reset is under way or the bank was made
    /// unavailable. The gateway keeps the bank closed to new parcels
    /// meanwhile ([`crate::gateway::Gateway`] does it for you).
    pub fn refuses_new_transactions(&self) -> bool {
        self.reset.is_some() || self.state.unavailable || self.backlog_full
    }

    /// Whether the outbound queue holds [`UplinkConfig::backlog_limit`]
    /// messages or more (as last told by [`Uplink::set_backlog`]): the
    /// backend has been out of reach for long, and the gateway refuses new
    /// transactions (reservations and announcements from the backend with
    /// `busy`; the glue closes the bank to new deposits) until the queue is
    /// down to nine tenths of the limit. Door sessions under way, pickups
    /// and alarms carry on. Alert staff when it turns true: nothing else
    /// will, with the backend out of reach.
    pub fn backlog_full(&self) -> bool {
        self.backlog_full
    }

    /// Whether `node` is about to be reset: the glue refuses to open its
    /// doors for new sessions meanwhile.
    pub fn node_draining(&self, node: NodeAddr) -> bool {
        self.node_resets.iter().any(|r| r.node == node)
    }

    /// When something happened, as the uplink stamps it.
    pub fn stamp(&self, at: Instant) -> wire::Stamp {
        let unix_s = self.wall.map(|(unix_s, anchor)| {
            let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if at >= anchor {
                unix_s.saturating_add(secs(at - anchor))
            } else {
                unix_s.saturating_sub(secs(anchor - at))
            }
        });
        wire::Stamp::new(at, unix_s)
    }

    // ----- glue inputs -----------------------------------------------------

    /// Anchors wall time: `unix_s` (seconds since 1970 UTC) is the time at
    /// monotonic `now`. Call at start and whenever the clock is corrected.
    pub fn set_wall_clock(&mut self, unix_s: i64, now: Instant) {
        self.wall = Some((unix_s, now));
    }

    /// The bus master's statistics, for diagnostics.
    pub fn set_bus_stats(&mut self, bus: wire::BusStats) {
        self.bus = bus;
    }

    /// How many messages wait in the outbound queue, for heartbeats,
    /// diagnostics and [`Uplink::backlog_full`]. Call it whenever the
    /// queue grows or shrinks.
    pub fn set_backlog(&mut self, backlog: usize) {
        self.backlog = u32::try_from(backlog).unwrap_or(u32::MAX);
        let limit = self.config.backlog_limit;
        if self.backlog >= limit {
            self.backlog_full = true;
        } else if self.backlog <= limit - limit / 10 {
            self.backlog_full = false;
        }
    }

    /// The gateway (re)started: sends the boot notification, then (from
    /// [`Uplink::handle_timeout`]) the layout pages and statistics. The reason
    /// is the reset the backend asked for, if the last run ended with one,
    /// else `hardware_reason`.
    ///
    /// # Errors
    /// [`UplinkError::OutputFull`].
    pub fn boot(
        &mut self,
        bank: &Bank<'_>,
        hardware_reason: ResetReason,
        now: Instant,
    ) -> Result<(), UplinkError> {
        self.room(1)?;
        // A bank that starts behind what went up (started afresh, or from an
        // older snapshot) numbers new records from there: forward them.
        self.state.audit_next = self.state.audit_next.min(bank.next_audit_seq());
        let pending = self.state.pending_reset.take();
        let reason = match pending.map(|p| p.kind) {
            Some(locker_proto::RebootKind::Soft) => ResetReason::SoftReboot,
            Some(locker_proto::RebootKind::Hard) => ResetReason::HardReboot,
            None => hardware_reason,
        };
        let layout = bank.layout();
        let mut nodes = Vec::new();
        for node in layout.nodes() {
            let known = self.state.nodes.iter().find(|n| n.node == node).copied();
            let _ = nodes.push(known.unwrap_or(wire::NodeInfo {
                node,
                firmware: None,
                reset_reason: None,
            }));
        }
        let boot = wire::BootNotification {
            bank_id: self.config.bank_id.clone(),
            reason,
            reset_request: pending.map(|p| p.request),
            gateway_firmware: self.config.gateway_firmware,
            versions: ProtocolVersions::UPLINK,
            nodes,
            compartments: u16::try_from(layout.len()).unwrap_or(u16::MAX),
            layout_fingerprint: layout.fingerprint(),
            incarnation: bank.incarnation().0,
            at: self.stamp(now),
        };
        self.emit(Upward::BootNotification(boot));
        // Agreed anew with every boot notification: the backend may have
        // changed since the last one.
        self.agreed = None;
        self.booted = true;
        self.layout_cursor = Some(0);
        self.next_heartbeat = Some(now + self.config.heartbeat_every);
        self.next_statistics = Some(now);
        self.persist |= pending.is_some();
        Ok(())
    }

    /// A node answered the gateway's greeting (a ping after the gateway's or
    /// the node's start): sends a [`NodeBoot`](wire::NodeBoot), naming the
    /// reset request that rebooted it, if one did.
    ///
    /// # Errors
    /// [`UplinkError::OutputFull`].
    pub fn on_node_greeted(
        &mut self,
        node: NodeAddr,
        firmware: FirmwareVersion,
        reset_reason: ResetReason,
        uptime_ms: u32,
        now: Instant,
    ) -> Result<(), UplinkError> {
        self.room(1)?;
        let position = self
            .node_resets
            .iter()
            .position(|r| r.node == node && r.until.is_none());
        let reset_request = position.map(|i| self.node_resets.swap_remove(i).request);
        let info = wire::NodeInfo {
            node,
            firmware: Some(firmware),
            reset_reason: Some(reset_reason),
        };
        match self.state.nodes.iter_mut().find(|n| n.node == node) {
            Some(known) if *known == info => {}
            Some(known) => {
                *known = info;
                self.persist = true;
            }
            None => {
                // More nodes than a boot notification lists are still announced.
                let _ = self.state.nodes.push(info);
                self.persist = true;
            }
        }
        let boot = wire::NodeBoot {
            node,
            firmware,
            reset_reason,
            uptime_ms,
            reset_request,
            at: self.stamp(now),
        };
        self.emit(Upward::NodeBoot(boot));
        Ok(())
    }

    /// A security event the bank does not raise itself (from the bus's
    /// authentication, say): goes up as it is.
    ///
    /// # Errors
    /// [`UplinkError::OutputFull`].
    pub fn report_security_event(&mut self, event: wire::SecurityEvent) -> Result<(), UplinkError> {
        self.room(1)?;
        self.emit(Upward::SecurityEvent(event));
        Ok(())
    }

    // ----- bank outputs ----------------------------------------------------

    /// A notification the bank yielded: goes up for the backend to deliver.
    ///
    /// # Errors
    /// [`UplinkError::OutputFull`]: keep the notification and call again.
    pub fn on_notification(&mut self, n: &Notification) -> Result<(), UplinkError> {
        self.room(1)?;
        let message = wire::Notification {
            to: n.to,
            compartment: n.compartment,
            parcel: n.parcel.map(|p| wire::ParcelNumber(p.0)),
            kind: n.kind,
            at: self.stamp(n.at),
        };
        self.emit(Upward::Notification(message));
        Ok(())
    }

    /// An alert the bank yielded: goes up as an alert, or as a security
    /// event for a forced door, a keypad attack or bus commands a node
    /// refused.
    ///
    /// # Errors
    /// [`UplinkError::OutputFull`]: keep the alert and call again.
    pub fn on_alert(&mut self, bank: &Bank<'_>, a: &Alert) -> Result<(), UplinkError> {
        self.room(1)?;
        let at = self.stamp(a.at);
        let parcel = a.parcel.map(|p| wire::ParcelNumber(p.0));
        let snapshot = a.snapshot.map(|s| s.0);
        let message = match convert::alert_class(a.kind, a.evidence) {
            AlertClass::Security(s) => {
                let node = s.node.or_else(|| {
                    a.compartment
                        .and_then(|c| bank.layout().slot_of(c))
                        .and_then(|i| bank.layout().get(i))
                        .map(|c| c.node)
                });
                Upward::SecurityEvent(wire::SecurityEvent {
                    kind: s.kind,
                    compartment: a.compartment,
                    node,
                    request_id: None,
                    keypad: s.keypad,
                    count: s.count,
                    snapshot,
                    at,
                })
            }
            AlertClass::Staff(kind, evidence) => Upward::Alert(wire::Alert {
                kind,
                compartment: a.compartment,
                parcel,
                evidence,
                snapshot,
                at,
            }),
        };
        self.emit(message);
        Ok(())
    }

    /// An audit record the bank yielded: goes up as it is (unless
    /// [`UplinkConfig::forward_audit`] is off), with the parcel event, status
    /// notification and alert it implies. A record below
    /// [`UplinkState::audit_next`] went up before (a restored bank hands out
    /// again what its snapshot held) and produces nothing.
    ///
    /// # Errors
    /// [`UplinkError::OutputFull`]: keep the record and call again.
    pub fn on_audit(&mut self, bank: &Bank<'_>, r: &AuditRecord) -> Result<(), UplinkError> {
        self.room(ROOM_ONE)?;
        if r.seq < self.state.audit_next {
            // Handed out again by a restored bank: it went up before.
            return Ok(());
        }
        self.state.audit_next = r.seq.saturating_add(1);
        let at = match r.wall {
            Some(wall) => wire::Stamp::new(r.at, Some(wall.and_utc().timestamp())),
            None => self.stamp(r.at),
        };
        let parcel = r.parcel.map(|p| wire::ParcelNumber(p.0));
        let projected = convert::audit(r.event);
        if self.config.forward_audit {
            self.emit(Upward::Audit(wire::AuditRecord {
                seq: r.seq,
                at,
                actor: r.actor,
                compartment: r.compartment,
                parcel,
                event: projected.event,
                snapshot: r.snapshot.map(|s| s.0),
                link: wire::HexArray(r.link.0),
            }));
        }
        if let (Some(step), Some(parcel), Some(compartment)) =
            (projected.step, parcel, r.compartment)
        {
            self.emit(Upward::ParcelEvent(wire::ParcelEvent {
                parcel,
                compartment,
                step,
                actor: r.actor,
                at,
            }));
            if step == wire::ParcelStep::Deposited {
                if let Some(e) = self
                    .state
                    .extensions
                    .iter_mut()
                    .find(|e| e.parcel == parcel)
                {
                    e.deposited = Some(compartment);
                    self.persist = true;
                }
            }
        }
        if let Some((kind, request_id)) = projected.security {
            self.emit(Upward::SecurityEvent(wire::SecurityEvent {
                kind,
                compartment: r.compartment,
                node: None,
                request_id: Some(request_id),
                keypad: None,
                count: 1,
                snapshot: None,
                at,
            }));
        }
        if let Some((kind, evidence)) = projected.alert {
            self.emit(Upward::Alert(wire::Alert {
                kind,
                compartment: r.compartment,
                parcel,
                evidence,
                snapshot: r.snapshot.map(|s| s.0),
                at,
            }));
        }
        if let Some(view) = r.compartment.and_then(|c| bank.view(c)) {
            let status = wire::StatusNotification {
                compartment: view.id,
                status: convert::status(view.stage),
                door: view.door,
                occupied: view.occupied,
                parcel: view.parcel.map(|p| wire::ParcelNumber(p.0)),
                out_of_service: view.out_of_service,
                at,
            };
            let same = self
                .last_status
                .is_some_and(|last| wire::StatusNotification { at, ..last } == status);
            if !same {
                self.last_status = Some(status);
                self.emit(Upward::StatusNotification(status));
            }
        }
        self.queue_extensions();
        Ok(())
    }

    // ----- requests --------------------------------------------------------

    /// A message from the backend. Its tag is checked first
    /// ([`verify_downward`] under the bank's keys): a message with a wrong
    /// or missing tag changes nothing and is [`Handled::Forged`]. A request
    /// is carried out once per message id and answered through
    /// [`Uplink::poll_upward`]; an acknowledgement is returned for the
    /// outbound queue ([`Handled::Ack`]: hand it to
    /// [`Delivery::handle_ack`], which honours it only for a message in
    /// flight).
    ///
    /// # Errors
    /// [`UplinkError::OutputFull`] (drain [`Uplink::poll_upward`] and
    /// [`Uplink::poll_action`]) and [`UplinkError::BankBusy`] (drain the
    /// bank's outputs): nothing was done, call again with the same message.
    /// A forged message never returns an error: it is counted even when
    /// the output is full.
    pub fn handle_downward<R: RngCore + ?Sized>(
        &mut self,
        bank: &mut Bank<'_>,
        message: &DownEnvelope,
        rng: &mut R,
        now: Instant,
    ) -> Result<Handled, UplinkError> {
        if !verify_downward(bank.keys(), message) {
            self.refuse_forged(message.header(), now);
            return Ok(Handled::Forged);
        }
        let verdict = self.state.seen.check(message.id);
        match verdict {
            Verdict::New => {}
            Verdict::TooFar => {
                self.room(1)?;
                self.stats.out_of_window = self.stats.out_of_window.saturating_add(1);
                let highest = self.state.seen.highest().unwrap_or_default();
                self.emit(Upward::CallError(wire::CallError {
                    request: message.id,
                    code: wire::ErrorCode::OutOfWindow,
                    description: convert::describe(format_args!(
                        "id {} is too far past {}: start a new epoch",
                        message.id, highest
                    )),
                }));
                return Ok(Handled::OutOfWindow);
            }
            Verdict::Duplicate | Verdict::TooOld => {
                self.stats.duplicates = self.stats.duplicates.saturating_add(1);
                return Ok(Handled::Duplicate(verdict));
            }
        }
        if let Downward::Ack(id) = message.body {
            // Acknowledgements use the backend's ids too: the window follows
            // them, so its next request is never far ahead of it.
            self.state.seen.accept(message.id);
            self.persist = true;
            return Ok(Handled::Ack(id));
        }
        if let Downward::BootAck { boot, versions } = message.body {
            self.state.seen.accept(message.id);
            self.persist = true;
            let agreed = ProtocolVersions::UPLINK.agree(versions);
            if agreed.is_err() {
                self.stats.versions_refused = self.stats.versions_refused.saturating_add(1);
            }
            self.agreed = Some(agreed);
            return Ok(Handled::BootAck { boot, agreed });
        }
        self.room(2)?;
        if self.actions.len() + 1 > ACTION_QUEUE {
            return Err(UplinkError::OutputFull);
        }
        let outcome = if message.check_version().is_err() {
            Err((
                wire::ErrorCode::NotSupported,
                convert::describe(format_args!(
                    "uplink version {} is not supported; this gateway speaks {}",
                    message.v,
                    wire::UPLINK_VERSION
                )),
            ))
        } else {
            self.execute(bank, message.id, &message.body, rng, now)?
        };
        self.state.seen.accept(message.id);
        self.persist = true;
        self.stats.requests = self.stats.requests.saturating_add(1);
        let body = match outcome {
            Ok(response) => Upward::CallResult(wire::CallResult {
                request: message.id,
                response,
            }),
            Err((code, description)) => {
                self.stats.refused = self.stats.refused.saturating_add(1);
                Upward::CallError(wire::CallError {
                    request: message.id,
                    code,
                    description,
                })
            }
        };
        self.emit(body);
        Ok(Handled::Answered)
    }

    /// A message from the backend that did not decode (a newer backend's
    /// request, say), known by its [`EnvelopeHeader`](wire::EnvelopeHeader):
    /// answered with [`ErrorCode::NotSupported`](wire::ErrorCode::NotSupported)
    /// so the backend stops repeating it. Its tag cannot be checked, so it
    /// changes nothing: its id does not enter the de-duplication window,
    /// and at most one such answer goes up per [`FORGERY_REPORT_PERIOD`]
    /// (the others are counted in [`UplinkStats::unreadable`]), so garbage
    /// on the transport cannot fill the outbound queue.
    pub fn handle_undecodable(&mut self, header: wire::EnvelopeHeader, now: Instant) -> Handled {
        self.stats.unreadable = self.stats.unreadable.saturating_add(1);
        if self.free() == 0 || !self.unreadable.report_now(now) {
            return Handled::Unreadable;
        }
        self.unreadable.unreported = 0;
        self.emit(Upward::CallError(wire::CallError {
            request: header.id,
            code: wire::ErrorCode::NotSupported,
            description: convert::describe(format_args!(
                "this gateway (uplink version {}) cannot read that message",
                wire::UPLINK_VERSION
            )),
        }));
        Handled::Unreadable
    }

    /// A message with a wrong tag: counted, answered and reported as the
    /// ration allows, nothing else.
    fn refuse_forged(&mut self, header: wire::EnvelopeHeader, now: Instant) {
        self.stats.forged = self.stats.forged.saturating_add(1);
        if self.free() < 2 {
            // No room now: reported with the next summary.
            self.forgeries.unreported = self.forgeries.unreported.saturating_add(1);
            if self.forgeries.until.is_none() {
                self.forgeries.until = Some(now + FORGERY_REPORT_PERIOD);
            }
            return;
        }
        if !self.forgeries.report_now(now) {
            return;
        }
        let count = self.forgeries.unreported.saturating_add(1);
        self.forgeries.unreported = 0;
        self.emit(Upward::SecurityEvent(wire::SecurityEvent {
            kind: wire::SecurityKind::ForgedTag,
            compartment: None,
            node: None,
            request_id: Some(header.id.0),
            keypad: None,
            count,
            snapshot: None,
            at: self.stamp(now),
        }));
        self.emit(Upward::CallError(wire::CallError {
            request: header.id,
            code: wire::ErrorCode::NotAuthorized,
            description: convert::describe(
                "the message's tag is wrong or missing: sign every message with the bank's \
                 downward key",
            ),
        }));
    }

    /// The summary of forgeries counted but not yet reported, once their
    /// report period is over.
    fn report_forgeries(&mut self, now: Instant) {
        let Some(until) = self.forgeries.until else {
            return;
        };
        if now < until || self.free() == 0 {
            return;
        }
        if self.forgeries.unreported == 0 {
            self.forgeries.until = None;
            return;
        }
        let count = core::mem::take(&mut self.forgeries.unreported);
        self.forgeries.until = Some(now + FORGERY_REPORT_PERIOD);
        self.emit(Upward::SecurityEvent(wire::SecurityEvent {
            kind: wire::SecurityKind::ForgedTag,
            compartment: None,
            node: None,
            request_id: None,
            keypad: None,
            count,
            snapshot: None,
            at: self.stamp(now),
        }));
    }

    /// The glue persisted everything for a reset: the reboot may go ahead.
    pub fn confirm_persisted(&mut self) {
        if let Some(reset) = self.reset.as_mut() {
            if reset.phase == ResetPhase::Persisting {
                reset.phase = ResetPhase::Rebooting;
                let _ = self
                    .actions
                    .push_back(GatewayAction::Reboot { kind: reset.kind });
            }
        }
    }

    // ----- time ------------------------------------------------------------

    /// Heartbeats, statistics, layout pages, deadline extensions and resets,
    /// as far as there is room. Calling it early is harmless; while a reset
    /// drains, call it after every bank input.
    pub fn handle_timeout(&mut self, bank: &Bank<'_>, now: Instant) {
        if !self.booted {
            return;
        }
        self.page_layout(bank);
        if self.next_heartbeat.is_some_and(|at| at <= now) && self.free() > 0 {
            self.emit(Upward::Heartbeat(wire::Heartbeat {
                at: self.stamp(now),
                backlog: self.backlog,
            }));
            self.next_heartbeat = Some(now + self.config.heartbeat_every);
        }
        // Statistics wait for the layout pages after a boot.
        if self.layout_cursor.is_none()
            && self.next_statistics.is_some_and(|at| at <= now)
            && self.free() > 0
        {
            let statistics = self.statistics(bank, now);
            self.emit(Upward::Statistics(statistics));
            // The analytics follow when there is room; they are totals
            // since the bank's start, so one left out is made good by the
            // next.
            if self.free() > 0 {
                let analytics = self.analytics(bank, now);
                self.emit(Upward::Analytics(analytics));
            }
            self.next_statistics = self.config.statistics_every.map(|every| now + every);
        }
        self.queue_extensions();
        self.drive_resets(bank, now);
        self.report_forgeries(now);
    }

    /// When [`Uplink::handle_timeout`] has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let busy = self.layout_cursor.is_some()
            || self.state.extensions.iter().any(|e| e.deposited.is_some())
            || self.node_resets.iter().any(|r| r.until.is_some())
            || matches!(
                self.reset.map(|r| r.phase),
                Some(ResetPhase::Draining { .. })
            );
        let soon = busy.then_some(Instant::ZERO);
        let forgeries = self
            .forgeries
            .until
            .filter(|_| self.forgeries.unreported > 0);
        [soon, self.next_heartbeat, self.next_statistics, forgeries]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- outputs ---------------------------------------------------------

    /// The next upward message, for the outbound queue.
    pub fn poll_upward(&mut self) -> Option<UpEnvelope> {
        self.upward.pop_front()
    }

    /// The next thing only the glue can do.
    pub fn poll_action(&mut self) -> Option<GatewayAction> {
        self.actions.pop_front()
    }

    /// Whether [`Uplink::state`] changed since the last call: persist it.
    pub fn poll_persist(&mut self) -> bool {
        core::mem::take(&mut self.persist)
    }

    // ----- internals -------------------------------------------------------

    fn free(&self) -> usize {
        UPWARD_QUEUE - self.upward.len()
    }

    fn room(&self, messages: usize) -> Result<(), UplinkError> {
        if self.free() < messages {
            Err(UplinkError::OutputFull)
        } else {
            Ok(())
        }
    }

    /// Queues a message; room was checked by the caller.
    fn emit(&mut self, body: Upward) {
        let id = self.next_id;
        if self.upward.push_back(UpEnvelope::new(id, body)).is_ok() {
            self.next_id = id.next();
            self.stats.produced = self.stats.produced.saturating_add(1);
        }
    }

    fn page_layout(&mut self, bank: &Bank<'_>) {
        let layout = bank.layout();
        let total = u16::try_from(layout.len()).unwrap_or(u16::MAX);
        while let Some(first) = self.layout_cursor {
            if self.free() == 0 {
                return;
            }
            let mut page = wire::LayoutPage {
                first: u16::try_from(first).unwrap_or(u16::MAX),
                total,
                compartments: Vec::new(),
            };
            for c in layout
                .compartments()
                .iter()
                .skip(first)
                .take(wire::LAYOUT_PAGE)
            {
                let _ = page.compartments.push(convert::compartment_info(c));
            }
            let next = first + page.compartments.len();
            self.layout_cursor = (next < layout.len()).then_some(next);
            if !page.compartments.is_empty() {
                self.emit(Upward::Layout(page));
            }
        }
    }

    fn statistics(&self, bank: &Bank<'_>, now: Instant) -> wire::Statistics {
        let s = bank.stats();
        let u = bank.utilisation();
        let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        wire::Statistics {
            at: self.stamp(now),
            deposits: s.deposits,
            pickups: s.pickups,
            reminders: s.reminders,
            escalations: s.escalations,
            expiries: s.expiries,
            alerts: s.alerts.iter().fold(0u32, |a, n| a.saturating_add(*n)),
            mean_dwell_s: s.mean_dwell_ms().map(|ms| ms / 1000),
            compartments: count(u.compartments),
            free: count(u.free),
            out_of_service: count(u.out_of_service),
            backlog: self.backlog,
        }
    }

    fn analytics(&self, bank: &Bank<'_>, now: Instant) -> wire::Analytics {
        use crate::bank::{Refusal, SIZES};
        let a = &bank.stats().analytics;
        let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        let mut sizes = heapless::Vec::new();
        for (size, (u, deposits)) in SIZES
            .iter()
            .zip(bank.utilisation_by_size().iter().zip(&a.deposits_by_size))
        {
            if u.compartments == 0 && *deposits == 0 {
                continue;
            }
            let _ = sizes.push(wire::SizeFigures {
                size: *size,
                deposits: *deposits,
                compartments: count(u.compartments),
                occupied: count(u.occupied),
                out_of_service: count(u.out_of_service),
            });
        }
        wire::Analytics {
            at: self.stamp(now),
            deposits_by_hour: a.deposits_by_hour.iter().copied().collect(),
            pickups_by_hour: a.pickups_by_hour.iter().copied().collect(),
            deposits_by_weekday: a.deposits_by_weekday.iter().copied().collect(),
            pickups_by_weekday: a.pickups_by_weekday.iter().copied().collect(),
            dwell: a.dwell.iter().copied().collect(),
            sizes,
            refused_oversize: a.refused(Refusal::Oversize),
            refused_bank_full: a.refused(Refusal::BankFull),
            refused_unavailable: a.refused(Refusal::Unavailable),
        }
    }

    /// Deadline extensions of announced parcels whose deposit was verified,
    /// handed to the gateway as actions as far as there is room: the bank's
    /// deadlines are the bank's, the uplink only says what was announced.
    fn queue_extensions(&mut self) {
        let mut i = 0;
        while let Some(e) = self.state.extensions.get(i).copied() {
            let Some(compartment) = e.deposited else {
                i += 1;
                continue;
            };
            let action = GatewayAction::ExtendDeadline {
                compartment,
                by: e.extra,
            };
            if self.actions.push_back(action).is_err() {
                // The glue drains the actions first; the rest wait.
                return;
            }
            self.state.extensions.swap_remove(i);
            self.persist = true;
        }
    }

    fn door_sessions(bank: &Bank<'_>, node: Option<NodeAddr>) -> u16 {
        let layout = bank.layout();
        let n = layout
            .compartments()
            .iter()
            .filter(|c| node.is_none_or(|n| c.node == n))
            .filter(|c| {
                bank.view(c.id)
                    .is_some_and(|v| matches!(v.stage, Stage::Door { .. }))
            })
            .count();
        u16::try_from(n).unwrap_or(u16::MAX)
    }

    fn drive_resets(&mut self, bank: &Bank<'_>, now: Instant) {
        for i in 0..self.node_resets.len() {
            let Some(r) = self.node_resets.get(i).copied() else {
                continue;
            };
            let Some(until) = r.until else { continue };
            let drained = Self::door_sessions(bank, Some(r.node)) == 0 || until <= now;
            if drained && self.actions.len() < ACTION_QUEUE {
                let command = Command::Reboot { kind: r.kind };
                let _ = self.actions.push_back(GatewayAction::SendCommand {
                    node: r.node,
                    command,
                });
                if let Some(r) = self.node_resets.get_mut(i) {
                    r.until = None;
                }
            }
        }
        if let Some(reset) = self.reset.as_mut() {
            if let ResetPhase::Draining { until } = reset.phase {
                let drained = Self::door_sessions(bank, None) == 0 || until <= now;
                if drained && self.actions.len() < ACTION_QUEUE {
                    self.state.pending_reset = Some(PendingReset {
                        request: reset.request,
                        kind: reset.kind,
                    });
                    self.persist = true;
                    reset.phase = ResetPhase::Persisting;
                    let _ = self
                        .actions
                        .push_back(GatewayAction::PrepareForReboot { kind: reset.kind });
                }
            }
        }
    }
}
