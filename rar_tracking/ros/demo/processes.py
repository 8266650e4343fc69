"""The demo's child processes (``video_source`` and ``rar_tracker``): started with their logs
in files, stopped with SIGINT, then SIGTERM, then SIGKILL.

May import: the standard library and :mod:`.options`; no rclpy (the children are separate
Python processes started with ``python -m``).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from .options import DemoError, ros_value, source_parameters, tracker_parameters


def _parent_death_signal():
    """In the child: get SIGTERM when the demo dies without cleaning up (Linux only)."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Child:
    """A child process with its output in a log file; stopped with SIGINT, SIGTERM, SIGKILL."""

    def __init__(self, name: str, argv: list[str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f'{name}.log'
        self._log = open(self.log_path, 'wb')
        env = dict(os.environ, PYTHONUNBUFFERED='1', RCUTILS_COLORIZED_OUTPUT='0')
        self.argv = argv
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # a Ctrl-C in the terminal reaches only the demo
            preexec_fn=_parent_death_signal if sys.platform.startswith('linux') else None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        """The last lines of the log, after its error lines that come earlier."""
        try:
            text = self.log_path.read_text(errors='replace').splitlines()
        except OSError:
            return ''
        errors = [line for line in text[:-lines]
                  if any(key in line for key in ('FATAL', 'ERROR', 'error:'))][-5:]
        shown = errors + (['    ...'] if errors else []) + text[-lines:]
        return '\n'.join('    ' + line for line in shown)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGINT, then SIGTERM, then SIGKILL; returns the exit code."""
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if not self.alive():
                break
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        self._log.close()
        return self.proc.poll()


def child_commands(args: argparse.Namespace, namespace: str) -> list[tuple[str, list[str]]]:
    """(name, argv) of ``video_source`` and ``rar_tracker`` in ``namespace``, in start order."""
    remap = ['-r', f'__ns:={namespace}'] if namespace else []
    src = [sys.executable, '-m', 'rar_tracking.ros.video_source', '--ros-args', *remap]
    for k, v in source_parameters(args).items():
        src += ['-p', f'{k}:={ros_value(v)}']
    trk = [sys.executable, '-m', 'rar_tracking.node', '--ros-args', *remap]
    if args.params_file is not None:
        if not Path(args.params_file).is_file():
            raise DemoError(f'--params-file {args.params_file} does not exist')
        trk += ['--params-file', str(args.params_file)]
    for k, v in tracker_parameters(args).items():
        trk += ['-p', f'{k}:={ros_value(v)}']
    return [('video_source', src), ('rar_tracker', trk)]
