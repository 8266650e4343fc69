"""Service storm: ``set_target`` and ``reset`` from several clients at once while images stream.

Each client (its own rclpy node) calls one service after the other; together they make
``calls`` calls. A call is *answered* when a response comes back within ``call_timeout``
(success, or a refusal with a message); otherwise it is *lost*. Meanwhile a camera streams
640x480 images, and the node's ``frames_received`` shows whether its image callback kept up
while the services waited.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from .driver import Driver, answer_kind
from .soak import Camera


def _client_loop(driver: Driver, index: int, camera: Camera, n: int, rng, out: dict,
                 lock: threading.Lock, call_timeout: float) -> None:
    for _ in range(n):
        t0 = time.monotonic()
        if rng.random() < 0.3:
            response, kind = driver.reset(client=index, timeout=call_timeout), 'reset'
        else:
            stamp, i = camera.recent(rng, max_age_s=0.5)
            response = driver.set_target(camera.scene.box(i), stamp, client=index,
                                         timeout=call_timeout)
            kind = 'set_target'
        seconds = time.monotonic() - t0
        with lock:
            out['calls'] += 1
            out[kind] += 1
            out['call_s'].append(seconds)
            answer = answer_kind(response)
            out['succeeded' if answer == 'accepted' else answer] += 1
            if answer == 'refused':
                out['reasons'].add(response.message.split(':')[0][:60])


def run_storm(node, driver: Driver, scene, calls: int, clients: int, seed: int,
              call_timeout: float = 60.0, rate_hz: float = 10.0) -> dict:
    """``calls`` service calls from ``clients`` clients; returns the figures."""
    diag0 = driver.diagnostics()  # no image since the last status: the count is exact
    camera = Camera(driver, scene, rate_hz)
    camera.start()
    time.sleep(1.0)
    out = dict(calls=0, set_target=0, reset=0, lost=0, succeeded=0, refused=0, silent=0,
               call_s=[], reasons=set())
    lock = threading.Lock()
    per = [calls // clients + (1 if i < calls % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=_client_loop, args=(
        driver, i, camera, per[i], np.random.default_rng(seed + i), out, lock, call_timeout),
        daemon=True) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    camera.stop()
    published = camera.published
    time.sleep(1.5)  # one more diagnostics period
    diag = driver.diagnostics()
    received = _int(diag, 'frames_received') - _int(diag0, 'frames_received')
    call_s = out.pop('call_s')
    return {**out, 'reasons': sorted(out['reasons']), 'seconds': seconds,
            'answered': out['calls'] - out['lost'], 'clients': clients,
            'call_p50_s': float(np.percentile(call_s, 50)) if call_s else float('nan'),
            'call_max_s': max(call_s) if call_s else float('nan'),
            'images_published': published, 'images_received': received,
            'alive': node.alive()}


def _int(d: dict, key: str) -> int:
    try:
        return int(d.get(key, 0))
    except ValueError:
        return 0
