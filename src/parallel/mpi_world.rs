//! An MPI job (Open MPI, MPICH; started by `mpirun` or `srun`) behind [`ProcessGroup`], through
//! rsmpi. Only the main thread calls MPI (the loaders' threads never do), so the job is joined
//! at MPI's `FUNNELED` threading level.

use anyhow::{Result, anyhow};
use mpi::Threading;
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::parallel::ProcessGroup;

/// This process's place in its MPI job. Dropping it finalises MPI, which a launcher expects of
/// every rank that exits normally.
pub struct MpiWorld {
    world: SimpleCommunicator,
    _universe: Universe,
}

impl MpiWorld {
    pub fn initialize() -> Result<Self> {
        let (universe, _threading) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or_else(|| anyhow!("MPI was initialised twice in one process"))?;
        Ok(Self {
            world: universe.world(),
            _universe: universe,
        })
    }
}

impl std::fmt::Debug for MpiWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MPI rank {} of {}", self.rank(), self.world())
    }
}

impl ProcessGroup for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn world(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&self, values: &mut [f32]) {
        let local = values.to_vec();
        self.world
            .all_reduce_into(&local[..], values, SystemOperation::sum());
    }

    fn sum_f64(&self, values: &mut [f64]) {
        let local = values.to_vec();
        self.world
            .all_reduce_into(&local[..], values, SystemOperation::sum());
    }

    fn broadcast_from_root(&self, bytes: Vec<u8>) -> Vec<u8> {
        let root = self.world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        let mut buffer = bytes;
        buffer.resize(len as usize, 0);
        root.broadcast_into(&mut buffer[..]);
        buffer
    }

    fn barrier(&self) {
        self.world.barrier();
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
