//! Counters a gateway exports (Prometheus, the backend's dashboard).

use serde::{Deserialize, Serialize};

use super::alert::AlertKind;

/// What the bank has done since it was first started (persisted across restarts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Verified deposits.
    pub deposits: u32,
    /// Verified pickups (collector or override).
    pub pickups: u32,
    /// Reminders sent.
    pub reminders: u32,
    /// Escalations sent.
    pub escalations: u32,
    /// Parcels expired.
    pub expiries: u32,
    /// Alerts raised, indexed by [`AlertKind::index`].
    pub alerts: [u32; AlertKind::COUNT],
    /// Total time parcels spent between deposit and pickup, in milliseconds.
    pub dwell_total_ms: u64,
    /// Authenticated remote opens accepted.
    pub remote_opens: u32,
    /// Remote opens refused for security (forged, replayed, stale, over the
    /// rate limit or while locked).
    pub remote_opens_refused: u32,
    /// Offline tokens redeemed.
    pub tokens_redeemed: u32,
    /// Offline tokens refused (well-formed but not valid here and now).
    pub tokens_refused: u32,
}

impl Stats {
    /// Alerts of `kind` raised so far.
    pub fn alerts_of(&self, kind: AlertKind) -> u32 {
        self.alerts.get(kind.index()).copied().unwrap_or(0)
    }

    /// Mean time between deposit and pickup, in milliseconds.
    pub fn mean_dwell_ms(&self) -> Option<u64> {
        (self.pickups > 0).then(|| self.dwell_total_ms / u64::from(self.pickups))
    }

    pub(crate) fn count_alert(&mut self, kind: AlertKind) {
        if let Some(n) = self.alerts.get_mut(kind.index()) {
            *n = n.saturating_add(1);
        }
    }
}

/// How full the bank is right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utilisation {
    /// Compartments in the layout.
    pub compartments: usize,
    /// Compartments free and in service.
    pub free: usize,
    /// Compartments out of service.
    pub out_of_service: usize,
}
