"""The video_source node on a real ROS graph: rate, stamps, frame_id, content of the
generated scene, image folders, video files, looping, pause and bad sources."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
cv2 = pytest.importorskip('cv2')

from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from rar_tracking.data.synthetic import make_sequence  # noqa: E402
from rar_tracking.ros.image_conversion import image_msg_to_rgb  # noqa: E402
from rar_tracking.ros.video_source import SourceError, VideoSourceNode  # noqa: E402
from rar_tracking_msgs.msg import TrackedTarget  # noqa: E402

pytestmark = pytest.mark.ros


class Graph:
    """A video_source node and a probe node subscribed to its topics, in one executor."""

    def __init__(self, ros_context, **params):
        self.ns = '/t' + uuid.uuid4().hex[:10]
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.source = VideoSourceNode(context=ros_context, namespace=self.ns,
                                      parameter_overrides=overrides)
        self.probe = rclpy.create_node('probe', context=ros_context, namespace=self.ns)
        self.images: list[tuple[float, Image]] = []
        self.gt: list[TrackedTarget] = []
        self.probe.create_subscription(Image, 'image', self._on_image, qos_profile_sensor_data)
        self.probe.create_subscription(
            TrackedTarget, 'video_source/ground_truth', self.gt.append,
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        self.executor = rclpy.executors.SingleThreadedExecutor(context=ros_context)
        self.executor.add_node(self.source)
        self.executor.add_node(self.probe)

    def _on_image(self, msg):
        self.images.append((time.monotonic(), msg))

    def spin_until(self, condition, timeout=10.0):
        end = time.monotonic() + timeout
        while not condition() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def spin_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def close(self):
        self.executor.shutdown()
        self.source.destroy_node()
        self.probe.destroy_node()


@pytest.fixture
def graph(ros_context):
    made = []

    def make(**params):
        g = Graph(ros_context, **params)
        made.append(g)
        return g
    yield make
    for g in made:
        g.close()


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def test_generated_scene_rate_stamps_frame_id_and_content(graph):
    g = graph(rate=20.0, frame_id='cam_test', scene_frames=30, scene_seed=3)
    assert g.spin_until(lambda: len(g.images) >= 16 and len(g.gt) >= 16)
    stamps = np.array([stamp_s(m) for _, m in g.images])
    assert np.all(np.diff(stamps) > 0), 'stamps must increase'
    period = np.median(np.diff(stamps))
    assert 0.035 < period < 0.075, f'median period {period:.3f} s at 20 Hz'
    # Stamps are the node clock at publish time: close to now, not a video timestamp.
    now = g.source.get_clock().now().nanoseconds * 1e-9
    assert abs(now - stamps[-1]) < 2.0
    assert {m.header.frame_id for _, m in g.images} == {'cam_test'}
    assert {m.encoding for _, m in g.images} == {'rgb8'}

    # The pixels and the ground truth are those of the generated scene, frame by frame.
    seq = make_sequence(30, (320, 240), 3)
    gt_by_stamp = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in g.gt}
    checked = 0
    for _, img in g.images:
        box = gt_by_stamp.get((img.header.stamp.sec, img.header.stamp.nanosec))
        if box is None:
            continue
        index = box.target_id - 1
        assert box.header.frame_id == 'cam_test'
        np.testing.assert_array_equal(image_msg_to_rgb(img), seq.frame(index))
        x, y, w, h = seq.gt[index]
        assert box.state == TrackedTarget.STATE_TRACKING
        assert (box.center_x, box.center_y, box.size_x, box.size_y) == (x + w / 2, y + h / 2, w, h)
        checked += 1
    assert checked >= 10
    assert list(g.source.get_parameter('first_box').value) == list(seq.gt[0])


def test_bgr8_encoding_reverses_channels(graph):
    g = graph(rate=30.0, encoding='bgr8', scene_frames=5, loop=False)
    assert g.spin_until(lambda: len(g.images) >= 1 and len(g.gt) >= 1)
    img = g.images[0][1]
    assert img.encoding == 'bgr8' and img.step == img.width * 3
    raw = np.frombuffer(img.data, np.uint8).reshape(img.height, img.width, 3)
    index = g.gt[0].target_id - 1
    np.testing.assert_array_equal(raw[:, :, ::-1], make_sequence(5, (320, 240), 0).frame(index))


def _write_folder(folder, colors):
    for i, color in enumerate(colors):
        image = np.zeros((48, 64, 3), np.uint8)
        image[:] = color
        cv2.imwrite(str(folder / f'frame_{i:03d}.png'), image[:, :, ::-1])  # RGB -> BGR


COLORS = [(200, 10, 10), (10, 200, 10), (10, 10, 200)]


def test_image_folder_in_order_and_stops_without_loop(graph, tmp_path):
    _write_folder(tmp_path, COLORS)
    (tmp_path / 'notes.txt').write_text('not an image')
    g = graph(source=str(tmp_path), rate=50.0, loop=False, initial_box=[5.0, 6.0, 20.0, 10.0])
    assert g.spin_until(lambda: g.source.finished)
    g.spin_for(0.3)  # nothing more comes after the end
    got = [tuple(image_msg_to_rgb(m)[0, 0]) for _, m in g.images]
    assert got == COLORS
    assert g.source.finished
    assert g.gt == []  # a plain folder has no ground truth
    # The first frame's box is a latched topic: a subscriber that comes late still gets it.
    late = []
    g.probe.create_subscription(
        TrackedTarget, 'video_source/initial_box', late.append,
        QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                   durability=DurabilityPolicy.TRANSIENT_LOCAL))
    assert g.spin_until(lambda: late)
    assert (late[0].center_x, late[0].center_y, late[0].size_x, late[0].size_y) == \
        (15.0, 11.0, 20.0, 10.0)
    assert late[0].header.stamp == g.images[0][1].header.stamp


def test_image_folder_loops(graph, tmp_path):
    _write_folder(tmp_path, COLORS)
    g = graph(source=str(tmp_path), rate=50.0, loop=True)
    assert g.spin_until(lambda: len(g.images) >= 7)
    got = [tuple(image_msg_to_rgb(m)[0, 0]) for _, m in g.images[:7]]
    assert got == COLORS + COLORS + COLORS[:1]


def test_video_file_and_max_frames(graph, tmp_path):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 48))
    assert writer.isOpened()
    levels = [20, 60, 100, 140, 180, 220, 250, 30]
    for level in levels:
        writer.write(np.full((48, 64, 3), level, np.uint8))
    writer.release()
    g = graph(source=str(path), rate=50.0, loop=False, max_frames=5)
    assert g.spin_until(lambda: g.source.finished)
    g.spin_for(0.3)
    assert len(g.images) == 5
    for (_, msg), level in zip(g.images, levels):
        rgb = image_msg_to_rgb(msg)
        assert rgb.shape == (48, 64, 3)
        assert abs(float(rgb.mean()) - level) < 8  # MJPG is lossy


def test_paused_repeats_first_frame_until_released(graph):
    g = graph(rate=40.0, paused=True, scene_frames=20)
    assert g.spin_until(lambda: len(g.gt) >= 5)
    assert {m.target_id for m in g.gt} == {1}
    assert len({(m.header.stamp.sec, m.header.stamp.nanosec) for m in g.gt}) == len(g.gt)
    # Release through the real parameter service, as the demo does.
    client = AsyncParameterClient(g.probe, 'video_source')
    assert client.wait_for_services(timeout_sec=5.0)
    future = client.set_parameters([Parameter('paused', value=False)])
    assert g.spin_until(future.done)
    assert future.result().results[0].successful
    n = len(g.gt)
    assert g.spin_until(lambda: len(g.gt) >= n + 4)
    ids = [m.target_id for m in g.gt[n:]]
    assert ids == sorted(ids) and ids[-1] >= 3, ids


def test_rate_is_dynamic_and_checked(graph):
    g = graph(rate=10.0)
    assert not g.source.set_parameters([Parameter('rate', value=0.0)])[0].successful
    assert not g.source.set_parameters([Parameter('encoding', value='bgr8')])[0].successful
    assert g.source.set_parameters([Parameter('rate', value=50.0)])[0].successful
    g.spin_for(0.2)
    start = len(g.images)
    g.spin_for(1.0)
    assert len(g.images) - start >= 25  # ~50 at 50 Hz; 10 at the old 10 Hz


@pytest.mark.parametrize('make_source, message', [
    (lambda tmp: str(tmp / 'missing.mp4'), 'does not exist'),
    (lambda tmp: str(tmp), 'holds no image files'),
    (lambda tmp: (tmp / 'fake.mp4').write_text('text') and str(tmp / 'fake.mp4'),
     'cannot open video file'),
])
def test_bad_sources_raise_clear_errors(ros_context, tmp_path, make_source, message):
    source = make_source(tmp_path)
    with pytest.raises(SourceError, match=message):
        VideoSourceNode(context=ros_context, namespace='/bad' + uuid.uuid4().hex[:8],
                        parameter_overrides=[Parameter('source', value=source)])


def test_bad_path_exits_nonzero_with_message(tmp_path):
    missing = tmp_path / 'no_such_video.mp4'
    proc = subprocess.run(
        [sys.executable, '-m', 'rar_tracking.ros.video_source', '--ros-args',
         '-r', '__ns:=/bad' + uuid.uuid4().hex[:8], '-p', f'source:={missing}'],
        capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert proc.returncode == 2, proc.stderr
    assert 'source does not exist' in proc.stderr and str(missing) in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_paced_source_waits_for_its_consumer(graph):
    from builtin_interfaces.msg import Time

    g = graph(rate=50.0, wait_for_topic='ack', wait_timeout=30.0, scene_frames=20)
    ack_pub = g.probe.create_publisher(TrackedTarget, 'ack',
                                       QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    assert g.spin_until(lambda: len(g.images) >= 1)
    g.spin_for(0.5)  # 25 ticks at 50 Hz, and no answer: nothing more goes out
    assert len(g.images) == 1
    for expected in (2, 3, 4):
        ack = TrackedTarget()
        ack.header.stamp = Time(sec=g.images[-1][1].header.stamp.sec,
                                nanosec=g.images[-1][1].header.stamp.nanosec)
        ack_pub.publish(ack)
        assert g.spin_until(lambda: len(g.images) >= expected, timeout=5.0)
        g.spin_for(0.2)
        assert len(g.images) == expected  # exactly one frame per answer
    assert [m.target_id for m in g.gt] == [1, 2, 3, 4]


def test_paced_source_goes_on_after_wait_timeout(graph):
    g = graph(rate=50.0, wait_for_topic='ack', wait_timeout=0.2, scene_frames=50)
    g.spin_for(1.1)
    # One frame per ~0.2 s without answers: far fewer than the ~55 the rate alone would give.
    assert 2 <= len(g.images) <= 8, len(g.images)


def test_paced_source_resends_the_awaited_image_until_answered(graph):
    from builtin_interfaces.msg import Time

    # A best-effort image can be lost; a paced source must not then wait for wait_timeout.
    g = graph(rate=50.0, wait_for_topic='ack', wait_timeout=30.0, resend_after=0.2,
              scene_frames=20)
    ack_pub = g.probe.create_publisher(TrackedTarget, 'ack',
                                       QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    assert g.spin_until(lambda: len(g.images) >= 1)
    # No answer: the same image again, about every 0.2 s (not at the 50 Hz rate).
    assert g.spin_until(lambda: len(g.images) >= 3, timeout=5.0)
    stamps = [stamp_s(m) for _, m in g.images]
    assert len(set(stamps)) == 1, stamps
    gaps = np.diff([t for t, _ in g.images])
    assert gaps.min() > 0.15, gaps
    assert g.source.resent >= len(stamps) - 1
    first = g.images[0][1]
    assert all(m.data == first.data for _, m in g.images)
    ack = TrackedTarget()
    ack.header.stamp = Time(sec=first.header.stamp.sec, nanosec=first.header.stamp.nanosec)
    ack_pub.publish(ack)
    assert g.spin_until(lambda: stamp_s(g.images[-1][1]) > stamps[0], timeout=5.0)
    assert g.images[-1][1].data != first.data  # the next frame, not a copy
    g.spin_for(0.1)
    assert [m.target_id for m in g.gt] == [1, 2]  # ground truth once per frame, not per copy


def test_target_service_gets_first_box_on_held_frame_then_plays(graph):
    from rar_tracking_msgs.srv import SetTarget

    g = graph(rate=40.0, scene_frames=30, scene_seed=2, target_service='tracker/set_target')
    requests = []

    def handle(request, response):
        requests.append(request)
        response.success = len(requests) >= 2  # refuse once: the source must retry
        response.message = 'ok' if response.success else 'not yet'
        return response

    g.probe.create_service(SetTarget, 'tracker/set_target', handle)
    assert g.spin_until(lambda: len(requests) >= 2, timeout=10.0)
    n = len(g.gt)
    assert g.spin_until(lambda: len(g.gt) >= n + 5)
    assert len(requests) == 2
    seq = make_sequence(30, (320, 240), 2)
    x, y, w, h = seq.gt[0]
    gt_by_stamp = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in g.gt}
    for request in requests:
        held = gt_by_stamp[(request.header.stamp.sec, request.header.stamp.nanosec)]
        assert held.target_id == 1  # the request names a copy of the first frame
        assert (request.center_x, request.center_y, request.size_x, request.size_y) == \
            (x + w / 2, y + h / 2, w, h)
        assert request.header.frame_id == 'camera'
    accepted = requests[1].header.stamp
    later = [m.target_id for m in g.gt if (m.header.stamp.sec, m.header.stamp.nanosec) >
             (accepted.sec, accepted.nanosec) and m.target_id > 1]
    assert later[:3] == [2, 3, 4]  # after acceptance the scene plays from frame 1


def test_target_service_needs_a_first_box(ros_context, tmp_path):
    _write_folder(tmp_path, COLORS)
    with pytest.raises(SourceError, match='target_service needs the box'):
        VideoSourceNode(context=ros_context, namespace='/bad' + uuid.uuid4().hex[:8],
                        parameter_overrides=[Parameter('source', value=str(tmp_path)),
                                             Parameter('target_service', value='x/set_target')])


def test_reliable_images_reach_a_reliable_subscriber_and_bad_values_are_refused(graph,
                                                                                 ros_context):
    g = graph(rate=30.0, scene_frames=5, image_reliability='reliable')
    reliable_images = []
    g.probe.create_subscription(Image, 'image', reliable_images.append,
                                QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    # a reliable subscriber matches only a reliable publisher (with the default best-effort
    # one it gets nothing): that it gets frames shows the QoS took effect
    assert g.spin_until(lambda: len(reliable_images) >= 3)
    assert g.spin_until(lambda: len(g.images) >= 3)  # best-effort readers still get them
    with pytest.raises(SourceError, match='image_reliability'):
        VideoSourceNode(context=ros_context, namespace='/bad' + uuid.uuid4().hex[:8],
                        parameter_overrides=[Parameter('image_reliability', value='always')])
