//! The doors some people need: a low door for a wheelchair user, a fridge
//! for a perishable parcel. A morning of ordinary parcels must not take
//! them all while other doors fit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::{
    AllocationError, BankError, CompartmentFlags, ParcelKind, ParcelNeeds, Policy, kept_for_needs,
};
use locker_proto::time::Duration;
use locker_proto::{CompartmentId, SizeClass};

fn flags_of(sim: &Sim<24>, id: CompartmentId) -> CompartmentFlags {
    let layout = sim.bank.layout();
    layout.get(layout.slot_of(id).unwrap()).unwrap().flags
}

fn free_with(sim: &Sim<24>, flag: CompartmentFlags) -> usize {
    sim.bank
        .views()
        .filter(|v| {
            v.stage == locker_domain::bank::Stage::Free && flags_of(sim, v.id).contains(flag)
        })
        .count()
}

/// A morning of `n` small letters, each deposited.
fn letters(sim: &mut Sim<24>, n: usize) -> Vec<CompartmentId> {
    (0..n)
        .map(|_| {
            sim.advance(Duration::from_secs(30));
            let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
            sim.deposit(r.compartment);
            r.compartment
        })
        .collect()
}

#[test]
fn after_a_morning_of_letters_a_wheelchair_user_and_a_perishable_parcel_still_find_their_doors() {
    // 24 compartments: 8 accessible (4 small, 3 medium, 1 large), 1 fridge.
    let mut sim = Sim::<24>::new(24, Policy::default());
    let accessible_total = 8;
    assert_eq!(
        free_with(&sim, CompartmentFlags::ACCESSIBLE),
        accessible_total
    );
    assert_eq!(free_with(&sim, CompartmentFlags::REFRIGERATED), 1);
    // Nineteen letters: more than the bank's plain doors.
    let taken = letters(&mut sim, 19);
    assert!(
        taken
            .iter()
            .all(|c| !flags_of(&sim, *c).contains(CompartmentFlags::REFRIGERATED)),
        "no letter took the fridge"
    );
    let kept = usize::from(kept_for_needs(accessible_total as u16));
    assert_eq!(free_with(&sim, CompartmentFlags::ACCESSIBLE), kept);

    // The wheelchair user's parcel gets a low door.
    sim.drain();
    let mut needs = ParcelNeeds::size(SizeClass::Small);
    needs.accessible = true;
    let r = sim
        .bank
        .reserve(needs, ParcelKind::Delivery, &mut sim.dice, sim.now)
        .unwrap();
    assert!(flags_of(&sim, r.compartment).contains(CompartmentFlags::ACCESSIBLE));
    sim.drain();
    // And the fish, the fridge.
    let mut fish = ParcelNeeds::size(SizeClass::Small);
    fish.perishable = true;
    let r = sim
        .bank
        .reserve(fish, ParcelKind::Delivery, &mut sim.dice, sim.now)
        .unwrap();
    assert!(flags_of(&sim, r.compartment).contains(CompartmentFlags::REFRIGERATED));
}

#[test]
fn a_letter_takes_a_kept_door_rather_than_be_refused() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    // Every door but the kept ones is taken...
    letters(&mut sim, 21);
    let free: Vec<_> = sim
        .bank
        .views()
        .filter(|v| v.stage == locker_domain::bank::Stage::Free)
        .map(|v| v.id)
        .collect();
    assert_eq!(free.len(), 3);
    assert!(
        free.iter()
            .all(|c| flags_of(&sim, *c) != CompartmentFlags::NONE)
    );
    // ...and still the next letters go in, down to the last door.
    letters(&mut sim, 3);
    sim.drain();
    assert_eq!(
        sim.bank.reserve(
            ParcelNeeds::size(SizeClass::Small),
            ParcelKind::Delivery,
            &mut sim.dice,
            sim.now
        ),
        Err(BankError::NoFit(AllocationError::BankFull))
    );
}
