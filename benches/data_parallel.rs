//! Data-parallel scaling on this machine: `cloze pretrain` of `small` (16 x 128 a rank, real
//! shards of `data/`) as 1 rank of 1 thread and as 2 ranks of 1 thread each under `mpirun`, in
//! one run. Prints one JSON line: each one's tokens/s (the median of its steps after the first
//! 5), the ratio, the share of the 2-rank steps spent in the all-reduce, and what that all-reduce
//! (the parameters x 4 bytes, sent and received once each by a ring) would take on a 10 GbE and a
//! 100 Gb/s link against the measured step time.
//!
//! `cargo bench --bench data_parallel --features mpi` (`BENCH_DEVICE=tch-cpu` with `tch` too).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

#[path = "common/corpus_shards.rs"]
mod corpus_shards;
use corpus_shards::{data, tokenizer_and_shards};

const STEPS: u64 = 30;
const WARMUP_STEPS: usize = 5;

/// Runs `cloze pretrain` under `mpirun -np ranks`, one thread a rank; returns its standard error
/// and the median tokens/s of its steps past the warm-up.
fn run(ranks: usize, device: &str, config: &Path, run_dir: &Path) -> Result<(String, f64)> {
    let output = Command::new("mpirun")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .args([
            "--oversubscribe",
            "--bind-to",
            "core",
            "-np",
            &ranks.to_string(),
        ])
        .args(["-x", "RAYON_NUM_THREADS=1", "-x", "OMP_NUM_THREADS=1"])
        .arg(env!("CARGO_BIN_EXE_cloze"))
        .args(["pretrain", "--device", device, "--config"])
        .arg(config)
        .arg("--run-dir")
        .arg(run_dir)
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        bail!("{ranks} rank(s) failed:\n{stderr}");
    }
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv"))?;
    let mut rates: Vec<f64> = metrics
        .lines()
        .skip(1 + WARMUP_STEPS)
        .filter_map(|l| l.split(',').nth(6)?.parse().ok())
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = *rates
        .get(rates.len() / 2)
        .context("no steps in metrics.csv")?;
    Ok((stderr, median))
}

/// The all-reduce share that rank 0 reports at the end of a run.
fn sync_percent(stderr: &str) -> Option<f64> {
    let line = stderr
        .lines()
        .find(|l| l.contains("went to summing over"))?;
    let percent = line.split('%').next()?.split_whitespace().last()?;
    percent.parse().ok()
}

/// The parameter count that `cloze pretrain` reports at its start.
fn parameters(stderr: &str) -> Option<f64> {
    let line = stderr.lines().find(|l| l.contains(" parameters on "))?;
    let count = line
        .split(" parameters on ")
        .next()?
        .split_whitespace()
        .last()?;
    count.parse().ok()
}

fn main() -> Result<()> {
    let device = std::env::var("BENCH_DEVICE").unwrap_or_else(|_| "flex".into());
    let work = tempfile::tempdir()?;
    let inputs = [data("ko.ui-docs.txt.gz"), data("en.bible-web.txt.gz")];
    eprintln!("tokenizer and shards of data/ ...");
    let (_, shards) = tokenizer_and_shards(work.path(), &inputs, 0.01, 20_000)?;
    let config = work.path().join("scaling.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\nshards = \"{}\"\n[model]\nsize = \"small\"\npositions = \"rope\"\n\
             pre_ln = true\ndropout = 0.0\n[train]\nsteps = {STEPS}\nbatch_size = 16\n\
             seq_len = 128\nlr = 1e-3\nwarmup_steps = 10\ncheckpoint_every = 0\n\
             valid_every = 0\nvalid_batches = 1\n",
            shards.display()
        ),
    )?;
    eprintln!("{STEPS} steps of small on {device}: 1 rank, then 2 ranks, 1 thread each ...");
    let (one_log, one) = run(1, &device, &config, &work.path().join("one"))?;
    let (two_log, two) = run(2, &device, &config, &work.path().join("two"))?;
    let params = parameters(&one_log).context("no parameter count in the log")?;
    let bytes = params * 4.0;
    // A step of 2 ranks reads 2 x 16 x 128 tokens.
    let step_seconds = 2.0 * 16.0 * 128.0 / two;
    let ring_seconds = |bytes_per_s: f64| 2.0 * bytes / bytes_per_s;
    let result = serde_json::json!({
        "bench": "data_parallel",
        "model": "small",
        "device": device,
        "threads_per_rank": 1,
        "tokens_per_s_1_rank": one,
        "tokens_per_s_2_ranks": two,
        "scaling": two / one,
        "allreduce_percent_of_step": sync_percent(&two_log),
        "parameters": params,
        "allreduce_mb": bytes / 1e6,
        "step_seconds_2_ranks": step_seconds,
        "allreduce_seconds_10gbe": ring_seconds(1.25e9),
        "allreduce_seconds_100gbps": ring_seconds(12.5e9),
    });
    println!("{result}");
    Ok(())
}
