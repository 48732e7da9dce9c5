//! A bank's time zone, as a rule: the offset from UTC, and summer time if
//! the place keeps one.
//!
//! Everything in this workspace keeps wall time in UTC: audit stamps,
//! uplink stamps, offline-token expiries, the bank's wall clock. Local time
//! matters for what people meet: quiet hours (no reminder text at 3 a.m.)
//! and the analytics' hour of day and weekday. A bank computes it from UTC
//! with its policy's [`TimeZone`], so a gateway whose system clock is UTC
//! (as servers' are) and a bank in Berlin, Sydney or New York agree on one
//! clock, and summer time needs no one to touch the bank twice a year.
//!
//! The rule is the one POSIX `TZ` strings carry (`CET-1CEST,M3.5.0,M10.5.0/3`):
//! a standard offset, and summer time from the *n*-th (or last) weekday of
//! one month to that of another, at a local time of day. It has no table of
//! historical changes: a rule describes the present, which is all a locker
//! needs. Pure integer arithmetic, no clock read, no allocation.
//!
//! ```
//! use locker_proto::zone::TimeZone;
//!
//! // 2026-03-29 00:59:59 UTC: still winter in Berlin (UTC+1).
//! let berlin = TimeZone::european(60);
//! assert_eq!(berlin.offset_minutes_at(1_774_745_999), 60);
//! // One second later the clocks go forward: UTC+2 until late October.
//! assert_eq!(berlin.offset_minutes_at(1_774_746_000), 120);
//! // New York in July: four hours behind UTC.
//! assert_eq!(TimeZone::north_american(-300).offset_minutes_at(1_783_000_000), -240);
//! assert_eq!(TimeZone::UTC.offset_minutes_at(1_783_000_000), 0);
//! ```

use serde::{Deserialize, Serialize};

/// The furthest a standard offset may be from UTC, in minutes (±14 h: the
/// zones in use run from UTC−12 to UTC+14).
pub const MAX_OFFSET_MINUTES: i16 = 14 * 60;

/// The most summer time may add, in minutes (2 h).
pub const MAX_SUMMER_SAVE_MINUTES: u8 = 120;

const DAY_S: i64 = 86_400;
/// Instants further than this from 1970 (about ±3,000 years) are clamped
/// before any calendar arithmetic, so no input can overflow it.
const FAR_S: i64 = 100_000_000_000;

/// A time zone: a standard offset from UTC and, optionally, summer time.
/// [`TimeZone::UTC`] is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TimeZone {
    /// Minutes east of UTC outside summer time (Berlin 60, London 0, New
    /// York −300), at most [`MAX_OFFSET_MINUTES`] either way.
    pub standard_offset_minutes: i16,
    /// Summer time, if the place keeps one.
    pub summer: Option<SummerTime>,
}

/// When summer time runs, and how much it adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SummerTime {
    /// Minutes added to the standard offset in summer (1 to
    /// [`MAX_SUMMER_SAVE_MINUTES`]; 60 nearly everywhere).
    pub save_minutes: u8,
    /// When it starts, in local standard time.
    pub starts: Transition,
    /// When it ends, in local summer time. A start later in the year than
    /// the end is a southern summer, across the new year.
    pub ends: Transition,
}

/// A day and time of the year: the `week`-th `weekday` of `month`, at
/// `minute` past local midnight (POSIX `Mm.w.d/time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Transition {
    /// The month, 1 (January) to 12.
    pub month: u8,
    /// Which of the month's `weekday`s: 1 to 4, or 5 for the last one.
    pub week: u8,
    /// The day of the week, 0 (Sunday) to 6 (Saturday).
    pub weekday: u8,
    /// Minutes past local midnight, below 1440.
    pub minute: u16,
}

/// Why a [`TimeZone`] cannot be a bank's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TimeZoneError {
    /// The standard offset is more than 14 hours from UTC.
    #[error("a time zone's offset is at most 14 hours (840 minutes) either side of UTC")]
    OffsetOutOfRange,
    /// Summer time adds nothing, or more than two hours.
    #[error("summer time adds 1 to 120 minutes")]
    SaveOutOfRange,
    /// A transition names no real month, week, weekday or time of day.
    #[error(
        "a summer-time change is a month 1-12, a week 1-5 (5: the last), a weekday 0-6 (0: Sunday) and a minute below 1440"
    )]
    BadTransition,
    /// Summer time starts and ends at the same moment of the year.
    #[error("summer time starts and ends on the same day and minute")]
    EmptySummer,
}

impl TimeZone {
    /// Coordinated Universal Time: no offset, no summer time.
    pub const UTC: TimeZone = TimeZone {
        standard_offset_minutes: 0,
        summer: None,
    };

    /// A fixed offset of `minutes` east of UTC, without summer time (Tokyo
    /// 540, India 330).
    pub const fn fixed(minutes: i16) -> TimeZone {
        TimeZone {
            standard_offset_minutes: minutes,
            summer: None,
        }
    }

    /// The European Union's rule on standard offset `minutes` (London 0,
    /// Berlin 60, Athens 120): one hour more from the last Sunday of March
    /// to the last Sunday of October, both changes at 01:00 UTC.
    pub const fn european(minutes: i16) -> TimeZone {
        // 01:00 UTC in local standard time, then in local summer time.
        let at = 60 + minutes;
        let (start, end) = (
            at.rem_euclid(1440) as u16,
            (at + 60).rem_euclid(1440) as u16,
        );
        TimeZone {
            standard_offset_minutes: minutes,
            summer: Some(SummerTime {
                save_minutes: 60,
                starts: Transition::sunday(3, 5, start),
                ends: Transition::sunday(10, 5, end),
            }),
        }
    }

    /// The United States' and Canada's rule on standard offset `minutes`
    /// (New York −300, Chicago −360, Los Angeles −480): one hour more from
    /// the second Sunday of March to the first Sunday of November, both
    /// changes at 02:00 local time.
    pub const fn north_american(minutes: i16) -> TimeZone {
        TimeZone {
            standard_offset_minutes: minutes,
            summer: Some(SummerTime {
                save_minutes: 60,
                starts: Transition::sunday(3, 2, 120),
                ends: Transition::sunday(11, 1, 120),
            }),
        }
    }

    /// Whether this rule describes a real place's clock.
    ///
    /// # Errors
    /// The [`TimeZoneError`] naming the first field out of range.
    pub fn check(&self) -> Result<(), TimeZoneError> {
        if self.standard_offset_minutes.unsigned_abs() > MAX_OFFSET_MINUTES.unsigned_abs() {
            return Err(TimeZoneError::OffsetOutOfRange);
        }
        let Some(summer) = self.summer else {
            return Ok(());
        };
        if summer.save_minutes == 0 || summer.save_minutes > MAX_SUMMER_SAVE_MINUTES {
            return Err(TimeZoneError::SaveOutOfRange);
        }
        if !summer.starts.is_valid() || !summer.ends.is_valid() {
            return Err(TimeZoneError::BadTransition);
        }
        if summer.starts == summer.ends {
            return Err(TimeZoneError::EmptySummer);
        }
        Ok(())
    }

    /// The offset from UTC, in minutes east, at `unix_s` (seconds since
    /// 1970-01-01 00:00 UTC). A rule that fails [`check`](Self::check) is
    /// read as its standard offset, clamped to ±14 hours, without summer
    /// time: never a panic, whatever the input.
    pub fn offset_minutes_at(&self, unix_s: i64) -> i32 {
        let limit = i32::from(MAX_OFFSET_MINUTES);
        let standard = i32::from(self.standard_offset_minutes).clamp(-limit, limit);
        match self.summer {
            Some(summer) if self.check().is_ok() && summer.runs_at(unix_s, standard) => {
                standard + i32::from(summer.save_minutes)
            }
            _ => standard,
        }
    }

    /// `unix_s` on this zone's local clock: seconds since 1970-01-01 00:00
    /// local time (saturating).
    pub fn local_seconds(&self, unix_s: i64) -> i64 {
        unix_s.saturating_add(i64::from(self.offset_minutes_at(unix_s)) * 60)
    }
}

impl SummerTime {
    /// Whether summer time runs at `unix_s`, for standard offset
    /// `standard` minutes; both transitions valid.
    fn runs_at(&self, unix_s: i64, standard: i32) -> bool {
        let local_standard = unix_s.clamp(-FAR_S, FAR_S) + i64::from(standard) * 60;
        let year = year_of_day(local_standard.div_euclid(DAY_S));
        let start = self.starts.local_seconds(year);
        // The end is given in summer time; compare in standard time.
        let end = self.ends.local_seconds(year) - i64::from(self.save_minutes) * 60;
        if start < end {
            local_standard >= start && local_standard < end
        } else {
            local_standard >= start || local_standard < end
        }
    }
}

impl Transition {
    /// The `week`-th Sunday (5: the last) of `month`, at `minute` past
    /// local midnight: the day most summer-time rules change on.
    ///
    /// ```
    /// use locker_proto::zone::Transition;
    /// // Europe's summer time ends on the last Sunday of October.
    /// let ends = Transition::sunday(10, 5, 180);
    /// assert_eq!((ends.month, ends.week, ends.weekday, ends.minute), (10, 5, 0, 180));
    /// ```
    #[must_use]
    pub const fn sunday(month: u8, week: u8, minute: u16) -> Self {
        Transition {
            month,
            week,
            weekday: 0,
            minute,
        }
    }

    fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && (1..=5).contains(&self.week)
            && self.weekday <= 6
            && self.minute < 1440
    }

    /// The transition in `year`, as local seconds since 1970 (valid fields).
    fn local_seconds(&self, year: i64) -> i64 {
        let month = u32::from(self.month);
        let first = days_from_civil(year, month, 1);
        let next = if month == 12 {
            days_from_civil(year + 1, 1, 1)
        } else {
            days_from_civil(year, month + 1, 1)
        };
        // 1970-01-01 was a Thursday (weekday 4).
        let first_weekday = (first + 4).rem_euclid(7);
        let mut day = first + (i64::from(self.weekday) - first_weekday).rem_euclid(7);
        day += 7 * (i64::from(self.week) - 1);
        while day >= next {
            day -= 7;
        }
        day * DAY_S + i64::from(self.minute) * 60
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the era-based
/// algorithm: exact for every year, no table).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let march_based = i64::from((month + 9) % 12);
    let day_of_year = (153 * march_based + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The year of day `days` since 1970-01-01.
fn year_of_day(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_based = (5 * day_of_year + 2) / 153;
    let year = year_of_era + era * 400;
    // January and February belong to the next year of a March-based one.
    if march_based >= 10 { year + 1 } else { year }
}

/// Why a POSIX `TZ` string cannot be read as a [`TimeZone`]
/// ([`TimeZone::from_str`](core::str::FromStr::from_str)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ParseTimeZoneError {
    /// Not a `TZ` string: `at` is the byte where reading stopped.
    #[error("not a POSIX TZ string such as CET-1CEST,M3.5.0,M10.5.0/3 (stopped at byte {at})")]
    Malformed {
        /// Where reading stopped, in bytes from the start.
        at: usize,
    },
    /// Summer time named without its rule (`EST5EDT`): which days it runs
    /// is left to the system in POSIX, so it is refused, not guessed.
    #[error("summer time needs its rule: ,Mm.w.d[/time],Mm.w.d[/time]")]
    MissingRule,
    /// A day given as `Jn` or `n` (day of the year) rather than `Mm.w.d`.
    #[error("only Mm.w.d summer-time days are read, not Jn or n")]
    UnsupportedDay,
    /// Read, but not a rule a bank can keep (see [`TimeZone::check`]).
    #[error(transparent)]
    Invalid(#[from] TimeZoneError),
}

impl core::str::FromStr for TimeZone {
    type Err = ParseTimeZoneError;

    /// Reads a POSIX `TZ` rule, the form the last line of a compiled zone
    /// file carries (`tail -n1 /usr/share/zoneinfo/Europe/Berlin`):
    /// `std offset [dst [offset],start[/time],end[/time]]`, names of three
    /// or more letters or `<…>`, offsets in hours west of UTC as POSIX
    /// writes them, days as `Mm.w.d`, times at 02:00 unless given. The
    /// result passes [`TimeZone::check`].
    ///
    /// ```
    /// use locker_proto::zone::TimeZone;
    ///
    /// let berlin: TimeZone = "CET-1CEST,M3.5.0,M10.5.0/3".parse()?;
    /// assert_eq!(berlin, TimeZone::european(60));
    /// let new_york: TimeZone = "EST5EDT,M3.2.0,M11.1.0".parse()?;
    /// assert_eq!(new_york, TimeZone::north_american(-300));
    /// let india: TimeZone = "IST-5:30".parse()?;
    /// assert_eq!(india, TimeZone::fixed(330));
    /// assert!("EST5EDT".parse::<TimeZone>().is_err(), "summer time without its days");
    /// # Ok::<(), locker_proto::zone::ParseTimeZoneError>(())
    /// ```
    fn from_str(text: &str) -> Result<TimeZone, ParseTimeZoneError> {
        let mut r = TzReader {
            bytes: text.as_bytes(),
            at: 0,
        };
        r.name()?;
        let west = r.offset()?.ok_or(r.malformed())?;
        let standard = -west;
        if r.done() {
            return finish(TimeZone {
                standard_offset_minutes: minutes_i16(standard)?,
                summer: None,
            });
        }
        r.name()?;
        let summer_west = if r.peek() == Some(b',') || r.done() {
            west - 60
        } else {
            r.offset()?.ok_or(r.malformed())?
        };
        if r.done() {
            return Err(ParseTimeZoneError::MissingRule);
        }
        r.eat(b',')?;
        let starts = r.transition()?;
        r.eat(b',')?;
        let ends = r.transition()?;
        if !r.done() {
            return Err(r.malformed());
        }
        let save = west - summer_west;
        let save_minutes = u8::try_from(save).map_err(|_| TimeZoneError::SaveOutOfRange)?;
        finish(TimeZone {
            standard_offset_minutes: minutes_i16(standard)?,
            summer: Some(SummerTime {
                save_minutes,
                starts,
                ends,
            }),
        })
    }
}

fn finish(zone: TimeZone) -> Result<TimeZone, ParseTimeZoneError> {
    zone.check()?;
    Ok(zone)
}

fn minutes_i16(minutes: i32) -> Result<i16, ParseTimeZoneError> {
    i16::try_from(minutes).map_err(|_| ParseTimeZoneError::Invalid(TimeZoneError::OffsetOutOfRange))
}

impl core::fmt::Display for TimeZone {
    /// The rule as a POSIX `TZ` string that reads back as the same rule,
    /// with numeric names (`<+01>-1<+02>,M3.5.0/2,M10.5.0/3` for
    /// [`TimeZone::european(60)`](TimeZone::european)): for logs, and for a
    /// `TZ` variable.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let east = i32::from(self.standard_offset_minutes);
        name(f, east)?;
        posix_offset(f, -east)?;
        let Some(summer) = self.summer else {
            return Ok(());
        };
        let save = i32::from(summer.save_minutes);
        name(f, east + save)?;
        if save != 60 {
            posix_offset(f, -(east + save))?;
        }
        for t in [summer.starts, summer.ends] {
            write!(f, ",M{}.{}.{}/", t.month, t.week, t.weekday)?;
            posix_offset(f, i32::from(t.minute))?;
        }
        Ok(())
    }
}

/// A numeric zone name, as tzdata writes them: `<+01>`, `<-0330>`.
fn name(f: &mut core::fmt::Formatter<'_>, east: i32) -> core::fmt::Result {
    let sign = if east < 0 { '-' } else { '+' };
    let (h, m) = (east.unsigned_abs() / 60, east.unsigned_abs() % 60);
    if m == 0 {
        write!(f, "<{sign}{h:02}>")
    } else {
        write!(f, "<{sign}{h:02}{m:02}>")
    }
}

/// `[-]h[:mm]`.
fn posix_offset(f: &mut core::fmt::Formatter<'_>, minutes: i32) -> core::fmt::Result {
    let sign = if minutes < 0 { "-" } else { "" };
    let (h, m) = (minutes.unsigned_abs() / 60, minutes.unsigned_abs() % 60);
    if m == 0 {
        write!(f, "{sign}{h}")
    } else {
        write!(f, "{sign}{h}:{m:02}")
    }
}

/// Reads a `TZ` string byte by byte.
struct TzReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl TzReader<'_> {
    fn malformed(&self) -> ParseTimeZoneError {
        ParseTimeZoneError::Malformed { at: self.at }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    /// Takes `byte`, which must come next.
    fn eat(&mut self, byte: u8) -> Result<(), ParseTimeZoneError> {
        if self.peek() != Some(byte) {
            return Err(self.malformed());
        }
        self.at += 1;
        Ok(())
    }

    /// A zone name: three or more letters, or `<…>` of letters, digits,
    /// `+` and `-`.
    fn name(&mut self) -> Result<(), ParseTimeZoneError> {
        let start = self.at;
        if self.peek() == Some(b'<') {
            self.at += 1;
            while let Some(b) = self.peek() {
                if b == b'>' {
                    break;
                }
                if !(b.is_ascii_alphanumeric() || b == b'+' || b == b'-') {
                    return Err(self.malformed());
                }
                self.at += 1;
            }
            self.eat(b'>')?;
            if self.at - start < 5 {
                return Err(ParseTimeZoneError::Malformed { at: start });
            }
            return Ok(());
        }
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.at += 1;
        }
        if self.at - start < 3 {
            return Err(ParseTimeZoneError::Malformed { at: start });
        }
        Ok(())
    }

    /// A number of at most `digits` digits, if one is here.
    fn number(&mut self, digits: usize) -> Option<i32> {
        let start = self.at;
        let mut value = 0i32;
        while self.at - start < digits {
            let Some(d) = self.peek().filter(u8::is_ascii_digit) else {
                break;
            };
            value = value * 10 + i32::from(d - b'0');
            self.at += 1;
        }
        (self.at > start).then_some(value)
    }

    /// `[+|-]hh[:mm[:ss]]` in minutes (seconds must be zero), if one is here.
    fn offset(&mut self) -> Result<Option<i32>, ParseTimeZoneError> {
        let sign = match self.peek() {
            Some(b'-') => -1,
            Some(b'+') => 1,
            _ => 0,
        };
        if sign != 0 {
            self.at += 1;
        }
        let Some(hours) = self.number(3) else {
            // A sign must be followed by hours.
            return if sign == 0 {
                Ok(None)
            } else {
                Err(self.malformed())
            };
        };
        let sign = if sign == 0 { 1 } else { sign };
        let mut minutes = hours * 60;
        if self.peek() == Some(b':') {
            self.at += 1;
            let m = self.number(2).ok_or(self.malformed())?;
            if m >= 60 {
                return Err(self.malformed());
            }
            minutes += m;
            if self.peek() == Some(b':') {
                self.at += 1;
                let s = self.number(2).ok_or(self.malformed())?;
                if s != 0 {
                    return Err(self.malformed());
                }
            }
        }
        Ok(Some(sign * minutes))
    }

    /// `Mm.w.d[/time]`.
    fn transition(&mut self) -> Result<Transition, ParseTimeZoneError> {
        match self.peek() {
            Some(b'M') => self.at += 1,
            Some(b'J' | b'0'..=b'9') => return Err(ParseTimeZoneError::UnsupportedDay),
            _ => return Err(self.malformed()),
        }
        let field = |r: &mut Self, digits| {
            r.number(digits)
                .and_then(|v| u8::try_from(v).ok())
                .ok_or(r.malformed())
        };
        let month = field(self, 2)?;
        self.eat(b'.')?;
        let week = field(self, 1)?;
        self.eat(b'.')?;
        let weekday = field(self, 1)?;
        let minute = if self.peek() == Some(b'/') {
            self.at += 1;
            self.offset()?.ok_or(self.malformed())?
        } else {
            120
        };
        let minute = u16::try_from(minute).map_err(|_| TimeZoneError::BadTransition)?;
        Ok(Transition {
            month,
            week,
            weekday,
            minute,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds since 1970 of a UTC date and time.
    fn utc(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * DAY_S + h * 3600 + mi * 60
    }

    #[test]
    fn berlin_goes_to_summer_time_at_one_in_the_morning_utc_on_the_last_sunday_of_march() {
        let berlin = TimeZone::european(60);
        assert_eq!(berlin.check(), Ok(()));
        // 2026: the last Sundays are 29 March and 25 October.
        assert_eq!(berlin.offset_minutes_at(utc(2026, 3, 29, 0, 59)), 60);
        assert_eq!(berlin.offset_minutes_at(utc(2026, 3, 29, 1, 0)), 120);
        assert_eq!(berlin.offset_minutes_at(utc(2026, 10, 25, 0, 59)), 120);
        assert_eq!(berlin.offset_minutes_at(utc(2026, 10, 25, 1, 0)), 60);
        // London and Athens change at the same UTC moment.
        for minutes in [0, 120] {
            let zone = TimeZone::european(minutes);
            let m = i32::from(minutes);
            assert_eq!(zone.offset_minutes_at(utc(2026, 3, 29, 0, 59)), m);
            assert_eq!(zone.offset_minutes_at(utc(2026, 3, 29, 1, 0)), m + 60);
            assert_eq!(zone.offset_minutes_at(utc(2026, 10, 25, 1, 0)), m);
        }
    }

    #[test]
    fn new_york_changes_at_two_in_the_morning_local_time() {
        let new_york = TimeZone::north_american(-300);
        // 2026: second Sunday of March is the 8th, first of November the 1st.
        // 02:00 EST is 07:00 UTC; 02:00 EDT is 06:00 UTC.
        assert_eq!(new_york.offset_minutes_at(utc(2026, 3, 8, 6, 59)), -300);
        assert_eq!(new_york.offset_minutes_at(utc(2026, 3, 8, 7, 0)), -240);
        assert_eq!(new_york.offset_minutes_at(utc(2026, 11, 1, 5, 59)), -240);
        assert_eq!(new_york.offset_minutes_at(utc(2026, 11, 1, 6, 0)), -300);
    }

    #[test]
    fn a_southern_summer_runs_across_the_new_year() {
        // Sydney: UTC+10, summer from the first Sunday of October 02:00
        // standard to the first Sunday of April 03:00 summer time.
        let sydney = TimeZone {
            standard_offset_minutes: 600,
            summer: Some(SummerTime {
                save_minutes: 60,
                starts: Transition {
                    month: 10,
                    week: 1,
                    weekday: 0,
                    minute: 120,
                },
                ends: Transition {
                    month: 4,
                    week: 1,
                    weekday: 0,
                    minute: 180,
                },
            }),
        };
        assert_eq!(sydney.check(), Ok(()));
        assert_eq!(sydney.offset_minutes_at(utc(2026, 1, 1, 0, 0)), 660);
        assert_eq!(sydney.offset_minutes_at(utc(2026, 7, 1, 0, 0)), 600);
        // 2026-04-05 03:00 AEDT is 2026-04-04 16:00 UTC.
        assert_eq!(sydney.offset_minutes_at(utc(2026, 4, 4, 15, 59)), 660);
        assert_eq!(sydney.offset_minutes_at(utc(2026, 4, 4, 16, 0)), 600);
        // 2026-10-04 02:00 AEST is 2026-10-03 16:00 UTC.
        assert_eq!(sydney.offset_minutes_at(utc(2026, 10, 3, 15, 59)), 600);
        assert_eq!(sydney.offset_minutes_at(utc(2026, 10, 3, 16, 0)), 660);
        assert_eq!(sydney.offset_minutes_at(utc(2026, 12, 31, 23, 0)), 660);
    }

    #[test]
    fn a_rule_out_of_range_is_refused_and_read_as_its_clamped_standard_offset() {
        let mut zone = TimeZone::european(60);
        if let Some(s) = zone.summer.as_mut() {
            s.starts.month = 13;
        }
        assert_eq!(zone.check(), Err(TimeZoneError::BadTransition));
        assert_eq!(zone.offset_minutes_at(utc(2026, 7, 1, 0, 0)), 60);
        let far = TimeZone::fixed(i16::MIN);
        assert_eq!(far.check(), Err(TimeZoneError::OffsetOutOfRange));
        assert_eq!(far.offset_minutes_at(0), -840);
        assert_eq!(far.local_seconds(i64::MIN), i64::MIN);
        let mut no_save = TimeZone::north_american(-300);
        if let Some(s) = no_save.summer.as_mut() {
            s.save_minutes = 0;
        }
        assert_eq!(no_save.check(), Err(TimeZoneError::SaveOutOfRange));
    }

    #[test]
    fn the_calendar_arithmetic_knows_leap_years_and_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
        assert_eq!(
            days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28),
            1
        );
        for day in [-800_000, -1, 0, 59, 365, 11_016, 20_000, 800_000] {
            let year = year_of_day(day);
            assert!(days_from_civil(year, 1, 1) <= day, "{day}");
            assert!(day < days_from_civil(year + 1, 1, 1), "{day}");
        }
    }

    #[test]
    fn no_instant_and_no_rule_can_overflow_the_arithmetic() {
        let zones = [
            TimeZone::european(MAX_OFFSET_MINUTES),
            TimeZone::north_american(-MAX_OFFSET_MINUTES),
        ];
        for zone in zones {
            for t in [i64::MIN, -FAR_S - 1, 0, FAR_S + 1, i64::MAX] {
                let offset = zone.offset_minutes_at(t);
                assert!(offset.abs() <= 840 + 60, "{offset}");
                let _ = zone.local_seconds(t);
            }
        }
    }
}

#[cfg(test)]
mod posix_strings {
    use super::*;
    use proptest::prelude::*;

    extern crate std;
    use std::string::ToString;

    #[test]
    fn the_rules_zone_files_carry_read_as_the_presets() {
        let read = |s: &str| s.parse::<TimeZone>();
        assert_eq!(read("GMT0BST,M3.5.0/1,M10.5.0"), Ok(TimeZone::european(0)));
        assert_eq!(
            read("EET-2EEST,M3.5.0/3,M10.5.0/4"),
            Ok(TimeZone::european(120))
        );
        assert_eq!(
            read("CST6CDT,M3.2.0,M11.1.0"),
            Ok(TimeZone::north_american(-360))
        );
        assert_eq!(read("UTC0"), Ok(TimeZone::UTC));
        assert_eq!(read("JST-9"), Ok(TimeZone::fixed(540)));
        assert_eq!(read("<+0545>-5:45"), Ok(TimeZone::fixed(345)));
        assert_eq!(read("<-03>3"), Ok(TimeZone::fixed(-180)));
        // Sydney: summer from October to April, across the new year.
        let sydney = read("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(
            sydney.offset_minutes_at(1_767_225_600),
            660,
            "1 January 2026"
        );
        assert_eq!(sydney.offset_minutes_at(1_783_000_000), 600, "July 2026");
        // Lord Howe Island keeps half an hour of summer time.
        let lord_howe = read("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0").unwrap();
        assert_eq!(lord_howe.summer.map(|s| s.save_minutes), Some(30));
    }

    #[test]
    fn what_is_not_a_rule_a_bank_can_keep_is_refused_with_its_reason() {
        let read = |s: &str| s.parse::<TimeZone>();
        assert_eq!(read(""), Err(ParseTimeZoneError::Malformed { at: 0 }));
        assert_eq!(read("CET"), Err(ParseTimeZoneError::Malformed { at: 3 }));
        assert_eq!(read("C-1"), Err(ParseTimeZoneError::Malformed { at: 0 }));
        assert_eq!(read("CET-1 "), Err(ParseTimeZoneError::Malformed { at: 5 }));
        assert_eq!(read("EST5EDT"), Err(ParseTimeZoneError::MissingRule));
        assert_eq!(
            read("EST5EDT,J60,J300"),
            Err(ParseTimeZoneError::UnsupportedDay)
        );
        assert_eq!(
            read("EST5EDT,M3.2.0,300"),
            Err(ParseTimeZoneError::UnsupportedDay)
        );
        assert_eq!(
            read("XXX-15"),
            Err(ParseTimeZoneError::Invalid(TimeZoneError::OffsetOutOfRange))
        );
        assert_eq!(
            read("CET-1CEST,M13.5.0,M10.5.0/3"),
            Err(ParseTimeZoneError::Invalid(TimeZoneError::BadTransition))
        );
        assert_eq!(
            read("CET-1CEST,M3.5.0/-1,M10.5.0/3"),
            Err(ParseTimeZoneError::Invalid(TimeZoneError::BadTransition))
        );
        assert_eq!(
            read("CET-1CEST-4,M3.5.0,M10.5.0"),
            Err(ParseTimeZoneError::Invalid(TimeZoneError::SaveOutOfRange))
        );
        assert_eq!(
            read("CET-1CEST,M3.5.0,M3.5.0"),
            Err(ParseTimeZoneError::Invalid(TimeZoneError::EmptySummer))
        );
        assert_eq!(
            read("CET-1:60"),
            Err(ParseTimeZoneError::Malformed { at: 8 })
        );
        assert_eq!(
            read("CET-1:00:30"),
            Err(ParseTimeZoneError::Malformed { at: 11 })
        );
    }

    fn any_transition() -> impl Strategy<Value = Transition> {
        (1u8..=12, 1u8..=5, 0u8..=6, 0u16..1440).prop_map(|(month, week, weekday, minute)| {
            Transition {
                month,
                week,
                weekday,
                minute,
            }
        })
    }

    proptest! {
        #[test]
        fn every_rule_a_bank_keeps_reads_back_from_its_own_tz_string(
            offset in -840i16..=840,
            summer in proptest::option::of((1u8..=120, any_transition(), any_transition())),
        ) {
            let zone = TimeZone {
                standard_offset_minutes: offset,
                summer: summer.map(|(save_minutes, starts, ends)| SummerTime { save_minutes, starts, ends }),
            };
            prop_assume!(zone.check().is_ok());
            let text = zone.to_string();
            prop_assert_eq!(text.parse::<TimeZone>(), Ok(zone), "{}", text);
        }

        #[test]
        fn no_string_panics_and_what_reads_is_a_valid_rule(text in "\\PC{0,40}") {
            if let Ok(zone) = text.parse::<TimeZone>() {
                prop_assert_eq!(zone.check(), Ok(()));
            }
        }
    }
}

#[cfg(test)]
mod against_chrono {
    use super::*;
    use chrono::{Datelike, NaiveDate, Weekday};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_calendar_agrees_with_chrono(day in -150_000i64..150_000) {
            let date = NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|d| d.checked_add_signed(chrono::TimeDelta::days(day)));
            let Some(date) = date else { return Ok(()) };
            prop_assert_eq!(year_of_day(day), i64::from(date.year()));
            prop_assert_eq!(days_from_civil(i64::from(date.year()), date.month(), date.day()), day);
        }

        #[test]
        fn a_transition_falls_on_the_day_chrono_names(
            year in 1900i32..2200, month in 1u8..=12, week in 1u8..=5, weekday in 0u8..=6,
        ) {
            let t = Transition { month, week, weekday, minute: 0 };
            let days = [Weekday::Sun, Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat];
            let wd = days[usize::from(weekday)];
            let expect = NaiveDate::from_weekday_of_month_opt(year, u32::from(month), wd, week)
                .or_else(|| NaiveDate::from_weekday_of_month_opt(year, u32::from(month), wd, week - 1))
                .map(|d| i64::from(d.num_days_from_ce() - 719_163) * DAY_S);
            prop_assert_eq!(Some(t.local_seconds(i64::from(year))), expect);
        }
    }
}
