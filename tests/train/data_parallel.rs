//! Data-parallel training under `mpirun` (built with `--features mpi`): two ranks take the steps
//! of one process with two micro-batches, a run continues on another number of ranks with the same
//! effective batch, a rank killed with `kill -9` ends the job and the run resumes, and ranks that
//! do not run the same job are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use crate::faults::{deterministic_columns, hidden_entries, same_run};
use crate::pretrain_cli::{entries, pretrain, succeeded, write_config};

/// 40 steps of `tiny` at a constant learning rate after warmup (so that a run stopped at step 20
/// and continued to 40 follows the schedule of one run of 40), micro-batches of 8 sequences.
const SETTINGS: [&str; 12] = [
    "--set",
    "train.steps=40",
    "--set",
    "train.final_lr_fraction=1.0",
    "--set",
    "train.checkpoint_every=10",
    "--set",
    "train.valid_every=15",
    "--set",
    "train.batch_size=8",
    "--set",
    "model.dropout=0.1",
];

/// `mpirun` with what running it here takes: root allowed (containers), no binding of a rank to
/// a core, and shared-memory transport without the cross-memory attach containers forbid.
fn mpirun() -> Command {
    let mut command = Command::new("mpirun");
    command
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .args(["--oversubscribe", "--bind-to", "none"]);
    command
}

/// The arguments of one rank's `cloze COMMAND` (`pretrain` or `finetune`).
fn rank_args(command: &str, config: &Path, run_dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        env!("CARGO_BIN_EXE_cloze").to_owned(),
        command.into(),
        "--config".into(),
        config.display().to_string(),
        "--run-dir".into(),
        run_dir.display().to_string(),
        "--device".into(),
        crate::test_device(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Two ranks, each with its own arguments (the program first) and fault.
fn mpirun_two(args: [Vec<String>; 2], fault: [Option<&str>; 2]) -> Output {
    let mut command = mpirun();
    for (rank, args) in args.into_iter().enumerate() {
        if rank == 1 {
            command.arg(":");
        }
        command.args(["-np", "1"]);
        if let Some(fault) = fault[rank] {
            command.args(["-x", &format!("{}={fault}", cloze::fault::VARIABLE)]);
        }
        command.args(args);
    }
    command.output().expect("run mpirun")
}

/// `cloze pretrain` with [`SETTINGS`] on two ranks, each with its own extra arguments and fault.
fn two_ranks(
    config: &Path,
    run_dir: &Path,
    extra: [&[&str]; 2],
    fault: [Option<&str>; 2],
) -> Output {
    let args = extra.map(|extra| {
        let extra = [&SETTINGS[..], extra].concat();
        rank_args("pretrain", config, run_dir, &extra)
    });
    mpirun_two(args, fault)
}

/// The `loss` column of a run's metrics.csv.
fn losses(run: &Path) -> Vec<f64> {
    deterministic_columns(run)
        .iter()
        .skip(1)
        .map(|row| row.split(',').nth(2).unwrap().parse().unwrap())
        .collect()
}

/// The largest relative difference between two runs' losses, after checking they have as many.
fn largest_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()))
        .fold(0.0, f64::max)
}

/// Checks that two runs' losses agree to 1e-5 relative (printing the largest difference), and
/// that their whole `metrics.csv` (tokens read, accuracy, learning rate, gradient norm,
/// validation) is the same run: bit for bit on flex, to 1e-5 relative on LibTorch.
fn assert_same_run(what: &str, run: &Path, expected: &Path) {
    let difference = largest_difference(&losses(run), &losses(expected));
    eprintln!("{what}: losses within {difference:e} relative");
    assert!(difference <= 1e-5, "{difference}");
    let (a, b) = (deterministic_columns(run), deterministic_columns(expected));
    assert!(same_run(&a, &b), "{what}:\n{a:#?}\nagainst\n{b:#?}");
}

fn single(config: &Path, run_dir: &Path, extra: &[&str]) -> Output {
    pretrain(config, run_dir, &[&SETTINGS[..], extra].concat(), None)
}

struct Runs {
    dir: PathBuf,
    config: PathBuf,
    /// 40 steps on two ranks of one micro-batch.
    two_ranks: PathBuf,
}

/// The uninterrupted two-rank run the tests compare with, made once.
fn two_rank_run() -> &'static Runs {
    static RUNS: std::sync::OnceLock<Runs> = std::sync::OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = common::scratch(&format!("data-parallel-{}", crate::test_device()));
        let config = write_config(&dir);
        let two_ranks = dir.join("two-ranks");
        let output = self::two_ranks(&config, &two_ranks, [&[], &[]], [None, None]);
        let stderr = succeeded(&output);
        assert!(
            stderr.contains("2 rank(s) x 1 x 8 sequences (an effective batch of 16)"),
            "{stderr}"
        );
        Runs {
            dir,
            config,
            two_ranks,
        }
    })
}

#[test]
fn two_ranks_take_the_steps_of_one_process_with_two_micro_batches() {
    let _guard = crate::exclusive();
    let runs = two_rank_run();
    let one = runs.dir.join("one-process");
    succeeded(&single(
        &runs.config,
        &one,
        &["--set", "train.grad_accum=2"],
    ));
    let what = "1 process with grad_accum 2 against 2 ranks";
    assert_same_run(what, &one, &runs.two_ranks);
    // Rank 0 alone wrote the run: one metrics.csv row a step, its checkpoints, valid.json.
    assert_eq!(deterministic_columns(&runs.two_ranks).len(), 41);
    assert!(runs.two_ranks.join("valid.json").exists());
    let checkpoints = entries(&runs.two_ranks.join("checkpoints"));
    assert!(
        checkpoints.contains(&"step-0000040".to_owned()),
        "{checkpoints:?}"
    );
}

#[test]
fn a_two_rank_run_continues_in_one_process_with_the_same_effective_batch() {
    let _guard = crate::exclusive();
    let runs = two_rank_run();
    let elastic = runs.dir.join("elastic");
    let first_half = ["--set", "train.steps=20"];
    succeeded(&two_ranks(
        &runs.config,
        &elastic,
        [&first_half, &first_half],
        [None, None],
    ));
    // Another effective batch is refused, saying why.
    let refused = single(&runs.config, &elastic, &["--resume"]);
    assert!(!refused.status.success());
    let stderr = common::stderr(&refused);
    assert!(
        stderr.contains("2 rank(s) x train.grad_accum 1 = 2"),
        "{stderr}"
    );
    let resumed = single(
        &runs.config,
        &elastic,
        &["--resume", "--set", "train.grad_accum=2"],
    );
    succeeded(&resumed);
    let what = "2 ranks to step 20, then 1 process with grad_accum 2";
    assert_same_run(what, &elastic, &runs.two_ranks);
}

#[test]
fn a_rank_killed_ends_the_job_and_the_run_resumes_to_the_same_losses() {
    let _guard = crate::exclusive();
    let runs = two_rank_run();
    let killed = runs.dir.join("killed");
    let output = two_ranks(
        &runs.config,
        &killed,
        [&[], &[]],
        [None, Some("step-killed@25")],
    );
    assert!(
        !output.status.success(),
        "the job went on after a rank was killed"
    );
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("kill -9 at step-killed (step 25)"),
        "{stderr}"
    );
    // Rank 0 stopped within a step of it, leaving only whole checkpoints.
    let steps = deterministic_columns(&killed).len() - 1;
    assert!((24..=26).contains(&steps), "rank 0 logged {steps} steps");
    assert_eq!(hidden_entries(&killed), Vec::<PathBuf>::new());
    let latest = std::fs::read_to_string(killed.join("checkpoints/latest")).unwrap();
    assert_eq!(latest.trim(), "step-0000020");
    let resume: [&[&str]; 2] = [&["--resume"], &["--resume"]];
    succeeded(&two_ranks(&runs.config, &killed, resume, [None, None]));
    let what = "2 ranks, one killed at step 25, resumed from step 20";
    assert_same_run(what, &killed, &runs.two_ranks);
}

#[test]
fn ranks_that_do_not_run_the_same_job_are_refused() {
    let _guard = crate::exclusive();
    let runs = two_rank_run();
    let run_dir = runs.dir.join("mismatch");
    let output = two_ranks(
        &runs.config,
        &run_dir,
        [&["--set", "train.lr=2e-3"], &["--set", "train.lr=1e-3"]],
        [None, None],
    );
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("rank 0 has `lr = 0.002`, this rank `lr = 0.001`"),
        "{stderr}"
    );
    assert!(!run_dir.join("checkpoints").exists());
}

#[test]
fn fine_tuning_on_two_ranks_takes_the_steps_of_one_process_with_two_micro_batches() {
    // The shared pretraining run and pair shards first: building them takes the lock.
    crate::eval::trained_run();
    crate::translation::pair_shards();
    let _guard = crate::exclusive();
    let dir = common::scratch(&format!("data-parallel-finetune-{}", crate::test_device()));
    let config = crate::translation::write_config(&dir);
    let two = dir.join("two-ranks");
    let settings = ["--set", "train.steps=12", "--set", "train.valid_every=5"];
    let args = [(); 2].map(|_| rank_args("finetune", &config, &two, &settings));
    succeeded(&mpirun_two(args, [None, None]));
    let one = dir.join("one-process");
    let extra = [&settings[..], &["--set", "train.grad_accum=2"]].concat();
    succeeded(&crate::translation::finetune(&config, &one, &extra, None));
    let what = "fine-tuning: 1 process with grad_accum 2 against 2 ranks";
    assert_same_run(what, &one, &two);
    assert!(two.join("valid.json").exists());
}
