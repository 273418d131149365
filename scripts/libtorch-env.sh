# Source this (`. scripts/libtorch-env.sh`) to build and run with `--features tch`: installs
# LibTorch 2.9.0 from PyPI once (scripts/libtorch.sh, idempotent and quick when done) and exports
# LIBTORCH and LD_LIBRARY_PATH for it.
LIBTORCH=$(scripts/libtorch.sh) || return 1
export LIBTORCH
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
