//! Data-pipeline throughput over all of `../shared/corpora` (or `$CLOZE_CORPORA`), with the Python
//! reference (`benches/reference/shard_reference.py`: HF tokenizers + pyarrow) timed in the same
//! run. Prints one JSON line on stdout.
//!
//! `cargo bench --bench data_pipeline`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloze::data::corpus::ReadOptions;
use cloze::data::loader::{Loader, LoaderConfig, ShardSet};
use cloze::data::position::LoaderPosition;
use cloze::data::prepare::{ShardOptions, write_shards};
use cloze::data::tokenizer::{TokenizerConfig, train_tokenizer};

#[path = "common/step_rate.rs"]
mod step_rate;

/// Timed training steps the loader is compared with.
const TRAIN_STEPS: usize = 5;

fn corpora() -> PathBuf {
    std::env::var_os("CLOZE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"))
}

fn main() -> anyhow::Result<()> {
    let dir = corpora();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    inputs.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("txt" | "tsv")));
    inputs.sort();
    let bytes: u64 = inputs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mb = bytes as f64 / 1e6;
    let work = tempfile::tempdir()?;
    // Every line is its own document, as the Python reference reads them.
    let read = ReadOptions {
        columns: vec!["ko".into(), "en".into()],
        doc_boundary: cloze::data::corpus::DocBoundary::Line,
        ..ReadOptions::default()
    };

    eprintln!("training the tokenizer on {mb:.1} MB ...");
    let tokenizer = work.path().join("tokenizer.json");
    let started = Instant::now();
    train_tokenizer(&inputs, &read, &TokenizerConfig::default(), &tokenizer)?;
    let train_s = started.elapsed().as_secs_f64();

    eprintln!("writing shards ...");
    let shards = work.path().join("shards");
    let started = Instant::now();
    let summary = write_shards(&ShardOptions {
        read: read.clone(),
        valid_fraction: 0.0,
        ..ShardOptions::new(tokenizer.clone(), inputs.clone(), shards.clone())
    })?;
    let shard_s = started.elapsed().as_secs_f64();
    let tokens = summary.manifest.total_tokens("train");

    eprintln!("running the Python reference ...");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference/shard_reference.py");
    let python = std::env::var("CLOZE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(&script)
        .arg(&tokenizer)
        .arg(work.path().join("reference"))
        .arg("ko,en")
        .args(&inputs)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let reference_s = reference["seconds"].as_f64().unwrap_or(f64::NAN);

    eprintln!("streaming masked batches ...");
    let config = LoaderConfig {
        seq_len: 128,
        batch_size: 32,
        ..LoaderConfig::default()
    };
    let set = Arc::new(ShardSet::open(&shards, &config)?);
    let started = Instant::now();
    let mut sequences = 0usize;
    for batch in Loader::start(set, config.clone(), LoaderPosition::default()) {
        sequences += batch?.batch_size;
        if started.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    let loader_seq_s = sequences as f64 / started.elapsed().as_secs_f64();

    eprintln!("timing training steps of small on flex ...");
    let set = Arc::new(ShardSet::open(&shards, &config)?);
    let vocab = set.manifest().tokenizer.vocab_size;
    let batches = Loader::start(set, config, LoaderPosition::default())
        .take(step_rate::WARMUP + TRAIN_STEPS)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let train_step_tokens_s = step_rate::small_step_rate(
        cloze::device::DeviceChoice::Flex,
        step_rate::Precision::F32,
        vocab,
        &batches,
    )?;
    let consumed_seq_s = train_step_tokens_s / 128.0;

    let result = serde_json::json!({
        "corpus_mb": mb,
        "tokenizer_train_mb_s": mb / train_s,
        "shard_write_mb_s": mb / shard_s,
        "shard_tokens": tokens,
        "reference_shard_write_mb_s": mb / reference_s,
        "reference_tokens": reference["tokens"],
        "shard_write_vs_reference": reference_s / shard_s,
        "loader_sequences_s": loader_seq_s,
        "loader_tokens_s": loader_seq_s * 128.0,
        "train_step_flex_tokens_s": train_step_tokens_s,
        "loader_vs_train_step": loader_seq_s / consumed_seq_s,
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    println!("{result}");
    Ok(())
}
