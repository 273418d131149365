//! A training run's directory and what it holds: `config.toml`, `metrics.csv`, the validation
//! figures, and `checkpoints/`, each checkpoint with everything needed to resume (model,
//! optimizer, step, loader position and seed; the random state is reseeded from (seed, step) at
//! every step, so that is the RNG state) and the `tokenizer.json` the model was trained with, so
//! that a checkpoint directory alone can be evaluated.
//!
//! This layer sits under training, evaluation, export and reports: they all read runs, only
//! training writes them. `checkpoints/step-NNNNNNN/` holds `model.bpk`, `optimizer.bpk`,
//! `state.json` and `tokenizer.json`; `checkpoints/latest` names the newest.

mod load;
pub mod metrics;
mod prune;
mod save;
mod saved_config;
mod state;
pub mod trained;

pub use load::{
    checkpoints, describe_load_error, has_checkpoints, load_checkpoint, load_latest, load_order,
    resolve_checkpoint,
};
pub use prune::{checkpoints_to_prune, prune_checkpoints};
pub use save::{save_checkpoint, save_weights};
pub use saved_config::{resume_conflicts, saved_config};
pub use state::{TrainingState, latest_state, read_state};

/// The run's resolved configuration, as TOML.
pub const CONFIG_FILE: &str = "config.toml";
/// One row per step (see [`metrics`]).
pub const METRICS_FILE: &str = "metrics.csv";
/// The last validation's figures, as JSON.
pub const EVALUATION_FILE: &str = "valid.json";
/// A translation run's dev translations by its final model, one per line, beside the references.
pub const HYPOTHESES_FILE: &str = "valid.hyp";
pub const REFERENCES_FILE: &str = "valid.ref";
/// The checkpoints' directory inside a run directory.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The file in the checkpoints' directory that names the newest checkpoint.
pub const LATEST: &str = "latest";
pub const MODEL_FILE: &str = "model.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
pub const STATE_FILE: &str = "state.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
