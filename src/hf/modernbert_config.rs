//! HuggingFace's `config.json` for ModernBERT, and its translation to and from cloze's model
//! section. Defaults are transformers' `ModernBertConfig` defaults, so a file that leaves a key out
//! reads as transformers reads it.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::config::model_section::{Arch, ModelSection};
use crate::data::tokenizer::SpecialTokens;
use crate::model::config::TransformerConfig;
use crate::model::modernbert::settings::{INITIALIZER_CUTOFF, INITIALIZER_RANGE};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModernBertConfigJson {
    pub architectures: Vec<String>,
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub hidden_activation: String,
    pub max_position_embeddings: usize,
    pub initializer_range: f64,
    pub initializer_cutoff_factor: f64,
    pub norm_eps: f64,
    pub norm_bias: bool,
    pub pad_token_id: u32,
    pub eos_token_id: u32,
    pub bos_token_id: u32,
    pub cls_token_id: u32,
    pub sep_token_id: u32,
    pub global_rope_theta: f64,
    pub attention_bias: bool,
    pub attention_dropout: f64,
    pub global_attn_every_n_layers: usize,
    pub local_attention: usize,
    pub local_rope_theta: f64,
    pub embedding_dropout: f64,
    pub mlp_bias: bool,
    pub mlp_dropout: f64,
    pub decoder_bias: bool,
    pub classifier_pooling: String,
    pub classifier_dropout: f64,
    pub classifier_bias: bool,
    pub classifier_activation: String,
    pub deterministic_flash_attn: bool,
    pub sparse_prediction: bool,
    pub sparse_pred_ignore_index: i64,
    pub repad_logits_with_grad: bool,
    pub tie_word_embeddings: bool,
    /// Rotary scaling (transformers' `rope_scaling`); cloze has plain rotary positions only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    pub dtype: String,
}

impl Default for ModernBertConfigJson {
    fn default() -> Self {
        Self {
            architectures: vec!["ModernBertForMaskedLM".into()],
            model_type: "modernbert".into(),
            vocab_size: 50368,
            hidden_size: 768,
            intermediate_size: 1152,
            num_hidden_layers: 22,
            num_attention_heads: 12,
            hidden_activation: "gelu".into(),
            max_position_embeddings: 8192,
            initializer_range: INITIALIZER_RANGE,
            initializer_cutoff_factor: INITIALIZER_CUTOFF,
            norm_eps: 1e-5,
            norm_bias: false,
            pad_token_id: 50283,
            eos_token_id: 50282,
            bos_token_id: 50281,
            cls_token_id: 50281,
            sep_token_id: 50282,
            global_rope_theta: 160000.0,
            attention_bias: false,
            attention_dropout: 0.0,
            global_attn_every_n_layers: 3,
            local_attention: 128,
            local_rope_theta: 10000.0,
            embedding_dropout: 0.0,
            mlp_bias: false,
            mlp_dropout: 0.0,
            decoder_bias: true,
            classifier_pooling: "cls".into(),
            classifier_dropout: 0.0,
            classifier_bias: false,
            classifier_activation: "gelu".into(),
            deterministic_flash_attn: false,
            sparse_prediction: false,
            sparse_pred_ignore_index: -100,
            repad_logits_with_grad: false,
            tie_word_embeddings: true,
            rope_scaling: None,
            dtype: "float32".into(),
        }
    }
}

impl ModernBertConfigJson {
    /// The config.json of an `arch = "modernbert"` encoder, with its vocabulary's special tokens'
    /// ids. `None` for an encoder of another architecture.
    pub fn from_encoder(encoder: &TransformerConfig, special: &SpecialTokens) -> Option<Self> {
        let m = encoder.modernbert.as_ref()?;
        Some(Self {
            vocab_size: encoder.vocab_size,
            hidden_size: encoder.d_model,
            intermediate_size: encoder.d_ff,
            num_hidden_layers: encoder.n_layers,
            num_attention_heads: encoder.n_heads,
            max_position_embeddings: encoder.max_len,
            norm_eps: encoder.layer_norm_eps,
            norm_bias: m.norm_bias,
            pad_token_id: special.pad,
            eos_token_id: special.decoder_end(),
            bos_token_id: special.decoder_start(),
            cls_token_id: special.cls,
            sep_token_id: special.sep,
            global_rope_theta: m.global_rope_theta,
            attention_bias: m.attention_bias,
            attention_dropout: encoder.dropout,
            global_attn_every_n_layers: m.global_attn_every_n_layers,
            local_attention: m.local_attention,
            local_rope_theta: m.local_rope_theta,
            embedding_dropout: encoder.dropout,
            mlp_bias: m.mlp_bias,
            mlp_dropout: encoder.dropout,
            classifier_bias: m.classifier_bias,
            ..Self::default()
        })
    }

    /// The model section that builds this architecture, or an error naming the config.json key
    /// cloze has no equivalent for.
    pub fn model_section(&self) -> Result<ModelSection> {
        self.check_supported()?;
        let dropouts = [self.embedding_dropout, self.mlp_dropout];
        if dropouts.iter().any(|&d| d != self.attention_dropout) {
            tracing::warn!(
                "attention_dropout ({}), embedding_dropout ({}) and mlp_dropout ({}) differ; \
                 cloze has one dropout rate and uses attention_dropout",
                self.attention_dropout,
                self.embedding_dropout,
                self.mlp_dropout
            );
        }
        Ok(ModelSection {
            arch: Arch::ModernBert,
            d_model: Some(self.hidden_size),
            n_layers: Some(self.num_hidden_layers),
            n_heads: Some(self.num_attention_heads),
            d_ff: Some(self.intermediate_size),
            dropout: self.attention_dropout,
            max_positions: Some(self.max_position_embeddings),
            layer_norm_eps: Some(self.norm_eps),
            global_rope_theta: Some(self.global_rope_theta),
            local_rope_theta: Some(self.local_rope_theta),
            local_attention: Some(self.local_attention),
            global_attn_every_n_layers: Some(self.global_attn_every_n_layers),
            attention_bias: Some(self.attention_bias),
            mlp_bias: Some(self.mlp_bias),
            norm_bias: Some(self.norm_bias),
            classifier_bias: Some(self.classifier_bias),
            ..ModelSection::default()
        })
    }

    /// Refuses what cloze's ModernBERT does not compute, naming the key.
    fn check_supported(&self) -> Result<()> {
        if self.model_type != "modernbert" {
            bail!(
                "model_type is \"{}\"; expected \"modernbert\"",
                self.model_type
            );
        }
        for (key, value) in [
            ("hidden_activation", &self.hidden_activation),
            ("classifier_activation", &self.classifier_activation),
        ] {
            if value != "gelu" {
                bail!("{key} is \"{value}\"; cloze's ModernBERT uses exact GELU (\"gelu\")");
            }
        }
        if !self.tie_word_embeddings {
            bail!("tie_word_embeddings is false; cloze's decoder weight is the token embedding");
        }
        if !self.decoder_bias {
            bail!("decoder_bias is false; cloze's MLM head has an output bias");
        }
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            bail!("rope_scaling is set; cloze has plain rotary positions");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokenizer::{BOS_ID, CLS_ID, EOS_ID, PAD_ID, SEP_ID};

    #[test]
    fn a_config_survives_cloze_and_back() {
        let json = ModernBertConfigJson {
            vocab_size: 700,
            hidden_size: 48,
            intermediate_size: 64,
            num_hidden_layers: 3,
            num_attention_heads: 4,
            max_position_embeddings: 40,
            norm_eps: 1e-6,
            norm_bias: true,
            pad_token_id: PAD_ID,
            eos_token_id: EOS_ID,
            bos_token_id: BOS_ID,
            cls_token_id: CLS_ID,
            sep_token_id: SEP_ID,
            local_attention: 8,
            global_attn_every_n_layers: 2,
            global_rope_theta: 5000.0,
            attention_bias: true,
            classifier_bias: true,
            ..ModernBertConfigJson::default()
        };
        let encoder = json.model_section().unwrap().encoder(700, 32).unwrap();
        assert!(encoder.pre_ln && encoder.gelu && !encoder.bert_embedding);
        assert_eq!(
            ModernBertConfigJson::from_encoder(&encoder, &SpecialTokens::cloze()),
            Some(json)
        );
    }

    #[test]
    fn what_cloze_cannot_build_is_named() {
        type Change = fn(&mut ModernBertConfigJson);
        let cases: [(&str, Change); 5] = [
            ("hidden_activation", |c| c.hidden_activation = "silu".into()),
            ("classifier_activation", |c| {
                c.classifier_activation = "relu".into()
            }),
            ("tie_word_embeddings", |c| c.tie_word_embeddings = false),
            ("decoder_bias", |c| c.decoder_bias = false),
            ("rope_scaling", |c| {
                c.rope_scaling = Some(serde_json::json!({"rope_type": "linear"}))
            }),
        ];
        for (key, change) in cases {
            let mut config = ModernBertConfigJson::default();
            change(&mut config);
            let err = config.model_section().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let sparse: ModernBertConfigJson = serde_json::from_str(r#"{"vocab_size": 99}"#).unwrap();
        assert_eq!((sparse.local_attention, sparse.norm_eps), (128, 1e-5));
    }
}
