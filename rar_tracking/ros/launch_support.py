"""Helpers the launch files call: is an optional executable (rviz2) installed, and the typed
node-parameter overrides that non-empty launch arguments give.

Kept out of the launch files so that they can be tested without ``launch`` (not on PyPI) and
so that a missing optional tool is found before anything starts: a launch that fails while
resolving rviz2 would stop after the tracker process started and leave it running.
May import: the standard library; ament_index_python lazily (no launch, no rclpy).
"""
from __future__ import annotations

import os
from pathlib import Path

# Node parameters a launch argument may set, with the type the node declares them with.
# An empty argument keeps the params file's value.
OVERRIDE_TYPES = {
    'device': str,
    'trunk': str,
    'weights': str,
    'profile': str,
    'backend': str,
    'onnx_model': str,
    'use_compressed': bool,
    'crop_size': int,
    'cpu_threads': int,
}


def package_executable(package: str, executable: str) -> tuple[str | None, str]:
    """``(path, '')`` of ``<prefix>/lib/<package>/<executable>`` as ``ros2 run`` finds it, or
    ``(None, reason)`` when the package or the executable is not installed."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        return None, 'ament_index_python is not installed'
    try:
        prefix = get_package_prefix(package)
    except PackageNotFoundError:
        searched = os.environ.get('AMENT_PREFIX_PATH', '') or '(AMENT_PREFIX_PATH is empty)'
        return None, f'package {package!r} is not installed (searched {searched})'
    path = Path(prefix) / 'lib' / package / executable
    if not (path.is_file() and os.access(path, os.X_OK)):
        return None, f'{path} is not an executable file'
    return str(path), ''


def parse_override(name: str, text: str):
    """The value of a non-empty launch argument ``name`` as the node parameter's type, or None
    for an empty argument. Raises ValueError with the argument's name on a bad value."""
    text = text.strip()
    if not text:
        return None
    kind = OVERRIDE_TYPES[name]
    if kind is bool:
        lowered = text.lower()
        if lowered not in ('true', 'false'):
            raise ValueError(f"launch argument {name}: expected 'true' or 'false', got {text!r}")
        return lowered == 'true'
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f'launch argument {name}: expected an integer, got {text!r}') \
                from None
    return text
