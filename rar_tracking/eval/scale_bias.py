"""Which size the scale pyramid chooses when the tracker stands on the true box.

``python -m rar_tracking.eval.scale_bias --data ../shared/data/train --split training`` runs
the RAR tracker over each sequence, but before every frame puts its state on the previous
frame's **true** box (``get_state`` / ``set_state``: centre and size; filter, templates and
memory stay the tracker's own). The pyramid's choice in that frame (smaller crop, same, larger
crop) then measures the scale estimate itself, free of drift and of losses, against how much
the target really grew in that frame. It prints per sequence and overall the share of frames
each scale won, the true growth per frame, and the median log ratio of the larger and the
smaller crop's raw peak to the middle one's (``TrackResult.extras['scale_peaks']``; before
``scale_penalty``). With an unbiased estimate on targets of constant size the larger and the
smaller crop win about equally often. Run it on the training split: it is a diagnostic for
choosing settings, which are judged on the other sets.
"""
from __future__ import annotations

import argparse
import math

import numpy as np


def _box_ok(box) -> bool:
    return bool(np.isfinite(box).all() and box[2] > 0 and box[3] > 0)


def scale_choices(tracker, sequence, max_frames: int | None = None) -> dict:
    """Track ``sequence`` with the state put on the previous true box before each frame.

    Returns {'wins': counts per scale index (smallest crop first), 'growth': true log size
    change per counted frame, 'larger': log(peak of the largest crop / middle peak) and
    'smaller': the same for the smallest crop, per counted frame}. Frames whose previous or
    current true box is missing are tracked as usual and not counted."""
    n_scales = len(tracker.scale_factors)
    gt = np.asarray(sequence.gt, float)
    n = min(len(sequence), max_frames or len(sequence))
    tracker.initialize(sequence.frame(0), gt[0])
    wins = np.zeros(n_scales, int)
    growth, larger, smaller = [], [], []
    for i in range(1, n):
        prev, cur = gt[i - 1], gt[i]
        counted = _box_ok(prev) and _box_ok(cur)
        if counted:
            state = tracker.get_state()
            state.center = (prev[0] + prev[2] / 2.0, prev[1] + prev[3] / 2.0)
            state.size = (float(prev[2]), float(prev[3]))
            tracker.set_state(state)
        result = tracker.track(sequence.frame(i))
        peaks = result.extras.get('scale_peaks') or []
        if not counted or len(peaks) != n_scales:
            continue
        wins[result.extras['scale_index']] += 1
        growth.append(0.5 * math.log(cur[2] * cur[3] / (prev[2] * prev[3])))
        middle = peaks[n_scales // 2]
        if middle > 0 and peaks[0] > 0 and peaks[-1] > 0:
            larger.append(math.log(peaks[-1] / middle))
            smaller.append(math.log(peaks[0] / middle))
    return {'wins': wins, 'growth': growth, 'larger': larger, 'smaller': smaller}


def _row(name: str, wins: np.ndarray, growth, larger, smaller) -> str:
    total = max(int(wins.sum()), 1)
    shares = ''.join(f'{w / total:9.2f}' for w in wins)
    mean_growth = np.mean(growth) if growth else math.nan
    return (f'{name:16s}{int(wins.sum()):7d}{shares}{mean_growth:+12.4f}'
            f'{np.median(larger) if larger else math.nan:+10.4f}'
            f'{np.median(smaller) if smaller else math.nan:+10.4f}')


def main(argv=None) -> int:
    from ..config import TrackerConfig
    from ..data.layouts import load_dataset
    from ..tracker import RARTracker
    from .classes import in_split, load_split
    from .trackers import parse_overrides

    p = argparse.ArgumentParser(prog='python -m rar_tracking.eval.scale_bias',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('--data', action='append', default=[], help='a data folder (repeatable)')
    p.add_argument('--synthetic', type=int, default=0, metavar='COUNT',
                   help='also COUNT generated sequences (rar_tracking.data.synthetic.make_suite: '
                        'plain, scale change, occlusion, distractor, ... in turn)')
    p.add_argument('--synthetic-frames', type=int, default=60, metavar='N')
    p.add_argument('--split', help='keep only this split of config/splits.yaml where present')
    p.add_argument('--sequences', help='comma-separated names to keep')
    p.add_argument('--max-frames', type=int, help='track at most this many frames of each')
    p.add_argument('--rar-config', action='append', default=[], metavar='KEY=VALUE',
                   help='TrackerConfig fields (repeatable), e.g. scale_penalty=1.0')
    p.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda'")
    args = p.parse_args(argv)
    config = TrackerConfig(**{'device': args.device, **parse_overrides(args.rar_config)})
    keep = set(load_split(args.split)) if args.split else None
    wanted = {n.strip() for n in args.sequences.split(',')} if args.sequences else None
    if not args.data and not args.synthetic:
        p.error('give --data FOLDER and/or --synthetic COUNT')
    sequences = [s for folder in args.data for s in in_split(load_dataset(folder, None), keep)]
    if args.synthetic:
        from ..data.synthetic import make_suite
        sequences += make_suite(args.synthetic, args.synthetic_frames)
    sequences = [s for s in sequences if wanted is None or s.name in wanted]
    tracker = RARTracker(config)
    n = len(tracker.scale_factors)
    if n < 2:
        p.error('the configuration has no pyramid (num_scales 1 or scale_filter)')
    print(f'scale factors {", ".join(f"{f:.4f}" for f in tracker.scale_factors)}; '
          f'scale_penalty {config.scale_penalty}')
    header = ''.join(f'{"x%.3f" % f:>9s}' for f in tracker.scale_factors)
    print(f'{"sequence":16s}{"frames":>7s}{header}{"true growth":>12s}'
          f'{"larger":>10s}{"smaller":>10s}')
    wins, growth, larger, smaller = np.zeros(n, int), [], [], []
    for s in sequences:
        r = scale_choices(tracker, s, args.max_frames)
        print(_row(s.name, r['wins'], r['growth'], r['larger'], r['smaller']), flush=True)
        wins += r['wins']
        growth += r['growth']
        larger += r['larger']
        smaller += r['smaller']
    print(_row('all', wins, growth, larger, smaller))
    print('(shares of frames each crop won; true growth: mean log size change per frame; '
          'larger / smaller: median log peak ratio to the middle crop, before scale_penalty)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
