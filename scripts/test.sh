#!/usr/bin/env bash
# Runs the whole test suite; does the setup first when needed (idempotent).
# Extra arguments go to pytest, e.g. scripts/test.sh -k correlation
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# A private ROS domain per run, so that parallel runs on one host do not talk.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( RANDOM % 90 + 10 ))}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
exec python -m pytest "$@"
