#!/usr/bin/env bash
# The GPU check of issue 19, as one prepared run on the GPU machine (the `device` tool):
#
#   here:  make cuda-build                  # target/device/: stripped binaries, kernels inside
#   there: run(command="bash tools/device-check.sh", carry=["target/device"], timeout_s=560)
#
# It needs no Rust, no network and no model file: the check builds random-weight models of
# SmolLM2-135M's and Llama-3.2-1B's shapes, runs the CPU engines and candle on CUDA device 0 in
# lockstep (whole memory outside the image after every step, layer-trace roots, sampled and
# greedy requests) and measures decode, 256-token verification and batch speed. Everything it
# writes lands in $OUT (log.txt, gpu.txt, one JSON report per shape), shape by shape, so that a
# run cut short still brings back what it finished. Exit status: 0 all identical, 1 a
# difference, 2 or more the check could not run. `DEVICE=cpu` dry-runs the plumbing on a CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/veritrace-device-check}
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
bin=target/device/veritrace-device-check
[ -x "$bin" ] || { echo "device-check: $bin is missing: run make cuda-build and carry target/device" >&2; exit 3; }

nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv | tee "$out/gpu.txt"
nproc | sed 's/^/cpu threads: /' | tee -a "$out/gpu.txt"

# cudarc opens libcublas/libcublasLt/libcurand by name at run time: use PyTorch's CUDA 13 wheels.
site=$(python3 -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null || true)
if [ -n "$site" ] && [ -d "$site/nvidia" ]; then
  libs=$(find "$site/nvidia" -name 'lib*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
  export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:-}"
fi
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
ldd "$bin" | grep -E "not found" && echo "device-check: missing shared libraries (above)"

status=0
step() {  # step NAME TIMEOUT ARGS...: one shape, its own report, its own time limit
  local name=$1 limit=$2; shift 2
  echo "=== $name ($(date -u +%T), limit ${limit} s)"
  local t0=$SECONDS
  timeout "$limit" "$bin" --device "${DEVICE:-cuda}" "$@" --out "$out/$name.json"
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" -gt "$status" ] && status=$rc
}
# A few seconds: fails fast if the kernels or libraries do not load.
step tiny 60 --shape tiny --requests 2 --max-tokens 16 --verify-tokens 32 --batch 2
step smollm2-135m 240 --shape smollm2135m --requests 6 --prompt-tokens 22 --max-tokens 32 \
  --verify-tokens 256 --batch 8
step llama-1b 200 --shape llama1b --requests 2 --prompt-tokens 16 --max-tokens 8 \
  --verify-tokens 32 --batch 4
echo "device-check: done, exit $status"
exit "$status"
