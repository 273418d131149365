# Source this (`. scripts/mpi-env.sh`; scripts/test-env.sh does) before building with
# `--features mpi`: makes sure an MPI library with its launcher (Open MPI's mpicc and mpirun) and
# libclang (which the MPI bindings' build runs) are installed, with apt-get (Debian, Ubuntu) the
# first time, as root or through sudo. Idempotent: once they are there it only looks.
if ! command -v mpicc >/dev/null 2>&1 || ! command -v mpirun >/dev/null 2>&1 ||
  ! ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so'; then
  if command -v apt-get >/dev/null 2>&1; then
    cloze_sudo=""
    [ "$(id -u)" -eq 0 ] || cloze_sudo=sudo
    { $cloze_sudo apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive $cloze_sudo apt-get install -y -q \
        openmpi-bin libopenmpi-dev libclang-dev; } >/dev/null || return 1
  else
    echo "scripts/mpi-env.sh: install an MPI library with mpicc and mpirun (Open MPI or MPICH)" \
      "and libclang, then source this again" >&2
    return 1
  fi
fi
