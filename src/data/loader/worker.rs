//! The background worker: a [`SequenceStream`] run on a thread of its own, batches handed over
//! through a bounded queue.

use std::sync::Arc;

use anyhow::Result;

use super::{LoaderConfig, SequenceStream, ShardSet};
use crate::data::batch::MaskedBatch;
use crate::data::position::LoaderPosition;

/// Batches prepared on a background thread, at most `prefetch` ahead of the consumer.
pub struct Loader {
    receiver: crossbeam_channel::Receiver<Result<MaskedBatch>>,
    worker: Option<std::thread::JoinHandle<()>>,
    position: LoaderPosition,
}

impl Loader {
    /// Starts streaming at `position` (the default position is the start of epoch 0).
    pub fn start(set: Arc<ShardSet>, config: LoaderConfig, position: LoaderPosition) -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(config.prefetch.max(1));
        let mut stream = SequenceStream::new(set, config, position);
        let worker = std::thread::spawn(move || {
            loop {
                let next = stream.next_batch();
                let stop = !matches!(next, Ok(Some(_)));
                let item = match next {
                    Ok(Some(batch)) => Ok(batch),
                    Ok(None) => break,
                    Err(e) => Err(e),
                };
                if sender.send(item).is_err() || stop {
                    break;
                }
            }
        });
        Self {
            receiver,
            worker: Some(worker),
            position,
        }
    }

    /// The position after the last batch this loader handed out: saving it and starting a new
    /// loader from it continues with the next batch.
    pub fn position(&self) -> LoaderPosition {
        self.position
    }
}

impl Iterator for Loader {
    type Item = Result<MaskedBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let Ok(item) = self.receiver.recv() else {
            // The worker is gone: the stream ended, or the worker panicked, which must not pass
            // for the end of the data.
            let panicked = self.worker.take().is_some_and(|w| w.join().is_err());
            return panicked.then(|| Err(anyhow::anyhow!("the loader thread panicked")));
        };
        if let Ok(batch) = &item {
            self.position = batch.position_after;
        }
        Some(item)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Unblock a worker waiting on a full queue, then wait for it to finish.
        let (_, dead) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.receiver, dead));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
