//! Daily traffic: who brings what when, and how long recipients take.

use locker_domain::bank::{Fit, ParcelKind, ParcelNeeds};
use locker_proto::SizeClass;
use locker_proto::time::{Duration, Instant};

use super::rng::Dice;
use super::world::{Whereabouts, WorldParcel};

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

/// Parcels per household per weekday (Saturday half, Sunday none).
pub const PARCELS_PER_UNIT_PER_DAY: f64 = 0.1;
/// Carriers that visit the bank each weekday.
const CARRIERS: u64 = 4;

/// The parcels of the day starting at `start` (midnight), with the instant
/// each depositor arrives, in no particular order.
pub fn plan_day(start: Instant, units: u32, dice: &mut Dice) -> Vec<(Instant, WorldParcel)> {
    let weekday = (start.as_millis() / DAY) % 7; // day 0 is a Monday
    let factor = match weekday {
        5 => 0.5,
        6 => 0.0,
        _ => 1.0,
    };
    let mean = f64::from(units) * PARCELS_PER_UNIT_PER_DAY * factor;
    let mut out = Vec::new();
    // Carriers come in rounds and put their parcels in one after another.
    for _ in 0..CARRIERS {
        let count = dice.poisson(mean * 0.92 / CARRIERS as f64);
        let mut at = start + Duration::from_millis(dice.between(8 * HOUR, 19 * HOUR));
        for _ in 0..count {
            out.push((at, parcel(ParcelKind::Delivery, at, dice)));
            at += Duration::from_millis(dice.between(40_000, 120_000));
        }
    }
    // Residents drop off returns through the day.
    for _ in 0..dice.poisson(mean * 0.08) {
        let at = start + Duration::from_millis(dice.between(8 * HOUR, 21 * HOUR));
        out.push((at, parcel(ParcelKind::Return, at, dice)));
    }
    out
}

fn parcel(kind: ParcelKind, arrived: Instant, dice: &mut Dice) -> WorldParcel {
    let size = match dice.weighted(&[55.0, 30.0, 13.0, 2.0]) {
        0 => SizeClass::Small,
        1 => SizeClass::Medium,
        2 => SizeClass::Large,
        _ => SizeClass::ExtraLarge,
    };
    let perishable = kind == ParcelKind::Delivery && size == SizeClass::Medium && dice.chance(0.1);
    let accessible = dice.chance(0.03);
    let grams = match size {
        SizeClass::Small => dice.between(60, 1_500),
        SizeClass::Medium => dice.between(300, 5_000),
        _ => dice.between(1_000, 15_000),
    } as u32;
    let pickup_delay = if perishable {
        Duration::from_millis(dice.between(HOUR, 6 * HOUR))
    } else {
        pickup_delay(dice)
    };
    WorldParcel {
        kind,
        needs: ParcelNeeds {
            fit: Fit::Size(size),
            perishable,
            accessible,
        },
        grams,
        at: Whereabouts::WithDepositor,
        bank_id: None,
        slot: None,
        code: None,
        arrived,
        placed_at: None,
        pickup_delay,
        forgetful: false,
        leaves_ajar: false,
        mistypes: dice.chance(0.03),
        attempts: 0,
        verified_out: false,
        code_accepted: false,
        needed_staff: false,
        reminded: false,
    }
}

/// Most recipients come within hours; a tail waits past the reminder (24
/// h), the escalation (48 h) and the expiry (72 h).
fn pickup_delay(dice: &mut Dice) -> Duration {
    let ms = match dice.weighted(&[55.0, 25.0, 12.0, 5.0, 3.0]) {
        0 => dice.exponential(3.0 * HOUR as f64) as u64,
        1 => dice.between(4 * HOUR, 24 * HOUR),
        2 => dice.between(24 * HOUR, 48 * HOUR),
        3 => dice.between(48 * HOUR, 72 * HOUR),
        _ => 30 * DAY,
    };
    Duration::from_millis(ms.max(60_000))
}

/// `at`, moved to the next morning if it falls at night (residents come
/// between 07:00 and 23:00).
pub fn daytime(at: Instant, dice: &mut Dice) -> Instant {
    let into_day = at.as_millis() % DAY;
    if (7 * HOUR..23 * HOUR).contains(&into_day) {
        return at;
    }
    let midnight = at.as_millis() - into_day;
    let next = if into_day < 7 * HOUR {
        midnight
    } else {
        midnight + DAY
    };
    Instant::from_millis(next + dice.between(7 * HOUR, 10 * HOUR))
}

/// When a courier next comes by to collect a return: the next weekday
/// morning round.
pub fn next_courier_round(now: Instant, dice: &mut Dice) -> Instant {
    let mut day = now.as_millis() / DAY + 1;
    while day % 7 == 6 {
        day += 1;
    }
    Instant::from_millis(day * DAY + dice.between(9 * HOUR, 12 * HOUR))
}
