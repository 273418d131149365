//! The MLM model's parameters under the HuggingFace names of its architecture: BERT's or
//! ModernBERT's, told apart by the model's own layers.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::model::bert_names::{bert_tensors, load_bert_tensors};
use crate::model::mlm::MlmModel;
use crate::model::modernbert::names::{load_modernbert_tensors, modernbert_tensors};
use crate::model::named_tensors::NamedTensor;

/// The model's parameters under HuggingFace names, in PyTorch layout.
pub fn hf_tensors(model: &MlmModel) -> Result<BTreeMap<String, NamedTensor>> {
    if model.encoder.modernbert.is_some() {
        modernbert_tensors(model)
    } else {
        bert_tensors(model)
    }
}

/// `model` with every parameter replaced by the tensor of its HuggingFace name, and the names of
/// the tensors it has no place for.
pub fn load_hf_tensors(
    model: MlmModel,
    tensors: &BTreeMap<String, NamedTensor>,
) -> Result<(MlmModel, Vec<String>)> {
    if model.encoder.modernbert.is_some() {
        load_modernbert_tensors(model, tensors)
    } else {
        load_bert_tensors(model, tensors)
    }
}
