#!/usr/bin/env python3
"""Copy a manifest folder of training sequences, keeping only the pixels a training crop can see.

Why: a lent GPU machine receives the repository and at most 64 MiB of extra files, and the
real training sequences (``../shared/data/train``, 88 MB) do not fit. A training clip only
ever looks at squares around the ground-truth box of each frame it uses (the template crop and
the jittered search crops of ``rar_tracking.train.data``): side ``scale * search_area_factor *
sqrt(w h)`` (scale at most ``1 + augment.scale``), centre moved by at most ``augment.shift *
sqrt(w h)`` per axis. Everything farther from the box centre than ``reach`` (below) is set to
mid grey, which JPEG stores almost for free; coordinates, image sizes and annotations are
unchanged, so the packed folder gives the same clips, crops and labels as the original up to
the re-encoding of the kept pixels (quality ``--quality``). Border replication of the crops
reads image edge pixels only inside the kept square, so it is unchanged too. Frames without a
visible target (a NaN row) are never used by training and become all grey.

Usage:
  python scripts/pack_training_data.py ../shared/data/train .gpudata/train \
      [--exclude S1001,DragonBaby,...] [--quality 92]

The reach is ``margin * max(sqrt(w h), min_size)`` + 4 px, with margin 2.2 by default:
1.5 * 1.1 (half the largest search side with search_area_factor 3 and scale jitter 0.1)
+ 0.4 (the largest shift) = 2.05, rounded up. Pass ``--margin`` for other training settings.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np


def keep_mask(height: int, width: int, box, margin: float, min_size: float) -> np.ndarray:
    """Boolean (H, W) mask of the square of half side ``reach`` around the box centre."""
    mask = np.zeros((height, width), dtype=bool)
    x, y, w, h = box
    if not all(math.isfinite(v) for v in box) or w <= 0 or h <= 0:
        return mask
    reach = margin * max(math.sqrt(w * h), min_size) + 4.0
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, x1 = max(int(math.floor(cx - reach)), 0), min(int(math.ceil(cx + reach)) + 1, width)
    y0, y1 = max(int(math.floor(cy - reach)), 0), min(int(math.ceil(cy + reach)) + 1, height)
    if x0 < x1 and y0 < y1:
        mask[y0:y1, x0:x1] = True
    return mask


def pack_sequence(src: Path, dst: Path, entry: dict, margin: float, min_size: float,
                  quality: int) -> None:
    gt = np.loadtxt(src / entry['gt_file'], delimiter=',', ndmin=2)
    frames = sorted((src / entry['frames_dir']).iterdir())
    (dst / entry['frames_dir']).mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / entry['gt_file'], dst / entry['gt_file'])
    for i, path in enumerate(frames):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f'cannot read {path}')
        box = gt[i] if i < len(gt) else (math.nan,) * 4
        mask = keep_mask(image.shape[0], image.shape[1], box, margin, min_size)
        image[~mask] = 128
        cv2.imwrite(str(dst / entry['frames_dir'] / path.name), image,
                    [cv2.IMWRITE_JPEG_QUALITY, quality])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', type=Path)
    parser.add_argument('dst', type=Path)
    parser.add_argument('--exclude', default='', help='comma-separated sequence names to leave out')
    parser.add_argument('--margin', type=float, default=2.2)
    parser.add_argument('--min-size', type=float, default=4.0)
    parser.add_argument('--quality', type=int, default=92)
    args = parser.parse_args()
    manifest = json.loads((args.src / 'manifest.json').read_text())
    excluded = {n for n in args.exclude.split(',') if n}
    kept = [e for e in manifest if e['name'] not in excluded]
    args.dst.mkdir(parents=True, exist_ok=True)
    for entry in kept:
        pack_sequence(args.src, args.dst, entry, args.margin, args.min_size, args.quality)
    (args.dst / 'manifest.json').write_text(json.dumps(kept, indent=1))
    size = sum(p.stat().st_size for p in args.dst.rglob('*') if p.is_file())
    print(f'{len(kept)} sequences packed into {args.dst}: {size / 2**20:.1f} MiB')


if __name__ == '__main__':
    main()
