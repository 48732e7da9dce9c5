//! Doors opened by override: remote opens from the backend and their rate
//! limit, staff opening one door or all of them, and lifting the
//! remote-open lock. An override opens a door session for whatever the
//! compartment holds (see [`override_purpose`]).

use heapless::Vec;
use locker_proto::CompartmentId;
use locker_proto::time::Instant;
use serde::{Deserialize, Serialize};

use super::alert::{AlertKind, Evidence};
use super::audit::{Actor, AuditEvent, StaffId};
use super::error::BankError;
use super::incarnation::Incarnation;
use super::keys::{BankKeys, TAG_LEN, mac, verify};
use super::layout::LayoutIndex;
use super::parcel::{Purpose, Stage};
use super::persist::records::{Rebase, RemoteRecord};
use super::policy::Policy;
use super::slot::Slot;
use super::{AUDIT_QUEUE, Bank, COMMAND_QUEUE};

/// The largest [`Policy::remote_open_limit`] the bank honours: it keeps the
/// times of this many accepted opens (8 bytes each).
pub const MAX_REMOTE_OPEN_LIMIT: u8 = 32;

const LABEL: &[u8] = b"locker/v1/remote-open";

/// A remote open as the backend sends it: authenticated, fresh, rationed.
///
/// A backend that wants a door opened (a recipient who lost the code, a
/// support agent at the phone) sends a [`RemoteOpen`]: the compartment, a
/// request id, and a 16-byte tag,
///
/// ```text
/// tag = HMAC-SHA256(backend key, "locker/v1/remote-open" || bank id (u32 LE)
///                   || incarnation (u32 LE) || compartment (u16 LE)
///                   || request id (u64 LE))[..16]
/// ```
///
/// made with the backend key of [`BankKeys`]
/// ([`remote_open_tag`], [`RemoteOpen::signed`]). The bank, in
/// [`Bank::remote_open`], checks in this order:
///
/// 1. **The tag**, in constant time. A wrong one is [`RemoteOpenError::ForgedTag`],
///    with an [`AlertKind::ForgedRemoteOpen`] alert for staff (one per
///    rate-limit window, so a flood of forgeries is one alert and many audit
///    records).
/// 2. **The incarnation**: a request signed for an earlier life of the bank
///    (before a restore the operator confirmed, or before the bank was
///    started afresh; see [`incarnation`](super::incarnation)) is
///    [`RemoteOpenError::OtherIncarnation`]. The backend learns the current
///    incarnation from the gateway's boot notification.
/// 3. **Freshness**: the request id must be greater than the last accepted
///    one; the same id again is [`RemoteOpenError::Replayed`], a smaller one
///    [`RemoteOpenError::Stale`] (a reordered or captured request). The last
///    id is part of the snapshot, so a restart does not reopen the window.
///    Use a counter, or the backend's clock in microseconds.
/// 4. **The lock**: while remote opens are locked, every one is
///    [`RemoteOpenError::Locked`].
/// 5. **The compartment** (exists, not out of service, no door session):
///    the ordinary [`BankError`]s, not audited, nothing consumed.
/// 6. **The rate limit**: at most [`Policy::remote_open_limit`] accepted
///    opens in any [`Policy::remote_open_window`]. The one beyond it is
///    [`RemoteOpenError::RateLimited`], locks remote opens, and raises an
///    [`AlertKind::RemoteOpenFlood`] alert.
///
/// Every refusal of steps 1–4 and 6 changes no door and no parcel, is
/// counted in [`Stats::remote_opens_refused`](super::Stats::remote_opens_refused)
/// and is audited as [`AuditEvent::RemoteOpenRefused`]. A request refused at
/// step 4 or 6 still uses up its id, so a request held back by the lock
/// cannot be replayed once staff clear it.
///
/// The lock is lifted only by staff at the bank,
/// [`Bank::staff_clear_remote_open_lock`] (audited with the staff id), which
/// also starts a fresh window. It survives restarts.
///
/// # Example: the backend opens a door
///
/// ```
/// use locker_domain::bank::{Bank, BankError, BankId, BankKeys, BankOutput, Compartment, Books,
///     Incarnation, Policy, RemoteOpen, RemoteOpenError, Witnesses, remote_open_tag};
/// use locker_proto::{Channel, Command, CompartmentId, Dimensions, NodeAddr, SizeClass};
/// use locker_proto::time::Instant;
///
/// let secret = [0x3d; 32]; // provisioned, shared by bank and backend
/// let keys = BankKeys::derive(BankId(3), &secret);
/// let c = Compartment::new(CompartmentId(1), NodeAddr(1), Channel(0), SizeClass::Small,
///     Dimensions::new(420, 80, 600));
/// let mut books = Books::<8>::new();
/// let mut bank = Bank::new(&mut books, &[c], Policy::default(), keys.clone())?;
/// let life = Incarnation(0x4c1f_09d3); // drawn at random at the first start
/// bank.begin_incarnation(life, &Witnesses::default(), Instant::from_secs(1))?;
/// while bank.poll().is_some() {} // the start-up status requests
/// let now = Instant::from_secs(10);
///
/// // The backend signs with the same keys, for the incarnation the
/// // gateway's boot notification named.
/// let request = RemoteOpen::signed(&keys, life, CompartmentId(1), 1);
/// assert_eq!(request.tag, remote_open_tag(&keys, life, CompartmentId(1), 1));
/// bank.remote_open(&request, now)?;
/// let outputs: Vec<BankOutput> = std::iter::from_fn(|| bank.poll()).collect();
/// assert!(outputs.iter().any(|o| matches!(o,
///     BankOutput::Command { command: Command::Unlock { .. }, .. })));
///
/// // The same request again is a replay; a made-up tag is a forgery.
/// assert_eq!(bank.remote_open(&request, now),
///     Err(BankError::RemoteOpen(RemoteOpenError::Replayed { request_id: 1 })));
/// while bank.poll().is_some() {} // the refusal's audit record
/// let forged = RemoteOpen { incarnation: life, compartment: CompartmentId(1), request_id: 2,
///     tag: [0; 16] };
/// assert_eq!(bank.remote_open(&forged, now),
///     Err(BankError::RemoteOpen(RemoteOpenError::ForgedTag)));
/// assert_eq!(bank.stats().remote_opens_refused, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RemoteOpen {
    /// The bank's incarnation the request was signed for.
    pub incarnation: Incarnation,
    /// The compartment to open.
    pub compartment: CompartmentId,
    /// Strictly greater than every request id the bank accepted before.
    pub request_id: u64,
    /// [`remote_open_tag`] of the above under the bank's backend key.
    pub tag: [u8; TAG_LEN],
}

/// The tag of a remote open of `compartment` with `request_id`, for the
/// bank's `incarnation`, under the backend key of `keys`:
/// `HMAC-SHA256(backend key, "locker/v1/remote-open" || bank id (u32 LE) ||
/// incarnation (u32 LE) || compartment (u16 LE) || request_id (u64 LE))`,
/// first 16 bytes.
pub fn remote_open_tag(
    keys: &BankKeys,
    incarnation: Incarnation,
    compartment: CompartmentId,
    request_id: u64,
) -> [u8; TAG_LEN] {
    mac(
        keys.remote_open_key(),
        &[
            LABEL,
            &keys.bank().0.to_le_bytes(),
            &incarnation.0.to_le_bytes(),
            &compartment.0.to_le_bytes(),
            &request_id.to_le_bytes(),
        ],
    )
}

impl RemoteOpen {
    /// A remote open signed with `keys` for the bank's `incarnation` (what
    /// the backend sends).
    pub fn signed(
        keys: &BankKeys,
        incarnation: Incarnation,
        compartment: CompartmentId,
        request_id: u64,
    ) -> Self {
        RemoteOpen {
            incarnation,
            compartment,
            request_id,
            tag: remote_open_tag(keys, incarnation, compartment, request_id),
        }
    }

    /// Whether the tag is right for `keys`, compared in constant time.
    pub fn verify(&self, keys: &BankKeys) -> bool {
        verify(
            keys.remote_open_key(),
            &[
                LABEL,
                &keys.bank().0.to_le_bytes(),
                &self.incarnation.0.to_le_bytes(),
                &self.compartment.0.to_le_bytes(),
                &self.request_id.to_le_bytes(),
            ],
            &self.tag,
        )
    }
}

/// Why a remote open was refused for security. Every one is audited and
/// counted; none opens anything.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RemoteOpenError {
    /// The tag is not the backend key's: forged, corrupted, or signed for
    /// another bank.
    #[error(
        "the remote open's tag is wrong (forged, corrupted, or signed with another bank's key): refused and reported to staff"
    )]
    ForgedTag,
    /// The request id was accepted before.
    #[error("remote open request {request_id} was already carried out: send a new request id")]
    Replayed {
        /// The id sent.
        request_id: u64,
    },
    /// The request id is older than the last one accepted (reordered or replayed).
    #[error(
        "remote open request {request_id} is older than the last accepted ({last}): request ids must increase"
    )]
    Stale {
        /// The id sent.
        request_id: u64,
        /// The last id accepted.
        last: u64,
    },
    /// This request went over the bank-wide limit: remote opens are now locked.
    #[error(
        "more than {limit} remote opens within the window: remote opens are locked until staff check the bank and clear the lock"
    )]
    RateLimited {
        /// The limit in force.
        limit: u8,
    },
    /// Remote opens are locked since the limit was exceeded.
    #[error(
        "remote opens are locked after too many in a short time: staff must check the bank and clear the lock"
    )]
    Locked,
    /// The request was signed for another incarnation of the bank: one
    /// before a restore or a fresh start (a replay of an old request, or a
    /// backend that missed the boot notification).
    #[error(
        "remote open signed for incarnation {sent:#010x}, but the bank is in incarnation {current:#010x} since a restore or fresh start: sign for the incarnation of the latest boot notification"
    )]
    OtherIncarnation {
        /// The incarnation the request names.
        sent: u32,
        /// The bank's.
        current: u32,
    },
}

/// The remote-open books: last request id, recent opens, the lock.
/// Persisted in the snapshot as a [`RemoteRecord`].
#[derive(Clone, Debug, Default)]
pub(crate) struct RemoteGuard {
    /// The last request id used up (accepted, or refused by the lock).
    last_request: Option<u64>,
    /// When the accepted opens of the current window happened, oldest first.
    opens: Vec<Instant, { MAX_REMOTE_OPEN_LIMIT as usize }>,
    /// When remote opens were locked, if they are.
    locked_at: Option<Instant>,
    /// When the last forged-tag alert was raised.
    forged_alert_at: Option<Instant>,
}

impl RemoteGuard {
    fn limit(policy: &Policy) -> u8 {
        policy.remote_open_limit.min(MAX_REMOTE_OPEN_LIMIT)
    }

    /// Accepted opens within the window ending at `now`.
    fn opens_in_window(&self, policy: &Policy, now: Instant) -> u8 {
        let n = self
            .opens
            .iter()
            .filter(|t| now.saturating_since(**t) < policy.remote_open_window)
            .count();
        u8::try_from(n).unwrap_or(u8::MAX)
    }

    fn freshness(&self, request_id: u64) -> Result<(), RemoteOpenError> {
        match self.last_request {
            Some(last) if request_id == last => Err(RemoteOpenError::Replayed { request_id }),
            Some(last) if request_id < last => Err(RemoteOpenError::Stale { request_id, last }),
            _ => Ok(()),
        }
    }

    fn use_up(&mut self, request_id: u64) {
        self.last_request = Some(request_id);
    }

    fn accept(&mut self, policy: &Policy, request_id: u64, now: Instant) {
        self.use_up(request_id);
        let window = policy.remote_open_window;
        self.opens.retain(|t| now.saturating_since(*t) < window);
        if self.opens.is_full() && !self.opens.is_empty() {
            self.opens.remove(0);
        }
        let _ = self.opens.push(now);
    }

    /// The books as the snapshot keeps them.
    pub(crate) fn record(&self) -> RemoteRecord {
        RemoteRecord {
            last_request: self.last_request,
            opens: self.opens.iter().copied().collect(),
            locked_at: self.locked_at,
            forged_alert_at: self.forged_alert_at,
        }
    }

    /// The books from a snapshot, on the restoring clock. Opens beyond the
    /// limit this build keeps are the oldest and are dropped.
    pub(crate) fn from_record(r: &RemoteRecord, clock: Rebase) -> Self {
        let skip = r.opens.len().saturating_sub(MAX_REMOTE_OPEN_LIMIT as usize);
        RemoteGuard {
            last_request: r.last_request,
            opens: r.opens.iter().skip(skip).map(|t| clock.at(*t)).collect(),
            locked_at: clock.opt(r.locked_at),
            forged_alert_at: clock.opt(r.forged_alert_at),
        }
    }
}

/// What one [`Bank::staff_open_all`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenAll {
    /// Doors unlocked by this call.
    pub opened: u16,
    /// Doors still to open: drain the outputs and call again.
    pub remaining: u16,
}

impl Bank<'_> {
    /// The member of staff `staff` opens a compartment, audited with their
    /// id ([`AuditEvent::StaffOpened`], then the unlock): a stored parcel is
    /// handed to staff, an expired one removed, a reserved one deposited, an
    /// empty one inspected. Allowed on an out-of-service compartment.
    ///
    /// # Errors
    /// [`BankError::WrongStage`] during a door session; [`BankError::ShuttingDown`].
    pub fn staff_open(
        &mut self,
        compartment: CompartmentId,
        staff: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let (i, s, purpose) = self.override_target(compartment, Actor::Staff)?;
        self.latest = now;
        let event = AuditEvent::StaffOpened { staff };
        self.record(now, Actor::Staff, Some(i), event, None);
        self.open_session(i, s, purpose, Actor::Staff, now);
        Ok(())
    }

    /// Where an override by `by` would open `compartment`, and why; refuses
    /// an out-of-service compartment unless staff ask. Changes nothing.
    pub(super) fn override_target(
        &self,
        compartment: CompartmentId,
        by: Actor,
    ) -> Result<(LayoutIndex, Slot, Purpose), BankError> {
        let (i, s) = self.slot_of(compartment)?;
        if self.power.critical() {
            return Err(BankError::ShuttingDown);
        }
        if by != Actor::Staff && s.out_of_service.is_some() {
            return Err(BankError::OutOfService(compartment));
        }
        let purpose = override_purpose(s.stage).ok_or(BankError::WrongStage {
            compartment,
            stage: s.stage,
        })?;
        Ok((i, s, purpose))
    }

    /// Opens a compartment for the backend, if the request is authentic,
    /// fresh and within the rate limit (see [`RemoteOpen`] for the checks).
    /// A stored parcel is handed over (audited as a backend override), a
    /// reserved compartment opened for its deposit, an expired parcel for
    /// removal, an empty compartment for inspection.
    ///
    /// # Errors
    /// [`BankError::RemoteOpen`] for a forged tag, a replayed or stale
    /// request id, the limit exceeded now or earlier: audited and counted,
    /// nothing opened. [`BankError::UnknownCompartment`],
    /// [`BankError::OutOfService`], [`BankError::WrongStage`] (door session
    /// under way), [`BankError::ShuttingDown`]: nothing changed, the request
    /// id not used up. [`BankError::TimeWentBackwards`],
    /// [`BankError::OutputsPending`]: nothing changed, nothing audited.
    pub fn remote_open(&mut self, request: &RemoteOpen, now: Instant) -> Result<(), BankError> {
        self.begin(now)?;
        if !request.verify(&self.keys) {
            self.latest = now;
            let window = self.policy.remote_open_window;
            let due = self
                .remote
                .forged_alert_at
                .is_none_or(|at| now.saturating_since(at) >= window);
            if due {
                self.remote.forged_alert_at = Some(now);
                let evidence = Evidence::RemoteOpen {
                    request_id: request.request_id,
                };
                self.raise(now, AlertKind::ForgedRemoteOpen, None, evidence, None);
            }
            return Err(self.refuse_remote(request, RemoteOpenError::ForgedTag, now));
        }
        if request.incarnation != self.incarnation {
            self.latest = now;
            let reason = RemoteOpenError::OtherIncarnation {
                sent: request.incarnation.0,
                current: self.incarnation.0,
            };
            return Err(self.refuse_remote(request, reason, now));
        }
        if let Err(reason) = self.remote.freshness(request.request_id) {
            self.latest = now;
            return Err(self.refuse_remote(request, reason, now));
        }
        if self.remote.locked_at.is_some() {
            self.latest = now;
            self.remote.use_up(request.request_id);
            return Err(self.refuse_remote(request, RemoteOpenError::Locked, now));
        }
        let (i, s, purpose) = self.override_target(request.compartment, Actor::Backend)?;
        let limit = RemoteGuard::limit(&self.policy);
        let opens = self.remote.opens_in_window(&self.policy, now);
        self.latest = now;
        if opens >= limit {
            self.remote.use_up(request.request_id);
            self.remote.locked_at = Some(now);
            let evidence = Evidence::RemoteOpens {
                opens,
                window: self.policy.remote_open_window,
            };
            self.raise(now, AlertKind::RemoteOpenFlood, None, evidence, None);
            self.record(
                now,
                Actor::System,
                None,
                AuditEvent::RemoteOpensLocked { opens },
                None,
            );
            return Err(self.refuse_remote(request, RemoteOpenError::RateLimited { limit }, now));
        }
        self.remote.accept(&self.policy, request.request_id, now);
        self.stats.remote_opens = self.stats.remote_opens.saturating_add(1);
        let event = AuditEvent::RemoteOpenAccepted {
            request_id: request.request_id,
        };
        self.record(now, Actor::Backend, Some(i), event, None);
        self.open_session(i, s, purpose, Actor::Backend, now);
        Ok(())
    }

    /// Audits and counts a refused remote open; returns the error to give.
    fn refuse_remote(
        &mut self,
        request: &RemoteOpen,
        reason: RemoteOpenError,
        now: Instant,
    ) -> BankError {
        self.stats.remote_opens_refused = self.stats.remote_opens_refused.saturating_add(1);
        let event = AuditEvent::RemoteOpenRefused {
            compartment: request.compartment,
            request_id: request.request_id,
            reason,
        };
        self.record(now, Actor::Backend, None, event, None);
        BankError::RemoteOpen(reason)
    }

    /// Whether remote opens are locked (the rate limit was exceeded and staff
    /// have not cleared it yet).
    pub fn remote_opens_locked(&self) -> bool {
        self.remote.locked_at.is_some()
    }

    /// The last remote-open request id used up, if any: the next request
    /// must carry a greater one.
    pub fn last_remote_request(&self) -> Option<u64> {
        self.remote.last_request
    }

    /// Staff at the bank lift the remote-open lock after checking the bank
    /// (audited with `staff`). The rate-limit window starts afresh. Returns
    /// whether a lock was lifted; without one, nothing happens.
    ///
    /// # Errors
    /// [`BankError::TimeWentBackwards`]; [`BankError::OutputsPending`].
    pub fn staff_clear_remote_open_lock(
        &mut self,
        staff: StaffId,
        now: Instant,
    ) -> Result<bool, BankError> {
        self.begin(now)?;
        self.latest = now;
        if self.remote.locked_at.is_none() {
            return Ok(false);
        }
        self.remote.locked_at = None;
        self.remote.opens.clear();
        self.record(
            now,
            Actor::Staff,
            None,
            AuditEvent::RemoteOpenLockCleared { staff },
            None,
        );
        Ok(true)
    }

    /// A member of staff at the bank opens every door not already in a door
    /// session (out-of-service ones included), each audited with `staff`: the
    /// only way to open all doors at once. Stored parcels are handed to
    /// staff, reserved compartments opened for deposit, empty ones for
    /// inspection.
    ///
    /// A big bank does not fit in the command queue at once: each call opens
    /// as many doors as the output queues have room for and says how many
    /// remain; drain [`Bank::poll`] and call again until none remain. Doors already opening are skipped,
    /// so calling again never opens a door twice.
    ///
    /// # Errors
    /// [`BankError::ShuttingDown`] on a critical battery;
    /// [`BankError::OutputsPending`] when not a single door fits;
    /// [`BankError::TimeWentBackwards`].
    pub fn staff_open_all(&mut self, staff: StaffId, now: Instant) -> Result<OpenAll, BankError> {
        self.begin(now)?;
        if self.power.critical() {
            return Err(BankError::ShuttingDown);
        }
        let closed = |s: &&Slot| !matches!(s.stage, Stage::Door { .. });
        let wanted = self.slots.iter().filter(closed).count();
        // The queues are empty (`begin`): two records per door and one for
        // the whole call.
        let fit = COMMAND_QUEUE.min(AUDIT_QUEUE.saturating_sub(1) / 2);
        self.latest = now;
        let mut opened = 0usize;
        for i in self.layout.indices() {
            if opened >= fit {
                break;
            }
            let Some(s) = self.slots.get(i.get()).copied() else {
                break;
            };
            let Some(purpose) = override_purpose(s.stage) else {
                continue;
            };
            self.record(
                now,
                Actor::Staff,
                Some(i),
                AuditEvent::StaffOpened { staff },
                None,
            );
            self.open_session(i, s, purpose, Actor::Staff, now);
            opened += 1;
        }
        let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        let result = OpenAll {
            opened: count(opened),
            remaining: count(wanted - opened),
        };
        self.record(
            now,
            Actor::Staff,
            None,
            AuditEvent::StaffOpenAll {
                staff,
                opened: result.opened,
                remaining: result.remaining,
            },
            None,
        );
        Ok(result)
    }
}

/// Why an override opens a compartment in `stage`; `None` during a door session.
pub(super) fn override_purpose(stage: Stage) -> Option<Purpose> {
    match stage {
        Stage::Free => Some(Purpose::Inspection),
        Stage::Reserved => Some(Purpose::Deposit),
        Stage::Stored => Some(Purpose::Pickup),
        Stage::Expired => Some(Purpose::Removal),
        Stage::Door { .. } => None,
    }
}
