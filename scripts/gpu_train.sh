#!/usr/bin/env bash
# Train the heads of several profiles at once on one GPU, on packed real training data.
#   scripts/gpu_train.sh OUT_DIR DATA_DIR [PROFILE ...]      (default profiles: full balanced fast)
# DATA_DIR: the training sequences made by python -m rar_tracking.train.pack (the 29 training
# sequences of ../shared/data/train, validation ones excluded); validation during training
# uses the generated clips of config/train_heads.yaml only (the real validation sequences are
# judged afterwards by tracking them, python -m rar_tracking.eval).
# Every run is config/train_heads.yaml with its profile and the settings of the CPU runs of
# docs/training.md (8 epochs of 1500 clips, batch 8), without the feature cache (on a GPU the
# trunk is cheap and every epoch draws new clips). The runs share the GPU; each gets WORKERS
# data workers (default 4). OUT_DIR receives the light part of each run folder (config,
# metrics, summary, exported weights, the command and its log; checkpoints stay) as
# <profile>.tgz.aa, .ab, ... (parts of at most 15 MiB: the device tool returns at most 8 files
# of 16 MiB); unpack with  cat OUT_DIR/<profile>.tgz.* | tar xzf - -C runs/NAME
# Environment: PYTHON (default python3), DEVICE (default cuda), EXTRA (more --set options for
# every run), MAX_STEPS (stop early, for a dry run), LIMIT (seconds per run, default 540).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT_DIR=${1:?usage: scripts/gpu_train.sh OUT_DIR DATA_DIR [PROFILE ...]}
DATA_DIR=$(realpath "${2:?usage: scripts/gpu_train.sh OUT_DIR DATA_DIR [PROFILE ...]}")
shift 2
PROFILES=("$@")
[ ${#PROFILES[@]} -eq 0 ] && PROFILES=(full balanced fast)
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-4}
LIMIT=${LIMIT:-540}
export PYTHONUNBUFFERED=1 PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT_DIR"
runs=$(mktemp -d)
pids=()
for p in "${PROFILES[@]}"; do
  cmd=("$PY" -m rar_tracking.train --config config/train_heads.yaml --out "$runs/$p"
       --device "$DEVICE" --quiet --set tracker.profile="$p"
       --set "data.train=[{kind: benchmark, path: '$DATA_DIR', weight: 3.0},
              {kind: synthetic, count: 48, num_frames: 60, size: [320, 240], seed: 1000, weight: 1.0}]"
       --set "data.val=[{kind: synthetic, count: 12, num_frames: 60, size: [320, 240], seed: 2000}]"
       --set optim.epochs=8 --set optim.samples_per_epoch=1500 --set optim.batch_size=8
       --set runtime.num_workers="$WORKERS" --set runtime.val_samples=96
       --set runtime.log_every=25 ${MAX_STEPS:+--max-steps "$MAX_STEPS"} ${EXTRA:-})
  mkdir -p "$runs/$p"
  printf '%q ' "${cmd[@]}" > "$runs/$p.command.txt"
  echo "== $p: started $(date -u +%T)"
  timeout "$LIMIT" "${cmd[@]}" > "$runs/$p.train.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!PROFILES[@]}"; do
  p=${PROFILES[$i]}
  wait "${pids[$i]}"; rc=$?
  echo "== $p: exit $rc $(date -u +%T)"
  [ $rc -ne 0 ] && status=1
  tail -n 3 "$runs/$p.train.log"
  [ -f "$runs/$p/command.txt" ] || cp "$runs/$p.command.txt" "$runs/$p/command.txt"
  cp "$runs/$p.train.log" "$runs/$p/train.log"
  files=()
  for f in config.yaml metrics.jsonl summary.json rar_weights.safetensors command.txt train.log; do
    [ -f "$runs/$p/$f" ] && files+=("$f")
  done
  tar czf - -C "$runs/$p" "${files[@]}" | split -b 15M - "$OUT_DIR/$p.tgz."
done
nvidia-smi --query-gpu=name,memory.used --format=csv 2>/dev/null || true
exit $status
