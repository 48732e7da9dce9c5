//! Reminders, escalation, expiry and removal, around quiet hours.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use locker_domain::bank::{
    Actor, AuditEvent, NotificationKind, ParcelNeeds, Policy, StaffId, Stage,
};
use locker_proto::SizeClass;
use locker_proto::time::{Duration, Instant};

fn at(h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 2)
        .unwrap()
        .and_hms_opt(h, m, 0)
        .unwrap()
}

#[test]
fn an_uncollected_parcel_is_reminded_at_24h_escalated_at_48h_and_removed_after_72h_outside_quiet_hours()
 {
    let mut sim = Sim::<24>::new(24, Policy::default());
    // Deposit at 22:00: 24 h later is 22:00, inside quiet hours (21:00-08:00).
    sim.bank.set_wall_clock(at(22, 0), sim.now).unwrap();
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let deposited = sim.now;
    sim.deposit(r.compartment);
    let wall_of = |t: Instant| {
        at(22, 0) + chrono::TimeDelta::milliseconds((t - deposited).as_millis() as i64)
    };

    sim.run_until(deposited + Duration::from_hours(24));
    assert!(
        !sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::Reminder)),
        "no reminder at 22:00"
    );
    assert!(
        sim.audit
            .iter()
            .any(|a| matches!(a.event, AuditEvent::ReminderDeferred { .. }))
    );

    sim.run_until(deposited + Duration::from_hours(35));
    let reminder = sim
        .notes
        .iter()
        .find(|n| matches!(n.kind, NotificationKind::Reminder))
        .expect("a reminder");
    assert_eq!(reminder.to, Actor::Recipient);
    let sent = wall_of(reminder.at);
    assert_eq!(
        (sent.hour(), sent.minute()),
        (8, 0),
        "sent when quiet hours end"
    );

    sim.run_until(deposited + Duration::from_hours(48));
    let escalations: Vec<_> = sim
        .notes
        .iter()
        .filter(|n| matches!(n.kind, NotificationKind::Escalation))
        .collect();
    assert_eq!(escalations.len(), 2, "recipient and staff");
    assert_eq!(sim.bank.stats().escalations, 1);

    sim.run_until(deposited + Duration::from_hours(72));
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Expired);
    assert!(
        sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::RemovalTask) && n.to == Actor::Staff)
    );
    assert_eq!(sim.bank.stats().expiries, 1);

    // The compartment is freed only once the removal is verified.
    sim.drain();
    sim.bank
        .staff_open(r.compartment, StaffId(4), sim.now)
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(r.compartment, true);
    assert_ne!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
    sim.take_parcel(r.compartment);
    sim.close_door(r.compartment);
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
}

#[test]
fn an_expired_parcel_still_inside_after_removal_stays_in_the_books_with_an_alert() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let t0 = sim.now;
    sim.deposit(r.compartment);
    sim.run_until(t0 + Duration::from_hours(73));
    sim.drain();
    sim.bank
        .staff_open(r.compartment, StaffId(4), sim.now)
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(r.compartment, true);
    sim.close_door(r.compartment);
    sim.advance(Duration::from_secs(5));
    sim.timeout();
    let v = sim.bank.view(r.compartment).unwrap();
    assert_eq!(v.stage, Stage::Expired);
    assert_eq!(v.parcel, Some(r.parcel));
    assert_eq!(
        sim.alerts_of(locker_domain::bank::AlertKind::RemovalNotVerified),
        1
    );
}

#[test]
fn extending_the_deadline_moves_the_reminder() {
    let mut sim = Sim::<24>::new(
        24,
        Policy {
            quiet_hours: None,
            ..Policy::default()
        },
    );
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let t0 = sim.now;
    sim.deposit(r.compartment);
    sim.drain();
    sim.bank
        .extend_deadline(
            r.compartment,
            Duration::from_hours(12),
            Actor::Backend,
            sim.now,
        )
        .unwrap();
    sim.run_until(t0 + Duration::from_hours(30));
    assert_eq!(sim.bank.stats().reminders, 0);
    sim.run_until(t0 + Duration::from_hours(36));
    assert_eq!(sim.bank.stats().reminders, 1);
    assert!(sim.audit.iter().any(
        |a| a.actor == Actor::Backend && matches!(a.event, AuditEvent::DeadlineExtended { .. })
    ));
}

#[test]
fn a_reservation_nobody_uses_frees_the_compartment_when_the_hold_runs_out() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    sim.run_until(sim.now + Duration::from_hours(25));
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Free);
    assert!(
        sim.notes
            .iter()
            .any(|n| matches!(n.kind, NotificationKind::ReservationExpired))
    );
}
