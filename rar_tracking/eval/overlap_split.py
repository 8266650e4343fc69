"""Where a tracker's overlap is lost: in the centre or in the size of its boxes.

``python -m rar_tracking.eval.overlap_split results/RUN`` reads the boxes an evaluation run
wrote (``boxes/<tracker>/<sequence>.txt``) and the ground truth of the sequences it ran, and
prints per tracker and sequence the mean IoU over the scored frames (1..N-1, visible target),
and what it would be with the true centre and the tracked size (``true centre``), with the
tracked centre and the true size (``true size``), and with the true centre, the tracked area
and the true aspect ratio (``true centre + aspect``). A gap to ``true centre`` is
localisation, a gap to ``true size`` is scale and aspect. Mean IoU is close to, not equal to,
the success AUC of docs/evaluation.md (the AUC averages the success rate over thresholds).
With ``--drift`` it prints how the size strays instead (:func:`size_drift`): whether the
boxes grow or shrink against the target's true size as a sequence goes on.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..boxes import as_boxes, from_centres, iou


def _centred(center: np.ndarray, size: np.ndarray) -> np.ndarray:
    return from_centres(np.concatenate([center, size], axis=1))


def overlap_split(boxes: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Mean IoU of ``boxes`` against ``gt`` (N x 4 each, x, y, w, h) over frames 1.. whose
    ground truth is finite, and with the centre, the size, or centre and aspect taken from
    the ground truth. A frame without a box (NaN) scores 0 in every column."""
    boxes, gt = as_boxes(boxes)[1:], as_boxes(gt)[1:]
    keep = np.isfinite(gt).all(axis=1)
    boxes, gt = boxes[keep], gt[keep]
    # a missing (NaN) box stays NaN in every variant below, and iou() scores it 0
    b_c, g_c = boxes[:, :2] + boxes[:, 2:] / 2, gt[:, :2] + gt[:, 2:] / 2
    area = np.sqrt(np.clip(boxes[:, 2] * boxes[:, 3], 0, None) / (gt[:, 2] * gt[:, 3]))
    columns = {
        'iou': iou(boxes, gt),
        'true centre': iou(_centred(g_c, boxes[:, 2:]), gt),
        'true size': iou(_centred(b_c, gt[:, 2:]), gt),
        'true centre + aspect': iou(_centred(g_c, gt[:, 2:] * area[:, None]), gt),
    }
    return {k: float(v.mean()) if len(v) else float('nan') for k, v in columns.items()}


def size_drift(boxes: np.ndarray, gt: np.ndarray, parts: int = 4) -> tuple[list[float],
                                                                             list[float]]:
    """How the box's size strays from the truth over the sequence: per consecutive part of
    frames 1.. (``parts`` of equal length), the mean and the mean absolute value of
    log(sqrt(tracked area / true area)) over the frames whose box overlaps a visible target
    (a lost box says nothing about the size estimate). NaN for a part without such frames.
    A positive mean is a box larger than the target."""
    boxes, gt = as_boxes(boxes)[1:], as_boxes(gt)[1:]
    n = min(len(boxes), len(gt))
    boxes, gt = boxes[:n], gt[:n]
    with np.errstate(invalid='ignore', divide='ignore'):
        ratio = 0.5 * np.log(boxes[:, 2] * boxes[:, 3] / (gt[:, 2] * gt[:, 3]))
    usable = np.isfinite(gt).all(axis=1) & np.isfinite(ratio) & (iou(boxes, gt) > 0)
    mean, absolute = [], []
    for k in range(parts):
        part = slice(k * n // parts, (k + 1) * n // parts)
        r = ratio[part][usable[part]]
        mean.append(float(r.mean()) if len(r) else float('nan'))
        absolute.append(float(np.abs(r).mean()) if len(r) else float('nan'))
    return mean, absolute


def main(argv=None) -> int:
    from .saved import run_truth, tracker_boxes

    p = argparse.ArgumentParser(prog='python -m rar_tracking.eval.overlap_split',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('run', type=Path, help='an evaluation output folder (results.json, boxes/)')
    p.add_argument('--drift', action='store_true',
                   help='print instead, per tracker, the mean over sequences of size_drift: '
                        'the log size ratio (tracked / true) by quarter of the sequence, and '
                        'its absolute value, over frames whose box overlaps the target')
    args = p.parse_args(argv)
    truth = run_truth(args.run)
    if args.drift:
        print(f'{"tracker":40s}{"log size ratio by quarter":>32s}{"|log size ratio|":>32s}')
        for tracker, sequences in tracker_boxes(args.run, truth).items():
            drifts = [size_drift(b, truth[stem]) for stem, b in sequences.items()]
            mean = np.nanmean([d[0] for d in drifts], axis=0)
            absolute = np.nanmean([d[1] for d in drifts], axis=0)
            print(f'{tracker:40s}' + ''.join(f'{v:+8.3f}' for v in mean)
                  + ''.join(f'{v:8.3f}' for v in absolute))
        return 0
    names = ('iou', 'true centre', 'true size', 'true centre + aspect')
    for tracker, sequences in tracker_boxes(args.run, truth).items():
        print(f'{tracker}\n{"sequence":16s}' + ''.join(f'{n:>22s}' for n in names))
        rows = []
        for stem, boxes in sequences.items():
            row = overlap_split(boxes, truth[stem])
            rows.append(row)
            print(f'{stem:16s}' + ''.join(f'{row[n]:22.3f}' for n in names))
        if rows:
            print(f'{"mean":16s}' + ''.join(f'{np.mean([r[n] for r in rows]):22.3f}'
                                            for n in names) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
