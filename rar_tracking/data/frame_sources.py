"""Frames one at a time from a video file, an image folder, an annotated sequence or a generated
scene: what the ``video_source`` node publishes (:func:`open_source`), without any ROS.

May import: numpy, OpenCV (lazily), :mod:`rar_tracking.data.sequences`,
:mod:`rar_tracking.data.layouts` and :mod:`rar_tracking.data.synthetic`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import layouts
from .sequences import FrameReadError, Sequence, SequenceError, read_boxes

class SourceError(ValueError):
    """The requested source cannot be opened; the message names it and says why."""


class IndexedFrames:
    """Frames of a :class:`~.sequences.Sequence` (files or generated)."""

    def __init__(self, sequence: Sequence, has_gt: bool, description: str):
        self.sequence = sequence
        self.has_gt = has_gt
        self.description = description
        self._next = 0

    def __len__(self) -> int:
        return len(self.sequence)

    def next(self) -> tuple[int, np.ndarray] | None:
        """(index, RGB frame) of the next frame, or None at the end."""
        if self._next >= len(self.sequence):
            return None
        index = self._next
        self._next += 1
        return index, self.sequence.frame(index)

    def rewind(self) -> None:
        self._next = 0

    def gt(self, index: int) -> np.ndarray | None:
        return self.sequence.gt[index] if self.has_gt and index < len(self.sequence) else None


class VideoFrames:
    """Frames of a video file, read in order with ``cv2.VideoCapture``."""

    def __init__(self, path: str, gt: np.ndarray | None):
        import cv2

        self._cv2 = cv2
        self.path = path
        self.description = f'video file {path}'
        self._cap = cv2.VideoCapture(path)
        if not self._cap.isOpened():
            raise SourceError(f'cannot open video file {path} (not a video, or a codec '
                              'OpenCV lacks)')
        ok, first = self._cap.read()
        if not ok or first is None:
            raise SourceError(f'video file {path} has no readable frame')
        self._pending = first
        self._next = 0
        self.has_gt = gt is not None
        self._gt = gt
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._length = count if count > 0 else None

    def __len__(self) -> int:
        return self._length if self._length is not None else 0

    def next(self) -> tuple[int, np.ndarray] | None:
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                return None
        index = self._next
        self._next += 1
        return index, self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)

    def rewind(self) -> None:
        self._cap.release()
        self._cap = self._cv2.VideoCapture(self.path)
        self._pending = None
        self._next = 0

    def gt(self, index: int) -> np.ndarray | None:
        if self._gt is None or index >= len(self._gt):
            return None
        return self._gt[index]

    def close(self) -> None:
        self._cap.release()


def open_source(source: str, *, sequence: str = '', ground_truth: str = '',
                scene: dict | None = None):
    """Open a frame source (see the module docstring); raises :class:`SourceError`."""
    source = source.strip()
    gt = None
    if ground_truth:
        try:
            gt = read_boxes(os.path.expanduser(ground_truth))
        except SequenceError as exc:
            raise SourceError(f'ground_truth: {exc}') from None
    if source in ('', 'synthetic'):
        from .synthetic import make_sequence

        scene = dict(scene or {})
        try:
            seq = make_sequence(**scene)
        except ValueError as exc:
            raise SourceError(f'generated scene: {exc}') from None
        return IndexedFrames(seq, True, f'generated scene {seq.name} ({len(seq)} frames, '
                                         f'{seq.image_size[0]}x{seq.image_size[1]})')
    path = Path(os.path.expanduser(source))
    if not path.exists():
        raise SourceError(f'source does not exist: {path} (give a video file, an image '
                          "folder, or '' / 'synthetic' for a generated scene)")
    try:
        if path.is_dir():
            fmt = layouts.detect_format(path)
            if fmt == 'manifest' or sequence:
                if not sequence:
                    raise SourceError(f'{path} holds a manifest.json: name one of its sequences '
                                      'with the parameter sequence')
                seq = layouts.load_manifest(path, [sequence])[0]
                has_gt = True
            elif fmt is not None:
                seq = layouts.load_sequence(path, fmt)
                has_gt = True
            else:
                files = layouts.list_images(path)
                if not files:
                    raise SourceError(f'image folder {path} holds no image files '
                                      f'({", ".join(layouts.IMAGE_EXTENSIONS)})')
                seq = Sequence(path.name, files)
                has_gt = False
            if gt is not None:
                seq = Sequence(seq.name, seq.frames, _fit_rows(gt, len(seq)))
                has_gt = True
            seq.frame(0)  # fail now, not in the timer, when the first file is unreadable
        else:
            return VideoFrames(str(path), gt)
    except (SequenceError, FrameReadError) as exc:
        raise SourceError(str(exc)) from None
    return IndexedFrames(seq, has_gt, f'{len(seq)} images of {seq.name} from {path}')


def _fit_rows(gt: np.ndarray, n: int) -> np.ndarray:
    """Ground truth padded with NaN rows (or cut) to n frames."""
    if len(gt) >= n:
        return gt[:n]
    return np.vstack([gt, np.full((n - len(gt), 4), np.nan)])
