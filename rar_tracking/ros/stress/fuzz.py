"""Fuzz phase: thousands of malformed or hostile messages, then a check that tracking works.

The node gets a target on a good frame first, so that every image it takes is decoded. Then
the seeded cases of :mod:`.cases` go out: images (and CompressedImages to a second node
started with ``use_compressed``), ``set_target`` requests and clicks, with a good frame now
and then. Every 50th malformed image is also asked for by stamp through ``set_target``, which
makes the node decode exactly that image. At the end a good frame and a good box must still
give a TrackedTarget: the node survived and still works.
"""
from __future__ import annotations

import time

import numpy as np

from ..stamps import stamp_to_ns
from .cases import click_case, compressed_case, image_case, set_target_case
from .driver import Driver, answer_kind

#: Shares of the fuzzed messages.
IMAGE_SHARE, SERVICE_SHARE, CLICK_SHARE = 0.55, 0.2, 0.1  # the rest: CompressedImage


def _healthy(driver: Driver, scene, timeout: float = 60.0) -> bool:
    """A good frame, a good box, then one TrackedTarget on a following good frame (a few
    tries: an image can be lost on the way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stamp = driver.now_ns()
        driver.image_pub.publish(scene.message(0, stamp))
        time.sleep(0.2)
        response = driver.set_target(scene.box(0), stamp, timeout=30.0)
        if response is None or not response.success:
            continue
        stamp2 = driver.now_ns()
        driver.image_pub.publish(scene.message(1, stamp2))
        if driver.wait_for(lambda: any(r.stamp_ns == stamp2 for r in driver.snapshot()), 10):
            return True
    return False


def _fuzz_raw(driver: Driver, scene, rng, n_images: int, n_service: int, n_click: int,
              counts: dict, rate_hz: float) -> None:
    """Interleave images, service requests and clicks on one (raw-image) node."""
    kinds = np.array(['image'] * n_images + ['service'] * n_service + ['click'] * n_click)
    rng.shuffle(kinds)
    recent: list[int] = []
    period = 1.0 / rate_hz
    next_t = time.monotonic()
    images = 0
    for kind in kinds:
        now = driver.now_ns()
        if kind == 'image':
            msg = image_case(rng, now, recent)
            driver.image_pub.publish(msg)
            images += 1
            recent = (recent + [stamp_to_ns(msg.header.stamp)])[-20:]
            if images % 50 == 0:  # make the node decode exactly this one
                _count_answer(driver.set_target_request(_probe(msg), timeout=60.0), counts)
                counts['probes'] += 1
            if images % 200 == 0:  # a good frame and a target again, so decoding goes on
                stamp = driver.now_ns()
                driver.image_pub.publish(scene.message(images, stamp))
                time.sleep(0.05)
                _count_answer(driver.set_target(scene.box(images), stamp, timeout=60.0), counts)
        elif kind == 'service':
            _count_answer(driver.set_target_request(set_target_case(rng, now, recent),
                                                    timeout=60.0), counts)
        else:
            msg = click_case(rng, now, recent)
            (driver.click_point_pub if msg.__class__.__name__ == 'Point'
             else driver.click_pub).publish(msg)
        counts[kind] += 1
        next_t += period
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _probe(msg):
    from rar_tracking_msgs.srv import SetTarget
    req = SetTarget.Request()
    req.header.stamp = msg.header.stamp
    req.center_x = req.center_y = 10.0
    req.size_x = req.size_y = 8.0
    return req


_COUNTERS = {'lost': 'lost_calls', 'accepted': 'accepted_calls', 'refused': 'refused_calls',
             'silent': 'silent_refusals'}


def _count_answer(response, counts: dict) -> None:
    counts[_COUNTERS[answer_kind(response)]] += 1


def run_fuzz(node, driver: Driver, scene, total: int, seed: int, rate_hz: float = 400.0,
             compressed_node=None, compressed_driver=None) -> dict:
    """Send ``total`` fuzzed messages; returns the figures (and whether the node survived)."""
    rng = np.random.default_rng(seed)
    counts = dict(image=0, service=0, click=0, compressed=0, probes=0, lost_calls=0,
                  accepted_calls=0, refused_calls=0, silent_refusals=0)
    diag0 = driver.diagnostics()
    healthy_before = _healthy(driver, scene)
    n_compressed = 0 if compressed_driver is None else int(total * (1 - IMAGE_SHARE
                                                                     - SERVICE_SHARE
                                                                     - CLICK_SHARE))
    rest = total - n_compressed
    share = IMAGE_SHARE + SERVICE_SHARE + CLICK_SHARE
    n_service = int(rest * SERVICE_SHARE / share)
    n_click = int(rest * CLICK_SHARE / share)
    t0 = time.monotonic()
    _fuzz_raw(driver, scene, rng, rest - n_service - n_click, n_service, n_click, counts,
              rate_hz)
    if compressed_driver is not None:
        _fuzz_compressed(compressed_driver, scene, rng, n_compressed, counts, rate_hz)
    seconds = time.monotonic() - t0
    time.sleep(1.0)
    alive = node.alive() and (compressed_node is None or compressed_node.alive())
    healthy_after = alive and _healthy(driver, scene)
    diag = driver.diagnostics()
    return {
        'messages': sum(counts[k] for k in ('image', 'service', 'click', 'compressed')),
        **counts, 'seconds': seconds, 'alive': alive,
        'healthy_before': healthy_before, 'healthy_after': healthy_after,
        'decode_errors': _delta(diag0, diag, 'decode_errors'),
        'tracker_errors': _delta(diag0, diag, 'tracker_errors'),
        'compressed_decode_errors': (compressed_driver.diagnostics().get('decode_errors')
                                     if compressed_driver is not None else None),
    }


def _fuzz_compressed(driver: Driver, scene, rng, n: int, counts: dict, rate_hz: float) -> None:
    import cv2
    from sensor_msgs.msg import CompressedImage
    good = CompressedImage(format='jpeg')
    ok, buf = cv2.imencode('.jpg', np.asarray(scene.message(0, 0).data, np.uint8)
                           .reshape(scene.size[1], scene.size[0], 3)[:, :, ::-1])
    good.data = buf.tobytes()
    good.header.frame_id = 'camera'
    stamp = driver.now_ns()
    good.header.stamp = scene.message(0, stamp).header.stamp
    driver.compressed_pub.publish(good)
    time.sleep(0.2)
    driver.set_target(scene.box(0), stamp, timeout=60.0)
    recent: list[int] = []
    for i in range(n):
        msg = compressed_case(rng, driver.now_ns(), recent)
        driver.compressed_pub.publish(msg)
        recent = (recent + [stamp_to_ns(msg.header.stamp)])[-20:]
        counts['compressed'] += 1
        if (i + 1) % 50 == 0:
            _count_answer(driver.set_target_request(_probe(msg), timeout=60.0), counts)
            counts['probes'] += 1
        time.sleep(1.0 / rate_hz)


def _delta(before: dict, after: dict, key: str):
    try:
        return int(after[key]) - int(before.get(key, 0))
    except (KeyError, ValueError):
        return None
