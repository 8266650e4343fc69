"""What the subscription callbacks hand to the tracker thread (pure Python, no rclpy).

The image callbacks only call :meth:`Inbox.put_frame`: the frame becomes the single pending
frame (replacing, and counting as dropped, one that the tracker thread had not taken yet) and
is appended to a short ring of recent frames, which ``~/set_target`` and clicks search by stamp.
The tracker thread takes work with :meth:`Inbox.next_work`: commands first (set target, reset,
configuration), then frames scheduled for catching up after a target was set on an older
frame, then the pending frame. Nothing here grows without bound.
May import: the standard library only.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Frame:
    """One received image message and when it arrived."""

    seq: int  # arrival number, strictly increasing (stamps may repeat or go back)
    stamp_ns: int  # header.stamp in nanoseconds (0 when the source sets none)
    frame_id: str
    msg: Any  # sensor_msgs/Image or sensor_msgs/CompressedImage
    nbytes: int = 0  # length of msg.data
    received_ns: int = field(default_factory=time.monotonic_ns)
    # Where the time between the stamp and the callback went (system clock, ns; 0 where the
    # middleware or rclpy does not say): the publisher's write, the middleware's receipt,
    # and the callback itself.
    sent_wall_ns: int = 0
    arrived_wall_ns: int = 0
    callback_wall_ns: int = field(default_factory=time.time_ns)


def _size_of(msg: Any) -> int:
    try:
        return len(msg.data)
    except (AttributeError, TypeError):
        return 0


class Inbox:
    """Newest-frame slot + ring of recent frames + command queue, under one lock."""

    def __init__(self, ring_size: int, max_bytes: int = 0):
        if ring_size < 1:
            raise ValueError(f'ring_size must be >= 1, got {ring_size}')
        self._cond = threading.Condition()
        self._ring: collections.deque[Frame] = collections.deque(maxlen=ring_size)
        self._max_bytes = int(max_bytes)  # 0: no bound in bytes
        self._ring_bytes = 0
        self._pending: Frame | None = None
        self._skipped: collections.deque[int] = collections.deque(maxlen=ring_size)
        self._catch_up: collections.deque[Frame] = collections.deque()
        self._commands: collections.deque[Any] = collections.deque()
        self._seq = 0
        self._last_done_seq = 0  # the newest frame the tracker thread has handled
        self._closed = False
        self.received = 0  # frames put in total
        self.dropped = 0  # frames replaced before the tracker thread took them, in total
        self._dropped_since = 0  # ... since the last take_dropped()

    # --- producer side (subscription and service callbacks) ---------------------------
    def put_frame(self, stamp_ns: int, frame_id: str, msg: Any, sent_wall_ns: int = 0,
                  arrived_wall_ns: int = 0) -> Frame:
        """Store a newly received frame as the pending one and in the ring (``sent_wall_ns``
        and ``arrived_wall_ns``: the middleware's write and receipt times, when known)."""
        with self._cond:
            self._seq += 1
            frame = Frame(self._seq, int(stamp_ns), frame_id, msg, _size_of(msg),
                          sent_wall_ns=int(sent_wall_ns), arrived_wall_ns=int(arrived_wall_ns))
            if len(self._ring) == self._ring.maxlen:
                self._ring_bytes -= self._ring[0].nbytes
            self._ring.append(frame)
            self._ring_bytes += frame.nbytes
            while self._max_bytes and self._ring_bytes > self._max_bytes and len(self._ring) > 1:
                self._ring_bytes -= self._ring.popleft().nbytes
            if self._pending is not None:
                self.dropped += 1
                self._dropped_since += 1
            self._pending = frame
            self.received += 1
            self._cond.notify_all()  # the tracker thread, and requests waiting for a stamp
            return frame

    def note_skipped(self, stamp_ns: int) -> None:
        """Remember the stamp of an image that arrived but was refused before buffering (too
        large): a request for it must fail, not fall back to a neighbouring image."""
        with self._cond:
            self._skipped.append(int(stamp_ns))

    def was_skipped(self, stamp_ns: int) -> bool:
        """Whether an image with this stamp arrived and was refused (:meth:`note_skipped`)."""
        with self._cond:
            return int(stamp_ns) in self._skipped

    def post(self, command: Any) -> bool:
        """Queue a command for the tracker thread (handled before any frame); False once the
        inbox is closed (the node is shutting down: nobody would take it)."""
        with self._cond:
            if self._closed:
                return False
            self._commands.append(command)
            self._cond.notify_all()
            return True

    def find(self, stamp_ns: int, tolerance_ns: int = 0) -> Frame | None:
        """The newest buffered frame with this stamp; stamp 0 means the newest frame.

        Without an exact match, the buffered frame whose stamp is nearest, if it is at most
        ``tolerance_ns`` away (the requested image was lost on the way: a best-effort or
        overloaded link drops whole images); of two equally near, the older one. Never for
        the stamp of an image that arrived and was skipped (:meth:`note_skipped`).
        """
        with self._cond:
            if not self._ring:
                return None
            if stamp_ns == 0:
                return self._ring[-1]
            for frame in reversed(self._ring):
                if frame.stamp_ns == stamp_ns:
                    return frame
            if tolerance_ns <= 0 or stamp_ns in self._skipped:
                return None
            near = [f for f in self._ring if f.stamp_ns and
                    abs(f.stamp_ns - stamp_ns) <= tolerance_ns]
            return min(near, key=lambda f: (abs(f.stamp_ns - stamp_ns), f.stamp_ns),
                       default=None)

    def wait_for_stamp(self, stamp_ns: int, timeout: float) -> Frame | None:
        """:meth:`find`, waiting up to ``timeout`` s for a frame with this stamp to arrive."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                frame = self.find(stamp_ns)
                remaining = deadline - time.monotonic()
                if frame is not None or self._closed or remaining <= 0:
                    return frame
                self._cond.wait(remaining)

    @property
    def ring_bytes(self) -> int:
        """Bytes of image data held by the ring."""
        with self._cond:
            return self._ring_bytes

    def buffered_stamps(self) -> list[int]:
        """Stamps of the buffered frames, oldest first."""
        with self._cond:
            return [f.stamp_ns for f in self._ring]

    def newest(self) -> Frame | None:
        with self._cond:
            return self._ring[-1] if self._ring else None

    def received_after(self, frame: Frame) -> int:
        """How many frames arrived after ``frame`` (0: it is still the newest)."""
        with self._cond:
            return self._seq - frame.seq

    # --- consumer side (the tracker thread) -------------------------------------------
    def next_work(self, timeout: float | None = None) -> tuple[str, Any] | None:
        """Wait for work: ('command', c), ('frame', f), ('catch_up', f) or None on
        timeout/close.

        A catch-up frame (an older buffered one, after a target was set on an older image)
        or the pending frame is handed out only if it is newer than the last frame handed
        out, so that no frame is tracked twice.
        """
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                if self._closed:
                    return None
                if self._commands:
                    return 'command', self._commands.popleft()
                while self._catch_up:
                    frame = self._catch_up.popleft()
                    if frame.seq > self._last_done_seq:
                        self._last_done_seq = frame.seq
                        return 'catch_up', frame
                if self._pending is not None:
                    frame, self._pending = self._pending, None
                    if frame.seq > self._last_done_seq:
                        self._last_done_seq = frame.seq
                        return 'frame', frame
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def schedule_catch_up(self, after: Frame, limit: int) -> int:
        """Queue the buffered frames newer than ``after`` (at most the ``limit`` newest)."""
        with self._cond:
            newer = [f for f in self._ring if f.seq > after.seq]
            self._catch_up.clear()
            if limit > 0:
                self._catch_up.extend(newer[-limit:])
            # The new target starts at ``after``: newer frames are tracked again even if
            # they were handled before (for the previous target, or while idle).
            self._last_done_seq = after.seq
            self._forget_handled_pending()
            return len(self._catch_up)

    def _forget_handled_pending(self) -> None:
        # The pending frame is the newest one; once it is handled or queued for catching
        # up, keeping it would count the next arrival as a drop.
        pending = self._pending
        if pending is not None and (pending.seq <= self._last_done_seq or (
                self._catch_up and pending.seq <= self._catch_up[-1].seq)):
            self._pending = None

    def clear_catch_up(self) -> None:
        with self._cond:
            self._catch_up.clear()

    def take_dropped(self) -> int:
        """Frames dropped since the previous call (for TrackedTarget.dropped_frames)."""
        with self._cond:
            n, self._dropped_since = self._dropped_since, 0
            return n

    def close(self) -> list[Any]:
        """Wake the tracker thread for good (next_work returns None from now on); returns the
        commands that were never taken, for their requesters to be answered."""
        with self._cond:
            self._closed = True
            left, self._commands = list(self._commands), collections.deque()
            self._cond.notify_all()
            return left
