"""The node under test as a child process: start, resident memory, stderr, signals, exit.

Every phase of the stress tool starts its node through :class:`NodeProcess`, in a namespace
of its own, so that a crash or a hang in one phase is seen as such and does not hide the
others.
"""
from __future__ import annotations

import itertools
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

#: What ``--node-cmd`` defaults to: this package's node with the fast test parameters.
DEFAULT_NODE_CMD = (f'{shlex.quote(sys.executable)} -m rar_tracking.node --ros-args '
                    '-p trunk:=efficientnet_lite0 -p profile:=fast -p crop_size:=129 '
                    '-p device:=cpu -p cpu_threads:=1')

#: Lines in the node's stderr that mean something went wrong in it.
BAD_LINES = ('Traceback (most recent call last)', 'Failed to publish log message to rosout',
             'Segmentation fault', 'core dumped')

_numbers = itertools.count(1)


class NodeProcess:
    """One ``rar_tracker`` process in its own namespace; stderr is collected as it comes.

    Args:
        node_cmd: the command line (a string, split like a shell does).
        params: extra ``-p name:=value`` parameters (appended in a ``--ros-args`` section).
        tag: a word in the namespace, to tell the phases apart.
    """

    def __init__(self, node_cmd: str, params: dict | None = None, tag: str = 'node'):
        self.namespace = f'/rar_stress_{os.getpid()}_{tag}_{next(_numbers)}'
        cmd = shlex.split(node_cmd) + ['--ros-args', '-r', f'__ns:={self.namespace}']
        for key, value in (params or {}).items():
            cmd += ['-p', f'{key}:={value}']
        self.cmd = cmd
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors='replace',
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True, name='node-stderr')
        self._reader.start()
        self.exit_code: int | None = None
        self.exit_s: float | None = None  # seconds from the signal to the exit

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._lock:
                if len(self.lines) < 200_000:
                    self.lines.append(line.rstrip('\n'))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_mib(self) -> float | None:
        """Resident memory of the process (VmRSS), MiB; None once it has exited."""
        try:
            with open(f'/proc/{self.proc.pid}/status') as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None

    def thread_times(self) -> dict[str, list[float]]:
        """Per thread name (the node names its own: ros/thread_names.py): [seconds on a
        CPU, seconds runnable but waiting for a CPU, threads], summed over the threads of
        that name, from /proc/<pid>/task/*/schedstat; empty once the process has exited."""
        out: dict[str, list[float]] = {}
        try:
            tids = os.listdir(f'/proc/{self.proc.pid}/task')
        except OSError:
            return out
        for tid in tids:
            try:
                with open(f'/proc/{self.proc.pid}/task/{tid}/comm') as f:
                    name = f.read().strip()
                with open(f'/proc/{self.proc.pid}/task/{tid}/schedstat') as f:
                    on_cpu, waiting = (int(v) / 1e9 for v in f.read().split()[:2])
            except (OSError, ValueError):
                continue  # the thread ended meanwhile
            row = out.setdefault(name, [0.0, 0.0, 0])
            row[0] += on_cpu
            row[1] += waiting
            row[2] += 1
        return out

    def stderr(self) -> str:
        with self._lock:
            return '\n'.join(self.lines)

    def count_lines(self, words: str) -> int:
        with self._lock:
            return sum(words in line for line in self.lines)

    def bad_lines(self) -> list[str]:
        with self._lock:
            return [line for line in self.lines if any(b in line for b in BAD_LINES)]

    def wait_line(self, words: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count_lines(words):
                return True
            if not self.alive():
                return bool(self.count_lines(words))
            time.sleep(0.05)
        return False

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> tuple[int | None, float]:
        """Send ``sig`` and wait for the exit; returns (exit code, seconds). Kills at timeout."""
        if not self.alive():
            self.exit_code = self.proc.returncode
            self.exit_s = 0.0
            return self.exit_code, 0.0
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.exit_s = time.monotonic() - t0
        self.exit_code = self.proc.returncode
        self._reader.join(timeout=2.0)
        return self.exit_code, self.exit_s

    def wait_exit(self, timeout: float) -> int | None:
        """Wait for the process to end by itself (e.g. a refused start); None if it did not."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=2.0)
        self.exit_code = code
        return code

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()


def signal_name(sig: int) -> str:
    return signal.Signals(sig).name
