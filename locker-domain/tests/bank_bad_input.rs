//! Bad input: a typed error or a documented no-op, state unchanged, never a panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::{Actor, BYTES_PER_COMPARTMENT, BankError, Books, ParcelNeeds, Policy};
use locker_proto::time::{Duration, Instant};
use locker_proto::{Channel, CompartmentId, Event, NodeAddr, Presence, SizeClass};

fn fingerprint(sim: &Sim<24>) -> Vec<u8> {
    sim.bank.snapshot_to_vec().unwrap()
}

#[test]
fn a_report_for_an_unknown_compartment_is_refused_and_changes_nothing() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let before = fingerprint(&sim);
    let err = sim.bank.handle_node_event(
        NodeAddr(1),
        &Event::DoorOpened {
            channel: Channel(31),
            commanded: false,
        },
        sim.now,
    );
    assert_eq!(
        err,
        Err(BankError::UnknownChannel {
            node: NodeAddr(1),
            channel: Channel(31)
        })
    );
    let err = sim.bank.handle_node_event(
        NodeAddr(99),
        &Event::NodeStarted {
            reset_reason: locker_proto::ResetReason::PowerOn,
            held: None,
        },
        sim.now,
    );
    assert_eq!(err, Err(BankError::UnknownNode(NodeAddr(99))));
    assert_eq!(
        sim.bank
            .start_deposit(CompartmentId(999), locker_domain::bank::StaffId(1), sim.now),
        Err(BankError::UnknownCompartment(CompartmentId(999)))
    );
    assert_eq!(fingerprint(&sim), before);
    assert!(!sim.bank.has_outputs(), "a refusal emits nothing");
}

#[test]
fn a_duplicated_door_report_is_a_no_op() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.bank
        .start_deposit(r.compartment, locker_domain::bank::StaffId(1), sim.now)
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(r.compartment, true);
    let before = fingerprint(&sim);
    let (node, channel) = sim.wiring(r.compartment);
    sim.bank
        .handle_node_event(
            node,
            &Event::DoorOpened {
                channel,
                commanded: true,
            },
            sim.now,
        )
        .unwrap();
    assert_eq!(fingerprint(&sim), before);
    assert!(
        !sim.bank.has_outputs(),
        "a repeated open is not a forced door, nor anything else"
    );
}

#[test]
fn an_out_of_order_close_before_open_still_settles_the_deposit() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.bank
        .start_deposit(r.compartment, locker_domain::bank::StaffId(1), sim.now)
        .unwrap();
    sim.answer_status_requests();
    let (node, channel) = sim.wiring(r.compartment);
    // The close arrives while the books still think the door is closed: no-op.
    let before = fingerprint(&sim);
    sim.bank
        .handle_node_event(node, &Event::DoorClosed { channel }, sim.now)
        .unwrap();
    assert_eq!(fingerprint(&sim), before);
    sim.open_door(r.compartment, true);
    sim.put_parcel(r.compartment);
    sim.close_door(r.compartment);
    assert_eq!(
        sim.bank.view(r.compartment).unwrap().stage,
        locker_domain::bank::Stage::Stored
    );
}

#[test]
fn a_time_that_goes_backwards_is_refused() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.advance(Duration::from_secs(100));
    sim.timeout();
    let before = fingerprint(&sim);
    let past = Instant::from_secs(2);
    let (node, channel) = sim.wiring(CompartmentId(1));
    let ev = Event::PresenceChanged {
        channel,
        presence: Presence::occupied(50, 10),
    };
    assert!(matches!(
        sim.bank.handle_node_event(node, &ev, past),
        Err(BankError::TimeWentBackwards { .. })
    ));
    assert!(matches!(
        sim.bank.handle_timeout(past),
        Err(BankError::TimeWentBackwards { .. })
    ));
    assert_eq!(fingerprint(&sim), before);
}

#[test]
fn an_input_made_before_the_outputs_were_drained_is_refused_and_changes_nothing() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    // A wrong code leaves an audit record waiting; nobody drains it.
    sim.now += Duration::from_hours(2);
    let keypad = locker_domain::bank::codes::KeypadId(0);
    assert!(sim.bank.enter_code(keypad, "000001", sim.now).is_ok());
    assert!(sim.bank.has_outputs());
    let before = sim.bank.snapshot_to_vec().unwrap();
    // The next wrong code, a staff call and a node report are all refused.
    assert_eq!(
        sim.bank.enter_code(keypad, "000002", sim.now),
        Err(BankError::OutputsPending)
    );
    assert_eq!(
        sim.bank
            .set_out_of_service(CompartmentId(3), Actor::Staff, sim.now),
        Err(BankError::OutputsPending)
    );
    let (node, channel) = sim.wiring(r.compartment);
    assert_eq!(
        sim.bank
            .handle_node_event(node, &Event::DoorClosed { channel }, sim.now),
        Err(BankError::OutputsPending)
    );
    assert_eq!(sim.bank.snapshot_to_vec().unwrap(), before);
    // Draining hands out the one record, and the next input is taken; the
    // sequence has no gap (the harness checks).
    sim.drain();
    assert!(sim.bank.enter_code(keypad, "000002", sim.now).is_ok());
    sim.drain();
}

#[test]
fn bytes_per_compartment_are_pinned() {
    let per = core::mem::size_of::<Books<64>>() / 64;
    assert_eq!(
        per, BYTES_PER_COMPARTMENT,
        "update the docs and the constant together"
    );
}
