"""The stress tool's side of the graph: an rclpy node that feeds and questions the tracker.

:class:`Driver` publishes images (raw and compressed), clicks and ``/clock``, calls
``~/set_target`` and ``~/reset`` (from as many client nodes as asked, for the storm), and
records every TrackedTarget with its arrival time and the tracker's last diagnostics.
:class:`Scene` is a moving target at camera resolution with its true boxes, pre-converted
to Image messages so that publishing at 30 Hz costs little.
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point, PointStamped
from rcl_interfaces.srv import SetParameters
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from rar_tracking_msgs.msg import TrackedTarget
from rar_tracking_msgs.srv import SetTarget

from ...data.synthetic import make_sequence
from ..image_conversion import rgb_to_image_msg
from ..stamps import ns_to_stamp, stamp_to_ns


@dataclass
class Result:
    """One TrackedTarget as the driver received it."""

    stamp_ns: int
    received_ns: int  # driver clock (system time) at arrival
    start_ns: int  # processing_start (node clock)
    state: int
    target_id: int
    dropped: int
    box: tuple


class Scene:
    """``count`` frames of a textured target moving over a background, cycled forever."""

    def __init__(self, size=(640, 480), count: int = 60, seed: int = 0):
        seq = make_sequence(count, size, seed=seed, speed=2.0, target_size=(64, 52))
        self.size = size
        self.count = count
        self.gt = np.asarray(seq.gt, dtype=float)
        self._msgs = [rgb_to_image_msg(seq.frame(i)) for i in range(count)]

    def message(self, i: int, stamp_ns: int, frame_id: str = 'camera') -> Image:
        msg = copy.copy(self._msgs[i % self.count])  # data is shared, header is new
        msg.header = Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)
        return msg

    @staticmethod
    def plain(width: int, height: int, stamp_ns: int, frame_id: str = 'camera') -> Image:
        """A grey rgb8 image of any size (e.g. 1x1), for size changes."""
        return rgb_to_image_msg(np.full((height, width, 3), 128, np.uint8),
                                Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id))

    def box(self, i: int) -> tuple:
        return tuple(float(v) for v in self.gt[i % self.count])


def poll_until(predicate, timeout: float, period: float = 0.02) -> bool:
    """True as soon as ``predicate()`` is; False when it still is not after ``timeout`` s
    (checked every ``period`` s while an executor spins elsewhere)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return bool(predicate())


class Driver:
    """Publishers, service clients and recorders aimed at one tracker namespace."""

    def __init__(self, namespace: str, clients: int = 1, context=None):
        self.context = context
        t = f'{namespace}/rar_tracker'
        self.node = rclpy.create_node('rar_stress_driver', namespace=namespace, context=context)
        node = self.node
        self.image_pub = node.create_publisher(Image, 'image', QoSProfile(depth=10))
        self.compressed_pub = node.create_publisher(CompressedImage, 'image/compressed',
                                                    QoSProfile(depth=10))
        self.click_pub = node.create_publisher(PointStamped, f'{t}/click', 10)
        self.click_point_pub = node.create_publisher(Point, f'{t}/click_point', 10)
        self.clock_pub = node.create_publisher(Clock, '/clock', 10)
        self._lock = threading.Lock()
        self.results: list[Result] = []
        self.status: dict[str, str] = {}
        self.statuses: list[dict[str, str]] = []  # every status received, oldest first
        self._status_name = f'{t}: tracker'
        node.create_subscription(TrackedTarget, f'{t}/target', self._on_target, 1000)
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 100)
        self.client_nodes = [node] + [
            rclpy.create_node(f'rar_stress_client_{i}', namespace=namespace, context=context)
            for i in range(1, clients)]
        self.set_target_clients = [n.create_client(SetTarget, f'{t}/set_target')
                                   for n in self.client_nodes]
        self.reset_clients = [n.create_client(Trigger, f'{t}/reset') for n in self.client_nodes]
        self.parameters_client = node.create_client(SetParameters, f'{t}/set_parameters')
        self.executor = MultiThreadedExecutor(num_threads=4, context=context)
        for n in self.client_nodes:
            self.executor.add_node(n)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True,
                                        name='stress-spin')
        self._thread.start()

    # ------------------------------------------------------------------ recording
    def _on_target(self, msg: TrackedTarget) -> None:
        r = Result(stamp_to_ns(msg.header.stamp), time.time_ns(),
                   stamp_to_ns(msg.processing_start), int(msg.state), int(msg.target_id),
                   int(msg.dropped_frames), (msg.center_x, msg.center_y, msg.size_x, msg.size_y))
        with self._lock:
            self.results.append(r)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == self._status_name:
                with self._lock:
                    self.status = {kv.key: kv.value for kv in status.values}
                    self.statuses.append({**self.status, 'received_s': str(time.monotonic())})

    def snapshot(self) -> list[Result]:
        with self._lock:
            return list(self.results)

    def diagnostics(self) -> dict[str, str]:
        with self._lock:
            return dict(self.status)

    def statuses_since(self, index: int) -> list[dict[str, str]]:
        """The statuses received after the first ``index`` (``len(driver.statuses)`` taken
        before a phase gives that phase's)."""
        with self._lock:
            return self.statuses[index:]

    # ------------------------------------------------------------------ waiting and calling
    wait_for = staticmethod(poll_until)

    def wait_ready(self, timeout: float) -> bool:
        return self.wait_for(
            lambda: self.image_pub.get_subscription_count() + self.compressed_pub
            .get_subscription_count() > 0 and all(c.service_is_ready() for c in
                                                   self.set_target_clients + self.reset_clients),
            timeout, period=0.1)

    @staticmethod
    def call(client, request, timeout: float):
        """The response, or None when none came within ``timeout`` (the call is lost)."""
        future = client.call_async(request)
        if not Driver.wait_for(future.done, timeout, period=0.005):
            client.remove_pending_request(future)
            return None
        return future.result()

    def set_target(self, box, stamp_ns: int = 0, frame_id: str = '', client: int = 0,
                   timeout: float = 60.0, center: bool = False):
        """Call ~/set_target with an (x, y, w, h) box (or (cx, cy, w, h) with center)."""
        x, y, w, h = (float(v) for v in box)
        request = SetTarget.Request()
        request.header.stamp = ns_to_stamp(stamp_ns)
        request.header.frame_id = frame_id
        request.center_x, request.center_y = (x, y) if center else (x + w / 2.0, y + h / 2.0)
        request.size_x, request.size_y = w, h
        return self.call(self.set_target_clients[client], request, timeout)

    def set_target_request(self, request, client: int = 0, timeout: float = 60.0):
        return self.call(self.set_target_clients[client], request, timeout)

    def set_parameters(self, timeout: float = 30.0, **values) -> bool:
        """Set parameters of the tracker node; True when every one was accepted."""
        request = SetParameters.Request()
        request.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        response = self.call(self.parameters_client, request, timeout)
        return response is not None and all(r.successful for r in response.results)

    def reset(self, client: int = 0, timeout: float = 60.0):
        return self.call(self.reset_clients[client], Trigger.Request(), timeout)

    def now_ns(self) -> int:
        return time.time_ns()

    def publish_clock(self, ns: int) -> None:
        self.clock_pub.publish(Clock(clock=ns_to_stamp(ns)))

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=2.0)
        for n in self.client_nodes:
            n.destroy_node()


def answer_kind(response) -> str:
    """How a service call ended: 'lost' (no answer), 'accepted', 'refused' (with a message)
    or 'silent' (refused without one)."""
    if response is None:
        return 'lost'
    if response.success:
        return 'accepted'
    return 'refused' if response.message.strip() else 'silent'


def percentile(values, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float('nan')
