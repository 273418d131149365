//! HuggingFace's `config.json` for BERT, and its translation to and from cloze's model section.
//! Defaults are transformers' `BertConfig` defaults, so a file that leaves a key out reads as
//! transformers reads it.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::config::model_section::{Arch, ModelSection};
use crate::model::config::TransformerConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BertConfigJson {
    pub architectures: Vec<String>,
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub initializer_range: f64,
    pub layer_norm_eps: f64,
    pub pad_token_id: u32,
    pub position_embedding_type: String,
    pub tie_word_embeddings: bool,
    pub is_decoder: bool,
    pub torch_dtype: String,
}

impl Default for BertConfigJson {
    fn default() -> Self {
        Self {
            architectures: vec!["BertForMaskedLM".into()],
            model_type: "bert".into(),
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            position_embedding_type: "absolute".into(),
            tie_word_embeddings: true,
            is_decoder: false,
            torch_dtype: "float32".into(),
        }
    }
}

impl BertConfigJson {
    /// The config.json of an `arch = "bert"` encoder.
    pub fn from_encoder(encoder: &TransformerConfig, pad_token_id: u32) -> Self {
        Self {
            vocab_size: encoder.vocab_size,
            hidden_size: encoder.d_model,
            num_hidden_layers: encoder.n_layers,
            num_attention_heads: encoder.n_heads,
            intermediate_size: encoder.d_ff,
            hidden_dropout_prob: encoder.dropout,
            attention_probs_dropout_prob: encoder.dropout,
            max_position_embeddings: encoder.max_len,
            type_vocab_size: encoder.type_vocab_size,
            layer_norm_eps: encoder.layer_norm_eps,
            pad_token_id,
            ..Self::default()
        }
    }

    /// The model section that builds this architecture, or an error naming the config.json key
    /// cloze has no equivalent for.
    pub fn model_section(&self) -> Result<ModelSection> {
        if self.model_type != "bert" {
            bail!(
                "model_type is \"{}\"; cloze imports \"bert\" and \"modernbert\" models",
                self.model_type
            );
        }
        if self.hidden_act != "gelu" {
            bail!(
                "hidden_act is \"{}\"; cloze's BERT uses exact GELU (\"gelu\")",
                self.hidden_act
            );
        }
        if self.position_embedding_type != "absolute" {
            bail!(
                "position_embedding_type is \"{}\"; cloze's BERT has absolute positions",
                self.position_embedding_type
            );
        }
        if !self.tie_word_embeddings {
            bail!("tie_word_embeddings is false; cloze's output projection is the word embedding");
        }
        if self.is_decoder {
            bail!("is_decoder is true; cloze imports encoders");
        }
        if self.hidden_dropout_prob != self.attention_probs_dropout_prob {
            tracing::warn!(
                "hidden_dropout_prob ({}) and attention_probs_dropout_prob ({}) differ; cloze has \
                 one dropout rate and uses the first",
                self.hidden_dropout_prob,
                self.attention_probs_dropout_prob
            );
        }
        Ok(ModelSection {
            arch: Arch::Bert,
            d_model: Some(self.hidden_size),
            n_layers: Some(self.num_hidden_layers),
            n_heads: Some(self.num_attention_heads),
            d_ff: Some(self.intermediate_size),
            dropout: self.hidden_dropout_prob,
            max_positions: Some(self.max_position_embeddings),
            layer_norm_eps: Some(self.layer_norm_eps),
            type_vocab_size: Some(self.type_vocab_size),
            ..ModelSection::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_survives_cloze_and_back() {
        let json = BertConfigJson {
            vocab_size: 700,
            hidden_size: 48,
            num_hidden_layers: 3,
            num_attention_heads: 4,
            intermediate_size: 96,
            max_position_embeddings: 40,
            type_vocab_size: 1,
            layer_norm_eps: 1e-7,
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            ..BertConfigJson::default()
        };
        let encoder = json.model_section().unwrap().encoder(700, 32).unwrap();
        assert!(encoder.bert_embedding && encoder.gelu && !encoder.pre_ln);
        assert_eq!(BertConfigJson::from_encoder(&encoder, 0), json);
    }

    #[test]
    fn what_cloze_cannot_build_is_named() {
        type Change = fn(&mut BertConfigJson);
        let cases: [(&str, Change); 4] = [
            ("model_type", |c| c.model_type = "roberta".into()),
            ("hidden_act", |c| c.hidden_act = "gelu_new".into()),
            ("position_embedding_type", |c| {
                c.position_embedding_type = "relative_key".into()
            }),
            ("tie_word_embeddings", |c| c.tie_word_embeddings = false),
        ];
        for (key, change) in cases {
            let mut config = BertConfigJson::default();
            change(&mut config);
            let err = config.model_section().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        // Transformers' defaults fill what a file leaves out.
        let sparse: BertConfigJson = serde_json::from_str(r#"{"vocab_size": 99}"#).unwrap();
        assert_eq!(sparse.hidden_size, 768);
        assert_eq!(sparse.layer_norm_eps, 1e-12);
    }
}
