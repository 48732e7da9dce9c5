//! The bank's own first answer to a drifting load cell: a remote
//! recalibration, before anyone is sent to the bank.
//!
//! When sensor health finds drift ([`HealthIssue::PresenceDrift`]) on a
//! compartment the books say is free, behind a door the books say is shut,
//! the bank sends the node the signed [`Command::Calibrate`] that staff send
//! with [`Bank::recalibrate`] (one code path), at most once per compartment
//! per [`Policy::drift_recalibration_every`](super::Policy::drift_recalibration_every).
//!
//! What the gateway engineer on call sees: nothing at 3 a.m. when it works.
//! A re-tare that the node acknowledged on a still free compartment is an
//! audit record, [`AuditEvent::SensorRecalibratedAutomatically`] (actor
//! [`Actor::System`]), with the drift it answered; no alert, because nobody
//! has anything to do. Everything else is the maintenance alert with the
//! drift as evidence ([`AlertKind::Maintenance`], audited
//! [`AuditEvent::MaintenanceNeeded`]), as it was before this answer existed:
//!
//! - drift on a compartment that holds a parcel, has its door open or a
//!   door session under way (a baseline taken then would hide the parcel);
//! - drift that comes back within the period (a cell that keeps drifting
//!   needs replacing: the re-tare only hid it for a few hours);
//! - a calibrate the node refuses, never answers, or that cannot be sent;
//! - a compartment that was reserved, or had its door opened, between the
//!   finding and the node's answer. The bank hands the calibrate out in the
//!   same round of outputs as the finding (no input is taken while outputs
//!   wait: [`BankError::OutputsPending`](super::BankError::OutputsPending)),
//!   so the books cannot change before it leaves the bank; they can while
//!   the gateway's queue or the bus holds it, so the stage is checked again
//!   when the answer comes, and a re-tare that may have met a parcel on
//!   its way in is never taken as a fix.
//! - drift found while [`AUTO_RECALIBRATIONS`](super::AUTO_RECALIBRATIONS)
//!   recalibrations are kept in mind.
//!
//! The recalibrations kept in mind are run time only: after a restart, a
//! compartment may be recalibrated automatically once more within the
//! period (the snapshot format is unchanged). A drift alert is then at
//! most a day late, never lost.

use locker_proto::time::Instant;
use locker_proto::{Command, DoorState, HealthIssue};

use super::audit::{Actor, AuditEvent};
use super::health::HealthAlert;
use super::layout::{Compartment, LayoutIndex};
use super::parcel::Stage;
use super::{AlertKind, Bank, CommandOutcome, Evidence};

/// One automatic recalibration: of which compartment, when it was sent,
/// the drift it answers, and whether the node's answer came.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AutoRecalibration {
    slot: LayoutIndex,
    at: Instant,
    drift: HealthIssue,
    answered: bool,
}

impl Bank<'_> {
    /// Queues the signed calibrate for compartment `c` (at `i`): the one
    /// way both staff and the bank itself have a presence sensor take its
    /// reading as the empty baseline. `false` when the command queue is
    /// full (nothing queued).
    pub(super) fn send_calibrate(&mut self, c: Compartment) -> bool {
        let calibrate = Command::Calibrate { channel: c.channel };
        self.commands.push_back((c.node, calibrate)).is_ok()
    }

    /// Sensor health found `found` on compartment `i`: drift the bank can
    /// answer by itself is answered (a calibrate is queued, `None` comes
    /// back); anything else comes back, to be alerted as before.
    pub(super) fn drift_found(
        &mut self,
        i: LayoutIndex,
        found: Option<HealthAlert>,
        now: Instant,
    ) -> Option<HealthAlert> {
        let h = found?;
        if !matches!(h.issue, HealthIssue::PresenceDrift { .. }) {
            return Some(h);
        }
        let every = self.policy.drift_recalibration_every;
        if every == locker_proto::time::Duration::ZERO {
            return Some(h);
        }
        let Some(s) = self.slots.get(i.get()).copied() else {
            return Some(h);
        };
        if s.stage != Stage::Free || s.door != DoorState::Closed {
            return Some(h);
        }
        // Forget the answered ones whose period is over.
        self.recalibrations
            .retain(|r| !r.answered || now.saturating_since(r.at) < every);
        if self.recalibrations.iter().any(|r| r.slot == i) || self.recalibrations.is_full() {
            // Back within the period, or one still under way: a visit.
            return Some(h);
        }
        let Some(c) = self.layout.get(i).copied() else {
            return Some(h);
        };
        if !self.send_calibrate(c) {
            return Some(h);
        }
        let _ = self.recalibrations.push(AutoRecalibration {
            slot: i,
            at: now,
            drift: h.issue,
            answered: false,
        });
        None
    }

    /// The node's answer to a calibrate it was sent for the bank.
    pub(super) fn calibrate_answered(
        &mut self,
        i: LayoutIndex,
        outcome: CommandOutcome,
        now: Instant,
    ) {
        let Some(k) = self.pending_recalibration(i) else {
            // Staff's: audited when they asked.
            return;
        };
        let free = self
            .slots
            .get(i.get())
            .is_some_and(|s| s.stage == Stage::Free && s.door == DoorState::Closed);
        if outcome != CommandOutcome::Acked || !free {
            // Refused, unanswered, never sent; or taken while a parcel may
            // have been on its way in: staff must look.
            self.recalibration_failed(k, now);
            return;
        }
        let Some(r) = self.recalibrations.get_mut(k) else {
            return;
        };
        r.answered = true;
        let drift = r.drift;
        // The health history belonged to the old baseline.
        let _ = self.health.clear(i.get());
        let event = AuditEvent::SensorRecalibratedAutomatically { drift };
        self.record(now, Actor::System, Some(i), event, None);
    }

    /// The automatic recalibration at `k` did not take: it is answered (no
    /// other one within the period) and its drift is the maintenance alert.
    fn recalibration_failed(&mut self, k: usize, now: Instant) {
        let Some(r) = self.recalibrations.get_mut(k) else {
            return;
        };
        r.answered = true;
        let (i, drift) = (r.slot, r.drift);
        self.raise(
            now,
            AlertKind::Maintenance,
            Some(i),
            Evidence::Health(drift),
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

    /// The automatic recalibration of compartment `i` still waiting for
    /// the node's answer, by position.
    fn pending_recalibration(&self, i: LayoutIndex) -> Option<usize> {
        self.recalibrations
            .iter()
            .position(|r| r.slot == i && !r.answered)
    }
}
