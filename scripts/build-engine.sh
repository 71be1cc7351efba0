#!/usr/bin/env bash
# Build the embedded engine's llama.cpp bindings once, with all cores, and reuse the wheel after.
#
# The wheel is kept in ~/.cache/blacksoil/wheels/<version>-<flags>/, outside the checkout, so a
# fresh clone on the same machine (CI) installs it in seconds. The build is portable x86-64-v3
# (AVX2, FMA, F16C): a -march=native build also enables llama.cpp's AMX kernels, which crash with
# SIGSEGV on virtual machines that advertise AMX without granting it.
set -euo pipefail

PY=${1:?usage: build-engine.sh PYTHON}
VERSION=0.3.36
FLAGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
TAG=$(printf '%s' "$VERSION $FLAGS" | sha256sum | cut -c1-12)
CACHE="${BLACKSOIL_WHEEL_CACHE:-$HOME/.cache/blacksoil/wheels}/llama-cpp-python-$VERSION-$TAG"

MARKER="$("$PY" -c 'import sys; print(sys.prefix)')/.llama-cpp-python-$TAG"
if [ -f "$MARKER" ] && "$PY" -c "import llama_cpp" 2>/dev/null; then
  exit 0  # this environment already has this build
fi
if ! ls "$CACHE"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "==> building llama-cpp-python $VERSION from source (once; about 10 minutes on 2 cores)"
  mkdir -p "$CACHE.tmp"
  CMAKE_ARGS="$FLAGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$PY" -m pip wheel --no-cache-dir --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$VERSION" -w "$CACHE.tmp"
  rm -rf "$CACHE" && mv "$CACHE.tmp" "$CACHE"
fi
"$PY" -m pip install -q --force-reinstall --no-deps "$CACHE"/llama_cpp_python-*.whl
"$PY" -m pip install -q numpy typing-extensions diskcache jinja2
touch "$MARKER"
