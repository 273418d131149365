//! The arguments of `export hf` and `import hf`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum ExportCommand {
    /// A HuggingFace BertForMaskedLM or ModernBertForMaskedLM directory: config.json,
    /// model.safetensors, tokenizer.json, vocab.txt, tokenizer_config.json and
    /// special_tokens_map.json.
    ///
    /// The model must have been pretrained with `model.arch = "bert"` (BertForMaskedLM) or
    /// `model.arch = "modernbert"` (ModernBertForMaskedLM). In Python,
    /// `AutoModelForMaskedLM.from_pretrained(OUT)` and `AutoTokenizer.from_pretrained(OUT)` load it.
    Hf(ExportHfArgs),
}

#[derive(Args)]
pub struct ExportHfArgs {
    /// A checkpoint of `cloze pretrain` (a step directory, or a run directory: its latest).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The directory to write; it must not exist or be empty, unless --overwrite.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace the files of a non-empty --out (once the new ones are complete).
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// A HuggingFace BERT or ModernBERT directory (config.json, model.safetensors,
    /// tokenizer.json) as a cloze checkpoint directory; config.json's model_type tells which.
    ///
    /// The tokenizer must be a fast tokenizer (tokenizer.json) with cloze's special tokens at
    /// ids 0 to 6 ([PAD] [UNK] [CLS] [SEP] [MASK] [BOS] [EOS]), as every cloze vocabulary and
    /// every `cloze export hf` has. The checkpoint works with `cloze fill`, `cloze eval mlm` and
    /// `cloze export hf`; set `init = "OUT"` in a pretraining config to continue pretraining it.
    Hf(ImportHfArgs),
}

#[derive(Args)]
pub struct ImportHfArgs {
    /// The HuggingFace model directory (as written by `save_pretrained`).
    #[arg(long = "from", value_name = "DIR")]
    pub from: PathBuf,
    /// The checkpoint directory to write; it must not exist.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}
