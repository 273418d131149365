//! The training layer: joins the data loader and the model.

pub mod finetune;
pub mod optimizer;
pub mod param_ids;
pub mod pretrain;
pub mod run;
pub mod step;
