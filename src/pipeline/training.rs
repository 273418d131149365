//! The training stages, `[pretrain]` and `[finetune]`, and what they do with their run directory.
//!
//! A training stage's stamp (`<run_dir>.stamp`, beside the run directory) covers its config and
//! its inputs: for pretraining the shards' manifest and tokenizer, for fine-tuning the pair
//! shards' manifest and the pretrained checkpoint it starts from. Given the run directory as it
//! is, the stage ([`decide`]):
//!
//! - trains afresh when the run has no checkpoint yet;
//! - is up to date, and skipped, when the run is finished and its stamp matches;
//! - resumes when the stamp matches and the run is not finished (it was interrupted);
//! - continues the run when only settings that `--resume` accepts changed (a longer
//!   `train.steps`, other checkpoint or validation intervals), or when the run has no stamp (one
//!   trained before stamps, or by `cloze pretrain`: the training command's own checks apply);
//! - refuses, and says how to start again, when an input changed (other shards, another
//!   tokenizer, another pretrained checkpoint) or a setting `--resume` refuses (the model, the
//!   masking, the learning rate, ...). A trained run is never deleted to make way for another.
//!
//! `--from STAGE` (a forced stage) trains afresh after moving the old run directory aside, to
//! `<run_dir>.prev` (or `.prev-2`, `.prev-3`, ... when that is taken), with its stamp.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::checkpoint::{
    CHECKPOINTS_DIR, MODEL_FILE, STATE_FILE, latest_state, resolve_checkpoint,
};
use crate::config::finetune::FinetuneConfig;
use crate::config::pretrain::PretrainConfig;
use crate::data::manifest::{MANIFEST_FILE, Manifest};
use crate::pipeline::stamp::{Stamp, stamp_path};

/// What a training stage does with its run directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Finished, and made from these inputs and settings: skipped.
    UpToDate { step: u64 },
    /// No checkpoint yet: train from step 0.
    Fresh,
    /// Continue from the latest checkpoint; `changed` says why (empty: it was interrupted).
    Continue { step: u64, changed: Vec<String> },
    /// Forced by `--from`: move the run directory aside and train afresh.
    Restart,
    /// Refused, with the reason.
    Refuse(String),
}

/// What the stage knows about its run directory.
pub struct RunState<'a> {
    /// `--from` names this stage or an earlier one.
    pub forced: bool,
    /// The run directory exists.
    pub exists: bool,
    /// The step of its latest checkpoint, if any.
    pub latest_step: Option<u64>,
    /// `train.steps` of the config.
    pub steps: u64,
    /// The stamp recorded beside it, if any (and readable).
    pub recorded: Option<&'a Stamp>,
    /// The keys of the config that differ from the run's saved config.toml in a way `--resume`
    /// refuses.
    pub conflicts: &'a [&'static str],
}

/// Decides what a training stage does (see the module's documentation).
pub fn decide(state: &RunState, stamp: &Stamp) -> Plan {
    if state.forced {
        return if state.exists {
            Plan::Restart
        } else {
            Plan::Fresh
        };
    }
    let Some(step) = state.latest_step else {
        return Plan::Fresh;
    };
    match state.recorded {
        Some(recorded) if recorded == stamp => {
            if step >= state.steps {
                Plan::UpToDate { step }
            } else {
                Plan::Continue {
                    step,
                    changed: Vec::new(),
                }
            }
        }
        Some(recorded) if !stamp.changed_inputs(recorded).is_empty() => Plan::Refuse(format!(
            "its {} changed since it was trained",
            stamp.changed_inputs(recorded).join(" and ")
        )),
        _ if !state.conflicts.is_empty() => Plan::Refuse(format!(
            "{} differ from the run's config.toml",
            state.conflicts.join(", ")
        )),
        Some(recorded) => Plan::Continue {
            step,
            changed: recorded.changes(stamp),
        },
        None => Plan::Continue {
            step,
            changed: vec!["no stamp".to_owned()],
        },
    }
}

/// Where [`move_aside`] would put `run_dir`: `<run_dir>.prev`, or `.prev-N` for the first free N.
pub fn aside_path(run_dir: &Path) -> PathBuf {
    let name = run_dir.file_name().unwrap_or_default().to_string_lossy();
    let mut n = 1;
    loop {
        let candidate = run_dir.with_file_name(if n == 1 {
            format!("{name}.prev")
        } else {
            format!("{name}.prev-{n}")
        });
        if !candidate.exists() && !stamp_path(&candidate).exists() {
            return candidate;
        }
        n += 1;
    }
}

/// Moves a run directory (and its stamp) aside, out of the way of a fresh run; returns where.
pub fn move_aside(run_dir: &Path) -> Result<PathBuf> {
    let to = aside_path(run_dir);
    std::fs::rename(run_dir, &to).with_context(|| {
        format!(
            "cannot move {} aside to {}",
            run_dir.display(),
            to.display()
        )
    })?;
    let stamp = stamp_path(run_dir);
    if stamp.exists() {
        std::fs::rename(&stamp, stamp_path(&to))
            .with_context(|| format!("cannot move {} aside", stamp.display()))?;
    }
    Ok(to)
}

/// The run directory's state for [`decide`].
pub fn latest_step(run_dir: &Path) -> Option<u64> {
    latest_state(&run_dir.join(CHECKPOINTS_DIR)).map(|s| s.step)
}

/// The stamp of a pretraining stage: its config, the shards' manifest and their tokenizer, and
/// the checkpoint it starts from (`init`), if any.
pub fn pretrain_stamp(config: &PretrainConfig) -> Result<Stamp> {
    let shards = &config.data.shards;
    let manifest =
        Manifest::load(shards).with_context(|| format!("data.shards = {}", shards.display()))?;
    let mut inputs: Vec<(&str, PathBuf)> = vec![
        ("shards manifest", shards.join(MANIFEST_FILE)),
        ("tokenizer", manifest.tokenizer_path(shards)),
    ];
    if let Some(init) = &config.init {
        let checkpoint =
            resolve_checkpoint(init).with_context(|| format!("init = {}", init.display()))?;
        inputs.push(("init checkpoint state", checkpoint.join(STATE_FILE)));
        inputs.push(("init checkpoint model", checkpoint.join(MODEL_FILE)));
    }
    let named: Vec<(&str, &Path)> = inputs.iter().map(|(n, p)| (*n, p.as_path())).collect();
    Stamp::new(config, &named)
}

/// The stamp of a fine-tuning stage: its config, the pair shards' manifest and the pretrained
/// checkpoint it starts from (or takes its architecture from).
pub fn finetune_stamp(config: &FinetuneConfig) -> Result<Stamp> {
    let manifest = config.data.shards.join(MANIFEST_FILE);
    let mut inputs: Vec<(&str, PathBuf)> = vec![("pairs manifest", manifest)];
    if let Some(pretrained) = &config.model.pretrained {
        let checkpoint = resolve_checkpoint(pretrained)
            .with_context(|| format!("model.pretrained = {}", pretrained.display()))?;
        inputs.push(("pretrained checkpoint state", checkpoint.join(STATE_FILE)));
        inputs.push(("pretrained checkpoint model", checkpoint.join(MODEL_FILE)));
    }
    let named: Vec<(&str, &Path)> = inputs.iter().map(|(n, p)| (*n, p.as_path())).collect();
    Stamp::new(config, &named)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamps() -> (tempfile::TempDir, Stamp, Stamp, Stamp) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("manifest.json");
        std::fs::write(&input, "a").unwrap();
        let old = Stamp::new(&("config", 100), &[("shards manifest", &input)]).unwrap();
        let longer = Stamp::new(&("config", 200), &[("shards manifest", &input)]).unwrap();
        std::fs::write(&input, "b").unwrap();
        let rewritten = Stamp::new(&("config", 100), &[("shards manifest", &input)]).unwrap();
        (dir, old, longer, rewritten)
    }

    fn state<'a>(
        latest_step: Option<u64>,
        recorded: Option<&'a Stamp>,
        conflicts: &'a [&'static str],
    ) -> RunState<'a> {
        RunState {
            forced: false,
            exists: latest_step.is_some(),
            latest_step,
            steps: 100,
            recorded,
            conflicts,
        }
    }

    #[test]
    fn a_training_stage_skips_resumes_continues_or_refuses() {
        let (_dir, old, longer, rewritten) = stamps();
        // Nothing trained yet.
        assert_eq!(decide(&state(None, None, &[]), &old), Plan::Fresh);
        assert_eq!(decide(&state(None, Some(&longer), &[]), &old), Plan::Fresh);
        // Finished and stamped: skipped; interrupted: resumed.
        assert_eq!(
            decide(&state(Some(100), Some(&old), &[]), &old),
            Plan::UpToDate { step: 100 }
        );
        assert_eq!(
            decide(&state(Some(40), Some(&old), &[]), &old),
            Plan::Continue {
                step: 40,
                changed: vec![]
            }
        );
        // A setting --resume accepts: continued.
        let mut s = state(Some(100), Some(&old), &[]);
        s.steps = 200;
        assert_eq!(
            decide(&s, &longer),
            Plan::Continue {
                step: 100,
                changed: vec!["settings".into()]
            }
        );
        // A setting --resume refuses, or another input: refused.
        let Plan::Refuse(why) = decide(&state(Some(100), Some(&old), &["model"]), &longer) else {
            panic!()
        };
        assert!(why.contains("model differ"), "{why}");
        let Plan::Refuse(why) = decide(&state(Some(100), Some(&old), &[]), &rewritten) else {
            panic!()
        };
        assert!(why.contains("shards manifest changed"), "{why}");
        // A run without a stamp is continued (the training command checks it).
        assert_eq!(
            decide(&state(Some(100), None, &[]), &old),
            Plan::Continue {
                step: 100,
                changed: vec!["no stamp".into()]
            }
        );
        assert!(matches!(
            decide(&state(Some(100), None, &["masking"]), &old),
            Plan::Refuse(_)
        ));
        // --from: the run is moved aside, whatever its stamp.
        let mut s = state(Some(100), Some(&old), &[]);
        s.forced = true;
        assert_eq!(decide(&s, &old), Plan::Restart);
        let mut s = state(None, None, &[]);
        s.forced = true;
        assert_eq!(decide(&s, &old), Plan::Fresh);
    }

    #[test]
    fn a_run_is_moved_aside_with_its_stamp_and_never_over_another() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        for expected in ["run.prev", "run.prev-2", "run.prev-3"] {
            std::fs::create_dir_all(run.join("checkpoints")).unwrap();
            std::fs::write(run.join("metrics.csv"), expected).unwrap();
            std::fs::write(stamp_path(&run), expected).unwrap();
            let to = move_aside(&run).unwrap();
            assert_eq!(to, dir.path().join(expected));
            assert!(!run.exists() && !stamp_path(&run).exists());
            assert_eq!(
                std::fs::read_to_string(to.join("metrics.csv")).unwrap(),
                expected
            );
            assert_eq!(std::fs::read_to_string(stamp_path(&to)).unwrap(), expected);
        }
    }
}
