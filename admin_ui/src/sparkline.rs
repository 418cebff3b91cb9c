//! Sparklines as inline SVG rendered on the server: no chart library in the browser, nothing a
//! strict Content-Security-Policy would block.

use maud::{html, Markup};

/// Drawing box; the SVG scales to its container (`preserveAspectRatio="none"`).
const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 32.0;

/// A line of `points` (oldest first) scaled between zero (or the minimum, if negative) and
/// the maximum. `label` is the accessible name and the hover title.
pub fn sparkline(label: &str, points: &[f64]) -> Markup {
    let polyline = polyline_points(points);
    html! {
        svg class="spark" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) preserveAspectRatio="none"
            role="img" aria-label=(label) {
            title { (label) }
            @if !polyline.is_empty() {
                polyline points=(polyline) fill="none" stroke="currentColor"
                    stroke-width="1.5" vector-effect="non-scaling-stroke" {}
            }
        }
    }
}

/// `"x,y x,y …"` in the drawing box; empty with fewer than two points.
fn polyline_points(points: &[f64]) -> String {
    if points.len() < 2 {
        return String::new();
    }
    let finite = |v: &f64| if v.is_finite() { *v } else { 0.0 };
    let max = points.iter().map(finite).fold(f64::MIN, f64::max);
    let min = points.iter().map(finite).fold(0.0, f64::min);
    let span = if max > min { max - min } else { 1.0 };
    let step = WIDTH / (points.len() - 1) as f64;
    points
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = HEIGHT - (finite(v) - min) / span * (HEIGHT - 2.0) - 1.0;
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_span_the_box_and_a_flat_or_short_series_is_safe() {
        assert_eq!(polyline_points(&[]), "");
        assert_eq!(polyline_points(&[3.0]), "");
        assert_eq!(polyline_points(&[0.0, 10.0]), "0.0,31.0 120.0,1.0");
        assert_eq!(polyline_points(&[0.0, 0.0]), "0.0,31.0 120.0,31.0");
        assert_eq!(polyline_points(&[f64::NAN, 1.0]), "0.0,31.0 120.0,1.0");
        let svg = sparkline("sockets <open>", &[1.0, 2.0]).into_string();
        assert!(
            svg.contains(r#"aria-label="sockets &lt;open&gt;""#),
            "{svg}"
        );
    }
}
