//! Training a vocabulary: the text pipeline the tokenizer module describes (normalisation, the
//! `▁` word marks, punctuation split, decoding), and WordPiece pieces learned over every segment of
//! a corpus.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::metaspace::Metaspace as MetaspaceDecoder;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::unicode::{NFC, NFD};
use tokenizers::normalizers::{NormalizerWrapper, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::punctuation::Punctuation;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use super::{CLS_ID, CONTINUATION_PREFIX, SEP_ID, SPECIAL_TOKENS, UNK_ID};
use crate::data::corpus::{self, ReadOptions, SourceReport};
use crate::data::wordpiece_training::{WordCounts, WordPieceSettings, train_wordpiece};
use crate::progress;

/// Stands for a space inside tokens, so that decoding restores whitespace exactly.
const SPACE_MARK: char = '▁';

/// How Unicode text is normalised before it is split into pieces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// Canonical decomposition: Hangul syllables become jamo, so any syllable can be spelled with
    /// pieces. Measured on the held-out Korean dev sentences (vocab 8,192 trained on `data/`):
    /// 0.008% `[UNK]` (1 in 11,825 tokens), against 0.033% (4 in 12,108) with `nfc`.
    #[default]
    Nfd,
    /// Canonical composition: Hangul syllables stay whole; unseen syllables become `[UNK]`.
    Nfc,
}

/// Everything that decides the trained vocabulary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenizerConfig {
    pub vocab_size: usize,
    pub min_frequency: u64,
    pub normalization: Normalization,
    pub lowercase: bool,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            vocab_size: 8192,
            min_frequency: 2,
            normalization: Normalization::Nfd,
            lowercase: false,
        }
    }
}

/// A summary of one training run.
#[derive(Clone, Debug, Serialize)]
pub struct TrainingReport {
    pub sources: Vec<SourceReport>,
    pub bytes: u64,
    pub segments: u64,
    pub vocab_size: usize,
    pub seconds: f64,
}

/// The tokenizer before training: its whole text pipeline around an empty WordPiece model.
pub(super) fn untrained_tokenizer(config: &TokenizerConfig) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::new(
        WordPiece::builder()
            .unk_token(SPECIAL_TOKENS[UNK_ID as usize].into())
            .continuing_subword_prefix(CONTINUATION_PREFIX.into())
            .build()
            .map_err(|e| anyhow!("{e}"))?,
    );
    let unicode: NormalizerWrapper = match config.normalization {
        Normalization::Nfd => NFD.into(),
        Normalization::Nfc => NFC.into(),
    };
    tokenizer.with_normalizer(Some(NormalizerSequence::new(vec![
        // CJK ideographs are not padded with spaces: that would break the round trip.
        BertNormalizer::new(true, false, Some(false), config.lowercase).into(),
        unicode,
    ])));
    tokenizer.with_pre_tokenizer(Some(PreTokenizerSequence::new(vec![
        PreTokenizerWrapper::Metaspace(Metaspace::new(SPACE_MARK, PrependScheme::Always, true)),
        PreTokenizerWrapper::Punctuation(Punctuation::new(SplitDelimiterBehavior::Isolated)),
    ])));
    tokenizer.with_decoder(Some(DecoderSequence::new(vec![
        DecoderWrapper::Replace(Replace::new(CONTINUATION_PREFIX, "").map_err(|e| anyhow!("{e}"))?),
        DecoderWrapper::Metaspace(MetaspaceDecoder::new(
            SPACE_MARK,
            PrependScheme::Always,
            true,
        )),
    ])));
    tokenizer.with_post_processor(Some(
        TemplateProcessing::builder()
            .try_single("[CLS] $A [SEP]")
            .map_err(|e| anyhow!("{e}"))?
            .try_pair("[CLS] $A [SEP] $B:1 [SEP]:1")
            .map_err(|e| anyhow!("{e}"))?
            .special_tokens(vec![("[CLS]", CLS_ID), ("[SEP]", SEP_ID)])
            .build()?,
    ));
    Ok(tokenizer)
}

/// Trains a vocabulary on every segment of `inputs` and writes it to `out` (a `tokenizer.json`).
pub fn train_tokenizer(
    inputs: &[PathBuf],
    read: &ReadOptions,
    config: &TokenizerConfig,
    out: &Path,
) -> Result<TrainingReport> {
    if config.vocab_size <= SPECIAL_TOKENS.len() {
        bail!(
            "vocab size {} is too small: it must exceed the {} special tokens",
            config.vocab_size,
            SPECIAL_TOKENS.len()
        );
    }
    corpus::check_inputs(inputs)?;
    let started = std::time::Instant::now();
    let mut tokenizer = untrained_tokenizer(config)?;

    let total_bytes: u64 = inputs.iter().map(|p| corpus::text_size_hint(p)).sum();
    let bar = progress::bytes_bar(total_bytes, "reading");
    let (sender, receiver) = crossbeam_channel::bounded::<String>(4096);
    let segments = Arc::new(AtomicU64::new(0));
    let reader = spawn_reader(inputs, read, sender, &bar, &segments);
    let counted = count_words(&tokenizer, receiver);
    let sources = reader
        .join()
        .map_err(|_| anyhow!("the reading thread panicked"))??;
    learn_pieces(&mut tokenizer, counted?, config)?;
    bar.finish_and_clear();

    write_tokenizer(&tokenizer, out)?;
    Ok(TrainingReport {
        bytes: sources.iter().map(|s| s.bytes).sum(),
        segments: segments.load(Ordering::Relaxed),
        sources,
        vocab_size: tokenizer.get_vocab_size(true),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Reads every segment of `inputs` on a thread of its own, so that reading overlaps counting, and
/// sends it on; the thread returns what each file held.
fn spawn_reader(
    inputs: &[PathBuf],
    read: &ReadOptions,
    sender: crossbeam_channel::Sender<String>,
    bar: &ProgressBar,
    segments: &Arc<AtomicU64>,
) -> JoinHandle<Result<Vec<SourceReport>>> {
    let inputs = inputs.to_vec();
    let read = read.clone();
    let bar = bar.clone();
    let segments = segments.clone();
    std::thread::spawn(move || -> Result<Vec<SourceReport>> {
        let mut reports = Vec::new();
        for path in &inputs {
            let report = corpus::read_documents(path, &read, |doc| {
                for segment in doc.segments {
                    segments.fetch_add(1, Ordering::Relaxed);
                    bar.inc(segment.len() as u64 + 1);
                    sender
                        .send(segment)
                        .map_err(|_| anyhow!("tokenizer training stopped early"))?;
                }
                Ok(())
            })?;
            reports.push(report);
        }
        bar.set_message("building the vocabulary");
        Ok(reports)
    })
}

/// Learns the WordPiece pieces from the counted words and adds the special tokens at their ids.
fn learn_pieces(
    tokenizer: &mut Tokenizer,
    counted: WordCounts,
    config: &TokenizerConfig,
) -> Result<()> {
    let model = train_wordpiece(
        counted,
        &WordPieceSettings {
            vocab_size: config.vocab_size,
            min_frequency: config.min_frequency,
            special_tokens: &SPECIAL_TOKENS,
            continuation_prefix: CONTINUATION_PREFIX,
        },
    )?;
    tokenizer.with_model(model);
    tokenizer.add_special_tokens(
        &SPECIAL_TOKENS
            .iter()
            .map(|t| AddedToken::from(*t, true))
            .collect::<Vec<_>>(),
    );
    Ok(())
}

/// Fails unless every special token sits at its fixed id: checked on what cloze trains.
fn check_special_ids(tokenizer: &Tokenizer, path: &Path) -> Result<()> {
    for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
        if tokenizer.token_to_id(token) != Some(id as u32) {
            bail!(
                "{}: special token {token} must have id {id}, has {:?}; this is not a cloze tokenizer",
                path.display(),
                tokenizer.token_to_id(token)
            );
        }
    }
    Ok(())
}

/// Writes the trained tokenizer to `out` (a `tokenizer.json`), once its special ids are checked.
fn write_tokenizer(tokenizer: &Tokenizer, out: &Path) -> Result<()> {
    check_special_ids(tokenizer, out)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let json = tokenizer
        .to_string(true)
        .map_err(|e| anyhow!("cannot serialise the tokenizer: {e}"))?;
    crate::fsutil::write_atomic(out, json.as_bytes())?;
    Ok(())
}

/// Counts the words of every segment received, in batches spread over all cores.
fn count_words(
    tokenizer: &Tokenizer,
    receiver: crossbeam_channel::Receiver<String>,
) -> Result<WordCounts> {
    const BATCH: usize = 16_384;
    let mut counts = WordCounts::default();
    let mut batch = Vec::with_capacity(BATCH);
    for segment in receiver {
        batch.push(segment);
        if batch.len() == BATCH {
            counts.add_segments(tokenizer, &batch)?;
            batch.clear();
        }
    }
    counts.add_segments(tokenizer, &batch)?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokenizer::ClozeTokenizer;
    use unicode_normalization::UnicodeNormalization;

    fn train_small(dir: &Path, config: &TokenizerConfig) -> ClozeTokenizer {
        let input = dir.join("in.txt");
        std::fs::write(
            &input,
            "어제 카페 갔었어 거기 사람 많더라\nI went to the cafe, there were many people there.\n\
             파일(F)을 저장하시겠습니까?\nSave the file (F) now?\n",
        )
        .unwrap();
        let out = dir.join("tok.json");
        let cfg = TokenizerConfig {
            vocab_size: 300,
            min_frequency: 1,
            ..config.clone()
        };
        train_tokenizer(&[input], &ReadOptions::default(), &cfg, &out).unwrap();
        ClozeTokenizer::load(&out).unwrap()
    }

    #[test]
    fn special_tokens_have_fixed_ids_and_text_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        for normalization in [Normalization::Nfd, Normalization::Nfc] {
            let config = TokenizerConfig {
                normalization,
                ..TokenizerConfig::default()
            };
            let tok = train_small(dir.path(), &config);
            for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
                assert_eq!(tok.token(id as u32), *token);
            }
            for line in [
                "어제 카페 갔었어 거기 사람 많더라",
                "파일(F)을 저장하시겠습니까?",
                "Save the  file (F) now?",
            ] {
                let ids = tok.encode_batch(vec![line.into()]).unwrap().remove(0);
                assert!(!ids.contains(&UNK_ID), "{line}: {ids:?}");
                let back: String = tok.decode(&ids).unwrap().nfc().collect();
                assert_eq!(back, line, "{normalization:?}");
            }
        }
    }

    #[test]
    fn continuation_pieces_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let tok = train_small(dir.path(), &TokenizerConfig::default());
        let vocab = tok.vocab();
        let ids = tok.encode_batch(vec!["people".into()]).unwrap().remove(0);
        assert!(!vocab.is_continuation(ids[0]));
        assert!(ids[1..].iter().all(|&i| vocab.is_continuation(i)));
    }
}
