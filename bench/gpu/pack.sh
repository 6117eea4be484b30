#!/usr/bin/env bash
# Builds the GPU check's programs here and packs them for the GPU machine (issue 11, docs/gpu.md).
#   bench/gpu/pack.sh [BUILD_DIR=build] [OUT=.device]
# Then, in a session with a GPU: the device tool's run with carry [".device"] and the command
#   bash bench/gpu/check.sh
# OUT is added to this checkout's git exclude file (it must not be committed; it travels as a carried path).
set -euo pipefail
build=${1:-build}
out=${2:-.device}
root=$(git rev-parse --show-toplevel)
cd "$root"
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-/work} CCACHE_DIR=${CCACHE_DIR:-/work/.ccache}
targets=(engine_cuda_ops_test kernels_cuda_test reval-make-checkpoint reval-engine-dump)
cmake --build "$build" -j2 --target "${targets[@]}"
[ -f "$build/kernels/libreval_kernels_cuda.a" ] || { echo "pack: $build was configured without CUDA (no nvcc?)" >&2; exit 1; }
rm -rf "$out"
pack=${PACK_FOR_DEVICE:-$root/../shared/tools/pack-for-device.sh}
[ -x "$pack" ] || pack=/work/shared/tools/pack-for-device.sh
"$pack" "$out" "$build/tests/model/engine/engine_cuda_ops_test" "$build/tests/kernels/kernels_cuda_test" \
  "$build/bench/gpu/reval-make-checkpoint" "$build/bench/gpu/reval-engine-dump"
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx "/$out/" "$exclude" 2>/dev/null || echo "/$out/" >> "$exclude"
du -sh "$out"
size=$(du -sm "$out" | cut -f1)
[ "$size" -lt 60 ] || { echo "pack: $out is ${size} MiB, over the 64 MiB travel limit with the tree" >&2; exit 1; }
echo "pack: ready. Device call: command 'bash bench/gpu/check.sh', carry [\"$out\"], timeout_s 540"
