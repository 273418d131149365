//! `cloze report` end to end: on the run pretrained through the binary and on a fine-tuning run,
//! each copied first so that the report does not touch the runs other tests read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use crate::eval::trained_run;
use crate::pretrain_cli::succeeded;

fn report(run: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloze"))
        .arg("report")
        .arg(run)
        .args(extra)
        .output()
        .expect("run cloze")
}

/// Copies the files (not the checkpoints) of run directory `from` into a new directory `to`.
fn copy_run(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    to.to_owned()
}

/// Decodes the PNG file at `path` whole; returns its size and how many distinct pixel values it
/// has (a drawn plot has many, a blank one one).
fn decode_png(path: &Path) -> ((u32, u32), usize) {
    let file = std::io::BufReader::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    );
    let mut reader = png::Decoder::new(file)
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG file: {e}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader
        .next_frame(&mut pixels)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    let channels = frame.color_type.samples();
    let distinct: std::collections::HashSet<&[u8]> =
        pixels[..frame.buffer_size()].chunks(channels).collect();
    ((frame.width, frame.height), distinct.len())
}

/// Checks that `out` holds each of `plots` as a drawn PNG of `size`, and a report.html that shows
/// them; returns the page.
fn check_report(out: &Path, stderr: &str, plots: &[&str], size: (u32, u32)) -> String {
    for name in plots {
        let path = out.join(name);
        assert!(
            stderr.contains(&format!("wrote {}", path.display())),
            "{stderr}"
        );
        let (decoded, colours) = decode_png(&path);
        assert_eq!(decoded, size, "{name}");
        assert!(colours > 10, "{name} looks blank: {colours} colours");
    }
    let page = out.join("report.html");
    assert!(stderr.contains(&format!("wrote {}", page.display())));
    let html = std::fs::read_to_string(page).unwrap();
    for name in plots {
        assert!(html.contains(&format!("<img src=\"{name}\"")), "{name}");
    }
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    html
}

#[test]
fn report_draws_the_plots_and_page_of_a_pretraining_run() {
    // The shared run first: building it takes the lock other tests hold.
    let trained = trained_run();
    let dir = common::scratch("report-pretraining");
    let run = copy_run(trained, &dir.join("run"));
    std::fs::write(
        run.join("eval.json"),
        r#"{"accuracy": 0.25, "by_kind": {"mask": {"accuracy": 0.125}}, "predictions": 640}"#,
    )
    .unwrap();
    let stderr = succeeded(&report(&run, &["--width", "640", "--height", "400"]));
    let plots = ["loss.png", "accuracy.png", "lr.png", "tokens_per_s.png"];
    let html = check_report(&run, &stderr, &plots, (640, 400));
    assert!(!run.join("bleu.png").exists());
    assert!(
        stderr.contains("pretraining run: 60 steps, 0 validations"),
        "{stderr}"
    );

    // The resolved config, escaped; the final figures of metrics.csv, valid.json and eval.json.
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("steps = 60"));
    let escaped = config.replace('&', "&amp;").replace('"', "&quot;");
    assert!(html.contains(&format!("<pre>{escaped}</pre>")));
    assert!(html.contains("<th>step</th><td class=\"n\">60</td>"));
    let last = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let tokens = last.lines().last().unwrap().split(',').nth(1).unwrap();
    assert!(html.contains(&format!("<th>tokens</th><td class=\"n\">{tokens}</td>")));
    assert!(html.contains("No validation rows."));
    assert!(html.contains("<h3>valid.json</h3>") && html.contains("<h3>eval.json</h3>"));
    assert!(html.contains("<th>by_kind.mask.accuracy</th><td class=\"n\">0.1250</td>"));
    assert!(html.contains("<th>mask_accuracy</th>"));

    // Elsewhere with --out, and a run cut short mid-row: reported as far as it got.
    let mut metrics = last.clone();
    metrics.push_str("61,1000,3.5");
    std::fs::write(run.join("metrics.csv"), metrics).unwrap();
    let out = dir.join("elsewhere");
    let stderr = succeeded(&report(&run, &["--out", out.to_str().unwrap()]));
    check_report(&out, &stderr, &plots, (960, 540));
    assert!(
        stderr.contains("line 62 of metrics.csv was cut short"),
        "{stderr}"
    );

    // A malformed row, a directory that is not a run, a plot too small: clear errors.
    std::fs::write(run.join("metrics.csv"), last.replacen(",0.", ",x.", 1)).unwrap();
    let output = report(&run, &[]);
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains(&format!("{}: line 2", run.join("metrics.csv").display())),
        "{stderr}"
    );
    let output = report(&dir, &[]);
    assert!(!output.status.success());
    assert!(common::stderr(&output).contains(&dir.join("metrics.csv").display().to_string()));
    let output = report(&out, &["--width", "20"]);
    assert!(common::stderr(&output).contains("width must be between"));
}

#[test]
fn report_draws_bleu_for_a_finetuning_run() {
    let finetuned = crate::translation::finetuned_run();
    let dir = common::scratch("report-finetuning");
    let run = copy_run(finetuned, &dir.join("run"));
    let stderr = succeeded(&report(&run, &[]));
    let plots = [
        "loss.png",
        "accuracy.png",
        "bleu.png",
        "lr.png",
        "tokens_per_s.png",
    ];
    let html = check_report(&run, &stderr, &plots, (960, 540));
    // The steps that validated: those with a BLEU in metrics.csv's last column.
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let validated: Vec<&str> = metrics
        .lines()
        .skip(1)
        .filter(|line| !line.ends_with(','))
        .map(|line| line.split(',').next().unwrap())
        .collect();
    assert!(!validated.is_empty(), "{metrics}");
    assert!(
        stderr.contains(&format!(
            "fine-tuning run: 8 steps, {} validation",
            validated.len()
        )),
        "{stderr}"
    );
    let last = validated.last().unwrap();
    assert!(html.contains(&format!("<h3>Last validation (step {last})</h3>")));
    assert!(html.contains("<th>valid BLEU</th>"));
    assert!(html.contains("<th>chrf</th>") && html.contains("<th>sentences</th>"));
}
