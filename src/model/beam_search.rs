//! Beam search: `beam` hypotheses per sentence as rows of one batch, the decoder's cache
//! reordered as hypotheses are kept or dropped, finished hypotheses ranked by their
//! log-probability divided by `length ^ length_penalty` (the length counts `[EOS]`); a
//! sentence's search stops as [`super::finished_hypotheses`] says.

use std::ops::Range;

use crate::model::finished_hypotheses::{Finished, FinishedHypotheses};
use crate::model::search::{SearchConfig, greedy, ids, read_rows, source_batch};
use crate::model::seq2seq::Seq2Seq;
use crate::model::special_tokens::SpecialTokenIds;

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
    early_stopping: bool,
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
    /// with `[EOS]` before `beam` others are offered to `finished`, the first `beam` others
    /// continue, and dead rows fill up when fewer than `beam` continue.
    fn advance(
        &self,
        live: &Hypotheses,
        s: usize,
        candidates: Vec<(f64, usize, u32)>,
        next: &mut Hypotheses,
        finished: &mut FinishedHypotheses,
    ) {
        let mut kept = 0;
        for (score, row, id) in candidates {
            if kept == self.beam {
                break;
            }
            if id == self.eos {
                finished.offer(Finished {
                    score: self.normalized(score, live.tokens[row].len() + 1),
                    tokens: live.tokens[row].clone(),
                });
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

    /// The best score among the live hypotheses in `rows`, were they to end now; none if all
    /// are dead.
    fn best_live(&self, live: &Hypotheses, rows: Range<usize>) -> Option<f64> {
        rows.filter(|&k| live.scores[k] > f64::NEG_INFINITY)
            .map(|k| self.normalized(live.scores[k], live.tokens[k].len() + 1))
            .max_by(f64::total_cmp)
    }

    /// Offers the live hypotheses in `rows`, cut at `max_len`, as finished.
    fn finish_cut(&self, live: &Hypotheses, rows: Range<usize>, finished: &mut FinishedHypotheses) {
        for k in rows.filter(|&k| live.scores[k] > f64::NEG_INFINITY) {
            finished.offer(Finished {
                score: self.normalized(live.scores[k], live.tokens[k].len()),
                tokens: live.tokens[k].clone(),
            });
        }
    }
}

/// Beam search with `config.beam` hypotheses per sentence. Returns the best finished hypothesis
/// of each source, without `[EOS]`. A beam of 1 is [`greedy`] search.
pub fn beam_search(
    model: &Seq2Seq,
    sources: &[Vec<u32>],
    config: &SearchConfig,
    special: SpecialTokenIds,
) -> Vec<Vec<u32>> {
    if config.beam <= 1 {
        return greedy(model, sources, config.max_len, special);
    }
    search(model, sources, config, special)
        .into_iter()
        .map(|best| best.map(|h| h.tokens).unwrap_or_default())
        .collect()
}

/// Beam search proper, for any beam: the best finished hypothesis of each source.
fn search(
    model: &Seq2Seq,
    sources: &[Vec<u32>],
    config: &SearchConfig,
    special: SpecialTokenIds,
) -> Vec<Option<Finished>> {
    let search = BeamSearch {
        beam: config.beam.max(1),
        length_penalty: config.length_penalty,
        early_stopping: config.early_stopping,
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
    let mut finished = vec![FinishedHypotheses::new(beam); sentences];
    let mut done = vec![false; sentences];
    for step in 0..config.max_len {
        let (vocab, values) = read_rows(model.step(&mut cache, ids(&live.last, &device)));
        let mut next = Hypotheses::default();
        for s in 0..sentences {
            let rows = s * beam..(s + 1) * beam;
            if done[s] {
                // Keep the rows in place; their outputs are ignored.
                rows.for_each(|row| next.push_dead(row, special.eos));
                continue;
            }
            let candidates = search.best_continuations(&live, s, &values, vocab);
            search.advance(&live, s, candidates, &mut next, &mut finished[s]);
            let best_live = search.best_live(&next, rows.clone());
            if finished[s].complete(best_live) || (search.early_stopping && finished[s].full()) {
                done[s] = true;
            } else if step + 1 == config.max_len {
                search.finish_cut(&next, rows, &mut finished[s]);
                done[s] = true;
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        cache = cache.select(ids(&next.rows, &device));
        live = next;
    }
    finished.into_iter().map(FinishedHypotheses::best).collect()
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use super::*;
    use crate::model::copy_model::{cloze_ids, trained_copy_model as tiny};
    use crate::model::search::greedy;

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
            let config = |length_penalty| SearchConfig {
                beam: 1,
                length_penalty,
                max_len,
                early_stopping: false,
            };
            // Ranked by log-probability alone, one hypothesis stops where greedy search does.
            let tokens = |found: Vec<Option<Finished>>| -> Vec<Vec<u32>> {
                found.into_iter().map(|h| h.unwrap().tokens).collect()
            };
            assert_eq!(
                tokens(search(&model, &sources(), &config(0.0), cloze_ids())),
                greedy_out
            );
            assert_eq!(
                beam_search(&model, &sources(), &config(1.0), cloze_ids()),
                greedy_out
            );
            let ended = greedy_out.iter().filter(|o| o.len() < max_len).count();
            let cut = greedy_out.len() - ended;
            assert!(
                if max_len == 12 { ended > 0 } else { cut > 0 },
                "{greedy_out:?}"
            );
        }
    }

    #[test]
    fn searching_on_after_beam_hypotheses_end_never_finds_a_worse_one() {
        let device = Device::flex();
        let model = tiny(&device);
        let mut longer = 0;
        for length_penalty in [0.0, 1.0, 2.0] {
            let config = |early_stopping| SearchConfig {
                beam: 3,
                length_penalty,
                max_len: 12,
                early_stopping,
            };
            let early = search(&model, &sources(), &config(true), cloze_ids());
            let on = search(&model, &sources(), &config(false), cloze_ids());
            for (early, on) in early.into_iter().zip(on) {
                let (early, on) = (early.unwrap(), on.unwrap());
                // The live hypotheses do not depend on the finished ones: searching on can only
                // offer more.
                assert!(on.score >= early.score, "{on:?} against {early:?}");
                longer += usize::from(on.tokens.len() > early.tokens.len());
            }
        }
        assert!(longer > 0, "searching on never changed an output");
    }

    #[test]
    fn a_sentence_decodes_alike_alone_and_in_a_padded_batch() {
        let device = Device::flex();
        let model = tiny(&device);
        let config = SearchConfig {
            beam: 3,
            length_penalty: 1.0,
            max_len: 10,
            early_stopping: false,
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
