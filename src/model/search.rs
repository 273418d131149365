//! Decoding a batch of sources, incrementally over the decoder's key/value cache: how to decode,
//! the encoder's input and greedy search here; beam search in [`super::beam_search`].

use burn::prelude::*;

use crate::model::seq2seq::Seq2Seq;
use crate::model::special_tokens::SpecialTokenIds;

/// How to decode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchConfig {
    /// Hypotheses kept per sentence; 1 is greedy search.
    pub beam: usize,
    /// The exponent of the length in the score of a finished hypothesis: 0 ranks by
    /// log-probability alone (favouring short outputs), 1 by log-probability per token.
    pub length_penalty: f64,
    /// Tokens generated at most, `[EOS]` included.
    pub max_len: usize,
    /// Stop a sentence's beam search once `beam` hypotheses have finished (HuggingFace's
    /// `early_stopping=True`), rather than once no live hypothesis can outrank them: faster,
    /// and shorter outputs.
    pub early_stopping: bool,
}

/// The encoder's input for `sources` (ids without special tokens): `[CLS] ids [SEP]`, padded.
pub fn source_batch(
    sources: &[Vec<u32>],
    special: SpecialTokenIds,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Bool>) {
    let len = sources.iter().map(|s| s.len() + 2).max().unwrap_or(2);
    let mut ids = Vec::with_capacity(sources.len() * len);
    let mut padding = Vec::with_capacity(sources.len() * len);
    for source in sources {
        ids.push(i64::from(special.cls));
        ids.extend(source.iter().map(|&i| i64::from(i)));
        ids.push(i64::from(special.sep));
        padding.extend(std::iter::repeat_n(false, source.len() + 2));
        let pad = len - source.len() - 2;
        ids.extend(std::iter::repeat_n(i64::from(special.pad), pad));
        padding.extend(std::iter::repeat_n(true, pad));
    }
    let shape = [sources.len(), len];
    (
        Tensor::from_data(TensorData::new(ids, shape), device),
        Tensor::from_data(TensorData::new(padding, shape), device),
    )
}

/// The rows of `log_probs: [rows, vocab]`: `vocab` and the values, row after row.
pub(super) fn read_rows(log_probs: Tensor<2>) -> (usize, Vec<f32>) {
    let vocab = log_probs.dims()[1];
    let values = log_probs
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("log-probabilities are floats");
    (vocab, values)
}

/// `values` as a tensor of ids.
pub(super) fn ids(values: &[u32], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = values.iter().map(|&v| i64::from(v)).collect();
    Tensor::from_data(TensorData::new(data, [values.len()]), device)
}

/// The most likely token, the lowest id among equals.
fn best_token(row: &[f32]) -> u32 {
    let mut best = 0;
    for (id, &value) in row.iter().enumerate() {
        if value > row[best] {
            best = id;
        }
    }
    best as u32
}

/// Greedy search: the most likely token at each step, until `[EOS]` or `max_len`. Returns the
/// generated ids of each source, without `[EOS]`.
pub fn greedy(
    model: &Seq2Seq,
    sources: &[Vec<u32>],
    max_len: usize,
    special: SpecialTokenIds,
) -> Vec<Vec<u32>> {
    let device = model.encoder.embedding.tokens.weight.device();
    let (source, padding) = source_batch(sources, special, &device);
    let memory = model.encode(source, padding.clone());
    let mut cache = model.start(memory, padding);
    let mut outputs = vec![Vec::new(); sources.len()];
    let mut done = vec![false; sources.len()];
    let mut last = vec![special.bos; sources.len()];
    for _ in 0..max_len {
        let (vocab, values) = read_rows(model.step(&mut cache, ids(&last, &device)));
        for (row, output) in outputs.iter_mut().enumerate() {
            let next = best_token(&values[row * vocab..(row + 1) * vocab]);
            last[row] = next;
            if done[row] {
                continue;
            }
            if next == special.eos {
                done[row] = true;
            } else {
                output.push(next);
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
    }
    outputs
}
