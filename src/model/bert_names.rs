//! The MLM model's parameters under HuggingFace `BertForMaskedLM`'s names and layouts, both ways,
//! for models built with `arch = "bert"`. The output projection is tied to the word embeddings in
//! both, so it has no tensor of its own.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::model::embedding::InputEmbedding;
use crate::model::encoder_layer::EncoderLayer;
use crate::model::mlm::MlmModel;
pub use crate::model::named_tensors::NamedTensor;
use crate::model::named_tensors::{Slot, Slots, layer_norm, linear, read_slots, write_slots};

/// Every parameter of a BERT-architecture model with its HuggingFace name.
fn slots(model: &mut MlmModel) -> Result<Slots<'_>> {
    let mut slots = Vec::new();
    let encoder = &mut model.encoder;
    if encoder.final_norm.is_some() {
        bail!("a pre-LN encoder has no BERT equivalent (BERT is post-LN)");
    }
    embeddings(&mut slots, &mut encoder.embedding)?;
    for (i, layer) in encoder.layers.layers.iter_mut().enumerate() {
        encoder_layer(&mut slots, &format!("bert.encoder.layer.{i}"), layer);
    }
    linear(
        &mut slots,
        "cls.predictions.transform.dense",
        &mut model.dense,
    );
    layer_norm(
        &mut slots,
        "cls.predictions.transform.LayerNorm",
        &mut model.norm,
    );
    slots.push(("cls.predictions.bias".into(), Slot::Vector(&mut model.bias)));
    Ok(slots)
}

/// The input embedding's tables and LayerNorm, under `bert.embeddings`.
fn embeddings<'a>(slots: &mut Slots<'a>, embedding: &'a mut InputEmbedding) -> Result<()> {
    let (Some(positions), Some(types), Some(norm)) = (
        embedding.positions.as_mut(),
        embedding.token_types.as_mut(),
        embedding.norm.as_mut(),
    ) else {
        bail!(
            "the model was not built with arch = \"bert\" (it lacks learned positions, token \
             types or the embedding LayerNorm)"
        );
    };
    let e = "bert.embeddings";
    slots.push((
        format!("{e}.word_embeddings.weight"),
        Slot::Table(&mut embedding.tokens.weight),
    ));
    slots.push((
        format!("{e}.position_embeddings.weight"),
        Slot::Table(&mut positions.weight),
    ));
    slots.push((
        format!("{e}.token_type_embeddings.weight"),
        Slot::Table(&mut types.weight),
    ));
    layer_norm(slots, &format!("{e}.LayerNorm"), norm);
    Ok(())
}

/// One encoder layer's attention, feed-forward block and LayerNorms, under `l`
/// (`bert.encoder.layer.{i}`).
fn encoder_layer<'a>(slots: &mut Slots<'a>, l: &str, layer: &'a mut EncoderLayer) {
    let mha = &mut layer.mha;
    linear(slots, &format!("{l}.attention.self.query"), &mut mha.query);
    linear(slots, &format!("{l}.attention.self.key"), &mut mha.key);
    linear(slots, &format!("{l}.attention.self.value"), &mut mha.value);
    linear(
        slots,
        &format!("{l}.attention.output.dense"),
        &mut mha.output,
    );
    // Post-LN: norm_1 follows attention, norm_2 the feed-forward block.
    layer_norm(
        slots,
        &format!("{l}.attention.output.LayerNorm"),
        &mut layer.norm_1,
    );
    linear(
        slots,
        &format!("{l}.intermediate.dense"),
        &mut layer.pwff.linear_inner,
    );
    linear(
        slots,
        &format!("{l}.output.dense"),
        &mut layer.pwff.linear_outer,
    );
    layer_norm(slots, &format!("{l}.output.LayerNorm"), &mut layer.norm_2);
}

/// The model's parameters under HuggingFace BERT names, in PyTorch layout.
pub fn bert_tensors(model: &MlmModel) -> Result<BTreeMap<String, NamedTensor>> {
    let mut model = model.clone();
    read_slots(slots(&mut model)?)
}

/// `model` (built with the checkpoint's configuration) with every parameter replaced by the
/// tensor of the same HuggingFace name. A missing tensor or a shape that differs is an error
/// naming it; tensors the model has no place for are returned, for the caller to report.
pub fn load_bert_tensors(
    mut model: MlmModel,
    tensors: &BTreeMap<String, NamedTensor>,
) -> Result<(MlmModel, Vec<String>)> {
    let device = model.encoder.embedding.tokens.weight.device();
    let unused = write_slots(slots(&mut model)?, tensors, &device)?;
    Ok((model, unused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::TransformerConfig;
    use crate::model::named_tensors::values;
    use burn::prelude::*;

    fn bert(seed: u64) -> MlmModel {
        let config = TransformerConfig::named("tiny", 40)
            .unwrap()
            .with_max_len(12)
            .with_gelu(true)
            .with_learned_positions(true)
            .with_bert_embedding(true)
            .with_layer_norm_eps(1e-12);
        let device = Device::flex();
        let _rng = crate::seed::device_rng_lock();
        device.seed(seed);
        MlmModel::new(&config, &device)
    }

    #[test]
    fn names_and_shapes_follow_bert_and_a_round_trip_restores_every_value() {
        let model = bert(1);
        let tensors = bert_tensors(&model).unwrap();
        // 5 embedding tensors, 16 per layer over 2 layers, 5 in the head.
        assert_eq!(tensors.len(), 5 + 16 * 2 + 5);
        assert_eq!(
            tensors["bert.embeddings.word_embeddings.weight"].shape,
            [40, 64]
        );
        assert_eq!(
            tensors["bert.encoder.layer.1.intermediate.dense.weight"].shape,
            [128, 64]
        );
        assert_eq!(
            tensors["bert.encoder.layer.1.output.dense.weight"].shape,
            [64, 128]
        );
        assert_eq!(tensors["cls.predictions.bias"].shape, [40]);
        // A linear weight is the transpose of burn's.
        let inner = values(
            model.encoder.layers.layers[1]
                .pwff
                .linear_inner
                .weight
                .val(),
        )
        .unwrap();
        let hf = &tensors["bert.encoder.layer.1.intermediate.dense.weight"].values;
        assert_eq!(hf[3 * 64 + 5], inner[5 * 128 + 3]);

        let (loaded, unused) = load_bert_tensors(bert(2), &tensors).unwrap();
        assert!(unused.is_empty());
        assert_eq!(bert_tensors(&loaded).unwrap(), tensors);
    }

    #[test]
    fn missing_or_misshapen_tensors_are_named() {
        let mut tensors = bert_tensors(&bert(1)).unwrap();
        tensors.insert(
            "bert.pooler.dense.weight".into(),
            tensors["cls.predictions.bias"].clone(),
        );
        let (_, unused) = load_bert_tensors(bert(2), &tensors).unwrap();
        assert_eq!(unused, ["bert.pooler.dense.weight"]);

        let name = "bert.encoder.layer.0.attention.self.key.weight";
        tensors.get_mut(name).unwrap().shape = vec![32, 128];
        let err = load_bert_tensors(bert(2), &tensors)
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains("[32, 128]"), "{err}");
        tensors.remove(name);
        let err = load_bert_tensors(bert(2), &tensors)
            .unwrap_err()
            .to_string();
        assert!(err.contains(name), "{err}");
    }

    #[test]
    fn a_transformer_model_is_refused() {
        let config = TransformerConfig::named("tiny", 40)
            .unwrap()
            .with_max_len(12);
        let model = MlmModel::new(&config, &Device::flex());
        let err = bert_tensors(&model).unwrap_err().to_string();
        assert!(err.contains("arch = \"bert\""), "{err}");
    }
}
