"""Annotated image sequences and readers of the usual benchmark layouts.

A :class:`Sequence` holds frames (file paths read lazily, or in-memory RGB arrays) and one
ground-truth row ``x, y, w, h`` (top-left corner and size, pixels) per frame. A row of NaN
means the target is not visible in that frame; such frames are not scored.

Readers: :func:`load_otb`, :func:`load_vot`, :func:`load_got10k`, :func:`load_lasot`,
:func:`load_manifest` (the ``manifest.json`` of ``../shared/data/tracking``), and
:func:`load_sequence` / :func:`load_dataset`, which recognise the layout of a folder.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Sequence as SequenceType

import numpy as np

from ..types import Box

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
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


def list_images(folder: str | os.PathLike) -> list[str]:
    """Image files of a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SequenceError(f'frame folder does not exist: {folder}')
    return sorted(str(p) for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _mask_rows(gt: np.ndarray, hidden: np.ndarray, source: str) -> np.ndarray:
    if len(hidden) < len(gt):
        raise SequenceError(f'{source}: {len(hidden)} flags for {len(gt)} frames')
    gt = gt.copy()
    gt[hidden[:len(gt)]] = np.nan
    return gt


# ------------------------------------------------------------------------ readers
def load_otb(folder: str | os.PathLike, name: str | None = None,
             gt_file: str | None = None, tags: Iterable[str] = ()) -> Sequence:
    """OTB layout: ``img/`` and ``groundtruth_rect.txt`` (or the only ``*.txt``)."""
    folder = Path(folder)
    if gt_file is None:
        if (folder / 'groundtruth_rect.txt').is_file():
            gt_path = folder / 'groundtruth_rect.txt'
        else:
            candidates = sorted(folder.glob('*.txt'))
            if len(candidates) != 1:
                raise SequenceError(f'{folder}: no groundtruth_rect.txt and '
                                    f'{len(candidates)} other .txt files')
            gt_path = candidates[0]
    else:
        gt_path = folder / gt_file
    return Sequence(name or folder.name, list_images(folder / 'img'), read_boxes(gt_path),
                    tags, meta={'format': 'otb', 'path': str(folder)})


def _vot_frames(folder: Path) -> list[str]:
    for sub in ('color', 'img', '.'):
        if (folder / sub).is_dir():
            frames = list_images(folder / sub)
            if frames:
                return frames
    raise SequenceError(f'{folder}: no frames in color/, img/ or the folder itself')


def load_vot(folder: str | os.PathLike, name: str | None = None,
             tags: Iterable[str] = ()) -> Sequence:
    """VOT layout: ``groundtruth.txt`` (polygons or rectangles) and frames in ``color/``,
    ``img/`` or the folder itself. Polygons become axis-aligned bounding rectangles."""
    folder = Path(folder)
    return Sequence(name or folder.name, _vot_frames(folder),
                    read_boxes(folder / 'groundtruth.txt'), tags,
                    meta={'format': 'vot', 'path': str(folder)})


def load_got10k(folder: str | os.PathLike, name: str | None = None,
                tags: Iterable[str] = ()) -> Sequence:
    """GOT-10k layout: frames ``00000001.jpg``..., ``groundtruth.txt``, ``absence.label``.

    Frames flagged absent become NaN rows. A test-split sequence (one annotated row)
    keeps all its frames, the rows after the first NaN.
    """
    folder = Path(folder)
    frames = list_images(folder)
    gt = read_boxes(folder / 'groundtruth.txt')
    if (folder / 'absence.label').is_file():
        gt = _mask_rows(gt, read_flags(folder / 'absence.label'), str(folder / 'absence.label'))
    if len(gt) == 1 and len(frames) > 1:
        gt = np.vstack([gt, np.full((len(frames) - 1, 4), np.nan)])
    return Sequence(name or folder.name, frames, gt, tags,
                    meta={'format': 'got10k', 'path': str(folder)})


def load_lasot(folder: str | os.PathLike, name: str | None = None,
               tags: Iterable[str] = ()) -> Sequence:
    """LaSOT layout: ``img/``, ``groundtruth.txt``, ``full_occlusion.txt`` and
    ``out_of_view.txt``; frames fully occluded or out of view become NaN rows."""
    folder = Path(folder)
    gt = read_boxes(folder / 'groundtruth.txt')
    for flag_file in ('full_occlusion.txt', 'out_of_view.txt'):
        if (folder / flag_file).is_file():
            gt = _mask_rows(gt, read_flags(folder / flag_file), str(folder / flag_file))
    tags = list(tags)
    if not tags and '-' in folder.name:
        tags = [folder.name.rsplit('-', 1)[0]]  # the category, e.g. airplane-1 -> airplane
    return Sequence(name or folder.name, list_images(folder / 'img'), gt, tags,
                    meta={'format': 'lasot', 'path': str(folder)})


def _parse_size(text) -> tuple[int, int] | None:
    if not text:
        return None
    match = re.fullmatch(r'\s*(\d+)\s*[xX]\s*(\d+)\s*', str(text))
    return (int(match.group(1)), int(match.group(2))) if match else None


def load_manifest(root: str | os.PathLike, names: Iterable[str] | None = None) -> list[Sequence]:
    """Sequences listed in ``root/manifest.json`` (the layout of ``../shared/data/tracking``).

    Frame ``i`` is the i-th file, sorted by name, from ``first_frame`` on; the sequence has
    ``gt_rows`` frames (there may be more image files). ``names`` keeps only those, in the
    given order (unknown names raise).
    """
    root = Path(root)
    manifest_path = root / 'manifest.json' if root.is_dir() else root
    root = manifest_path.parent
    try:
        entries = json.loads(manifest_path.read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise SequenceError(f'no manifest: {manifest_path}') from None
    except json.JSONDecodeError as exc:
        raise SequenceError(f'{manifest_path}: invalid JSON ({exc})') from None
    if isinstance(entries, dict):
        entries = entries.get('sequences', [])
    by_name = {e['name']: e for e in entries}
    if names is not None:
        names = list(names)
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise SequenceError(f'{manifest_path}: unknown sequence(s) {unknown}; '
                                f'known: {sorted(by_name)}')
        entries = [by_name[n] for n in names]
    sequences = []
    for entry in entries:
        name = entry['name']
        where = f'{manifest_path} [{name}]'
        files = list_images(root / entry['frames_dir'])
        first = entry.get('first_frame')
        start = 0
        if first:
            basenames = [os.path.basename(f) for f in files]
            if first not in basenames:
                raise SequenceError(f'{where}: first_frame {first} not in {entry["frames_dir"]}')
            start = basenames.index(first)
        gt = read_boxes(root / entry['gt_file'])
        expected_rows = entry.get('gt_rows')
        if expected_rows is not None and int(expected_rows) != len(gt):
            raise SequenceError(f'{where}: manifest says {expected_rows} gt rows, '
                                f'{entry["gt_file"]} has {len(gt)}')
        frames = files[start:]
        if len(frames) < len(gt):
            raise SequenceError(f'{where}: {len(gt)} gt rows but only {len(frames)} frames')
        meta = {k: v for k, v in entry.items() if k not in ('name', 'tags')}
        meta['format'] = 'manifest'
        sequences.append(Sequence(name, frames[:len(gt)], gt, entry.get('tags', []),
                                  _parse_size(entry.get('image_size')), meta))
    return sequences


def detect_format(folder: str | os.PathLike) -> str | None:
    """'manifest', 'got10k', 'lasot', 'otb' or 'vot' for a folder, or None."""
    folder = Path(folder)
    if (folder / 'manifest.json').is_file():
        return 'manifest'
    if (folder / 'absence.label').is_file():
        return 'got10k'
    if (folder / 'full_occlusion.txt').is_file() or (folder / 'out_of_view.txt').is_file():
        return 'lasot'
    if (folder / 'groundtruth_rect.txt').is_file() and (folder / 'img').is_dir():
        return 'otb'
    if (folder / 'groundtruth.txt').is_file():
        return 'vot'
    if (folder / 'img').is_dir() and len(list(folder.glob('*.txt'))) == 1:
        return 'otb'
    return None


_LOADERS = {'otb': load_otb, 'vot': load_vot, 'got10k': load_got10k, 'lasot': load_lasot}


def load_sequence(folder: str | os.PathLike, fmt: str | None = None) -> Sequence:
    """One sequence folder of any supported layout (detected unless ``fmt`` is given)."""
    fmt = fmt or detect_format(folder)
    if fmt not in _LOADERS:
        raise SequenceError(f'{folder}: not a recognised sequence folder (OTB, VOT, GOT-10k, '
                            f'LaSOT)' if fmt is None else f'unknown format {fmt!r}')
    return _LOADERS[fmt](folder)


def load_dataset(root: str | os.PathLike, names: Iterable[str] | None = None) -> list[Sequence]:
    """All sequences under ``root``: its manifest.json when present, else every
    recognised sub-folder (sorted by name), or ``root`` itself when it is a sequence."""
    root = Path(root)
    if not root.exists():
        raise SequenceError(f'data folder does not exist: {root}')
    if detect_format(root) == 'manifest':
        return load_manifest(root, names)
    if detect_format(root) is not None:
        sequences = [load_sequence(root)]
    else:
        sequences = [load_sequence(sub) for sub in sorted(root.iterdir())
                     if sub.is_dir() and detect_format(sub) is not None]
    if not sequences:
        raise SequenceError(f'{root}: no manifest.json and no sequence folders')
    if names is not None:
        by_name = {s.name: s for s in sequences}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise SequenceError(f'{root}: unknown sequence(s) {unknown}; known: {sorted(by_name)}')
        sequences = [by_name[n] for n in names]
    return sequences
