//! Checkpointing a run as it goes: each checkpoint written whole, then the old ones pruned by
//! their own rule (as burn-train keeps its `Checkpointer` apart from `KeepLastNCheckpoints`).

use std::path::PathBuf;

use anyhow::Result;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::Serialize;

use crate::checkpoint::{TrainingState, prune_checkpoints, save_checkpoint};
use crate::data::tokenizer::{TokenizerFiles, sha256_hex};
use crate::model::precision::Precision;

/// What identifies a run's data and settings in its checkpoints.
pub struct RunIdentity {
    /// The sha256 of the training shards' manifest.json.
    pub manifest_sha256: String,
    /// The tokenizer.json the model reads, saved in every checkpoint.
    pub tokenizer: TokenizerFiles,
    /// The resolved configuration, saved in every checkpoint and as config.toml.
    pub config: serde_json::Value,
    pub config_toml: String,
    /// What the steps compute in, recorded in every checkpoint.
    pub precision: Precision,
}

/// Writes a run's checkpoints into its checkpoints' directory, keeping the newest `keep`.
pub struct Checkpointer<'a> {
    pub dir: PathBuf,
    pub keep: usize,
    pub seed: u64,
    /// The ranks training the run.
    pub world: usize,
    pub identity: &'a RunIdentity,
    tokenizer_sha256: String,
}

impl<'a> Checkpointer<'a> {
    pub fn new(
        dir: PathBuf,
        keep: usize,
        seed: u64,
        world: usize,
        identity: &'a RunIdentity,
    ) -> Self {
        Self {
            dir,
            keep,
            seed,
            world,
            tokenizer_sha256: sha256_hex(&identity.tokenizer.json),
            identity,
        }
    }

    /// Saves the run as it is after `step` steps and `tokens` tokens, with the data `position`,
    /// then prunes; returns the checkpoint's path.
    pub fn save<M: Module>(
        &self,
        step: u64,
        tokens: u64,
        position: &impl Serialize,
        model: &M,
        optimizer: &ModuleOptimizer,
    ) -> Result<PathBuf> {
        let state = TrainingState {
            step,
            tokens,
            loader: serde_json::to_value(position).expect("a position serialises"),
            seed: self.seed,
            manifest_sha256: self.identity.manifest_sha256.clone(),
            tokenizer_sha256: self.tokenizer_sha256.clone(),
            config: self.identity.config.clone(),
            world: self.world,
            precision: Some(self.identity.precision),
        };
        let path = save_checkpoint(
            &self.dir,
            &state,
            model,
            optimizer,
            &self.identity.tokenizer,
        )?;
        prune_checkpoints(&self.dir, self.keep, step)?;
        Ok(path)
    }
}
