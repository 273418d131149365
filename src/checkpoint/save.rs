//! Writing a checkpoint: as a temporary sibling renamed into place when complete, then `latest`
//! replaced atomically, so that a crash at any moment leaves only complete checkpoints.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::module::Module;
use burn::optim::ModuleOptimizer;

use crate::checkpoint::prune::remove_checkpoint;
use crate::checkpoint::{LATEST, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, TrainingState};
use crate::data::tokenizer::TokenizerFiles;
use crate::fsutil;

fn checkpoint_name(step: u64) -> String {
    format!("step-{step:07}")
}

/// Writes a checkpoint into `dir`, with the files of the tokenizer the model was trained with, points `dir/latest` at it and returns its path. Removing old ones is
/// [`prune_checkpoints`](super::prune_checkpoints)'s job, not this one's.
pub fn save_checkpoint<M: Module>(
    dir: &Path,
    state: &TrainingState,
    model: &M,
    optimizer: &ModuleOptimizer,
    tokenizer: &TokenizerFiles,
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
    tokenizer.write_into(tmp.path())?;
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
    Ok(path)
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

/// Writes a checkpoint without optimizer state at `path` (which must not exist): weights to
/// start a run from or to evaluate, such as an imported model's. Written as a temporary sibling
/// and renamed when complete.
pub fn save_weights<M: Module>(
    path: &Path,
    state: &TrainingState,
    model: &M,
    tokenizer: &TokenizerFiles,
) -> Result<()> {
    let tmp = fsutil::temp_dir_beside(path, ".weights-")?;
    model
        .clone()
        .save_file(tmp.path().join(MODEL_FILE))
        .map_err(|e| anyhow!("cannot write the model: {e:?}"))?;
    tokenizer.write_into(tmp.path())?;
    fsutil::write_atomic(
        &tmp.path().join(STATE_FILE),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )?;
    std::fs::rename(tmp.keep(), path)
        .with_context(|| format!("cannot move {} into place", path.display()))
}
