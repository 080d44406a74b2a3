//! Text views of a [`Report`]: Markdown tables for people, JSON for tools.

use std::fmt::Write as _;

use super::model::{AiRow, ErrorRow, Report, Row, Summary};

/// Trends, then AI usage (only when the logs had AI calls), then the error
/// table, then the summary (last, so it is what a terminal shows).
pub(super) fn markdown(r: &Report) -> String {
    let mut out = String::new();
    trends(&mut out, r);
    ai_usage(&mut out, r);
    errors(&mut out, r);
    summary(&mut out, &r.summary);
    out
}

/// The whole report as one pretty-printed JSON object.
pub(super) fn json(r: &Report) -> String {
    // Only non-string map keys or a failing writer make serde_json fail,
    // and a Report has neither.
    let mut text = serde_json::to_string_pretty(r)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    text.push('\n');
    text
}

fn trends(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "## Traffic by {}, {} buckets (top {} of {})\n",
        r.by,
        width(r.bucket_seconds),
        r.keys.len(),
        r.summary.distinct_keys
    );
    if r.buckets.is_empty() {
        out.push_str("No requests in the window.\n\n");
        return;
    }
    let _ = writeln!(
        out,
        "| time (UTC) | {} | req/s | requests | errors | error rate | p50 ms | p99 ms |",
        r.by
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|\n");
    for b in &r.buckets {
        row(out, &b.start, "**total**", &b.total);
        for k in b.keys.iter().filter(|k| k.row.requests > 0) {
            row(out, "", &cell(&k.key), &k.row);
        }
    }
    out.push('\n');
}

fn row(out: &mut String, time: &str, key: &str, r: &Row) {
    let _ = writeln!(
        out,
        "| {time} | {key} | {:.2} | {} | {} | {} | {} | {} |",
        r.rate,
        r.requests,
        r.errors,
        percent(r.error_rate),
        ms(r.p50_us),
        ms(r.p99_us),
    );
}

/// Tokens, cost and failovers of the AI calls per bucket and key; nothing
/// at all when the window had no AI call, so other reports read as before.
/// Buckets without AI calls, and keys without any in a bucket, are left
/// out.
fn ai_usage(out: &mut String, r: &Report) {
    if r.summary.ai.calls == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "## AI usage by {}, {} buckets\n",
        r.by,
        width(r.bucket_seconds)
    );
    let _ = writeln!(
        out,
        "| time (UTC) | {} | AI calls | tokens in | tokens out | cached | reasoning | cost | failovers | first token p50 ms | first token p99 ms |",
        r.by
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for b in r.buckets.iter().filter(|b| b.total.ai.calls > 0) {
        ai_row(out, &b.start, "**total**", &b.total.ai);
        for k in b.keys.iter().filter(|k| k.row.ai.calls > 0) {
            ai_row(out, "", &cell(&k.key), &k.row.ai);
        }
    }
    out.push('\n');
}

fn ai_row(out: &mut String, time: &str, key: &str, a: &AiRow) {
    let _ = writeln!(
        out,
        "| {time} | {key} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        a.calls,
        a.tokens_in,
        a.tokens_out,
        a.tokens_cached,
        a.tokens_reasoning,
        dollars(a.cost_microusd),
        a.failovers,
        ms(a.first_token_p50_us),
        ms(a.first_token_p99_us),
    );
}

fn errors(out: &mut String, r: &Report) {
    out.push_str("## Top errors\n\n");
    if r.top_errors.is_empty() {
        out.push_str("No 5xx responses or coregate errors.\n\n");
        return;
    }
    let _ = writeln!(out, "| error | {} | count | first seen | last seen |", r.by);
    out.push_str("|---|---|--:|---|---|\n");
    for ErrorRow {
        error,
        key,
        count,
        first_seen,
        last_seen,
    } in &r.top_errors
    {
        let (error, key) = (cell(error), cell(key));
        let _ = writeln!(
            out,
            "| {error} | {key} | {count} | {first_seen} | {last_seen} |"
        );
    }
    out.push('\n');
}

fn summary(out: &mut String, s: &Summary) {
    let files = if s.files == 1 { "file" } else { "files" };
    let _ = write!(
        out,
        "**Summary:** {} lines read from {} {files}",
        s.lines, s.files
    );
    if let (Some(first), Some(last)) = (&s.first, &s.last) {
        let _ = write!(out, ", {first} to {last}");
    }
    let _ = write!(
        out,
        ": {} requests, error rate {}, p50 {} ms, p99 {} ms",
        s.requests,
        percent(s.error_rate),
        ms(s.p50_us),
        ms(s.p99_us)
    );
    let ai = &s.ai;
    if ai.calls > 0 {
        let _ = write!(
            out,
            "; {} AI calls: {} tokens in ({} cached), {} out ({} reasoning), cost {}, {} failed over, first token p50 {} ms, p99 {} ms",
            ai.calls,
            ai.tokens_in,
            ai.tokens_cached,
            ai.tokens_out,
            ai.tokens_reasoning,
            dollars(ai.cost_microusd),
            ai.failovers,
            ms(ai.first_token_p50_us),
            ms(ai.first_token_p99_us),
        );
    }
    if s.malformed > 0 {
        let at = s.first_malformed.as_deref().unwrap_or("?");
        let _ = write!(
            out,
            "; skipped {} malformed lines (first at {at})",
            s.malformed
        );
    }
    if s.outside_window > 0 {
        let _ = write!(out, "; {} lines outside --since/--until", s.outside_window);
    }
    if s.keys_folded {
        let _ = write!(
            out,
            "; keys past the first {} counted as (other)",
            super::MAX_KEYS - 1
        );
    }
    out.push_str(".\n");
}

/// `1m`, `5m`, `1h`, `90s`.
pub(super) fn width(seconds: f64) -> String {
    let ms = (seconds * 1000.0).round() as u64;
    let s = ms / 1000;
    match s {
        _ if ms % 1000 != 0 => format!("{ms}ms"),
        _ if s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

fn ms(us: Option<u64>) -> String {
    us.map_or_else(|| "-".to_owned(), |us| format!("{:.2}", us as f64 / 1000.0))
}

/// Micro-dollars as dollars, exactly: six decimals, trailing zeros trimmed
/// down to four (`$0.001234`, `$1.5000`).
fn dollars(micro: u64) -> String {
    let mut text = format!("${}.{:06}", micro / 1_000_000, micro % 1_000_000);
    for _ in 0..2 {
        if text.ends_with('0') {
            text.pop();
        }
    }
    text
}

/// A table cell: `|` escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(width(60.0), "1m");
        assert_eq!(width(300.0), "5m");
        assert_eq!(width(7200.0), "2h");
        assert_eq!(width(90.0), "90s");
        assert_eq!(width(0.5), "500ms");
        assert_eq!(percent(0.025), "2.50%");
        assert_eq!(ms(Some(1500)), "1.50");
        assert_eq!(ms(None), "-");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(dollars(1234), "$0.001234");
        assert_eq!(dollars(1_500_000), "$1.5000");
        assert_eq!(dollars(100), "$0.0001");
        assert_eq!(dollars(120), "$0.00012");
        assert_eq!(dollars(0), "$0.0000");
        assert_eq!(dollars(12_345_678_901), "$12345.678901");
    }

    #[test]
    fn summary_names_skipped_lines() {
        let s = Summary {
            files: 1,
            lines: 10,
            malformed: 2,
            first_malformed: Some("a.log:3".into()),
            requests: 8,
            ..Summary::default()
        };
        let mut out = String::new();
        summary(&mut out, &s);
        assert!(
            out.contains("skipped 2 malformed lines (first at a.log:3)"),
            "{out}"
        );
        assert!(out.contains("10 lines read from 1 file:"), "{out}");
    }
}
