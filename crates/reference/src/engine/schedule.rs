//! A job's `schedulingConfig`: when its rollout may run (after `startTime`, before `endTime`,
//! inside a maintenance window), on the virtual clock.
//!
//! Maintenance windows start by AWS's six-field `cron(minutes hours day-of-month month
//! day-of-week year)` form, parsed here (numbers, names, `*`, `?`, ranges, lists and steps; `L`,
//! `W` and `#` are refused): a cron crate would bring five- or seven-field dialects whose
//! day-of-week numbering differs from AWS's 1 = SUN.

use crate::calendar;
use serde::{Deserialize, Serialize};

use super::clock::VirtualMillis;

const MINUTE: VirtualMillis = 60_000;
/// How far ahead a window is looked for: windows further away than a year are none.
const HORIZON_MINUTES: i64 = 366 * 24 * 60;

/// CreateJob's `schedulingConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingConfig {
    /// `YYYY-MM-DDTHH:MM`, UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// `YYYY-MM-DDTHH:MM`, UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// STOP_ROLLOUT, CANCEL or FORCE_CANCEL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_behavior: Option<String>,
    /// Recurring windows the rollout runs in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_windows: Vec<MaintenanceWindow>,
}

/// One maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// `cron(...)`.
    pub start_time: String,
    /// Its length.
    pub duration_in_minutes: u32,
}

/// A schedule ready to be asked when the rollout may run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The rollout's start.
    pub start: Option<VirtualMillis>,
    /// The rollout's end.
    pub end: Option<VirtualMillis>,
    windows: Vec<(Cron, VirtualMillis)>,
}

impl Schedule {
    /// The schedule of `config`, or why it cannot be one (AWS's rules: start and end at least
    /// 30 minutes after `now` and apart, start within a year, end within two).
    pub fn new(config: &SchedulingConfig, now: VirtualMillis) -> Result<Self, String> {
        let time = |s: &Option<String>, what: &str| {
            s.as_deref()
                .map(|s| {
                    parse_time(s).ok_or_else(|| format!("{what} {s:?} is not YYYY-MM-DDTHH:MM"))
                })
                .transpose()
        };
        let start = time(&config.start_time, "startTime")?;
        let end = time(&config.end_time, "endTime")?;
        let day = 24 * 60 * MINUTE;
        let soon = now + 30 * MINUTE;
        if let Some(s) = start
            && !(soon..=now + 365 * day).contains(&s)
        {
            return Err("startTime must be 30 minutes to a year from now".into());
        }
        if let Some(e) = end {
            if !(soon..=now + 2 * 365 * day).contains(&e) {
                return Err("endTime must be 30 minutes to two years from now".into());
            }
            if start.is_some_and(|s| e - s < 30 * MINUTE) {
                return Err("endTime must be at least 30 minutes after startTime".into());
            }
        }
        let windows = config
            .maintenance_windows
            .iter()
            .map(|w| {
                Ok((
                    Cron::parse(&w.start_time)?,
                    i64::from(w.duration_in_minutes) * MINUTE,
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            start,
            end,
            windows,
        })
    }

    /// The time the rollout may run from `t` on: `(from, until)` with `from >= t`, the first
    /// stretch open at or after `t`; none when nothing opens any more.
    pub fn open_from(&self, t: VirtualMillis) -> Option<(VirtualMillis, VirtualMillis)> {
        let lower = self.start.map_or(t, |s| s.max(t));
        let end = self.end.unwrap_or(VirtualMillis::MAX);
        if lower >= end {
            return None;
        }
        if self.windows.is_empty() {
            return Some((lower, end));
        }
        // A window open at `lower`: the one that stays open longest.
        let minute = lower.div_euclid(MINUTE) * MINUTE;
        let open_until = self
            .windows
            .iter()
            .flat_map(|(cron, length)| {
                let length = *length;
                let back = length / MINUTE;
                (0..back)
                    .map(move |i| minute - i * MINUTE)
                    .filter(move |m| cron.matches(*m) && m + length > lower)
                    .map(move |m| m + length)
            })
            .max();
        if let Some(until) = open_until {
            return Some((lower, until.min(end)));
        }
        let first = if minute == lower {
            minute
        } else {
            minute + MINUTE
        };
        (0..HORIZON_MINUTES)
            .map(|i| first + i * MINUTE)
            .take_while(|m| *m < end)
            .find_map(|m| {
                self.windows
                    .iter()
                    .filter(|(cron, _)| cron.matches(m))
                    .map(|(_, length)| m + length)
                    .max()
                    .map(|until| (m, until.min(end)))
            })
    }
}

/// `YYYY-MM-DDTHH:MM` (UTC) as a virtual instant.
fn parse_time(s: &str) -> Option<VirtualMillis> {
    let b = s.as_bytes();
    if b.len() != 16 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 {
        return None;
    }
    Some((calendar::days_from_civil(y, mo, d) * 1440 + h * 60 + mi) * MINUTE)
}

/// One parsed field: the values it allows, as a bit set (`None`: any).
type Field = Option<u128>;

/// AWS's `cron(minutes hours day-of-month month day-of-week year)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Field,
    hours: Field,
    days: Field,
    months: Field,
    weekdays: Field,
    /// 1970 to 2097.
    years: Field,
}

impl Cron {
    /// Parses `cron(...)`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let inner = text
            .strip_prefix("cron(")
            .and_then(|t| t.strip_suffix(')'))
            .ok_or_else(|| format!("{text:?} is not cron(...)"))?;
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [mi, h, dom, mon, dow, y] = fields[..] else {
            return Err(format!("{text:?} does not have six fields"));
        };
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        Ok(Self {
            minutes: field(mi, 0, 59, &[]).map_err(|e| format!("{text:?}: {e}"))?,
            hours: field(h, 0, 23, &[]).map_err(|e| format!("{text:?}: {e}"))?,
            days: field(dom, 1, 31, &[]).map_err(|e| format!("{text:?}: {e}"))?,
            months: field(mon, 1, 12, &MONTHS).map_err(|e| format!("{text:?}: {e}"))?,
            weekdays: field(dow, 1, 7, &DAYS).map_err(|e| format!("{text:?}: {e}"))?,
            years: field(y, 1970, 2097, &[]).map_err(|e| format!("{text:?}: {e}"))?,
        })
    }

    /// Whether a window starts at the minute beginning at `at`.
    pub fn matches(&self, at: VirtualMillis) -> bool {
        let minutes = at.div_euclid(MINUTE);
        let days = minutes.div_euclid(1440);
        let (y, mo, d) = calendar::civil_from_days(days);
        // 1970-01-01 was a Thursday: AWS numbers SUN as 1.
        let weekday = (days + 4).rem_euclid(7) + 1;
        // Bits count from the field's lowest value.
        let has =
            |f: Field, v: i64| f.is_none_or(|bits| (0..128).contains(&v) && bits >> v & 1 == 1);
        has(self.minutes, minutes.rem_euclid(60))
            && has(self.hours, minutes.rem_euclid(1440) / 60)
            && has(self.days, d - 1)
            && has(self.months, mo - 1)
            && has(self.weekdays, weekday - 1)
            && has(self.years, y - 1970)
    }
}

/// One field in `lo..=hi` (`names` spell `lo`, `lo + 1`, …), as bits counted from `lo`.
fn field(text: &str, lo: i64, hi: i64, names: &[&str]) -> Result<Field, String> {
    if text == "*" || text == "?" {
        return Ok(None);
    }
    let value = |v: &str| -> Result<i64, String> {
        let n = names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(v))
            .map(|i| lo + i as i64)
            .map_or_else(
                || {
                    v.parse::<i64>()
                        .map_err(|_| format!("{v:?} is not a value"))
                },
                Ok,
            )?;
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n} is outside {lo}-{hi}"))
        }
    };
    let mut bits: u128 = 0;
    let mut wide = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<i64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{s:?} is not a step"))?,
            ),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, hi),
                None => (value(r)?, value(r)?),
            },
        };
        if from > to {
            return Err(format!("{range:?} runs backwards"));
        }
        wide.extend((from..=to).step_by(step as usize));
    }
    for v in wide {
        bits |= 1 << (v - lo);
    }
    Ok(Some(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> VirtualMillis {
        parse_time(s).unwrap()
    }

    #[test]
    fn times_read_as_utc_minutes() {
        assert_eq!(at("1970-01-01T00:01"), 60_000);
        assert_eq!(at("2024-02-29T12:30"), 1_709_209_800_000);
        for bad in [
            "2024-02-29 12:30",
            "2024-13-01T00:00",
            "2024-01-01T24:00",
            "2024-01-01",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn cron_expressions_match_as_aws_reads_them() {
        // (expression, minute, matches)
        let table = [
            ("cron(0 0 * * ? *)", "2024-05-01T00:00", true),
            ("cron(0 0 * * ? *)", "2024-05-01T00:01", false),
            ("cron(15 * * * ? *)", "2024-05-01T13:15", true),
            ("cron(0/20 8-10 ? * MON-FRI *)", "2024-05-03T09:40", true), // a Friday
            ("cron(0/20 8-10 ? * MON-FRI *)", "2024-05-04T09:40", false), // a Saturday
            ("cron(0 22 ? * 1 *)", "2024-05-05T22:00", true),            // 1 = SUN
            ("cron(0 22 ? * 1 *)", "2024-05-06T22:00", false),
            ("cron(30 2 1 JAN,JUL ? 2025)", "2025-07-01T02:30", true),
            ("cron(30 2 1 JAN,JUL ? 2025)", "2024-07-01T02:30", false),
            ("cron(5,10 * L * ? *)", "2024-05-01T00:05", false), // refused below
        ];
        for (expression, minute, expected) in table {
            match Cron::parse(expression) {
                Ok(cron) => assert_eq!(
                    cron.matches(at(minute)),
                    expected,
                    "{expression} at {minute}"
                ),
                Err(_) => assert!(!expected, "{expression} was refused"),
            }
        }
        for bad in [
            "0 0 * * ? *",
            "cron(0 0 * * ?)",
            "cron(60 0 * * ? *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 ? * 2#1 *)",
            "cron(0/0 0 * * ? *)",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rollout_runs_between_start_and_end_inside_windows() {
        let now = at("2024-05-01T00:00");
        let config = SchedulingConfig {
            start_time: Some("2024-05-01T01:00".into()),
            end_time: Some("2024-05-01T04:20".into()),
            end_behavior: Some("CANCEL".into()),
            maintenance_windows: vec![MaintenanceWindow {
                start_time: "cron(15 * * * ? *)".into(),
                duration_in_minutes: 10,
            }],
        };
        let s = Schedule::new(&config, now).unwrap();
        // (from, the stretch open at or after it)
        let table = [
            (
                "2024-05-01T00:00",
                Some(("2024-05-01T01:15", "2024-05-01T01:25")),
            ),
            (
                "2024-05-01T01:20",
                Some(("2024-05-01T01:20", "2024-05-01T01:25")),
            ),
            (
                "2024-05-01T01:25",
                Some(("2024-05-01T02:15", "2024-05-01T02:25")),
            ),
            (
                "2024-05-01T04:16",
                Some(("2024-05-01T04:16", "2024-05-01T04:20")),
            ),
            ("2024-05-01T04:20", None),
        ];
        for (from, expected) in table {
            assert_eq!(
                s.open_from(at(from)),
                expected.map(|(a, b)| (at(a), at(b))),
                "from {from}"
            );
        }
        let without_windows = SchedulingConfig {
            maintenance_windows: Vec::new(),
            ..config.clone()
        };
        let s = Schedule::new(&without_windows, now).unwrap();
        assert_eq!(
            s.open_from(now),
            Some((at("2024-05-01T01:00"), at("2024-05-01T04:20")))
        );
        // AWS's limits on start and end.
        for (start, end) in [
            (Some("2024-05-01T00:29"), None),
            (None, Some("2024-05-01T00:10")),
            (Some("2024-05-01T01:00"), Some("2024-05-01T01:20")),
            (Some("2025-05-02T00:00"), None),
        ] {
            let config = SchedulingConfig {
                start_time: start.map(str::to_string),
                end_time: end.map(str::to_string),
                end_behavior: None,
                maintenance_windows: Vec::new(),
            };
            assert!(Schedule::new(&config, now).is_err(), "{start:?} {end:?}");
        }
    }
}
