//! The training layer: one loop ([`run`]) that pretraining and fine-tuning each feed with what
//! differs, a task ([`task`]) with its objective ([`objective`]).

pub mod bf16_speedup;
pub mod checkpointer;
pub mod data_parallel;
pub mod finetune;
pub mod learning_rates;
pub mod objective;
pub mod optimizer;
pub mod outcome;
pub mod param_ids;
pub mod pretrain;
pub mod resume;
pub mod run;
pub mod run_precision;
pub mod step;
pub mod step_log;
pub mod summary;
pub mod task;
