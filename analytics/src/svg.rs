//! `--svg`: request rate and p99 latency over time, two panels sharing the
//! time axis, one line for the total and one per top key.
//!
//! Hand-written SVG rather than a plotting crate: two line panels need
//! about a hundred lines, no fonts and no extra dependency.

use std::fmt::Write as _;

use super::model::{Report, Row};
use super::time::format_rfc3339;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 760.0;
const PANEL_HEIGHT: f64 = 200.0;
const PANEL_TOPS: [f64; 2] = [50.0, 320.0];
const HEIGHT: f64 = 570.0;
/// Total first, then the keys in rank order.
const COLORS: [&str; 9] = [
    "#222222", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#17becf",
];

/// One panel's metric of a row.
type Metric = fn(&Row) -> Option<f64>;

/// The chart as a standalone SVG document.
pub(super) fn chart(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let rate: Metric = |row| Some(row.rate);
    let p99: Metric = |row| row.p99_us.map(|us| us as f64 / 1000.0);
    panel(&mut out, r, PANEL_TOPS[0], "Requests per second", rate);
    panel(&mut out, r, PANEL_TOPS[1], "p99 latency (ms)", p99);
    time_axis(&mut out, r);
    legend(&mut out, r);
    out.push_str("</svg>\n");
    out
}

/// The series of a panel: (name, value per bucket), total first.
fn series(r: &Report, metric: Metric) -> Vec<(String, Vec<Option<f64>>)> {
    let total = r.buckets.iter().map(|b| metric(&b.total)).collect();
    let mut all = vec![("total".to_owned(), total)];
    for (i, key) in r.keys.iter().enumerate() {
        // A bucket without the key has a zero row: rate 0, no latency.
        let values = r
            .buckets
            .iter()
            .map(|b| b.keys.get(i).and_then(|k| metric(&k.row)))
            .collect();
        all.push((key.clone(), values));
    }
    all
}

fn panel(out: &mut String, r: &Report, top: f64, title: &str, metric: Metric) {
    let all = series(r, metric);
    let max = all
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(0.0f64, |m, &v| m.max(v));
    let max = nice_ceil(max);
    let bottom = top + PANEL_HEIGHT;
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        top - 12.0,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{top}" width="{}" height="{PANEL_HEIGHT}" fill="none" stroke="#999"/>"##,
        RIGHT - LEFT
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = bottom - PANEL_HEIGHT * f64::from(i) / 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 6.0,
            y + 4.0,
            tick(v)
        );
    }
    let n = r.buckets.len();
    for (i, (_, values)) in all.iter().enumerate().rev() {
        let d = path(values, n, |v| bottom - PANEL_HEIGHT * v / max);
        let color = COLORS[i % COLORS.len()];
        let width = if i == 0 { 2.5 } else { 1.5 };
        let _ = writeln!(
            out,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="{width}"/>"#
        );
    }
}

/// `M x y L x y ...`, restarting after a gap; a lone point becomes a dot.
fn path(values: &[Option<f64>], n: usize, y: impl Fn(f64) -> f64) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else {
            pen_down = false;
            continue;
        };
        let cmd = if pen_down { 'L' } else { 'M' };
        let _ = write!(d, "{cmd}{:.1} {:.1} ", x(i, n), y(*v));
        if !pen_down {
            // A zero-length segment with a round cap would vanish in some
            // viewers: draw a short tick instead.
            let _ = write!(d, "h0.5 ");
        }
        pen_down = true;
    }
    d.trim_end().to_owned()
}

fn x(i: usize, n: usize) -> f64 {
    if n <= 1 {
        return (LEFT + RIGHT) / 2.0;
    }
    LEFT + (RIGHT - LEFT) * i as f64 / (n - 1) as f64
}

fn time_axis(out: &mut String, r: &Report) {
    let n = r.buckets.len();
    let y = PANEL_TOPS[1] + PANEL_HEIGHT + 18.0;
    let picks: &[usize] = match n {
        0 => &[],
        1 => &[0],
        2 => &[0, 1],
        _ => &[0, n / 2, n - 1],
    };
    for &i in picks {
        let label = format_rfc3339(r.buckets[i].start_us);
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{y}" text-anchor="middle">{}</text>"#,
            x(i, n),
            escape(&label)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">time (UTC), {} buckets</text>"#,
        (LEFT + RIGHT) / 2.0,
        y + 20.0,
        super::render::width(r.bucket_seconds)
    );
}

fn legend(out: &mut String, r: &Report) {
    let names = std::iter::once("total").chain(r.keys.iter().map(String::as_str));
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
        RIGHT + 20.0,
        PANEL_TOPS[0] + 4.0,
        escape(r.by)
    );
    for (i, name) in names.enumerate() {
        let y = PANEL_TOPS[0] + 24.0 + 20.0 * i as f64;
        let color = COLORS[i % COLORS.len()];
        let _ = writeln!(
            out,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            RIGHT + 20.0,
            RIGHT + 44.0,
            RIGHT + 50.0,
            y + 4.0,
            escape(&shorten(name))
        );
    }
}

fn shorten(name: &str) -> String {
    const MAX: usize = 24;
    if name.chars().count() <= MAX {
        return name.to_owned();
    }
    let head: String = name.chars().take(MAX - 1).collect();
    format!("{head}…")
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (1 for nothing to draw),
/// so that quarter ticks are round numbers.
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let scale = 10f64.powf(v.log10().floor());
    let step = [1.0, 2.0, 4.0, 5.0, 10.0]
        .into_iter()
        .find(|m| m * scale >= v)
        .unwrap_or(10.0);
    step * scale
}

fn tick(v: f64) -> String {
    match v {
        _ if v == 0.0 => "0".to_owned(),
        _ if v >= 10.0 || v.fract() == 0.0 => format!("{v:.0}"),
        _ if v >= 1.0 => format!("{v:.1}"),
        _ => format!("{v:.3}").trim_end_matches('0').to_owned(),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_break_at_gaps() {
        let d = path(&[Some(1.0), Some(2.0), None, Some(3.0)], 4, |v| v);
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert_eq!(path(&[None, None], 2, |v| v), "");
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceil(3.7), 4.0);
        assert_eq!(nice_ceil(80.4), 100.0);
        assert_eq!(nice_ceil(0.012), 0.02);
        assert_eq!(nice_ceil(5.0), 5.0);
        assert_eq!(nice_ceil(0.0), 1.0);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b>&\"c\"\n"), "a&lt;b&gt;&amp;&quot;c&quot; ");
        assert_eq!(shorten(&"x".repeat(30)).chars().count(), 24);
    }
}
