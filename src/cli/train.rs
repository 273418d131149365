//! The arguments of the training commands: `pretrain`, `finetune` and `run`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use cloze::config::TrainingConfig;
use cloze::config::finetune::{EncoderInit, FinetuneConfig};
use cloze::device::DeviceChoice;
use cloze::pipeline::Stage;

#[derive(Args)]
#[command(
    after_long_help = "The config keys, their defaults and their meaning are listed in the \
README, section `cloze pretrain`. Example:\n  cloze pretrain --config pipelines/quickstart.toml --set train.steps=200 --run-dir runs/try"
)]
pub struct PretrainArgs {
    /// A TOML file: a pipeline file (its [pretrain] table is used) or a pretraining config
    /// (tables [data], [model], [train], [masking]), such as a run's saved config.toml.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    pub run: TrainRunArgs,
}

#[derive(Args)]
#[command(
    after_long_help = "The config keys, their defaults and their meaning are listed in the \
README, section `cloze finetune`."
)]
pub struct FinetuneArgs {
    /// A TOML file: a pipeline file (its [finetune] table is used) or a fine-tuning config
    /// (tables [data], [model], [encoder], [train], [translation]).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Where the encoder comes from: `pretrained` (model.pretrained's weights) or `random` (the
    /// same architecture, random weights: the baseline). Overrides model.init.
    #[arg(long, value_enum, value_name = "INIT")]
    pub init: Option<EncoderInit>,
    #[command(flatten)]
    pub run: TrainRunArgs,
}

/// What `cloze pretrain` and `cloze finetune` share: the device, and where and how the run goes.
#[derive(Args)]
pub struct TrainRunArgs {
    /// Backend and device: flex (pure Rust CPU), tch-cpu (LibTorch CPU) or tch-cuda:N
    /// (LibTorch GPU N); tch-* need a binary built with `--features tch`.
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    pub device: DeviceChoice,
    /// Continue the run in the run directory from its latest checkpoint (starts afresh if it has
    /// none). Only the length of the run and how often it checkpoints, validates and logs may
    /// differ from the saved config.
    #[arg(long)]
    pub resume: bool,
    /// Override a config key, e.g. `--set train.steps=2000 --set train.lr=1e-3`; repeatable.
    /// Values are read as TOML, or as a string when they are not valid TOML.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Where the run is written: config.toml, metrics.csv, valid.json, checkpoints/. Default: the
    /// config's run_dir key, else runs/<config file name>.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
}

#[derive(Args)]
#[command(
    after_long_help = "Stages, in order: import, tokenizer, shard, pairs, pretrain, eval, \
finetune, translate. Each records what its output was made from (a sha256 of its settings and inputs) in \
<out>.stamp beside it, and is skipped, with a line saying so, when that has not changed. A \
training stage resumes an interrupted run and continues a finished one when only train.steps or \
the checkpoint/validation intervals changed; it refuses a run made from other inputs or other \
settings, and deletes nothing: --from STAGE then trains afresh after moving the old run \
directory to <run_dir>.prev (or .prev-2, ...). The keys of each table are listed in the README, \
section `cloze run`."
)]
pub struct RunArgs {
    /// A pipeline file, e.g. pipelines/quickstart.toml: [import], [tokenizer], [shard], [pairs],
    /// [pretrain], [eval], [finetune] and [translate] tables.
    pub pipeline: PathBuf,
    /// Run this stage and every later one again, even if up to date; a training stage among them
    /// trains afresh, its old run directory moved to <run_dir>.prev.
    #[arg(long, value_enum, value_name = "STAGE")]
    pub from: Option<Stage>,
    /// Backend and device of the training, evaluation and translation stages (as for `cloze
    /// pretrain --device`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    pub device: DeviceChoice,
    /// Override a key of the file, stage first: `--set pretrain.train.steps=100`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl TrainRunArgs {
    /// The stage's table of `config` (or the whole file, such as a run's saved config.toml), with
    /// the --set overrides.
    pub fn load<C: TrainingConfig>(&self, config: &Path) -> Result<C> {
        cloze::config::load(config, Some(C::SECTION), &self.overrides)
    }

    /// --run-dir, else the config's `run_dir`, else runs/<config file name>.
    pub fn run_dir(&self, configured: Option<PathBuf>, config: &Path) -> PathBuf {
        cloze::config::run_dir(self.run_dir.clone(), configured, config)
    }
}

impl FinetuneArgs {
    /// The `[finetune]` table of --config (or the whole file), with the --set overrides and
    /// --init.
    pub fn load_config(&self) -> Result<FinetuneConfig> {
        let mut config: FinetuneConfig = self.run.load(&self.config)?;
        if let Some(init) = self.init {
            config.model.init = init;
        }
        Ok(config)
    }
}
