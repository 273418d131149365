//! Continued pretraining from a HuggingFace checkpoint whatever its vocabulary's layout: a
//! `BertForMaskedLM` with Google's (`[PAD]` 0, 99 `[unused]` rows, `[UNK]` 100 to `[MASK]` 103, no
//! `[BOS]`/`[EOS]`) and a `ModernBertForMaskedLM` with a byte-level BPE whose special tokens sit at
//! the end of the vocabulary, both made by transformers. Each is imported; `cloze fill` gives
//! transformers' fill-mask probabilities; its tokenizer shards text; pretraining continues and the
//! loss falls; `cloze eval mlm` runs; the encoder fine-tunes under a decoder that decodes from
//! `[CLS]` to `[SEP]`, and translates; the continued model, exported, gives transformers cloze's
//! logits.

use std::path::Path;

use burn::prelude::*;
use cloze::checkpoint::metrics::read_losses;
use cloze::checkpoint::trained::TrainedModel;
use cloze::data::tokenizer::ClozeTokenizer;

use crate::common;
use crate::hf::{REFERENCE, TOLERANCE, convert, ok, reference_logits};
use crate::hf_modernbert::{compare, sentences};

/// One `[MASK]` each; Korean and English, and a space before every mask.
const FILL_TEXTS: [&str; 3] = [
    "And God said, Let there be [MASK]: and there was light.",
    "메뉴에서 [MASK]를 선택합니다.",
    "the president said that the [MASK] of the union is strong",
];

#[derive(serde::Deserialize)]
struct Candidate {
    id: u32,
    probability: f64,
}

/// `cloze fill` against transformers' fill-mask pipeline on `FILL_TEXTS`: the same five tokens in
/// the same order; returns the largest difference of their probabilities.
fn compare_fill(dir: &Path, hf: &Path, imported: &Path) -> f64 {
    let texts = dir.join("fill.txt");
    std::fs::write(&texts, FILL_TEXTS.join("\n") + "\n").unwrap();
    let out = dir.join("fill.json");
    common::python(
        REFERENCE,
        &[
            "fill",
            hf.to_str().unwrap(),
            texts.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    let reference: Vec<Vec<Candidate>> =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    let mut args = vec![
        "fill",
        "--checkpoint",
        imported.to_str().unwrap(),
        "--top-k",
        "5",
        "--json",
    ];
    args.extend(FILL_TEXTS);
    let output = crate::hf::cloze(&args);
    ok(output.clone());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), FILL_TEXTS.len(), "{stdout}");
    let mut largest = 0f64;
    for (result, expected) in results.iter().zip(&reference) {
        let candidates = result["masks"][0]["candidates"].as_array().unwrap();
        let ids: Vec<u64> = candidates
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        let expected_ids: Vec<u64> = expected.iter().map(|c| u64::from(c.id)).collect();
        assert_eq!(ids, expected_ids, "{result}");
        for (c, e) in candidates.iter().zip(expected) {
            largest = largest.max((c["probability"].as_f64().unwrap() - e.probability).abs());
        }
    }
    largest
}

/// `cloze run pipelines/continue.toml` as shipped, in `dir` (beside a link to `data/`), on the
/// model in `dir/hf`, with budgets cut to a test's: 20 steps of continued pretraining, 5 of
/// fine-tuning, greedy translation of the dev pairs.
fn run_continue_pipeline(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::os::unix::fs::symlink(root.join("data"), dir.join("data")).unwrap();
    std::fs::copy(
        root.join("pipelines/continue.toml"),
        dir.join("continue.toml"),
    )
    .unwrap();
    let device = crate::test_device();
    let mut args = vec!["run", "continue.toml", "--device", &device];
    for set in [
        "import.from=hf",
        "pretrain.train.steps=20",
        "pretrain.train.batch_size=8",
        "pretrain.train.seq_len=40",
        "pretrain.train.lr=1e-3",
        "pretrain.train.warmup_steps=2",
        "pretrain.train.valid_every=0",
        "pretrain.train.checkpoint_every=20",
        "finetune.train.steps=5",
        "finetune.train.batch_size=8",
        "finetune.train.seq_len=40",
        "finetune.train.valid_every=0",
        "finetune.train.checkpoint_every=5",
        "translate.beam=1",
    ] {
        args.extend(["--set", set]);
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(&args)
        .current_dir(dir)
        .output()
        .unwrap();
    ok(output);
}

/// `cloze inspect` on the pipeline's shards: 15% of the candidates selected, 80/10/10 among
/// them, no special token of the imported vocabulary ever selected or drawn as a replacement.
fn check_inspect_masking(work: &Path) {
    let tokenizer = ClozeTokenizer::load(&work.join("imported/tokenizer.json")).unwrap();
    let special = tokenizer.special();
    let shards = work.join("shards");
    let output = crate::hf::cloze(&[
        "inspect",
        "--shards",
        shards.to_str().unwrap(),
        "--batch-size",
        "32",
        "--batches",
        "40",
        "--seq-len",
        "40",
    ]);
    ok(output.clone());
    let (mut candidates, mut selected, mut masked, mut random) = (0usize, 0usize, 0usize, 0usize);
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let ids = |key: &str| -> Vec<i64> {
            row[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        };
        let (input, original, labels) = (ids("input_ids"), ids("original_ids"), ids("labels"));
        for i in 0..labels.len() {
            let is_special = |id: i64| special.is_special(id as u32);
            candidates += usize::from(!is_special(original[i]));
            if labels[i] == -100 {
                assert_eq!(input[i], original[i]);
                continue;
            }
            assert!(
                !is_special(original[i]),
                "special token {} selected",
                original[i]
            );
            selected += 1;
            if input[i] == i64::from(special.mask) {
                masked += 1;
            } else if input[i] != original[i] {
                assert!(!is_special(input[i]), "special token {} drawn", input[i]);
                random += 1;
            }
        }
    }
    let rate = selected as f64 / candidates as f64;
    let share = |n: usize| n as f64 / selected as f64;
    eprintln!(
        "cloze inspect: {candidates} candidates, selected {rate:.4}, [MASK] {:.4}, random {:.4}",
        share(masked),
        share(random)
    );
    assert!((rate - 0.15).abs() < 0.01, "selection rate {rate}");
    assert!(
        (share(masked) - 0.8).abs() < 0.02,
        "[MASK] share {}",
        share(masked)
    );
    assert!(
        (share(random) - 0.1).abs() < 0.02,
        "random share {}",
        share(random)
    );
}

fn any_checkpoint_end_to_end(name: &str, create: &str) {
    let _guard = crate::exclusive();
    let dir = common::scratch(name);
    let text = [
        common::data("ko.ui-docs.txt.gz"),
        common::data("en.bible-web.txt.gz"),
    ];
    let hf = dir.join("hf");
    // The pipeline imports it again, into work/continue/imported.
    common::python(
        REFERENCE,
        &[
            create,
            hf.to_str().unwrap(),
            text[0].to_str().unwrap(),
            text[1].to_str().unwrap(),
        ],
    );
    let imported = dir.join("imported");
    ok(convert("import", &hf, &imported));

    let largest = compare_fill(&dir, &hf, &imported);
    eprintln!("{name}: largest fill-mask probability difference {largest:e}");
    assert!(
        largest < 1e-4,
        "largest fill-mask probability difference {largest}"
    );

    run_continue_pipeline(&dir);
    let work = dir.join("work/continue");
    let losses: Vec<f64> = read_losses(&work.join("run/metrics.csv"))
        .unwrap()
        .into_iter()
        .map(|(_, loss)| loss)
        .collect();
    assert_eq!(losses.len(), 20);
    let mean = |l: &[f64]| l.iter().sum::<f64>() / l.len() as f64;
    assert!(mean(&losses[15..]) < mean(&losses[..5]), "{losses:?}");
    assert!(work.join("run/eval.json").is_file());
    let translation: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.join("finetune/translate.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(translation["segments"], 1000, "{translation}");

    check_inspect_masking(&work);

    let run = work.join("run");
    let exported = dir.join("exported");
    ok(convert("export", &run, &exported));
    let model = TrainedModel::load(&run, None, &Device::flex()).unwrap();
    let sentences = sentences(&dir, &model);
    let reference = reference_logits("batch-logits", &exported, &sentences, &dir);
    let largest = compare(&model, &sentences, &reference);
    eprintln!("{name}: export, largest logit difference {largest:e}");
    assert!(largest < TOLERANCE, "largest logit difference {largest}");
}

#[test]
fn a_google_layout_bert_continues_pretraining_fine_tunes_and_exports() {
    any_checkpoint_end_to_end("hf-any-google", "create-google");
}

#[test]
fn a_modernbert_with_its_specials_at_the_end_continues_pretraining_fine_tunes_and_exports() {
    any_checkpoint_end_to_end("hf-any-modernbert", "create-modernbert-bpe");
}
