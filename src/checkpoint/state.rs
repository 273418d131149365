//! What a checkpoint records besides its tensors (`state.json`), and reading it without loading
//! any tensor.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::checkpoint::STATE_FILE;
use crate::checkpoint::load::{checkpoints, load_order, named_latest};
use crate::model::precision::Precision;

/// What a checkpoint records besides the tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Steps completed.
    pub step: u64,
    /// Real (non-padding) tokens trained on.
    #[serde(default)]
    pub tokens: u64,
    /// Where the data stream resumes (a pretraining loader's or a pair stream's position).
    pub loader: serde_json::Value,
    pub seed: u64,
    /// The sha256 of the shards' manifest.json: a run refuses to resume on other data.
    #[serde(default)]
    pub manifest_sha256: String,
    /// The sha256 of the tokenizer.json saved with the model (empty in older checkpoints).
    #[serde(default)]
    pub tokenizer_sha256: String,
    /// The resolved run configuration, kept verbatim.
    pub config: serde_json::Value,
    /// The ranks of the data-parallel job that trained it (1 in older checkpoints): with the
    /// configuration's `train.grad_accum`, the micro-batches of each step.
    #[serde(default = "one_rank")]
    pub world: usize,
    /// What the steps computed in (`train.precision` resolved on the machine; absent in older
    /// checkpoints and in imported ones): what a resumed `auto` run keeps.
    #[serde(default)]
    pub precision: Option<Precision>,
}

fn one_rank() -> usize {
    1
}

/// The training state of a checkpoint directory.
pub fn read_state(checkpoint: &Path) -> Result<TrainingState> {
    let path = checkpoint.join(STATE_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid training state", path.display()))
}

/// The training state of the newest checkpoint of `dir` whose state.json reads, without loading
/// any tensor: what a run checks before resuming.
pub fn latest_state(dir: &Path) -> Option<TrainingState> {
    let candidates = load_order(&checkpoints(dir).ok()?, named_latest(dir));
    candidates.iter().find_map(|c| {
        let text = std::fs::read_to_string(c.join(STATE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    })
}
