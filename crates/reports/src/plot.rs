//! Figures with plotters: learning curves (each metric against the training-set size on a log
//! axis, a line per system, the seed spread shaded) and per-run training curves. Text uses the
//! DejaVu Sans font shipped in `assets/`, never the host's, so PNGs are identical everywhere.

use std::ops::Range;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use tracking::keys::{metric, split};

use crate::data::{METRICS, SweepData, System};
use crate::error::{ReportError, Result};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TTF compiled into the binary; a failure leaves plotters'
        // missing-font error to surface at the first text drawn.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// One colour per system, in table order (GBT grey, then blue / orange per backend).
const PALETTE: [RGBColor; 6] = [
    RGBColor(90, 90, 90),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

fn plot_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot(e.to_string())
}

/// Render `draw` as PNG bytes.
pub fn render_png(
    size: (u32, u32),
    draw: &dyn Fn(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    register_font();
    let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw(root)?;
    }
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(plot_err)?;
        writer.write_image_data(&rgb).map_err(plot_err)?;
    }
    Ok(png)
}

/// Render `draw` as SVG text.
pub fn render_svg(
    size: (u32, u32),
    draw: &dyn Fn(DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<String> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(root)?;
    }
    Ok(svg)
}

/// A line per system with its mean ± std band: `(x, mean, std)` points.
struct Curve {
    label: String,
    points: Vec<(f64, f64, f64)>,
    /// Per point, the 95 % bootstrap interval (test tracks and seeds), where known.
    intervals: Vec<Option<(f64, f64)>>,
    /// The fitted learning curve in the metric's own units (value at n).
    fitted: Option<Box<dyn Fn(f64) -> f64>>,
}

/// What the learning curves show beside the measured means and seed spread: per system, size
/// and metric index the 95 % interval, and per system and metric the fitted law.
pub struct Overlays<'a> {
    pub interval: &'a dyn Fn(&System, i64, usize) -> Option<metrics::Interval>,
    pub fit: &'a dyn Fn(&System, usize) -> Option<metrics::curve::PowerLaw>,
    /// Per system and metric index, the size n* where its fitted curve overtakes GBT's.
    pub crossing: &'a dyn Fn(&System, usize) -> Option<f64>,
}

/// How far right the figure reaches to show an n* beyond the data.
const CROSSING_REACH: f64 = 1000.0;

/// The learning curves of a sweep: one panel per metric.
pub fn learning_curves<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    data: &SweepData,
    overlays: &Overlays<'_>,
) -> Result<()> {
    register_font();
    root.fill(&WHITE).map_err(plot_err)?;
    let sizes = data.sizes();
    let (lo, hi) = (
        *sizes.first().unwrap_or(&1) as f64,
        *sizes.last().unwrap_or(&1) as f64,
    );
    let panels = root.split_evenly((1, METRICS.len()));
    let systems = data.systems();
    for (panel, (i, metric)) in panels.iter().zip(METRICS.iter().enumerate()) {
        let crossings: Vec<(usize, f64)> = systems
            .iter()
            .enumerate()
            .filter_map(|(c, s)| (overlays.crossing)(s, i).map(|n| (c, n)))
            .filter(|(_, n)| *n <= CROSSING_REACH * hi)
            .collect();
        let right = crossings
            .iter()
            .map(|(_, n)| n * 1.3)
            .fold(hi * 1.25, f64::max);
        let curves: Vec<Curve> = data
            .systems()
            .iter()
            .map(|system| {
                let measured: Vec<(i64, (f64, f64))> = sizes
                    .iter()
                    .filter_map(|&size| {
                        let values: Vec<f64> = data
                            .cells_of(system, size)
                            .iter()
                            .filter_map(|c| c.macro_value(*metric))
                            .collect();
                        metrics::mean_std(&values).map(|ms| (size, ms))
                    })
                    .collect();
                let higher = metric.higher_is_better();
                Curve {
                    label: system.label.clone(),
                    points: measured
                        .iter()
                        .map(|&(n, (m, s))| (n as f64, m, s))
                        .collect(),
                    intervals: measured
                        .iter()
                        .map(|&(n, _)| {
                            (overlays.interval)(system, n, i).map(|ci| (ci.low, ci.high))
                        })
                        .collect(),
                    fitted: (overlays.fit)(system, i).map(|law| {
                        // The law is fitted to the error; show it in the metric's units.
                        Box::new(move |n: f64| if higher { 1.0 - law.at(n) } else { law.at(n) })
                            as Box<dyn Fn(f64) -> f64>
                    }),
                }
            })
            .collect();
        let y = y_range(curves.iter().flat_map(|c| {
            c.points.iter().map(|p| (p.1, p.2)).chain(
                c.intervals
                    .iter()
                    .flatten()
                    .map(|&(l, h)| ((l + h) / 2.0, (h - l) / 2.0)),
            )
        }));
        let mut chart = ChartBuilder::on(panel)
            .caption(metric.label(), (FAMILY, 22))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (lo * 0.8..right)
                    .log_scale()
                    .with_key_points(sizes.iter().map(|&s| s as f64).collect()),
                y,
            )
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("training-set size (tracks, log scale)")
            .y_desc(metric.label())
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .label_style((FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        for (c, curve) in curves.iter().enumerate() {
            draw_curve(
                &mut chart,
                curve,
                PALETTE[c % PALETTE.len()],
                (lo, hi, right),
            )?;
        }
        // n*: a dashed vertical line in the deep system's colour where it overtakes GBT.
        let (y_lo, y_hi) = (chart.y_range().start, chart.y_range().end);
        for &(c, n) in &crossings {
            let color = PALETTE[c % PALETTE.len()];
            chart
                .draw_series(DashedLineSeries::new(
                    [(n, y_lo), (n, y_hi)],
                    6,
                    4,
                    color.stroke_width(1),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("n* {n:.0}"),
                    // Left of the line, just under the top, so the label stays inside.
                    (n / 1.8, y_hi - 0.03 * (y_hi - y_lo)),
                    (FAMILY, 13).into_font().color(&color),
                )))
                .map_err(plot_err)?;
        }
        if i == 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font((FAMILY, 14))
                .border_style(BLACK)
                .background_style(WHITE.mix(0.85))
                .draw()
                .map_err(plot_err)?;
        }
    }
    root.present().map_err(plot_err)
}

type LogChart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<
        plotters::coord::combinators::WithKeyPoints<plotters::coord::combinators::LogCoord<f64>>,
        plotters::coord::types::RangedCoordf64,
    >,
>;

fn draw_curve<DB: DrawingBackend>(
    chart: &mut LogChart<'_, DB>,
    curve: &Curve,
    color: RGBColor,
    (lo, hi, right): (f64, f64, f64),
) -> Result<()> {
    // The test-set interval: a lighter band than the seed spread, where every point has one.
    if let Some(bounds) = curve.intervals.iter().copied().collect::<Option<Vec<_>>>()
        && bounds.len() > 1
    {
        let band: Vec<(f64, f64)> = curve
            .points
            .iter()
            .zip(&bounds)
            .map(|(p, b)| (p.0, b.1))
            .chain(
                curve
                    .points
                    .iter()
                    .zip(&bounds)
                    .rev()
                    .map(|(p, b)| (p.0, b.0)),
            )
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(band, color.mix(0.08))))
            .map_err(plot_err)?;
    }
    // The fitted law: solid over the measured sizes, dashed beyond them on either side.
    if let Some(law) = &curve.fitted {
        let sample = |a: f64, b: f64| -> Vec<(f64, f64)> {
            (0..=40)
                .map(|k| {
                    let n = (a.ln() + (b.ln() - a.ln()) * f64::from(k) / 40.0).exp();
                    (n, law(n))
                })
                .collect()
        };
        let style = color.mix(0.7).stroke_width(1);
        chart
            .draw_series(LineSeries::new(sample(lo, hi), style))
            .map_err(plot_err)?;
        for (a, b) in [(lo * 0.8, lo), (hi, right)] {
            chart
                .draw_series(DashedLineSeries::new(sample(a, b), 4, 4, style))
                .map_err(plot_err)?;
        }
    }
    if curve.points.len() > 1 || curve.points.iter().any(|p| p.2 > 0.0) {
        let band: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| (p.0, p.1 + p.2))
            .chain(curve.points.iter().rev().map(|p| (p.0, p.1 - p.2)))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(band, color.mix(0.18))))
            .map_err(plot_err)?;
    }
    chart
        .draw_series(LineSeries::new(
            curve.points.iter().map(|p| (p.0, p.1)),
            color.stroke_width(2),
        ))
        .map_err(plot_err)?
        .label(curve.label.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart
        .draw_series(
            curve
                .points
                .iter()
                .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
        )
        .map_err(plot_err)?;
    Ok(())
}

/// A y range around `(value, spread)` pairs with a margin; `0..1` without any.
fn y_range(values: impl Iterator<Item = (f64, f64)>) -> Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (v, s) in values {
        lo = lo.min(v - s);
        hi = hi.max(v + s);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.1).max(0.01);
    (lo - pad)..(hi + pad)
}

/// Loss (train and validation) and validation ROC-AUC per evaluation of one run, against the
/// training step (the evaluation's number for runs logged before steps were recorded).
pub fn training_curves<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    epochs: &[tracking::EpochMetric],
) -> Result<()> {
    register_font();
    root.fill(&WHITE).map_err(plot_err)?;
    let root = root.titled(title, (FAMILY, 18)).map_err(plot_err)?;
    let panels = root.split_evenly((1, 2));
    let step_of = |evaluation: i64| {
        epochs
            .iter()
            .find(|m| m.epoch == evaluation && m.split == split::TRAIN && m.key == metric::STEP)
            .map_or(evaluation + 1, |m| m.value as i64)
    };
    let series = |split: &str, key: &str| -> Vec<(i64, f64)> {
        epochs
            .iter()
            .filter(|m| m.split == split && m.key == key && m.value.is_finite())
            .map(|m| (step_of(m.epoch), m.value))
            .collect()
    };
    let last = epochs
        .iter()
        .map(|m| step_of(m.epoch))
        .max()
        .unwrap_or(1)
        .max(1);
    let plots = [
        (
            "loss",
            vec![
                ("train", series(split::TRAIN, metric::LOSS)),
                ("valid", series(split::VALID, metric::LOSS)),
            ],
        ),
        (
            "validation ROC-AUC",
            vec![("valid", series(split::VALID, metric::ROC_AUC))],
        ),
    ];
    for (panel, (name, lines)) in panels.iter().zip(plots) {
        let y = y_range(lines.iter().flat_map(|(_, l)| l.iter().map(|p| (p.1, 0.0))));
        let mut chart = ChartBuilder::on(panel)
            .caption(name, (FAMILY, 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0..last, y)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(name)
            .y_label_formatter(&|y| format!("{y:.3}"))
            .label_style((FAMILY, 13))
            .draw()
            .map_err(plot_err)?;
        for (i, (label, points)) in lines.iter().enumerate() {
            let color = PALETTE[(i + 1) % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(*label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .label_font((FAMILY, 13))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(plot_err)?;
    }
    root.present().map_err(plot_err)
}
