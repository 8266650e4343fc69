"""How big the search window is and how far the target moves, from the ground truth alone.

``python -m rar_tracking.eval.motion_stats --data ../shared/data/tracking --data
../shared/data/train --split validation`` prints, per sequence: the target's size (geometric
mean of w and h, first frame and smallest), the search side at ``search_area_factor``
(default 3), the centre's motion per frame (median, 95th percentile, largest) in pixels and
as a share of that frame's search side. No tracker runs: this is what issue 14's search
settings were reasoned from (docs/evaluation.md).
"""
from __future__ import annotations

import argparse

import numpy as np


def motion_table(sequences, factor: float = 3.0) -> list[dict]:
    rows = []
    for s in sequences:
        g = np.asarray(s.gt, float)
        size = np.sqrt(g[:, 2] * g[:, 3])
        center = g[:, :2] + g[:, 2:] / 2
        step = np.linalg.norm(np.diff(center, axis=0), axis=1)
        share = step / (factor * size[:-1])
        rows.append({'name': s.name, 'image': 'x'.join(map(str, s.image_size)),
                     'size0': size[0], 'size_min': np.nanmin(size), 'side0': factor * size[0],
                     'move_med': np.nanmedian(step), 'move_p95': np.nanpercentile(step, 95),
                     'move_max': np.nanmax(step), 'share_p95': np.nanpercentile(share, 95),
                     'share_max': np.nanmax(share)})
    return rows


def main(argv=None) -> int:
    from ..data.layouts import load_dataset
    from .classes import in_split, load_split

    p = argparse.ArgumentParser(prog='python -m rar_tracking.eval.motion_stats',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('--data', action='append', required=True)
    p.add_argument('--split', help='keep only this split of config/splits.yaml where present')
    p.add_argument('--factor', type=float, default=3.0, help='search_area_factor (default 3)')
    args = p.parse_args(argv)
    keep = set(load_split(args.split)) if args.split else None
    sequences = []
    for folder in args.data:
        sequences += in_split(load_dataset(folder, None), keep)
    print(f'{"sequence":12s} {"image":>9s} {"size0":>6s} {"min":>5s} {"side0":>6s} '
          f'{"move med":>8s} {"p95":>5s} {"max":>5s}  {"/side p95":>9s} {"max":>5s}')
    for r in motion_table(sequences, args.factor):
        print(f'{r["name"]:12s} {r["image"]:>9s} {r["size0"]:6.1f} {r["size_min"]:5.1f} '
              f'{r["side0"]:6.1f} {r["move_med"]:8.1f} {r["move_p95"]:5.1f} {r["move_max"]:5.1f}'
              f'  {r["share_p95"]:9.2f} {r["share_max"]:5.2f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
