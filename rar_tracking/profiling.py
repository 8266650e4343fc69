"""Wall-clock time per named section of the tracker's work, for ``benchmark --profile``.

May import: torch only. The tracker holds a :class:`SectionTimer` that is off by default (a
``with`` on a disabled timer costs well under a microsecond); the benchmark switches it on and
reads the medians. On CUDA each section ends with a synchronisation so that the time is the
section's own, which slows the tracker a little: profile figures are for finding where the
time goes, the plain benchmark's for how fast it is.
"""
from __future__ import annotations

import contextlib
import statistics
import time
from collections import defaultdict

import torch


class SectionTimer:
    """Accumulates the milliseconds spent in each named section, in first-seen order."""

    def __init__(self, enabled: bool = False, device: torch.device | None = None):
        self.enabled = enabled
        self.device = device
        self.samples: dict[str, list[float]] = defaultdict(list)

    def sync(self) -> None:
        if self.device is not None and self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def section(self, name: str):
        if not self.enabled:
            yield
            return
        self.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.sync()
            self.samples[name].append((time.perf_counter() - start) * 1e3)

    def add(self, name: str, ms: float) -> None:
        if self.enabled:
            self.samples[name].append(ms)

    def clear(self) -> None:
        self.samples.clear()

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(v) for name, v in self.samples.items() if v}


def time_trunk_stages(trunk: torch.nn.Module, timer: SectionTimer) -> list:
    """Forward hooks that add each trunk stage's time to ``timer`` as 'trunk <stage>'.

    Uses ``trunk.stage_ends()``: (name, module whose output ends the stage) in order; the first
    stage starts when the trunk's forward starts. Returns the hook handles (``.remove()``).
    """
    clock = {'t': 0.0}

    def start(_module, _inputs):
        timer.sync()
        clock['t'] = time.perf_counter()

    def make_end(name):
        def end(_module, _inputs, _output):
            timer.sync()
            now = time.perf_counter()
            timer.add(f'trunk {name}', (now - clock['t']) * 1e3)
            clock['t'] = now
        return end

    handles = [trunk.register_forward_pre_hook(start)]
    for name, module in trunk.stage_ends():
        handles.append(module.register_forward_hook(make_end(name)))
    return handles


def time_modules(groups: dict[str, list[torch.nn.Module]], timer: SectionTimer) -> list:
    """Forward hooks that add the time of every module of each group to ``timer`` under the
    group's name (summed per call by the reader). Returns the hook handles (``.remove()``)."""
    handles = []
    for name, modules in groups.items():
        for module in modules:
            clock = {}

            def pre(_module, _inputs, clock=clock):
                timer.sync()
                clock['t'] = time.perf_counter()

            def post(_module, _inputs, _output, clock=clock, name=name):
                timer.sync()
                timer.add(name, (time.perf_counter() - clock['t']) * 1e3)
            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    return handles
