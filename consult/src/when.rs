//! Dates and times on the wire: RFC 3339 instants, or plain dates (a date range's `from` starts its day, `to` ends it).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// An RFC 3339 instant in milliseconds since the epoch.
pub fn parse_instant(s: &str) -> Result<i64, String> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| "is an RFC 3339 time such as 2026-11-25T10:00:00Z".to_owned())
}

/// The start of a range: an instant, or a date's first millisecond (UTC).
pub fn parse_range_start(s: &str) -> Result<i64, String> {
    parse_date(s).map(day_start).or_else(|_| parse_instant(s)).map_err(|_| range_message())
}

/// The end of a range: an instant, or a date's last millisecond (UTC).
pub fn parse_range_end(s: &str) -> Result<i64, String> {
    parse_date(s).map(|d| day_start(d) + DAY_MS - 1).or_else(|_| parse_instant(s)).map_err(|_| range_message())
}

fn range_message() -> String {
    "is a date (YYYY-MM-DD) or an RFC 3339 time".to_owned()
}

fn parse_date(s: &str) -> Result<Date, time::error::Parse> {
    Date::parse(s.trim(), format_description!("[year]-[month]-[day]"))
}

fn day_start(d: Date) -> i64 {
    (d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The `YYYY-MM-DD` (UTC) of a millisecond time.
pub fn date_of(ms: i64) -> String {
    vaidya_registry::db::rfc3339(ms).chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_cover_whole_days_and_instants_are_exact() {
        let start = parse_range_start("2026-01-01").unwrap();
        let end = parse_range_end("2026-01-01").unwrap();
        assert_eq!(end - start, DAY_MS - 1);
        assert_eq!(parse_range_start("2026-01-01T00:00:00Z").unwrap(), start);
        assert_eq!(parse_instant("2026-01-01T05:30:00+05:30").unwrap(), start);
        assert!(parse_instant("2026-01-01").is_err());
        assert!(parse_range_end("2026-13-01").is_err());
        assert!(parse_range_start("yesterday").is_err());
        assert_eq!(date_of(end), "2026-01-01");
    }
}
