//! How one plot is drawn: plotters draws it into an RGB buffer in memory, `png` encodes that.
//! Axes fit the finite values (and the run's steps), with tick labels as precise as the axis
//! needs; a legend is drawn once there are two labelled lines.

use anyhow::{Context, Result, anyhow};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::font;
use super::plots::{LineStyle, Plot, PlotSize, Series};

/// The chart of one plot, in step (x) and value (y) coordinates.
type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// What plotters' drawing calls fail with.
type DrawResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Draws `plot` and returns the PNG file's bytes.
pub fn draw(plot: &Plot, size: PlotSize) -> Result<Vec<u8>> {
    let size = size.check()?;
    font::register()?;
    let (width, height) = (size.width, size.height);
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    render(plot, &mut rgb, size).map_err(|e| anyhow!("cannot draw {}: {e}", plot.file))?;
    encode_png(&rgb, width, height).with_context(|| format!("cannot encode {}", plot.file))
}

fn render(plot: &Plot, rgb: &mut [u8], size: PlotSize) -> DrawResult {
    let points = finite_points(plot);
    let all = || points.iter().flatten();
    let run_steps = plot
        .steps
        .into_iter()
        .flat_map(|(first, last)| [first, last]);
    let (x0, x1) = padded_range(all().map(|p| p.0).chain(run_steps), 0.0);
    let (y0, y1) = padded_range(all().map(|p| p.1), 0.05);

    let (width, height) = (size.width, size.height);
    let root = BitMapBackend::with_buffer(rgb, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption(plot), text(size, 0.045))
        .margin((height / 40).max(5))
        .x_label_area_size(height / 9)
        .y_label_area_size(width / 9)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    draw_mesh(&mut chart, plot, y1 - y0, size)?;
    let mut labelled = 0;
    for (series, points) in plot.series.iter().zip(points) {
        if draw_series(&mut chart, series, points, size)? {
            labelled += 1;
        }
    }
    if labelled > 1 {
        draw_legend(&mut chart, plot.rising, size)?;
    }
    root.present()?;
    Ok(())
}

/// Each series' points that can be drawn: those with finite coordinates.
fn finite_points(plot: &Plot) -> Vec<Vec<(f64, f64)>> {
    plot.series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect()
}

/// The plot's title, saying so when there is nothing to draw yet.
fn caption(plot: &Plot) -> String {
    if plot.has_data() {
        plot.title.to_owned()
    } else {
        format!("{} (no data yet)", plot.title)
    }
}

/// The font of a piece of text `fraction` of the plot's height tall (at least 10 pixels).
fn text(size: PlotSize, fraction: f64) -> (&'static str, f64) {
    (font::FAMILY, (size.height as f64 * fraction).max(10.0))
}

/// The axes, their labels and the grid; `y_span` is the value axis' span.
fn draw_mesh(chart: &mut Chart, plot: &Plot, y_span: f64, size: PlotSize) -> DrawResult {
    let scientific = plot.scientific;
    let y_format = move |v: &f64| tick_label(*v, y_span, scientific);
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(plot.y_label)
        .label_style(text(size, 0.028))
        .axis_desc_style(text(size, 0.032))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&y_format)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    Ok(())
}

/// Draws one series' `points`; returns whether it has a legend entry.
fn draw_series(
    chart: &mut Chart,
    series: &Series,
    points: Vec<(f64, f64)>,
    size: PlotSize,
) -> DrawResult<bool> {
    if points.is_empty() {
        return Ok(false);
    }
    let color = series.color;
    if series.markers {
        let marker = (size.height / 150).max(2);
        chart.draw_series(
            points
                .iter()
                .map(|&p| Circle::new(p, marker, color.filled())),
        )?;
    }
    let drawn = match series.style {
        LineStyle::Faint => {
            chart.draw_series(LineSeries::new(points, color.mix(0.25).stroke_width(1)))?;
            return Ok(false);
        }
        LineStyle::Solid => chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?,
        LineStyle::Dashed => chart.draw_series(DashedLineSeries::new(
            points,
            (size.width / 80).max(4),
            (size.width / 160).max(3),
            color.stroke_width(2),
        ))?,
    };
    drawn
        .label(series.label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
    Ok(true)
}

/// The legend, bottom right for a `rising` plot and top right otherwise.
fn draw_legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, rising: bool, size: PlotSize) -> DrawResult {
    chart
        .configure_series_labels()
        .label_font(text(size, 0.028))
        .position(if rising {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        })
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// The range of `values` widened by `pad` of its span on each side (not below 0 when no value
/// is); a single value or none gets a range around it, so that an axis can always be drawn.
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if low > high {
        return (0.0, 1.0);
    }
    let span = high - low;
    let (start, end) = if span > 0.0 {
        (low - pad * span, high + pad * span)
    } else if low != 0.0 {
        let around = 0.1 * low.abs();
        (low - around, high + around)
    } else {
        (-1.0, 1.0)
    };
    if low >= 0.0 {
        (start.max(0.0), end)
    } else {
        (start, end)
    }
}

/// A tick label with as many decimals as an axis spanning `span` needs.
fn tick_label(value: f64, span: f64, scientific: bool) -> String {
    if scientific {
        return if value == 0.0 {
            "0".into()
        } else {
            format!("{value:.1e}")
        };
    }
    let decimals = if span >= 50.0 {
        0
    } else {
        (1.0 - span.log10().floor()).clamp(0.0, 6.0) as usize
    };
    format!("{value:.decimals$}")
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_tick_labels() {
        assert_eq!(padded_range([].into_iter(), 0.05), (0.0, 1.0));
        assert_eq!(padded_range([0.0].into_iter(), 0.05), (0.0, 1.0));
        assert_eq!(padded_range([-1.0, 1.0].into_iter(), 0.5), (-2.0, 2.0));
        let (low, high) = padded_range([2.0].into_iter(), 0.05);
        assert!(low < 2.0 && high > 2.0);
        assert_eq!(padded_range([1.0, 3.0].into_iter(), 0.25), (0.5, 3.5));
        assert_eq!(padded_range([1.0, 3.0].into_iter(), 1.0), (0.0, 5.0));
        assert_eq!(tick_label(1234.56, 800.0, false), "1235");
        assert_eq!(tick_label(0.126, 0.5, false), "0.13");
        assert_eq!(tick_label(0.001, 0.001, true), "1.0e-3");
    }

    #[test]
    fn a_plot_without_points_is_still_drawn() {
        let plot = Plot {
            file: "empty.png",
            title: "Empty",
            y_label: "nothing",
            series: vec![Series {
                label: "none",
                points: vec![(1.0, f64::NAN)],
                color: BLUE,
                markers: true,
                style: LineStyle::Solid,
            }],
            scientific: false,
            rising: false,
            steps: None,
        };
        assert!(!plot.has_data());
        let size = PlotSize {
            width: 300,
            height: 200,
        };
        let png = draw(&plot, size).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (300, 200));
        let too_small = PlotSize {
            width: 10,
            height: 200,
        };
        assert!(draw(&plot, too_small).is_err());
    }
}
