#!/usr/bin/env bash
# Issue 5 on a GPU machine: the CUDA test cases of the transplant kernels and API, then bench/transplant_kernels.py
# with --device cuda (donor-sized MiniLM case against mergekit's batch_omp, the 128k-target x 30k-atom x 4096-dim
# case, top-k cosine). Logs go to $OUT (or /tmp/device-out).
#
# What it needs beside the checkout (none of it committed):
#   .devcarry/_core.abi3.so              the built extension, stripped (strip -o .devcarry/_core.abi3.so
#                                        python/toksmith/_core.abi3.so: 5.5 MB instead of 40); abi3, so Python 3.12 loads it
#   .devcarry/minilm_emb.safetensors     PYTHONPATH=python python bench/transplant_kernels.py --save-embeddings FILE
#   .devcarry/split.json                 ... --save-split FILE (the real SmolLM2 <- MiniLM anchor / new-token ids)
#   .devcarry/mk/mergekit/tokensurgeon/  mergekit 0.1.5's omp.py and rope_helpers.py beside an empty __init__.py
#                                        (the package's own __init__ imports modules that need pydantic); optional
# Used with the device tool as:
#   run(command="bash bench/device_transplant.sh", carry=[".devcarry"])
set -u -o pipefail
[ -f python/toksmith/_core.abi3.so ] || cp .devcarry/_core.abi3.so python/toksmith/
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=python:.devcarry/mk HF_HUB_OFFLINE=1
PY=${PY:-python3}
step() { echo "== $(date -u +%H:%M:%S) $*"; }

step gpu
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | tee "$OUT/gpu.txt"
$PY -c "import torch, transformers, tokenizers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'tokenizers', tokenizers.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$OUT/gpu.txt"

step "pytest (CUDA cases of the kernels and the transplant API)"
timeout 180 $PY -m pytest -q -p no:cacheprovider tests/test_transplant_kernels.py tests/test_transplant.py \
    -k "cuda" 2>&1 | tee "$OUT/pytest.log"

E=.devcarry/minilm_emb.safetensors
step "donor case on the real split (the transplant's OMP) + top-k"
timeout 120 $PY bench/transplant_kernels.py --device cuda --embeddings $E --split .devcarry/split.json \
    --mergekit-batch 512 --also-gram-steps 12 --topk 2>&1 | tee "$OUT/donor.log"

step "4096 dims, 30k atoms: 8,192 and 131,072 targets; mergekit on 4,096 in batches of 512"
timeout 200 $PY bench/transplant_kernels.py --device cuda --no-donor --scaled --scaled-atoms 30000 \
    --scaled-targets 8192 131072 --scaled-mergekit-targets 4096 --mergekit-batch 512 2>&1 | tee "$OUT/scaled.log"

step "the same 131,072 targets with the old 1 GiB workspace"
timeout 150 $PY bench/transplant_kernels.py --device cuda --no-donor --no-mergekit --scaled --scaled-atoms 30000 \
    --scaled-targets 131072 --workspace-gib 1 2>&1 | tee "$OUT/scaled-1gib.log"
step done
