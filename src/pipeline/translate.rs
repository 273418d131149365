//! `[translate]`: `cloze translate` and `cloze eval bleu` as a stage. The `[finetune]` run's
//! latest checkpoint translates the source column of a file of held-out pairs; the stage writes
//! `<run_dir>/translate.hyp` (one translation per pair), `translate.ref` (the target column) and
//! `translate.json` (BLEU and chrF as `cloze eval bleu --json` reports them, with sacreBLEU's
//! signatures, the segment count and the search settings). Its stamp covers the settings, the
//! checkpoint (its state.json and model) and the input file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{MODEL_FILE, STATE_FILE, resolve_checkpoint};
use crate::config::finetune::FinetuneConfig;
use crate::data::corpus::{DEFAULT_MAX_LINE_BYTES, read_pairs};
use crate::device::DeviceChoice;
use crate::eval::bleu::{BleuScore, ChrfScore, corpus_bleu, corpus_chrf};
use crate::eval::checkpoint_translate::{CheckpointTranslator, TranslateSettings};
use crate::pipeline::data::ShardStage;
use crate::pipeline::stamp::Stamp;

/// The files the stage writes in the fine-tuning run directory.
pub const TRANSLATE_FILE: &str = "translate.json";
pub const HYPOTHESES_FILE: &str = "translate.hyp";
pub const REFERENCES_FILE: &str = "translate.ref";

/// sacreBLEU 2.5.1's signatures of the scores `crate::eval::bleu` reproduces (its defaults, one
/// reference).
pub const BLEU_SIGNATURE: &str = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1";
pub const CHRF_SIGNATURE: &str = "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.5.1";

/// The `[translate]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranslateStage {
    /// A tabular file of held-out pairs (.tsv, .csv, .parquet, .jsonl, optionally gzipped).
    pub input: PathBuf,
    /// The column translated; by default the `[pairs]` stage's `src_column` (its `tgt_column`
    /// when `finetune.data.reverse`).
    pub src_column: Option<String>,
    /// The column of the references; by default the `[pairs]` stage's other column.
    pub tgt_column: Option<String>,
    /// Hypotheses kept per sentence; 1 is greedy search.
    pub beam: usize,
    /// Finished hypotheses are ranked by log-probability / length^length_penalty.
    pub length_penalty: f64,
    /// Stop a sentence once `beam` hypotheses have finished, rather than once no live one can
    /// outrank them (faster; shorter outputs).
    pub early_stopping: bool,
    /// Tokens generated at most per sentence, `[EOS]` included; by default (and at most) the
    /// model's `train.seq_len - 1`.
    pub max_len: Option<usize>,
    /// Sentences decoded together.
    pub batch_size: usize,
    /// Rows with a cell longer than this many bytes are skipped.
    pub max_line_bytes: usize,
}

impl Default for TranslateStage {
    fn default() -> Self {
        Self {
            input: PathBuf::new(),
            src_column: None,
            tgt_column: None,
            beam: 4,
            length_penalty: 1.0,
            early_stopping: false,
            max_len: None,
            batch_size: 32,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

impl TranslateStage {
    /// Fills in the columns from the `[pairs]` stage (swapped when the model translates in
    /// reverse).
    pub fn resolve(&mut self, pairs: Option<&ShardStage>, reverse: bool) {
        let Some(pairs) = pairs else {
            return;
        };
        let (src, tgt) = if reverse {
            (&pairs.tgt_column, &pairs.src_column)
        } else {
            (&pairs.src_column, &pairs.tgt_column)
        };
        if self.src_column.is_none() {
            self.src_column = src.clone();
        }
        if self.tgt_column.is_none() {
            self.tgt_column = tgt.clone();
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.input.as_os_str().is_empty() {
            bail!(
                "translate.input is not set: name a file of held-out pairs (data/ko-en.dev.tsv.gz)"
            );
        }
        for (key, column) in [
            ("src_column", &self.src_column),
            ("tgt_column", &self.tgt_column),
        ] {
            if column.as_deref().is_none_or(str::is_empty) {
                bail!("translate.{key} is not set, and there is no [pairs] stage to take it from");
            }
        }
        if self.beam == 0 {
            bail!("translate.beam must be at least 1");
        }
        if self.batch_size == 0 {
            bail!("translate.batch_size must be at least 1");
        }
        if self.max_len == Some(0) {
            bail!("translate.max_len must be at least 1");
        }
        if !self.length_penalty.is_finite() {
            bail!("translate.length_penalty must be a finite number");
        }
        Ok(())
    }

    /// The search settings, named by their keys in errors.
    fn settings(&self) -> TranslateSettings {
        TranslateSettings {
            beam: self.beam,
            length_penalty: self.length_penalty,
            early_stopping: self.early_stopping,
            max_len: self.max_len,
            batch_size: self.batch_size,
            max_len_key: "translate.max_len",
            beam_key: "translate.beam",
        }
    }

    fn columns(&self) -> (&str, &str) {
        (
            self.src_column.as_deref().unwrap_or_default(),
            self.tgt_column.as_deref().unwrap_or_default(),
        )
    }
}

/// What the stage translates, resolved against the `[finetune]` stage.
#[derive(Serialize)]
struct Settings<'a> {
    stage: &'a TranslateStage,
    checkpoint: &'a Path,
}

/// The stage's output, and the stamp it must carry, for the fine-tuning run as it is now.
pub struct TranslatePlan {
    pub out: PathBuf,
    pub checkpoint: PathBuf,
    pub stamp: Stamp,
}

/// Resolves the stage against the fine-tuning run's latest checkpoint.
pub fn plan(stage: &TranslateStage, finetune: &FinetuneConfig) -> Result<TranslatePlan> {
    let run_dir = finetune.run_dir.clone().unwrap_or_default();
    let checkpoint = resolve_checkpoint(&run_dir)?;
    let settings = Settings {
        stage,
        checkpoint: &checkpoint,
    };
    let stamp = Stamp::new(
        &settings,
        &[
            ("checkpoint state", &checkpoint.join(STATE_FILE)),
            ("checkpoint model", &checkpoint.join(MODEL_FILE)),
            ("input", &stage.input),
        ],
    )?;
    Ok(TranslatePlan {
        out: run_dir.join(TRANSLATE_FILE),
        checkpoint,
        stamp,
    })
}

/// `translate.json`.
#[derive(Clone, Debug, Serialize)]
pub struct TranslateReport {
    pub checkpoint: PathBuf,
    pub step: u64,
    pub input: PathBuf,
    pub src_column: String,
    pub tgt_column: String,
    /// Pairs translated and scored.
    pub segments: usize,
    /// Rows of the input skipped (a side empty, a cell too long, invalid UTF-8).
    pub skipped_rows: u64,
    /// Sources longer than the model takes, whose beginning was translated.
    pub truncated: usize,
    pub beam: usize,
    pub length_penalty: f64,
    pub early_stopping: bool,
    pub max_len: usize,
    pub bleu: Scored<BleuScore>,
    pub chrf: Scored<ChrfScore>,
    pub hypotheses: String,
    pub references: String,
    pub seconds: f64,
}

/// A score with sacreBLEU's signature beside its fields.
#[derive(Clone, Debug, Serialize)]
pub struct Scored<T> {
    #[serde(flatten)]
    pub score: T,
    pub signature: &'static str,
}

/// The pairs of `translate.input`: sources, their references, and the rows skipped.
struct HeldOut {
    sources: Vec<String>,
    references: Vec<String>,
    skipped_rows: u64,
}

fn read_held_out(stage: &TranslateStage) -> Result<HeldOut> {
    let (src_column, tgt_column) = stage.columns();
    let mut sources = Vec::new();
    let mut references = Vec::new();
    let read = read_pairs(
        &stage.input,
        src_column,
        tgt_column,
        stage.max_line_bytes,
        |pair| {
            sources.push(pair.src);
            references.push(pair.tgt);
            Ok(())
        },
    )
    .with_context(|| format!("translate.input = {}", stage.input.display()))?;
    Ok(HeldOut {
        sources,
        references,
        skipped_rows: read.empty_records + read.long_lines + read.invalid_utf8_lines,
    })
}

/// Writes the hypotheses and references beside `translate.json`, one segment a line.
fn write_segments(
    plan: &TranslatePlan,
    hypotheses: &[String],
    references: &[String],
) -> Result<()> {
    // Newlines inside a segment would shift every later line of the files.
    let lines = |segments: &[String]| {
        segments
            .iter()
            .map(|s| s.replace(['\n', '\r'], " "))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    let dir = plan.out.parent().unwrap_or(Path::new("."));
    crate::fsutil::write_atomic(&dir.join(HYPOTHESES_FILE), lines(hypotheses).as_bytes())?;
    crate::fsutil::write_atomic(&dir.join(REFERENCES_FILE), lines(references).as_bytes())
}

/// Translates, scores and writes the three files, then the stamp.
pub fn run(
    stage: &TranslateStage,
    plan: &TranslatePlan,
    device: DeviceChoice,
) -> Result<TranslateReport> {
    let started = Instant::now();
    let held_out = read_held_out(stage)?;
    let translator = CheckpointTranslator::load(&plan.checkpoint, &stage.settings(), device)?;
    let (hypotheses, truncated) = translator.translate(&held_out.sources)?;
    let bleu = corpus_bleu(&hypotheses, &held_out.references)?;
    let chrf = corpus_chrf(&hypotheses, &held_out.references)?;
    write_segments(plan, &hypotheses, &held_out.references)?;
    let (src_column, tgt_column) = stage.columns();
    let report = TranslateReport {
        checkpoint: plan.checkpoint.clone(),
        step: translator.translator.state.step,
        input: stage.input.clone(),
        src_column: src_column.to_owned(),
        tgt_column: tgt_column.to_owned(),
        segments: hypotheses.len(),
        skipped_rows: held_out.skipped_rows,
        truncated: truncated.len(),
        beam: stage.beam,
        length_penalty: stage.length_penalty,
        early_stopping: stage.early_stopping,
        max_len: translator.search.max_len,
        bleu: Scored {
            score: bleu,
            signature: BLEU_SIGNATURE,
        },
        chrf: Scored {
            score: chrf,
            signature: CHRF_SIGNATURE,
        },
        hypotheses: HYPOTHESES_FILE.into(),
        references: REFERENCES_FILE.into(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&report)? + "\n";
    crate::fsutil::write_atomic(&plan.out, json.as_bytes())?;
    plan.stamp.record(&plan.out)?;
    Ok(report)
}

/// What the stage wrote, and its scores.
pub fn summary_line(
    stage: &TranslateStage,
    plan: &TranslatePlan,
    report: &TranslateReport,
) -> String {
    format!(
        "wrote {} (step {}, {} segments of {}, beam {}): BLEU {:.2}, chrF2 {:.2}",
        plan.out.display(),
        report.step,
        report.segments,
        stage.input.display(),
        stage.beam,
        report.bleu.score.score,
        report.chrf.score.score
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(src: &str, tgt: &str) -> ShardStage {
        toml::from_str(&format!(
            "tokenizer = \"t\"\ninputs = []\nout = \"o\"\nsrc_column = \"{src}\"\ntgt_column = \"{tgt}\""
        ))
        .unwrap()
    }

    #[test]
    fn the_columns_come_from_the_pairs_stage_unless_set() {
        let mut stage: TranslateStage = toml::from_str("input = \"dev.tsv\"").unwrap();
        assert!(
            stage
                .validate()
                .unwrap_err()
                .to_string()
                .contains("translate.src_column")
        );
        stage.resolve(Some(&pairs("ko", "en")), false);
        assert_eq!(stage.columns(), ("ko", "en"));
        stage.validate().unwrap();

        let mut reverse: TranslateStage = toml::from_str("input = \"dev.tsv\"").unwrap();
        reverse.resolve(Some(&pairs("ko", "en")), true);
        assert_eq!(reverse.columns(), ("en", "ko"));

        let mut set: TranslateStage =
            toml::from_str("input = \"d\"\nsrc_column = \"a\"\ntgt_column = \"b\"").unwrap();
        set.resolve(Some(&pairs("ko", "en")), false);
        assert_eq!(set.columns(), ("a", "b"));
    }

    #[test]
    fn scores_carry_their_signature() {
        let hyps = vec!["the cat sat on the mat".to_owned()];
        let refs = hyps.clone();
        let scored = Scored {
            score: corpus_bleu(&hyps, &refs).unwrap(),
            signature: BLEU_SIGNATURE,
        };
        let json = serde_json::to_value(&scored).unwrap();
        assert!((json["score"].as_f64().unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(json["signature"], BLEU_SIGNATURE);
        assert!(json["precisions"].is_array());
    }
}
