//! Streaming aggregation: each record lands in a bucket × key cell (counts
//! and a latency histogram, plus AI usage sums and a time-to-first-token
//! histogram once the cell sees an AI call), so memory grows with buckets ×
//! distinct keys, never with lines.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;

use super::error::AnalyticsError;
use super::model::{AiRow, Bucket, ErrorRow, KeyRow, Report, Row, Summary};
use super::record::{Ai, Record};
use super::time::{format_rfc3339, Micros};
use super::Dimension;

/// Distinct keys tracked; later ones are counted under [`OTHER`].
pub const MAX_KEYS: usize = 1_000;
/// Bucket × key cells held at once (about 2 to 10 KiB each, twice that
/// with AI calls in them).
pub const MAX_CELLS: usize = 20_000;
/// Rows in the error table.
pub const MAX_ERROR_ROWS: usize = 10;
/// The key that keys past [`MAX_KEYS`] fold into.
pub const OTHER: &str = "(other)";
/// Significant digits kept by the latency histograms: 1% precision.
const SIGFIG: u8 = 2;

type KeyId = u32;

/// Aggregates for one bucket × key, or for a whole bucket.
struct Cell {
    requests: u64,
    errors: u64,
    latency: Histogram<u32>,
    /// Allocated on the cell's first AI call, so logs without AI calls
    /// cost what they did before.
    ai: Option<Box<AiCell<u32>>>,
}

/// AI usage sums and the time-to-first-token histogram of a cell, or of
/// the whole window.
struct AiCell<C: hdrhistogram::Counter> {
    sums: AiRow,
    first_token: Histogram<C>,
}

struct BucketAgg {
    total: Cell,
    keys: HashMap<KeyId, Cell>,
}

struct ErrorAgg {
    count: u64,
    first: Micros,
    last: Micros,
}

/// Key names, interned, with a request count each for ranking.
#[derive(Default)]
struct Keys {
    ids: HashMap<String, KeyId>,
    names: Vec<String>,
    requests: Vec<u64>,
    folded: bool,
}

/// Everything a report needs, fed one record at a time.
pub(super) struct Aggregator {
    by: Dimension,
    width: Micros,
    since: Option<Micros>,
    until: Option<Micros>,
    keys: Keys,
    buckets: BTreeMap<Micros, BucketAgg>,
    cells: usize,
    errors: HashMap<(String, KeyId), ErrorAgg>,
    overall: Histogram<u64>,
    overall_ai: AiCell<u64>,
    summary: Summary,
    first: Option<Micros>,
    last: Option<Micros>,
}

/// An auto-resizing histogram; only an out-of-range `SIGFIG` fails.
fn histogram<T: hdrhistogram::Counter>() -> Histogram<T> {
    #[allow(clippy::expect_used)]
    Histogram::new(SIGFIG).expect("SIGFIG is within 0..=5")
}

fn quantile<T: hdrhistogram::Counter>(h: &Histogram<T>, q: f64) -> Option<u64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q))
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

// === impl Cell ===

impl Cell {
    fn new() -> Self {
        Self {
            requests: 0,
            errors: 0,
            latency: histogram(),
            ai: None,
        }
    }

    fn add(&mut self, rec: &Record<'_>) {
        self.requests += 1;
        self.errors += u64::from(rec.is_error());
        if let Some(us) = rec.total_us {
            // Auto-resizing: only a count past u32::MAX in one cell fails.
            let _ = self.latency.record(us);
        }
        if let Some(ai) = &rec.ai {
            self.ai
                .get_or_insert_with(|| Box::new(AiCell::new()))
                .add(ai);
        }
    }

    fn row(&self, seconds: f64) -> Row {
        Row {
            requests: self.requests,
            errors: self.errors,
            rate: self.requests as f64 / seconds,
            error_rate: ratio(self.errors, self.requests),
            p50_us: quantile(&self.latency, 0.5),
            p99_us: quantile(&self.latency, 0.99),
            ai: self.ai.as_ref().map_or_else(AiRow::default, |a| a.row()),
        }
    }
}

// === impl AiCell ===

impl<C: hdrhistogram::Counter> AiCell<C> {
    fn new() -> Self {
        Self {
            sums: AiRow::default(),
            first_token: histogram(),
        }
    }

    /// Adds one call. Sums saturate rather than wrap on absurd counts.
    fn add(&mut self, ai: &Ai<'_>) {
        let s = &mut self.sums;
        s.calls += 1;
        for (sum, n) in [
            (&mut s.tokens_in, ai.tokens_in),
            (&mut s.tokens_out, ai.tokens_out),
            (&mut s.tokens_cached, ai.tokens_cached),
            (&mut s.tokens_reasoning, ai.tokens_reasoning),
            (&mut s.cost_microusd, ai.cost_microusd),
        ] {
            *sum = sum.saturating_add(n);
        }
        s.failovers += u64::from(ai.failed_over);
        if let Some(us) = ai.first_token_us {
            let _ = self.first_token.record(us);
        }
    }

    fn row(&self) -> AiRow {
        AiRow {
            first_token_p50_us: quantile(&self.first_token, 0.5),
            first_token_p99_us: quantile(&self.first_token, 0.99),
            ..self.sums
        }
    }
}

// === impl Keys ===

impl Keys {
    fn id(&mut self, name: &str) -> KeyId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let name = if self.names.len() + 1 >= MAX_KEYS {
            self.folded = true;
            OTHER
        } else {
            name
        };
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as KeyId;
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        self.requests.push(0);
        id
    }

    /// The `n` busiest keys, ties by name.
    fn top(&self, n: usize) -> Vec<KeyId> {
        let mut ids: Vec<KeyId> = (0..self.names.len() as KeyId).collect();
        ids.sort_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            (self.requests[b], &self.names[a]).cmp(&(self.requests[a], &self.names[b]))
        });
        ids.truncate(n);
        ids
    }

    fn name(&self, id: KeyId) -> &str {
        &self.names[id as usize]
    }
}

// === impl Aggregator ===

impl Aggregator {
    /// `width` is the bucket width; `since` is inclusive, `until` exclusive.
    pub(super) fn new(
        by: Dimension,
        width: Micros,
        since: Option<Micros>,
        until: Option<Micros>,
    ) -> Self {
        Self {
            by,
            width: width.max(1),
            since,
            until,
            keys: Keys::default(),
            buckets: BTreeMap::new(),
            cells: 0,
            errors: HashMap::new(),
            overall: histogram(),
            overall_ai: AiCell::new(),
            summary: Summary::default(),
            first: None,
            last: None,
        }
    }

    /// Counts a line that was not a valid record.
    pub(super) fn malformed(&mut self, at: impl FnOnce() -> String) {
        self.summary.lines += 1;
        self.summary.malformed += 1;
        if self.summary.first_malformed.is_none() {
            self.summary.first_malformed = Some(at());
        }
    }

    /// Adds one record; fails only when the report would outgrow
    /// [`MAX_CELLS`].
    pub(super) fn add(&mut self, rec: &Record<'_>) -> Result<(), AnalyticsError> {
        self.summary.lines += 1;
        let ts = rec.ts();
        if self.since.is_some_and(|s| ts < s) || self.until.is_some_and(|u| ts >= u) {
            self.summary.outside_window += 1;
            return Ok(());
        }
        let key = self.keys.id(&self.by.key(rec));
        let b = self.bucket_for(ts, key)?;
        b.total.add(rec);
        b.keys.entry(key).or_insert_with(Cell::new).add(rec);
        self.keys.requests[key as usize] += 1;
        self.count(rec, key);
        Ok(())
    }

    /// The bucket of `ts`, with room for a `key` cell in it: fails rather
    /// than hold more than [`MAX_CELLS`] cells.
    fn bucket_for(&mut self, ts: Micros, key: KeyId) -> Result<&mut BucketAgg, AnalyticsError> {
        let start = ts - ts.rem_euclid(self.width);
        let new = match self.buckets.get(&start) {
            None => 2,
            Some(b) => usize::from(!b.keys.contains_key(&key)),
        };
        if self.cells + new > MAX_CELLS {
            return Err(AnalyticsError::TooManyCells {
                limit: MAX_CELLS,
                at: format_rfc3339(ts),
            });
        }
        self.cells += new;
        Ok(self.buckets.entry(start).or_insert_with(|| BucketAgg {
            total: Cell::new(),
            keys: HashMap::new(),
        }))
    }

    /// Window-wide totals and the error table.
    fn count(&mut self, rec: &Record<'_>, key: KeyId) {
        let ts = rec.ts();
        self.summary.requests += 1;
        self.summary.errors += u64::from(rec.is_error());
        if let Some(us) = rec.total_us {
            let _ = self.overall.record(us);
        }
        if let Some(ai) = &rec.ai {
            self.overall_ai.add(ai);
        }
        self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
        let Some(label) = rec.error_label() else {
            return;
        };
        let e = self
            .errors
            .entry((label.into_owned(), key))
            .or_insert(ErrorAgg {
                count: 0,
                first: ts,
                last: ts,
            });
        e.count += 1;
        e.first = e.first.min(ts);
        e.last = e.last.max(ts);
    }

    /// The report, with rows for the `top` busiest keys.
    pub(super) fn finish(self, top: usize, files: usize) -> Report {
        let ids = self.keys.top(top);
        let buckets = self
            .buckets
            .iter()
            .map(|(&start, b)| self.bucket(start, b, &ids))
            .collect();
        Report {
            by: self.by.name(),
            bucket_seconds: self.width as f64 / 1e6,
            keys: ids
                .iter()
                .map(|&id| self.keys.name(id).to_owned())
                .collect(),
            buckets,
            top_errors: self.error_rows(),
            summary: self.summary(files),
        }
    }

    fn bucket(&self, start: Micros, b: &BucketAgg, ids: &[KeyId]) -> Bucket {
        let lo = self.since.map_or(start, |s| s.max(start));
        let hi = self
            .until
            .map_or(start + self.width, |u| u.min(start + self.width));
        let seconds = (hi - lo).max(1) as f64 / 1e6;
        let keys = ids
            .iter()
            .map(|id| KeyRow {
                key: self.keys.name(*id).to_owned(),
                row: b.keys.get(id).map_or_else(Row::default, |c| c.row(seconds)),
            })
            .collect();
        Bucket {
            start: format_rfc3339(start),
            start_us: start,
            seconds,
            total: b.total.row(seconds),
            keys,
        }
    }

    fn error_rows(&self) -> Vec<ErrorRow> {
        let mut rows: Vec<_> = self.errors.iter().collect();
        rows.sort_by(|((la, ka), a), ((lb, kb), b)| {
            let (na, nb) = (self.keys.name(*ka), self.keys.name(*kb));
            (b.count, a.first, la, na).cmp(&(a.count, b.first, lb, nb))
        });
        rows.truncate(MAX_ERROR_ROWS);
        rows.into_iter()
            .map(|((label, key), e)| ErrorRow {
                error: label.clone(),
                key: self.keys.name(*key).to_owned(),
                count: e.count,
                first_seen: format_rfc3339(e.first),
                last_seen: format_rfc3339(e.last),
            })
            .collect()
    }

    fn summary(&self, files: usize) -> Summary {
        Summary {
            files,
            error_rate: ratio(self.summary.errors, self.summary.requests),
            p50_us: quantile(&self.overall, 0.5),
            p99_us: quantile(&self.overall, 0.99),
            first: self.first.map(format_rfc3339),
            last: self.last.map(format_rfc3339),
            since: self.since.map(format_rfc3339),
            until: self.until.map(format_rfc3339),
            distinct_keys: self.keys.names.len(),
            keys_folded: self.keys.folded,
            ai: self.overall_ai.row(),
            ..self.summary.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: Micros, route: &str, status: u16, total_us: u64) -> String {
        format!(
            r#"{{"ts":"{}","status":{status},"route":"{route}","total_us":{total_us}}}"#,
            format_rfc3339(ts)
        )
    }

    fn feed(agg: &mut Aggregator, lines: &[String]) {
        for l in lines {
            agg.add(&Record::parse(l.as_bytes()).unwrap()).unwrap();
        }
    }

    #[test]
    fn window_is_inclusive_then_exclusive() {
        let mut agg = Aggregator::new(Dimension::Route, 10, Some(10), Some(20));
        feed(&mut agg, &[9, 10, 19, 20].map(|t| rec(t, "a", 200, 1)));
        let r = agg.finish(5, 1);
        assert_eq!((r.summary.requests, r.summary.outside_window), (2, 2));
        assert_eq!(r.buckets.len(), 1);
        assert_eq!(r.buckets[0].seconds, 10e-6);
    }

    #[test]
    fn keys_past_the_bound_fold_into_other() {
        let mut agg = Aggregator::new(Dimension::Route, 1_000_000, None, None);
        let lines: Vec<String> = (0..MAX_KEYS + 5)
            .map(|i| rec(0, &format!("r{i}"), 200, 1))
            .collect();
        feed(&mut agg, &lines);
        let r = agg.finish(1, 1);
        assert!(r.summary.keys_folded);
        assert_eq!(r.summary.distinct_keys, MAX_KEYS);
        assert_eq!(r.keys, [OTHER]);
        assert_eq!(r.buckets[0].keys[0].row.requests, 6);
    }

    #[test]
    fn ties_rank_by_name_and_errors_by_first_seen() {
        let mut agg = Aggregator::new(Dimension::Route, 1_000_000, None, None);
        feed(
            &mut agg,
            &[
                rec(5, "b", 503, 1),
                rec(1, "a", 500, 1),
                rec(2, "b", 200, 1),
                rec(3, "a", 200, 1),
            ],
        );
        let r = agg.finish(5, 1);
        assert_eq!(r.keys, ["a", "b"]);
        let errors: Vec<_> = r
            .top_errors
            .iter()
            .map(|e| (e.error.as_str(), e.key.as_str()))
            .collect();
        assert_eq!(errors, [("500", "a"), ("503", "b")]);
    }
}
