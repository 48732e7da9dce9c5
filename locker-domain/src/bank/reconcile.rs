//! Reconciling the books with a full status scan of a node: after a restore,
//! a node restart, a node coming back, or whenever the gateway polls; and
//! the nodes the link layer lost and found again, whose compartments are
//! unverified in between.
//!
//! The scan is taken as the truth about doors and presence. A door session
//! the scan shows finished (door closed) is finished with the scanned
//! presence, exactly as if the door-closed event had arrived, so a restart in
//! the middle of a deposit or a pickup loses nothing. Every other difference
//! between the scan and the books is an alert and an audit record, and takes
//! the compartment out of service; nothing is silently cleared, and a parcel
//! the books hold stays in the books (with the alert) until staff resolve it.
//!
//! The staff actions that settle a presence sensor's dispute with the books
//! are here too: [`Bank::recalibrate`], for a free compartment whose sensor
//! reads "occupied", and [`Bank::certify_removal`], for an expired parcel's
//! removal the sensor would not verify. Both have the sensor take its
//! reading as the empty baseline, audited with who asked.

use locker_proto::time::{Duration, Instant};
use locker_proto::{BulkStatus, ChannelStatus, Command, CompartmentId, DoorState, NodeAddr};

use super::audit::{Actor, AuditEvent, ServiceReason, StaffId};
use super::layout::{Compartment, LayoutIndex};
use super::output::ROOM_ONE;
use super::parcel::Stage;
use super::session;
use super::slot::Slot;
use super::{AlertKind, Bank, BankError, Evidence, IDLE_READINGS_PER_SCAN};

/// A set of node addresses (all 256), as a bitmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeSet([u32; 8]);

impl NodeSet {
    pub(crate) const EMPTY: NodeSet = NodeSet([0; 8]);

    pub(crate) fn insert(&mut self, node: NodeAddr) {
        if let Some(w) = self.0.get_mut(usize::from(node.0 / 32)) {
            *w |= 1 << (node.0 % 32);
        }
    }

    pub(crate) fn remove(&mut self, node: NodeAddr) {
        if let Some(w) = self.0.get_mut(usize::from(node.0 / 32)) {
            *w &= !(1 << (node.0 % 32));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub(crate) fn contains(&self, node: NodeAddr) -> bool {
        self.0
            .get(usize::from(node.0 / 32))
            .is_some_and(|w| w & (1 << (node.0 % 32)) != 0)
    }

    pub(crate) fn pop_first(&mut self) -> Option<NodeAddr> {
        for (k, w) in self.0.iter_mut().enumerate() {
            if *w != 0 {
                let bit = w.trailing_zeros();
                *w &= !(1 << bit);
                return u8::try_from(k * 32 + bit as usize).ok().map(NodeAddr);
            }
        }
        None
    }
}

/// One channel as a scan saw it.
#[derive(Clone, Copy)]
struct Seen {
    door: DoorState,
    occupied: bool,
    faulted: bool,
}

impl Bank<'_> {
    /// A node's full status (answer to [`Command::GetAllStatus`]):
    /// reconcile every compartment on the node. Channels the node says it
    /// does not have are left as they are. A compartment whose moved zero
    /// the bank follows (see `recalibration`) is judged from a reading, not
    /// from the node's occupied bit: the books' occupancy stands until its
    /// next reading, which every periodic scan asks for.
    ///
    /// # Errors
    /// [`BankError::UnknownNode`]; [`BankError::TimeWentBackwards`];
    /// [`BankError::OutputsPending`] (needs room for a whole node's alerts).
    pub fn handle_bulk_status(
        &mut self,
        node: NodeAddr,
        status: &BulkStatus,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        self.check_node(node)?;
        self.latest = now;
        self.status_wanted.remove(node);
        self.found_node(node);
        let mut on_node: heapless::Vec<LayoutIndex, 32> = heapless::Vec::new();
        for i in self.layout.slots_on(node) {
            let _ = on_node.push(i);
        }
        for i in on_node {
            let Some(c) = self.layout.get(i).copied() else {
                continue;
            };
            if c.channel.0 >= status.channels {
                continue;
            }
            // The bulk status carries the node's word, no reading: where
            // the bank follows a moved zero the node's word is not the
            // answer; the books' judgement stands until the compartment's
            // next reading (every scan reads it).
            let occupied = match self.slots.get(i.get()).and_then(|s| s.occupied) {
                Some(judged) if self.followed_zero(i).is_some() => judged,
                _ => status.occupied.get(c.channel),
            };
            let seen = Seen {
                door: if status.door_open.get(c.channel) {
                    DoorState::Open
                } else {
                    DoorState::Closed
                },
                occupied,
                faulted: status.faulted.get(c.channel),
            };
            self.reconcile(i, seen, now);
        }
        Ok(())
    }

    /// One channel's status (answer to [`Command::GetStatus`]):
    /// reconcile that compartment, feeding the presence reading to sensor health.
    ///
    /// # Errors
    /// [`BankError::UnknownChannel`]; [`BankError::TimeWentBackwards`]; [`BankError::OutputsPending`].
    pub fn handle_channel_status(
        &mut self,
        node: NodeAddr,
        status: &ChannelStatus,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let (i, s) = self.slot_at(node, status.channel)?;
        self.latest = now;
        let books_say_empty = !s.stage.holds_parcel();
        // A status is a snapshot of an idle moment (the periodic readings,
        // a check after a failed unlock): evidence of drift, not of a
        // sensor stuck through door changes.
        let health = self
            .health
            .observe_idle_reading(i.get(), status.presence, books_say_empty, now)
            .ok()
            .flatten();
        // A parcel behind a door shut since it went in weighs the same at
        // every reading: a moving reading is the cell drifting under it.
        let parcel_behind_shut_door = s.stage.holds_parcel()
            && !matches!(s.stage, Stage::Door { .. })
            && s.door == DoorState::Closed
            && status.door == DoorState::Closed;
        let health = match health {
            None if parcel_behind_shut_door => self
                .health
                .observe_parcel_reading(i.get(), status.presence)
                .ok()
                .flatten(),
            found => found,
        };
        // A parcel leaving while the node still says occupied: weighed.
        self.weigh_leaving_parcel(i, status.presence, now);
        let seen = Seen {
            door: status.door,
            // Against the zero the bank followed under a parcel, if any.
            occupied: self.seen_occupied(i, status.presence),
            faulted: status.fault.is_some(),
        };
        self.reconcile(i, seen, now);
        // Drift on a free compartment is first answered by a recalibration
        // (see `recalibration`).
        let health = self.drift_found(i, health, status.presence, now);
        self.drift_reading(i, status.presence, now);
        // A frozen sensor (identical readings where a working one's noise
        // moves every one) cannot verify a deposit: out of service too.
        let frozen = health
            .is_some_and(|h| matches!(h.issue, locker_proto::HealthIssue::PresenceStuck { .. }));
        // The scan raised at most one alert; this is the second, and the
        // temperature's the third.
        self.raise_health(now, i, health);
        if frozen {
            self.presence_failed(i, now);
        }
        self.observe_temperature(i, status.temperature, now);
        Ok(())
    }

    fn reconcile(&mut self, i: LayoutIndex, seen: Seen, now: Instant) {
        let Some(mut s) = self.slots.get(i.get()).copied() else {
            return;
        };
        if let Stage::Door { .. } = s.stage {
            let step = session::scanned(s, seen.door, seen.occupied, now, &self.policy);
            self.apply(i, step, now);
            return;
        }
        let (door_was, occupied_was) = (s.door, s.occupied);
        s.door = seen.door;
        s.occupied = Some(seen.occupied);
        let expects_parcel = s.stage.holds_parcel();
        let kind = if expects_parcel && !seen.occupied {
            Some(AlertKind::ParcelMissing)
        } else if !expects_parcel && seen.occupied {
            Some(AlertKind::UnexpectedItem)
        } else if seen.door == DoorState::Open && door_was == DoorState::Closed {
            Some(AlertKind::DoorOpenUnexpectedly)
        } else {
            None
        };
        let Some(kind) = kind else {
            self.put(i, s);
            return;
        };
        if self.gave_up_recently(i, now) {
            // The bank gave this compartment's session up moments ago (an
            // unlock it never heard confirmed): what the scan sees is most
            // likely that session's opening, whose reports, held up on the
            // bus, are on their way and resume it. The books wait for them;
            // should they not come, the next periodic scan finds the same
            // and raises the alert.
            return;
        }
        let reason = ServiceReason::SensorDisagrees;
        let fresh = s.out_of_service != Some(reason);
        if !fresh && door_was == seen.door && occupied_was == Some(seen.occupied) {
            // The same difference as at the last scan, already alerted and
            // out of service: staff know; a periodic scan repeats nothing.
            return;
        }
        s.out_of_service = Some(reason);
        self.put(i, s);
        let evidence = Evidence::Scan {
            door: seen.door,
            occupied: seen.occupied,
            faulted: seen.faulted,
        };
        self.raise(now, kind, Some(i), evidence, None);
        let event = AuditEvent::Discrepancy {
            door: seen.door,
            occupied: seen.occupied,
            faulted: seen.faulted,
        };
        self.record(now, Actor::System, Some(i), event, None);
        if fresh {
            self.record(
                now,
                Actor::System,
                Some(i),
                AuditEvent::OutOfService { reason },
                None,
            );
        }
    }

    /// The link layer gave up on `node`: its compartments are unverified
    /// until it is back.
    ///
    /// # Errors
    /// [`BankError::UnknownNode`]; [`BankError::TimeWentBackwards`]; [`BankError::OutputsPending`].
    pub fn handle_node_lost(&mut self, node: NodeAddr, now: Instant) -> Result<(), BankError> {
        self.begin(now)?;
        self.check_node(node)?;
        self.latest = now;
        self.lose_node(node, now);
        Ok(())
    }

    /// Marks `node` unreachable, with an audit record the first time, and
    /// an alert once it has stayed unreachable for
    /// [`Policy::node_alert_after`](super::Policy::node_alert_after).
    pub(super) fn lose_node(&mut self, node: NodeAddr, now: Instant) {
        if self.unreachable.contains(node) {
            return;
        }
        self.unreachable.insert(node);
        self.record(now, Actor::System, None, AuditEvent::NodeLost(node), None);
        let grace = self.policy.node_alert_after;
        if grace == Duration::ZERO || self.lost_watch.push((node, now + grace)).is_err() {
            self.alert_unreachable(node, now);
        }
    }

    fn alert_unreachable(&mut self, node: NodeAddr, now: Instant) {
        self.raise(
            now,
            AlertKind::NodeUnreachable,
            None,
            Evidence::Node(node),
            None,
        );
    }

    /// Alerts the watched nodes whose grace time ran out while they stayed
    /// unreachable, as far as the alert queue has room.
    pub(super) fn lost_nodes_due(&mut self, now: Instant) {
        let mut k = 0;
        while let Some(&(node, due)) = self.lost_watch.get(k) {
            if due > now {
                k += 1;
                continue;
            }
            if !self.has_room(ROOM_ONE) {
                return;
            }
            self.lost_watch.swap_remove(k);
            if self.unreachable.contains(node) {
                self.alert_unreachable(node, now);
            }
        }
    }

    /// Asks every reachable node for its full status, and for the readings
    /// of [`IDLE_READINGS_PER_SCAN`](super::IDLE_READINGS_PER_SCAN) of its
    /// compartments (the next in turn), once
    /// [`Policy::status_scan_every`](super::Policy::status_scan_every) has
    /// passed since the last periodic scan; and for the reading of every
    /// compartment whose drift is watched. The readings feed sensor
    /// health: a node reports a reading by itself only when its occupied /
    /// empty decision flips, so without them a cell drifting under an idle
    /// door would go unseen until a parcel met it.
    pub(super) fn scan_if_due(&mut self, now: Instant) {
        let every = self.policy.status_scan_every;
        if every == Duration::ZERO || self.next_scan > now {
            return;
        }
        for node in self.layout.nodes() {
            if !self.unreachable.contains(node) {
                self.status_wanted.insert(node);
                self.readings_wanted.insert(node);
            }
        }
        self.scans = self.scans.wrapping_add(1);
        self.next_scan = now + every;
        self.reading_passes_left = IDLE_READINGS_PER_SCAN.saturating_sub(1);
        // Every fridge is read at every scan (see `cold`), and every
        // compartment whose drift is watched (see `recalibration`).
        self.cold_cursor = Some(0);
        self.scan_drift(now);
    }

    /// The next pass of this scan's readings, if one is left: every node
    /// still reachable is asked for its next compartment in turn. `false`
    /// when the scan's passes are over.
    pub(super) fn next_reading_pass(&mut self) -> bool {
        if self.reading_passes_left == 0 {
            return false;
        }
        self.reading_passes_left -= 1;
        for node in self.layout.nodes() {
            if !self.unreachable.contains(node) {
                self.readings_wanted.insert(node);
            }
        }
        true
    }

    /// `node`'s turn at this scan: which of its compartments (by position
    /// on the node) the first pass reads, how many passes read one (fewer
    /// on a node with fewer compartments than passes), and how many it has.
    fn turn_of(&self, node: NodeAddr) -> (usize, usize, usize) {
        let on_node = self.layout.slots_on(node).count().max(1);
        let per_scan = usize::from(IDLE_READINGS_PER_SCAN);
        let first = usize::try_from(self.scans)
            .unwrap_or(0)
            .wrapping_mul(per_scan)
            % on_node;
        (first, per_scan.min(on_node), on_node)
    }

    /// The reading request for `node` in this pass of the scan: its
    /// compartments in turn, skipping one whose door session is under way
    /// (the session reads it).
    pub(super) fn reading_request(&self, node: NodeAddr) -> Option<Command> {
        let (first, passes, on_node) = self.turn_of(node);
        let pass = usize::from(IDLE_READINGS_PER_SCAN - 1 - self.reading_passes_left);
        if pass >= passes {
            return None;
        }
        let i = self.layout.slots_on(node).nth((first + pass) % on_node)?;
        let s = self.slots.get(i.get())?;
        if matches!(s.stage, Stage::Door { .. }) {
            return None;
        }
        let channel = self.layout.get(i)?.channel;
        Some(Command::GetStatus { channel })
    }

    /// Whether compartment `i` is read in its turn at this scan.
    pub(super) fn read_in_turn(&self, i: LayoutIndex) -> bool {
        let Some(node) = self.layout.get(i).map(|c| c.node) else {
            return false;
        };
        let Some(position) = self.layout.slots_on(node).position(|j| j == i) else {
            return false;
        };
        let (first, passes, on_node) = self.turn_of(node);
        (position + on_node - first) % on_node < passes
    }

    /// When the next periodic scan is due, if scans are on.
    pub(super) fn next_scan_due(&self) -> Option<Instant> {
        (self.policy.status_scan_every != Duration::ZERO).then_some(self.next_scan)
    }

    /// When the next watched node's alert is due.
    pub(super) fn next_lost_node_due(&self) -> Option<Instant> {
        self.lost_watch.iter().map(|(_, due)| *due).min()
    }

    /// `node` is reachable again: no alert for it is due any more.
    fn found_node(&mut self, node: NodeAddr) {
        self.unreachable.remove(node);
        self.lost_watch.retain(|(n, _)| *n != node);
    }

    /// Staff (`staff`) have the compartment's presence sensor take its
    /// reading now as the empty baseline: after a load cell was replaced,
    /// or when a sensor reads "occupied" in a compartment staff found empty.
    /// The node is sent [`Command::Calibrate`]
    /// (signed), the compartment's sensor-health history is forgotten (it
    /// belonged to the old baseline) and the act is audited with who asked.
    /// The node's answer and the presence report that follows it put the
    /// books right; a periodic scan finds the same.
    ///
    /// # Errors
    /// [`BankError::UnknownCompartment`]; [`BankError::WrongStage`] unless
    /// the books say the compartment is free (a baseline taken with a
    /// parcel inside would hide that parcel for good: take it out, or write
    /// it off, first); [`BankError::TimeWentBackwards`];
    /// [`BankError::OutputsPending`]. A refusal changes nothing.
    pub fn recalibrate(
        &mut self,
        compartment: CompartmentId,
        staff: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        let (i, _, c) = self.free_for_calibration(compartment, now)?;
        self.latest = now;
        self.calibrate_empty(i, c, staff, now);
        Ok(())
    }

    /// The checks every re-tare a person asks for starts with: the time,
    /// room for the outputs, and a compartment the books say is free.
    fn free_for_calibration(
        &mut self,
        compartment: CompartmentId,
        now: Instant,
    ) -> Result<(LayoutIndex, Slot, Compartment), BankError> {
        self.begin(now)?;
        let (i, s) = self.slot_of(compartment)?;
        if s.stage != Stage::Free {
            return Err(BankError::WrongStage {
                compartment,
                stage: s.stage,
            });
        }
        let c = self
            .layout
            .get(i)
            .copied()
            .ok_or(BankError::UnknownCompartment(compartment))?;
        Ok((i, s, c))
    }

    /// The member of staff `staff` looked into a compartment whose expired
    /// parcel's removal the presence sensor disputed, saw it empty, and
    /// certifies the removal: the sensor reads "occupied" under an empty
    /// compartment (a load cell replaced, a baseline gone astray), so the
    /// bank could not verify it and kept the parcel in its books.
    ///
    /// Allowed only where the bank recorded that dispute and nothing has
    /// happened since: the compartment holds an expired parcel
    /// ([`Stage::Expired`], so no door session runs), is out of service for
    /// [`ServiceReason::RemovalNotVerified`] (what a removal session that
    /// ended with the sensor reading "occupied" leaves, with an
    /// [`AlertKind::RemovalNotVerified`] alert), and its door is shut. The
    /// certificate is the word of someone who just had the door open for
    /// the removal: once the compartment was put back in service, or its
    /// sensors reported something else meanwhile (a forced door, a scan
    /// finding it empty), staff open it for removal again first. A parcel
    /// that was stored or went missing is never written off this way.
    ///
    /// In one call, in the audit in this order:
    /// [`AuditEvent::RemovalCertified`] (who), the removal as if the sensor
    /// had verified it ([`AuditEvent::PickupVerified`] for a
    /// [`Purpose::Removal`](super::Purpose::Removal), by staff: the
    /// compartment is free and the parcel leaves the books),
    /// [`AuditEvent::BackInService`], and the recalibration as
    /// [`recalibrate`](Self::recalibrate) does it (the node is sent
    /// [`Command::Calibrate`], signed; the sensor's health history is
    /// forgotten; [`AuditEvent::SensorRecalibrated`]). The node's answer
    /// and the presence report that follows it put the books' reading right.
    /// Should the calibration not take (the node unreachable, or it
    /// refuses), the next scan finds the sensor still reading "occupied"
    /// in a free compartment and raises [`AlertKind::UnexpectedItem`].
    ///
    /// # Errors
    /// [`BankError::UnknownCompartment`]; [`BankError::DoorOpen`] when the
    /// books say the door is open; [`BankError::WrongStage`] unless the
    /// compartment holds an expired parcel (during a door session too);
    /// [`BankError::NoDisputedRemoval`] when it does but is not out of
    /// service for [`ServiceReason::RemovalNotVerified`];
    /// [`BankError::TimeWentBackwards`]; [`BankError::OutputsPending`]. A
    /// refusal changes nothing.
    ///
    /// # Example
    ///
    /// ```
    /// # use locker_domain::bank::{Bank, BankError, BankId, BankKeys, Books, Compartment,
    /// #     Policy, StaffId};
    /// # use locker_proto::{Channel, CompartmentId, Dimensions, NodeAddr, SizeClass};
    /// # use locker_proto::time::Instant;
    /// # let c = Compartment::new(CompartmentId(1), NodeAddr(1), Channel(0), SizeClass::Small,
    /// #     Dimensions::new(420, 80, 600));
    /// # let mut books = Books::<1>::new();
    /// # let keys = BankKeys::derive(BankId(1), &[0x3d; 32]);
    /// let mut bank = Bank::new(&mut books, &[c], Policy::default(), keys)?;
    /// while bank.poll().is_some() {}
    /// // A free compartment has no removal to certify.
    /// let now = Instant::from_secs(1);
    /// assert!(matches!(
    ///     bank.certify_removal(CompartmentId(1), StaffId(7), now),
    ///     Err(BankError::WrongStage { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn certify_removal(
        &mut self,
        compartment: CompartmentId,
        staff: StaffId,
        now: Instant,
    ) -> Result<(), BankError> {
        self.begin(now)?;
        let (i, s) = self.slot_of(compartment)?;
        if s.door == DoorState::Open {
            return Err(BankError::DoorOpen(compartment));
        }
        if s.stage != Stage::Expired {
            return Err(BankError::WrongStage {
                compartment,
                stage: s.stage,
            });
        }
        if s.out_of_service != Some(ServiceReason::RemovalNotVerified) {
            return Err(BankError::NoDisputedRemoval(compartment));
        }
        let Some(c) = self.layout.get(i).copied() else {
            return Err(BankError::UnknownCompartment(compartment));
        };
        self.latest = now;
        let event = AuditEvent::RemovalCertified { staff };
        self.record(now, Actor::Staff, Some(i), event, None);
        self.apply(i, session::removal_certified(s, now), now);
        self.record(now, Actor::Staff, Some(i), AuditEvent::BackInService, None);
        self.calibrate_empty(i, c, staff, now);
        Ok(())
    }

    /// Has compartment `i`'s presence sensor take its reading now as the
    /// empty baseline, for `staff`: its health history is forgotten (it
    /// belonged to the old baseline), the node is sent
    /// [`Command::Calibrate`] and the act is audited. The caller checked
    /// that the books hold no parcel there (any more).
    fn calibrate_empty(&mut self, i: LayoutIndex, c: Compartment, staff: StaffId, now: Instant) {
        let event = AuditEvent::SensorRecalibrated { staff };
        self.calibrate_empty_by(i, c, Actor::Staff, event, now);
    }

    /// The one way a person (staff at the bank, the backend) has a free
    /// compartment's sensor re-tared: history forgotten, the signed
    /// calibrate sent, the act audited as `event` by `by`.
    fn calibrate_empty_by(
        &mut self,
        i: LayoutIndex,
        c: Compartment,
        by: Actor,
        event: AuditEvent,
        now: Instant,
    ) {
        self.forget_hardware_history(i);
        // Full: the next scan finds the sensor as it was (see `certify_removal`).
        let _ = self.send_calibrate(c);
        self.record(now, by, Some(i), event, None);
    }

    /// The backend has a free compartment's presence sensor take its
    /// reading now as the empty baseline (`recalibrate_sensor` on the
    /// uplink): the remote answer to a maintenance alert for drift the bank
    /// did not re-tare itself (a drift under a parcel that has since left,
    /// a cell that settled after the period), without a site visit. The
    /// node is sent the signed [`Command::Calibrate`] staff send with
    /// [`Bank::recalibrate`]; audited as
    /// [`AuditEvent::SensorRecalibratedRemotely`] (actor
    /// [`Actor::Backend`]).
    ///
    /// Stricter than staff's, who see inside: nobody at a screen can tell
    /// an empty compartment from one whose sensor feels an item, and a
    /// baseline taken over an item hides it for good. So the books must say
    /// free, the door shut, the last reading empty, and the compartment not
    /// out of service for a forced door or a sensor that disagreed (both
    /// are for someone to look at).
    ///
    /// # Errors
    /// [`BankError::UnknownCompartment`]; [`BankError::WrongStage`] unless
    /// free; [`BankError::DoorOpen`]; [`BankError::SensorReadsItem`] when
    /// the last reading was occupied; [`BankError::OutOfService`] for a
    /// forced door or a disagreeing sensor; [`BankError::TimeWentBackwards`];
    /// [`BankError::OutputsPending`]. A refusal changes nothing.
    pub fn recalibrate_remotely(
        &mut self,
        compartment: CompartmentId,
        now: Instant,
    ) -> Result<(), BankError> {
        let (i, s, c) = self.free_for_calibration(compartment, now)?;
        if s.door != DoorState::Closed {
            return Err(BankError::DoorOpen(compartment));
        }
        if matches!(
            s.out_of_service,
            Some(ServiceReason::ForcedDoor | ServiceReason::SensorDisagrees)
        ) {
            return Err(BankError::OutOfService(compartment));
        }
        if s.occupied == Some(true) {
            return Err(BankError::SensorReadsItem(compartment));
        }
        self.latest = now;
        let event = AuditEvent::SensorRecalibratedRemotely;
        self.calibrate_empty_by(i, c, Actor::Backend, event, now);
        Ok(())
    }

    /// `node` answers again: the bank asks it for full status and reconciles.
    ///
    /// # Errors
    /// [`BankError::UnknownNode`]; [`BankError::TimeWentBackwards`]; [`BankError::OutputsPending`].
    pub fn handle_node_back(&mut self, node: NodeAddr, now: Instant) -> Result<(), BankError> {
        self.begin(now)?;
        self.check_node(node)?;
        self.latest = now;
        self.status_wanted.insert(node);
        // It may have restarted, or been replaced, while it was away.
        self.configure_again(node);
        if self.unreachable.contains(node) {
            self.found_node(node);
            self.record(now, Actor::System, None, AuditEvent::NodeBack(node), None);
        }
        Ok(())
    }
}
