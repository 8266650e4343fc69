#!/usr/bin/env bash
# Build a TensorRT engine (fp16) from an ONNX file of python -m rar_tracking.export, with one
# optimisation profile for 1 (initialize), 3 (the scales) and up to 9 (the LOST grid) crops.
#
#   scripts/build_trt_engine.sh MODEL.onnx [ENGINE.plan] [extra trtexec options...]
#
# Needs trtexec (TensorRT; on a Jetson: /usr/src/tensorrt/bin/trtexec from JetPack) and python3
# with the onnx package to read the crop size from the file (or set CROP=<side>). trtexec also
# prints the engine's latency for batch 3 (the opt shape). The tracker itself does not read the
# .plan file: with device cuda and backend onnxruntime it loads the ONNX file through ONNX
# Runtime's TensorRT provider, which builds and caches its own engine (see docs/backends.md).
# This script has not been run on the machine it was written on (no GPU, no TensorRT there).
set -euo pipefail

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
onnx_file=$1
engine=${2:-${onnx_file%.onnx}.fp16.plan}
shift $(( $# >= 2 ? 2 : 1 ))
[[ -f "$onnx_file" ]] || { echo "error: $onnx_file does not exist" >&2; exit 1; }

trtexec=${TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}
[[ -x "$trtexec" ]] || { echo "error: trtexec not found (set TRTEXEC=/path/to/trtexec)" >&2; exit 1; }

if [[ -z "${CROP:-}" ]]; then
    CROP=$(python3 - "$onnx_file" <<'EOF'
import sys
import onnx
model = onnx.load(sys.argv[1], load_external_data=False)
meta = {p.key: p.value for p in model.metadata_props}
if meta.get('format', '').split('/')[0] != 'rar_tracking.frame_net':
    sys.exit(f'{sys.argv[1]}: not an ONNX file of python -m rar_tracking.export')
print(meta['crop_size'])
EOF
    ) || { echo "error: cannot read the crop size from $onnx_file (set CROP=<side>)" >&2; exit 1; }
fi

shape="3x${CROP}x${CROP}"
set -x
"$trtexec" --onnx="$onnx_file" --saveEngine="$engine" --fp16 \
    --minShapes="crops:1x${shape}" --optShapes="crops:3x${shape}" --maxShapes="crops:9x${shape}" \
    "$@"
