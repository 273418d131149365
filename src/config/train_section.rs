//! The `[train]` table that pretraining and fine-tuning share: steps, batches, the optimizer, the
//! learning-rate schedule, and how often to validate and checkpoint.

use serde::{Deserialize, Serialize};

use crate::config::differing;
use crate::config::precision::PrecisionChoice;
use crate::config::schedule::{Decay, LrSchedule};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSection {
    /// Optimizer steps in all.
    pub steps: u64,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Tokens per sequence, `[CLS]` and `[SEP]` included.
    pub seq_len: usize,
    /// Micro-batches whose gradients are summed into one step.
    pub grad_accum: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub warmup_steps: u64,
    /// `linear` or `cosine` decay after warmup.
    pub decay: Decay,
    /// The learning rate at the last step, as a fraction of the peak.
    pub final_lr_fraction: f64,
    /// AdamW's decoupled weight decay; LayerNorm parameters and biases get none.
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// The global gradient norm is scaled down to this; 0 turns clipping off.
    pub grad_clip: f64,
    /// Seeds the initial weights, the data order, the masks and dropout.
    pub seed: u64,
    /// Steps between checkpoints (and one at the end); 0 writes only the last.
    pub checkpoint_every: u64,
    /// Checkpoints kept; older ones are removed.
    pub keep_checkpoints: usize,
    /// Steps between validations (and one at the end); 0 validates only at the end.
    pub valid_every: u64,
    /// Batches per validation; 0 reads the whole valid split.
    pub valid_batches: usize,
    /// Steps between log lines when standard error is not a terminal (no progress bar).
    pub log_every: u64,
    /// A step whose loss or gradient norm is not finite is skipped (the weights and optimizer
    /// state stay as they were); after this many in a row the run checkpoints and stops.
    pub max_nonfinite_steps: u64,
    /// The float type of the forward and backward passes: `f32`, `bf16` (f32 weights, optimizer
    /// state and checkpoints all the same) or `auto` (bf16 on CUDA, and on a CPU whose bf16 matrix
    /// products measure at least 1.5x its f32 ones at the start of the run; a resumed run keeps
    /// what its checkpoint computed in).
    pub precision: PrecisionChoice,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch_size: 32,
            seq_len: 128,
            grad_accum: 1,
            lr: 5e-4,
            warmup_steps: 100,
            decay: Decay::Linear,
            final_lr_fraction: 0.0,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-6,
            grad_clip: 1.0,
            seed: 0,
            checkpoint_every: 500,
            keep_checkpoints: 3,
            valid_every: 500,
            valid_batches: 0,
            log_every: 50,
            max_nonfinite_steps: 10,
            precision: PrecisionChoice::F32,
        }
    }
}

impl TrainSection {
    /// The keys of this table that a resumed run may not change: those that shape the batches,
    /// the data order and the random state. `grad_accum` may change with the number of ranks, as
    /// long as the micro-batches of a step do not ([`crate::train::data_parallel`] checks).
    pub fn resume_conflicts(&self, saved: &TrainSection) -> Vec<&'static str> {
        differing([
            ("train.batch_size", self.batch_size == saved.batch_size),
            ("train.seq_len", self.seq_len == saved.seq_len),
            ("train.seed", self.seed == saved.seed),
        ])
    }

    pub fn schedule(&self) -> LrSchedule {
        LrSchedule {
            peak: self.lr,
            warmup_steps: self.warmup_steps,
            total_steps: self.steps,
            decay: self.decay,
            final_fraction: self.final_lr_fraction,
        }
    }
}
