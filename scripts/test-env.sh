# Source this (`. scripts/test-env.sh`) before `cargo test`: installs Open MPI and libclang for
# `--features mpi` (scripts/mpi-env.sh), makes the Python environment the tests compare against
# (tests/requirements.txt: tokenizers, pyarrow, sacrebleu, torch and transformers; about 7 GB,
# once) and exports CLOZE_PYTHON for it, then LibTorch from that environment's torch
# (scripts/libtorch-env.sh) for `--features tch`. Idempotent, and quick once done: the venv is
# reinstalled only when tests/requirements.txt changes. Location: CLOZE_TORCH_HOME (default
# ~/.cache/cloze); the benchmarks' Python (CLOZE_HF_PYTHON) defaults to the same environment.
. scripts/mpi-env.sh || return 1
cloze_test_venv=${CLOZE_TORCH_HOME:-$HOME/.cache/cloze}/hf-venv
if ! cmp -s tests/requirements.txt "$cloze_test_venv/.cloze-requirements"; then
  { [ -x "$cloze_test_venv/bin/python" ] || python3 -m venv "$cloze_test_venv"; } &&
    "$cloze_test_venv/bin/python" -m pip install -q --disable-pip-version-check \
      -r tests/requirements.txt &&
    cp tests/requirements.txt "$cloze_test_venv/.cloze-requirements" || return 1
fi
export CLOZE_PYTHON="$cloze_test_venv/bin/python"
export CLOZE_TORCH_VENV=$cloze_test_venv
. scripts/libtorch-env.sh
