//! Reading a run's `metrics.csv` back into series: the training figures of every step and the
//! validation figures of the steps that validated. Columns are found by their header names (the
//! names [`crate::checkpoint::metrics`] writes), so their order does not matter and extra columns are
//! ignored.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::checkpoint::metrics::{
    COLUMNS, StepMetrics, VALID_BLEU, VALID_MASK_ACCURACY, ValidMetrics,
};

/// What kind of run wrote the file, told by its last validation column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// `cloze pretrain`: the task's own figure is the top-1 accuracy at `[MASK]`.
    Pretraining,
    /// `cloze finetune`: the task's own figure is BLEU.
    Finetuning,
}

impl Task {
    /// The metrics.csv column of the task's own validation figure.
    pub fn valid_column(self) -> &'static str {
        match self {
            Task::Pretraining => VALID_MASK_ACCURACY,
            Task::Finetuning => VALID_BLEU,
        }
    }

    /// The task's own validation figure, in words.
    pub fn extra_label(self) -> &'static str {
        match self {
            Task::Pretraining => "valid [MASK] accuracy",
            Task::Finetuning => "valid BLEU",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Task::Pretraining => "pretraining",
            Task::Finetuning => "fine-tuning",
        }
    }
}

/// A run's metrics, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsTable {
    pub path: PathBuf,
    pub task: Task,
    /// One row per logged step.
    pub train: Vec<StepMetrics>,
    /// The steps that validated, with their figures.
    pub valid: Vec<(u64, ValidMetrics)>,
    /// The line number of a last line cut short (a run killed mid-write), which was left out.
    pub partial_line: Option<usize>,
}

impl MetricsTable {
    /// Reads `path`; errors name the file and, for a bad row, its line (1 is the header).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parses the text of `path`. A malformed last line without its newline is a row cut short
    /// by an interrupted run: it is left out (and noted in `partial_line`), not an error.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let mut lines = text.lines();
        let Some(header) = lines.next() else {
            bail!("{}: empty file, no metrics header", path.display());
        };
        let columns = Columns::find(path, header)?;
        let mut table = MetricsTable {
            path: path.to_owned(),
            task: columns.task,
            train: Vec::new(),
            valid: Vec::new(),
            partial_line: None,
        };
        let lines: Vec<&str> = lines.collect();
        let unterminated = !text.ends_with('\n');
        for (i, line) in lines.iter().enumerate() {
            let number = i + 2;
            if line.trim().is_empty() {
                continue;
            }
            match columns.row(line) {
                Ok((step, valid)) => {
                    if let Some(valid) = valid {
                        table.valid.push((step.step, valid));
                    }
                    table.train.push(step);
                }
                Err(_) if unterminated && i + 1 == lines.len() => {
                    table.partial_line = Some(number);
                }
                Err(e) => return Err(e.context(format!("{}: line {number}", path.display()))),
            }
        }
        Ok(table)
    }

    /// The last training row, if any.
    pub fn last_step(&self) -> Option<&StepMetrics> {
        self.train.last()
    }

    /// The last validation row, if any.
    pub fn last_valid(&self) -> Option<&(u64, ValidMetrics)> {
        self.valid.last()
    }

    /// `(step, value)` of every training row.
    pub fn train_series(&self, value: impl Fn(&StepMetrics) -> f64) -> Vec<(f64, f64)> {
        self.train
            .iter()
            .map(|s| (s.step as f64, value(s)))
            .collect()
    }

    /// `(step, value)` of every validation row.
    pub fn valid_series(&self, value: impl Fn(&ValidMetrics) -> f64) -> Vec<(f64, f64)> {
        self.valid
            .iter()
            .map(|(step, v)| (*step as f64, value(v)))
            .collect()
    }
}

/// Where each column is in the file: `index[k]` is the field of `names[k]`, the names of
/// [`COLUMNS`] then the task's own column.
struct Columns {
    names: Vec<&'static str>,
    index: Vec<usize>,
    fields: usize,
    task: Task,
}

/// How many of [`COLUMNS`] are training figures, in [`StepMetrics`] order; the rest are
/// validation figures, in [`ValidMetrics`] order.
const TRAIN_COLUMNS: usize = 7;

impl Columns {
    fn find(path: &Path, header: &str) -> Result<Self> {
        let header: Vec<&str> = header.split(',').map(str::trim).collect();
        let position = |name: &str| header.iter().position(|n| *n == name);
        let task = if position(VALID_MASK_ACCURACY).is_some() {
            Task::Pretraining
        } else if position(VALID_BLEU).is_some() {
            Task::Finetuning
        } else {
            bail!(
                "{}: line 1: the header has neither a {VALID_MASK_ACCURACY} nor a {VALID_BLEU} \
                 column: not a metrics file of cloze pretrain or finetune",
                path.display()
            );
        };
        let names: Vec<&'static str> = COLUMNS.split(',').chain([task.valid_column()]).collect();
        let mut index = Vec::new();
        for name in &names {
            match position(name) {
                Some(i) => index.push(i),
                None => bail!(
                    "{}: line 1: the header has no {name} column",
                    path.display()
                ),
            }
        }
        Ok(Self {
            names,
            index,
            fields: header.len(),
            task,
        })
    }

    /// One row: the step's figures, and the validation figures when it validated.
    fn row(&self, line: &str) -> Result<(StepMetrics, Option<ValidMetrics>)> {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != self.fields {
            bail!(
                "{} fields where the header has {}: {line:?}",
                fields.len(),
                self.fields
            );
        }
        let name = |k: usize| self.names[k];
        let text = |k: usize| fields[self.index[k]];
        let float = |k: usize| -> Result<f64> {
            text(k)
                .parse::<f64>()
                .with_context(|| format!("column {}: {:?} is not a number", name(k), text(k)))
        };
        let integer = |k: usize| -> Result<u64> {
            text(k)
                .parse::<u64>()
                .with_context(|| format!("column {}: {:?} is not a whole number", name(k), text(k)))
        };
        let step = StepMetrics {
            step: integer(0)?,
            tokens: integer(1)?,
            loss: float(2)?,
            accuracy: float(3)?,
            lr: float(4)?,
            grad_norm: float(5)?,
            tokens_per_s: float(6)?,
        };
        let valid_columns = TRAIN_COLUMNS..self.index.len();
        let empty = valid_columns
            .clone()
            .filter(|&k| text(k).is_empty())
            .count();
        let valid = match empty {
            0 => Some(ValidMetrics {
                loss: float(TRAIN_COLUMNS)?,
                accuracy: float(TRAIN_COLUMNS + 1)?,
                extra: float(TRAIN_COLUMNS + 2)?,
            }),
            n if n == valid_columns.len() => None,
            _ => bail!("some validation columns are empty and others not: {line:?}"),
        };
        Ok((step, valid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metrics::header;

    fn parse(text: &str) -> Result<MetricsTable> {
        MetricsTable::parse(Path::new("run/metrics.csv"), text)
    }

    fn pretraining(rows: &str) -> String {
        format!("{}\n{rows}", header(VALID_MASK_ACCURACY))
    }

    #[test]
    fn reads_training_and_validation_rows_by_column_name() {
        let table = parse(&pretraining(
            "1,100,8.5,0.0,2e-5,5.2,456.0,,,\n2,200,8.25,0.125,4e-5,4.4,683.5,6.5,0.08,0.03\n",
        ))
        .unwrap();
        assert_eq!(table.task, Task::Pretraining);
        assert_eq!(table.train.len(), 2);
        assert_eq!(table.train[1].tokens, 200);
        assert_eq!(table.train[1].lr, 4e-5);
        assert_eq!(table.train[1].tokens_per_s, 683.5);
        assert_eq!(table.valid.len(), 1);
        let (step, valid) = table.valid[0];
        assert_eq!((step, valid.loss, valid.extra), (2, 6.5, 0.03));
        assert_eq!(table.partial_line, None);

        // Another order, an unknown column, a fine-tuning run.
        let table = parse(
            "loss,step,note,tokens,accuracy,lr,grad_norm,tokens_per_s,valid_bleu,valid_loss,valid_accuracy\n\
             3.5,7,x,700,0.25,1e-3,1.0,99.0,12.5,3.25,0.5\n",
        )
        .unwrap();
        assert_eq!(table.task, Task::Finetuning);
        assert_eq!((table.train[0].step, table.train[0].loss), (7, 3.5));
        assert_eq!(table.valid[0].1.extra, 12.5);
        assert_eq!(table.valid[0].1.accuracy, 0.5);
    }

    #[test]
    fn a_missing_column_is_named() {
        let header = header(VALID_BLEU).replace("tokens_per_s,", "");
        let error = format!("{:#}", parse(&format!("{header}\n")).unwrap_err());
        assert!(
            error.contains("run/metrics.csv: line 1") && error.contains("no tokens_per_s column"),
            "{error}"
        );
        let error = format!("{:#}", parse(&format!("{COLUMNS}\n")).unwrap_err());
        assert!(error.contains("neither a valid_mask_accuracy nor a valid_bleu"));
        assert!(parse("").is_err());
    }

    #[test]
    fn a_malformed_row_is_an_error_naming_its_line() {
        let text = pretraining("1,100,8.5,0.0,2e-5,5.2,456.0,,,\n2,200,oops,0.1,4e-5,4.4,1.0,,,\n");
        let error = format!("{:#}", parse(&text).unwrap_err());
        assert!(
            error.contains("run/metrics.csv: line 3") && error.contains("column loss"),
            "{error}"
        );
        let text = pretraining("1,100,8.5\n2,200,8.2,0.1,4e-5,4.4,1.0,,,\n");
        let error = format!("{:#}", parse(&text).unwrap_err());
        assert!(
            error.contains("line 2: 3 fields where the header has 10"),
            "{error}"
        );
        let text = pretraining("1,100,8.5,0.0,2e-5,5.2,456.0,6.5,,\n");
        assert!(
            format!("{:#}", parse(&text).unwrap_err()).contains("line 2: some validation columns")
        );
        // A last row cut short but ended by a newline is not an interrupted write.
        let text = pretraining("1,100,8.5,0.0,2e-5,5.2,456.0,,,\n2,200,8.2\n");
        assert!(format!("{:#}", parse(&text).unwrap_err()).contains("line 3"));
    }

    #[test]
    fn a_last_row_cut_short_by_an_interrupted_run_is_left_out() {
        let table = parse(&pretraining(
            "1,100,8.5,0.0,2e-5,5.2,456.0,,,\n2,200,8.25,0.1,4e-5,4.4,683.5,,,\n3,300,8.1",
        ))
        .unwrap();
        assert_eq!(table.train.len(), 2);
        assert_eq!(table.partial_line, Some(4));
        assert_eq!(table.last_step().unwrap().step, 2);
        assert!(table.last_valid().is_none());
        // Only the header: an empty table.
        let table = parse(&pretraining("")).unwrap();
        assert!(table.train.is_empty() && table.valid.is_empty());
    }
}
