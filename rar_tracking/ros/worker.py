"""The tracker thread of the ``rar_tracker`` node: it owns the tracker and the target.

The node's callbacks only post work to the :class:`~.inbox.Inbox`; :class:`TrackerWorker`
takes it on its own thread: commands (:class:`SetTargetCommand`, :class:`ResetCommand`,
:class:`ConfigureCommand`) before frames, then the frames queued for catching up after a target
was set on an older image, then the newest frame. It decodes, tracks and hands results to
:class:`~.outputs.NodeOutputs`. Target state is written only here.
May import: numpy, :mod:`rar_tracking.types`, :mod:`rar_tracking.errors`,
:mod:`rar_tracking.imaging`, ROS message packages and this package's
inbox/outputs/diagnostics/image_conversion/stamps (not rclpy.node: it is given a logger and
a clock).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from std_msgs.msg import Header

from ..errors import InvalidBoxError, InvalidImageError
from ..imaging import clip_box
from ..types import Box, TrackResult, TrackState
from .diagnostics import NodeStats
from .image_conversion import ImageConversionError, msg_to_rgb
from .inbox import Frame, Inbox
from .outputs import NodeOutputs, tracked_target_msg
from .parameters import NodeOptions
from .stamps import format_stamp
from .thread_names import name_os_thread


@dataclass
class SetTargetCommand:
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
class ResetCommand:
    """A request to forget the target (``~/reset``)."""

    reason: str
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    abandoned: bool = False  # the requester stopped waiting: never applied
    success: bool = True
    message: str = ''


@dataclass
class ConfigureCommand:
    """Changed tracker parameters, applied between frames."""

    changes: dict


class TrackerWorker:
    """Runs ``tracker`` on the work of ``inbox`` in one thread (:meth:`start`, :meth:`stop`).

    Args:
        tracker: a :class:`rar_tracking.tracker.RARTracker` or anything with its methods.
        logger, clock: the node's (``node.get_logger()``, ``node.get_clock()``).
    """

    def __init__(self, tracker: Any, inbox: Inbox, stats: NodeStats, outputs: NodeOutputs,
                 options: NodeOptions, logger, clock):
        self._tracker, self._inbox, self._stats = tracker, inbox, stats
        self._outputs, self._options = outputs, options
        self._logger, self._clock = logger, clock
        self.target_active = False
        self.target_id = 0
        self._target_counter = 0
        self._target_size: tuple[int, int] | None = None
        self._last_tracked_stamp = 0  # stamp of the newest image with a published result
        self._last_state = TrackState.IDLE
        self._last_error_log: dict = {}
        self._size_mismatches = 0  # consecutive processed images of another size
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> TrackState:
        """The state of the last published result; IDLE without a target."""
        return self._last_state if self.target_active else TrackState.IDLE

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name='rar_tracker', daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the thread and answer the requests still queued; True when it had been
        started. Waits at most ``timeout`` for the frame or command in progress (the first
        time only)."""
        if self._stop.is_set():
            return self._thread is not None
        self._stop.set()
        for command in self._inbox.close():
            if isinstance(command, SetTargetCommand):
                command.finish(False, 'the node is shutting down')
            elif isinstance(command, ResetCommand):
                command.success, command.message = False, 'the node is shutting down'
                command.done.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=timeout)
        return thread is not None

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        name_os_thread('rar_tracker')
        while not self._stop.is_set():
            work = self._inbox.next_work(timeout=0.5)
            if work is None:
                continue
            kind, item = work
            try:
                if kind in ('frame', 'catch_up'):
                    self._process_frame(item, live=kind == 'frame')
                elif isinstance(item, SetTargetCommand):
                    self._handle_set_target(item)
                elif isinstance(item, ResetCommand):
                    self._handle_reset(item)
                elif isinstance(item, ConfigureCommand):
                    self._tracker.update_config(**item.changes)
            except Exception as exc:  # the tracker thread must survive anything
                if self._stop.is_set():
                    return
                self._logger.error(f'unexpected error in the tracker thread: {exc!r}',
                                   throttle_duration_sec=5.0)
            finally:
                if isinstance(item, SetTargetCommand) and not item.done.is_set():
                    item.finish(False, 'internal error while setting the target (see log)')
                elif isinstance(item, ResetCommand):
                    item.done.set()

    def _error_every(self, key, text: str, period: float = 5.0) -> None:
        """Log an error at most once per ``period`` for each kind of problem ``key``."""
        now = time.monotonic()
        if now - self._last_error_log.get(key, -math.inf) >= period:
            self._last_error_log[key] = now
            self._logger.error(text)

    def _decode(self, frame: Frame) -> np.ndarray | None:
        try:
            rgb = msg_to_rgb(frame.msg)
        except ImageConversionError as exc:
            self._stats.count('decode_errors')
            key = (exc.kind, getattr(exc, 'encoding', None))
            self._error_every(key, f'cannot use image (stamp {format_stamp(frame.stamp_ns)}): '
                                   f'{exc} (logged at most every 5 s per kind of problem)')
            return None
        if rgb.shape[0] * rgb.shape[1] > self._options.max_image_pixels:
            # A compressed image's size is only known once decoded.
            self._stats.count('oversized_frames')
            self._logger.warning(
                f'image skipped (stamp {format_stamp(frame.stamp_ns)}): {rgb.shape[1]}x'
                f'{rgb.shape[0]} is larger than max_image_pixels = '
                f'{self._options.max_image_pixels} (logged at most every 5 s)',
                throttle_duration_sec=5.0)
            return None
        return rgb

    # ------------------------------------------------------------------ frames
    def _process_frame(self, frame: Frame, live: bool = True) -> None:
        """Track one image (``live``: the newest one received, not a catch-up frame)."""
        header = frame.msg.header
        if not self.target_active:
            self._outputs.publish_detections(header, None, self.target_id)
            self._debug_without_target(frame, header)
            return
        if frame.stamp_ns and frame.stamp_ns == self._last_tracked_stamp:
            # The same image again (a source re-sending a frame it fears was lost, or a
            # duplicated message): it was tracked once and its result published already.
            self._stats.count('repeated_stamps')
            self._logger.info(
                f'image stamp {format_stamp(frame.stamp_ns)} repeats the last tracked image; '
                'not tracked twice (logged at most every 10 s)', throttle_duration_sec=10.0)
            return
        rgb = self._decode(frame)
        if rgb is None:
            return
        height, width = rgb.shape[:2]
        if (width, height) != self._target_size:
            self._other_size(frame, rgb)
            return
        self._size_mismatches = 0
        self._track(frame, rgb, live)

    def _other_size(self, frame: Frame, rgb: np.ndarray) -> None:
        """An image of another size than the target's: skipped (a stray frame), or, after
        ``size_change_frames`` in a row, the end of the target (the camera changed)."""
        self._size_mismatches += 1
        (w0, h0), (h, w) = self._target_size, rgb.shape[:2]
        limit = self._options.size_change_frames
        header = frame.msg.header
        if self._size_mismatches < limit:
            self._stats.count('size_mismatches')
            self._logger.warning(
                f'image stamp {format_stamp(frame.stamp_ns)} is {w}x{h}, target '
                f'{self.target_id} was set on {w0}x{h0}: frame skipped, target kept '
                f'({self._size_mismatches} in a row; the target is cleared after {limit}; '
                'logged at most every 5 s)', throttle_duration_sec=5.0)
            return
        self._logger.warning(
            f'image size changed from {w0}x{h0} to {w}x{h} for {limit} processed images in a '
            f'row while tracking target {self.target_id}: the target is cleared (state IDLE); '
            'set it again')
        self._clear_target(header)
        if self._outputs.want_debug():
            self._outputs.publish_debug(rgb, header, None, self.target_id)

    def _debug_without_target(self, frame: Frame, header) -> None:
        if self._outputs.want_debug():
            rgb = self._decode(frame)
            if rgb is not None:
                self._outputs.publish_debug(rgb, header, None, self.target_id)

    def _track(self, frame: Frame, rgb: np.ndarray, live: bool) -> None:
        start = self._clock.now()
        if live:
            self._stats.record_start(frame, self._inbox.received_after(frame))
        t0 = time.perf_counter()
        try:
            result = self._tracker.track(rgb)
        except Exception as exc:
            self._stats.count('tracker_errors')
            self._logger.error(
                f'tracker failed on image stamp {format_stamp(frame.stamp_ns)}: {exc!r}; '
                'frame skipped, target kept', throttle_duration_sec=5.0)
            return
        inference_ms = (time.perf_counter() - t0) * 1e3
        if self._stop.is_set():
            return
        if not result.box.is_finite():
            self._stats.count('tracker_errors')
            self._logger.error(
                f'tracker returned a non-finite box {result.box.as_tuple()} on image stamp '
                f'{format_stamp(frame.stamp_ns)}; frame skipped', throttle_duration_sec=5.0)
            return
        self._publish_result(frame, rgb, result, start, inference_ms)

    def _publish_result(self, frame: Frame, rgb: np.ndarray, result: TrackResult, start,
                        inference_ms: float) -> None:
        end = self._clock.now()
        msg = tracked_target_msg(frame.msg.header, result, self.target_id, start, end,
                                 inference_ms, self._inbox.take_dropped())
        latency = (end.nanoseconds - frame.stamp_ns) / 1e6 if frame.stamp_ns else None
        self._stats.record(latency, (time.monotonic_ns() - frame.received_ns) / 1e6,
                           inference_ms)
        self._last_state = TrackState(int(result.state))
        self._last_tracked_stamp = frame.stamp_ns
        self._outputs.publish_result(msg, result, rgb)

    # ------------------------------------------------------------------ commands
    def _handle_set_target(self, command: SetTargetCommand) -> None:
        with command.lock:
            if command.abandoned:
                return
            command.started = True
        frame = command.frame
        try:
            rgb = msg_to_rgb(frame.msg)
        except ImageConversionError as exc:
            command.finish(False, f'the image with stamp {format_stamp(frame.stamp_ns)} '
                                  f'cannot be used: {exc}')
            return
        height, width = rgb.shape[:2]
        box = clip_box(command.box, width, height)
        if box is None:
            b = command.box
            command.finish(False, (f'the box (x {b.x:.1f}, y {b.y:.1f}, w {b.w:.1f}, '
                                   f'h {b.h:.1f}) does not overlap the {width}x{height} image'))
            return
        previous = self._tracker.get_state() if self.target_active else None
        start = self._clock.now()
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
        if self._stop.is_set():  # the node is going away: no log, no publishing
            command.finish(False, 'the node is shutting down')
            return
        if not self._commit_target(command, box, (width, height), previous):
            return
        self._inbox.take_dropped()  # count drops of this target only
        if not result.box.is_finite():
            result = TrackResult(box, TrackState.TRACKING, 1.0, 0.0, 0.0)
        self._publish_result(frame, rgb, result, start, inference_ms)
        queued = self._inbox.schedule_catch_up(frame, self._options.max_catch_up_frames)
        if queued:
            self._logger.debug(f'catching up on {queued} buffered frame(s)')

    def _commit_target(self, command: SetTargetCommand, box: Box, size: tuple[int, int],
                       previous) -> bool:
        """Make the initialized tracker the new target, unless the requester gave up."""
        with command.lock:
            if command.abandoned:
                self._restore(previous)
                self._logger.warning(f'{command.source}: the requester stopped waiting; '
                                     'the previous target is kept')
                return False
            self._target_counter += 1
            self.target_id = self._target_counter
            self.target_active = True
            self._target_size = size
            self._size_mismatches = 0
            clipped = '' if box == command.box else ' (clipped to the image)'
            message = (f'target {self.target_id} set on image stamp '
                       f'{format_stamp(command.frame.stamp_ns)} ({size[0]}x{size[1]}) with box '
                       f'x {box.x:.1f}, y {box.y:.1f}, w {box.w:.1f}, h {box.h:.1f}{clipped}')
            command.finish(True, message, self.target_id)
        self._logger.info(f'{command.source}: {message}')
        return True

    def _restore(self, previous) -> None:
        if previous is not None:
            self._tracker.set_state(previous)
        else:
            self._tracker.reset()
            self.target_active = False

    def _handle_reset(self, command: ResetCommand) -> None:
        with command.lock:
            if command.abandoned:
                self._logger.warning(f'{command.reason}: the requester stopped waiting; the '
                                     'reset is not applied')
                return
            self._apply_reset(command)

    def _apply_reset(self, command: ResetCommand) -> None:
        had, target_id = self.target_active, self.target_id
        newest = self._inbox.newest()
        header = Header(stamp=self._clock.now().to_msg(),
                        frame_id=newest.frame_id if newest is not None else '')
        self._clear_target(header)
        command.message = f'target {target_id} cleared' if had else 'no target was set'
        self._logger.info(f'{command.reason}: {command.message}')

    def _clear_target(self, header) -> None:
        """Forget the target and publish one IDLE TrackedTarget with ``header``."""
        self._tracker.reset()
        self._inbox.clear_catch_up()
        self.target_active = False
        self._target_size = None
        self._last_state = TrackState.IDLE
        self._outputs.publish_idle(header, self.target_id, self._clock.now().to_msg(),
                                   self._inbox.take_dropped())
