//! `cloze report`: an HTML page and PNG plots of a pretraining or fine-tuning run, from the files
//! its run directory holds (metrics.csv, config.toml, valid.json, and eval.json or translate.json
//! when a pipeline's evaluation stage left them there).

pub mod drawing;
pub mod figures;
pub mod font;
pub mod html;
pub mod metrics_table;
pub mod plots;
pub mod smoothing;
pub mod summary;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::checkpoint::{CONFIG_FILE, METRICS_FILE};
use crate::fsutil::write_atomic;
use metrics_table::{MetricsTable, Task};
use plots::PlotSize;

/// The page's file name.
pub const REPORT_FILE: &str = "report.html";

/// The JSON files of results a run directory may hold, shown in this order when present:
/// the last validation (written by training), then the pipeline's evaluation of the checkpoint
/// (`cloze eval mlm --json` of a pretraining run) or of a test translation (a fine-tuning run).
pub const RESULT_FILES: [&str; 3] = [
    crate::checkpoint::EVALUATION_FILE,
    "eval.json",
    "translate.json",
];

/// How the report is written.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// Where the page and plots go (created if missing); the run directory when `None`.
    pub out: Option<PathBuf>,
    pub size: PlotSize,
}

/// What [`write_report`] wrote.
#[derive(Clone, Debug)]
pub struct ReportSummary {
    pub task: Task,
    /// Training rows read from metrics.csv.
    pub steps: usize,
    /// Validation rows read from metrics.csv.
    pub validations: usize,
    /// The line of metrics.csv left out because an interrupted run cut it short.
    pub partial_line: Option<usize>,
    /// Every file written: the plots, then the page.
    pub files: Vec<PathBuf>,
}

/// Writes `report.html` and its PNG plots for the run in `run_dir`.
pub fn write_report(run_dir: &Path, options: &ReportOptions) -> Result<ReportSummary> {
    let size = options.size.check()?;
    let metrics_path = run_dir.join(METRICS_FILE);
    if !metrics_path.is_file() {
        bail!(
            "{} not found: {} is not a run directory of cloze pretrain or finetune (or it has \
             not logged a step yet)",
            metrics_path.display(),
            run_dir.display()
        );
    }
    let metrics = MetricsTable::read(&metrics_path)?;
    let config_path = run_dir.join(CONFIG_FILE);
    let config = if config_path.exists() {
        let bytes = std::fs::read(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        None
    };
    let results: Vec<_> = RESULT_FILES
        .iter()
        .filter_map(|name| figures::read(run_dir, name))
        .collect();

    let out = options.out.as_deref().unwrap_or(run_dir);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let plots = plots::plots_for(&metrics, final_validation(run_dir));
    let mut files = Vec::new();
    for plot in &plots {
        let png = drawing::draw(plot, size)?;
        let path = out.join(plot.file);
        write_atomic(&path, &png)?;
        files.push(path);
    }
    let page = html::render(&html::Page {
        run_dir: &run_dir.display().to_string(),
        metrics: &metrics,
        plots: &plots,
        size,
        config: config.as_deref(),
        results: &results,
    });
    let path = out.join(REPORT_FILE);
    write_atomic(&path, page.as_bytes())?;
    files.push(path);
    Ok(ReportSummary {
        task: metrics.task,
        steps: metrics.train.len(),
        validations: metrics.valid.len(),
        partial_line: metrics.partial_line,
        files,
    })
}

/// The final validation of a pretraining run, from its `valid.json`, if it has one that reads.
fn final_validation(run_dir: &Path) -> Option<plots::FinalValidation> {
    let text = std::fs::read_to_string(run_dir.join(crate::checkpoint::EVALUATION_FILE)).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(plots::FinalValidation {
        step: json.get("step")?.as_f64()?,
        accuracy: json.get("accuracy")?.as_f64()?,
        mask_accuracy: json.get("mask_accuracy")?.as_f64()?,
        unigram_mask_accuracy: json.get("unigram_mask_accuracy").and_then(|v| v.as_f64()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metrics::{VALID_BLEU, header};

    #[test]
    fn a_directory_without_metrics_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let error = format!(
            "{:#}",
            write_report(dir.path(), &ReportOptions::default()).unwrap_err()
        );
        assert!(
            error.contains(&dir.path().join("metrics.csv").display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn a_finetuning_run_gets_a_bleu_plot_and_its_result_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        std::fs::write(
            run.join(METRICS_FILE),
            format!(
                "{}\n1,100,9.5,0.0,1e-4,3.0,50.0,,,\n2,210,9.0,0.1,2e-4,2.5,55.0,8.5,0.125,1.5\n",
                header(VALID_BLEU)
            ),
        )
        .unwrap();
        std::fs::write(run.join("translate.json"), r#"{"bleu": {"score": 7.25}}"#).unwrap();
        let out = run.join("report");
        let options = ReportOptions {
            out: Some(out.clone()),
            size: PlotSize {
                width: 400,
                height: 300,
            },
        };
        let summary = write_report(run, &options).unwrap();
        assert_eq!(summary.task, Task::Finetuning);
        assert_eq!((summary.steps, summary.validations), (2, 1));
        let names: Vec<String> = summary
            .files
            .iter()
            .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "loss.png",
                "accuracy.png",
                "bleu.png",
                "lr.png",
                "tokens_per_s.png",
                "report.html"
            ]
        );
        let html = std::fs::read_to_string(out.join(REPORT_FILE)).unwrap();
        assert!(html.contains("<img src=\"bleu.png\""));
        assert!(html.contains("<th>bleu.score</th><td class=\"n\">7.2500</td>"));
        assert!(html.contains("no config.toml"));
    }
}
