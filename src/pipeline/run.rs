//! `cloze run`: the stages of a pipeline in order, one line each saying what it did or that it was
//! up to date. `--from STAGE` forces that stage and every later one to run again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};

use crate::checkpoint::resume_conflicts;
use crate::config::TrainingConfig;
use crate::config::finetune::FinetuneConfig;
use crate::config::pretrain::PretrainConfig;
use crate::data::summary::{shard_lines, tokenizer_lines};
use crate::device::DeviceChoice;
use crate::hf::summary::import_lines;
use crate::pipeline::stamp::Stamp;
use crate::pipeline::training::{self, Plan, RunState};
use crate::pipeline::{
    EvalStage, ImportStage, Pipeline, ShardStage, Stage, TokenizerStage, TranslateStage, eval,
    run_import, run_shard, run_tokenizer, translate,
};
use crate::train::run::TrainOptions;
use crate::train::summary::{finetuning_lines, pretraining_lines};

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

/// Reads a pipeline file for `cloze run`, refusing a `from` stage it does not have.
pub fn load(path: &Path, overrides: &[String], from: Option<Stage>) -> Result<Pipeline> {
    let pipeline = Pipeline::load(path, overrides)?;
    if let Some(from) = from {
        pipeline
            .check_from(from)
            .with_context(|| path.display().to_string())?;
    }
    Ok(pipeline)
}

/// The line `cloze run` ends with: how the pipeline in `path` ended, and when.
pub fn ended_line(path: &Path, ended: Ended, seconds: f64) -> String {
    let status = match ended {
        Ended::Done => "done",
        Ended::Interrupted(_) => "stopped",
    };
    format!("{}: {status} in {seconds:.0}s", path.display())
}

/// Runs one stage, each of its lines said after its name; false when it was interrupted.
fn run_stage(
    pipeline: &Pipeline,
    stage: Stage,
    forced: bool,
    options: &RunOptions,
    say: &mut dyn FnMut(&str),
) -> Result<bool> {
    let say = &mut |line: &str| say(&format!("{stage}: {line}"));
    let listed = "a listed stage";
    match stage {
        Stage::Import => import(pipeline.import.as_ref().expect(listed), forced, say)?,
        Stage::Tokenizer => tokenizer(pipeline.tokenizer.as_ref().expect(listed), forced, say)?,
        Stage::Shard => shard(pipeline.shard.as_ref().expect(listed), forced, say)?,
        Stage::Pairs => shard(pipeline.pairs.as_ref().expect(listed), forced, say)?,
        Stage::Pretrain => {
            let config = pipeline.pretrain.as_ref().expect(listed);
            return pretrain(config, forced, options, say);
        }
        Stage::Eval => {
            let config = pipeline.eval.as_ref().expect(listed);
            let pretrain = pipeline.pretrain.as_ref().expect("checked on load");
            evaluate(config, pretrain, forced, options, say)?;
        }
        Stage::Finetune => {
            let config = pipeline.finetune.as_ref().expect(listed);
            return finetune(config, forced, options, say);
        }
        Stage::Translate => {
            let config = pipeline.translate.as_ref().expect(listed);
            let finetune = pipeline.finetune.as_ref().expect("checked on load");
            translate(config, finetune, forced, options, say)?;
        }
    }
    Ok(true)
}

fn import(config: &ImportStage, forced: bool, say: &mut dyn FnMut(&str)) -> Result<()> {
    let done = run_import(config, forced)?;
    say_data_stage(&config.out, done, |s| import_lines(&config.out, s), say);
    Ok(())
}

fn tokenizer(config: &TokenizerStage, forced: bool, say: &mut dyn FnMut(&str)) -> Result<()> {
    let done = run_tokenizer(config, forced)?;
    say_data_stage(&config.out, done, |r| tokenizer_lines(&config.out, r), say);
    Ok(())
}

fn shard(config: &ShardStage, forced: bool, say: &mut dyn FnMut(&str)) -> Result<()> {
    let done = run_shard(config, forced)?;
    say_data_stage(&config.out, done, |s| shard_lines(&config.out, s), say);
    Ok(())
}

/// Says what a data stage wrote (`lines` of its report), or that `out` was up to date (`None`).
fn say_data_stage<T>(
    out: &Path,
    done: Option<T>,
    lines: impl FnOnce(&T) -> Vec<String>,
    say: &mut dyn FnMut(&str),
) {
    match done {
        None => say(&format!("{} is up to date", out.display())),
        Some(report) => lines(&report).iter().for_each(|line| say(line)),
    }
}

fn evaluate(
    config: &EvalStage,
    pretrain: &PretrainConfig,
    forced: bool,
    options: &RunOptions,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let plan = eval::plan(config, pretrain)?;
    let up_to_date = !forced && plan.stamp.up_to_date(&plan.out);
    output_stage(&plan.out, up_to_date, say, || {
        let outcome = eval::run(config, &plan, options.device)?;
        Ok(eval::summary_line(config, &plan, &outcome))
    })
}

fn translate(
    config: &TranslateStage,
    finetune: &FinetuneConfig,
    forced: bool,
    options: &RunOptions,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let plan = translate::plan(config, finetune)?;
    let up_to_date = !forced && plan.stamp.up_to_date(&plan.out);
    output_stage(&plan.out, up_to_date, say, || {
        let report = translate::run(config, &plan, options.device)?;
        Ok(translate::summary_line(config, &plan, &report))
    })
}

/// A stage that writes one output file from a trained model: skipped, saying so, when it is up
/// to date; else `run` makes it and gives the line to print.
fn output_stage(
    out: &Path,
    up_to_date: bool,
    say: &mut dyn FnMut(&str),
    run: impl FnOnce() -> Result<String>,
) -> Result<()> {
    if up_to_date {
        say(&format!("{} is up to date", out.display()));
    } else {
        say(&run()?);
    }
    Ok(())
}

/// Decides what a training stage does with its run directory (see [`training::decide`]), says
/// so, and moves a run aside when it is to be trained afresh; false when it is up to date.
fn prepare_run(run: &TrainingRun, forced: bool, say: &mut dyn FnMut(&str)) -> Result<bool> {
    let TrainingRun {
        stage,
        run_dir,
        stamp,
        steps,
        conflicts,
    } = run;
    let (stage, steps, run_dir) = (*stage, *steps, run_dir.as_path());
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
                "{} is up to date (step {step})",
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
                "moved the previous run to {}; training {} afresh",
                to.display(),
                run_dir.display()
            ));
        }
        Plan::Fresh => say(&format!("training {}", run_dir.display())),
        Plan::Continue { step, changed } => say(&format!(
            "continuing {} from step {step}{}",
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

/// A training stage's run: where, from what (its stamp), how long, and the settings that differ
/// from the saved run's and may not.
struct TrainingRun {
    stage: Stage,
    run_dir: PathBuf,
    stamp: Stamp,
    steps: u64,
    conflicts: Vec<&'static str>,
}

impl TrainingRun {
    /// `saved` is the configuration the run saves (and compares when it continues).
    fn new<C: TrainingConfig>(
        stage: Stage,
        saved: &C,
        run_dir: PathBuf,
        stamp: Stamp,
        steps: u64,
    ) -> Result<Self> {
        let conflicts = resume_conflicts(saved, &run_dir)?;
        Ok(Self {
            stage,
            run_dir,
            stamp,
            steps,
            conflicts,
        })
    }
}

/// A training stage: skipped when its run is up to date, else trained by `train` (resuming what
/// is there), which says whether the run finished and what it prints; the stamp is recorded once
/// the run has checkpoints made from these inputs and settings.
fn training_stage(
    run: TrainingRun,
    forced: bool,
    options: &RunOptions,
    say: &mut dyn FnMut(&str),
    train: impl FnOnce(&TrainOptions) -> Result<(bool, Vec<String>)>,
) -> Result<bool> {
    if !prepare_run(&run, forced, say)? {
        return Ok(true);
    }
    let (finished, lines) = train(&TrainOptions {
        run_dir: run.run_dir.clone(),
        resume: true,
        device: options.device,
        stop: options.stop.clone(),
        group: std::rc::Rc::new(crate::parallel::SingleProcess),
    })?;
    run.stamp.record(&run.run_dir)?;
    lines.iter().for_each(|line| say(line));
    Ok(finished)
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
    let run = TrainingRun::new(
        Stage::Pretrain,
        &effective,
        run_dir,
        stamp,
        config.train.steps,
    )?;
    training_stage(run, forced, options, say, |train_options| {
        let outcome = crate::train::pretrain::pretrain(config, train_options)?;
        Ok((!outcome.interrupted, pretraining_lines(&outcome)))
    })
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
    let run = TrainingRun::new(Stage::Finetune, config, run_dir, stamp, config.train.steps)?;
    training_stage(run, forced, options, say, |train_options| {
        let outcome = crate::train::finetune::finetune(config, train_options)?;
        Ok((!outcome.interrupted, finetuning_lines(&outcome)))
    })
}
