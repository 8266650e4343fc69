"""What the demo keeps of a run: received frames and results, scored in order, drawn into the
annotated video, written to ``tracks.csv`` and summed up for ``summary.json``.

Works on received messages (TrackedTarget fields are read, nothing is created), so no rclpy.
May import: numpy, OpenCV (lazily), :mod:`rar_tracking.types`, :mod:`..stamps` and
:mod:`.options`.
"""
from __future__ import annotations

import collections
import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...types import Box, TrackState
from ..stamps import stamp_to_ns
from .options import DemoError

# Drawing colours, BGR for OpenCV.
COLOUR = {TrackState.TRACKING: (60, 220, 60), TrackState.LOST: (0, 140, 255),
          TrackState.IDLE: (200, 200, 200)}
GT_COLOUR = (255, 255, 0)  # cyan


def msg_box(msg) -> Box:
    """The box of a TrackedTarget (center and size) as a top-left :class:`Box`."""
    return Box.from_center(msg.center_x, msg.center_y, msg.size_x, msg.size_y)


@dataclass
class FrameRecord:
    stamp_ns: int
    rgb: np.ndarray | None
    gt: Box | None = None
    index: int | None = None  # 0-based source frame index, when the source says it


@dataclass
class Recording:
    """What arrived, keyed by image stamp."""

    frames: 'collections.OrderedDict[int, FrameRecord]' = field(
        default_factory=collections.OrderedDict)
    gt: dict = field(default_factory=dict)  # stamp -> (box or None, index)
    targets: dict = field(default_factory=dict)  # stamp -> (TrackedTarget, receipt ns)
    debug_count: int = 0


class VideoSink:
    """cv2.VideoWriter opened on the first frame: mp4 (mp4v), else avi (MJPG)."""

    def __init__(self, stem: Path, fps: float):
        self.stem, self.fps = stem, max(1.0, float(fps))
        self.writer = None
        self.path: Path | None = None
        self.count = 0

    def write(self, bgr: np.ndarray) -> None:
        if self.writer is None:
            self._open(bgr.shape[1], bgr.shape[0])
        self.writer.write(bgr)
        self.count += 1

    def _open(self, w: int, h: int) -> None:
        import cv2

        for suffix, fourcc in (('.mp4', 'mp4v'), ('.avi', 'MJPG')):
            path = self.stem.with_suffix(suffix)
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), self.fps,
                                     (w, h))
            if writer.isOpened():
                self.writer, self.path = writer, path
                return
            writer.release()
        raise DemoError(f'OpenCV can write neither mp4 nor avi here ({self.stem})')

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def annotate(rgb: np.ndarray, record: FrameRecord, target, held: Box | None,
             frame_no: int) -> np.ndarray:
    """BGR frame with the tracker box (green, orange when LOST) and the ground truth (thin,
    cyan) drawn, and a line of text: frame, state, confidence, IoU."""
    import cv2

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    h, w = bgr.shape[:2]
    thick = max(1, round(min(w, h) / 240))

    def rect(box: Box, colour, t):
        cv2.rectangle(bgr, (round(box.x), round(box.y)), (round(box.x + box.w),
                      round(box.y + box.h)), colour, t, cv2.LINE_AA)

    if target is not None:
        state = TrackState(int(target.state))
        box = msg_box(target)
        rect(box, COLOUR[state], thick + 1)
        text = f'{frame_no:4d} {state.name} conf {target.confidence:.2f}'
        if record.gt is not None:
            text += f' IoU {box.iou(record.gt):.2f}'
    else:
        if held is not None:
            rect(held, (150, 150, 150), 1)
        text = f'{frame_no:4d} (tracker busy: frame dropped)'
    if record.gt is not None:  # on top, thin: visible even where the boxes agree
        rect(record.gt, GT_COLOUR, 1)
    scale = max(0.35, min(w, h) / 600)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(bgr, (0, 0), (tw + 6, th + base + 6), (0, 0, 0), cv2.FILLED)
    cv2.putText(bgr, text, (3, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return bgr


def _num(value, digits=2) -> str:
    return '' if value is None else f'{value:.{digits}f}'


def _mean(values) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


class Scorer:
    """Scores frames in order, draws them into the video and writes tracks.csv rows."""

    FIELDS = ['frame', 'source_index', 'stamp_ns', 'state', 'x', 'y', 'w', 'h', 'confidence',
              'gt_x', 'gt_y', 'gt_w', 'gt_h', 'iou']

    def __init__(self, out: Path, fps: float):
        self.out = out
        self.sink = VideoSink(out / 'demo', fps)
        self._csv_file = open(out / 'tracks.csv', 'w', newline='')
        self.csv = csv.DictWriter(self._csv_file, fieldnames=self.FIELDS)
        self.csv.writeheader()
        self.count = 0
        self.held: Box | None = None
        self.ious: list[float] = []
        self.confidences: list[float] = []
        self.latency_ms: list[float] = []
        self.latency_to_demo_ms: list[float] = []
        self.inference_ms: list[float] = []
        self.processed = self.lost = self.node_dropped = 0
        self.first_start = self.last_end = None

    def add(self, rec: FrameRecord, msg, received_ns: int | None) -> None:
        """One frame in order: ``msg`` is its TrackedTarget (None: the node dropped it)."""
        n = self.count
        self.count += 1
        if msg is not None and msg.state == TrackState.IDLE:
            msg = None
        iou = None
        box = msg_box(msg) if msg is not None else None
        if msg is not None and n > 0:  # frame 0 is the initialization, not a result
            self._count_result(rec, msg, received_ns)
            if rec.gt is not None:
                iou = box.iou(rec.gt)
                self.ious.append(iou)
        label = rec.index if rec.index is not None else n
        self.sink.write(annotate(rec.rgb, rec, msg, self.held, label))
        if box is not None:
            self.held = box
        self.csv.writerow({
            'frame': n, 'source_index': '' if rec.index is None else rec.index,
            'stamp_ns': rec.stamp_ns,
            'state': TrackState(int(msg.state)).name if msg is not None else 'DROPPED',
            'x': _num(box and box.x), 'y': _num(box and box.y), 'w': _num(box and box.w),
            'h': _num(box and box.h), 'confidence': _num(msg and msg.confidence, 4),
            'gt_x': _num(rec.gt and rec.gt.x), 'gt_y': _num(rec.gt and rec.gt.y),
            'gt_w': _num(rec.gt and rec.gt.w), 'gt_h': _num(rec.gt and rec.gt.h),
            'iou': _num(iou, 4)})

    def _count_result(self, rec: FrameRecord, msg, received_ns: int) -> None:
        self.processed += 1
        self.confidences.append(float(msg.confidence))
        self.lost += int(msg.state == TrackState.LOST)
        self.latency_ms.append((stamp_to_ns(msg.processing_end) - rec.stamp_ns) / 1e6)
        self.latency_to_demo_ms.append((received_ns - rec.stamp_ns) / 1e6)
        self.inference_ms.append(float(msg.inference_ms))
        self.node_dropped += int(msg.dropped_frames)
        if self.first_start is None:
            self.first_start = stamp_to_ns(msg.processing_start)
        self.last_end = stamp_to_ns(msg.processing_end)

    def close(self) -> None:
        self.sink.close()
        self._csv_file.close()

    def summary(self) -> dict:
        after_init = max(self.count - 1, 0)
        span_s = ((self.last_end - self.first_start) / 1e9
                  if self.first_start is not None and self.last_end is not None else 0.0)
        return {
            'frames_recorded': self.count,
            'frames_after_init': after_init,
            'frames_processed': self.processed,
            'frames_dropped': after_init - self.processed,
            'node_reported_dropped_frames': self.node_dropped,
            'frames_lost': self.lost,
            'mean_confidence': _mean(self.confidences),
            'processing_rate_hz': round(self.processed / span_s, 3) if span_s > 0 else None,
            'mean_inference_ms': _mean(self.inference_ms),
            'mean_latency_ms': _mean(self.latency_ms),
            'p95_latency_ms': round(float(np.percentile(self.latency_ms, 95)), 3)
            if self.latency_ms else None,
            'mean_latency_to_demo_ms': _mean(self.latency_to_demo_ms),
            'frames_scored': len(self.ious),
            'mean_iou': _mean(self.ious),
            'success_rate_iou_0.5': round(float(np.mean(np.array(self.ious) >= 0.5)), 4)
            if self.ious else None,
            'video': str(self.sink.path) if self.sink.path else None,
            'tracks_csv': str(self.out / 'tracks.csv'),
        }
