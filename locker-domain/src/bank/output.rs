//! The bank's outputs: the bounded queues, the room each input needs in
//! them, what an input emits into them (audit records, notifications,
//! alerts, unlock commands, camera snapshot requests, persist requests), and
//! the `poll_*` methods that hand them out.
//!
//! Every input checks [`Room`] before it changes anything, so emitting never
//! fails for want of space (see "Output queues never drop" in the
//! [module documentation](super)).

use chrono::NaiveDateTime;
use locker_proto::time::Instant;
use locker_proto::{Command, NodeAddr};

use super::Bank;
use super::alert::{Alert, AlertKind, Evidence, SnapshotRef, SnapshotRequest};
use super::audit::{Actor, AuditEvent, AuditRecord, ServiceReason};
use super::error::{BankError, Queue};
use super::health::HealthAlert;
use super::notification::{Notification, NotificationKind};
use super::parcel::ParcelId;
use super::power::PersistReason;

/// Bus commands waiting for [`Bank::poll_command`].
pub const COMMAND_QUEUE: usize = 64;
/// Notifications waiting for [`Bank::poll_notification`].
pub const NOTIFICATION_QUEUE: usize = 64;
/// Alerts waiting for [`Bank::poll_alert`].
pub const ALERT_QUEUE: usize = 64;
/// Audit records waiting for [`Bank::poll_audit`].
pub const AUDIT_QUEUE: usize = 128;
/// Snapshot requests waiting for [`Bank::poll_snapshot_request`].
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
    audit: 4,
    snapshots: 1,
};
/// The most a bulk status of one node (up to 32 channels) emits.
pub(super) const ROOM_SCAN: Room = Room {
    commands: 0,
    notifications: 32,
    alerts: 32,
    audit: 96,
    snapshots: 0,
};

impl Bank<'_> {
    /// The next bus command to send, with its node. Status requests of whole
    /// nodes (after a restart, a node restart or a node coming back) come
    /// after queued commands.
    pub fn poll_command(&mut self) -> Option<(NodeAddr, Command)> {
        if let Some(c) = self.commands.pop_front() {
            return Some(c);
        }
        self.status_wanted
            .pop_first()
            .map(|node| (node, Command::GetAllStatus))
    }

    /// The next notification for a courier, recipient or staff.
    pub fn poll_notification(&mut self) -> Option<Notification> {
        self.notifications.pop_front()
    }

    /// The next alert for staff or security.
    pub fn poll_alert(&mut self) -> Option<Alert> {
        self.alerts.pop_front()
    }

    /// The next audit record, in sequence order.
    pub fn poll_audit(&mut self) -> Option<AuditRecord> {
        self.audit.pop_front()
    }

    /// The next camera snapshot to take.
    pub fn poll_snapshot_request(&mut self) -> Option<SnapshotRequest> {
        self.snapshots.pop_front()
    }

    /// Whether (and why) to persist a [`Bank::snapshot`] now. Requests are
    /// coalesced: one answer covers every change since the last one.
    pub fn poll_persist(&mut self) -> Option<PersistReason> {
        self.persist.take()
    }

    /// The next deadline: call [`Bank::handle_timeout`] when it has passed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let slot = self.timers.peek().map(|(at, _)| at);
        match (slot, self.keypads.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether every queue has `room` left; if not, which one is full.
    pub(super) fn has_room(&self, room: Room) -> Result<(), BankError> {
        let free = |len: usize, cap: usize| cap.saturating_sub(len);
        if free(self.commands.len(), COMMAND_QUEUE) < room.commands {
            return Err(BankError::OutputFull(Queue::Commands));
        }
        if free(self.notifications.len(), NOTIFICATION_QUEUE) < room.notifications {
            return Err(BankError::OutputFull(Queue::Notifications));
        }
        if free(self.alerts.len(), ALERT_QUEUE) < room.alerts {
            return Err(BankError::OutputFull(Queue::Alerts));
        }
        if free(self.audit.len(), AUDIT_QUEUE) < room.audit {
            return Err(BankError::OutputFull(Queue::Audit));
        }
        if free(self.snapshots.len(), SNAPSHOT_QUEUE) < room.snapshots {
            return Err(BankError::OutputFull(Queue::Snapshots));
        }
        Ok(())
    }

    /// The bank's local time at `now`, once a wall clock was set.
    pub(super) fn wall_at(&self, now: Instant) -> Option<NaiveDateTime> {
        let (wall, at) = self.wall?;
        let ms = i64::try_from((now - at).as_millis()).ok()?;
        wall.checked_add_signed(chrono::TimeDelta::try_milliseconds(ms)?)
    }

    /// The parcel the books hold in compartment `i`, which outputs about it name.
    fn parcel_in(&self, i: usize) -> Option<ParcelId> {
        self.slots.get(i).and_then(|s| s.parcel).map(|p| p.id)
    }

    /// Queues an audit record (naming the parcel the books hold in `slot`)
    /// and asks for a persist.
    pub(super) fn record(
        &mut self,
        now: Instant,
        actor: Actor,
        slot: Option<usize>,
        event: AuditEvent,
        snapshot: Option<SnapshotRef>,
    ) {
        let record = AuditRecord {
            seq: self.next_seq,
            at: now,
            wall: self.wall_at(now),
            actor,
            compartment: slot.map(|i| self.id_of(i)),
            parcel: slot.and_then(|i| self.parcel_in(i)),
            event,
            snapshot,
        };
        // Room was checked before the call changed anything; the sequence
        // number advances only with a record actually queued, so it stays gap-free.
        if self.audit.push_back(record).is_ok() {
            self.next_seq += 1;
        }
        if self.persist.is_none() {
            self.persist = Some(PersistReason::StateChanged);
        }
    }

    /// Queues a notification about compartment `i` and its parcel.
    pub(super) fn notify(&mut self, now: Instant, to: Actor, i: usize, kind: NotificationKind) {
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
        slot: Option<usize>,
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
    pub(super) fn unlock(&mut self, i: usize) {
        if let Some(c) = self.layout.get(i) {
            let cmd = Command::Unlock {
                channel: c.channel,
                pulse_ms: self.policy.unlock_pulse_ms,
            };
            let _ = self.commands.push_back((c.node, cmd));
        }
    }

    /// Queues a camera snapshot of compartment `i`; its reference, for the
    /// alert and the audit record.
    pub(super) fn request_snapshot(&mut self, i: usize, now: Instant) -> Option<SnapshotRef> {
        let c = self.layout.get(i)?;
        let reference = SnapshotRef(self.next_snapshot);
        let req = SnapshotRequest {
            reference,
            compartment: c.id,
            node: c.node,
            channel: c.channel,
            at: now,
        };
        self.snapshots.push_back(req).ok()?;
        self.next_snapshot = self.next_snapshot.wrapping_add(1);
        Some(reference)
    }

    /// Raises the maintenance alert for a sensor-health finding, if any.
    /// Returns whether one was raised.
    pub(super) fn raise_health(
        &mut self,
        now: Instant,
        i: usize,
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
    pub(super) fn maintenance(&mut self, now: Instant, i: usize, found: Option<HealthAlert>) {
        if self.raise_health(now, i, found) {
            self.record(
                now,
                Actor::System,
                Some(i),
                AuditEvent::MaintenanceNeeded,
                None,
            );
        }
    }

    /// Audits compartment `i` going out of service.
    pub(super) fn record_out_of_service(
        &mut self,
        now: Instant,
        by: Actor,
        i: usize,
        reason: ServiceReason,
    ) {
        let event = AuditEvent::OutOfService { reason };
        self.record(now, by, Some(i), event, None);
    }
}
