"""The rar_tracker node on a real rclpy graph: tracking, reset, catch-up, clicks, dropping,
runtime parameters, debug image and diagnostics.

Each test starts its own tracker node (real RARTracker, efficientnet_lite0 trunk, 129 px crop,
CPU) and a client node in a fresh namespace, spun by the node's own executor in this process.
"""
import math
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('rar_tracking_msgs.msg')

from rar_tracking.data.synthetic import make_sequence  # noqa: E402
from rar_tracking.ros.diagnostics import WAIT_STAGES  # noqa: E402
from rar_tracking.ros.stamps import stamp_to_ns  # noqa: E402
from rar_tracking.ros.tracker_node import MESSAGE_INFO  # noqa: E402
from rar_tracking.types import Box, TrackState  # noqa: E402
from ros_helpers import TrackerSession  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def session(module_ros_context):
    s = TrackerSession(module_ros_context)
    yield s
    s.close()


@pytest.fixture(scope='module')
def sequence():
    # Slow, well textured target: this file tests the node, not the tracker's accuracy.
    return make_sequence(24, (320, 240), seed=0, speed=2.0)


def box_of(msg) -> Box:
    return Box.from_center(msg.center_x, msg.center_y, msg.size_x, msg.size_y)


def start_target(session, sequence, index: int = 0) -> int:
    """Publish frame ``index``, set the target on it through the service; its stamp."""
    client = session.client
    stamp = client.now_ns()
    client.publish_rgb(sequence.frame(index), stamp)
    assert client.wait_for(lambda: session.node._inbox.find(stamp) is not None, 5.0)
    response = client.set_target(sequence.gt[index], stamp)
    assert response.success, response.message
    return stamp


def test_tracks_a_moving_target_and_copies_headers(session, sequence):
    client = session.client
    init_stamp = start_target(session, sequence)
    assert client.wait_for(lambda: client.targets_for(init_stamp), 5.0)
    first = client.targets_for(init_stamp)[0]
    assert first.target_id == 1 and first.state == TrackState.TRACKING
    assert box_of(first).iou(Box(*sequence.gt[0])) > 0.9

    ious, latencies, inference = [], [], []
    start = time.monotonic()
    for i in range(1, len(sequence)):
        stamp = client.now_ns()
        msg = session.publish_and_wait(sequence.frame(i), stamp, frame_id='cam_optical')
        assert msg is not None, f'no TrackedTarget for frame {i}'
        assert stamp_to_ns(msg.header.stamp) == stamp and msg.header.frame_id == 'cam_optical'
        assert msg.target_id == 1 and msg.state in (TrackState.TRACKING, TrackState.LOST)
        assert stamp_to_ns(msg.processing_start) <= stamp_to_ns(msg.processing_end)
        assert msg.inference_ms > 0 and 0.0 <= msg.confidence <= 1.0
        ious.append(box_of(msg).iou(Box(*sequence.gt[i])))
        latencies.append((stamp_to_ns(msg.processing_end) - stamp) / 1e6)
        inference.append(msg.inference_ms)
    rate = (len(sequence) - 1) / (time.monotonic() - start)
    print(f'\nnode, lockstep 320x240: {rate:.1f} frames/s, latency stamp->processing_end '
          f'mean {np.mean(latencies):.0f} ms (max {np.max(latencies):.0f}), inference mean '
          f'{np.mean(inference):.0f} ms; mean IoU {np.mean(ious):.2f}')
    assert np.mean(ious) > 0.5, ious


def test_an_image_stamp_is_tracked_once(session, sequence):
    # A paced source re-sends an image it fears lost: the node must not track it twice.
    client = session.client
    start_target(session, sequence)
    stamp = client.now_ns()
    assert session.publish_and_wait(sequence.frame(1), stamp) is not None
    client.publish_rgb(sequence.frame(1), stamp)  # the same image again
    assert client.wait_for(lambda: session.node._stats.repeated_stamps == 1, 5.0)
    later = client.now_ns()
    assert session.publish_and_wait(sequence.frame(2), later) is not None
    assert len(client.targets_for(stamp)) == 1
    assert session.node._stats.processed == 3  # the target frame, 1 and 2; not the copy


def test_reset_publishes_idle_and_stops_publishing(session, sequence):
    client = session.client
    start_target(session, sequence)
    response = client.reset()
    assert response.success and 'target 1 cleared' in response.message
    assert client.wait_for(lambda: client.snapshot()[-1].state == TrackState.IDLE, 5.0)
    idle = client.snapshot()[-1]
    assert idle.target_id == 1 and idle.size_x == 0.0 and idle.confidence == 0.0
    count = len(client.snapshot())
    for i in (1, 2):
        client.publish_rgb(sequence.frame(i), client.now_ns())
    time.sleep(1.0)
    assert len(client.snapshot()) == count  # nothing is tracked while no target is set
    assert client.reset().message == 'no target was set'


def test_target_set_on_an_older_frame_catches_up_in_order(session, sequence):
    client = session.client
    stamps = []
    for i in range(5):
        stamps.append(client.now_ns())
        client.publish_rgb(sequence.frame(i), stamps[-1])
        assert client.wait_for(lambda: session.node._inbox.find(stamps[-1]) is not None, 5.0)
    response = client.set_target(sequence.gt[1], stamps[1])
    assert response.success and response.target_id == 1, response.message
    assert client.wait_for(lambda: len(client.snapshot()) >= 4, 15.0)
    got = [stamp_to_ns(m.header.stamp) for m in client.snapshot()]
    assert got == stamps[1:], 'every buffered frame from the target frame on, once, in order'


def test_fast_publisher_drops_frames_and_never_builds_a_backlog(session, sequence):
    client = session.client
    start_target(session, sequence)
    frames = [sequence.frame(i % len(sequence)) for i in range(60)]
    stamps = []
    for frame in frames:
        # 100 Hz: much faster than the tracker, slow enough for the middleware's one-deep
        # queue to hand every frame to the node (frames overwritten there are not counted).
        stamps.append(client.now_ns())
        client.publish_rgb(frame, stamps[-1])
        time.sleep(0.01)
    sent = time.monotonic()
    assert client.wait_for(lambda: client.targets_for(stamps[-1]), 10.0), \
        'the newest frame is always processed'
    settle = time.monotonic() - sent
    time.sleep(0.5)
    burst = [m for m in client.snapshot() if stamp_to_ns(m.header.stamp) in set(stamps)]
    dropped = sum(m.dropped_frames for m in burst)
    print(f'\n60 frames in a burst: {len(burst)} processed, {dropped} reported dropped, '
          f'newest processed {settle:.2f} s after the burst')
    assert dropped > 0
    assert len(burst) + dropped <= len(stamps)
    assert len(burst) < len(stamps) / 2
    assert stamp_to_ns(burst[-1].header.stamp) == stamps[-1]
    order = [stamps.index(stamp_to_ns(m.header.stamp)) for m in burst]
    assert order == sorted(order), 'frames are processed in arrival order'
    # A queue would need ~len(burst) x inference time per queued frame; the newest-frame
    # slot finishes within about two frames of work.
    per_frame_s = max(m.inference_ms for m in burst) / 1e3
    assert settle < 3 * per_frame_s + 1.0, (settle, per_frame_s)
    # The node's own account: it started each image while at most one newer one had
    # arrived (one may come while the taken one is decoded); a queue would report dozens.
    assert session.node._stats.max_newer_at_start <= 1, session.node._stats.max_newer_at_start


def test_runtime_parameters_apply_and_read_only_ones_are_refused(session, sequence):
    client = session.client
    start_target(session, sequence)
    msg = session.publish_and_wait(sequence.frame(1), client.now_ns())
    assert msg.state == TrackState.TRACKING

    # Every frame becomes a miss and a lost target is never found again.
    # (set one by one, in an order that keeps lost <= recover <= confidence at every step)
    results = client.set_parameters(confidence_threshold=1.0, recover_threshold=1.0,
                                    lost_threshold=1.0, lost_frames=1)
    assert all(r.successful for r in results), [r.reason for r in results]
    states = [session.publish_and_wait(sequence.frame(i), client.now_ns()).state
              for i in (2, 3)]
    assert states == [TrackState.LOST, TrackState.LOST]
    assert session.node._tracker.config.lost_threshold == 1.0

    results = client.set_parameters(lost_threshold=0.0, recover_threshold=0.0)
    assert all(r.successful for r in results)
    assert session.publish_and_wait(sequence.frame(4), client.now_ns()).state == \
        TrackState.TRACKING

    (result,) = client.set_parameters(crop_size=225)
    assert not result.successful and 'read-only' in result.reason
    (result,) = client.set_parameters(lost_threshold=1.5)  # outside [0, 1]
    assert not result.successful
    (result,) = client.set_parameters(lost_threshold='high')
    assert not result.successful
    assert session.node.get_parameter('crop_size').value == 129
    assert session.node._tracker.config.lost_threshold == 0.0


def test_clicks_set_targets(session, sequence):
    client = session.client
    (result,) = client.set_parameters(click_box_size=40)
    assert result.successful
    stamps = []
    for i in range(3):
        stamps.append(client.now_ns())
        client.publish_rgb(sequence.frame(i), stamps[-1])
        assert client.wait_for(lambda: session.node._inbox.find(stamps[-1]) is not None, 5.0)

    # PointStamped: the pixel of the image named by the stamp.
    cx, cy = Box(*sequence.gt[1]).center
    client.click(cx, cy, stamps[1], 'camera')
    assert client.wait_for(lambda: client.targets_for(stamps[1]), 10.0)
    first = client.targets_for(stamps[1])[0]
    assert first.target_id == 1
    assert math.isclose(first.center_x, cx) and math.isclose(first.center_y, cy)
    assert (first.size_x, first.size_y) == (40.0, 40.0)
    assert client.wait_for(lambda: client.targets_for(stamps[2]), 10.0)  # caught up

    # Point (rqt_image_view): the newest image; near the corner, so the box is clipped.
    client.click_point(5.0, 7.0)
    assert client.wait_for(lambda: any(m.target_id == 2 for m in client.snapshot()), 10.0)
    second = next(m for m in client.snapshot() if m.target_id == 2)
    assert stamp_to_ns(second.header.stamp) == stamps[2]
    assert box_of(second).iou(Box(0.0, 0.0, 25.0, 27.0)) > 0.99

    # Clicks that cannot set a target are ignored; the node keeps tracking target 2.
    client.click(float('nan'), 10.0)
    client.click(10.0, 10.0, stamp_ns=123)  # no such image
    client.click(10.0, 10.0, stamps[2], frame_id='other_camera')
    time.sleep(0.5)
    msg = session.publish_and_wait(sequence.frame(3), client.now_ns())
    assert msg is not None and msg.target_id == 2


def test_debug_image_shows_state_with_the_input_header(session, sequence):
    client = session.client
    client.subscribe_debug_image()
    debug_pub = session.node._outputs.debug_pub
    assert client.wait_for(lambda: debug_pub.get_subscription_count() > 0, 5.0)
    idle_stamp = client.now_ns()
    client.publish_rgb(sequence.frame(0), idle_stamp)
    assert client.wait_for(lambda: client.snapshot('debug_images'), 10.0), \
        'debug image published while idle (to click on)'
    idle = client.snapshot('debug_images')[0]
    assert stamp_to_ns(idle.header.stamp) == idle_stamp and idle.encoding == 'rgb8'
    assert (idle.width, idle.height) == (320, 240)

    response = client.set_target(sequence.gt[0], idle_stamp)
    assert response.success
    stamp = client.now_ns()
    assert session.publish_and_wait(sequence.frame(1), stamp) is not None
    assert client.wait_for(lambda: any(stamp_to_ns(m.header.stamp) == stamp
                                       for m in client.snapshot('debug_images')), 5.0)
    image = next(m for m in client.snapshot('debug_images')
                 if stamp_to_ns(m.header.stamp) == stamp)
    pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(240, 320, 3)
    target = client.targets_for(stamp)[0]
    x0 = int(round(target.center_x - target.size_x / 2))
    y0 = int(round(target.center_y - target.size_y / 2))
    edge = pixels[y0 + 1:y0 + int(target.size_y) - 1, x0]  # the left side of the box
    green = (edge[:, 1] > 180) & (edge[:, 0] < 90) & (edge[:, 2] < 90)
    assert green.mean() > 0.8, 'the box is drawn in the TRACKING colour'


def test_diagnostics_report_rate_latency_and_device(session, sequence):
    client = session.client
    start_target(session, sequence)
    for i in range(1, 4):
        assert session.publish_and_wait(sequence.frame(i), client.now_ns()) is not None
    name = f'{session.namespace}/rar_tracker: tracker'

    def ours():
        return [s for a in client.snapshot('diagnostics') for s in a.status if s.name == name]

    def counted(status):
        values = {kv.key: kv.value for kv in status.values}
        return values.get('frames_received') == '4' and values.get('frames_processed') == '4'

    assert client.wait_for(lambda: any(counted(s) for s in ours()), 5.0)
    status = [s for s in ours() if counted(s)][-1]
    values = {kv.key: kv.value for kv in status.values}
    assert status.hardware_id == 'cpu' and values['device'] == 'cpu'
    assert values['trunk'] == 'efficientnet_lite0' and values['dropped_frames'] == '0'
    assert values['profile'] == 'balanced (crop 129)'  # the default profile, crop from the test
    assert values['state'] in ('TRACKING', 'LOST') and values['target_id'] == '1'
    for key in ('input_rate_hz', 'processed_rate_hz', 'mean_latency_ms', 'max_latency_ms',
                'mean_inference_ms'):
        assert key in values
    # Where the images waited, stage by stage (message info: rclpy since Jazzy), measured
    # on this graph: each stage seen in some period, none negative or absurd.
    periods = [{kv.key: kv.value for kv in s.values} for s in ours()]
    stages = WAIT_STAGES if MESSAGE_INFO else ('callback_to_start',)
    for stage in stages:
        waits = [float(p[f'max_{stage}_ms']) for p in periods]
        seen = [w for w in waits if w == w]  # nan: no image started in that period
        assert seen and all(0.0 <= w < 5000.0 for w in seen), (stage, waits)
    assert values['started_behind_newest'] == '0', 'one image at a time: never behind'
    print(f'\ndiagnostics: {values}')


def test_compressed_input(module_ros_context, sequence):
    import array

    import cv2
    from sensor_msgs.msg import CompressedImage

    session = TrackerSession(module_ros_context, {'use_compressed': True})
    try:
        client = session.client
        assert client.wait_for(lambda: client.compressed_pub.get_subscription_count() > 0, 5.0)

        def publish(i, stamp):
            msg = CompressedImage(format='jpeg')
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            ok, buf = cv2.imencode('.jpg', cv2.cvtColor(sequence.frame(i), cv2.COLOR_RGB2BGR))
            msg.data = array.array('B', buf.tobytes())
            client.compressed_pub.publish(msg)

        stamp = client.now_ns()
        publish(0, stamp)
        assert client.wait_for(lambda: session.node._inbox.find(stamp) is not None, 5.0)
        assert client.set_target(sequence.gt[0]).success  # zero stamp: the newest image
        stamp = client.now_ns()
        publish(1, stamp)
        assert client.wait_for(lambda: client.targets_for(stamp), 10.0)
        msg = client.targets_for(stamp)[0]
        assert box_of(msg).iou(Box(*sequence.gt[1])) > 0.5
    finally:
        session.close()
