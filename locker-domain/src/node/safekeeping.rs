//! The authentication record on its way to flash: the one thing an answer
//! may not overtake.

use locker_proto::auth::NodeAuthRecord;
use locker_proto::link::NodeLink;

/// The record the link asked to store and the firmware has not yet
/// confirmed, and whether it was handed out since the last chance to retry.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Safekeeping {
    unsaved: Option<NodeAuthRecord>,
    offered: bool,
}

impl Safekeeping {
    /// Takes the link's next request if none is outstanding. Asked lazily,
    /// so a record built before [`NodeLink::restore_auth`] (without the key)
    /// is never handed out to overwrite the stored one.
    pub(super) fn collect<const QUEUE: usize>(&mut self, link: &mut NodeLink<QUEUE>) {
        if self.unsaved.is_none() {
            self.unsaved = link.poll_persist();
            self.offered = false;
        }
    }

    /// Whether a record waits for confirmation: nothing leaves the node meanwhile.
    pub(super) fn is_waiting(&self) -> bool {
        self.unsaved.is_some()
    }

    /// The record to hand out now: once per chance.
    pub(super) fn offer(&mut self) -> Option<NodeAuthRecord> {
        if self.offered {
            return None;
        }
        self.offered = true;
        self.unsaved
    }

    /// A new chance to write a record whose write failed.
    pub(super) fn retry(&mut self) {
        self.offered = false;
    }

    /// The firmware stored `record`: true if it is the one outstanding.
    pub(super) fn confirm(&mut self, record: &NodeAuthRecord) -> bool {
        if self.unsaved.as_ref() != Some(record) {
            return false;
        }
        self.unsaved = None;
        true
    }

    /// The stored record was taken back: any earlier request is void.
    pub(super) fn forget(&mut self) {
        *self = Safekeeping::default();
    }
}
