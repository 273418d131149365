//! The processes of one training job: its size, this process's rank, and the few collective
//! operations data-parallel training needs (sums over every rank, rank 0's bytes sent to all).
//!
//! A process started by an MPI launcher (`mpirun`, `srun --mpi=pmix`) joins its job through MPI
//! when cloze is built with the `mpi` feature; any other process is a job of one. Nothing here
//! knows tensors or models: the training layer flattens what it sends.

mod launcher;
#[cfg(feature = "mpi")]
mod mpi_world;

use std::rc::Rc;

use anyhow::Result;

pub use launcher::{LaunchedJob, launched_job};

/// The processes of a job, as seen from one of them. Every rank must call the collective
/// operations in the same order.
pub trait ProcessGroup: std::fmt::Debug {
    /// This process's index, 0 to `world() - 1`.
    fn rank(&self) -> usize;

    /// The number of processes in the job.
    fn world(&self) -> usize;

    /// Replaces `values` by their elementwise sum over every rank.
    fn sum_f32(&self, values: &mut [f32]);

    /// Replaces `values` by their elementwise sum over every rank.
    fn sum_f64(&self, values: &mut [f64]);

    /// Rank 0's `bytes`, on every rank (the others' `bytes` are ignored).
    fn broadcast_from_root(&self, bytes: Vec<u8>) -> Vec<u8>;

    /// Waits until every rank has called it.
    fn barrier(&self);

    /// Ends every rank of the job with exit status `code`: how an error on one rank stops the
    /// others, which would otherwise wait for it in their next collective operation.
    fn abort(&self, code: i32) -> !;

    /// Whether this process writes the job's files (metrics, checkpoints) and shows its progress.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// Whether `flag` is set on any rank.
    fn any(&self, flag: bool) -> bool {
        let mut value = [f64::from(u8::from(flag))];
        self.sum_f64(&mut value);
        value[0] > 0.0
    }
}

/// A job of one process: every collective operation is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl ProcessGroup for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn world(&self) -> usize {
        1
    }

    fn sum_f32(&self, _values: &mut [f32]) {}

    fn sum_f64(&self, _values: &mut [f64]) {}

    fn broadcast_from_root(&self, bytes: Vec<u8>) -> Vec<u8> {
        bytes
    }

    fn barrier(&self) {}

    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// The job this process belongs to: its MPI job when an MPI launcher started it, else a job of
/// one. Refuses a launch of several processes by a binary built without the `mpi` feature, whose
/// processes would each train the whole run into the same directory.
pub fn join() -> Result<Rc<dyn ProcessGroup>> {
    let launched = launched_job(|name| std::env::var(name).ok());
    match launched {
        None => Ok(Rc::new(SingleProcess)),
        Some(job) => join_launched(job),
    }
}

#[cfg(feature = "mpi")]
fn join_launched(_job: LaunchedJob) -> Result<Rc<dyn ProcessGroup>> {
    Ok(Rc::new(mpi_world::MpiWorld::initialize()?))
}

#[cfg(not(feature = "mpi"))]
fn join_launched(job: LaunchedJob) -> Result<Rc<dyn ProcessGroup>> {
    if job.size.is_some_and(|size| size > 1) {
        anyhow::bail!(
            "started by {} as one of {} processes, but this cloze was built without the `mpi` \
             feature: build it with `--features mpi` (see the README, section `Data-parallel \
             training`), or start one process",
            job.launcher,
            job.size.unwrap_or_default()
        );
    }
    Ok(Rc::new(SingleProcess))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_of_one_sums_and_broadcasts_nothing() {
        let group = SingleProcess;
        let mut values = [1.5f32, -2.0];
        group.sum_f32(&mut values);
        assert_eq!(values, [1.5, -2.0]);
        assert!(group.any(true) && !group.any(false));
        assert_eq!(group.broadcast_from_root(b"abc".to_vec()), b"abc");
        assert!(group.is_root());
    }

    #[cfg(not(feature = "mpi"))]
    #[test]
    fn several_processes_without_the_mpi_feature_are_refused() {
        let job = LaunchedJob {
            launcher: "Open MPI's mpirun",
            size: Some(2),
        };
        let error = join_launched(job).unwrap_err().to_string();
        assert!(error.contains("as one of 2 processes"), "{error}");
        assert!(error.contains("--features mpi"), "{error}");
        let alone = LaunchedJob {
            launcher: "Open MPI's mpirun",
            size: Some(1),
        };
        assert_eq!(join_launched(alone).unwrap().world(), 1);
    }
}
