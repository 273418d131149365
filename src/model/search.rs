//! Decoding a batch of sources: greedy search and beam search, both incremental over the decoder's
//! key/value cache. Beam search keeps `beam` hypotheses per sentence as rows of one batch,
//! reorders the cache as hypotheses are kept or dropped, and ranks finished hypotheses by their
//! log-probability divided by `length ^ length_penalty` (the length counts `[EOS]`).

use burn::prelude::*;

use crate::data::tokenizer::{BOS_ID, CLS_ID, EOS_ID, PAD_ID, SEP_ID};
use crate::model::seq2seq::Seq2Seq;

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
}

/// The encoder's input for `sources` (ids without special tokens): `[CLS] ids [SEP]`, padded.
pub fn source_batch(sources: &[Vec<u32>], device: &Device) -> (Tensor<2, Int>, Tensor<2, Bool>) {
    let len = sources.iter().map(|s| s.len() + 2).max().unwrap_or(2);
    let mut ids = Vec::with_capacity(sources.len() * len);
    let mut padding = Vec::with_capacity(sources.len() * len);
    for source in sources {
        ids.push(i64::from(CLS_ID));
        ids.extend(source.iter().map(|&i| i64::from(i)));
        ids.push(i64::from(SEP_ID));
        padding.extend(std::iter::repeat_n(false, source.len() + 2));
        let pad = len - source.len() - 2;
        ids.extend(std::iter::repeat_n(i64::from(PAD_ID), pad));
        padding.extend(std::iter::repeat_n(true, pad));
    }
    let shape = [sources.len(), len];
    (
        Tensor::from_data(TensorData::new(ids, shape), device),
        Tensor::from_data(TensorData::new(padding, shape), device),
    )
}

fn read_rows(log_probs: Tensor<2>) -> (usize, Vec<f32>) {
    let vocab = log_probs.dims()[1];
    let values = log_probs
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("log-probabilities are floats");
    (vocab, values)
}

fn ids(values: &[u32], device: &Device) -> Tensor<1, Int> {
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
pub fn greedy(model: &Seq2Seq, sources: &[Vec<u32>], max_len: usize) -> Vec<Vec<u32>> {
    let device = model.encoder.embedding.tokens.weight.device();
    let (source, padding) = source_batch(sources, &device);
    let memory = model.encode(source, padding.clone());
    let mut cache = model.start(memory, padding);
    let mut outputs = vec![Vec::new(); sources.len()];
    let mut done = vec![false; sources.len()];
    let mut last = vec![BOS_ID; sources.len()];
    for _ in 0..max_len {
        let (vocab, values) = read_rows(model.step(&mut cache, ids(&last, &device)));
        for (row, output) in outputs.iter_mut().enumerate() {
            let next = best_token(&values[row * vocab..(row + 1) * vocab]);
            last[row] = next;
            if done[row] {
                continue;
            }
            if next == EOS_ID {
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

/// A hypothesis that ended with `[EOS]` (or at `max_len`).
#[derive(Clone, Debug)]
struct Finished {
    score: f64,
    tokens: Vec<u32>,
}

/// Beam search with `config.beam` hypotheses per sentence. Returns the best finished hypothesis
/// of each source, without `[EOS]`. With a beam of 1 it returns what [`greedy`] returns.
pub fn beam_search(model: &Seq2Seq, sources: &[Vec<u32>], config: &SearchConfig) -> Vec<Vec<u32>> {
    let beam = config.beam.max(1);
    let device = model.encoder.embedding.tokens.weight.device();
    let sentences = sources.len();
    let (source, padding) = source_batch(sources, &device);
    let memory = model.encode(source, padding.clone());
    // Row `s * beam + j` is hypothesis j of sentence s.
    let spread: Vec<u32> = (0..sentences as u32)
        .flat_map(|s| std::iter::repeat_n(s, beam))
        .collect();
    let mut cache = model.start(memory, padding).select(ids(&spread, &device));
    // Only the first hypothesis of each sentence is live at the start: the others would repeat it.
    let mut scores: Vec<f64> = (0..sentences * beam)
        .map(|row| {
            if row % beam == 0 {
                0.0
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect();
    let mut tokens: Vec<Vec<u32>> = vec![Vec::new(); sentences * beam];
    let mut last = vec![BOS_ID; sentences * beam];
    let mut finished: Vec<Vec<Finished>> = vec![Vec::new(); sentences];
    let mut done = vec![false; sentences];
    let normalized = |score: f64, len: usize| score / (len as f64).powf(config.length_penalty);

    for step in 0..config.max_len {
        let (vocab, values) = read_rows(model.step(&mut cache, ids(&last, &device)));
        let mut keep_rows = Vec::with_capacity(sentences * beam);
        let mut next_scores = Vec::with_capacity(sentences * beam);
        let mut next_tokens = Vec::with_capacity(sentences * beam);
        let mut next_last = Vec::with_capacity(sentences * beam);
        for s in 0..sentences {
            let rows = s * beam..(s + 1) * beam;
            if done[s] {
                // Keep the rows in place; their outputs are ignored.
                for row in rows {
                    keep_rows.push(row as u32);
                    next_scores.push(f64::NEG_INFINITY);
                    next_tokens.push(Vec::new());
                    next_last.push(EOS_ID);
                }
                continue;
            }
            // The best 2 * beam continuations: enough to find `beam` that do not end.
            let mut candidates: Vec<(f64, usize, u32)> = Vec::with_capacity(beam * vocab);
            for row in rows {
                if scores[row] == f64::NEG_INFINITY {
                    continue;
                }
                let lp = &values[row * vocab..(row + 1) * vocab];
                candidates.extend(
                    lp.iter()
                        .enumerate()
                        .map(|(id, &p)| (scores[row] + f64::from(p), row, id as u32)),
                );
            }
            let take = (2 * beam).min(candidates.len());
            let order = |a: &(f64, usize, u32), b: &(f64, usize, u32)| {
                b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
            };
            if take < candidates.len() {
                candidates.select_nth_unstable_by(take, order);
                candidates.truncate(take);
            }
            candidates.sort_by(order);
            let mut kept = 0;
            for (score, row, id) in candidates {
                if kept == beam {
                    break;
                }
                if id == EOS_ID {
                    if finished[s].len() < beam {
                        finished[s].push(Finished {
                            score: normalized(score, tokens[row].len() + 1),
                            tokens: tokens[row].clone(),
                        });
                    }
                    continue;
                }
                let mut extended = tokens[row].clone();
                extended.push(id);
                keep_rows.push(row as u32);
                next_scores.push(score);
                next_tokens.push(extended);
                next_last.push(id);
                kept += 1;
            }
            // Rows left over when fewer than `beam` continue: dead until the end.
            for _ in kept..beam {
                keep_rows.push((s * beam) as u32);
                next_scores.push(f64::NEG_INFINITY);
                next_tokens.push(Vec::new());
                next_last.push(EOS_ID);
            }
            if finished[s].len() >= beam || step + 1 == config.max_len {
                done[s] = true;
            }
        }
        if done.iter().all(|&d| d) {
            // Hypotheses cut at max_len count as finished.
            for (s, hypotheses) in finished.iter_mut().enumerate() {
                for k in s * beam..(s + 1) * beam {
                    if next_scores[k] > f64::NEG_INFINITY && hypotheses.len() < beam {
                        hypotheses.push(Finished {
                            score: normalized(next_scores[k], next_tokens[k].len()),
                            tokens: next_tokens[k].clone(),
                        });
                    }
                }
            }
            break;
        }
        cache = cache.select(ids(&keep_rows, &device));
        scores = next_scores;
        tokens = next_tokens;
        last = next_last;
    }
    finished
        .into_iter()
        .map(|mut hypotheses| {
            hypotheses.sort_by(|a, b| b.score.total_cmp(&a.score));
            hypotheses
                .into_iter()
                .next()
                .map(|h| h.tokens)
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::EncoderConfig;

    /// `tiny` trained for a few steps to copy its source: it ends some outputs with `[EOS]`.
    fn tiny(device: &Device) -> Seq2Seq {
        use crate::model::seq2seq::TranslationInput;
        use burn::optim::{AdamWConfig, GradientsParams};
        use rand::{Rng, SeedableRng};

        let config = EncoderConfig::named("tiny", 40)
            .unwrap()
            .with_max_len(24)
            .with_dropout(0.0);
        let _rng = crate::seed::device_rng_lock();
        let train = device.clone().autodiff();
        train.seed(21);
        let mut model = Seq2Seq::new(&config, 2, &train);
        let mut optimizer = AdamWConfig::new().init();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let int = |rows: &[Vec<i64>]| {
            let len = rows[0].len();
            Tensor::<2, Int>::from_data(TensorData::new(rows.concat(), [rows.len(), len]), &train)
        };
        for _ in 0..60 {
            let pairs: Vec<Vec<u32>> = (0..16)
                .map(|_| {
                    (0..rng.random_range(1..6))
                        .map(|_| rng.random_range(7..40))
                        .collect()
                })
                .collect();
            let (source, source_padding) = source_batch(&pairs, &train);
            let len = pairs.iter().map(Vec::len).max().unwrap() + 1;
            let pad = |mut v: Vec<i64>| {
                v.resize(len, i64::from(PAD_ID));
                v
            };
            let inputs: Vec<Vec<i64>> = pairs
                .iter()
                .map(|p| {
                    pad(std::iter::once(BOS_ID)
                        .chain(p.iter().copied())
                        .map(i64::from)
                        .collect())
                })
                .collect();
            let targets: Vec<Vec<i64>> = pairs
                .iter()
                .map(|p| {
                    pad(p
                        .iter()
                        .copied()
                        .chain(std::iter::once(EOS_ID))
                        .map(i64::from)
                        .collect())
                })
                .collect();
            let padding: Vec<bool> = targets
                .iter()
                .flatten()
                .map(|&t| t == i64::from(PAD_ID))
                .collect();
            let input = TranslationInput {
                source,
                source_padding,
                decoder_input: int(&inputs),
                target: int(&targets),
                target_padding: Tensor::from_data(
                    TensorData::new(padding, [pairs.len(), len]),
                    &train,
                ),
            };
            let (loss, _) = model.loss(input, 0.0);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(3e-3, model, grads);
        }
        model.valid()
    }

    fn sources() -> Vec<Vec<u32>> {
        vec![
            vec![7, 8, 9, 10, 11],
            vec![12],
            vec![13, 14, 15, 16, 17, 18, 19, 20, 21],
            vec![22, 23, 24],
            vec![25, 26, 27, 28],
            vec![29, 30],
        ]
    }

    #[test]
    fn a_beam_of_one_is_greedy_search() {
        let device = Device::flex();
        let model = tiny(&device);
        // At 12 some outputs end with [EOS]; at 3 some are cut: both ends of the search.
        for max_len in [12, 3] {
            let greedy_out = greedy(&model, &sources(), max_len);
            for length_penalty in [0.0, 1.0] {
                let config = SearchConfig {
                    beam: 1,
                    length_penalty,
                    max_len,
                };
                assert_eq!(beam_search(&model, &sources(), &config), greedy_out);
            }
            let ended = greedy_out.iter().filter(|o| o.len() < max_len).count();
            let cut = greedy_out.len() - ended;
            assert!(
                if max_len == 12 { ended > 0 } else { cut > 0 },
                "{greedy_out:?}"
            );
        }
    }

    #[test]
    fn a_sentence_decodes_alike_alone_and_in_a_padded_batch() {
        let device = Device::flex();
        let model = tiny(&device);
        let config = SearchConfig {
            beam: 3,
            length_penalty: 1.0,
            max_len: 10,
        };
        let batched_greedy = greedy(&model, &sources(), 10);
        let batched_beam = beam_search(&model, &sources(), &config);
        for (i, source) in sources().into_iter().enumerate() {
            let one = std::slice::from_ref(&source);
            assert_eq!(greedy(&model, one, 10)[0], batched_greedy[i], "greedy {i}");
            assert_eq!(
                beam_search(&model, one, &config)[0],
                batched_beam[i],
                "beam {i}"
            );
        }
    }
}
