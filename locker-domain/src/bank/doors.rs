//! The bank's side of door sessions. What nodes report about doors, locks
//! and presence sensors, and how the commands the bank sent them turned out,
//! goes through the door-session sub-machine ([`session`](super::session));
//! the bank feeds sensor health around each step, reports what happened
//! (audit records, notifications, alerts, a camera snapshot, the unlock) and
//! writes the books.

use locker_proto::time::Instant;
use locker_proto::{Command, DoorState, Event, FaultCode, NackReason, NodeAddr, Presence};

use super::LATE_OPENING_WINDOW;
use super::alert::{AlertKind, Evidence, SnapshotCause, SnapshotRef};
use super::audit::{Actor, AuditEvent, ServiceReason};
use super::error::BankError;
use super::layout::LayoutIndex;
use super::notification::NotificationKind;
use super::parcel::{DoorPhase, Purpose, Stage};
use super::session::{self, Happened, Step, Verdict};
use super::slot::Slot;
use super::{Bank, CommandOutcome};

impl Bank<'_> {
    /// An event a node reported (already de-duplicated by the link layer).
    ///
    /// A repeated report (a door that opens while the books say open, a
    /// presence that did not change) is a documented no-op. Node power
    /// events are ignored: the gateway's UPS, through [`Bank::handle_power`],
    /// is the authority. A node restart makes the bank ask it for full status.
    ///
    /// # Errors
    /// [`BankError::UnknownChannel`] / [`BankError::UnknownNode`] for wiring
    /// the layout does not know; [`BankError::TimeWentBackwards`];
    /// [`BankError::OutputsPending`].
    pub fn handle_node_event(
        &mut self,
        node: NodeAddr,
        event: &Event,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        match *event {
            // The books know whether a session expects the door to open; the
            // node's `commanded` flag tells a late opening of a session the
            // bank gave up on from a forced door.
            Event::DoorOpened { channel, commanded } => {
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                // Outside a session the node's word counts only where the
                // bank itself gave a session up moments ago.
                let vouched = commanded && self.gave_up_recently(i, now);
                // Before the door change makes sensor health forget it.
                self.note_parcel_leaving(i);
                let step = session::door_opened(s, vouched, now, &self.policy);
                self.door_moved(i, step, now);
            }
            Event::DoorClosed { channel } => {
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                self.door_moved(i, session::door_closed(s, now, &self.policy), now);
                self.weigh_what_left(i, now);
            }
            Event::PresenceChanged { channel, presence } => {
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                let books_say_empty = !s.stage.holds_parcel();
                let health = self
                    .health
                    .observe_presence(i.get(), presence, books_say_empty, now)
                    .ok()
                    .flatten();
                let health = self.drift_found(i, health, presence, now);
                // A stuck reading found here is an alert only, where the
                // frozen watch of the status readings also takes the
                // compartment out of service: a node reports a reading
                // here when its occupied / empty decision flips, which a
                // frozen fine-step cell never does, so what this watch
                // finds is a coarse sensor's (a break beam's) reading, a
                // hint to check, not proof (see `health`).
                self.maintenance(now, i, health);
                let held_up =
                    !matches!(s.stage, Stage::Door { .. }) && self.gave_up_recently(i, now);
                // Against a moved zero the bank follows, as a status is.
                let judged = Presence {
                    occupied: self.seen_occupied(i, presence),
                    ..presence
                };
                let step = if held_up {
                    // The session given up moments ago may yet resume (its
                    // door report, held up on the bus, follows): the reading
                    // is noted for its verdict, nothing concluded yet.
                    session::presence_noted(s, judged)
                } else {
                    session::presence_changed(s, judged, now, &self.policy)
                };
                self.apply(i, step, now);
            }
            Event::FaultRaised {
                channel: Some(channel),
                fault,
            } => {
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                self.jam_heard(i, s, fault);
                self.apply(i, session::fault(s, fault, now, &self.policy), now);
                if fault == FaultCode::PresenceSensorFailed {
                    self.presence_failed(i, now);
                }
            }
            Event::FaultRaised {
                channel: None,
                fault,
            } => {
                self.check_node(node)?;
                self.latest = now;
                if fault == FaultCode::EventsDropped {
                    self.status_wanted.insert(node);
                }
                self.raise(
                    now,
                    AlertKind::NodeFault,
                    None,
                    Evidence::Fault(fault),
                    None,
                );
                self.record(
                    now,
                    Actor::System,
                    None,
                    AuditEvent::FaultReported(fault),
                    None,
                );
            }
            Event::DoorAjar { channel } => {
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                self.apply(i, session::node_says_ajar(s, now), now);
            }
            Event::NodeStarted { .. } => {
                self.check_node(node)?;
                self.latest = now;
                self.status_wanted.insert(node);
                self.configure_again(node);
            }
            Event::FaultCleared {
                channel: Some(channel),
                fault,
            } => {
                let (i, _) = self.slot_at(node, channel)?;
                self.latest = now;
                if fault == FaultCode::PresenceSensorFailed {
                    self.presence_reads_again(i, now);
                }
            }
            Event::FaultCleared { channel: None, .. } => {
                self.check_node(node)?;
                self.latest = now;
            }
            Event::Power(_) => {
                self.check_node(node)?;
                self.latest = now;
            }
            Event::CommandsRefused { refused, reason } => {
                self.check_node(node)?;
                self.latest = now;
                let evidence = Evidence::CommandsRefused {
                    node,
                    refused,
                    reason,
                };
                self.raise(now, AlertKind::BusCommandsRefused, None, evidence, None);
            }
            _ => {
                self.check_node(node)?;
                self.latest = now;
            }
        }
        Ok(())
    }

    /// The outcome of a command the gateway sent for the bank.
    ///
    /// An acknowledged unlock is noted: the node heard it, so a door that
    /// then stays shut is the lock's fault (where the bank's locks report
    /// their jams, [`Policy::locks_report_jams`](super::Policy::locks_report_jams),
    /// only if the node reported this one jammed). A refused unlock counts
    /// as the door not opening (one retry, then the session ends), blamed
    /// on the lock only by what the session heard before it. An unanswered
    /// unlock asks for the node's status; the confirmation timer retries
    /// once, then ends the session, blaming the lock only if the node
    /// heard an unlock of it and still answers. An unlock that could not
    /// be sent (the node lost) ends the session at once, not blamed on the
    /// lock. Either way the opener is told the door would not open. An
    /// unanswered status request marks the node unreachable. A calibrate
    /// the bank sent by itself for a drifting sensor is audited when
    /// acknowledged, and alerted for a visit otherwise (see
    /// [`Policy::drift_settle_within`](super::Policy::drift_settle_within)). Other
    /// outcomes, and outcomes for sessions already over, are no-ops.
    ///
    /// # Errors
    /// [`BankError::UnknownChannel`] / [`BankError::UnknownNode`];
    /// [`BankError::TimeWentBackwards`]; [`BankError::OutputsPending`].
    pub fn handle_command_result(
        &mut self,
        node: NodeAddr,
        command: &Command,
        result: CommandOutcome,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        match (*command, result) {
            (
                Command::Unlock { channel, .. },
                CommandOutcome::Nacked(NackReason::Busy | NackReason::RateLimited),
            ) => {
                // Busy: the lock is still pulsing, most likely for this very
                // session (an earlier unlock whose answer was lost). Rate
                // limited: the node wants a pause. Either way "later", not a
                // fault: the confirmation timer runs on, and when it fires
                // with the door still shut the unlock is sent again. The
                // node heard it, though.
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                self.unlock_heard(i, s);
            }
            (Command::Unlock { channel, .. }, CommandOutcome::Acked) => {
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                self.unlock_heard(i, s);
            }
            (Command::Unlock { channel, .. }, CommandOutcome::NotSent) => {
                // Never sent (the node is lost): the session ends at once,
                // not blamed on the lock.
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                self.apply(i, session::unlock_not_sent(s, now, &self.policy), now);
            }
            (Command::Unlock { channel, .. }, CommandOutcome::Failed) => {
                // No answer at all: the node may well have pulsed the lock.
                // Ask it what the door did (a full status) before anything
                // is sent again; the confirmation timer decides.
                let (_, s) = self.slot_at(node, channel)?;
                self.latest = now;
                if matches!(
                    s.stage,
                    Stage::Door {
                        phase: DoorPhase::Unlocking { .. },
                        ..
                    }
                ) {
                    self.status_wanted.insert(node);
                }
            }
            (Command::Unlock { channel, .. }, CommandOutcome::Nacked(_)) => {
                // Refused: the node heard it and will not carry it out. One
                // retry, as for a door that stayed shut. The refusal itself
                // says nothing about the lock, which was never pulsed (a
                // node whose board does not answer, a key it does not
                // take): only what the session heard before may blame it.
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                let blame = self.lock_to_blame(i);
                let step = session::unlock_failed(s, now, &self.policy, blame);
                self.apply(i, step, now);
            }
            (Command::Calibrate { channel }, outcome) => {
                let (i, _) = self.slot_at(node, channel)?;
                self.latest = now;
                self.calibrate_answered(i, outcome, now);
            }
            (Command::Configure(_), outcome) => {
                self.check_node(node)?;
                self.latest = now;
                self.configure_answered(node, outcome, now);
            }
            (
                Command::GetStatus { channel },
                outcome @ (CommandOutcome::Failed | CommandOutcome::NotSent),
            ) => {
                // The question whether a door session's door is still open
                // went unanswered: the node's full status answers it (and
                // if that fails too, the node is lost, not the door ajar).
                // A reading asked for to weigh a verdict is asked again
                // (not where the node is lost: it would not be sent).
                let (i, s) = self.slot_at(node, channel)?;
                self.latest = now;
                if session::asked_if_still_open(&s) {
                    self.status_wanted.insert(node);
                } else if outcome == CommandOutcome::Failed {
                    self.weigh_again(i);
                }
            }
            (Command::GetAllStatus, CommandOutcome::Failed | CommandOutcome::NotSent) => {
                self.check_node(node)?;
                self.latest = now;
                self.lose_node(node, now);
            }
            _ => {
                self.check_node(node)?;
                self.latest = now;
            }
        }
        Ok(())
    }

    /// The node acknowledged (or answered busy to) an unlock for
    /// compartment `i`: if its session still waits for the door, a door
    /// that stays shut can now be blamed on the lock. Should the list be
    /// full, the oldest entry is dropped (its session long over or, at
    /// worst, an unlock not blamed on the lock).
    /// Node `node` answered the configuration the bank sent it. Taken: the
    /// node runs the bank's limits. Refused: staff are told which node and
    /// why ([`AlertKind::NodeFault`], the refusal as evidence), since its
    /// door-ajar limit and thresholds are now not the bank's. No answer, or
    /// an answer that means "later" (busy, a stale counter): sent again (a node that is lost gets it when it comes back,
    /// [`Bank::handle_node_back`]).
    fn configure_answered(&mut self, node: NodeAddr, outcome: CommandOutcome, now: Instant) {
        match outcome {
            CommandOutcome::Acked | CommandOutcome::NotSent => {}
            // "Later", not "no": the node did not carry it out (a lock pulse
            // running, a counter that fell behind the node's floor after
            // it restarted, the master having spent its one resync).
            CommandOutcome::Failed
            | CommandOutcome::Nacked(
                NackReason::Busy | NackReason::Stale { .. } | NackReason::RateLimited,
            ) => self.configure_again(node),
            CommandOutcome::Nacked(reason) => self.raise(
                now,
                AlertKind::NodeFault,
                None,
                Evidence::CommandsRefused {
                    node,
                    refused: 1,
                    reason,
                },
                None,
            ),
        }
    }

    fn unlock_heard(&mut self, i: LayoutIndex, s: Slot) {
        let unlocking = matches!(
            s.stage,
            Stage::Door {
                phase: DoorPhase::Unlocking { .. },
                ..
            }
        );
        if !unlocking || self.unlocks_heard.contains(&i) {
            return;
        }
        if self.unlocks_heard.is_full() {
            self.unlocks_heard.remove(0);
        }
        let _ = self.unlocks_heard.push(i);
    }

    /// The node reported `fault` on compartment `i`'s channel: a jammed
    /// lock during its unlocking session is noted as the evidence that
    /// blames the lock ([`Policy::locks_report_jams`](super::Policy::locks_report_jams)).
    fn jam_heard(&mut self, i: LayoutIndex, s: Slot, fault: FaultCode) {
        let unlocking = matches!(
            s.stage,
            Stage::Door {
                phase: DoorPhase::Unlocking { .. },
                ..
            }
        );
        let jam = matches!(fault, FaultCode::LockJammed | FaultCode::DoorDidNotOpen);
        if !unlocking || !jam || self.jams_heard.contains(&i) {
            return;
        }
        if self.jams_heard.is_full() {
            self.jams_heard.remove(0);
        }
        let _ = self.jams_heard.push(i);
    }

    /// Compartment `i`'s presence sensor cannot be trusted: the node says it
    /// cannot be read ([`FaultCode::PresenceSensorFailed`]), or its status
    /// readings are frozen (sensor health's
    /// [`PresenceStuck`](super::health::HealthIssue::PresenceStuck); each
    /// has its maintenance alert). No deposit could be verified there, so
    /// it takes none: it goes out of service
    /// ([`ServiceReason::SensorFailed`]), unless it is out already (it keeps
    /// that reason, and staff come for the alert).
    /// A door session under way runs to its end on the node's last word
    /// (the sensor saw nothing after it failed), the compartment out of
    /// service from now on. A parcel inside stays on the books: its code is
    /// refused, as in any compartment out of service, and its collector is
    /// told of an incident; staff hand it over when they replace the
    /// sensor.
    pub(super) fn presence_failed(&mut self, i: LayoutIndex, now: Instant) {
        let Some(mut s) = self.slots.get(i.get()).copied() else {
            return;
        };
        if s.out_of_service.is_some() {
            return;
        }
        let reason = ServiceReason::SensorFailed;
        s.out_of_service = Some(reason);
        self.put(i, s);
        self.record_out_of_service(now, Actor::System, i, reason);
        if s.stage.holds_parcel() {
            self.tell_collector_of_incident(i, now);
        }
    }

    /// The node says compartment `i`'s presence sensor reads again: back in
    /// service, if that sensor was why it was out.
    fn presence_reads_again(&mut self, i: LayoutIndex, now: Instant) {
        let Some(mut s) = self.slots.get(i.get()).copied() else {
            return;
        };
        if s.out_of_service != Some(ServiceReason::SensorFailed) {
            return;
        }
        s.out_of_service = None;
        self.put(i, s);
        self.record(now, Actor::System, Some(i), AuditEvent::BackInService, None);
    }

    /// Whether the bank gave up a door session on compartment `i` (a lock
    /// fault, or an unlock the node never confirmed) within
    /// [`LATE_OPENING_WINDOW`] before `now`.
    pub(super) fn gave_up_recently(&self, i: LayoutIndex, now: Instant) -> bool {
        self.given_up
            .iter()
            .any(|&(g, at)| g == i && now.saturating_since(at) <= LATE_OPENING_WINDOW)
    }

    /// Notes that the bank gave up compartment `i`'s session at `now`.
    fn note_given_up(&mut self, i: LayoutIndex, now: Instant) {
        self.given_up
            .retain(|&(g, at)| g != i && now.saturating_since(at) <= LATE_OPENING_WINDOW);
        if self.given_up.is_full() {
            self.given_up.remove(0);
        }
        let _ = self.given_up.push((i, now));
    }

    /// Whether a door of compartment `i` that did not open is its lock's
    /// fault: the node heard an unlock of the session and still answers,
    /// and, where the bank's locks report their jams
    /// ([`Policy::locks_report_jams`](super::Policy::locks_report_jams)),
    /// it reported this one jammed. Otherwise a lock that released and a
    /// door nobody pulled are told apart only by the node's word.
    pub(super) fn lock_to_blame(&self, i: LayoutIndex) -> bool {
        let reachable = self
            .layout
            .get(i)
            .is_some_and(|c| !self.unreachable.contains(c.node));
        let jammed = !self.policy.locks_report_jams || self.jams_heard.contains(&i);
        reachable && self.unlocks_heard.contains(&i) && jammed
    }

    /// Starts a door session on compartment `i`: the unlock goes out.
    pub(super) fn open_session(
        &mut self,
        i: LayoutIndex,
        s: Slot,
        purpose: Purpose,
        by: Actor,
        now: Instant,
    ) {
        let step = session::open(s, purpose, by, now, &self.policy);
        self.apply(i, step, now);
    }

    /// A door report: the session's step, and the door's movement as
    /// evidence for sensor health (a flapping switch).
    fn door_moved(&mut self, i: LayoutIndex, step: Step, now: Instant) {
        if step.happened == Happened::Nothing {
            return;
        }
        let flap = self.health.observe_door_change(i.get(), now).ok().flatten();
        self.apply(i, step, now);
        self.maintenance(now, i, flap);
    }

    /// Reports what happened in a door session (audit, notifications,
    /// alerts, camera snapshot, unlock command), then writes the books.
    /// Every report names the parcel the books held before the step, the
    /// one that left after a pickup included.
    pub(super) fn apply(&mut self, i: LayoutIndex, step: Step, now: Instant) {
        let system = Actor::System;
        match step.happened {
            Happened::Nothing => return,
            Happened::Noted => {}
            Happened::AskIfStillOpen => self.ask_status(i),
            Happened::UnlockSent {
                purpose,
                attempt,
                by,
            } => {
                self.unlock(i);
                let event = AuditEvent::UnlockCommanded { purpose, attempt };
                self.record(now, by, Some(i), event, None);
            }
            Happened::DoorOpened { by } => {
                self.record(now, by, Some(i), AuditEvent::DoorOpened, None);
            }
            Happened::LateOpening { by, was_lock_fault } => {
                // The lock-fault alert stands (staff may look at the lock),
                // but the compartment is back and the session goes on.
                if was_lock_fault {
                    self.record(now, system, Some(i), AuditEvent::BackInService, None);
                }
                self.record(now, by, Some(i), AuditEvent::DoorOpened, None);
            }
            Happened::DoorForced => {
                let snapshot = self.request_snapshot(i, SnapshotCause::ForcedDoor, now);
                let evidence = Evidence::Door(DoorState::Open);
                self.raise(now, AlertKind::ForcedDoor, Some(i), evidence, snapshot);
                self.record(now, system, Some(i), AuditEvent::DoorForced, snapshot);
                self.record_out_of_service(now, system, i, ServiceReason::ForcedDoor);
            }
            Happened::DoorClosed { by, verdict } => {
                self.record(now, by, Some(i), AuditEvent::DoorClosed, None);
                if let Some(verdict) = verdict {
                    self.report_verdict(i, by, verdict, now);
                }
            }
            Happened::Finished { by, verdict } => self.report_verdict(i, by, verdict, now),
            Happened::DoorAjar { tell } => {
                let evidence = Evidence::Door(DoorState::Open);
                self.raise(now, AlertKind::DoorAjar, Some(i), evidence, None);
                self.notify(now, tell, i, NotificationKind::CloseTheDoor);
                self.record(now, system, Some(i), AuditEvent::DoorAjar, None);
            }
            Happened::LockFault { by, attempts } => {
                self.note_given_up(i, now);
                let evidence = Evidence::UnlockAttempts(attempts);
                self.raise(now, AlertKind::LockFault, Some(i), evidence, None);
                self.notify(now, by, i, NotificationKind::DoorWouldNotOpen);
                self.record(now, system, Some(i), AuditEvent::LockFault, None);
                self.record_out_of_service(now, system, i, ServiceReason::LockFault);
                let h = self.health.observe_lock_fault(i.get(), now).ok().flatten();
                // Two alerts at most per input: the lock fault and this one.
                self.raise_health(now, i, h);
            }
            Happened::Unanswered { by, .. } => {
                self.note_given_up(i, now);
                // No alert: the node's silence is the node-unreachable
                // alert's business, and a noisy bus is not a fault.
                self.notify(now, by, i, NotificationKind::DoorWouldNotOpen);
            }
            Happened::LockTrouble(fault) => {
                let h = self.health.observe_lock_fault(i.get(), now).ok().flatten();
                let event = AuditEvent::FaultReported(fault);
                self.record(now, system, Some(i), event, None);
                self.maintenance(now, i, h);
            }
            Happened::Fault(fault) => {
                let event = AuditEvent::FaultReported(fault);
                self.record(now, system, Some(i), event, None);
                let evidence = Evidence::Fault(fault);
                self.raise(now, AlertKind::Maintenance, Some(i), evidence, None);
            }
            Happened::SensorDisagrees(presence) => {
                let kind = if presence.occupied {
                    AlertKind::UnexpectedItem
                } else {
                    AlertKind::ParcelMissing
                };
                self.raise(now, kind, Some(i), Evidence::Presence(presence), None);
                let event = AuditEvent::SensorDisagrees { presence };
                self.record(now, system, Some(i), event, None);
                self.record_out_of_service(now, system, i, ServiceReason::SensorDisagrees);
                if !presence.occupied {
                    self.tell_collector_of_incident(i, now);
                }
            }
            Happened::ParcelTaken(presence) => {
                let evidence = Evidence::Presence(presence);
                self.raise(now, AlertKind::ParcelMissing, Some(i), evidence, None);
                let event = AuditEvent::SensorDisagrees { presence };
                self.record(now, system, Some(i), event, None);
                self.tell_collector_of_incident(i, now);
            }
        }
        let unlocking = matches!(
            step.books.stage,
            Stage::Door {
                phase: DoorPhase::Unlocking { .. },
                ..
            }
        );
        let fresh = matches!(step.happened, Happened::UnlockSent { attempt: 0, .. });
        if !unlocking || fresh {
            self.unlocks_heard.retain(|heard| *heard != i);
            self.jams_heard.retain(|heard| *heard != i);
            self.unlocks_before_restart.retain(|before| *before != i);
        }
        self.put(i, step.books);
    }

    /// Tells the collector of the parcel the books hold in `i` that it was
    /// affected by an incident.
    pub(super) fn tell_collector_of_incident(&mut self, i: LayoutIndex, now: Instant) {
        if let Some(parcel) = self.slots.get(i.get()).and_then(|s| s.parcel) {
            let collector = parcel.kind.collector();
            self.notify(now, collector, i, NotificationKind::ParcelIncident);
        }
    }

    /// A snapshot of the handoff at `i`, if the policy takes them
    /// ([`Policy::snapshot_handoffs`](super::Policy::snapshot_handoffs))
    /// and the snapshot queue has room: a status scan that finishes many
    /// sessions at once (after a restart) finds handoffs whose moment has
    /// passed, and their records then carry no reference.
    fn handoff_snapshot(
        &mut self,
        i: LayoutIndex,
        cause: SnapshotCause,
        now: Instant,
    ) -> Option<SnapshotRef> {
        if self.policy.snapshot_handoffs {
            self.request_snapshot(i, cause, now)
        } else {
            None
        }
    }

    /// Reports how a door session ended.
    fn report_verdict(&mut self, i: LayoutIndex, by: Actor, verdict: Verdict, now: Instant) {
        let closed = Evidence::Door(DoorState::Closed);
        match verdict {
            Verdict::DepositVerified { collector } => {
                self.stats.deposits = self.stats.deposits.saturating_add(1);
                let size = self.layout.get(i).map(|c| c.size);
                let wall = self.local_at(now);
                self.stats.analytics.count_deposit(size, wall);
                let proof = self.handoff_snapshot(i, SnapshotCause::Deposit, now);
                self.record(now, by, Some(i), AuditEvent::DepositVerified, proof);
                self.notify(now, collector, i, NotificationKind::ParcelReady);
                self.ask_status(i);
            }
            Verdict::NoParcelDetected => {
                self.record(now, by, Some(i), AuditEvent::NoParcelDetected, None);
                self.notify(now, by, i, NotificationKind::NoParcelDetected);
                // The reading after a session that changed nothing: a
                // frozen sensor shows in it (see `health`).
                self.ask_status(i);
            }
            Verdict::PickupVerified { purpose, dwell } => {
                self.record_cold_chain(i, by, now);
                let event = AuditEvent::PickupVerified { purpose };
                let proof = self.handoff_snapshot(i, SnapshotCause::Pickup, now);
                self.record(now, by, Some(i), event, proof);
                if purpose == Purpose::Removal {
                    self.moved_to_counter(i, now);
                }
                if let Some(dwell) = dwell {
                    self.stats.pickups = self.stats.pickups.saturating_add(1);
                    self.stats.dwell_total_ms =
                        self.stats.dwell_total_ms.saturating_add(dwell.as_millis());
                    let wall = self.local_at(now);
                    self.stats.analytics.count_pickup(dwell, wall);
                }
            }
            Verdict::ParcelLeftInside { collector } => {
                self.record(now, by, Some(i), AuditEvent::ParcelLeftInside, None);
                self.notify(now, collector, i, NotificationKind::ParcelLeftInside);
                self.ask_status(i);
            }
            Verdict::RemovalNotVerified => {
                self.raise(now, AlertKind::RemovalNotVerified, Some(i), closed, None);
                self.record_out_of_service(now, by, i, ServiceReason::RemovalNotVerified);
            }
            Verdict::UnexpectedItem => {
                self.raise(now, AlertKind::UnexpectedItem, Some(i), closed, None);
                self.record_out_of_service(now, by, i, ServiceReason::SensorDisagrees);
            }
            Verdict::Inspected => {
                self.record(now, by, Some(i), AuditEvent::DoorClosed, None);
            }
        }
    }
}
