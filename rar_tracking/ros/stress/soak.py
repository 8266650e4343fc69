"""Soak phase: a 640x480 camera at 30 Hz with a target set, for minutes; memory and latency.

:class:`Camera` publishes the :class:`~.driver.Scene` at a fixed rate on a thread and remembers
when each stamp went out. :func:`run_soak` sets a target, samples the node's resident memory
once a second, and every ``probe_every_s`` calls ``set_target`` with the stamp of an image
published up to one second before (the issue's target: at least 99% succeed). From the
TrackedTargets it computes latency (image stamp to arrival at the driver) and how many newer
images had already been published when the node started on an image (end to end). From the
node's /diagnostics it takes how many newer images the node itself had already received at
each start (the check: at most one, i.e. the node always takes the newest it has) and where
an image's wait went: stamp to the publisher's write and write to the middleware's receipt
(the camera and the transport: outside the node), receipt to callback (the node's executor),
callback to processing start (the node's queue).
Results of the catch-up after a probe are left out: the node tracks older buffered frames then, on purpose. The soak sets
``max_catch_up_frames`` to 0 for its duration (restored after): at about 2 images/s on a
small CPU the default 30 catch-up frames after each probe would take 15 s, longer than the time
between probes, and the node would never be tracking live.
"""
from __future__ import annotations

import bisect
import os
import threading
import time

import numpy as np

from ..diagnostics import WAIT_STAGES
from .driver import Driver, percentile


class Camera:
    """Publishes ``scene`` at ``rate_hz`` until stopped; stamps are the publish times."""

    def __init__(self, driver: Driver, scene, rate_hz: float, size_change=None):
        self.driver, self.scene, self.rate_hz = driver, scene, rate_hz
        self.published = 0
        self.stamps: list[int] = []  # every stamp sent, in order
        self.index: list[int] = []  # the scene frame of each stamp
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.paused = threading.Event()
        self.stamp_offset_ns = 0  # added to the stamps (time jumps)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name='camera')
        self._thread.start()

    def _run(self) -> None:
        period = 1.0 / self.rate_hz
        next_t = time.monotonic()
        i = 0
        while not self._stop.is_set():
            if not self.paused.is_set():
                stamp = self.driver.now_ns() + self.stamp_offset_ns
                self.driver.image_pub.publish(self.scene.message(i, stamp))
                with self._lock:
                    self.stamps.append(stamp)
                    self.index.append(i)
                    self.published += 1
                i += 1
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()

    def recent(self, rng, max_age_s: float = 1.0) -> tuple[int, int]:
        """(stamp, scene index) of a random image published in the last ``max_age_s``."""
        with self._lock:
            if not self.stamps:
                return 0, 0
            newest = self.stamps[-1]
            lo = bisect.bisect_left(self.stamps, newest - int(max_age_s * 1e9))
            k = int(rng.integers(lo, len(self.stamps)))
            return self.stamps[k], self.index[k]

    def newer_than(self, stamp_ns: int, before_ns: int) -> int:
        """How many stamps were sent after ``stamp_ns`` and before ``before_ns``."""
        with self._lock:
            return (bisect.bisect_left(self.stamps, before_ns)
                    - bisect.bisect_right(self.stamps, stamp_ns))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


def run_soak(node, driver: Driver, scene, minutes: float, seed: int, rate_hz: float = 30.0,
             probe_every_s: float = 5.0, warmup_s: float | None = None) -> dict:
    """Stream for ``minutes`` with a target; returns memory, latency and probe figures."""
    rng = np.random.default_rng(seed)
    duration = minutes * 60.0
    warmup_s = min(60.0, 0.2 * duration) if warmup_s is None else warmup_s
    camera = Camera(driver, scene, rate_hz)
    diag0, status_index = driver.diagnostics(), len(driver.statuses)
    no_catch_up = driver.set_parameters(max_catch_up_frames=0)
    camera.start()
    time.sleep(0.5)
    for _ in range(10):  # the newest image sent (one may be lost on the way: try again)
        stamp, i = camera.recent(rng, 0.0)
        first = driver.set_target(scene.box(i), stamp, timeout=60.0)
        if first is not None and first.success:
            break
        time.sleep(0.2)
    t0 = time.monotonic()
    threads0, machine0, harness0 = node.thread_times(), _cpu_counters(), time.process_time()
    rss, probes, live_from = [], [], [driver.now_ns()]
    next_probe = t0 + probe_every_s
    per_minute = [machine0]  # the machine's CPU counters at each minute of the soak
    while time.monotonic() - t0 < duration and node.alive():
        rss.append((time.monotonic() - t0, node.rss_mib()))
        if time.monotonic() - t0 >= 60.0 * len(per_minute):
            per_minute.append(_cpu_counters())
        if time.monotonic() >= next_probe:
            stamp, i = camera.recent(rng, 1.0)
            age = (driver.now_ns() - stamp) / 1e9
            response = driver.set_target(scene.box(i), stamp, timeout=60.0)
            probes.append((age, response is not None and response.success,
                           '' if response is None else response.message, stamp))
            live_from.append(driver.now_ns())
            next_probe = time.monotonic() + probe_every_s
        time.sleep(1.0)
    elapsed = time.monotonic() - t0
    cpu = {'threads': _thread_use(threads0, node.thread_times(), elapsed),
           'stress_tool_cpu': (time.process_time() - harness0) / elapsed}
    per_minute.append(_cpu_counters())
    cpu['machine'] = _machine_use(machine0, per_minute[-1])
    cpu['machine']['stolen_per_minute'] = [
        round(_machine_use(a, b)['stolen_cpus'], 2) for a, b in zip(per_minute, per_minute[1:])]
    camera.stop()
    if no_catch_up:
        driver.set_parameters(max_catch_up_frames=30)
    time.sleep(1.5)
    return {**_figures(node, driver, camera, first, rss, probes, live_from, warmup_s,
                       duration, diag0, status_index), **cpu}


def _figures(node, driver, camera, first, rss, probes, live_from, warmup_s, duration,
             diag0, status_index) -> dict:
    first_stamp = camera.stamps[0] if camera.stamps else 0
    results = [r for r in driver.snapshot()  # this soak's images only, not earlier phases'
               if r.stamp_ns >= first_stamp and r.stamp_ns and r.state != 0]
    targets = {p[3] for p in probes}  # the results of set_target itself: old images
    live = [r for r in results if _is_live(r, live_from) and r.stamp_ns not in targets]
    latency_ms = [(r.received_ns - r.stamp_ns) / 1e6 for r in live]
    behind = [camera.newer_than(r.stamp_ns, r.start_ns) for r in live]
    warm = [m for t, m in rss if t >= warmup_s and m is not None]
    rss_warm, rss_end = (warm[0], warm[-1]) if warm else (float('nan'), float('nan'))
    diag = driver.diagnostics()
    received = int(diag.get('frames_received', 0)) - int(diag0.get('frames_received', 0))
    failed = [(round(a, 2), m) for a, ok, m, _ in probes if not ok]
    return {
        'minutes': duration / 60.0, 'rate_hz': camera.rate_hz, 'published': camera.published,
        'received_by_node': received, 'results': len(results), 'live_results': len(live),
        'first_target_ok': bool(first is not None and first.success),
        'rss_start_mib': rss[0][1] if rss else float('nan'),
        'rss_warm_mib': rss_warm, 'rss_end_mib': rss_end,
        'rss_growth_pct': 100.0 * (rss_end - rss_warm) / rss_warm if warm else float('nan'),
        'latency_p50_ms': percentile(latency_ms, 50), 'latency_p99_ms': percentile(latency_ms,
                                                                                    99),
        'dropped_reported': sum(r.dropped for r in results),
        'not_seen_by_node': camera.published - received,
        'behind_max': max(behind) if behind else None,
        'behind_over_1': sum(b > 1 for b in behind),
        **_node_waits(driver.statuses_since(status_index), diag0, diag, camera.rate_hz),
        'probes': len(probes), 'probes_ok': sum(p[1] for p in probes),
        'probes_nearest': sum(p[1] and 'nearest buffered one' in p[2] for p in probes),
        'probe_failures': failed[:5], 'alive': node.alive(),
        'processed_rate_hz': len(live) / max(duration, 1e-9),
    }


def _node_waits(statuses: list[dict], diag0: dict, diag: dict, rate_hz: float) -> dict:
    """From the node's /diagnostics of the soak: how far behind the node itself was when it
    started on an image (newer images it had already received), and, per stage of an
    image's way (stamp -> write -> receipt -> callback -> processing start), the longest
    wait and in how many diagnostics periods (with an image started) it exceeded one camera
    frame period."""
    def number(status, key):
        try:
            return float(status.get(key, 'nan'))
        except ValueError:
            return float('nan')

    before = number(diag0, 'started_behind_newest')  # nan before the first status
    out = {
        'node_behind_max': int(max((number(s, 'max_newer_at_start') for s in statuses),
                                   default=0)),
        'node_started_behind': int(number(diag, 'started_behind_newest')
                                   - (0 if before != before else before)),
        'wait_stages': {},
    }
    t0 = number(statuses[0], 'received_s') if statuses else 0.0
    for stage in WAIT_STAGES:
        timed = [(number(s, 'received_s') - t0, number(s, f'max_{stage}_ms')) for s in statuses]
        timed = [(t, m) for t, m in timed if m == m]
        over = [int(t // 60) for t, m in timed if m > 1e3 / rate_hz]
        out['wait_stages'][stage] = {
            'max_ms': max((m for _, m in timed), default=float('nan')),
            'periods_over_a_frame': len(over), 'periods': len(timed),
            # when in the soak they happened: periods over a frame in each minute
            'over_per_minute': [over.count(k) for k in range(max(over, default=-1) + 1)]}
    return out


def _cpu_counters() -> list[int]:
    """The machine's CPU time counters (/proc/stat 'cpu': user nice system idle iowait irq
    softirq steal), in ticks; empty where there is no /proc."""
    try:
        with open('/proc/stat') as f:
            return [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def _machine_use(before: list[int], after: list[int]) -> dict:
    """Busy and stolen (taken by the hypervisor) shares of all CPUs, in CPUs."""
    cpus = os.cpu_count() or 1
    if len(before) < 8 or len(after) < 8:
        return {'busy_cpus': float('nan'), 'stolen_cpus': float('nan'), 'cpus': cpus}
    d = [a - b for a, b in zip(after, before)]
    total = max(sum(d), 1)
    return {'busy_cpus': cpus * (total - d[3] - d[4] - d[7]) / total,
            'stolen_cpus': cpus * d[7] / total, 'cpus': cpus}


def _thread_use(before: dict, after: dict, seconds: float) -> dict:
    """Share of the soak each of the node's named threads spent on a CPU and runnable but
    waiting for one (all other threads: the middleware's, summed as 'other')."""
    own = ('rar_tracker', 'rar_executor', 'rar_service')
    out = {}
    for name in set(before) | set(after):
        key = name if name in own else 'other'
        b, a = before.get(name, [0.0, 0.0, 0]), after.get(name, [0.0, 0.0, 0])
        row = out.setdefault(key, {'cpu': 0.0, 'waiting_for_cpu': 0.0, 'threads': 0})
        row['cpu'] += (a[0] - b[0]) / max(seconds, 1e-9)
        row['waiting_for_cpu'] += (a[1] - b[1]) / max(seconds, 1e-9)
        row['threads'] += a[2]
    return out


def _is_live(r, live_from: list[int]) -> bool:
    """False for a result of an image sent before a set_target returned but tracked after it
    (the catch-up over buffered frames); True otherwise."""
    k = bisect.bisect_right(live_from, r.stamp_ns)
    return not (k < len(live_from) and live_from[k] < r.received_ns)
