//! Masked-token evaluation over a split masked with a fixed seed: top-1 and top-5 accuracy, loss
//! and perplexity, broken down by what each position was fed (`[MASK]`, a random token, the
//! unchanged token) and by the script of the original token, next to the unigram baseline (always
//! predicting the most frequent training token) that a model must beat to show it reads context.

use std::sync::Arc;

use anyhow::{Result, bail};
use burn::prelude::*;
use serde::Serialize;

use crate::batcher::mlm_input;
use crate::data::batch::MaskedBatch;
use crate::data::loader::{Loader, LoaderConfig, ShardSet};
use crate::data::masking::Replacement;
use crate::data::position::LoaderPosition;
use crate::eval::script::Script;
use crate::model::mlm::MlmModel;

/// A prediction counts for top-k accuracy when fewer than k logits are strictly above the target's.
const TOP_K: u32 = 5;

/// Counts over one group of predicted positions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MlmTally {
    pub predictions: u64,
    /// Top-1 hits.
    pub correct: u64,
    /// Top-5 hits.
    pub top5: u64,
    /// Sum of the cross-entropies (nats).
    pub loss_sum: f64,
}

impl MlmTally {
    fn add(&mut self, rank: u32, loss: f64) {
        self.predictions += 1;
        self.correct += u64::from(rank == 0);
        self.top5 += u64::from(rank < TOP_K);
        self.loss_sum += loss;
    }

    fn ratio(&self, count: u64) -> f64 {
        if self.predictions == 0 {
            0.0
        } else {
            count as f64 / self.predictions as f64
        }
    }

    pub fn accuracy(&self) -> f64 {
        self.ratio(self.correct)
    }

    pub fn top5_accuracy(&self) -> f64 {
        self.ratio(self.top5)
    }

    /// Mean cross-entropy.
    pub fn loss(&self) -> f64 {
        if self.predictions == 0 {
            0.0
        } else {
            self.loss_sum / self.predictions as f64
        }
    }

    /// The figures as reported; `None` for a group without predictions.
    pub fn figures(&self) -> MlmFigures {
        let known = |v: f64| (self.predictions > 0).then_some(v);
        MlmFigures {
            predictions: self.predictions,
            accuracy: known(self.accuracy()),
            top5: known(self.top5_accuracy()),
            loss: known(self.loss()),
            perplexity: known(self.loss().exp()),
        }
    }
}

/// What `cloze eval mlm --json` prints for a group of positions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MlmFigures {
    pub predictions: u64,
    pub accuracy: Option<f64>,
    pub top5: Option<f64>,
    pub loss: Option<f64>,
    pub perplexity: Option<f64>,
}

/// What an evaluation measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MlmEvaluation {
    pub all: MlmTally,
    /// By what the position was fed: `[MASK]`, a random token, the unchanged token.
    pub by_kind: [MlmTally; 3],
    /// By the script of the original token (see [`Script`]); all `Other` without a script table.
    pub by_script: [MlmTally; 3],
    /// The unigram baseline's top-1 hits at the `[MASK]` positions, when asked for.
    pub unigram_mask_correct: Option<u64>,
    pub batches: usize,
    /// Real (non-padding) tokens fed to the model.
    pub tokens: u64,
    pub seconds: f64,
}

fn kind_index(replacement: Replacement) -> usize {
    match replacement {
        Replacement::Mask => 0,
        Replacement::Random => 1,
        Replacement::Unchanged => 2,
    }
}

impl MlmEvaluation {
    pub fn loss(&self) -> f64 {
        self.all.loss()
    }

    pub fn accuracy(&self) -> f64 {
        self.all.accuracy()
    }

    pub fn predictions(&self) -> u64 {
        self.all.predictions
    }

    /// The positions fed `[MASK]`.
    pub fn mask(&self) -> &MlmTally {
        &self.by_kind[kind_index(Replacement::Mask)]
    }

    pub fn unigram_mask_accuracy(&self) -> Option<f64> {
        self.unigram_mask_correct.map(|c| self.mask().ratio(c))
    }

    pub fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.seconds.max(1e-9)
    }

    /// Adds a batch's selected positions to the tallies (all, by what each was fed, by the script
    /// of its original token), given each one's rank and loss in the flat order of
    /// `masked_positions`.
    fn add_batch(
        &mut self,
        batch: &MaskedBatch,
        ranks: Vec<u32>,
        losses: Vec<f64>,
        options: &MlmEvalOptions,
    ) {
        let kinds = batch
            .selected
            .iter()
            .flat_map(|row| row.iter().map(|&(_, r)| r));
        let originals = batch
            .masked_positions()
            .into_iter()
            .map(|p| batch.labels[p]);
        for (((rank, loss), kind), original) in
            ranks.into_iter().zip(losses).zip(kinds).zip(originals)
        {
            let script = options
                .scripts
                .as_ref()
                .and_then(|s| s.get(original as usize).copied())
                .unwrap_or(Script::Other);
            self.all.add(rank, loss);
            self.by_kind[kind_index(kind)].add(rank, loss);
            self.by_script[script.index()].add(rank, loss);
            if kind == Replacement::Mask
                && let (Some(unigram), Some(hits)) =
                    (options.unigram, self.unigram_mask_correct.as_mut())
            {
                *hits += u64::from(i64::from(unigram) == original);
            }
        }
    }

    /// The report of `cloze eval mlm`: figures over all positions, then by kind and by script.
    pub fn report(&self) -> MlmReport {
        let all = self.all.figures();
        let kind = |r| self.by_kind[kind_index(r)].figures();
        let script = |s: Script| self.by_script[s.index()].figures();
        MlmReport {
            predictions: all.predictions,
            accuracy: all.accuracy,
            top5: all.top5,
            loss: all.loss,
            perplexity: all.perplexity,
            by_kind: ByKind {
                mask: kind(Replacement::Mask),
                random: kind(Replacement::Random),
                unchanged: kind(Replacement::Unchanged),
            },
            by_script: ByScript {
                hangul: script(Script::Hangul),
                latin: script(Script::Latin),
                other: script(Script::Other),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MlmReport {
    pub predictions: u64,
    pub accuracy: Option<f64>,
    pub top5: Option<f64>,
    pub loss: Option<f64>,
    pub perplexity: Option<f64>,
    pub by_kind: ByKind,
    pub by_script: ByScript,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ByKind {
    pub mask: MlmFigures,
    pub random: MlmFigures,
    pub unchanged: MlmFigures,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ByScript {
    pub hangul: MlmFigures,
    pub latin: MlmFigures,
    pub other: MlmFigures,
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

/// How an evaluation runs, besides the data.
#[derive(Clone, Debug, Default)]
pub struct MlmEvalOptions {
    /// Stop after this many batches (0: the whole split, once).
    pub max_batches: usize,
    /// The unigram baseline's prediction, scored at the `[MASK]` positions.
    pub unigram: Option<u32>,
    /// The script of every vocabulary id, for the breakdown by script.
    pub scripts: Option<Vec<Script>>,
    /// Show a progress bar over the split's tokens.
    pub progress: bool,
}

/// For each row of `logits` (`[n, vocab]`), how many logits are strictly above the target's (0:
/// a top-1 hit) and the cross-entropy of the target, computed on the logits' device.
pub fn target_ranks_and_losses(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
) -> Result<(Vec<u32>, Vec<f64>)> {
    let [n, vocab] = logits.dims();
    if n == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let target_logit = logits.clone().gather(1, targets.reshape([n, 1]));
    let ranks = logits
        .clone()
        .greater(target_logit.clone().expand([n, vocab]))
        .int()
        .sum_dim(1);
    let max = logits.clone().max_dim(1);
    let log_sum_exp = (logits - max.clone().expand([n, vocab]))
        .exp()
        .sum_dim(1)
        .log()
        + max;
    let losses = log_sum_exp - target_logit;
    let read = |data: TensorData, what: &str| {
        data.convert::<f64>()
            .try_to_vec::<f64>()
            .map_err(|e| anyhow::anyhow!("cannot read the {what}: {e:?}"))
    };
    let ranks = read(ranks.into_data(), "ranks")?;
    let losses = read(losses.into_data(), "losses")?;
    Ok((ranks.into_iter().map(|r| r as u32).collect(), losses))
}

/// Evaluates `model` (on a plain device, in validation mode: no autodiff, no dropout) over the
/// split of `config`, read in stored order for one epoch with the masks of `config.seed`.
pub fn evaluate_mlm(
    model: &MlmModel,
    set: Arc<ShardSet>,
    config: &LoaderConfig,
    options: &MlmEvalOptions,
) -> Result<MlmEvaluation> {
    let config = LoaderConfig {
        shuffle: false,
        epochs: Some(1),
        ..config.clone()
    };
    let started = std::time::Instant::now();
    let device = model.encoder.embedding.tokens.weight.device();
    let bar = progress_bar(options.progress, set.tokens());
    let mut evaluation = MlmEvaluation {
        unigram_mask_correct: options.unigram.map(|_| 0),
        ..MlmEvaluation::default()
    };
    for batch in Loader::start(set, config, LoaderPosition::default()) {
        if options.max_batches > 0 && evaluation.batches >= options.max_batches {
            break;
        }
        let batch = batch?;
        evaluation.batches += 1;
        evaluation.tokens += batch.tokens() as u64;
        let input = mlm_input(&batch, &device);
        let targets = input.targets.clone();
        let logits = model.logits(input.ids, input.padding, input.positions);
        let (ranks, losses) = target_ranks_and_losses(logits, targets)?;
        evaluation.add_batch(&batch, ranks, losses, options);
        let content = batch.special_mask.iter().filter(|&&s| !s).count() as u64;
        bar.inc(content);
    }
    bar.finish_and_clear();
    if evaluation.all.predictions == 0 && evaluation.batches > 0 {
        bail!("nothing was selected for prediction: the input holds no maskable token");
    }
    evaluation.seconds = started.elapsed().as_secs_f64();
    Ok(evaluation)
}

/// A bar over the split's `tokens` when `shown`, else one that draws nothing.
fn progress_bar(shown: bool, tokens: u64) -> indicatif::ProgressBar {
    if shown {
        crate::progress::items_bar(tokens, "evaluating")
    } else {
        indicatif::ProgressBar::hidden()
    }
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
