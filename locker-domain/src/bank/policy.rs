//! The bank's configurable rules: deadlines, pulse length, code length, power
//! thresholds, quiet hours, refrigerated compartments.

use locker_proto::time::Duration;
use locker_proto::{NodeConfig, TimeZone};

use super::codes::LockoutPolicy;
use super::cold::ColdPolicy;
use super::health::HealthPolicy;
use crate::controller::ConfigProblem;

/// Hours of the day when reminders wait, on the bank's local clock (its UTC
/// wall clock in [`Policy::time_zone`]). Minutes since local midnight;
/// `start > end` means the quiet period spans midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QuietHours {
    /// First quiet minute of the day (0..1440).
    pub start_minute: u16,
    /// First minute after the quiet period (0..1440).
    pub end_minute: u16,
}

impl QuietHours {
    /// Quiet from `start_h:00` to `end_h:00`.
    pub const fn hours(start_h: u16, end_h: u16) -> Self {
        QuietHours {
            start_minute: start_h * 60,
            end_minute: end_h * 60,
        }
    }

    /// Whether minute-of-day `minute` is quiet.
    pub const fn contains(&self, minute: u16) -> bool {
        if self.start_minute <= self.end_minute {
            minute >= self.start_minute && minute < self.end_minute
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }

    /// Minutes from `minute` until the quiet period ends (0 when not quiet).
    pub const fn minutes_until_end(&self, minute: u16) -> u16 {
        if !self.contains(minute) {
            0
        } else if minute < self.end_minute {
            self.end_minute - minute
        } else {
            1440 - minute + self.end_minute
        }
    }
}

/// The rules of a bank. [`Policy::default`] gives the values of the issue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// After deposit, first reminder to the recipient (24 h).
    pub reminder_after: Duration,
    /// After deposit, escalation to recipient and staff (48 h).
    pub escalation_after: Duration,
    /// After deposit, the parcel expires and staff get a removal task (72 h).
    pub expiry_after: Duration,
    /// How long a reservation holds a compartment before a courier arrives (24 h).
    pub reservation_hold: Duration,
    /// How long a courier has to retry after "no parcel detected" (10 min).
    pub deposit_window: Duration,
    /// How long a door may stay open before an alert (2 min).
    pub door_ajar_limit: Duration,
    /// How long after an unlock the door must have opened (15 s); one retry, then a lock fault.
    pub unlock_confirm: Duration,
    /// How long after the door closes the presence sensor may take to settle (3 s).
    pub presence_settle: Duration,
    /// Lock pulse length sent with every unlock (500 ms).
    pub unlock_pulse_ms: u16,
    /// Digits in a pickup code (6).
    pub code_digits: u8,
    /// Below this battery charge, new deposits are refused (30 %).
    pub min_charge_for_deposit: u8,
    /// When reminders wait (21:00 to 08:00 local time); `None` sends them
    /// at any hour.
    pub quiet_hours: Option<QuietHours>,
    /// Where the bank stands: the rule that turns its UTC wall clock into
    /// local time for quiet hours and the analytics' hours and weekdays
    /// (UTC). Set it for the site, e.g. `TimeZone::european(60)` for
    /// Berlin: with the default, a bank in New York would keep quiet from
    /// 16:00 to 03:00 and send reminders from 3 a.m.
    pub time_zone: TimeZone,
    /// Keypad attempt limits.
    pub lockout: LockoutPolicy,
    /// Sensor health thresholds.
    pub health: HealthPolicy,
    /// The most remote opens the backend may make within
    /// [`remote_open_window`](Self::remote_open_window), bank-wide (5). The
    /// next one locks remote opens until staff clear the lock. At most
    /// [`MAX_REMOTE_OPEN_LIMIT`](super::MAX_REMOTE_OPEN_LIMIT) (larger values
    /// count as that); 0 refuses every remote open.
    pub remote_open_limit: u8,
    /// The sliding window of the remote-open limit (10 min). A zero window
    /// holds no open, so it switches the limit off: do not set it to zero
    /// unless the backend enforces its own limit.
    pub remote_open_window: Duration,
    /// How long a node may stay unreachable before staff are alerted (60 s).
    /// The loss is audited at once and the node's compartments are
    /// unverified from the first moment; a node the link layer finds again
    /// within this time (a burst of noise on the line, a node that rebooted
    /// by itself) raises no [`NodeUnreachable`](super::AlertKind::NodeUnreachable)
    /// alert. Zero alerts at once.
    pub node_alert_after: Duration,
    /// How often every reachable node is asked for its full status (15 min),
    /// on top of the scans after a restart, a restore or a node's return.
    /// The answers are the node's own (tagged for the gateway's query, see
    /// `locker_proto::auth`), so a difference between a scan and the books
    /// (a parcel gone, an item where none should be, a door open) is a
    /// discrepancy alert within this time, whatever became of the events
    /// that should have told the bank. Zero scans only when the bank asks
    /// for other reasons.
    pub status_scan_every: Duration,
    /// Refrigerated compartments' limits, their watch, and perishable
    /// parcels' deadlines (see [`cold`](super::cold)).
    pub cold: ColdPolicy,
    /// How long a drifting load cell is answered by the bank's own
    /// recalibrations before it counts as failing (48 h). When sensor
    /// health finds a free compartment's load cell drifting
    /// ([`HealthIssue::PresenceDrift`](super::health::HealthIssue::PresenceDrift))
    /// behind a shut door, the bank reads the compartment at every scan,
    /// and once a later reading agrees with the one before (the zero moves
    /// slowly enough for a re-tare to hold), it has the node take the
    /// reading as the new empty baseline by itself, as staff would with
    /// [`Bank::recalibrate`](super::Bank::recalibrate). Drift found again
    /// is answered again, for this long after the first finding; drift
    /// found after that, or once the re-tares would move the zero further
    /// than [`DRIFT_SHIFT_BANDS`](super::DRIFT_SHIFT_BANDS) bands in all, is
    /// a cell that does not settle, and raises the maintenance alert for a
    /// site visit. A compartment quiet for this
    /// long after its last re-tare is watched no more. Zero never
    /// recalibrates automatically: every drift is an alert.
    ///
    /// Two days: a zero that shifted after a knock or a temperature step
    /// creeps for hours, a day at most, and then stays (each re-tare on the
    /// way keeps the reading within a band of the truth, and the last one
    /// fixes it for good), while a failing cell is still drifting after two
    /// days of re-tares. A failing cell slower than a band a day is
    /// re-tared about daily and not called failing: its readings stay
    /// within a band of the truth.
    pub drift_settle_within: Duration,
    /// The configuration the bank gives its nodes, if it configures them
    /// (`None`). When set, the bank sends it
    /// ([`Command::Configure`](locker_proto::Command::Configure)) to every
    /// node when it starts or is restored, to every node again when the
    /// policy changes it or the door-ajar limit, and to a node that
    /// restarted or came back after it was lost, so a node replaced on site
    /// is configured without anyone at the bank. Its `door_ajar_limit_s` is
    /// not used: the nodes get [`door_ajar_limit`](Self::door_ajar_limit),
    /// rounded up to whole seconds, so a door left open raises one alert
    /// at one limit, whoever notices first ([`Policy::node_configuration`]).
    /// Its checks are in [`Policy::check_node_config`], among them that
    /// [`HealthPolicy::drift_band`](super::health::HealthPolicy::drift_band)
    /// is in the units of its presence threshold (set both together).
    ///
    /// `None` by default: the bank cannot know the units of a node's
    /// presence sensor (grams, raw counts of a load-cell amplifier), and a
    /// threshold in the wrong units takes every compartment out of service.
    /// A Kerong board's adapter (`locker_drivers::kerong::BoardNode`) takes
    /// the door-ajar limit from it and has no use for the rest. A node that
    /// refuses the configuration raises
    /// [`AlertKind::NodeFault`](super::AlertKind::NodeFault) with the
    /// refusal as evidence.
    pub node_config: Option<NodeConfig>,
    /// Whether the camera takes a snapshot of each verified deposit and
    /// pickup (off): proof of delivery and of collection, its reference in
    /// the `deposit_verified` / `pickup_verified` audit record
    /// ([`SnapshotCause::Deposit`](super::SnapshotCause::Deposit),
    /// [`SnapshotCause::Pickup`](super::SnapshotCause::Pickup)). Off by
    /// default: residents are photographed at the door, which the operator
    /// must be allowed to do where the bank stands. Forced doors are
    /// photographed either way.
    pub snapshot_handoffs: bool,
    /// Whether every lock of this bank has a feedback contact and its node
    /// reports a pulse that did not release it
    /// ([`FaultCode::LockJammed`](locker_proto::FaultCode::LockJammed),
    /// raised again for each such pulse). Our node's controller does, for a
    /// lock with a contact; a Kerong board behind
    /// `locker_drivers::kerong::BoardNode` does not (its one contact per
    /// door cannot tell a jammed latch from a door held shut).
    ///
    /// When set, an acknowledged unlock followed by neither an opening nor
    /// a jam is someone who walked away before pulling the door: the
    /// session ends with the compartment in service and no alert, where
    /// without it the bank must suspect the lock
    /// ([`AlertKind::LockFault`](super::AlertKind::LockFault), out of
    /// service until staff look). Off by default: set it only for nodes
    /// that keep that promise, or a jammed lock goes unreported.
    /// It is the bank's hardware, not a rule: the backend does not set it
    /// (`change_configuration` keeps it).
    pub locks_report_jams: bool,
}

/// Why [`Policy::node_config`] cannot be given to the bank's nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NodeConfigError {
    /// A node would refuse it.
    #[error("the nodes would refuse this configuration: {0}")]
    Refused(#[from] ConfigProblem),
    /// The nodes' longest pulse is shorter than the bank's unlock pulse.
    #[error(
        "the nodes' max_pulse_ms ({max_pulse_ms} ms) is below the unlock pulse of the policy ({unlock_pulse_ms} ms): every unlock would be cut short"
    )]
    PulseCutShort {
        /// The nodes' longest pulse.
        max_pulse_ms: u16,
        /// The pulse the bank asks for with every unlock.
        unlock_pulse_ms: u16,
    },
    /// The drift band of sensor health
    /// ([`HealthPolicy::drift_band`](super::health::HealthPolicy::drift_band))
    /// is not in the units of the nodes' presence threshold: it must be at
    /// least a twentieth of the threshold (a band far below it takes a
    /// cell's ordinary noise for drift and re-tares it without end, as a
    /// band of 4 does against a threshold of 2,000 raw counts), and below
    /// half of it, the level at which a node lets an occupied compartment
    /// go (a zero allowed to wander that far before it counts as drift
    /// keeps an emptied compartment reading occupied, and pickups are not
    /// verified). Not checked for a threshold below 4 units: an on/off
    /// sensor such as a break beam has no drift to watch.
    #[error(
        "the drift band ({drift_band}) is not in the units of the nodes' presence threshold ({presence_threshold}): it must be at least a twentieth of it and below half of it"
    )]
    DriftBandOutOfScale {
        /// The band of the policy's sensor health.
        drift_band: i32,
        /// The nodes' presence threshold.
        presence_threshold: i32,
    },
}

impl Policy {
    /// What the bank sends its nodes: [`node_config`](Self::node_config)
    /// with the door-ajar limit of this policy, in whole seconds rounded up
    /// (at least 1, at most `u16::MAX`).
    ///
    /// ```
    /// use locker_domain::bank::Policy;
    /// use locker_proto::{Duration, NodeConfig};
    ///
    /// let policy = Policy {
    ///     door_ajar_limit: Duration::from_mins(2),
    ///     node_config: Some(NodeConfig { presence_threshold: 2_000, ..NodeConfig::default() }),
    ///     ..Policy::default()
    /// };
    /// let sent = policy.node_configuration().unwrap();
    /// assert_eq!(sent.door_ajar_limit_s, 120);
    /// assert_eq!(sent.presence_threshold, 2_000);
    /// assert_eq!(Policy::default().node_configuration(), None);
    /// ```
    pub fn node_configuration(&self) -> Option<NodeConfig> {
        let mut config = self.node_config?;
        let seconds = self.door_ajar_limit.as_millis().div_ceil(1_000);
        config.door_ajar_limit_s = u16::try_from(seconds).unwrap_or(u16::MAX).max(1);
        Some(config)
    }

    /// Whether [`node_configuration`](Self::node_configuration) is one the
    /// nodes accept and that lets every unlock pulse run its full length.
    ///
    /// # Errors
    /// [`NodeConfigError`].
    pub fn check_node_config(&self) -> Result<(), NodeConfigError> {
        let Some(config) = self.node_configuration() else {
            return Ok(());
        };
        crate::controller::validate(&config)?;
        if config.max_pulse_ms < self.unlock_pulse_ms {
            return Err(NodeConfigError::PulseCutShort {
                max_pulse_ms: config.max_pulse_ms,
                unlock_pulse_ms: self.unlock_pulse_ms,
            });
        }
        let (band, threshold) = (self.health.drift_band, config.presence_threshold);
        let at_least = (threshold / 20).max(1);
        let below = crate::controller::release_level(threshold);
        // A threshold of a few units is an on/off sensor (a break beam
        // reads 0 or 1): no band fits below half of it, and none is needed.
        if below > 1 && (band < at_least || band >= below) {
            return Err(NodeConfigError::DriftBandOutOfScale {
                drift_band: band,
                presence_threshold: threshold,
            });
        }
        Ok(())
    }
}

impl Default for Policy {
    /// The values of each field's docs.
    ///
    /// The remote-open limit (5 per 10 minutes) is the one a compromised
    /// backend meets: a remote open is the exception path (a recipient who
    /// lost the code, a support agent helping at the door), a few per day in
    /// a busy bank, so five within ten minutes leaves room for a support
    /// agent working through a small queue, and caps a backend in an
    /// attacker's hands at five doors before the bank locks remote opens and
    /// alerts staff, where the Moscow attack of December 2020 opened 2,732.
    fn default() -> Self {
        Policy {
            reminder_after: Duration::from_hours(24),
            escalation_after: Duration::from_hours(48),
            expiry_after: Duration::from_hours(72),
            reservation_hold: Duration::from_hours(24),
            deposit_window: Duration::from_mins(10),
            door_ajar_limit: Duration::from_mins(2),
            unlock_confirm: Duration::from_secs(15),
            presence_settle: Duration::from_secs(3),
            unlock_pulse_ms: 500,
            code_digits: 6,
            min_charge_for_deposit: 30,
            quiet_hours: Some(QuietHours::hours(21, 8)),
            time_zone: TimeZone::UTC,
            lockout: LockoutPolicy::default(),
            health: HealthPolicy::default(),
            remote_open_limit: 5,
            remote_open_window: Duration::from_mins(10),
            node_alert_after: Duration::from_secs(60),
            status_scan_every: Duration::from_mins(15),
            cold: ColdPolicy::default(),
            drift_settle_within: Duration::from_hours(48),
            node_config: None,
            snapshot_handoffs: false,
            locks_report_jams: false,
        }
    }
}
