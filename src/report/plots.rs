//! The report's plots: one figure against the step per PNG (loss, accuracy, BLEU when
//! fine-tuning, learning rate, throughput), drawn by plotters into memory and encoded by `png`.

use anyhow::{Context, Result, anyhow, ensure};
use plotters::prelude::*;

use super::font;
use super::metrics_table::{MetricsTable, Task};

/// The size of every plot, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlotSize {
    pub width: u32,
    pub height: u32,
}

impl Default for PlotSize {
    fn default() -> Self {
        Self {
            width: 960,
            height: 540,
        }
    }
}

impl PlotSize {
    /// The sizes the plots' layout works at.
    pub const MIN: u32 = 200;
    pub const MAX: u32 = 8000;

    pub fn check(self) -> Result<Self> {
        for (name, value) in [("width", self.width), ("height", self.height)] {
            ensure!(
                (Self::MIN..=Self::MAX).contains(&value),
                "the plot {name} must be between {} and {} pixels, not {value}",
                Self::MIN,
                Self::MAX
            );
        }
        Ok(self)
    }
}

/// One line of a plot.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: &'static str,
    /// `(step, value)`; non-finite values are not drawn.
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Mark each point as well (sparse series: the validation steps).
    pub markers: bool,
    pub style: LineStyle,
}

/// How a series' line is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineStyle {
    Solid,
    /// Thin and pale, without a legend entry: the raw values behind a smoothed line.
    Faint,
    /// A reference level (the unigram baseline).
    Dashed,
}

/// The validation at the end of a pretraining run (`valid.json`), which metrics.csv lacks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FinalValidation {
    pub step: f64,
    pub accuracy: f64,
    pub mask_accuracy: f64,
    /// Top-1 at `[MASK]` of always predicting the most frequent training token.
    pub unigram_mask_accuracy: Option<f64>,
}

/// The trailing moving average of `points` over `window` points: what a noisy per-step curve
/// looks like once its noise is averaged out.
pub fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let mut sum = 0.0;
    let mut finite: std::collections::VecDeque<f64> = std::collections::VecDeque::new();
    points
        .iter()
        .map(|&(x, y)| {
            if y.is_finite() {
                finite.push_back(y);
                sum += y;
                if finite.len() > window {
                    sum -= finite.pop_front().expect("longer than the window");
                }
            }
            let mean = if finite.is_empty() {
                f64::NAN
            } else {
                sum / finite.len() as f64
            };
            (x, mean)
        })
        .collect()
}

/// The smoothing window for a run of `steps` logged steps: about a fiftieth of the run.
fn smoothing_window(steps: usize) -> usize {
    (steps / 50).clamp(1, 200)
}

/// One PNG file.
#[derive(Clone, Debug)]
pub struct Plot {
    /// The file name, e.g. `loss.png`.
    pub file: &'static str,
    pub title: &'static str,
    pub y_label: &'static str,
    pub series: Vec<Series>,
    /// Tick labels in scientific notation (the learning rate).
    pub scientific: bool,
    /// The legend goes bottom right, out of the way of a rising curve, rather than top right.
    pub rising: bool,
    /// The steps of the run, so that a sparse series is drawn against all of them.
    pub steps: Option<(f64, f64)>,
}

impl Plot {
    /// Whether any series has a value to draw.
    pub fn has_data(&self) -> bool {
        self.series
            .iter()
            .any(|s| s.points.iter().any(|(x, y)| x.is_finite() && y.is_finite()))
    }
}

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VALID: RGBColor = RGBColor(214, 39, 40);
const TASK: RGBColor = RGBColor(44, 160, 44);

const BASELINE: RGBColor = RGBColor(110, 110, 110);

/// The plots of a run: loss, accuracy, BLEU (fine-tuning runs), learning rate, tokens/s. The
/// noisy per-step loss and accuracy are drawn raw and faint, with a moving average over them;
/// `last`, the final validation of a pretraining run, adds its point and the unigram baseline.
pub fn plots_for(table: &MetricsTable, last: Option<FinalValidation>) -> Vec<Plot> {
    let train = |label, points| Series {
        label,
        points,
        color: TRAIN,
        markers: false,
        style: LineStyle::Solid,
    };
    let window = smoothing_window(table.train.len());
    let smoothed = |label, points: Vec<(f64, f64)>| {
        [
            Series {
                style: LineStyle::Faint,
                ..train(label, points.clone())
            },
            train(label, moving_average(&points, window)),
        ]
    };
    let steps = table
        .train
        .first()
        .zip(table.train.last())
        .map(|(first, last)| (first.step as f64, last.step as f64));
    let valid = |label, points, color| Series {
        label,
        points,
        color,
        markers: true,
        style: LineStyle::Solid,
    };
    // The final validation, unless metrics.csv has that step's validation already.
    let with_last = |mut points: Vec<(f64, f64)>, value: fn(&FinalValidation) -> f64| {
        if let Some(last) = last
            && points.last().is_none_or(|p| p.0 < last.step)
        {
            points.push((last.step, value(&last)));
        }
        points
    };
    let mut accuracy = smoothed("train accuracy", table.train_series(|s| s.accuracy)).to_vec();
    accuracy.push(valid(
        "valid accuracy",
        with_last(table.valid_series(|v| v.accuracy), |l| l.accuracy),
        VALID,
    ));
    if table.task == Task::Pretraining {
        accuracy.push(valid(
            table.task.extra_label(),
            with_last(table.valid_series(|v| v.extra), |l| l.mask_accuracy),
            TASK,
        ));
        if let (Some(unigram), Some((first, end))) =
            (last.and_then(|l| l.unigram_mask_accuracy), steps)
        {
            accuracy.push(Series {
                label: "unigram baseline at [MASK]",
                points: vec![(first, unigram), (end.max(first + 1.0), unigram)],
                color: BASELINE,
                markers: false,
                style: LineStyle::Dashed,
            });
        }
    }
    let mut loss = smoothed("train loss", table.train_series(|s| s.loss)).to_vec();
    loss.push(valid("valid loss", table.valid_series(|v| v.loss), VALID));
    let mut plots = vec![
        Plot {
            file: "loss.png",
            title: "Loss",
            y_label: "cross-entropy loss",
            series: loss,
            scientific: false,
            rising: false,
            steps,
        },
        Plot {
            file: "accuracy.png",
            title: match table.task {
                Task::Pretraining => "Top-1 accuracy at the selected positions",
                Task::Finetuning => "Top-1 token accuracy",
            },
            y_label: "accuracy",
            series: accuracy,
            scientific: false,
            rising: true,
            steps,
        },
    ];
    if table.task == Task::Finetuning {
        plots.push(Plot {
            file: "bleu.png",
            title: "Validation BLEU",
            y_label: "BLEU",
            series: vec![valid(
                table.task.extra_label(),
                table.valid_series(|v| v.extra),
                VALID,
            )],
            scientific: false,
            rising: true,
            steps,
        });
    }
    plots.push(Plot {
        file: "lr.png",
        title: "Learning rate",
        y_label: "learning rate",
        series: vec![train("learning rate", table.train_series(|s| s.lr))],
        scientific: true,
        rising: false,
        steps,
    });
    plots.push(Plot {
        file: "tokens_per_s.png",
        title: "Throughput",
        y_label: "tokens/s",
        series: vec![train("tokens/s", table.train_series(|s| s.tokens_per_s))],
        scientific: false,
        rising: false,
        steps,
    });
    plots
}

/// Draws `plot` and returns the PNG file's bytes.
pub fn draw(plot: &Plot, size: PlotSize) -> Result<Vec<u8>> {
    let size = size.check()?;
    font::register()?;
    let (width, height) = (size.width, size.height);
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    render(plot, &mut rgb, size).map_err(|e| anyhow!("cannot draw {}: {e}", plot.file))?;
    encode_png(&rgb, width, height).with_context(|| format!("cannot encode {}", plot.file))
}

fn render(
    plot: &Plot,
    rgb: &mut [u8],
    size: PlotSize,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let points: Vec<Vec<(f64, f64)>> = plot
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let all = || points.iter().flatten();
    let run_steps = plot
        .steps
        .into_iter()
        .flat_map(|(first, last)| [first, last]);
    let (x0, x1) = padded_range(all().map(|p| p.0).chain(run_steps), 0.0);
    let (y0, y1) = padded_range(all().map(|p| p.1), 0.05);

    let (width, height) = (size.width, size.height);
    let text = |fraction: f64| (font::FAMILY, (height as f64 * fraction).max(10.0));
    let root = BitMapBackend::with_buffer(rgb, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = if plot.has_data() {
        plot.title.to_owned()
    } else {
        format!("{} (no data yet)", plot.title)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, text(0.045))
        .margin((height / 40).max(5))
        .x_label_area_size(height / 9)
        .y_label_area_size(width / 9)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let y_span = y1 - y0;
    let scientific = plot.scientific;
    let y_format = move |v: &f64| tick_label(*v, y_span, scientific);
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(plot.y_label)
        .label_style(text(0.028))
        .axis_desc_style(text(0.032))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&y_format)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let marker = (height / 150).max(2);
    let mut labelled = 0;
    for (series, points) in plot.series.iter().zip(points) {
        if points.is_empty() {
            continue;
        }
        let color = series.color;
        if series.markers {
            chart.draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, marker, color.filled())),
            )?;
        }
        let drawn = match series.style {
            LineStyle::Faint => {
                chart.draw_series(LineSeries::new(points, color.mix(0.25).stroke_width(1)))?;
                continue;
            }
            LineStyle::Solid => {
                chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?
            }
            LineStyle::Dashed => chart.draw_series(DashedLineSeries::new(
                points,
                (width / 80).max(4),
                (width / 160).max(3),
                color.stroke_width(2),
            ))?,
        };
        drawn.label(series.label).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
        });
        labelled += 1;
    }
    if labelled > 1 {
        chart
            .configure_series_labels()
            .label_font(text(0.028))
            .position(if plot.rising {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperRight
            })
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
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
    fn the_moving_average_trails_over_its_window_and_skips_gaps() {
        let points = [
            (1.0, 1.0),
            (2.0, 3.0),
            (3.0, f64::NAN),
            (4.0, 5.0),
            (5.0, 7.0),
        ];
        let smoothed = moving_average(&points, 2);
        let means: Vec<f64> = smoothed.iter().map(|p| p.1).collect();
        assert_eq!(means, [1.0, 2.0, 2.0, 4.0, 6.0]);
        assert_eq!(smoothed[4].0, 5.0);
        assert_eq!(smoothing_window(800), 16);
        assert_eq!(smoothing_window(10), 1);
    }

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
                color: TRAIN,
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
