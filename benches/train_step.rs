//! Training-step throughput of `small` at batch 32 x seq 128, in the shipped pipelines'
//! architecture, on flex (and on tch at f32 and bf16 when built with `--features tch`), with HF
//! `transformers` BertForMaskedLM of the same sizes timed in the same run four ways
//! (`benches/reference/hf_mlm.py`), and each one's share of the matrix-product peak that script
//! measures (`mfu`). Prints one JSON line on stdout.
//!
//! `cargo bench --bench train_step` (with `CLOZE_HF_PYTHON` naming a Python that has torch 2.9.0 and
//! transformers; default `~/.cache/cloze/hf-venv/bin/python`). `STEPS` sets the timed steps;
//! `RUNS` (a comma list of `flex`, `tch_f32`, `tch_bf16`) times only those, without references.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, Result};
use cloze::data::batch::MaskedBatch;
use cloze::data::loader::{Loader, LoaderConfig, ShardSet};
use cloze::data::position::LoaderPosition;
use cloze::device::DeviceChoice;

#[path = "common/corpus_shards.rs"]
mod corpus_shards;
use corpus_shards::{data, tokenizer_and_shards};

#[path = "common/step_rate.rs"]
mod step_rate;
use step_rate::{Precision, WARMUP, small_step_rate};

const BATCH: usize = 32;
const SEQ: usize = 128;

/// Real batches of the shipped text, vocabulary 8192.
fn batches(work: &Path, count: usize) -> Result<(usize, Vec<MaskedBatch>)> {
    let inputs = [data("ko.ui-docs.txt.gz"), data("en.bible-web.txt.gz")];
    let (_, shards) = tokenizer_and_shards(work, &inputs, 0.0, 100_000)?;
    let config = LoaderConfig {
        seq_len: SEQ,
        batch_size: BATCH,
        ..LoaderConfig::default()
    };
    let set = Arc::new(ShardSet::open(&shards, &config)?);
    let vocab = set.manifest().tokenizer.vocab_size;
    let loader = Loader::start(set, config, LoaderPosition::default());
    let batches = loader.take(count).collect::<Result<Vec<_>>>()?;
    Ok((vocab, batches))
}

fn reference(steps: usize) -> Result<serde_json::Value> {
    let python = std::env::var("CLOZE_HF_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/cloze/hf-venv/bin/python")
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference/hf_mlm.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(steps.to_string())
        .arg(WARMUP.to_string())
        .output()
        .with_context(|| format!("cannot run {python} (set CLOZE_HF_PYTHON)"))?;
    anyhow::ensure!(
        out.status.success(),
        "hf_mlm.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The FLOPs of one training step's matrix products per token of `small` at `SEQ` (forward and
/// backward, 3x the forward's), with the vocabulary projection at the 15% selected positions
/// only: the work a step needs, whoever does more.
fn flops_per_token(vocab: usize) -> f64 {
    let (d, ff, layers) = (256.0, 1024.0, 4.0);
    let projections = 4.0 * d * d + 2.0 * d * ff;
    let attention = 2.0 * SEQ as f64 * d;
    let head = 0.15 * (d * d + d * vocab as f64);
    3.0 * 2.0 * (layers * (projections + attention) + head)
}

fn main() -> Result<()> {
    cloze::memory::keep_freed_tensor_buffers();
    let steps: usize = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let work = tempfile::tempdir()?;
    let (vocab, batches) = batches(work.path(), steps + WARMUP)?;
    let mut rates = serde_json::Map::new();
    let mut runs = vec![(DeviceChoice::Flex, Precision::F32, "flex")];
    if cfg!(feature = "tch") {
        runs.push((DeviceChoice::TchCpu, Precision::F32, "tch_f32"));
        runs.push((DeviceChoice::TchCpu, Precision::Bf16, "tch_bf16"));
    }
    // `RUNS=tch_f32,flex` times only those and skips the references: for profiling one run.
    let only = std::env::var("RUNS").ok();
    if let Some(only) = &only {
        runs.retain(|(_, _, name)| only.split(',').any(|o| o == *name));
    }
    for (device, precision, name) in runs {
        eprintln!("{name}: {steps} steps of small at {BATCH} x {SEQ} ...");
        let rate = small_step_rate(device, precision, vocab, &batches)?;
        rates.insert(name.into(), rate.into());
    }
    if only.is_some() {
        println!("{}", serde_json::json!({"tokens_per_s": rates}));
        return Ok(());
    }
    eprintln!("HF transformers BertForMaskedLM, four ways ...");
    let hf = reference(steps)?;
    let hf_rate = |way: &str| hf[way]["tokens_per_s"].as_f64().context("tokens_per_s");
    let fp32 = hf_rate("fp32")?;
    let ways = ["fp32", "fp32_sparse", "bf16", "bf16_sparse"];
    let (best_way, best_peer) = ways
        .iter()
        .map(|w| Ok((*w, hf_rate(w)?)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .fold(("", 0.0), |a, b| if b.1 > a.1 { b } else { a });
    let peak = |dtype: &str| hf["peak_flops"][dtype].as_f64().context("peak_flops");
    let (peak_f32, peak_bf16) = (peak("f32")?, peak("bf16")?);
    let flops = flops_per_token(vocab);
    let rate = |name: &str| rates.get(name).and_then(|r| r.as_f64());
    let mfu = |rate: Option<f64>, peak: f64| rate.map(|r| r * flops / peak);
    let result = serde_json::json!({
        "bench": "train_step",
        "model": "small (rotary positions, pre-LN, ReLU, no dropout)",
        "batch": BATCH,
        "seq_len": SEQ,
        "vocab": vocab,
        "steps": steps,
        "tokens_per_s": rates,
        "hf_tokens_per_s": {
            "fp32": fp32,
            "fp32_sparse": hf_rate("fp32_sparse")?,
            "bf16": hf_rate("bf16")?,
            "bf16_sparse": hf_rate("bf16_sparse")?,
        },
        "best_peer": best_way,
        "flex_vs_hf": rate("flex").map(|r| r / fp32),
        "tch_vs_hf": rate("tch_f32").map(|r| r / fp32),
        "tch_bf16_vs_hf": rate("tch_bf16").map(|r| r / fp32),
        "tch_bf16_vs_best_peer": rate("tch_bf16").map(|r| r / best_peer),
        "tch_vs_best_peer": rate("tch_f32").map(|r| r / best_peer),
        "peak_flops": {"f32": peak_f32, "bf16": peak_bf16},
        "flops_per_token": flops,
        "mfu": {
            "flex": mfu(rate("flex"), peak_f32),
            "tch_f32": mfu(rate("tch_f32"), peak_f32),
            "tch_bf16": mfu(rate("tch_bf16"), peak_bf16),
            "hf_fp32": mfu(Some(fp32), peak_f32),
            "hf_fp32_sparse": mfu(Some(hf_rate("fp32_sparse")?), peak_f32),
            "hf_bf16": mfu(Some(hf_rate("bf16")?), peak_bf16),
            "hf_bf16_sparse": mfu(Some(hf_rate("bf16_sparse")?), peak_bf16),
        },
        "hf": hf,
    });
    println!("{result}");
    Ok(())
}
