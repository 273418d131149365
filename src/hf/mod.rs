//! HuggingFace interoperability: `cloze export hf` writes a checkpoint of an `arch = "bert"` or
//! `arch = "modernbert"` model as a `BertForMaskedLM` or `ModernBertForMaskedLM` directory
//! (`config.json`, `model.safetensors`, the tokenizer files), and `cloze import hf` reads one back
//! into a cloze checkpoint that pretraining can start from (`init` in the pretraining config).

pub mod bert_config;
pub mod config_json;
pub mod export;
pub mod import;
pub mod modernbert_config;
pub mod safetensors_file;
pub mod summary;

/// The files of a HuggingFace model directory.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const VOCAB_FILE: &str = "vocab.txt";
pub use crate::data::tokenizer::{SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE};
