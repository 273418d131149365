//! The evaluations as `cloze eval mlm`, `cloze eval bleu` and `cloze fill` print them, and the
//! figures the pipeline's evaluation stage prints in the same way.

use crate::eval::bleu::{BleuScore, ChrfScore};
use crate::eval::checkpoint_mlm::MlmEvalOutcome;
use crate::eval::fill::FillResult;

/// A figure to `precision` decimals, or `-` where there was nothing to measure.
pub fn figure(value: Option<f64>, precision: usize) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.precision$}"))
}

/// What was evaluated, and how fast: the line `cloze eval mlm` prints before its figures.
pub fn mlm_line(outcome: &MlmEvalOutcome, batch_size: usize) -> String {
    let e = &outcome.evaluation;
    format!(
        "{} (step {}): {} tokens in {} batches of {} x {}, {:.1}s, {:.0} tokens/s",
        outcome.checkpoint.display(),
        outcome.step,
        e.tokens,
        e.batches,
        batch_size,
        outcome.seq_len,
        e.seconds,
        e.tokens_per_s()
    )
}

/// The masks' seed, then a table of the figures over all positions, by replacement kind and by
/// script.
pub fn mlm_table(outcome: &MlmEvalOutcome, seed: u64) -> Vec<String> {
    let e = &outcome.evaluation;
    let report = e.report();
    let mut lines = vec![
        format!("masks: seed {seed}, mask_prob {}", outcome.mask_prob),
        format!(
            "{:<11} {:>11} {:>7} {:>7} {:>7} {:>10}",
            "positions", "predictions", "top-1", "top-5", "loss", "perplexity"
        ),
    ];
    let rows = [
        ("all", e.all.figures()),
        ("[MASK]", report.by_kind.mask),
        ("random", report.by_kind.random),
        ("unchanged", report.by_kind.unchanged),
        ("hangul", report.by_script.hangul),
        ("latin", report.by_script.latin),
        ("other", report.by_script.other),
    ];
    for (name, f) in rows {
        lines.push(format!(
            "{name:<11} {:>11} {:>7} {:>7} {:>7} {:>10}",
            f.predictions,
            figure(f.accuracy, 4),
            figure(f.top5, 4),
            figure(f.loss, 4),
            figure(f.perplexity, 2)
        ));
    }
    lines
}

/// A filled text: each `[MASK]` with its candidates and their probabilities, then the text with
/// the best candidates in place.
pub fn fill_lines(result: &FillResult) -> Vec<String> {
    let mut lines = vec![result.text.clone()];
    for (i, mask) in result.masks.iter().enumerate() {
        lines.push(format!("  [MASK] {} (token {}):", i + 1, mask.position));
        for c in &mask.candidates {
            lines.push(format!("    {:<16} {:.4}", c.token, c.probability));
        }
    }
    lines.push(format!("  filled: {}", result.filled));
    lines
}

/// BLEU with its n-gram precisions and brevity penalty, then chrF.
pub fn bleu_lines(bleu: &BleuScore, chrf: &ChrfScore) -> Vec<String> {
    let p = bleu.precisions;
    vec![
        format!(
            "BLEU {:.2} ({:.1}/{:.1}/{:.1}/{:.1}, brevity penalty {:.3}, ratio {:.3}, hyp {} ref {} tokens)",
            bleu.score,
            p[0],
            p[1],
            p[2],
            p[3],
            bleu.bp,
            bleu.sys_len as f64 / bleu.ref_len.max(1) as f64,
            bleu.sys_len,
            bleu.ref_len
        ),
        format!("chrF2 {:.2}", chrf.score),
    ]
}

/// `cloze eval bleu --json`: `{"bleu": {...}, "chrf": {...}}`.
pub fn bleu_json(bleu: &BleuScore, chrf: &ChrfScore) -> serde_json::Value {
    serde_json::json!({"bleu": bleu, "chrf": chrf})
}
