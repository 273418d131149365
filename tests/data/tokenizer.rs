use cloze::data::tokenizer::{ClozeTokenizer, SPECIAL_TOKENS, UNK_ID};
use unicode_normalization::UnicodeNormalization;

use crate::common::{dev_lines, fixture, python, scratch};

#[test]
fn held_out_korean_and_english_round_trip() {
    let tokenizer = ClozeTokenizer::load(&fixture().tokenizer).unwrap();
    let lines = dev_lines();
    assert_eq!(lines.len(), 2000);
    let ids = tokenizer.encode_batch(lines.clone()).unwrap();
    let (mut with_unk, mut tokens, mut unk) = (0, 0, 0);
    for (line, ids) in lines.iter().zip(&ids) {
        tokens += ids.len();
        unk += ids.iter().filter(|&&i| i == UNK_ID).count();
        if ids.contains(&UNK_ID) {
            with_unk += 1;
            continue;
        }
        // The dev text is NFC with single spaces, so the normalizer changes nothing but the form.
        let back: String = tokenizer.decode(ids).unwrap().nfc().collect();
        assert_eq!(&back, line);
    }
    assert!(with_unk <= 5, "{with_unk} lines hold [UNK]");
    assert!(
        (unk as f64) < 0.001 * tokens as f64,
        "{unk} [UNK] in {tokens} tokens"
    );
}

#[test]
fn python_tokenizers_loads_it_and_gives_identical_ids() {
    let fixture = fixture();
    let tokenizer = ClozeTokenizer::load(&fixture.tokenizer).unwrap();
    let lines = dev_lines();
    let dir = scratch("python-ids");
    let input = dir.join("lines.txt");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let script = r#"
import json, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
lines = open(sys.argv[2], encoding="utf-8").read().split("\n")
for enc in tok.encode_batch(lines, add_special_tokens=False):
    print(json.dumps(enc.ids))
print(json.dumps(tok.encode(lines[0]).ids))
print(json.dumps([tok.token_to_id(t) for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]"]]))
"#;
    let out = python(
        script,
        &[fixture.tokenizer.to_str().unwrap(), input.to_str().unwrap()],
    );
    let rows: Vec<Vec<u32>> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), lines.len() + 2);
    let ours = tokenizer.encode_batch(lines.clone()).unwrap();
    for (i, (theirs, ours)) in rows.iter().zip(&ours).enumerate() {
        assert_eq!(theirs, ours, "line {i}: {}", lines[i]);
    }
    let with_specials = tokenizer.inner().encode(lines[0].as_str(), true).unwrap();
    assert_eq!(rows[lines.len()], with_specials.get_ids());
    assert_eq!(rows[lines.len()][0], 2);
    assert_eq!(
        rows[lines.len() + 1],
        (0..SPECIAL_TOKENS.len() as u32).collect::<Vec<_>>()
    );
}

#[test]
fn cached_encoding_equals_the_tokenizer_on_every_corpus_line() {
    use cloze::data::corpus::{ReadOptions, read_documents};
    use cloze::data::word_cache::CachedEncoder;

    let tokenizer = ClozeTokenizer::load(&fixture().tokenizer).unwrap();
    let mut lines = dev_lines();
    for name in ["ko.ui-docs.txt.gz", "en.bible-web.txt.gz"] {
        read_documents(&crate::common::data(name), &ReadOptions::default(), |d| {
            lines.extend(d.segments);
            Ok(())
        })
        .unwrap();
    }
    assert!(lines.len() > 60_000);
    let mut encoder = CachedEncoder::new(&tokenizer);
    let mut cached = Vec::new();
    for chunk in lines.chunks(10_000) {
        cached.extend(encoder.encode_batch(chunk).unwrap());
    }
    let expected = tokenizer.encode_batch(lines.clone()).unwrap();
    for (i, (c, e)) in cached.iter().zip(&expected).enumerate() {
        assert_eq!(c, e, "line {i}: {}", lines[i]);
    }
}
