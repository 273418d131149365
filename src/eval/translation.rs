//! Translation evaluation on pairs: the teacher-forced loss and token accuracy, and BLEU and chrF
//! of beam-search translations, the figures a fine-tuning run validates on.

use std::sync::Arc;

use anyhow::Result;
use burn::prelude::*;
use serde::Serialize;

use crate::batcher::{special_token_ids, translation_input};
use crate::data::pairs::{PairBatch, PairLoaderConfig, PairPosition, PairSet, PairStream};
use crate::data::tokenizer::ClozeTokenizer;
use crate::eval::bleu::{corpus_bleu, corpus_chrf};
use crate::model::beam_search::beam_search;
use crate::model::search::SearchConfig;
use crate::model::seq2seq::{PredictedTargets, Seq2Seq};
use crate::model::special_tokens::SpecialTokenIds;

/// Validation figures of a translation model on pairs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TranslationEvaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub bleu: f64,
    pub chrf: f64,
    pub sentences: usize,
    /// (source, hypothesis, reference) of every pair, in order.
    pub examples: Vec<(String, String, String)>,
}

/// What one batch of pairs scores under teacher forcing.
pub struct TeacherForced {
    /// The mean cross-entropy over the predicted target positions (label-smoothed if asked).
    pub loss: Tensor<1>,
    /// Target positions predicted right (top-1).
    pub correct: i64,
    /// Target positions predicted: every target token and `[EOS]`.
    pub predicted: usize,
    /// Real (non-padding) tokens read: sources with `[CLS]`/`[SEP]`, and the predicted targets.
    pub tokens: usize,
}

/// The number of target positions `batch` makes the decoder predict.
pub fn predicted_positions(batch: &PairBatch) -> usize {
    batch.targets.iter().map(|t| t.len() + 1).sum()
}

/// Loss and token accuracy of one batch with teacher forcing, on a model in either mode.
pub fn teacher_forced(
    model: &Seq2Seq,
    batch: &PairBatch,
    smoothing: f64,
    special: SpecialTokenIds,
) -> TeacherForced {
    let device = model.encoder.embedding.tokens.weight.device();
    let input = translation_input(batch, special, &device);
    let PredictedTargets {
        loss,
        logits,
        targets,
    } = model.loss(input, smoothing);
    let correct = logits
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(targets)
        .int()
        .sum()
        .into_scalar::<i64>();
    let predicted = predicted_positions(batch);
    let tokens = batch.sources.iter().map(|s| s.len() + 2).sum::<usize>() + predicted;
    TeacherForced {
        loss,
        correct,
        predicted,
        tokens,
    }
}

/// How to evaluate on a set of pairs.
pub struct TranslationEvalOptions<'a> {
    /// Batching (read in order, once, whatever its shuffle and epochs say).
    pub loader: &'a PairLoaderConfig,
    pub tokenizer: &'a ClozeTokenizer,
    pub search: &'a SearchConfig,
    /// Stop after this many batches (0: every pair).
    pub max_batches: usize,
}

/// Loss and accuracy (teacher forcing) and BLEU and chrF (decoding) of `model` on `pairs`; `None`
/// when there is nothing to predict.
pub fn evaluate_translation(
    model: &Seq2Seq,
    pairs: Arc<PairSet>,
    options: &TranslationEvalOptions,
) -> Result<Option<TranslationEvaluation>> {
    let config = PairLoaderConfig {
        shuffle: false,
        epochs: Some(1),
        ..options.loader.clone()
    };
    let stream = PairStream::new(pairs, config, PairPosition::default());
    let (mut loss_sum, mut correct, mut predicted) = (0.0, 0i64, 0usize);
    let mut examples = Vec::new();
    for (i, batch) in stream.enumerate() {
        if options.max_batches > 0 && i >= options.max_batches {
            break;
        }
        let special = special_token_ids(options.tokenizer.special());
        let scored = teacher_forced(model, &batch, 0.0, special);
        loss_sum += f64::from(scored.loss.into_scalar::<f32>()) * scored.predicted as f64;
        correct += scored.correct;
        predicted += scored.predicted;
        examples.extend(translate_batch(model, &batch, options)?);
    }
    if predicted == 0 {
        return Ok(None);
    }
    let (hypotheses, references): (Vec<String>, Vec<String>) = examples
        .iter()
        .map(|(_, h, r)| (h.clone(), r.clone()))
        .unzip();
    Ok(Some(TranslationEvaluation {
        loss: loss_sum / predicted as f64,
        accuracy: correct as f64 / predicted as f64,
        bleu: corpus_bleu(&hypotheses, &references)?.score,
        chrf: corpus_chrf(&hypotheses, &references)?.score,
        sentences: hypotheses.len(),
        examples,
    }))
}

/// (source, hypothesis, reference) of each pair of `batch`, decoded to text.
fn translate_batch(
    model: &Seq2Seq,
    batch: &PairBatch,
    options: &TranslationEvalOptions,
) -> Result<Vec<(String, String, String)>> {
    let special = special_token_ids(options.tokenizer.special());
    let outputs = beam_search(model, &batch.sources, options.search, special);
    let decode = |ids: &[u32]| options.tokenizer.decode(ids);
    batch
        .sources
        .iter()
        .zip(outputs)
        .zip(&batch.targets)
        .map(|((source, output), target)| Ok((decode(source)?, decode(&output)?, decode(target)?)))
        .collect()
}
