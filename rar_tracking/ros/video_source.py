"""The ``video_source`` node: publishes a video file, an image folder or a generated scene.

Run: ``ros2 run rar_tracking rar_video_source --ros-args -p source:=clip.mp4 -p rate:=15.0``
(or the console script ``rar_video_source``).

Topics (all relative to the node's namespace):

- ``image`` (sensor_msgs/Image, sensor-data QoS): the frames, ``rgb8`` or ``bgr8``
  (parameter ``encoding``), stamped with the node clock at publish time, ``frame_id`` from the
  parameter of that name.
- ``~/ground_truth`` (rar_tracking_msgs/TrackedTarget, reliable, depth 100): published only
  when the source has ground truth (generated scenes, annotated sequence folders, or a
  ``ground_truth`` file), once per image and with the same header as that image.
  ``state`` is ``STATE_TRACKING`` with the box when the target is visible, ``STATE_LOST``
  with a zero box when it is not (a NaN row). ``target_id`` is the 1-based frame index in
  the source, so that a subscriber can tell which row a message is.
- ``~/initial_box`` (rar_tracking_msgs/TrackedTarget, reliable, transient local, depth 1):
  the box of the first frame (from the ground truth, or the ``initial_box`` parameter) with
  the header of the first published image; late subscribers still get it.

Sources (parameter ``source``): empty or ``synthetic`` for a generated scene
(:func:`rar_tracking.data.synthetic.make_sequence`, shaped by the ``scene_*`` parameters);
a video file (read with ``cv2.VideoCapture``); a folder of images (sorted by name; an
OTB/VOT/GOT-10k/LaSOT sequence folder brings its ground truth along); or a folder with a
``manifest.json`` together with the ``sequence`` parameter naming one of its sequences.

With ``paused`` true the node keeps publishing the current frame (the first one, before
anything was played) with fresh stamps, like a still camera; setting it false plays on. This
lets a client set a target on frame 0 before the scene moves.

With ``target_service`` set (e.g. ``rar_tracker/set_target``), the node holds the first frame
until that rar_tracking_msgs/SetTarget service accepts the first frame's box for it, then plays:
a tracker started beside it tracks the scene without anyone clicking.

By default the node keeps its ``rate`` whatever its subscribers do, like a camera. With
``wait_for_topic`` set (e.g. ``rar_tracker/target``), it paces itself to a consumer instead:
while playing, the next frame goes out only once a message on that topic carries a stamp at
least that of the previous frame (or after ``wait_timeout`` seconds), and never faster than
``rate``. Every frame is then processed, which measures the consumer rather than the camera.
Images go out best-effort (sensor-data QoS), so one can be lost on the way; while it waits,
the node re-sends the awaited image unchanged (same stamp) when no answer came within
``resend_after`` seconds or twice the time the previous answer took, whichever is longer.
The tracker node tracks an image stamp once, so a re-sent copy of an image it already has
costs nothing.

A bad ``source`` path ends the process with a clear message and exit code 2.

Where the frames come from is :mod:`rar_tracking.data.frame_sources` (no ROS); the parameters
are declared in :mod:`.video_source_parameters`. May import: rclpy, the ROS message packages,
:mod:`rar_tracking.data` and this package's image_conversion/stamps.
"""
from __future__ import annotations

import copy
import math
import sys
import time

import numpy as np
import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from rar_tracking_msgs.msg import TrackedTarget
from rar_tracking_msgs.srv import SetTarget

from ..data.frame_sources import SourceError, VideoFrames, open_source
from ..data.sequences import FrameReadError
from .image_conversion import rgb_to_image_msg
from .middleware import use_large_image_profile
from .stamps import stamp_to_ns
from .video_source_parameters import declare_source_parameters, first_box_descriptor

__all__ = ['SourceError', 'VideoSourceNode', 'main', 'open_source']


class VideoSourceNode(Node):
    """Publishes frames of one source at a fixed rate (see the module docstring)."""

    def __init__(self, node_name: str = 'video_source', **kwargs):
        super().__init__(node_name, **kwargs)
        p = declare_source_parameters(self)
        self._open_source(p)
        self._create_publishers()
        self._init_playback()
        self._init_pacing(p['wait_for_topic'])
        self._init_target_service(p['target_service'])
        self._timer = self.create_timer(1.0 / p['rate'], self._tick)
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._log_start(p['rate'])

    def _open_source(self, p: dict) -> None:
        scene = {'num_frames': p['scene_frames'], 'size': (p['scene_width'], p['scene_height']),
                 'seed': p['scene_seed'], 'scale_change': p['scene_scale_change'],
                 'distractor': p['scene_distractor'], 'speed': p['scene_speed']}
        self.frames = open_source(p['source'], sequence=p['sequence'],
                                  ground_truth=p['ground_truth'], scene=scene)
        self.encoding = p['encoding']
        self.image_reliability = p['image_reliability']
        self.frame_id = p['frame_id']
        self.max_frames = p['max_frames']
        self._initial_box = self._first_box(p['initial_box'])
        self._initial_sent = False
        self.declare_parameter('first_box', self._initial_box or [0.0] * 4,
                               first_box_descriptor())

    def _create_publishers(self) -> None:
        image_qos = copy.copy(qos_profile_sensor_data)
        if self.image_reliability == 'reliable':
            image_qos.reliability = ReliabilityPolicy.RELIABLE
        self.image_pub = self.create_publisher(Image, 'image', image_qos)
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                              history=HistoryPolicy.KEEP_LAST)
        self.gt_pub = (self.create_publisher(TrackedTarget, '~/ground_truth', reliable)
                       if self.frames.has_gt else None)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.initial_pub = self.create_publisher(TrackedTarget, '~/initial_box', latched)

    def _init_playback(self) -> None:
        self.published = 0  # images published since start
        self.passes = 0  # completed passes over the source
        self.finished = False
        self._current: tuple[int, np.ndarray] | None = None
        self._played_in_pass = 0

    def _init_pacing(self, wait_for_topic: str) -> None:
        self._awaited_ns = 0  # stamp a consumer must acknowledge before the next frame
        self._awaited_since = 0.0
        self._acked_ns = 0
        self._awaited_msg = None  # the image a paced source waits on, for re-sending
        self._sent_at = 0.0
        self._answer_s = 0.0  # how long the consumer took to answer the previous frame
        self.resent = 0  # images re-sent while waiting
        self.wait_topic = None
        if wait_for_topic:
            self.create_subscription(TrackedTarget, wait_for_topic, self._on_ack,
                                     QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
            self.wait_topic = self.resolve_topic_name(wait_for_topic)

    def _init_target_service(self, target_service: str) -> None:
        self.target_client = None
        self._target_pending = False  # hold the first frame until the target service succeeds
        self._held_header = None
        self._held_count = 0
        if target_service:
            if self._initial_box is None:
                raise SourceError('target_service needs the box of the first frame: a source '
                                  'with ground truth, or the initial_box parameter')
            self.target_client = self.create_client(SetTarget, target_service)
            self._target_pending = True

    def _log_start(self, rate: float) -> None:
        self.get_logger().info(
            f'publishing {self.frames.description} on {self.image_pub.topic_name} at '
            f'{rate:g} Hz ({self.encoding}, frame_id {self.frame_id!r}, '
            f'loop={self.get_parameter("loop").value}, paused={self.get_parameter("paused").value}'
            f', ground truth: {"yes" if self.frames.has_gt else "no"}'
            + (f', paced by {self.wait_topic}' if self.wait_topic else '')
            + (f', holding the first frame until {self.target_client.srv_name} accepts its box)'
               if self.target_client is not None else ')'))

    def _first_box(self, given) -> list[float] | None:
        if any(float(v) != 0.0 for v in given):
            box = [float(v) for v in given]
            if len(box) != 4 or not all(math.isfinite(v) for v in box) or box[2] <= 0 \
                    or box[3] <= 0:
                raise SourceError(f'initial_box must be 4 finite numbers x, y, w, h with '
                                  f'w, h > 0, got {list(given)}')
            return box
        row = self.frames.gt(0)
        if row is not None and np.isfinite(row).all():
            return [float(v) for v in row]
        return None

    # --- parameters ------------------------------------------------------------------
    def _check_parameters(self, params) -> SetParametersResult:
        for param in params:
            if param.name == 'rate' and not (param.value is not None and param.value > 0):
                return SetParametersResult(successful=False, reason='rate must be > 0')
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params) -> None:
        for param in params:
            if param.name == 'rate':
                self._timer.cancel()
                self.destroy_timer(self._timer)
                self._timer = self.create_timer(1.0 / float(param.value), self._tick)
            elif param.name in ('paused', 'loop'):
                self.get_logger().info(f'{param.name} = {param.value}')

    # --- publishing ------------------------------------------------------------------
    def _advance(self) -> tuple[int, np.ndarray] | None:
        """The next frame, honouring max_frames and loop; None at the end of the source."""
        at_end = self.max_frames and self._played_in_pass >= self.max_frames
        item = None if at_end else self._read_next()
        if item is None:
            if self._played_in_pass == 0 or not self.get_parameter('loop').value:
                return None
            self.passes += 1
            self.frames.rewind()
            self._played_in_pass = 0
            item = self._read_next()
            if item is None:
                return None
        self._played_in_pass += 1
        return item

    def _read_next(self):
        try:
            return self.frames.next()
        except (FrameReadError, OSError) as exc:
            # One unreadable file must not stop the stream: skip it, say so (rate-limited).
            self.get_logger().warning(f'skipping an unreadable frame: {exc}',
                                      throttle_duration_sec=5.0)
            try:
                return self.frames.next()
            except (FrameReadError, OSError):
                return None

    def _on_ack(self, msg) -> None:
        stamp_ns = stamp_to_ns(msg.header.stamp)
        if self._awaited_ns and self._acked_ns < self._awaited_ns <= stamp_ns:
            self._answer_s = time.monotonic() - self._awaited_since
        self._acked_ns = max(self._acked_ns, stamp_ns)

    def _waiting(self, paused: bool) -> bool:
        """True while a paced source waits for its consumer."""
        if self.wait_topic is None or paused or not self._awaited_ns:
            return False
        if self._acked_ns >= self._awaited_ns:
            return False
        timeout = self.get_parameter('wait_timeout').value
        now = time.monotonic()
        if now - self._awaited_since < timeout:
            resend = self.get_parameter('resend_after').value
            if resend > 0 and now - self._sent_at >= max(resend, 2.0 * self._answer_s):
                self.image_pub.publish(self._awaited_msg)
                self._sent_at = now
                self.resent += 1
                self.get_logger().info(
                    f'no answer on {self.wait_topic} after {now - self._awaited_since:.1f} s: '
                    're-sent the awaited image (logged at most every 10 s)',
                    throttle_duration_sec=10.0)
            return True
        self.get_logger().warning(
            f'no answer on {self.wait_topic} within wait_timeout = {timeout:g} s; going on',
            throttle_duration_sec=10.0)
        return False

    def _request_target(self) -> None:
        """Ask the target service to track the first frame's box on the held frame."""
        if self._held_header is None or self._held_count < 3 or \
                not self.target_client.service_is_ready():
            return
        x, y, w, h = self._initial_box
        request = SetTarget.Request()
        request.header = self._held_header
        request.center_x, request.center_y, request.size_x, request.size_y = \
            x + w / 2.0, y + h / 2.0, w, h
        self._held_count = -10 ** 9  # no second request while this one is out
        self.target_client.call_async(request).add_done_callback(self._on_target_set)

    def _on_target_set(self, future) -> None:
        try:
            response = future.result()
        except Exception as exc:  # the service went away mid-call
            response = SetTarget.Response(success=False, message=repr(exc))
        if response.success:
            self._target_pending = False
            self.get_logger().info(f'{self.target_client.srv_name}: {response.message}; playing')
        else:
            self._held_count = 0  # try again on a newer copy of the first frame
            self.get_logger().warning(
                f'{self.target_client.srv_name} refused the first box: {response.message}; '
                'retrying', throttle_duration_sec=5.0)

    def _tick(self) -> None:
        paused = self.get_parameter('paused').value or self._target_pending
        if self._waiting(paused):
            return
        if not paused or self._current is None:
            item = self._advance()
            if item is None:
                if not self.finished:
                    self.finished = True
                    self.passes += 1
                    self.get_logger().info(f'end of the source after {self.published} images; '
                                           'nothing more to publish')
                return
            self._current = item
            self.finished = False
        index, rgb = self._current
        header = Header()
        header.stamp = self.get_clock().now().to_msg()
        header.frame_id = self.frame_id
        msg = rgb_to_image_msg(rgb, header, self.encoding)
        self.image_pub.publish(msg)
        self.published += 1
        if not paused and self.wait_topic is not None:
            # A paced source waits for the answer to this (played) frame.
            self._awaited_ns = stamp_to_ns(header.stamp)
            self._awaited_since = self._sent_at = time.monotonic()
            self._awaited_msg = msg
        if self.gt_pub is not None:
            self.gt_pub.publish(self._box_msg(header, self.frames.gt(index), index + 1))
        if not self._initial_sent and self._initial_box is not None:
            self.initial_pub.publish(self._box_msg(header, np.array(self._initial_box), 1))
            self._initial_sent = True
        if self._target_pending:
            self._held_header = header
            self._held_count += 1
            self._request_target()

    @staticmethod
    def _box_msg(header, row, target_id: int) -> TrackedTarget:
        msg = TrackedTarget()
        msg.header = header
        msg.target_id = int(target_id)
        if row is not None and np.isfinite(row).all():
            x, y, w, h = (float(v) for v in row)
            msg.state = TrackedTarget.STATE_TRACKING
            msg.center_x, msg.center_y = x + w / 2.0, y + h / 2.0
            msg.size_x, msg.size_y = w, h
            msg.confidence = 1.0
            msg.scale = 1.0
        else:
            msg.state = TrackedTarget.STATE_LOST
        return msg

    def destroy_node(self):
        if isinstance(self.frames, VideoFrames):
            self.frames.close()
        return super().destroy_node()


def main(args=None) -> int:
    """Console script ``rar_video_source``: 0 on a clean stop, 2 when the source is bad."""
    use_large_image_profile()  # images leave from a large enough segment (ros/middleware.py)
    rclpy.init(args=args)
    node = None
    try:
        node = VideoSourceNode()
        rclpy.spin(node)
    except (SourceError, ParameterException) as exc:
        print(f'[video_source] error: {exc}', file=sys.stderr, flush=True)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
