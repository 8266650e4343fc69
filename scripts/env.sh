# Source this file to use the venv of scripts/setup.sh in a shell:
#   source scripts/env.sh
# It activates the venv and exports what ROS 2 from wheels needs, so that
# processes spawned from this shell (nodes, launch) find the libraries too.
_rar_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_rar_venv="${RAR_VENV:-$_rar_root/.venv}"
# shellcheck disable=SC1091
source "$_rar_venv/bin/activate"
_rar_libs="$_rar_venv/lib"
for _d in "$_rar_venv"/lib/python3*/site-packages/ros_*.libs; do _rar_libs="$_rar_libs:$_d"; done
export LD_LIBRARY_PATH="$_rar_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export AMENT_PREFIX_PATH="$_rar_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
unset _rar_root _rar_venv _rar_libs _d
