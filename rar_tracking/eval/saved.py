"""What a finished evaluation run left on disk: its settings, ground truth and boxes.

Tools that read a run again without tracking (``overlap_split``, ``losses``) share this: the
ground truth of every sequence the run scored, found again from the run's own settings (its
``--data`` folders and ``--split``, its generated sequences made again), by the file name ``eval`` gave each sequence and each of
its started copies, and the per-frame boxes of every tracker.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def run_truth(run: Path) -> dict[str, np.ndarray]:
    """Ground truth (N x 4) by box file stem for the sequences of the run in folder ``run``."""
    from ..data.layouts import load_dataset
    from .classes import in_split, load_split
    from .robustness import MAX_STARTS, SEPARATOR
    from .run import safe_name

    settings = json.loads((run / 'results.json').read_text())['settings']
    keep = set(load_split(settings['split'])) if settings.get('split') else None
    sequences = [s for folder in settings['data'] or []
                 for s in in_split(load_dataset(folder, None), keep)]
    if settings.get('synthetic'):  # made again from the run's own settings, as eval made them
        from ..data.synthetic import make_suite
        sequences += make_suite(settings['synthetic'], settings['synthetic_frames'],
                                seed=settings['seed'])
    limit = settings.get('max_frames')  # --max-frames N: the run scored the first N only
    truth = {}
    for s in sequences:
        gt = s.gt[:limit] if limit else s.gt
        for name in [s.name] + [f'{s.name}{SEPARATOR}{k}' for k in range(1, MAX_STARTS + 1)]:
            truth[safe_name(name)] = gt  # frame 0, where copies differ, is not scored
    return truth


def tracker_boxes(run: Path, truth: dict[str, np.ndarray]
                  ) -> dict[str, dict[str, np.ndarray]]:
    """{tracker: {sequence file stem: boxes N x 4}} for the sequences in ``truth``."""
    out = {}
    for tracker in sorted(d for d in (run / 'boxes').iterdir() if d.is_dir()):
        out[tracker.name] = {p.stem: np.loadtxt(p, delimiter=',', ndmin=2)
                             for p in sorted(tracker.glob('*.txt')) if p.stem in truth}
    return out
