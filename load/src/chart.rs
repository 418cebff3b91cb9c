//! Latency over time: receivers record (when, how long) samples; at the end they are cut
//! into 250 ms buckets and drawn as p50, p99 and max lines in an SVG chart (plotters).

use std::path::Path;
use std::time::Instant;

use plotters::prelude::*;

/// The width of a bucket on the time axis, in milliseconds.
const BUCKET_MS: u32 = 250;

/// Samples of one receiver or of a whole run: milliseconds since the start, latency in µs.
#[derive(Default)]
pub struct Timeline {
    samples: Vec<(u32, u32)>,
}

/// Reads one line's value off a bucket.
type Quantity = fn(&Point) -> f64;

/// One bucket's summary, in milliseconds.
#[derive(Debug, PartialEq)]
pub struct Point {
    pub at_seconds: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Timeline {
    pub fn record(&mut self, started: Instant, latency_us: u64) {
        let at = started.elapsed().as_millis().min(u32::MAX as u128) as u32;
        self.samples
            .push((at, latency_us.min(u32::MAX as u64) as u32));
    }

    pub fn merge(&mut self, other: Timeline) {
        self.samples.extend(other.samples);
    }

    /// p50, p99 and max of every non-empty bucket, in time order.
    pub fn points(&self) -> Vec<Point> {
        let mut samples = self.samples.clone();
        samples.sort_unstable();
        let mut points = Vec::new();
        for bucket in samples.chunk_by(|a, b| a.0 / BUCKET_MS == b.0 / BUCKET_MS) {
            let mut latencies: Vec<u32> = bucket.iter().map(|s| s.1).collect();
            latencies.sort_unstable();
            let at = |q: f64| {
                latencies[((latencies.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
            };
            points.push(Point {
                at_seconds: (bucket[0].0 / BUCKET_MS * BUCKET_MS) as f64 / 1000.0,
                p50: at(0.5),
                p99: at(0.99),
                max: at(1.0),
            });
        }
        points
    }

    /// Writes the chart to `path`; `title` names the scenario and target.
    pub fn write_svg(&self, path: &Path, title: &str) -> anyhow::Result<()> {
        let points = self.points();
        anyhow::ensure!(!points.is_empty(), "no latency samples to chart");
        let end = points.last().map(|p| p.at_seconds).unwrap_or(0.0) + BUCKET_MS as f64 / 1000.0;
        let floor = points
            .iter()
            .map(|p| p.p50)
            .fold(f64::MAX, f64::min)
            .max(0.001)
            / 2.0;
        let top = points.iter().map(|p| p.max).fold(0.0, f64::max) * 2.0;
        let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..end, (floor..top).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start")
            .y_desc("latency (ms, log scale)")
            .draw()?;
        let series: [(&str, RGBColor, Quantity); 3] = [
            ("p50", BLUE, |p| p.p50),
            ("p99", RED, |p| p.p99),
            ("max", RGBColor(150, 150, 150), |p| p.max),
        ];
        for (name, color, value) in series {
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|p| (p.at_seconds, value(p))),
                    color.stroke_width(2),
                ))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_summarise_their_samples() {
        // 100 samples of 1..=100 ms in the first bucket, one of 7 ms at 1.3 s.
        let mut samples: Vec<(u32, u32)> = (1..=100).map(|ms| (10, ms * 1000)).collect();
        samples.push((1300, 7000));
        let timeline = Timeline { samples };
        let points = timeline.points();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].at_seconds, 0.0);
        assert_eq!(points[0].p50, 51.0);
        assert_eq!(points[0].p99, 99.0);
        assert_eq!(points[0].max, 100.0);
        assert_eq!(
            points[1],
            Point {
                at_seconds: 1.25,
                p50: 7.0,
                p99: 7.0,
                max: 7.0
            }
        );
    }

    #[test]
    fn the_chart_is_an_svg_with_its_lines() {
        let timeline = Timeline {
            samples: (0..2000).map(|i| (i, 500 + i % 300)).collect(),
        };
        let dir = std::env::temp_dir().join(format!("taina-load-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chart.svg");
        timeline.write_svg(&path, "fanout taina").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("fanout taina"));
        assert!(svg.matches("<polyline").count() >= 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
