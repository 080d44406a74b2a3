//! Parsers for the value syntaxes shared by flags and the config file:
//! durations (`500ms`, `10s`, `1m30s`), sizes (`16384`, `16k`, `1g`) and CPU
//! lists (`0-3,6`). Each returns a message fit to follow `field: `.

use std::time::Duration;

/// `500ms`, `10s`, `2m`, `1h`, or a sum such as `1m30s`. A bare number is
/// refused: seconds or milliseconds would both be a guess.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad =
        || format!("invalid duration {text:?}: expected e.g. \"500ms\", \"10s\", \"2m\", \"1h\"");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_end = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| digits + i);
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit_ms = unit_millis(&rest[digits..unit_end]).ok_or_else(bad)?;
        let part = number.checked_mul(unit_ms).ok_or_else(bad)?;
        total_ms = total_ms.checked_add(part).ok_or_else(bad)?;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_millis(total_ms))
}

fn unit_millis(unit: &str) -> Option<u64> {
    match unit {
        "ms" => Some(1),
        "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        _ => None,
    }
}

/// Writes a duration the way [`parse_duration`] reads it, in the largest
/// whole unit: `500ms`, `75s`, `2m`, `1h`. One minute stays `60s`, as nginx
/// users write it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let secs = ms / 1000;
    match ms {
        _ if ms % 1000 != 0 || ms == 0 => format!("{ms}ms"),
        _ if secs % 3600 == 0 => format!("{}h", secs / 3600),
        _ if secs % 60 == 0 && secs >= 120 => format!("{}m", secs / 60),
        _ => format!("{secs}s"),
    }
}

/// Plain bytes, or a number with a `k`, `m` or `g` suffix (powers of 1024,
/// case-insensitive, as nginx reads them).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("invalid size {text:?}: expected bytes, or e.g. \"16k\", \"10m\", \"1g\"");
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// `--max-body-bytes`: a size where `0` means unlimited (`u64::MAX`).
pub fn parse_body_limit(text: &str) -> Result<u64, String> {
    parse_size(text).map(body_limit)
}

/// Maps the `0 = unlimited` convention onto `u64::MAX`.
pub(crate) fn body_limit(n: u64) -> u64 {
    if n == 0 {
        u64::MAX
    } else {
        n
    }
}

/// `1,3`, `0-3`, or both mixed: `0-3,6`. Order is kept (shard `i` gets the
/// `i`-th CPU); duplicates are refused.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("invalid CPU list {text:?}: expected e.g. \"1,3\" or \"0-3\"");
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: usize = lo.trim().parse().map_err(|_| bad())?;
        let hi: usize = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
        cpus.extend(lo..=hi);
    }
    check_distinct(&cpus)?;
    Ok(cpus)
}

/// Refuses a CPU listed twice: two shards on one core defeat shard-per-core.
pub(crate) fn check_distinct(cpus: &[usize]) -> Result<(), String> {
    for (i, cpu) in cpus.iter().enumerate() {
        if cpus[..i].contains(cpu) {
            return Err(format!("CPU {cpu} is listed twice"));
        }
    }
    Ok(())
}

/// Writes CPUs in their given order, runs of consecutive numbers as ranges:
/// `[0, 1, 2, 5]` → `0-2,5`, `[3, 4, 0]` → `3-4,0`.
pub(crate) fn format_cpu_list(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = i;
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        parts.push(match i == start {
            true => cpus[start].to_string(),
            false => format!("{}-{}", cpus[start], cpus[i]),
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "10",
            "s",
            "10x",
            "1.5s",
            "-1s",
            "10 s",
            "9999999999999999h",
            "1s1",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn durations_round_trip() {
        for text in [
            "500ms", "10s", "60s", "75s", "2m", "1h", "61m", "1500ms", "0ms",
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("16k"), Ok(16 * 1024));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in [
            "",
            "k",
            "1.5k",
            "-1",
            "10kb",
            "1 k",
            "99999999999999999999g",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(parse_body_limit("0"), Ok(u64::MAX));
        assert_eq!(parse_body_limit("10m"), Ok(10 << 20));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("1,3"), Ok(vec![1, 3]));
        assert_eq!(parse_cpu_list("0-3"), Ok(vec![0, 1, 2, 3]));
        assert_eq!(parse_cpu_list("4,0-1"), Ok(vec![4, 0, 1]));
        for bad in ["", "a", "3-1", "1,1", "0-2,2", "1,"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(format_cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_cpu_list(&[3, 4, 0]), "3-4,0");
    }
}
