"""What a finished evaluation run left on disk: its settings, ground truth and boxes.

Tools that read a run again without tracking (``compare``, ``oracle``, ``overlap_split``,
``losses``) share this: each run's ``results.json``, the
ground truth of every sequence the run scored, found again from the run's own settings (its
``--data`` folders and ``--split``, its generated sequences made again), by the file name ``eval`` gave each sequence and each of
its started copies, and the per-frame boxes of every tracker.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def runs_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The command line of a tool that reads finished runs: ``prog RUN [RUN ...]``, described
    by the first paragraph of its module docstring ``doc``."""
    p = argparse.ArgumentParser(prog=prog, description=doc.split('\n\n')[0])
    p.add_argument('runs', type=Path, nargs='+', help='evaluation output folders (results.json)')
    return p


def read_runs(parser: argparse.ArgumentParser, folders: list[Path]) -> list[tuple[Path, dict]]:
    """(folder, its results.json document) for each folder, in order; a folder without one is
    an error of the command line (``parser.error``: usage, exit status 2)."""
    runs = []
    for folder in folders:
        path = folder / 'results.json'
        if not path.is_file():
            parser.error(f'{path} does not exist')
        runs.append((folder, json.loads(path.read_text())))
    return runs


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
