//! The command line's arguments: one clap struct per subcommand, and what its flags ask of the
//! library (options, configs, requests). `main.rs` passes them to the library.

pub mod data;
pub mod eval;
pub mod hf;
pub mod report;
pub mod train;

use clap::{Parser, Subcommand};

use data::{InspectArgs, ShardArgs, TokenizerCommand};
use eval::{EvalCommand, FillArgs, TranslateArgs};
use hf::{ExportCommand, ImportCommand};
use report::ReportArgs;
use train::{FinetuneArgs, PretrainArgs, RunArgs};

#[derive(Parser)]
#[command(
    name = "cloze",
    version,
    about = "Pretrain a Transformer encoder with masked-language modelling and reuse it for translation."
)]
pub struct Cli {
    /// Log level: error, warn, info, debug or trace (RUST_LOG overrides it).
    #[arg(long, global = true, default_value = "info")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train and manage tokenizers.
    #[command(subcommand)]
    Tokenizer(TokenizerCommand),
    /// Tokenize corpora into Arrow IPC shards with a manifest, split into train and valid by document.
    Shard(ShardArgs),
    /// Print masked batches as the model would see them, one JSON object per sequence.
    Inspect(InspectArgs),
    /// Pretrain the encoder with masked-language modelling, checkpointing as it goes.
    Pretrain(PretrainArgs),
    /// Run the stages of a pipeline file in order, skipping those whose outputs are up to date.
    Run(RunArgs),
    /// Evaluate: masked-token accuracy of a checkpoint, or BLEU and chrF of translations.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Print the most likely tokens, with their probabilities, at each [MASK] of a text.
    Fill(FillArgs),
    /// Fine-tune the pretrained encoder under a Transformer decoder for translation.
    Finetune(FinetuneArgs),
    /// Translate text with a fine-tuned checkpoint: one translation per output line.
    Translate(TranslateArgs),
    /// Export a checkpoint to another toolkit's format.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Import a model from another toolkit's format as a cloze checkpoint.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write report.html and PNG plots (loss, accuracy or BLEU, learning rate, tokens/s against
    /// the step) of a pretraining or fine-tuning run.
    Report(ReportArgs),
}
