"""The ``rar_tracker`` node: RARTracker on a camera stream (a thin ROS layer, no tracking math).

Threading model (see docs/node.md):

- Image callbacks only store the message in an :class:`~.inbox.Inbox` (one pending slot plus
  a ring of recent frames). A frame that arrives before the previous one was taken replaces it
  and counts as dropped: the queue never grows and the tracker always works on the newest image.
- One tracker thread owns the :class:`RARTracker`: it decodes, tracks and publishes. Services,
  clicks and parameter changes reach it as commands, handled before the next frame.
- Services run in a ReentrantCallbackGroup and wait (with a timeout) for the tracker thread,
  so the node must be spun by a MultiThreadedExecutor (``rar_tracking.node.main`` does).
"""
from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, PointStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from rar_tracking_msgs.msg import TrackedTarget
from rar_tracking_msgs.srv import SetTarget

from ..config import TrackerConfig
from ..errors import DeviceError, InvalidBoxError, InvalidImageError
from ..types import Box, TrackResult, TrackState
from . import parameters
from .image_conversion import ImageConversionError, msg_to_rgb, rgb_to_image_msg
from .inbox import Frame, Inbox

try:  # optional: vision_msgs/Detection2DArray on ~/detections
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
except ImportError:  # pragma: no cover - depends on the installation
    Detection2DArray = None

NODE_NAME = 'rar_tracker'
_STATE_NAMES = {TrackState.IDLE: 'IDLE', TrackState.TRACKING: 'TRACKING',
                TrackState.LOST: 'LOST'}
# Drawing colours (RGB) of the debug image.
_COLOURS = {TrackState.TRACKING: (40, 220, 40), TrackState.LOST: (255, 120, 0),
            TrackState.IDLE: (230, 230, 230)}


def stamp_to_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def format_stamp(ns: int) -> str:
    return f'{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}'


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """``box`` cut to the image; None when less than one pixel of it lies inside."""
    x0, y0 = max(box.x, 0.0), max(box.y, 0.0)
    x1, y1 = min(box.x + box.w, float(width)), min(box.y + box.h, float(height))
    if x1 - x0 < 1.0 or y1 - y0 < 1.0:
        return None
    return Box(x0, y0, x1 - x0, y1 - y0)


@dataclass
class _SetTarget:
    """A request to initialize the tracker on a buffered frame (service or click)."""

    frame: Frame
    box: Box
    source: str
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: bool = False
    abandoned: bool = False  # the requester stopped waiting: undo or skip
    success: bool = False
    message: str = ''
    target_id: int = 0

    def finish(self, success: bool, message: str, target_id: int = 0) -> None:
        self.success, self.message, self.target_id = success, message, target_id
        self.done.set()


@dataclass
class _Reset:
    reason: str
    done: threading.Event = field(default_factory=threading.Event)
    message: str = ''


@dataclass
class _Configure:
    changes: dict


class _Stats:
    """Counters and per-period timings for /diagnostics (written by the tracker thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.processed = 0
        self.decode_errors = 0
        self.tracker_errors = 0
        self.repeated_stamps = 0  # images skipped: same stamp as the last tracked image
        self.latency_ms: list[float] = []  # header.stamp -> processing end (ROS clock)
        self.node_latency_ms: list[float] = []  # receipt -> processing end (monotonic)
        self.inference_ms: list[float] = []
        self.all_node_latency_ms: list[float] = []  # whole run, capped, for the summary
        self.period_start = time.monotonic()
        self.period_received = 0
        self.period_processed = 0
        self.period_errors = 0

    def record(self, latency_ms: float | None, node_latency_ms: float, inference_ms: float):
        with self.lock:
            self.processed += 1
            if latency_ms is not None:
                self.latency_ms.append(latency_ms)
            self.node_latency_ms.append(node_latency_ms)
            self.inference_ms.append(inference_ms)
            if len(self.all_node_latency_ms) < 100_000:
                self.all_node_latency_ms.append(node_latency_ms)

    def count(self, kind: str) -> None:
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)

    def take_period(self, received_total: int) -> dict:
        """Figures of the period since the previous call; starts a new period."""
        with self.lock:
            now = time.monotonic()
            dt = max(now - self.period_start, 1e-6)
            errors = self.decode_errors + self.tracker_errors
            out = {
                'period_s': dt,
                'input_rate_hz': (received_total - self.period_received) / dt,
                'processed_rate_hz': (self.processed - self.period_processed) / dt,
                'new_errors': errors - self.period_errors,
                'latency_ms': list(self.latency_ms),
                'node_latency_ms': list(self.node_latency_ms),
                'inference_ms': list(self.inference_ms),
            }
            self.period_start, self.period_received = now, received_total
            self.period_processed, self.period_errors = self.processed, errors
            self.latency_ms.clear()
            self.node_latency_ms.clear()
            self.inference_ms.clear()
            return out


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float('nan')


class RARTrackerNode(Node):
    """Tracks one target, set by service or click, in the images of ``image``.

    Args:
        tracker_factory: builds the tracker from a TrackerConfig (default:
            :class:`rar_tracking.tracker.RARTracker`); anything with the same methods works.
        **kwargs: passed to ``rclpy.node.Node`` (e.g. ``parameter_overrides``, ``namespace``).
    """

    def __init__(self, tracker_factory: Callable[[TrackerConfig], Any] | None = None,
                 node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._inbox: Inbox | None = None
        try:
            self._specs = {s.name: s for s in parameters.parameter_specs()}
            values = parameters.declare_all(self)
            try:
                self._config, self._options = parameters.split_values(values)
            except ValueError as exc:
                raise ValueError(f'invalid parameter: {exc}') from None
            self._requested_device = self._config.device
            self._device_note = ''
            self._tracker = self._build_tracker(tracker_factory)
        except Exception:
            super().destroy_node()  # a half-built node must not stay in the context
            raise

        self._inbox = Inbox(self._options.frame_buffer_size)
        self._stats = _Stats()
        # Target state: written only by the tracker thread.
        self._target_active = False
        self._target_id = 0
        self._target_counter = 0
        self._target_size: tuple[int, int] | None = None
        self._last_tracked_stamp = 0  # stamp of the newest image with a published result
        self._last_state = TrackState.IDLE
        self._last_error_log: dict = {}

        self._io_group = MutuallyExclusiveCallbackGroup()
        self._service_group = ReentrantCallbackGroup()

        image_qos = copy.copy(qos_profile_sensor_data)
        image_qos.depth = 1
        self._image_topic = self.resolve_topic_name('image')
        if self._options.use_compressed:
            # image_transport naming: <base topic>/compressed follows a remapped 'image'.
            self._image_topic = self._image_topic.rstrip('/') + '/compressed'
            self.create_subscription(CompressedImage, self._image_topic, self._on_image,
                                     image_qos, callback_group=self._io_group)
        else:
            self.create_subscription(Image, 'image', self._on_image, image_qos,
                                     callback_group=self._io_group)
        self.create_subscription(PointStamped, '~/click', self._on_click, 10,
                                 callback_group=self._service_group)
        self.create_subscription(Point, '~/click_point', self._on_click_point, 10,
                                 callback_group=self._service_group)

        self._target_pub = self.create_publisher(TrackedTarget, '~/target', 10)
        self._debug_pub = self.create_publisher(Image, '~/debug_image', QoSProfile(depth=1))
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        if Detection2DArray is not None:
            self._detections_pub = self.create_publisher(Detection2DArray, '~/detections', 10)
        else:
            self._detections_pub = None
            self.get_logger().info('vision_msgs is not installed: ~/detections '
                                   '(vision_msgs/Detection2DArray) is not published')

        self.create_service(SetTarget, '~/set_target', self._on_set_target,
                            callback_group=self._service_group)
        self.create_service(Trigger, '~/reset', self._on_reset,
                            callback_group=self._service_group)
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._diag_timer = self.create_timer(self._options.diagnostics_period,
                                             self._publish_diagnostics)

        self._worker = threading.Thread(target=self._run, name='rar_tracker', daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'ready: tracking on {self._device_str()} with trunk {self._trunk_str()}, '
            f'listening on {self._image_topic}; set a target with '
            f'{self.resolve_service_name("~/set_target")} or a click on '
            f'{self.resolve_topic_name("~/click_point")}')

    # ------------------------------------------------------------------ construction
    def _build_tracker(self, factory):
        import torch

        torch.set_num_threads(self._config.cpu_threads)
        if factory is None:
            from ..tracker import RARTracker
            factory = RARTracker
        try:
            return factory(self._config)
        except DeviceError as exc:
            # A robot should keep running: fall back to the CPU, loudly.
            self._device_note = (f"device '{self._config.device}' is not usable ({exc}); "
                                 'running on the CPU instead')
            self.get_logger().error(self._device_note)
            self._config = self._config.replace(device='cpu')
            return factory(self._config)

    def _device_str(self) -> str:
        return str(getattr(self._tracker, 'device', self._config.device))

    def _trunk_str(self) -> str:
        return str(getattr(self._tracker, 'trunk_name', self._config.trunk))

    # ------------------------------------------------------------------ callbacks (executor)
    def _on_image(self, msg) -> None:
        self._inbox.put_frame(stamp_to_ns(msg.header.stamp), msg.header.frame_id, msg)

    def _on_set_target(self, request, response):
        box = Box.from_center(request.center_x, request.center_y, request.size_x,
                              request.size_y)
        success, message, target_id = self._request_target(
            stamp_to_ns(request.header.stamp), request.header.frame_id, box,
            (request.center_x, request.center_y, request.size_x, request.size_y),
            '~/set_target', wait=True)
        response.success, response.message, response.target_id = success, message, target_id
        if not success:
            self.get_logger().warning(f'~/set_target refused: {message}')
        return response

    def _on_click(self, msg: PointStamped) -> None:
        self._click(msg.point.x, msg.point.y, stamp_to_ns(msg.header.stamp),
                    msg.header.frame_id, '~/click')

    def _on_click_point(self, msg: Point) -> None:
        self._click(msg.x, msg.y, 0, '', '~/click_point')

    def _click(self, x: float, y: float, stamp_ns: int, frame_id: str, source: str) -> None:
        side = float(self._options.click_box_size)
        success, message, _ = self._request_target(
            stamp_ns, frame_id, Box.from_center(x, y, side, side), (x, y, side, side), source,
            wait=False)
        if not success:
            self.get_logger().warning(f'{source} ignored: {message}',
                                      throttle_duration_sec=1.0)

    def _request_target(self, stamp_ns: int, frame_id: str, box: Box, raw: tuple, source: str,
                        wait: bool) -> tuple[bool, str, int]:
        """Check a target request, hand it to the tracker thread and (optionally) wait."""
        cx, cy, w, h = raw
        if not all(math.isfinite(v) for v in raw):
            return False, (f'the box is not finite: center ({cx}, {cy}), size {w} x {h}'), 0
        if w <= 0 or h <= 0:
            return False, f'the box size must be positive, got {w} x {h}', 0
        if self._inbox.newest() is None:
            return False, f'no image received yet on {self._image_topic}', 0
        frame = self._inbox.find(stamp_ns)
        if frame is None:
            stamps = self._inbox.buffered_stamps()
            shown = [format_stamp(s) for s in stamps]
            if len(shown) > 8:
                shown = shown[:3] + ['...'] + shown[-3:]
            return False, (f'no buffered image has stamp {format_stamp(stamp_ns)}; the '
                           f'{len(stamps)} buffered images have stamps {", ".join(shown)} '
                           '(oldest first; a zero stamp means the newest)'), 0
        if frame_id and frame.frame_id and frame_id != frame.frame_id:
            return False, (f"frame_id '{frame_id}' does not match the image's frame_id "
                           f"'{frame.frame_id}'"), 0
        command = _SetTarget(frame, box, source)
        self._inbox.post(command)
        if not wait:
            return True, 'queued', 0
        if not command.done.wait(self._options.init_timeout):
            with command.lock:
                if not command.done.is_set():
                    command.abandoned = True
                    return False, (f'the tracker thread did not answer within init_timeout = '
                                   f'{self._options.init_timeout} s; request cancelled'), 0
        return command.success, command.message, command.target_id

    def _on_reset(self, request, response):
        command = _Reset('~/reset')
        self._inbox.post(command)
        if command.done.wait(self._options.init_timeout):
            response.success, response.message = True, command.message
        else:
            response.success = False
            response.message = (f'the tracker thread did not answer within init_timeout = '
                                f'{self._options.init_timeout} s; the reset stays queued')
        return response

    def _check_parameters(self, params) -> SetParametersResult:
        changes = {}
        for param in params:
            spec = self._specs.get(param.name)
            if spec is None:
                continue  # e.g. use_sim_time
            if not spec.dynamic:
                return SetParametersResult(successful=False, reason=(
                    f'{param.name} is read-only: it is used when the node starts; set it with '
                    '--ros-args -p or a params file and restart the node'))
            if spec.group == 'tracker':
                changes[param.name] = param.value
        if changes:
            try:
                self._config.replace(**changes)
            except (ValueError, TypeError) as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params) -> None:
        changes = {}
        for param in params:
            spec = self._specs.get(param.name)
            if spec is None:
                continue
            if spec.group == 'tracker':
                changes[param.name] = param.value
            else:
                setattr(self._options, param.name, param.value)
        if changes:
            self._config = self._config.replace(**changes)
            self._inbox.post(_Configure(changes))
        if params:
            self.get_logger().info('parameters changed: ' + ', '.join(
                f'{p.name}={p.value!r}' for p in params))

    # ------------------------------------------------------------------ tracker thread
    def _run(self) -> None:
        while not self._stop.is_set():
            work = self._inbox.next_work(timeout=0.5)
            if work is None:
                continue
            kind, item = work
            try:
                if kind == 'frame':
                    self._process_frame(item)
                elif isinstance(item, _SetTarget):
                    self._handle_set_target(item)
                elif isinstance(item, _Reset):
                    self._handle_reset(item)
                elif isinstance(item, _Configure):
                    self._tracker.update_config(**item.changes)
            except Exception as exc:  # the tracker thread must survive anything
                if self._stop.is_set():
                    return
                self.get_logger().error(f'unexpected error in the tracker thread: {exc!r}',
                                        throttle_duration_sec=5.0)
            finally:
                if isinstance(item, _SetTarget) and not item.done.is_set():
                    item.finish(False, 'internal error while setting the target (see log)')
                elif isinstance(item, _Reset):
                    item.done.set()

    def _error_every(self, key, text: str, period: float = 5.0) -> None:
        """Log an error at most once per ``period`` for each kind of problem ``key``."""
        now = time.monotonic()
        if now - self._last_error_log.get(key, -math.inf) >= period:
            self._last_error_log[key] = now
            self.get_logger().error(text)

    def _decode(self, frame: Frame) -> np.ndarray | None:
        try:
            return msg_to_rgb(frame.msg)
        except ImageConversionError as exc:
            self._stats.count('decode_errors')
            key = (exc.kind, getattr(exc, 'encoding', None))
            self._error_every(key, f'cannot use image (stamp {format_stamp(frame.stamp_ns)}): '
                                   f'{exc} (logged at most every 5 s per kind of problem)')
            return None

    def _want_debug(self) -> bool:
        return (self._options.publish_debug_image
                and self._debug_pub.get_subscription_count() > 0)

    def _process_frame(self, frame: Frame) -> None:
        header = frame.msg.header
        if not self._target_active:
            self._publish_detections(header, None)
            if self._want_debug():
                rgb = self._decode(frame)
                if rgb is not None:
                    self._publish_debug(rgb, header, None)
            return
        if frame.stamp_ns and frame.stamp_ns == self._last_tracked_stamp:
            # The same image again (a source re-sending a frame it fears was lost, or a
            # duplicated message): it was tracked once and its result published already.
            self._stats.count('repeated_stamps')
            self.get_logger().info(
                f'image stamp {format_stamp(frame.stamp_ns)} repeats the last tracked image; '
                'not tracked twice (logged at most every 10 s)', throttle_duration_sec=10.0)
            return
        rgb = self._decode(frame)
        if rgb is None:
            return
        height, width = rgb.shape[:2]
        if (width, height) != self._target_size:
            old = self._target_size
            self.get_logger().warning(
                f'image size changed from {old[0]}x{old[1]} to {width}x{height} while tracking '
                f'target {self._target_id}: the target is cleared (state IDLE); set it again')
            self._clear_target(header)
            if self._want_debug():
                self._publish_debug(rgb, header, None)
            return
        start = self.get_clock().now()
        t0 = time.perf_counter()
        try:
            result = self._tracker.track(rgb)
        except Exception as exc:
            self._stats.count('tracker_errors')
            self.get_logger().error(
                f'tracker failed on image stamp {format_stamp(frame.stamp_ns)}: {exc!r}; '
                'frame skipped, target kept', throttle_duration_sec=5.0)
            return
        inference_ms = (time.perf_counter() - t0) * 1e3
        if not result.box.is_finite():
            self._stats.count('tracker_errors')
            self.get_logger().error(
                f'tracker returned a non-finite box {result.box.as_tuple()} on image stamp '
                f'{format_stamp(frame.stamp_ns)}; frame skipped', throttle_duration_sec=5.0)
            return
        self._publish_result(frame, rgb, result, start, inference_ms)

    def _handle_set_target(self, command: _SetTarget) -> None:
        with command.lock:
            if command.abandoned:
                return
            command.started = True
        frame = command.frame
        stamp = format_stamp(frame.stamp_ns)
        try:
            rgb = msg_to_rgb(frame.msg)
        except ImageConversionError as exc:
            command.finish(False, f'the image with stamp {stamp} cannot be used: {exc}')
            return
        height, width = rgb.shape[:2]
        box = clip_box(command.box, width, height)
        if box is None:
            b = command.box
            command.finish(False, (f'the box (x {b.x:.1f}, y {b.y:.1f}, w {b.w:.1f}, '
                                   f'h {b.h:.1f}) does not overlap the {width}x{height} image'))
            return
        previous = self._tracker.get_state() if self._target_active else None
        start = self.get_clock().now()
        t0 = time.perf_counter()
        try:
            result = self._tracker.initialize(rgb, box)
        except Exception as exc:
            self._restore(previous)
            reason = str(exc) if isinstance(exc, (InvalidBoxError, InvalidImageError)) \
                else f'the tracker failed to initialize: {exc!r}'
            command.finish(False, reason)
            return
        inference_ms = (time.perf_counter() - t0) * 1e3
        with command.lock:
            if command.abandoned:
                self._restore(previous)
                self.get_logger().warning(f'{command.source}: the requester stopped waiting; '
                                          'the previous target is kept')
                return
            self._target_counter += 1
            self._target_id = self._target_counter
            self._target_active = True
            self._target_size = (width, height)
            clipped = '' if box == command.box else ' (clipped to the image)'
            message = (f'target {self._target_id} set on image stamp {stamp} ({width}x{height})'
                       f' with box x {box.x:.1f}, y {box.y:.1f}, w {box.w:.1f}, h {box.h:.1f}'
                       f'{clipped}')
            command.finish(True, message, self._target_id)
        self.get_logger().info(f'{command.source}: {message}')
        self._inbox.take_dropped()  # count drops of this target only
        if not result.box.is_finite():
            result = TrackResult(box, TrackState.TRACKING, 1.0, 0.0, 0.0)
        self._publish_result(frame, rgb, result, start, inference_ms)
        queued = self._inbox.schedule_catch_up(frame, self._options.max_catch_up_frames)
        if queued:
            self.get_logger().debug(f'catching up on {queued} buffered frame(s)')

    def _restore(self, previous) -> None:
        if previous is not None:
            self._tracker.set_state(previous)
        else:
            self._tracker.reset()
            self._target_active = False

    def _handle_reset(self, command: _Reset) -> None:
        had, target_id = self._target_active, self._target_id
        newest = self._inbox.newest()
        header = Header(stamp=self.get_clock().now().to_msg(),
                        frame_id=newest.frame_id if newest is not None else '')
        self._clear_target(header)
        command.message = f'target {target_id} cleared' if had else 'no target was set'
        self.get_logger().info(f'{command.reason}: {command.message}')

    def _clear_target(self, header) -> None:
        """Forget the target and publish one IDLE TrackedTarget with ``header``."""
        self._tracker.reset()
        self._inbox.clear_catch_up()
        self._target_active = False
        self._target_size = None
        self._last_state = TrackState.IDLE
        msg = TrackedTarget()
        msg.header = header
        msg.state = TrackedTarget.STATE_IDLE
        msg.target_id = self._target_id
        now = self.get_clock().now().to_msg()
        msg.processing_start = msg.processing_end = now
        msg.dropped_frames = self._inbox.take_dropped()
        self._target_pub.publish(msg)
        self._publish_detections(header, None)

    # ------------------------------------------------------------------ publishing
    def _publish_result(self, frame: Frame, rgb: np.ndarray, result: TrackResult, start,
                        inference_ms: float) -> None:
        end = self.get_clock().now()
        header = frame.msg.header
        box = result.box
        msg = TrackedTarget()
        msg.header = header
        msg.state = int(result.state)
        msg.target_id = self._target_id
        msg.center_x, msg.center_y = (float(v) for v in box.center)
        msg.size_x, msg.size_y = float(box.w), float(box.h)
        msg.confidence = float(result.confidence)
        msg.peak_value = float(result.peak)
        msg.psr = float(result.psr)
        msg.scale = float(result.scale)
        msg.processing_start = start.to_msg()
        msg.processing_end = end.to_msg()
        msg.inference_ms = float(inference_ms)
        msg.dropped_frames = self._inbox.take_dropped()
        latency = (end.nanoseconds - frame.stamp_ns) / 1e6 if frame.stamp_ns else None
        self._stats.record(latency, (time.monotonic_ns() - frame.received_ns) / 1e6,
                           inference_ms)
        self._last_state = TrackState(int(result.state))
        self._last_tracked_stamp = frame.stamp_ns
        self._target_pub.publish(msg)
        self._publish_detections(header, result)
        if self._want_debug():
            self._publish_debug(rgb, header, result)

    def _publish_detections(self, header, result: TrackResult | None) -> None:
        if self._detections_pub is None:
            return
        array = Detection2DArray()
        array.header = header
        if result is not None and result.state == TrackState.TRACKING:
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
                det.id = str(self._target_id)
            array.detections.append(det)
        self._detections_pub.publish(array)

    def _publish_debug(self, rgb: np.ndarray, header, result: TrackResult | None) -> None:
        image = draw_overlay(rgb, result, self._target_id)
        self._debug_pub.publish(rgb_to_image_msg(image, header))

    def _publish_diagnostics(self) -> None:
        period = self._stats.take_period(self._inbox.received)
        status = DiagnosticStatus()
        status.name = f'{self.get_fully_qualified_name()}: tracker'
        status.hardware_id = self._device_str()
        state = self._last_state if self._target_active else TrackState.IDLE
        level, message = DiagnosticStatus.OK, ''
        if period['input_rate_hz'] == 0.0:
            level, message = DiagnosticStatus.WARN, f'no images on {self._image_topic}'
        elif state == TrackState.LOST:
            level, message = DiagnosticStatus.WARN, f'target {self._target_id} lost'
        elif state == TrackState.TRACKING:
            message = (f'tracking target {self._target_id} at '
                       f'{period["processed_rate_hz"]:.1f} Hz')
        else:
            message = 'idle: waiting for a target'
        if period['new_errors']:
            level = DiagnosticStatus.WARN
            message += f'; {period["new_errors"]} image/tracker error(s)'
        if self._device_note:
            level = max(level, DiagnosticStatus.WARN)
            message += '; ' + self._device_note
        status.level, status.message = level, message
        lat, node_lat = period['latency_ms'], period['node_latency_ms']
        values = {
            'state': _STATE_NAMES[state],
            'target_id': self._target_id,
            'input_rate_hz': f'{period["input_rate_hz"]:.2f}',
            'processed_rate_hz': f'{period["processed_rate_hz"]:.2f}',
            'mean_latency_ms': f'{_mean(lat):.1f}',
            'max_latency_ms': f'{max(lat) if lat else float("nan"):.1f}',
            'mean_node_latency_ms': f'{_mean(node_lat):.1f}',
            'max_node_latency_ms': f'{max(node_lat) if node_lat else float("nan"):.1f}',
            'mean_inference_ms': f'{_mean(period["inference_ms"]):.1f}',
            'frames_received': self._inbox.received,
            'frames_processed': self._stats.processed,
            'dropped_frames': self._inbox.dropped,
            'decode_errors': self._stats.decode_errors,
            'tracker_errors': self._stats.tracker_errors,
            'repeated_stamps': self._stats.repeated_stamps,
            'device': self._device_str(),
            'requested_device': self._requested_device,
            'trunk': self._trunk_str(),
            'image_topic': self._image_topic,
        }
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self._diag_pub.publish(array)

    # ------------------------------------------------------------------ shutdown
    def summary(self) -> str:
        """One line with the measured rate and latency of the whole run."""
        lat = self._stats.all_node_latency_ms
        if not lat:
            return f'processed 0 frames ({self._inbox.received} received)'
        return (f'processed {self._stats.processed} of {self._inbox.received} frames '
                f'({self._inbox.dropped} dropped); latency receipt->publish mean '
                f'{_mean(lat):.1f} ms, p95 {float(np.percentile(lat, 95)):.1f} ms, '
                f'max {max(lat):.1f} ms')

    def destroy_node(self) -> None:
        self._stop.set()
        if self._inbox is not None:
            self._inbox.close()
        worker = self._worker
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout=10.0)
        if worker is not None:
            self.get_logger().info(self.summary())
        super().destroy_node()


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
        colour = _COLOURS[TrackState(int(result.state))]
        b = result.box
        p0 = (int(round(b.x)), int(round(b.y)))
        p1 = (int(round(b.x + b.w)), int(round(b.y + b.h)))
        cv2.rectangle(image, p0, p1, colour, thick, cv2.LINE_AA)
        cx, cy = (int(round(v)) for v in b.center)
        cv2.drawMarker(image, (cx, cy), colour, cv2.MARKER_CROSS, max(6, thick * 6), thick)
        text = f'#{target_id} {_STATE_NAMES[TrackState(int(result.state))]} ' \
               f'{result.confidence:.2f}'
        anchor = (p0[0], p0[1])
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    x = min(max(anchor[0], 0), max(width - tw - 4, 0))
    y = anchor[1] - th - base - 4 if anchor[1] - th - base - 4 >= 0 else anchor[1] + 2
    y = min(max(y, 0), max(height - th - base - 4, 0))
    cv2.rectangle(image, (x, y), (x + tw + 4, y + th + base + 4), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x + 2, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                colour, 1, cv2.LINE_AA)
    return image
