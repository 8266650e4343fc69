"""How much box_regression corrects boxes as wrong as a tracker's, frame after frame.

``python -m rar_tracking.eval.box_regression_check --data ../shared/data/train --split
training --lambdas 3,10,30,100,300`` learns the regression of ``box_regression``
(rar_tracking/box_regression.py) on each sequence's first frame, as ``initialize`` does, then
on ``--frames`` frames spread over the sequence draws ``--boxes`` boxes around the true box
(shifts uniform within ``--shift`` of each side, each side scaled within ``--scale`` either
way: about a tracker's errors), crops each frame as the tracker would for each box (centred
on it, the side its size gives) and corrects the box. It prints per sequence the mean IoU of
the drawn boxes and of the corrected ones for each ridge constant, and the means. Free of the
tracker's drift and losses, it measures the regression alone; it is a diagnostic for choosing
its constant on the training split, the tracker being judged on the other sets.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from ..box_regression import BoxRegressor, iou_cxcywh
from ..boxes import to_centres


def check_sequence(tracker, sequence, lambdas, frames: int = 8, boxes: int = 20,
                   shift: float = 0.1, scale: float = 1.15, seed: int = 1) -> np.ndarray:
    """Mean IoU over the checked frames: [drawn boxes, corrected with each of ``lambdas``]."""
    c = tracker.config
    image = sequence.frame(0)
    height, width = image.shape[:2]
    first = to_centres(sequence.gt[0])[0]
    with torch.no_grad():
        views, sides = tracker._regression_views(image, tuple(first[:2]),
                                                 tracker._side(first[2:], (width, height)), 1.0)
    regressors = []
    for lam in lambdas:
        regressor = BoxRegressor(lam, seed=c.init_seed)
        regressor.fit(views, first, tuple(first[:2]), sides, c.crop, tracker.stride)
        regressors.append(regressor)
    rng = np.random.default_rng(seed)
    rows = []
    for k in np.unique(np.linspace(1, len(sequence) - 1, frames).astype(int)):
        truth = np.asarray(sequence.gt[k], float)
        if not (np.isfinite(truth).all() and truth[2] > 1 and truth[3] > 1):
            continue
        truth = to_centres(truth)[0]
        drawn = np.concatenate([
            truth[:2] + rng.uniform(-shift, shift, (boxes, 2)) * truth[2:],
            truth[2:] * np.exp(rng.uniform(-np.log(scale), np.log(scale), (boxes, 2)))], axis=1)
        crop_sides = [tracker._side(b[2:], (width, height)) for b in drawn]
        with torch.no_grad():
            phi, _ = tracker._features(sequence.frame(k), [tuple(b[:2]) for b in drawn],
                                       crop_sides, c.crop, None, hog_gain=1.0)
        row = [iou_cxcywh(drawn, truth).mean()]
        for regressor in regressors:
            fixed = np.array([regressor.predict(phi[i:i + 1], b, tuple(b[:2]), crop_sides[i],
                                                c.crop, tracker.stride)
                              for i, b in enumerate(drawn)])
            row.append(iou_cxcywh(fixed, truth).mean())
        rows.append(row)
    return np.mean(rows, axis=0) if rows else np.full(len(lambdas) + 1, np.nan)


def main(argv=None) -> int:
    from ..config import TrackerConfig
    from ..data.layouts import load_dataset
    from ..tracker import RARTracker
    from .classes import in_split, load_split
    from .trackers import parse_overrides

    p = argparse.ArgumentParser(prog='python -m rar_tracking.eval.box_regression_check',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('--data', action='append', default=[], required=True,
                   help='a data folder (repeatable)')
    p.add_argument('--split', help='keep only this split of config/splits.yaml where present')
    p.add_argument('--sequences', help='comma-separated names to keep')
    p.add_argument('--lambdas', default='3,10,30,100,300',
                   help='ridge constants to compare (box_regression_lambda), comma-separated')
    p.add_argument('--frames', type=int, default=8, help='frames checked per sequence')
    p.add_argument('--boxes', type=int, default=20, help='boxes drawn per frame')
    p.add_argument('--shift', type=float, default=0.1, help='largest shift, of each side')
    p.add_argument('--scale', type=float, default=1.15, help='largest scaling of each side')
    p.add_argument('--rar-config', action='append', default=[], metavar='KEY=VALUE',
                   help='TrackerConfig fields (repeatable), e.g. profile=balanced')
    p.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda'")
    args = p.parse_args(argv)
    lambdas = [float(v) for v in args.lambdas.split(',')]
    config = TrackerConfig(**{'device': args.device, **parse_overrides(args.rar_config)})
    keep = set(load_split(args.split)) if args.split else None
    wanted = {n.strip() for n in args.sequences.split(',')} if args.sequences else None
    sequences = [s for folder in args.data for s in in_split(load_dataset(folder, None), keep)
                 if wanted is None or s.name in wanted]
    tracker = RARTracker(config)
    print(f'mean IoU of {args.boxes} boxes drawn on {args.frames} frames per sequence '
          f'(shift {args.shift}, scale {args.scale}), then corrected with each lambda')
    print(f'{"sequence":16s}{"drawn":>8s}' + ''.join(f'{"l=%g" % v:>9s}' for v in lambdas))
    rows = []
    for s in sequences:
        row = check_sequence(tracker, s, lambdas, args.frames, args.boxes, args.shift,
                             args.scale)
        rows.append(row)
        print(f'{s.name:16s}' + ''.join(f'{v:9.3f}' for v in row), flush=True)
    mean = np.nanmean(rows, axis=0)
    print(f'{"mean":16s}' + ''.join(f'{v:9.3f}' for v in mean))
    worse = [int(np.sum(np.asarray(rows)[:, i + 1] < np.asarray(rows)[:, 0]))
             for i in range(len(lambdas))]
    print(f'{"worse than drawn":16s}{"":8s}' + ''.join(f'{w:9d}' for w in worse))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
