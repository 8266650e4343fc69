"""Sequence classes for issue 14's validation protocol, and the named splits.

A design choice is judged per class and overall, on more than one set of sequences, so that
a change that helps the mean by breaking one kind of footage shows. The classes are
:data:`CLASSES`. A sequence's classes come from its manifest tags (``'scale-change x2.5'``
counts as ``scale-change``) plus two additions that come from the footage itself, never from a
tracker's score:

- ``aerial``: sequences whose origin is a drone data set (UAV123, UAVDT, DTB70 are recorded
  from UAVs by definition); the train manifest tags these, the tracking manifest does not;
- :data:`CONTENT_CLASSES`: a short list by name, each entry written down after looking at the
  frames (first and middle frame with the ground-truth box; docs/evaluation.md, issue 14),
  for what the manifests do not tag at all (similar objects beside the target).

Splits (``config/splits.yaml``) name the sequences of a folder kept for a purpose; the
``validation`` split is the train folder's hold-out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .robustness import SEPARATOR

CLASSES = ('small-target', 'fast-motion', 'distractor', 'occlusion', 'scale-change', 'aerial')
OVERALL = 'overall'
SPLITS_FILE = Path(__file__).resolve().parents[2] / 'config' / 'splits.yaml'

# Origins recorded from a UAV: every sequence of these data sets is aerial footage.
AERIAL_ORIGINS = ('UAV123', 'UAVDT', 'DTB70')

# Classes seen in the frames that no manifest tags. Why each one:
CONTENT_CLASSES: dict[str, tuple[str, ...]] = {
    'Animal3': ('distractor',),      # a herd of animals of the same kind and colour around it
    'vot15_ball1': ('distractor',),  # several players with footballs of the same look
    'Surfing06': ('distractor',),    # many surfers of the same size on the same water
    'Human3': ('distractor',),       # pedestrians of similar size crossing the same street
    'Jogging1': ('distractor',),     # a second jogger running beside the target
    'Bird2': ('distractor',),        # several birds of the same kind flying beside it
    'CarDark': ('distractor',),      # other cars' lights at night, the same bright blobs
}


def sequence_classes(name: str, tags: Iterable[str], origin: str | None = None) -> list[str]:
    """The classes of :data:`CLASSES` one sequence belongs to (see the module docstring). A
    copy started from a moved box (``Bird2~1``, ``--starts``) has its sequence's classes."""
    name = name.split(SEPARATOR)[0]
    found = set()
    for tag in tags:
        head = str(tag).split()[0] if str(tag).strip() else ''
        if head in CLASSES:
            found.add(head)
    if origin and any(o in origin for o in AERIAL_ORIGINS):
        found.add('aerial')
    found.update(CONTENT_CLASSES.get(name, ()))
    return [c for c in CLASSES if c in found]


def load_split(name: str, path: str | Path = SPLITS_FILE) -> list[str]:
    """The sequence names of split ``name`` in ``path`` (``config/splits.yaml``)."""
    import yaml

    doc = yaml.safe_load(Path(path).read_text(encoding='utf-8')) or {}
    if name not in doc:
        raise ValueError(f'split {name!r} is not in {path}; known: {sorted(doc)}')
    names = [str(n) for n in doc[name] or []]
    if not names:
        raise ValueError(f'split {name!r} in {path} is empty')
    return names


def in_split(sequences: list, split) -> list:
    """The sequences of one data folder that ``split`` (names, or None) keeps: those it names
    where the folder holds any of them, else all (a split names sequences of one folder, and
    other folders of the same run are taken whole). A folder taken whole is returned as the
    same list object, which is how a caller tells that the split did not apply to it."""
    if split is not None and any(s.name in split for s in sequences):
        return [s for s in sequences if s.name in split]
    return sequences


def class_table(scores_by_group: dict[str, dict[str, list]], trackers: list[str]) -> dict:
    """``{group: {class or 'overall': {tracker: aggregate}}}`` from
    ``{group: {tracker: [(SequenceScore, classes)]}}``; classes with no sequence are left out."""
    from .metrics import aggregate

    out: dict = {}
    for group, per_tracker in scores_by_group.items():
        rows: dict = {}
        for cls in CLASSES + (OVERALL,):
            row = {}
            for tracker in trackers:
                chosen = [s for s, classes in per_tracker.get(tracker, [])
                          if cls == OVERALL or cls in classes]
                if chosen:
                    agg = aggregate(chosen)
                    row[tracker] = {k: agg[k] for k in ('sequences', 'auc', 'precision',
                                                        'norm_precision')}
            if row:
                rows[cls] = row
        out[group] = rows
    return out


def format_class_table(table: dict, trackers: list[str]) -> str:
    """The per-class table as text: one block per group, AUC / P@20 per tracker, and each
    tracker's AUC as a multiple of the first OpenCV tracker's (CSRT's) when one is there."""
    import math

    ref = next((t for t in trackers if not t.startswith('RAR')), None)
    col_w = max([13] + [len(t) for t in trackers])
    lines = []
    for group, rows in table.items():
        head = f'{group:22s}' + '  '.join(t.rjust(col_w) for t in trackers)
        lines += ['-' * len(head), head,
                  f'{"class (n)":22s}' + '  '.join('AUC   P@20'.rjust(col_w) for _ in trackers),
                  '-' * len(head)]
        for cls, row in rows.items():
            n = max(v['sequences'] for v in row.values())
            cells = []
            for t in trackers:
                v = row.get(t)
                if v is None or not math.isfinite(v['auc']):
                    cells.append('-'.center(col_w))
                else:
                    cells.append(f'{v["auc"]:.3f}  {v["precision"]:.3f}'.rjust(col_w))
            lines.append(f'{cls + f" ({n})":22s}' + '  '.join(cells))
        if ref and OVERALL in rows and ref in rows[OVERALL]:
            base = rows[OVERALL][ref]['auc']
            ratios = [(f'{rows[OVERALL][t]["auc"] / base:.2f}x' if t in rows[OVERALL]
                       and base > 0 else '-').rjust(col_w) for t in trackers]
            lines.append(f'{"AUC / " + ref:22s}' + '  '.join(ratios))
    if lines:
        lines.append('-' * len(lines[0]))
    return '\n'.join(lines)
