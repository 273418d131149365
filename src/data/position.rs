//! Where a sequence stream stands: what a checkpoint saves to continue the stream exactly, and
//! what every batch carries so that the training loop can save it.

use serde::{Deserialize, Serialize};

/// Where the sequence stream stands; saved with a checkpoint and restored to continue exactly.
/// (A position written before the stream was mixed also named a shard, a document, a row and an
/// offset; it does not read as this one.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoaderPosition {
    pub epoch: u64,
    /// Sequences this worker has produced in this epoch.
    pub sequence: u64,
}
