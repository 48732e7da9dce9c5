//! Remote reboots with a deposit under way: of the compartment node, and of
//! the gateway itself. The gateway runs against a simulated node on a
//! pseudo-terminal and talks to a backend through an in-process link.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use locker_domain::bank::Stage;
use locker_examples::gateway::{ConsoleCommand, Gateway, Reply};
use locker_examples::uplink::Encoding;
use locker_proto::uplink::{Downward, ErrorCode, ParcelStep, ResetTarget, Response, Upward};
use locker_proto::{CompartmentId, RebootKind, ResetReason};
use support::*;

/// A compartment reserved by the backend, with the courier at its open door.
fn deposit_under_way(world: &mut World) -> (CompartmentId, u32) {
    let Ok(Response::Reserved {
        compartment,
        parcel,
        pickup_code: Some(_),
    }) = world.ask(reserve_small())
    else {
        panic!("no reservation");
    };
    assert!(matches!(
        world.courier_at(compartment),
        Reply::Depositing(_)
    ));
    world.open_door(compartment);
    (compartment, parcel.0)
}

#[test]
fn a_node_rebooted_remotely_mid_deposit_finishes_the_deposit_first_and_reports_why_it_started() {
    let dir = scratch_dir("uplink-node-reboot");
    let (mut world, _spare, _link, node) = world_with_uplink(&dir);
    let (compartment, parcel) = deposit_under_way(&mut world);

    let (reset, answer) = world.ask_id(Downward::Reset {
        kind: RebootKind::Soft,
        target: ResetTarget::Node(NODE),
    });
    assert_eq!(
        answer,
        Ok(Response::ResetAccepted {
            target: ResetTarget::Node(NODE),
            in_flight: 1
        })
    );
    // The courier takes their time; the node must not restart under them.
    for _ in 0..50 {
        world.step();
    }
    assert_eq!(node.reboots.load(std::sync::atomic::Ordering::Relaxed), 0);

    world.finish_at_door(compartment, true);
    world.run_until("the deposit to be verified", |w| {
        w.gateway.bank().view(compartment).unwrap().stage == Stage::Stored
    });
    world.run_until("the node's greeting after its reboot", |w| {
        w.backend
            .applied()
            .iter()
            .any(|m| matches!(&m.body, Upward::NodeBoot(b) if b.reset_request == Some(reset)))
    });
    let greeting = world
        .backend
        .applied()
        .iter()
        .find_map(|m| match &m.body {
            Upward::NodeBoot(b) if b.reset_request == Some(reset) => Some(*b),
            _ => None,
        })
        .unwrap();
    assert_eq!(greeting.reset_reason, ResetReason::SoftReboot);
    assert_eq!(greeting.firmware, NODE_FIRMWARE);
    assert_eq!(node.reboots.load(std::sync::atomic::Ordering::Relaxed), 1);

    // The parcel is where the books say, deposited once, with one code sent.
    world.run_until("the bank to reconcile with the rebooted node", |w| {
        w.gateway.status_reports() >= 2
    });
    let view = world.gateway.bank().view(compartment).unwrap();
    assert_eq!((view.stage, view.occupied), (Stage::Stored, Some(true)));
    assert_eq!(view.out_of_service, None);
    let steps = world.backend.steps_of(parcel);
    assert_eq!(
        steps
            .iter()
            .filter(|s| **s == ParcelStep::Deposited)
            .count(),
        1,
        "{steps:?}"
    );
    assert!(world.backend.parcel_ready(parcel));
    drop(world);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_gateway_rebooted_remotely_mid_deposit_finishes_it_refuses_new_ones_and_reports_why_it_started()
{
    let dir = scratch_dir("uplink-gateway-reboot");
    let (mut world, spare_end, gateway_link, _node) = world_with_uplink(&dir);
    let (compartment, parcel) = deposit_under_way(&mut world);

    let (reset, answer) = world.ask_id(Downward::Reset {
        kind: RebootKind::Soft,
        target: ResetTarget::Gateway,
    });
    assert_eq!(
        answer,
        Ok(Response::ResetAccepted {
            target: ResetTarget::Gateway,
            in_flight: 1
        })
    );
    // While it drains, new parcels are turned away, locally and remotely.
    assert!(matches!(
        world.console(ConsoleCommand::Deposit {
            size: locker_proto::SizeClass::Small,
            kind: locker_domain::bank::ParcelKind::Delivery,
        }),
        Reply::Refused(_)
    ));
    assert_eq!(
        world.ask(reserve_small()).unwrap_err().code,
        ErrorCode::ResetInProgress
    );
    assert_eq!(world.gateway.reboot_requested(), None);

    world.finish_at_door(compartment, true);
    world.run_until("the gateway to be ready to reboot", |w| {
        w.gateway.reboot_requested().is_some()
    });
    assert_eq!(world.gateway.reboot_requested(), Some(RebootKind::Soft));
    assert_eq!(
        world.gateway.bank().view(compartment).unwrap().stage,
        Stage::Stored
    );

    // The reboot: the gateway stops, the link drops, the gateway starts again.
    let World {
        gateway,
        backend,
        cabinet,
        notices,
    } = world;
    gateway.shutdown().unwrap();
    gateway_link.set_up(false);
    gateway_link.set_up(true);
    let gateway = Gateway::start_with_uplink(
        gateway_config(&dir),
        connected(spare_end),
        Some((
            uplink_settings(&dir, Encoding::Json),
            Box::new(gateway_link.clone()),
        )),
    )
    .unwrap();
    let mut world = World {
        gateway,
        backend,
        cabinet,
        notices,
    };
    world.run_until("the boot notification after the reboot", |w| {
        w.backend.boots().len() >= 2
    });
    let boot = world.backend.boots().pop().unwrap();
    assert_eq!(boot.reason, ResetReason::SoftReboot);
    assert_eq!(boot.reset_request, Some(reset));
    world.run_until("the status scan after the reboot", |w| {
        w.gateway.status_reports() > 0
    });
    let view = world.gateway.bank().view(compartment).unwrap();
    assert_eq!((view.stage, view.occupied), (Stage::Stored, Some(true)));
    assert_eq!(
        world
            .backend
            .steps_of(parcel)
            .iter()
            .filter(|s| **s == ParcelStep::Deposited)
            .count(),
        1
    );
    // New parcels are welcome again.
    assert!(world.ask(reserve_small()).is_ok());
    world.run_until("every message acknowledged", |w| {
        w.gateway.uplink_backlog() == Some(0)
    });
    drop(world);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A newer backend sends a request this gateway does not know: the
/// gateway cannot carry it out, but the backend is not left waiting: it
/// gets an error naming the version this gateway speaks, and the books
/// are untouched.
#[test]
fn a_request_the_gateway_cannot_read_is_answered_not_supported_and_changes_nothing() {
    let dir = scratch_dir("uplink-unreadable");
    let (mut world, _spare, _link, _node) = world_with_uplink(&dir);
    let before: Vec<_> = world.gateway.bank().views().collect();
    let unknown = br#"{"v":1,"id":991,"body":{"teleport_parcel":{"to":"mars"}}}"#;
    world.backend.transport.send(unknown).unwrap();
    world.run_until("the gateway's answer to the unreadable request", |w| {
        w.backend.applied().iter().any(|m| {
            matches!(&m.body, Upward::CallError(e)
                if e.request.0 == 991 && e.code == ErrorCode::NotSupported)
        })
    });
    let after: Vec<_> = world.gateway.bank().views().collect();
    assert_eq!(
        before, after,
        "an unreadable request changes no compartment"
    );
    assert!(
        world
            .notices
            .iter()
            .any(|n| n.to_string().contains("uplink")),
        "the operator is told: {:?}",
        world.notices
    );
}
