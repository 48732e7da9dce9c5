//! The gateway's end of the uplink: its files, the disk queue and the
//! transport.

use std::path::{Path, PathBuf};

use locker_domain::bank::Policy;
use locker_domain::uplink::{
    BACKLOG_LIMIT, DeliveryConfig, Uplink, UplinkConfig, UplinkState, policy_from_config,
    policy_to_config,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::uplink::{DownEnvelope, EnvelopeHeader, MessageId, PolicyConfig, UpEnvelope};
use locker_proto::{FirmwareVersion, ResetReason};

use super::{GatewayError, Notice, StateFile};
use crate::uplink::{DiskQueue, Encoding, Transport, TransportEvent};

/// The gateway software's version, as the boot notification reports it.
pub const GATEWAY_VERSION: FirmwareVersion = FirmwareVersion::new(0, 1, 0);

/// How the gateway talks to its backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UplinkSettings {
    /// The bank's name, as the backend knows it (and in the MQTT topics).
    pub bank_id: String,
    /// Where the uplink keeps its files: `queue/` (one file per message
    /// waiting for the backend), `uplink.state`, `epoch`, `policy.json`.
    pub dir: PathBuf,
    /// Payload encoding on the transport.
    pub encoding: Encoding,
    /// Messages in flight and the resend timeout.
    pub delivery: DeliveryConfig,
    /// How often to send a heartbeat.
    pub heartbeat_every: Duration,
    /// Messages in the queue at which the gateway refuses new transactions
    /// and alerts staff ([`UplinkConfig::backlog_limit`]); the queue on
    /// disk takes [`QUEUE_HEADROOM`] more for what is under way, then
    /// drops (and counts) further messages rather than fill the disk.
    pub backlog_limit: u32,
}

/// Messages the disk queue takes past [`UplinkSettings::backlog_limit`]:
/// the door sessions, pickups and alarms under way when the gateway
/// closed to new transactions.
pub const QUEUE_HEADROOM: usize = 1_000;

impl UplinkSettings {
    /// JSON, one message in flight resent after 5 s, a heartbeat a minute.
    pub fn new(bank_id: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        UplinkSettings {
            bank_id: bank_id.into(),
            dir: dir.into(),
            encoding: Encoding::Json,
            delivery: DeliveryConfig {
                max_in_flight: 1,
                retry_after: Duration::from_secs(5),
            },
            heartbeat_every: Duration::from_mins(1),
            backlog_limit: BACKLOG_LIMIT,
        }
    }

    /// The policy the backend set with `change_configuration`, if it did,
    /// applied to `base`.
    ///
    /// # Errors
    /// [`GatewayError::File`] for a `policy.json` that cannot be read or
    /// used (it is left as it is).
    pub fn stored_policy(&self, base: &Policy) -> Result<Policy, GatewayError> {
        let path = self.dir.join("policy.json");
        let Some(bytes) = StateFile::new(&path).load()? else {
            return Ok(*base);
        };
        let bad = |why: String| {
            GatewayError::file(
                "cannot use the backend's configuration in",
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, why),
            )
        };
        let config: PolicyConfig =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        policy_from_config(base, &config).map_err(|e| bad(e.to_string()))
    }
}

/// A message from the backend, as the transport brought it.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A message this gateway can read.
    Message(Box<DownEnvelope>),
    /// Only its header could be read.
    Unreadable(EnvelopeHeader),
}

/// The uplink's files, its outbound queue and the transport. The bridge
/// itself ([`Uplink`]) runs inside the gateway machine.
#[derive(Debug)]
pub(crate) struct UplinkGlue {
    queue: DiskQueue,
    transport: Box<dyn Transport>,
    state: StateFile,
    dir: PathBuf,
    encoding: Encoding,
    link_up: bool,
    /// Messages refused by the full queue on disk.
    dropped: u64,
}

/// The epoch stored in `path`: `None` if the file does not exist, an error
/// (never a silent 0) if it holds anything but one number.
/// The uplink's state as last persisted in `state`, if there is one.
fn load_state(state: &StateFile) -> Result<Option<UplinkState>, GatewayError> {
    let Some(bytes) = state.load()? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        GatewayError::file(
            "cannot read uplink state",
            state.path(),
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })
}

/// The uplink's audit mark in `dir` (every audit record below it went up),
/// read without changing anything: a witness of the bank's past for the
/// start-up check. `None` if the uplink never persisted its state there.
pub(crate) fn peek_audit_next(dir: &Path) -> Result<Option<u64>, GatewayError> {
    Ok(load_state(&StateFile::new(dir.join("uplink.state")))?.map(|s| s.audit_next))
}

fn read_epoch(path: &Path) -> Result<Option<u32>, GatewayError> {
    let Some(bytes) = StateFile::new(path).load()? else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            GatewayError::file(
                "cannot read the uplink epoch in",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "it must hold one number; if it is lost, delete the file and the gateway \
                     starts past the highest id on disk and the clock",
                ),
            )
        })
}

/// The clock's seconds since 1970, as an epoch: every start's epoch is at
/// least this, so epochs keep ahead of a lost epoch file's recovery unless
/// the gateway restarted more than once a second for a long while.
fn clock_epoch() -> u32 {
    unix_s().and_then(|s| u32::try_from(s).ok()).unwrap_or(0)
}

/// The epoch to start after, when the epoch file is missing: past every id
/// still queued, and past the clock, so no id of the new run repeats one
/// the backend may have seen.
fn recovered_epoch(queue: &DiskQueue) -> u32 {
    let queued = queue.last_id().map_or(0, MessageId::epoch);
    queued.max(clock_epoch())
}

impl UplinkGlue {
    /// Opens the uplink's files and moves the epoch on. Returns the glue,
    /// the bridge restored from its state, and why the gateway started as
    /// far as the files can tell (a clean stop leaves a marker).
    pub(crate) fn open(
        settings: &UplinkSettings,
        transport: Box<dyn Transport>,
        now: Instant,
        notices: &mut std::collections::VecDeque<Notice>,
    ) -> Result<(Self, Uplink, ResetReason), GatewayError> {
        let dir = settings.dir.clone();
        std::fs::create_dir_all(&dir)
            .map_err(|e| GatewayError::file("cannot create uplink directory", &dir, e))?;
        let epoch_path = dir.join("epoch");
        let stored_epoch = read_epoch(&epoch_path)?;
        let state = StateFile::new(dir.join("uplink.state"));
        let restored = load_state(&state)?.unwrap_or_default();
        let queue_dir = dir.join("queue");
        let (queue, bad) = DiskQueue::open(&queue_dir, settings.delivery)
            .map_err(|e| GatewayError::file("cannot open uplink queue", &queue_dir, e))?;
        let limit = usize::try_from(settings.backlog_limit).unwrap_or(usize::MAX);
        let queue = queue.with_limit(limit.saturating_add(QUEUE_HEADROOM));
        for path in bad {
            notices.push_back(Notice::Warning(format!(
                "uplink message {} was damaged and set aside",
                path.display()
            )));
        }
        // Ids are epoch ‖ counter: the epoch moves on before anything is sent
        // (to the clock's seconds since 1970 at least), so no id of this run
        // can repeat one of an earlier run.
        let previous = match stored_epoch {
            Some(epoch) => epoch,
            None => {
                let recovered = recovered_epoch(&queue);
                if state.path().exists() || !queue.is_empty() {
                    notices.push_back(Notice::Warning(format!(
                        "the uplink epoch file {} was missing though the uplink ran before: \
                         message ids go on from epoch {}, past every id on disk and the clock",
                        epoch_path.display(),
                        recovered.saturating_add(1)
                    )));
                }
                recovered
            }
        };
        let epoch = previous
            .checked_add(1)
            .map(|e| e.max(clock_epoch()))
            .ok_or_else(|| {
                GatewayError::file(
                    "cannot move the uplink epoch on in",
                    &epoch_path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "every epoch is used up"),
                )
            })?;
        StateFile::new(&epoch_path).replace(epoch.to_string().as_bytes())?;
        let mut config = UplinkConfig::new(&settings.bank_id, GATEWAY_VERSION)?;
        config.heartbeat_every = settings.heartbeat_every;
        config.backlog_limit = settings.backlog_limit;
        let mut uplink = Uplink::new(config, restored, epoch);
        if let Some(unix_s) = unix_s() {
            uplink.set_wall_clock(unix_s, now);
        }
        // A clean stop leaves a marker; its absence means a crash or a power cut.
        let marker = dir.join("clean-stop");
        let reason = if marker.exists() {
            let _ = std::fs::remove_file(&marker);
            ResetReason::PowerOn
        } else {
            ResetReason::Unknown
        };
        let glue = UplinkGlue {
            queue,
            transport,
            state,
            dir,
            encoding: settings.encoding,
            link_up: false,
            dropped: 0,
        };
        Ok((glue, uplink, reason))
    }

    /// An upward message into the disk queue. `Ok(false)`: the queue is
    /// at its limit and the message was dropped (and counted).
    pub(crate) fn push(&mut self, message: UpEnvelope) -> Result<bool, GatewayError> {
        let dir = self.dir.join("queue");
        match self.queue.push(message) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                self.dropped += 1;
                Ok(false)
            }
            Err(e) => Err(GatewayError::file(
                "cannot write uplink message to",
                &dir,
                e,
            )),
        }
    }

    /// Messages dropped because the queue on disk was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The backend acknowledged `id`: it leaves the queue.
    pub(crate) fn acknowledged(&mut self, id: MessageId, now: Instant) -> Result<(), GatewayError> {
        let dir = self.dir.join("queue");
        self.queue
            .handle_ack(id, now)
            .map_err(|e| GatewayError::file("cannot remove acknowledged message from", &dir, e))?;
        Ok(())
    }

    pub(crate) fn persist_state(&mut self, state: &UplinkState) -> Result<(), GatewayError> {
        let json = serde_json::to_vec(state).unwrap_or_default();
        self.state.replace(&json)
    }

    /// Keeps `policy` for the next start.
    pub(crate) fn store_policy(&self, policy: &Policy) -> Result<(), GatewayError> {
        let json = serde_json::to_vec_pretty(&policy_to_config(policy)).unwrap_or_default();
        StateFile::new(self.dir.join("policy.json")).replace(&json)
    }

    /// A clean stop: the next start reports `PowerOn` rather than `Unknown`.
    pub(crate) fn mark_clean_stop(&mut self, state: &UplinkState) -> Result<(), GatewayError> {
        self.persist_state(state)?;
        StateFile::new(self.dir.join("clean-stop")).replace(b"")
    }

    /// What the transport brought: link changes are handled here, messages
    /// from the backend are returned decoded (undecodable ones as warnings).
    pub(crate) fn receive(
        &mut self,
        notices: &mut std::collections::VecDeque<Notice>,
    ) -> Vec<Incoming> {
        let mut messages = Vec::new();
        while let Some(event) = self.transport.poll() {
            match event {
                TransportEvent::Up => {
                    self.link_up = true;
                    // Whatever was in flight may be gone: send it again.
                    self.queue.link_down();
                    notices.push_back(Notice::Backend {
                        connected: true,
                        waiting: self.queue.len(),
                    });
                }
                TransportEvent::Down => {
                    self.link_up = false;
                    self.queue.link_down();
                    notices.push_back(Notice::Backend {
                        connected: false,
                        waiting: self.queue.len(),
                    });
                }
                TransportEvent::Message(payload) => match self.encoding.decode(&payload) {
                    Ok(message) => messages.push(Incoming::Message(Box::new(message))),
                    Err(e) => {
                        notices.push_back(Notice::Warning(format!("uplink: {e}")));
                        // A request from a newer backend is still answered:
                        // with an error naming what this gateway speaks.
                        if let Some(header) = self.encoding.header(&payload) {
                            messages.push(Incoming::Unreadable(header));
                        }
                    }
                },
            }
        }
        messages
    }

    /// Sends what the queue has due while the link is up.
    pub(crate) fn transmit(&mut self, now: Instant) {
        self.queue.handle_timeout(now);
        while self.link_up {
            let Some(message) = self.queue.poll_transmit(now) else {
                break;
            };
            if self
                .transport
                .send(&self.encoding.encode(&message))
                .is_err()
            {
                self.link_up = false;
                self.queue.link_down();
            }
        }
    }

    /// Messages waiting for the backend.
    pub(crate) fn backlog(&self) -> usize {
        self.queue.len()
    }
}

fn unix_s() -> Option<i64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}
