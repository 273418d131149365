//! Beam search: `beam` hypotheses per sentence as rows of one batch, the decoder's cache
//! reordered as hypotheses are kept or dropped, finished hypotheses ranked by their
//! log-probability divided by `length ^ length_penalty` (the length counts `[EOS]`).

use crate::model::search::{SearchConfig, ids, read_rows, source_batch};
use crate::model::seq2seq::Seq2Seq;
use crate::model::special_tokens::SpecialTokenIds;

/// A hypothesis that ended with `[EOS]` (or at `max_len`).
#[derive(Clone, Debug)]
struct Finished {
    score: f64,
    tokens: Vec<u32>,
}

/// The hypotheses of one step of beam search: row `s * beam + j` is hypothesis j of sentence s.
/// A dead row (score `-inf`) only keeps the batch's shape.
#[derive(Clone, Debug, Default)]
struct Hypotheses {
    /// The row of the previous step's cache each hypothesis continues.
    rows: Vec<u32>,
    /// Log-probabilities so far.
    scores: Vec<f64>,
    /// The tokens generated so far.
    tokens: Vec<Vec<u32>>,
    /// The last token, the decoder's next input.
    last: Vec<u32>,
}

impl Hypotheses {
    /// `beam` rows per sentence from the encoder's row of that sentence, all starting from
    /// `[BOS]`. Only the first of each sentence is live: the others would repeat it.
    fn start(sentences: usize, beam: usize, bos: u32) -> Self {
        let rows = sentences * beam;
        Self {
            rows: (0..sentences as u32)
                .flat_map(|s| std::iter::repeat_n(s, beam))
                .collect(),
            scores: (0..rows)
                .map(|row| {
                    if row % beam == 0 {
                        0.0
                    } else {
                        f64::NEG_INFINITY
                    }
                })
                .collect(),
            tokens: vec![Vec::new(); rows],
            last: vec![bos; rows],
        }
    }

    fn push(&mut self, row: usize, score: f64, tokens: Vec<u32>, last: u32) {
        self.rows.push(row as u32);
        self.scores.push(score);
        self.tokens.push(tokens);
        self.last.push(last);
    }

    /// A dead row over cache row `row`, fed `[EOS]`.
    fn push_dead(&mut self, row: usize, eos: u32) {
        self.push(row, f64::NEG_INFINITY, Vec::new(), eos);
    }
}

/// One beam search's settings.
struct BeamSearch {
    beam: usize,
    length_penalty: f64,
    eos: u32,
}

impl BeamSearch {
    /// The score a finished hypothesis is ranked by.
    fn normalized(&self, score: f64, len: usize) -> f64 {
        score / (len as f64).powf(self.length_penalty)
    }

    /// The best `2 * beam` continuations `(score, row, token)` of sentence `s`'s live hypotheses,
    /// best first: enough to find `beam` that do not end. `values` holds the log-probabilities of
    /// the next token, `vocab` per row.
    fn best_continuations(
        &self,
        live: &Hypotheses,
        s: usize,
        values: &[f32],
        vocab: usize,
    ) -> Vec<(f64, usize, u32)> {
        let beam = self.beam;
        let mut candidates: Vec<(f64, usize, u32)> = Vec::with_capacity(beam * vocab);
        for row in s * beam..(s + 1) * beam {
            let score = live.scores[row];
            if score == f64::NEG_INFINITY {
                continue;
            }
            let lp = &values[row * vocab..(row + 1) * vocab];
            candidates.extend(
                lp.iter()
                    .enumerate()
                    .map(|(id, &p)| (score + f64::from(p), row, id as u32)),
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
        candidates
    }

    /// Adds sentence `s`'s next `beam` rows to `next` from its ranked `candidates`: those ending
    /// with `[EOS]` go to `finished` while it has room, the first `beam` others continue, and dead
    /// rows fill up when fewer than `beam` continue.
    fn advance(
        &self,
        live: &Hypotheses,
        s: usize,
        candidates: Vec<(f64, usize, u32)>,
        next: &mut Hypotheses,
        finished: &mut Vec<Finished>,
    ) {
        let mut kept = 0;
        for (score, row, id) in candidates {
            if kept == self.beam {
                break;
            }
            if id == self.eos {
                if finished.len() < self.beam {
                    finished.push(Finished {
                        score: self.normalized(score, live.tokens[row].len() + 1),
                        tokens: live.tokens[row].clone(),
                    });
                }
                continue;
            }
            let mut extended = live.tokens[row].clone();
            extended.push(id);
            next.push(row, score, extended, id);
            kept += 1;
        }
        for _ in kept..self.beam {
            next.push_dead(s * self.beam, self.eos);
        }
    }

    /// Counts the live hypotheses cut at `max_len` as finished, where there is room.
    fn finish_cut(&self, live: &Hypotheses, finished: &mut [Vec<Finished>]) {
        for (s, hypotheses) in finished.iter_mut().enumerate() {
            for k in s * self.beam..(s + 1) * self.beam {
                if live.scores[k] > f64::NEG_INFINITY && hypotheses.len() < self.beam {
                    hypotheses.push(Finished {
                        score: self.normalized(live.scores[k], live.tokens[k].len()),
                        tokens: live.tokens[k].clone(),
                    });
                }
            }
        }
    }
}

/// The tokens of the best-scored hypothesis; none if there is none.
fn best(mut hypotheses: Vec<Finished>) -> Vec<u32> {
    hypotheses.sort_by(|a, b| b.score.total_cmp(&a.score));
    hypotheses
        .into_iter()
        .next()
        .map(|h| h.tokens)
        .unwrap_or_default()
}

/// Beam search with `config.beam` hypotheses per sentence. Returns the best finished hypothesis
/// of each source, without `[EOS]`. With a beam of 1 it returns what
/// [`greedy`](crate::model::search::greedy) returns.
pub fn beam_search(
    model: &Seq2Seq,
    sources: &[Vec<u32>],
    config: &SearchConfig,
    special: SpecialTokenIds,
) -> Vec<Vec<u32>> {
    let search = BeamSearch {
        beam: config.beam.max(1),
        length_penalty: config.length_penalty,
        eos: special.eos,
    };
    let beam = search.beam;
    let device = model.encoder.embedding.tokens.weight.device();
    let sentences = sources.len();
    let (source, padding) = source_batch(sources, special, &device);
    let memory = model.encode(source, padding.clone());
    let mut live = Hypotheses::start(sentences, beam, special.bos);
    let mut cache = model
        .start(memory, padding)
        .select(ids(&live.rows, &device));
    let mut finished: Vec<Vec<Finished>> = vec![Vec::new(); sentences];
    let mut done = vec![false; sentences];
    for step in 0..config.max_len {
        let (vocab, values) = read_rows(model.step(&mut cache, ids(&live.last, &device)));
        let mut next = Hypotheses::default();
        for s in 0..sentences {
            if done[s] {
                // Keep the rows in place; their outputs are ignored.
                (s * beam..(s + 1) * beam).for_each(|row| next.push_dead(row, special.eos));
                continue;
            }
            let candidates = search.best_continuations(&live, s, &values, vocab);
            search.advance(&live, s, candidates, &mut next, &mut finished[s]);
            if finished[s].len() >= beam || step + 1 == config.max_len {
                done[s] = true;
            }
        }
        if done.iter().all(|&d| d) {
            search.finish_cut(&next, &mut finished);
            break;
        }
        cache = cache.select(ids(&next.rows, &device));
        live = next;
    }
    finished.into_iter().map(best).collect()
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use super::*;
    use crate::batcher::special_token_ids;
    use crate::data::tokenizer::SpecialTokens;
    use crate::model::config::TransformerConfig;
    use crate::model::search::greedy;

    fn cloze_ids() -> crate::model::special_tokens::SpecialTokenIds {
        special_token_ids(&SpecialTokens::cloze())
    }

    /// `tiny` trained for a few steps to copy its source: it ends some outputs with `[EOS]`.
    fn tiny(device: &Device) -> Seq2Seq {
        use crate::model::seq2seq::TranslationInput;
        use burn::optim::{AdamWConfig, GradientsParams};
        use rand::{Rng, SeedableRng};

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
        let special = cloze_ids();
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
            let (source, source_padding) = source_batch(&pairs, special, &train);
            let len = pairs.iter().map(Vec::len).max().unwrap() + 1;
            let pad = |mut v: Vec<i64>| {
                v.resize(len, i64::from(special.pad));
                v
            };
            let inputs: Vec<Vec<i64>> = pairs
                .iter()
                .map(|p| {
                    pad(std::iter::once(special.bos)
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
                        .chain(std::iter::once(special.eos))
                        .map(i64::from)
                        .collect())
                })
                .collect();
            let padding: Vec<bool> = targets
                .iter()
                .flatten()
                .map(|&t| t == i64::from(special.pad))
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
            let loss = model.loss(input, 0.0).loss;
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
            let greedy_out = greedy(&model, &sources(), max_len, cloze_ids());
            for length_penalty in [0.0, 1.0] {
                let config = SearchConfig {
                    beam: 1,
                    length_penalty,
                    max_len,
                };
                assert_eq!(
                    beam_search(&model, &sources(), &config, cloze_ids()),
                    greedy_out
                );
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
        let batched_greedy = greedy(&model, &sources(), 10, cloze_ids());
        let batched_beam = beam_search(&model, &sources(), &config, cloze_ids());
        for (i, source) in sources().into_iter().enumerate() {
            let one = std::slice::from_ref(&source);
            assert_eq!(
                greedy(&model, one, 10, cloze_ids())[0],
                batched_greedy[i],
                "greedy {i}"
            );
            assert_eq!(
                beam_search(&model, one, &config, cloze_ids())[0],
                batched_beam[i],
                "beam {i}"
            );
        }
    }
}
