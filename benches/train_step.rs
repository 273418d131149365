//! Training-step throughput of `small` at batch 32 x seq 128 on flex (and on tch when built with
//! `--features tch`), with HF `transformers` BertForMaskedLM of the same sizes timed in the same
//! run (`benches/reference/hf_mlm.py`). Prints one JSON line on stdout.
//!
//! `cargo bench --bench train_step` (with `CLOZE_HF_PYTHON` naming a Python that has torch 2.9.0 and
//! transformers; default `~/.cache/cloze/hf-venv/bin/python`). `STEPS` sets the timed steps.

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
use step_rate::{WARMUP, small_step_rate};

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

fn main() -> Result<()> {
    cloze::memory::keep_freed_tensor_buffers();
    let steps: usize = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let work = tempfile::tempdir()?;
    let (vocab, batches) = batches(work.path(), steps + WARMUP)?;
    eprintln!("flex: {steps} steps of small at {BATCH} x {SEQ} ...");
    let flex = small_step_rate(DeviceChoice::Flex, vocab, &batches)?;
    let tch = if cfg!(feature = "tch") {
        eprintln!("tch-cpu ...");
        Some(small_step_rate(DeviceChoice::TchCpu, vocab, &batches)?)
    } else {
        None
    };
    eprintln!("HF transformers BertForMaskedLM ...");
    let hf = reference(steps)?;
    let hf_rate = hf["tokens_per_s"].as_f64().context("tokens_per_s")?;
    let result = serde_json::json!({
        "bench": "train_step",
        "model": "small",
        "batch": BATCH,
        "seq_len": SEQ,
        "vocab": vocab,
        "steps": steps,
        "flex_tokens_per_s": flex,
        "tch_cpu_tokens_per_s": tch,
        "hf_tokens_per_s": hf_rate,
        "flex_vs_hf": flex / hf_rate,
        "tch_vs_hf": tch.map(|t| t / hf_rate),
        "hf": hf,
    });
    println!("{result}");
    Ok(())
}
