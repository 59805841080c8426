//! Figures as data (what snapshot tests guard) and their rendering to SVG and PNG with plotters.

use std::path::Path;

use plotters::{
    coord::{
        ranged1d::{Ranged, ValueFormatter},
        types::RangedCoordf64,
        Shift,
    },
    prelude::*,
    style::{register_font, FontStyle},
};
use serde::{Deserialize, Serialize};

use crate::ReportError;

/// A bundled font, so PNG text renders the same on every machine (DejaVu Sans; licence in assets/).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// How points are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Grouped bars over categories (x = category index), with error bars.
    Bars,
    /// Lines over a numeric x.
    Lines,
    /// Markers over a numeric x.
    Scatter,
    /// Horizontal intervals, one per category (y = category index): x ± error as a bar with a dot at x. A
    /// series named [`PAPER_SERIES`] is drawn as diamond markers instead (the paper's value to compare with).
    Intervals,
}

/// The name of the series an [`Kind::Intervals`] figure draws as markers: the paper's values.
pub const PAPER_SERIES: &str = "paper's gain";

/// One series: a name and (x, y, error) points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points; for bars x is the category index.
    pub points: Vec<(f64, f64, f64)>,
}

/// A figure as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// File stem, e.g. `re-kd`.
    pub stem: String,
    /// Title.
    pub title: String,
    /// Drawing kind.
    pub kind: Kind,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Category names (bars).
    pub categories: Vec<String>,
    /// Series.
    pub series: Vec<Series>,
    /// Horizontal reference lines (label, y).
    pub hlines: Vec<(String, f64)>,
    /// Logarithmic x axis (temperatures).
    pub log_x: bool,
    /// A line y = x (reliability diagrams).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub diagonal: bool,
    /// Text under the chart: what the figure tests and what the paper or later work says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

impl Figure {
    /// A figure with no reference lines, caption or diagonal.
    #[must_use]
    pub fn new(stem: &str, title: String, kind: Kind, x_label: &str, y_label: &str) -> Self {
        Figure {
            stem: stem.into(),
            title,
            kind,
            x_label: x_label.into(),
            y_label: y_label.into(),
            categories: Vec::new(),
            series: Vec::new(),
            hlines: Vec::new(),
            log_x: false,
            diagonal: false,
            caption: None,
        }
    }
}

const SIZE: (u32, u32) = (900, 560);

/// Writes `<dir>/<stem>.svg` and `<dir>/<stem>.png`, each atomically.
pub fn render(fig: &Figure, dir: &Path) -> Result<(), ReportError> {
    let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    let svg = dir.join(format!("{}.svg", fig.stem));
    tfkd_io::write_atomic_with(&svg, |tmp| draw(fig, SVGBackend::new(tmp, SIZE).into_drawing_area()))
        .map_err(|e| atomic(e, &svg))?;
    let png = dir.join(format!("{}.png", fig.stem));
    let mut pixels = vec![0u8; 3 * (SIZE.0 * SIZE.1) as usize];
    draw(fig, BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area())?;
    let bytes = encode_png(&pixels, SIZE)
        .map_err(|e| ReportError::Figure { stem: fig.stem.clone(), message: format!("encoding the PNG: {e}") })?;
    tfkd_io::write_atomic(&png, bytes)?;
    Ok(())
}

/// Encodes 8-bit RGB pixels as PNG with the `png` crate's fast deflate (fdeflate) and its adaptive filter choice
/// (per row, starting from Sub): the settings plotters' own file output used (through `image` 0.24), so the
/// committed figures stay byte-identical without building `image` for it.
fn encode_png(pixels: &[u8], (width, height): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    encoder.set_filter(png::FilterType::Sub);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    encoder.write_header()?.write_image_data(pixels)?;
    Ok(bytes)
}

fn atomic(err: tfkd_io::atomic::AtomicError<ReportError>, path: &Path) -> ReportError {
    match err {
        tfkd_io::atomic::AtomicError::Io(e) => ReportError::Io(e),
        tfkd_io::atomic::AtomicError::Write(ReportError::Figure { stem, message }) => {
            ReportError::Figure { stem, message: format!("writing {}: {message}", path.display()) }
        }
        tfkd_io::atomic::AtomicError::Write(e) => e,
    }
}

fn bounds(fig: &Figure) -> ((f64, f64), (f64, f64)) {
    let ys = fig
        .series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]))
        .chain(fig.hlines.iter().map(|h| h.1));
    let (mut lo, mut hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if fig.diagonal {
        let xs = fig.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (a, b) = xs.fold((lo, hi), |(a, b), x| (a.min(x), b.max(x)));
        (lo, hi) = (a.min(0.0), b.max(1.0));
        return ((lo, hi), (lo, hi));
    }
    if fig.kind == Kind::Intervals {
        let pad = ((hi - lo) * 0.08).max(0.2);
        return ((lo.min(0.0) - pad, hi.max(0.0) + pad), (-0.6, fig.categories.len() as f64 - 0.4));
    }
    let pad = ((hi - lo) * 0.12).max(0.5);
    // Bars start at zero (a truncated axis exaggerates differences) and leave room for the legend above them.
    let y = if fig.kind == Kind::Bars { (lo.min(0.0), hi * 1.45) } else { (lo - pad, hi + pad) };
    let xs = fig.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let x = match fig.kind {
        Kind::Bars => (-0.5, fig.categories.len() as f64 - 0.5),
        _ => {
            let (a, b) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
            if fig.log_x {
                (a.max(1e-9) * 0.8, b * 1.25)
            } else {
                let p = ((b - a) * 0.05).max(0.5);
                (a - p, b + p)
            }
        }
    };
    (x, y)
}

/// The colour of a verdict's series in [`Kind::Intervals`] figures, by series name.
fn verdict_color(name: &str) -> Option<RGBColor> {
    Some(match name {
        "holds" => RGBColor(44, 160, 44),
        "not significant" => RGBColor(127, 127, 127),
        "underpowered" => RGBColor(255, 127, 14),
        "contradicted" => RGBColor(214, 39, 40),
        PAPER_SERIES => BLACK,
        _ => return None,
    })
}

fn draw<DB: DrawingBackend>(fig: &Figure, whole: DrawingArea<DB, Shift>) -> Result<(), ReportError> {
    let err = |e: String| ReportError::Figure { stem: fig.stem.clone(), message: e };
    whole.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let (area, under) = match &fig.caption {
        Some(_) => {
            let (_, h) = whole.dim_in_pixel();
            whole.split_vertically(h.saturating_sub(48))
        }
        None => (whole.clone(), whole.clone().shrink((0, 0), (0, 0))),
    };
    if let Some(caption) = &fig.caption {
        draw_caption(fig, caption, &under)?;
    }
    if fig.kind == Kind::Intervals {
        draw_intervals(fig, &area)?;
        whole.present().map_err(|e| err(e.to_string()))?;
        return Ok(());
    }
    let bounds = bounds(fig);
    let ((x0, x1), (y0, y1)) = bounds;
    let mut builder = ChartBuilder::on(&area);
    builder.caption(&fig.title, ("sans-serif", 22)).margin(15).x_label_area_size(45).y_label_area_size(60);
    if fig.log_x {
        let mut chart = builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1).map_err(|e| err(e.to_string()))?;
        plot(fig, &mut chart, bounds)?;
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(|e| err(e.to_string()))?;
        plot(fig, &mut chart, bounds)?;
    }
    whole.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// The caption under the chart: two lines at most, broken at a space near the middle when long.
fn draw_caption<DB: DrawingBackend>(
    fig: &Figure,
    caption: &str,
    under: &DrawingArea<DB, Shift>,
) -> Result<(), ReportError> {
    let err = |e: String| ReportError::Figure { stem: fig.stem.clone(), message: e };
    let lines: Vec<String> = if caption.chars().count() > 110 {
        let mid = caption
            .char_indices()
            .filter(|(i, c)| *c == ' ' && *i >= caption.len() / 2)
            .map(|(i, _)| i)
            .next()
            .unwrap_or(caption.len());
        vec![caption[..mid].to_string(), caption[mid..].trim().to_string()]
    } else {
        vec![caption.to_string()]
    };
    for (i, line) in lines.iter().enumerate() {
        under
            .draw_text(line, &("sans-serif", 14).into_font().color(&BLACK), (15, 4 + 20 * i as i32))
            .map_err(|e| err(e.to_string()))?;
    }
    Ok(())
}

/// A chart with a linear y axis and a linear or logarithmic x axis.
type Chart<'a, DB, X> = ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>;

/// The series colours, in order.
const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];

/// Axes, every series, the diagonal and horizontal reference lines, and the legend.
fn plot<'a, DB, X>(
    fig: &Figure,
    chart: &mut Chart<'a, DB, X>,
    bounds: ((f64, f64), (f64, f64)),
) -> Result<(), ReportError>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: String| ReportError::Figure { stem: fig.stem.clone(), message: e };
    let ((x0, x1), (y0, _)) = bounds;
    draw_mesh(fig, chart)?;
    let n = fig.series.len().max(1) as f64;
    for (k, s) in fig.series.iter().enumerate() {
        draw_series(fig, chart, k, s, n, y0)?;
    }
    if fig.diagonal {
        chart
            .draw_series(LineSeries::new(vec![(x0, x0), (x1, x1)], BLACK.mix(0.6).stroke_width(1)))
            .map_err(|e| err(e.to_string()))?
            .label("perfectly calibrated")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(1)));
    }
    let line_colors = [BLACK, RGBColor(255, 127, 14), RGBColor(127, 127, 127)];
    for (i, (label, y)) in fig.hlines.iter().enumerate() {
        let (y, color) = (*y, line_colors[i % line_colors.len()]);
        chart
            .draw_series(LineSeries::new(vec![(x0, y), (x1, y)], color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .position(if fig.kind == Kind::Bars || fig.log_x {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .draw()
        .map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// The axes and their labels: categories under bars, only 1, 2 and 5 times a power of ten on a log axis.
fn draw_mesh<'a, DB, X>(fig: &Figure, chart: &mut Chart<'a, DB, X>) -> Result<(), ReportError>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: String| ReportError::Figure { stem: fig.stem.clone(), message: e };
    let categories = fig.categories.clone();
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(fig.x_label.as_str())
        .y_desc(fig.y_label.as_str())
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17));
    let category_label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            categories.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    // On a log axis only 1, 2 and 5 times a power of ten are labelled: plotters labels every minor tick,
    // and 7, 8, 9, 10 run into each other.
    let log_label = |x: &f64| {
        let mantissa = x / 10f64.powf(x.log10().floor());
        if [1.0, 2.0, 5.0].iter().any(|d| (mantissa - d).abs() < 1e-6) {
            format!("{x}")
        } else {
            String::new()
        }
    };
    if fig.kind == Kind::Bars {
        mesh.x_labels(categories.len()).x_label_formatter(&category_label);
        mesh.disable_x_mesh();
    } else if fig.log_x {
        mesh.x_label_formatter(&log_label);
    }
    mesh.draw().map_err(|e| err(e.to_string()))
}

/// Series `k` of `n`: bars (side by side, with error bars), a line (with points and error bars when it has
/// them) or points.
fn draw_series<'a, DB, X>(
    fig: &Figure,
    chart: &mut Chart<'a, DB, X>,
    k: usize,
    s: &Series,
    n: f64,
    y0: f64,
) -> Result<(), ReportError>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: String| ReportError::Figure { stem: fig.stem.clone(), message: e };
    let color = PALETTE[k % PALETTE.len()];
    let style = color.filled();
    let bars = |(x, y, e): (f64, f64, f64)| PathElement::new(vec![(x, y - e), (x, y + e)], color.stroke_width(2));
    match fig.kind {
        Kind::Bars => {
            let w = 0.8 / n;
            let off = -0.4 + w * k as f64;
            chart
                .draw_series(s.points.iter().map(|&(x, y, _)| {
                    Rectangle::new([(x + off + 0.05 * w, y0.max(0.0).min(y)), (x + off + 0.95 * w, y)], style)
                }))
                .map_err(|e| err(e.to_string()))?
                .label(s.name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
            chart
                .draw_series(s.points.iter().filter(|p| p.2 > 0.0).map(|&(x, y, e)| {
                    let cx = x + off + w / 2.0;
                    PathElement::new(vec![(cx, y - e), (cx, y + e)], BLACK.stroke_width(2))
                }))
                .map_err(|e| err(e.to_string()))?;
        }
        Kind::Lines => {
            chart
                .draw_series(LineSeries::new(s.points.iter().map(|p| (p.0, p.1)), color.stroke_width(3)))
                .map_err(|e| err(e.to_string()))?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
            if s.points.iter().any(|p| p.2 > 0.0) {
                chart
                    .draw_series(s.points.iter().map(|p| Circle::new((p.0, p.1), 4, style)))
                    .map_err(|e| err(e.to_string()))?;
                chart
                    .draw_series(s.points.iter().filter(|p| p.2 > 0.0).map(|&p| bars(p)))
                    .map_err(|e| err(e.to_string()))?;
            }
        }
        Kind::Intervals => unreachable!("drawn by draw_intervals"),
        Kind::Scatter => {
            chart
                .draw_series(s.points.iter().map(|p| Circle::new((p.0, p.1), 6, style)))
                .map_err(|e| err(e.to_string()))?
                .label(s.name.as_str())
                .legend(move |(x, y)| Circle::new((x + 7, y), 6, color.filled()));
            chart
                .draw_series(s.points.iter().filter(|p| p.2 > 0.0).map(|&p| bars(p)))
                .map_err(|e| err(e.to_string()))?;
        }
    }
    Ok(())
}

/// A forest plot: one row per category (top to bottom in category order), each series' interval on it.
fn draw_intervals<DB: DrawingBackend>(fig: &Figure, area: &DrawingArea<DB, Shift>) -> Result<(), ReportError> {
    let err = |e: String| ReportError::Figure { stem: fig.stem.clone(), message: e };
    let ((x0, x1), (y0, y1)) = bounds(fig);
    let n = fig.categories.len();
    let longest = fig.categories.iter().map(|c| c.chars().count()).max().unwrap_or(10) as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(&fig.title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size((longest * 7).clamp(80, 420))
        .build_cartesian_2d(x0..x1, y1..y0)
        .map_err(|e| err(e.to_string()))?;
    let categories = fig.categories.clone();
    let label = |y: &f64| {
        let i = y.round();
        if (y - i).abs() < 1e-6 && i >= 0.0 {
            categories.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc(fig.x_label.as_str())
        .y_labels(n.max(1))
        .y_label_formatter(&label)
        .disable_y_mesh()
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    chart
        .draw_series(LineSeries::new(vec![(0.0, y0), (0.0, y1)], BLACK.mix(0.5).stroke_width(1)))
        .map_err(|e| err(e.to_string()))?;
    for s in &fig.series {
        let color = verdict_color(&s.name).unwrap_or(BLUE);
        if s.name == PAPER_SERIES {
            chart
                .draw_series(s.points.iter().map(|&(i, x, _)| Cross::new((x, i), 7, color.stroke_width(3))))
                .map_err(|e| err(e.to_string()))?
                .label(s.name.as_str())
                .legend(move |(x, y)| Cross::new((x + 7, y), 6, color.stroke_width(3)));
            continue;
        }
        chart
            .draw_series(
                s.points.iter().map(|&(i, x, e)| PathElement::new(vec![(x - e, i), (x + e, i)], color.stroke_width(4))),
            )
            .map_err(|e| err(e.to_string()))?
            .label(s.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 3), (x + 16, y + 3)], color.filled()));
        chart
            .draw_series(s.points.iter().map(|&(i, x, _)| Circle::new((x, i), 5, color.filled())))
            .map_err(|e| err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    Ok(())
}
