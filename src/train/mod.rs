//! The training layer: joins the data loader and the model.

pub mod checkpoint;
pub mod config;
pub mod finetune;
pub mod finetune_config;
pub mod metrics;
pub mod optimizer;
pub mod param_ids;
pub mod pretrain;
pub mod run;
pub mod schedule;
pub mod step;
pub mod summary;
pub mod trained;
