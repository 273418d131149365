//! Pipeline files: the stages of one experiment in one TOML file, run in order by `cloze run`.
//!
//! The stages, in their order: `[tokenizer]`, `[shard]`, `[pairs]` (the data stages, [`data`]),
//! `[pretrain]`, `[eval]` (masked-token evaluation of the pretraining run, [`eval`]),
//! `[finetune]` and `[translate]` (the fine-tuned run on held-out pairs, with BLEU and chrF,
//! [`translate`]). Every stage records what its output was made from beside it ([`stamp`](mod@stamp)) and is
//! skipped when that has not changed; [`run`] runs them, and `--from STAGE` forces a stage and
//! every later one to run again. How a training stage treats its run directory is in
//! [`training`].

pub mod data;
pub mod eval;
pub mod import;
pub mod run;
pub mod stamp;
pub mod training;
pub mod translate;

use std::path::Path;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

pub use data::{ShardStage, TokenizerStage, run_shard, run_tokenizer};
pub use eval::EvalStage;
pub use import::{ImportStage, run_import};
pub use stamp::{record, stamp, up_to_date};
pub use translate::TranslateStage;

use crate::config::finetune::FinetuneConfig;
use crate::config::pretrain::PretrainConfig;

/// A pipeline file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// A HuggingFace model imported as a checkpoint, whose tokenizer and weights the later stages
    /// use.
    pub import: Option<ImportStage>,
    pub tokenizer: Option<TokenizerStage>,
    pub shard: Option<ShardStage>,
    /// Translation pairs (a shard stage with `src_column` and `tgt_column`), for `[finetune]`.
    pub pairs: Option<ShardStage>,
    pub pretrain: Option<PretrainConfig>,
    /// Masked-token evaluation of the `[pretrain]` run's latest checkpoint.
    pub eval: Option<EvalStage>,
    pub finetune: Option<FinetuneConfig>,
    /// Translation of held-out pairs with the `[finetune]` run's latest checkpoint.
    pub translate: Option<TranslateStage>,
}

/// The stages of a pipeline, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Stage {
    Import,
    Tokenizer,
    Shard,
    Pairs,
    Pretrain,
    Eval,
    Finetune,
    Translate,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Import,
        Stage::Tokenizer,
        Stage::Shard,
        Stage::Pairs,
        Stage::Pretrain,
        Stage::Eval,
        Stage::Finetune,
        Stage::Translate,
    ];

    /// The stage's table name in a pipeline file, and its name for `--from`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Import => "import",
            Stage::Tokenizer => "tokenizer",
            Stage::Shard => "shard",
            Stage::Pairs => "pairs",
            Stage::Pretrain => "pretrain",
            Stage::Eval => "eval",
            Stage::Finetune => "finetune",
            Stage::Translate => "translate",
        }
    }

    /// Whether `--from from` forces this stage to run again: it is that stage or a later one.
    pub fn forced_by(self, from: Option<Stage>) -> bool {
        from.is_some_and(|from| self >= from)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Pipeline {
    /// Reads a pipeline file; `overrides` are `stage.key=value` (`pretrain.train.steps=10`).
    /// A training stage without `run_dir` gets `runs/<file name>` (`[pretrain]`) or
    /// `runs/<file name>/finetune` (`[finetune]`).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let mut pipeline: Self = crate::config::load(path, None, overrides)?;
        if pipeline.stages().is_empty() {
            bail!(
                "{}: no stage; a pipeline file has some of the tables {}",
                path.display(),
                Stage::ALL.map(|s| format!("[{s}]")).join(", ")
            );
        }
        let stem = crate::config::default_run_dir(path);
        if let Some(config) = &mut pipeline.pretrain {
            config.run_dir.get_or_insert_with(|| stem.clone());
        }
        if let Some(config) = &mut pipeline.finetune {
            config.run_dir.get_or_insert_with(|| stem.join("finetune"));
            if let Some(stage) = &mut pipeline.translate {
                stage.resolve(pipeline.pairs.as_ref(), config.data.reverse);
            }
        }
        pipeline
            .check()
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
        Ok(pipeline)
    }

    /// The stages this pipeline has, in order.
    pub fn stages(&self) -> Vec<Stage> {
        Stage::ALL
            .into_iter()
            .filter(|stage| match stage {
                Stage::Import => self.import.is_some(),
                Stage::Tokenizer => self.tokenizer.is_some(),
                Stage::Shard => self.shard.is_some(),
                Stage::Pairs => self.pairs.is_some(),
                Stage::Pretrain => self.pretrain.is_some(),
                Stage::Eval => self.eval.is_some(),
                Stage::Finetune => self.finetune.is_some(),
                Stage::Translate => self.translate.is_some(),
            })
            .collect()
    }

    /// Refuses `--from STAGE` for a stage this pipeline does not have.
    pub fn check_from(&self, from: Stage) -> Result<()> {
        let stages = self.stages();
        if !stages.contains(&from) {
            bail!(
                "--from {from}: this pipeline has no [{from}] stage; its stages are {}",
                stages
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    }

    /// The checks that span stages, and those of the evaluation stages' keys.
    fn check(&self) -> Result<()> {
        if let Some(stage) = &self.eval {
            if self.pretrain.is_none() {
                bail!("[eval] evaluates the [pretrain] stage's run: add a [pretrain] table");
            }
            stage.validate()?;
        }
        if let Some(stage) = &self.translate {
            if self.finetune.is_none() {
                bail!(
                    "[translate] translates with the [finetune] stage's run: add a [finetune] table"
                );
            }
            stage.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Pipeline> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        Pipeline::load(&path, &[])
    }

    #[test]
    fn the_shipped_pipelines_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            let pipeline = Pipeline::load(&path, &[]).unwrap();
            if let Some(p) = pipeline.pretrain {
                p.validate().unwrap();
            }
            if let Some(f) = pipeline.finetune {
                f.validate().unwrap();
            }
        }
    }

    #[test]
    fn the_stages_run_in_a_fixed_order_and_from_forces_the_later_ones() {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "import",
                "tokenizer",
                "shard",
                "pairs",
                "pretrain",
                "eval",
                "finetune",
                "translate"
            ]
        );
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(!Stage::Pretrain.forced_by(None));
        assert!(!Stage::Pretrain.forced_by(Some(Stage::Finetune)));
        assert!(Stage::Finetune.forced_by(Some(Stage::Finetune)));
        assert!(Stage::Translate.forced_by(Some(Stage::Finetune)));
        assert!(Stage::Translate.forced_by(Some(Stage::Tokenizer)));
        assert!(Stage::Tokenizer.forced_by(Some(Stage::Import)));
        // The names are those clap accepts.
        for stage in Stage::ALL {
            let parsed = <Stage as clap::ValueEnum>::from_str(stage.name(), false).unwrap();
            assert_eq!(parsed, stage);
        }
    }

    #[test]
    fn from_must_name_a_stage_of_the_pipeline() {
        let pipeline = parse("[pretrain]\ndata.shards = \"s\"\n\n[eval]\n").unwrap();
        assert_eq!(pipeline.stages(), [Stage::Pretrain, Stage::Eval]);
        pipeline.check_from(Stage::Eval).unwrap();
        let err = pipeline
            .check_from(Stage::Finetune)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no [finetune] stage") && err.contains("pretrain, eval"),
            "{err}"
        );
        // Run directories default to runs/<file name>.
        assert_eq!(
            pipeline.pretrain.unwrap().run_dir.unwrap(),
            Path::new("runs/p")
        );
    }

    #[test]
    fn bad_stage_tables_name_the_key() {
        let cases = [
            ("", "no stage"),
            ("[eval]\nseed = 1\n", "add a [pretrain] table"),
            (
                "[pretrain]\ndata.shards = \"s\"\n[eval]\nbatch_size = 0\n",
                "eval.batch_size",
            ),
            (
                "[pretrain]\ndata.shards = \"s\"\n[eval]\nsed = 1\n",
                "unknown field `sed`",
            ),
            (
                "[finetune]\ndata.shards = \"p\"\n[translate]\nsrc_column = \"ko\"\ntgt_column = \"en\"\n",
                "translate.input",
            ),
            (
                "[finetune]\ndata.shards = \"p\"\n[translate]\ninput = \"d.tsv\"\n",
                "translate.src_column",
            ),
            (
                "[finetune]\ndata.shards = \"p\"\n[translate]\ninput = \"d.tsv\"\nsrc_column = \"ko\"\ntgt_column = \"en\"\nbeam = 0\n",
                "translate.beam",
            ),
            (
                "[pretrain]\ndata.shards = \"s\"\n[translate]\ninput = \"d.tsv\"\n",
                "add a [finetune] table",
            ),
        ];
        for (text, expected) in cases {
            let err = format!("{:#}", parse(text).unwrap_err());
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
