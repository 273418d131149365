//! Where the loader's batches become the model's tensors, so that training and evaluation feed a
//! model the same way and the data layer needs no tensor code. (Beam search still builds its
//! source tensors itself, in `model::search`.) Also where the tokenizer's special-token ids are
//! handed to the model, which knows no tokenizer.

use burn::prelude::*;

use crate::data::batch::MaskedBatch;
use crate::data::pairs::PairBatch;
use crate::data::tokenizer::SpecialTokens;
use crate::model::mlm::MlmInput;
use crate::model::search::source_batch;
use crate::model::seq2seq::TranslationInput;
use crate::model::special_tokens::SpecialTokenIds;

/// The ids of the tokenizer's special tokens, as the model takes them: a vocabulary without
/// `[BOS]` and `[EOS]` decodes from `[CLS]` to `[SEP]`, as BERT2BERT does.
pub fn special_token_ids(special: &SpecialTokens) -> SpecialTokenIds {
    SpecialTokenIds {
        pad: special.pad,
        cls: special.cls,
        sep: special.sep,
        bos: special.decoder_start(),
        eos: special.decoder_end(),
    }
}

/// The tensors of one batch on `device`: only the selected positions carry targets.
pub fn mlm_input(batch: &MaskedBatch, device: &Device) -> MlmInput {
    let shape = [batch.batch_size, batch.seq_len];
    let ids: Vec<i64> = batch.input_ids.iter().map(|&i| i64::from(i)).collect();
    let positions = batch.masked_positions();
    let targets: Vec<i64> = positions.iter().map(|&p| batch.labels[p]).collect();
    let positions: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
    let n = positions.len();
    MlmInput {
        ids: Tensor::from_data(TensorData::new(ids, shape), device),
        padding: Tensor::from_data(TensorData::new(batch.padding_mask.clone(), shape), device),
        positions: Tensor::from_data(TensorData::new(positions, [n]), device),
        targets: Tensor::from_data(TensorData::new(targets, [n]), device),
    }
}

/// The tensors of a batch of pairs: `[CLS] source [SEP]`, decoder input `[BOS] target`, target
/// `target [EOS]`, padded.
pub fn translation_input(
    batch: &PairBatch,
    special: SpecialTokenIds,
    device: &Device,
) -> TranslationInput {
    let (source, source_padding) = source_batch(&batch.sources, special, device);
    let len = batch.targets.iter().map(Vec::len).max().unwrap_or(0) + 1;
    let rows = batch.targets.len();
    let (mut input, mut target, mut padding) = (
        Vec::with_capacity(rows * len),
        Vec::with_capacity(rows * len),
        Vec::with_capacity(rows * len),
    );
    for t in &batch.targets {
        let pad = len - t.len() - 1;
        input.push(i64::from(special.bos));
        input.extend(t.iter().map(|&i| i64::from(i)));
        input.extend(std::iter::repeat_n(i64::from(special.pad), pad));
        target.extend(t.iter().map(|&i| i64::from(i)));
        target.push(i64::from(special.eos));
        target.extend(std::iter::repeat_n(i64::from(special.pad), pad));
        padding.extend(std::iter::repeat_n(false, t.len() + 1));
        padding.extend(std::iter::repeat_n(true, pad));
    }
    let shape = [rows, len];
    TranslationInput {
        source,
        source_padding,
        decoder_input: Tensor::from_data(TensorData::new(input, shape), device),
        target: Tensor::from_data(TensorData::new(target, shape), device),
        target_padding: Tensor::from_data(TensorData::new(padding, shape), device),
    }
}
