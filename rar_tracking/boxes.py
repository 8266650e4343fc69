"""Boxes as N x 4 arrays (x, y, w, h): validity, intersection over union and the conversion
from and to centre boxes (cx, cy, w, h), in one place.

:meth:`rar_tracking.types.Box.iou` (one box) and the evaluation metrics (whole sequences) both
use :func:`iou`. May import: numpy only.
"""
from __future__ import annotations

import numpy as np


def as_boxes(boxes) -> np.ndarray:
    """``boxes`` as a float64 N x 4 array (one box may be given as a 4-sequence)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim == 1:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'boxes must be N x 4 (x, y, w, h), got shape {boxes.shape}')
    return boxes


def from_centres(boxes) -> np.ndarray:
    """N x 4 boxes given as (cx, cy, w, h) -> (x, y, w, h)."""
    b = as_boxes(boxes)
    return np.concatenate([b[:, :2] - b[:, 2:] / 2.0, b[:, 2:]], axis=1)


def to_centres(boxes) -> np.ndarray:
    """N x 4 boxes (x, y, w, h) -> (cx, cy, w, h)."""
    b = as_boxes(boxes)
    return np.concatenate([b[:, :2] + b[:, 2:] / 2.0, b[:, 2:]], axis=1)


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """Per row: finite, with positive width and height."""
    with np.errstate(invalid='ignore'):
        return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def iou(pred, gt) -> np.ndarray:
    """Per-row IoU of N x 4 boxes; 0 where either box is invalid (NaN, no area)."""
    p, g = as_boxes(pred), as_boxes(gt)
    if p.shape != g.shape:
        raise ValueError(f'{len(p)} predicted boxes for {len(g)} ground-truth rows')
    ok = valid_boxes(p) & valid_boxes(g)
    out = np.zeros(len(p))
    p, g = p[ok], g[ok]
    ix = np.clip(np.minimum(p[:, 0] + p[:, 2], g[:, 0] + g[:, 2]) - np.maximum(p[:, 0], g[:, 0]),
                 0, None)
    iy = np.clip(np.minimum(p[:, 1] + p[:, 3], g[:, 1] + g[:, 3]) - np.maximum(p[:, 1], g[:, 1]),
                 0, None)
    inter = ix * iy
    union = p[:, 2] * p[:, 3] + g[:, 2] * g[:, 3] - inter
    out[ok] = inter / union
    return out
