"""Run trackers over sequences (one-pass evaluation), score them and write the results.

:func:`run_benchmark` decodes every frame once and hands it to each tracker in turn;
only the ``track`` calls are timed. A tracker that raises on a sequence is recorded with
its error (its remaining boxes are NaN, i.e. misses) and the others go on.
:func:`write_results` writes ``results.json`` and the per-frame boxes.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.sequences import Sequence
from .classes import sequence_classes
from .metrics import SequenceScore, aggregate, aggregate_by_tag, evaluate_sequence
from .robustness import is_started_copy
from .trackers import Tracker


@dataclass
class TrackRecord:
    """Output of one tracker on one sequence."""

    boxes: np.ndarray  # N x 4, NaN where no box was produced
    times: np.ndarray  # seconds per frame (frame 0: initialize), NaN where not run
    confidence: np.ndarray  # NaN where unknown
    states: list[str | None]
    error: str | None = None
    traceback: str | None = None
    score: SequenceScore | None = field(default=None, repr=False)


def run_sequence(sequence: Sequence, trackers: list[Tracker],
                 progress: Callable[[int], None] | None = None) -> dict[str, TrackRecord]:
    """Initialise every tracker on frame 0 with the ground truth and track the rest."""
    n = len(sequence)
    records = {t.name: TrackRecord(np.full((n, 4), np.nan), np.full(n, np.nan),
                                   np.full(n, np.nan), [None] * n) for t in trackers}
    init_box = sequence.init_box
    active = []
    image = sequence.frame(0)
    for tracker in trackers:
        rec = records[tracker.name]
        try:
            t0 = time.perf_counter()
            tracker.initialize(image, init_box)
            rec.times[0] = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - recorded, the other trackers go on
            rec.error = f'frame 0: {type(exc).__name__}: {exc}'
            rec.states[0] = 'ERROR'
            continue
        rec.boxes[0] = init_box.as_tuple()
        rec.confidence[0] = _num(tracker.confidence)
        rec.states[0] = tracker.state
        active.append(tracker)
    if progress:
        progress(1)
    for i in range(1, n):
        image = sequence.frame(i)
        for tracker in list(active):
            rec = records[tracker.name]
            try:
                t0 = time.perf_counter()
                box = tracker.track(image)
                rec.times[i] = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001
                rec.error = f'frame {i}: {type(exc).__name__}: {exc}'
                rec.states[i] = 'ERROR'
                rec.traceback = traceback.format_exc()
                active.remove(tracker)
                continue
            rec.boxes[i] = (box.x, box.y, box.w, box.h)
            rec.confidence[i] = _num(tracker.confidence)
            rec.states[i] = tracker.state
        if progress:
            progress(1)
    for rec in records.values():
        rec.score = evaluate_sequence(rec.boxes, sequence.gt, rec.times[1:], name=sequence.name,
                                      tags=sequence.tags)
    return records


def _num(value) -> float:
    return float('nan') if value is None else float(value)


def unique_names(trackers: list[Tracker]) -> None:
    """Make tracker names unique (``name``, ``name#2``, ...) in place."""
    seen: dict[str, int] = {}
    for tracker in trackers:
        count = seen.get(tracker.name, 0) + 1
        seen[tracker.name] = count
        if count > 1:
            tracker.name = f'{tracker.name}#{count}'


def run_benchmark(sequences: list[Sequence], trackers: list[Tracker], *,
                  on_sequence_start: Callable[[Sequence], None] | None = None,
                  progress: Callable[[int], None] | None = None
                  ) -> dict[str, dict[str, TrackRecord]]:
    """``{tracker name: {sequence name: TrackRecord}}`` for every pair."""
    unique_names(trackers)
    out: dict[str, dict[str, TrackRecord]] = {t.name: {} for t in trackers}
    for sequence in sequences:
        if on_sequence_start:
            on_sequence_start(sequence)
        for name, rec in run_sequence(sequence, trackers, progress).items():
            out[name][sequence.name] = rec
    return out


def summarize(records: dict[str, dict[str, TrackRecord]]) -> dict[str, dict]:
    """Per tracker: per-sequence scores, the mean over sequences, per-tag means, errors."""
    summary = {}
    for name, per_seq in records.items():
        scores = [r.score for r in per_seq.values()]
        summary[name] = {
            'mean': aggregate(scores),
            # with eval --starts: the mean of the runs from the ground-truth box alone
            **({'first_start': aggregate([r.score for seq, r in per_seq.items()
                                          if not is_started_copy(seq)])}
               if any(is_started_copy(seq) for seq in per_seq) else {}),
            'tags': aggregate_by_tag(scores),
            'sequences': {s.name: s.as_dict() for s in scores},
            'errors': {seq: r.error for seq, r in per_seq.items() if r.error},
        }
    return summary


def class_table_of(records: dict[str, dict[str, TrackRecord]], sequences: list[Sequence],
                   groups: dict[str, str]) -> dict:
    """Per data folder (``groups``: sequence name -> folder label), per class of
    :mod:`rar_tracking.eval.classes` and overall: each tracker's mean scores."""
    from .classes import class_table, sequence_classes

    by_group: dict[str, dict[str, list]] = {}
    for s in sequences:
        group = groups.get(s.name, 'sequences')
        classes = sequence_classes(s.name, s.tags, s.meta.get('origin'))
        for tracker, per_seq in records.items():
            rec = per_seq.get(s.name)
            if rec is not None and rec.score is not None:
                by_group.setdefault(group, {}).setdefault(tracker, []).append(
                    (rec.score, classes))
    return class_table(by_group, list(records))


def safe_name(name: str) -> str:
    """A file-system friendly version of a tracker or sequence name."""
    return re.sub(r'[^A-Za-z0-9._+-]+', '_', name).strip('_') or 'unnamed'


def _clean(value):
    """JSON without NaN/inf (they become null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    return value


def environment() -> dict:
    """Versions and host facts to store with the numbers."""
    import cv2

    info = {'python': sys.version.split()[0], 'platform': platform.platform(),
            'cpu_count': os.cpu_count(), 'opencv': cv2.__version__,
            'numpy': np.__version__}
    if 'torch' in sys.modules:
        torch = sys.modules['torch']
        info['torch'] = torch.__version__
        info['cuda'] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def write_results(out_dir: str | os.PathLike, records: dict[str, dict[str, TrackRecord]],
                  summary: dict, sequences: list[Sequence], trackers: list[Tracker],
                  settings: dict, classes: dict | None = None) -> Path:
    """Write ``results.json`` and ``boxes/<tracker>/<sequence>.txt`` (x,y,w,h per frame,
    OTB style) plus ``.csv`` (frame, box, confidence, state, time)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for tracker_name, per_seq in records.items():
        folder = out / 'boxes' / safe_name(tracker_name)
        folder.mkdir(parents=True, exist_ok=True)
        for seq_name, rec in per_seq.items():
            stem = safe_name(seq_name)
            np.savetxt(folder / f'{stem}.txt', rec.boxes, fmt='%.2f', delimiter=',')
            with open(folder / f'{stem}.csv', 'w', encoding='utf-8') as f:
                f.write('frame,x,y,w,h,confidence,state,time_ms\n')
                for i, (b, c, s, t) in enumerate(zip(rec.boxes, rec.confidence, rec.states,
                                                     rec.times)):
                    f.write(f'{i},{b[0]:.2f},{b[1]:.2f},{b[2]:.2f},{b[3]:.2f},'
                            f'{c:.4f},{s or ""},{t * 1e3:.3f}\n')
    doc = {
        'created': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        'protocol': {'kind': 'OPE', 'init': 'ground truth of frame 0',
                     'scored': 'frames after the first with a finite ground-truth row',
                     'success_thresholds': 21, 'auc': 'mean of the success curve',
                     'precision_at_px': 20, 'norm_precision_at': 0.2,
                     'mean': 'mean over sequences'},
        'settings': settings,
        'environment': environment(),
        'trackers': {t.name: t.describe() for t in trackers},
        'sequences': [{'name': s.name, 'frames': len(s), 'visible': int(s.visible.sum()),
                       'tags': s.tags,
                       'classes': sequence_classes(s.name, s.tags, s.meta.get('origin')),
                       'image_size': list(s.image_size),
                       'origin': s.meta.get('origin', s.meta.get('format'))}
                      for s in sequences],
        'results': summary,
        'classes': classes,
    }
    path = out / 'results.json'
    path.write_text(json.dumps(_clean(doc), indent=1), encoding='utf-8')
    return path


def format_table(summary: dict, sequences: list[Sequence]) -> str:
    """Per-sequence AUC and P@20 of each tracker, the mean over sequences, per-tag means
    and the fps, as fixed-width text."""
    names = list(summary)
    starts = any('first_start' in summary[n] for n in names)  # eval --starts
    seq_w = max([len('sequence')] + [len(s.name) for s in sequences] +
                [len(t) + 5 for n in names for t in summary[n]['tags']] +
                [len('mean, first box')] * starts)
    col_w = max([13] + [len(n) for n in names])

    def cell(d):
        if d is None:
            return '-'.center(col_w)
        a, p = d.get('auc'), d.get('precision')
        if a is None or p is None or not (math.isfinite(a) and math.isfinite(p)):
            return 'n/a'.center(col_w)
        return f'{a:.3f}  {p:.3f}'.rjust(col_w)

    lines = [f'{"":{seq_w}}  ' + '  '.join(n.rjust(col_w) for n in names),
             f'{"sequence":{seq_w}}  ' + '  '.join('AUC   P@20'.rjust(col_w) for _ in names)]
    rule = '-' * len(lines[0])
    lines.insert(0, rule)
    lines.append(rule)
    for s in sequences:
        row = [cell(summary[n]['sequences'].get(s.name)) for n in names]
        flag = ' *' if any(s.name in summary[n]['errors'] for n in names) else ''
        lines.append(f'{s.name:{seq_w}}  ' + '  '.join(row) + flag)
    lines.append(rule)
    lines.append(f'{"mean":{seq_w}}  ' + '  '.join(cell(summary[n]['mean']) for n in names))
    if starts:
        lines.append(f'{"mean, first box":{seq_w}}  ' + '  '.join(
            cell(summary[n].get('first_start')) for n in names))
    tags = sorted({t for n in names for t in summary[n]['tags']})
    for tag in tags:
        label = f'[{tag}]'
        lines.append(f'{label:{seq_w}}  ' + '  '.join(
            cell(summary[n]['tags'].get(tag)) for n in names))
    fps = []
    for n in names:
        v = summary[n]['mean'].get('fps')
        fps.append((f'{v:.1f} fps' if v is not None and math.isfinite(v) else 'n/a').rjust(col_w))
    lines.append(f'{"speed":{seq_w}}  ' + '  '.join(fps))
    lines.append(rule)
    return '\n'.join(lines)
