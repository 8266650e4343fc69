"""Histograms of oriented gradients: Felzenszwalb et al.'s 31 features per cell.

Two users: the one-dimensional scale filter (``rar_tracking/scale_filter.py``, DSST's
features on 4 x 4 cells of a resampled target) and the tracker's ``hog_weight`` option, which
appends these features, computed on the same crop as the network's and on the network's own
cell grid, to the deep features the correlation filter of Eq. 10 learns from (issue 14).

Why the second: the network's features come from a trunk trained for ImageNet classification,
with receptive fields far larger than a cell, and are built to change little when an object
grows, shrinks or shifts by a few pixels. The correlation filter reads both the position
(the peak's cell and its sub-cell offset) and the size (which of the pyramid's three scales
peaks highest, 2 % apart) from them. Gradient histograms on cells of one output stride change
with every pixel of shift and every per cent of scale. Joining hand-crafted and deep features
in one filter is what ECO and C-COT do (Danelljan et al., CVPR 2017, ECCV 2016); Bhat et al.
("Unveiling the power of deep tracking", ECCV 2018) report the shallow features carrying the
accuracy and the deep ones the robustness.
"""
from __future__ import annotations

import numpy as np

from .imaging import on_cell_grid

ORIENTATIONS = 9  # orientations per cell over 180 degrees (twice as many over 360)
CLIP = 0.2  # HOG's clipping of a normalised orientation bin
CHANNELS = 3 * ORIENTATIONS + 4  # 18 signed + 9 unsigned + 4 texture = 31


def hog_cells(patches: np.ndarray, cell: int) -> np.ndarray:
    """Felzenszwalb et al.'s HOG (the 31 features per cell DSST uses) of grey patches.

    patches: (N, H, W) float32, H and W multiples of ``cell``. Returns (N, H / cell,
    W / cell, 31) float32. Per cell the gradient magnitude is binned by orientation over 360
    degrees into ``2 * ORIENTATIONS`` bins (linear between the two nearest); each cell is
    normalised by the L2 norm of each of the four 2 x 2-cell blocks that contain it (the
    blocks' energy taken from the contrast-insensitive histogram) and each quotient clipped at
    ``CLIP``. Features per cell: the 18 contrast-sensitive bins and the 9 contrast-insensitive
    ones (opposite directions added), each summed over the four normalisations and halved,
    and 4 texture features (per normalisation, the sum of the sensitive bins times 0.2357).
    A cell's texture then counts as much as a strong edge, whatever the contrast.
    """
    n, h, w = patches.shape
    bins = 2 * ORIENTATIONS
    ch, cw = h // cell, w // cell
    gy, gx = np.gradient(patches, axis=(1, 2))
    mag = np.hypot(gx, gy)
    pos = np.mod(np.arctan2(gy, gx), 2.0 * np.pi) * (bins / (2.0 * np.pi))
    low = np.floor(pos)
    frac = pos - low
    low = low.astype(np.int64) % bins
    high = (low + 1) % bins
    # every pixel votes into its cell's two nearest orientation bins: one bincount
    where = ((np.arange(n)[:, None, None] * ch + (np.arange(h) // cell)[None, :, None]) * cw
             + (np.arange(w) // cell)[None, None, :]) * bins
    votes = np.bincount(np.concatenate([(where + low).ravel(), (where + high).ravel()]),
                        np.concatenate([(mag * (1.0 - frac)).ravel(), (mag * frac).ravel()]),
                        minlength=n * ch * cw * bins)
    signed = votes.reshape(n, ch, cw, bins)
    unsigned = signed[..., :ORIENTATIONS] + signed[..., ORIENTATIONS:]
    energy = np.pad((unsigned ** 2).sum(axis=-1), ((0, 0), (1, 1), (1, 1)), mode='edge')
    # block (i, j) covers padded cells i..i+1 x j..j+1; cell (i, j) lies in blocks i..i+1 x j..j+1
    blocks = energy[:, :-1, :-1] + energy[:, 1:, :-1] + energy[:, :-1, 1:] + energy[:, 1:, 1:]
    out_signed, out_unsigned, texture = 0.0, 0.0, []
    for dy in (0, 1):
        for dx in (0, 1):
            norm = np.sqrt(blocks[:, dy:dy + ch, dx:dx + cw] + 1e-8)[..., None]
            part = np.minimum(signed / norm, CLIP)
            out_signed = out_signed + part
            out_unsigned = out_unsigned + np.minimum(unsigned / norm, CLIP)
            texture.append(0.2357 * part.sum(axis=-1))
    feats = np.concatenate([0.5 * out_signed, 0.5 * out_unsigned,
                            np.stack(texture, axis=-1)], axis=-1)
    return feats.astype(np.float32)


def crop_orientations(crops: np.ndarray, feature_size: int, stride: int) -> np.ndarray:
    """HOG of RGB crops on the network's cell grid: (N, S, S, 3) uint8 -> (N, 31, F, F).

    F = ``feature_size``. The network's cell i sits on crop pixel ``stride * i``
    (``rar_tracking/geometry.py``), so the crop is padded by ``stride // 2`` pixels before
    (borders replicated) and cut or padded to ``F * stride`` after: HOG cell i then covers
    pixels ``stride * i - stride // 2`` .. ``stride * i + stride // 2 - 1``, centred half a
    pixel before the deep cell's pixel, the same for every crop (template and search), so a
    displacement does not see it.
    """
    grey = on_cell_grid(crops.astype(np.float32).mean(axis=-1) / 255.0, feature_size, stride)
    return np.ascontiguousarray(hog_cells(grey, stride).transpose(0, 3, 1, 2))
