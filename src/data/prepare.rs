//! `cloze shard`: read corpora, split by document, tokenize on all cores, write shards + manifest.
//!
//! Everything is built in a staging directory beside the output and renamed into place at the end,
//! so a failed run leaves no shard behind and never damages an earlier output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::data::corpus::{self, Document, ReadOptions, SourceReport, TextPair};
use crate::data::manifest::{
    FORMAT_VERSION, MANIFEST_FILE, Manifest, ShardKind, SplitRule, TOKENIZER_FILE, TokenizerRef,
};
use crate::data::shard::ShardWriter;
use crate::data::tokenizer::ClozeTokenizer;
use crate::data::word_cache::CachedEncoder;
use crate::seed::splitmix64;
use crate::{fsutil, progress};

/// Documents are tokenized together once their text reaches this many bytes.
const BATCH_BYTES: usize = 4 << 20;
/// The share of documents `cloze shard` holds out in the valid split unless told otherwise.
pub const DEFAULT_VALID_FRACTION: f64 = 0.01;
/// The rows per shard `cloze shard` writes unless told otherwise.
pub const DEFAULT_ROWS_PER_SHARD: usize = 100_000;

/// What `cloze shard` does.
#[derive(Clone, Debug)]
pub struct ShardOptions {
    pub tokenizer: PathBuf,
    pub inputs: Vec<PathBuf>,
    /// Inputs held out whole in the valid split (a dev set), beside the hashed share of `inputs`.
    pub valid_inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub read: ReadOptions,
    /// Source and target columns: writes translation pairs instead of monolingual rows.
    pub pair_columns: Option<(String, String)>,
    pub valid_fraction: f64,
    pub seed: u64,
    pub rows_per_shard: usize,
    /// Replace an existing output directory.
    pub overwrite: bool,
}

impl ShardOptions {
    /// `cloze shard`'s defaults for everything but what it must be told: monolingual rows of every
    /// input read with the default [`ReadOptions`], no dev set, [`DEFAULT_VALID_FRACTION`] of the
    /// documents in the valid split with seed 0, [`DEFAULT_ROWS_PER_SHARD`] rows a shard, no
    /// overwriting.
    pub fn new(tokenizer: PathBuf, inputs: Vec<PathBuf>, out: PathBuf) -> Self {
        Self {
            tokenizer,
            inputs,
            valid_inputs: Vec::new(),
            out,
            read: ReadOptions::default(),
            pair_columns: None,
            valid_fraction: DEFAULT_VALID_FRACTION,
            seed: 0,
            rows_per_shard: DEFAULT_ROWS_PER_SHARD,
            overwrite: false,
        }
    }
}

/// What a completed `cloze shard` wrote.
#[derive(Debug)]
pub struct ShardSummary {
    pub manifest: Manifest,
    pub text_bytes: u64,
    pub seconds: f64,
}

/// A document on its way to a shard: rows of texts (one text per token column).
struct PendingDoc {
    id: u64,
    /// From a `valid_inputs` file: goes to the valid split whatever its hash.
    held_out: bool,
    rows: Vec<Vec<String>>,
}

/// Whether a document goes to the valid split: a hash of (seed, document id), so the decision is
/// independent of batching, threads and the other documents.
pub fn is_valid_document(seed: u64, doc_id: u64, valid_fraction: f64) -> bool {
    let h = splitmix64(seed ^ splitmix64(doc_id.wrapping_add(0x5EED)));
    ((h >> 11) as f64 / (1u64 << 53) as f64) < valid_fraction
}

fn check_options(options: &ShardOptions) -> Result<()> {
    if !(0.0..1.0).contains(&options.valid_fraction) {
        bail!(
            "--valid-fraction must be in [0, 1), got {}",
            options.valid_fraction
        );
    }
    if options.rows_per_shard == 0 {
        bail!("--rows-per-shard must be at least 1");
    }
    corpus::check_inputs(&options.inputs)?;
    if !options.valid_inputs.is_empty() {
        corpus::check_inputs(&options.valid_inputs)?;
    }
    if options.out.exists() {
        let non_empty = std::fs::read_dir(&options.out)
            .with_context(|| format!("cannot read {}", options.out.display()))?
            .next()
            .is_some();
        if non_empty && !options.overwrite {
            bail!(
                "{} already exists and is not empty; pass --overwrite to replace it",
                options.out.display()
            );
        }
    }
    Ok(())
}

/// Runs the whole `cloze shard` stage.
pub fn write_shards(options: &ShardOptions) -> Result<ShardSummary> {
    check_options(options)?;
    let started = std::time::Instant::now();
    let tokenizer = ClozeTokenizer::load(&options.tokenizer)?;
    remove_stale_staging(&options.out);
    let staging = staging_dir(&options.out);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let result = build(options, &tokenizer, &staging);
    let outcome = result.and_then(|(manifest, text_bytes)| {
        if options.out.exists() {
            std::fs::remove_dir_all(&options.out)
                .with_context(|| format!("cannot replace {}", options.out.display()))?;
        }
        std::fs::rename(&staging, &options.out).with_context(|| {
            format!(
                "cannot rename {} to {}",
                staging.display(),
                options.out.display()
            )
        })?;
        Ok(ShardSummary {
            manifest,
            text_bytes,
            seconds: started.elapsed().as_secs_f64(),
        })
    });
    if outcome.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    outcome
}

fn staging_prefix(out: &Path) -> String {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "shards".into());
    format!(".{name}.partial-")
}

fn staging_dir(out: &Path) -> PathBuf {
    out.with_file_name(format!("{}{}", staging_prefix(out), std::process::id()))
}

/// Removes what killed runs (`kill -9`, power loss) left beside `out`: staging directories whose
/// process no longer exists.
fn remove_stale_staging(out: &Path) {
    if !Path::new("/proc/self").exists() {
        return; // No way to tell a live process from a dead one here.
    }
    let prefix = staging_prefix(out);
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            tracing::info!(
                "removing {} left by an interrupted run",
                entry.path().display()
            );
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn build(
    options: &ShardOptions,
    tokenizer: &ClozeTokenizer,
    staging: &Path,
) -> Result<(Manifest, u64)> {
    let kind = if options.pair_columns.is_some() {
        ShardKind::Pairs
    } else {
        ShardKind::Monolingual
    };
    let sha = tokenizer.sha256();
    let mut train = ShardWriter::new(staging, "train", kind, sha, options.rows_per_shard)?;
    let mut valid = ShardWriter::new(staging, "valid", kind, sha, options.rows_per_shard)?;
    let (sources, text_bytes) = shard_inputs(options, tokenizer, &mut train, &mut valid)?;

    let mut shards = BTreeMap::new();
    shards.insert("train".to_owned(), train.finish()?);
    shards.insert("valid".to_owned(), valid.finish()?);
    if shards.values().all(|s| s.is_empty()) {
        bail!("no tokens were produced from the inputs");
    }
    tokenizer.files().write_into(staging)?;
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        kind,
        tokenizer: TokenizerRef {
            file: TOKENIZER_FILE.into(),
            sha256: sha.to_owned(),
            vocab_size: tokenizer.vocab_size(),
            special_tokens: Some(tokenizer.special().clone()),
        },
        split: SplitRule {
            seed: options.seed,
            valid_fraction: options.valid_fraction,
            unit: "document".into(),
        },
        sources,
        shards,
    };
    let json = serde_json::to_string_pretty(&manifest)?;
    fsutil::write_atomic(&staging.join(MANIFEST_FILE), json.as_bytes())?;
    Ok((manifest, text_bytes))
}

/// Reads every input, tokenizes it and writes its rows to `train` or `valid`; returns what each
/// file held and how many bytes of text were read.
fn shard_inputs(
    options: &ShardOptions,
    tokenizer: &ClozeTokenizer,
    train: &mut ShardWriter,
    valid: &mut ShardWriter,
) -> Result<(Vec<SourceReport>, u64)> {
    let total: u64 = options
        .inputs
        .iter()
        .chain(&options.valid_inputs)
        .map(|p| corpus::text_size_hint(p))
        .sum();
    let bar = progress::bytes_bar(total, "sharding");

    // Reading runs on its own thread so that it overlaps tokenization, which uses every core.
    let (sender, receiver) = crossbeam_channel::bounded::<(Vec<PendingDoc>, u64)>(2);
    let reader = {
        let options = options.clone();
        std::thread::spawn(move || {
            read_batches(&options, |batch, bytes| {
                sender
                    .send((batch, bytes))
                    .map_err(|_| anyhow!("sharding stopped early"))
            })
        })
    };
    let mut text_bytes = 0u64;
    let mut encoder = CachedEncoder::new(tokenizer);
    let written = (|| -> Result<()> {
        for (batch, bytes) in receiver.iter() {
            write_batch(&mut encoder, batch, options, train, valid)?;
            text_bytes += bytes;
            bar.inc(bytes);
        }
        Ok(())
    })();
    // Dropping the receiver first lets a blocked reader see the hang-up and stop.
    drop(receiver);
    let sources = reader
        .join()
        .map_err(|_| anyhow!("the reading thread panicked"))?;
    written?;
    let sources = sources?;
    bar.finish_and_clear();
    Ok((sources, text_bytes))
}

/// Reads every input in order and hands over documents in batches of about [`BATCH_BYTES`].
fn read_batches(
    options: &ShardOptions,
    mut send: impl FnMut(Vec<PendingDoc>, u64) -> Result<()>,
) -> Result<Vec<SourceReport>> {
    let mut next_id = 0u64;
    let mut batch = Vec::new();
    let mut batch_bytes = 0usize;
    let mut reports = Vec::new();
    let held_out = options.valid_inputs.iter().map(|p| (p, true));
    for (path, held_out) in options.inputs.iter().map(|p| (p, false)).chain(held_out) {
        let mut push = |rows: Vec<Vec<String>>| -> Result<()> {
            batch_bytes += rows.iter().flatten().map(String::len).sum::<usize>();
            batch.push(PendingDoc {
                id: next_id,
                held_out,
                rows,
            });
            next_id += 1;
            if batch_bytes >= BATCH_BYTES {
                send(
                    std::mem::take(&mut batch),
                    std::mem::take(&mut batch_bytes) as u64,
                )?;
            }
            Ok(())
        };
        let report = match &options.pair_columns {
            Some((src, tgt)) => corpus::read_pairs(
                path,
                src,
                tgt,
                options.read.max_line_bytes,
                |p: TextPair| push(vec![vec![p.src, p.tgt]]),
            )?,
            None => corpus::read_documents(path, &options.read, |d: Document| {
                push(d.segments.into_iter().map(|s| vec![s]).collect())
            })?,
        };
        reports.push(report);
    }
    if !batch.is_empty() {
        send(batch, batch_bytes as u64)?;
    }
    Ok(reports)
}

fn write_batch(
    encoder: &mut CachedEncoder,
    batch: Vec<PendingDoc>,
    options: &ShardOptions,
    train: &mut ShardWriter,
    valid: &mut ShardWriter,
) -> Result<()> {
    let columns = batch
        .first()
        .map_or(1, |d| d.rows.first().map_or(1, Vec::len));
    let texts: Vec<String> = batch
        .iter()
        .flat_map(|d| d.rows.iter().flatten().cloned())
        .collect();
    let ids = encoder.encode_batch(&texts)?;
    let mut next = ids.iter();
    for doc in &batch {
        let writer =
            if doc.held_out || is_valid_document(options.seed, doc.id, options.valid_fraction) {
                &mut *valid
            } else {
                &mut *train
            };
        let mut wrote = false;
        for _ in &doc.rows {
            let row: Vec<&[u32]> = (0..columns)
                .map(|_| next.next().map(Vec::as_slice).unwrap_or(&[]))
                .collect();
            // A row with no tokens in some column carries nothing to learn from.
            if row.iter().all(|r| !r.is_empty()) {
                writer.push_row(doc.id, &row);
                wrote = true;
            }
        }
        if wrote {
            writer.end_document()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_fraction_is_close_to_the_request() {
        let valid = (0..100_000u64)
            .filter(|&d| is_valid_document(7, d, 0.1))
            .count();
        assert!((9_500..10_500).contains(&valid), "{valid}");
        let other_seed = (0..1000u64)
            .filter(|&d| is_valid_document(7, d, 0.1) != is_valid_document(8, d, 0.1))
            .count();
        assert!(other_seed > 100);
    }
}
