//! The `cloze` command line: parses arguments and calls the library.

mod cli;

use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::Result;
use clap::Parser;
use cloze::checkpoint::trained::TrainedModel;
use cloze::config::pretrain::PretrainConfig;
use cloze::data::inspect::write_batches;
use cloze::data::prepare::write_shards;
use cloze::data::summary::{shard_lines, tokenizer_lines};
use cloze::data::tokenizer::train_tokenizer;
use cloze::eval::checkpoint_mlm::evaluate_checkpoint;
use cloze::eval::checkpoint_translate::CheckpointTranslator;
use cloze::eval::fill::fill_mask;
use cloze::eval::segments::score_files;
use cloze::eval::summary::{bleu_json, bleu_lines, fill_lines, mlm_line, mlm_table};
use cloze::hf::summary::{export_lines, import_lines};
use cloze::interrupt::stop_on_interrupt;
use cloze::parallel::ProcessGroup;
use cloze::pipeline::run::{RunOptions, ended_line};
use cloze::report::summary::report_lines;
use cloze::report::write_report;
use cloze::train::run::{NonFiniteLoss, TrainOptions};
use cloze::train::summary::{finetuning_lines, pretraining_lines};

use cli::data::{InspectArgs, ShardArgs, TokenizerCommand, TrainTokenizerArgs};
use cli::eval::{EvalBleuArgs, EvalCommand, EvalMlmArgs, FillArgs, TranslateArgs};
use cli::hf::{ExportCommand, ExportHfArgs, ImportCommand, ImportHfArgs};
use cli::report::ReportArgs;
use cli::train::{FinetuneArgs, PretrainArgs, RunArgs, TrainRunArgs};
use cli::{Cli, Command};

/// The exit status of a run stopped by too many non-finite steps in a row (1 is any other error,
/// 2 a usage error, 130 a second Ctrl-C).
const EXIT_NONFINITE: i32 = 3;

fn main() {
    cloze::memory::keep_freed_tensor_buffers();
    let cli = Cli::parse();
    let group = cloze::parallel::join().unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        std::process::exit(1)
    });
    // Rank 0 speaks for a data-parallel job; the others only warn.
    let log = if group.is_root() { &cli.log } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
    if let Err(error) = run(cli.command, &group) {
        let diverged = error.chain().any(|e| e.is::<NonFiniteLoss>());
        let code = if diverged { EXIT_NONFINITE } else { 1 };
        if group.world() > 1 {
            // The other ranks would wait for this one in their next collective operation.
            eprintln!(
                "error (rank {} of {}): {error:#}",
                group.rank(),
                group.world()
            );
            group.abort(code);
        }
        eprintln!("error: {error:#}");
        drop(group);
        std::process::exit(code);
    }
}

fn run(command: Command, group: &Rc<dyn ProcessGroup>) -> Result<()> {
    match command {
        Command::Tokenizer(TokenizerCommand::Train(args)) => tokenizer_train(args),
        Command::Shard(args) => shard(args),
        Command::Inspect(args) => inspect(args),
        Command::Pretrain(args) => pretrain(args, group),
        Command::Finetune(args) => finetune(args, group),
        Command::Run(args) => {
            anyhow::ensure!(
                group.world() == 1,
                "cloze run is one process; under mpirun, run its training stages with cloze \
                 pretrain and cloze finetune"
            );
            run_pipeline(args)
        }
        Command::Eval(EvalCommand::Mlm(args)) => eval_mlm(args),
        Command::Eval(EvalCommand::Bleu(args)) => eval_bleu(args),
        Command::Fill(args) => fill(args),
        Command::Translate(args) => translate(args),
        Command::Export(ExportCommand::Hf(args)) => export_hf(args),
        Command::Import(ImportCommand::Hf(args)) => import_hf(args),
        Command::Report(args) => report(args),
    }
}

/// What a command says about its work, on standard error.
fn say(lines: &[String]) {
    for line in lines {
        eprintln!("{line}");
    }
}

/// What a command outputs, on standard output.
fn print(lines: &[String]) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// One JSON object on a line of standard output.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

fn tokenizer_train(args: TrainTokenizerArgs) -> Result<()> {
    let report = train_tokenizer(
        &args.inputs,
        &args.read.options(),
        &args.config(),
        &args.out,
    )?;
    say(&tokenizer_lines(&args.out, &report));
    Ok(())
}

fn shard(args: ShardArgs) -> Result<()> {
    let options = args.options();
    let summary = write_shards(&options)?;
    say(&shard_lines(&options.out, &summary));
    Ok(())
}

fn inspect(args: InspectArgs) -> Result<()> {
    let config = args.loader_config();
    write_batches(&args.shards, config, args.batches, std::io::stdout().lock())
}

/// How `cloze pretrain` and `cloze finetune` run: stopped (after a checkpoint) by Ctrl-C, by
/// the processes of `group`.
fn train_options(
    args: &TrainRunArgs,
    run_dir: PathBuf,
    group: &Rc<dyn ProcessGroup>,
) -> TrainOptions {
    TrainOptions {
        run_dir,
        resume: args.resume,
        device: args.device,
        stop: stop_on_interrupt(),
        group: group.clone(),
    }
}

fn pretrain(args: PretrainArgs, group: &Rc<dyn ProcessGroup>) -> Result<()> {
    let config: PretrainConfig = args.run.load(&args.config)?;
    let run_dir = args.run.run_dir(config.run_dir.clone(), &args.config);
    let options = train_options(&args.run, run_dir, group);
    let outcome = cloze::train::pretrain::pretrain(&config, &options)?;
    if group.is_root() {
        say(&pretraining_lines(&outcome));
    }
    Ok(())
}

fn finetune(args: FinetuneArgs, group: &Rc<dyn ProcessGroup>) -> Result<()> {
    let config = args.load_config()?;
    let run_dir = args.run.run_dir(config.run_dir.clone(), &args.config);
    let options = train_options(&args.run, run_dir, group);
    let outcome = cloze::train::finetune::finetune(&config, &options)?;
    if group.is_root() {
        say(&finetuning_lines(&outcome));
    }
    Ok(())
}

fn run_pipeline(args: RunArgs) -> Result<()> {
    let pipeline = cloze::pipeline::run::load(&args.pipeline, &args.overrides, args.from)?;
    let started = std::time::Instant::now();
    let options = RunOptions {
        from: args.from,
        device: args.device,
        stop: stop_on_interrupt(),
    };
    let ended = cloze::pipeline::run::run(&pipeline, &options, &mut |line| eprintln!("{line}"))?;
    let seconds = started.elapsed().as_secs_f64();
    say(&[ended_line(&args.pipeline, ended, seconds)]);
    Ok(())
}

fn eval_mlm(args: EvalMlmArgs) -> Result<()> {
    let json = args.json;
    let request = args.request();
    let outcome = evaluate_checkpoint(&request)?;
    say(&outcome.skipped);
    say(&[mlm_line(&outcome, request.batch_size)]);
    if json {
        print_json(&outcome.evaluation.report())
    } else {
        print(&mlm_table(&outcome, request.seed))
    }
}

fn eval_bleu(args: EvalBleuArgs) -> Result<()> {
    let (bleu, chrf) = score_files(&args.hyp, &args.reference)?;
    if args.json {
        print_json(&bleu_json(&bleu, &chrf))
    } else {
        print(&bleu_lines(&bleu, &chrf))
    }
}

fn fill(args: FillArgs) -> Result<()> {
    let device = args.device.device()?;
    let trained = TrainedModel::load(&args.checkpoint, args.tokenizer.as_deref(), &device)?;
    for text in &args.texts {
        let (model, tokenizer) = (&trained.model, &trained.tokenizer);
        let result = fill_mask(model, tokenizer, text, args.top_k, trained.max_positions())?;
        if args.json {
            print_json(&result)?;
        } else {
            print(&fill_lines(&result))?;
        }
    }
    Ok(())
}

fn translate(args: TranslateArgs) -> Result<()> {
    let translator = CheckpointTranslator::load(&args.checkpoint, &args.settings(), args.device)?;
    let (outputs, truncated) = translator.translate(&args.sources()?)?;
    translator.warn_truncated(&truncated);
    print(&outputs)
}

fn export_hf(args: ExportHfArgs) -> Result<()> {
    let summary = cloze::hf::export::export_hf(&args.checkpoint, &args.out, args.overwrite)?;
    say(&export_lines(&summary));
    Ok(())
}

fn import_hf(args: ImportHfArgs) -> Result<()> {
    let summary = cloze::hf::import::import_hf(&args.from, &args.out)?;
    say(&import_lines(&args.out, &summary));
    Ok(())
}

fn report(args: ReportArgs) -> Result<()> {
    let summary = write_report(&args.run_dir, &args.options())?;
    say(&report_lines(&summary));
    Ok(())
}
