//! A gateway cut off from its backend keeps its messages on disk, up to a
//! bound: at the bound it alerts staff and takes no new parcels, instead of
//! filling the disk; once the backend takes the backlog it opens again. The
//! operator is told when the broker goes and when it is reachable again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use locker_examples::gateway::{Gateway, Notice};
use locker_examples::uplink::{Encoding, MemoryTransport};
use locker_proto::time::Duration;
use serialport::TTYPort;
use support::*;

#[test]
fn past_its_backlog_limit_the_gateway_alerts_and_takes_no_new_parcels_until_the_backend_is_back() {
    let dir = scratch_dir("uplink-backlog");
    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let _node = SimulatedNode::start(node_end, cabinet.clone());
    let (gateway_link, backend_link) = MemoryTransport::pair();
    let mut settings = uplink_settings(&dir, Encoding::Json);
    settings.backlog_limit = 30;
    // Heartbeats pile up fast while the link is down.
    settings.heartbeat_every = Duration::from_millis(20);
    let gateway = Gateway::start_with_uplink(
        gateway_config(&dir),
        connected(gateway_end),
        Some((settings, Box::new(gateway_link.clone()))),
    )
    .unwrap();
    let mut world = World {
        gateway,
        backend: BackendEnd::new(Box::new(backend_link), Encoding::Json),
        cabinet,
        notices: Vec::new(),
    };
    world.run_until("the boot notification", |w| !w.backend.boots().is_empty());

    gateway_link.set_up(false);
    world.run_until("the operator told the broker is gone", |w| {
        w.notices.iter().any(|n| {
            matches!(
                n,
                Notice::Backend {
                    connected: false,
                    ..
                }
            ) && n.to_string().contains("until it is back")
        })
    });
    world.run_until("the alert at the backlog limit", |w| {
        w.notices
            .iter()
            .any(|n| n.to_string().contains("ALERT") && n.to_string().contains("no new"))
    });
    assert!(world.gateway.bank().deposits_closed().is_some());
    assert!(world.gateway.uplink_backlog().unwrap() >= 30);

    gateway_link.set_up(true);
    world.run_until("the operator told the broker is back", |w| {
        w.notices.iter().any(|n| {
            matches!(n, Notice::Backend { connected: true, waiting } if *waiting >= 30)
                && n.to_string().contains("go out now")
        })
    });
    world.run_until("the backlog taken and the bank open again", |w| {
        w.gateway.bank().deposits_closed().is_none()
            && w.notices
                .iter()
                .any(|n| n.to_string().contains("new parcels again"))
    });
    world.gateway.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
