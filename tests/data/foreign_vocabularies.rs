//! Vocabularies laid out as HuggingFace's are, made by transformers: Google's BERT layout
//! (`[PAD]` 0, 99 `[unused]` rows, `[UNK]` 100 to `[MASK]` 103, no `[BOS]` or `[EOS]`) and a
//! byte-level BPE whose special tokens sit at the end of the vocabulary. cloze reads their roles,
//! shards text with them and masks it as it masks its own.

use std::path::PathBuf;
use std::sync::OnceLock;

use cloze::data::manifest::Manifest;
use cloze::data::prepare::{ShardOptions, write_shards};
use cloze::data::tokenizer::{ClozeTokenizer, SPECIAL_TOKENS_MAP_FILE};
use cloze::data::word_cache::CachedEncoder;

use crate::common::{data, dev_lines, python, scratch};
use crate::masking::check_masking_rates;

/// The `tokenizer.json` of each, saved by `save_pretrained` with the files beside it.
struct Foreign {
    google: PathBuf,
    bpe: PathBuf,
}

/// The transformers side of the interop tests, whose `tokenizers` command makes both.
const REFERENCE: &str = include_str!("../hf_reference.py");

fn foreign() -> &'static Foreign {
    static FOREIGN: OnceLock<Foreign> = OnceLock::new();
    FOREIGN.get_or_init(|| {
        let dir = scratch("foreign-tokenizers");
        let inputs = [data("ko.ui-docs.txt.gz"), data("en.bible-web.txt.gz")];
        let mut args = vec!["tokenizers", dir.to_str().unwrap()];
        args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
        python(REFERENCE, &args);
        Foreign {
            google: dir.join("google/tokenizer.json"),
            bpe: dir.join("bpe/tokenizer.json"),
        }
    })
}

#[test]
fn google_layout_roles_are_read_from_the_tokenizer() {
    let tokenizer = ClozeTokenizer::load(&foreign().google).unwrap();
    let s = tokenizer.special();
    assert_eq!(
        (s.pad, s.unk, s.cls, s.sep, s.mask, s.bos, s.eos),
        (0, Some(100), 101, 102, 103, None, None)
    );
    assert_eq!(s.all, [0, 100, 101, 102, 103]);
    // BERT2BERT's decoding: from [CLS] to [SEP].
    assert_eq!((s.decoder_start(), s.decoder_end()), (101, 102));
    assert_eq!(s.nth_regular(0), 1);
    assert_eq!(s.nth_regular(99), 104);
}

#[test]
fn bpe_roles_at_the_end_of_the_vocabulary_are_read_and_its_words_are_not_cached() {
    let tokenizer = ClozeTokenizer::load(&foreign().bpe).unwrap();
    let v = tokenizer.vocab_size() as u32;
    let s = tokenizer.special();
    assert_eq!(
        (s.unk, s.cls, s.sep, s.pad, s.mask, s.bos, s.eos),
        (Some(v - 5), v - 4, v - 3, v - 2, v - 1, None, None)
    );
    assert_eq!(s.all, ((v - 6)..v).collect::<Vec<_>>());
    // A byte-level word is encoded otherwise alone (`world`) than after a space (`Ġworld`), so
    // the word cache must hand every text to the tokenizer.
    assert!(!tokenizer.words_encode_alone());
    let lines = dev_lines();
    let cached = CachedEncoder::new(&tokenizer).encode_batch(&lines).unwrap();
    assert_eq!(cached, tokenizer.encode_batch(lines).unwrap());
}

#[test]
fn foreign_vocabularies_shard_and_mask_like_cloze_s_own_without_touching_specials() {
    for (name, tokenizer_path) in [("google", &foreign().google), ("bpe", &foreign().bpe)] {
        let tokenizer = ClozeTokenizer::load(tokenizer_path).unwrap();
        let shards = scratch(&format!("foreign-shards-{name}")).join("shards");
        let inputs = vec![data("ko.ui-docs.txt.gz"), data("en.bible-web.txt.gz")];
        write_shards(&ShardOptions::new(
            tokenizer_path.clone(),
            inputs,
            shards.clone(),
        ))
        .unwrap();
        let manifest = Manifest::load(&shards).unwrap();
        assert_eq!(
            manifest.tokenizer.special_tokens.as_ref(),
            Some(tokenizer.special()),
            "{name}"
        );
        assert!(shards.join(SPECIAL_TOKENS_MAP_FILE).is_file(), "{name}");

        let drawn = check_masking_rates(&shards, 100_000);
        if name == "google" {
            // The [unused] rows are regular tokens (as HF's collator draws them too).
            assert!(drawn.iter().any(|&id| (1..100).contains(&id)), "{drawn:?}");
        }
    }
}
