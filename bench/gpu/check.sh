#!/usr/bin/env bash
# The GPU check of issue 11, in one device call (< 8 minutes on an H200): run in the repository root on the GPU
# machine, with the programs packed by bench/gpu/pack.sh in .device (carried). docs/gpu.md says how and what.
#   1. gpu tests: CudaOps vs CpuOps op by op on odd sizes, paged attention, sampling chi-square, tiny checkpoints
#      (logits within bf16 tolerance, 16 greedy tokens equal to the CPU engine), memory plan; the fp32 CUDA kernels.
#   2. a random-weight DeepSeek-R1-Distill-Qwen-1.5B-shaped checkpoint written on the machine (3.5 GB, no download)
#   3. bench/gpu/hf_compare.py: first-step logits and 32 greedy steps against transformers fp32/bf16, same GPU
#   4. a first timing: fixed-length generation, prompt 128, 512 new tokens, batch 1, 64, 256
# Each step has its own time limit; the log goes to $OUT/check.log; the summary table is printed last.
set -uo pipefail
D=${D:-.device}
OUT=${OUT:-/tmp/reval-gpu-check}
WORK=${WORK:-/tmp/reval-gpu-work}
mkdir -p "$OUT" "$WORK"
log=$OUT/check.log
: > "$log"
declare -a summary
step() {  # step NAME LIMIT_S COMMAND...
  local name=$1 limit=$2; shift 2
  echo "==== $name (limit ${limit}s)" | tee -a "$log"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  local dt=$((SECONDS - t0))
  local verdict=ok; [ "$rc" -eq 0 ] || verdict="FAILED (rc $rc)"; [ "$rc" -eq 124 ] && verdict="TIMED OUT"
  summary+=("| $name | $verdict | ${dt}s |")
}
# The CUDA libraries are not packed (the machine's own match its driver): find them if the loader does not.
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
  if ! ldconfig -p 2>/dev/null | grep -q "$lib" && [ ! -e "/usr/local/cuda/lib64/$lib" ]; then
    dir=$(find /usr/local /opt -name "$lib" 2>/dev/null | head -1 | xargs -r dirname)
    [ -n "$dir" ] && export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" && echo "check: $lib from $dir"
  fi
done
[ -x "$D/run" ] || { echo "check: $D/run missing: run bench/gpu/pack.sh here and carry $D" >&2; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv 2>&1 | tee -a "$log"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.version.cuda)" 2>&1 | tee -a "$log"

export GTEST_COLOR=no REVAL_REQUIRE_GPU=1  # the gpu tests fail instead of skipping without a device
step "gpu tests: CudaOps vs CpuOps, tiny checkpoints, sampling" 120 \
  "$D/run" engine_cuda_ops_test --gtest_output=json:"$OUT/engine_cuda_ops_test.json"
step "gpu tests: fp32 CUDA kernels" 30 "$D/run" kernels_cuda_test
step "random R1-Distill-Qwen-1.5B checkpoint" 60 \
  "$D/run" reval-make-checkpoint --preset "${PRESET:-r1-distill-qwen-1.5b}" --out "$WORK/r1-1.5b"
step "HF transformers comparison (logits + 32 greedy steps)" 150 \
  env PYTHONUNBUFFERED=1 python3 bench/gpu/hf_compare.py --model "$WORK/r1-1.5b" --dump "$D/run reval-engine-dump" \
  --work "$WORK/hf" --steps 32
cp -f "$WORK/hf/hf_compare.json" "$OUT/" 2>/dev/null || true
step "first timing (1.5B shape, prompt 128, 512 new, greedy, EOS ignored)" 90 \
  "$D/run" reval-engine-dump --model "$WORK/r1-1.5b" --device cuda --bench 1,64,256 --prompt-len 128 --new 512

echo
echo "| step | result | time |"
echo "|---|---|---|"
printf '%s\n' "${summary[@]}"
grep -h "^| [0-9]" "$log" | tail -8
for s in "${summary[@]}"; do [[ "$s" == *"| ok |"* ]] || exit 1; done
exit 0
