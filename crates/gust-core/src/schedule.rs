//! When a cron trigger fires: a standard 5-field cron expression (`*/5 * * * *`, also the
//! `@hourly`-style nicknames) read in an IANA timezone, or a fixed interval `@every 30s`.
//! Parsing here is the validation: a schedule that parses can always compute its next tick.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Shortest `@every` interval: ticks closer than this would mostly measure the scheduler.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

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
                let every_ms = every.as_millis() as i64;
                let next = (after.timestamp_millis().div_euclid(every_ms) + 1) * every_ms;
                DateTime::from_timestamp_millis(next)
            }
            Self::Cron { cron, tz } => cron
                .find_next_occurrence(&after.with_timezone(tz), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
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
}
