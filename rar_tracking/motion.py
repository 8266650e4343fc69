"""A motion prior on the target's centre, in image pixels, and the choice between peaks.

Small, fast targets (a rider on water, a vehicle seen from a drone) move by a large part of
their search window per frame (up to 0.3 of it in the ground truth of truck2, vot15_ball1,
DragonBaby; docs/evaluation.md, issue 14). A correlation filter looks for the target around
the crop centre (its cosine window weighs the middle), so a crop centred on the last position
lags one frame's motion behind. :class:`ConstantVelocity` predicts the next centre
(constant velocity; with the shipped ``motion_lr`` 1 the velocity is the last displacement
found), and the tracker centres its crop there while the target moves at least
``motion_min_speed`` of the side per frame; the crop's cosine window around the prediction
then also holds a similar object crossing the target off. :func:`choose_peak` can in addition
decide between the response's highest local maxima with a Gaussian prior around the
prediction (``peak_candidates`` > 1; off by default: it never changed a decision on the
validation split and cost a crowded sequence on ONNX Runtime, docs/evaluation.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ConstantVelocity:
    """Centre velocity (px / frame) smoothed over found frames; reset on initialize.

    Args:
        lr: weight of the newest displacement in the smoothed velocity (``motion_lr``).
        miss_decay: factor on the velocity per missed frame (the box holds still then, so
            the prediction falls back towards the last position).
        gate: the prediction moves the centre only while :meth:`significant` (``motion_gate``).
    """

    lr: float = 0.5
    miss_decay: float = 0.5
    gate: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    noise: float = 0.0  # smoothed squared distance of a displacement from the velocity

    def reset(self) -> None:
        self.vx = self.vy = self.noise = 0.0

    def significant(self) -> bool:
        """Whether the velocity stands out of its noise: |v| >= ``gate`` x the RMS difference
        between a frame's displacement and the smoothed velocity (always with gate 0)."""
        return self.gate <= 0 or self.vx ** 2 + self.vy ** 2 >= self.gate ** 2 * self.noise

    def predict(self, center: tuple[float, float], width: int, height: int,
                limit: float) -> tuple[float, float]:
        """The next centre: ``center`` moved by the velocity (each axis at most ``limit``
        px, i.e. half a search side), kept inside the image."""
        if not self.significant():
            return center
        vx = max(-limit, min(limit, self.vx))
        vy = max(-limit, min(limit, self.vy))
        return (min(max(center[0] + vx, 0.0), float(width)),
                min(max(center[1] + vy, 0.0), float(height)))

    def found(self, old: tuple[float, float], new: tuple[float, float]) -> None:
        """The target moved from ``old`` to ``new`` this frame."""
        ex, ey = (new[0] - old[0]) - self.vx, (new[1] - old[1]) - self.vy
        self.noise += self.lr * (ex * ex + ey * ey - self.noise)
        self.vx += self.lr * ex
        self.vy += self.lr * ey

    def missed(self) -> None:
        self.vx *= self.miss_decay
        self.vy *= self.miss_decay


def top_peaks(response: torch.Tensor, k: int) -> list[tuple[float, int, int]]:
    """Up to ``k`` local maxima (3x3, wrapped) of one (H, W) map: (value, iy, ix), highest
    first."""
    r = response[None, None]
    padded = F.pad(r, (1, 1, 1, 1), mode='circular')
    is_max = (F.max_pool2d(padded, 3, stride=1) == r)[0, 0]
    values = torch.where(is_max, response, torch.full_like(response, -math.inf)).flatten()
    top = torch.topk(values, min(k, values.numel()))
    w = response.shape[1]
    return [(float(v), int(i) // w, int(i) % w) for v, i in zip(top.values, top.indices)
            if math.isfinite(float(v))]


def look_alike_ratio(response: torch.Tensor, iy: int, ix: int, radius: float,
                     k: int = 8) -> float:
    """The highest local maximum of ``response`` (H, W, wrapped) farther than ``radius``
    cells from the peak at (iy, ix), as a fraction of that peak (0 when there is none or the
    peak is not positive): how strongly something else in the crop looks like the target.
    Of the ``k`` highest local maxima only."""
    top = float(response[iy, ix])
    if not top > 0:
        return 0.0
    for value, y, x in top_peaks(response, k):
        if not within((y, x), (iy, ix), response.shape, radius):
            return max(value, 0.0) / top
    return 0.0


def within(a: tuple[int, int], b: tuple[int, int], shape, radius: float) -> bool:
    """Whether cells ``a`` and ``b`` (iy, ix) of a wrapped map of ``shape`` (H, W) lie at
    most ``radius`` cells apart."""
    h, w = shape[-2:]
    dy = (a[0] - b[0] + h // 2) % h - h // 2
    dx = (a[1] - b[1] + w // 2) % w - w // 2
    return dy * dy + dx * dx <= radius * radius


def choose_peak(response: torch.Tensor, k: int, sigma_cells: float,
                offset_cells: tuple[float, float] = (0.0, 0.0)) -> tuple[float, int, int]:
    """The local maximum of ``response`` (H, W) with the highest value x prior, where the
    prior is a Gaussian of std ``sigma_cells`` around ``offset_cells`` (dy, dx; the
    prediction's displacement from the crop centre, in cells). Returns (value, iy, ix) of
    the chosen peak (its own value, not the weighted one, so confidence keeps its meaning)."""
    peaks = top_peaks(response, k)
    if not peaks or sigma_cells <= 0:
        return peaks[0] if peaks else (float('nan'), 0, 0)
    h, w = response.shape

    def score(p):
        dy = (p[1] + h // 2) % h - h // 2 - offset_cells[0]
        dx = (p[2] + w // 2) % w - w // 2 - offset_cells[1]
        return p[0] * math.exp(-0.5 * (dy * dy + dx * dx) / (sigma_cells * sigma_cells))

    return max(peaks, key=score)
