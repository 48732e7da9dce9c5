//! A parcel's own deadlines: the reservation hold before the deposit; after
//! it the reminder, the escalation and the expiry, counted from the deposit
//! (moved by extensions). A reminder due in quiet hours waits for them to end.
//!
//! Like the door session, this is pure: [`parcel_timer`] takes the
//! compartment's books, the time, the policy and the wall clock, and returns
//! the books after the deadline and what is [`Due`]; the bank reports it.

use chrono::{NaiveDateTime, Timelike};
use locker_proto::time::{Duration, Instant};

use super::audit::Actor;
use super::parcel::{Parcel, Stage};
use super::policy::Policy;
use super::slot::Slot;

/// What a parcel's deadline brought, for the bank to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// Nothing to do; the timer is cleared.
    Cleared,
    /// The reservation ran out before a deposit: the compartment is free.
    ReservationExpired {
        /// Who was to deposit, to be told.
        depositor: Actor,
    },
    /// The reminder falls in quiet hours and waits `by`.
    ReminderDeferred {
        /// How long it waits.
        by: Duration,
    },
    /// The first notice: remind the collector.
    Reminder {
        /// Who collects the parcel.
        collector: Actor,
    },
    /// The second notice: the collector and staff hear that the parcel will
    /// be removed soon.
    Escalation {
        /// Who collects the parcel.
        collector: Actor,
    },
    /// The parcel outstayed its welcome: staff must remove it.
    Expired,
}

/// When the parcel's next notice (reminder, escalation, expiry) is due.
pub(super) fn notice_due(policy: &Policy, p: &Parcel) -> Instant {
    // Perishables run on their own, shorter deadlines.
    let cold = &policy.cold;
    let after = match (p.notices, p.perishable) {
        (0, false) => policy.reminder_after,
        (1, false) => policy.escalation_after,
        (_, false) => policy.expiry_after,
        (0, true) => cold.reminder_after,
        (1, true) => cold.escalation_after,
        (_, true) => cold.expiry_after,
    };
    p.clock_base + after
}

/// The parcel timer of a compartment ran out at `now` (`utc` is the bank's
/// wall clock then, if known): the books after it and what is due.
pub(super) fn parcel_timer(
    mut s: Slot,
    now: Instant,
    policy: &Policy,
    utc: Option<NaiveDateTime>,
) -> (Slot, Due) {
    let due = match (s.stage, s.parcel) {
        (Stage::Reserved, Some(p)) => {
            s.stage = Stage::Free;
            s.parcel = None;
            s.parcel_timer = None;
            Due::ReservationExpired {
                depositor: p.kind.depositor(),
            }
        }
        (Stage::Stored, Some(mut p)) => {
            let collector = p.kind.collector();
            let due = match p.notices {
                0 => {
                    if let Some(wait) = quiet_wait(policy, utc) {
                        s.parcel_timer = Some(now + wait);
                        return (s, Due::ReminderDeferred { by: wait });
                    }
                    Due::Reminder { collector }
                }
                1 => Due::Escalation { collector },
                _ => {
                    s.stage = Stage::Expired;
                    s.parcel_timer = None;
                    return (s, Due::Expired);
                }
            };
            p.notices = p.notices.saturating_add(1);
            s.parcel = Some(p);
            // Never due again at once, whatever the policy says.
            s.parcel_timer = Some(notice_due(policy, &p).max(now + Duration::from_millis(1)));
            due
        }
        _ => {
            s.parcel_timer = None;
            Due::Cleared
        }
    };
    (s, due)
}

/// How long a reminder due at `utc` waits for quiet hours to end, on the
/// bank's local clock ([`Policy::time_zone`]); `None` outside quiet hours,
/// or without quiet hours or a wall clock. A summer-time change before the
/// end moves the end's instant by the change: the night the clocks go
/// forward, quiet hours end an hour sooner in UTC, and an hour later the
/// night they go back.
fn quiet_wait(policy: &Policy, utc: Option<NaiveDateTime>) -> Option<Duration> {
    let quiet = policy.quiet_hours?;
    let utc = utc?;
    let zone = policy.time_zone;
    let unix = utc.and_utc().timestamp();
    let offset_now = zone.offset_minutes_at(unix);
    let wall = utc.checked_add_signed(chrono::TimeDelta::try_minutes(i64::from(offset_now))?)?;
    let minute = u16::try_from(wall.hour() * 60 + wall.minute()).ok()?;
    let minutes = quiet.minutes_until_end(minute);
    if minutes == 0 {
        return None;
    }
    let local_wait = i64::from(minutes) * 60 - i64::from(wall.second());
    let change = zone.offset_minutes_at(unix.saturating_add(local_wait)) - offset_now;
    let wait = local_wait - i64::from(change) * 60;
    // An end the clocks jumped over ends the quiet at the jump: due at once.
    Some(Duration::from_secs(u64::try_from(wait).unwrap_or(0)).max(Duration::from_secs(1)))
}

#[cfg(test)]
mod tests {
    use super::super::codes::CodeHash;
    use super::super::parcel::{ParcelId, ParcelKind};
    use super::*;
    use chrono::NaiveDate;

    fn stored(deposited: Instant) -> Slot {
        let mut s = Slot::EMPTY;
        s.stage = Stage::Stored;
        s.parcel = Some(Parcel {
            id: ParcelId(7),
            kind: ParcelKind::Delivery,
            code: CodeHash::from_bytes([1; 16]),
            clock_base: deposited,
            deposited_at: Some(deposited),
            notices: 0,
            reopens: 0,
            perishable: false,
            cold: crate::bank::cold::ColdChain::default(),
        });
        s
    }

    fn at(h: u32, m: u32) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(2024, 3, 4).and_then(|d| d.and_hms_opt(h, m, 0))
    }

    #[test]
    fn an_uncollected_parcel_is_reminded_then_escalated_then_expires() {
        let policy = Policy::default();
        let day = Duration::from_hours(24);
        let s = stored(Instant::ZERO);
        let mut now = Instant::ZERO + day;
        let (s, due) = parcel_timer(s, now, &policy, at(12, 0));
        assert_eq!(
            due,
            Due::Reminder {
                collector: Actor::Recipient
            }
        );
        assert_eq!(s.parcel_timer, Some(Instant::ZERO + day + day));
        now += day;
        let (s, due) = parcel_timer(s, now, &policy, at(12, 0));
        assert_eq!(
            due,
            Due::Escalation {
                collector: Actor::Recipient
            }
        );
        assert_eq!(s.parcel_timer, Some(Instant::ZERO + day + day + day));
        now += day;
        let (s, due) = parcel_timer(s, now, &policy, at(12, 0));
        assert_eq!(due, Due::Expired);
        assert_eq!(s.stage, Stage::Expired);
        assert_eq!(s.parcel_timer, None);
        assert!(s.parcel.is_some(), "an expired parcel stays in the books");
    }

    #[test]
    fn a_reminder_due_at_night_waits_for_the_morning() {
        // Quiet from 21:00 to 08:00 by default; due at 23:30.
        let policy = Policy::default();
        let now = Instant::ZERO + Duration::from_hours(24);
        let (s, due) = parcel_timer(stored(Instant::ZERO), now, &policy, at(23, 30));
        let wait = Duration::from_mins(8 * 60 + 30);
        assert_eq!(due, Due::ReminderDeferred { by: wait });
        assert_eq!(s.parcel_timer, Some(now + wait));
        assert_eq!(s.parcel.map(|p| p.notices), Some(0));
        // Without a wall clock the bank cannot know it is night.
        let (_, due) = parcel_timer(stored(Instant::ZERO), now, &policy, None);
        assert!(matches!(due, Due::Reminder { .. }));
    }

    #[test]
    fn a_reservation_nobody_used_frees_the_compartment_and_the_courier_is_told() {
        let mut s = stored(Instant::ZERO);
        s.stage = Stage::Reserved;
        let (s, due) = parcel_timer(s, Instant::from_secs(60), &Policy::default(), None);
        assert_eq!(
            due,
            Due::ReservationExpired {
                depositor: Actor::Courier
            }
        );
        assert_eq!(s.stage, Stage::Free);
        assert!(s.parcel.is_none());
    }
}
