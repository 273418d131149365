//! `cloze run` end to end on a tiny pipeline with every stage (tokenizer, shard, pairs, pretrain,
//! eval, finetune, translate) on the heads of the shipped data: the first run does every stage,
//! the second skips every one, `--from` reruns from a stage, and changed settings rerun or are
//! refused.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cloze::checkpoint::metrics::read_losses;

use crate::common;
use crate::pretrain_cli::succeeded;

/// The first `lines` lines of a gzipped file of `data/`.
fn head(name: &str, lines: usize) -> String {
    let file = std::fs::File::open(common::data(name)).unwrap();
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    reader
        .lines()
        .take(lines)
        .map(|l| l.unwrap() + "\n")
        .collect()
}

fn write_pipeline(dir: &Path) -> PathBuf {
    let mono = dir.join("mono.txt");
    std::fs::write(
        &mono,
        head("en.bible-web.txt.gz", 1500) + &head("ko.ui-docs.txt.gz", 1500),
    )
    .unwrap();
    let train = dir.join("train.tsv");
    std::fs::write(&train, head("ko-en.train.tsv.gz", 400)).unwrap();
    let dev = dir.join("dev.tsv");
    std::fs::write(&dev, head("ko-en.dev.tsv.gz", 13)).unwrap();
    let work = dir.join("work");
    let pipeline = dir.join("tiny.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"[tokenizer]
inputs = ["{mono}"]
out = "{work}/tokenizer.json"
vocab_size = 600
lowercase = true

[shard]
tokenizer = "{work}/tokenizer.json"
inputs = ["{mono}"]
out = "{work}/shards"
valid_fraction = 0.05

[pairs]
tokenizer = "{work}/tokenizer.json"
inputs = ["{train}"]
valid_inputs = ["{dev}"]
src_column = "ko"
tgt_column = "en"
valid_fraction = 0.0
out = "{work}/pairs"

[pretrain]
run_dir = "{work}/run"
data.shards = "{work}/shards"
model.size = "tiny"
train = {{ steps = 3, batch_size = 4, seq_len = 32, warmup_steps = 1, checkpoint_every = 0, valid_batches = 1 }}

[eval]
batch_size = 8
max_batches = 2

[finetune]
run_dir = "{work}/finetune"
data.shards = "{work}/pairs"
model = {{ pretrained = "{work}/run", decoder_layers = 1 }}
train = {{ steps = 3, batch_size = 4, seq_len = 32, warmup_steps = 1, checkpoint_every = 0, valid_every = 0, valid_batches = 1 }}

[translate]
input = "{dev}"
beam = 2
max_len = 8
"#,
            mono = mono.display(),
            train = train.display(),
            dev = dev.display(),
            work = work.display()
        ),
    )
    .unwrap();
    pipeline
}

fn cloze_run(pipeline: &Path, extra: &[&str]) -> std::process::Output {
    let device = crate::test_device();
    let mut args = vec!["run", pipeline.to_str().unwrap(), "--device", &device];
    args.extend_from_slice(extra);
    common::cloze(&args)
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// The stages a run's output says were up to date.
fn up_to_date(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(" is up to date"))
        .map(|l| l.split(':').next().unwrap())
        .collect()
}

#[test]
fn a_pipeline_runs_every_stage_then_skips_them_and_reruns_from_a_stage() {
    let _guard = crate::exclusive();
    let started = std::time::Instant::now();
    let dir = common::scratch("pipeline-every-stage");
    let pipeline = write_pipeline(&dir);
    let work = dir.join("work");
    let run = |extra: &[&str]| cloze_run(&pipeline, extra);

    // The first run does every stage.
    let first = succeeded(&run(&[]));
    for expected in [
        "tokenizer: wrote",
        "shard: train:",
        "pairs: valid:",
        "pretrain: training",
        "unigram baseline",
        "eval: wrote",
        "finetune: training",
        "translate: wrote",
    ] {
        assert!(first.contains(expected), "{expected}:\n{first}");
    }
    assert!(up_to_date(&first).is_empty(), "{first}");
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("run/eval.json")).unwrap()).unwrap();
    assert!(eval["predictions"].as_u64().unwrap() > 0, "{eval}");
    assert!(eval["by_kind"]["mask"].is_object(), "{eval}");
    let translated: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("finetune/translate.json")).unwrap())
            .unwrap();
    assert_eq!(translated["segments"], 12, "{translated}");
    assert_eq!(translated["step"], 3);
    assert!(translated["bleu"]["score"].is_number(), "{translated}");
    assert!(
        translated["bleu"]["signature"]
            .as_str()
            .unwrap()
            .contains("tok:13a")
    );
    assert!(translated["chrf"]["score"].as_f64().unwrap() >= 0.0);
    let hypotheses = std::fs::read_to_string(work.join("finetune/translate.hyp")).unwrap();
    assert_eq!(hypotheses.lines().count(), 12);
    for stamp in [
        "tokenizer.json.stamp",
        "shards.stamp",
        "pairs.stamp",
        "run.stamp",
        "run/eval.json.stamp",
        "finetune.stamp",
        "finetune/translate.json.stamp",
    ] {
        assert!(work.join(stamp).is_file(), "{stamp}");
    }

    // The second run skips every stage and trains nothing.
    let metrics = [
        work.join("run/metrics.csv"),
        work.join("finetune/metrics.csv"),
    ];
    let before: Vec<(Vec<u8>, SystemTime)> = metrics
        .iter()
        .map(|m| (std::fs::read(m).unwrap(), modified(m)))
        .collect();
    let outputs = [
        work.join("run/eval.json"),
        work.join("finetune/translate.json"),
    ];
    let outputs_before: Vec<SystemTime> = outputs.iter().map(|p| modified(p)).collect();
    let second = succeeded(&run(&[]));
    assert_eq!(
        up_to_date(&second),
        [
            "tokenizer",
            "shard",
            "pairs",
            "pretrain",
            "eval",
            "finetune",
            "translate"
        ],
        "{second}"
    );
    assert!(
        second.contains("pretrain: ") && second.contains("(step 3)"),
        "{second}"
    );
    for (m, (bytes, time)) in metrics.iter().zip(&before) {
        assert_eq!(&std::fs::read(m).unwrap(), bytes, "{}", m.display());
        assert_eq!(modified(m), *time, "{}", m.display());
    }
    for (p, time) in outputs.iter().zip(&outputs_before) {
        assert_eq!(modified(p), *time, "{}", p.display());
    }

    // --from finetune: the earlier stages are skipped; the fine-tuning run is moved aside and
    // trained afresh, and the translation made again.
    let from = succeeded(&run(&["--from", "finetune"]));
    assert_eq!(
        up_to_date(&from),
        ["tokenizer", "shard", "pairs", "pretrain", "eval"],
        "{from}"
    );
    assert!(
        from.contains("finetune: moved the previous run to"),
        "{from}"
    );
    assert!(from.contains("translate: wrote"), "{from}");
    assert_eq!(
        std::fs::read(work.join("finetune.prev/metrics.csv")).unwrap(),
        before[1].0
    );
    assert!(work.join("finetune.prev.stamp").is_file());
    assert_eq!(
        read_losses(&work.join("finetune/metrics.csv"))
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        std::fs::read(&metrics[0]).unwrap(),
        before[0].0,
        "pretraining untouched"
    );

    // Another evaluation seed reruns the evaluation only.
    let seed = succeeded(&run(&["--set", "eval.seed=1"]));
    assert!(seed.contains("eval: wrote"), "{seed}");
    assert_eq!(up_to_date(&seed).len(), 6, "{seed}");

    // A longer pretraining continues the run; the evaluation follows the new checkpoint, and the
    // fine-tuning run, made from the old one, is refused with the way out.
    let longer = run(&["--set", "pretrain.train.steps=5"]);
    let stderr = common::stderr(&longer);
    assert!(!longer.status.success(), "{stderr}");
    assert!(
        stderr.contains("pretrain: continuing") && stderr.contains("eval: wrote"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pretrained checkpoint") && stderr.contains("--from finetune"),
        "{stderr}"
    );
    assert_eq!(read_losses(&metrics[0]).unwrap().len(), 5);
    assert!(
        work.join("finetune/checkpoints").is_dir(),
        "nothing deleted"
    );

    // Another model is refused too, until --from pretrain, which keeps the old runs.
    let other = run(&[
        "--set",
        "pretrain.train.steps=5",
        "--set",
        "pretrain.model.d_ff=64",
    ]);
    let stderr = common::stderr(&other);
    assert!(
        !other.status.success()
            && stderr.contains("model differ")
            && stderr.contains("--from pretrain"),
        "{stderr}"
    );
    let again = succeeded(&run(&[
        "--set",
        "pretrain.train.steps=5",
        "--from",
        "pretrain",
    ]));
    assert_eq!(
        up_to_date(&again),
        ["tokenizer", "shard", "pairs"],
        "{again}"
    );
    assert!(work.join("run.prev/checkpoints").is_dir());
    assert!(work.join("finetune.prev-2/checkpoints").is_dir());
    assert!(again.contains("translate: wrote"), "{again}");

    // --from must name a stage, of this pipeline.
    let bad = run(&["--from", "tokenise"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(common::stderr(&bad).contains("possible values"));
    eprintln!("pipeline test: {:.1}s", started.elapsed().as_secs_f64());
}

#[test]
fn from_a_stage_the_pipeline_lacks_is_refused() {
    let dir = common::scratch("pipeline-from-missing");
    let pipeline = dir.join("p.toml");
    std::fs::write(
        &pipeline,
        "[pretrain]\nrun_dir = \"r\"\ndata.shards = \"s\"\n",
    )
    .unwrap();
    let output = cloze_run(&pipeline, &["--from", "translate"]);
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no [translate] stage") && stderr.contains("its stages are pretrain"),
        "{stderr}"
    );
}
