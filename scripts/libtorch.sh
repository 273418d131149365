#!/usr/bin/env bash
# Installs LibTorch 2.9.0 (CPU libraries only, from the PyPI torch wheel) once, and prints the
# folder to build with: LIBTORCH=$(scripts/libtorch.sh) cargo build --release --features tch
# Idempotent and quick when already done. The folder links only libtorch, libtorch_cpu, libc10 and
# libgomp, so nothing CUDA is linked (about 1.75 GB); libtorch_cpu needs libcupti and libcudart at
# run time (not a GPU), which come from the two small nvidia wheels and are linked there too.
# Override the location with CLOZE_TORCH_HOME, or name a virtual environment that has (or is to
# have) torch 2.9.0 with CLOZE_TORCH_VENV (scripts/test-env.sh uses its test environment's).
set -euo pipefail
home=${CLOZE_TORCH_HOME:-$HOME/.cache/cloze}
venv=${CLOZE_TORCH_VENV:-$home/torch-venv}
libtorch=$venv/libtorch-2.9.0-cpu
if [ ! -e "$libtorch/lib/libtorch_cpu.so" ] || [ ! -e "$libtorch/lib/libcupti.so.12" ]; then
  mkdir -p "$(dirname "$venv")"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    torch==2.9.0 nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90 >&2
  torch=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')/torch
  rm -rf "$libtorch.tmp" && mkdir -p "$libtorch.tmp/lib"
  ln -s "$torch/include" "$libtorch.tmp/include"
  for lib in libtorch.so libtorch_cpu.so libc10.so libgomp.so.1; do
    ln -s "$torch/lib/$lib" "$libtorch.tmp/lib/$lib"
  done
  ln -s "$torch/../nvidia/cuda_cupti/lib/libcupti.so.12" "$libtorch.tmp/lib/libcupti.so.12"
  ln -s "$torch/../nvidia/cuda_runtime/lib/libcudart.so.12" "$libtorch.tmp/lib/libcudart.so.12"
  rm -rf "$libtorch" && mv "$libtorch.tmp" "$libtorch"
fi
echo "$libtorch"
