//! `cloze run`: the stages of a pipeline in order, one line each saying what it did or that it was
//! up to date. `--from STAGE` forces that stage and every later one to run again.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};

use crate::checkpoint::resume_conflicts;
use crate::config::finetune::FinetuneConfig;
use crate::config::pretrain::PretrainConfig;
use crate::device::DeviceChoice;
use crate::pipeline::stamp::Stamp;
use crate::pipeline::training::{self, Plan, RunState};
use crate::pipeline::{Pipeline, Stage, eval, run_shard, run_tokenizer, translate};
use crate::train::run::TrainOptions;

/// How a pipeline is run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Force this stage and every later one to run again.
    pub from: Option<Stage>,
    /// Backend and device of the training and evaluation stages.
    pub device: DeviceChoice,
    /// Set (by Ctrl-C) to checkpoint the training stage after its current step and stop.
    pub stop: Arc<AtomicBool>,
}

/// How a pipeline run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every stage ran or was up to date.
    Done,
    /// A training stage was stopped (Ctrl-C) before its last step; the later stages did not run.
    Interrupted(Stage),
}

/// Runs the stages of `pipeline` in order; `say` gets one line (or a few) per stage.
pub fn run(pipeline: &Pipeline, options: &RunOptions, say: &mut dyn FnMut(&str)) -> Result<Ended> {
    if let Some(from) = options.from {
        pipeline.check_from(from)?;
    }
    for stage in pipeline.stages() {
        let forced = stage.forced_by(options.from);
        let finished =
            run_stage(pipeline, stage, forced, options, say).with_context(|| stage.name())?;
        if !finished {
            say(&format!(
                "{stage}: interrupted; `cloze run` again continues it, and runs the later stages"
            ));
            return Ok(Ended::Interrupted(stage));
        }
    }
    Ok(Ended::Done)
}

/// Runs one stage; false when it was interrupted.
fn run_stage(
    pipeline: &Pipeline,
    stage: Stage,
    forced: bool,
    options: &RunOptions,
    say: &mut dyn FnMut(&str),
) -> Result<bool> {
    match stage {
        Stage::Tokenizer => {
            let config = pipeline.tokenizer.as_ref().expect("a listed stage");
            match run_tokenizer(config, forced)? {
                None => say(&format!(
                    "tokenizer: {} is up to date",
                    config.out.display()
                )),
                Some(report) => say(&format!(
                    "tokenizer: wrote {} (vocab {}) from {:.1} MB in {:.1}s",
                    config.out.display(),
                    report.vocab_size,
                    report.bytes as f64 / 1e6,
                    report.seconds
                )),
            }
        }
        Stage::Shard | Stage::Pairs => {
            let config = if stage == Stage::Shard {
                &pipeline.shard
            } else {
                &pipeline.pairs
            };
            let config = config.as_ref().expect("a listed stage");
            match run_shard(config, forced)? {
                None => say(&format!("{stage}: {} is up to date", config.out.display())),
                Some(summary) => {
                    for (split, entries) in &summary.manifest.shards {
                        say(&format!(
                            "{stage}: {split}: {} shards, {} documents, {} tokens",
                            entries.len(),
                            entries.iter().map(|e| e.documents).sum::<u64>(),
                            entries.iter().map(|e| e.tokens).sum::<u64>()
                        ));
                    }
                }
            }
        }
        Stage::Pretrain => {
            let config = pipeline.pretrain.as_ref().expect("a listed stage");
            return pretrain(config, forced, options, say);
        }
        Stage::Eval => {
            let config = pipeline.eval.as_ref().expect("a listed stage");
            let pretrain = pipeline.pretrain.as_ref().expect("checked on load");
            let plan = eval::plan(config, pretrain)?;
            if !forced && plan.stamp.up_to_date(&plan.out) {
                say(&format!("eval: {} is up to date", plan.out.display()));
            } else {
                let outcome = eval::run(config, &plan, options.device)?;
                let report = outcome.evaluation.report();
                let figure = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
                say(&format!(
                    "eval: wrote {} (step {}, {} split, seed {}): top-1 {}, top-5 {}, loss {} at {} positions",
                    plan.out.display(),
                    outcome.step,
                    config.split,
                    config.seed,
                    figure(report.accuracy),
                    figure(report.top5),
                    figure(report.loss),
                    report.predictions
                ));
            }
        }
        Stage::Finetune => {
            let config = pipeline.finetune.as_ref().expect("a listed stage");
            return finetune(config, forced, options, say);
        }
        Stage::Translate => {
            let config = pipeline.translate.as_ref().expect("a listed stage");
            let finetune = pipeline.finetune.as_ref().expect("checked on load");
            let plan = translate::plan(config, finetune)?;
            if !forced && plan.stamp.up_to_date(&plan.out) {
                say(&format!("translate: {} is up to date", plan.out.display()));
            } else {
                let report = translate::run(config, &plan, options.device)?;
                say(&format!(
                    "translate: wrote {} (step {}, {} segments of {}, beam {}): BLEU {:.2}, chrF2 {:.2}",
                    plan.out.display(),
                    report.step,
                    report.segments,
                    config.input.display(),
                    config.beam,
                    report.bleu.score.score,
                    report.chrf.score.score
                ));
            }
        }
    }
    Ok(true)
}

/// Applies a training stage's [`Plan`] to its run directory; false when there is nothing to train.
/// Decides what a training stage does with its run directory (see [`training::decide`]), says
/// so, and moves a run aside when it is to be trained afresh; false when it is up to date.
fn prepare_run(
    stage: Stage,
    run_dir: &Path,
    stamp: &Stamp,
    steps: u64,
    conflicts: &[&'static str],
    forced: bool,
    say: &mut dyn FnMut(&str),
) -> Result<bool> {
    let recorded = Stamp::read(run_dir);
    let plan = training::decide(
        &RunState {
            forced,
            exists: run_dir.exists(),
            latest_step: training::latest_step(run_dir),
            steps,
            recorded: recorded.as_ref(),
            conflicts,
        },
        stamp,
    );
    match plan {
        Plan::UpToDate { step } => {
            say(&format!(
                "{stage}: {} is up to date (step {step})",
                run_dir.display()
            ));
            return Ok(false);
        }
        Plan::Refuse(why) => bail!(
            "{} cannot be reused: {why}. Nothing was changed; to train it afresh, run \
             again with `--from {stage}` (the old run is then moved to {}), or set \
             {stage}.run_dir to another directory",
            run_dir.display(),
            training::aside_path(run_dir).display()
        ),
        Plan::Restart => {
            let to = training::move_aside(run_dir)?;
            say(&format!(
                "{stage}: moved the previous run to {}; training {} afresh",
                to.display(),
                run_dir.display()
            ));
        }
        Plan::Fresh => say(&format!("{stage}: training {}", run_dir.display())),
        Plan::Continue { step, changed } => say(&format!(
            "{stage}: continuing {} from step {step}{}",
            run_dir.display(),
            if changed.is_empty() {
                String::new()
            } else {
                format!(" ({} changed)", changed.join(", "))
            }
        )),
    }
    Ok(true)
}

fn pretrain(
    config: &PretrainConfig,
    forced: bool,
    options: &RunOptions,
    say: &mut dyn FnMut(&str),
) -> Result<bool> {
    config.validate()?;
    let run_dir = config.run_dir.clone().expect("set on load");
    let stamp = training::pretrain_stamp(config)?;
    // The run saves the configuration it trains with: with `init`, the checkpoint's model.
    let (effective, _) = crate::train::pretrain::with_init_model(config)?;
    let conflicts = resume_conflicts(&effective, &run_dir)?;
    let steps = config.train.steps;
    if !prepare_run(
        Stage::Pretrain,
        &run_dir,
        &stamp,
        steps,
        &conflicts,
        forced,
        say,
    )? {
        return Ok(true);
    }
    let outcome = crate::train::pretrain::pretrain(
        config,
        &TrainOptions {
            run_dir: run_dir.clone(),
            resume: true,
            device: options.device,
            stop: options.stop.clone(),
        },
    )?;
    // Recorded once the run has checkpoints made from these inputs and settings.
    stamp.record(&run_dir)?;
    for line in training::pretraining_lines(&outcome) {
        say(&format!("pretrain: {line}"));
    }
    Ok(!outcome.interrupted)
}

fn finetune(
    config: &FinetuneConfig,
    forced: bool,
    options: &RunOptions,
    say: &mut dyn FnMut(&str),
) -> Result<bool> {
    config.validate()?;
    let run_dir = config.run_dir.clone().expect("set on load");
    let stamp = training::finetune_stamp(config)?;
    let conflicts = resume_conflicts(config, &run_dir)?;
    let steps = config.train.steps;
    if !prepare_run(
        Stage::Finetune,
        &run_dir,
        &stamp,
        steps,
        &conflicts,
        forced,
        say,
    )? {
        return Ok(true);
    }
    let outcome = crate::train::finetune::finetune(
        config,
        &TrainOptions {
            run_dir: run_dir.clone(),
            resume: true,
            device: options.device,
            stop: options.stop.clone(),
        },
    )?;
    stamp.record(&run_dir)?;
    for line in training::finetuning_lines(&outcome) {
        say(&format!("finetune: {line}"));
    }
    Ok(!outcome.interrupted)
}
