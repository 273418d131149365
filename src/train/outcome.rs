//! How a training run ended: what the loop hands its stage, and what the stage reports.

use std::path::{Path, PathBuf};

/// How a run ended, with the stage's final validation `V`.
#[derive(Clone, Debug)]
pub struct RunOutcome<V> {
    pub run_dir: PathBuf,
    /// The step the run started from (0, or the checkpoint it resumed).
    pub start_step: u64,
    /// Steps completed in all.
    pub steps: u64,
    /// Stopped before `train.steps` by a stop request.
    pub interrupted: bool,
    /// Validation at the end, when there is validation data and the run was not interrupted.
    pub valid: Option<V>,
    /// Tokens per second over this session's steps.
    pub tokens_per_s: f64,
    pub seconds: f64,
}

/// How the loop ended: the model after the last step, on the autodiff device.
pub struct RunResult<M> {
    pub model: M,
    pub start_step: u64,
    pub steps: u64,
    pub interrupted: bool,
    pub tokens_per_s: f64,
    pub seconds: f64,
}

impl<M> RunResult<M> {
    /// The outcome a stage reports, with its final validation.
    pub fn outcome<V>(&self, run_dir: &Path, valid: Option<V>) -> RunOutcome<V> {
        RunOutcome {
            run_dir: run_dir.to_owned(),
            start_step: self.start_step,
            steps: self.steps,
            interrupted: self.interrupted,
            valid,
            tokens_per_s: self.tokens_per_s,
            seconds: self.seconds,
        }
    }
}
