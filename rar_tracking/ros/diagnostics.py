"""The node's counters and timings, and the /diagnostics status and summary line made of them.

:class:`NodeStats` is written by the tracker thread and read by the diagnostics timer;
:func:`tracker_status` turns one period of it into a ``diagnostic_msgs/DiagnosticStatus``.
May import: numpy, diagnostic_msgs, :mod:`rar_tracking.types` and :mod:`.inbox`.
"""
from __future__ import annotations

import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from ..types import TrackState
from .inbox import Frame, Inbox

# The stages of NodeStats.record_start, in the order an image passes them.
WAIT_STAGES = ('stamp_to_write', 'write_to_receipt', 'receipt_to_callback',
               'callback_to_start')


class NodeStats:
    """Counters and per-period timings for /diagnostics (written by the tracker thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.processed = 0
        self.decode_errors = 0
        self.tracker_errors = 0
        self.repeated_stamps = 0  # images skipped: same stamp as the last tracked image
        self.oversized_frames = 0  # images skipped: more than max_image_pixels
        self.size_mismatches = 0  # images skipped: another size than the target's
        self.latency_ms: list[float] = []  # header.stamp -> processing end (ROS clock)
        self.node_latency_ms: list[float] = []  # receipt -> processing end (monotonic)
        self.inference_ms: list[float] = []
        self.all_node_latency_ms: list[float] = []  # whole run, capped, for the summary
        # Where a live image's wait before processing went (per period, ms, system clock):
        # its stamp to the publisher's write (the camera driver), the write to the
        # middleware's receipt here (the transport), the receipt to the callback (this
        # node's executor), the callback to processing start (this node's queue).
        self.waits_ms: dict[str, list[float]] = {k: [] for k in WAIT_STAGES}
        self.newer_at_start: list[int] = []  # per period
        # Live images whose processing started while a newer one had already arrived
        # (the node was behind), and the most newer images seen at a start; whole run.
        self.started_behind = 0
        self.max_newer_at_start = 0
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

    def record_start(self, frame: Frame, newer: int) -> None:
        """Note the start of processing of ``frame``, the newest image received but for
        ``newer`` that arrived since it was taken (0 unless the node fell behind).

        A stage is left out where an end point is unknown: the middleware's write and
        receipt times come with rclpy's message info (Jazzy and later, not Humble), and the
        stamp counts only where it is on this machine's clock (not with ``use_sim_time`` or
        a camera's own clock): 0 to 10 s before the write.
        """
        now = time.time_ns()
        stages = {'callback_to_start': now - frame.callback_wall_ns}
        sent, arrived = frame.sent_wall_ns, frame.arrived_wall_ns
        if arrived:
            stages['receipt_to_callback'] = frame.callback_wall_ns - arrived
        if sent and arrived:
            stages['write_to_receipt'] = arrived - sent
        if sent and frame.stamp_ns and 0 <= sent - frame.stamp_ns < 10 * 10**9:
            stages['stamp_to_write'] = sent - frame.stamp_ns
        with self.lock:
            for key, ns in stages.items():
                self.waits_ms[key].append(ns / 1e6)
            self.newer_at_start.append(newer)
            self.started_behind += newer > 0
            self.max_newer_at_start = max(self.max_newer_at_start, newer)

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
                'waits_ms': {k: list(v) for k, v in self.waits_ms.items()},
                'newer_at_start': list(self.newer_at_start),
            }
            self.period_start, self.period_received = now, received_total
            self.period_processed, self.period_errors = self.processed, errors
            self.latency_ms.clear()
            self.node_latency_ms.clear()
            self.inference_ms.clear()
            for values in self.waits_ms.values():
                values.clear()
            self.newer_at_start.clear()
            return out


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float('nan')


def _max(values: list[float]) -> float:
    return max(values) if values else float('nan')


def _level_and_message(period: dict, state: TrackState, target_id: int, image_topic: str,
                       device_note: str) -> tuple[int, str]:
    level, message = DiagnosticStatus.OK, ''
    if period['input_rate_hz'] == 0.0:
        level, message = DiagnosticStatus.WARN, f'no images on {image_topic}'
    elif state == TrackState.LOST:
        level, message = DiagnosticStatus.WARN, f'target {target_id} lost'
    elif state == TrackState.TRACKING:
        message = f'tracking target {target_id} at {period["processed_rate_hz"]:.1f} Hz'
    else:
        message = 'idle: waiting for a target'
    if period['new_errors']:
        level = DiagnosticStatus.WARN
        message += f'; {period["new_errors"]} image/tracker error(s)'
    if device_note:
        level = max(level, DiagnosticStatus.WARN)
        message += '; ' + device_note
    return level, message


def tracker_status(name: str, period: dict, stats: NodeStats, inbox: Inbox, *,
                   state: TrackState, target_id: int, image_topic: str, device: str,
                   requested_device: str, trunk: str, device_note: str,
                   profile: str = '') -> DiagnosticStatus:
    """The node's DiagnosticStatus for one period (``period`` from :meth:`take_period`)."""
    status = DiagnosticStatus()
    status.name = name
    status.hardware_id = device
    status.level, status.message = _level_and_message(period, state, target_id, image_topic,
                                                      device_note)
    lat, node_lat = period['latency_ms'], period['node_latency_ms']
    values = {
        'state': state.name,
        'target_id': target_id,
        'input_rate_hz': f'{period["input_rate_hz"]:.2f}',
        'processed_rate_hz': f'{period["processed_rate_hz"]:.2f}',
        'mean_latency_ms': f'{_mean(lat):.1f}',
        'max_latency_ms': f'{_max(lat):.1f}',
        'mean_node_latency_ms': f'{_mean(node_lat):.1f}',
        'max_node_latency_ms': f'{_max(node_lat):.1f}',
        'mean_inference_ms': f'{_mean(period["inference_ms"]):.1f}',
        **{f'max_{k}_ms': f'{_max(v):.1f}' for k, v in period['waits_ms'].items()},
        'max_newer_at_start': max(period['newer_at_start'], default=0),
        'started_behind_newest': stats.started_behind,
        'frames_received': inbox.received,
        'frames_processed': stats.processed,
        'dropped_frames': inbox.dropped,
        'decode_errors': stats.decode_errors,
        'tracker_errors': stats.tracker_errors,
        'repeated_stamps': stats.repeated_stamps,
        'oversized_frames': stats.oversized_frames,
        'size_mismatches': stats.size_mismatches,
        'buffered_mb': f'{inbox.ring_bytes / 2**20:.1f}',
        'device': device,
        'requested_device': requested_device,
        'trunk': trunk,
        'profile': profile,
        'image_topic': image_topic,
    }
    status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    return status


def run_summary(stats: NodeStats, inbox: Inbox) -> str:
    """One line with the measured rate and latency of the whole run."""
    lat = stats.all_node_latency_ms
    if not lat:
        return f'processed 0 frames ({inbox.received} received)'
    return (f'processed {stats.processed} of {inbox.received} frames '
            f'({inbox.dropped} dropped); latency receipt->publish mean '
            f'{_mean(lat):.1f} ms, p95 {float(np.percentile(lat, 95)):.1f} ms, '
            f'max {max(lat):.1f} ms; {stats.started_behind} started while a newer image '
            f'had arrived (at most {stats.max_newer_at_start} newer)')
