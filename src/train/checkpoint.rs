//! Checkpoints that hold everything needed to resume: model, optimizer, step, loader position and
//! seed (with the random state reseeded from (seed, step) at every step, that is the RNG state).
//!
//! `DIR/step-NNNNNNN/` holds `model.bpk`, `optimizer.bpk` and `state.json`. It is written as a
//! temporary sibling and renamed when complete, then `DIR/latest` (which names it) is replaced
//! atomically, and all but the newest `keep` checkpoints are removed. Loading tries `latest`
//! first and falls back, with a warning, to older complete checkpoints.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::data::loader::LoaderPosition;
use crate::fsutil;
use crate::model::mlm::MlmModel;

pub const LATEST: &str = "latest";
const MODEL_FILE: &str = "model.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const STATE_FILE: &str = "state.json";

/// What a checkpoint records besides the tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Steps completed.
    pub step: u64,
    /// Real (non-padding) tokens trained on.
    #[serde(default)]
    pub tokens: u64,
    /// Where the loader resumes.
    pub loader: LoaderPosition,
    pub seed: u64,
    /// The sha256 of the shards' manifest.json: a run refuses to resume on other data.
    #[serde(default)]
    pub manifest_sha256: String,
    /// The resolved run configuration, kept verbatim.
    pub config: serde_json::Value,
}

fn checkpoint_name(step: u64) -> String {
    format!("step-{step:07}")
}

/// Writes a checkpoint into `dir` and returns its path.
pub fn save_checkpoint(
    dir: &Path,
    state: &TrainingState,
    model: &MlmModel,
    optimizer: &ModuleOptimizer,
    keep: usize,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".step-")
        .tempdir_in(dir)
        .with_context(|| format!("cannot create a temporary checkpoint in {}", dir.display()))?;
    model
        .clone()
        .save_file(tmp.path().join(MODEL_FILE))
        .map_err(|e| anyhow!("cannot write the model: {e:?}"))?;
    crate::fault::point("checkpoint-write", state.step);
    optimizer
        .save(tmp.path().join(OPTIMIZER_FILE))
        .map_err(|e| anyhow!("cannot write the optimizer state: {e:?}"))?;
    fsutil::write_atomic(
        &tmp.path().join(STATE_FILE),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )?;
    let name = checkpoint_name(state.step);
    let path = dir.join(&name);
    if path.exists() {
        std::fs::remove_dir_all(&path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
    }
    std::fs::rename(tmp.keep(), &path)
        .with_context(|| format!("cannot move {} into place", path.display()))?;
    fsutil::write_atomic(&dir.join(LATEST), name.as_bytes())?;
    for old in checkpoints(dir)?.into_iter().rev().skip(keep.max(1)) {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(path)
}

/// Complete checkpoint directories of `dir`, oldest first.
fn checkpoints(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("step-"))
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// Removes the temporary directories of checkpoints whose writing was cut short (a crash while
/// saving); only one run writes to a checkpoint directory.
fn remove_incomplete(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".step-") {
            tracing::warn!(
                "removing {}, a checkpoint whose writing was interrupted",
                entry.path().display()
            );
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether `dir` holds any complete checkpoint.
pub fn has_checkpoints(dir: &Path) -> bool {
    dir.exists() && checkpoints(dir).is_ok_and(|c| !c.is_empty())
}

fn load_one(
    path: &Path,
    model: MlmModel,
    optimizer: ModuleOptimizer,
) -> Result<(TrainingState, MlmModel, ModuleOptimizer)> {
    let state_path = path.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path)
        .with_context(|| format!("cannot read {}", state_path.display()))?;
    let state: TrainingState = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid training state", state_path.display()))?;
    let model = model
        .try_load_file(path.join(MODEL_FILE))
        .map_err(|e| anyhow!("{}: {e:?}", path.join(MODEL_FILE).display()))?;
    let optimizer = optimizer
        .load(path.join(OPTIMIZER_FILE))
        .map_err(|e| anyhow!("{}: {e:?}", path.join(OPTIMIZER_FILE).display()))?;
    Ok((state, model, optimizer))
}

/// Loads the newest loadable checkpoint of `dir` into the given fresh model and optimizer, or
/// `None` when there is none.
pub fn load_latest(
    dir: &Path,
    model: MlmModel,
    optimizer: impl Fn() -> ModuleOptimizer,
) -> Result<Option<(TrainingState, MlmModel, ModuleOptimizer)>> {
    if !dir.exists() {
        return Ok(None);
    }
    remove_incomplete(dir);
    let mut candidates = checkpoints(dir)?;
    candidates.reverse();
    if let Ok(name) = std::fs::read_to_string(dir.join(LATEST)) {
        let latest = dir.join(name.trim());
        candidates.retain(|c| c != &latest);
        candidates.insert(0, latest);
    }
    if candidates.is_empty() {
        return Ok(None);
    }
    for candidate in &candidates {
        match load_one(candidate, model.clone(), optimizer()) {
            Ok(loaded) => return Ok(Some(loaded)),
            Err(e) => tracing::warn!("skipping checkpoint {}: {e:#}", candidate.display()),
        }
    }
    // Starting afresh would overwrite them: a damaged run is for a person to look at.
    bail!(
        "none of the {} checkpoints in {} can be loaded (see the warnings above)",
        candidates.len(),
        dir.display()
    )
}

/// The training state of the newest checkpoint of `dir` whose state.json reads, without loading
/// any tensor: what a run checks before resuming.
pub fn latest_state(dir: &Path) -> Option<TrainingState> {
    let mut candidates = checkpoints(dir).ok()?;
    candidates.reverse();
    if let Ok(name) = std::fs::read_to_string(dir.join(LATEST)) {
        candidates.insert(0, dir.join(name.trim()));
    }
    candidates.iter().find_map(|c| {
        let text = std::fs::read_to_string(c.join(STATE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    })
}
