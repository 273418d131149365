//! The arguments of the data commands: `tokenizer train`, `shard` and `inspect`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use cloze::data::corpus::{DEFAULT_MAX_LINE_BYTES, DocBoundary, ReadOptions};
use cloze::data::loader::LoaderConfig;
use cloze::data::masking::MaskingConfig;
use cloze::data::prepare::{DEFAULT_ROWS_PER_SHARD, DEFAULT_VALID_FRACTION, ShardOptions};
use cloze::data::tokenizer::{Normalization, TokenizerConfig};

#[derive(Subcommand)]
pub enum TokenizerCommand {
    /// Train a WordPiece vocabulary (one for Korean and English) and write tokenizer.json.
    Train(TrainTokenizerArgs),
}

/// How input files are read (all commands that take --input).
#[derive(Args)]
pub struct ReadArgs {
    /// Column to read from tabular inputs (.tsv, .csv, .parquet, .jsonl); repeat for several, which
    /// then form one document per row. Default: the file's only text column. Ignored for .txt.
    #[arg(long = "column", value_name = "NAME")]
    pub columns: Vec<String>,
    /// Document boundaries in .txt inputs: `auto` uses blank lines if the file has any, else lines.
    #[arg(long, value_enum, default_value_t = DocBoundary::Auto)]
    pub doc_boundary: DocBoundary,
    /// Lines longer than this many bytes are skipped with a warning and counted in the summary.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES, value_name = "BYTES")]
    pub max_line_bytes: usize,
}

impl ReadArgs {
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            columns: self.columns.clone(),
            max_line_bytes: self.max_line_bytes,
            doc_boundary: self.doc_boundary,
        }
    }
}

#[derive(Args)]
pub struct TrainTokenizerArgs {
    /// Input files: .txt (one sentence a line, blank line between documents), .tsv, .csv,
    /// .parquet, .jsonl, each optionally gzip-compressed.
    #[arg(long = "input", required = true, num_args = 1.., value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Vocabulary size, the 7 special tokens included.
    #[arg(long, default_value_t = TokenizerConfig::default().vocab_size)]
    pub vocab_size: usize,
    /// Pieces seen fewer times than this are not added.
    #[arg(long, default_value_t = TokenizerConfig::default().min_frequency)]
    pub min_frequency: u64,
    /// Unicode normalization: `nfd` splits Hangul into jamo (almost no [UNK]), `nfc` keeps syllables.
    #[arg(long, value_enum, default_value_t = Normalization::default())]
    pub normalization: Normalization,
    /// Lowercase all text (decoding then gives lowercase text back).
    #[arg(long)]
    pub lowercase: bool,
    /// Where to write tokenizer.json.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Args)]
pub struct ShardArgs {
    /// The tokenizer.json to encode with; it is copied into the output directory.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: PathBuf,
    /// Input files (formats as for `tokenizer train`).
    #[arg(long = "input", required = true, num_args = 1.., value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Files held out whole in the valid split (a dev set), beside --valid-fraction of --input.
    #[arg(long = "valid-input", num_args = 1.., value_name = "FILE")]
    pub valid_inputs: Vec<PathBuf>,
    /// Output directory: train/shard-NNNNN.arrow, valid/..., manifest.json, tokenizer.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Source column of translation pairs; with --tgt-column, writes pair shards (src_ids, tgt_ids).
    #[arg(long, requires = "tgt_column", value_name = "NAME")]
    pub src_column: Option<String>,
    /// Target column of translation pairs.
    #[arg(long, requires = "src_column", value_name = "NAME")]
    pub tgt_column: Option<String>,
    /// Fraction of documents held out in the valid split (whole documents, chosen by hash).
    #[arg(long, default_value_t = DEFAULT_VALID_FRACTION)]
    pub valid_fraction: f64,
    /// Seed of the train/valid split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rows per shard; a shard closes at the first document boundary past this.
    #[arg(long, default_value_t = DEFAULT_ROWS_PER_SHARD)]
    pub rows_per_shard: usize,
    /// Replace the output directory if it exists (only once the new shards are complete).
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Args)]
pub struct InspectArgs {
    /// A directory written by `cloze shard`.
    #[arg(long, value_name = "DIR")]
    pub shards: PathBuf,
    /// Which split to read.
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Sequence length, [CLS] and [SEP] included.
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// How many batches to print.
    #[arg(long, default_value_t = 1)]
    pub batches: usize,
    /// Seed of the shard/document order and of the masks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of candidate tokens selected for prediction.
    #[arg(long, default_value_t = MaskingConfig::default().mask_prob)]
    pub mask_prob: f64,
    /// Select whole words (all pieces of a word or none).
    #[arg(long)]
    pub whole_word: bool,
    /// Read documents and sequences in stored order instead of the seeded shuffle.
    #[arg(long)]
    pub no_shuffle: bool,
}

impl TrainTokenizerArgs {
    pub fn config(&self) -> TokenizerConfig {
        TokenizerConfig {
            vocab_size: self.vocab_size,
            min_frequency: self.min_frequency,
            normalization: self.normalization,
            lowercase: self.lowercase,
        }
    }
}

impl ShardArgs {
    pub fn options(self) -> ShardOptions {
        ShardOptions {
            tokenizer: self.tokenizer,
            inputs: self.inputs,
            valid_inputs: self.valid_inputs,
            out: self.out,
            read: self.read.options(),
            pair_columns: self.src_column.zip(self.tgt_column),
            valid_fraction: self.valid_fraction,
            seed: self.seed,
            rows_per_shard: self.rows_per_shard,
            overwrite: self.overwrite,
        }
    }
}

impl InspectArgs {
    /// One pass over the split, as the flags ask.
    pub fn loader_config(&self) -> LoaderConfig {
        LoaderConfig {
            split: self.split.clone(),
            seq_len: self.seq_len,
            batch_size: self.batch_size,
            seed: self.seed,
            masking: MaskingConfig {
                mask_prob: self.mask_prob,
                whole_word: self.whole_word,
                ..MaskingConfig::default()
            },
            shuffle: !self.no_shuffle,
            epochs: Some(1),
            ..LoaderConfig::default()
        }
    }
}
