//! Masked-token evaluation throughput of `small` at batch 32 x seq 128 on
//! `../shared/corpora/en.bible-web.txt` (the shipped `data/` copy without `../shared`), against
//! the training step's throughput on the same batches, timed in the same run, on flex (and on tch
//! CPU when built with `--features tch`). Prints one JSON line on stdout.
//!
//! `cargo bench --bench eval_mlm`. `EVAL_BATCHES` sets how many batches are evaluated (default 40;
//! 0: the whole corpus), `STEPS` the timed training steps (default 10).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use cloze::data::loader::{Loader, LoaderConfig, ShardSet};
use cloze::data::position::LoaderPosition;
use cloze::data::tokenizer::ClozeTokenizer;
use cloze::device::DeviceChoice;
use cloze::eval::mlm::{MlmEvalOptions, evaluate_mlm};
use cloze::eval::script::vocabulary_scripts;
use cloze::model::mlm::MlmModel;

#[path = "common/corpus_shards.rs"]
mod corpus_shards;
use corpus_shards::{data, tokenizer_and_shards};

#[path = "common/step_rate.rs"]
mod step_rate;
use step_rate::{Precision, WARMUP, pipeline_small, small_step_rate};

const BATCH: usize = 32;
const SEQ: usize = 128;

fn bible() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/corpora/en.bible-web.txt");
    if shared.exists() {
        shared
    } else {
        data("en.bible-web.txt.gz")
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    let eval_batches = env_usize("EVAL_BATCHES", 40);
    let steps = env_usize("STEPS", 10);
    let corpus = bible();
    let work = tempfile::tempdir()?;
    eprintln!("tokenizer and shards of {} ...", corpus.display());
    let (tokenizer, shards) =
        tokenizer_and_shards(work.path(), std::slice::from_ref(&corpus), 0.0, 100_000)?;
    let config = LoaderConfig {
        seq_len: SEQ,
        batch_size: BATCH,
        ..LoaderConfig::default()
    };
    let set = Arc::new(ShardSet::open(&shards, &config)?);
    let vocab = set.manifest().tokenizer.vocab_size;
    let scripts = vocabulary_scripts(&ClozeTokenizer::load(&tokenizer)?);
    let train_batches = Loader::start(set.clone(), config.clone(), LoaderPosition::default())
        .take(steps + WARMUP)
        .collect::<Result<Vec<_>>>()?;

    let mut devices = vec![DeviceChoice::Flex];
    if cfg!(feature = "tch") {
        devices.push(DeviceChoice::TchCpu);
    }
    let mut results = Vec::new();
    for choice in devices {
        eprintln!("{choice}: evaluating {eval_batches} batches of small at {BATCH} x {SEQ} ...");
        let device = choice.device()?;
        device.seed(0);
        let model_config = pipeline_small(vocab, SEQ)?;
        let model = MlmModel::new(&model_config, &device);
        let options = MlmEvalOptions {
            max_batches: eval_batches,
            scripts: Some(scripts.clone()),
            ..MlmEvalOptions::default()
        };
        // One untimed batch first, as the training rate has its warm-up steps.
        evaluate_mlm(
            &model,
            set.clone(),
            &config,
            &MlmEvalOptions {
                max_batches: 1,
                ..MlmEvalOptions::default()
            },
        )?;
        let evaluation = evaluate_mlm(&model, set.clone(), &config, &options)?;
        eprintln!("{choice}: {steps} training steps ...");
        let train = small_step_rate(choice, Precision::F32, vocab, &train_batches)?;
        let eval = evaluation.tokens_per_s();
        results.push(serde_json::json!({
            "device": choice.to_string(),
            "eval_tokens": evaluation.tokens,
            "eval_batches": evaluation.batches,
            "eval_tokens_per_s": eval,
            "train_tokens_per_s": train,
            "eval_vs_train": eval / train,
        }));
    }
    let result = serde_json::json!({
        "bench": "eval_mlm",
        "corpus": corpus.file_name().map(|n| n.to_string_lossy().into_owned()),
        "model": "small",
        "batch": BATCH,
        "seq_len": SEQ,
        "vocab": vocab,
        "results": results,
    });
    println!("{result}");
    Ok(())
}
