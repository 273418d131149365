//! Finding and loading checkpoints: `latest` first, then older complete ones with a warning, so
//! a damaged newest checkpoint costs some steps, not the run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;

use crate::checkpoint::{
    CHECKPOINTS_DIR, LATEST, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, TrainingState,
};
use crate::fsutil;

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
pub(crate) fn named_latest(dir: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(dir.join(LATEST)).ok()?;
    Some(dir.join(name.trim()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(|n| Path::new("ckpt").join(n)).collect()
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
