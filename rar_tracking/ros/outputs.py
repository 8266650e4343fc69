"""What the ``rar_tracker`` node publishes: TrackedTarget, detections, the debug image, diagnostics.

:class:`NodeOutputs` creates the node's publishers and turns a :class:`TrackResult` into
messages; :func:`draw_overlay` draws the debug image. No decisions about tracking are made here.
May import: rclpy QoS, the ROS message packages, OpenCV, numpy, :mod:`rar_tracking.types`,
:mod:`.image_conversion` and :mod:`.parameters` (for NodeOptions).
"""
from __future__ import annotations

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image

from rar_tracking_msgs.msg import TrackedTarget

from ..types import TrackResult, TrackState
from .events import quiet_publisher_events
from .image_conversion import rgb_to_image_msg
from .parameters import NodeOptions

try:  # optional: vision_msgs/Detection2DArray on ~/detections
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
except ImportError:  # pragma: no cover - depends on the installation
    Detection2DArray = None

# Drawing colours (RGB) of the debug image.
_COLOURS = {TrackState.TRACKING: (40, 220, 40), TrackState.LOST: (255, 120, 0),
            TrackState.IDLE: (230, 230, 230)}


def tracked_target_msg(header, result: TrackResult, target_id: int, start, end,
                       inference_ms: float, dropped: int) -> TrackedTarget:
    """The TrackedTarget of one tracked image (``start``/``end``: rclpy Time of processing)."""
    box = result.box
    msg = TrackedTarget()
    msg.header = header
    msg.state = int(result.state)
    msg.target_id = target_id
    msg.center_x, msg.center_y = (float(v) for v in box.center)
    msg.size_x, msg.size_y = float(box.w), float(box.h)
    msg.confidence = float(result.confidence)
    msg.peak_value = float(result.peak)
    msg.psr = float(result.psr)
    msg.scale = float(result.size_ratio)
    msg.processing_start = start.to_msg()
    msg.processing_end = end.to_msg()
    msg.inference_ms = float(inference_ms)
    msg.dropped_frames = dropped
    return msg


class NodeOutputs:
    """The node's publishers: ``~/target``, ``~/debug_image``, ``/diagnostics`` and
    ``~/detections``."""

    def __init__(self, node, options: NodeOptions):
        self._options = options  # the node's live options (publish_debug_image may change)
        quiet = quiet_publisher_events()
        self.target_pub = node.create_publisher(TrackedTarget, '~/target', 10,
                                               event_callbacks=quiet)
        self.debug_pub = node.create_publisher(Image, '~/debug_image', QoSProfile(depth=1),
                                              event_callbacks=quiet)
        self.diag_pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10,
                                             event_callbacks=quiet)
        self.bearing = None  # a .bearing.BearingOutput, attached by the node
        if Detection2DArray is not None:
            self.detections_pub = node.create_publisher(Detection2DArray, '~/detections', 10,
                                                            event_callbacks=quiet)
        else:
            self.detections_pub = None
            node.get_logger().info('vision_msgs is not installed: ~/detections '
                                   '(vision_msgs/Detection2DArray) is not published')

    def publish_result(self, msg: TrackedTarget, result: TrackResult, rgb: np.ndarray) -> None:
        """Publish a tracked image's TrackedTarget, its detection and (if wanted) debug image."""
        self.target_pub.publish(msg)
        if self.bearing is not None:
            self.bearing.publish(msg.header, result, (rgb.shape[1], rgb.shape[0]))
        self.publish_detections(msg.header, result, msg.target_id)
        if self.want_debug():
            self.publish_debug(rgb, msg.header, result, msg.target_id)

    def publish_idle(self, header, target_id: int, now, dropped: int) -> None:
        """One IDLE TrackedTarget (the target was cleared) and an empty detection array."""
        msg = TrackedTarget()
        msg.header = header
        msg.state = TrackedTarget.STATE_IDLE
        msg.target_id = target_id
        msg.processing_start = msg.processing_end = now
        msg.dropped_frames = dropped
        self.target_pub.publish(msg)
        self.publish_detections(header, None, target_id)

    def publish_detections(self, header, result: TrackResult | None, target_id: int) -> None:
        """A Detection2DArray: one detection while TRACKING, empty otherwise."""
        if self.detections_pub is None:
            return
        array = Detection2DArray()
        array.header = header
        if result is not None and result.state == TrackState.TRACKING:
            array.detections.append(_detection(header, result, target_id))
        self.detections_pub.publish(array)

    def want_debug(self) -> bool:
        return self._options.publish_debug_image and self.debug_pub.get_subscription_count() > 0

    def publish_debug(self, rgb: np.ndarray, header, result: TrackResult | None,
                      target_id: int) -> None:
        self.debug_pub.publish(rgb_to_image_msg(draw_overlay(rgb, result, target_id), header))

    def publish_diagnostics(self, status: DiagnosticStatus, now) -> None:
        array = DiagnosticArray()
        array.header.stamp = now
        array.status = [status]
        self.diag_pub.publish(array)


def _detection(header, result: TrackResult, target_id: int):
    det = Detection2D()
    det.header = header
    cx, cy = result.box.center
    center = det.bbox.center
    if hasattr(center, 'position'):  # vision_msgs >= 4 (Humble and newer)
        center.position.x, center.position.y = float(cx), float(cy)
    else:
        center.x, center.y = float(cx), float(cy)
    det.bbox.size_x, det.bbox.size_y = float(result.box.w), float(result.box.h)
    hypothesis = ObjectHypothesisWithPose()
    if hasattr(hypothesis, 'hypothesis'):
        hypothesis.hypothesis.class_id = 'target'
        hypothesis.hypothesis.score = float(result.confidence)
    else:
        hypothesis.id, hypothesis.score = 'target', float(result.confidence)
    det.results.append(hypothesis)
    if hasattr(det, 'id'):
        det.id = str(target_id)
    return det


def draw_overlay(rgb: np.ndarray, result: TrackResult | None, target_id: int) -> np.ndarray:
    """A copy of ``rgb`` with the box, target id, state and confidence drawn on it."""
    image = rgb.copy()
    height, width = image.shape[:2]
    font_scale = max(0.35, min(width, height) / 600.0)
    thick = max(1, int(round(min(width, height) / 300.0)))
    if result is None or result.state == TrackState.IDLE:
        text, colour, anchor = 'IDLE: click or call ~/set_target', _COLOURS[TrackState.IDLE], \
            (4, 4)
    else:
        state = TrackState(int(result.state))
        colour = _COLOURS[state]
        b = result.box
        p0 = (int(round(b.x)), int(round(b.y)))
        p1 = (int(round(b.x + b.w)), int(round(b.y + b.h)))
        cv2.rectangle(image, p0, p1, colour, thick, cv2.LINE_AA)
        cx, cy = (int(round(v)) for v in b.center)
        cv2.drawMarker(image, (cx, cy), colour, cv2.MARKER_CROSS, max(6, thick * 6), thick)
        text = f'#{target_id} {state.name} {result.confidence:.2f}'
        anchor = (p0[0], p0[1])
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    x = min(max(anchor[0], 0), max(width - tw - 4, 0))
    y = anchor[1] - th - base - 4 if anchor[1] - th - base - 4 >= 0 else anchor[1] + 2
    y = min(max(y, 0), max(height - th - base - 4, 0))
    cv2.rectangle(image, (x, y), (x + tw + 4, y + th + base + 4), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x + 2, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                colour, 1, cv2.LINE_AA)
    return image
