//! The uplink's epoch file, damaged or lost: message ids must never repeat
//! ids the backend has seen (its de-duplication window would drop every new
//! message without a word), so a damaged file stops the gateway with a
//! message that says what to do, and a lost one is recovered past every id
//! on disk and the clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use locker_examples::gateway::Gateway;
use locker_examples::uplink::{Encoding, MemoryTransport};
use serialport::TTYPort;
use support::*;

fn start(dir: &std::path::Path) -> Result<Gateway, locker_examples::gateway::GatewayError> {
    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let _node = SimulatedNode::start(node_end, cabinet);
    let (gateway_link, _backend_link) = MemoryTransport::pair();
    Gateway::start_with_uplink(
        gateway_config(dir),
        connected(gateway_end),
        Some((uplink_settings(dir, Encoding::Json), Box::new(gateway_link))),
    )
}

fn epoch(dir: &std::path::Path) -> u32 {
    std::fs::read_to_string(dir.join("uplink").join("epoch"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_damaged_epoch_file_stops_the_gateway_and_says_what_to_do() {
    let dir = scratch_dir("uplink-epoch-damaged");
    let (world, _spare, _link, _node) = world_with_uplink(&dir);
    drop(world);
    let epoch_path = dir.join("uplink").join("epoch");
    std::fs::write(&epoch_path, "\u{0}\u{0}7").unwrap();

    let Err(refused) = start(&dir) else {
        panic!("a damaged epoch file is refused");
    };
    let message = refused.to_string();
    assert!(
        message.contains("epoch") && message.contains("delete the file"),
        "{message}"
    );
    // Nothing was changed: the file is as the damage left it.
    assert_eq!(std::fs::read(&epoch_path).unwrap(), b"\0\x007");
}

#[test]
fn a_lost_epoch_file_goes_on_past_every_id_the_backend_may_have_seen() {
    let dir = scratch_dir("uplink-epoch-lost");
    let (world, _spare, _link, _node) = world_with_uplink(&dir);
    let before = epoch(&dir);
    drop(world);
    std::fs::remove_file(dir.join("uplink").join("epoch")).unwrap();

    let gateway = start(&dir).unwrap();
    let after = epoch(&dir);
    assert!(after > before, "epoch {after} after {before}");
    drop(gateway);
    // And on from there at the next start.
    let gateway = start(&dir).unwrap();
    assert!(epoch(&dir) > after);
    drop(gateway);
}
