//! What a training task (pretraining, fine-tuning) brings to the one training loop: its
//! objective, its batch stream with resume positions, and its validation.

use anyhow::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::checkpoint::metrics::ValidMetrics;
use crate::train::objective::Objective;

/// A task's training batches, each with the data position after it.
pub type BatchStream<'a, B, P> = Box<dyn Iterator<Item = Result<(B, P)>> + 'a>;

/// A model, a batch stream, a loss and a validation: all that differs between pretraining and
/// fine-tuning.
pub trait TrainingTask {
    type Objective: Objective;
    /// Where the task's data stream stands after a batch; saved in checkpoints.
    type Position: Clone + Default + Serialize + DeserializeOwned;

    fn objective(&self) -> &Self::Objective;

    /// The name of the task's own validation column in metrics.csv.
    fn valid_column(&self) -> &'static str;

    /// The training batches from `position` on, each with the position after it.
    fn batches(&self, position: Self::Position) -> TaskBatches<'_, Self>;

    /// Validation of the model (in validation mode) on at most `max_batches` batches (0: all),
    /// or `None` when the task has no validation data.
    fn validate(&self, model: &TaskModel<Self>, max_batches: usize)
    -> Result<Option<ValidMetrics>>;
}

/// The model a task trains.
pub type TaskModel<T> = <<T as TrainingTask>::Objective as Objective>::Model;
/// The batches a task trains on.
pub type TaskBatch<T> = <<T as TrainingTask>::Objective as Objective>::Batch;
/// A task's batch stream.
pub type TaskBatches<'a, T> = BatchStream<'a, TaskBatch<T>, <T as TrainingTask>::Position>;
