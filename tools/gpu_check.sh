#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one run that fits a few minutes, every log kept in one folder:
#   1. every CUDA kernel against its CPU twin on the real GPU (the parity tests, no simulator);
#   2. CUDA against the CPU per stage and for the chain, 720p/1080p/2160p (tools/bench_backend.py);
#   3. whole-process file runs with --backend cuda and --backend cpu on the bundled clip, outputs compared.
#
#   tools/gpu_check.sh [OUT_DIR]          (default: gpu-check/; needs pip install -e ".[gpu,test]")
#
# Each step has its own time limit and the script goes on after a failing step, so one run
# gives every answer; the summary at the end says which steps passed.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
py="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
unset NUMBA_ENABLE_CUDASIM
status=()

step() {  # step NAME LIMIT_S COMMAND...: run, log to $out/NAME.log, remember the outcome
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most ${limit}s)"
    local t0=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    echo "   rc=$rc in $((SECONDS - t0))s; last lines:"
    tail -n 5 "$out/$name.log" | sed 's/^/   /'
    status+=("$name rc=$rc $((SECONDS - t0))s")
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; "$py" -c \
  "import numba, numpy; from numba import cuda; print('numba', numba.__version__, 'numpy', numpy.__version__,
'gpu', cuda.get_current_device().name)"; } >"$out/device.txt" 2>&1
cat "$out/device.txt"

step parity 240 "$py" -m pytest -m cuda tests -q -x -p no:cacheprovider
step bench_backend 240 "$py" tools/bench_backend.py --backend cuda --seconds 1 --markdown "$out/bench_backend.md" \
    --json "$out/bench_backend.json"
clip=tools/samples/flower_540p.mp4
step file_cuda 120 "$py" -m realtime --file "$clip" -o "$out/cuda.y4m" --no-display --backend cuda \
    --stats "$out/file_cuda.json"
step file_cpu 180 "$py" -m realtime --file "$clip" -o "$out/cpu.y4m" --no-display --backend cpu \
    --stats "$out/file_cpu.json"
step compare 60 "$py" - "$out/cuda.y4m" "$out/cpu.y4m" <<'EOF'
"""Largest and mean difference between the CUDA and CPU outputs, per plane, frame by frame."""
import sys
import numpy as np
sys.path.insert(0, "tools")
from qualitylib import read_y4m_planes
a, b = read_y4m_planes(sys.argv[1]), read_y4m_planes(sys.argv[2])
assert len(a) == len(b), (len(a), len(b))
worst = max(int(np.abs(x.astype(int) - y.astype(int)).max()) for fa, fb in zip(a, b) for x, y in zip(fa, fb))
mean = float(np.mean([np.abs(x.astype(int) - y.astype(int)).mean() for fa, fb in zip(a, b) for x, y in zip(fa, fb)]))
print(f"{len(a)} frames: largest difference {worst} levels, mean {mean:.4f}")
EOF
rm -f "$out/cuda.y4m" "$out/cpu.y4m"
echo "== summary"
printf '%s\n' "${status[@]}" | tee "$out/summary.txt"
