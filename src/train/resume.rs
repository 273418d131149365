//! The decisions taken before a run starts: whether a run directory may be started, resumed or
//! continued with these settings and on these shards, or must be refused.

use std::path::Path;

use anyhow::{Result, bail};

use crate::checkpoint::{
    CHECKPOINTS_DIR, CONFIG_FILE, has_checkpoints, latest_state, resume_conflicts,
};
use crate::config::TrainingConfig;
use crate::data::manifest::manifest_sha256;
use crate::train::data_parallel::effective_batch_conflict;
use crate::train::run::TrainOptions;

/// Refuses to start over a run or to resume it with other settings (see [`check_run_directory`])
/// or another effective batch, then clears what a killed run may have left: temporary files of
/// interrupted writes (rank 0's, which alone writes).
pub fn prepare_run_directory<C: TrainingConfig>(config: &C, options: &TrainOptions) -> Result<()> {
    let conflicts = resume_conflicts(config, &options.run_dir)?;
    check_run_directory(&options.run_dir, options.resume, &conflicts)?;
    if options.resume {
        check_effective_batch(config, options)?;
    }
    if options.group.is_root() {
        crate::fsutil::remove_temporaries(&options.run_dir);
    }
    Ok(())
}

/// Refuses to resume a run whose newest checkpoint took another number of micro-batches a step
/// (its ranks times its `train.grad_accum`) than this one would.
fn check_effective_batch<C: TrainingConfig>(config: &C, options: &TrainOptions) -> Result<()> {
    let Some(state) = latest_state(&options.run_dir.join(CHECKPOINTS_DIR)) else {
        return Ok(());
    };
    let Ok(saved) = serde_json::from_value::<C>(state.config.clone()) else {
        return Ok(());
    };
    let saved = (state.world, saved.train().grad_accum);
    let now = (options.group.world(), config.train().grad_accum);
    if let Some(conflict) = effective_batch_conflict(saved, now) {
        bail!(
            "cannot resume {} at step {}: {conflict}",
            options.run_dir.display(),
            state.step
        );
    }
    Ok(())
}

/// Whether a checkpoint trained on the shards whose manifest hashed to `recorded` may resume on
/// shards whose manifest hashes to `current`: the same shards, or a checkpoint that recorded
/// none (written by `cloze import hf`, which saw no shards).
pub fn may_resume_on(recorded: &str, current: &str) -> bool {
    recorded.is_empty() || recorded == current
}

/// The sha256 of the manifest of `shards`, after refusing to resume `run_dir` on shards other
/// than those its newest checkpoint was trained on.
pub fn check_resume_shards(run_dir: &Path, shards: &Path, resume: bool) -> Result<String> {
    let current = manifest_sha256(shards)?;
    if resume
        && let Some(state) = latest_state(&run_dir.join(CHECKPOINTS_DIR))
        && !may_resume_on(&state.manifest_sha256, &current)
    {
        bail!(
            "cannot resume {}: the shards in {} were rewritten since its checkpoint; start a \
             new run (another --run-dir) or remove this one",
            run_dir.display(),
            shards.display()
        );
    }
    Ok(current)
}

/// Refuses to start over a run directory that holds checkpoints unless resuming, and to resume
/// with settings that conflict with the saved ones (`conflicts` lists the differing keys).
pub fn check_run_directory(run_dir: &Path, resume: bool, conflicts: &[&str]) -> Result<()> {
    if !has_checkpoints(&run_dir.join(CHECKPOINTS_DIR)) {
        return Ok(());
    }
    if !resume {
        bail!(
            "{} already holds a run; pass --resume to continue it, or choose another --run-dir",
            run_dir.display()
        );
    }
    if !conflicts.is_empty() {
        bail!(
            "cannot resume {}: {} differ from the run's {}; start a new run instead",
            run_dir.display(),
            conflicts.join(", "),
            run_dir.join(CONFIG_FILE).display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_resumes_only_on_the_shards_it_was_trained_on() {
        assert!(may_resume_on("abc", "abc"));
        assert!(!may_resume_on("abc", "abd"));
        // An imported checkpoint saw no shards: any will do.
        assert!(may_resume_on("", "abc"));
    }

    #[test]
    fn a_run_directory_with_checkpoints_is_resumed_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing there yet: starting is fine, with or without --resume.
        check_run_directory(dir.path(), false, &[]).unwrap();
        check_run_directory(dir.path(), true, &["train.lr"]).unwrap();
        std::fs::create_dir_all(dir.path().join(CHECKPOINTS_DIR).join("step-0000004")).unwrap();
        let fresh = check_run_directory(dir.path(), false, &[]).unwrap_err();
        assert!(fresh.to_string().contains("--resume"), "{fresh}");
        check_run_directory(dir.path(), true, &[]).unwrap();
        let changed = check_run_directory(dir.path(), true, &["train.lr", "model.size"])
            .unwrap_err()
            .to_string();
        assert!(changed.contains("train.lr, model.size differ"), "{changed}");
    }
}
