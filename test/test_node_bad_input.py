"""Bad input to the rar_tracker node: refused requests say why, bad images and tracker
failures are logged and skipped, and the node keeps running and answering."""
import array
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('rar_tracking_msgs.msg')

from sensor_msgs.msg import Image  # noqa: E402

from rar_tracking.data.synthetic import make_sequence  # noqa: E402
from rar_tracking.ros.stamps import ns_to_stamp  # noqa: E402
from rar_tracking.tracker import RARTracker  # noqa: E402
from rar_tracking.types import Box, TrackState  # noqa: E402
from ros_helpers import TrackerSession  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope='module')
def sequence():
    return make_sequence(12, (320, 240), seed=0, speed=2.0)


@pytest.fixture
def session(module_ros_context):
    s = TrackerSession(module_ros_context)
    yield s
    s.close()


class FaultInjectingTracker(RARTracker):
    """The real tracker, plus two faults the tests switch on: ``track`` raises on an
    all-black frame, and ``initialize`` waits ``init_delay`` seconds first."""

    init_delay = 0.0

    def initialize(self, image, box):
        time.sleep(self.init_delay)
        return super().initialize(image, box)

    def track(self, image):
        if not image.any():
            raise RuntimeError('injected fault: all-black frame')
        return super().track(image)


def publish_and_buffer(session, rgb, **kwargs) -> int:
    client = session.client
    stamp = client.now_ns()
    client.publish_rgb(rgb, stamp, **kwargs)
    assert client.wait_for(lambda: session.node._inbox.find(stamp) is not None, 5.0)
    return stamp


def raw_image(stamp: int, width: int, height: int, encoding: str, step: int, nbytes: int):
    msg = Image(width=width, height=height, encoding=encoding, step=step)
    msg.header.stamp = ns_to_stamp(stamp)
    msg.data = array.array('B', bytes(nbytes))
    return msg


def diagnostics_value(session, key: str) -> str | None:
    name = f'{session.namespace}/rar_tracker: tracker'
    for diag in reversed(session.client.snapshot('diagnostics')):
        for status in diag.status:
            if status.name == name:
                return {kv.key: kv.value for kv in status.values}[key]
    return None


def test_set_target_before_any_image_fails_cleanly(session):
    response = session.client.set_target((10, 10, 20, 20))
    assert not response.success and response.target_id == 0
    assert 'no image received yet' in response.message
    assert session.namespace + '/image' in response.message


def test_unknown_stamp_lists_the_buffered_stamps(session, sequence):
    stamps = [publish_and_buffer(session, sequence.frame(i)) for i in range(2)]
    # farther from every buffered stamp than stamp_tolerance (0.1 s by default)
    response = session.client.set_target(sequence.gt[0], stamps[0] - 10**9)
    assert not response.success
    text = response.message
    assert 'no buffered image has stamp' in text and '2 buffered images' in text
    assert 'older than every buffered image, by 1.000 s' in text  # and why it is gone
    assert 'frame_buffer_size = ' in text
    # 2 s newer than the newest image: not waited for (only up to 1 s is), and said so
    response = session.client.set_target(sequence.gt[0], stamps[-1] + 2 * 10**9)
    assert not response.success
    assert 'newer than the newest received image, by 2.000 s' in response.message
    for stamp in stamps:
        assert f'{stamp // 10**9}.{stamp % 10**9:09d}' in text


def test_a_stamp_whose_image_was_lost_uses_the_nearest_image_and_says_so(session, sequence):
    client = session.client
    first = publish_and_buffer(session, sequence.frame(0))
    lost = first + 33_000_000  # an image that never reached the node
    client.publish_rgb(sequence.frame(2), first + 66_000_000)
    assert client.wait_for(lambda: session.node._inbox.find(first + 66_000_000), 5.0)
    response = client.set_target(sequence.gt[0], lost)
    assert response.success, response.message
    assert 'nearest buffered one was used' in response.message
    assert f'{first // 10**9}.{first % 10**9:09d}' in response.message  # the older of a tie
    client.set_parameters(stamp_tolerance=0.0)
    response = client.set_target(sequence.gt[0], lost)
    assert not response.success and 'no buffered image has stamp' in response.message
    assert 'never reached the node: the nearest buffered one is 33.0 ms away' in \
        response.message


def test_bad_boxes_are_refused_with_a_reason(session, sequence):
    client = session.client
    stamp = publish_and_buffer(session, sequence.frame(0))
    nan, inf = float('nan'), float('inf')
    cases = [((nan, 10, 20, 20), 'not finite'), ((10, 10, inf, 20), 'not finite'),
             ((10, 10, 0, 20), 'must be positive'), ((10, 10, 20, -5), 'must be positive'),
             ((400, 300, 20, 20), 'does not overlap the 320x240 image'),
             ((-50, -50, 30, 30), 'does not overlap')]
    for box, words in cases:
        response = client.set_target(box, stamp)
        assert not response.success and words in response.message, (box, response.message)
    response = client.set_target((10, 10, 20, 20), stamp, frame_id='another_camera')
    assert not response.success and 'does not match' in response.message
    assert not client.snapshot(), 'no refused request set a target'

    response = client.set_target((300, 200, 40, 60), stamp, frame_id='camera')
    assert response.success and 'clipped' in response.message and response.target_id == 1
    assert client.wait_for(lambda: client.targets_for(stamp), 5.0)
    clipped = client.targets_for(stamp)[0]
    assert (clipped.size_x, clipped.size_y) == (20.0, 40.0)


def test_bad_images_are_skipped_and_tracking_goes_on(session, sequence, capfd):
    client = session.client
    stamp = publish_and_buffer(session, sequence.frame(0))
    assert client.set_target(sequence.gt[0], stamp).success

    bad = []
    for width, height, encoding, step, nbytes in [
            (320, 240, '32FC1', 320 * 4, 320 * 4 * 240),  # unsupported encoding
            (320, 240, 'rgb8', 320 * 3 - 1, 320 * 3 * 240),  # step shorter than a row
            (320, 240, 'rgb8', 320 * 3, 320 * 3 * 240 - 1),  # data shorter than step*height
            (0, 240, 'rgb8', 0, 0)]:  # zero size
        bad.append(client.now_ns())
        client.image_pub.publish(raw_image(bad[-1], width, height, encoding, step, nbytes))
        assert client.wait_for(lambda: session.node._inbox.find(bad[-1]) is not None, 5.0)
        time.sleep(0.3)  # let the tracker thread take each one

    # Frames in other supported encodings are tracked like rgb8.
    for i, encoding in ((1, 'bgr8'), (2, 'rgb8')):
        msg = session.publish_and_wait(sequence.frame(i), client.now_ns(), encoding=encoding)
        assert msg is not None and msg.target_id == 1
        assert box_iou(msg, sequence.gt[i]) > 0.5
    assert all(not client.targets_for(s) for s in bad)
    assert client.wait_for(lambda: diagnostics_value(session, 'decode_errors') == '4', 3.0)
    log = capfd.readouterr().err
    for words in ("unsupported image encoding '32FC1'", 'step 959 is smaller than one row',
                  'needs step x height = 230400', 'image of zero size'):
        assert words in log, f'an error is logged for each kind of bad image: {words}'

    # A target cannot be set on an image the node cannot read; the message says why.
    response = client.set_target((10, 10, 20, 20), bad[0])
    assert not response.success and "'32FC1'" in response.message
    assert client.reset().success


def box_iou(msg, gt) -> float:
    return Box.from_center(msg.center_x, msg.center_y, msg.size_x, msg.size_y).iou(Box(*gt))


def test_a_stray_frame_of_another_size_is_skipped_a_lasting_change_clears_the_target(
        session, sequence, capfd):
    # Issue 11, defect 3: one stray (or 1x1) frame must not end tracking.
    client = session.client
    assert client.set_parameters(size_change_frames=2)[0].successful
    stamp = publish_and_buffer(session, sequence.frame(0))
    assert client.set_target(sequence.gt[0], stamp).success
    small = np.ascontiguousarray(sequence.frame(1)[::2, ::2])
    stray = publish_and_buffer(session, np.zeros((1, 1, 3), np.uint8))
    time.sleep(0.3)  # the tracker thread takes it before the next frame replaces it
    msg = session.publish_and_wait(sequence.frame(1), client.now_ns())
    assert msg is not None and msg.state == TrackState.TRACKING and msg.target_id == 1
    assert not client.targets_for(stray)
    assert 'frame skipped, target kept' in capfd.readouterr().err
    stamp = client.now_ns()
    assert session.publish_and_wait(small, stamp, timeout=3.0) is None, 'one is skipped'
    stamp = client.now_ns()
    msg = session.publish_and_wait(small, stamp)  # the second in a row clears the target
    assert msg is not None and msg.state == TrackState.IDLE and msg.target_id == 1
    assert msg.size_x == 0.0
    assert 'the target is cleared' in capfd.readouterr().err
    stamp = publish_and_buffer(session, small)
    time.sleep(0.5)
    assert not client.targets_for(stamp), 'nothing is tracked after the target was cleared'
    response = client.set_target((10, 10, 30, 30), stamp)
    assert response.success and response.target_id == 2


def test_tracker_exception_is_logged_and_the_target_kept(module_ros_context, sequence):
    session = TrackerSession(module_ros_context, tracker_factory=FaultInjectingTracker)
    try:
        client = session.client
        stamp = publish_and_buffer(session, sequence.frame(0))
        assert client.set_target(sequence.gt[0], stamp).success
        black = publish_and_buffer(session, np.zeros((240, 320, 3), np.uint8))
        time.sleep(0.3)  # the tracker thread takes it before the next frame replaces it
        msg = session.publish_and_wait(sequence.frame(1), client.now_ns())
        assert msg is not None and msg.target_id == 1 and msg.state == TrackState.TRACKING
        assert not client.targets_for(black)
        assert client.wait_for(lambda: diagnostics_value(session, 'tracker_errors') == '1',
                               3.0)
    finally:
        session.close()


def test_set_target_timeout_cancels_the_request_and_keeps_the_old_target(module_ros_context, sequence):
    session = TrackerSession(module_ros_context, {'init_timeout': 0.3},
                             tracker_factory=FaultInjectingTracker)
    try:
        client = session.client
        stamp = publish_and_buffer(session, sequence.frame(0))
        assert client.set_parameters(init_timeout=10.0)[0].successful
        assert client.set_target(sequence.gt[0], stamp).target_id == 1
        assert client.set_parameters(init_timeout=0.3)[0].successful
        session.node._tracker.init_delay = 1.0
        response = client.set_target((10, 10, 30, 30), stamp)
        assert not response.success and 'init_timeout' in response.message
        time.sleep(1.2)  # the abandoned initialization finishes and is undone
        session.node._tracker.init_delay = 0.0
        msg = session.publish_and_wait(sequence.frame(1), client.now_ns())
        assert msg is not None and msg.target_id == 1
        assert box_iou(msg, sequence.gt[1]) > 0.5, 'still the first target'
        assert [m.target_id for m in client.snapshot()] == [1, 1]
    finally:
        session.close()
