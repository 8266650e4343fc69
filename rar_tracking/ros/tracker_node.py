"""The ``rar_tracker`` node: RARTracker on a camera stream (a thin ROS layer, no tracking math).

This module is the node's wiring: parameters, the tracker, subscriptions, services and the
parameter callbacks. The work is done elsewhere: :mod:`.worker` (the tracker thread with its
command queue and catch-up), :mod:`.outputs` (messages and debug drawing), :mod:`.diagnostics`
(statistics and /diagnostics), :mod:`.inbox` (what callbacks hand to the thread).

Threading model (see docs/node.md):

- Image callbacks only store the message in an :class:`~.inbox.Inbox` (one pending slot plus
  a ring of recent frames). A frame that arrives before the previous one was taken replaces it
  and counts as dropped: the queue never grows and the tracker always works on the newest image.
- One tracker thread owns the :class:`RARTracker`: it decodes, tracks and publishes. Services,
  clicks and parameter changes reach it as commands, handled before the next frame.
- Services run in their own MutuallyExclusiveCallbackGroup and wait (with a timeout) for the
  tracker thread, so they hold at most one executor thread; images and clicks have groups of
  their own. The node must be spun by an executor that runs services on threads of their
  own: :class:`~.executor.NodeExecutor` (``rar_tracking.node.main`` uses it) or rclpy's
  MultiThreadedExecutor.

May import: rclpy, the ROS message packages, :mod:`rar_tracking.config`,
:mod:`rar_tracking.errors`, :mod:`rar_tracking.types`, :mod:`rar_tracking.tracker` (lazily, the
default tracker) and this package's modules.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

from geometry_msgs.msg import Point, PointStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.subscription import Subscription
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger

from rar_tracking_msgs.srv import SetTarget

from ..config import TrackerConfig
from ..errors import DeviceError
from ..types import Box
from . import parameters
from .bearing import BearingOutput
from .diagnostics import NodeStats, run_summary, tracker_status
from .events import quiet_subscription_events
from .inbox import Inbox
from .outputs import NodeOutputs
from .stamps import format_stamp, stamp_to_ns
from .worker import ConfigureCommand, ResetCommand, SetTargetCommand, TrackerWorker

NODE_NAME = 'rar_tracker'
#: Depth of the image subscription: deep enough that the callback sees every image of a
#: camera while the executor is briefly busy, so each stamp reaches the ring (the tracker still
#: takes only the newest; the callback itself is cheap).
IMAGE_QUEUE_DEPTH = 10
#: A set_target/click stamp up to this much newer than the newest received image is waited
#: for (the request can overtake its image on the wire), at most this long [s].
STAMP_WAIT_S = 1.0
# rclpy since Jazzy passes the middleware's message info (write and receipt times) to a
# subscription callback that takes two arguments; older ones (Humble) pass the message only.
MESSAGE_INFO = hasattr(Subscription, 'CallbackType')


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
        self._worker: TrackerWorker | None = None
        self._inbox: Inbox | None = None
        try:
            self._declare_parameters()
            self._tracker = self._build_tracker(tracker_factory)
        except Exception:
            super().destroy_node()  # a half-built node must not stay in the context
            raise
        self._create_processing()
        self._create_inputs()
        self._worker.start()
        self._log_ready()

    # ------------------------------------------------------------------ construction
    # The steps below are shared with the managed variant (.lifecycle), which runs them
    # from its transitions instead of the constructor.
    def _create_processing(self) -> None:
        """The inbox, statistics, publishers and the tracker thread (not started yet)."""
        self._inbox = Inbox(self._options.frame_buffer_size,
                            max_bytes=self._options.frame_buffer_mb * 2**20)
        self._stats = NodeStats()
        self._outputs = NodeOutputs(self, self._options)
        self._worker = TrackerWorker(self._tracker, self._inbox, self._stats, self._outputs,
                                     self._options, self.get_logger(), self.get_clock())

    def _declare_parameters(self) -> None:
        self._specs = {s.name: s for s in parameters.parameter_specs()}
        values = parameters.declare_all(self)
        try:
            self._config, self._options = parameters.split_values(values)
        except ValueError as exc:
            raise ValueError(f'invalid parameter: {exc}') from None
        self._requested_device = self._config.device
        self._device_note = ''

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

    def _create_inputs(self) -> None:
        """Subscriptions, services, parameter callbacks and the diagnostics timer."""
        # Three groups: a waiting service occupies at most one executor thread, so image
        # callbacks (and clicks) always find one; concurrent calls queue in the middleware.
        io_group = MutuallyExclusiveCallbackGroup()
        service_group = MutuallyExclusiveCallbackGroup()
        click_group = MutuallyExclusiveCallbackGroup()
        image_qos = copy.copy(qos_profile_sensor_data)
        image_qos.depth = IMAGE_QUEUE_DEPTH
        if self._options.image_reliability == 'reliable':
            image_qos.reliability = ReliabilityPolicy.RELIABLE
        self._image_topic = self.resolve_topic_name('image')
        on_image = self._on_image_with_info if MESSAGE_INFO else self._on_image
        if self._options.use_compressed:
            # image_transport naming: <base topic>/compressed follows a remapped 'image'.
            self._image_topic = self._image_topic.rstrip('/') + '/compressed'
            self.create_subscription(CompressedImage, self._image_topic, on_image,
                                     image_qos, callback_group=io_group)
        else:
            self.create_subscription(Image, 'image', on_image, image_qos,
                                     callback_group=io_group)
        quiet = quiet_subscription_events()
        self.create_subscription(PointStamped, '~/click', self._on_click, 10,
                                 callback_group=click_group, event_callbacks=quiet)
        self.create_subscription(Point, '~/click_point', self._on_click_point, 10,
                                 callback_group=click_group, event_callbacks=quiet)
        service_qos = QoSProfile(depth=100)  # concurrent callers wait in this queue
        self.create_service(SetTarget, '~/set_target', self._on_set_target,
                            qos_profile=service_qos, callback_group=service_group)
        self.create_service(Trigger, '~/reset', self._on_reset, qos_profile=service_qos,
                            callback_group=service_group)
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        # Diagnostics report wall-clock rates, so their timer runs on the steady clock: with
        # use_sim_time a paused or looping bag (a /clock that stops or jumps back) neither
        # silences them nor leaves a timer waiting out the jump.
        self.create_timer(self._options.diagnostics_period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._outputs.bearing = BearingOutput(self, self._image_topic)

    def _log_ready(self) -> None:
        self.get_logger().info(
            f'ready: tracking on {self._device_str()} with trunk {self._trunk_str()}, '
            f'profile {self._profile_str()}, '
            f'listening on {self._image_topic}; set a target with '
            f'{self.resolve_service_name("~/set_target")} or a click on '
            f'{self.resolve_topic_name("~/click_point")}')

    def _device_str(self) -> str:
        return str(getattr(self._tracker, 'device', self._config.device))

    def _trunk_str(self) -> str:
        return str(getattr(self._tracker, 'trunk_name', self._config.trunk))

    def _profile_str(self) -> str:
        """The profile the tracker runs ('auto' resolved by its device), its crop, and the
        backend when it is not torch."""
        config = getattr(self._tracker, 'config', None) or self._config.resolved()
        backend = '' if config.backend == 'torch' else f', {config.backend}'
        return f'{config.profile} (crop {config.crop}{backend})'

    # ------------------------------------------------------------------ callbacks (executor)
    def _on_image_with_info(self, msg, info) -> None:
        # rclpy passes the middleware's write and receipt times to a two-argument callback:
        # /diagnostics tells the transport's share of an image's wait from the node's own.
        self._on_image(msg, info.get('source_timestamp') or 0,
                       info.get('received_timestamp') or 0)

    def _on_image(self, msg, sent_wall_ns: int = 0, arrived_wall_ns: int = 0) -> None:
        limit = self._options.max_image_pixels
        pixels = getattr(msg, 'width', 0) * getattr(msg, 'height', 0)
        if pixels > limit or len(msg.data) > 8 * limit:
            self._stats.count('oversized_frames')
            self.get_logger().warning(
                f'image skipped: {getattr(msg, "width", "?")}x{getattr(msg, "height", "?")} '
                f'with {len(msg.data)} bytes is larger than max_image_pixels = {limit} '
                '(logged at most every 5 s)', throttle_duration_sec=5.0)
            self._inbox.note_skipped(stamp_to_ns(msg.header.stamp))
            return
        self._inbox.put_frame(stamp_to_ns(msg.header.stamp), msg.header.frame_id, msg,
                              sent_wall_ns, arrived_wall_ns)

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
        frame = self._find_frame(stamp_ns)
        if frame is None:
            return False, self._no_such_stamp(stamp_ns), 0
        if frame_id and frame.frame_id and frame_id != frame.frame_id:
            return False, (f"frame_id '{frame_id}' does not match the image's frame_id "
                           f"'{frame.frame_id}'"), 0
        command = SetTargetCommand(frame, box, source)
        if not self._inbox.post(command):
            return False, 'the node is shutting down', 0
        if not wait:
            return True, 'queued', 0
        if not command.done.wait(self._options.init_timeout):
            with command.lock:
                if not command.done.is_set():
                    command.abandoned = True
                    return False, (f'the tracker thread did not answer within init_timeout = '
                                   f'{self._options.init_timeout} s; request cancelled'), 0
        message = command.message
        if command.success and stamp_ns and frame.stamp_ns != stamp_ns:
            message += (f'; no image with stamp {format_stamp(stamp_ns)} was received, so the '
                        f'nearest buffered one was used: stamp {format_stamp(frame.stamp_ns)} '
                        f'({(frame.stamp_ns - stamp_ns) / 1e6:+.1f} ms, within '
                        f'stamp_tolerance = {self._options.stamp_tolerance} s)')
        return command.success, message, command.target_id

    def _find_frame(self, stamp_ns: int):
        """The buffered frame with this stamp; waits briefly for one just newer than the newest
        received image (the request overtook its image); else the nearest within
        ``stamp_tolerance`` (the image was lost on the way)."""
        frame = self._inbox.find(stamp_ns)
        newest = self._inbox.newest()
        if frame is None and newest is not None and \
                0 < stamp_ns - newest.stamp_ns <= STAMP_WAIT_S * 1e9:
            frame = self._inbox.wait_for_stamp(stamp_ns, STAMP_WAIT_S)
        if frame is None:
            frame = self._inbox.find(stamp_ns, int(self._options.stamp_tolerance * 1e9))
        return frame

    def _no_such_stamp(self, stamp_ns: int) -> str:
        stamps = self._inbox.buffered_stamps()
        shown = [format_stamp(s) for s in stamps]
        if len(shown) > 8:
            shown = shown[:3] + ['...'] + shown[-3:]
        return (f'no buffered image has stamp {format_stamp(stamp_ns)}{self._why(stamp_ns, stamps)}'
                f'; the {len(stamps)} buffered images have stamps {", ".join(shown)} '
                '(oldest first; a zero stamp means the newest)')

    def _why(self, stamp_ns: int, stamps: list[int]) -> str:
        """Where a stamp that was not found lies against the buffered ones, and what to do."""
        if self._inbox.was_skipped(stamp_ns):
            return ' (that image arrived but was skipped, see the log)'
        if not stamps:
            return ''
        o = self._options
        oldest, newest = min(stamps), max(stamps)
        if stamp_ns < oldest:
            return (f' (older than every buffered image, by {(oldest - stamp_ns) / 1e9:.3f} s: '
                    f'the node keeps the last frame_buffer_size = {o.frame_buffer_size} images, '
                    f'at most frame_buffer_mb = {o.frame_buffer_mb} MiB, here '
                    f'{(newest - oldest) / 1e9:.2f} s of the stream; a request that arrives '
                    'later than that finds its image gone)')
        if stamp_ns > newest:
            return (f' (newer than the newest received image, by '
                    f'{(stamp_ns - newest) / 1e9:.3f} s; an image up to {STAMP_WAIT_S} s '
                    'newer is waited for that long)')
        nearest = min(abs(s - stamp_ns) for s in stamps)
        return (f' (that image never reached the node: the nearest buffered one is '
                f'{nearest / 1e6:.1f} ms away, beyond stamp_tolerance = {o.stamp_tolerance} s)')

    def _on_reset(self, request, response):
        command = ResetCommand('~/reset')
        if not self._inbox.post(command):
            response.success, response.message = False, 'the node is shutting down'
            return response
        if not command.done.wait(self._options.init_timeout):
            with command.lock:
                if not command.done.is_set():
                    command.abandoned = True  # never applied later, over a newer target
                    response.success = False
                    response.message = (
                        f'the tracker thread did not answer within init_timeout = '
                        f'{self._options.init_timeout} s; reset cancelled, the target is kept')
                    return response
        response.success, response.message = command.success, command.message
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
            self._inbox.post(ConfigureCommand(changes))
        if params:
            self.get_logger().info('parameters changed: ' + ', '.join(
                f'{p.name}={p.value!r}' for p in params))

    def _publish_diagnostics(self) -> None:
        period = self._stats.take_period(self._inbox.received)
        status = tracker_status(
            f'{self.get_fully_qualified_name()}: tracker', period, self._stats, self._inbox,
            state=self._worker.state, target_id=self._worker.target_id,
            image_topic=self._image_topic, device=self._device_str(),
            requested_device=self._requested_device, trunk=self._trunk_str(),
            device_note=self._device_note, profile=self._profile_str())
        self._outputs.publish_diagnostics(status, self.get_clock().now().to_msg())

    # ------------------------------------------------------------------ shutdown
    def summary(self) -> str:
        """One line with the measured rate and latency of the whole run."""
        return run_summary(self._stats, self._inbox)

    def stop_worker(self) -> None:
        """Stop the tracker thread; waiting service calls are answered. Idempotent."""
        if self._worker is not None:
            self._worker.stop(timeout=1.0)

    def destroy_node(self) -> None:
        # Stop the tracker thread first (waiting requests are answered), while the context
        # is still valid, so that the summary reaches the log and rosout.
        if self._worker is not None and self._worker.stop(timeout=1.0):
            self.get_logger().info(self.summary())
        super().destroy_node()
