//! The gateway's outbound queue on disk.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use locker_domain::uplink::{Delivery, DeliveryConfig, QueueStats, Queued};
use locker_proto::time::Instant;
use locker_proto::uplink::{MAX_POSTCARD_LEN, MessageId, UpEnvelope};

/// Upward messages waiting for the backend's acknowledgement, one file per
/// message in a directory (`<id>.msg`, postcard), so they survive a gateway
/// restart.
///
/// A message is written to a temporary file, synced and renamed into place
/// before [`push`](Self::push) returns, and its file is removed when the
/// backend acknowledges it: after a crash or a power cut the directory holds
/// every message not yet acknowledged, each whole. Delivery is
/// `locker_domain::uplink::Delivery`, the state machine behind
/// `OutboundQueue`: oldest first, at most
/// [`DeliveryConfig::max_in_flight`] unacknowledged, everything
/// unacknowledged again after a timeout or a lost link.
///
/// The queue holds at most its limit ([`DiskQueue::with_limit`]; none
/// unless one is set): past it, [`push`](Self::push) refuses the message
/// with [`io::ErrorKind::StorageFull`] rather than fill the disk. The
/// gateway sets the limit a little above the uplink's backlog limit, at
/// which it already refuses new transactions and alerts staff, so only the
/// messages of what is under way can reach it.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    delivery: Delivery<VecDeque<Queued>>,
    limit: Option<usize>,
}

fn file_name(id: MessageId) -> String {
    format!("{:020}.msg", id.0)
}

impl DiskQueue {
    /// Opens (creating) the queue in `dir` and loads the messages a
    /// previous run left, oldest first. A file that does not decode (cut
    /// short by a crash before its rename, or damaged) is renamed to
    /// `<name>.bad` and reported in the returned list, never silently dropped.
    ///
    /// # Errors
    /// Directory and file errors.
    pub fn open(dir: &Path, config: DeliveryConfig) -> io::Result<(Self, Vec<PathBuf>)> {
        fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        let mut bad = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("msg") => {}
                // A write cut short before its rename: the message was never
                // queued (push had not returned), so nothing is lost.
                Some("tmp") => {
                    fs::remove_file(&path)?;
                    continue;
                }
                _ => continue,
            }
            let bytes = fs::read(&path)?;
            match UpEnvelope::from_postcard(&bytes) {
                Ok(message) => found.push(message),
                Err(_) => {
                    let mut aside = path.clone().into_os_string();
                    aside.push(".bad");
                    fs::rename(&path, &aside)?;
                    bad.push(PathBuf::from(aside));
                }
            }
        }
        found.sort_by_key(|m| m.id);
        let entries = found.into_iter().map(Queued::new).collect();
        let queue = DiskQueue {
            dir: dir.to_path_buf(),
            delivery: Delivery::with_backlog(entries, config),
            limit: None,
        };
        Ok((queue, bad))
    }

    /// The same queue holding at most `limit` messages (those a previous
    /// run left beyond it are kept and sent; nothing more is taken until
    /// the queue is below the limit).
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Writes `message` durably and appends it.
    ///
    /// # Errors
    /// [`io::ErrorKind::StorageFull`] when the queue holds its limit, and
    /// file errors; the message is then not queued.
    pub fn push(&mut self, message: UpEnvelope) -> io::Result<()> {
        if self.limit.is_some_and(|limit| self.delivery.len() >= limit) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "the uplink queue holds its limit of messages",
            ));
        }
        let mut buf = [0u8; MAX_POSTCARD_LEN];
        let bytes = message
            .to_postcard(&mut buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let path = self.dir.join(file_name(message.id));
        let temp = self.dir.join(format!("{}.tmp", file_name(message.id)));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &path)?;
        File::open(&self.dir)?.sync_all()?;
        // A VecDeque always has room.
        self.delivery.push(message).map_err(io::Error::other)
    }

    /// Messages not yet acknowledged.
    pub fn len(&self) -> usize {
        self.delivery.len()
    }

    /// Whether every message was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.delivery.is_empty()
    }

    /// Counters since the queue was opened.
    pub fn stats(&self) -> QueueStats {
        self.delivery.stats()
    }

    /// The highest id on disk, if any.
    pub fn last_id(&self) -> Option<MessageId> {
        self.delivery
            .backlog()
            .iter()
            .next_back()
            .map(|e| e.message().id)
    }

    /// The next message to send, if the in-flight limit allows one.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<UpEnvelope> {
        self.delivery.poll_transmit(now)
    }

    /// The backend acknowledged `id`: its file is removed. Returns whether
    /// the queue held it.
    ///
    /// # Errors
    /// The file could not be removed (it is then sent again after a restart,
    /// and the backend de-duplicates it).
    pub fn handle_ack(&mut self, id: MessageId, now: Instant) -> io::Result<bool> {
        if !self.delivery.handle_ack(id, now) {
            return Ok(false);
        }
        match fs::remove_file(self.dir.join(file_name(id))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(true),
        }
    }

    /// Sends everything unacknowledged again if the acknowledgement is overdue.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.delivery.handle_timeout(now);
    }

    /// The link was lost or came back: everything unacknowledged goes again.
    pub fn link_down(&mut self) {
        self.delivery.link_down();
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.delivery.poll_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locker_proto::uplink::{Envelope, Heartbeat, Stamp, Upward};

    fn beat(id: u64) -> UpEnvelope {
        Envelope::new(
            MessageId(id),
            Upward::Heartbeat(Heartbeat {
                at: Stamp::default(),
                backlog: 0,
            }),
        )
    }

    fn scratch(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!(
            "locker-queue-{name}-{}-{nanos}",
            std::process::id()
        ))
    }

    #[test]
    fn unacknowledged_messages_survive_a_restart_and_damaged_files_are_set_aside() -> io::Result<()>
    {
        let dir = scratch("restart");
        let now = Instant::from_secs(1);
        let (mut queue, bad) = DiskQueue::open(&dir, DeliveryConfig::default())?;
        assert!(bad.is_empty());
        for id in [5, 6, 7] {
            queue.push(beat(id))?;
        }
        assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(5)));
        assert!(queue.handle_ack(MessageId(5), now)?);
        fs::write(dir.join("00000000000000000009.msg"), b"\x01torn")?;
        drop(queue);

        let (mut queue, bad) = DiskQueue::open(&dir, DeliveryConfig::default())?;
        assert_eq!(bad.len(), 1);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(6)));
        assert!(queue.handle_ack(MessageId(6), now)?);
        assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(7)));
        fs::remove_dir_all(&dir)
    }

    #[test]
    fn a_flood_stops_at_the_limit_instead_of_filling_the_disk() -> io::Result<()> {
        let dir = scratch("bounded");
        let (queue, _) = DiskQueue::open(&dir, DeliveryConfig::default())?;
        let mut queue = queue.with_limit(3);
        for id in 1..=3 {
            queue.push(beat(id))?;
        }
        let refused = queue.push(beat(4)).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::StorageFull);
        assert_eq!(fs::read_dir(&dir)?.count(), 3, "nothing more on disk");
        let now = Instant::from_secs(1);
        assert_eq!(queue.poll_transmit(now).map(|m| m.id), Some(MessageId(1)));
        assert!(queue.handle_ack(MessageId(1), now)?);
        queue.push(beat(4))?;
        fs::remove_dir_all(&dir)
    }
}
