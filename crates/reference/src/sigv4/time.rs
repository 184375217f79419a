//! SigV4 times: the `YYYYMMDDTHHMMSSZ` stamp both ways, and whether a signing time is close
//! enough to the server's clock (AWS's words when it is not).

use std::time::{Duration, SystemTime};

use super::Refused;
use crate::calendar;

/// `YYYYMMDDTHHMMSSZ` as a time.
pub fn parse_stamp(stamp: &str) -> Option<SystemTime> {
    let b = stamp.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<u64>().ok();
    let (y, mo, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, s) = (n(9..11)?, n(11..13)?, n(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = u64::try_from(calendar::days_from_civil(y as i64, mo as i64, d as i64)).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(days * 86_400 + h * 3600 + mi * 60 + s))
}

/// A time as `YYYYMMDDTHHMMSSZ` (times before 1970 read as 1970).
pub fn stamp(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = calendar::civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Whether a request signed at `signed` (its stamp as sent) may be served at `now`: no more
/// than `behind` earlier and no more than `ahead` later.
pub(super) fn current(
    signed: &str,
    signed_at: SystemTime,
    now: SystemTime,
    behind: Duration,
    ahead: Duration,
) -> Result<(), Refused> {
    let minutes = |d: Duration| d.as_secs().div_ceil(60);
    if now.duration_since(signed_at).unwrap_or_default() > behind {
        return Err(Refused::Expired {
            signed: signed.to_string(),
            earliest: stamp(now - behind),
            now: stamp(now),
            window: minutes(behind),
        });
    }
    if signed_at.duration_since(now).unwrap_or_default() > ahead {
        return Err(Refused::NotYetCurrent {
            signed: signed.to_string(),
            latest: stamp(now + ahead),
            now: stamp(now),
            window: minutes(ahead),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_and_write_as_utc() {
        let cases = [
            ("19700101T000001Z", 1),
            ("20150830T123600Z", 1_440_938_160),
            ("20000229T235959Z", 951_868_799),
            ("20261203T141745Z", 1_796_307_465),
        ];
        for (text, secs) in cases {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_stamp(text), Some(at), "{text}");
            assert_eq!(stamp(at), text);
        }
        assert_eq!(parse_stamp("20151330T123600Z"), None);
        assert_eq!(parse_stamp("2015-08-30"), None);
    }

    #[test]
    fn the_window_holds_on_both_sides_in_aws_words() {
        let now = parse_stamp("20181120T211029Z").unwrap();
        let five = Duration::from_secs(300);
        let at = |offset: i64| {
            if offset >= 0 {
                now + Duration::from_secs(offset.unsigned_abs())
            } else {
                now - Duration::from_secs(offset.unsigned_abs())
            }
        };
        let cases: [(i64, Option<&str>); 6] = [
            (0, None),
            (300, None),
            (-300, None),
            (
                301,
                Some(
                    "Signature not yet current: 20181120T211530Z is still later than \
                     20181120T211529Z (20181120T211029Z + 5 min.)",
                ),
            ),
            (
                -301,
                Some(
                    "Signature expired: 20181120T210528Z is now earlier than 20181120T210529Z \
                     (20181120T211029Z - 5 min.)",
                ),
            ),
            (
                -600,
                Some(
                    "Signature expired: 20181120T210029Z is now earlier than 20181120T210529Z \
                     (20181120T211029Z - 5 min.)",
                ),
            ),
        ];
        for (offset, refused) in cases {
            let signed_at = at(offset);
            let got = current(&stamp(signed_at), signed_at, now, five, five)
                .err()
                .map(|r| r.to_string());
            assert_eq!(got.as_deref(), refused, "{offset}");
        }
    }
}
