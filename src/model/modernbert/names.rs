//! The MLM model's parameters under HuggingFace `ModernBertForMaskedLM`'s names, both ways, for
//! models built with `arch = "modernbert"`. The decoder's weight is tied to the token embedding in
//! both, so only its bias has a tensor of its own.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::model::mlm::MlmModel;
use crate::model::modernbert::layer::ModernBertLayer;
use crate::model::named_tensors::{
    NamedTensor, Slot, Slots, layer_norm, linear, read_slots, write_slots,
};

/// Every parameter of a ModernBERT model with its HuggingFace name.
fn slots(model: &mut MlmModel) -> Result<Slots<'_>> {
    let encoder = &mut model.encoder;
    let (Some(layers), Some(embedding_norm), Some(final_norm)) = (
        encoder.modernbert.as_mut(),
        encoder.embedding.norm.as_mut(),
        encoder.final_norm.as_mut(),
    ) else {
        anyhow::bail!("the model was not built with arch = \"modernbert\"");
    };
    let mut slots = vec![(
        "model.embeddings.tok_embeddings.weight".to_owned(),
        Slot::Table(&mut encoder.embedding.tokens.weight),
    )];
    layer_norm(&mut slots, "model.embeddings.norm", embedding_norm);
    for (i, layer) in layers.layers.iter_mut().enumerate() {
        encoder_layer(&mut slots, &format!("model.layers.{i}"), layer);
    }
    layer_norm(&mut slots, "model.final_norm", final_norm);
    linear(&mut slots, "head.dense", &mut model.dense);
    layer_norm(&mut slots, "head.norm", &mut model.norm);
    slots.push(("decoder.bias".into(), Slot::Vector(&mut model.bias)));
    Ok(slots)
}

/// One layer's norms, attention and feed-forward network, under `l` (`model.layers.{i}`).
fn encoder_layer<'a>(slots: &mut Slots<'a>, l: &str, layer: &'a mut ModernBertLayer) {
    if let Some(norm) = layer.attn_norm.as_mut() {
        layer_norm(slots, &format!("{l}.attn_norm"), norm);
    }
    linear(slots, &format!("{l}.attn.Wqkv"), &mut layer.attn.wqkv);
    linear(slots, &format!("{l}.attn.Wo"), &mut layer.attn.wo);
    layer_norm(slots, &format!("{l}.mlp_norm"), &mut layer.mlp_norm);
    linear(slots, &format!("{l}.mlp.Wi"), &mut layer.mlp.wi);
    linear(slots, &format!("{l}.mlp.Wo"), &mut layer.mlp.wo);
}

/// The model's parameters under HuggingFace ModernBERT names, in PyTorch layout.
pub fn modernbert_tensors(model: &MlmModel) -> Result<BTreeMap<String, NamedTensor>> {
    let mut model = model.clone();
    read_slots(slots(&mut model)?)
}

/// `model` (built with the checkpoint's configuration) with every parameter replaced by the
/// tensor of the same HuggingFace name; the names of tensors it has no place for are returned.
pub fn load_modernbert_tensors(
    mut model: MlmModel,
    tensors: &BTreeMap<String, NamedTensor>,
) -> Result<(MlmModel, Vec<String>)> {
    let device = model.encoder.embedding.tokens.weight.device();
    let unused =
        write_slots(slots(&mut model)?, tensors, &device).context("loading ModernBERT weights")?;
    Ok((model, unused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Positions, TransformerConfig};
    use crate::model::modernbert::settings::ModernBertSettings;
    use burn::prelude::*;

    fn modernbert(seed: u64, biases: bool) -> MlmModel {
        let settings = ModernBertSettings::new()
            .with_local_attention(4)
            .with_global_attn_every_n_layers(2)
            .with_attention_bias(biases)
            .with_mlp_bias(biases)
            .with_norm_bias(biases)
            .with_classifier_bias(biases);
        let config = TransformerConfig::named("tiny", 40)
            .unwrap()
            .with_n_layers(3)
            .with_max_len(12)
            .with_gelu(true)
            .with_pre_ln(true)
            .with_position_scheme(Positions::Rope)
            .with_modernbert(Some(settings));
        let device = Device::flex();
        let _rng = crate::seed::device_rng_lock();
        device.seed(seed);
        MlmModel::new(&config, &device)
    }

    #[test]
    fn names_and_shapes_follow_transformers_and_a_round_trip_restores_every_value() {
        let model = modernbert(1, false);
        let tensors = modernbert_tensors(&model).unwrap();
        // Embedding and its norm, 6 per layer less layer 0's attention norm, the final norm, the
        // head's dense and norm, the decoder's bias.
        assert_eq!(tensors.len(), 2 + 6 * 3 - 1 + 1 + 3);
        assert!(!tensors.contains_key("model.layers.0.attn_norm.weight"));
        assert!(!tensors.contains_key("model.final_norm.bias"));
        assert_eq!(tensors["model.layers.1.attn.Wqkv.weight"].shape, [192, 64]);
        assert_eq!(tensors["model.layers.1.mlp.Wi.weight"].shape, [256, 64]);
        assert_eq!(tensors["model.layers.2.mlp.Wo.weight"].shape, [64, 128]);
        assert_eq!(tensors["decoder.bias"].shape, [40]);

        let (loaded, unused) = load_modernbert_tensors(modernbert(2, false), &tensors).unwrap();
        assert!(unused.is_empty());
        assert_eq!(modernbert_tensors(&loaded).unwrap(), tensors);
    }

    #[test]
    fn biases_appear_when_configured() {
        let tensors = modernbert_tensors(&modernbert(1, true)).unwrap();
        for name in [
            "model.embeddings.norm.bias",
            "model.layers.0.attn.Wqkv.bias",
            "model.layers.2.mlp.Wo.bias",
            "model.layers.1.attn_norm.bias",
            "head.dense.bias",
            "head.norm.bias",
        ] {
            assert!(tensors.contains_key(name), "{name}");
        }
    }

    #[test]
    fn a_bert_model_is_refused() {
        let config = TransformerConfig::named("tiny", 40)
            .unwrap()
            .with_max_len(12);
        let err = modernbert_tensors(&MlmModel::new(&config, &Device::flex())).unwrap_err();
        assert!(err.to_string().contains("modernbert"), "{err}");
    }
}
