//! The locker bank state machine (gateway side).
//!
//! A [`Bank`] holds the books of a bank's compartments: which parcel is
//! where, what each door is doing, which deadlines run. It is sans-IO:
//!
//! - **Inputs** go in through `handle_*(…, now)` (node events, status scans,
//!   command outcomes, power, timeouts) and the domain calls ([`Bank::reserve`],
//!   [`Bank::start_deposit`], [`Bank::enter_code`], the overrides).
//! - **Outputs** come out of one stream, [`Bank::poll`] (a [`BankOutput`]):
//!   persistence requests, audit records, alerts, notifications, camera
//!   snapshot requests and bus commands for the gateway's link layer.
//! - **The next deadline** comes from [`Bank::poll_timeout`]; call
//!   [`Bank::handle_timeout`] when it passes. Calling it early is harmless.
//!
//! # A delivery, end to end
//!
//! ```
//! use locker_domain::bank::{Bank, BankId, BankKeys, BankOutput, Compartment, Books,
//!     NotificationKind, ParcelKind, ParcelNeeds, Policy, CodeOutcome};
//! use locker_domain::bank::codes::KeypadId;
//! use locker_proto::{Channel, Command, CompartmentId, Dimensions, Event, NodeAddr, Presence, SizeClass};
//! use locker_proto::time::Instant;
//! # struct Dice(u8);
//! # impl rand_core::RngCore for Dice {
//! #     fn next_u32(&mut self) -> u32 { rand_core::impls::next_u32_via_fill(self) }
//! #     fn next_u64(&mut self) -> u64 { rand_core::impls::next_u64_via_fill(self) }
//! #     fn fill_bytes(&mut self, dst: &mut [u8]) { for b in dst { self.0 = self.0.wrapping_add(77); *b = self.0; } }
//! # }
//! let node = NodeAddr(1);
//! let small = Compartment::new(CompartmentId(1), node, Channel(0), SizeClass::Small,
//!     Dimensions::new(420, 80, 600));
//! // The bank's keys, from the secret it shares with the backend.
//! let keys = BankKeys::derive(BankId(1), &[0x3d; 32]);
//! let mut books = Books::<8>::new();
//! let mut bank = Bank::new(&mut books, &[small], Policy::default(), keys)?;
//! let mut now = Instant::from_secs(1);
//! let mut rng = Dice(0);
//! // After every input, every output is handed out (here, into a Vec).
//! let drain = |bank: &mut Bank<'_>| std::iter::from_fn(|| bank.poll()).collect::<Vec<_>>();
//! drain(&mut bank); // the start-up status requests
//!
//! let r = bank.reserve(ParcelNeeds::size(SizeClass::Small), ParcelKind::Delivery, &mut rng, now)?;
//! drain(&mut bank);
//! // The code is handed out once, here; the bank keeps only its keyed hash.
//! let code = r.code.unwrap();
//! bank.start_deposit(r.compartment, locker_domain::bank::StaffId(1), now)?;
//! assert!(drain(&mut bank).iter().any(|o| matches!(o,
//!     BankOutput::Command { command: Command::Unlock { .. }, .. })));
//! let ch = Channel(0);
//! let mut outputs = Vec::new();
//! for event in [
//!     Event::DoorOpened { channel: ch, commanded: true },
//!     Event::PresenceChanged { channel: ch, presence: Presence::occupied(250, 10) },
//!     Event::DoorClosed { channel: ch },
//! ] {
//!     bank.handle_node_event(node, &event, now)?;
//!     outputs.extend(drain(&mut bank));
//! }
//! // The parcel is in: time to send the recipient the code.
//! assert!(outputs.iter().any(|o| matches!(o,
//!     BankOutput::Notification(n) if matches!(n.kind, NotificationKind::ParcelReady))));
//! let typed: String = code.digits().iter().map(|d| char::from(b'0' + d)).collect();
//! now = Instant::from_secs(60);
//! assert_eq!(bank.enter_code(KeypadId(0), &typed, now)?, CodeOutcome::Opening(r.compartment));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security: who may open a door
//!
//! In December 2020 an attacker who reached a locker operator's backend
//! opened 2,732 parcel lockers across Moscow at once. The bank therefore
//! opens a door only for a valid pickup code or offline token, an
//! authenticated and rationed backend command, or an audited staff action,
//! and it assumes that an attacker may hold the backend connection, or a
//! copy of the gateway's persisted state.
//!
//! | the attacker has | what stops him |
//! |---|---|
//! | the uplink, but not the bank secret | every [`RemoteOpen`] carries an HMAC-SHA256 tag under the backend key; forged, replayed and reordered requests are refused, audited, counted, and staff get an [`AlertKind::ForgedRemoteOpen`] alert |
//! | the backend itself, keys and all | the bank-wide rate limit: at most [`Policy::remote_open_limit`] remote opens per [`Policy::remote_open_window`] (5 per 10 minutes by default); the next one locks remote opens, raises [`AlertKind::RemoteOpenFlood`] and every further one is refused until staff at the bank clear the lock ([`Bank::staff_clear_remote_open_lock`]). The lock survives restarts. There is no remote "open all": [`Bank::staff_open_all`] is a staff action, audited door by door with the staff id |
//! | a copy of the snapshot (stolen SD card, backup) | pickup codes are kept only as keyed hashes ([`CodeHash`]); the keys are never persisted ([`BankKeys`]); the snapshot holds nothing that opens a door |
//! | a phone or a QR printer | an [`OfflineToken`] is bound to bank, compartment, parcel and expiry under the token key, checked offline in constant time, good once; a wrong token counts against the reader like a wrong code |
//! | a keypad and patience | the [`KeypadGuard`] lockout and the bank-wide spike alert (see [`codes`]) |
//! | write access to the audit log | every [`AuditRecord`] carries its [`AuditLink`] in a SHA-256 hash chain ([`chain`]), computed here and kept in the snapshot: a record deleted or altered breaks the chain ([`AuditChain`]), and a rolled-back bank re-issues sequence numbers with other links, which the backend holding the uplink's links, and the gateway's log, tell from a duplicate |
//! | an older state file (a restored backup), or none | at start the snapshot is compared with the gateway's other files ([`SnapshotInfo::check`], [`Witnesses`]) and refused if they show it is older or missing; a restore the operator confirms, and every fresh start, begins a new [`Incarnation`] ([`Bank::begin_incarnation`]), and remote opens and offline tokens are bound to the incarnation they were made for, so nothing issued before opens a door (see [`incarnation`]) |
//!
//! Every security refusal opens nothing and changes no parcel, but leaves a
//! trace: an [`AuditRecord`], a counter in [`Stats`], and where staff must
//! act, an [`Alert`]. Commands on the bus between gateway and nodes are
//! authenticated by the link layer (`locker-proto`), not here.
//!
//! Not defended here: an attacker who holds the bank secret *and* is at the
//! keypad can compute every code's hash and test codes offline (keep the
//! secret in the gateway's secure element or TPM, not next to the state
//! file); and a bank made with [`Bank::new`] whose caller never calls
//! [`Bank::begin_incarnation`] stays in [`Incarnation::UNSET`], where every
//! earlier such bank's remote opens and tokens are valid again (the
//! shipped gateway and the simulator always begin one).
//!
//! # Capacity and memory
//!
//! Everything is fixed size; nothing allocates. The bank itself holds only
//! what does not grow with the compartments (policy, keypads, counters,
//! output queues: about 22 KB on a 64-bit gateway); every per-compartment
//! part lives in storage the caller owns ([`books`]): [`Books<N>`], built
//! by a `const fn` so it can be a `static` on an MCU, or
//! [`Storage::boxed`] on the heap. Nothing of that size is ever built on
//! the stack, and the bank's methods are the same code whatever the number
//! of compartments.
//!
//! State per compartment, pinned by the `bytes_per_compartment_are_pinned`
//! test: [`BYTES_PER_COMPARTMENT`] = 209 bytes on a 64-bit gateway: the
//! layout entry (with the compartment's own temperature limits, if any)
//! and its two lookups (22), the compartment's books (stage,
//! parcel with its 16-byte code hash and its 8-byte cold chain, last
//! readings, two timers, and the 32-byte temperature watch of [`cold`]),
//! the timer heap (10), the free lists (5), the code index (4) and sensor
//! health (40). A 10,000-compartment bank needs about 2.1 MB; a
//! 256-compartment bank about 54 KB of books plus the bank's 22 KB, which
//! fits a gateway MCU.
//!
//! # One output stream
//!
//! The contract, in three rules:
//!
//! 1. **Drain [`Bank::poll`] after every input**, until it returns `None`.
//! 2. **An input made before the outputs were drained is refused** with
//!    [`BankError::OutputsPending`] and changes nothing; nothing is ever
//!    dropped. Each input's outputs fit the bank's bounded queues
//!    ([`COMMAND_QUEUE`], [`NOTIFICATION_QUEUE`], [`ALERT_QUEUE`],
//!    [`AUDIT_QUEUE`], [`SNAPSHOT_QUEUE`]; checked at compile time).
//! 3. **[`Bank::handle_timeout`] does what fits and leaves the rest due**: it
//!    is never refused, handles as many due deadlines as the queues have
//!    room for, and [`Bank::poll_timeout`] keeps returning a past instant
//!    until the rest are done. [`Bank::staff_open_all`] likewise opens as
//!    many doors as fit and reports how many remain.
//!
//! Status requests for whole nodes are kept as a bitmap of node addresses,
//! not in the command queue, so asking every node after a restore cannot
//! overflow; they come out of [`Bank::poll`] last, as
//! [`BankOutput::Command`]s.
//!
//! # Time
//!
//! Monotonic time is a [`Instant`] passed into every call; a time earlier
//! than one already seen is refused with [`BankError::TimeWentBackwards`].
//! Wall-clock time comes from [`Bank::set_wall_clock`], which anchors a
//! `chrono::NaiveDateTime` in **UTC** to a monotonic instant; call it at
//! start and whenever the gateway's clock is corrected. Audit stamps and
//! offline-token expiries are UTC, as the uplink's stamps are: one wall
//! clock. Local time, for what people meet (quiet hours for reminders, the
//! analytics' hours of day and weekdays), is that UTC in the policy's
//! [`time_zone`](Policy::time_zone) rule, summer time included
//! ([`locker_proto::zone`]), so nobody re-sets a bank when the clocks go
//! forward. Without a wall clock, reminders ignore quiet hours and audit
//! records carry no wall time.
//!
//! The anchor is not in the snapshot: after a restore the bank has no wall
//! time until the gateway sets it again (the [`Gateway`](crate::gateway)
//! shell does at start, from the system clock). Carrying the anchor over
//! would stamp the first records after a restart with the time of the
//! snapshot, wrong by the downtime; no stamp is honest, a wrong one is not.
//!
//! # Cost
//!
//! Allocation looks at each compartment *shape* once (at most
//! [`MAX_SHAPES`]), the next deadline is the top of a binary heap, a node
//! report finds its compartment by binary search. [`Bank::enter_code`]
//! hashes the typed code once (one HMAC-SHA256) and deliberately compares
//! the hash with every active parcel's hash in constant time, without
//! stopping at a match, so how long it takes does not reveal where a code
//! matched: it is `O(N)` (about 0.1 ms at 10,000 compartments), at the pace
//! of a human at a keypad.
//!
//! Measured by `benches/bank.rs` (criterion medians, one run, x86-64 gateway
//! class machine; the 10,000-capacity bank is wired with the 7,904
//! compartments one bus can address: 247 nodes of 32 channels):
//!
//! | operation | 32 | 10,000 | ratio |
//! |---|---|---|---|
//! | allocation (reserve + cancel) | 179 ns | 122 ns | 0.68 |
//! | report handling (presence event) | 38 ns | 45 ns | 1.17 |
//! | `poll_timeout` | 2.2 ns | 3.3 ns | 1.5 |

mod alert;
mod allocation;
mod answers;
mod audit;
pub mod books;
pub mod chain;
mod code_index;
pub mod codes;
pub mod cold;
pub mod counter;
mod deadlines;
pub mod deposit;
mod doors;
mod error;
pub mod health;
pub mod incarnation;
pub(crate) mod keys;
mod layout;
mod notification;
mod output;
mod parcel;
pub mod persist;
mod policy;
mod power;
mod recalibration;
mod reconcile;
mod remote;
mod session;
mod slot;
mod stats;
mod timers;
mod token;

use chrono::NaiveDateTime;
use heapless::Deque;
use locker_proto::time::{Duration, Instant};
use locker_proto::{Channel, Command, CompartmentId, DoorState, NodeAddr, PowerStatus};
use rand_core::RngCore;

pub use alert::{
    Alert, AlertKind, Evidence, SnapshotCause, SnapshotOutcome, SnapshotRef, SnapshotRequest,
};
pub use allocation::{AllocationError, Fit, MAX_SHAPES, ParcelNeeds, kept_for_needs};
pub use answers::{CodeOutcome, CommandOutcome, CompartmentView, Reservation};
pub use audit::{Actor, AuditEvent, AuditRecord, ServiceReason, StaffId};
pub use books::{Books, Storage};
pub use chain::{AuditChain, AuditLink, ChainBreak, verify_chain};
pub use cold::{ColdPolicy, TemperatureRange};
pub use deposit::{DEPOSIT_CODE_DIGITS, DepositCode};
pub use error::{BankError, DepositsClosed};
pub use incarnation::{AuditTail, Incarnation, RollbackError, SnapshotInfo, Witnesses};
pub use keys::{BankId, BankKeys, KEY_LEN, TAG_LEN};
pub use layout::{
    Compartment, CompartmentFlags, Indices, Layout, LayoutError, LayoutIndex, MAX_COMPARTMENTS,
};
pub use notification::{Notification, NotificationKind};
pub use output::{
    ALERT_QUEUE, AUDIT_QUEUE, BankOutput, COMMAND_QUEUE, NOTIFICATION_QUEUE, SNAPSHOT_QUEUE,
};
pub use parcel::{DoorPhase, ParcelId, ParcelKind, Purpose, Stage};
pub use persist::{PersistError, SNAPSHOT_MAGIC, SNAPSHOT_OLDEST_READ, SNAPSHOT_VERSION};
pub use policy::{NodeConfigError, Policy, QuietHours};
pub use power::PersistReason;
pub use recalibration::{
    CALIBRATE_TRIES, DRIFT_READINGS_TO_SETTLE, DRIFT_SHIFT_BANDS, DRIFT_STEADY_WITHIN,
};
pub use remote::{MAX_REMOTE_OPEN_LIMIT, OpenAll, RemoteOpen, RemoteOpenError, remote_open_tag};
pub use stats::{
    Analytics, DWELL_BOUNDS_HOURS, DWELL_BUCKETS, HOURS, Refusal, SIZE_CLASSES, SIZES,
    SizeUtilisation, Stats, Utilisation, WEEKDAYS, dwell_bucket, size_index,
};
pub use token::{OfflineToken, TOKEN_VERSION, TokenError};

use allocation::FreeLists;
use books::Slice;
use code_index::CodeIndex;
use codes::{CodeHash, KeypadGuard, KeypadId, PickupCode};
use deadlines::{Due, notice_due};
use health::{CompartmentHealth, HealthBook};
use output::ROOM_ONE;
use parcel::Parcel;
use power::PowerState;
use reconcile::NodeSet;
use remote::RemoteGuard;
use slot::Slot;
use timers::DeadlineHeap;

/// Bytes of storage per compartment (`size_of::<Books<N>>() / N`), pinned
/// by a test.
pub const BYTES_PER_COMPARTMENT: usize = 209;

/// A locker bank, its per-compartment books in storage borrowed for `'a`
/// ([`Books`]) or owned on the heap ([`Storage::boxed`], `'static`), with
/// [`KEYPADS`] keypads.
///
/// See the [module documentation](self) for the call pattern, memory and
/// queue bounds.
#[derive(Debug)]
pub struct Bank<'a> {
    layout: Layout<'a>,
    policy: Policy,
    slots: Slice<'a, Slot>,
    free: FreeLists<'a>,
    timers: DeadlineHeap<'a>,
    codes: CodeIndex<'a>,
    keypads: KeypadGuard<KEYPADS>,
    keys: BankKeys,
    remote: RemoteGuard,
    /// Code hashes of parcels taken to the counter (see [`counter`]).
    counter: counter::CounterShelf,
    health: HealthBook<Slice<'a, CompartmentHealth>>,
    commands: Deque<(NodeAddr, Command), COMMAND_QUEUE>,
    status_wanted: NodeSet,
    /// Nodes to be sent [`Policy::node_configuration`] (only while the
    /// policy has one).
    config_wanted: NodeSet,
    unreachable: NodeSet,
    /// Unreachable nodes not yet alerted, with the time their alert is due.
    lost_watch: heapless::Vec<(NodeAddr, Instant), LOST_WATCH>,
    /// Compartments whose unlocking session's unlock the node heard (run
    /// time only: after a restore, an unlock in flight is not blamed on
    /// the lock).
    unlocks_heard: heapless::Vec<LayoutIndex, UNLOCKS_HEARD>,
    /// Compartments whose unlocking session's lock the node reported
    /// jammed (run time only): with [`Policy::locks_report_jams`], the only
    /// evidence that blames the lock.
    jams_heard: heapless::Vec<LayoutIndex, UNLOCKS_HEARD>,
    /// Door sessions the bank gave up, with when (run time only): a late
    /// opening by the node's pulse resumes them (see
    /// [`LATE_OPENING_WINDOW`]).
    given_up: heapless::Vec<(LayoutIndex, Instant), UNLOCKS_HEARD>,
    /// Door sessions a restore found waiting for their door (run time
    /// only): their unlock went out before the bank stopped, and is not
    /// sent again for nobody.
    unlocks_before_restart: heapless::Vec<LayoutIndex, UNLOCKS_HEARD>,
    /// The automatic recalibrations of drifting sensors, under way or
    /// within their [`Policy::drift_settle_within`] (run time only).
    recalibrations: heapless::Vec<recalibration::AutoRecalibration, AUTO_RECALIBRATIONS>,
    /// Re-tares a person asked for whose calibrate the node put off (busy,
    /// rate-limited, unanswered), with how many times (run time only).
    retares_put_off: heapless::Vec<(LayoutIndex, u8), AUTO_RECALIBRATIONS>,
    /// Parcels on their way out (a pickup's or removal's door opened): what
    /// sensor health knew of each one's weight, kept for the verdict (run
    /// time only; see `recalibration`).
    leaving: heapless::Vec<recalibration::Leaving, UNLOCKS_HEARD>,
    /// The next watched drift (position in `recalibrations`) whose reading
    /// this scan asks for; `None` when every one was asked.
    drift_cursor: Option<u8>,
    /// When every reachable node is next asked for its full status.
    next_scan: Instant,
    /// Nodes to ask for one compartment's reading in this pass of the
    /// scan (see [`Policy::status_scan_every`]).
    readings_wanted: NodeSet,
    /// Passes of this scan still to come, each one compartment of every
    /// reachable node (see [`IDLE_READINGS_PER_SCAN`]).
    reading_passes_left: u8,
    /// Periodic scans since the start: which compartment of each node is
    /// read next.
    scans: u32,
    /// The next compartment (layout position) whose temperature this scan
    /// asks for (see [`cold`]); `None` when every one was asked.
    cold_cursor: Option<u16>,
    notifications: Deque<Notification, NOTIFICATION_QUEUE>,
    alerts: Deque<Alert, ALERT_QUEUE>,
    audit: Deque<AuditRecord, AUDIT_QUEUE>,
    snapshots: Deque<SnapshotRequest, SNAPSHOT_QUEUE>,
    persist: Option<PersistReason>,
    power: PowerState,
    deposits_closed: Option<DepositsClosed>,
    wall: Option<(NaiveDateTime, Instant)>,
    latest: Instant,
    next_seq: u64,
    /// Which life of the bank (see [`incarnation`]).
    incarnation: Incarnation,
    /// The link of the last audit record made (see [`chain`]).
    last_link: AuditLink,
    next_parcel: u32,
    next_snapshot: u32,
    stats: Stats,
}

/// Pickups by code that may end with the parcel left inside; the next
/// correct code for that parcel is refused with [`BankError::ReopenLimit`]
/// and raises a keypad-attack alert (see [`codes`], "An attacker with a
/// parcel of his own").
pub const MAX_REOPENS: u8 = 3;

/// The charge steps at which the bank records a battery's state (see
/// [`Bank::handle_power`]): every 10 %.
pub const POWER_STEP_PERCENT: u8 = 10;

/// Unreachable nodes a bank watches through their grace time
/// ([`Policy::node_alert_after`]) at once; a node lost while as many are
/// watched is alerted at once.
pub const LOST_WATCH: usize = 8;

/// Door sessions waiting for their door whose unlock the node heard, kept
/// at once (see [`Bank::handle_command_result`]).
pub const UNLOCKS_HEARD: usize = 16;

/// Drifting compartments a bank watches at once, each until its drift has
/// been quiet for [`Policy::drift_settle_within`]; drift found while as
/// many are watched raises the maintenance alert instead.
pub const AUTO_RECALIBRATIONS: usize = 16;

/// Compartments of each node read in turn at every periodic scan
/// ([`Policy::status_scan_every`]): a 16-channel node's every compartment
/// once an hour at the default quarter-hour scans, so a load cell's zero
/// creeping towards the occupied threshold is seen in the band below it
/// (one compartment per scan read each one only every four hours, and most
/// such drift was first seen as a phantom parcel). Compartments whose
/// drift is watched are read at every scan besides.
pub const IDLE_READINGS_PER_SCAN: u8 = 4;

/// How long after the bank gave a door session up a door the node says its
/// unlock pulse opened is still that session's (its report held up on a
/// noisy bus, or by a node that stopped answering for a while). Later, or
/// where the bank gave nothing up, an opening outside a session is a forced
/// door whatever the node says: the node's word alone never explains an
/// opening.
pub const LATE_OPENING_WINDOW: Duration = Duration::from_mins(10);

/// Keypads a bank tells apart ([`KeypadId`] `0..KEYPADS`), each with its
/// own wrong-code lockout.
pub const KEYPADS: usize = 4;

impl<'a> Bank<'a> {
    /// A bank with every compartment free, asking every node for its full
    /// status first (so an item left inside before the bank started is found).
    /// `keys` are the bank's keys (see [`BankKeys`]); they are kept in
    /// memory only, never in a snapshot.
    ///
    /// A bank started afresh, without its snapshot, has forgotten the last
    /// remote-open request id and its parcel numbers: call
    /// [`Bank::begin_incarnation`] with a random [`Incarnation`] before any
    /// other input, so that remote opens and tokens made for its previous
    /// life cannot be replayed.
    ///
    /// # Errors
    /// [`LayoutError::TooManyShapes`] if the layout has more than
    /// [`MAX_SHAPES`] distinct compartment shapes.
    pub fn new(
        storage: impl Into<Storage<'a>>,
        compartments: &[Compartment],
        policy: Policy,
        keys: BankKeys,
    ) -> Result<Self, LayoutError> {
        let storage: Storage<'a> = storage.into();
        let capacity = storage.capacity();
        if compartments.len() > capacity {
            return Err(LayoutError::TooManyCompartments {
                given: compartments.len(),
                capacity,
            });
        }
        let Storage {
            compartments: list,
            by_id,
            by_wiring,
            shape_of,
            links,
            heap,
            heap_pos,
            code_heads,
            code_next,
            mut slots,
            health,
        } = storage.truncate(compartments.len());
        let layout = Layout::build(list, by_id, by_wiring, compartments)?;
        let free = FreeLists::new(&layout, shape_of, links)?;
        for s in slots.iter_mut() {
            *s = Slot::EMPTY;
        }
        let mut status_wanted = NodeSet::EMPTY;
        for node in layout.nodes() {
            status_wanted.insert(node);
        }
        // A bank that configures its nodes does so at every start: a node
        // may have been replaced or reset while the gateway was down.
        let config_wanted = if policy.node_config.is_some() {
            status_wanted
        } else {
            NodeSet::EMPTY
        };
        let mut bank = Bank {
            layout,
            policy,
            slots,
            free,
            timers: DeadlineHeap::new(heap, heap_pos),
            codes: CodeIndex::new(code_heads, code_next),
            keypads: KeypadGuard::new(policy.lockout),
            keys,
            remote: RemoteGuard::default(),
            counter: counter::CounterShelf::default(),
            health: HealthBook::in_books(policy.health, health),
            commands: Deque::new(),
            status_wanted,
            config_wanted,
            unreachable: NodeSet::EMPTY,
            lost_watch: heapless::Vec::new(),
            unlocks_heard: heapless::Vec::new(),
            jams_heard: heapless::Vec::new(),
            given_up: heapless::Vec::new(),
            unlocks_before_restart: heapless::Vec::new(),
            recalibrations: heapless::Vec::new(),
            retares_put_off: heapless::Vec::new(),
            leaving: heapless::Vec::new(),
            drift_cursor: None,
            next_scan: Instant::ZERO + policy.status_scan_every,
            readings_wanted: NodeSet::EMPTY,
            reading_passes_left: 0,
            scans: 0,
            cold_cursor: None,
            notifications: Deque::new(),
            alerts: Deque::new(),
            audit: Deque::new(),
            snapshots: Deque::new(),
            persist: None,
            power: PowerState::MAINS,
            deposits_closed: None,
            wall: None,
            latest: Instant::ZERO,
            next_seq: 0,
            incarnation: Incarnation::UNSET,
            last_link: AuditLink::GENESIS,
            next_parcel: 1,
            next_snapshot: 1,
            stats: Stats::default(),
        };
        for i in bank.layout.indices() {
            bank.free.release(i);
        }
        Ok(bank)
    }

    // ----- queries -------------------------------------------------------

    /// The layout.
    pub fn layout(&self) -> &Layout<'a> {
        &self.layout
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The bank's keys, for the uplink's checks of the backend's messages.
    pub(crate) fn keys(&self) -> &BankKeys {
        &self.keys
    }

    /// The bank's id (from its [`BankKeys`]).
    pub fn id(&self) -> BankId {
        self.keys.bank()
    }

    /// New rules, in force at once (the backend's `change_configuration`,
    /// an operator's edit): every deadline, lockout, limit and threshold
    /// decided from now on follows them. What was already decided stands:
    /// a reminder or reservation hold already armed fires when it was due,
    /// a lockout already imposed runs its course. Audited
    /// ([`AuditEvent::PolicyChanged`], with `by`). If the policy
    /// configures the nodes ([`Policy::node_config`]) and what they get
    /// changes (their configuration or the door-ajar limit), every node is
    /// sent it at once.
    ///
    /// # Errors
    /// [`BankError::NodeConfig`] for a node configuration the nodes would
    /// refuse or that would cut unlock pulses short;
    /// [`BankError::TimeWentBackwards`]; [`BankError::OutputsPending`] if
    /// the audit queue has no room for the record. Nothing changes then.
    pub fn set_policy(&mut self, policy: Policy, by: Actor, now: Instant) -> Result<(), BankError> {
        self.check_time(now)?;
        policy.check_node_config()?;
        if !self.has_room(ROOM_ONE) {
            return Err(BankError::OutputsPending);
        }
        self.latest = now;
        self.keypads.set_policy(policy.lockout);
        self.health.set_policy(policy.health);
        // A shorter scan interval counts from now; a longer one from the
        // last scan.
        let scan = now + policy.status_scan_every;
        if policy.status_scan_every != Duration::ZERO && scan < self.next_scan {
            self.next_scan = scan;
        }
        // The nodes get the new configuration, or the new door-ajar limit
        // in it, at once; a policy without one leaves them as they are.
        if policy.node_config.is_none() {
            self.config_wanted = NodeSet::EMPTY;
        } else if policy.node_configuration() != self.policy.node_configuration() {
            for node in self.layout.nodes() {
                self.config_wanted.insert(node);
            }
        }
        self.policy = policy;
        self.record(now, by, None, AuditEvent::PolicyChanged, None);
        Ok(())
    }

    /// Node `node` should be sent the policy's node configuration, if the
    /// bank configures its nodes (it restarted, or came back).
    pub(super) fn configure_again(&mut self, node: NodeAddr) {
        if self.policy.node_config.is_some() {
            self.config_wanted.insert(node);
        }
    }

    /// The power source as the UPS last reported it.
    pub fn power(&self) -> PowerStatus {
        self.power.status
    }

    /// Counters since the bank was first started.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// How full the bank is now (`O(N)`).
    pub fn utilisation(&self) -> Utilisation {
        Utilisation {
            compartments: self.layout.len(),
            free: self.free.free_count(),
            out_of_service: self
                .slots
                .iter()
                .filter(|s| s.out_of_service.is_some())
                .count(),
        }
    }

    /// How full each size class is now, in [`SIZES`] order (`O(N)`): the
    /// compartments of the class, those holding a parcel, those free and
    /// in service, those out of service.
    pub fn utilisation_by_size(&self) -> [SizeUtilisation; SIZE_CLASSES] {
        let mut by = [SizeUtilisation::default(); SIZE_CLASSES];
        for i in self.layout.indices() {
            let (Some(c), Some(s)) = (self.layout.get(i), self.slots.get(i.get())) else {
                continue;
            };
            let Some(u) = by.get_mut(size_index(c.size)) else {
                continue;
            };
            u.compartments = u.compartments.saturating_add(1);
            if s.stage.holds_parcel() {
                u.occupied = u.occupied.saturating_add(1);
            }
            if s.out_of_service.is_some() {
                u.out_of_service = u.out_of_service.saturating_add(1);
            } else if self.free.is_free(i) {
                u.free = u.free.saturating_add(1);
            }
        }
        by
    }

    /// What the books say about compartment `id`.
    pub fn view(&self, id: CompartmentId) -> Option<CompartmentView> {
        let i = self.layout.slot_of(id)?;
        self.view_slot(i)
    }

    fn view_slot(&self, i: LayoutIndex) -> Option<CompartmentView> {
        let s = self.slots.get(i.get())?;
        Some(CompartmentView {
            id: self.layout.get(i)?.id,
            stage: s.stage,
            parcel: s.parcel.map(|p| p.id),
            door: s.door,
            occupied: s.occupied,
            out_of_service: s.out_of_service,
        })
    }

    /// Every compartment's books, in layout order.
    pub fn views(&self) -> impl Iterator<Item = CompartmentView> + '_ {
        self.layout.indices().filter_map(|i| self.view_slot(i))
    }

    /// Doors left standing open: the node reported them ajar (the person
    /// told to close the door did not, or nobody was there to tell) and they
    /// are open still. A forced door is not among them: it is evidence, and
    /// its security alert already sent staff.
    ///
    /// What the bank's screen or keypad asks of whoever comes next ("door 12
    /// is standing open: please close it"): the first answer to an abandoned
    /// door that needs nobody sent out. The list empties by itself as each
    /// door's switch reports it shut.
    ///
    /// ```
    /// use locker_domain::bank::{Bank, BankId, BankKeys, Books, Compartment, ParcelKind,
    ///     ParcelNeeds, Policy, StaffId};
    /// use locker_proto::{Channel, CompartmentId, Dimensions, Event, NodeAddr, SizeClass};
    /// use locker_proto::time::Instant;
    /// # struct Dice(u8);
    /// # impl rand_core::RngCore for Dice {
    /// #     fn next_u32(&mut self) -> u32 { rand_core::impls::next_u32_via_fill(self) }
    /// #     fn next_u64(&mut self) -> u64 { rand_core::impls::next_u64_via_fill(self) }
    /// #     fn fill_bytes(&mut self, dst: &mut [u8]) { for b in dst { self.0 = self.0.wrapping_add(77); *b = self.0; } }
    /// # }
    /// let (node, ch) = (NodeAddr(1), Channel(0));
    /// let door = Compartment::new(CompartmentId(1), node, ch, SizeClass::Small,
    ///     Dimensions::new(420, 80, 600));
    /// let mut books = Books::<8>::new();
    /// let keys = BankKeys::derive(BankId(1), &[0x3d; 32]);
    /// let mut bank = Bank::new(&mut books, &[door], Policy::default(), keys)?;
    /// let now = Instant::from_secs(1);
    /// while bank.poll().is_some() {}
    /// // A courier opens the door, and walks off leaving it open.
    /// let r = bank.reserve(ParcelNeeds::size(SizeClass::Small), ParcelKind::Delivery,
    ///     &mut Dice(0), now)?;
    /// while bank.poll().is_some() {}
    /// bank.start_deposit(r.compartment, StaffId(1), now)?;
    /// while bank.poll().is_some() {}
    /// bank.handle_node_event(node, &Event::DoorOpened { channel: ch, commanded: true }, now)?;
    /// while bank.poll().is_some() {}
    /// assert_eq!(bank.doors_left_open().count(), 0); // open, but in use
    /// let later = Instant::from_secs(200);
    /// bank.handle_node_event(node, &Event::DoorAjar { channel: ch }, later)?;
    /// while bank.poll().is_some() {} // the alert, "please close the door" to the courier
    ///
    /// // The keypad's front-end, after it answered the next person's code:
    /// for door in bank.doors_left_open() {
    ///     println!("door {} is standing open: please close it", door.0);
    /// }
    /// assert_eq!(bank.doors_left_open().collect::<Vec<_>>(), [CompartmentId(1)]);
    ///
    /// // They do: the list empties by itself.
    /// bank.handle_node_event(node, &Event::DoorClosed { channel: ch }, later)?;
    /// assert_eq!(bank.doors_left_open().count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn doors_left_open(&self) -> impl Iterator<Item = CompartmentId> + '_ {
        self.layout.indices().filter_map(|i| {
            let s = self.slots.get(i.get())?;
            let left = s.door == DoorState::Open
                && s.ajar_reported
                && s.out_of_service != Some(ServiceReason::ForcedDoor);
            left.then(|| self.id_of(i))
        })
    }

    /// Whether the battery is critical and everything has been persisted:
    /// the gateway may power down.
    pub fn ready_to_shut_down(&self) -> bool {
        self.power.critical() && self.persist.is_none()
    }

    /// The latest time passed in.
    pub fn now(&self) -> Instant {
        self.latest
    }

    /// The sequence number the next audit record will carry. Records below
    /// it were made already (some may still wait in
    /// [`poll`](Self::poll), or be handed out again after a
    /// restore).
    pub fn next_audit_seq(&self) -> u64 {
        self.next_seq
    }

    /// The link of the last audit record made ([`AuditLink::GENESIS`]
    /// before the first): the next record's link is computed from it, and
    /// it is in every snapshot (see [`chain`]).
    pub fn last_audit_link(&self) -> AuditLink {
        self.last_link
    }

    // ----- checks shared by every input ------------------------------------

    fn check_time(&self, now: Instant) -> Result<(), BankError> {
        if now < self.latest {
            Err(BankError::TimeWentBackwards {
                now,
                latest: self.latest,
            })
        } else {
            Ok(())
        }
    }

    /// The checks every input but `handle_timeout` makes first: time
    /// moves forward, and the outputs of the last input were drained.
    fn begin(&mut self, now: Instant) -> Result<(), BankError> {
        self.check_time(now)?;
        if self.has_outputs() {
            return Err(BankError::OutputsPending);
        }
        Ok(())
    }

    fn slot_of(&self, id: CompartmentId) -> Result<(LayoutIndex, Slot), BankError> {
        let i = self
            .layout
            .slot_of(id)
            .ok_or(BankError::UnknownCompartment(id))?;
        let s = self
            .slots
            .get(i.get())
            .copied()
            .ok_or(BankError::UnknownCompartment(id))?;
        Ok((i, s))
    }

    fn slot_at(&self, node: NodeAddr, channel: Channel) -> Result<(LayoutIndex, Slot), BankError> {
        let i = self
            .layout
            .slot_at(node, channel)
            .ok_or(BankError::UnknownChannel { node, channel })?;
        let s = self
            .slots
            .get(i.get())
            .copied()
            .ok_or(BankError::UnknownChannel { node, channel })?;
        Ok((i, s))
    }

    fn check_node(&self, node: NodeAddr) -> Result<(), BankError> {
        if self.layout.slots_on(node).next().is_some() {
            Ok(())
        } else {
            Err(BankError::UnknownNode(node))
        }
    }

    fn id_of(&self, i: LayoutIndex) -> CompartmentId {
        self.layout.get(i).map_or(CompartmentId(u16::MAX), |c| c.id)
    }

    // ----- keeping the derived indexes in step -----------------------------

    /// Writes a compartment's books and brings the timer heap, the free lists
    /// and the code index up to date. Every change goes through here.
    fn put(&mut self, i: LayoutIndex, new: Slot) {
        let old_code = self
            .slots
            .get(i.get())
            .and_then(|s| s.parcel)
            .map(|p| p.code);
        if let Some(s) = self.slots.get_mut(i.get()) {
            *s = new;
        }
        self.timers.set(i, new.next_deadline());
        if new.allocatable() {
            self.free.release(i);
        } else {
            self.free.take(i);
        }
        let new_code = new.parcel.map(|p| p.code);
        match (old_code, new_code) {
            (Some(old), None) => self.codes.remove(i, &old),
            (None, Some(new)) => self.codes.insert(i, &new),
            (Some(old), Some(new)) if !old.ct_eq(&new) => {
                self.codes.remove(i, &old);
                self.codes.insert(i, &new);
            }
            _ => {}
        }
    }

    /// Whether an active parcel holds `code` (issuing only; not constant time).
    fn code_in_use(&self, code: &CodeHash) -> bool {
        self.codes.any_holds(code, |i| {
            self.slots
                .get(i.get())
                .and_then(|s| s.parcel)
                .is_some_and(|p| p.code.ct_eq(code))
        })
    }

    /// Whether `code`, or a code one typo from it, belongs to an active
    /// parcel: a fresh code must be neither (see
    /// [`codes`](codes#a-typo-never-opens-someone-elses-door)).
    fn code_or_typo_in_use(&self, code: &PickupCode) -> bool {
        let in_use = |c: &PickupCode| self.code_in_use(&CodeHash::of(&self.keys, c));
        in_use(code) || code.typo_neighbours().any(|near| in_use(&near))
    }

    // ----- domain calls ----------------------------------------------------

    /// Holds the best compartment for a parcel with `needs` until the
    /// reservation hold runs out, and draws its pickup code from `rng`.
    ///
    /// The best compartment is the smallest free one that fits and has what
    /// the parcel needs; refrigerated and accessible doors are kept for the
    /// parcels that need them while other doors fit (see
    /// [`kept_for_needs`]).
    ///
    /// The code is in the returned [`Reservation`], and only there: the bank
    /// keeps its keyed hash ([`CodeHash`]). Send it to the collector when the
    /// deposit is verified ([`NotificationKind::ParcelReady`]). It is
    /// neither an active parcel's code nor one typo from one, so a slip at
    /// the keypad opens no stranger's door (see
    /// [`codes`](codes#a-typo-never-opens-someone-elses-door)).
    ///
    /// # Errors
    /// [`BankError::NoFit`] with the reason to show (oversize, bank full, no
    /// refrigerated or accessible compartment free, low battery);
    /// [`BankError::ShuttingDown`] on a critical battery;
    /// [`BankError::Code`] if `rng` is broken or codes are exhausted.
    pub fn reserve<R: RngCore + ?Sized>(
        &mut self,
        needs: ParcelNeeds,
        kind: ParcelKind,
        rng: &mut R,
        now: Instant,
    ) -> Result<Reservation, BankError> {
        self.begin(now)?;
        let i = self.allocate(needs)?;
        let digits = usize::from(self.policy.code_digits);
        let code = PickupCode::generate_unique(rng, digits, codes::MAX_CODE_DRAWS, |c| {
            self.code_or_typo_in_use(c)
        })?;
        let hash = CodeHash::of(&self.keys, &code);
        let mut r = self.hold(i, kind, needs.perishable, hash, now);
        r.code = Some(code);
        Ok(r)
    }

    /// As [`Bank::reserve`], for a backend that draws the pickup code itself
    /// and sends only its [`CodeHash`] (computed with the same bank keys, of
    /// a code of [`Policy::code_digits`] digits): the code never reaches the
    /// gateway. The bank cannot see the code's typo neighbours through its
    /// hash: the backend should send none of
    /// [`PickupCode::typo_neighbours`] of its active codes, as
    /// [`Bank::reserve`] does.
    ///
    /// # Errors
    /// As [`Bank::reserve`], and [`CodeError::CodeInUse`](codes::CodeError::CodeInUse)
    /// if an active parcel has the same code: draw another and ask again.
    pub fn reserve_with_code_hash(
        &mut self,
        needs: ParcelNeeds,
        kind: ParcelKind,
        code: CodeHash,
        now: Instant,
    ) -> Result<Reservation, BankError> {
        self.begin(now)?;
        if self.code_in_use(&code) {
            return Err(codes::CodeError::CodeInUse.into());
        }
        let i = self.allocate(needs)?;
        Ok(self.hold(i, kind, needs.perishable, code, now))
    }

    /// Reserves free compartment `i` for a new parcel whose code hashes to
    /// `code` (`perishable`: it runs on the perishable deadlines and keeps
    /// a cold chain).
    fn hold(
        &mut self,
        i: LayoutIndex,
        kind: ParcelKind,
        perishable: bool,
        code: CodeHash,
        now: Instant,
    ) -> Reservation {
        let id = ParcelId(self.next_parcel);
        self.next_parcel = self.next_parcel.wrapping_add(1);
        self.latest = now;
        let mut s = self.slots.get(i.get()).copied().unwrap_or(Slot::EMPTY);
        s.stage = Stage::Reserved;
        s.parcel = Some(Parcel {
            id,
            kind,
            code,
            clock_base: now,
            deposited_at: None,
            notices: 0,
            reopens: 0,
            perishable,
            cold: cold::ColdChain::default(),
        });
        s.parcel_timer = Some(now + self.policy.reservation_hold);
        self.put(i, s);
        self.record(now, Actor::Backend, Some(i), AuditEvent::Reserved, None);
        Reservation {
            compartment: self.id_of(i),
            parcel: id,
            code: None,
        }
    }

    /// The compartment a new parcel with `needs` gets, or why none: a
    /// refusal is counted in [`Analytics::refusals`] (the one trace a
    /// refused reservation leaves; the books are unchanged).
    fn allocate(&mut self, needs: ParcelNeeds) -> Result<LayoutIndex, BankError> {
        let refused = match self.check_deposits_allowed() {
            Ok(()) => match self.free.choose(needs) {
                Ok(i) => return Ok(i),
                Err(AllocationError::Oversize) => {
                    (Refusal::Oversize, AllocationError::Oversize.into())
                }
                Err(AllocationError::LowBattery { charge_percent }) => (
                    Refusal::Unavailable,
                    AllocationError::LowBattery { charge_percent }.into(),
                ),
                Err(e) if self.fits_out_of_service(needs) => (Refusal::Unavailable, e.into()),
                Err(e) => (Refusal::BankFull, e.into()),
            },
            Err(e) => (Refusal::Unavailable, e),
        };
        self.stats.analytics.count_refusal(refused.0);
        Err(refused.1)
    }

    /// Whether an empty compartment out of service would take a parcel
    /// with `needs` (`O(N)`, on a refusal only).
    fn fits_out_of_service(&self, needs: ParcelNeeds) -> bool {
        let mut needed = CompartmentFlags::NONE;
        if needs.perishable {
            needed = needed.union(CompartmentFlags::REFRIGERATED);
        }
        if needs.accessible {
            needed = needed.union(CompartmentFlags::ACCESSIBLE);
        }
        self.layout.indices().any(|i| {
            let (Some(c), Some(s)) = (self.layout.get(i), self.slots.get(i.get())) else {
                return false;
            };
            let fits = match needs.fit {
                Fit::Dimensions(d) => c.inner.fits(d),
                Fit::Size(size) => c.size >= size,
            };
            fits && c.flags.contains(needed) && s.out_of_service.is_some() && s.parcel.is_none()
        })
    }

    fn check_deposits_allowed(&self) -> Result<(), BankError> {
        if let Some(reason) = self.deposits_closed {
            return Err(BankError::DepositsClosed(reason));
        }
        if self.power.critical() {
            return Err(BankError::ShuttingDown);
        }
        if let Some(charge_percent) = self
            .power
            .deposits_refused(self.policy.min_charge_for_deposit)
        {
            return Err(AllocationError::LowBattery { charge_percent }.into());
        }
        Ok(())
    }

    /// Closes the bank to new parcels (`Some`) or opens it again (`None`):
    /// while closed, [`reserve`](Self::reserve),
    /// [`reserve_with_code_hash`](Self::reserve_with_code_hash) and
    /// [`start_deposit`](Self::start_deposit) are refused with
    /// [`BankError::DepositsClosed`]. Door sessions under way, pickups and
    /// staff actions go on. The gateway keeps this in step with its uplink
    /// (a reset under way, the backend made the bank unavailable); it is not
    /// part of the snapshot, because its causes are persisted where they live.
    pub fn set_deposits_closed(&mut self, closed: Option<DepositsClosed>) {
        self.deposits_closed = closed;
    }

    /// Why the bank takes no new parcels, if it was closed with
    /// [`set_deposits_closed`](Self::set_deposits_closed).
    pub fn deposits_closed(&self) -> Option<DepositsClosed> {
        self.deposits_closed
    }

    /// Cancels a reservation before the deposit; the compartment is free again.
    ///
    /// # Errors
    /// [`BankError::UnknownCompartment`]; [`BankError::WrongStage`] unless reserved.
    pub fn cancel_reservation(
        &mut self,
        compartment: CompartmentId,
        actor: Actor,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let (i, mut s) = self.slot_of(compartment)?;
        if s.stage != Stage::Reserved {
            return Err(BankError::WrongStage {
                compartment,
                stage: s.stage,
            });
        }
        self.latest = now;
        self.record(now, actor, Some(i), AuditEvent::ReservationCancelled, None);
        s.stage = Stage::Free;
        s.parcel = None;
        s.parcel_timer = None;
        self.put(i, s);
        Ok(())
    }

    /// The account `account` signed in at the bank's own screen (a walk-up
    /// courier, or staff) opens the reserved compartment for the deposit:
    /// audited with the account's id ([`AuditEvent::DepositOpenedBy`]),
    /// then the unlock. A courier sent by the backend opens with the
    /// compartment's deposit code instead ([`Bank::enter_deposit_code`]; see
    /// [`deposit`]).
    ///
    /// # Errors
    /// [`BankError::WrongStage`] unless reserved; [`BankError::OutOfService`];
    /// [`BankError::NoFit`] (low battery) or [`BankError::ShuttingDown`].
    pub fn start_deposit(
        &mut self,
        compartment: CompartmentId,
        account: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let (i, s) = self.slot_of(compartment)?;
        self.check_deposit_now(compartment, &s)?;
        let by = s.parcel.map_or(Actor::Courier, |p| p.kind.depositor());
        self.latest = now;
        let event = AuditEvent::DepositOpenedBy { account };
        self.record(now, by, Some(i), event, None);
        self.open_session(i, s, Purpose::Deposit, by, now);
        Ok(())
    }

    /// A code typed at `keypad`. A right code unlocks its compartment (one
    /// use: the code is spent once the pickup is verified); a wrong one is
    /// counted towards the keypad's lockout.
    ///
    /// # Errors
    /// [`BankError::Code`] for a code that is not all digits or not
    /// [`Policy::code_digits`] long (not counted as an attempt), an unknown
    /// keypad, or a keypad locked out; [`BankError::OutOfService`] when the
    /// code's compartment is out of service.
    pub fn enter_code(
        &mut self,
        keypad: KeypadId,
        code: &str,
        now: Instant,
    ) -> Result<CodeOutcome, BankError> {
        self.begin(now)?;
        let typed = PickupCode::parse(code)?;
        let want = usize::from(self.policy.code_digits);
        if typed.len() != want {
            return Err(codes::CodeError::WrongLength {
                len: typed.len(),
                min: want,
                max: want,
            }
            .into());
        }
        self.keypads.check(keypad, now)?;
        // Hashed once; every stored hash is compared, with no early exit.
        let typed = CodeHash::of(&self.keys, &typed);
        let mut found = None;
        let mut expired = false;
        for (i, s) in self.layout.indices().zip(self.slots.iter()) {
            let right = s.parcel.is_some_and(|p| p.code.ct_eq(&typed));
            if right && s.stage == Stage::Stored {
                found = Some(i);
            }
            expired |= right && s.stage == Stage::Expired;
        }
        expired |= self.counter.holds(&typed, now);
        if found.is_none() && expired {
            // The collector came late: the parcel is (or will be) at the
            // counter. Not a guess.
            self.latest = now;
            let event = AuditEvent::CodeForCounterParcel { keypad };
            self.record(now, Actor::Recipient, None, event, None);
            return Ok(CodeOutcome::CollectAtCounter);
        }
        let Some(i) = found else {
            let outcome = self.keypads.record_failure(keypad, now)?;
            self.latest = now;
            self.record(
                now,
                Actor::Recipient,
                None,
                AuditEvent::CodeRejected { keypad },
                None,
            );
            if outcome.spike_alert || outcome.keypad_alert {
                self.keypad_spike(keypad, outcome.failures, now);
            }
            return Ok(CodeOutcome::Rejected {
                failures: outcome.failures,
                locked_until: outcome.locked_until,
            });
        };
        let s = self.slots.get(i.get()).copied().unwrap_or(Slot::EMPTY);
        let compartment = self.id_of(i);
        if s.out_of_service.is_some() {
            return Err(BankError::OutOfService(compartment));
        }
        if self.power.critical() {
            return Err(BankError::ShuttingDown);
        }
        if s.parcel.is_some_and(|p| p.reopens >= MAX_REOPENS) {
            // The code opened its door again and again with the parcel left
            // inside: somebody may be using his own parcel to probe the
            // keypad. The code stops opening; staff hand the parcel over.
            self.keypads.record_success(keypad, now)?;
            self.latest = now;
            let failures = self.keypads.failures(keypad).unwrap_or(0);
            let evidence = Evidence::Keypad { keypad, failures };
            self.raise(now, AlertKind::KeypadAttack, Some(i), evidence, None);
            let event = AuditEvent::KeypadAttackSuspected;
            self.record(now, Actor::System, Some(i), event, None);
            return Err(BankError::ReopenLimit(compartment));
        }
        self.keypads.record_success(keypad, now)?;
        self.latest = now;
        let by = s.parcel.map_or(Actor::Recipient, |p| p.kind.collector());
        self.record(now, by, Some(i), AuditEvent::CodeAccepted { keypad }, None);
        self.open_session(i, s, Purpose::Pickup, by, now);
        Ok(CodeOutcome::Opening(compartment))
    }

    /// Pushes a stored parcel's reminder, escalation and expiry back by `by`.
    ///
    /// # Errors
    /// [`BankError::WrongStage`] unless a parcel is stored.
    pub fn extend_deadline(
        &mut self,
        compartment: CompartmentId,
        by: Duration,
        actor: Actor,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let (i, mut s) = self.slot_of(compartment)?;
        let (Stage::Stored, Some(mut p)) = (s.stage, s.parcel) else {
            return Err(BankError::WrongStage {
                compartment,
                stage: s.stage,
            });
        };
        self.latest = now;
        p.clock_base += by;
        s.parcel = Some(p);
        s.parcel_timer = Some(notice_due(&self.policy, &p));
        self.put(i, s);
        self.record(
            now,
            actor,
            Some(i),
            AuditEvent::DeadlineExtended { by },
            None,
        );
        Ok(())
    }

    /// Takes a compartment out of service (no new parcels; codes refused).
    ///
    /// # Errors
    /// [`BankError::UnknownCompartment`].
    pub fn set_out_of_service(
        &mut self,
        compartment: CompartmentId,
        actor: Actor,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let (i, mut s) = self.slot_of(compartment)?;
        self.latest = now;
        let reason = ServiceReason::Override;
        s.out_of_service = Some(reason);
        self.put(i, s);
        self.record(
            now,
            actor,
            Some(i),
            AuditEvent::OutOfService { reason },
            None,
        );
        Ok(())
    }

    /// Puts a compartment back in service after staff dealt with it. Its
    /// sensor-health alerts re-arm, but the evidence is kept: a lock that jams
    /// again and again is reported as a repeated fault even when staff keep
    /// putting the compartment back. An automatic recalibration watched or
    /// made before is forgotten (see
    /// [`Policy::drift_settle_within`]).
    ///
    /// # Errors
    /// [`BankError::UnknownCompartment`].
    pub fn set_in_service(
        &mut self,
        compartment: CompartmentId,
        actor: Actor,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let (i, mut s) = self.slot_of(compartment)?;
        if s.out_of_service.is_none() {
            return Ok(());
        }
        self.latest = now;
        s.out_of_service = None;
        let _ = self.health.back_in_service(i.get());
        // Staff had their hands on it: a drift watched or answered before
        // belongs to the sensor as it was.
        self.forget_recalibration(i);
        self.put(i, s);
        self.record(now, actor, Some(i), AuditEvent::BackInService, None);
        Ok(())
    }

    /// Staff repaired or replaced compartment `compartment`'s hardware (a
    /// lock, a load cell, a door switch): its sensor-health history (lock
    /// faults counted towards
    /// [`HealthIssue::RepeatedLockFaults`](locker_proto::HealthIssue::RepeatedLockFaults),
    /// drift, a stuck or flapping sensor) and an automatic recalibration
    /// watched or made are forgotten, so the new part starts with a clean
    /// record and its first jam is not "repeated". Audited as
    /// [`AuditEvent::Serviced`]. The books and the service state are left
    /// as they are: [`set_in_service`](Self::set_in_service) puts the
    /// compartment back, and a new load cell takes its empty baseline with
    /// [`recalibrate`](Self::recalibrate).
    ///
    /// Putting a compartment back without this keeps the evidence, so a
    /// lock that jams again and again is reported even when staff keep
    /// putting it back.
    ///
    /// # Errors
    /// [`BankError::UnknownCompartment`]; [`BankError::TimeWentBackwards`];
    /// [`BankError::OutputsPending`]. Nothing is changed then.
    pub fn serviced(
        &mut self,
        compartment: CompartmentId,
        staff: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let (i, _) = self.slot_of(compartment)?;
        self.latest = now;
        self.forget_hardware_history(i);
        let event = AuditEvent::Serviced { staff };
        self.record(now, Actor::Staff, Some(i), event, None);
        Ok(())
    }

    /// Anchors wall-clock time, **UTC** (`wall`), to monotonic `now`. Local
    /// time follows from the policy's [`time_zone`](Policy::time_zone).
    ///
    /// On a bank just made, before [`Bank::restore`], the anchor is kept
    /// through the restore (it is not an input that makes the bank "in
    /// use"): set it first, and the restore's own record and everything
    /// after it carry wall time from the first moment. A snapshot holds no
    /// wall clock, since a restart's downtime is unknown to the bank.
    ///
    /// # Errors
    /// [`BankError::TimeWentBackwards`].
    pub fn set_wall_clock(&mut self, wall: NaiveDateTime, now: Instant) -> Result<(), BankError> {
        self.check_time(now)?;
        if !self.untouched() {
            self.latest = now;
        }
        self.wall = Some((wall, now));
        Ok(())
    }

    /// The UPS reports a change. On battery, door sessions under way finish
    /// but new deposits are refused below [`Policy::min_charge_for_deposit`]
    /// and a persist is requested; on critical, only persisting remains
    /// ([`Bank::ready_to_shut_down`]); on mains, everything resumes.
    ///
    /// A UPS reports its charge and minutes left every few seconds on
    /// battery: every reading is taken (the deposit threshold uses it), but
    /// only a change of source (mains, battery, critical) or a charge
    /// crossing a step of [`POWER_STEP_PERCENT`] is audited and persisted,
    /// so an outage is a handful of records, not one a minute.
    ///
    /// # Errors
    /// [`BankError::TimeWentBackwards`]; [`BankError::OutputsPending`].
    pub fn handle_power(&mut self, status: PowerStatus, now: Instant) -> Result<(), BankError> {
        self.begin(now)?;
        self.latest = now;
        let before = self.power.status;
        if before == status {
            return Ok(());
        }
        self.power.status = status;
        let step = |charge: u8| charge / POWER_STEP_PERCENT;
        let worth_a_record = match (before, status) {
            (
                PowerStatus::Battery {
                    charge_percent: a, ..
                },
                PowerStatus::Battery {
                    charge_percent: b, ..
                },
            )
            | (
                PowerStatus::Critical { charge_percent: a },
                PowerStatus::Critical { charge_percent: b },
            ) => step(a) != step(b),
            _ => true,
        };
        if !worth_a_record {
            return Ok(());
        }
        self.record(now, Actor::System, None, AuditEvent::Power(status), None);
        let reason = match status {
            PowerStatus::Mains => PersistReason::StateChanged,
            PowerStatus::Battery { .. } => PersistReason::OnBattery,
            PowerStatus::Critical { .. } => PersistReason::ShutdownImminent,
        };
        self.persist = Some(match (self.persist, reason) {
            (Some(PersistReason::ShutdownImminent), _) => PersistReason::ShutdownImminent,
            (Some(PersistReason::OnBattery), PersistReason::StateChanged) => {
                PersistReason::OnBattery
            }
            (_, r) => r,
        });
        Ok(())
    }

    /// Handles every deadline due at `now`, as far as the output queues have
    /// room (see the module docs). Calling it early is harmless.
    ///
    /// # Errors
    /// [`BankError::TimeWentBackwards`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), BankError> {
        self.check_time(now)?;
        self.latest = now;
        self.keypads.handle_timeout(now);
        self.lost_nodes_due(now);
        self.scan_if_due(now);
        // Each firing moves its compartment's deadline into the future or
        // clears it; the bound only guards against a policy of zero durations.
        for _ in 0..(4 * self.slots.len() + 16) {
            let Some((at, i)) = self.timers.peek() else {
                break;
            };
            if at > now || !self.has_room(ROOM_ONE) {
                break;
            }
            let Some(s) = self.slots.get(i.get()).copied() else {
                break;
            };
            if s.door_timer.is_some_and(|t| t <= now) {
                let blame = self.lock_to_blame(i);
                let restarted = self.unlocks_before_restart.contains(&i);
                let step = session::door_timer(s, now, &self.policy, blame, restarted);
                self.apply(i, step, now);
            } else {
                self.parcel_timer_fired(i, s, now);
            }
        }
        Ok(())
    }

    /// A parcel's deadline ran out: report what is due, then write the books.
    fn parcel_timer_fired(&mut self, i: LayoutIndex, s: Slot, now: Instant) {
        let (books, due) = deadlines::parcel_timer(s, now, &self.policy, self.wall_at(now));
        let system = Actor::System;
        match due {
            Due::Cleared => {}
            Due::ReservationExpired { depositor } => {
                self.record(now, system, Some(i), AuditEvent::ReservationExpired, None);
                self.notify(now, depositor, i, NotificationKind::ReservationExpired);
            }
            Due::ReminderDeferred { by } => {
                let event = AuditEvent::ReminderDeferred { by };
                self.record(now, system, Some(i), event, None);
            }
            Due::Reminder { collector } => {
                self.stats.reminders = self.stats.reminders.saturating_add(1);
                self.notify(now, collector, i, NotificationKind::Reminder);
                self.record(now, system, Some(i), AuditEvent::ReminderSent, None);
            }
            Due::Escalation { collector } => {
                self.stats.escalations = self.stats.escalations.saturating_add(1);
                self.notify(now, collector, i, NotificationKind::Escalation);
                self.notify(now, Actor::Staff, i, NotificationKind::Escalation);
                self.record(now, system, Some(i), AuditEvent::EscalationSent, None);
            }
            Due::Expired => {
                self.stats.expiries = self.stats.expiries.saturating_add(1);
                self.notify(now, Actor::Staff, i, NotificationKind::RemovalTask);
                let collector = s.parcel.map_or(Actor::Recipient, |p| p.kind.collector());
                self.notify(now, collector, i, NotificationKind::ParcelExpired);
                self.record(now, system, Some(i), AuditEvent::Expired, None);
            }
        }
        // Written last, so that the reports name the parcel even when it
        // leaves the books (an expired reservation).
        self.put(i, books);
    }
}
