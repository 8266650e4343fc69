# Source this file to use the venv of scripts/setup.sh in a shell:
#   source scripts/env.sh
# It activates the venv and exports what ROS 2 from wheels needs, so that
# processes spawned from this shell (nodes, launch) find the libraries too.
# RAR_VENV selects another venv (as for scripts/setup.sh). Sourcing it twice changes nothing.
_rar_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_rar_venv="${RAR_VENV:-$_rar_root/.venv}"
# shellcheck disable=SC1091
source "$_rar_venv/bin/activate"
_rar_libs="$_rar_venv/lib"
for _d in "$_rar_venv"/lib/python3*/site-packages/ros_*.libs; do _rar_libs="$_rar_libs:$_d"; done
case ":${LD_LIBRARY_PATH:-}:" in
  *":$_rar_venv/lib:"*) ;;
  *) export LD_LIBRARY_PATH="$_rar_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
esac
# The venv goes last: an install space (install/setup.bash, /opt/ros) sourced before this
# file keeps its place, so `ros2 run` / `ros2 launch` still find its packages first.
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$_rar_venv:"*) ;;
  "::") export AMENT_PREFIX_PATH="$_rar_venv" ;;
  *) export AMENT_PREFIX_PATH="$AMENT_PREFIX_PATH:$_rar_venv" ;;
esac
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
unset _rar_root _rar_venv _rar_libs _d
