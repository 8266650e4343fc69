#!/usr/bin/env bash
# The demo: sets up the environment when needed (idempotent), then runs the RAR tracker
# node on a generated scene (or --video PATH / --images DIR / --sequence NAME), sets the
# target through its ~/set_target service, and writes demo_output/ (annotated video,
# summary.json, tracks.csv, logs). Arguments go to python -m rar_tracking.ros.demo; see --help.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
# Stay on this host unless told otherwise: the demo's processes only talk to each other.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
exec python -m rar_tracking.ros.demo "$@"
