#!/usr/bin/env bash
# All the tests, from one build with both backends (`--features tch` keeps the default flex):
# first every test on flex, then the training and evaluation tests again on LibTorch's CPU
# (CLOZE_TEST_DEVICE=tch-cpu). Installs LibTorch 2.9.0 from PyPI once (scripts/libtorch.sh,
# idempotent). Building once for both backends, rather than a flex build and a tch build, halves
# the time from a clean checkout. Extra arguments go to both `cargo test` runs (e.g. a test name).
# Plain `cargo test --release` needs no LibTorch and runs the same tests on flex only.
set -euo pipefail
cd "$(dirname "$0")/.."
libtorch=$(scripts/libtorch.sh)
export LIBTORCH=$libtorch
export LD_LIBRARY_PATH=$libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CARGO_TARGET_DIR=${CLOZE_TCH_TARGET_DIR:-target/tch}
cargo test --release --features tch "$@"
CLOZE_TEST_DEVICE=tch-cpu cargo test --release --features tch --test train "$@"
