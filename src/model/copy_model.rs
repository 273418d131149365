//! A model for the search tests: `tiny` trained to copy short sequences, so that its outputs
//! have lengths and endings worth searching over.

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use rand::{Rng, SeedableRng};

use crate::model::config::TransformerConfig;
use crate::model::search::source_batch;
use crate::model::seq2seq::{Seq2Seq, TranslationInput};
use crate::model::special_tokens::SpecialTokenIds;

/// The special tokens' ids of cloze's own vocabularies (`data::tokenizer`'s fixed ids), written
/// out so that the model layer's tests need no other layer.
pub(crate) fn cloze_ids() -> SpecialTokenIds {
    SpecialTokenIds {
        pad: 0,
        cls: 2,
        sep: 3,
        bos: 5,
        eos: 6,
    }
}

/// `tiny` trained for 60 steps to copy its source (ids 7 to 39, 1 to 5 of them): it ends some
/// outputs with `[EOS]` and cuts others, both ends of a search.
pub(crate) fn trained_copy_model(device: &Device) -> Seq2Seq {
    let config = TransformerConfig::named("tiny", 40)
        .unwrap()
        .with_max_len(24)
        .with_dropout(0.0);
    let _rng = crate::seed::device_rng_lock();
    let train = device.clone().autodiff();
    train.seed(21);
    let mut model = Seq2Seq::new(&config, 2, &train);
    let mut optimizer = AdamWConfig::new().init();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for _ in 0..60 {
        let sequences: Vec<Vec<u32>> = (0..16)
            .map(|_| {
                (0..rng.random_range(1..6))
                    .map(|_| rng.random_range(7..40))
                    .collect()
            })
            .collect();
        let loss = model.loss(copy_batch(&sequences, &train), 0.0).loss;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(3e-3, model, grads);
    }
    model.valid()
}

/// The batch that teaches to translate each of `sequences` into itself.
pub(crate) fn copy_batch(sequences: &[Vec<u32>], device: &Device) -> TranslationInput {
    let special = cloze_ids();
    let (source, source_padding) = source_batch(sequences, special, device);
    let len = sequences.iter().map(Vec::len).max().unwrap() + 1;
    let padded = |row: Vec<u32>| {
        let mut row: Vec<i64> = row.into_iter().map(i64::from).collect();
        row.resize(len, i64::from(special.pad));
        row
    };
    let inputs: Vec<i64> = sequences
        .iter()
        .flat_map(|s| padded([vec![special.bos], s.clone()].concat()))
        .collect();
    let targets: Vec<i64> = sequences
        .iter()
        .flat_map(|s| padded([s.clone(), vec![special.eos]].concat()))
        .collect();
    let padding: Vec<bool> = targets
        .iter()
        .map(|&t| t == i64::from(special.pad))
        .collect();
    let shape = [sequences.len(), len];
    TranslationInput {
        source,
        source_padding,
        decoder_input: Tensor::from_data(TensorData::new(inputs, shape), device),
        target: Tensor::from_data(TensorData::new(targets, shape), device),
        target_padding: Tensor::from_data(TensorData::new(padding, shape), device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batcher::special_token_ids;
    use crate::data::tokenizer::SpecialTokens;

    #[test]
    fn the_ids_are_clozes_own() {
        assert_eq!(cloze_ids(), special_token_ids(&SpecialTokens::cloze()));
    }
}
