//! Medians with min and max, and ratios against a reference.

use serde::{Deserialize, Serialize};

/// Median, minimum and maximum of a set of runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of values.
    pub n: usize,
}

// === impl Spread ===

impl Spread {
    /// Summarises `values`, ignoring NaN; `None` when nothing is left.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut sorted: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            n,
        })
    }

    /// `median (min–max)` with `decimals` digits.
    pub fn display(&self, decimals: usize) -> String {
        if self.n == 1 {
            return format!("{:.*}", decimals, self.median);
        }
        format!(
            "{:.*} ({:.*}–{:.*})",
            decimals, self.median, decimals, self.min, decimals, self.max
        )
    }
}

/// `value / reference` of the medians; `None` when either is missing or zero.
pub fn ratio(value: Option<&Spread>, reference: Option<&Spread>) -> Option<f64> {
    let (value, reference) = (value?, reference?);
    (reference.median != 0.0).then(|| value.median / reference.median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let odd = Spread::of([5.0, 1.0, 3.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max, odd.n), (3.0, 1.0, 5.0, 3));
        assert_eq!(Spread::of([4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(Spread::of([f64::NAN, 2.0]).unwrap().n, 1);
        assert!(Spread::of([]).is_none());
    }

    #[test]
    fn display_and_ratio() {
        let a = Spread::of([10.0, 12.0, 11.0]).unwrap();
        assert_eq!(a.display(1), "11.0 (10.0–12.0)");
        assert_eq!(Spread::of([7.0]).unwrap().display(0), "7");
        let b = Spread::of([22.0]).unwrap();
        assert_eq!(ratio(Some(&b), Some(&a)), Some(2.0));
        assert_eq!(ratio(None, Some(&a)), None);
    }
}
