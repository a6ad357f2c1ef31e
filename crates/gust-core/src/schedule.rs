//! When a cron trigger fires: a standard 5-field cron expression (`*/5 * * * *`, also the
//! `@hourly`-style nicknames) read in an IANA timezone, or a fixed interval `@every 30s`.
//! Parsing here is the validation: a schedule that parses can always compute its next tick.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use chrono_tz::Tz;

/// Shortest `@every` interval: ticks closer than this would mostly measure the scheduler.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest `@every` interval, 100 years: every tick of a longer one could be past the end of
/// time as this program counts it (the year 262143), and none is of use.
pub const MAX_INTERVAL: Duration = Duration::from_secs(100 * 365 * 86_400);

#[derive(Debug, Clone)]
pub enum Schedule {
    Cron { cron: Box<croner::Cron>, tz: Tz },
    Every(Duration),
}

impl Schedule {
    /// `expression` is a cron expression or `@every <n>{s,m,h,d}...`; `timezone` an IANA name
    /// (UTC when absent). Errors say what is wrong, for a 400 on the field.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Self, String> {
        let expression = expression.trim();
        let tz = match timezone {
            None => Tz::UTC,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| format!("`{name}` is not an IANA timezone (e.g. Europe/Paris)"))?,
        };
        if let Some(interval) = expression.strip_prefix("@every") {
            let every = parse_interval(interval.trim())?;
            if every < MIN_INTERVAL {
                return Err("@every needs an interval of at least 1s".into());
            }
            if every > MAX_INTERVAL {
                return Err("@every takes an interval of at most 36500d (100 years)".into());
            }
            return Ok(Self::Every(every));
        }
        let fields = expression.split_whitespace().count();
        if !expression.starts_with('@') && fields != 5 {
            return Err(format!(
                "`{expression}` has {fields} fields; a cron expression has 5: minute hour day-of-month month day-of-week"
            ));
        }
        let cron = croner::Cron::from_str(expression)
            .map_err(|e| format!("`{expression}` is not a cron expression: {e}"))?;
        Ok(Self::Cron {
            cron: Box::new(cron),
            tz,
        })
    }

    /// The first tick strictly after `after`. `None` only for a cron expression that can never
    /// match again (e.g. 30 February).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Every(every) => {
                // Ticks sit on multiples of the interval since the epoch, so they do not drift
                // with restarts or with how late the previous tick ran.
                let every_ms = i64::try_from(every.as_millis()).ok()?;
                let next =
                    (after.timestamp_millis().div_euclid(every_ms) + 1).checked_mul(every_ms)?;
                DateTime::from_timestamp_millis(next)
            }
            Self::Cron { cron, tz } => {
                // Near the ends of chrono's range a local time would not exist (converting
                // panics): there is no tick there.
                let margin = chrono::TimeDelta::days(2);
                after
                    .checked_add_signed(margin)?
                    .checked_sub_signed(margin * 2)?;
                // Ticks are whole seconds: the search starts from one, or it would carry the
                // fraction of `after` into every tick.
                cron.find_next_occurrence(&after.trunc_subsecs(0).with_timezone(tz), false)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            }
        }
    }

    /// Up to `count` ticks after `after`, each the first after the one before: the ticks the
    /// scheduler fires, which also moves from tick to tick with [`next_after`](Self::next_after).
    /// Fewer when the schedule ends (a date that never comes again).
    pub fn next_ticks(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        std::iter::successors(self.next_after(after), |tick| self.next_after(*tick))
            .take(count)
            .collect()
    }
}

/// `30s`, `5m`, `1h30m`, `2d`.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let bad = || format!("`@every {text}` needs an interval like 30s, 5m, 1h30m or 1d");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn cron_ticks_in_its_timezone() {
        let s = Schedule::parse("0 9 * * *", Some("Europe/Paris")).unwrap();
        // 09:00 in Paris in winter is 08:00 UTC.
        assert_eq!(
            s.next_after(at("2026-01-10T07:00:00Z")),
            Some(at("2026-01-10T08:00:00Z"))
        );
        let utc = Schedule::parse("*/15 * * * *", None).unwrap();
        assert_eq!(
            utc.next_after(at("2026-01-10T07:00:00Z")),
            Some(at("2026-01-10T07:15:00Z"))
        );
    }

    #[test]
    fn next_ticks_follow_one_another_in_the_timezone() {
        let s = Schedule::parse("30 9 * * 1-5", Some("America/New_York")).unwrap();
        // Friday 2026-03-06, then Monday and Tuesday: the clocks move on Sunday the 8th.
        assert_eq!(
            s.next_ticks(at("2026-03-06T12:00:00Z"), 3),
            [
                at("2026-03-06T14:30:00Z"),
                at("2026-03-09T13:30:00Z"),
                at("2026-03-10T13:30:00Z")
            ]
        );
        let never = Schedule::parse("0 0 30 2 *", None).unwrap();
        assert!(never.next_ticks(at("2026-01-01T00:00:00Z"), 5).is_empty());
    }

    #[test]
    fn every_ticks_on_interval_multiples() {
        let s = Schedule::parse("@every 1m30s", None).unwrap();
        assert_eq!(
            s.next_after(at("2026-01-10T00:00:10Z")),
            Some(at("2026-01-10T00:01:30Z"))
        );
    }

    #[test]
    fn bad_schedules_say_why() {
        for (expr, tz, needle) in [
            ("* * * *", None, "has 4 fields"),
            ("* * * * * *", None, "has 6 fields"),
            ("61 * * * *", None, "not a cron expression"),
            ("@every 0s", None, "at least 1s"),
            ("@every soon", None, "interval like"),
            ("* * * * *", Some("Mars/Olympus"), "IANA"),
        ] {
            let err = Schedule::parse(expr, tz).unwrap_err();
            assert!(err.contains(needle), "{expr}: {err}");
        }
        assert!(Schedule::parse("@hourly", None).is_ok());
    }

    #[test]
    fn intervals_too_long_to_tick_are_refused() {
        // 2^61 s is 0 ms once cut to 64 bits: the tick was a division by zero.
        for expr in [
            "@every 2305843009213693952s",
            "@every 2736755625600s",
            "@every 36501d",
        ] {
            let err = Schedule::parse(expr, None).unwrap_err();
            assert!(err.contains("at most 36500d"), "{expr}: {err}");
        }
        let longest = Schedule::parse("@every 36500d", None).unwrap();
        assert!(longest.next_after(at("2026-01-10T00:00:00Z")).is_some());
    }

    #[test]
    fn the_ends_of_time_have_no_tick() {
        // Paris local time past the last UTC instant does not exist: converting panicked.
        let hourly = Schedule::parse("@hourly", Some("Europe/Paris")).unwrap();
        assert_eq!(hourly.next_after(DateTime::<Utc>::MAX_UTC), None);
        let west = Schedule::parse("@hourly", Some("America/New_York")).unwrap();
        assert!(west.next_after(DateTime::<Utc>::MIN_UTC).is_none());
        assert!(
            Schedule::parse("@every 1s", None)
                .unwrap()
                .next_after(DateTime::<Utc>::MAX_UTC)
                .is_none()
        );
    }

    #[test]
    fn cron_ticks_are_whole_seconds_whatever_the_fraction_of_the_start() {
        for tz in [None, Some("Europe/Paris")] {
            let s = Schedule::parse("* * * * *", tz).unwrap();
            assert_eq!(
                s.next_after(at("2026-01-10T07:00:00.000000001Z")),
                Some(at("2026-01-10T07:01:00Z")),
                "{tz:?}"
            );
            assert_eq!(
                s.next_after(at("2026-01-10T07:00:59.999Z")),
                Some(at("2026-01-10T07:01:00Z")),
                "{tz:?}"
            );
        }
    }
}

/// Property tests: any text is an answer, never a panic; generated cron expressions and
/// intervals parse, and their ticks rise strictly, sit where the fields say and skip none.
#[cfg(test)]
mod props {
    use std::collections::BTreeSet;

    use chrono::{Datelike, TimeZone, Timelike};
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// One comma-separated part of a cron field.
    #[derive(Debug, Clone)]
    enum Part {
        Value(u32),
        Range(u32, u32),
        /// `*/step` or `a-b/step`.
        Step(Option<(u32, u32)>, u32),
    }

    #[derive(Debug, Clone)]
    enum Field {
        Star,
        Parts(Vec<Part>),
    }

    fn part(min: u32, max: u32) -> impl Strategy<Value = Part> {
        let span = max - min + 1;
        prop_oneof![
            (min..=max).prop_map(Part::Value),
            (min..=max, min..=max).prop_map(|(a, b)| Part::Range(a.min(b), a.max(b))),
            (1..=span).prop_map(|step| Part::Step(None, step)),
            (min..=max, min..=max, 1..=span)
                .prop_map(|(a, b, step)| Part::Step(Some((a.min(b), a.max(b))), step)),
        ]
    }

    fn field(min: u32, max: u32) -> impl Strategy<Value = Field> {
        prop_oneof![
            1 => Just(Field::Star),
            3 => vec(part(min, max), 1..4).prop_map(Field::Parts),
        ]
    }

    impl Field {
        fn text(&self) -> String {
            match self {
                Field::Star => "*".into(),
                Field::Parts(parts) => parts
                    .iter()
                    .map(|p| match p {
                        Part::Value(v) => v.to_string(),
                        Part::Range(a, b) => format!("{a}-{b}"),
                        Part::Step(None, s) => format!("*/{s}"),
                        Part::Step(Some((a, b)), s) => format!("{a}-{b}/{s}"),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            }
        }

        /// The values it matches, within `min..=max`.
        fn values(&self, min: u32, max: u32) -> BTreeSet<u32> {
            match self {
                Field::Star => (min..=max).collect(),
                Field::Parts(parts) => parts
                    .iter()
                    .flat_map(|p| -> Vec<u32> {
                        match *p {
                            Part::Value(v) => vec![v],
                            Part::Range(a, b) => (a..=b).collect(),
                            Part::Step(None, s) => (min..=max).step_by(s as usize).collect(),
                            Part::Step(Some((a, b)), s) => (a..=b).step_by(s as usize).collect(),
                        }
                    })
                    .collect(),
            }
        }
    }

    #[derive(Debug, Clone)]
    struct Cron {
        minute: Field,
        hour: Field,
        day: Field,
        month: Field,
        weekday: Field,
    }

    fn cron() -> impl Strategy<Value = Cron> {
        (
            field(0, 59),
            field(0, 23),
            field(1, 31),
            field(1, 12),
            field(0, 7),
        )
            .prop_map(|(minute, hour, day, month, weekday)| Cron {
                minute,
                hour,
                day,
                month,
                weekday,
            })
    }

    impl Cron {
        fn text(&self) -> String {
            [
                &self.minute,
                &self.hour,
                &self.day,
                &self.month,
                &self.weekday,
            ]
            .map(Field::text)
            .join(" ")
        }

        /// Whether the local time `t` is one of its ticks. A day matches by day of month or
        /// by weekday when both are given, by the one given otherwise.
        fn matches(&self, t: &chrono::NaiveDateTime) -> bool {
            let weekdays: BTreeSet<u32> = self
                .weekday
                .values(0, 7)
                .into_iter()
                .map(|d| d % 7)
                .collect();
            let by_day = self.day.values(1, 31).contains(&t.day());
            let by_weekday = weekdays.contains(&t.weekday().num_days_from_sunday());
            let day = match (&self.day, &self.weekday) {
                (Field::Star, Field::Star) => true,
                (Field::Star, _) => by_weekday,
                (_, Field::Star) => by_day,
                _ => by_day || by_weekday,
            };
            t.second() == 0
                && t.nanosecond() == 0
                && self.minute.values(0, 59).contains(&t.minute())
                && self.hour.values(0, 23).contains(&t.hour())
                && self.month.values(1, 12).contains(&t.month())
                && day
        }

        /// Whether some day of some year can match (not only 30 February).
        fn can_match(&self) -> bool {
            let days = self.day.values(1, 31);
            let months = self.month.values(1, 12);
            let restricted_days = matches!(self.day, Field::Parts(_));
            let any_weekday = matches!(self.weekday, Field::Parts(_));
            if !restricted_days || any_weekday {
                return true;
            }
            months.iter().any(|m| {
                let longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][*m as usize - 1];
                days.iter().any(|d| *d <= longest)
            })
        }
    }

    /// A time from 1970 to 2200, to the nanosecond.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..7_258_118_400, 0u32..1_000_000_000)
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap())
    }

    /// Text that looks like schedules: their words and characters, run together.
    fn schedule_like() -> impl Strategy<Value = String> {
        let word = prop::sample::select(vec![
            "*",
            "/",
            ",",
            "-",
            " ",
            "  ",
            "L",
            "W",
            "#",
            "?",
            "+",
            "@",
            "@every",
            "@hourly",
            "@yearly",
            "@reboot",
            "0",
            "5",
            "7",
            "31",
            "60",
            "99999999999999999999",
            "MON",
            "jan",
            "s",
            "m",
            "h",
            "d",
            "1s",
            "\t",
            "é",
            "\0",
        ]);
        vec(word, 0..12).prop_map(|words| words.concat())
    }

    fn timezone() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            prop::sample::select(vec![
                "UTC",
                "Europe/Paris",
                "America/New_York",
                "Australia/Lord_Howe",
                "Pacific/Chatham",
                "Asia/Kolkata",
            ])
            .prop_map(|tz| Some(tz.to_string())),
            "\\PC{0,20}".prop_map(Some),
        ]
    }

    proptest! {
        #![proptest_config(crate::testing::config(256))]

        #[test]
        fn any_text_is_a_schedule_or_an_error(
            expression in prop_oneof![schedule_like(), "\\PC{0,40}"],
            tz in timezone(),
            after in instant(),
        ) {
            if let Ok(schedule) = Schedule::parse(&expression, tz.as_deref()) {
                if let Some(next) = schedule.next_after(after) {
                    prop_assert!(next > after, "{expression}: {next} after {after}");
                }
                let _ = schedule.next_after(DateTime::<Utc>::MAX_UTC);
                let _ = schedule.next_after(DateTime::<Utc>::MIN_UTC);
            }
        }

        #[test]
        fn every_interval_ticks_on_its_multiples(
            units in vec(
                (
                    prop_oneof![0u64..100_000, any::<u64>()],
                    prop::sample::select(vec![('s', 1u64), ('m', 60), ('h', 3600), ('d', 86_400)]),
                ),
                1..4,
            ),
            after in instant(),
        ) {
            let text: String = units.iter().map(|(n, (unit, _))| format!("{n}{unit}")).collect();
            let seconds = units
                .iter()
                .try_fold(0u64, |sum, (n, (_, unit))| n.checked_mul(*unit)?.checked_add(sum));
            let parsed = Schedule::parse(&format!("@every {text}"), None);
            let Some(seconds) = seconds.filter(|s| (1..=MAX_INTERVAL.as_secs()).contains(s)) else {
                prop_assert!(parsed.is_err(), "@every {text}");
                return Ok(());
            };
            let schedule = parsed.unwrap();
            let ms = seconds as i64 * 1000;
            let mut at = after;
            for _ in 0..3 {
                let next = schedule.next_after(at).unwrap();
                prop_assert!(next > at && next <= at + chrono::Duration::milliseconds(ms));
                prop_assert_eq!(next.timestamp_millis() % ms, 0);
                at = next;
            }
        }

        #[test]
        fn cron_ticks_rise_and_match_their_fields(cron in cron(), after in instant()) {
            let text = cron.text();
            let schedule = Schedule::parse(&text, None).map_err(TestCaseError::fail)?;
            let mut at = after;
            for _ in 0..4 {
                let Some(next) = schedule.next_after(at) else {
                    prop_assert!(!cron.can_match(), "{text}: no tick after {at}");
                    return Ok(());
                };
                prop_assert!(next > at, "{text}: {next} after {at}");
                prop_assert!(cron.matches(&next.naive_utc()), "{text}: {next}");
                // No tick was skipped: every minute in between (when few) does not match.
                if next - at <= chrono::Duration::days(2) {
                    let mut minute = Utc
                        .timestamp_opt(at.timestamp() - at.timestamp() % 60 + 60, 0)
                        .unwrap();
                    while minute < next {
                        prop_assert!(!cron.matches(&minute.naive_utc()), "{text}: {minute} skipped");
                        minute += chrono::Duration::minutes(1);
                    }
                }
                at = next;
            }
        }

        #[test]
        fn cron_ticks_rise_in_every_timezone(
            cron in cron(),
            tz in prop::sample::select(vec!["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham"]),
            after in instant(),
        ) {
            let text = cron.text();
            let schedule = Schedule::parse(&text, Some(tz)).map_err(TestCaseError::fail)?;
            let mut at = after;
            for _ in 0..4 {
                let Some(next) = schedule.next_after(at) else { return Ok(()) };
                prop_assert!(next > at, "{text} in {tz}: {next} after {at}");
                prop_assert_eq!(next.second(), 0);
                prop_assert_eq!(next.nanosecond(), 0);
                at = next;
            }
        }
    }
}
