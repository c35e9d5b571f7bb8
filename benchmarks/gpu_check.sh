#!/usr/bin/env bash
# One-shot GPU check: every CUDA-only test, the training step of EDSR-baseline and RCAN in each
# speed mode, whole epochs from an HDF5 pack, and two GPUs against one when two are present;
# then one table. Finishes within 8 minutes by construction: every step runs under `timeout`
# with its own budget, capped by what is left of a 470-second deadline; a step that fails, times
# out or gets no time left is marked in the table and makes the script exit 1.
#
#   bash benchmarks/gpu_check.sh --prepare   # once, where the benchmark images are: copies the
#                                            # few it needs to .gpu/data (git-ignored)
#   bash benchmarks/gpu_check.sh             # on the GPU machine (carry .gpu along)
#   bash benchmarks/gpu_check.sh --cpu       # the same steps, tiny, on the CPU: checks this script
#
# PYTHON selects the interpreter (default: .venv/bin/python if present, else python3).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
GPU_DATA="$REPO/.gpu/data"
DEADLINE=470
MODE="gpu"
case "${1:-}" in
  --prepare) MODE="prepare" ;;
  --cpu) MODE="cpu" ;;
  "") ;;
  *) echo "usage: bash benchmarks/gpu_check.sh [--prepare | --cpu]" >&2; exit 2 ;;
esac

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON="python3"; fi
fi

if [[ "$MODE" == "prepare" ]]; then
  SOURCE="${RUMPY_TEST_DATA:-$REPO/../shared/data}"
  [[ -d "$SOURCE/Set5/HR" ]] || { echo "gpu_check: no benchmark images at $SOURCE; set RUMPY_TEST_DATA" >&2; exit 2; }
  rm -rf "$GPU_DATA"
  mkdir -p "$GPU_DATA/Set5/HR" "$GPU_DATA/Set14/HR" "$GPU_DATA/train/HR"
  cp "$SOURCE"/Set5/HR/*.png "$GPU_DATA/Set5/HR/"
  cp "$SOURCE"/Set14/HR/{bridge,lenna}.png "$GPU_DATA/Set14/HR/"
  cp "$SOURCE"/train/HR/*.png "$GPU_DATA/train/HR/"
  echo "gpu_check: copied $(find "$GPU_DATA" -name '*.png' | wc -l) images ($(du -sh "$GPU_DATA" | cut -f1)) to $GPU_DATA"
  exit 0
fi

[[ -d "$GPU_DATA/Set5/HR" ]] || { echo "gpu_check: $GPU_DATA is missing; run 'bash benchmarks/gpu_check.sh --prepare' first" >&2; exit 2; }
export RUMPY_TEST_DATA="$GPU_DATA"
LOGS="$(mktemp -d /tmp/gpu_check.XXXXXX)"
START=$SECONDS
ROWS=()
FAILED=0

if [[ "$MODE" == "gpu" ]]; then
  GPUS="$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)' 2>"$LOGS/probe.err")"
  if [[ -z "$GPUS" || "$GPUS" == "0" ]]; then
    echo "gpu_check: FAILED: $PYTHON sees no CUDA GPU ($(tail -1 "$LOGS/probe.err"))" >&2
    exit 1
  fi
  DEVICE="cuda"
else
  GPUS=0
  DEVICE="cpu"
fi
echo "gpu_check: $MODE mode, $GPUS GPU(s), $($PYTHON -c 'import torch; print("torch", torch.__version__)'), logs in $LOGS"

# step NAME BUDGET COMMAND...: run COMMAND under the smaller of BUDGET and the time left, its output
# in LOG; sets STATUS ("ok, N s", "TIMEOUT ...", "FAILED ...", "SKIPPED ...")
step() {
  local name="$1" budget="$2"
  shift 2
  local left=$((DEADLINE - (SECONDS - START)))
  local limit=$((budget < left ? budget : left))
  local log="$LOGS/${name//[^A-Za-z0-9_.-]/_}.log"
  LOG="$log"
  if ((limit < 10)); then
    STATUS="SKIPPED: no time left"
    : >"$log"
    FAILED=1
    return 1
  fi
  local began=$SECONDS
  timeout --kill-after=5 "$limit" "$@" >"$log" 2>&1
  local rc=$?
  local took=$((SECONDS - began))
  if ((rc == 124 || rc == 137)); then
    STATUS="TIMEOUT after ${limit} s"
  elif ((rc != 0)); then
    STATUS="FAILED (exit $rc): $(grep -v '^\s*$' "$log" | tail -1 | cut -c1-150)"
  else
    STATUS="ok, ${took} s"
  fi
  if [[ "$STATUS" != ok* ]]; then FAILED=1; return 1; fi
  return 0
}

# --- the CUDA-only tests (rumpycore.testing marks them gpu; on the CPU all are skipped)
step "CUDA-only tests" 150 "$PYTHON" -m pytest -q -rs -p no:cacheprovider tests plugins -m gpu
SUMMARY="$(grep -E '[0-9]+ (passed|failed|skipped|deselected)' "$LOG" | tail -1)"
ROWS+=("| CUDA-only tests (pytest -m gpu) | $STATUS | $SUMMARY |")
if [[ "$MODE" == "cpu" ]] && grep -qE '[0-9]+ passed' "$LOG"; then
  ROWS+=("| CUDA-only tests | FAILED: tests that ran without a GPU were selected | |")
  FAILED=1
fi
if [[ "$MODE" == "gpu" ]] && ! grep -qE '[0-9]+ passed' "$LOG"; then
  ROWS+=("| CUDA-only tests | FAILED: none ran on the GPU | |")
  FAILED=1
fi

# --- whole epochs from an HDF5 pack, data wait share (goal: EDSR-baseline >= 150 it/s, wait < 5%)
if [[ "$MODE" == "gpu" ]]; then
  E2E=(--device cuda --model edsr-baseline --repeat 40 --epochs 2 --sets train --formats hdf5 --cache false)
else
  E2E=(--device cpu --model edsr-reduced --batch 4 --patch 16 --repeat 1 --epochs 1 --sets train --formats hdf5)
fi
step "end to end, HDF5 pack" 90 "$PYTHON" benchmarks/end_to_end.py "${E2E[@]}"
ROW="$(grep -E '^\| train \| hdf5 \|' "$LOG" | tail -1)"
ROWS+=("| end_to_end.py ${E2E[3]}, HDF5 pack, $DEVICE | $STATUS | set, format, it/s, wait, data share: ${ROW:-none} |")

# --- the training step: rumpy against a hand-written loop, per speed mode (goals: RCAN >= 12 it/s)
if [[ "$MODE" == "gpu" ]]; then
  MODELS=(edsr-baseline rcan)
  VARIANTS=("fp32:--precision fp32" "tf32:--precision tf32" "bf16+channels_last:--precision bf16 --channels-last"
            "compile (bf16, channels_last):--precision bf16 --channels-last --compile"
            "CUDA graph (bf16, channels_last):--precision bf16 --channels-last --cuda-graph")
  STEP_ARGS=(--device cuda --batch 16 --patch 48 --iters 20 --blocks 3)
else
  MODELS=(edsr-reduced)
  VARIANTS=("fp32:--precision fp32" "bf16+channels_last:--precision bf16 --channels-last")
  STEP_ARGS=(--device cpu --batch 2 --patch 16 --iters 1 --blocks 1)
fi
for model in "${MODELS[@]}"; do
  for variant in "${VARIANTS[@]}"; do
    label="${variant%%:*}"
    read -r -a flags <<<"${variant#*:}"
    budget=35
    [[ "$label" == compile* ]] && budget=75
    step "train_step $model $label" "$budget" "$PYTHON" benchmarks/train_step.py --model "$model" "${STEP_ARGS[@]}" "${flags[@]}"
    ROW="$(grep -E '^\| 1 \| rumpy \|' "$LOG" | tail -1 | awk -F'|' '{printf "%s it/s (%s ms), rumpy/hand %s, peak %s MiB", $5, $4, $7, $6}')"
    ROWS+=("| train_step.py $model $label | $STATUS | ${ROW:-none} |")
  done
done

# --- two GPUs against one (same global batch), only when two are present
if ((GPUS >= 2)); then
  DDP=(--device cuda --model edsr-baseline --repeat 40 --epochs 2 --sets train --formats hdf5 --cache false)
  step "end to end, 2 GPUs" 75 "$PYTHON" benchmarks/end_to_end.py "${DDP[@]}" --gpu multiple
  ROW="$(grep -E '^\| train \| hdf5 \|' "$LOG" | tail -1)"
  ROWS+=("| end_to_end.py EDSR-baseline, HDF5 pack, 2 GPUs (DDP) | $STATUS | ${ROW:-none} |")
else
  ROWS+=("| two GPUs against one | not run: $GPUS GPU(s) | |")
fi

echo
echo "## GPU check: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo "$MODE"), $((SECONDS - START)) s"
echo
echo "| step | result | numbers |"
echo "|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "logs: $LOGS"
if ((FAILED)); then
  echo "gpu_check: FAILED: a step above failed, timed out or was skipped" >&2
  exit 1
fi
