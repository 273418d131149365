//! The report's plots, as data: one figure against the step per PNG (loss, accuracy, BLEU when
//! fine-tuning, learning rate, throughput), and which of them a run gets, with which lines.
//! [`super::drawing`] draws them.

use anyhow::{Result, ensure};
use plotters::style::RGBColor;

use super::metrics_table::{MetricsTable, Task};
use super::smoothing::{moving_average, smoothing_window};

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
    let run = RunCurves {
        table,
        last,
        window: smoothing_window(table.train.len()),
        steps: table
            .train
            .first()
            .zip(table.train.last())
            .map(|(first, last)| (first.step as f64, last.step as f64)),
    };
    let mut plots = vec![run.loss(), run.accuracy()];
    if table.task == Task::Finetuning {
        plots.push(run.bleu());
    }
    plots.push(run.learning_rate());
    plots.push(run.throughput());
    plots
}

/// What a run's plots are drawn from.
struct RunCurves<'a> {
    table: &'a MetricsTable,
    last: Option<FinalValidation>,
    /// The moving average's window over the per-step curves.
    window: usize,
    /// The first and last logged step.
    steps: Option<(f64, f64)>,
}

impl RunCurves<'_> {
    fn loss(&self) -> Plot {
        let table = self.table;
        let mut loss = self.smoothed("train loss", table.train_series(|s| s.loss));
        loss.push(valid("valid loss", table.valid_series(|v| v.loss), VALID));
        self.plot("loss.png", "Loss", "cross-entropy loss", loss)
    }

    fn accuracy(&self) -> Plot {
        let table = self.table;
        let mut accuracy = self.smoothed("train accuracy", table.train_series(|s| s.accuracy));
        accuracy.push(valid(
            "valid accuracy",
            self.with_last(table.valid_series(|v| v.accuracy), |l| l.accuracy),
            VALID,
        ));
        if table.task == Task::Pretraining {
            accuracy.push(valid(
                table.task.extra_label(),
                self.with_last(table.valid_series(|v| v.extra), |l| l.mask_accuracy),
                TASK,
            ));
            accuracy.extend(self.unigram_baseline());
        }
        let title = match table.task {
            Task::Pretraining => "Top-1 accuracy at the selected positions",
            Task::Finetuning => "Top-1 token accuracy",
        };
        Plot {
            rising: true,
            ..self.plot("accuracy.png", title, "accuracy", accuracy)
        }
    }

    fn bleu(&self) -> Plot {
        let task = self.table.task;
        let bleu = valid(
            task.extra_label(),
            self.table.valid_series(|v| v.extra),
            VALID,
        );
        Plot {
            rising: true,
            ..self.plot("bleu.png", "Validation BLEU", "BLEU", vec![bleu])
        }
    }

    fn learning_rate(&self) -> Plot {
        let lr = train("learning rate", self.table.train_series(|s| s.lr));
        Plot {
            scientific: true,
            ..self.plot("lr.png", "Learning rate", "learning rate", vec![lr])
        }
    }

    fn throughput(&self) -> Plot {
        let tokens = train("tokens/s", self.table.train_series(|s| s.tokens_per_s));
        self.plot("tokens_per_s.png", "Throughput", "tokens/s", vec![tokens])
    }

    /// A plot with the run's steps, neither scientific nor rising.
    fn plot(
        &self,
        file: &'static str,
        title: &'static str,
        y_label: &'static str,
        series: Vec<Series>,
    ) -> Plot {
        Plot {
            file,
            title,
            y_label,
            series,
            scientific: false,
            rising: false,
            steps: self.steps,
        }
    }

    /// A per-step training curve drawn raw and faint, then its moving average.
    fn smoothed(&self, label: &'static str, points: Vec<(f64, f64)>) -> Vec<Series> {
        let average = moving_average(&points, self.window);
        vec![
            Series {
                style: LineStyle::Faint,
                ..train(label, points)
            },
            train(label, average),
        ]
    }

    /// `points` and the final validation's `value`, unless metrics.csv has that step's validation
    /// already.
    fn with_last(
        &self,
        mut points: Vec<(f64, f64)>,
        value: fn(&FinalValidation) -> f64,
    ) -> Vec<(f64, f64)> {
        if let Some(last) = self.last
            && points.last().is_none_or(|p| p.0 < last.step)
        {
            points.push((last.step, value(&last)));
        }
        points
    }

    /// The unigram baseline at `[MASK]` across the run, when the final validation has it.
    fn unigram_baseline(&self) -> Option<Series> {
        let unigram = self.last?.unigram_mask_accuracy?;
        let (first, end) = self.steps?;
        Some(Series {
            label: "unigram baseline at [MASK]",
            points: vec![(first, unigram), (end.max(first + 1.0), unigram)],
            color: BASELINE,
            markers: false,
            style: LineStyle::Dashed,
        })
    }
}

/// A training series: a line per logged step.
fn train(label: &'static str, points: Vec<(f64, f64)>) -> Series {
    Series {
        label,
        points,
        color: TRAIN,
        markers: false,
        style: LineStyle::Solid,
    }
}

/// A validation series: marked points on the steps that validated.
fn valid(label: &'static str, points: Vec<(f64, f64)>, color: RGBColor) -> Series {
    Series {
        label,
        points,
        color,
        markers: true,
        style: LineStyle::Solid,
    }
}
