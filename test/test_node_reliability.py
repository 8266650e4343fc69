"""The rar_tracker node under load, on a real rclpy graph (issue 11): a stamp of any recent
image can be used while images stream, services do not starve the image callback, a reset
that timed out is never applied later, oversized images are refused, and the ring of recent
frames is bounded in bytes."""
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('rar_tracking_msgs.msg')

from rar_tracking_msgs.srv import SetTarget  # noqa: E402

from rar_tracking.data.synthetic import make_sequence  # noqa: E402
from rar_tracking.ros.image_conversion import rgb_to_image_msg  # noqa: E402
from rar_tracking.ros.inbox import Inbox  # noqa: E402
from rar_tracking.ros.stamps import ns_to_stamp  # noqa: E402
from rar_tracking.types import TrackState  # noqa: E402
from ros_helpers import TrackerSession  # noqa: E402
from test_node_bad_input import FaultInjectingTracker, diagnostics_value  # noqa: E402

pytestmark = pytest.mark.ros


class Camera:
    """Publishes pre-built frames at ``rate_hz`` on a thread; remembers every stamp sent."""

    def __init__(self, session, frames, rate_hz: float):
        self.client, self.rate_hz = session.client, rate_hz
        self.msgs = [rgb_to_image_msg(f) for f in frames]
        self.sent: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        i = 0
        while not self._stop.is_set():
            self.publish(i)
            i += 1
            time.sleep(1.0 / self.rate_hz)

    def publish(self, i: int) -> int:
        msg = self.msgs[i % len(self.msgs)]
        stamp = self.client.now_ns()
        msg.header.stamp, msg.header.frame_id = ns_to_stamp(stamp), 'camera'
        self.client.image_pub.publish(msg)
        self.sent.append(stamp)
        return stamp

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope='module')
def vga():
    return make_sequence(8, (640, 480), seed=3, speed=2.0, target_size=(64, 52))


def test_set_target_with_the_stamp_of_an_image_just_published_under_load(module_ros_context,
                                                                          vga):
    # Issue 11, defect 2: a box drawn on an image the user saw must be usable, even when
    # the request reaches the node before the image does and while the node is busy.
    session = TrackerSession(module_ros_context)
    try:
        client = session.client
        with Camera(session, [vga.frame(i) for i in range(8)], 10.0) as camera:
            time.sleep(0.5)
            assert client.set_target(vga.gt[0]).success
            results = []
            for k in range(10):
                if k % 2:  # an image from up to a second ago
                    stamp = camera.sent[-1 - (k * 3) % 9]
                else:  # the image just sent: the request may overtake it on the wire
                    stamp = camera.publish(k)
                response = client.set_target(vga.gt[0], stamp)
                results.append((response.success, response.message))
        assert all(ok for ok, _ in results), [m for ok, m in results if not ok]
    finally:
        session.close()


def test_concurrent_service_calls_do_not_starve_the_image_callback(module_ros_context, vga):
    # Issue 11, defect 5: eight set_target calls that each wait for the tracker thread
    # must not take every executor thread: images keep reaching the node meanwhile.
    session = TrackerSession(module_ros_context, tracker_factory=FaultInjectingTracker)
    try:
        client = session.client
        frames = [vga.frame(i)[::2, ::2].copy() for i in range(4)]
        with Camera(session, frames, 20.0) as camera:
            time.sleep(0.5)
            session.node._tracker.init_delay = 0.4
            received0, sent0 = session.node._inbox.received, len(camera.sent)
            futures = []
            for _ in range(8):  # a 30 x 30 box centred on (80, 60)
                futures.append(client.set_target_client.call_async(_request((65, 45, 30, 30))))
            assert client.wait_for(lambda: all(f.done() for f in futures), 60.0)
            received = session.node._inbox.received - received0
            sent = len(camera.sent) - sent0
        assert all(f.result().message for f in futures), 'every call is answered with words'
        assert received >= 0.9 * sent, f'{received} of {sent} images reached the callback'
    finally:
        session.close()


def test_a_reset_that_timed_out_is_never_applied(module_ros_context, vga):
    # Issue 11, defect 5: a reset whose requester gave up must not clear the target later.
    session = TrackerSession(module_ros_context, tracker_factory=FaultInjectingTracker)
    try:
        client = session.client
        camera = Camera(session, [vga.frame(i) for i in range(2)], 1.0)
        stamp = camera.publish(0)
        assert client.set_target(vga.gt[0], stamp).target_id == 1
        assert client.set_parameters(init_timeout=0.3)[0].successful
        session.node._tracker.init_delay = 1.5
        slow = client.set_target_client.call_async(_request(vga.gt[0]))  # keeps the thread busy
        time.sleep(0.1)
        response = client.reset()
        assert not response.success and 'cancelled' in response.message
        assert client.wait_for(slow.done, 10.0)
        time.sleep(1.8)  # the slow initialization ends (and is undone); the reset comes next
        session.node._tracker.init_delay = 0.0
        msg = session.publish_and_wait(vga.frame(1), client.now_ns())
        assert msg is not None and msg.target_id == 1 and msg.state == TrackState.TRACKING
        assert all(m.state != TrackState.IDLE for m in client.snapshot()), 'no IDLE published'
    finally:
        session.close()


def _request(box):
    request = SetTarget.Request()
    x, y, w, h = (float(v) for v in box)
    request.center_x, request.center_y, request.size_x, request.size_y = \
        x + w / 2, y + h / 2, w, h
    return request


def test_images_over_max_image_pixels_are_refused_with_a_warning(module_ros_context, vga,
                                                                 capfd):
    # Issue 11, defect 4: no cap on image size. 640x480 is 307200 pixels.
    session = TrackerSession(module_ros_context, {'max_image_pixels': 200_000})
    try:
        client = session.client
        camera = Camera(session, [vga.frame(0), vga.frame(0)[::2, ::2].copy()], 1.0)
        big = camera.publish(0)
        small = camera.publish(1)
        assert client.wait_for(lambda: session.node._inbox.find(small) is not None, 5.0)
        response = client.set_target((10, 10, 30, 30), big)
        assert not response.success and 'no buffered image has stamp' in response.message
        assert client.set_target((10, 10, 30, 30), small).success
        assert client.wait_for(lambda: diagnostics_value(session, 'oversized_frames') == '1',
                               5.0)
        assert 'larger than max_image_pixels = 200000' in capfd.readouterr().err
    finally:
        session.close()


def test_the_frame_ring_is_bounded_in_bytes():
    inbox = Inbox(ring_size=30, max_bytes=2500)
    for stamp in range(1, 11):
        inbox.put_frame(stamp, 'cam', type('Msg', (), {'data': bytes(1000)})())
    assert inbox.buffered_stamps() == [9, 10] and inbox.ring_bytes == 2000
    inbox.put_frame(11, 'cam', type('Msg', (), {'data': bytes(5000)})())
    assert inbox.buffered_stamps() == [11], 'the newest frame is always kept'
