//! The rule for deleting old checkpoints, kept apart from writing them: the newest `keep` stay.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::checkpoint::load::checkpoints;

/// The checkpoints to delete so that the newest `keep` (at least one) remain: all but the last
/// `keep` of `found`, which is sorted oldest first.
pub fn checkpoints_to_prune(found: &[PathBuf], keep: usize) -> &[PathBuf] {
    &found[..found.len().saturating_sub(keep.max(1))]
}

/// Removes the checkpoints of `dir` that [`checkpoints_to_prune`] names, oldest first; one that
/// cannot be removed is left with a warning. `step` is the step just saved (for fault injection).
pub fn prune_checkpoints(dir: &Path, keep: usize, step: u64) -> Result<()> {
    for old in checkpoints_to_prune(&checkpoints(dir)?, keep) {
        if let Err(e) = remove_checkpoint(old) {
            tracing::warn!("cannot remove the old checkpoint {}: {e:#}", old.display());
        }
        crate::fault::point("checkpoint-pruned", step);
    }
    Ok(())
}

/// Removes a checkpoint directory without ever leaving a partial one under a checkpoint's name:
/// it is renamed to a temporary name first (one that [`remove_incomplete`] also clears).
pub(crate) fn remove_checkpoint(path: &Path) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let doomed = path.with_file_name(format!(".{name}.removing"));
    std::fs::rename(path, &doomed).with_context(|| format!("cannot remove {}", path.display()))?;
    crate::fault::point("checkpoint-removing", 0);
    std::fs::remove_dir_all(&doomed).with_context(|| format!("cannot remove {}", doomed.display()))
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
}
