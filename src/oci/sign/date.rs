//! HTTP dates (RFC 9110 §5.6.7): the one place the crate formats or parses them — the signed
//! `date` header, the verifier's clock-skew check and `oci::client`'s `Retry-After`.
//! Formatting and the obsolete RFC 850 and asctime forms are the `httpdate` crate's; the
//! IMF-fixdate parser here differs from `httpdate` only in not checking the weekday name (the
//! published OCI vectors sign `Thu, 05 Jan 2014`, a Sunday) and leaves the calendar to `jiff`.
//!
//! Pure core: Unix seconds in, Unix seconds out; no clock.

use std::time::{Duration, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// 9999-12-31T23:59:59Z, the last instant an IMF-fixdate can write.
const MAX_HTTP_DATE: i64 = 253_402_300_799;

/// Formats Unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the `date`
/// header OCI signs. Values outside 1970-01-01 … 9999-12-31 are clamped to that range.
#[must_use]
pub fn http_date(unix_seconds: i64) -> String {
    let secs = unix_seconds.clamp(0, MAX_HTTP_DATE).unsigned_abs();
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Parses an HTTP date to Unix seconds: IMF-fixdate without checking the weekday name against
/// the date (the published OCI vectors sign `Thu, 05 Jan 2014`, a Sunday), then the obsolete
/// RFC 850 and asctime forms.
#[must_use]
pub fn parse_http_date(value: &str) -> Option<i64> {
    parse_imf_fixdate(value.trim()).or_else(|| {
        let t = httpdate::parse_http_date(value).ok()?;
        let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
        i64::try_from(secs).ok()
    })
}

fn parse_imf_fixdate(s: &str) -> Option<i64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let b = s.as_bytes();
    if !s.is_ascii() || b.len() != 29 || &s[3..5] != ", " || &s[25..] != " GMT" {
        return None;
    }
    if !WEEKDAYS.contains(&&s[..3]) || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    if b[19] != b':' || b[22] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u16> {
        let part = s.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let two = |range| i8::try_from(num(range)?).ok();
    let day = two(5..7)?;
    let month = i8::try_from(MONTHS.iter().position(|m| *m == &s[8..11])?).ok()? + 1;
    let year = i16::try_from(num(12..16)?).ok()?;
    let (hour, minute, second) = (two(17..19)?, two(20..22)?, two(23..25)?);
    // IMF-fixdate allows a leap second (`:60`); jiff does not, so it is read as the first
    // second of the next minute.
    let leap = second == 60;
    let civil = jiff::civil::DateTime::new(
        year,
        month,
        day,
        hour,
        minute,
        if leap { 59 } else { second },
        0,
    )
    .ok()?;
    let at = jiff::tz::Offset::UTC.to_timestamp(civil).ok()?;
    Some(at.as_second() + i64::from(leap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::sign::vectors::VECTOR_TIME;

    #[test]
    fn http_date_formats_and_parses_imf_fixdate() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(VECTOR_TIME), "Sun, 05 Jan 2014 21:31:40 GMT");
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        let mut t = 0_i64;
        while t < MAX_HTTP_DATE {
            let ours = http_date(t);
            let theirs = httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.unsigned_abs()),
            );
            assert_eq!(ours, theirs, "{t}");
            assert_eq!(parse_http_date(&ours), Some(t), "{ours}");
            t += 7_919_993; // a prime stride, so every field varies
        }
        // The vectors' date is a Sunday written as Thursday: the weekday is not checked.
        assert_eq!(
            parse_http_date("Thu, 05 Jan 2014 21:31:40 GMT"),
            Some(VECTOR_TIME)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(784_111_777)
        );
        for bad in [
            "",
            "Sun, 31 Feb 2014 21:31:40 GMT",
            "Sun, 05 Jan 2014 24:31:40 GMT",
            "Sun, 05 Foo 2014 21:31:40 GMT",
            "Xyz, 05 Jan 2014 21:31:40 GMT",
            "Sun, 05 Jan 2014 21:31:40 UTC",
            "Sun, +5 Jan 2014 21:31:40 GMT",
            "Sun, 05 Jan 2014 21:31:4\u{e9}GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn leap_seconds_whitespace_and_year_bounds_parse_as_before() {
        // `:60` is the next minute's first second (2016-12-31's leap second).
        assert_eq!(
            parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT"),
            Some(1_483_228_800)
        );
        assert_eq!(parse_http_date("Sat, 31 Dec 2016 23:59:61 GMT"), None);
        assert_eq!(
            parse_http_date("  Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
            Some(0)
        );
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(MAX_HTTP_DATE)
        );
        // Before 1970 is still a date (the caller's skew check refuses it).
        assert_eq!(parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT"), Some(-1));
        assert_eq!(parse_http_date("Thu, 29 Feb 2001 00:00:00 GMT"), None);
    }
}
