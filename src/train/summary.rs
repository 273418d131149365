//! What `cloze pretrain`, `cloze finetune` and the pipeline's training stages print at the end
//! of a run: where it stands, then its last validation.

use crate::train::finetune::FinetuneOutcome;
use crate::train::pretrain::PretrainOutcome;
use crate::train::run::RunOutcome;

/// The line every training run ends with.
fn run_line<V>(outcome: &RunOutcome<V>) -> String {
    format!(
        "{}: {} steps ({} in this session, {:.0} s, {:.0} tokens/s){}",
        outcome.run_dir.display(),
        outcome.steps,
        outcome.steps - outcome.start_step,
        outcome.seconds,
        outcome.tokens_per_s,
        if outcome.interrupted {
            "; interrupted: continue with --resume"
        } else {
            ""
        }
    )
}

/// What `cloze pretrain` and the pretraining stage print at the end of a run.
pub fn pretraining_lines(outcome: &PretrainOutcome) -> Vec<String> {
    let mut lines = vec![run_line(outcome)];
    if let Some(v) = &outcome.valid {
        lines.push(format!(
            "valid: loss {:.4}, top-1 accuracy {:.4} at all {} selected positions",
            v.loss(),
            v.accuracy(),
            v.predictions()
        ));
        let unigram = v.unigram_mask_accuracy().unwrap_or(0.0);
        lines.push(format!(
            "valid: top-1 accuracy at [MASK] {:.4} ({} positions); unigram baseline {:.4}; ratio {:.2}x",
            v.mask().accuracy(),
            v.mask().predictions,
            unigram,
            if unigram > 0.0 {
                v.mask().accuracy() / unigram
            } else {
                f64::INFINITY
            }
        ));
    }
    lines
}

/// What `cloze finetune` and the fine-tuning stage print at the end of a run.
pub fn finetuning_lines(outcome: &FinetuneOutcome) -> Vec<String> {
    let mut lines = vec![run_line(outcome)];
    if let Some(v) = &outcome.valid {
        lines.push(format!(
            "valid: {} pairs, loss {:.4}, token accuracy {:.4}, BLEU {:.2}, chrF2 {:.2}",
            v.sentences, v.loss, v.accuracy, v.bleu, v.chrf
        ));
        for (source, hypothesis, reference) in v.examples.iter().take(3) {
            lines.push(format!(
                "  {source}\n    -> {hypothesis}\n    (reference: {reference})"
            ));
        }
    }
    lines
}
