"""Annotated image sequences: the :class:`Sequence` container and its annotation files.

A :class:`Sequence` holds frames (file paths read lazily, or in-memory RGB arrays) and one
ground-truth row ``x, y, w, h`` (top-left corner and size, pixels) per frame. A row of NaN
means the target is not visible in that frame; such frames are not scored. Ground-truth text
files (rectangles or VOT polygons) and per-frame flag files are read here; the folder layouts
of the benchmarks (OTB, VOT, GOT-10k, LaSOT, manifest.json) are in :mod:`.layouts`.

May import: numpy, OpenCV (lazily, to decode frames) and :mod:`rar_tracking.types`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Sequence as SequenceType

import numpy as np

from ..types import Box

_DELIMITERS = re.compile(r'[,\t; ]+')


class SequenceError(ValueError):
    """A sequence folder or annotation file is malformed; the message names the file."""


class FrameReadError(OSError):
    """A frame file is missing or cannot be decoded; the message names the file."""


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 HxWx3 (gray and 16-bit files are converted)."""
    import cv2  # imported here so that reading annotations does not need OpenCV

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FrameReadError(f'frame file does not exist: {path}')
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise FrameReadError(f'cannot decode frame file (not an image or corrupt): {path}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class Sequence:
    """Frames plus one ground-truth box row per frame.

    Args:
        name: sequence name (used in results and file names).
        frames: list of image file paths (read on demand by :meth:`frame`) or of RGB uint8
            HxWx3 arrays; any object with ``len`` and integer indexing works.
        gt: N x 4 array ``x, y, w, h``; NaN rows = target not visible. ``None``: all NaN.
            The sequence has ``len(gt)`` frames; ``frames`` may hold more (ignored).
        tags: attribute tags (e.g. ``'occlusion'``, ``'scale-change'``).
        image_size: ``(width, height)``; read from the first frame when not given.
        meta: free-form information (origin, source, notes).
    """

    def __init__(self, name: str, frames: SequenceType, gt=None, tags: Iterable[str] = (),
                 image_size: tuple[int, int] | None = None, meta: dict | None = None):
        self.name = str(name)
        if gt is None:
            gt = np.full((len(frames), 4), np.nan)
        gt = np.array(gt, dtype=np.float64, copy=True)
        if gt.ndim != 2 or gt.shape[1] != 4:
            raise SequenceError(f'{self.name}: ground truth must be N x 4 (x, y, w, h), '
                                f'got shape {gt.shape}')
        if len(frames) < len(gt):
            raise SequenceError(f'{self.name}: {len(gt)} ground-truth rows but only '
                                f'{len(frames)} frames')
        # A row with any NaN is a "not visible" row: make it all NaN.
        gt[~np.isfinite(gt).all(axis=1)] = np.nan
        self.gt = gt
        self.frames = frames
        self.tags = [str(t) for t in tags]
        self._image_size = tuple(int(v) for v in image_size) if image_size else None
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return len(self.gt)

    def __repr__(self) -> str:
        return (f'Sequence({self.name!r}, {len(self)} frames, '
                f'{int(self.visible.sum())} visible, tags={self.tags})')

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` (0-based) as RGB uint8 HxWx3."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f'{self.name}: frame {i} out of range (0..{n - 1})')
        item = self.frames[i % n]
        if isinstance(item, (str, os.PathLike)):
            return read_image_rgb(item)
        image = np.asarray(item)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise SequenceError(f'{self.name}: in-memory frame {i} must be uint8 HxWx3, '
                                f'got {image.dtype} {image.shape}')
        return image

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.frame(i)

    def gt_box(self, i: int) -> Box | None:
        """Ground truth of frame ``i`` as a :class:`Box`, or ``None`` when not visible."""
        row = self.gt[i]
        return Box(*map(float, row)) if np.isfinite(row).all() else None

    @property
    def visible(self) -> np.ndarray:
        """Boolean mask of the frames with a ground-truth box."""
        return np.isfinite(self.gt).all(axis=1)

    @property
    def init_box(self) -> Box:
        """The box of frame 0, which a tracker is initialised with."""
        box = self.gt_box(0)
        if box is None:
            raise SequenceError(f'{self.name}: the first frame has no ground-truth box')
        return box

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        if self._image_size is None:
            h, w = self.frame(0).shape[:2]
            self._image_size = (w, h)
        return self._image_size

    def head(self, n: int | None) -> 'Sequence':
        """The first ``n`` frames (all of them when ``n`` is None or larger)."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise ValueError(f'head needs n >= 1, got {n}')
        return Sequence(self.name, self.frames[:n] if isinstance(self.frames, list)
                        else _Slice(self.frames, n), self.gt[:n], self.tags,
                        self._image_size, self.meta)


class _Slice:
    """First ``n`` items of an indexable without materialising them."""

    def __init__(self, base, n: int):
        self.base, self.n = base, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return self.base[i % self.n]


# ------------------------------------------------------------------------ annotations
def polygon_to_rect(poly: np.ndarray) -> np.ndarray:
    """N x 2k polygons ``x1, y1, x2, y2, ...`` -> N x 4 axis-aligned bounding rectangles."""
    poly = np.asarray(poly, dtype=np.float64)
    xs, ys = poly[:, 0::2], poly[:, 1::2]
    x0, y0 = xs.min(axis=1), ys.min(axis=1)
    return np.stack([x0, y0, xs.max(axis=1) - x0, ys.max(axis=1) - y0], axis=1)


def parse_boxes(text: str, source: str = '<text>') -> np.ndarray:
    """Parse ground-truth rows into an N x 4 float64 array ``x, y, w, h``.

    Each line holds 4 numbers (a rectangle) or 8 (a VOT polygon, converted to its
    axis-aligned bounding rectangle), separated by commas, tabs, semicolons or spaces.
    CRLF/CR line ends and trailing blank lines are accepted; ``NaN`` values give a NaN row.
    """
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    rows = []
    width = None
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip().strip(',;')
        if not stripped:
            raise SequenceError(f'{source}:{lineno}: empty line inside the annotations')
        fields = _DELIMITERS.split(stripped)
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise SequenceError(f'{source}:{lineno}: not a list of numbers: {line.strip()!r}'
                                ) from None
        if len(values) not in (4, 8):
            raise SequenceError(f'{source}:{lineno}: expected 4 (x,y,w,h) or 8 (polygon) '
                                f'values, got {len(values)}')
        if width is not None and len(values) != width:
            raise SequenceError(f'{source}:{lineno}: {len(values)} values where earlier '
                                f'rows have {width}')
        width = len(values)
        rows.append(values)
    if not rows:
        raise SequenceError(f'{source}: no annotation rows')
    array = np.array(rows, dtype=np.float64)
    return polygon_to_rect(array) if width == 8 else array


def read_boxes(path: str | os.PathLike) -> np.ndarray:
    """Read a ground-truth file (see :func:`parse_boxes`)."""
    path = Path(path)
    if not path.is_file():
        raise SequenceError(f'ground-truth file does not exist: {path}')
    return parse_boxes(path.read_text(encoding='utf-8', errors='strict'), str(path))


def read_flags(path: str | os.PathLike) -> np.ndarray:
    """Read per-frame 0/1 flags (one per line, or comma/space separated) as bool."""
    path = Path(path)
    text = path.read_text(encoding='utf-8').strip()
    if not text:
        return np.zeros(0, dtype=bool)
    try:
        return np.array([int(float(v)) for v in _DELIMITERS.split(
            text.replace('\r', ' ').replace('\n', ' ').strip())], dtype=np.int64) != 0
    except ValueError:
        raise SequenceError(f'{path}: expected 0/1 flags') from None
