//! Checkpoints that hold everything needed to resume: model, optimizer, step, loader position and
//! seed (with the random state reseeded from (seed, step) at every step, that is the RNG state).
//!
//! `DIR/step-NNNNNNN/` holds `model.bpk`, `optimizer.bpk`, `state.json` and the `tokenizer.json`
//! the model was trained with, so that a checkpoint directory alone can be evaluated. It is written as a
//! temporary sibling and renamed when complete, then `DIR/latest` (which names it) is replaced
//! atomically, and all but the newest `keep` checkpoints are removed. Loading tries `latest`
//! first and falls back, with a warning, to older complete checkpoints.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::fsutil;

pub const LATEST: &str = "latest";
/// The checkpoints' directory inside a run directory.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
pub const MODEL_FILE: &str = "model.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
pub const STATE_FILE: &str = "state.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

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
}

fn checkpoint_name(step: u64) -> String {
    format!("step-{step:07}")
}

/// Writes a checkpoint into `dir`, with the bytes of the tokenizer.json the model was trained
/// with, and returns its path.
pub fn save_checkpoint<M: Module>(
    dir: &Path,
    state: &TrainingState,
    model: &M,
    optimizer: &ModuleOptimizer,
    tokenizer_json: &[u8],
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
    crate::fault::write_error("checkpoint-disk-full", state.step)
        .with_context(|| format!("cannot write {}", tmp.path().join(OPTIMIZER_FILE).display()))?;
    save_optimizer(optimizer, &tmp.path().join(OPTIMIZER_FILE))
        .map_err(|e| anyhow!("cannot write the optimizer state: {e}"))?;
    fsutil::write_atomic(&tmp.path().join(TOKENIZER_FILE), tokenizer_json)?;
    fsutil::write_atomic(
        &tmp.path().join(STATE_FILE),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )?;
    let name = checkpoint_name(state.step);
    let path = dir.join(&name);
    if path.exists() {
        remove_checkpoint(&path)?;
    }
    std::fs::rename(tmp.keep(), &path)
        .with_context(|| format!("cannot move {} into place", path.display()))?;
    crate::fault::point("checkpoint-renamed", state.step);
    fsutil::write_atomic(&dir.join(LATEST), name.as_bytes())?;
    prune_checkpoints(dir, keep, state.step)?;
    Ok(path)
}

/// The checkpoints to delete so that the newest `keep` (at least one) remain: all but the last
/// `keep` of `found`, which is sorted oldest first.
pub fn checkpoints_to_prune(found: &[PathBuf], keep: usize) -> &[PathBuf] {
    &found[..found.len().saturating_sub(keep.max(1))]
}

/// Removes the checkpoints of `dir` that [`checkpoints_to_prune`] names, oldest first; one that
/// cannot be removed is left with a warning. `step` is the step just saved (for fault injection).
fn prune_checkpoints(dir: &Path, keep: usize, step: u64) -> Result<()> {
    for old in checkpoints_to_prune(&checkpoints(dir)?, keep) {
        if let Err(e) = remove_checkpoint(old) {
            tracing::warn!("cannot remove the old checkpoint {}: {e:#}", old.display());
        }
        crate::fault::point("checkpoint-pruned", step);
    }
    Ok(())
}

/// The order in which to try the checkpoints of a directory: the one `latest` names first (it
/// may be missing or damaged: then the next one is tried), then the others newest first.
/// `found` is sorted oldest first.
pub fn load_order(found: &[PathBuf], latest: Option<PathBuf>) -> Vec<PathBuf> {
    let mut order: Vec<PathBuf> = found.iter().rev().cloned().collect();
    if let Some(latest) = latest {
        order.retain(|c| c != &latest);
        order.insert(0, latest);
    }
    order
}

/// The checkpoint that `dir/latest` names, if the file reads.
fn named_latest(dir: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(dir.join(LATEST)).ok()?;
    Some(dir.join(name.trim()))
}

/// Writes the optimizer state with its tensors sorted by name. burn lists them in the order of a
/// hash map seeded at random per process, so two runs of one recipe would write different bytes.
fn save_optimizer(optimizer: &ModuleOptimizer, path: &Path) -> Result<()> {
    let bytes = optimizer.into_bytes().map_err(|e| anyhow!("{e:?}"))?;
    let reader = burn_pack::Reader::from_bytes(bytes).map_err(|e| anyhow!("{e:?}"))?;
    let (scalars, metadata) = (reader.scalars().clone(), reader.metadata().clone());
    let mut tensors = reader.into_tensors().map_err(|e| anyhow!("{e:?}"))?;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut writer = burn_pack::Writer::new(tensors);
    for (key, value) in &scalars {
        writer = writer.with_scalar(key, *value);
    }
    for (key, value) in &metadata {
        writer = writer.with_metadata(key, value);
    }
    writer.write_to_file(path).map_err(|e| anyhow!("{e:?}"))
}

/// The training state of a checkpoint directory.
pub fn read_state(checkpoint: &Path) -> Result<TrainingState> {
    let path = checkpoint.join(STATE_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid training state", path.display()))
}

/// Writes a checkpoint without optimizer state at `path` (which must not exist): weights to
/// start a run from or to evaluate, such as an imported model's. Written as a temporary sibling
/// and renamed when complete.
pub fn save_weights<M: Module>(
    path: &Path,
    state: &TrainingState,
    model: &M,
    tokenizer_json: &[u8],
) -> Result<()> {
    let tmp = fsutil::temp_dir_beside(path, ".weights-")?;
    model
        .clone()
        .save_file(tmp.path().join(MODEL_FILE))
        .map_err(|e| anyhow!("cannot write the model: {e:?}"))?;
    fsutil::write_atomic(&tmp.path().join(TOKENIZER_FILE), tokenizer_json)?;
    fsutil::write_atomic(
        &tmp.path().join(STATE_FILE),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )?;
    std::fs::rename(tmp.keep(), path)
        .with_context(|| format!("cannot move {} into place", path.display()))
}

/// Removes a checkpoint directory without ever leaving a partial one under a checkpoint's name:
/// it is renamed to a temporary name first (one that [`remove_incomplete`] also clears).
fn remove_checkpoint(path: &Path) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let doomed = path.with_file_name(format!(".{name}.removing"));
    std::fs::rename(path, &doomed).with_context(|| format!("cannot remove {}", path.display()))?;
    crate::fault::point("checkpoint-removing", 0);
    std::fs::remove_dir_all(&doomed).with_context(|| format!("cannot remove {}", doomed.display()))
}

/// Complete checkpoint directories of `dir`, oldest first.
pub fn checkpoints(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("step-"))
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// Removes what a crash can leave in a checkpoint directory: checkpoints half written or half
/// removed (`.step-*`) and temporary files (`.*.tmp`). Only one run writes to a checkpoint
/// directory.
fn remove_incomplete(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".step-") {
            tracing::warn!(
                "removing {}, a checkpoint whose writing or removal was interrupted",
                entry.path().display()
            );
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    fsutil::remove_temporaries(dir);
}

/// Whether `dir` holds any complete checkpoint.
pub fn has_checkpoints(dir: &Path) -> bool {
    dir.exists() && checkpoints(dir).is_ok_and(|c| !c.is_empty())
}

/// burn's error for weights that do not fit the model lists every tensor; the first mismatch
/// and a count say enough.
pub fn describe_load_error(debug: &str) -> String {
    let mismatches: Vec<&str> = debug
        .split("\\\"")
        .filter(|part| part.contains("shape mismatch"))
        .collect();
    match mismatches.first() {
        Some(first) => format!(
            "the weights do not fit the model the checkpoint's config describes (another model \
             size?): {first}{}",
            if mismatches.len() > 1 {
                format!(", and {} more tensors", mismatches.len() - 1)
            } else {
                String::new()
            }
        ),
        None => format!("cannot load the model: {debug}"),
    }
}

/// Loads one checkpoint directory into the given fresh model and optimizer.
pub fn load_checkpoint<M: Module>(
    path: &Path,
    model: M,
    optimizer: ModuleOptimizer,
) -> Result<(TrainingState, M, ModuleOptimizer)> {
    let state_path = path.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path)
        .with_context(|| format!("cannot read {}", state_path.display()))?;
    let state: TrainingState = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid training state", state_path.display()))?;
    let model = model.try_load_file(path.join(MODEL_FILE)).map_err(|e| {
        anyhow!(
            "{}: {}",
            path.join(MODEL_FILE).display(),
            describe_load_error(&format!("{e:?}"))
        )
    })?;
    let optimizer = optimizer
        .load(path.join(OPTIMIZER_FILE))
        .map_err(|e| anyhow!("{}: {e:?}", path.join(OPTIMIZER_FILE).display()))?;
    Ok((state, model, optimizer))
}

/// Loads the newest loadable checkpoint of `dir` into the given fresh model and optimizer, or
/// `None` when there is none.
pub fn load_latest<M: Module>(
    dir: &Path,
    model: M,
    optimizer: impl Fn() -> ModuleOptimizer,
) -> Result<Option<(TrainingState, M, ModuleOptimizer)>> {
    if !dir.exists() {
        return Ok(None);
    }
    remove_incomplete(dir);
    let candidates = load_order(&checkpoints(dir)?, named_latest(dir));
    if candidates.is_empty() {
        return Ok(None);
    }
    for candidate in &candidates {
        match load_checkpoint(candidate, model.clone(), optimizer()) {
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

/// The checkpoint that `path` names: a checkpoint directory itself (it holds state.json), a
/// directory of checkpoints (its `latest`, else its newest), or a run directory (its
/// `checkpoints/`, likewise).
pub fn resolve_checkpoint(path: &Path) -> Result<PathBuf> {
    if path.join(STATE_FILE).is_file() {
        return Ok(path.to_owned());
    }
    if !path.is_dir() {
        bail!("{}: no such checkpoint or run directory", path.display());
    }
    let dir = if path.join(CHECKPOINTS_DIR).is_dir() {
        path.join(CHECKPOINTS_DIR)
    } else {
        path.to_owned()
    };
    if let Ok(name) = std::fs::read_to_string(dir.join(LATEST)) {
        let latest = dir.join(name.trim());
        if latest.join(STATE_FILE).is_file() {
            return Ok(latest);
        }
        tracing::warn!(
            "{} names {}, which is not a complete checkpoint; using the newest one",
            dir.join(LATEST).display(),
            latest.display()
        );
    }
    match checkpoints(&dir)?.pop() {
        Some(newest) => Ok(newest),
        None => bail!(
            "{}: not a checkpoint (no {STATE_FILE}), nor a run or checkpoints directory holding one",
            path.display()
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(|n| Path::new("ckpt").join(n)).collect()
    }

    #[test]
    fn pruning_keeps_the_newest_and_never_the_last_one() {
        let found = paths(&["step-0000004", "step-0000008", "step-0000012"]);
        assert_eq!(
            checkpoints_to_prune(&found, 2),
            &paths(&["step-0000004"])[..]
        );
        assert_eq!(
            checkpoints_to_prune(&found, 1),
            &paths(&["step-0000004", "step-0000008"])[..]
        );
        assert_eq!(
            checkpoints_to_prune(&found, 0),
            checkpoints_to_prune(&found, 1)
        );
        assert!(checkpoints_to_prune(&found, 3).is_empty());
        assert!(checkpoints_to_prune(&found, 10).is_empty());
        assert!(checkpoints_to_prune(&[], 2).is_empty());
    }

    #[test]
    fn loading_tries_latest_first_then_the_others_newest_first() {
        let found = paths(&["step-0000004", "step-0000008", "step-0000012"]);
        // No `latest` file: newest first.
        assert_eq!(
            load_order(&found, None),
            paths(&["step-0000012", "step-0000008", "step-0000004"])
        );
        // `latest` names an older checkpoint (a newer one was renamed into place, then the run
        // died before `latest` moved): it is still tried first.
        assert_eq!(
            load_order(&found, Some(Path::new("ckpt").join("step-0000008"))),
            paths(&["step-0000008", "step-0000012", "step-0000004"])
        );
        // `latest` names a checkpoint that is gone: tried first (it fails), then the rest.
        assert_eq!(
            load_order(&found, Some(Path::new("ckpt").join("step-0000016"))),
            paths(&[
                "step-0000016",
                "step-0000012",
                "step-0000008",
                "step-0000004"
            ])
        );
        assert!(load_order(&[], None).is_empty());
    }
}
