//! A soak: `cloze pretrain` of `tiny` for 10,000 steps (batch 16 x seq 64, checkpoints and
//! validation every 1,000) with the process's resident memory sampled every 500 steps. Prints one
//! JSON line: the series and the growth after step 1,000, which must stay under 5%.
//!
//! `cargo bench --bench soak` (Linux: reads /proc). `SOAK_STEPS` changes the length,
//! `SOAK_DEVICE` the device (default flex).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

#[path = "common/corpus_shards.rs"]
mod corpus_shards;
use corpus_shards::{data, tokenizer_and_shards};

const EVERY: u64 = 500;

/// Resident and peak resident memory of a process, in MiB.
fn memory_mib(pid: u32) -> Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .context("malformed")?
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn last_step(metrics: &Path) -> u64 {
    std::fs::read_to_string(metrics)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .last()
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let steps: u64 = std::env::var("SOAK_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let device = std::env::var("SOAK_DEVICE").unwrap_or_else(|_| "flex".into());
    let work = tempfile::tempdir()?;
    let inputs = [data("ko.ui-docs.txt.gz"), data("en.bible-web.txt.gz")];
    eprintln!("tokenizer and shards of data/ ...");
    let (_, shards) = tokenizer_and_shards(work.path(), &inputs, 0.01, 20_000)?;
    let config = work.path().join("soak.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\nshards = \"{}\"\n[model]\nsize = \"tiny\"\n[train]\nsteps = {steps}\n\
             batch_size = 16\nseq_len = 64\nlr = 1e-3\nwarmup_steps = 100\n\
             checkpoint_every = 1000\nkeep_checkpoints = 2\nvalid_every = 1000\n\
             valid_batches = 10\nlog_every = 1000\n",
            shards.display()
        ),
    )?;
    let run = work.path().join("run");
    let log = std::fs::File::create(work.path().join("soak.log"))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(["pretrain", "--device", &device, "--config"])
        .arg(&config)
        .arg("--run-dir")
        .arg(&run)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    eprintln!("{steps} steps of tiny on {device}, memory every {EVERY} steps ...");
    let metrics = run.join("metrics.csv");
    let started = Instant::now();
    let mut series = Vec::new();
    let mut next = EVERY;
    let mut peak = 0.0f64;
    while child.try_wait()?.is_none() {
        let step = last_step(&metrics);
        if step >= next {
            let (rss, hwm) = memory_mib(child.id())?;
            peak = peak.max(hwm);
            eprintln!("step {step}: {rss:.1} MiB resident");
            series.push(serde_json::json!({"step": step, "rss_mib": rss}));
            next = (step / EVERY + 1) * EVERY;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "cloze pretrain failed ({status}): see {}",
            work.path().join("soak.log").display()
        );
    }
    let at = |s: u64| {
        series
            .iter()
            .find(|p| p["step"].as_u64().unwrap_or(0) >= s)
            .and_then(|p| p["rss_mib"].as_f64())
    };
    let reference = at(1000).context("no sample at step 1000")?;
    let last = series
        .last()
        .and_then(|p| p["rss_mib"].as_f64())
        .context("no sample")?;
    let max_after = series
        .iter()
        .filter(|p| p["step"].as_u64().unwrap_or(0) >= 1000)
        .filter_map(|p| p["rss_mib"].as_f64())
        .fold(reference, f64::max);
    let result = serde_json::json!({
        "bench": "soak",
        "model": "tiny",
        "device": device,
        "steps": steps,
        "seconds": started.elapsed().as_secs_f64(),
        "rss_mib_at_1000": reference,
        "rss_mib_last": last,
        "rss_mib_max_after_1000": max_after,
        "peak_rss_mib": peak,
        "growth_after_1000": (last - reference) / reference,
        "max_growth_after_1000": (max_after - reference) / reference,
        "series": series,
    });
    println!("{result}");
    Ok(())
}
