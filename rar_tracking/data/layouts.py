"""Readers of the benchmark folder layouts: OTB, VOT, GOT-10k, LaSOT and ``manifest.json``.

:func:`load_otb`, :func:`load_vot`, :func:`load_got10k`, :func:`load_lasot`,
:func:`load_manifest` (the ``manifest.json`` of ``../shared/data/tracking``), and
:func:`load_sequence` / :func:`load_dataset`, which recognise the layout of a folder
(:func:`detect_format`). Each returns :class:`~.sequences.Sequence` objects.

May import: numpy and :mod:`.sequences`.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable

import numpy as np

from .sequences import Sequence, SequenceError, read_boxes, read_flags

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


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


def select_by_name(by_name: dict, names: Iterable[str], where: str) -> list:
    """The items of ``by_name`` named in ``names``, in that order; SequenceError naming the
    unknown ones (and the known ones) otherwise."""
    names = list(names)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SequenceError(f'{where}: unknown sequence(s) {unknown}; known: {sorted(by_name)}')
    return [by_name[n] for n in names]


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
    if names is not None:
        entries = select_by_name({e['name']: e for e in entries}, names, str(manifest_path))
    return [_manifest_sequence(root, manifest_path, entry) for entry in entries]


def _manifest_sequence(root: Path, manifest_path: Path, entry: dict) -> Sequence:
    """The Sequence of one manifest entry (``frames_dir``, ``gt_file``, ``first_frame``...)."""
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
    return Sequence(name, frames[:len(gt)], gt, entry.get('tags', []),
                    _parse_size(entry.get('image_size')), meta)


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
        sequences = select_by_name({s.name: s for s in sequences}, names, str(root))
    return sequences
