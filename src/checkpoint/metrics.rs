//! `metrics.csv`: one row per step, validation figures on the steps that validate. A resumed run
//! first drops the rows past its checkpoint, so the file reads as one uninterrupted run.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The columns every run writes; a task's own validation figure (`valid_mask_accuracy` when
/// pretraining, `valid_bleu` when fine-tuning) comes last.
pub const COLUMNS: &str =
    "step,tokens,loss,accuracy,lr,grad_norm,tokens_per_s,valid_loss,valid_accuracy";

/// The last column of a pretraining run: top-1 accuracy at `[MASK]` on the valid split.
pub const VALID_MASK_ACCURACY: &str = "valid_mask_accuracy";

/// The last column of a fine-tuning run: BLEU of the valid split's translations.
pub const VALID_BLEU: &str = "valid_bleu";

/// The header of a run's metrics.csv.
pub fn header(valid_extra: &str) -> String {
    format!("{COLUMNS},{valid_extra}")
}

/// What one optimizer step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepMetrics {
    /// Steps completed, this one included.
    pub step: u64,
    /// Real (non-padding) tokens trained on so far.
    pub tokens: u64,
    pub loss: f64,
    /// Top-1 accuracy at the selected positions.
    pub accuracy: f64,
    pub lr: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
    pub tokens_per_s: f64,
}

/// Validation figures at a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidMetrics {
    pub loss: f64,
    /// Top-1 accuracy at all selected positions.
    pub accuracy: f64,
    /// The task's own figure: top-1 accuracy at `[MASK]`, or BLEU.
    pub extra: f64,
}

/// Appends rows to `metrics.csv`, flushed row by row.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens `path` for a run that has completed `resumed_step` steps: a fresh file when 0,
    /// otherwise the existing rows up to that step. `valid_extra` names the last column.
    pub fn open(path: &Path, resumed_step: u64, valid_extra: &str) -> Result<Self> {
        let header = header(valid_extra);
        let kept = if resumed_step == 0 || !path.exists() {
            Vec::new()
        } else {
            rows_up_to(path, resumed_step, &header)?
        };
        let mut text = format!("{header}\n");
        for row in kept {
            text.push_str(&row);
            text.push('\n');
        }
        crate::fsutil::write_atomic(path, text.as_bytes())?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    pub fn append(&mut self, step: &StepMetrics, valid: Option<&ValidMetrics>) -> Result<()> {
        let valid = valid
            .map(|v| format!("{:.6},{:.6},{:.6}", v.loss, v.accuracy, v.extra))
            .unwrap_or_else(|| ",,".into());
        // One write per row, so that a crash leaves at most the last row cut short.
        let row = format!(
            // The loss in full (shortest round-trip form), so runs can be compared bit for bit.
            "{},{},{},{:.6},{:.6e},{:.6},{:.1},{valid}\n",
            step.step,
            step.tokens,
            step.loss,
            step.accuracy,
            step.lr,
            step.grad_norm,
            step.tokens_per_s
        );
        self.file
            .write_all(row.as_bytes())
            .and_then(|_| self.file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

fn rows_up_to(path: &Path, step: u64, header: &str) -> Result<Vec<String>> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if i == 0 {
            if line != header {
                bail!(
                    "{}: line 1 is not the metrics header this version writes",
                    path.display()
                );
            }
            continue;
        }
        // A row cut short by a crash has fewer fields; it is past the checkpoint anyway.
        let Some(row_step) = line.split(',').next().and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        if row_step <= step && line.split(',').count() == header.split(',').count() {
            rows.push(line);
        }
    }
    Ok(rows)
}

/// The `loss` column of a metrics file, by step: what resume tests compare.
pub fn read_losses(path: &Path) -> Result<Vec<(u64, f64)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(i, line)| {
            let mut fields = line.split(',');
            let step = fields.next().and_then(|s| s.parse().ok());
            let _tokens = fields.next();
            let loss = fields.next().and_then(|s| s.parse().ok());
            step.zip(loss)
                .with_context(|| format!("{}: line {} is malformed", path.display(), i + 2))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: u64) -> StepMetrics {
        StepMetrics {
            step,
            tokens: step * 100,
            loss: 10.0 / step as f64,
            accuracy: 0.1,
            lr: 1e-3,
            grad_norm: 1.5,
            tokens_per_s: 1000.0,
        }
    }

    #[test]
    fn a_resumed_log_keeps_the_rows_up_to_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let mut log = MetricsLog::open(&path, 0, "valid_mask_accuracy").unwrap();
        let valid = ValidMetrics {
            loss: 3.0,
            accuracy: 0.2,
            extra: 0.15,
        };
        for s in 1..=5 {
            log.append(&step(s), (s == 4).then_some(&valid)).unwrap();
        }
        drop(log);
        // A crash mid-row.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"6,600,1.6")
            .unwrap();
        let mut log = MetricsLog::open(&path, 4, "valid_mask_accuracy").unwrap();
        log.append(&step(5), None).unwrap();
        let losses = read_losses(&path).unwrap();
        assert_eq!(
            losses.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines()
                .nth(4)
                .unwrap()
                .ends_with(",3.000000,0.200000,0.150000")
        );
        std::fs::write(&path, "nonsense\n").unwrap();
        assert!(MetricsLog::open(&path, 3, "valid_mask_accuracy").is_err());
    }
}
