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
use locker_proto::time::{Duration, Instant};
use locker_proto::{SizeClass, TimeZone};

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

/// The first reminder of a parcel deposited at UTC `deposited_utc` in a
/// bank whose policy is `policy`: when it went out, in UTC.
fn first_reminder_utc(policy: Policy, deposited_utc: NaiveDateTime) -> NaiveDateTime {
    let mut sim = Sim::<24>::new(24, policy);
    sim.bank.set_wall_clock(deposited_utc, sim.now).unwrap();
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let deposited = sim.now;
    sim.deposit(r.compartment);
    sim.run_until(deposited + Duration::from_hours(40));
    let reminder = sim
        .notes
        .iter()
        .find(|n| matches!(n.kind, NotificationKind::Reminder))
        .expect("a reminder within 40 h");
    deposited_utc + chrono::TimeDelta::milliseconds((reminder.at - deposited).as_millis() as i64)
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
}

#[test]
fn a_bank_in_new_york_keeps_its_quiet_hours_on_new_york_time_though_its_clock_is_utc() {
    // Deposited at 07:00 UTC on Monday 2 March 2026, 02:00 in New York
    // (UTC-5 in winter): the reminder is due at 02:00 New York time.
    let policy = Policy {
        time_zone: TimeZone::north_american(-300),
        ..Policy::default()
    };
    let sent = first_reminder_utc(policy, utc(2026, 3, 2, 7, 0));
    assert_eq!(
        sent,
        utc(2026, 3, 3, 13, 0),
        "08:00 in New York, when its quiet hours end"
    );

    // A bank left on the default (UTC) takes 02:00 in New York for 07:00,
    // quiet too, and wakes the recipient at 03:00 New York time.
    let on_utc = first_reminder_utc(Policy::default(), utc(2026, 3, 2, 7, 0));
    assert_eq!(on_utc, utc(2026, 3, 3, 8, 0));
}

#[test]
fn quiet_hours_follow_the_clocks_forward_into_summer_time() {
    // Berlin, the night the clocks go forward (Sunday 29 March 2026, 01:00
    // UTC). A reminder due at 04:30 UTC is 06:30 summer time, still quiet:
    // it goes out at 08:00 summer time, 06:00 UTC.
    let policy = Policy {
        time_zone: TimeZone::european(60),
        ..Policy::default()
    };
    let sent = first_reminder_utc(policy, utc(2026, 3, 28, 4, 30));
    assert_eq!(sent, utc(2026, 3, 29, 6, 0));
    // A week earlier, in winter time, the same quiet hours end at 07:00 UTC.
    let winter = first_reminder_utc(policy, utc(2026, 3, 21, 4, 30));
    assert_eq!(winter, utc(2026, 3, 22, 7, 0));
}

#[test]
fn a_reminder_waiting_through_the_night_the_clocks_change_goes_out_at_eight_local_time() {
    let berlin = Policy {
        time_zone: TimeZone::european(60),
        ..Policy::default()
    };
    // Due at 21:30 on Saturday 28 March 2026 (20:30 UTC, winter time); the
    // clocks go forward in the night: 08:00 on Sunday is 06:00 UTC, not
    // the 07:00 ten and a half hours of waiting would reach.
    let spring = first_reminder_utc(berlin, utc(2026, 3, 27, 20, 30));
    assert_eq!(spring, utc(2026, 3, 29, 6, 0));
    // Due at 21:30 on Saturday 24 October 2026 (19:30 UTC, summer time);
    // the clocks go back: 08:00 on Sunday is 07:00 UTC.
    let autumn = first_reminder_utc(berlin, utc(2026, 10, 23, 19, 30));
    assert_eq!(autumn, utc(2026, 10, 25, 7, 0));
}
