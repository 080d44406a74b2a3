//! HTTP-date parsing (RFC 9110 §5.6.7): IMF-fixdate and the two obsolete
//! forms (RFC 850 and asctime), which recipients must still accept.

use crate::fields::trim;

/// Seconds since the Unix epoch for an HTTP-date; dates before 1970 give
/// 0 (in the past, which is what an expiry needs). `None` if malformed.
pub(crate) fn parse(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(trim(v)).ok()?;
    let mut t = [""; 6];
    let mut n = 0;
    for tok in s.split([' ', ',', '-']).filter(|t| !t.is_empty()) {
        *t.get_mut(n)? = tok;
        n += 1;
    }
    match n {
        // "Sun, 06 Nov 1994 08:49:37 GMT" / "Sunday, 06-Nov-94 08:49:37 GMT"
        6 if t[5] == "GMT" => civil(year(t[3])?, month(t[2])?, day(t[1])?, t[4]),
        // "Sun Nov  6 08:49:37 1994"
        5 => civil(year(t[4])?, month(t[1])?, day(t[2])?, t[3]),
        _ => None,
    }
}

fn year(s: &str) -> Option<i64> {
    let y: i64 = digits(s)?;
    match s.len() {
        4 => Some(y),
        // RFC 9110 §5.6.7: a two-digit year more than 50 years in the
        // future means the past century.
        2 if y < 70 => Some(2000 + y),
        2 => Some(1900 + y),
        _ => None,
    }
}

fn month(s: &str) -> Option<i64> {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let i = NAMES.iter().position(|m| m.eq_ignore_ascii_case(s))?;
    Some(i as i64 + 1)
}

fn day(s: &str) -> Option<i64> {
    let d = digits(s)?;
    (1..=31).contains(&d).then_some(d)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn civil(y: i64, m: i64, d: i64, hms: &str) -> Option<u64> {
    let mut it = hms.split(':').map(digits);
    let (h, mi, s) = (it.next()??, it.next()??, it.next()??);
    if it.next().is_some() || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + s;
    Some(u64::try_from(secs).unwrap_or(0))
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

#[cfg(test)]
mod tests {
    use super::parse;

    const T: u64 = 784_111_777; // 1994-11-06 08:49:37 UTC

    #[test]
    fn three_formats() {
        assert_eq!(parse(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(T));
        assert_eq!(parse(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(T));
        assert_eq!(parse(b"Sun Nov  6 08:49:37 1994"), Some(T));
    }

    #[test]
    fn epoch_and_before() {
        assert_eq!(parse(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse(b"Wed, 31 Dec 1969 23:59:59 GMT"), Some(0));
    }

    #[test]
    fn malformed() {
        for bad in [
            &b"0"[..],
            b"-1",
            b"",
            b"Sun, 06 Nov 1994 08:49 GMT",
            b"Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
