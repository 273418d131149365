//! Masked-token evaluation: loss and top-1 accuracy over a split masked with a fixed seed, also
//! at the positions fed `[MASK]` alone, next to the unigram baseline (always predicting the most
//! frequent training token) that a model must beat to show it reads context.

use std::sync::Arc;

use anyhow::Result;

use crate::data::loader::{LoaderConfig, LoaderPosition, SequenceStream, ShardSet};
use crate::data::masking::Replacement;
use crate::model::mlm::MlmModel;
use crate::train::step::batch_input;

/// What an evaluation measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MlmEvaluation {
    /// Mean cross-entropy over the selected positions.
    pub loss: f64,
    /// Top-1 accuracy at the selected positions.
    pub accuracy: f64,
    /// Top-1 accuracy at the positions fed `[MASK]`.
    pub mask_accuracy: f64,
    /// The unigram baseline's top-1 accuracy at the same `[MASK]` positions, when asked for.
    pub unigram_mask_accuracy: Option<f64>,
    pub predictions: usize,
    pub mask_predictions: usize,
    pub batches: usize,
}

/// The id a unigram model always predicts: the most frequent non-special id of `counts`.
pub fn most_frequent_token(counts: &[u64], is_special: impl Fn(u32) -> bool) -> Option<u32> {
    counts
        .iter()
        .enumerate()
        .filter(|&(id, &c)| c > 0 && !is_special(id as u32))
        .max_by_key(|&(id, &c)| (c, std::cmp::Reverse(id)))
        .map(|(id, _)| id as u32)
}

/// Evaluates `model` (in validation mode: no dropout, no autodiff) over the split of `config`,
/// read in stored order for one epoch, at most `max_batches` batches (0: all).
pub fn evaluate_mlm(
    model: &MlmModel,
    set: Arc<ShardSet>,
    config: &LoaderConfig,
    max_batches: usize,
    unigram: Option<u32>,
) -> Result<MlmEvaluation> {
    let config = LoaderConfig {
        shuffle: false,
        epochs: Some(1),
        ..config.clone()
    };
    let device = model.encoder.embedding.tokens.weight.device();
    let mut stream = SequenceStream::new(set, config, LoaderPosition::default());
    let mut loss_sum = 0.0;
    let (mut correct, mut predictions) = (0usize, 0usize);
    let (mut mask_correct, mut mask_predictions, mut unigram_correct) = (0usize, 0usize, 0usize);
    let mut batches = 0;
    while max_batches == 0 || batches < max_batches {
        let Some(batch) = stream.next_batch()? else {
            break;
        };
        batches += 1;
        let input = batch_input(&batch, &device);
        let targets: Vec<i64> = batch
            .masked_positions()
            .iter()
            .map(|&p| batch.labels[p])
            .collect();
        let output = model.forward(input);
        let n = targets.len();
        let loss: f64 = output.loss.into_scalar::<f32>().into();
        loss_sum += loss * n as f64;
        let predicted: Vec<i64> = output
            .logits
            .argmax(1)
            .squeeze_dim::<1>(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| anyhow::anyhow!("cannot read predictions: {e:?}"))?;
        // The selected positions in the flat order of `masked_positions`, with what they were fed.
        let fed_mask: Vec<bool> = batch
            .selected
            .iter()
            .flat_map(|row| row.iter().map(|&(_, r)| r == Replacement::Mask))
            .collect();
        for ((&p, &t), &is_mask) in predicted.iter().zip(&targets).zip(&fed_mask) {
            let hit = p == t;
            correct += usize::from(hit);
            if is_mask {
                mask_predictions += 1;
                mask_correct += usize::from(hit);
                unigram_correct += usize::from(unigram.is_some_and(|u| i64::from(u) == t));
            }
        }
        predictions += n;
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(MlmEvaluation {
        loss: if predictions == 0 {
            0.0
        } else {
            loss_sum / predictions as f64
        },
        accuracy: ratio(correct, predictions),
        mask_accuracy: ratio(mask_correct, mask_predictions),
        unigram_mask_accuracy: unigram.map(|_| ratio(unigram_correct, mask_predictions)),
        predictions,
        mask_predictions,
        batches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unigram_prediction_is_the_most_frequent_non_special_id() {
        let counts = [100, 0, 5, 9, 9, 1];
        assert_eq!(most_frequent_token(&counts, |id| id == 0), Some(3));
        assert_eq!(most_frequent_token(&counts, |id| id <= 4), Some(5));
        assert_eq!(most_frequent_token(&[0, 0], |_| false), None);
    }
}
