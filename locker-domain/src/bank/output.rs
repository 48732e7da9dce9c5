//! The bank's outputs: what an input emits (audit records, notifications,
//! alerts, unlock commands, camera snapshot requests, persist requests), the
//! bounded queues it goes into, and [`Bank::poll`], the one stream that
//! hands them out.
//!
//! Every input starts with the queues empty (see "One output stream" in the
//! [module documentation](super)), and the queues hold the most one input
//! emits, so emitting never fails for want of space.

use chrono::NaiveDateTime;
use locker_proto::time::Instant;
use locker_proto::{Command, CompartmentId, HealthIssue, NodeAddr};

use super::Bank;
use super::alert::{
    Alert, AlertKind, Evidence, SnapshotCause, SnapshotOutcome, SnapshotRef, SnapshotRequest,
};
use super::audit::{Actor, AuditEvent, AuditRecord, ServiceReason};
use super::chain::AuditLink;
use super::error::BankError;
use super::health::HealthAlert;
use super::layout::LayoutIndex;
use super::notification::{Notification, NotificationKind};
use super::parcel::ParcelId;
use super::power::PersistReason;

/// Bus commands one input may leave for [`Bank::poll`].
pub const COMMAND_QUEUE: usize = 64;
/// Notifications one input may leave for [`Bank::poll`].
pub const NOTIFICATION_QUEUE: usize = 64;
/// Alerts one input may leave for [`Bank::poll`].
pub const ALERT_QUEUE: usize = 64;
/// Audit records one input may leave for [`Bank::poll`].
pub const AUDIT_QUEUE: usize = 128;
/// Camera snapshot requests one input may leave for [`Bank::poll`].
pub const SNAPSHOT_QUEUE: usize = 8;

/// Room an input needs in each output queue.
#[derive(Clone, Copy)]
pub(super) struct Room {
    pub(super) commands: usize,
    pub(super) notifications: usize,
    pub(super) alerts: usize,
    pub(super) audit: usize,
    pub(super) snapshots: usize,
}

/// The most a single-compartment input emits.
pub(super) const ROOM_ONE: Room = Room {
    commands: 2,
    notifications: 2,
    alerts: 2,
    audit: 5,
    snapshots: 1,
};
/// The most a bulk status of one node (up to 32 channels) emits: a status
/// request for each compartment whose door session it ends (a verified
/// parcel's weight, or the reading after a session that changed nothing).
pub(super) const ROOM_SCAN: Room = Room {
    commands: 32,
    notifications: 32,
    alerts: 32,
    audit: 96,
    snapshots: 0,
};

/// Every input but [`Bank::handle_timeout`] and [`Bank::staff_open_all`]
/// starts with the queues empty (it is refused otherwise), and the queues
/// hold what the biggest of them emits.
const _: () = assert!(fits(ROOM_ONE) && fits(ROOM_SCAN));

const fn fits(room: Room) -> bool {
    room.commands <= COMMAND_QUEUE
        && room.notifications <= NOTIFICATION_QUEUE
        && room.alerts <= ALERT_QUEUE
        && room.audit <= AUDIT_QUEUE
        && room.snapshots <= SNAPSHOT_QUEUE
}

/// One thing the bank asks of its caller, from [`Bank::poll`].
///
/// They come in this order: the persist request first (the books on disk
/// before anything that speaks of them leaves), then audit records (in
/// sequence), alerts, notifications, camera snapshot requests, and last the
/// bus commands (queued commands, then status requests of whole nodes, then the periodic readings of single compartments).
#[derive(Clone, Copy, Debug)]
#[must_use]
#[allow(clippy::large_enum_variant)] // Handed out one at a time, never stored in bulk.
pub enum BankOutput {
    /// Persist a [`Bank::snapshot`] now. Requests are coalesced: one covers
    /// every change since the last one.
    Persist(PersistReason),
    /// The next audit record, in sequence order: the chain of custody.
    Audit(AuditRecord),
    /// An alert for staff or security.
    Alert(Alert),
    /// A message for a courier, recipient or staff.
    Notification(Notification),
    /// Take a camera snapshot of a compartment and file it under its
    /// reference.
    CameraSnapshot(SnapshotRequest),
    /// A bus command for `node`: an unlock, or a request for the node's full
    /// status (after a start, a node restart or a node coming back).
    Command {
        /// The node.
        node: NodeAddr,
        /// The command.
        command: Command,
    },
}

impl Bank<'_> {
    /// The next output, or `None` once every output of the last input has
    /// been handed out. Drain it after every input: the next input is
    /// refused with [`BankError::OutputsPending`]
    /// until it returns `None`.
    #[must_use]
    pub fn poll(&mut self) -> Option<BankOutput> {
        if let Some(reason) = self.persist.take() {
            return Some(BankOutput::Persist(reason));
        }
        if let Some(record) = self.audit.pop_front() {
            return Some(BankOutput::Audit(record));
        }
        if let Some(alert) = self.alerts.pop_front() {
            return Some(BankOutput::Alert(alert));
        }
        if let Some(n) = self.notifications.pop_front() {
            return Some(BankOutput::Notification(n));
        }
        if let Some(request) = self.snapshots.pop_front() {
            return Some(BankOutput::CameraSnapshot(request));
        }
        if let Some((node, command)) = self.commands.pop_front() {
            return Some(BankOutput::Command { node, command });
        }
        if let Some(config) = self.policy.node_configuration() {
            if let Some(node) = self.config_wanted.pop_first() {
                return Some(BankOutput::Command {
                    node,
                    command: Command::Configure(config),
                });
            }
        }
        if let Some(node) = self.status_wanted.pop_first() {
            return Some(BankOutput::Command {
                node,
                command: Command::GetAllStatus,
            });
        }
        loop {
            while let Some(node) = self.readings_wanted.pop_first() {
                if let Some(command) = self.reading_request(node) {
                    return Some(BankOutput::Command { node, command });
                }
            }
            if !self.next_reading_pass() {
                break;
            }
        }
        if let Some((node, command)) = self.next_cold_reading() {
            return Some(BankOutput::Command { node, command });
        }
        if let Some((node, command)) = self.next_drift_reading() {
            return Some(BankOutput::Command { node, command });
        }
        None
    }

    /// Whether [`Bank::poll`] has something to hand out.
    pub fn has_outputs(&self) -> bool {
        self.persist.is_some()
            || !self.audit.is_empty()
            || !self.alerts.is_empty()
            || !self.notifications.is_empty()
            || !self.snapshots.is_empty()
            || !self.commands.is_empty()
            || !self.status_wanted.is_empty()
            // Only ever filled while the policy has a node configuration
            // (`configure_again`, `set_policy` empties it when it goes).
            || !self.config_wanted.is_empty()
            || !self.readings_wanted.is_empty()
            || self.reading_passes_left > 0
            || self.cold_cursor.is_some()
            || self.drift_cursor.is_some()
    }

    /// The next deadline: call [`Bank::handle_timeout`] when it has passed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.peek().map(|(at, _)| at),
            self.keypads.poll_timeout(),
            self.next_lost_node_due(),
            self.next_scan_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether every queue has `room` left.
    pub(super) fn has_room(&self, room: Room) -> bool {
        let free = |len: usize, cap: usize| cap.saturating_sub(len);
        free(self.commands.len(), COMMAND_QUEUE) >= room.commands
            && free(self.notifications.len(), NOTIFICATION_QUEUE) >= room.notifications
            && free(self.alerts.len(), ALERT_QUEUE) >= room.alerts
            && free(self.audit.len(), AUDIT_QUEUE) >= room.audit
            && free(self.snapshots.len(), SNAPSHOT_QUEUE) >= room.snapshots
    }

    /// UTC at `now`, once a wall clock was set.
    pub(super) fn wall_at(&self, now: Instant) -> Option<NaiveDateTime> {
        let (wall, at) = self.wall?;
        let ms = i64::try_from((now - at).as_millis()).ok()?;
        wall.checked_add_signed(chrono::TimeDelta::try_milliseconds(ms)?)
    }

    /// The bank's local time at `now` (UTC in the policy's
    /// [`time_zone`](super::Policy::time_zone)), once a wall clock was set:
    /// the clock of quiet hours and of the analytics' hours and weekdays.
    pub(super) fn local_at(&self, now: Instant) -> Option<NaiveDateTime> {
        let utc = self.wall_at(now)?;
        let offset = self
            .policy
            .time_zone
            .offset_minutes_at(utc.and_utc().timestamp());
        utc.checked_add_signed(chrono::TimeDelta::try_minutes(i64::from(offset))?)
    }

    /// The parcel the books hold in compartment `i`, which outputs about it name.
    fn parcel_in(&self, i: LayoutIndex) -> Option<ParcelId> {
        self.slots.get(i.get()).and_then(|s| s.parcel).map(|p| p.id)
    }

    /// Queues an audit record (naming the parcel the books hold in `slot`)
    /// and asks for a persist.
    pub(super) fn record(
        &mut self,
        now: Instant,
        actor: Actor,
        slot: Option<LayoutIndex>,
        event: AuditEvent,
        snapshot: Option<SnapshotRef>,
    ) {
        let mut record = AuditRecord {
            seq: self.next_seq,
            at: now,
            wall: self.wall_at(now),
            actor,
            compartment: slot.map(|i| self.id_of(i)),
            parcel: slot.and_then(|i| self.parcel_in(i)),
            event,
            snapshot,
            link: AuditLink::GENESIS,
        };
        record.link = self.last_link.then(&record);
        // Room was checked before the call changed anything; the sequence
        // number and the chain advance only with a record actually queued,
        // so both stay gap-free.
        if self.audit.push_back(record).is_ok() {
            self.next_seq += 1;
            self.last_link = record.link;
        }
        if self.persist.is_none() {
            self.persist = Some(PersistReason::StateChanged);
        }
    }

    /// Queues a notification about compartment `i` and its parcel.
    pub(super) fn notify(
        &mut self,
        now: Instant,
        to: Actor,
        i: LayoutIndex,
        kind: NotificationKind,
    ) {
        let n = Notification {
            to,
            compartment: self.id_of(i),
            parcel: self.parcel_in(i),
            kind,
            at: now,
        };
        let _ = self.notifications.push_back(n);
    }

    /// Queues an alert (naming the parcel the books hold in `slot`) and counts it.
    pub(super) fn raise(
        &mut self,
        now: Instant,
        kind: AlertKind,
        slot: Option<LayoutIndex>,
        evidence: Evidence,
        snapshot: Option<SnapshotRef>,
    ) {
        let alert = Alert {
            kind,
            compartment: slot.map(|i| self.id_of(i)),
            parcel: slot.and_then(|i| self.parcel_in(i)),
            evidence,
            snapshot,
            at: now,
        };
        if self.alerts.push_back(alert).is_ok() {
            self.stats.count_alert(kind);
        }
    }

    /// Queues the unlock of compartment `i`.
    pub(super) fn unlock(&mut self, i: LayoutIndex) {
        if let Some(c) = self.layout.get(i) {
            let cmd = Command::Unlock {
                channel: c.channel,
                pulse_ms: self.policy.unlock_pulse_ms,
            };
            let _ = self.commands.push_back((c.node, cmd));
        }
    }

    /// Queues a camera snapshot of compartment `i`, for `cause`; its
    /// reference, for the alert and the audit record.
    pub(super) fn request_snapshot(
        &mut self,
        i: LayoutIndex,
        cause: SnapshotCause,
        now: Instant,
    ) -> Option<SnapshotRef> {
        let c = self.layout.get(i)?;
        let reference = SnapshotRef(self.next_snapshot);
        let req = SnapshotRequest {
            reference,
            cause,
            compartment: c.id,
            node: c.node,
            channel: c.channel,
            at: now,
        };
        self.snapshots.push_back(req).ok()?;
        self.next_snapshot = self.next_snapshot.wrapping_add(1);
        Some(reference)
    }

    /// What became of the snapshot `request` ([`BankOutput::CameraSnapshot`])
    /// asked for: an audit record under the request's reference,
    /// [`AuditEvent::SnapshotTaken`] or [`AuditEvent::SnapshotFailed`], so
    /// the chain of custody says whether the picture an alert or a handoff
    /// names exists. One reference throughout: the bank's, which the camera
    /// driver files the picture under (`locker_drivers::Camera::capture`).
    ///
    /// ```
    /// use locker_domain::bank::{AuditEvent, Bank, BankId, BankKeys, BankOutput, SnapshotOutcome};
    /// # use locker_domain::bank::{Books, Compartment, Policy};
    /// # use locker_proto::{Channel, CompartmentId, Dimensions, Event, NodeAddr, SizeClass};
    /// # use locker_proto::time::Instant;
    /// # let c = Compartment::new(CompartmentId(1), NodeAddr(1), Channel(0), SizeClass::Small,
    /// #     Dimensions::new(420, 80, 600));
    /// # let mut books = Books::<8>::new();
    /// # let keys = BankKeys::derive(BankId(3), &[0x3d; 32]);
    /// let mut bank = Bank::new(&mut books, &[c], Policy::default(), keys)?;
    /// # while bank.poll().is_some() {}
    /// let now = Instant::from_secs(1);
    /// // Someone forces door 1: the bank asks for a snapshot; the alert and
    /// // the audit record carry its reference.
    /// let forced = Event::DoorOpened { channel: Channel(0), commanded: false };
    /// bank.handle_node_event(NodeAddr(1), &forced, now)?;
    /// let mut request = None;
    /// while let Some(output) = bank.poll() {
    ///     if let BankOutput::CameraSnapshot(r) = output {
    ///         request = Some(r);
    ///     }
    /// }
    /// let request = request.expect("a snapshot of the forced door");
    /// // The camera's trigger line is broken: the audit trail says so.
    /// bank.handle_snapshot_result(&request, SnapshotOutcome::Failed, now)?;
    /// let record = std::iter::from_fn(|| bank.poll())
    ///     .find_map(|o| match o {
    ///         BankOutput::Audit(record) => Some(record),
    ///         _ => None,
    ///     })
    ///     .expect("an audit record");
    /// assert_eq!(record.event, AuditEvent::SnapshotFailed);
    /// assert_eq!(record.snapshot, Some(request.reference));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BankError::UnknownSnapshot`] for a reference the bank never gave
    /// out, or a compartment not in the layout; [`BankError::TimeWentBackwards`];
    /// [`BankError::OutputsPending`]. Nothing is recorded then.
    pub fn handle_snapshot_result(
        &mut self,
        request: &SnapshotRequest,
        outcome: SnapshotOutcome,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let slot = self.snapshot_slot(request)?;
        self.latest = now;
        let event = match outcome {
            SnapshotOutcome::Taken => AuditEvent::SnapshotTaken,
            SnapshotOutcome::Failed => AuditEvent::SnapshotFailed,
        };
        self.record(
            now,
            Actor::System,
            Some(slot),
            event,
            Some(request.reference),
        );
        Ok(())
    }

    /// The backend asks for a camera snapshot of `compartment`
    /// (`trigger_snapshot`): the bank gives it a reference, audits
    /// [`AuditEvent::SnapshotRequested`] under it (actor
    /// [`Actor::Backend`]) and hands out the request
    /// ([`BankOutput::CameraSnapshot`], [`SnapshotCause::Backend`]), whose
    /// outcome is reported as every other one's
    /// ([`Bank::handle_snapshot_result`]). One reference and one record
    /// for every picture, whoever asked.
    ///
    /// # Errors
    /// [`BankError::UnknownCompartment`]; [`BankError::TimeWentBackwards`];
    /// [`BankError::OutputsPending`]. Nothing is recorded then.
    pub fn snapshot_for_backend(
        &mut self,
        compartment: CompartmentId,
        now: Instant,
    ) -> Result<SnapshotRef, BankError> {
        self.begin(now)?;
        let i = self
            .layout
            .slot_of(compartment)
            .ok_or(BankError::UnknownCompartment(compartment))?;
        // The queue is empty (`begin`): there is room for the request.
        let reference = self
            .request_snapshot(i, SnapshotCause::Backend, now)
            .ok_or(BankError::OutputsPending)?;
        self.latest = now;
        let event = AuditEvent::SnapshotRequested;
        self.record(now, Actor::Backend, Some(i), event, Some(reference));
        Ok(reference)
    }

    /// The compartment of a snapshot `request` the bank gave out:
    /// [`BankError::UnknownSnapshot`] for a reference it never gave out or
    /// a compartment not in the layout.
    pub(crate) fn snapshot_slot(
        &self,
        request: &SnapshotRequest,
    ) -> Result<LayoutIndex, BankError> {
        let given_out = request.reference.0 < self.next_snapshot;
        self.layout
            .slot_of(request.compartment)
            .filter(|_| given_out)
            .ok_or(BankError::UnknownSnapshot(request.reference))
    }

    /// Raises the maintenance alert for a sensor-health finding, if any.
    /// Returns whether one was raised.
    pub(super) fn raise_health(
        &mut self,
        now: Instant,
        i: LayoutIndex,
        found: Option<HealthAlert>,
    ) -> bool {
        let Some(h) = found else { return false };
        self.raise(
            now,
            AlertKind::Maintenance,
            Some(i),
            Evidence::Health(h.issue),
            None,
        );
        true
    }

    /// A sensor-health finding from a routine observation: alert and audit.
    pub(super) fn maintenance(&mut self, now: Instant, i: LayoutIndex, found: Option<HealthAlert>) {
        if let Some(h) = found {
            self.maintenance_needed(now, i, h.issue);
        }
    }

    /// Staff are needed at compartment `i` for `issue`: the maintenance
    /// alert with it as evidence, and its audit record.
    pub(super) fn maintenance_needed(&mut self, now: Instant, i: LayoutIndex, issue: HealthIssue) {
        self.raise(
            now,
            AlertKind::Maintenance,
            Some(i),
            Evidence::Health(issue),
            None,
        );
        self.record(
            now,
            Actor::System,
            Some(i),
            AuditEvent::MaintenanceNeeded,
            None,
        );
    }

    /// Audits compartment `i` going out of service.
    pub(super) fn record_out_of_service(
        &mut self,
        now: Instant,
        by: Actor,
        i: LayoutIndex,
        reason: ServiceReason,
    ) {
        let event = AuditEvent::OutOfService { reason };
        self.record(now, by, Some(i), event, None);
    }
}
