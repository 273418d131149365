//! `cloze eval bleu` against Python sacrebleu (tests/requirements.txt) on the real dev pairs.

use std::path::Path;
use std::process::Command;

use crate::common;

/// Deterministic damage to a line: every `k`-th word dropped, neighbours swapped, some
/// punctuation removed and the case of some words changed.
fn damaged(line: &str, k: usize, salt: usize) -> String {
    let mut words: Vec<String> = line.split(' ').map(str::to_owned).collect();
    for (i, w) in words.iter_mut().enumerate() {
        if (i + salt).is_multiple_of(k + 1) {
            *w = w.to_uppercase();
        }
        if (i + salt) % (k + 2) == 1 {
            *w = w.replace([',', '.'], "");
        }
    }
    let mut kept: Vec<String> = words
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !(i + salt).is_multiple_of(k))
        .map(|(_, w)| w)
        .collect();
    if kept.len() > 3 && salt.is_multiple_of(3) {
        kept.swap(1, 2);
    }
    kept.join(" ")
}

fn sacrebleu(hyp: &Path, reference: &Path) -> serde_json::Value {
    let python = std::env::var("CLOZE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sacrebleu_reference.py");
    let output = Command::new(&python)
        .arg(script)
        .arg(hyp)
        .arg(reference)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "sacrebleu failed (python3 -m pip install -r tests/requirements.txt):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn bleu_and_chrf_equal_sacrebleu_on_the_dev_pairs() {
    let dir = common::scratch("bleu");
    let lines = common::dev_lines();
    let korean: Vec<&str> = lines.iter().step_by(2).map(String::as_str).collect();
    let english: Vec<&str> = lines
        .iter()
        .skip(1)
        .step_by(2)
        .map(String::as_str)
        .collect();
    assert!(english.len() >= 500);
    for (name, references) in [("en", &english), ("ko", &korean)] {
        for k in [2, 4, 9] {
            let hypotheses: Vec<String> = references
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    if i % 17 == 5 {
                        String::new()
                    } else {
                        damaged(l, k, i)
                    }
                })
                .collect();
            let hyp = dir.join(format!("{name}-{k}.hyp"));
            let reference = dir.join(format!("{name}.ref"));
            std::fs::write(&hyp, hypotheses.join("\n") + "\n").unwrap();
            std::fs::write(&reference, references.join("\n") + "\n").unwrap();
            let output = common::cloze(&[
                "eval",
                "bleu",
                "--json",
                "--hyp",
                hyp.to_str().unwrap(),
                "--ref",
                reference.to_str().unwrap(),
            ]);
            assert!(output.status.success(), "{}", common::stderr(&output));
            let ours: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            let theirs = sacrebleu(&hyp, &reference);
            let close = |a: &serde_json::Value, b: &serde_json::Value| {
                (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 0.01
            };
            let case = format!("{name}, every {k}th word dropped: ours {ours}, sacrebleu {theirs}");
            assert!(close(&ours["bleu"]["score"], &theirs["bleu"]), "{case}");
            assert!(close(&ours["chrf"]["score"], &theirs["chrf"]), "{case}");
            assert_eq!(ours["bleu"]["sys_len"], theirs["sys_len"], "{case}");
            assert_eq!(ours["bleu"]["ref_len"], theirs["ref_len"], "{case}");
            let score = ours["bleu"]["score"].as_f64().unwrap();
            assert!(score > 1.0 && score < 95.0, "{case}");
        }
    }

    let short = dir.join("short.hyp");
    std::fs::write(&short, "one line\n").unwrap();
    let output = common::cloze(&[
        "eval",
        "bleu",
        "--hyp",
        short.to_str().unwrap(),
        "--ref",
        dir.join("en.ref").to_str().unwrap(),
    ]);
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("short.hyp against") && stderr.contains("1 hypotheses"),
        "{stderr}"
    );
}
