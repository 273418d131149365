#!/usr/bin/env bash
# The training tests again on the LibTorch backend (tch-cpu): installs LibTorch 2.9.0 from PyPI once
# (scripts/libtorch.sh, idempotent), builds with `--features tch` in target/tch (so the default
# build in target/ is left alone), and runs tests/train with CLOZE_TEST_DEVICE=tch-cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
libtorch=$(scripts/libtorch.sh)
export LIBTORCH=$libtorch
export LD_LIBRARY_PATH=$libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CARGO_TARGET_DIR=${CLOZE_TCH_TARGET_DIR:-target/tch}
CLOZE_TEST_DEVICE=tch-cpu cargo test --release --features tch --test train "$@"
