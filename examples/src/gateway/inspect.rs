//! What the gateway shows its operator: notices, books, statistics.

use locker_domain::uplink::UplinkStats;
use locker_proto::RebootKind;
use locker_proto::link::LinkStats;
use locker_proto::time::Instant;

use super::{AuditLog, Gateway, GatewayBank, GatewayCore, LineStats, Notice};

impl Gateway {
    /// The next thing to tell someone, oldest first.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// Whether `quit` was given.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Whether the bank was restored from the state file at start.
    pub fn was_restored(&self) -> bool {
        self.restored
    }

    /// The gateway machine, for its bank, bus and uplink.
    pub fn core(&self) -> &GatewayCore {
        &self.core
    }

    /// The bank, for its books and statistics.
    pub fn bank(&self) -> &GatewayBank {
        self.core.bank()
    }

    /// Bus statistics of the link layer.
    pub fn link_stats(&self) -> LinkStats {
        self.core.link_stats()
    }

    /// Byte and frame counts of the serial line.
    pub fn line_stats(&self) -> LineStats {
        let core = self.core.stats();
        LineStats {
            frames_in: core.frames_received,
            bad_frames: core.bad_frames,
            ..self.line.stats()
        }
    }

    /// How many times the state file was replaced since start.
    pub fn persist_count(&self) -> u64 {
        self.persisted
    }

    /// How many full status reports of a node the bank has reconciled its
    /// books with since start (one per node at start and after a node restart
    /// or outage).
    pub fn status_reports(&self) -> u64 {
        self.core.stats().status_reports
    }

    /// The audit log being written.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// The time on the gateway's clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The reboot the backend asked for, once the gateway is ready for it
    /// (everything persisted): stop the gateway and start it again.
    pub fn reboot_requested(&self) -> Option<RebootKind> {
        self.reboot
    }

    /// Upward messages waiting for the backend, if the gateway has an uplink.
    pub fn uplink_backlog(&self) -> Option<usize> {
        self.uplink.as_ref().map(super::uplink::UplinkGlue::backlog)
    }

    /// The uplink version agreed with the backend (`spec/versioning.md`
    /// §4.2): `None` without an uplink or before the backend acknowledged
    /// this run's boot notification.
    pub fn uplink_version(&self) -> Option<Result<u8, locker_proto::NoCommonVersion>> {
        self.core.uplink_version()
    }

    /// The bus version agreed with `node` at its last greeting.
    pub fn bus_version(&self, node: locker_proto::NodeAddr) -> Option<u8> {
        self.core.bus_version(node)
    }

    /// The uplink's counters, if the gateway has an uplink.
    pub fn uplink_stats(&self) -> Option<UplinkStats> {
        self.core.uplink().map(locker_domain::uplink::Uplink::stats)
    }
}
