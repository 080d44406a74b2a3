//! The latency-by-percentile plot (HdrHistogram style: log-scale x axis
//! running 50, 90, 99, 99.9, 99.99), one line per proxy, as SVG.

use std::path::Path;

use plotters::prelude::*;

/// One proxy's line: `(percentile, µs)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points, percentile ascending.
    pub points: Vec<(f64, f64)>,
}

/// Highest percentile drawn (x = 1 / (1 − p) = 1e5).
const MAX_X: f64 = 1e5;
/// Line colours, in proxy order.
const COLOURS: [RGBColor; 4] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// `1 / (1 − p/100)`: 50 → 2, 90 → 10, 99 → 100, …
fn x_of(percentile: f64) -> f64 {
    (1.0 / (1.0 - percentile / 100.0)).min(MAX_X)
}

/// Axis label for an x position: 2 → "50", 1000 → "99.9".
fn label_of(x: &f64) -> String {
    let percentile = 100.0 * (1.0 - 1.0 / x);
    let text = format!("{percentile:.5}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Draws the series into an SVG file.
pub fn draw(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    let max_y = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| format!("plot {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let x_range = (1.0..MAX_X)
        .log_scale()
        .with_key_points(vec![2.0, 10.0, 100.0, 1e3, 1e4, 1e5]);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, 0.0..max_y)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_label_formatter(&label_of)
        .y_label_formatter(&|us: &f64| format!("{us:.0}"))
        .draw()
        .map_err(|e| fail(&e))?;
    for (index, line) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let points = line.points.iter().map(|&(p, us)| (x_of(p), us));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(line.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_positions_and_labels() {
        assert!((x_of(50.0) - 2.0).abs() < 1e-9);
        assert!((x_of(99.9) - 1000.0).abs() < 1e-6);
        assert_eq!(x_of(100.0), MAX_X);
        assert_eq!(label_of(&2.0), "50");
        assert_eq!(label_of(&1000.0), "99.9");
        assert_eq!(label_of(&10_000.0), "99.99");
        assert_eq!(label_of(&1.0), "0");
    }

    #[test]
    fn draws_an_svg() {
        let path = std::env::temp_dir().join(format!("perf-tests-plot-{}.svg", std::process::id()));
        let points: Vec<(f64, f64)> = (0..=50)
            .map(|i| {
                (
                    100.0 * (1.0 - 10f64.powf(-f64::from(i) / 10.0)),
                    f64::from(i) * 10.0,
                )
            })
            .collect();
        let series = [
            Series {
                label: "nginx".into(),
                points: points.clone(),
            },
            Series {
                label: "haproxy".into(),
                points: points.iter().map(|&(p, v)| (p, v * 1.2)).collect(),
            },
        ];
        draw(&path, "test: latency by percentile", &series).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("haproxy") && svg.contains("99.9"));
        let _ = std::fs::remove_file(path);
    }
}
