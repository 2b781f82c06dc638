#!/usr/bin/env bash
# The accelerator figures of docs/benchmark.md ("On a GPU") in one run, for a machine that has a
# CUDA torch but none of hrnet-train's pure-Python dependencies and no network.
#
#   bash tools/analysis/gpu_check.sh fetch   # here, with network: the wheels into .whl/ (ignored)
#   bash tools/analysis/gpu_check.sh run     # there, .whl/ carried along: results under $OUT
#
# `run` installs .whl/*.whl into /tmp/site (when .whl/ exists), then writes device.txt, gpu.json
# and gpu.log (benchmark.py --device cuda: pose W32 / seg W48 / det W32 training img/s and peak
# memory, fp32 and bf16 + channels_last, pose also compiled) and loader.json / loader.log (the
# COCO training loader's samples/s with 0, 4, 8 and 16 workers) under $OUT (default
# work_dirs/gpu_check). GPU_CHECK_DEVICE=cpu and GPU_CHECK_ARGS='--quick --no-compile' try it
# on a machine without CUDA.
set -euo pipefail
cd "$(dirname "$0")/../.."

case "${1:-}" in
fetch)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl \
        mmengine==0.10.7 mmcv-lite==2.2.0 pycocotools==2.0.11 yacs==0.1.8 addict==2.4.0 \
        termcolor==3.3.0 yapf==0.43.0 platformdirs==4.14.9
    ls .whl
    ;;
run)
    out=${OUT:-work_dirs/gpu_check}
    mkdir -p "$out"
    if [ -d .whl ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    fi
    export PYTHONUNBUFFERED=1
    device=${GPU_CHECK_DEVICE:-cuda}
    { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
      nproc
      python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
    } | tee "$out/device.txt"
    # shellcheck disable=SC2086  # GPU_CHECK_ARGS is a list of options
    python3 tools/analysis/benchmark.py --device "$device" ${GPU_CHECK_ARGS:-} \
        --out "$out/gpu.json" 2>&1 | tee "$out/gpu.log"
    python3 tools/analysis/benchmark.py --loader --workers "${GPU_CHECK_WORKERS:-0,4,8,16}" \
        --out "$out/loader.json" 2>&1 | tee "$out/loader.log"
    ;;
*)
    echo "usage: bash tools/analysis/gpu_check.sh fetch|run" >&2
    exit 2
    ;;
esac
