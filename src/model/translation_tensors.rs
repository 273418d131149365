//! The tensors a translation step reads (a batch of pairs) and what its loss returns.

use burn::prelude::*;

/// What the model predicts at the non-padding target positions of a batch, row by row.
#[derive(Clone, Debug)]
pub struct PredictedTargets {
    /// The mean (label-smoothed) cross-entropy, in f32.
    pub loss: Tensor<1>,
    /// `[positions, vocab]`, in the computing precision.
    pub logits: Tensor<2>,
    /// `[positions]`: the tokens to predict.
    pub targets: Tensor<1, Int>,
}

/// One batch of pairs as tensors: the source, the decoder input `[BOS] y1 .. y(n-1)` and the
/// target `y1 .. yn [EOS]`, padded with `[PAD]` (true in the paddings).
#[derive(Clone, Debug)]
pub struct TranslationInput {
    pub source: Tensor<2, Int>,
    pub source_padding: Tensor<2, Bool>,
    pub decoder_input: Tensor<2, Int>,
    pub target: Tensor<2, Int>,
    pub target_padding: Tensor<2, Bool>,
}
