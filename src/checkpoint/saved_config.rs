//! The configuration a run directory saved (`config.toml`): what `--resume` compares a new one to.

use std::path::Path;

use anyhow::Result;

use crate::checkpoint::CONFIG_FILE;
use crate::config::TrainingConfig;

/// The configuration saved in `run_dir`, or `None` when it has none yet.
pub fn saved_config<C: TrainingConfig>(run_dir: &Path) -> Result<Option<C>> {
    let path = run_dir.join(CONFIG_FILE);
    if !path.exists() {
        return Ok(None);
    }
    crate::config::load(&path, Some(C::SECTION), &[]).map(Some)
}

/// The keys of `config` that differ from those saved in `run_dir` and that `--resume` may not
/// change; none when nothing is saved.
pub fn resume_conflicts<C: TrainingConfig>(
    config: &C,
    run_dir: &Path,
) -> Result<Vec<&'static str>> {
    Ok(match saved_config::<C>(run_dir)? {
        Some(saved) => config.resume_conflicts(&saved),
        None => Vec::new(),
    })
}
