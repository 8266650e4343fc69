"""The rar_tracking_msgs interfaces: built, importable, and intact over a real ROS graph."""
from __future__ import annotations

import time
import uuid

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

from rar_tracking.types import TrackState  # noqa: E402

pytestmark = pytest.mark.ros


def spin_until(executor, condition, timeout=10.0):
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
    return condition()


def test_interface_package_is_built_and_importable():
    from rar_tracking_msgs.msg import TrackedTarget
    from rar_tracking_msgs.srv import SetTarget

    # The generated classes load their C type support (the compiled libraries exist).
    for interface in (TrackedTarget, SetTarget):
        interface.__class__.__import_type_support__()
        assert interface._TYPE_SUPPORT is not None, interface
    assert set(TrackedTarget.get_fields_and_field_types()) == {
        'header', 'state', 'target_id', 'center_x', 'center_y', 'size_x', 'size_y',
        'confidence', 'peak_value', 'psr', 'scale', 'processing_start', 'processing_end',
        'inference_ms', 'dropped_frames'}
    assert set(SetTarget.Request.get_fields_and_field_types()) == {
        'header', 'center_x', 'center_y', 'size_x', 'size_y'}
    assert set(SetTarget.Response.get_fields_and_field_types()) == {
        'success', 'message', 'target_id'}


def test_state_constants_match_trackstate():
    from rar_tracking_msgs.msg import TrackedTarget

    assert TrackedTarget.STATE_IDLE == TrackState.IDLE == 0
    assert TrackedTarget.STATE_TRACKING == TrackState.TRACKING == 1
    assert TrackedTarget.STATE_LOST == TrackState.LOST == 2
    assert {name for name in dir(TrackedTarget) if name.startswith('STATE_')} == {
        f'STATE_{s.name}' for s in TrackState}


def test_tracked_target_round_trip(ros_context):
    from rar_tracking_msgs.msg import TrackedTarget

    ns = '/t' + uuid.uuid4().hex[:10]
    talker = rclpy.create_node('talker', context=ros_context, namespace=ns)
    listener = rclpy.create_node('listener', context=ros_context, namespace=ns)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pub = talker.create_publisher(TrackedTarget, 'target', qos)
    received = []
    listener.create_subscription(TrackedTarget, 'target', received.append, qos)
    executor = rclpy.executors.SingleThreadedExecutor(context=ros_context)
    executor.add_node(talker)
    executor.add_node(listener)

    sent = TrackedTarget()
    sent.header.stamp = Time(sec=1700000123, nanosec=456789012)
    sent.header.frame_id = 'camera_optical'
    sent.state = TrackedTarget.STATE_LOST
    sent.target_id = 4000000000  # uint32 range, above int32
    sent.center_x, sent.center_y, sent.size_x, sent.size_y = 320.25, 240.5, 64.125, 48.0
    sent.confidence, sent.peak_value, sent.psr, sent.scale = 0.25, 0.5, 7.75, 1.125
    sent.processing_start = Time(sec=1700000123, nanosec=500000000)
    sent.processing_end = Time(sec=1700000123, nanosec=520000000)
    sent.inference_ms = 19.5
    sent.dropped_frames = 3

    assert spin_until(executor, lambda: pub.get_subscription_count() > 0)
    pub.publish(sent)
    assert spin_until(executor, lambda: received)
    got = received[0]
    assert got == sent  # generated __eq__ compares every field
    assert TrackState(got.state) is TrackState.LOST
    assert got.target_id == 4000000000 and got.dropped_frames == 3
    executor.shutdown()
    talker.destroy_node()
    listener.destroy_node()


def test_set_target_service_round_trip(ros_context):
    from rar_tracking_msgs.srv import SetTarget

    ns = '/t' + uuid.uuid4().hex[:10]
    server_node = rclpy.create_node('server', context=ros_context, namespace=ns)
    client_node = rclpy.create_node('client', context=ros_context, namespace=ns)
    seen = []

    def handle(request, response):
        seen.append(request)
        ok = request.size_x > 0 and request.size_y > 0
        response.success = ok
        response.message = 'ok' if ok else 'the box needs a positive size'
        response.target_id = 7 if ok else 0
        return response

    server_node.create_service(SetTarget, 'set_target', handle)
    client = client_node.create_client(SetTarget, 'set_target')
    executor = rclpy.executors.SingleThreadedExecutor(context=ros_context)
    executor.add_node(server_node)
    executor.add_node(client_node)
    assert client.wait_for_service(timeout_sec=10.0)

    request = SetTarget.Request()
    request.header.stamp = Time(sec=12, nanosec=34)
    request.header.frame_id = 'camera'
    request.center_x, request.center_y, request.size_x, request.size_y = 100.5, 80.25, 30.0, 20.0
    future = client.call_async(request)
    assert spin_until(executor, future.done)
    response = future.result()
    assert (response.success, response.message, response.target_id) == (True, 'ok', 7)
    assert seen[0] == request

    bad = SetTarget.Request(center_x=1.0, center_y=1.0, size_x=0.0, size_y=5.0)
    future = client.call_async(bad)
    assert spin_until(executor, future.done)
    assert not future.result().success and future.result().target_id == 0
    assert 'positive size' in future.result().message
    executor.shutdown()
    server_node.destroy_node()
    client_node.destroy_node()
