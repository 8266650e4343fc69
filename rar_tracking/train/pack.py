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
  python -m rar_tracking.train.pack ../shared/data/train .gpudata/train \
      [--exclude S1001,DragonBaby,...] [--config config/train_heads.yaml] [--quality 85]

The reach is ``margin * max(sqrt(w h), min_size)`` + 4 px (bilinear interpolation and
rounding), with ``margin = search_area_factor * (1 + augment.scale) / 2 + augment.shift``
taken from the training configuration (:func:`margin_for`): 3 * 1.1 / 2 + 0.4 = 2.05 for
``config/train_heads.yaml``. Pack again when those settings change.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from ..data.layouts import list_images, load_manifest
from ..data.sequences import SequenceError


HEADS_CONFIG = Path(__file__).resolve().parents[2] / 'config' / 'train_heads.yaml'


def margin_for(search_area_factor: float, shift: float, scale: float) -> float:
    """How far from the box centre, in target sizes sqrt(w h), a training crop can reach per
    axis: half the largest search side plus the largest centre shift."""
    return search_area_factor * (1.0 + scale) / 2.0 + shift


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


def pack_sequence(src_root: Path, dst_root: Path, entry: dict, margin: float = 2.05,
                  min_size: float = 4.0, quality: int = 85) -> None:
    """Write the packed copy of one manifest entry's frames and ground truth under dst_root.

    Frames are those ``load_manifest`` reads (sorted by name, from ``first_frame``); image
    files of the folder outside the sequence are written all grey, so the sorted order and
    hence ``first_frame`` still hold."""
    seq = load_manifest(src_root, [entry['name']])[0]
    boxes = {os.path.basename(f): box for f, box in zip(seq.frames, seq.gt)}
    out_dir = dst_root / entry['frames_dir']
    out_dir.mkdir(parents=True, exist_ok=True)
    (dst_root / entry['gt_file']).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src_root / entry['gt_file'], dst_root / entry['gt_file'])
    for path in list_images(src_root / entry['frames_dir']):
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise SequenceError(f'cannot read {path}')
        box = boxes.get(os.path.basename(path), (math.nan,) * 4)
        image[~keep_mask(image.shape[0], image.shape[1], box, margin, min_size)] = 128
        # same name and format (a PNG stays lossless), so that first_frame still holds
        cv2.imwrite(str(out_dir / os.path.basename(path)), image,
                    [cv2.IMWRITE_JPEG_QUALITY, quality])


def pack(src: Path, dst: Path, exclude=(), margin: float = 2.05, min_size: float = 4.0,
         quality: int = 85) -> list[str]:
    """Pack every sequence of the manifest folder ``src`` not in ``exclude`` into ``dst``;
    the names packed."""
    entries = json.loads((src / 'manifest.json').read_text())
    kept = [e for e in entries if e['name'] not in set(exclude)]
    dst.mkdir(parents=True, exist_ok=True)
    for entry in kept:
        pack_sequence(src, dst, entry, margin, min_size, quality)
    (dst / 'manifest.json').write_text(json.dumps(kept, indent=1))
    return [e['name'] for e in kept]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m rar_tracking.train.pack',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('src', type=Path, help='a folder with manifest.json')
    parser.add_argument('dst', type=Path)
    parser.add_argument('--exclude', default='', help='comma-separated sequence names to leave out')
    parser.add_argument('--config', type=Path, default=HEADS_CONFIG,
                        help='the training configuration whose crops the packed data must hold '
                             '(search_area_factor, min_size, augment.shift and .scale)')
    parser.add_argument('--quality', type=int, default=85)
    args = parser.parse_args(argv)
    from .config import load_config
    cfg = load_config(args.config)
    tracker = cfg.tracker_config
    margin = margin_for(tracker.search_area_factor, cfg.augment.shift, cfg.augment.scale)
    names = pack(args.src, args.dst, [n for n in args.exclude.split(',') if n], margin,
                 tracker.min_size, args.quality)
    size = sum(p.stat().st_size for p in args.dst.rglob('*') if p.is_file())
    print(f'{len(names)} sequences packed into {args.dst}: {size / 2**20:.1f} MiB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
