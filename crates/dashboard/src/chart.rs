//! Line charts as inline SVG, drawn on the server (no script needed to see them).

use maud::{Markup, html};

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 260.0;
const MARGIN: (f64, f64, f64, f64) = (48.0, 12.0, 14.0, 28.0); // left, right, top, bottom
const COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// One line: its label and `(x, y)` points (non-finite points are left out).
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A chart of `series` against a shared x axis, with its title, axis extremes and a legend.
pub fn lines(title: &str, x_label: &str, series: &[Series]) -> Markup {
    let finite: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if finite.is_empty() {
        return html! { p.muted { (title) ": nothing recorded yet" } };
    }
    let (x0, x1) = span(finite.iter().map(|p| p.0));
    let (y0, y1) = span(finite.iter().map(|p| p.1));
    let (left, right, top, bottom) = MARGIN;
    let sx = |x: f64| left + (x - x0) / (x1 - x0) * (WIDTH - left - right);
    let sy = |y: f64| top + (1.0 - (y - y0) / (y1 - y0)) * (HEIGHT - top - bottom);
    html! {
        figure {
            figcaption { (title) }
            svg.chart width=(WIDTH) height=(HEIGHT) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                role="img" aria-label=(title) {
                line x1=(left) y1=(HEIGHT - bottom) x2=(WIDTH - right) y2=(HEIGHT - bottom)
                    stroke="#999" {}
                line x1=(left) y1=(top) x2=(left) y2=(HEIGHT - bottom) stroke="#999" {}
                text x=(left - 4.0) y=(top + 8.0) text-anchor="end" font-size="10" { (tick(y1)) }
                text x=(left - 4.0) y=(HEIGHT - bottom) text-anchor="end" font-size="10" { (tick(y0)) }
                text x=(left) y=(HEIGHT - 8.0) font-size="10" { (tick(x0)) }
                text x=(WIDTH - right) y=(HEIGHT - 8.0) text-anchor="end" font-size="10" { (tick(x1)) }
                text x=((WIDTH) / 2.0) y=(HEIGHT - 8.0) text-anchor="middle" font-size="10" { (x_label) }
                @for (i, s) in series.iter().enumerate() {
                    @let colour = COLOURS[i % COLOURS.len()];
                    polyline fill="none" stroke=(colour) stroke-width="1.6"
                        points=(polyline_points(&s.points, &sx, &sy)) {}
                    text x=(WIDTH - right - 4.0) y=(top + 12.0 + 13.0 * i as f64)
                        text-anchor="end" font-size="11" fill=(colour) { (s.label) }
                }
            }
        }
    }
}

fn polyline_points(
    points: &[(f64, f64)],
    sx: &dyn Fn(f64) -> f64,
    sy: &dyn Fn(f64) -> f64,
) -> String {
    points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The extremes of `values`, widened when they coincide so the scale stays finite.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if hi - lo > 1e-12 {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_lines_drawn() {
        let chart = lines(
            "loss",
            "step",
            &[Series {
                label: "<script>x</script>".into(),
                points: vec![(0.0, 1.0), (10.0, 0.5), (20.0, f64::NAN)],
            }],
        )
        .into_string();
        assert!(chart.contains("&lt;script&gt;"), "{chart}");
        assert!(!chart.contains("<script>"));
        assert_eq!(chart.matches("<polyline").count(), 1);
        assert!(
            chart.contains("points=\"48.0,14.0 548.0,232.0\""),
            "{chart}"
        );
    }
}
