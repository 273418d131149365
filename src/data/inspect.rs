//! `cloze inspect`: masked batches as the model would see them, one JSON object per sequence.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::data::loader::{LoaderConfig, SequenceStream, ShardSet};
use crate::data::position::LoaderPosition;
use crate::data::tokenizer::ClozeTokenizer;

/// Writes the sequences of the first `batches` batches of `shards` to `out`, one JSON line each.
/// A reader that stops early (`cloze inspect | head`) is not an error.
pub fn write_batches(
    shards: &Path,
    config: LoaderConfig,
    batches: usize,
    out: impl Write,
) -> Result<()> {
    let set = ShardSet::open(shards, &config)?;
    let tokenizer = ClozeTokenizer::load(&set.manifest().tokenizer_path(shards))?;
    let mut stream = SequenceStream::new(Arc::new(set), config, LoaderPosition::default());
    let mut out = std::io::BufWriter::new(out);
    match write_json_lines(&mut stream, &tokenizer, batches, &mut out) {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn write_json_lines(
    stream: &mut SequenceStream,
    tokenizer: &ClozeTokenizer,
    batches: usize,
    out: &mut impl Write,
) -> Result<()> {
    for _ in 0..batches {
        let Some(batch) = stream.next_batch()? else {
            break;
        };
        for row in 0..batch.batch_size {
            let line = batch.sequence_json(row, |id| tokenizer.token(id));
            serde_json::to_writer(&mut *out, &line)?;
            writeln!(out)?;
        }
    }
    out.flush().context("cannot write to standard output")
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
    })
}
