//! The bank's own first answer to a drifting load cell: remote
//! recalibrations, before anyone is sent to the bank.
//!
//! When sensor health finds drift ([`HealthIssue::PresenceDrift`]) on a
//! compartment the books say is free, behind a door the books say is shut,
//! the bank reads that compartment at every periodic scan from then on
//! (not only in its turn). Once a later reading agrees with the one before
//! it (within a quarter of the drift band, at least
//! [`DRIFT_STEADY_WITHIN`](super::DRIFT_STEADY_WITHIN)), it sends the node
//! the signed [`Command::Calibrate`] that staff send with
//! [`Bank::recalibrate`] (one code path). A zero that moves faster than
//! that between two scans for
//! [`DRIFT_READINGS_TO_SETTLE`](super::DRIFT_READINGS_TO_SETTLE) readings
//! is re-tared at the last of them where it moved less than half a band
//! since the one before (a creep the re-tares can follow: each holds
//! within the band for two scans, and drift found again is answered
//! again); faster, it is not re-tared: the new zero would be wrong by the
//! time it was taken, and the cell is failing.
//!
//! A zero that shifts after a knock or a temperature step may creep on
//! for hours before it settles, further than one band. The bank keeps
//! reading the compartment at every scan after a re-tare, and answers
//! drift found again the same way, for as long as
//! [`Policy::drift_settle_within`](super::Policy::drift_settle_within) (48 h)
//! after the first finding: each re-tare keeps the reading within a band
//! of the truth, so the compartment goes on serving, and no phantom parcel
//! appears when the zero passes the occupied threshold. Drift still found
//! after that time, or a total shift of more than
//! [`DRIFT_SHIFT_BANDS`](super::DRIFT_SHIFT_BANDS) bands, is a cell that
//! does not settle: the maintenance alert, with the total shift since the
//! first finding as its reading. A
//! compartment quiet for that time after its last re-tare is no longer
//! watched.
//!
//! What the gateway engineer on call sees: nothing at 3 a.m. when it works.
//! Each re-tare that the node acknowledged on a still free compartment is
//! an audit record, [`AuditEvent::SensorRecalibratedAutomatically`] (actor
//! [`Actor::System`]), with the drift it answered; no alert, because nobody
//! has anything to do. Everything else is the maintenance alert with the
//! drift as evidence ([`AlertKind::Maintenance`], audited
//! [`AuditEvent::MaintenanceNeeded`]), as it was before this answer existed:
//!
//! - drift on a compartment whose door is open or has a door session under
//!   way (a baseline taken then could hide a parcel);
//! - drift under a parcel that moves on after the time to settle, or so
//!   far that the parcel or the empty compartment after its pickup would be
//!   misread (below);
//! - drift that moves faster than the scans can follow, and drift that
//!   has not settled within the time above (a cell that keeps drifting
//!   needs replacing: re-tares would only hide it);
//! - a calibrate the node refuses (other than as busy or rate-limited); one
//!   it puts off (busy, rate-limited, unanswered, not sent) is sent again
//!   once the next scan's reading agrees with the drift again, and only
//!   [`CALIBRATE_TRIES`](super::CALIBRATE_TRIES) put off in a row are the
//!   alert;
//! - a compartment that was reserved, or had its door opened, between the
//!   calibrate leaving the bank and the node's answer. The stage is
//!   checked at each reading under watch (a compartment reserved or with a
//!   door session under way is waited for, never re-tared over); the bank
//!   hands the calibrate out in the same round of outputs as the reading
//!   that sends it (no input is taken while outputs
//!   wait: [`BankError::OutputsPending`](super::BankError::OutputsPending)),
//!   so the books cannot change before it leaves the bank; they can while
//!   the gateway's queue or the bus holds it, so the stage is checked again
//!   when the answer comes, and a re-tare that may have met a parcel on
//!   its way in is never taken as a fix.
//! - drift found while [`AUTO_RECALIBRATIONS`](super::AUTO_RECALIBRATIONS)
//!   compartments are watched.
//!
//! Drift found under a parcel resting behind a shut door cannot be
//! re-tared there (the baseline would hide the parcel), but needs nobody
//! either: the bank audits it ([`AuditEvent::DriftUnderParcel`]), reads
//! the compartment at every scan and follows the parcel's reading, and
//! once the parcel has left (picked up or removed), answers the drift the
//! empty compartment then shows as above. The readings under the parcel
//! keep the time to settle: one that still moves after it is the
//! maintenance alert, and so is a zero that sank so far that the parcel
//! would no longer read a band above the occupied threshold, or moved
//! further than [`DRIFT_SHIFT_BANDS`](super::DRIFT_SHIFT_BANDS) bands. A
//! zero that rose past half the threshold, even past the threshold itself,
//! keeps the node saying occupied after the pickup (it lets an occupied
//! compartment go only there): the bank asks for the reading as the
//! pickup's door closes, judges it against the zero it followed with the
//! node's own rule, so the pickup is verified, and re-tares the empty
//! compartment at once (judged empty against that zero, what a re-tare
//! could hide weighs less than half the threshold, which the node would
//! call empty anyway). An empty compartment the node calls empty is
//! re-tared at once too where it reads within a band of the zero followed
//! (the readings' noise, and creep hidden in the parcel's first reading,
//! keep the two from agreeing closer); further off, it is watched as on
//! the way. A new parcel deposited before the bank read the empty
//! compartment is followed in its place, the shift seen so far kept.
//!
//! A zero may also rise past the level at which the node lets a parcel go
//! with nobody seeing it: between two readings under the parcel, or
//! between the last one and the pickup. As a pickup's or removal's door
//! opens, the bank keeps what sensor health knew of the parcel's weight
//! (its first reading behind the shut door, and the zero it sat on); if
//! the node still says occupied as the door closes, the bank asks for the
//! reading, and one below the threshold and under half the parcel's weight
//! is that zero, not the parcel: noted ([`AuditEvent::DriftUnderParcel`]),
//! re-tared at once, and the pickup verified. A light parcel left inside on
//! a sunk zero still weighs more than half of itself: left inside, as the
//! node says. A door session's verdict that waits for a reading the bank
//! asked for waits up to [`READING_WAIT`] for it, and a request that went
//! unanswered is sent again.
//!
//! While a zero is watched, followed under a parcel or being re-tared,
//! the bank judges the compartment's readings, a node's report of a flip
//! as much as a status, against that zero with the node's own rule
//! ([`Bank::seen_occupied`]): a zero that drifts past the node's occupied
//! threshold is not taken for an item, and a parcel taken out over a risen
//! zero is seen gone. What weighs the threshold over the zero, or a parcel
//! no longer seen, ends the watch: the sensor then disagrees with the
//! books, which is the discrepancy alert's business
//! ([`AlertKind::UnexpectedItem`], out of service;
//! [`AlertKind::ParcelMissing`] under a parcel). Staff putting
//! the compartment back in service, or having its sensor recalibrated,
//! forget whatever the bank watched or did about its drift: the time
//! starts over.
//!
//! A watched compartment still takes parcels. One reserved while its
//! drift waits for a steady reading is not re-tared; the parcel deposited
//! there sits on the zero watched, and from its first reading (asked for
//! as the deposit is verified) that zero is followed under it as above.
//! A parcel deposited after a re-tare, while the bank still follows the
//! compartment, is read at every scan too, so a zero that goes on moving
//! under it is found within a scan or two (its own drift check, see
//! [`SensorHealth::observe_parcel_reading`](super::health::SensorHealth::observe_parcel_reading)),
//! rather than at the hourly readings, and followed before the pickup.
//!
//! The watches are run time only: after a restart, a compartment's drift
//! is found afresh at its next reading and its time starts over (the
//! snapshot format is unchanged). A cell that keeps drifting is then
//! alerted up to that time later, never lost.

use locker_proto::time::{Duration, Instant};
use locker_proto::{Command, DoorState, HealthIssue, NackReason, NodeAddr, Presence};

use super::alert::{AlertKind, Evidence};
use super::audit::{Actor, AuditEvent};
use super::health::HealthAlert;
use super::layout::{Compartment, LayoutIndex};
use super::parcel::{DoorPhase, ParcelId, Purpose, Stage};
use super::{Bank, CommandOutcome};
use crate::controller::occupied_after;

/// Readings of a compartment under watch that may move on, one after the
/// other, before the bank stops waiting for a steady one (with a reading at
/// every quarter-hour scan, 45 minutes): the last is re-tared where it
/// moved less than half a drift band since the one before, and is a cell
/// moving faster than the scans can follow otherwise.
pub const DRIFT_READINGS_TO_SETTLE: u8 = 3;

/// Two readings within a quarter of
/// [`HealthPolicy::drift_band`](super::health::HealthPolicy::drift_band)
/// of each other, and at least this many units, agree: the drift is slow
/// enough for a re-tare to hold until the next scan (1 unit in the default
/// band of 4; a cell reporting raw counts, with a band of thousands, is
/// allowed its noise).
pub const DRIFT_STEADY_WITHIN: i32 = 1;

/// How far the bank's re-tares may move a compartment's zero in all, in
/// drift bands, before the cell counts as failing whatever the time: 8
/// (32 units in the default band of 4, three times the default occupied
/// threshold). A zero that shifts after a knock or a temperature step stays
/// within a few bands; a cell that needs more is not settling, and waiting
/// out [`Policy::drift_settle_within`](super::Policy::drift_settle_within)
/// for it would only re-tare it many times over.
pub const DRIFT_SHIFT_BANDS: i32 = 8;

/// Calibrates one re-tare may be sent before the bank gives up and calls
/// staff, when the node answers that it is busy or rate-limited, or does not
/// answer at all ("later", not "no"): 3, each after the next scan's
/// reading agrees with the drift again (so about a quarter of an hour
/// apart). A node that refuses for any other reason is not asked again.
pub const CALIBRATE_TRIES: u8 = 3;

/// How long a door session's verdict waits for the reading the bank asked
/// for as the door closed on a compartment whose moved zero it follows, or
/// whose leaving parcel the node still says is inside (10 s: the bus
/// answers within a second even through retries and a queue; the person
/// at the door has gone or is told within the time any verdict takes).
const READING_WAIT: Duration = Duration::from_secs(10);

/// Whether the node's answer to a calibrate means "later" rather than "no":
/// busy, rate-limited, unanswered, or never sent (the node was lost).
fn put_off(outcome: CommandOutcome) -> bool {
    matches!(
        outcome,
        CommandOutcome::Nacked(NackReason::Busy | NackReason::RateLimited)
            | CommandOutcome::Failed
            | CommandOutcome::NotSent
    )
}

/// Where an automatic recalibration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Drift was found: the bank waits for a later reading that agrees
    /// with the last one, `moved` readings so far that did not.
    Watching { reading: i32, moved: u8 },
    /// The calibrate is on its way; the node has not answered yet.
    Sent,
    /// The drift was answered (re-tared, or back by itself): the
    /// compartment is still read at every scan, and drift found again is
    /// answered again until the time to settle is over.
    Following,
    /// Over: alerted, no other answer until the time is over or staff
    /// dealt with it.
    Done,
    /// Drift was found under parcel `parcel`, behind a shut door: the
    /// compartment is read at every scan, its parcel's reading followed
    /// (`base`: the parcel's own reading, before the zero moved; `last`:
    /// the last one counted), and the drift is answered once the parcel
    /// has left.
    Held {
        base: i32,
        last: i32,
        parcel: ParcelId,
    },
}

/// One compartment's automatic recalibrations: which compartment, since
/// when (the first finding), its last step (a finding, the calibrate, a
/// re-tare, the alert) and last counted reading, the drift it answers, how
/// far the zero was moved in all, and where it stands.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AutoRecalibration {
    slot: LayoutIndex,
    since: Instant,
    at: Instant,
    seen: Instant,
    drift: HealthIssue,
    moved_by: i32,
    phase: Phase,
    /// Calibrates sent for the current re-tare that the node put off
    /// (busy, rate-limited, unanswered).
    put_off: u8,
}

impl AutoRecalibration {
    /// A watch of compartment `slot`'s `drift`, found at `now`, entering
    /// `phase`: nothing re-tared yet, nothing put off.
    fn new(slot: LayoutIndex, drift: HealthIssue, phase: Phase, now: Instant) -> Self {
        AutoRecalibration {
            slot,
            since: now,
            at: now,
            seen: now,
            drift,
            moved_by: 0,
            phase,
            put_off: 0,
        }
    }

    /// Whether the compartment is read at every scan: drift is watched or
    /// followed.
    fn read_every_scan(&self) -> bool {
        matches!(
            self.phase,
            Phase::Watching { .. } | Phase::Following | Phase::Held { .. }
        )
    }
}

/// A parcel on its way out of a compartment (a pickup's or removal's door
/// opened): its first reading behind the shut door and the zero it sat on,
/// as sensor health took them before the door moved.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Leaving {
    slot: LayoutIndex,
    parcel: ParcelId,
    reading: i32,
    zero: i32,
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

    /// Asks the node for compartment `i`'s status (door, lock, reading) at
    /// once; its answer is reconciled as any status is. The bank asks when
    /// a parcel was verified in (so that sensor health takes the parcel's
    /// weight before the cell under it can move: a zero that shifts between
    /// the deposit and the compartment's next turn would otherwise be taken
    /// as part of the parcel), when a door session's door closes on a
    /// compartment whose moved zero it follows (to weigh what left or went
    /// in against that zero), and when a door session's door has been open
    /// for the policy's limit (before it calls the door ajar). With the
    /// command queue full, the compartment's next reading answers.
    pub(super) fn ask_status(&mut self, i: LayoutIndex) {
        if let Some(c) = self.layout.get(i).copied() {
            let read = Command::GetStatus { channel: c.channel };
            let _ = self.commands.push_back((c.node, read));
        }
    }

    /// Compartment `i` holds no parcel and none is on its way, behind a shut
    /// door: the only state in which the bank re-tares a sensor itself.
    fn free_and_shut(&self, i: LayoutIndex) -> bool {
        self.slots
            .get(i.get())
            .is_some_and(|s| s.stage == Stage::Free && s.door == DoorState::Closed)
    }

    /// The parcel compartment `i` holds behind a shut door, with no door
    /// session under way: one whose reading moves only when the cell's
    /// zero does.
    fn parcel_behind_shut_door(&self, i: LayoutIndex) -> Option<ParcelId> {
        let s = self.slots.get(i.get())?;
        let resting = matches!(s.stage, Stage::Stored | Stage::Expired);
        if resting && s.door == DoorState::Closed {
            s.parcel.map(|p| p.id)
        } else {
            None
        }
    }

    /// Compartment `i` cannot have held a parcel since the calibrate left
    /// the bank (free then): it is free, or reserved with its door never
    /// opened, behind a shut door.
    fn empty_since_sent(&self, i: LayoutIndex) -> bool {
        self.slots.get(i.get()).is_some_and(|s| {
            matches!(s.stage, Stage::Free | Stage::Reserved) && s.door == DoorState::Closed
        })
    }

    /// Sensor health found `found` on compartment `i` (its reading
    /// `presence`): drift the bank can answer by itself is taken under
    /// watch (`None` comes back: no alert yet); anything else comes back,
    /// to be alerted as before.
    ///
    /// On a free compartment behind a shut door the watch waits for a
    /// steady reading to re-tare; under a parcel behind a shut door it
    /// follows the parcel's readings and waits for the parcel to leave
    /// (audited [`AuditEvent::DriftUnderParcel`]), unless the zero moved
    /// so far already that the parcel, or the empty compartment after its
    /// pickup, would be misread.
    pub(super) fn drift_found(
        &mut self,
        i: LayoutIndex,
        found: Option<HealthAlert>,
        presence: Presence,
        now: Instant,
    ) -> Option<HealthAlert> {
        let h = found?;
        let HealthIssue::PresenceDrift { reading, .. } = h.issue else {
            return Some(h);
        };
        let within = self.policy.drift_settle_within;
        if within == Duration::ZERO {
            return Some(h);
        }
        let phase = if self.free_and_shut(i) {
            Phase::Watching { reading, moved: 0 }
        } else if let Some(parcel) = self.parcel_behind_shut_door(i) {
            // Under a parcel the drift is how far its reading moved.
            Phase::Held {
                base: presence.reading.saturating_sub(reading),
                last: presence.reading,
                parcel,
            }
        } else {
            return Some(h);
        };
        self.forget_settled_drift(now);
        let Some(k) = self.recalibrations.iter().position(|r| r.slot == i) else {
            if matches!(phase, Phase::Held { .. }) && !self.held_within_limits(0, reading, presence)
            {
                return Some(h);
            }
            let r = AutoRecalibration::new(i, h.issue, phase, now);
            // With every watch taken, a visit.
            if self.recalibrations.push(r).is_err() {
                return Some(h);
            }
            self.drift_held(i, phase, h.issue, now);
            return None;
        };
        let r = self.recalibrations.get(k).copied()?;
        let from_held = match (r.phase, phase) {
            // Alerted already: staff are on their way, said once.
            (Phase::Done, _) => return None,
            // Under way.
            (Phase::Watching { .. } | Phase::Sent, _) => return Some(h),
            // The same parcel's drift is followed already.
            (Phase::Held { parcel: was, .. }, Phase::Held { parcel, .. }) if was == parcel => {
                return None;
            }
            // The parcel left: its drift, now seen on the empty
            // compartment, is answered as on the way (the readings under
            // the parcel kept the time to settle).
            (Phase::Held { .. }, Phase::Watching { .. }) => true,
            (Phase::Held { .. } | Phase::Following, _) => false,
        };
        let band = self.policy.health.drift_band;
        let limit = band.saturating_mul(DRIFT_SHIFT_BANDS);
        let shift = r.moved_by.saturating_add(reading);
        let held_over = matches!(phase, Phase::Held { .. })
            && !self.held_within_limits(r.moved_by, reading, presence);
        let late = !from_held && now.saturating_since(r.since) >= within;
        if late || shift.saturating_abs() > limit || held_over {
            // Still drifting after the time to settle, or further than
            // a settling zero goes: a failing cell.
            if let Some(r) = self.recalibrations.get_mut(k) {
                r.phase = Phase::Done;
                r.at = now;
            }
            return Some(HealthAlert {
                slot: h.slot,
                issue: shifted(h.issue, r.moved_by),
            });
        }
        if let Some(r) = self.recalibrations.get_mut(k) {
            r.phase = phase;
            r.at = now;
            r.seen = now;
            r.drift = h.issue;
        }
        self.drift_held(i, phase, h.issue, now);
        None
    }

    /// A watch entered `phase` for compartment `i`'s drift: one under a
    /// parcel is audited, since nothing else says the bank saw it until
    /// the parcel has left.
    fn drift_held(&mut self, i: LayoutIndex, phase: Phase, drift: HealthIssue, now: Instant) {
        if matches!(phase, Phase::Held { .. }) {
            let event = AuditEvent::DriftUnderParcel { drift };
            self.record(now, Actor::System, Some(i), event, None);
        }
    }

    /// Whether a zero that moved `shift` under a parcel (whose reading is
    /// now `presence`), on top of `moved_by` the bank re-tared before, can
    /// wait for the parcel to leave: in all no further than
    /// [`DRIFT_SHIFT_BANDS`] bands, and the parcel still read at least a
    /// band above the occupied threshold. A zero that rose past half the
    /// threshold (or past the threshold) keeps the node saying occupied
    /// once the parcel has left (it lets a parcel go only there): the bank
    /// weighs the pickup against the zero it followed
    /// ([`Bank::seen_occupied`]) and re-tares at once.
    fn held_within_limits(&self, moved_by: i32, shift: i32, presence: Presence) -> bool {
        let band = self.policy.health.drift_band.saturating_abs();
        let total = moved_by.saturating_add(shift);
        total.saturating_abs() <= band.saturating_mul(DRIFT_SHIFT_BANDS)
            && presence.reading >= presence.threshold.saturating_add(band)
    }

    /// Forgets the watches whose time is over: followed or alerted, with
    /// no step for [`Policy::drift_settle_within`](super::Policy::drift_settle_within).
    fn forget_settled_drift(&mut self, now: Instant) {
        let within = self.policy.drift_settle_within;
        self.recalibrations.retain(|r| {
            !matches!(r.phase, Phase::Following | Phase::Done)
                || now.saturating_since(r.at) < within
        });
    }

    /// An idle reading of compartment `i` (a periodic one): for drift under
    /// watch, the re-tare goes out once a later reading agrees with the
    /// last one; a drift that went back within half the band needs
    /// nothing; one that keeps moving for [`DRIFT_READINGS_TO_SETTLE`]
    /// readings is re-tared at the last where it moved less than half a
    /// band since the one before, and the maintenance alert otherwise. A
    /// compartment reserved or in a door session is waited for; the first
    /// reading of a parcel deposited into it starts following the zero
    /// watched under that parcel.
    /// Readings closer together than half a scan (the finding's own, a
    /// temperature reading of the same compartment) count once.
    pub(super) fn drift_reading(&mut self, i: LayoutIndex, presence: Presence, now: Instant) {
        let gap = Duration::from_millis(self.policy.status_scan_every.as_millis() / 2);
        let Some(k) = self.recalibrations.iter().position(|r| r.slot == i) else {
            return;
        };
        let Some(r) = self.recalibrations.get(k).copied() else {
            return;
        };
        if let Phase::Held { base, last, parcel } = r.phase {
            // Its own gap: the first reading after the parcel left counts
            // at once.
            self.held_reading(k, (base, last, parcel), presence, now);
            return;
        }
        if let (Phase::Watching { reading: zero, .. }, Some(parcel)) =
            (r.phase, self.parcel_behind_shut_door(i))
        {
            self.follow_under_parcel(k, (zero, parcel), presence.reading, now);
            return;
        }
        if now <= r.seen || now.saturating_since(r.seen) < gap {
            return;
        }
        let (last, moved) = match r.phase {
            Phase::Watching { reading, moved } => (reading, moved),
            Phase::Held { .. } | Phase::Sent | Phase::Following | Phase::Done => return,
        };
        if !self.free_and_shut(i) {
            // Reserved, or a door session under way: never re-tared over
            // it; the parcel, if one goes in, is followed (above).
            return;
        }
        if self.seen_occupied(i, presence) {
            // Something weighing the threshold over the zero watched: the
            // sensor disagrees with the books, which is the discrepancy
            // alert's business (staff come).
            self.recalibrations.swap_remove(k);
            return;
        }
        let reading = presence.reading;
        let Some(r) = self.recalibrations.get_mut(k) else {
            return;
        };
        r.seen = now;
        if reading.abs() <= self.policy.health.drift_band / 2 {
            // Back by itself: nothing to answer, the compartment followed.
            r.phase = Phase::Following;
            r.at = now;
            return;
        }
        let band = self.policy.health.drift_band;
        let steady = (band / 4).max(DRIFT_STEADY_WITHIN);
        let step = (reading - last).abs();
        if step > steady {
            if moved + 1 < DRIFT_READINGS_TO_SETTLE {
                r.phase = Phase::Watching {
                    reading,
                    moved: moved + 1,
                };
                return;
            }
            if step >= band / 2 {
                // Faster than the scans can follow: a re-tare would be
                // wrong before the next one.
                self.recalibration_failed(k, now);
                return;
            }
            // Still creeping, but by less than half a band a scan: a
            // re-tare holds within the band for the next two scans, and
            // the drift found again is answered again.
        }
        self.retare_at(k, reading, now);
    }

    /// A parcel `parcel` went into watch `k`'s compartment before the
    /// re-tare of the zero `zero` it waited to take: the parcel's first
    /// reading, `reading` (the one the bank asks for as the deposit is
    /// verified), sits on that zero, which is followed under the parcel
    /// from here on (audited [`AuditEvent::DriftUnderParcel`]).
    fn follow_under_parcel(
        &mut self,
        k: usize,
        (zero, parcel): (i32, ParcelId),
        reading: i32,
        now: Instant,
    ) {
        let phase = Phase::Held {
            base: reading.saturating_sub(zero),
            last: reading,
            parcel,
        };
        let Some(w) = self.recalibrations.get_mut(k) else {
            return;
        };
        (w.phase, w.seen) = (phase, now);
        let (i, drift) = (w.slot, w.drift);
        self.drift_held(i, phase, drift, now);
    }

    /// Sends watch `k`'s compartment the calibrate that takes `reading` as
    /// its zero (the drift it answers); with the command queue full, the
    /// maintenance alert.
    fn retare_at(&mut self, k: usize, reading: i32, now: Instant) {
        let Some(r) = self.recalibrations.get_mut(k) else {
            return;
        };
        if let HealthIssue::PresenceDrift { reading: r_at, .. } = &mut r.drift {
            *r_at = reading;
        }
        let slot = r.slot;
        let sent = self
            .layout
            .get(slot)
            .copied()
            .is_some_and(|c| self.send_calibrate(c));
        match self.recalibrations.get_mut(k) {
            Some(r) if sent => (r.phase, r.at) = (Phase::Sent, now),
            _ => self.recalibration_failed(k, now),
        }
    }

    /// A reading of compartment `i` (watch `k`) whose drift was found under
    /// parcel `parcel`, whose own reading was `base`, last counted `last`.
    ///
    /// While the parcel rests behind a shut door its reading is followed:
    /// one that moves after the time to settle, or so far that the parcel
    /// or the empty compartment would be misread, is the maintenance
    /// alert; a parcel the sensor no longer sees (below the threshold),
    /// or a reading that jumped further than any drift moves between two
    /// scans (what lies inside changed), is no longer the cell's: the
    /// watch ends, and the discrepancy, if any, is alerted as such. A door
    /// session or a reservation waits; a new parcel in its place is
    /// followed from its first reading, the shift so far kept.
    /// Once the compartment is free and shut, the reading is the zero's
    /// own: back within half a band, it is followed; further, a later
    /// reading that agrees re-tares it, as on the way.
    fn held_reading(
        &mut self,
        k: usize,
        (base, last, parcel): (i32, i32, ParcelId),
        presence: Presence,
        now: Instant,
    ) {
        let Some(r) = self.recalibrations.get(k).copied() else {
            return;
        };
        let free = self.free_and_shut(r.slot);
        let holds = self.parcel_behind_shut_door(r.slot);
        if !free && holds.is_none() {
            return;
        }
        let gap = Duration::from_millis(self.policy.status_scan_every.as_millis() / 2);
        if !free && (now <= r.seen || now.saturating_since(r.seen) < gap) {
            return;
        }
        let reading = presence.reading;
        let band = self.policy.health.drift_band.saturating_abs();
        let new_parcel = holds.is_some() && holds != Some(parcel);
        let seen = presence.occupied && reading >= presence.threshold;
        let jumped = !new_parcel
            && reading.saturating_sub(last).saturating_abs()
                > band.saturating_mul(DRIFT_SHIFT_BANDS);
        let shift = last.saturating_sub(base);
        let occupied_by_weight = occupied_above(presence, shift);
        if free && occupied_by_weight || !free && (!seen || jumped) {
            // The sensor disagrees with the books (the discrepancy alert's
            // business: staff come), or what lies inside changed between two
            // readings by more than any drift moves: not the cell.
            self.recalibrations.swap_remove(k);
            return;
        }
        if free {
            self.parcel_left(k, reading, shift, presence.occupied, now);
            return;
        }
        // A new parcel: its reading carries the shift seen so far.
        let base = if new_parcel {
            reading.saturating_sub(last.saturating_sub(base))
        } else {
            base
        };
        let shift = reading.saturating_sub(base);
        let steady = (band / 4).max(DRIFT_STEADY_WITHIN);
        let moved = !new_parcel && reading.saturating_sub(last).saturating_abs() > steady;
        let late = now.saturating_since(r.since) >= self.policy.drift_settle_within;
        let Some(w) = self.recalibrations.get_mut(k) else {
            return;
        };
        w.seen = now;
        if let HealthIssue::PresenceDrift { reading: r_at, .. } = &mut w.drift {
            *r_at = shift;
        }
        if !self.held_within_limits(r.moved_by, shift, presence) || (moved && late) {
            self.recalibration_failed(k, now);
            return;
        }
        if moved || new_parcel {
            if let Some(w) = self.recalibrations.get_mut(k) {
                if moved {
                    w.at = now;
                }
                w.phase = Phase::Held {
                    base,
                    last: reading,
                    parcel: holds.unwrap_or(parcel),
                };
            }
        }
    }

    /// The parcel over watch `k`'s drift has left (judged empty against
    /// the zero followed): `reading` is the empty compartment's, `shift`
    /// how far the zero had moved under the parcel, `node_occupied` the
    /// node's own decision. Where the node still says occupied (a zero
    /// that rose past the level at which it lets a parcel go), it is
    /// re-tared at once: nothing else lets the node see the compartment
    /// empty, and what the re-tare could hide weighs less than half the
    /// threshold. Where the node says empty: back within half a band, the
    /// compartment is followed; within a band of the shift followed under
    /// the parcel (the readings under the parcel were the agreeing ones;
    /// noise, and creep hidden in the parcel's first reading, keep the two
    /// apart by more than a steady zero's quarter band), re-tared at once;
    /// further off, watched as on the way.
    fn parcel_left(
        &mut self,
        k: usize,
        reading: i32,
        shift: i32,
        node_occupied: bool,
        now: Instant,
    ) {
        let band = self.policy.health.drift_band.saturating_abs();
        let Some(r) = self.recalibrations.get_mut(k) else {
            return;
        };
        (r.at, r.seen) = (now, now);
        if !node_occupied && reading.saturating_abs() <= band / 2 {
            r.phase = Phase::Following;
            return;
        }
        if !node_occupied && reading.saturating_sub(shift).saturating_abs() > band {
            r.phase = Phase::Watching { reading, moved: 0 };
            return;
        }
        self.retare_at(k, reading, now);
    }

    /// Whether compartment `i` holds something, as the bank judges a
    /// node's `presence`: where it follows a moved zero (under a parcel,
    /// waiting for a steady reading to re-tare, or re-taring), the reading
    /// is taken against that zero with the node's own rule (occupied from
    /// the threshold, empty again at half of it), so a parcel taken out is
    /// seen gone though a risen zero keeps the node saying occupied, and a
    /// zero that drifts past the threshold is not taken for an item;
    /// anywhere else, the node's decision.
    pub(super) fn seen_occupied(&self, i: LayoutIndex, presence: Presence) -> bool {
        match self.followed_zero(i) {
            Some(zero) => occupied_above(presence, zero),
            None => presence.occupied,
        }
    }

    /// The moved zero the bank follows for compartment `i` (under a parcel,
    /// waiting for a steady reading to re-tare, or re-taring), if any: the
    /// node's occupied / empty word on it is the bank's to judge again,
    /// from a reading.
    pub(super) fn followed_zero(&self, i: LayoutIndex) -> Option<i32> {
        self.recalibrations
            .iter()
            .find(|r| r.slot == i)
            .and_then(|r| match (r.phase, r.drift) {
                (Phase::Held { base, last, .. }, _) => Some(last.saturating_sub(base)),
                (Phase::Watching { reading, .. }, _) => Some(reading),
                (Phase::Sent, HealthIssue::PresenceDrift { reading, .. }) => Some(reading),
                _ => None,
            })
    }

    /// A door session's door closed on compartment `i`, whose moved zero
    /// the bank follows (under the parcel, or on the way to a re-tare), or
    /// whose leaving parcel the node still says is inside: its reading is
    /// asked for at once, so that the verdict weighs what left, or went in,
    /// against that zero, or against the parcel's weight (a risen zero
    /// keeps the node saying occupied, whatever is inside).
    ///
    /// The verdict waits for that reading up to [`READING_WAIT`] (not only
    /// the policy's time for the sensor to settle): given at the timer, it
    /// would go by the node's word, which is what the reading is asked to
    /// correct. Should the reading not come, the node's word it is.
    pub(super) fn weigh_what_left(&mut self, i: LayoutIndex, now: Instant) {
        if self.weighs(i) {
            self.ask_status(i);
            if let Some(mut s) = self.slots.get(i.get()).copied() {
                s.door_timer = Some(now + READING_WAIT);
                self.put(i, s);
            }
        }
    }

    /// The reading asked for to weigh compartment `i`'s verdict went
    /// unanswered (the link gave up on its retries): asked again while the
    /// verdict still waits for it, within [`READING_WAIT`].
    pub(super) fn weigh_again(&mut self, i: LayoutIndex) {
        if self.weighs(i) {
            self.ask_status(i);
        }
    }

    /// Whether compartment `i`'s door session waits for its verdict on a
    /// compartment whose moved zero the bank follows, or whose leaving
    /// parcel the node still says is inside (see `weigh_leaving_parcel`):
    /// the node's word alone would misjudge it.
    fn weighs(&self, i: LayoutIndex) -> bool {
        let Some(s) = self.slots.get(i.get()) else {
            return false;
        };
        let verifying = matches!(
            s.stage,
            Stage::Door {
                phase: DoorPhase::Verifying,
                ..
            }
        );
        let followed = self.followed_zero(i).is_some();
        let still_occupied = s.occupied == Some(true) && self.leaving.iter().any(|l| l.slot == i);
        verifying && (followed || still_occupied)
    }

    /// A pickup's or removal's door opened on compartment `i`: the parcel's
    /// weight as sensor health took it (its first reading behind the shut
    /// door, and the zero it sat on) is kept for the verdict, since a door
    /// change makes health forget it.
    pub(super) fn note_parcel_leaving(&mut self, i: LayoutIndex) {
        self.leaving.retain(|l| l.slot != i);
        let Some(s) = self.slots.get(i.get()) else {
            return;
        };
        let leaving = matches!(
            s.stage,
            Stage::Door {
                purpose: Purpose::Pickup | Purpose::Removal,
                ..
            }
        );
        let (true, Some(parcel), Some((reading, zero))) = (
            leaving,
            s.parcel.map(|p| p.id),
            self.health.parcel_reading(i.get()),
        ) else {
            return;
        };
        if self.leaving.is_full() {
            self.leaving.remove(0);
        }
        let _ = self.leaving.push(Leaving {
            slot: i,
            parcel,
            reading,
            zero,
        });
    }

    /// The reading of compartment `i` asked for as a pickup's or removal's
    /// door closed with the node still saying occupied, where the bank
    /// followed no moved zero. A parcel was verified in at the occupied
    /// threshold; what reads below the threshold, and less than half the
    /// parcel's weight over the zero it sat on, is not that parcel: it
    /// left, and the zero rose unseen past the level at which the node
    /// lets a parcel go (between two readings under the parcel, or
    /// between the last one and the pickup). The drift is noted
    /// ([`AuditEvent::DriftUnderParcel`]) and the compartment re-tared at
    /// once, as for a zero followed ([`Bank::parcel_left`]); the verdict
    /// then weighs the reading against that zero ([`Bank::seen_occupied`]),
    /// so the recipient is not told they left the parcel inside. A light
    /// parcel the recipient left, whose reading a sunk zero brought below
    /// the threshold, still weighs more than half of itself: left inside,
    /// as the node says. Nothing is done with the automatic recalibrations
    /// off, or all taken.
    pub(super) fn weigh_leaving_parcel(
        &mut self,
        i: LayoutIndex,
        presence: Presence,
        now: Instant,
    ) {
        let Some(k) = self.leaving.iter().position(|l| l.slot == i) else {
            return;
        };
        let (Some(l), Some(s)) = (self.leaving.get(k).copied(), self.slots.get(i.get())) else {
            return;
        };
        let verifying = matches!(
            s.stage,
            Stage::Door {
                purpose: Purpose::Pickup | Purpose::Removal,
                phase: DoorPhase::Verifying,
                ..
            }
        );
        if !verifying || s.parcel.map(|p| p.id) != Some(l.parcel) {
            if !matches!(s.stage, Stage::Door { .. }) {
                self.leaving.swap_remove(k);
            }
            return;
        }
        let followed = self.recalibrations.iter().any(|r| r.slot == i);
        let off = self.policy.drift_settle_within == Duration::ZERO;
        if followed || off || !presence.occupied || presence.reading >= presence.threshold {
            return;
        }
        let weight = l.reading.saturating_sub(l.zero);
        let inside = presence.reading.saturating_sub(l.zero);
        if inside.saturating_mul(2) >= weight {
            return;
        }
        self.leaving.swap_remove(k);
        let Some(c) = self.layout.get(i).copied() else {
            return;
        };
        if self.recalibrations.is_full() || !self.send_calibrate(c) {
            return;
        }
        let drift = HealthIssue::PresenceDrift {
            reading: presence.reading,
            threshold: presence.threshold,
            band: self.policy.health.drift_band,
        };
        let watch = AutoRecalibration::new(i, drift, Phase::Sent, now);
        let _ = self.recalibrations.push(watch);
        let event = AuditEvent::DriftUnderParcel { drift };
        self.record(now, Actor::System, Some(i), event, None);
    }

    /// The node's answer to a calibrate it was sent for the bank.
    pub(super) fn calibrate_answered(
        &mut self,
        i: LayoutIndex,
        outcome: CommandOutcome,
        now: Instant,
    ) {
        let Some(k) = self.pending_recalibration(i) else {
            self.person_retare_answered(i, outcome, now);
            return;
        };
        let later = put_off(outcome);
        let empty = self.empty_since_sent(i);
        let Some(r) = self.recalibrations.get_mut(k) else {
            return;
        };
        if later && empty && r.put_off.saturating_add(1) < CALIBRATE_TRIES {
            // "Later": asked again once the next scan's reading agrees
            // with the drift again.
            r.put_off = r.put_off.saturating_add(1);
            let reading = match r.drift {
                HealthIssue::PresenceDrift { reading, .. } => reading,
                _ => 0,
            };
            r.phase = Phase::Watching { reading, moved: 0 };
            r.seen = now;
            r.at = now;
            return;
        }
        if outcome != CommandOutcome::Acked || !empty {
            // Refused, put off too often; or taken while a parcel may have
            // been on its way in: staff must look.
            self.recalibration_failed(k, now);
            return;
        }
        r.put_off = 0;
        r.phase = Phase::Following;
        r.at = now;
        let drift = r.drift;
        if let HealthIssue::PresenceDrift { reading, .. } = drift {
            r.moved_by = r.moved_by.saturating_add(reading);
        }
        // The readings belonged to the old baseline.
        let _ = self.health.rebaselined(i.get());
        let event = AuditEvent::SensorRecalibratedAutomatically { drift };
        self.record(now, Actor::System, Some(i), event, None);
    }

    /// The node's answer to a calibrate a person asked for (audited when
    /// they asked). Put off (busy, rate-limited, unanswered: the node may
    /// or may not have re-tared), it is sent again at once while the
    /// compartment is still free and shut, up to [`CALIBRATE_TRIES`] in
    /// all; refused, put off that often, or no longer free and shut, it did
    /// not take: audited as such, and somebody must look.
    fn person_retare_answered(&mut self, i: LayoutIndex, outcome: CommandOutcome, now: Instant) {
        let tries = self
            .retares_put_off
            .iter()
            .find(|(slot, _)| *slot == i)
            .map_or(1, |(_, put_off)| put_off.saturating_add(1));
        self.retares_put_off.retain(|(slot, _)| *slot != i);
        if outcome == CommandOutcome::Acked {
            return;
        }
        let later = put_off(outcome);
        if later && tries < CALIBRATE_TRIES && self.free_and_shut(i) {
            let sent = self
                .layout
                .get(i)
                .copied()
                .is_some_and(|c| self.send_calibrate(c));
            if sent && self.retares_put_off.push((i, tries)).is_ok() {
                return;
            }
        }
        self.record(
            now,
            Actor::System,
            Some(i),
            AuditEvent::RecalibrationFailed,
            None,
        );
        self.raise(now, AlertKind::Maintenance, Some(i), Evidence::None, None);
    }

    /// The automatic recalibration at `k` did not take: it is over (no
    /// other one within the time) and its drift is the maintenance alert.
    fn recalibration_failed(&mut self, k: usize, now: Instant) {
        let Some(r) = self.recalibrations.get_mut(k) else {
            return;
        };
        r.phase = Phase::Done;
        r.at = now;
        let (i, drift) = (r.slot, shifted(r.drift, r.moved_by));
        self.maintenance_needed(now, i, drift);
    }

    /// Staff dealt with compartment `i` (put it back in service, or had
    /// its sensor recalibrated): what the bank watched or did about its
    /// drift is forgotten, the time starts over.
    pub(super) fn forget_recalibration(&mut self, i: LayoutIndex) {
        self.recalibrations.retain(|r| r.slot != i);
        self.retares_put_off.retain(|(slot, _)| *slot != i);
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

    /// A periodic scan begins: watches whose time is over are forgotten,
    /// and the watched compartments are read at this scan.
    pub(super) fn scan_drift(&mut self, now: Instant) {
        self.forget_settled_drift(now);
        self.drift_cursor = Some(0);
    }

    /// The next reading of a watched compartment this scan asks for: a
    /// [`Command::GetStatus`] for each one that is free and shut, or holds
    /// a parcel behind a shut door while its zero is followed (under that
    /// parcel, or after a re-tare), on a reachable node, and not read this
    /// scan anyway (in its turn, or for its temperature). `None` once every
    /// one was asked.
    pub(super) fn next_drift_reading(&mut self) -> Option<(NodeAddr, Command)> {
        while let Some(k) = self.drift_cursor {
            self.drift_cursor = k.checked_add(1);
            let Some(r) = self.recalibrations.get(usize::from(k)).copied() else {
                self.drift_cursor = None;
                return None;
            };
            let Some(c) = self.layout.get(r.slot).copied() else {
                continue;
            };
            let read_anyway = self.policy.cold.limits_of(&c).is_some() || self.read_in_turn(r.slot);
            // Under a parcel: the zero followed there, or one re-tared
            // lately that may go on moving under the parcel.
            let held = matches!(r.phase, Phase::Held { .. } | Phase::Following)
                && self.parcel_behind_shut_door(r.slot).is_some();
            if r.read_every_scan()
                && (self.free_and_shut(r.slot) || held)
                && !read_anyway
                && !self.unreachable.contains(c.node)
            {
                return Some((c.node, Command::GetStatus { channel: c.channel }));
            }
        }
        None
    }
}

/// The node's presence rule applied to `presence`'s reading taken against
/// a zero that moved by `zero` (the node's decision where the rule keeps it).
fn occupied_above(presence: Presence, zero: i32) -> bool {
    let tared = presence.reading.saturating_sub(zero);
    occupied_after(presence.occupied, tared, presence.threshold)
}

/// `drift` with the shift already re-tared away added back: how far the
/// zero moved since the first finding.
fn shifted(drift: HealthIssue, moved_by: i32) -> HealthIssue {
    match drift {
        HealthIssue::PresenceDrift {
            reading,
            threshold,
            band,
        } => HealthIssue::PresenceDrift {
            reading: reading.saturating_add(moved_by),
            threshold,
            band,
        },
        other => other,
    }
}
