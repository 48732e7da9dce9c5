//! What the uplink keeps across a restart.

use heapless::Vec;
use locker_proto::CompartmentId;
use locker_proto::time::Duration;
use locker_proto::uplink::{DedupWindow, MAX_NODES, MessageId, NodeInfo, ParcelNumber};
use serde::{Deserialize, Serialize};

/// Announced parcels whose extra pickup time waits for their deposit.
pub const MAX_EXTENSIONS: usize = 32;

/// A reset the backend asked for, persisted before the reboot so the boot
/// notification after it can name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReset {
    /// The request.
    pub request: MessageId,
    /// Soft or hard.
    pub kind: locker_proto::RebootKind,
}

/// Extra pickup time for an announced parcel, applied once its deposit
/// is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// The parcel.
    pub parcel: ParcelNumber,
    /// The extra time.
    pub extra: Duration,
    /// Its compartment, once the deposit is verified.
    pub deposited: Option<CompartmentId>,
}

/// The part of an [`Uplink`](super::Uplink) that must survive a restart
/// (about 600 bytes in postcard). Persist it whenever
/// [`Uplink::poll_persist`](super::Uplink::poll_persist) says so and
/// before a reboot; pass it to [`Uplink::new`](super::Uplink::new) at start.
///
/// Node resets still draining when the gateway restarts are not kept: the
/// backend sees no `node_boot` naming them and may ask again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UplinkState {
    /// The backend's request ids already carried out.
    pub seen: DedupWindow,
    /// The backend made the whole bank unavailable.
    pub unavailable: bool,
    /// A reset under way.
    pub pending_reset: Option<PendingReset>,
    /// The nodes' firmware and last reset reason, as last greeted.
    pub nodes: Vec<NodeInfo, MAX_NODES>,
    /// Extra pickup time waiting for deposits.
    pub extensions: Vec<Extension, MAX_EXTENSIONS>,
    /// The sequence number of the next audit record to forward: a restored
    /// bank hands out again the records its snapshot still held, and those
    /// below this number already went up. Kept lazily (written with the
    /// rest of the state, not after every record), so after a crash a few
    /// may go up twice: the uplink delivers at least once.
    #[serde(default)]
    pub audit_next: u64,
}
