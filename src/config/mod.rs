//! What a stage is asked to do: the configuration files (TOML with `--set` overrides, errors that
//! name the file, line and key) and the pretraining and fine-tuning stages' tables, every knob
//! with its default and its checks.
//!
//! It sits under the layers that train, evaluate, export and report, which all read a run's
//! saved configuration; it knows the model's and the masking's configurations, nothing above.

mod file;
pub mod finetune;
pub mod model_section;
pub mod precision;
pub mod pretrain;
pub mod schedule;
pub mod train_section;

pub use file::*;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A training stage's configuration (pretraining's or fine-tuning's): what a run directory saves
/// as `config.toml` and what `--resume` compares.
pub trait TrainingConfig: Serialize + DeserializeOwned {
    /// Its table in a pipeline file.
    const SECTION: &'static str;

    /// The keys that must match the saved configuration's for `--resume` to continue a run.
    fn resume_conflicts(&self, saved: &Self) -> Vec<&'static str>;

    /// Its `[train]` table.
    fn train(&self) -> &train_section::TrainSection;
}

/// The keys of `(key, same)` checks whose values differ.
pub fn differing(checks: impl IntoIterator<Item = (&'static str, bool)>) -> Vec<&'static str> {
    checks
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(key, _)| key)
        .collect()
}
