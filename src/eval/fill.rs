//! Fill-mask: the model's most likely tokens, with their probabilities, at each `[MASK]` of a text.

use anyhow::{Result, bail};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::Serialize;

use crate::data::tokenizer::ClozeTokenizer;
use crate::model::mlm::MlmModel;

/// One candidate for a `[MASK]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub token: String,
    pub id: u32,
    pub probability: f32,
}

/// The candidates for one `[MASK]`, most likely first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MaskFill {
    /// Index of the `[MASK]` in the model's input (`[CLS]` is 0).
    pub position: usize,
    pub candidates: Vec<Candidate>,
}

/// What `cloze fill` prints for one text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FillResult {
    pub text: String,
    /// The tokens the model read, `[CLS]` and `[SEP]` included.
    pub tokens: Vec<String>,
    pub masks: Vec<MaskFill>,
    /// The text with every `[MASK]` replaced by its most likely token.
    pub filled: String,
}

/// Predicts the `top_k` most likely tokens at every `[MASK]` of `text`. Fails when the text has
/// no `[MASK]` or is longer than `max_len` tokens with `[CLS]` and `[SEP]`.
pub fn fill_mask(
    model: &MlmModel,
    tokenizer: &ClozeTokenizer,
    text: &str,
    top_k: usize,
    max_len: usize,
) -> Result<FillResult> {
    if top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let (ids, positions) = model_input(tokenizer, text, max_len)?;
    let (vocab, probabilities) = probabilities_at(model, &ids, &positions)?;
    let masks: Vec<MaskFill> = positions
        .iter()
        .zip(probabilities.chunks(vocab))
        .map(|(&position, row)| MaskFill {
            position,
            candidates: most_likely(row, top_k, tokenizer),
        })
        .collect();
    let mut filled_ids = ids.clone();
    for mask in &masks {
        filled_ids[mask.position] = mask.candidates[0].id;
    }
    Ok(FillResult {
        text: text.to_owned(),
        tokens: ids.iter().map(|&id| tokenizer.token(id)).collect(),
        masks,
        filled: tokenizer.decode(&filled_ids[1..ids.len() - 1])?,
    })
}

/// The model's input for `text`, `[CLS] ids [SEP]`, and the positions of its `[MASK]`s; an error
/// when there is no `[MASK]` or the input is longer than `max_len`.
fn model_input(
    tokenizer: &ClozeTokenizer,
    text: &str,
    max_len: usize,
) -> Result<(Vec<u32>, Vec<usize>)> {
    let special = tokenizer.special();
    let mask = tokenizer.token(special.mask);
    let body = tokenizer
        .encode_batch(vec![mask_takes_the_space_before(text, &mask)])?
        .pop()
        .unwrap_or_default();
    let mut ids = Vec::with_capacity(body.len() + 2);
    ids.push(special.cls);
    ids.extend(body);
    ids.push(special.sep);
    let positions: Vec<usize> = (0..ids.len()).filter(|&i| ids[i] == special.mask).collect();
    if positions.is_empty() {
        bail!("\"{text}\" has no {mask} to fill (write {mask} where a token is missing)");
    }
    if ids.len() > max_len {
        bail!(
            "\"{text}\" is {} tokens with [CLS] and [SEP]; the model reads at most {max_len}",
            ids.len()
        );
    }
    Ok((ids, positions))
}

/// `text` without the whitespace before each `mask`, as HF's `lstrip` on a mask token drops it: a
/// masked word's piece carries its own word-start mark (`▁state`), so the space before `[MASK]`
/// would otherwise become a lone `▁` piece that pretraining never shows the model.
fn mask_takes_the_space_before(text: &str, mask: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split(mask).enumerate() {
        if i > 0 {
            let kept = out.trim_end().len();
            out.truncate(kept);
            out.push_str(mask);
        }
        out.push_str(part);
    }
    out
}

/// The model's probabilities over the vocabulary at `positions` of `ids`: the vocabulary's size
/// and one row of that many per position.
fn probabilities_at(
    model: &MlmModel,
    ids: &[u32],
    positions: &[usize],
) -> Result<(usize, Vec<f32>)> {
    let device = model.encoder.embedding.tokens.weight.device();
    let len = ids.len();
    let input: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    let logits = model.logits(
        Tensor::from_data(TensorData::new(input, [1, len]), &device),
        Tensor::from_data(TensorData::new(vec![false; len], [1, len]), &device),
        Tensor::from_data(
            TensorData::new(
                positions.iter().map(|&p| p as i64).collect::<Vec<_>>(),
                [positions.len()],
            ),
            &device,
        ),
    );
    let vocab = logits.dims()[1];
    let probabilities = softmax(logits, 1)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read the probabilities: {e:?}"))?;
    Ok((vocab, probabilities))
}

/// The `top_k` most likely tokens of a row of probabilities, the lowest id first among equals.
fn most_likely(row: &[f32], top_k: usize, tokenizer: &ClozeTokenizer) -> Vec<Candidate> {
    let mut order: Vec<u32> = (0..row.len() as u32).collect();
    order.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(top_k)
        .map(|id| Candidate {
            token: tokenizer.token(id),
            id,
            probability: row[id as usize],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_takes_the_space_before_it_and_nothing_else() {
        let take = |t| mask_takes_the_space_before(t, "[MASK]");
        assert_eq!(
            take("the president said that the [MASK] of the union"),
            "the president said that the[MASK] of the union"
        );
        assert_eq!(
            take("[MASK] of  \t[MASK] [MASK]."),
            "[MASK] of[MASK][MASK]."
        );
        assert_eq!(take("no mask here "), "no mask here ");
        assert_eq!(take("카페 [MASK]"), "카페[MASK]");
    }
}
