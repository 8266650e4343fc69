"""Fault phase: camera gaps, size changes, time jumps, signals at bad moments, bad weights.

- :func:`run_stream_faults`: one node on simulated time (``use_sim_time``, the driver
  publishes ``/clock``) that tracks while the camera stops and restarts, single frames of
  another size arrive, the size changes for good, and the clock and stamps jump back 30 s
  (a bag played in a loop); the node is then stopped with SIGINT while tracking.
- :func:`run_signal_faults`: one node per (signal, moment): during start-up, while
  ``initialize`` runs, while tracking, and while service calls wait for the tracker thread.
  A clean exit is code 0 within 2 s with no traceback and no rosout error.
- :func:`run_weights_faults`: a truncated file, a file of another format and a pickle that
  would run code as ``weights``: the node must refuse to start (code 1, a reason) and the
  pickle must not run.
"""
from __future__ import annotations

import os
import pickle
import signal
import tempfile
import threading
import time

import numpy as np

from .driver import Driver, Scene
from .process import NodeProcess, signal_name
from .soak import Camera

READY_S = 180.0


def _targets_after(driver: Driver, t_ns: int, target_id: int | None = None) -> list:
    return [r for r in driver.snapshot() if r.received_ns > t_ns and r.state != 0
            and (target_id is None or r.target_id == target_id)]


def _idle_after(driver: Driver, t_ns: int) -> list:
    return [r for r in driver.snapshot() if r.received_ns > t_ns and r.state == 0]


class _SimClock:
    """Publishes /clock at 50 Hz: wall time plus an offset that can jump."""

    def __init__(self, driver: Driver):
        self.driver, self.offset_ns = driver, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name='clock')
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.driver.publish_clock(self.driver.now_ns() + self.offset_ns)
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


def run_stream_faults(node_cmd: str, params: dict, context, scene: Scene) -> dict:
    """Camera gap, stray and sustained size changes, time jump back; then SIGINT."""
    node = NodeProcess(node_cmd, dict(params, use_sim_time='true'), 'faults')
    driver = Driver(node.namespace, context=context)
    clock = _SimClock(driver)
    cameras: list[Camera] = []
    try:
        if not driver.wait_ready(READY_S):
            return {'started': False, 'stderr': node.stderr()[-2000:]}
        out = _stream_faults(node, driver, clock, scene, cameras)
        for camera in cameras:
            camera.stop()
        out['alive'] = node.alive()
        node.stop(signal.SIGINT)
        out['sigint_while_tracking'] = _exit(node)
        return out
    finally:
        for camera in cameras:
            camera.stop()
        clock.stop()
        driver.close()
        node.kill()


def _stream_faults(node, driver: Driver, clock: _SimClock, scene: Scene, cameras) -> dict:
    out = {}
    camera = Camera(driver, scene, 10.0)
    cameras.append(camera)
    camera.start()
    time.sleep(0.5)
    stamp, i = camera.recent(np.random.default_rng(0), 0.0)
    first = driver.set_target(scene.box(i), stamp)
    tid = first.target_id if first is not None and first.success else -1
    out['target_set'] = tid > 0
    # 1. the camera stops for 3 s and comes back
    camera.paused.set()
    time.sleep(3.0)
    t = driver.now_ns()
    camera.paused.clear()
    out['resumes_after_gap'] = driver.wait_for(lambda: _targets_after(driver, t, tid), 30)
    # 2. single frames of another size: skipped, the target is kept
    t = driver.now_ns()
    for w, h in ((320, 240), (1, 1)):
        driver.image_pub.publish(Scene.plain(w, h, driver.now_ns()))
        time.sleep(0.3)
    t2 = driver.now_ns()
    out['stray_size_keeps_target'] = (driver.wait_for(
        lambda: _targets_after(driver, t2, tid), 20) and not _idle_after(driver, t))
    # 3. the clock and the stamps jump back 30 s (a bag played in a loop)
    t = driver.now_ns()
    clock.offset_ns = camera.stamp_offset_ns = -30_000_000_000
    out['tracks_after_time_jump'] = driver.wait_for(
        lambda: any(r.stamp_ns < t - 20_000_000_000 for r in _targets_after(driver, t)), 30)
    # 4. the size changes for good: the target is cleared, with a log line
    camera.stop()
    t = driver.now_ns()
    small = Scene((320, 240), count=2, seed=1)
    cam2 = Camera(driver, small, 10.0)
    cameras.append(cam2)
    cam2.stamp_offset_ns = clock.offset_ns
    cam2.start()
    out['sustained_size_clears_target'] = driver.wait_for(lambda: _idle_after(driver, t), 30)
    out['size_logs'] = node.count_lines('image size changed')
    return out


def _exit(node: NodeProcess) -> dict:
    return {'code': node.exit_code, 'seconds': round(node.exit_s or 0.0, 2),
            'bad_lines': node.bad_lines()[:3]}


def _prepare(node: NodeProcess, driver: Driver, scene: Scene, moment: str):
    """Bring the node to ``moment``; returns what must stay alive until the signal."""
    if moment == 'startup':
        time.sleep(2.0)
        return None
    if not driver.wait_ready(READY_S):
        return None
    stamp = driver.now_ns()
    driver.image_pub.publish(scene.message(0, stamp))
    time.sleep(0.3)
    if moment == 'initialize':
        from rar_tracking_msgs.srv import SetTarget
        req = SetTarget.Request()
        req.header.stamp = scene.message(0, stamp).header.stamp
        req.center_x, req.center_y, req.size_x, req.size_y = _center(scene.box(0))
        future = driver.set_target_clients[0].call_async(req)
        time.sleep(0.05)
        return future
    camera = Camera(driver, scene, 10.0)
    camera.start()
    driver.set_target(scene.box(0), stamp, timeout=60.0)
    t = driver.now_ns()
    driver.wait_for(lambda: len(_targets_after(driver, t)) >= 3, 30)
    if moment == 'service_wait':
        futures = []
        for k in range(len(driver.set_target_clients)):
            from rar_tracking_msgs.srv import SetTarget
            req = SetTarget.Request()
            req.center_x, req.center_y, req.size_x, req.size_y = _center(scene.box(0))
            futures.append(driver.set_target_clients[k].call_async(req))
        time.sleep(0.3)
        return camera, futures
    return camera


def _center(box):
    x, y, w, h = box
    return x + w / 2.0, y + h / 2.0, w, h


def run_signal_faults(node_cmd: str, params: dict, context, scene: Scene,
                      cases: list[tuple[int, str]]) -> list[dict]:
    """One node per (signal, moment); the exit code, time and bad stderr lines of each."""
    rows = []
    for sig, moment in cases:
        node = NodeProcess(node_cmd, params, f'sig{int(sig)}')
        driver = Driver(node.namespace, clients=4, context=context)
        try:
            keep = _prepare(node, driver, scene, moment)
            was_alive = node.alive()
            node.stop(sig, timeout=30.0)
            if isinstance(keep, tuple):
                keep[0].stop()
            elif isinstance(keep, Camera):
                keep.stop()
            rows.append({'signal': signal_name(sig), 'moment': moment, 'was_alive': was_alive,
                         **_exit(node)})
        finally:
            driver.close()
            node.kill()
    return rows


class _RunsCode:
    """Unpickling this would create ``path``: a stand-in for a hostile weights file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}',))


def _weights_files(folder: str) -> dict[str, str]:
    from safetensors.numpy import save_file
    good = os.path.join(folder, 'good.safetensors')
    save_file({'w': np.zeros((64, 64), np.float32)}, good)
    data = open(good, 'rb').read()
    files = {'truncated .safetensors': os.path.join(folder, 'truncated.safetensors'),
             'PNG named .pt': os.path.join(folder, 'image.pt'),
             'text named .safetensors': os.path.join(folder, 'text.safetensors'),
             'code-running pickle .pt': os.path.join(folder, 'evil.pt')}
    with open(files['truncated .safetensors'], 'wb') as f:
        f.write(data[:len(data) // 2])
    with open(files['PNG named .pt'], 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + bytes(200))
    with open(files['text named .safetensors'], 'w') as f:
        f.write('these are not weights\n')
    with open(files['code-running pickle .pt'], 'wb') as f:
        pickle.dump(_RunsCode(os.path.join(folder, 'PWNED')), f)
    return files


def run_weights_faults(node_cmd: str, params: dict) -> list[dict]:
    """Start the node with each bad weights file; it must refuse with a reason."""
    rows = []
    with tempfile.TemporaryDirectory(prefix='rar_stress_') as folder:
        for name, path in _weights_files(folder).items():
            node = NodeProcess(node_cmd, dict(params, weights=path), 'weights')
            code = node.wait_exit(READY_S)
            if code is None:
                node.stop(signal.SIGINT)
            reason = [ln for ln in node.stderr().splitlines() if 'cannot start' in ln]
            rows.append({'file': name, 'code': code, 'reason': reason[0][-160:] if reason
                         else '', 'code_ran': os.path.exists(os.path.join(folder, 'PWNED')),
                         'bad_lines': node.bad_lines()[:3]})
            node.kill()
    return rows
