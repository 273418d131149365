//! `cloze pretrain` and `cloze run` end to end on `tiny`, through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cloze::checkpoint::metrics::read_losses;

use crate::common;

/// A pretraining config of `tiny` on the fixture's shards: 12 steps, checkpoints every 4.
pub(crate) fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.toml");
    let text = format!(
        r#"# tiny pretraining for tests
[data]
shards = "{}"

[model]
size = "tiny"

[train]
steps = 12
batch_size = 8
seq_len = 32
lr = 2e-3
warmup_steps = 2
checkpoint_every = 4
keep_checkpoints = 2
valid_every = 6
valid_batches = 2
seed = 3
"#,
        common::fixture().shards.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn pretrain(
    config: &Path,
    run_dir: &Path,
    extra: &[&str],
    fault: Option<&str>,
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloze"));
    command
        .arg("pretrain")
        .arg("--config")
        .arg(config)
        .arg("--run-dir")
        .arg(run_dir)
        .arg("--device")
        .arg(crate::test_device())
        .args(extra);
    if let Some(fault) = fault {
        command.env(cloze::fault::VARIABLE, fault);
    }
    command.output().expect("run cloze")
}

/// A run of `extra` killed while writing its step-8 checkpoint, then resumed, ends with the
/// `expected` losses of the uninterrupted run.
pub(crate) fn assert_resumes_to(
    config: &Path,
    run_dir: &Path,
    extra: &[&str],
    expected: &[(u64, f64)],
) {
    assert!(
        !pretrain(config, run_dir, extra, Some("checkpoint-renamed@8"))
            .status
            .success()
    );
    succeeded(&pretrain(
        config,
        run_dir,
        &[&["--resume"], extra].concat(),
        None,
    ));
    let resumed = read_losses(&run_dir.join("metrics.csv")).unwrap();
    assert!(
        crate::faults::same_losses(&resumed, expected),
        "{resumed:?}\n{expected:?}"
    );
}

/// 80 steps of `extra` learn: the mean loss of the last 20 is below the first 10's by over 1.
pub(crate) fn assert_learns(config: &Path, run_dir: &Path, extra: &[&str]) {
    let steps = [extra, &["--set", "train.steps=80"]].concat();
    succeeded(&pretrain(config, run_dir, &steps, None));
    let losses = read_losses(&run_dir.join("metrics.csv")).unwrap();
    let mean = |range: std::ops::Range<usize>| {
        losses[range.clone()].iter().map(|(_, l)| l).sum::<f64>() / range.len() as f64
    };
    assert!(mean(60..80) < mean(0..10) - 1.0, "{losses:?}");
}

pub(crate) fn succeeded(output: &Output) -> String {
    let stderr = common::stderr(output);
    assert!(output.status.success(), "cloze failed:\n{stderr}");
    stderr
}

pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_run_killed_while_writing_a_checkpoint_resumes_to_the_same_losses() {
    let _guard = crate::exclusive();
    let dir = common::scratch("cli-resume");
    let config = write_config(&dir);

    let whole = dir.join("whole");
    let stderr = succeeded(&pretrain(&config, &whole, &[], None));
    assert!(stderr.contains("unigram baseline"), "{stderr}");
    let expected = read_losses(&whole.join("metrics.csv")).unwrap();
    assert_eq!(expected.len(), 12);
    assert!(expected.iter().all(|(_, l)| l.is_finite()));
    assert_eq!(
        entries(&whole.join("checkpoints")),
        ["latest", "step-0000008", "step-0000012"]
    );
    let valid: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("valid.json")).unwrap()).unwrap();
    assert_eq!(valid["step"], 12);
    assert!(valid["unigram_mask_accuracy"].as_f64().unwrap() > 0.0);
    assert!(valid["mask_predictions"].as_u64().unwrap() > 100);
    let metrics = std::fs::read_to_string(whole.join("metrics.csv")).unwrap();
    let row6: Vec<&str> = metrics.lines().nth(6).unwrap().split(',').collect();
    assert_eq!(row6[0], "6");
    assert!(
        row6[7].parse::<f64>().unwrap() > 0.0,
        "validation at step 6"
    );

    // Killed (as by kill -9) in the middle of writing the step-8 checkpoint.
    let killed = dir.join("killed");
    let output = pretrain(&config, &killed, &[], Some("checkpoint-write@8"));
    assert!(!output.status.success());
    let checkpoints = killed.join("checkpoints");
    let names = entries(&checkpoints);
    assert!(
        names.iter().any(|n| n.starts_with(".step-")),
        "the half-written checkpoint: {names:?}"
    );
    assert_eq!(
        std::fs::read_to_string(checkpoints.join("latest")).unwrap(),
        "step-0000004"
    );

    let refused = pretrain(&config, &killed, &[], None);
    assert!(!refused.status.success());
    assert!(common::stderr(&refused).contains("--resume"));

    succeeded(&pretrain(&config, &killed, &["--resume"], None));
    let resumed = read_losses(&killed.join("metrics.csv")).unwrap();
    assert!(
        crate::faults::same_losses(&resumed, &expected),
        "{resumed:?}\n{expected:?}"
    );
    assert_eq!(
        entries(&checkpoints),
        ["latest", "step-0000008", "step-0000012"]
    );

    // The saved config is a config: a longer run continues from it.
    let saved = whole.join("config.toml");
    succeeded(&pretrain(
        &saved,
        &whole,
        &["--resume", "--set", "train.steps=14"],
        None,
    ));
    let longer = read_losses(&whole.join("metrics.csv")).unwrap();
    assert_eq!(longer.len(), 14);
    assert_eq!(longer[..12], expected[..]);

    // Another model cannot continue the run.
    let other = pretrain(
        &saved,
        &whole,
        &["--resume", "--set", "model.pre_ln=true"],
        None,
    );
    assert!(!other.status.success());
    assert!(common::stderr(&other).contains("model"));
}

#[test]
fn config_errors_name_the_file_and_the_key() {
    let dir = common::scratch("cli-config-errors");
    let config = write_config(&dir);
    let run = dir.join("run");
    let cases: [(&[&str], &[&str]); 3] = [
        (&["--set", "train.stpes=3"], &["tiny.toml", "stpes"]),
        (
            &["--set", "train.steps=many"],
            &["tiny.toml", "train.steps"],
        ),
        (&["--set", "model.size=huge"], &["model.size", "huge"]),
    ];
    for (extra, expected) in cases {
        let output = pretrain(&config, &run, extra, None);
        assert!(!output.status.success(), "{extra:?}");
        let stderr = common::stderr(&output);
        for word in expected {
            assert!(stderr.contains(word), "{extra:?}: no '{word}' in {stderr}");
        }
    }
    let output = common::cloze(&[
        "pretrain",
        "--config",
        config.to_str().unwrap(),
        "--device",
        "tch-cuda:x",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(common::stderr(&output).contains("tch-cuda:x"));
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "[data]\nshards = \"x\"\n\n[train]\nsteps = -4\n").unwrap();
    let stderr = common::stderr(&pretrain(&broken, &run, &[], None));
    assert!(
        stderr.contains("broken.toml") && stderr.contains("line 5") && stderr.contains("steps"),
        "{stderr}"
    );
    let stderr = common::stderr(&pretrain(&dir.join("missing.toml"), &run, &[], None));
    assert!(stderr.contains("missing.toml"), "{stderr}");
    assert!(!run.join("checkpoints").exists());
}

#[test]
fn ctrl_c_writes_a_checkpoint_and_exits_cleanly() {
    let _guard = crate::exclusive();
    let dir = common::scratch("cli-interrupt");
    let config = write_config(&dir);
    let run = dir.join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(["pretrain", "--set", "train.steps=100000", "--device"])
        .arg(crate::test_device())
        .arg("--config")
        .arg(&config)
        .arg("--run-dir")
        .arg(&run)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = run.join("metrics.csv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while read_losses(&metrics).map_or(0, |l| l.len()) < 3 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = common::stderr(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let steps = read_losses(&metrics).unwrap().len();
    let latest = std::fs::read_to_string(run.join("checkpoints/latest")).unwrap();
    assert_eq!(latest, format!("step-{steps:07}"));
}

#[test]
fn a_pipeline_runs_its_stages_and_skips_those_up_to_date() {
    let _guard = crate::exclusive();
    let dir = common::scratch("cli-pipeline");
    let work = dir.join("work");
    let pipeline = dir.join("mini.toml");
    let input = common::data("en.bible-web.txt.gz");
    std::fs::write(
        &pipeline,
        format!(
            r#"[tokenizer]
inputs = ["{input}"]
out = "{work}/tokenizer.json"
vocab_size = 2000

[shard]
tokenizer = "{work}/tokenizer.json"
inputs = ["{input}"]
out = "{work}/shards"
valid_fraction = 0.02

[pretrain]
run_dir = "{work}/run"
data.shards = "{work}/shards"
model.size = "tiny"
train = {{ steps = 4, batch_size = 4, seq_len = 32, checkpoint_every = 2, valid_batches = 2 }}
"#,
            input = input.display(),
            work = work.display()
        ),
    )
    .unwrap();
    let device = crate::test_device();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", pipeline.to_str().unwrap(), "--device", &device];
        args.extend_from_slice(extra);
        common::cloze(&args)
    };
    let first = succeeded(&run(&[]));
    assert!(
        first.contains("tokenizer: wrote") && first.contains("shard: train"),
        "{first}"
    );
    assert!(first.contains("unigram baseline"), "{first}");
    assert_eq!(read_losses(&work.join("run/metrics.csv")).unwrap().len(), 4);

    let again = succeeded(&run(&[]));
    assert!(
        again.contains("tokenizer: ") && again.contains("is up to date"),
        "{again}"
    );
    assert!(!again.contains("shard: train"), "{again}");
    assert_eq!(read_losses(&work.join("run/metrics.csv")).unwrap().len(), 4);

    // A longer run continues the finished one.
    succeeded(&run(&["--set", "pretrain.train.steps=6"]));
    assert_eq!(read_losses(&work.join("run/metrics.csv")).unwrap().len(), 6);
    // Another vocabulary rebuilds the tokenizer and the shards, and the old run is refused.
    let output = run(&["--set", "tokenizer.vocab_size=1500"]);
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("tokenizer: wrote") && stderr.contains("shard: train"),
        "{stderr}"
    );
    assert!(
        !output.status.success()
            && stderr.contains("shards manifest and tokenizer changed")
            && stderr.contains("--from pretrain"),
        "{stderr}"
    );
}

/// The recipe the shipped pipelines use (rotary positions, pre-LN, GELU): a run killed at a
/// checkpoint resumes to the uninterrupted run's losses, its saved config names the positions, and
/// a longer run of it learns (its loss falls).
#[test]
fn a_rotary_pre_ln_run_resumes_to_the_same_losses_and_learns() {
    let _guard = crate::exclusive();
    let dir = common::scratch("cli-rope");
    let config = write_config(&dir);
    let rope = [
        "--set",
        "model.positions=\"rope\"",
        "--set",
        "model.pre_ln=true",
        "--set",
        "model.gelu=true",
    ];
    let whole = dir.join("whole");
    succeeded(&pretrain(&config, &whole, &rope, None));
    let expected = read_losses(&whole.join("metrics.csv")).unwrap();
    assert_eq!(expected.len(), 12);
    let saved = std::fs::read_to_string(whole.join("config.toml")).unwrap();
    assert!(saved.contains("positions = \"rope\""), "{saved}");

    assert_resumes_to(&config, &dir.join("killed"), &rope, &expected);
    assert_learns(&config, &dir.join("longer"), &rope);

    let refused = pretrain(
        &config,
        &dir.join("bad"),
        &[
            "--set",
            "model.positions=\"rope\"",
            "--set",
            "model.n_heads=64",
        ],
        None,
    );
    let stderr = common::stderr(&refused);
    assert!(stderr.contains("model.positions"), "{stderr}");
}
