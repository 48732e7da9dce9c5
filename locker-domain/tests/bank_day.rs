//! A day in the life of a bank, and how compartments are chosen.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::{AllocationError, BankError, ParcelKind, ParcelNeeds, Policy, Stage};
use locker_proto::time::Duration;
use locker_proto::{Dimensions, SizeClass};

#[test]
fn a_full_day_of_a_24_compartment_bank_hands_every_parcel_to_its_recipient() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let sizes = [
        SizeClass::Small,
        SizeClass::Medium,
        SizeClass::Small,
        SizeClass::Large,
    ];
    let mut waiting = Vec::new();
    // Morning round: the courier fills what fits.
    for k in 0..20 {
        let r = sim.reserve(ParcelNeeds::size(sizes[k % 4]));
        sim.advance(Duration::from_secs(40));
        let code = sim.deposit(r.compartment);
        waiting.push((r.compartment, code));
    }
    assert_eq!(sim.bank.stats().deposits, 20);
    // Through the day, recipients come by one after another.
    for (id, code) in waiting.drain(..) {
        sim.advance(Duration::from_mins(30));
        sim.run_until(sim.now);
        sim.pick_up(&code, id);
        assert_eq!(sim.bank.view(id).unwrap().stage, Stage::Free);
    }
    let stats = sim.bank.stats();
    assert_eq!(stats.pickups, 20);
    assert!(stats.mean_dwell_ms().unwrap() > Duration::from_mins(30).as_millis());
    assert_eq!(sim.bank.utilisation().free, 24);
    assert!(
        sim.alerts.is_empty(),
        "a quiet day raises no alert: {:?}",
        sim.alerts
    );
}

#[test]
fn a_letter_goes_to_the_smallest_compartment_and_a_big_box_to_a_large_one() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let letter = sim.reserve(ParcelNeeds::dimensions(Dimensions::new(300, 20, 200)));
    let c = sim
        .bank
        .layout()
        .compartments()
        .iter()
        .find(|c| c.id == letter.compartment)
        .unwrap();
    assert_eq!(c.size, SizeClass::Small);
    let boxed = sim.reserve(ParcelNeeds::dimensions(Dimensions::new(300, 300, 300)));
    let c = sim
        .bank
        .layout()
        .compartments()
        .iter()
        .find(|c| c.id == boxed.compartment)
        .unwrap();
    assert_eq!(c.size, SizeClass::Large);
}

#[test]
fn a_perishable_parcel_gets_a_refrigerated_compartment_or_a_reason() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let needs = ParcelNeeds {
        perishable: true,
        ..ParcelNeeds::size(SizeClass::Small)
    };
    let r = sim.reserve(needs);
    let c = sim
        .bank
        .layout()
        .compartments()
        .iter()
        .find(|c| c.id == r.compartment)
        .unwrap();
    assert!(
        c.flags
            .contains(locker_domain::bank::CompartmentFlags::REFRIGERATED)
    );
    // The bank has one fridge (channel 15 of its first node).
    sim.drain();
    let err = sim
        .bank
        .reserve(needs, ParcelKind::Delivery, &mut sim.dice, sim.now)
        .unwrap_err();
    assert_eq!(err, BankError::NoFit(AllocationError::NoRefrigeratedFree));
}

#[test]
fn a_parcel_bigger_than_every_compartment_is_sent_to_the_counter() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let needs = ParcelNeeds::dimensions(Dimensions::new(900, 900, 900));
    sim.drain();
    let err = sim
        .bank
        .reserve(needs, ParcelKind::Delivery, &mut sim.dice, sim.now)
        .unwrap_err();
    assert_eq!(err, BankError::NoFit(AllocationError::Oversize));
    assert!(err.to_string().contains("counter"));
}

#[test]
fn when_every_large_compartment_is_taken_the_bank_says_full() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let large = ParcelNeeds::size(SizeClass::Large);
    for _ in 0..5 {
        sim.reserve(large);
    }
    sim.drain();
    let err = sim
        .bank
        .reserve(large, ParcelKind::Delivery, &mut sim.dice, sim.now)
        .unwrap_err();
    assert_eq!(err, BankError::NoFit(AllocationError::BankFull));
}

#[test]
fn equal_compartments_take_turns_so_locks_wear_evenly() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let letter = ParcelNeeds::size(SizeClass::Small);
    let mut used = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let r = sim.reserve(letter);
        used.insert(r.compartment);
        sim.drain();
        sim.bank
            .cancel_reservation(r.compartment, locker_domain::bank::Actor::Backend, sim.now)
            .unwrap();
    }
    assert!(
        used.len() >= 6,
        "six reservations used {} compartments",
        used.len()
    );
}

#[test]
fn a_return_runs_the_same_machine_with_the_courier_collecting() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.drain();
    let r = sim
        .bank
        .reserve(
            ParcelNeeds::size(SizeClass::Small),
            ParcelKind::Return,
            &mut sim.dice,
            sim.now,
        )
        .unwrap();
    sim.remember(&r);
    let code = sim.deposit(r.compartment);
    let to = sim
        .notes
        .iter()
        .rev()
        .find(|n| matches!(n.kind, locker_domain::bank::NotificationKind::ParcelReady))
        .unwrap()
        .to;
    assert_eq!(to, locker_domain::bank::Actor::Courier);
    sim.pick_up(&code, r.compartment);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
}
