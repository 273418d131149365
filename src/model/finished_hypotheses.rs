//! A sentence's finished hypotheses in beam search, and when its search may stop.
//!
//! The rule is HuggingFace's `early_stopping=False`: keep the `beam` best finished hypotheses
//! (a better one replaces the worst), and stop only when the best live hypothesis, were it to
//! end now, would rank below all of them. Stopping once `beam` hypotheses have ended instead
//! (`early_stopping=True`) favours short outputs: they end first, and longer ones that would
//! have ranked higher under the length penalty are never finished.

/// A hypothesis that ended with `[EOS]` (or at `max_len`), ranked by `score`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Finished {
    /// The log-probability divided by `length ^ length_penalty`.
    pub score: f64,
    /// The generated tokens, without `[EOS]`.
    pub tokens: Vec<u32>,
}

/// The best `beam` finished hypotheses of one sentence.
#[derive(Clone, Debug)]
pub(super) struct FinishedHypotheses {
    beam: usize,
    hypotheses: Vec<Finished>,
}

impl FinishedHypotheses {
    pub fn new(beam: usize) -> Self {
        Self {
            beam,
            hypotheses: Vec::with_capacity(beam),
        }
    }

    /// Keeps `hypothesis` if there is room or it ranks above the worst kept, which it then
    /// replaces. Among equal scores the earlier stays.
    pub fn offer(&mut self, hypothesis: Finished) {
        if self.hypotheses.len() < self.beam {
            self.hypotheses.push(hypothesis);
            return;
        }
        if let Some((worst, kept)) = self.worst()
            && hypothesis.score > kept
        {
            self.hypotheses[worst] = hypothesis;
        }
    }

    /// The index and score of the lowest-ranked kept hypothesis (the last among equals).
    fn worst(&self) -> Option<(usize, f64)> {
        self.hypotheses
            .iter()
            .enumerate()
            .rev()
            .min_by(|a, b| a.1.score.total_cmp(&b.1.score))
            .map(|(i, h)| (i, h.score))
    }

    /// Whether the search of this sentence may stop: `beam` hypotheses have finished, and
    /// `best_live`, the best live hypothesis's score were it to end now, ranks no higher than
    /// the worst of them. `None` when no live hypothesis is left.
    pub fn complete(&self, best_live: Option<f64>) -> bool {
        if self.hypotheses.len() < self.beam {
            return best_live.is_none();
        }
        match (best_live, self.worst()) {
            (Some(live), Some((_, worst))) => live <= worst,
            _ => true,
        }
    }

    /// Whether `beam` hypotheses have finished.
    pub fn full(&self) -> bool {
        self.hypotheses.len() >= self.beam
    }

    /// The best-ranked hypothesis (the first among equals); none if none finished.
    pub fn best(self) -> Option<Finished> {
        let mut best: Option<Finished> = None;
        for h in self.hypotheses {
            if best.as_ref().is_none_or(|b| h.score > b.score) {
                best = Some(h);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(score: f64, token: u32) -> Finished {
        Finished {
            score,
            tokens: vec![token],
        }
    }

    #[test]
    fn a_better_hypothesis_replaces_the_worst_once_the_beam_is_full() {
        let mut kept = FinishedHypotheses::new(2);
        kept.offer(finished(-3.0, 1));
        kept.offer(finished(-1.0, 2));
        assert!(kept.full());
        kept.offer(finished(-5.0, 3));
        assert_eq!(kept.hypotheses, vec![finished(-3.0, 1), finished(-1.0, 2)]);
        kept.offer(finished(-2.0, 4));
        assert_eq!(kept.hypotheses, vec![finished(-2.0, 4), finished(-1.0, 2)]);
        kept.offer(finished(-2.0, 5));
        assert_eq!(kept.hypotheses, vec![finished(-2.0, 4), finished(-1.0, 2)]);
        assert_eq!(kept.best(), Some(finished(-1.0, 2)));
    }

    #[test]
    fn the_search_goes_on_while_a_live_hypothesis_could_outrank_a_finished_one() {
        let mut kept = FinishedHypotheses::new(2);
        kept.offer(finished(-1.0, 1));
        // Room for another finished hypothesis: go on while any is live.
        assert!(!kept.complete(Some(-9.0)));
        assert!(kept.complete(None));
        kept.offer(finished(-2.0, 2));
        assert!(!kept.complete(Some(-1.5)));
        assert!(kept.complete(Some(-2.0)));
        assert!(kept.complete(Some(-2.5)));
        assert!(kept.complete(None));
    }

    #[test]
    fn the_best_of_none_is_empty_and_ties_keep_the_first() {
        assert_eq!(FinishedHypotheses::new(3).best(), None);
        let mut kept = FinishedHypotheses::new(3);
        kept.offer(finished(-1.0, 7));
        kept.offer(finished(-1.0, 8));
        assert_eq!(kept.best(), Some(finished(-1.0, 7)));
    }
}
