//! A HuggingFace `config.json` of either architecture cloze moves both ways, told apart by its
//! `model_type` (or, without one, its `architectures`).

use std::path::Path;

use anyhow::{Context, Result};

use crate::config::model_section::ModelSection;
use crate::data::tokenizer::SpecialTokens;
use crate::hf::bert_config::BertConfigJson;
use crate::hf::modernbert_config::ModernBertConfigJson;
use crate::model::config::TransformerConfig;

pub enum HfConfig {
    Bert(BertConfigJson),
    ModernBert(ModernBertConfigJson),
}

/// Whether a parsed config.json describes a ModernBERT model.
fn is_modernbert(json: &serde_json::Value) -> bool {
    match json.get("model_type").and_then(|t| t.as_str()) {
        Some(model_type) => model_type == "modernbert",
        None => json
            .get("architectures")
            .and_then(|a| a.as_array())
            .is_some_and(|a| {
                a.iter()
                    .any(|name| name.as_str().is_some_and(|n| n.starts_with("ModernBert")))
            }),
    }
}

impl HfConfig {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let parse = || -> Result<Self> {
            let json: serde_json::Value = serde_json::from_str(&text)?;
            Ok(if is_modernbert(&json) {
                Self::ModernBert(serde_json::from_value(json)?)
            } else {
                Self::Bert(serde_json::from_value(json)?)
            })
        };
        parse().with_context(|| format!("{}: does not read", path.display()))
    }

    /// The config.json of an encoder: ModernBERT's for `arch = "modernbert"`, else BERT's.
    pub fn for_encoder(encoder: &TransformerConfig, special: &SpecialTokens) -> Self {
        match ModernBertConfigJson::from_encoder(encoder, special) {
            Some(config) => Self::ModernBert(config),
            None => Self::Bert(BertConfigJson::from_encoder(encoder, special.pad)),
        }
    }

    /// The model section that builds this architecture, or an error naming the key cloze has no
    /// equivalent for.
    pub fn model_section(&self) -> Result<ModelSection> {
        match self {
            Self::Bert(config) => config.model_section(),
            Self::ModernBert(config) => config.model_section(),
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Bert(config) => config.vocab_size,
            Self::ModernBert(config) => config.vocab_size,
        }
    }

    pub fn max_position_embeddings(&self) -> usize {
        match self {
            Self::Bert(config) => config.max_position_embeddings,
            Self::ModernBert(config) => config.max_position_embeddings,
        }
    }

    /// Tensors a checkpoint may hold beside the ones they are tied to, as (copy, original).
    pub fn tied_copies(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Bert(_) => &[
                (
                    "cls.predictions.decoder.weight",
                    "bert.embeddings.word_embeddings.weight",
                ),
                ("cls.predictions.decoder.bias", "cls.predictions.bias"),
            ],
            Self::ModernBert(_) => &[("decoder.weight", "model.embeddings.tok_embeddings.weight")],
        }
    }

    pub fn to_json(&self) -> Result<Vec<u8>> {
        Ok(match self {
            Self::Bert(config) => serde_json::to_string_pretty(config)?,
            Self::ModernBert(config) => serde_json::to_string_pretty(config)?,
        }
        .into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_architecture_is_told_by_model_type_then_architectures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            HfConfig::read(&path).unwrap()
        };
        assert!(matches!(
            read(r#"{"model_type": "modernbert"}"#),
            HfConfig::ModernBert(_)
        ));
        assert!(matches!(
            read(r#"{"architectures": ["ModernBertForMaskedLM"]}"#),
            HfConfig::ModernBert(_)
        ));
        assert!(matches!(
            read(r#"{"model_type": "bert"}"#),
            HfConfig::Bert(_)
        ));
        assert!(matches!(read("{}"), HfConfig::Bert(_)));
    }
}
