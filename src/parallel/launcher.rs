//! Whether an MPI launcher started this process, from the variables each launcher sets: a pure
//! function of the environment, so that it can be tested without one.

/// What an MPI launcher told this process about its job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchedJob {
    /// The launcher, as a user would name it.
    pub launcher: &'static str,
    /// The number of processes, when the launcher says.
    pub size: Option<usize>,
}

/// The variable each launcher sets, the launcher's name, and the variable holding the job's size.
const LAUNCHERS: [(&str, &str, &str); 3] = [
    (
        "OMPI_COMM_WORLD_SIZE",
        "Open MPI's mpirun",
        "OMPI_COMM_WORLD_SIZE",
    ),
    ("PMI_SIZE", "an MPICH (Hydra) mpirun", "PMI_SIZE"),
    (
        "PMIX_RANK",
        "a PMIx launcher (srun --mpi=pmix)",
        "SLURM_NTASKS",
    ),
];

/// The job an MPI launcher started this process in, read from the environment by `var`; `None`
/// when no launcher did.
pub fn launched_job(var: impl Fn(&str) -> Option<String>) -> Option<LaunchedJob> {
    LAUNCHERS
        .iter()
        .find(|(marker, _, _)| var(marker).is_some())
        .map(|(_, launcher, size)| LaunchedJob {
            launcher,
            size: var(size).and_then(|s| s.trim().parse().ok()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn no_launcher_variable_is_a_job_of_one() {
        assert_eq!(launched_job(env(&[("SLURM_NTASKS", "4")])), None);
    }

    #[test]
    fn each_launcher_is_recognised_with_its_size() {
        let open_mpi = launched_job(env(&[("OMPI_COMM_WORLD_SIZE", "2")])).unwrap();
        assert_eq!(open_mpi.size, Some(2));
        assert!(open_mpi.launcher.contains("Open MPI"));
        let mpich = launched_job(env(&[("PMI_SIZE", "3"), ("PMI_RANK", "1")])).unwrap();
        assert_eq!(mpich.size, Some(3));
        let slurm = launched_job(env(&[("PMIX_RANK", "0"), ("SLURM_NTASKS", "8")])).unwrap();
        assert_eq!(slurm.size, Some(8));
        let unknown_size = launched_job(env(&[("PMIX_RANK", "0")])).unwrap();
        assert_eq!(unknown_size.size, None);
    }
}
