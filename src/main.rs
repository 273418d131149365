//! The `cloze` command line: parses arguments and calls the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use cloze::data::corpus::{DEFAULT_MAX_LINE_BYTES, DocBoundary, ReadOptions};
use cloze::data::loader::{LoaderConfig, SequenceStream, ShardSet};
use cloze::data::masking::MaskingConfig;
use cloze::data::position::LoaderPosition;
use cloze::data::prepare::{ShardOptions, write_shards};
use cloze::data::tokenizer::{ClozeTokenizer, Normalization, TokenizerConfig, train_tokenizer};
use cloze::device::DeviceChoice;
use cloze::eval::bleu::{corpus_bleu, corpus_chrf};
use cloze::eval::checkpoint_mlm::{MlmEvalData, MlmEvalRequest, evaluate_checkpoint};
use cloze::eval::fill::fill_mask;
use cloze::eval::segments::read_segments;
use cloze::model::search::SearchConfig;
use cloze::pipeline::{self, Pipeline};
use cloze::report::plots::PlotSize;
use cloze::report::{ReportOptions, write_report};
use cloze::train::config::PretrainConfig;
use cloze::train::finetune::{FinetuneOptions, FinetuneOutcome};
use cloze::train::finetune_config::{EncoderInit, FinetuneConfig};
use cloze::train::pretrain::{PretrainOptions, PretrainOutcome};
use cloze::train::run::NonFiniteLoss;
use cloze::train::trained::{TrainedModel, TrainedTranslator};

/// The exit status of a run stopped by too many non-finite steps in a row (1 is any other error,
/// 2 a usage error, 130 a second Ctrl-C).
const EXIT_NONFINITE: i32 = 3;

#[derive(Parser)]
#[command(
    name = "cloze",
    version,
    about = "Pretrain a Transformer encoder with masked-language modelling and reuse it for translation."
)]
struct Cli {
    /// Log level: error, warn, info, debug or trace (RUST_LOG overrides it).
    #[arg(long, global = true, default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

#[derive(Subcommand)]
enum ExportCommand {
    /// A HuggingFace BertForMaskedLM directory: config.json, model.safetensors, tokenizer.json,
    /// vocab.txt, tokenizer_config.json and special_tokens_map.json.
    ///
    /// The model must have been pretrained with `model.arch = "bert"`. In Python,
    /// `BertForMaskedLM.from_pretrained(OUT)` and `AutoTokenizer.from_pretrained(OUT)` load it.
    Hf(ExportHfArgs),
}

#[derive(Args)]
struct ExportHfArgs {
    /// A checkpoint of `cloze pretrain` (a step directory, or a run directory: its latest).
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// The directory to write; it must not exist or be empty, unless --overwrite.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace the files of a non-empty --out (once the new ones are complete).
    #[arg(long)]
    overwrite: bool,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A HuggingFace BERT directory (config.json, model.safetensors, tokenizer.json) as a cloze
    /// checkpoint directory.
    ///
    /// The tokenizer must be a fast tokenizer (tokenizer.json) with cloze's special tokens at
    /// ids 0 to 6 ([PAD] [UNK] [CLS] [SEP] [MASK] [BOS] [EOS]), as every cloze vocabulary and
    /// every `cloze export hf` has. The checkpoint works with `cloze fill`, `cloze eval mlm` and
    /// `cloze export hf`; set `init = "OUT"` in a pretraining config to continue pretraining it.
    Hf(ImportHfArgs),
}

#[derive(Args)]
struct ImportHfArgs {
    /// The HuggingFace model directory (as written by `save_pretrained`).
    #[arg(long = "from", value_name = "DIR")]
    from: PathBuf,
    /// The checkpoint directory to write; it must not exist.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Args)]
#[command(
    after_long_help = "Reads RUN_DIR/metrics.csv (required), config.toml, and valid.json, eval.json \
and translate.json when present. Writes report.html with loss.png, accuracy.png, bleu.png \
(fine-tuning runs), lr.png and tokens_per_s.png beside it. A run still training, or one that was \
interrupted, is reported as far as it got. Example:\n  cloze report runs/quickstart"
)]
struct ReportArgs {
    /// A run directory of `cloze pretrain` or `cloze finetune`.
    #[arg(value_name = "RUN_DIR")]
    run_dir: PathBuf,
    /// Where report.html and the plots are written (created if missing). Default: RUN_DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Width of each plot, in pixels (200 to 8000).
    #[arg(long, default_value_t = PlotSize::default().width, value_name = "PIXELS")]
    width: u32,
    /// Height of each plot, in pixels (200 to 8000).
    #[arg(long, default_value_t = PlotSize::default().height, value_name = "PIXELS")]
    height: u32,
}

#[derive(Args)]
#[command(
    after_long_help = "The config keys, their defaults and their meaning are listed in the \
README, section `cloze finetune`."
)]
struct FinetuneArgs {
    /// A TOML file: a pipeline file (its [finetune] table is used) or a fine-tuning config
    /// (tables [data], [model], [encoder], [train], [translation]).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Where the encoder comes from: `pretrained` (model.pretrained's weights) or `random` (the
    /// same architecture, random weights: the baseline). Overrides model.init.
    #[arg(long, value_enum, value_name = "INIT")]
    init: Option<EncoderInit>,
    /// Backend and device (as for `cloze pretrain --device`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    device: DeviceChoice,
    /// Continue the run from its latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Override a config key, e.g. `--set train.steps=2000`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Where the run is written. Default: the config's run_dir, else runs/<config file name>.
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["texts", "input"])))]
struct TranslateArgs {
    /// A checkpoint of `cloze finetune` (a step directory, or a run directory: its latest).
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// Hypotheses kept per sentence; 1 is greedy search.
    #[arg(long, default_value_t = 4, value_name = "K")]
    beam: usize,
    /// Finished hypotheses are ranked by log-probability / length^A (0 favours short outputs).
    #[arg(long, default_value_t = 1.0, value_name = "A")]
    length_penalty: f64,
    /// Tokens generated at most per sentence, [EOS] included (default and maximum: the model's
    /// train.seq_len - 1).
    #[arg(long, value_name = "N")]
    max_len: Option<usize>,
    /// Sentences decoded together.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Translate the lines of this file (UTF-8) instead of TEXT.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Backend and device (as for `cloze pretrain --device`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    device: DeviceChoice,
    /// Sentences to translate. Sources longer than the model's train.seq_len are cut to fit,
    /// with a warning naming the line.
    #[arg(value_name = "TEXT")]
    texts: Vec<String>,
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Masked-token accuracy: top-1, top-5, loss and perplexity, by replacement kind and script.
    ///
    /// The masks are drawn with a fixed seed, so the same command gives the same figures.
    Mlm(EvalMlmArgs),
    /// Corpus BLEU (sacreBLEU's defaults: 13a tokenization, exp smoothing) and chrF (character
    /// 6-grams, beta 2) of translations against references, one segment per line.
    Bleu(EvalBleuArgs),
}

#[derive(Args)]
struct EvalBleuArgs {
    /// The translations, one per line.
    #[arg(long, value_name = "FILE")]
    hyp: PathBuf,
    /// The references, one per line, as many lines as --hyp.
    #[arg(long = "ref", value_name = "FILE")]
    reference: PathBuf,
    /// Print one JSON object ({"bleu": {...}, "chrf": {...}}) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum TokenizerCommand {
    /// Train a WordPiece vocabulary (one for Korean and English) and write tokenizer.json.
    Train(TrainTokenizerArgs),
}

/// How input files are read (all commands that take --input).
#[derive(Args)]
struct ReadArgs {
    /// Column to read from tabular inputs (.tsv, .csv, .parquet, .jsonl); repeat for several, which
    /// then form one document per row. Default: the file's only text column. Ignored for .txt.
    #[arg(long = "column", value_name = "NAME")]
    columns: Vec<String>,
    /// Document boundaries in .txt inputs: `auto` uses blank lines if the file has any, else lines.
    #[arg(long, value_enum, default_value_t = DocBoundary::Auto)]
    doc_boundary: DocBoundary,
    /// Lines longer than this many bytes are skipped with a warning and counted in the summary.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES, value_name = "BYTES")]
    max_line_bytes: usize,
}

impl ReadArgs {
    fn options(&self) -> ReadOptions {
        ReadOptions {
            columns: self.columns.clone(),
            max_line_bytes: self.max_line_bytes,
            doc_boundary: self.doc_boundary,
        }
    }
}

#[derive(Args)]
struct TrainTokenizerArgs {
    /// Input files: .txt (one sentence a line, blank line between documents), .tsv, .csv,
    /// .parquet, .jsonl, each optionally gzip-compressed.
    #[arg(long = "input", required = true, num_args = 1.., value_name = "FILE")]
    inputs: Vec<PathBuf>,
    /// Vocabulary size, the 7 special tokens included.
    #[arg(long, default_value_t = TokenizerConfig::default().vocab_size)]
    vocab_size: usize,
    /// Pieces seen fewer times than this are not added.
    #[arg(long, default_value_t = TokenizerConfig::default().min_frequency)]
    min_frequency: u64,
    /// Unicode normalization: `nfd` splits Hangul into jamo (almost no [UNK]), `nfc` keeps syllables.
    #[arg(long, value_enum, default_value_t = Normalization::default())]
    normalization: Normalization,
    /// Lowercase all text (decoding then gives lowercase text back).
    #[arg(long)]
    lowercase: bool,
    /// Where to write tokenizer.json.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct ShardArgs {
    /// The tokenizer.json to encode with; it is copied into the output directory.
    #[arg(long, value_name = "FILE")]
    tokenizer: PathBuf,
    /// Input files (formats as for `tokenizer train`).
    #[arg(long = "input", required = true, num_args = 1.., value_name = "FILE")]
    inputs: Vec<PathBuf>,
    /// Files held out whole in the valid split (a dev set), beside --valid-fraction of --input.
    #[arg(long = "valid-input", num_args = 1.., value_name = "FILE")]
    valid_inputs: Vec<PathBuf>,
    /// Output directory: train/shard-NNNNN.arrow, valid/..., manifest.json, tokenizer.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Source column of translation pairs; with --tgt-column, writes pair shards (src_ids, tgt_ids).
    #[arg(long, requires = "tgt_column", value_name = "NAME")]
    src_column: Option<String>,
    /// Target column of translation pairs.
    #[arg(long, requires = "src_column", value_name = "NAME")]
    tgt_column: Option<String>,
    /// Fraction of documents held out in the valid split (whole documents, chosen by hash).
    #[arg(long, default_value_t = 0.01)]
    valid_fraction: f64,
    /// Seed of the train/valid split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Rows per shard; a shard closes at the first document boundary past this.
    #[arg(long, default_value_t = 100_000)]
    rows_per_shard: usize,
    /// Replace the output directory if it exists (only once the new shards are complete).
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct InspectArgs {
    /// A directory written by `cloze shard`.
    #[arg(long, value_name = "DIR")]
    shards: PathBuf,
    /// Which split to read.
    #[arg(long, default_value = "train")]
    split: String,
    /// Sequence length, [CLS] and [SEP] included.
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// How many batches to print.
    #[arg(long, default_value_t = 1)]
    batches: usize,
    /// Seed of the shard/document order and of the masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of candidate tokens selected for prediction.
    #[arg(long, default_value_t = MaskingConfig::default().mask_prob)]
    mask_prob: f64,
    /// Select whole words (all pieces of a word or none).
    #[arg(long)]
    whole_word: bool,
    /// Read documents and sequences in stored order instead of the seeded shuffle.
    #[arg(long)]
    no_shuffle: bool,
}

#[derive(Args)]
#[command(
    after_long_help = "The config keys, their defaults and their meaning are listed in the \
README, section `cloze pretrain`. Example:\n  cloze pretrain --config pipelines/quickstart.toml --set train.steps=200 --run-dir runs/try"
)]
struct PretrainArgs {
    /// A TOML file: a pipeline file (its [pretrain] table is used) or a pretraining config
    /// (tables [data], [model], [train], [masking]), such as a run's saved config.toml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Backend and device: flex (pure Rust CPU), tch-cpu (LibTorch CPU) or tch-cuda:N
    /// (LibTorch GPU N); tch-* need a binary built with `--features tch`.
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    device: DeviceChoice,
    /// Continue the run in the run directory from its latest checkpoint (starts afresh if it has
    /// none). Only the length of the run and how often it checkpoints, validates and logs may
    /// differ from the saved config.
    #[arg(long)]
    resume: bool,
    /// Override a config key, e.g. `--set train.steps=2000 --set model.pre_ln=true`; repeatable.
    /// Values are read as TOML, or as a string when they are not valid TOML.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Where the run is written: config.toml, metrics.csv, valid.json, checkpoints/. Default: the
    /// config's run_dir key, else runs/<config file name>.
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
}

#[derive(Args)]
#[command(
    after_long_help = "Stages, in order: tokenizer, shard, pairs, pretrain, eval, finetune, \
translate. Each records what its output was made from (a sha256 of its settings and inputs) in \
<out>.stamp beside it, and is skipped, with a line saying so, when that has not changed. A \
training stage resumes an interrupted run and continues a finished one when only train.steps or \
the checkpoint/validation intervals changed; it refuses a run made from other inputs or other \
settings, and deletes nothing: --from STAGE then trains afresh after moving the old run \
directory to <run_dir>.prev (or .prev-2, ...). The keys of each table are listed in the README, \
section `cloze run`."
)]
struct RunArgs {
    /// A pipeline file, e.g. pipelines/quickstart.toml: [tokenizer], [shard], [pairs], [pretrain],
    /// [eval], [finetune] and [translate] tables.
    pipeline: PathBuf,
    /// Run this stage and every later one again, even if up to date; a training stage among them
    /// trains afresh, its old run directory moved to <run_dir>.prev.
    #[arg(long, value_enum, value_name = "STAGE")]
    from: Option<pipeline::Stage>,
    /// Backend and device of the training, evaluation and translation stages (as for `cloze
    /// pretrain --device`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    device: DeviceChoice,
    /// Override a key of the file, stage first: `--set pretrain.train.steps=100`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("data").required(true).args(["shards", "inputs"])))]
struct EvalMlmArgs {
    /// A checkpoint directory (checkpoints/step-NNNNNNN), or a run directory (its latest
    /// checkpoint).
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// Evaluate a split of these shards (written by `cloze shard` with the checkpoint's tokenizer).
    #[arg(long, value_name = "DIR")]
    shards: Option<PathBuf>,
    /// The split of --shards to evaluate.
    #[arg(long, default_value = "valid", requires = "shards")]
    split: String,
    /// Evaluate raw text instead (formats as for `cloze shard`): tokenized with the checkpoint's
    /// tokenizer and packed as in training. Lines that cannot be read are skipped and reported.
    #[arg(long = "input", num_args = 1.., value_name = "FILE")]
    inputs: Vec<PathBuf>,
    /// The tokenizer; by default the one saved in the checkpoint. Another one is refused.
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// Seed of the masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of tokens selected for prediction (default: the checkpoint's masking.mask_prob).
    #[arg(long, value_name = "P")]
    mask_prob: Option<f64>,
    /// Sequences per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Sequence length, [CLS] and [SEP] included (default and maximum: the checkpoint's
    /// train.seq_len).
    #[arg(long, value_name = "N")]
    seq_len: Option<usize>,
    /// Stop after this many batches (0: evaluate everything).
    #[arg(long, default_value_t = 0, value_name = "N")]
    max_batches: usize,
    /// Backend and device (as for `cloze pretrain --device`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    device: DeviceChoice,
    /// Print one JSON object (predictions, accuracy, top5, loss, perplexity, by_kind, by_script)
    /// instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct FillArgs {
    /// A checkpoint directory, or a run directory (its latest checkpoint).
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// How many candidates to print for each [MASK].
    #[arg(long, default_value_t = 5, value_name = "K")]
    top_k: usize,
    /// The tokenizer; by default the one saved in the checkpoint. Another one is refused.
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// Backend and device (as for `cloze pretrain --device`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    device: DeviceChoice,
    /// Print one JSON object per text (text, tokens, masks with their candidates, filled).
    #[arg(long)]
    json: bool,
    /// Texts with one or more [MASK], e.g. "the [MASK] of the lord".
    #[arg(required = true, value_name = "TEXT")]
    texts: Vec<String>,
}

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
    if let Err(error) = run(cli.command) {
        eprintln!("error: {error:#}");
        let diverged = error.chain().any(|e| e.is::<NonFiniteLoss>());
        std::process::exit(if diverged { EXIT_NONFINITE } else { 1 });
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Tokenizer(TokenizerCommand::Train(args)) => tokenizer_train(args),
        Command::Shard(args) => shard(args),
        Command::Inspect(args) => inspect(args),
        Command::Pretrain(args) => pretrain(args),
        Command::Run(args) => run_pipeline(args),
        Command::Eval(EvalCommand::Mlm(args)) => eval_mlm(args),
        Command::Eval(EvalCommand::Bleu(args)) => eval_bleu(args),
        Command::Fill(args) => fill(args),
        Command::Finetune(args) => finetune(args),
        Command::Translate(args) => translate(args),
        Command::Export(ExportCommand::Hf(args)) => export_hf(args),
        Command::Import(ImportCommand::Hf(args)) => import_hf(args),
        Command::Report(args) => report(args),
    }
}

fn export_hf(args: ExportHfArgs) -> Result<()> {
    let summary = cloze::hf::export::export_hf(&args.checkpoint, &args.out, args.overwrite)?;
    eprintln!(
        "exported {} (step {}): {} tensors, {} parameters",
        summary.checkpoint.display(),
        summary.step,
        summary.tensors,
        summary.parameters
    );
    for file in &summary.files {
        eprintln!("wrote {}", file.display());
    }
    Ok(())
}

fn import_hf(args: ImportHfArgs) -> Result<()> {
    let summary = cloze::hf::import::import_hf(&args.from, &args.out)?;
    if !summary.ignored.is_empty() {
        eprintln!(
            "ignored {} tensors a masked-LM model has no use for: {}",
            summary.ignored.len(),
            summary.ignored.join(", ")
        );
    }
    let m = &summary.config.model;
    eprintln!(
        "wrote {}: BERT, d_model {}, {} layers, {} heads, d_ff {}, {} positions, {} parameters",
        args.out.display(),
        m.d_model.unwrap_or_default(),
        m.n_layers.unwrap_or_default(),
        m.n_heads.unwrap_or_default(),
        m.d_ff.unwrap_or_default(),
        m.max_positions.unwrap_or_default(),
        summary.parameters
    );
    eprintln!(
        "continue pretraining with init = \"{}\" in the [pretrain] table (its [model] table is \
         taken from the checkpoint)",
        args.out.display()
    );
    Ok(())
}

fn tokenizer_train(args: TrainTokenizerArgs) -> Result<()> {
    let config = TokenizerConfig {
        vocab_size: args.vocab_size,
        min_frequency: args.min_frequency,
        normalization: args.normalization,
        lowercase: args.lowercase,
    };
    let report = train_tokenizer(&args.inputs, &args.read.options(), &config, &args.out)?;
    for source in &report.sources {
        if let Some(summary) = source.skipped_summary() {
            eprintln!("{summary}");
        }
    }
    eprintln!(
        "wrote {} (vocab {}) from {} segments, {:.1} MB in {:.1}s",
        args.out.display(),
        report.vocab_size,
        report.segments,
        report.bytes as f64 / 1e6,
        report.seconds
    );
    Ok(())
}

fn shard(args: ShardArgs) -> Result<()> {
    let options = ShardOptions {
        tokenizer: args.tokenizer,
        inputs: args.inputs,
        valid_inputs: args.valid_inputs,
        out: args.out.clone(),
        read: args.read.options(),
        pair_columns: args.src_column.zip(args.tgt_column),
        valid_fraction: args.valid_fraction,
        seed: args.seed,
        rows_per_shard: args.rows_per_shard,
        overwrite: args.overwrite,
    };
    let summary = write_shards(&options)?;
    for source in &summary.manifest.sources {
        if let Some(skipped) = source.skipped_summary() {
            eprintln!("{skipped}");
        }
    }
    for (split, entries) in &summary.manifest.shards {
        eprintln!(
            "{split}: {} shards, {} documents, {} rows, {} tokens",
            entries.len(),
            entries.iter().map(|e| e.documents).sum::<u64>(),
            entries.iter().map(|e| e.rows).sum::<u64>(),
            entries.iter().map(|e| e.tokens).sum::<u64>()
        );
    }
    eprintln!(
        "wrote {} from {:.1} MB of text in {:.1}s",
        args.out.display(),
        summary.text_bytes as f64 / 1e6,
        summary.seconds
    );
    Ok(())
}

fn inspect(args: InspectArgs) -> Result<()> {
    let config = LoaderConfig {
        split: args.split,
        seq_len: args.seq_len,
        batch_size: args.batch_size,
        seed: args.seed,
        masking: MaskingConfig {
            mask_prob: args.mask_prob,
            whole_word: args.whole_word,
            ..MaskingConfig::default()
        },
        shuffle: !args.no_shuffle,
        epochs: Some(1),
        ..LoaderConfig::default()
    };
    let set = ShardSet::open(&args.shards, &config)?;
    let tokenizer = ClozeTokenizer::load(&set.manifest().tokenizer_path(&args.shards))?;
    let mut stream = SequenceStream::new(Arc::new(set), config, LoaderPosition::default());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = (|| -> Result<()> {
        for _ in 0..args.batches {
            let Some(batch) = stream.next_batch()? else {
                break;
            };
            for row in 0..batch.batch_size {
                let line = batch.sequence_json(row, |id| tokenizer.token(id));
                serde_json::to_writer(&mut out, &line)?;
                writeln!(out)?;
            }
        }
        out.flush().context("cannot write to standard output")
    })();
    match written {
        // The reader stopped early (`cloze inspect | head`): that is not an error.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
    })
}

/// A flag that the first Ctrl-C sets (the run checkpoints and stops); a second one exits at once.
fn stop_on_interrupt() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: exiting without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: writing a checkpoint after this step (Ctrl-C again to quit now)");
    });
    if let Err(e) = installed {
        tracing::warn!(
            "cannot catch Ctrl-C ({e}); an interrupted run resumes from its last checkpoint"
        );
    }
    stop
}

fn pretrain(args: PretrainArgs) -> Result<()> {
    let config: PretrainConfig =
        cloze::config::load(&args.config, Some("pretrain"), &args.overrides)?;
    let options = PretrainOptions {
        run_dir: run_directory(args.run_dir, config.run_dir.clone(), &args.config),
        resume: args.resume,
        device: args.device,
        stop: stop_on_interrupt(),
    };
    let outcome = cloze::train::pretrain::pretrain(&config, &options)?;
    report_pretraining(&outcome);
    Ok(())
}

/// `--run-dir`, else the config's `run_dir`, else `runs/<config file name>`.
fn run_directory(flag: Option<PathBuf>, configured: Option<PathBuf>, config: &Path) -> PathBuf {
    flag.or(configured)
        .unwrap_or_else(|| PathBuf::from("runs").join(config.file_stem().unwrap_or_default()))
}

fn report_pretraining(outcome: &PretrainOutcome) {
    for line in cloze::train::summary::pretraining_lines(outcome) {
        eprintln!("{line}");
    }
}

fn run_pipeline(args: RunArgs) -> Result<()> {
    let pipeline = Pipeline::load(&args.pipeline, &args.overrides)?;
    if let Some(from) = args.from {
        pipeline
            .check_from(from)
            .with_context(|| args.pipeline.display().to_string())?;
    }
    let started = std::time::Instant::now();
    let options = pipeline::run::RunOptions {
        from: args.from,
        device: args.device,
        stop: stop_on_interrupt(),
    };
    let ended = pipeline::run::run(&pipeline, &options, &mut |line| eprintln!("{line}"))?;
    let status = match ended {
        pipeline::run::Ended::Done => "done",
        pipeline::run::Ended::Interrupted(_) => "stopped",
    };
    eprintln!(
        "{}: {status} in {:.0}s",
        args.pipeline.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn eval_mlm(args: EvalMlmArgs) -> Result<()> {
    let data = match args.shards {
        Some(dir) => MlmEvalData::Shards {
            dir,
            split: args.split,
        },
        None => MlmEvalData::Text {
            inputs: args.inputs,
            read: args.read.options(),
        },
    };
    let request = MlmEvalRequest {
        checkpoint: args.checkpoint,
        tokenizer: args.tokenizer,
        data,
        seed: args.seed,
        mask_prob: args.mask_prob,
        batch_size: args.batch_size,
        seq_len: args.seq_len,
        max_batches: args.max_batches,
        device: args.device,
        progress: true,
    };
    let outcome = evaluate_checkpoint(&request)?;
    for line in &outcome.skipped {
        eprintln!("{line}");
    }
    let e = &outcome.evaluation;
    eprintln!(
        "{} (step {}): {} tokens in {} batches of {} x {}, {:.1}s, {:.0} tokens/s",
        outcome.checkpoint.display(),
        outcome.step,
        e.tokens,
        e.batches,
        request.batch_size,
        outcome.seq_len,
        e.seconds,
        e.tokens_per_s()
    );
    let report = e.report();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "masks: seed {}, mask_prob {}",
            request.seed, outcome.mask_prob
        )?;
        writeln!(
            out,
            "{:<11} {:>11} {:>7} {:>7} {:>7} {:>10}",
            "positions", "predictions", "top-1", "top-5", "loss", "perplexity"
        )?;
        let rows = [
            ("all", e.all.figures()),
            ("[MASK]", report.by_kind.mask),
            ("random", report.by_kind.random),
            ("unchanged", report.by_kind.unchanged),
            ("hangul", report.by_script.hangul),
            ("latin", report.by_script.latin),
            ("other", report.by_script.other),
        ];
        let cell = |v: Option<f64>, precision: usize| {
            v.map_or("-".to_owned(), |v| format!("{v:.precision$}"))
        };
        for (name, f) in rows {
            writeln!(
                out,
                "{name:<11} {:>11} {:>7} {:>7} {:>7} {:>10}",
                f.predictions,
                cell(f.accuracy, 4),
                cell(f.top5, 4),
                cell(f.loss, 4),
                cell(f.perplexity, 2)
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

fn fill(args: FillArgs) -> Result<()> {
    let device = args.device.device()?;
    let trained = TrainedModel::load(&args.checkpoint, args.tokenizer.as_deref(), &device)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for text in &args.texts {
        let result = fill_mask(
            &trained.model,
            &trained.tokenizer,
            text,
            args.top_k,
            trained.max_len(),
        )?;
        if args.json {
            serde_json::to_writer(&mut out, &result)?;
            writeln!(out)?;
            continue;
        }
        writeln!(out, "{}", result.text)?;
        for (i, mask) in result.masks.iter().enumerate() {
            writeln!(out, "  [MASK] {} (token {}):", i + 1, mask.position)?;
            for c in &mask.candidates {
                writeln!(out, "    {:<16} {:.4}", c.token, c.probability)?;
            }
        }
        writeln!(out, "  filled: {}", result.filled)?;
    }
    out.flush()?;
    Ok(())
}

fn eval_bleu(args: EvalBleuArgs) -> Result<()> {
    let hypotheses = read_segments(&args.hyp)?;
    let references = read_segments(&args.reference)?;
    let context = || {
        format!(
            "{} against {}",
            args.hyp.display(),
            args.reference.display()
        )
    };
    let bleu = corpus_bleu(&hypotheses, &references).with_context(context)?;
    let chrf = corpus_chrf(&hypotheses, &references).with_context(context)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer(&mut out, &serde_json::json!({"bleu": bleu, "chrf": chrf}))?;
        writeln!(out)?;
    } else {
        let p = bleu.precisions;
        writeln!(
            out,
            "BLEU {:.2} ({:.1}/{:.1}/{:.1}/{:.1}, brevity penalty {:.3}, ratio {:.3}, hyp {} ref {} tokens)",
            bleu.score,
            p[0],
            p[1],
            p[2],
            p[3],
            bleu.bp,
            bleu.sys_len as f64 / bleu.ref_len.max(1) as f64,
            bleu.sys_len,
            bleu.ref_len
        )?;
        writeln!(out, "chrF2 {:.2}", chrf.score)?;
    }
    out.flush()?;
    Ok(())
}

fn finetune(args: FinetuneArgs) -> Result<()> {
    let mut config: FinetuneConfig =
        cloze::config::load(&args.config, Some("finetune"), &args.overrides)?;
    if let Some(init) = args.init {
        config.model.init = init;
    }
    let options = FinetuneOptions {
        run_dir: run_directory(args.run_dir, config.run_dir.clone(), &args.config),
        resume: args.resume,
        device: args.device,
        stop: stop_on_interrupt(),
    };
    let outcome = cloze::train::finetune::finetune(&config, &options)?;
    report_finetuning(&outcome);
    Ok(())
}

fn report_finetuning(outcome: &FinetuneOutcome) {
    for line in cloze::train::summary::finetuning_lines(outcome) {
        eprintln!("{line}");
    }
}

fn translate(args: TranslateArgs) -> Result<()> {
    let device = args.device.device()?;
    let translator = TrainedTranslator::load(&args.checkpoint, &device)?;
    let max_len = translator.output_len(args.max_len, "--max-len")?;
    if args.beam == 0 {
        anyhow::bail!("--beam must be at least 1");
    }
    let lines = match &args.input {
        Some(path) => read_segments(path)?,
        None => args.texts.clone(),
    };
    let search = SearchConfig {
        beam: args.beam,
        length_penalty: args.length_penalty,
        max_len,
    };
    let (outputs, truncated) = translator.translate(&lines, &search, args.batch_size)?;
    for line in truncated {
        tracing::warn!(
            "line {line}: longer than the model's {} tokens; translated its beginning",
            translator.max_len()
        );
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for output in outputs {
        writeln!(out, "{output}")?;
    }
    out.flush()?;
    Ok(())
}

fn report(args: ReportArgs) -> Result<()> {
    let options = ReportOptions {
        out: args.out,
        size: PlotSize {
            width: args.width,
            height: args.height,
        },
    };
    let summary = write_report(&args.run_dir, &options)?;
    if let Some(line) = summary.partial_line {
        eprintln!("line {line} of metrics.csv was cut short (an interrupted run): left out");
    }
    for file in &summary.files {
        eprintln!("wrote {}", file.display());
    }
    eprintln!(
        "{} run: {} steps, {} validation{}",
        summary.task.name(),
        summary.steps,
        summary.validations,
        if summary.validations == 1 { "" } else { "s" }
    );
    Ok(())
}
