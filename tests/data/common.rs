//! A tokenizer and shards built once from `data/` and shared by every test of this binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use cloze::data::corpus::ReadOptions;
use cloze::data::prepare::{ShardOptions, write_shards};
use cloze::data::tokenizer::{TokenizerConfig, train_tokenizer};

/// A tokenizer and the shards written with it, from some of the shipped corpora.
pub struct Fixture {
    pub inputs: Vec<PathBuf>,
    pub tokenizer: PathBuf,
    pub shards: PathBuf,
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// Trains a tokenizer on `inputs` and writes shards with it, in this process with all cores, in
/// a directory of this test binary's own (binaries run in parallel by nextest do not collide).
fn build(
    name: &str,
    inputs: &[&str],
    config: &TokenizerConfig,
    valid_fraction: f64,
    rows_per_shard: usize,
) -> Fixture {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", env!("CARGO_CRATE_NAME")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let inputs: Vec<PathBuf> = inputs.iter().map(|name| data(name)).collect();
    let tokenizer = dir.join("tokenizer.json");
    train_tokenizer(&inputs, &ReadOptions::default(), config, &tokenizer)
        .expect("tokenizer training");
    let shards = dir.join("shards");
    write_shards(&ShardOptions {
        valid_fraction,
        rows_per_shard,
        ..ShardOptions::new(tokenizer.clone(), inputs.clone(), shards.clone())
    })
    .expect("sharding");
    Fixture {
        inputs,
        tokenizer,
        shards,
    }
}

/// Monolingual shards of Korean UI text and the English Bible, default tokenizer settings.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let inputs = ["ko.ui-docs.txt.gz", "en.bible-web.txt.gz"];
        build("fixture", &inputs, &TokenizerConfig::default(), 0.05, 5000)
    })
}

/// The quickstart pipeline's tokenizer and shards: its `[tokenizer]` and `[shard]` settings on
/// the three shipped corpora.
pub fn quickstart_fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let inputs = ["ko.ui-docs.txt.gz", "en.bible-web.txt.gz", "en.sotu.txt.gz"];
        let config = TokenizerConfig {
            vocab_size: 2048,
            lowercase: true,
            ..TokenizerConfig::default()
        };
        build("quickstart-fixture", &inputs, &config, 0.01, 100_000)
    })
}

/// A fresh directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("scratch-{}", env!("CARGO_CRATE_NAME")))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn cloze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(args)
        .output()
        .expect("run cloze")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a Python script (the packages of tests/requirements.txt must be installed).
pub fn python(script: &str, args: &[&str]) -> String {
    let python = std::env::var("CLOZE_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        output.status.success(),
        "python failed (install the test requirements: python3 -m pip install -r tests/requirements.txt):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The Korean and English sides of the held-out dev pairs.
pub fn dev_lines() -> Vec<String> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/ko-en.dev.tsv");
    let text = if shared.exists() {
        std::fs::read_to_string(shared).unwrap()
    } else {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(
                std::fs::File::open(data("ko-en.dev.tsv.gz")).unwrap(),
            ),
            &mut text,
        )
        .unwrap();
        text
    };
    text.lines()
        .skip(1)
        .flat_map(|l| l.split('\t').take(2).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}
