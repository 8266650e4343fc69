"""Test scaffolding: driving a ``rar_tracker`` node over a real rclpy graph.

:class:`TrackerClient` is a plain rclpy node that publishes images and clicks, calls the
services and the parameter service of a tracker node, and records what the tracker publishes.
:func:`spin_in_thread` spins nodes in a background NodeExecutor, the one the node's process
uses. Nothing is mocked:
messages go through the middleware like in a deployment. Lives under ``test/`` (imported by
the tests and conftest as ``ros_helpers``), not in the runtime package.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import threading
from typing import Any, Callable

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point, PointStamped
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from rar_tracking_msgs.msg import TrackedTarget
from rar_tracking_msgs.srv import SetTarget

from rar_tracking.ros.executor import NodeExecutor
from rar_tracking.ros.image_conversion import rgb_to_image_msg
from rar_tracking.ros.stamps import ns_to_stamp, stamp_to_ns
from rar_tracking.ros.stress.driver import poll_until

#: Parameters that make a tracker node fast enough for tests on a small CPU.
FAST_PARAMETERS = {'trunk': 'efficientnet_lite0', 'crop_size': 129, 'device': 'cpu',
                   'cpu_threads': 1, 'diagnostics_period': 0.5}

_session_numbers = itertools.count(1)


def isolate_ros_domain() -> None:
    """Keep test traffic on this host and off the default domain (unless already chosen)."""
    os.environ.setdefault('ROS_DOMAIN_ID', str(10 + os.getpid() % 90))
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


def stop_process(proc, timeout: float = 20.0) -> None:
    """SIGTERM a child process, SIGKILL it when it has not exited within ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def spin_in_thread(nodes, context=None, num_threads: int = 4):
    """Spin ``nodes`` on a daemon thread in the executor of ``rar_tracking.node.main``
    (:class:`NodeExecutor`, services on ``num_threads`` threads); returns the executor."""
    executor = NodeExecutor(num_threads, context=context)
    for node in nodes:
        executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True, name='spin')
    thread.start()
    executor.spin_thread = thread
    return executor


class TrackerClient:
    """Publishes to and listens to one tracker node (``<namespace>/<tracker_name>/...``)."""

    def __init__(self, namespace: str = '', tracker_name: str = 'rar_tracker', context=None,
                 name: str = 'rar_test_client'):
        self.node = rclpy.create_node(name, namespace=namespace or None, context=context)
        node, t = self.node, tracker_name
        self.image_pub = node.create_publisher(Image, 'image', QoSProfile(depth=10))
        self.compressed_pub = node.create_publisher(CompressedImage, 'image/compressed',
                                                    QoSProfile(depth=10))
        self.click_pub = node.create_publisher(PointStamped, f'{t}/click', 10)
        self.click_point_pub = node.create_publisher(Point, f'{t}/click_point', 10)
        self._lock = threading.Lock()
        self.targets: list[TrackedTarget] = []
        self.debug_images: list[Image] = []
        self.diagnostics: list[DiagnosticArray] = []
        node.create_subscription(TrackedTarget, f'{t}/target', self._keep(self.targets), 100)
        self._debug_sub = None
        self._tracker_name = t
        node.create_subscription(DiagnosticArray, '/diagnostics', self._keep(self.diagnostics),
                                 100)
        self.set_target_client = node.create_client(SetTarget, f'{t}/set_target')
        self.reset_client = node.create_client(Trigger, f'{t}/reset')
        self.parameters_client = node.create_client(SetParameters, f'{t}/set_parameters')

    def _keep(self, store: list) -> Callable[[Any], None]:
        def callback(msg):
            with self._lock:
                store.append(msg)
        return callback

    def subscribe_debug_image(self) -> None:
        if self._debug_sub is None:
            self._debug_sub = self.node.create_subscription(
                Image, f'{self._tracker_name}/debug_image', self._keep(self.debug_images), 10)

    # ------------------------------------------------------------------ waiting
    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout: float, period: float = 0.01) -> bool:
        return poll_until(predicate, timeout, period)

    def wait_ready(self, timeout: float = 15.0) -> bool:
        """True once the tracker subscribes to our images and offers its services."""
        return self.wait_for(lambda: (self.image_pub.get_subscription_count() > 0
                                      or self.compressed_pub.get_subscription_count() > 0)
                             and self.set_target_client.service_is_ready()
                             and self.reset_client.service_is_ready()
                             and self.parameters_client.service_is_ready(), timeout)

    def call(self, client, request, timeout: float = 20.0):
        future = client.call_async(request)
        if not self.wait_for(future.done, timeout):
            client.remove_pending_request(future)
            raise TimeoutError(f'no answer from {client.srv_name} within {timeout} s')
        return future.result()

    def snapshot(self, store: str = 'targets') -> list:
        with self._lock:
            return list(getattr(self, store))

    def targets_for(self, stamp_ns: int) -> list[TrackedTarget]:
        return [m for m in self.snapshot() if stamp_to_ns(m.header.stamp) == stamp_ns]

    # ------------------------------------------------------------------ sending
    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def publish_rgb(self, rgb: np.ndarray, stamp_ns: int, frame_id: str = 'camera',
                    encoding: str = 'rgb8') -> Image:
        msg = rgb_to_image_msg(rgb, Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id),
                               encoding)
        self.image_pub.publish(msg)
        return msg

    def set_target(self, box, stamp_ns: int = 0, frame_id: str = '', timeout: float = 20.0):
        """Call ~/set_target with a top-left (x, y, w, h) box."""
        x, y, w, h = (float(v) for v in box)
        request = SetTarget.Request()
        request.header.stamp = ns_to_stamp(stamp_ns)
        request.header.frame_id = frame_id
        request.center_x, request.center_y = x + w / 2.0, y + h / 2.0
        request.size_x, request.size_y = w, h
        return self.call(self.set_target_client, request, timeout)

    def reset(self, timeout: float = 20.0):
        return self.call(self.reset_client, Trigger.Request(), timeout)

    def set_parameters(self, **values):
        request = SetParameters.Request()
        request.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        return self.call(self.parameters_client, request).results

    def click(self, x: float, y: float, stamp_ns: int = 0, frame_id: str = '') -> None:
        msg = PointStamped()
        msg.header.stamp = ns_to_stamp(stamp_ns)
        msg.header.frame_id = frame_id
        msg.point.x, msg.point.y = float(x), float(y)
        self.click_pub.publish(msg)

    def click_point(self, x: float, y: float) -> None:
        self.click_point_pub.publish(Point(x=float(x), y=float(y), z=0.0))

    def destroy(self) -> None:
        self.node.destroy_node()


class TrackerSession:
    """A tracker node and a :class:`TrackerClient` in a fresh namespace, spinning.

    Args:
        context: an initialised rclpy Context.
        parameters: parameter overrides on top of :data:`FAST_PARAMETERS`.
        tracker_factory: passed to :class:`RARTrackerNode`.
    """

    def __init__(self, context, parameters: dict | None = None, tracker_factory=None,
                 ready_timeout: float = 20.0):
        from rar_tracking.ros.tracker_node import RARTrackerNode

        self.namespace = f'/rar_test_{os.getpid()}_{next(_session_numbers)}'
        values = dict(FAST_PARAMETERS, **(parameters or {}))
        self.node = RARTrackerNode(
            tracker_factory=tracker_factory, context=context, namespace=self.namespace,
            parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        self.client = TrackerClient(self.namespace, context=context)
        self.executor = spin_in_thread([self.node, self.client.node], context)
        if not self.client.wait_ready(ready_timeout):
            self.close()
            raise RuntimeError(f'tracker node in {self.namespace} not reachable within '
                               f'{ready_timeout} s')

    def publish_and_wait(self, rgb: np.ndarray, stamp_ns: int, timeout: float = 15.0,
                         **kwargs) -> TrackedTarget | None:
        """Publish one frame and wait for the TrackedTarget of its stamp (None on timeout)."""
        client = self.client
        client.publish_rgb(rgb, stamp_ns, **kwargs)
        if client.wait_for(lambda: client.targets_for(stamp_ns), timeout):
            return client.targets_for(stamp_ns)[0]
        return None

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self.client.destroy()
