//! The training layer: joins the data loader and the model.

pub mod checkpoint;
pub mod schedule;
pub mod step;
