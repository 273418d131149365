//! `train.precision = "bf16"` end to end on `tiny`: the run computes in bf16 (its losses differ
//! from f32's, by little), learns, resumes to the uninterrupted run's losses, and saves the same
//! f32 checkpoints as an f32 run; an `auto` run resumes in the precision its checkpoint recorded.

use cloze::checkpoint::metrics::read_losses;

use crate::common;
use crate::pretrain_cli::{assert_learns, assert_resumes_to, pretrain, succeeded, write_config};

const ROPE: [&str; 4] = [
    "--set",
    "model.positions=\"rope\"",
    "--set",
    "model.pre_ln=true",
];

#[test]
fn a_bf16_run_learns_resumes_to_the_same_losses_and_saves_f32_checkpoints() {
    let _guard = crate::exclusive();
    let dir = common::scratch("cli-bf16");
    let config = write_config(&dir);
    let bf16 = [&ROPE[..], &["--set", "train.precision=\"bf16\""]].concat();

    let whole = dir.join("whole");
    let stderr = succeeded(&pretrain(&config, &whole, &bf16, None));
    assert!(stderr.contains("computing in bf16"), "{stderr}");
    let expected = read_losses(&whole.join("metrics.csv")).unwrap();
    assert_eq!(expected.len(), 12);

    let f32_run = dir.join("f32");
    let stderr = succeeded(&pretrain(&config, &f32_run, &ROPE, None));
    assert!(stderr.contains("computing in f32"), "{stderr}");
    let f32_losses = read_losses(&f32_run.join("metrics.csv")).unwrap();
    let gaps: Vec<f64> = expected
        .iter()
        .zip(&f32_losses)
        .map(|((_, a), (_, b))| (a - b).abs() / b)
        .collect();
    assert!(gaps.iter().any(|&g| g > 0.0), "bf16 computed as f32 did");
    assert!(gaps.iter().all(|&g| g < 0.02), "{gaps:?}");
    // The same parameters, saved as f32 both times.
    let checkpoint = |run: &std::path::Path| {
        std::fs::metadata(run.join("checkpoints/step-0000012/model.bpk"))
            .unwrap()
            .len()
    };
    assert_eq!(checkpoint(&whole), checkpoint(&f32_run));

    assert_resumes_to(&config, &dir.join("killed"), &bf16, &expected);
    assert_learns(&config, &dir.join("longer"), &bf16);

    // Resumed as `auto`, the killed bf16 run keeps computing in bf16 (on flex, `auto` alone
    // would choose f32): it ends with the uninterrupted bf16 run's losses.
    let killed = dir.join("killed-auto");
    let killed_run = pretrain(&config, &killed, &bf16, Some("checkpoint-renamed@8"));
    assert!(!killed_run.status.success());
    let auto = [
        &["--resume"],
        &ROPE[..],
        &["--set", "train.precision=\"auto\""],
    ]
    .concat();
    let stderr = succeeded(&pretrain(&config, &killed, &auto, None));
    assert!(
        stderr.contains("computing in bf16, as the checkpoint resumed did"),
        "{stderr}"
    );
    let resumed = read_losses(&killed.join("metrics.csv")).unwrap();
    assert!(
        crate::faults::same_losses(&resumed, &expected),
        "{resumed:?}\n{expected:?}"
    );
}
