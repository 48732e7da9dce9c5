//! The uplink end to end through a real MQTT broker: a parcel announced by
//! the backend, deposited, reminded about and picked up, with the broker
//! restarted in the middle (the reminder falls into the outage). Nothing
//! is lost and nothing is carried out twice.
//!
//! Needs `mosquitto` (Debian package `mosquitto`); `.ci/run` installs it and
//! runs this test with `cargo test -p locker-examples --test mqtt_e2e -- --ignored`.
//! Run with `--ignored` and no mosquitto, it fails: it never skips.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use locker_domain::bank::Stage;
use locker_domain::bank::codes::{CodeHash, PickupCode};
use locker_examples::gateway::{ConsoleCommand, Gateway, Reply};
use locker_examples::uplink::{Encoding, MqttTransport};
use locker_proto::SizeClass;
use locker_proto::uplink::{
    AnnounceParcel, Credential, Deadlines, Downward, HexArray, ParcelKind, ParcelNeeds, ParcelStep,
    Response, Upward,
};
use serialport::TTYPort;
use support::broker::Broker;
use support::*;

/// The code the backend drew for the recipient.
const CODE: &str = "730518";

fn through_a_broker(encoding: Encoding) {
    let dir = scratch_dir("mqtt-e2e");
    let mut broker = Broker::start(&dir);
    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let _node = SimulatedNode::start(node_end, cabinet.clone());
    let mut config = gateway_config(&dir);
    let bank_keys = config.bank_keys.clone();
    // The reminder comes 4 s after the deposit: while the broker is down.
    config.policy.reminder_after = locker_proto::Duration::from_secs(4);
    let gateway = Gateway::start_with_uplink(
        config,
        connected(gateway_end),
        Some((
            uplink_settings(&dir, encoding),
            Box::new(MqttTransport::gateway(&broker.settings("gateway"))),
        )),
    )
    .unwrap();
    let mut world = World {
        gateway,
        backend: BackendEnd::new(
            Box::new(MqttTransport::backend(&broker.settings("backend"))),
            encoding,
        ),
        cabinet,
        notices: Vec::new(),
    };
    world.run_until("the boot notification through the broker", |w| {
        !w.backend.boots().is_empty() && w.gateway.status_reports() > 0
    });
    // Both ends agreed on uplink version 1 through the boot notification
    // and its acknowledgement, and the gateway said so in its log.
    world.run_until("the boot notification's acknowledgement", |w| {
        w.gateway.uplink_version().is_some()
    });
    assert_eq!(world.gateway.uplink_version(), Some(Ok(1)));
    assert_eq!(world.backend.backend.uplink_version(), Some(Ok(1)));
    assert!(
        world
            .notices
            .iter()
            .any(|n| matches!(n, locker_examples::gateway::Notice::UplinkVersion(1))),
        "{:?}",
        world.notices
    );

    // The backend announces a parcel; the courier arrives and deposits it.
    let announce = Downward::AnnounceParcel(AnnounceParcel {
        parcel_ref: "JJD-E2E-1".try_into().unwrap(),
        recipient: "resident:1".try_into().unwrap(),
        kind: ParcelKind::Delivery,
        needs: ParcelNeeds {
            size: Some(SizeClass::Small),
            ..ParcelNeeds::default()
        },
        deadlines: Deadlines::default(),
        // The backend draws the code and sends only its hash: the code
        // never reaches the gateway or the broker.
        credential: Credential::CodeHash(HexArray(
            CodeHash::of(&bank_keys, &PickupCode::parse(CODE).unwrap()).to_bytes(),
        )),
    });
    let Ok(Response::ParcelAnnounced {
        compartment,
        parcel,
        pickup_code: None,
    }) = world.ask(announce)
    else {
        panic!("the announcement was refused");
    };
    let parcel = parcel.0;
    assert!(matches!(
        world.courier_at(compartment),
        Reply::Depositing(_)
    ));
    world.open_door(compartment);
    world.finish_at_door(compartment, true);
    world.run_until("the backend to hear of the deposit", |w| {
        w.backend.steps_of(parcel).contains(&ParcelStep::Deposited)
            && w.backend.parcel_ready(parcel)
    });

    // The broker goes away; the reminder falls due meanwhile.
    broker.stop();
    world.run_until(
        "the reminder, queued on disk while the broker is down",
        |w| w.gateway.bank().stats().reminders == 1,
    );
    let stranded = world.gateway.uplink_backlog().unwrap();
    assert!(stranded > 0, "the reminder waits in the queue");
    assert!(
        !world
            .backend
            .steps_of(parcel)
            .contains(&ParcelStep::Reminded)
    );
    broker.run();
    world.run_until("the reminder to reach the backend after the outage", |w| {
        w.backend.steps_of(parcel).contains(&ParcelStep::Reminded)
    });

    // The recipient collects with the code the backend sent them.
    assert_eq!(
        world.console(ConsoleCommand::Pickup { code: CODE.into() }),
        Reply::Opening(compartment)
    );
    world.open_door(compartment);
    world.finish_at_door(compartment, false);
    world.run_until("the pickup to reach the backend", |w| {
        w.backend.steps_of(parcel).contains(&ParcelStep::PickedUp)
    });
    world.run_until(
        "every message acknowledged and every request answered",
        |w| w.gateway.uplink_backlog() == Some(0) && w.backend.backend.unanswered() == 0,
    );

    // Each step once, in order; nothing applied twice; the audit trail whole.
    assert_eq!(
        world.backend.steps_of(parcel),
        [
            ParcelStep::Reserved,
            ParcelStep::DepositStarted,
            ParcelStep::Deposited,
            ParcelStep::Reminded,
            ParcelStep::PickupStarted,
            ParcelStep::PickedUp,
        ]
    );
    let applied = world.backend.applied();
    let mut ids: Vec<u64> = applied.iter().map(|m| m.id.0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, each once");
    ids.dedup();
    assert_eq!(ids.len(), applied.len());
    let audit: Vec<u64> = applied
        .iter()
        .filter_map(|m| match &m.body {
            Upward::Audit(r) => Some(r.seq),
            _ => None,
        })
        .collect();
    assert_eq!(
        audit,
        (audit[0]..audit[0] + audit.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(
        world.gateway.bank().view(compartment).unwrap().stage,
        Stage::Free
    );
    eprintln!(
        "{} messages carried out, {} duplicates ignored by the backend, gateway stats {:?}",
        applied.len(),
        world.backend.backend.duplicates(),
        world.gateway.uplink_stats()
    );
    world.gateway.shutdown().unwrap();
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs mosquitto on PATH; .ci/run installs it"]
fn a_parcel_announced_deposited_reminded_and_picked_up_through_mosquitto_survives_a_broker_restart()
{
    through_a_broker(Encoding::Json);
}

#[test]
#[ignore = "needs mosquitto on PATH; .ci/run installs it"]
fn the_same_in_postcard_survives_a_broker_restart_too() {
    through_a_broker(Encoding::Postcard);
}

/// Publishes `payload` on `topic` as a stranger on the broker would: any
/// client id, no key, MQTT 3.1.1, retained if asked.
fn publish_as_stranger(port: u16, topic: &str, payload: Vec<u8>, retain: bool) {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new("stranger", "127.0.0.1", port);
    options.set_max_packet_size(256 * 1024, 256 * 1024);
    let (client, mut connection) = Client::new(options, 8);
    client
        .publish(topic, QoS::AtLeastOnce, retain, payload)
        .unwrap();
    for event in connection.iter() {
        match event.unwrap() {
            Event::Incoming(Packet::PubAck(_)) => break,
            _ => continue,
        }
    }
    let _ = client.disconnect();
}

#[test]
#[ignore = "needs mosquitto on PATH; .ci/run installs it"]
fn a_stranger_on_the_broker_neither_commands_the_gateway_nor_knocks_it_off_the_broker() {
    let dir = scratch_dir("mqtt-attack");
    let broker = Broker::start(&dir);
    let down = locker_examples::uplink::Topics::of("bank-e2e").down;
    // Before the gateway even starts: a retained 20 KiB message on its topic,
    // which an MQTT 3 client with a 10 KiB limit read at every subscribe
    // and lost its connection over, every 200 ms, for good.
    publish_as_stranger(broker.port, &down, vec![b'x'; 20 * 1024], true);
    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let _node = SimulatedNode::start(node_end, cabinet.clone());
    let gateway = Gateway::start_with_uplink(
        gateway_config(&dir),
        connected(gateway_end),
        Some((
            uplink_settings(&dir, Encoding::Json),
            Box::new(MqttTransport::gateway(&broker.settings("gateway"))),
        )),
    )
    .unwrap();
    let mut world = World {
        gateway,
        backend: BackendEnd::new(
            Box::new(MqttTransport::backend(&broker.settings("backend"))),
            Encoding::Json,
        ),
        cabinet,
        notices: Vec::new(),
    };
    world.run_until("the boot notification through the broker", |w| {
        !w.backend.boots().is_empty()
    });

    // Unsigned requests that would take the bank out of service, switch
    // the keypad lockout off and reset the gateway; an acknowledgement of
    // everything the gateway queued; an oversize message, not retained.
    let forged = [
        r#"{"v":1,"id":18446744073709551615,"body":{"change_availability":{"scope":"bank","available":false}}}"#.to_string(),
        r#"{"v":1,"id":5,"body":{"reset":{"kind":"Hard","target":"gateway"}},"tag":"00000000000000000000000000000000"}"#.to_string(),
        r#"{"v":1,"id":6,"body":{"ack":4294967296}}"#.to_string(),
    ];
    for message in forged {
        publish_as_stranger(broker.port, &down, message.into_bytes(), false);
    }
    publish_as_stranger(broker.port, &down, vec![b'{'; 64 * 1024], false);

    // The backend hears of it, and its own requests are carried out as
    // before: the gateway stayed on the broker and its window did not move.
    world.run_until("the forgeries reported as a security event", |w| {
        w.backend.applied().iter().any(|m| {
            matches!(&m.body, Upward::SecurityEvent(e)
                if e.kind == locker_proto::uplink::SecurityKind::ForgedTag)
        })
    });
    let Ok(Response::Diagnostics(diagnostics)) = world.ask(Downward::GetDiagnostics) else {
        panic!("no diagnostics");
    };
    assert_eq!(diagnostics.forged_refused, 3);
    assert!(
        world.gateway.bank().deposits_closed().is_none(),
        "the bank stays open"
    );
    assert!(matches!(
        world.ask(Downward::ReserveCompartment(
            locker_proto::uplink::ReserveCompartment {
                kind: ParcelKind::Delivery,
                needs: ParcelNeeds {
                    size: Some(SizeClass::Small),
                    ..ParcelNeeds::default()
                },
            }
        )),
        Ok(Response::Reserved { .. })
    ));
    world.gateway.shutdown().unwrap();
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
