//! What a run shows and records of its steps as it goes.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use crate::checkpoint::METRICS_FILE;
use crate::checkpoint::metrics::{MetricsLog, StepMetrics, ValidMetrics};
use crate::config::train_section::TrainSection;
use crate::parallel::ProcessGroup;
use crate::train::step::StepReport;

/// What a run shows and records of its steps: `metrics.csv`, the progress bar, and log lines
/// when standard error is not a terminal.
pub struct StepLog {
    /// None on the ranks other than 0, which record nothing.
    metrics: Option<MetricsLog>,
    pub bar: indicatif::ProgressBar,
    pub started: Instant,
    /// Tokens trained on before this session: the rate counts this session's only.
    pub tokens_at_start: u64,
    valid_column: &'static str,
    /// The run's length, and the steps between log lines.
    steps: u64,
    log_every: u64,
    /// This session's seconds in steps, and in sums over the job's ranks.
    step_seconds: f64,
    sync_seconds: f64,
}

impl StepLog {
    /// Opens `metrics.csv` in `run_dir` (dropping rows past `start`, the step resumed from) and
    /// starts the progress bar; the session's rate counts from `tokens`. Only rank 0 of `group`
    /// records and shows anything.
    pub fn open(
        run_dir: &Path,
        train: &TrainSection,
        start: u64,
        tokens: u64,
        valid_column: &'static str,
        group: &dyn ProcessGroup,
    ) -> Result<Self> {
        let (metrics, bar) = if group.is_root() {
            let path = run_dir.join(METRICS_FILE);
            let metrics = MetricsLog::open(&path, start, valid_column)?;
            (
                Some(metrics),
                crate::progress::steps_bar(train.steps, start),
            )
        } else {
            (None, indicatif::ProgressBar::hidden())
        };
        Ok(Self {
            metrics,
            bar,
            started: Instant::now(),
            tokens_at_start: tokens,
            valid_column,
            steps: train.steps,
            log_every: train.log_every,
            step_seconds: 0.0,
            sync_seconds: 0.0,
        })
    }

    /// Records step `step` (just taken, in `seconds`) with its validation, if it had one.
    pub fn step(
        &mut self,
        step: u64,
        tokens: u64,
        lr: f64,
        report: &StepReport,
        seconds: f64,
        valid: Option<&ValidMetrics>,
    ) -> Result<()> {
        let elapsed = self.started.elapsed().as_secs_f64();
        let session_rate = (tokens - self.tokens_at_start) as f64 / elapsed.max(1e-9);
        self.step_seconds += seconds;
        self.sync_seconds += report.sync_seconds;
        let Some(metrics) = &mut self.metrics else {
            return Ok(());
        };
        metrics.append(
            &StepMetrics {
                step,
                tokens,
                loss: report.loss,
                accuracy: report.accuracy,
                lr,
                grad_norm: report.grad_norm,
                tokens_per_s: report.tokens as f64 / seconds,
            },
            valid,
        )?;
        self.bar.set_position(step);
        self.bar.set_message(format!(
            "loss {:.3} acc {:.3} {:.0} tok/s",
            report.loss, report.accuracy, session_rate
        ));
        if self.bar.is_hidden()
            && (step.is_multiple_of(self.log_every.max(1)) || step == self.steps)
        {
            tracing::info!(
                "step {step}/{}: loss {:.4}, accuracy {:.4}, lr {lr:.2e}, grad norm {:.3}, {session_rate:.0} tokens/s",
                self.steps,
                report.loss,
                report.accuracy,
                report.grad_norm
            );
        }
        if let Some(v) = valid {
            self.bar.suspend(|| {
                tracing::info!(
                    "step {step}: valid loss {:.4}, accuracy {:.4}, {} {:.4}",
                    v.loss,
                    v.accuracy,
                    self.valid_column,
                    v.extra
                )
            });
        }
        Ok(())
    }

    /// Clears the progress bar and, in a job of several ranks, says what share of the session's
    /// step time went to sums over them.
    pub fn finish(&self, world: usize) {
        self.bar.finish_and_clear();
        if world > 1 && self.metrics.is_some() {
            tracing::info!(
                "{:.1}% of the steps' time went to summing over the {world} ranks (the gradients' \
                 all-reduce, waiting for the slowest rank included)",
                100.0 * self.sync_seconds / self.step_seconds.max(1e-9)
            );
        }
    }

    /// Warns of a skipped step, the `in_a_row`-th in a row.
    pub fn skipped(&self, step: u64, report: &StepReport, in_a_row: u64, limit: u64) {
        if self.metrics.is_none() {
            return;
        }
        self.bar.suspend(|| {
            tracing::warn!(
                "step {step}: loss {}, gradient norm {}: skipped, the weights are those of step {} \
                 ({in_a_row} such steps in a row; the run stops at {limit})",
                report.loss,
                report.grad_norm,
                step - in_a_row,
            )
        });
    }
}
