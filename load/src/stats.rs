//! Latency histograms (HdrHistogram, microseconds) and their summaries.

use hdrhistogram::Histogram;

use crate::report::Report;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid")
}

/// Adds `label` p50/p90/p99/max in milliseconds to the report.
pub fn add_latency(report: &mut Report, label: &str, h: &Histogram<u64>) {
    if h.is_empty() {
        report.add(&format!("{label} samples"), 0);
        return;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    report.add(&format!("{label} samples"), h.len());
    report.add(&format!("{label} p50 ms"), ms(h.value_at_quantile(0.50)));
    report.add(&format!("{label} p90 ms"), ms(h.value_at_quantile(0.90)));
    report.add(&format!("{label} p99 ms"), ms(h.value_at_quantile(0.99)));
    report.add(&format!("{label} max ms"), ms(h.max()));
}

/// Microseconds since the Unix epoch: publisher and receivers run in one process, one clock.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
