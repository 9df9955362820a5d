#!/usr/bin/env bash
# One GPU session in a single call: the GPU-only tests, then the speed benchmark. Writes under $OUT
# (default ./gpu-out): gpu-tests.txt, speed.json, speed.log, speed.png, env.txt.
#
#   bash benchmarks/gpu_session.sh                   # on a machine with a CUDA GPU and PyTorch
#
# Wheels in .whl/ (for example the transformers version the project is tested with) are installed
# into /tmp/site first, without dependencies, for an image whose own packages are older. To fetch
# transformers 5.24.0 for a Python 3.12 GPU image from a machine with PyPI:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d .whl transformers==5.24.0
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD:$PWD/kernels${PYTHONPATH:+:$PYTHONPATH}
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  python3 -c 'import torch, transformers, triton; print(torch.__version__, transformers.__version__, triton.__version__)'
} >"$OUT/env.txt" 2>&1

# The tests that need a GPU (the rest run in CI). The repository's pytest settings name plugins this
# image lacks (pytest-lsp, pytest-asyncio), so they are overridden here.
timeout "${TEST_TIMEOUT:-150}" python3 -m pytest -q -p no:cacheprovider \
  -o addopts="--import-mode=importlib -ra" -o filterwarnings=default \
  tests/engine/block/test_graphs.py tests/engine/test_fp8.py tests/engine/masked/test_cache.py \
  tests/engine/test_static_shapes.py tests/kernels >"$OUT/gpu-tests.txt" 2>&1
echo "gpu tests: exit $?"
tail -n 3 "$OUT/gpu-tests.txt"

# The benchmark: each model in its own process, within the budget.
timeout "${BENCH_TIMEOUT:-480}" python3 -m benchmarks.speed --out "$OUT" \
  --budget-s "${BENCH_BUDGET:-420}" ${BENCH_ARGS:-} >/dev/null 2>&1
echo "bench: exit $?"
rm -f "$OUT/dense.json" "$OUT/gemma.json" "$OUT/hf_ar.json"  # merged into speed.json
grep -E "FAILED|SKIP|Error|error" "$OUT/speed.log" | head -20
tail -n 25 "$OUT/speed.log"
