//! The backend's side of the uplink, for one bank.

use std::collections::{BTreeMap, VecDeque};

use locker_domain::bank::BankKeys;
use locker_domain::uplink::sign_downward;
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{
    AlertKind, CallError, DedupWindow, DownEnvelope, Downward, ErrorCode, HexArray, MessageId,
    RemoteOpen, Response, Scope, SecurityKind, UpEnvelope, Upward, Verdict,
};
use locker_proto::{CompartmentId, NoCommonVersion, ProtocolVersions};

/// How the backend behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendConfig {
    /// A request not answered after this long is sent again (same id).
    pub retry_after: Duration,
    /// Whether to answer alerts: a camera snapshot for a forced door, the
    /// compartment out of service for a lock fault.
    pub answer_alerts: bool,
}

impl Default for BackendConfig {
    /// Requests repeated after 5 s; alerts answered.
    fn default() -> Self {
        BackendConfig {
            retry_after: Duration::from_secs(5),
            answer_alerts: true,
        }
    }
}

/// What a backend has heard and asked, counted: all a long run needs to
/// keep, whatever its length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendTally {
    /// Upward messages carried out, by kind ([`Upward::name`]).
    pub applied: BTreeMap<&'static str, u64>,
    /// Audit records heard again under a new message id: the same sequence
    /// number as one already carried out (a restored bank hands out again
    /// the records its snapshot still held). Not counted in `applied`.
    pub audit_repeats: u64,
    /// Requests made, by kind ([`Downward::name`]).
    pub requests: BTreeMap<&'static str, u64>,
    /// Requests answered with a result.
    pub answered: u64,
    /// Requests refused, by error code (snake_case, as in JSON).
    pub refused: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct Pending {
    message: DownEnvelope,
    sent_at: Option<Instant>,
}

/// The backend of one bank, sans-IO: [`Backend::handle_upward`] for every
/// message from the gateway, [`Backend::poll_transmit`] for what to send,
/// [`Backend::request`] to ask the gateway something.
///
/// Every message it sends, acknowledgements included, is tagged with the
/// bank's keys ([`sign_downward`]) and numbered without gaps, so the
/// gateway's de-duplication window follows it. Should the gateway answer
/// `out_of_window` (its window was restored from before a crash, or more
/// than a window's worth of messages was lost), the backend moves to a new
/// epoch and asks again under a fresh id.
///
/// Every upward message is acknowledged, duplicates too; only those its
/// [`DedupWindow`] has not seen are carried out ([`Backend::applied`] is the
/// backend's record of them). Requests are repeated with the same id until
/// their answer arrives; each answer is kept in [`Backend::answer`].
///
/// A backend made with [`Backend::counting`] keeps neither the messages
/// nor the answers, only their counts ([`Backend::tally`], which every
/// backend keeps): its memory stays bounded over a simulated month of ten
/// thousand compartments.
///
/// ```
/// use locker_domain::bank::{BankId, BankKeys};
/// use locker_examples::uplink::{Backend, BackendConfig};
/// use locker_proto::time::Instant;
/// use locker_proto::uplink::Downward;
///
/// // A made-up secret for the example; `locker-backend` reads the bank's own
/// // with `locker_examples::secret::read_secret`.
/// let keys = BankKeys::derive(BankId(1), &[0x11; 32]);
/// let mut backend = Backend::new(BackendConfig::default(), 7, keys);
/// let id = backend.request(Downward::GetDiagnostics);
/// let now = Instant::from_secs(1);
/// assert_eq!(backend.poll_transmit(now).map(|m| m.id), Some(id));
/// assert!(backend.poll_transmit(now).is_none()); // waits for the answer
/// ```
#[derive(Debug)]
pub struct Backend {
    config: BackendConfig,
    keys: BankKeys,
    next_id: MessageId,
    seen: DedupWindow,
    acks: VecDeque<DownEnvelope>,
    pending: VecDeque<Pending>,
    applied: Vec<UpEnvelope>,
    answers: BTreeMap<MessageId, Result<Response, CallError>>,
    duplicates: u64,
    unreadable: u64,
    /// Whether `applied` and `answers` keep every message and answer.
    keep_messages: bool,
    /// The last message carried out, when `applied` does not keep it.
    last: Option<UpEnvelope>,
    /// The next audit sequence number not yet carried out.
    audit_next: u64,
    tally: BackendTally,
    epoch_changes: u64,
    renumbered: u64,
    /// The bank's incarnation, from its latest boot notification.
    incarnation: Option<u32>,
    /// The uplink version agreed with the gateway at its latest boot
    /// notification.
    uplink_version: Option<Result<u8, NoCommonVersion>>,
    /// Boot notifications naming no uplink version this backend speaks.
    versions_refused: u64,
}

impl Backend {
    /// A backend numbering its messages in `epoch` (persist and increment
    /// it at every start, or use the start time in seconds) and tagging
    /// them with `keys`, the bank's.
    pub fn new(config: BackendConfig, epoch: u32, keys: BankKeys) -> Self {
        Backend {
            config,
            keys,
            next_id: MessageId::first_of_epoch(epoch),
            seen: DedupWindow::new(),
            acks: VecDeque::new(),
            pending: VecDeque::new(),
            applied: Vec::new(),
            answers: BTreeMap::new(),
            duplicates: 0,
            unreadable: 0,
            keep_messages: true,
            last: None,
            audit_next: 0,
            tally: BackendTally::default(),
            epoch_changes: 0,
            renumbered: 0,
            incarnation: None,
            uplink_version: None,
            versions_refused: 0,
        }
    }

    /// A backend that keeps only counts ([`Backend::tally`]): [`Backend::applied`]
    /// stays empty and [`Backend::answer`] knows nothing, so a run of any
    /// length holds no more than a few counters and the requests in flight.
    ///
    /// ```
    /// use locker_domain::bank::{BankId, BankKeys};
    /// use locker_examples::uplink::{Backend, BackendConfig};
    /// use locker_proto::uplink::{Envelope, Heartbeat, MessageId, Stamp, Upward};
    ///
    /// let keys = BankKeys::derive(BankId(1), &[0x11; 32]); // a made-up secret
    /// let mut backend = Backend::counting(BackendConfig::default(), 7, keys);
    /// let beat = Envelope::new(MessageId(1), Upward::Heartbeat(Heartbeat { at: Stamp::default(), backlog: 0 }));
    /// assert!(backend.handle_upward(beat.clone()).is_some());
    /// assert!(backend.handle_upward(beat).is_none()); // a duplicate: acknowledged, not carried out
    /// assert_eq!(backend.tally().applied.get("heartbeat"), Some(&1));
    /// assert!(backend.applied().is_empty());
    /// ```
    pub fn counting(config: BackendConfig, epoch: u32, keys: BankKeys) -> Self {
        Backend {
            keep_messages: false,
            ..Backend::new(config, epoch, keys)
        }
    }

    fn next(&mut self) -> MessageId {
        let id = self.next_id;
        self.next_id = id.next();
        id
    }

    /// Asks the gateway something; returns the request's id.
    pub fn request(&mut self, body: Downward) -> MessageId {
        let id = self.next();
        *self.tally.requests.entry(body.name()).or_default() += 1;
        self.pending.push_back(Pending {
            message: sign_downward(&self.keys, id, body),
            sent_at: None,
        });
        id
    }

    /// The gateway's window is out of reach of this epoch's ids: go on in
    /// the next epoch, and ask `refused` again under an id of it.
    fn next_epoch(&mut self, refused: MessageId) {
        self.next_id = MessageId::first_of_epoch(self.next_id.epoch().saturating_add(1));
        self.epoch_changes += 1;
        let Some(i) = self.pending.iter().position(|p| p.message.id == refused) else {
            return;
        };
        if let Some(old) = self.pending.remove(i) {
            let id = self.next();
            self.pending.insert(
                i,
                Pending {
                    message: sign_downward(&self.keys, id, old.message.body),
                    sent_at: None,
                },
            );
        }
    }

    /// The bank's incarnation as its latest boot notification named it
    /// (`None` before the first): remote opens and offline tokens must be
    /// made for it.
    pub fn incarnation(&self) -> Option<u32> {
        self.incarnation
    }

    /// A remote open of `compartment` with `request_id` (which must grow
    /// with every remote open of the bank), signed for the bank's current
    /// incarnation; `None` before the first boot notification, when the
    /// incarnation is not known yet. Send it with [`Backend::request`].
    pub fn signed_remote_open(
        &self,
        compartment: CompartmentId,
        request_id: u64,
    ) -> Option<Downward> {
        let incarnation = self.incarnation?;
        let signed = locker_domain::bank::RemoteOpen::signed(
            &self.keys,
            locker_domain::bank::Incarnation(incarnation),
            compartment,
            request_id,
        );
        Some(Downward::RemoteOpen(RemoteOpen {
            incarnation,
            compartment,
            request_id,
            tag: HexArray(signed.tag),
        }))
    }

    /// The deposit code of `parcel` reserved in `compartment`, for the
    /// courier (see [`locker_domain::bank::deposit`]); `None` before the
    /// first boot notification.
    pub fn deposit_code(
        &self,
        compartment: CompartmentId,
        parcel: locker_proto::uplink::ParcelNumber,
    ) -> Option<locker_domain::bank::DepositCode> {
        let incarnation = locker_domain::bank::Incarnation(self.incarnation?);
        Some(locker_domain::bank::DepositCode::for_parcel(
            &self.keys,
            incarnation,
            compartment,
            locker_domain::bank::ParcelId(parcel.0),
        ))
    }

    /// The uplink version agreed with the gateway: the highest both speak,
    /// from its latest boot notification; `None` before the first one,
    /// `Some(Err(..))` when the gateway speaks none of this backend's
    /// versions (the backend still acknowledges, with its own set, so the
    /// gateway learns why; it reads what it can).
    pub fn uplink_version(&self) -> Option<Result<u8, NoCommonVersion>> {
        self.uplink_version
    }

    /// Boot notifications that named no uplink version this backend speaks.
    pub fn versions_refused(&self) -> u64 {
        self.versions_refused
    }

    /// Times the gateway's window made this backend start a new epoch.
    pub fn epoch_changes(&self) -> u64 {
        self.epoch_changes
    }

    /// Messages from the gateway whose id was beyond the window, taken as
    /// a restart of its numbering (see [`Backend::handle_upward`]).
    pub fn renumbered(&self) -> u64 {
        self.renumbered
    }

    /// Whether to carry out `id`: the window's verdict, except that an id
    /// beyond it restarts the window there. Upward messages are not tagged
    /// (the transport authenticates the gateway), so the window's bound
    /// protects nothing here, and losing a message would be worse.
    fn accept(&mut self, id: MessageId) -> bool {
        match self.seen.accept(id) {
            Verdict::New => true,
            Verdict::TooFar => {
                self.renumbered += 1;
                self.seen = DedupWindow::new();
                self.seen.accept(id).is_new()
            }
            _ => false,
        }
    }

    /// A message from the gateway. Returns it if it is new (carried out),
    /// `None` for a duplicate. Either way it is acknowledged.
    pub fn handle_upward(&mut self, message: UpEnvelope) -> Option<&UpEnvelope> {
        let id = self.next();
        let ack = match &message.body {
            // The boot notification's acknowledgement names the uplink
            // versions this backend speaks (spec/versioning.md §4.2).
            Upward::BootNotification(_) => Downward::BootAck {
                boot: message.id,
                versions: ProtocolVersions::UPLINK,
            },
            _ => Downward::Ack(message.id),
        };
        let ack = sign_downward(&self.keys, id, ack);
        self.acks.push_back(ack);
        if !self.accept(message.id) {
            self.duplicates += 1;
            return None;
        }
        match &message.body {
            Upward::Audit(record) if record.seq < self.audit_next => {
                // The chain of custody is gap-free and in order: a sequence
                // number below the next one expected was carried out already.
                self.tally.audit_repeats += 1;
                return None;
            }
            Upward::Audit(record) => self.audit_next = record.seq + 1,
            Upward::BootNotification(boot) => {
                self.incarnation = Some(boot.incarnation);
                let agreed = ProtocolVersions::UPLINK.agree(boot.versions);
                if agreed.is_err() {
                    self.versions_refused += 1;
                }
                self.uplink_version = Some(agreed);
            }
            Upward::CallResult(r) => {
                self.pending.retain(|p| p.message.id != r.request);
                self.tally.answered += 1;
                if self.keep_messages {
                    self.answers.insert(r.request, Ok(r.response.clone()));
                }
            }
            Upward::CallError(e) if e.code == ErrorCode::OutOfWindow => {
                self.next_epoch(e.request);
            }
            Upward::CallError(e) => {
                self.pending.retain(|p| p.message.id != e.request);
                // Refusals are rare: naming their code through serde costs nothing.
                let code = serde_json::to_value(e.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "unknown".to_owned());
                *self.tally.refused.entry(code).or_default() += 1;
                if self.keep_messages {
                    self.answers.insert(e.request, Err(e.clone()));
                }
            }
            Upward::SecurityEvent(e) if self.config.answer_alerts => {
                if let (SecurityKind::ForcedDoor, Some(compartment)) = (e.kind, e.compartment) {
                    self.request(Downward::TriggerSnapshot { compartment });
                }
            }
            Upward::Alert(a) if self.config.answer_alerts => {
                if let (AlertKind::LockFault, Some(compartment)) = (a.kind, a.compartment) {
                    self.request(Downward::ChangeAvailability {
                        scope: Scope::Compartment(compartment),
                        available: false,
                    });
                }
            }
            _ => {}
        }
        *self.tally.applied.entry(message.body.name()).or_default() += 1;
        if self.keep_messages {
            self.applied.push(message);
            self.applied.last()
        } else {
            Some(&*self.last.insert(message))
        }
    }

    /// A message from the gateway whose body this backend cannot read (a
    /// newer gateway's): acknowledged, so the gateway's queue moves on, and
    /// counted.
    pub fn handle_undecodable(&mut self, header: locker_proto::uplink::EnvelopeHeader) {
        let id = self.next();
        let ack = sign_downward(&self.keys, id, Downward::Ack(header.id));
        self.acks.push_back(ack);
        if self.accept(header.id) {
            self.unreadable += 1;
        }
    }

    /// Upward messages acknowledged without being understood.
    pub fn unreadable(&self) -> u64 {
        self.unreadable
    }

    /// The next message to send: acknowledgements first, then requests
    /// never sent or overdue, oldest first.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<DownEnvelope> {
        if let Some(ack) = self.acks.pop_front() {
            return Some(ack);
        }
        let retry_after = self.config.retry_after;
        let due = self.pending.iter_mut().find(|p| {
            p.sent_at
                .is_none_or(|at| now.saturating_since(at) >= retry_after)
        })?;
        due.sent_at = Some(now);
        Some(due.message.clone())
    }

    /// When [`poll_transmit`](Self::poll_transmit) next has a request to
    /// repeat (or one never sent: now), for an event-driven caller's clock.
    /// Acknowledgements are due at once and not counted here: poll them
    /// after every [`handle_upward`](Self::handle_upward).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .iter()
            .map(|p| {
                p.sent_at
                    .map_or(Instant::ZERO, |at| at + self.config.retry_after)
            })
            .min()
    }

    /// The link was lost: every unanswered request goes again when it is back.
    pub fn link_down(&mut self) {
        for p in &mut self.pending {
            p.sent_at = None;
        }
    }

    /// The answer to request `id`, once it came (never, for a
    /// [`counting`](Self::counting) backend).
    pub fn answer(&self, id: MessageId) -> Option<&Result<Response, CallError>> {
        self.answers.get(&id)
    }

    /// Every upward message carried out, in arrival order (empty for a
    /// [`counting`](Self::counting) backend).
    pub fn applied(&self) -> &[UpEnvelope] {
        &self.applied
    }

    /// What the backend carried out and asked, counted.
    pub fn tally(&self) -> &BackendTally {
        &self.tally
    }

    /// Upward messages received again and not carried out again.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Requests not yet answered.
    pub fn unanswered(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locker_domain::bank::BankId;
    use locker_domain::uplink::verify_downward;
    use locker_proto::uplink::{Envelope, Heartbeat, Stamp};

    fn keys() -> BankKeys {
        BankKeys::derive(BankId(1), &[0x11; 32])
    }

    #[test]
    fn everything_sent_is_tagged_and_an_out_of_window_answer_moves_the_backend_to_a_new_epoch() {
        let mut backend = Backend::new(BackendConfig::default(), 7, keys());
        let now = Instant::from_secs(1);
        let beat = Envelope::new(
            MessageId(1),
            Upward::Heartbeat(Heartbeat {
                at: Stamp::default(),
                backlog: 0,
            }),
        );
        assert!(backend.handle_upward(beat).is_some());
        let asked = backend.request(Downward::GetDiagnostics);
        let sent: Vec<DownEnvelope> = std::iter::from_fn(|| backend.poll_transmit(now)).collect();
        assert_eq!(sent.len(), 2, "the ack, then the request");
        assert!(sent.iter().all(|m| verify_downward(&keys(), m)));

        // The gateway's window is out of this epoch's reach.
        let refusal = Envelope::new(
            MessageId(2),
            Upward::CallError(CallError {
                request: asked,
                code: ErrorCode::OutOfWindow,
                description: "too far".try_into().unwrap_or_default(),
            }),
        );
        backend.handle_upward(refusal);
        assert_eq!(backend.epoch_changes(), 1);
        let again: Vec<DownEnvelope> = std::iter::from_fn(|| backend.poll_transmit(now))
            .filter(|m| m.body.is_request())
            .collect();
        assert_eq!(again.len(), 1, "asked again");
        assert_eq!(again[0].body, Downward::GetDiagnostics);
        assert_eq!(again[0].id.epoch(), 8);
        assert!(verify_downward(&keys(), &again[0]));
        assert_eq!(backend.unanswered(), 1);
    }
}
