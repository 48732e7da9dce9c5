//! A bank's uplink in the simulation: the gateway's outbound queue, the
//! link to the backend and the backend itself.
//!
//! ```text
//!  Gateway ── Upward ──▶ outbound queue ── LINK_DELAY ──▶ Backend (counting)
//!     ▲                  (Delivery, kept                    │ acks, requests
//!     └── handle_downward ◀── LINK_DELAY ◀──────────────────┘
//! ```
//!
//! Envelopes cross the link as values, never encoded: the wire formats
//! have their own tests, and encoding each of a month's messages would only
//! cost time. What the real gateway keeps on disk is kept here across every
//! gateway restart: the outbound queue (its `queue/` directory), the
//! uplink's state (`uplink.state`, written on [`Persist::Uplink`](locker_domain::gateway::Persist::Uplink),
//! before a reboot and at a clean stop) and the boot counter (`epoch`),
//! which moves on at every start so no message id repeats.

use std::collections::VecDeque;

use locker_domain::bank::BankKeys;
use locker_domain::uplink::{
    Delivery, DeliveryConfig, QueueStats, Queued, Uplink, UplinkConfig, UplinkState,
};
use locker_proto::FirmwareVersion;
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{DownEnvelope, Downward, MessageId, ParcelStep, UpEnvelope, Upward};

use super::report::UplinkSummary;
use crate::uplink::{Backend, BackendConfig};

/// How long an envelope takes over the link, each way.
pub const LINK_DELAY: Duration = Duration::from_millis(100);

/// The simulated gateway software's version, as its boot notification says.
const GATEWAY_FIRMWARE: FirmwareVersion = FirmwareVersion::new(0, 1, 0);

/// How the outbound queue sends. The simulated link keeps order (as MQTT
/// on one topic does), so several messages may be in flight: a burst of
/// the four messages one audit record makes crosses in one round trip.
const DELIVERY: DeliveryConfig = DeliveryConfig {
    max_in_flight: 8,
    retry_after: Duration::from_secs(10),
};

/// The backend link of one simulated bank. See the [module documentation](self).
#[derive(Debug)]
pub struct BackendLink {
    bank_id: String,
    /// The boot counter, moved on at every gateway start.
    epoch: u32,
    /// The uplink's state as last persisted.
    saved: UplinkState,
    /// Upward messages not yet acknowledged: survives gateway restarts.
    queue: Delivery<VecDeque<Queued>>,
    /// The counters of the queue as reloaded at earlier starts.
    queue_before: QueueStats,
    /// Envelopes on their way to the backend, with their arrival.
    up: VecDeque<(Instant, UpEnvelope)>,
    /// Envelopes on their way to the gateway, with their arrival.
    down: VecDeque<(Instant, DownEnvelope)>,
    backend: Backend,
    /// Whether the gateway is running and connected.
    online: bool,
    /// Whether the queue took or lost a message since it last sent.
    queue_changed: bool,
    produced: u64,
    lost_to_gateway_off: u64,
    deposits_heard: u64,
    pickups_heard: u64,
}

impl BackendLink {
    /// The link of bank `index` (named `bank-<index + 1>` to the backend),
    /// its gateway not started yet; the backend signs with `keys`, the
    /// bank's.
    pub fn new(index: usize, keys: BankKeys) -> Self {
        BackendLink {
            bank_id: format!("bank-{}", index + 1),
            epoch: 0,
            saved: UplinkState::default(),
            queue: Delivery::with_backlog(VecDeque::new(), DELIVERY),
            queue_before: QueueStats::default(),
            up: VecDeque::new(),
            down: VecDeque::new(),
            // Counts only: a month of ten thousand compartments is millions of messages.
            backend: Backend::counting(BackendConfig::default(), 1, keys),
            online: false,
            queue_changed: false,
            produced: 0,
            lost_to_gateway_off: 0,
            deposits_heard: 0,
            pickups_heard: 0,
        }
    }

    /// The bridge for a gateway starting now: restored from the persisted
    /// state, numbering its messages in a new epoch, its stamps anchored to
    /// `unix_s` at `now`. The outbound queue is reloaded as from disk:
    /// everything not yet acknowledged goes again, oldest first.
    ///
    /// # Errors
    /// A message if the bank's name cannot be a bank id (a bug).
    pub fn start(&mut self, unix_s: i64, now: Instant) -> Result<Uplink, String> {
        self.epoch = self.epoch.wrapping_add(1);
        let config =
            UplinkConfig::new(&self.bank_id, GATEWAY_FIRMWARE).map_err(|e| e.to_string())?;
        let mut uplink = Uplink::new(config, self.saved.clone(), self.epoch);
        uplink.set_wall_clock(unix_s, now);
        let stats = self.queue.stats();
        add_queue_stats(&mut self.queue_before, &stats);
        let pending: VecDeque<Queued> = self.queue.pending().cloned().map(Queued::new).collect();
        self.queue = Delivery::with_backlog(pending, DELIVERY);
        self.online = true;
        self.queue_changed = true;
        // The backend sees the gateway back: its unanswered requests go again.
        self.backend.link_down();
        Ok(uplink)
    }

    /// The gateway stops: its uplink state is written down as at a clean
    /// stop, and the backend sees the link go.
    pub fn stop(&mut self, state: Option<&UplinkState>) {
        if let Some(state) = state {
            self.persist(state);
        }
        self.online = false;
        self.backend.link_down();
    }

    /// Writes the uplink's state down.
    pub fn persist(&mut self, state: &UplinkState) {
        self.saved.clone_from(state);
    }

    /// An upward message into the outbound queue.
    pub fn push(&mut self, message: UpEnvelope) {
        self.produced += 1;
        // A queue over a `VecDeque` is never full: as a disk queue, it only
        // grows while the backend is away.
        let _ = self.queue.push(message);
        self.queue_changed = true;
    }

    /// The backend acknowledged `id`: it leaves the queue.
    pub fn acknowledged(&mut self, id: MessageId, now: Instant) {
        self.queue_changed |= self.queue.handle_ack(id, now);
    }

    /// Messages waiting for the backend's acknowledgement.
    pub fn backlog(&self) -> usize {
        self.queue.len()
    }

    /// Puts on the link what the queue and the backend have to send.
    pub fn transmit(&mut self, now: Instant) {
        if !self.online {
            return;
        }
        // Called after every gateway output: the queue is asked only when
        // it changed or a resend is due, the common case costs a comparison.
        let resend = self.queue.poll_timeout().is_some_and(|at| at <= now);
        if self.queue_changed || resend {
            self.queue_changed = false;
            self.queue.handle_timeout(now);
            while let Some(message) = self.queue.poll_transmit(now) {
                self.up.push_back((now + LINK_DELAY, message));
            }
        }
        if self.backend.poll_timeout().is_some_and(|at| at <= now) {
            self.backend_sends(now);
        }
    }

    /// What the backend has to send (acknowledgements, then requests) onto
    /// the link.
    fn backend_sends(&mut self, now: Instant) {
        while let Some(message) = self.backend.poll_transmit(now) {
            self.down.push_back((now + LINK_DELAY, message));
        }
    }

    /// Hands the backend what arrived for it by `now`.
    pub fn deliver_upward(&mut self, now: Instant) {
        while self.up.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, message)) = self.up.pop_front() else {
                break;
            };
            if let Some(Upward::ParcelEvent(e)) =
                self.backend.handle_upward(message).map(|m| &m.body)
            {
                match e.step {
                    ParcelStep::Deposited => self.deposits_heard += 1,
                    ParcelStep::PickedUp => self.pickups_heard += 1,
                    _ => {}
                }
            }
        }
        // The backend acknowledges at once what it received (and asks what
        // the messages call for), whether or not the gateway is there.
        self.backend_sends(now);
    }

    /// The next message that arrived for the gateway by `now`. While the
    /// gateway is off, what arrives for it is lost, as on a real link.
    pub fn downward_due(&mut self, now: Instant) -> Option<DownEnvelope> {
        while self.down.front().is_some_and(|(at, _)| *at <= now) {
            let (_, message) = self.down.pop_front()?;
            if self.online {
                return Some(message);
            }
            self.lost_to_gateway_off += 1;
        }
        None
    }

    /// When the link next has something to do: an arrival, or (while the
    /// gateway runs) a resend due from the queue or the backend.
    pub fn next_event(&self) -> Option<Instant> {
        if self.up.is_empty() && self.down.is_empty() && self.queue.is_empty() {
            // Asked at every step: a link with nothing on it answers at once
            // (the backend's requests answer messages, so none can wait).
            if !self.online || self.backend.unanswered() == 0 {
                return None;
            }
        }
        let arrivals = [
            self.up.front().map(|(at, _)| *at),
            self.down.front().map(|(at, _)| *at),
        ];
        let timers = if self.online {
            [self.queue.poll_timeout(), self.backend.poll_timeout()]
        } else {
            [None, None]
        };
        arrivals.into_iter().chain(timers).flatten().min()
    }

    /// The backend asks the gateway something; returns the request's id.
    /// It leaves at once if the gateway is there, else when it is back.
    pub fn request(&mut self, body: Downward, now: Instant) -> MessageId {
        let id = self.backend.request(body);
        if self.online {
            self.backend_sends(now);
        }
        id
    }

    /// The backend, for what it heard and asked.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// What the link carried, counted.
    pub fn summary(&self) -> UplinkSummary {
        let mut queue = self.queue_before;
        add_queue_stats(&mut queue, &self.queue.stats());
        let tally = self.backend.tally();
        let applied: u64 = tally.applied.values().sum();
        let refused: u64 = tally.refused.values().sum();
        UplinkSummary {
            produced: self.produced,
            transmissions: queue.transmissions,
            retransmissions: queue.retransmissions,
            delivered: applied + tally.audit_repeats,
            acknowledged: queue.acknowledged,
            still_queued: self.queue.len() as u64,
            backend_duplicates: self.backend.duplicates(),
            audit_repeats: tally.audit_repeats,
            lost_to_gateway_off: self.lost_to_gateway_off,
            delivered_by_kind: tally
                .applied
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            deposits_heard: self.deposits_heard,
            pickups_heard: self.pickups_heard,
            requests: tally.requests.values().sum(),
            requests_by_kind: tally
                .requests
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            answered: tally.answered,
            refused,
            refused_by_code: tally.refused.clone(),
            unanswered: self.backend.unanswered() as u64,
        }
    }
}

fn add_queue_stats(into: &mut QueueStats, s: &QueueStats) {
    into.queued += s.queued;
    into.transmissions += s.transmissions;
    into.retransmissions += s.retransmissions;
    into.acknowledged += s.acknowledged;
    into.refused += s.refused;
}
