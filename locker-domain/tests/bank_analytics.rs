//! The analytics a property manager reads off a bank: when parcels come and
//! go (the bank's local time), how long they stay, which sizes are
//! used and why parcels were turned away; and that the figures survive a
//! restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use chrono::{NaiveDate, NaiveDateTime};
use locker_domain::bank::{
    Actor, AllocationError, BankError, DWELL_BUCKETS, DepositsClosed, Fit, ParcelNeeds, Policy,
    Refusal, SizeUtilisation, dwell_bucket,
};
use locker_proto::time::Duration;
use locker_proto::{CompartmentId, Dimensions, SizeClass, TimeZone};

/// Monday 2 March 2026 at `h`:`m`, UTC: local time for a bank on the
/// default policy's time zone.
fn monday(h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 2)
        .unwrap()
        .and_hms_opt(h, m, 0)
        .unwrap()
}

/// A bank of `n` compartments whose wall clock says Monday 08:00 now.
fn bank_at_eight(n: usize) -> Sim<64> {
    let mut sim = Sim::<64>::new(n, Policy::default());
    sim.drain();
    sim.bank.set_wall_clock(monday(8, 0), sim.now).unwrap();
    sim
}

#[test]
fn a_morning_rush_of_deposits_shows_in_the_eight_o_clock_bucket() {
    let mut sim = bank_at_eight(24);
    let mut stored = Vec::new();
    for _ in 0..5 {
        sim.advance(Duration::from_secs(10 * 60));
        let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
        sim.deposit(r.compartment);
        stored.push(r.compartment);
    }
    // One more at a quarter past nine.
    sim.advance(Duration::from_secs(25 * 60));
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Medium));
    sim.deposit(r.compartment);

    let a = sim.bank.stats().analytics;
    assert_eq!(a.deposits_by_hour[8], 5);
    assert_eq!(a.deposits_by_hour[9], 1);
    assert_eq!(a.deposits_by_hour.iter().sum::<u32>(), 6);
    assert_eq!(a.peak_deposit_hour(), Some(8));
    // All on a Monday.
    assert_eq!(a.deposits_by_weekday, [6, 0, 0, 0, 0, 0, 0]);
    // By the size of the compartment they went into.
    assert_eq!(a.deposits_of(SizeClass::Small), 5);
    assert_eq!(a.deposits_of(SizeClass::Medium), 1);
    // No pickup yet, nothing refused.
    assert_eq!(a.pickups_by_hour, [0; 24]);
    assert_eq!(a.dwell, [0; DWELL_BUCKETS]);
    assert_eq!(a.refusals, [0; Refusal::COUNT]);
    assert_eq!(a.unclocked_deposits(sim.bank.stats()), 0);
    // Utilisation per size class, from the books now.
    let by_size = sim.bank.utilisation_by_size();
    assert_eq!(
        by_size[0],
        SizeUtilisation {
            compartments: 12,
            occupied: 5,
            free: 7,
            out_of_service: 0
        }
    );
    assert_eq!(by_size[1].occupied, 1);
    assert_eq!(
        by_size[3].compartments, 0,
        "the bank has no extra large doors"
    );
    assert!((by_size[0].occupied_percent() - 100.0 * 5.0 / 12.0).abs() < 0.01);
}

#[test]
fn a_bank_in_tokyo_counts_a_deposit_at_23_utc_on_sunday_as_eight_on_monday_morning() {
    let policy = Policy {
        time_zone: TimeZone::fixed(9 * 60),
        ..Policy::default()
    };
    let mut sim = Sim::<64>::new(24, policy);
    sim.drain();
    // Sunday 1 March 2026, 23:00 UTC: Monday 08:00 in Tokyo.
    sim.bank
        .set_wall_clock(monday(23, 0) - chrono::TimeDelta::days(1), sim.now)
        .unwrap();
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.deposit(r.compartment);
    let a = sim.bank.stats().analytics;
    assert_eq!(a.deposits_by_hour[8], 1);
    assert_eq!(a.deposits_by_weekday, [1, 0, 0, 0, 0, 0, 0], "a Monday");
    // The audit stamps stay UTC: one wall clock for every record.
    let stamped = sim.audit.iter().rev().find_map(|a| a.wall).unwrap();
    assert_eq!(stamped.date(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
}

#[test]
fn a_parcel_collected_after_30_hours_lands_in_the_24_to_48_hour_bucket() {
    let mut sim = bank_at_eight(24);
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    // A quick one, collected after 20 minutes.
    let quick = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let quick_code = sim.deposit(quick.compartment);
    sim.advance(Duration::from_secs(20 * 60));
    sim.pick_up(&quick_code, quick.compartment);
    // The first waits past its reminder, to Tuesday 14:00.
    let later = sim.now + Duration::from_secs(30 * 3600);
    sim.run_until(later);
    sim.pick_up(&code, r.compartment);

    let stats = *sim.bank.stats();
    let a = stats.analytics;
    assert_eq!(stats.pickups, 2);
    assert_eq!(a.dwell[0], 1, "the quick one: under an hour");
    assert_eq!(a.dwell[4], 1, "the slow one: 24 to 48 h");
    assert_eq!(a.dwell.iter().sum::<u32>(), 2);
    assert_eq!(dwell_bucket(Duration::from_secs(30 * 3600)), 4);
    assert_eq!(a.pickups_by_hour[8], 1);
    assert_eq!(a.pickups_by_hour[14], 1);
    assert_eq!(a.peak_pickup_hour(), Some(8), "the earlier hour on a tie");
    assert_eq!(a.pickups_by_weekday, [1, 1, 0, 0, 0, 0, 0]);
}

#[test]
fn the_dwell_buckets_have_the_documented_bounds() {
    let h = |h: u64| Duration::from_secs(h * 3600);
    let ms = Duration::from_millis;
    assert_eq!(dwell_bucket(Duration::ZERO), 0);
    assert_eq!(dwell_bucket(h(1) - ms(1)), 0);
    assert_eq!(dwell_bucket(h(1)), 1);
    assert_eq!(dwell_bucket(h(4)), 2);
    assert_eq!(dwell_bucket(h(12)), 3);
    assert_eq!(dwell_bucket(h(24) - ms(1)), 3);
    assert_eq!(dwell_bucket(h(24)), 4);
    assert_eq!(dwell_bucket(h(48)), 5);
    assert_eq!(dwell_bucket(h(72)), 6);
    assert_eq!(dwell_bucket(Duration::MAX), 6);
}

/// Ten compartments: five small (1–5), three medium (6–8), two large (9, 10).
fn ten_doors() -> Sim<64> {
    bank_at_eight(10)
}

/// Reserves letters until the bank refuses one; returns the refusal.
fn letters_until_refused(sim: &mut Sim<64>) -> BankError {
    for _ in 0..20 {
        sim.drain();
        if let Err(e) = sim.try_reserve(ParcelNeeds::size(SizeClass::Small)) {
            return e;
        }
    }
    panic!("the bank never refused a letter");
}

#[test]
fn a_letter_refused_because_only_the_large_doors_are_out_of_service_is_counted_as_unavailable() {
    let mut sim = ten_doors();
    for id in [9, 10] {
        sim.drain();
        sim.bank
            .set_out_of_service(CompartmentId(id), Actor::Staff, sim.now)
            .unwrap();
    }
    // The courier is told what the bank always said: every door that fits
    // is taken...
    let refused = letters_until_refused(&mut sim);
    assert_eq!(refused, BankError::NoFit(AllocationError::BankFull));
    // ...and the manager sees that two empty doors out of service turned
    // the letter away, not a full bank.
    let a = sim.bank.stats().analytics;
    assert_eq!(a.refused(Refusal::Unavailable), 1);
    assert_eq!(a.refused(Refusal::BankFull), 0);
    let large = sim.bank.utilisation_by_size()[2];
    assert_eq!((large.compartments, large.out_of_service), (2, 2));
}

#[test]
fn a_full_bank_an_oversize_parcel_and_a_closed_bank_are_each_counted_by_reason() {
    let mut sim = ten_doors();
    // Every door taken: bank full.
    assert_eq!(
        letters_until_refused(&mut sim),
        BankError::NoFit(AllocationError::BankFull)
    );
    // A wardrobe: larger than every door.
    sim.drain();
    let wardrobe = ParcelNeeds {
        fit: Fit::Dimensions(Dimensions::new(2000, 900, 600)),
        perishable: false,
        accessible: false,
    };
    let refused = sim.try_reserve(wardrobe).unwrap_err();
    assert_eq!(refused, BankError::NoFit(AllocationError::Oversize));
    // The operator closes the bank: unavailable.
    sim.bank
        .set_deposits_closed(Some(DepositsClosed::Unavailable));
    let refused = sim
        .try_reserve(ParcelNeeds::size(SizeClass::Small))
        .unwrap_err();
    assert_eq!(
        refused,
        BankError::DepositsClosed(DepositsClosed::Unavailable)
    );
    let a = sim.bank.stats().analytics;
    assert_eq!(a.refusals, [1, 1, 1]);
    // A call refused before the bank looked (outputs pending) counts
    // nothing: it was not a parcel turned away.
    sim.bank.set_deposits_closed(None);
    sim.bank.set_wall_clock(monday(9, 0), sim.now).unwrap();
    sim.drain();
    sim.bank
        .set_out_of_service(CompartmentId(1), Actor::Staff, sim.now)
        .ok();
    let pending = sim.try_reserve(ParcelNeeds::size(SizeClass::Small));
    assert_eq!(pending.unwrap_err(), BankError::OutputsPending);
    assert_eq!(sim.bank.stats().analytics.refusals, [1, 1, 1]);
}

#[test]
fn without_a_wall_clock_deposits_count_in_no_hour_rather_than_a_guessed_one() {
    let mut sim = Sim::<64>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.advance(Duration::from_secs(2 * 3600));
    sim.pick_up(&code, r.compartment);
    let stats = *sim.bank.stats();
    let a = stats.analytics;
    assert_eq!((stats.deposits, stats.pickups), (1, 1));
    assert_eq!(a.deposits_by_hour, [0; 24]);
    assert_eq!(a.pickups_by_weekday, [0; 7]);
    assert_eq!(a.unclocked_deposits(&stats), 1);
    // Size and dwell need no clock.
    assert_eq!(a.deposits_of(SizeClass::Small), 1);
    assert_eq!(a.dwell[1], 1);
}

#[test]
fn the_figures_survive_a_snapshot_round_trip() {
    let mut sim = ten_doors();
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Medium));
    let code = sim.deposit(r.compartment);
    sim.advance(Duration::from_secs(5 * 3600));
    sim.pick_up(&code, r.compartment);
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Large));
    sim.deposit(r.compartment);
    letters_until_refused(&mut sim);
    let before = *sim.bank.stats();
    assert_ne!(before.analytics, Default::default());
    let restart = sim.now + Duration::from_secs(60);
    sim.restart_at(restart);
    assert_eq!(*sim.bank.stats(), before);
    // And counting goes on from there.
    assert_eq!(
        letters_until_refused(&mut sim),
        BankError::NoFit(AllocationError::BankFull)
    );
    assert_eq!(
        sim.bank.stats().analytics.refused(Refusal::BankFull),
        before.analytics.refused(Refusal::BankFull) + 1
    );
}
