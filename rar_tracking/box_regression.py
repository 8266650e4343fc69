"""A target-specific bounding-box regression on the tracker's own features.

The correlation filter (Eq. 10-11) finds the centre to a fraction of a feature cell and the
pyramid chooses among three sizes of one aspect ratio; on the validation split half of the
overlap lost is the size (docs/evaluation.md, issue 14: a perfect centre with the tracked sizes
gives a mean IoU of 0.840). The paper is silent on box refinement. This module adds the one
that trackers with frozen features have used since MDNet (Nam and Han, 2016), after R-CNN's
class-specific regression: on the first frame only, boxes are drawn around the given box, each
is described by its features (RoIAlign of phi^a over the box, ``pooled`` x ``pooled`` cells),
and a ridge regression maps the description to the correction that turns the drawn box into the
given one; on each later frame the tracked box is corrected by it.

Choices, and why:
- learned on the first frame only (as MDNet): the only box known to be right; learning from
  the tracker's own boxes would feed its errors back;
- R-CNN's targets, ``((gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph))``: the
  width and height are corrected separately, so the aspect ratio can follow the target, which
  the pyramid cannot;
- drawn boxes with an IoU of at least 0.6 with the given one (MDNet's), translations up to 0.3
  of each side and sizes up to 1.3x either way: about the errors of a tracked box;
- each drawn box described in the crop its own size would give (five crops, ``VIEW_SCALES``),
  not in the given box's: a tracker's crop follows its box, so a box too small sees the target
  larger in cells, and a regression learned in one crop learns the opposite case (the first
  form, built that way, lowered the training split's mean AUC);
- corrections clipped to the range drawn: the regression is linear and would extrapolate;
- the ridge constant relative to the mean squared norm of the (centred) descriptions, so that
  it does not depend on the features' scale; solved in its dual form (samples < dimensions).

Measured and not kept (``box_regression`` is off; docs/evaluation.md, "A box regression
learned on the first frame"): it corrects boxes as wrong as a tracker's bad frames but its own
error is about that of a good tracked box, and the tracker's mean AUC did not rise.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torchvision.ops import roi_align

from .boxes import from_centres, iou

# MDNet's sampling for its regression: IoU >= 0.6, translations and scales about a tracked
# box's errors
MIN_IOU = 0.6
MAX_SHIFT = 0.3  # of each side
MAX_SCALE = 1.3  # of each side, either way
# The crops a drawn box is described in: a tracker's crop follows its box's size, so a box 20 %
# too small sees the target 20 % larger in cells; five crops cover the sizes drawn.
VIEW_SCALES = MAX_SCALE ** np.linspace(-1.0, 1.0, 5)


def feature_boxes(boxes: np.ndarray, crop_center, side: float, crop_size: int, stride: int
                  ) -> np.ndarray:
    """Image boxes (N, 4: cx, cy, w, h; pixels) -> (N, 4: x1, y1, x2, y2) in the feature
    coordinates of the crop of ``side`` pixels centred on ``crop_center`` (cell i is centred on
    crop pixel ``stride * i``, rar_tracking/imaging.py; RoIAlign's ``aligned`` convention: the
    centre of cell i is at i + 0.5)."""
    k = crop_size / (side * stride)  # cells per image pixel
    cx = (boxes[:, 0] - crop_center[0]) * k + crop_size / (2.0 * stride) + 0.5
    cy = (boxes[:, 1] - crop_center[1]) * k + crop_size / (2.0 * stride) + 0.5
    hw, hh = boxes[:, 2] * k / 2.0, boxes[:, 3] * k / 2.0
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)


def describe(phi: torch.Tensor, fboxes: np.ndarray, pooled: int) -> torch.Tensor:
    """phi (1, C, h, w) and boxes in feature coordinates (N, 4) -> (N, C * pooled^2) float64:
    RoIAlign of each box to ``pooled`` x ``pooled`` cells (two samples per cell and axis)."""
    rois = torch.cat([torch.zeros(len(fboxes), 1), torch.from_numpy(fboxes).float()], dim=1)
    out = roi_align(phi.detach().float().cpu(), rois, pooled, spatial_scale=1.0, sampling_ratio=2,
                    aligned=True)
    return out.flatten(1).double()


def iou_cxcywh(a: np.ndarray, b) -> np.ndarray:
    """IoU of boxes (N, 4: cx, cy, w, h) with one box b (4,): :func:`rar_tracking.boxes.iou`
    on corner boxes."""
    corner = from_centres(a)
    return iou(corner, np.broadcast_to(from_centres(b), corner.shape))


def sample_boxes(box, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` boxes (cx, cy, w, h) drawn around ``box`` with IoU >= MIN_IOU: shifts uniform
    within MAX_SHIFT of each side, each side's log-scale uniform within log MAX_SCALE."""
    box = np.asarray(box, dtype=np.float64)
    kept = []
    while sum(len(k) for k in kept) < count:
        n = 4 * count
        shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, (n, 2)) * box[2:]
        scale = np.exp(rng.uniform(-math.log(MAX_SCALE), math.log(MAX_SCALE), (n, 2)))
        drawn = np.concatenate([box[:2] + shift, box[2:] * scale], axis=1)
        kept.append(drawn[iou_cxcywh(drawn, box) >= MIN_IOU])
    return np.concatenate(kept)[:count]


def deltas(boxes: np.ndarray, target) -> np.ndarray:
    """R-CNN's regression targets turning each of ``boxes`` (N, 4: cx, cy, w, h) into
    ``target`` (4,): (dx / w, dy / h, log gw / w, log gh / h)."""
    t = np.asarray(target, dtype=np.float64)
    return np.stack([(t[0] - boxes[:, 0]) / boxes[:, 2], (t[1] - boxes[:, 1]) / boxes[:, 3],
                     np.log(t[2] / boxes[:, 2]), np.log(t[3] / boxes[:, 3])], axis=1)


def apply_deltas(box, d) -> tuple[float, float, float, float]:
    """``box`` (cx, cy, w, h) corrected by R-CNN deltas ``d`` (4,)."""
    cx, cy, w, h = box
    return (cx + d[0] * w, cy + d[1] * h, w * math.exp(d[2]), h * math.exp(d[3]))


class BoxRegressor:
    """Ridge regression from a box's pooled features to its R-CNN correction.

    Args:
        lam: ridge constant relative to the mean squared norm of the centred descriptions.
        pooled: RoIAlign output side (cells per axis of the box's description).
        samples: boxes drawn on the first frame.
        seed: of the drawing (the same seed gives the same regression).
    """

    def __init__(self, lam: float = 30.0, pooled: int = 3, samples: int = 500, seed: int = 0):
        self.lam, self.pooled, self.samples = lam, pooled, samples
        self.rng = np.random.default_rng(seed)
        self.weights: torch.Tensor | None = None  # (D, 4)
        self.mean_x: torch.Tensor | None = None  # (D,)
        self.mean_y: torch.Tensor | None = None  # (4,)
        self.limit: np.ndarray | None = None  # (4,): the largest correction drawn

    def fit(self, phi: torch.Tensor, box, crop_center, sides, crop_size: int,
            stride: int) -> None:
        """Learn from the given ``box`` (cx, cy, w, h; pixels) and the features phi (V, C, h, w)
        of V crops centred on ``crop_center``, crop v of ``sides[v]`` pixels: the sides a
        tracker's crop would have for boxes of ``VIEW_SCALES[v]`` times the given size. A drawn
        box is described in the crop of the nearest scale, so that it is seen as the tracker
        sees its own box: at about the same size in cells, the target larger or smaller."""
        drawn = sample_boxes(box, self.samples, self.rng)
        scale = np.sqrt(drawn[:, 2] * drawn[:, 3] / (box[2] * box[3]))
        view = np.abs(np.log(scale)[:, None] - np.log(VIEW_SCALES)[None]).argmin(1)
        parts = [describe(phi[v:v + 1], feature_boxes(drawn[view == v], crop_center, sides[v],
                                                       crop_size, stride), self.pooled)
                 for v in range(len(sides)) if (view == v).any()]
        order = np.concatenate([np.flatnonzero(view == v) for v in range(len(sides))])
        x = torch.cat(parts)
        y = torch.from_numpy(deltas(drawn[order], box))
        self.mean_x, self.mean_y = x.mean(0), y.mean(0)
        xc, yc = x - self.mean_x, y - self.mean_y
        gram = xc @ xc.T  # (N, N): the dual form, N samples < D dimensions
        reg = self.lam * float(torch.diagonal(gram).mean())
        alpha = torch.linalg.solve(gram + max(reg, 1e-12) * torch.eye(len(x), dtype=x.dtype),
                                   yc)
        self.weights = xc.T @ alpha
        self.limit = np.abs(y.numpy()).max(axis=0)

    def predict(self, phi: torch.Tensor, box, crop_center, side: float, crop_size: int,
                stride: int) -> tuple[float, float, float, float]:
        """``box`` (cx, cy, w, h; pixels) corrected from the features phi (1, C, h, w) of the
        crop of ``side`` pixels centred on ``crop_center``; the box itself before ``fit``."""
        if self.weights is None:
            return tuple(box)
        x = describe(phi, feature_boxes(np.asarray([box], dtype=np.float64), crop_center, side,
                                        crop_size, stride), self.pooled)
        d = ((x - self.mean_x) @ self.weights + self.mean_y)[0].numpy()
        if not np.all(np.isfinite(d)):
            return tuple(box)
        return apply_deltas(box, np.clip(d, -self.limit, self.limit))
