//! What a run shows: the timeline, the summary (text and JSON) and the
//! occupancy chart (SVG).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use locker_domain::bank::{AuditEvent, AuditRecord, Purpose};
use locker_proto::CompartmentId;
use locker_proto::time::Instant;
use serde::Serialize;

use super::oracle::FalseAlarms;

use super::incidents::{IncidentKind, IncidentTally};

/// One notable event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// When.
    pub at: Instant,
    /// Which bank of the site.
    pub bank: usize,
    /// Which compartment, if one.
    pub compartment: Option<CompartmentId>,
    /// What happened, and what the system did.
    pub text: String,
}

impl Line {
    /// `day 2 14:03  C17  forced door → security alert, snapshot #12`
    /// (compartments of banks after the first are prefixed `B<n>/`).
    pub fn render(&self, banks: usize) -> String {
        let ms = self.at.as_millis();
        let day = ms / 86_400_000;
        let minute = ms % 86_400_000 / 60_000;
        let place = match (self.compartment, banks > 1) {
            (Some(c), true) => format!("B{}/C{}", self.bank + 1, c.0),
            (Some(c), false) => format!("C{}", c.0),
            (None, true) => format!("B{}", self.bank + 1),
            (None, false) => String::new(),
        };
        format!(
            "day {day} {:02}:{:02}  {place:<6} {}",
            minute / 60,
            minute % 60,
            self.text
        )
    }
}

/// The audit trail, counted as it streamed out of the bank.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditTally {
    /// Records seen.
    pub records: u64,
    /// Records by event.
    pub by_event: BTreeMap<String, u64>,
    /// `PickupVerified` with purpose pickup (by the collector or an override).
    pub pickups_verified: u64,
    /// Sequence numbers skipped (must be 0).
    pub sequence_gaps: u64,
    /// Records handed out again after a restart (the snapshot holds the
    /// records not yet delivered when it was taken); counted once, as the
    /// gateway's audit log writes them once.
    pub redelivered: u64,
    #[serde(skip)]
    next_seq: Option<u64>,
}

impl AuditTally {
    /// Counts one record; `false` for a record already counted (handed out
    /// again after a restart), which the world must not act on twice.
    pub fn record(&mut self, r: &AuditRecord) -> bool {
        if self.next_seq.is_some_and(|want| r.seq < want) {
            self.redelivered += 1;
            return false;
        }
        self.records += 1;
        if self.next_seq.is_some_and(|want| want != r.seq) {
            self.sequence_gaps += 1;
        }
        self.next_seq = Some(r.seq + 1);
        *self.by_event.entry(r.event.name().to_string()).or_default() += 1;
        if matches!(
            r.event,
            AuditEvent::PickupVerified {
                purpose: Purpose::Pickup
            }
        ) {
            self.pickups_verified += 1;
        }
        true
    }

    /// Records of event `name` ([`AuditEvent::name`], e.g. `"deposit_verified"`).
    pub fn count(&self, name: &str) -> u64 {
        self.by_event.get(name).copied().unwrap_or(0)
    }

    /// Adds another bank's tally.
    pub fn absorb(&mut self, other: &AuditTally) {
        self.records += other.records;
        self.pickups_verified += other.pickups_verified;
        self.sequence_gaps += other.sequence_gaps;
        self.redelivered += other.redelivered;
        for (k, v) in &other.by_event {
            *self.by_event.entry(k.clone()).or_default() += v;
        }
    }
}

/// What happened in the world, counted by the simulator (not by the bank).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorldCounts {
    /// Parcels whose depositor came to the bank.
    pub arrived: u64,
    /// Deposits the bank verified.
    pub deposited: u64,
    /// Parcels their collector took out (verified by the bank).
    pub picked_up: u64,
    /// Door sessions started by couriers and residents.
    pub interactions: u64,
    /// Parcels that went to the service counter, by reason.
    pub to_counter: BTreeMap<String, u64>,
    /// Camera snapshots taken.
    pub snapshots: u64,
    /// Times the gateway persisted the bank's books.
    pub persists: u64,
    /// Shutdowns on a critical battery.
    pub shutdowns: u64,
    /// Restores after power came back.
    pub restores: u64,
    /// Restores that failed (must be 0).
    pub restore_failures: u64,
    /// Parcels taken by a vandal.
    pub stolen: u64,
    /// Codes guessed at the keypad.
    pub codes_guessed: u64,
    /// Compartments staff had to deal with.
    pub staff_jobs: u64,
    /// Alerts raised, by kind.
    pub alerts: BTreeMap<String, u64>,
    /// Frames the gateway's decoder rejected.
    pub gateway_bad_frames: u64,
    /// Hung nodes the gateway brought back by power-cycling.
    pub nodes_recovered: u64,
    /// Open doors shut after the bank told the person.
    pub ajar_closed_after_notice: u64,
    /// Commands the nodes refused (no valid tag, stale, rate limit), as
    /// their security events told the gateway.
    pub commands_refused: u64,
}

impl WorldCounts {
    /// Adds another bank's counts.
    pub fn absorb(&mut self, o: &WorldCounts) {
        self.arrived += o.arrived;
        self.deposited += o.deposited;
        self.picked_up += o.picked_up;
        self.interactions += o.interactions;
        self.snapshots += o.snapshots;
        self.persists += o.persists;
        self.shutdowns += o.shutdowns;
        self.restores += o.restores;
        self.restore_failures += o.restore_failures;
        self.stolen += o.stolen;
        self.codes_guessed += o.codes_guessed;
        self.staff_jobs += o.staff_jobs;
        self.gateway_bad_frames += o.gateway_bad_frames;
        self.nodes_recovered += o.nodes_recovered;
        self.ajar_closed_after_notice += o.ajar_closed_after_notice;
        self.commands_refused += o.commands_refused;
        for (k, v) in &o.to_counter {
            *self.to_counter.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.alerts {
            *self.alerts.entry(k.clone()).or_default() += v;
        }
    }
}

/// The parcels of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ParcelSummary {
    /// Depositors who came.
    pub arrived: u64,
    /// Deposits verified (parcels in).
    pub deposited: u64,
    /// Taken out by their collector.
    pub picked_up: u64,
    /// Reminders sent (bank counter).
    pub reminded: u64,
    /// Escalations sent (bank counter).
    pub escalated: u64,
    /// Expired after 72 h (bank counter).
    pub expired: u64,
    /// Taken out by staff (expired, or dealt with after an incident).
    pub removed_by_staff: u64,
    /// Still inside at the end.
    pub still_inside: u64,
    /// Sent to the counter instead, by reason.
    pub to_counter: BTreeMap<String, u64>,
    /// Taken by a vandal, each with its alert.
    pub stolen_with_alert: u64,
    /// Deposited parcels that are neither where the books say, nor handed
    /// over, nor in an alert: must be 0.
    pub lost: u64,
}

/// One row of the incident table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IncidentRow {
    /// The incident kind.
    pub kind: &'static str,
    /// How it went.
    #[serde(flatten)]
    pub tally: IncidentTally,
    /// Still open at the end.
    pub open: u64,
    /// Of those open at the end, never detected.
    pub open_undetected: u64,
    /// Of those, latent: nothing could show them yet (a jammed lock
    /// nobody unlocked since it jammed).
    pub open_latent: u64,
    /// Of those never detected, past the kind's deadline at the end of the
    /// run: missed, where the others are merely recent (or latent).
    pub open_overdue: u64,
    /// How soon the system must notice the kind, in seconds
    /// ([`IncidentKind::detection_deadline`](super::IncidentKind::detection_deadline);
    /// `null`: judged otherwise).
    pub deadline_s: Option<u64>,
}

/// Utilisation of the bank.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UtilisationSummary {
    /// Mean share of compartments holding a parcel, sampled hourly, in percent.
    pub mean_occupancy_percent: f64,
    /// Most compartments occupied at an hourly sample.
    pub peak_occupied: u64,
    /// Mean time from deposit to pickup, in hours (bank counter).
    pub mean_dwell_hours: f64,
}

/// What a property manager reads: when parcels come and go, how long they
/// stay, which sizes are used and why parcels were turned away (the
/// banks' own analytics, `locker_domain::bank::Analytics`, summed over the
/// site; hours and weekdays on the banks' local wall clock).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AnalyticsSummary {
    /// Verified deposits by local hour of day, 24 entries from midnight.
    pub deposits_by_hour: Vec<u64>,
    /// Verified pickups by local hour of day, 24 entries from midnight.
    pub pickups_by_hour: Vec<u64>,
    /// The hour with the most deposits (the earliest on a tie).
    pub peak_deposit_hour: Option<usize>,
    /// The hour with the most pickups (the earliest on a tie).
    pub peak_pickup_hour: Option<usize>,
    /// Deposits and pickups by weekday, Monday first.
    pub weekdays: Vec<WeekdayRow>,
    /// Pickups by time from deposit.
    pub dwell: Vec<DwellRow>,
    /// Each size class the site has.
    pub sizes: Vec<SizeRow>,
    /// New parcels the banks refused, by reason.
    pub refusals: RefusalSummary,
    /// Deposits made while a bank had no wall clock (in no hour or weekday).
    pub unclocked_deposits: u64,
}

/// One weekday of [`AnalyticsSummary`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WeekdayRow {
    /// `monday` to `sunday`.
    pub weekday: &'static str,
    /// Verified deposits.
    pub deposits: u64,
    /// Verified pickups.
    pub pickups: u64,
}

/// One bucket of the dwell-time histogram.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DwellRow {
    /// The bucket's lower bound, in hours (inclusive).
    pub from_hours: u64,
    /// Its upper bound, in hours (exclusive); `None` for the last.
    pub to_hours: Option<u64>,
    /// Pickups in it.
    pub pickups: u64,
    /// Their share of all pickups, in percent.
    pub percent: f64,
}

/// One size class of the site.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SizeRow {
    /// `small`, `medium`, `large`, `extra_large`.
    pub size: &'static str,
    /// Compartments of the class.
    pub compartments: u64,
    /// Verified deposits into them.
    pub deposits: u64,
    /// Mean share of them holding a parcel, over the hourly samples taken
    /// while the gateways ran, in percent.
    pub mean_occupied_percent: f64,
}

/// New parcels refused, by reason (`locker_domain::bank::Refusal`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RefusalSummary {
    /// Larger than every compartment.
    pub oversize: u64,
    /// Every compartment that fits was taken.
    pub bank_full: u64,
    /// A compartment that fits stood empty out of service, the bank was
    /// closed or its battery low.
    pub unavailable: u64,
}

/// The bus, as the gateway's link layer and the line saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BusSummary {
    /// Frames the gateway sent (retransmissions included).
    pub frames_sent: u64,
    /// Frames on the line, both directions.
    pub frames_on_wire: u64,
    /// Bytes on the line.
    pub bytes_on_wire: u64,
    /// Frames the line corrupted.
    pub frames_corrupted: u64,
    /// Frames the line lost.
    pub frames_lost: u64,
    /// Frames garbled by a collision.
    pub collisions: u64,
    /// Frames rejected by a decoder (bad CRC, COBS or length), both ends.
    pub crc_errors: u64,
    /// Retransmissions by the gateway.
    pub retransmissions: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Events delivered to the bank.
    pub events_delivered: u64,
    /// Repeated events filtered out.
    pub duplicates_filtered: u64,
    /// Times a node was declared lost.
    pub nodes_lost: u64,
    /// Times a lost node came back.
    pub nodes_recovered: u64,
    /// Idle polls skipped while nothing happened (their answer is known empty).
    pub idle_polls_skipped: u64,
    /// Signed commands sent again with a fresh counter after a node
    /// refused the first as stale (after its restart).
    pub resynchronisations: u64,
    /// Answers to signed commands ignored for a missing or bad tag.
    pub auth_rejected: u64,
    /// Commands the nodes refused and reported as security events.
    pub commands_refused: u64,
}

/// Interactions and how many needed staff.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InteractionSummary {
    /// Door sessions of couriers and residents, plus incidents.
    pub total: u64,
    /// Staff jobs (repairs, removals, collectors who had to call).
    pub needed_staff: u64,
    /// `1 - needed_staff / total`, in percent.
    pub without_staff_percent: f64,
}

/// Power and persistence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PowerSummary {
    /// Shutdowns on a critical battery.
    pub shutdowns: u64,
    /// Restores from the persisted books.
    pub restores: u64,
    /// Restores that failed (must be 0).
    pub restore_failures: u64,
    /// Times the books were persisted.
    pub persists: u64,
}

/// The invariant checker's verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InvariantSummary {
    /// Steps after which every invariant was checked (0 if checking was off).
    pub steps_checked: u64,
    /// Violations found (must be 0).
    pub violations: u64,
    /// The first few, described.
    pub first: Vec<String>,
}

/// The uplink: what the gateways sent their backend and what it asked.
///
/// At the end of a run whose link was up, `produced` = `delivered` =
/// `acknowledged` and nothing is `still_queued`: every message reached the
/// backend and was carried out once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UplinkSummary {
    /// Upward messages the gateways put into their outbound queues.
    pub produced: u64,
    /// Transmissions to the backend, first ones and repeats. A restarted
    /// gateway reloads its queue and sends what was not acknowledged as new.
    pub transmissions: u64,
    /// Repeats within one gateway run (an acknowledgement overdue).
    pub retransmissions: u64,
    /// Messages that reached the backend under an id it had not seen.
    pub delivered: u64,
    /// Messages acknowledged and removed from an outbound queue.
    pub acknowledged: u64,
    /// Messages still in an outbound queue at the end.
    pub still_queued: u64,
    /// Messages the backend received again and did not carry out again.
    pub backend_duplicates: u64,
    /// Audit records the backend heard again under a new id (a restored
    /// bank hands out again what its snapshot still held) and did not
    /// carry out again; counted in `delivered`, not in `delivered_by_kind`.
    pub audit_repeats: u64,
    /// Backend messages lost because their gateway was off.
    pub lost_to_gateway_off: u64,
    /// Messages the backend carried out, by kind.
    pub delivered_by_kind: BTreeMap<String, u64>,
    /// Verified deposits the backend heard of (parcel events).
    pub deposits_heard: u64,
    /// Verified pickups the backend heard of (parcel events).
    pub pickups_heard: u64,
    /// Requests the backends made (camera snapshots for forced doors,
    /// compartments taken out of service for lock faults).
    pub requests: u64,
    /// Requests by kind.
    pub requests_by_kind: BTreeMap<String, u64>,
    /// Requests answered with a result.
    pub answered: u64,
    /// Requests refused.
    pub refused: u64,
    /// Refusals by error code.
    pub refused_by_code: BTreeMap<String, u64>,
    /// Requests without an answer at the end.
    pub unanswered: u64,
}

impl UplinkSummary {
    /// Adds another bank's.
    pub fn absorb(&mut self, o: &UplinkSummary) {
        self.produced += o.produced;
        self.transmissions += o.transmissions;
        self.retransmissions += o.retransmissions;
        self.delivered += o.delivered;
        self.acknowledged += o.acknowledged;
        self.still_queued += o.still_queued;
        self.backend_duplicates += o.backend_duplicates;
        self.audit_repeats += o.audit_repeats;
        self.lost_to_gateway_off += o.lost_to_gateway_off;
        self.deposits_heard += o.deposits_heard;
        self.pickups_heard += o.pickups_heard;
        self.requests += o.requests;
        self.answered += o.answered;
        self.refused += o.refused;
        self.unanswered += o.unanswered;
        for (into, from) in [
            (&mut self.delivered_by_kind, &o.delivered_by_kind),
            (&mut self.requests_by_kind, &o.requests_by_kind),
            (&mut self.refused_by_code, &o.refused_by_code),
        ] {
            for (k, v) in from {
                *into.entry(k.clone()).or_default() += v;
            }
        }
    }
}

/// Everything a run reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// The version of this summary's layout: `locker-sim/3` (3 added
    /// `analytics`).
    pub schema: &'static str,
    /// Incidents that ended without anyone coming to the bank, as a share
    /// of the incidents that occurred, in percent: the headline.
    pub without_site_visit_percent: f64,
    /// Alerts the world does not explain (the oracle's verdict).
    pub false_alarms: FalseAlarms,
    /// The seed.
    pub seed: u64,
    /// Simulated days.
    pub days: u32,
    /// Compartments in the site.
    pub compartments: u64,
    /// Banks they form.
    pub banks: u64,
    /// Households served.
    pub units: u64,
    /// The noise on the bus, in words.
    pub noise: String,
    /// What stands on the bus as the nodes (`"ours"`, `"kerong_cu16"`).
    pub board: super::Board,
    /// Parcels.
    pub parcels: ParcelSummary,
    /// Incidents by kind.
    pub incidents: Vec<IncidentRow>,
    /// Interactions.
    pub interactions: InteractionSummary,
    /// Utilisation.
    pub utilisation: UtilisationSummary,
    /// The banks' analytics: hours, weekdays, dwell, sizes, refusals.
    pub analytics: AnalyticsSummary,
    /// The bus.
    pub bus: BusSummary,
    /// Alerts by kind.
    pub alerts: BTreeMap<String, u64>,
    /// The audit trail, counted.
    pub audit: AuditTally,
    /// Power.
    pub power: PowerSummary,
    /// The uplink to the backend.
    pub uplink: UplinkSummary,
    /// Invariants.
    pub invariants: InvariantSummary,
}

impl Summary {
    /// The summary for people.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let p = &self.parcels;
        let _ = writeln!(
            o,
            "== locker-sim: seed {}, {} days, {} compartments in {} bank(s), {} units, bus noise {}, nodes {}",
            self.seed,
            self.days,
            self.compartments,
            self.banks,
            self.units,
            self.noise,
            self.board.name()
        );
        let occurred: u64 = self.incidents.iter().map(|r| r.tally.occurred).sum();
        let remote: u64 = self
            .incidents
            .iter()
            .map(|r| r.tally.resolved_without_site_visit)
            .sum();
        let _ = writeln!(
            o,
            "HEADLINE    {:.1} % of incidents resolved without a site visit ({remote} of {occurred}); {} false alarm(s)",
            self.without_site_visit_percent, self.false_alarms.total
        );
        if !self.false_alarms.by_kind.is_empty() {
            let list: Vec<String> = self
                .false_alarms
                .by_kind
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(o, "            false alarms by kind: {}", list.join(", "));
        }
        let _ = writeln!(
            o,
            "parcels     arrived {}, in {}, picked up {}, reminded {}, escalated {}, expired {}, removed by staff {}, still inside {}",
            p.arrived,
            p.deposited,
            p.picked_up,
            p.reminded,
            p.escalated,
            p.expired,
            p.removed_by_staff,
            p.still_inside
        );
        if !p.to_counter.is_empty() {
            let list: Vec<String> = p
                .to_counter
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(o, "            to the counter: {}", list.join(", "));
        }
        let _ = writeln!(
            o,
            "            stolen (each with its alert) {}, LOST {}",
            p.stolen_with_alert, p.lost
        );
        let _ = writeln!(
            o,
            "incidents   {:<16} {:>8} {:>8} {:>10} {:>10} {:>6} {:>16} {:>9}",
            "kind",
            "occurred",
            "detected",
            "no visit",
            "site visit",
            "open",
            "slowest detection",
            "deadline"
        );
        for row in &self.incidents {
            let mut unseen = Vec::new();
            if row.open_undetected > 0 {
                unseen.push(format!("{} unseen", row.open_undetected));
            }
            if row.open_latent > 0 {
                unseen.push(format!("{} latent", row.open_latent));
            }
            if row.open_overdue > 0 {
                unseen.push(format!("{} OVERDUE", row.open_overdue));
            }
            let open = if unseen.is_empty() {
                row.open.to_string()
            } else {
                format!("{} ({})", row.open, unseen.join(", "))
            };
            let deadline = match row.deadline_s {
                Some(s) => seconds_as_text(s),
                None => "-".to_string(),
            };
            let late = match row.tally.detected_late {
                0 => String::new(),
                n => format!(" ({n} LATE)"),
            };
            let _ = writeln!(
                o,
                "            {:<16} {:>8} {:>8} {:>10} {:>10} {:>6} {:>16} {:>9}{late}",
                row.kind,
                row.tally.occurred,
                row.tally.detected,
                row.tally.resolved_without_site_visit,
                row.tally.needed_site_visit,
                open,
                seconds_as_text(row.tally.slowest_detection_s),
                deadline
            );
        }
        let i = &self.interactions;
        let _ = writeln!(
            o,
            "staff       {} of {} interactions needed staff: {:.1} % needed none (context, not the headline)",
            i.needed_staff, i.total, i.without_staff_percent
        );
        let u = &self.utilisation;
        let _ = writeln!(
            o,
            "utilisation mean occupancy {:.1} %, peak {} compartments, mean dwell {:.1} h",
            u.mean_occupancy_percent, u.peak_occupied, u.mean_dwell_hours
        );
        self.analytics.render(&mut o);
        let b = &self.bus;
        let _ = writeln!(
            o,
            "bus         {} frames sent, {} on the wire ({} bytes), {} corrupted, {} lost, {} collisions",
            b.frames_sent,
            b.frames_on_wire,
            b.bytes_on_wire,
            b.frames_corrupted,
            b.frames_lost,
            b.collisions
        );
        let _ = writeln!(
            o,
            "            {} CRC/framing errors, {} retransmissions, {} timeouts, {} events delivered, {} duplicates filtered",
            b.crc_errors, b.retransmissions, b.timeouts, b.events_delivered, b.duplicates_filtered
        );
        let _ = writeln!(
            o,
            "            nodes lost {}, recovered {}; {} idle polls skipped while nothing happened",
            b.nodes_lost, b.nodes_recovered, b.idle_polls_skipped
        );
        let _ = writeln!(
            o,
            "            authenticated commands: {} counter resynchronisations, {} answers with a bad tag ignored, {} commands refused by nodes (security events)",
            b.resynchronisations, b.auth_rejected, b.commands_refused
        );
        if !self.alerts.is_empty() {
            let list: Vec<String> = self
                .alerts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(o, "alerts      {}", list.join(", "));
        }
        let w = &self.power;
        let _ = writeln!(
            o,
            "power       {} shutdowns, {} restores ({} failed), books persisted {} times",
            w.shutdowns, w.restores, w.restore_failures, w.persists
        );
        let _ = writeln!(
            o,
            "audit       {} records, {} sequence gaps",
            self.audit.records, self.audit.sequence_gaps
        );
        let l = &self.uplink;
        let _ = writeln!(
            o,
            "uplink      {} messages produced, {} delivered, {} acknowledged, {} still queued, {} duplicates at the backend; backend requests {}: {} answered, {} refused, {} unanswered",
            l.produced,
            l.delivered,
            l.acknowledged,
            l.still_queued,
            l.backend_duplicates,
            l.requests,
            l.answered,
            l.refused,
            l.unanswered
        );
        let v = &self.invariants;
        if v.steps_checked > 0 {
            let _ = writeln!(
                o,
                "invariants  checked after {} steps: {} violations",
                v.steps_checked, v.violations
            );
            for line in &v.first {
                let _ = writeln!(o, "            {line}");
            }
        }
        o
    }
}

impl AnalyticsSummary {
    /// The lines of the text summary, for a property manager.
    fn render(&self, o: &mut String) {
        let total_in: u64 = self.deposits_by_hour.iter().sum();
        let total_out: u64 = self.pickups_by_hour.iter().sum();
        let peak = |hour: Option<usize>, by: &[u64]| match hour {
            Some(h) => format!(
                "{h:02}:00-{:02}:00 ({} of {})",
                (h + 1) % 24,
                by.get(h).copied().unwrap_or(0),
                by.iter().sum::<u64>()
            ),
            None => "none".to_owned(),
        };
        let _ = writeln!(
            o,
            "analytics   busiest hour for deposits {}, for pickups {}",
            peak(self.peak_deposit_hour, &self.deposits_by_hour),
            peak(self.peak_pickup_hour, &self.pickups_by_hour)
        );
        let _ = writeln!(
            o,
            "            by hour 00h..23h  in  {}\n                              out {}",
            sparkline(&self.deposits_by_hour),
            sparkline(&self.pickups_by_hour)
        );
        let days: Vec<String> = self
            .weekdays
            .iter()
            .map(|d| {
                let name: String = d.weekday.chars().take(3).collect();
                format!("{name} {}/{}", d.deposits, d.pickups)
            })
            .collect();
        let _ = writeln!(o, "            by weekday (in/out) {}", days.join(", "));
        let dwell: Vec<String> = self
            .dwell
            .iter()
            .map(|d| {
                let range = match d.to_hours {
                    Some(to) if d.from_hours == 0 => format!("<{to} h"),
                    Some(to) => format!("{}-{to} h", d.from_hours),
                    None => format!(">={} h", d.from_hours),
                };
                format!("{range} {:.1} %", d.percent)
            })
            .collect();
        let _ = writeln!(o, "            dwell {}", dwell.join(", "));
        let sizes: Vec<String> = self
            .sizes
            .iter()
            .map(|r| {
                format!(
                    "{} {} doors, {} deposits, {:.1} % occupied",
                    r.size, r.compartments, r.deposits, r.mean_occupied_percent
                )
            })
            .collect();
        let _ = writeln!(o, "            by size {}", sizes.join("; "));
        let r = &self.refusals;
        let _ = writeln!(
            o,
            "            refused {} oversize, {} bank full, {} unavailable (out of service, closed, low battery)",
            r.oversize, r.bank_full, r.unavailable
        );
        if self.unclocked_deposits > 0 || total_in == 0 && total_out == 0 {
            let _ = writeln!(
                o,
                "            {} deposits made without a wall clock are in no hour",
                self.unclocked_deposits
            );
        }
    }
}

/// Values as a row of block characters, the largest a full block.
fn sparkline(values: &[u64]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let top = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|v| {
            let i = (v * 7).div_ceil(top) as usize;
            if *v == 0 {
                ' '
            } else {
                BLOCKS.get(i).copied().unwrap_or('█')
            }
        })
        .collect()
}

/// Hours in a day, for the chart.
const DAY_HOURS: usize = 24;
/// Runs longer than this many days are drawn as a daily band.
pub const BAND_AFTER_DAYS: usize = 30;

/// A round step for about `ticks` ticks from 0 to `top`: 1, 2 or 5 times
/// a power of ten.
fn tick_step(top: u64, ticks: u64) -> u64 {
    let raw = top.div_ceil(ticks.max(1)).max(1);
    let mut magnitude = 1u64;
    while magnitude.saturating_mul(10) <= raw {
        magnitude *= 10;
    }
    [1, 2, 5, 10]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw)
}

/// A colour per incident kind.
fn incident_colour(kind: IncidentKind) -> &'static str {
    const PALETTE: [&str; 12] = [
        "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
        "#17becf", "#1f77b4", "#aec7e8", "#ffbb78",
    ];
    PALETTE
        .get(kind.index() % PALETTE.len())
        .copied()
        .unwrap_or("#000000")
}

/// Occupancy over time as a hand-written SVG chart: occupied compartments
/// at each hour (`None`: the gateway was off and nothing was sampled, drawn
/// as a shaded gap, never as zero), with y-axis ticks, day ticks on the
/// x axis and a mark under the axis at each incident's start, coloured by
/// kind. A run longer than [`BAND_AFTER_DAYS`] days is drawn as a daily
/// band (each day's lowest and highest hourly sample) around the daily
/// mean instead of the hourly line.
///
/// The parts carry classes a test can find: `occupancy` (hourly line
/// segments), `band` and `mean` (the daily band), `outage` (gaps),
/// `y-tick`, `x-tick` and `incident`.
pub fn occupancy_svg(
    hourly: &[Option<u32>],
    compartments: u64,
    incidents: &[(Instant, IncidentKind)],
) -> String {
    let (w, h) = (800.0_f64, 340.0_f64);
    let (left, right, top, bottom) = (48.0_f64, 16.0_f64, 32.0_f64, 78.0_f64);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let axis_y = top + plot_h;
    let n = hourly.len().max(2) as f64;
    let x_of = |hour: f64| left + plot_w * hour / (n - 1.0);
    let observed = hourly.iter().flatten().copied().max().unwrap_or(0);
    let ymax = compartments.max(u64::from(observed)).max(1);
    let y_of = |v: f64| axis_y - plot_h * v / ymax as f64;
    let mut body = String::new();

    // y-axis ticks and grid lines.
    let step = tick_step(ymax, 5);
    let mut ticks: Vec<u64> = (0..=ymax / step).map(|k| k * step).collect();
    if ymax % step != 0 {
        ticks.push(ymax);
    }
    for v in ticks {
        let y = y_of(v as f64);
        let _ = writeln!(
            body,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{x2}\" y2=\"{y:.1}\" stroke=\"#e0e0e0\"/>\
<line x1=\"{l0}\" y1=\"{y:.1}\" x2=\"{left}\" y2=\"{y:.1}\" stroke=\"black\"/>\
<text class=\"y-tick\" x=\"{tx}\" y=\"{ty:.1}\" font-size=\"10\" text-anchor=\"end\">{v}</text>",
            x2 = w - right,
            l0 = left - 4.0,
            tx = left - 6.0,
            ty = y + 3.5,
        );
    }

    // Outages: the hours without a sample, shaded.
    let mut i = 0;
    while i < hourly.len() {
        if hourly.get(i).is_some_and(Option::is_none) {
            let start = i;
            while hourly.get(i).is_some_and(Option::is_none) {
                i += 1;
            }
            // At least 2 px, so an hour's outage in a year still shows.
            let x0 = x_of(start as f64);
            let x1 = x_of((i - 1) as f64).max(x0 + 2.0);
            let _ = writeln!(
                body,
                "<rect class=\"outage\" x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"#e4e4e4\"><title>gateway off: no sample, hours {start} to {}</title></rect>",
                x1 - x0,
                i - 1
            );
        } else {
            i += 1;
        }
    }

    let days = hourly.len().div_ceil(DAY_HOURS);
    if days > BAND_AFTER_DAYS {
        // Each day's low, mean and high over the hours sampled.
        let daily: Vec<Option<(u32, f64, u32)>> = hourly
            .chunks(DAY_HOURS)
            .map(|day| {
                let seen: Vec<u32> = day.iter().flatten().copied().collect();
                let lo = seen.iter().copied().min()?;
                let hi = seen.iter().copied().max()?;
                let mean = seen.iter().map(|v| f64::from(*v)).sum::<f64>() / seen.len() as f64;
                Some((lo, mean, hi))
            })
            .collect();
        for run in daily
            .iter()
            .enumerate()
            .collect::<Vec<_>>()
            .split(|(_, d)| d.is_none())
            .filter(|run| !run.is_empty())
        {
            let mid = |d: usize| x_of((d * DAY_HOURS) as f64 + (DAY_HOURS as f64 - 1.0) / 2.0);
            let mut band = String::new();
            let mut mean = String::new();
            for (d, day) in run {
                if let Some((_, m, hi)) = day {
                    let _ = write!(band, "{:.1},{:.1} ", mid(*d), y_of(f64::from(*hi)));
                    let _ = write!(mean, "{:.1},{:.1} ", mid(*d), y_of(*m));
                }
            }
            for (d, day) in run.iter().rev() {
                if let Some((lo, _, _)) = day {
                    let _ = write!(band, "{:.1},{:.1} ", mid(*d), y_of(f64::from(*lo)));
                }
            }
            let _ = writeln!(
                body,
                "<polygon class=\"band\" fill=\"#2a6fdb\" fill-opacity=\"0.25\" stroke=\"none\" points=\"{}\"/>\n\
<polyline class=\"mean\" fill=\"none\" stroke=\"#2a6fdb\" stroke-width=\"1.2\" points=\"{}\"/>",
                band.trim_end(),
                mean.trim_end()
            );
        }
    } else {
        // The hourly line, broken where nothing was sampled.
        let points: Vec<(usize, Option<u32>)> = hourly.iter().copied().enumerate().collect();
        for run in points
            .split(|(_, v)| v.is_none())
            .filter(|run| !run.is_empty())
        {
            let mut line = String::new();
            for (i, v) in run {
                if let Some(v) = v {
                    let _ = write!(line, "{:.1},{:.1} ", x_of(*i as f64), y_of(f64::from(*v)));
                }
            }
            let _ = writeln!(
                body,
                "<polyline class=\"occupancy\" fill=\"none\" stroke=\"#2a6fdb\" stroke-width=\"1\" points=\"{}\"/>",
                line.trim_end()
            );
        }
    }

    // Day ticks.
    let every = (days / 10).max(1);
    for d in (0..=days).step_by(every) {
        let x = x_of((d * DAY_HOURS) as f64);
        let _ = writeln!(
            body,
            "<line x1=\"{x:.1}\" y1=\"{axis_y}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"black\"/>\
<text class=\"x-tick\" x=\"{x:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{d}</text>",
            axis_y + 4.0,
            axis_y + 15.0
        );
    }

    // Incidents: a mark under the axis at each start, coloured by kind.
    let mark_y = axis_y + 22.0;
    let mut kinds: Vec<IncidentKind> = Vec::new();
    for (at, kind) in incidents {
        let x = x_of(at.as_millis() as f64 / 3_600_000.0);
        let _ = writeln!(
            body,
            "<line class=\"incident\" x1=\"{x:.1}\" y1=\"{mark_y}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1.5\"><title>{}</title></line>",
            mark_y + 8.0,
            incident_colour(*kind),
            kind.name()
        );
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    kinds.sort_by_key(|k| k.index());
    let mut legend_x = left;
    let legend_y = h - 12.0;
    for kind in kinds {
        let _ = writeln!(
            body,
            "<rect x=\"{legend_x:.1}\" y=\"{}\" width=\"8\" height=\"8\" fill=\"{}\"/>\
<text x=\"{:.1}\" y=\"{legend_y}\" font-size=\"9\">{}</text>",
            legend_y - 7.5,
            incident_colour(kind),
            legend_x + 11.0,
            kind.name()
        );
        legend_x += 16.0 + 5.2 * kind.name().len() as f64;
    }

    let what = if days > BAND_AFTER_DAYS {
        "daily low-high band and mean"
    } else {
        "hourly"
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n\
<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
<text x=\"{left}\" y=\"20\" font-family=\"sans-serif\" font-size=\"13\">Occupied compartments (of {compartments}), {what}; grey: gateway off; x: day; marks: incidents</text>\n\
<g font-family=\"sans-serif\">\n{body}</g>\n\
<line x1=\"{left}\" y1=\"{axis_y}\" x2=\"{x1}\" y2=\"{axis_y}\" stroke=\"black\"/>\n\
<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{axis_y}\" stroke=\"black\"/>\n\
</svg>\n",
        x1 = w - right,
    )
}

/// A detection time for the summary: seconds, minutes or hours.
fn seconds_as_text(s: u64) -> String {
    match s {
        0..120 => format!("{s} s"),
        120..7_200 => format!("{} min", s / 60),
        _ => format!("{:.1} h", s as f64 / 3_600.0),
    }
}
