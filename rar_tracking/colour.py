"""A colour model of the target: a second, complementary opinion on where it is (issue 14).

The correlation filter (Eq. 10-11) answers to the target's spatial layout, so it suffers when
the target deforms or turns and wins where colour is ambiguous; a colour histogram ignores the
layout, so it is blind to a look-alike of the same colours and robust to deformation. Merging
the two answers linearly is the idea of Staple (Bertinetto et al., CVPR 2016); this module is a
small reimplementation of that idea on the tracker's own crop and response grid:

1. the target's colours: a normalised RGB histogram (``bins`` per channel) of the pixels in
   the central 0.8 x 0.8 of the box (the box's corners are background for most targets), and
   of the background: the search square around it without the box;
2. per pixel of a search crop, the likelihood that its colour is the target's,
   ``P = f / (f + b)`` with f and b the two histograms' densities (0.5 for a colour seen in
   neither);
3. per response cell, the mean likelihood over a target-sized box centred where that cell puts
   the target (an integral image), in the same wrapped layout as Eq. 11's response.

The tracker merges ``(1 - a) * g(x) / peak_ref + a * colour`` (``colour_weight`` a) to choose
the position; the confidence stays the filter's own value there. The histograms learn with
``colour_lr`` on the frames the filter learns from. Nothing here is differentiable or trained.
"""
from __future__ import annotations

import numpy as np

from .imaging import crop_square, on_cell_grid

# The foreground histogram reads the central fraction of the box on each axis.
FOREGROUND_FRACTION = 0.8


def colour_index(pixels: np.ndarray, bins: int) -> np.ndarray:
    """The histogram bin of every RGB pixel (..., 3) uint8 -> (...) int, ``bins`` per channel."""
    q = (pixels.astype(np.int32) * bins) >> 8
    return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]


def _region(width: int, height: int, x0: float, y0: float, x1: float, y1: float):
    """Integer pixel bounds of [x0, x1) x [y0, y1) inside the image (may be empty)."""
    return (int(np.clip(np.floor(x0), 0, width)), int(np.clip(np.floor(y0), 0, height)),
            int(np.clip(np.ceil(x1), 0, width)), int(np.clip(np.ceil(y1), 0, height)))


def histograms(image: np.ndarray, center: tuple[float, float], size: tuple[float, float],
               side: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised foreground and background histograms (bins**3,) of one frame.

    Foreground: the central ``FOREGROUND_FRACTION`` of the box ``size`` (w, h) at ``center``;
    background: the square of ``side`` pixels around it, without the whole box. A region that
    falls outside the image gives an all-zero histogram.
    """
    height, width = image.shape[:2]
    (cx, cy), (w, h) = center, size
    n = bins ** 3

    def normalised(counts: np.ndarray) -> np.ndarray:
        total = counts.sum()
        return counts / total if total > 0 else counts.astype(np.float64)

    fw, fh = max(w * FOREGROUND_FRACTION, 1.0), max(h * FOREGROUND_FRACTION, 1.0)
    fx0, fy0, fx1, fy1 = _region(width, height, cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2)
    fg = np.bincount(colour_index(image[fy0:fy1, fx0:fx1], bins).ravel(), minlength=n)
    sx0, sy0, sx1, sy1 = _region(width, height, cx - side / 2, cy - side / 2,
                                 cx + side / 2, cy + side / 2)
    idx = colour_index(image[sy0:sy1, sx0:sx1], bins)
    bx0, by0, bx1, by1 = _region(width, height, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    inside = np.zeros(idx.shape, dtype=bool)
    inside[max(by0 - sy0, 0):max(by1 - sy0, 0), max(bx0 - sx0, 0):max(bx1 - sx0, 0)] = True
    bg = np.bincount(idx[~inside].ravel(), minlength=n)
    return normalised(fg), normalised(bg)


def likelihood(fg: np.ndarray, bg: np.ndarray, index: np.ndarray) -> np.ndarray:
    """P(target | colour) per pixel of ``index`` (bin indices): f / (f + b), 0.5 where both
    histograms are empty for that colour."""
    f, b = fg[index], bg[index]
    total = f + b
    return np.where(total > 0, f / np.where(total > 0, total, 1.0), 0.5).astype(np.float32)


def box_mean_response(pmap: np.ndarray, cells: int, stride: int, box_px: tuple[float, float]
                      ) -> np.ndarray:
    """The mean of ``pmap`` (out, out) over a ``box_px`` (w, h) box placed where each response
    cell puts the target: (cells, cells) in the wrapped layout of Eq. 11's response (index i
    is the displacement i cells for i < cells / 2, else i - cells; a cell is ``stride`` crop
    pixels and displacement 0 is the crop centre out / 2). Boxes are cut to the crop."""
    out = pmap.shape[0]
    integral = np.zeros((out + 1, out + 1), dtype=np.float64)
    integral[1:, 1:] = pmap.cumsum(0).cumsum(1)
    k = np.arange(cells)
    k = np.where(k < cells / 2.0, k, k - cells)
    centre = out / 2.0 + stride * k

    def bounds(half: float):
        lo = np.clip(np.round(centre - half), 0, out - 1).astype(int)
        hi = np.clip(np.round(centre + half), 0, out - 1).astype(int) + 1
        return lo, hi

    x0, x1 = bounds(max(box_px[0], 1.0) / 2.0)
    y0, y1 = bounds(max(box_px[1], 1.0) / 2.0)
    sums = (integral[y1[:, None], x1[None, :]] - integral[y0[:, None], x1[None, :]]
            - integral[y1[:, None], x0[None, :]] + integral[y0[:, None], x0[None, :]])
    area = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    return (sums / np.maximum(area, 1)).astype(np.float32)


class ColourModel:
    """Foreground/background colour histograms of one target, learned over time.

    Args:
        bins: histogram bins per RGB channel (a power of two up to 256).
    """

    def __init__(self, bins: int):
        self.bins = int(bins)
        self.fg: np.ndarray | None = None
        self.bg: np.ndarray | None = None

    def learn(self, image: np.ndarray, center, size, side: float, rate: float = 1.0) -> None:
        """Blend this frame's histograms in with weight ``rate`` (1, or no histograms yet:
        replace them)."""
        fg, bg = histograms(image, center, size, side, self.bins)
        if rate >= 1.0 or self.fg is None:
            self.fg, self.bg = fg, bg
        else:
            self.fg = (1.0 - rate) * self.fg + rate * fg
            self.bg = (1.0 - rate) * self.bg + rate * bg

    def response(self, image: np.ndarray, center, side: float, out: int, cells: int,
                 stride: int, size) -> np.ndarray:
        """The colour answer (cells, cells) for the crop of ``side`` pixels at ``center``
        (resized to ``out``, as the network sees it) and a target of ``size`` (w, h) pixels."""
        crop = crop_square(image, center[0], center[1], side, out)
        pmap = likelihood(self.fg, self.bg, colour_index(crop, self.bins))
        scale = out / side
        return box_mean_response(pmap, cells, stride, (size[0] * scale, size[1] * scale))

    def cell_map(self, image: np.ndarray, center, side: float, out: int, cells: int,
                 stride: int) -> np.ndarray:
        """The mean likelihood per feature cell (cells, cells) of the crop of ``side`` pixels
        at ``center`` (resized to ``out``), cell i covering the ``stride`` crop pixels centred
        on pixel ``stride * i``, where the network's cell i sits (``rar_tracking/geometry.py``);
        not wrapped: the crop's layout, target at the centre."""
        crop = crop_square(image, center[0], center[1], side, out)
        pmap = on_cell_grid(likelihood(self.fg, self.bg, colour_index(crop, self.bins)),
                            cells, stride)
        return pmap.reshape(cells, stride, cells, stride).mean(axis=(1, 3))

    def copy(self) -> 'ColourModel':
        other = ColourModel(self.bins)
        other.fg, other.bg = self.fg, self.bg  # replaced, never written in place
        return other
