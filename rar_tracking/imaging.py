"""Frame and box validation and the square crops the tracker and training both take.

Pixel convention (see :class:`rar_tracking.types.Box`): the image spans [0, W] x [0, H] and
pixel centres lie at integer coordinates for the crops (``cv2.warpAffine``'s convention).
May import: numpy, OpenCV, torch, :mod:`rar_tracking.types` and :mod:`rar_tracking.errors`.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from .errors import InvalidBoxError, InvalidImageError
from .types import Box


def as_rgb_image(image) -> np.ndarray:
    """Validate a frame: uint8 HxWx3 RGB (HxW gray and HxWx4 RGBA are converted)."""
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f'image must be a numpy array, got {type(image).__name__}')
    if image.dtype != np.uint8:
        raise InvalidImageError(f'image must be uint8, got {image.dtype}')
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InvalidImageError(f'image must be HxWx3 RGB (or HxW gray), got shape {image.shape}')
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise InvalidImageError(f'image is too small: {image.shape[1]}x{image.shape[0]}')
    return image[:, :, :3]


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """``box`` cut to the image; None when less than one pixel of it lies inside."""
    x0, y0 = max(box.x, 0.0), max(box.y, 0.0)
    x1, y1 = min(box.x + box.w, float(width)), min(box.y + box.h, float(height))
    if x1 - x0 < 1.0 or y1 - y0 < 1.0:
        return None
    return Box(x0, y0, x1 - x0, y1 - y0)


def validate_box(box, width: int, height: int) -> Box:
    """A finite box of positive size overlapping the image, clipped to it."""
    try:
        box = Box.coerce(box)
    except (TypeError, ValueError) as exc:
        raise InvalidBoxError(f'not a box (x, y, w, h): {exc}') from None
    if not box.is_finite():
        raise InvalidBoxError(f'box has a NaN or infinite value: {box.as_tuple()}')
    if box.w <= 0 or box.h <= 0:
        raise InvalidBoxError(f'box is empty (w={box.w}, h={box.h})')
    clipped = clip_box(box, width, height)
    if clipped is None:
        raise InvalidBoxError(f'box {box.as_tuple()} does not overlap the {width}x{height} image')
    return clipped


def crop_square(image: np.ndarray, cx: float, cy: float, side: float, out: int) -> np.ndarray:
    """The square of ``side`` px centred on (cx, cy), resized to out x out (borders replicated)."""
    s = out / side
    matrix = np.array([[s, 0.0, out / 2.0 - s * cx], [0.0, s, out / 2.0 - s * cy]])
    return cv2.warpAffine(image, matrix, (out, out), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def on_cell_grid(maps: np.ndarray, cells: int, stride: int) -> np.ndarray:
    """Crop-sized maps (..., S, S) padded (edges replicated) or cut to (..., cells * stride,
    cells * stride) so that block i of ``stride`` pixels is centred on crop pixel
    ``stride * i``, where the network's feature cell i sits (``rar_tracking/geometry.py``):
    ``stride // 2`` pixels are added before, what is missing or left over after."""
    size, before = cells * stride, stride // 2
    after = size - maps.shape[-1] - before
    lead = [(0, 0)] * (maps.ndim - 2)
    if after >= 0:
        return np.pad(maps, lead + [(before, after)] * 2, mode='edge')
    return np.pad(maps, lead + [(before, 0)] * 2, mode='edge')[..., :size, :size]


def crop_squares_torch(image: torch.Tensor, centers, sides, out: int) -> torch.Tensor:
    """The crops of :func:`crop_square` computed on the image's device (bilinear, replicate).

    image: (3, H, W) float; returns (N, 3, out, out). Used on CUDA so that a frame is uploaded
    once and cropped there; the same pixel convention as cv2.warpAffine (pixel centres at
    integer coordinates).
    """
    _, height, width = image.shape
    steps = torch.arange(out, device=image.device, dtype=torch.float32) - out / 2.0
    grids = []
    for (cx, cy), side in zip(centers, sides):
        xs = (2.0 * (cx + steps * (side / out)) + 1.0) / width - 1.0
        ys = (2.0 * (cy + steps * (side / out)) + 1.0) / height - 1.0
        grids.append(torch.stack(torch.meshgrid(xs, ys, indexing='xy'), dim=-1))
    grid = torch.stack(grids)
    batch = image[None].expand(len(grids), -1, -1, -1)
    return torch.nn.functional.grid_sample(batch, grid, mode='bilinear', padding_mode='border',
                                           align_corners=False)
