//! RFC 3339 timestamps as microseconds since the Unix epoch, without a date
//! crate: the access log writes one fixed UTC shape, and `--since` takes the
//! same shape or an offset such as `+01:00`.

use std::time::Duration;

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// `--since`/`--until`: a point in time, or a span counted back from the
/// newest line in the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// An RFC 3339 time.
    At(Micros),
    /// This long before the newest line read.
    BeforeNewest(Duration),
}

// === impl When ===

impl When {
    /// An RFC 3339 time, or a duration as `coregate` flags write them.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(at) = parse_rfc3339(text) {
            return Some(Self::At(at));
        }
        tuning::parse_duration(text).ok().map(Self::BeforeNewest)
    }

    /// The point in time, given the newest timestamp in the logs.
    pub fn resolve(self, newest: Micros) -> Micros {
        match self {
            Self::At(at) => at,
            Self::BeforeNewest(d) => newest.saturating_sub(duration_micros(d)),
        }
    }

    /// True when resolving needs the newest line first.
    pub fn is_relative(self) -> bool {
        matches!(self, Self::BeforeNewest(_))
    }
}

/// A duration in whole microseconds, saturating.
pub(super) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// `2026-11-26T13:05:01.123456Z`, or with `+hh:mm`/`-hh:mm` instead of `Z`,
/// a lower-case `t`/`z`, or a space between date and time; any number of
/// fraction digits (beyond 6 are dropped).
pub fn parse_rfc3339(text: &str) -> Option<Micros> {
    let b = text.trim().as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(b, 0, 4)?, num(b, 5, 2)?, num(b, 8, 2)?);
    let (hour, min, sec) = (num(b, 11, 2)?, num(b, 14, 2)?, num(b, 17, 2)?);
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) || !valid_fields(year, month, day, hour, min, sec) {
        return None;
    }
    let (frac, rest) = fraction(&b[19..])?;
    let offset = offset_secs(rest)?;
    let days = days_from_civil(year, month, day);
    let secs = days * SECS_PER_DAY + hour * 3600 + min * 60 + sec - offset;
    Some(secs * MICROS_PER_SEC + frac)
}

fn valid_fields(year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64) -> bool {
    // Leap seconds (60) are accepted and land on the next second's start.
    year >= 1970
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && min < 60
        && sec <= 60
}

/// `.123456` and what follows it, as microseconds.
fn fraction(b: &[u8]) -> Option<(i64, &[u8])> {
    let Some(digits) = b.strip_prefix(b".") else {
        return Some((0, b));
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut micros = 0;
    for i in 0..6 {
        let d = digits
            .get(i)
            .filter(|_| i < n)
            .map_or(0, |c| i64::from(c - b'0'));
        micros = micros * 10 + d;
    }
    Some((micros, &digits[n..]))
}

fn offset_secs(b: &[u8]) -> Option<i64> {
    match b {
        b"Z" | b"z" => Some(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(b, 1, 2)?, num(b, 4, 2)?);
            let secs = h * 3600 + m * 60;
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => None,
    }
}

fn num(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let digits = b.get(at..at + len)?;
    digits.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Bytes [`push_rfc3339_micros`] appends for years 0 to 9999.
pub const RFC3339_MICROS_LEN: usize = 27;

/// `2026-11-26T13:05:00Z`, with `.123456` only when the time has a fraction.
pub fn format_rfc3339(at: Micros) -> String {
    let mut out = String::with_capacity(RFC3339_MICROS_LEN);
    push_seconds(&mut out, at);
    let frac = at.rem_euclid(MICROS_PER_SEC);
    if frac != 0 {
        out.push('.');
        push_digits(&mut out, frac.unsigned_abs(), 6);
    }
    out.push('Z');
    out
}

/// Appends `2026-11-26T13:05:01.123456Z` to `out`: UTC, always six fraction
/// digits (the access log's `ts`). Allocates nothing when `out` has room for
/// [`RFC3339_MICROS_LEN`] more bytes.
pub fn push_rfc3339_micros(out: &mut String, at: Micros) {
    push_seconds(out, at);
    out.push('.');
    push_digits(out, at.rem_euclid(MICROS_PER_SEC).unsigned_abs(), 6);
    out.push('Z');
}

/// `2026-11-26T13:05:01`: the date and time, to the whole second.
fn push_seconds(out: &mut String, at: Micros) {
    let secs = at.div_euclid(MICROS_PER_SEC);
    let (y, mo, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let tod = secs.rem_euclid(SECS_PER_DAY).unsigned_abs();
    if y < 0 {
        out.push('-');
    }
    // As `{y:04}` pads: the sign counts towards the four.
    push_digits(out, y.unsigned_abs(), if y < 0 { 3 } else { 4 });
    let (mo, d) = (mo.unsigned_abs(), d.unsigned_abs());
    let fields = [
        (b'-', mo),
        (b'-', d),
        (b'T', tod / 3600),
        (b':', tod / 60 % 60),
        (b':', tod % 60),
    ];
    for (sep, n) in fields {
        out.push(char::from(sep));
        push_digits(out, n, 2);
    }
}

/// `n` in decimal, zero-padded to `width` digits.
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = start.min(buf.len().saturating_sub(width));
    out.extend(buf[start..].iter().map(|&b| char::from(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_access_log_shape() {
        let t = parse_rfc3339("2026-11-26T13:05:01.123456Z").unwrap();
        assert_eq!(format_rfc3339(t), "2026-11-26T13:05:01.123456Z");
        assert_eq!(t % MICROS_PER_SEC, 123_456);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00Z"),
            Some(951_868_800 * MICROS_PER_SEC)
        );
    }

    #[test]
    fn offsets_fractions_and_separators() {
        let z = parse_rfc3339("2026-11-26T13:05:00Z").unwrap();
        assert_eq!(parse_rfc3339("2026-11-26T14:05:00+01:00"), Some(z));
        assert_eq!(parse_rfc3339("2026-11-26 08:05:00-05:00"), Some(z));
        assert_eq!(parse_rfc3339("2026-11-26t13:05:00.5z"), Some(z + 500_000));
        assert_eq!(
            parse_rfc3339("2026-11-26T13:05:00.123456789Z"),
            Some(z + 123_456)
        );
        assert_eq!(format_rfc3339(z), "2026-11-26T13:05:00Z");
    }

    #[test]
    fn refuses_near_misses() {
        for bad in [
            "",
            "2026-11-26",
            "2026-11-26T13:05:00",
            "2026-13-26T13:05:00Z",
            "2026-11-26T25:05:00Z",
            "2026-11-26T13:05:00.Z",
            "2026/11/26T13:05:00Z",
            "2026-11-26T13:05:00+0100",
            "2026-11-26T13:05:00Zjunk",
            "２026-11-26T13:05:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn access_log_stamps_always_have_six_digits() {
        let cases = [
            (0, "1970-01-01T00:00:00.000000Z"),
            (1_795_741_501_123_456, "2026-11-27T01:05:01.123456Z"),
            (951_782_400_000_001, "2000-02-29T00:00:00.000001Z"),
            (
                20_783 * SECS_PER_DAY * MICROS_PER_SEC,
                "2026-11-26T00:00:00.000000Z",
            ),
        ];
        let mut out = String::with_capacity(RFC3339_MICROS_LEN * cases.len());
        let cap = out.capacity();
        for (at, want) in cases {
            let from = out.len();
            push_rfc3339_micros(&mut out, at);
            assert_eq!(&out[from..], want);
            assert_eq!(want.len(), RFC3339_MICROS_LEN);
        }
        assert_eq!(out.capacity(), cap, "no reallocation");
    }

    #[test]
    fn formats_like_the_format_macro_before_1970_and_after_9999() {
        for at in [
            -1,
            -MICROS_PER_SEC,
            -70_000 * SECS_PER_DAY * MICROS_PER_SEC - 5,
            3_000_000 * SECS_PER_DAY * MICROS_PER_SEC,
        ] {
            let secs = at.div_euclid(MICROS_PER_SEC);
            let (y, mo, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
            let tod = secs.rem_euclid(SECS_PER_DAY);
            let (h, mi, s) = (tod / 3600, tod / 60 % 60, tod % 60);
            let frac = at.rem_euclid(MICROS_PER_SEC);
            let want = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:06}Z");
            let mut got = String::new();
            push_rfc3339_micros(&mut got, at);
            assert_eq!(got, want, "{at}");
        }
    }

    #[test]
    fn round_trips_across_years() {
        for day in [0, 59, 365, 10_957, 20_000, 20_783, 50_000] {
            let t = day * SECS_PER_DAY * MICROS_PER_SEC + 3_723_000_001;
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "day {day}");
        }
    }

    #[test]
    fn when_is_a_time_or_a_span_before_the_newest_line() {
        let newest = parse_rfc3339("2026-11-26T13:00:00Z").unwrap();
        let w = When::parse("30m").unwrap();
        assert!(w.is_relative());
        assert_eq!(format_rfc3339(w.resolve(newest)), "2026-11-26T12:30:00Z");
        let at = When::parse("2026-11-26T12:00:00Z").unwrap();
        assert_eq!(at.resolve(newest), newest - 3600 * MICROS_PER_SEC);
        assert_eq!(When::parse("yesterday"), None);
    }
}
