"""The target's bearing from the rar_tracker node, on a real rclpy graph: without camera_info
nothing is published; with it, every tracked image gives a ray, an angular size and an rviz
arrow with the image's header, equal to what rar_tracking.camera computes for the box."""
import math

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('rar_tracking_msgs.msg')

from geometry_msgs.msg import Vector3Stamped  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from rar_tracking.camera import CameraModel  # noqa: E402
from rar_tracking.data.synthetic import make_sequence  # noqa: E402
from rar_tracking.ros.bearing import camera_info_topic  # noqa: E402
from rar_tracking.ros.stamps import ns_to_stamp, stamp_to_ns  # noqa: E402
from rar_tracking.types import Box, TrackState  # noqa: E402
from ros_helpers import TrackerSession  # noqa: E402

pytestmark = pytest.mark.ros

K = [280.0, 0.0, 150.0, 0.0, 270.0, 125.0, 0.0, 0.0, 1.0]
D = [-0.2, 0.05, 0.001, -0.001, 0.0]
FRAME = 'cam_optical'


def test_camera_info_topic_follows_image_transport_naming():
    assert camera_info_topic('/camera/image_raw') == '/camera/camera_info'
    assert camera_info_topic('/camera/image_raw/compressed') == '/camera/camera_info'
    assert camera_info_topic('/cam1/image') == '/cam1/camera_info'
    assert camera_info_topic('/image') == '/camera_info'


def _camera_info(stamp_ns: int) -> CameraInfo:
    info = CameraInfo()
    info.header.stamp = ns_to_stamp(stamp_ns)
    info.header.frame_id = FRAME
    info.width, info.height = 320, 240
    info.distortion_model = 'plumb_bob'
    info.k, info.d = K, D
    return info


@pytest.mark.slow
def test_ray_published_with_the_image_header(module_ros_context):
    session = TrackerSession(module_ros_context)
    try:
        client = session.client
        node = client.node
        rays, sizes, markers = [], [], []
        name = 'rar_tracker'
        node.create_subscription(Vector3Stamped, f'{name}/target_ray', rays.append, 50)
        node.create_subscription(Vector3Stamped, f'{name}/target_angular_size', sizes.append, 50)
        node.create_subscription(Marker, f'{name}/target_marker', markers.append, 50)
        info_pub = node.create_publisher(CameraInfo, 'camera_info', 10)
        seq = make_sequence(6, (320, 240), seed=2, speed=3.0)

        # No camera_info yet: tracking works and no bearing is published.
        stamp = client.now_ns()
        client.publish_rgb(seq.frame(0), stamp, frame_id=FRAME)
        assert client.wait_for(lambda: session.node._inbox.find(stamp) is not None, 5.0)
        assert client.set_target(seq.gt[0], stamp).success
        msg = session.publish_and_wait(seq.frame(1), client.now_ns(), frame_id=FRAME)
        assert msg is not None and msg.state == TrackState.TRACKING
        assert not client.wait_for(lambda: rays or sizes or markers, 1.0)

        # With camera_info stamped like the images: one ray per tracked image.
        assert client.wait_for(lambda: info_pub.get_subscription_count() > 0, 5.0)
        model = CameraModel(K, D, 'plumb_bob', 320, 240)
        for i in range(2, len(seq)):
            stamp = client.now_ns()
            info_pub.publish(_camera_info(stamp))
            assert client.wait_for(
                lambda: stamp in session.node._outputs.bearing._infos, 5.0)
            target = session.publish_and_wait(seq.frame(i), stamp, frame_id=FRAME)
            assert target is not None and target.state == TrackState.TRACKING
            # Ray and angular size come on two topics: wait for both, not just one
            # (the second can still be in flight when the first has landed).
            assert client.wait_for(lambda: any(
                stamp_to_ns(r.header.stamp) == stamp for r in rays) and any(
                stamp_to_ns(s.header.stamp) == stamp for s in sizes), 5.0)
            ray = next(r for r in rays if stamp_to_ns(r.header.stamp) == stamp)
            size = next(s for s in sizes if stamp_to_ns(s.header.stamp) == stamp)
            assert ray.header.frame_id == size.header.frame_id == FRAME
            box = Box.from_center(target.center_x, target.center_y, target.size_x,
                                  target.size_y)
            expected = model.bearing(box)
            got = (ray.vector.x, ray.vector.y, ray.vector.z)
            assert math.isclose(np.linalg.norm(got), 1.0, abs_tol=1e-9)
            assert got == pytest.approx(expected.ray, abs=1e-9)
            # The box is left of and below the principal point in these frames or not:
            # the ray's signs follow the box centre's side of (cx, cy).
            assert np.sign(got[0]) == np.sign(target.center_x - K[2])
            assert np.sign(got[1]) == np.sign(target.center_y - K[5])
            assert size.vector.x == pytest.approx(expected.angular_width, abs=1e-9)
            assert size.vector.y == pytest.approx(expected.angular_height, abs=1e-9)
            assert 0 < size.vector.x < math.pi and 0 < size.vector.y < math.pi
        assert client.wait_for(lambda: len(markers) >= len(seq) - 2, 5.0)
        arrow = markers[-1]
        assert arrow.type == Marker.ARROW and arrow.header.frame_id == FRAME
        tip = arrow.points[1]
        last = rays[-1].vector
        assert (tip.x, tip.y, tip.z) == pytest.approx(
            (last.x, last.y, last.z), rel=1e-6)  # 1 m along the ray
        print(f'\nbearing: {len(rays)} rays; last {got} (off-axis '
              f'{math.degrees(math.acos(got[2])):.2f} deg), angular size '
              f'{math.degrees(size.vector.x):.2f} x {math.degrees(size.vector.y):.2f} deg')
    finally:
        session.close()
