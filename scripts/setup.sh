#!/usr/bin/env bash
# One-command setup of the local, git-ignored environment (.venv) for machines
# without /opt/ros: ROS 2 Kilted wheels from PyPI, PyTorch, OpenCV; builds the
# rar_tracking_msgs interfaces into the venv and installs rar_tracking (editable).
# Idempotent: each step keeps a stamp (a hash of its inputs) and is skipped when
# its inputs did not change. On a robot with a sourced /opt/ros, use colcon instead
# (see README).
# RAR_VENV=/path puts the venv there, and the CMake build folder under it ($RAR_VENV/build,
# not the checkout's build/), so that several venvs can be set up from one checkout.
# `scripts/setup.sh --print-paths` prints the venv and build folders and exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RAR_VENV:-$ROOT/.venv}"
PYTHON="${RAR_PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
STAMPS="$VENV/.rar_stamps"
if [ -n "${RAR_VENV:-}" ]; then BUILD="$VENV/build"; else BUILD="$ROOT/build"; fi
if [ "${1:-}" = "--print-paths" ]; then
  printf 'venv=%s\nbuild=%s\n' "$VENV" "$BUILD"
  exit 0
fi

say() { printf '[setup] %s\n' "$*"; }
hash_of() { (cd "$ROOT" && cat "$@" | sha256sum | cut -d' ' -f1); }
done_already() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
mark_done() { mkdir -p "$STAMPS"; printf '%s' "$2" > "$STAMPS/$1"; }

start=$(date +%s)

# 1. The virtual environment and the Python packages.
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
req_hash=$(hash_of requirements.txt)
if ! done_already requirements "$req_hash"; then
  say "installing requirements.txt (PyTorch is large: about a minute from local files)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$ROOT/requirements.txt" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  mark_done requirements "$req_hash"
else
  say "requirements: up to date"
fi

# 2. The interface package, built with CMake against the wheels and installed
#    into the venv prefix (its libraries land in $VENV/lib, which the ROS wheels'
#    bootstrapper already puts on LD_LIBRARY_PATH; its Python module in site-packages).
msgs_hash=$(cd "$ROOT" && find rar_tracking_msgs -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)
if ! done_already msgs "$msgs_hash"; then
  say "building rar_tracking_msgs"
  build="$BUILD/rar_tracking_msgs"
  rm -rf "$build" && mkdir -p "$build"
  (
    export AMENT_PREFIX_PATH="$VENV" VIRTUAL_ENV="$VENV"
    cd "$build"
    cmake "$ROOT/rar_tracking_msgs" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
      -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF > cmake.log 2>&1 \
      || { cat cmake.log; exit 1; }
    make -j"$(nproc)" > make.log 2>&1 || { tail -50 make.log; exit 1; }
    make install > install.log 2>&1 || { tail -50 install.log; exit 1; }
  )
  mark_done msgs "$msgs_hash"
else
  say "rar_tracking_msgs: up to date"
fi

# 3. rar_tracking itself, editable, so that console scripts and the ament index
#    entries exist while the sources stay in the repository.
pkg_hash=$(hash_of setup.py package.xml setup.cfg)
if ! done_already package "$pkg_hash"; then
  say "installing rar_tracking (editable)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
      --no-build-isolation -e "$ROOT" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  mark_done package "$pkg_hash"
else
  say "rar_tracking: up to date"
fi

# 4. The layout colcon gives an installed ament_python package, which pip's editable install
#    does not: the ament index entry; share/rar_tracking/{launch,config} as real folders of
#    per-file links into the checkout (ros2 launch does not follow a linked folder; edits stay
#    live); the console scripts in lib/rar_tracking, where ros2 run and launch_ros look.
share="$VENV/share/rar_tracking"
mkdir -p "$VENV/share/ament_index/resource_index/packages" "$share"
touch "$VENV/share/ament_index/resource_index/packages/rar_tracking"
ln -sfn "$ROOT/package.xml" "$share/package.xml"
link_files() {  # link_files FOLDER PATTERN...: $share/FOLDER/<file> -> $ROOT/FOLDER/<file>
  local folder="$1" target="$share/$1" pattern file; shift
  [ -L "$target" ] && rm -f "$target"        # the folder link of earlier setups
  mkdir -p "$target"
  find "$target" -maxdepth 1 -type l -delete  # drop links to files that are gone
  for pattern in "$@"; do
    for file in "$ROOT/$folder"/$pattern; do
      [ -f "$file" ] && ln -sfn "$file" "$target/$(basename "$file")"
    done
  done
}
link_files launch '*.launch.py'
link_files config '*.yaml' '*.rviz'
lib="$VENV/lib/rar_tracking"
mkdir -p "$lib"
find "$lib" -maxdepth 1 -type l -delete
for script in $("$VENV/bin/python" - <<'PY'
from importlib.metadata import distribution
print(' '.join(e.name for e in distribution('rar_tracking').entry_points
               if e.group == 'console_scripts'))
PY
); do
  ln -sfn "$VENV/bin/$script" "$lib/$script"
done

say "ready in $(( $(date +%s) - start )) s: source scripts/env.sh, or use $VENV/bin/python"
