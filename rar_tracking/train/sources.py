"""Where training sequences come from: the ``data.train`` / ``data.val`` sources of the YAML.

Kinds (:class:`SourceSpec`): ``vid`` (ILSVRC 2015 VID, XML per frame, one sequence per video
and track id, read here), ``got10k``, ``lasot``, ``benchmark`` (any folder
:func:`rar_tracking.data.layouts.load_dataset` reads: a ``manifest.json`` folder, OTB / VOT /
GOT-10k / LaSOT sequence folders; ``otb``, its former name, is still accepted) and
``synthetic`` (generated clips with exact ground truth). Splits are made by sequence name
(``include`` and ``exclude`` globs), never by frame; :func:`check_disjoint` enforces it.

May import: numpy and :mod:`rar_tracking.data`; no torch, no ROS.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..data.layouts import load_dataset, load_got10k, load_lasot
from ..data.sequences import Sequence, SequenceError
from ..data.synthetic import make_suite

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- ILSVRC VID
@dataclass
class VidObject:
    """One annotated object of a VID frame: track id, WordNet id, box (x, y, w, h)."""

    trackid: int
    name: str
    box: tuple[float, float, float, float]
    occluded: bool


def parse_vid_xml(source: str | os.PathLike | bytes) -> tuple[int, int, list[VidObject]]:
    """Parse one ILSVRC VID annotation file (a path, or the XML text as bytes).

    Returns (width, height, objects). Boxes are ``x = xmin, y = ymin, w = xmax - xmin,
    h = ymax - ymin`` (continuous pixel coordinates). Errors raise SequenceError naming the file.
    """
    where = '<xml>' if isinstance(source, bytes) else os.fspath(source)
    try:
        root = ET.fromstring(source) if isinstance(source, bytes) else ET.parse(where).getroot()
    except (ET.ParseError, OSError) as exc:
        raise SequenceError(f'{where}: not a readable VID annotation ({exc})') from None

    def number(node, tag: str) -> float:
        child = node.find(tag)
        if child is None or child.text is None:
            raise SequenceError(f'{where}: <{tag}> missing')
        try:
            return float(child.text)
        except ValueError:
            raise SequenceError(f'{where}: <{tag}> is not a number: {child.text!r}') from None

    size = root.find('size')
    if size is None:
        raise SequenceError(f'{where}: <size> missing')
    width, height = int(number(size, 'width')), int(number(size, 'height'))
    objects = []
    for obj in root.iter('object'):
        box = obj.find('bndbox')
        if box is None:
            raise SequenceError(f'{where}: <object> without <bndbox>')
        x0, y0 = number(box, 'xmin'), number(box, 'ymin')
        x1, y1 = number(box, 'xmax'), number(box, 'ymax')
        occluded = obj.find('occluded')
        objects.append(VidObject(
            int(number(obj, 'trackid')), (obj.findtext('name') or '').strip(),
            (x0, y0, x1 - x0, y1 - y0),
            occluded is not None and (occluded.text or '0').strip() == '1'))
    return width, height, objects


def index_vid(root: str | os.PathLike, split: str = 'train') -> dict[str, dict]:
    """Parse every annotation of ``root/Annotations/VID/<split>``.

    Returns {video (path relative to the split): {'frames': [stems], 'size': [w, h],
    'tracks': {trackid: [[x, y, w, h] or None per frame]}}}.
    """
    ann_root = Path(root) / 'Annotations' / 'VID' / split
    if not ann_root.is_dir():
        raise SequenceError(f'{ann_root}: no VID annotation folder (expected '
                            f'ILSVRC2015/Annotations/VID/{split})')
    index = {}
    for dirpath, dirnames, filenames in os.walk(ann_root):
        dirnames.sort()
        xmls = sorted(f for f in filenames if f.endswith('.xml'))
        if not xmls:
            continue
        video = Path(dirpath).relative_to(ann_root).as_posix()
        size, tracks = None, {}
        for k, name in enumerate(xmls):
            w, h, objects = parse_vid_xml(Path(dirpath) / name)
            size = size or [w, h]
            for obj in objects:
                rows = tracks.setdefault(str(obj.trackid), [None] * len(xmls))
                rows[k] = list(obj.box)
        index[video] = {'frames': [n[:-4] for n in xmls], 'size': size, 'tracks': tracks}
    if not index:
        raise SequenceError(f'{ann_root}: no .xml annotation files')
    return index


def load_vid(root: str | os.PathLike, split: str = 'train', cache: str | os.PathLike = ''
             ) -> list[Sequence]:
    """ILSVRC 2015 VID: one sequence ``<video>:<trackid>`` per object track.

    Frames are ``root/Data/VID/<split>/<video>/<stem>.JPEG``. Parsing every XML of the
    training set takes minutes: with ``cache`` the index is stored there as JSON once and read
    back afterwards (delete it when the data change).
    """
    root = Path(root)
    index = None
    if cache and Path(cache).is_file():
        stored = json.loads(Path(cache).read_text())
        if stored.get('root') == str(root.resolve()) and stored.get('split') == split:
            index = stored['videos']
    if index is None:
        index = index_vid(root, split)
        if cache:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(str(cache) + '.tmp')
            tmp.write_text(json.dumps({'root': str(root.resolve()), 'split': split,
                                       'videos': index}))
            os.replace(tmp, cache)
    data_root = root / 'Data' / 'VID' / split
    sequences = []
    for video, entry in index.items():
        frames = [str(data_root / video / f'{stem}.JPEG') for stem in entry['frames']]
        base = video.rsplit('/', 1)[-1]
        for tid, rows in sorted(entry['tracks'].items(), key=lambda kv: int(kv[0])):
            gt = np.array([r if r is not None else [np.nan] * 4 for r in rows], dtype=np.float64)
            sequences.append(Sequence(f'{base}:{tid}', frames, gt,
                                      image_size=tuple(entry['size']) if entry['size'] else None,
                                      meta={'format': 'vid', 'video': video}))
    return sequences


# ---------------------------------------------------------------------------- sources
KINDS = ('vid', 'got10k', 'lasot', 'benchmark', 'synthetic')
# Older names still accepted: 'otb' was the first name of 'benchmark' (it never read only OTB).
KIND_ALIASES = {'otb': 'benchmark'}


@dataclass
class SourceSpec:
    """One entry of ``data.train`` / ``data.val`` in the training YAML.

    kind: vid | got10k | lasot | benchmark (any folder
        :func:`rar_tracking.data.layouts.load_dataset` reads: a ``manifest.json`` folder or
        OTB / VOT / GOT-10k / LaSOT sequence folders; ``otb`` is accepted for it) | synthetic.
    path: dataset folder (relative paths: relative to the YAML file's folder).
    include / exclude: glob patterns of sequence names (empty include: all).
    split: VID and GOT-10k sub-split (``train``, ``val``).
    weight: relative share of the clips drawn from this source.
    optional: a missing ``path`` is skipped with a warning instead of an error.
    max_sequences: keep only the first N sequences (by name) after filtering; 0: all.
    cache: VID index cache (JSON): a file, or ``auto`` (``~/.cache/rar_tracking/``), or
        empty (parse the XML files every time).
    count, num_frames, size, seed: the generated sequences of kind ``synthetic``.
    """

    kind: str
    path: str = ''
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    split: str = 'train'
    weight: float = 1.0
    optional: bool = False
    max_sequences: int = 0
    cache: str = ''
    count: int = 0
    num_frames: int = 60
    size: tuple[int, int] = (320, 240)
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = 'source') -> 'SourceSpec':
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f'{where}: unknown key(s) {unknown}; known: {sorted(known)}')
        spec = cls(**d)
        spec.include, spec.exclude = list(spec.include or []), list(spec.exclude or [])
        spec.size = tuple(int(v) for v in spec.size)
        spec.kind = KIND_ALIASES.get(spec.kind, spec.kind)
        if spec.kind not in KINDS:
            raise ValueError(f'{where}: kind {spec.kind!r} is not one of {KINDS}')
        if spec.kind == 'synthetic':
            if spec.count < 1 or spec.num_frames < 2:
                raise ValueError(f'{where}: synthetic needs count >= 1 and num_frames >= 2')
        elif not spec.path:
            raise ValueError(f'{where}: kind {spec.kind} needs a path')
        if not spec.weight > 0:
            raise ValueError(f'{where}: weight must be > 0, got {spec.weight}')
        return spec

    def resolved_path(self, base_dir: str | os.PathLike) -> Path:
        path = Path(os.path.expanduser(self.path))
        return path if path.is_absolute() else Path(base_dir) / path


def _got10k_folders(root: Path, split: str) -> list[Path]:
    if (root / split).is_dir():
        root = root / split
    listing = root / 'list.txt'
    if listing.is_file():
        names = [n.strip() for n in listing.read_text().splitlines() if n.strip()]
        return [root / n for n in names]
    return sorted(p for p in root.iterdir() if (p / 'groundtruth.txt').is_file())


def _lasot_folders(root: Path) -> list[Path]:
    found = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if (child / 'groundtruth.txt').is_file():
            found.append(child)
        else:
            found += sorted(p for p in child.iterdir() if (p / 'groundtruth.txt').is_file())
    return found


def _keep(name: str, spec: SourceSpec) -> bool:
    if spec.include and not any(fnmatch.fnmatchcase(name, p) for p in spec.include):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in spec.exclude)


def load_source(spec: SourceSpec, base_dir: str | os.PathLike = '.') -> list[Sequence]:
    """The sequences of one source, filtered by name (sorted by name)."""
    if spec.kind == 'synthetic':
        sequences = make_suite(spec.count, spec.num_frames, spec.size, spec.seed)
    else:
        path = spec.resolved_path(base_dir)
        if not path.exists():
            if spec.optional:
                log.warning('training source %s %s is absent: skipped', spec.kind, path)
                return []
            raise SequenceError(f'{spec.kind} source: {path} does not exist')
        if spec.kind == 'vid':
            cache = ''
            if spec.cache == 'auto':
                digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
                cache = Path.home() / '.cache' / 'rar_tracking' / \
                    f'vid-{spec.split}-{digest}.json'
            elif spec.cache:
                cache = SourceSpec(kind='vid', path=spec.cache).resolved_path(base_dir)
            sequences = load_vid(path, spec.split, cache)
        elif spec.kind == 'got10k':
            sequences = [load_got10k(p) for p in _got10k_folders(path, spec.split)
                         if _keep(p.name, spec)]
        elif spec.kind == 'lasot':
            sequences = [load_lasot(p) for p in _lasot_folders(path) if _keep(p.name, spec)]
        else:
            sequences = load_dataset(path)
    sequences = sorted((s for s in sequences if _keep(s.name, spec)), key=lambda s: s.name)
    if spec.max_sequences:
        sequences = sequences[:spec.max_sequences]
    return sequences


def load_sources(specs: list[SourceSpec], base_dir: str | os.PathLike = '.'
                 ) -> tuple[list[Sequence], np.ndarray]:
    """All sequences of several sources and each one's sampling weight (source weight shared
    equally by its sequences). Duplicate names raise."""
    sequences, weights = [], []
    for spec in specs:
        found = load_source(spec, base_dir)
        if not found:  # an optional source that is absent here (logged), or filtered empty
            if spec.kind != 'synthetic' and not spec.optional:
                log.warning('training source %s %s holds no sequence after its filters',
                            spec.kind, spec.path)
            continue
        sequences += found
        weights += [spec.weight / len(found)] * len(found)
    names = [s.name for s in sequences]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f'sequence name(s) {dupes[:5]} occur in more than one source')
    return sequences, np.array(weights, dtype=np.float64)


def check_disjoint(train: list[Sequence], held_out: list[Sequence]) -> None:
    """Raise ValueError when a sequence is in both splits (splits go by sequence name)."""
    common = sorted({s.name for s in train} & {s.name for s in held_out})
    if common:
        raise ValueError(f'sequence(s) {common[:5]} are in both the training and the '
                         f'held-out split')
