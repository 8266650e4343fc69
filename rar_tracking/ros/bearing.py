"""The target's bearing on ROS: camera_info in, ``~/target_ray``, ``~/target_angular_size`` and
an rviz arrow out (the geometry is :mod:`rar_tracking.camera`).

The camera_info topic is the one image_transport pairs with the image topic: ``camera_info``
in the image topic's namespace (``/camera/image_raw`` -> ``/camera/camera_info``; the
``/compressed`` suffix is not part of the base name). It is optional: until a CameraInfo
arrives nothing is published here. Each tracked image (state TRACKING) is matched to the
CameraInfo with its stamp, or else the newest one (calibrations rarely change); the ray is
published with the image's header, so it is in the image's (optical) frame.
May import: rclpy, the ROS message packages, :mod:`rar_tracking.camera`, :mod:`rar_tracking.types`.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from geometry_msgs.msg import Point, Vector3Stamped
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo
from visualization_msgs.msg import Marker

from ..camera import CalibrationError, CameraModel
from ..types import TrackResult, TrackState
from .events import quiet_publisher_events, quiet_subscription_events
from .stamps import stamp_to_ns

ARROW_LENGTH = 1.0  # m: the marker shows a direction, not a distance
_KEEP = 30  # CameraInfo messages kept for matching by stamp


def camera_info_topic(image_topic: str) -> str:
    """image_transport's camera_info topic for an image topic (resolved names)."""
    base = image_topic.rstrip('/')
    if base.endswith('/compressed'):
        base = base[:-len('/compressed')]
    namespace = base.rsplit('/', 1)[0]
    return f'{namespace}/camera_info'


def model_from_camera_info(msg: CameraInfo) -> CameraModel:
    """A :class:`CameraModel` of a CameraInfo (raises CalibrationError when unusable)."""
    return CameraModel(list(msg.k), list(msg.d), msg.distortion_model, msg.width, msg.height,
                       msg.binning_x or 1, msg.binning_y or 1, msg.roi.x_offset,
                       msg.roi.y_offset)


class BearingOutput:
    """Subscribes the camera_info beside the image topic and publishes the target's bearing."""

    def __init__(self, node, image_topic: str, callback_group=None):
        self._logger = node.get_logger()
        self._lock = threading.Lock()
        self._infos: OrderedDict[int, CameraInfo] = OrderedDict()  # stamp_ns -> msg
        self._models: dict[tuple, CameraModel | None] = {}
        self.topic = camera_info_topic(image_topic)
        quiet = quiet_publisher_events()
        self.info_sub = node.create_subscription(
            CameraInfo, self.topic, self._on_camera_info, qos_profile_sensor_data,
            callback_group=callback_group, event_callbacks=quiet_subscription_events())
        self.ray_pub = node.create_publisher(Vector3Stamped, '~/target_ray', 10,
                                             event_callbacks=quiet)
        self.size_pub = node.create_publisher(Vector3Stamped, '~/target_angular_size', 10,
                                              event_callbacks=quiet)
        self.marker_pub = node.create_publisher(Marker, '~/target_marker', QoSProfile(depth=5),
                                                event_callbacks=quiet)
        self._marker_shown = False

    def _on_camera_info(self, msg: CameraInfo) -> None:
        with self._lock:
            self._infos[stamp_to_ns(msg.header.stamp)] = msg
            self._infos.move_to_end(stamp_to_ns(msg.header.stamp))
            while len(self._infos) > _KEEP:
                self._infos.popitem(last=False)

    def _match(self, stamp_ns: int) -> CameraInfo | None:
        with self._lock:
            if not self._infos:
                return None
            return self._infos.get(stamp_ns) or next(reversed(self._infos.values()))

    def _model(self, info: CameraInfo) -> CameraModel | None:
        key = (tuple(info.k), tuple(info.d), info.distortion_model, info.width, info.height,
               info.binning_x, info.binning_y, info.roi.x_offset, info.roi.y_offset)
        if key not in self._models:
            try:
                self._models[key] = model_from_camera_info(info)
            except CalibrationError as exc:
                self._logger.error(f'camera_info on {self.topic} is not usable: {exc}; no '
                                   'bearing is published for it')
                self._models[key] = None
            if len(self._models) > 8:  # a camera that keeps changing its calibration
                self._models.pop(next(iter(self._models)))
        return self._models.get(key)

    def publish(self, header, result: TrackResult, image_size: tuple[int, int]) -> bool:
        """Publish the bearing of a tracked image; False when there is none to publish."""
        if result.state != TrackState.TRACKING:
            self._delete_marker(header)
            return False
        info = self._match(stamp_to_ns(header.stamp))
        if info is None:
            return False
        model = self._model(info)
        if model is None:
            return False
        expected = model.image_size()
        if expected != (0, 0) and expected != tuple(image_size):
            self._logger.warning(
                f'camera_info on {self.topic} describes {expected[0]}x{expected[1]} images, '
                f'the image is {image_size[0]}x{image_size[1]}: no bearing',
                throttle_duration_sec=5.0)
            return False
        bearing = model.bearing(result.box)
        ray = Vector3Stamped()
        ray.header = header
        ray.vector.x, ray.vector.y, ray.vector.z = bearing.ray
        self.ray_pub.publish(ray)
        size = Vector3Stamped()
        size.header = header
        size.vector.x, size.vector.y = bearing.angular_width, bearing.angular_height
        self.size_pub.publish(size)
        self.marker_pub.publish(self._arrow(header, bearing.ray))
        self._marker_shown = True
        return True

    def _arrow(self, header, ray) -> Marker:
        marker = Marker()
        marker.header = header
        marker.ns, marker.id = 'rar_target_ray', 0
        marker.type, marker.action = Marker.ARROW, Marker.ADD
        marker.points = [Point(), Point(x=ray[0] * ARROW_LENGTH, y=ray[1] * ARROW_LENGTH,
                                        z=ray[2] * ARROW_LENGTH)]
        marker.scale.x, marker.scale.y, marker.scale.z = 0.02, 0.05, 0.1  # shaft, head
        marker.color.r, marker.color.g, marker.color.b, marker.color.a = 0.15, 0.9, 0.15, 1.0
        marker.pose.orientation.w = 1.0
        marker.lifetime.sec = 1  # a stale arrow disappears when results stop
        return marker

    def _delete_marker(self, header) -> None:
        if not self._marker_shown:
            return
        self._marker_shown = False
        marker = Marker()
        marker.header = header
        marker.ns, marker.id = 'rar_target_ray', 0
        marker.action = Marker.DELETE
        self.marker_pub.publish(marker)
