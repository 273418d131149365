//! The arguments of the evaluation commands: `eval mlm`, `eval bleu`, `fill` and `translate`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use cloze::device::DeviceChoice;
use cloze::eval::checkpoint_mlm::{MlmEvalData, MlmEvalRequest};
use cloze::eval::checkpoint_translate::TranslateSettings;
use cloze::eval::segments::read_segments;

use crate::cli::data::ReadArgs;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Masked-token accuracy: top-1, top-5, loss and perplexity, by replacement kind and script.
    ///
    /// The masks are drawn with a fixed seed, so the same command gives the same figures.
    Mlm(EvalMlmArgs),
    /// Corpus BLEU (sacreBLEU's defaults: 13a tokenization, exp smoothing) and chrF (character
    /// 6-grams, beta 2) of translations against references, one segment per line.
    Bleu(EvalBleuArgs),
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("data").required(true).args(["shards", "inputs"])))]
pub struct EvalMlmArgs {
    /// A checkpoint directory (checkpoints/step-NNNNNNN), or a run directory (its latest
    /// checkpoint).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// Evaluate a split of these shards (written by `cloze shard` with the checkpoint's tokenizer).
    #[arg(long, value_name = "DIR")]
    pub shards: Option<PathBuf>,
    /// The split of --shards to evaluate.
    #[arg(long, default_value = "valid", requires = "shards")]
    pub split: String,
    /// Evaluate raw text instead (formats as for `cloze shard`): tokenized with the checkpoint's
    /// tokenizer and packed as in training. Lines that cannot be read are skipped and reported.
    #[arg(long = "input", num_args = 1.., value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// The tokenizer; by default the one saved in the checkpoint. Another one is refused.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Seed of the masks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of tokens selected for prediction (default: the checkpoint's masking.mask_prob).
    #[arg(long, value_name = "P")]
    pub mask_prob: Option<f64>,
    /// Sequences per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Sequence length, [CLS] and [SEP] included (default and maximum: the checkpoint's
    /// train.seq_len).
    #[arg(long, value_name = "N")]
    pub seq_len: Option<usize>,
    /// Stop after this many batches (0: evaluate everything).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_batches: usize,
    /// Backend and device (as for `cloze pretrain --device`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    pub device: DeviceChoice,
    /// Print one JSON object (predictions, accuracy, top5, loss, perplexity, by_kind, by_script)
    /// instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Args)]
pub struct EvalBleuArgs {
    /// The translations, one per line.
    #[arg(long, value_name = "FILE")]
    pub hyp: PathBuf,
    /// The references, one per line, as many lines as --hyp.
    #[arg(long = "ref", value_name = "FILE")]
    pub reference: PathBuf,
    /// Print one JSON object ({"bleu": {...}, "chrf": {...}}) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct FillArgs {
    /// A checkpoint directory, or a run directory (its latest checkpoint).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// How many candidates to print for each [MASK].
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub top_k: usize,
    /// The tokenizer; by default the one saved in the checkpoint. Another one is refused.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Backend and device (as for `cloze pretrain --device`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    pub device: DeviceChoice,
    /// Print one JSON object per text (text, tokens, masks with their candidates, filled).
    #[arg(long)]
    pub json: bool,
    /// Texts with one or more [MASK], e.g. "the [MASK] of the lord".
    #[arg(required = true, value_name = "TEXT")]
    pub texts: Vec<String>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["texts", "input"])))]
pub struct TranslateArgs {
    /// A checkpoint of `cloze finetune` (a step directory, or a run directory: its latest).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// Hypotheses kept per sentence; 1 is greedy search.
    #[arg(long, default_value_t = 4, value_name = "K")]
    pub beam: usize,
    /// Finished hypotheses are ranked by log-probability / length^A (0 favours short outputs).
    #[arg(long, default_value_t = 1.0, value_name = "A")]
    pub length_penalty: f64,
    /// Stop a sentence once K hypotheses have finished (HuggingFace's early_stopping=True),
    /// rather than once no live hypothesis can outrank them: faster, shorter outputs.
    #[arg(long)]
    pub early_stopping: bool,
    /// Tokens generated at most per sentence, [EOS] included (default and maximum: the model's
    /// train.seq_len - 1).
    #[arg(long, value_name = "N")]
    pub max_len: Option<usize>,
    /// Sentences decoded together.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Translate the lines of this file (UTF-8) instead of TEXT.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Backend and device (as for `cloze pretrain --device`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    pub device: DeviceChoice,
    /// Sentences to translate. Sources longer than the model's train.seq_len are cut to fit,
    /// with a warning naming the line.
    #[arg(value_name = "TEXT")]
    pub texts: Vec<String>,
}

impl EvalMlmArgs {
    /// What to evaluate: a split of --shards, else the --input files.
    pub fn request(self) -> MlmEvalRequest {
        let data = match self.shards {
            Some(dir) => MlmEvalData::Shards {
                dir,
                split: self.split,
            },
            None => MlmEvalData::Text {
                inputs: self.inputs,
                read: self.read.options(),
            },
        };
        MlmEvalRequest {
            checkpoint: self.checkpoint,
            tokenizer: self.tokenizer,
            data,
            seed: self.seed,
            mask_prob: self.mask_prob,
            batch_size: self.batch_size,
            seq_len: self.seq_len,
            max_batches: self.max_batches,
            device: self.device,
            progress: true,
        }
    }
}

impl TranslateArgs {
    pub fn settings(&self) -> TranslateSettings {
        TranslateSettings {
            beam: self.beam,
            length_penalty: self.length_penalty,
            early_stopping: self.early_stopping,
            max_len: self.max_len,
            batch_size: self.batch_size,
            max_len_key: "--max-len",
            beam_key: "--beam",
        }
    }

    /// The lines of --input, else the TEXT arguments.
    pub fn sources(&self) -> Result<Vec<String>> {
        match &self.input {
            Some(path) => read_segments(path),
            None => Ok(self.texts.clone()),
        }
    }
}
