//! Crashes and failures through the binary: kill -9 at random moments, a full disk while writing
//! checkpoints and shards, and steps whose loss is not finite.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloze::checkpoint::load_checkpoint;
use cloze::checkpoint::trained::TrainedModel;
use cloze::train::optimizer::{AdamWSettings, adamw};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common;
use crate::pretrain_cli::{entries, pretrain, succeeded, write_config};

/// The columns of metrics.csv that a resumed run must reproduce: all but `tokens_per_s`.
pub(crate) fn deterministic_columns(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|line| {
            line.split(',')
                .enumerate()
                .filter(|&(i, _)| i != 6)
                .map(|(_, f)| f)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// Whether two `deterministic_columns` tables are the same run: identical text on flex, whose
/// promise is bit for bit; on LibTorch, whose CPU reductions change the last digits of a loss from
/// one process to another now and then (README, "Reproducibility"), every figure within 1e-5
/// relative of the other.
pub(crate) fn same_run(a: &[String], b: &[String]) -> bool {
    if crate::test_device() == "flex" {
        return a == b;
    }
    let close = |x: &str, y: &str| match (x.parse::<f64>(), y.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-5 * x.abs().max(y.abs()).max(1e-12),
        _ => x == y,
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let (x, y): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| close(p, q))
        })
}

/// Whether two runs' `(step, loss)` columns are the same run, as [`same_run`] judges.
pub(crate) fn same_losses(a: &[(u64, f64)], b: &[(u64, f64)]) -> bool {
    let rows =
        |l: &[(u64, f64)]| -> Vec<String> { l.iter().map(|(s, x)| format!("{s},{x}")).collect() };
    same_run(&rows(a), &rows(b))
}

/// Threads that keep every core busy until dropped: the promise of a repeated run holds whatever
/// else runs on the machine, so the kill test runs its processes against this competition.
struct BusyCores {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl BusyCores {
    fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut spins = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        spins = std::hint::black_box(spins.wrapping_add(1));
                    }
                    spins
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The last step in metrics.csv.
fn logged_steps(run: &Path) -> u64 {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .last()
        .unwrap_or(0)
}

/// Every file and directory under `dir` whose name starts with a dot: temporaries and
/// half-written checkpoints.
pub(crate) fn hidden_entries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            found.push(path.clone());
        }
        if path.is_dir() {
            found.extend(hidden_entries(&path));
        }
    }
    found
}

/// Every checkpoint directory of `run` loads: weights, optimizer state and tokenizer.
fn assert_checkpoints_load(run: &Path) {
    let device = crate::burn_device();
    let checkpoints = run.join("checkpoints");
    let names: Vec<String> = entries(&checkpoints)
        .into_iter()
        .filter(|n| n.starts_with("step-"))
        .collect();
    assert!(!names.is_empty());
    for name in names {
        let dir = checkpoints.join(&name);
        let trained = TrainedModel::load(&dir, None, &device)
            .unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
        let settings = AdamWSettings {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-6,
            weight_decay: 0.01,
        };
        let (state, _, _) = load_checkpoint(&dir, trained.model.clone(), adamw(settings))
            .unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
        assert_eq!(format!("step-{:07}", state.step), name);
    }
}

#[test]
fn kill_9_at_twenty_random_moments_then_resume_gives_the_uninterrupted_run() {
    let _guard = crate::exclusive();
    let _load = BusyCores::start();
    let dir = common::scratch("faults-kill");
    let config = write_config(&dir);
    let settings = [
        "--set",
        "train.steps=120",
        "--set",
        "train.checkpoint_every=5",
        "--set",
        "train.valid_every=10",
    ];
    let whole = dir.join("whole");
    succeeded(&pretrain(&config, &whole, &settings, None));
    let expected = deterministic_columns(&whole);
    assert_eq!(expected.len(), 121);

    let killed = dir.join("killed");
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    // Aborting at these points is a kill -9 at the worst moments of writing a checkpoint.
    let points = [
        "checkpoint-write",
        "checkpoint-renamed",
        "checkpoint-pruned",
        "checkpoint-removing",
    ];
    let mut kills = 0;
    for attempt in 0..20 {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cloze"));
        command
            .args(["pretrain", "--resume", "--device", &crate::test_device()])
            .arg("--config")
            .arg(&config)
            .arg("--run-dir")
            .arg(&killed)
            .args(settings)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if attempt % 4 == 3 {
            command.env(
                cloze::fault::VARIABLE,
                points[rng.random_range(0..points.len())],
            );
            kills += usize::from(!command.status().unwrap().success());
            continue;
        }
        // Killed a random number of steps past its checkpoint, a random fraction of a step
        // later: the kills land in steps, validations and checkpoint writes alike, and the run
        // moves on by a few steps each time.
        let latest = std::fs::read_to_string(killed.join("checkpoints/latest")).unwrap_or_default();
        let resumed_at: u64 = latest.trim_start_matches("step-").parse().unwrap_or(0);
        let target = resumed_at + rng.random_range(1..=8);
        let jitter = Duration::from_millis(rng.random_range(0..20));
        let mut child = command.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while logged_steps(&killed) < target
            && child.try_wait().unwrap().is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(jitter);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        eprintln!(
            "attempt {attempt}: resumed at step {resumed_at}, killed at step {} + {jitter:?}",
            logged_steps(&killed)
        );
    }
    let finished = logged_steps(&killed);
    assert!(finished < 120, "the run finished before the last kill");
    assert!(kills >= 15, "only {kills} of 20 attempts were killed");

    succeeded(&pretrain(
        &config,
        &killed,
        &[&["--resume"], &settings[..]].concat(),
        None,
    ));
    let resumed = deterministic_columns(&killed);
    assert!(
        same_run(&resumed, &expected),
        "the resumed run:\n{resumed:#?}\nthe uninterrupted run:\n{expected:#?}"
    );
    assert_checkpoints_load(&killed);
    assert_eq!(hidden_entries(&killed), Vec::<PathBuf>::new());
}

#[test]
fn a_full_disk_while_checkpointing_keeps_the_previous_checkpoint() {
    let _guard = crate::exclusive();
    let dir = common::scratch("faults-disk-checkpoint");
    let config = write_config(&dir);
    let whole = dir.join("whole");
    succeeded(&pretrain(&config, &whole, &[], None));

    let run = dir.join("run");
    let output = pretrain(&config, &run, &[], Some("checkpoint-disk-full@8"));
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("No space left on device") && stderr.contains("optimizer.bpk"),
        "{stderr}"
    );
    let checkpoints = run.join("checkpoints");
    assert_eq!(entries(&checkpoints), ["latest", "step-0000004"]);
    assert_eq!(
        std::fs::read_to_string(checkpoints.join("latest")).unwrap(),
        "step-0000004"
    );
    assert_eq!(hidden_entries(&run), Vec::<PathBuf>::new());
    assert_checkpoints_load(&run);

    succeeded(&pretrain(&config, &run, &["--resume"], None));
    assert!(same_run(
        &deterministic_columns(&run),
        &deterministic_columns(&whole)
    ));
}

#[test]
fn a_full_disk_while_sharding_keeps_the_previous_shards() {
    let dir = common::scratch("faults-disk-shards");
    let out = dir.join("shards");
    let shard = |fault: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cloze"));
        command
            .args(["shard", "--overwrite", "--rows-per-shard", "2000"])
            .arg("--tokenizer")
            .arg(&common::fixture().tokenizer)
            .arg("--input")
            .arg(common::data("ko.ui-docs.txt.gz"))
            .arg("--out")
            .arg(&out);
        if let Some(fault) = fault {
            command.env(cloze::fault::VARIABLE, fault);
        }
        command.output().unwrap()
    };
    succeeded(&shard(None));
    let snapshot = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        for split in ["", "train", "valid"] {
            let Ok(entries) = std::fs::read_dir(dir.join(split)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_file() {
                    files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    };
    let before = snapshot(&out);
    assert!(before.iter().any(|(p, _)| p.ends_with("shard-00001.arrow")));

    let output = shard(Some("shard-disk-full@1"));
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("No space left on device") && stderr.contains("shard-00001.arrow"),
        "{stderr}"
    );
    assert_eq!(snapshot(&out), before, "the previous shards changed");
    assert_eq!(entries(&dir), ["shards"], "a staging directory was left");
}

#[test]
fn non_finite_steps_are_skipped_and_too_many_in_a_row_stop_the_run() {
    let _guard = crate::exclusive();
    let dir = common::scratch("faults-nonfinite");
    let config = write_config(&dir);

    // Two bad steps: skipped with a warning; the run goes on and ends normally.
    let run = dir.join("two");
    let stderr = succeeded(&pretrain(&config, &run, &[], Some("nonfinite-loss@5-6")));
    assert!(
        stderr.contains("step 5: loss NaN") && stderr.contains("skipped"),
        "{stderr}"
    );
    let losses = cloze::checkpoint::metrics::read_losses(&run.join("metrics.csv")).unwrap();
    assert_eq!(losses.len(), 12);
    assert!(losses[4].1.is_nan() && losses[5].1.is_nan());
    assert!(
        losses
            .iter()
            .enumerate()
            .all(|(i, l)| i == 4 || i == 5 || l.1.is_finite())
    );

    // From step 5 on, every step is bad: after 3 in a row the run checkpoints and stops.
    let run = dir.join("stopped");
    let output = pretrain(
        &config,
        &run,
        &["--set", "train.max_nonfinite_steps=3"],
        Some("nonfinite-loss@5-100"),
    );
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("stopped at step 7")
            && stderr.contains("not finite for 3 steps in a row")
            && stderr.contains("weights of step 4"),
        "{stderr}"
    );
    let checkpoints = run.join("checkpoints");
    assert_eq!(
        std::fs::read_to_string(checkpoints.join("latest")).unwrap(),
        "step-0000007"
    );
    // The stopping checkpoint holds the last good weights: those of step 4.
    let device = crate::burn_device();
    let weights = |name: &str| {
        TrainedModel::load(&checkpoints.join(name), None, &device)
            .unwrap()
            .model
            .encoder
            .embedding
            .tokens
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(weights("step-0000007"), weights("step-0000004"));
}
