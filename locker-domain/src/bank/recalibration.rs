//! The bank's own first answer to a drifting load cell: a remote
//! recalibration, before anyone is sent to the bank.
//!
//! When sensor health finds drift ([`HealthIssue::PresenceDrift`]) on a
//! compartment the books say is free, behind a door the books say is shut,
//! the bank watches the compartment's next periodic readings. Once a later
//! reading agrees with the one before it (within a quarter of the drift
//! band, at least [`DRIFT_STEADY_WITHIN`](super::DRIFT_STEADY_WITHIN): a
//! zero that shifted and stopped, after a knock or a temperature step), it
//! sends the node the signed [`Command::Calibrate`] that staff send with
//! [`Bank::recalibrate`] (one code path), at most once per compartment per
//! [`Policy::drift_recalibration_every`](super::Policy::drift_recalibration_every).
//! A zero still moving is not re-tared: the new zero would be wrong by the
//! time it was taken, and the cell is likely failing.
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
//! - drift that keeps moving for
//!   [`DRIFT_READINGS_TO_SETTLE`](super::DRIFT_READINGS_TO_SETTLE) readings,
//!   and drift that comes back within the period (a cell that keeps
//!   drifting needs replacing: a re-tare would only hide it for a while);
//! - a calibrate the node refuses, never answers, or that cannot be sent;
//! - a compartment that was reserved, or had its door opened, between the
//!   finding and the node's answer. The stage is checked at each reading
//!   under watch; the bank hands the calibrate out in the same round of
//!   outputs as the reading that sends it (no input is taken while outputs
//!   wait: [`BankError::OutputsPending`](super::BankError::OutputsPending)),
//!   so the books cannot change before it leaves the bank; they can while
//!   the gateway's queue or the bus holds it, so the stage is checked again
//!   when the answer comes, and a re-tare that may have met a parcel on
//!   its way in is never taken as a fix.
//! - drift found while [`AUTO_RECALIBRATIONS`](super::AUTO_RECALIBRATIONS)
//!   recalibrations are kept in mind.
//!
//! A watched drift that crosses the occupied threshold is no longer
//! watched: the sensor then disagrees with the books, which is the
//! discrepancy alert's business ([`AlertKind::UnexpectedItem`], out of
//! service). Staff putting the compartment back in service, or having its
//! sensor recalibrated, forget whatever the bank watched or did about its
//! drift: the period starts over.
//!
//! The recalibrations kept in mind are run time only: after a restart, a
//! compartment may be recalibrated automatically once more within the
//! period (the snapshot format is unchanged). A drift alert is then at
//! most a day late, never lost.

use locker_proto::time::Instant;
use locker_proto::{Command, DoorState, HealthIssue, Presence};

use super::audit::{Actor, AuditEvent};
use super::health::HealthAlert;
use super::layout::{Compartment, LayoutIndex};
use super::parcel::Stage;
use super::{Bank, CommandOutcome};

/// Readings of a compartment under watch that may move on, one after the
/// other, before its drift counts as a cell that keeps drifting (with the
/// periodic scans' one reading per node each quarter-hour, a few hours).
pub const DRIFT_READINGS_TO_SETTLE: u8 = 3;

/// Two readings within a quarter of
/// [`HealthPolicy::drift_band`](super::health::HealthPolicy::drift_band)
/// of each other, and at least this many units, agree: the drift has
/// stopped moving (1 unit in the default band of 4; a cell reporting raw
/// counts, with a band of thousands, is allowed its noise).
pub const DRIFT_STEADY_WITHIN: i32 = 1;

/// Where an automatic recalibration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Drift was found: the bank waits for a later reading that agrees
    /// with the last one, `moved` readings so far that did not.
    Watching { reading: i32, moved: u8 },
    /// The calibrate is on its way; the node has not answered yet.
    Sent,
    /// Over (taken, or alerted): no other one within the period.
    Done,
}

/// One automatic recalibration: of which compartment, since when (the
/// finding, then the calibrate, then its end), the drift it answers, and
/// where it stands.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AutoRecalibration {
    slot: LayoutIndex,
    at: Instant,
    drift: HealthIssue,
    phase: Phase,
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

    /// Compartment `i` holds no parcel and none is on its way, behind a shut
    /// door: the only state in which the bank re-tares a sensor itself.
    fn free_and_shut(&self, i: LayoutIndex) -> bool {
        self.slots
            .get(i.get())
            .is_some_and(|s| s.stage == Stage::Free && s.door == DoorState::Closed)
    }

    /// Sensor health found `found` on compartment `i`: drift the bank can
    /// answer by itself is taken under watch (`None` comes back: no alert
    /// yet); anything else comes back, to be alerted as before.
    pub(super) fn drift_found(
        &mut self,
        i: LayoutIndex,
        found: Option<HealthAlert>,
        now: Instant,
    ) -> Option<HealthAlert> {
        let h = found?;
        let HealthIssue::PresenceDrift { reading, .. } = h.issue else {
            return Some(h);
        };
        let every = self.policy.drift_recalibration_every;
        if every == locker_proto::time::Duration::ZERO {
            return Some(h);
        }
        if !self.free_and_shut(i) {
            return Some(h);
        }
        // Forget the ones over whose period is over.
        self.recalibrations
            .retain(|r| r.phase != Phase::Done || now.saturating_since(r.at) < every);
        if self.recalibrations.iter().any(|r| r.slot == i) || self.recalibrations.is_full() {
            // Back within the period, or one still under way: a visit.
            return Some(h);
        }
        let _ = self.recalibrations.push(AutoRecalibration {
            slot: i,
            at: now,
            drift: h.issue,
            phase: Phase::Watching { reading, moved: 0 },
        });
        None
    }

    /// An idle reading of compartment `i` (a periodic one): for drift under
    /// watch, the re-tare goes out once a later reading agrees with the
    /// last one (a zero that shifted and stopped); a drift that went back
    /// within half the band needs nothing; one that keeps moving for
    /// [`DRIFT_READINGS_TO_SETTLE`] readings, or a compartment no longer
    /// free and shut, is the maintenance alert.
    pub(super) fn drift_reading(&mut self, i: LayoutIndex, presence: Presence, now: Instant) {
        let reading = presence.reading;
        let Some((k, at, last, moved)) =
            self.recalibrations
                .iter()
                .enumerate()
                .find_map(|(k, r)| match r.phase {
                    Phase::Watching { reading, moved } if r.slot == i => {
                        Some((k, r.at, reading, moved))
                    }
                    _ => None,
                })
        else {
            return;
        };
        if now <= at {
            // The finding's own reading.
            return;
        }
        if !self.free_and_shut(i) {
            self.recalibration_failed(k, now);
            return;
        }
        if presence.occupied {
            // Drifted past the threshold: the sensor disagrees with the
            // books, which is the discrepancy alert's business (staff come).
            self.recalibrations.swap_remove(k);
            return;
        }
        if reading.abs() <= self.policy.health.drift_band / 2 {
            // Back by itself: nothing to answer.
            self.recalibrations.swap_remove(k);
            return;
        }
        let steady = (self.policy.health.drift_band / 4).max(DRIFT_STEADY_WITHIN);
        if (reading - last).abs() > steady {
            if moved + 1 >= DRIFT_READINGS_TO_SETTLE {
                // A cell that keeps drifting: a re-tare would only hide it.
                self.recalibration_failed(k, now);
            } else if let Some(r) = self.recalibrations.get_mut(k) {
                r.phase = Phase::Watching {
                    reading,
                    moved: moved + 1,
                };
            }
            return;
        }
        let sent = self
            .layout
            .get(i)
            .copied()
            .is_some_and(|c| self.send_calibrate(c));
        if !sent {
            self.recalibration_failed(k, now);
            return;
        }
        if let Some(r) = self.recalibrations.get_mut(k) {
            r.phase = Phase::Sent;
            r.at = now;
        }
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
        if outcome != CommandOutcome::Acked || !self.free_and_shut(i) {
            // Refused, unanswered, never sent; or taken while a parcel may
            // have been on its way in: staff must look.
            self.recalibration_failed(k, now);
            return;
        }
        let Some(r) = self.recalibrations.get_mut(k) else {
            return;
        };
        r.phase = Phase::Done;
        r.at = now;
        let drift = r.drift;
        // The health history belonged to the old baseline.
        let _ = self.health.clear(i.get());
        let event = AuditEvent::SensorRecalibratedAutomatically { drift };
        self.record(now, Actor::System, Some(i), event, None);
    }

    /// The automatic recalibration at `k` did not take: it is over (no
    /// other one within the period) and its drift is the maintenance alert.
    fn recalibration_failed(&mut self, k: usize, now: Instant) {
        let Some(r) = self.recalibrations.get_mut(k) else {
            return;
        };
        r.phase = Phase::Done;
        r.at = now;
        let (i, drift) = (r.slot, r.drift);
        self.maintenance_needed(now, i, drift);
    }

    /// Staff dealt with compartment `i` (put it back in service, or had
    /// its sensor recalibrated): what the bank watched or did about its
    /// drift is forgotten, the period starts over.
    pub(super) fn forget_recalibration(&mut self, i: LayoutIndex) {
        self.recalibrations.retain(|r| r.slot != i);
    }

    /// A person had compartment `i`'s hardware serviced or its sensor
    /// re-tared: its sensor-health history and what the bank watched or
    /// did about its drift are forgotten.
    pub(super) fn forget_hardware_history(&mut self, i: LayoutIndex) {
        let _ = self.health.clear(i.get());
        self.forget_recalibration(i);
    }

    /// The automatic recalibration of compartment `i` still waiting for
    /// the node's answer, by position.
    fn pending_recalibration(&self, i: LayoutIndex) -> Option<usize> {
        self.recalibrations
            .iter()
            .position(|r| r.slot == i && r.phase == Phase::Sent)
    }
}
