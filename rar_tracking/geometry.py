"""The crop and label geometry shared by the tracker and training, so they match exactly.

:class:`~rar_tracking.tracker.RARTracker` crops a square of side ``search_area_factor * sqrt(w * h)`` around the
target, resizes it to ``crop_size`` (``rar_tracking.imaging.crop_square``) and reads a
response of ``feature_size`` cells whose wrapped peak index is the target's displacement from
the crop centre. One cell is ``stride`` crop pixels, the network's output stride (8): every
layer is a centred, padded convolution, so cell i sits on crop pixel ``stride * i`` and a shift
of k cells is a shift of ``stride * k`` crop pixels, that is ``stride * k * side / crop_size``
image pixels. (Taking a cell as ``side / feature_size`` instead, as this code once did, made
every displacement 3 % short at crop 225 (29 cells for 225 px, not 28.125) and 5 % at 129,
and a fast target fell a little further behind each frame.) The Gaussian label has std
``label_sigma * crop_size / (stride * search_area_factor)`` cells, i.e. ``label_sigma`` times
the target's size in cells (at least 0.25). The same
numbers are computed here, once, from the :class:`~rar_tracking.config.TrackerConfig` fields;
the tracker and the training data both use them, so weights trained with these crops fit the
tracker.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .config import TrackerConfig
from .model.correlation import context_offsets, target_window


@dataclass(frozen=True)
class Geometry:
    """Crop, feature-map and filter constants shared by the training data and the loss."""

    crop_size: int
    feature_size: int
    search_area_factor: float
    label_sigma: float
    min_size: float
    num_context: int
    context_offset: float
    lambda1: float
    lambda2: float
    template_window: float = 0.0
    stride: int = 8

    @classmethod
    def from_config(cls, config: TrackerConfig, feature_size: int, stride: int = 8
                    ) -> 'Geometry':
        return cls(config.crop, int(feature_size), config.search_area_factor,
                   config.label_sigma, config.min_size, config.num_context,
                   config.context_offset, config.lambda1, config.lambda2,
                   config.template_window, int(stride))

    def side(self, w: float, h: float) -> float:
        """Side in image pixels of the square search area of a w x h target."""
        return self.search_area_factor * math.sqrt(w * h)

    @property
    def sigma(self) -> float:
        """Std of the Gaussian label in feature cells."""
        return max(self.label_sigma * self.crop_size / (self.stride * self.search_area_factor),
                   0.25)

    def cells_per_pixel(self, side: float) -> float:
        """Feature cells per image pixel in a crop of ``side`` image pixels."""
        return self.crop_size / (self.stride * side)

    def cell_pixels(self, side: float) -> float:
        """Image pixels per feature cell in a crop of ``side`` image pixels."""
        return self.stride * side / self.crop_size

    def box_cells(self, w: float, h: float, side: float) -> tuple[float, float]:
        """Target (w, h) in feature cells inside a crop of ``side`` pixels."""
        scale = self.cells_per_pixel(side)
        return w * scale, h * scale

    def target_window(self, box_cells: tuple[float, float], *, device=None
                      ) -> torch.Tensor | None:
        """The weight of the target patch z0 (feature_size, feature_size), None when off."""
        if self.template_window <= 0:
            return None
        return target_window(self.feature_size, box_cells, self.template_window, device=device)

    def offsets(self, box_cells: tuple[float, float]) -> list[tuple[int, int]]:
        """Context patch offsets (dy, dx) in cells for a template box of ``box_cells``."""
        return context_offsets(self.num_context,
                               max(1, round(self.context_offset * float(box_cells[1]))),
                               max(1, round(self.context_offset * float(box_cells[0]))))


def shifted_label(size: int, sigma: float, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Gaussian labels (N, size, size) with their peaks at the wrapped offsets (dy, dx) cells.

    Same convention as :func:`rar_tracking.model.correlation.gaussian_label` (which is the
    case dy = dx = 0): index i stands for the displacement i (i < size/2) or i - size, and the
    distance to the peak is taken around the circle. Offsets may be fractional.
    """
    dy = torch.as_tensor(dy, dtype=torch.float32).reshape(-1, 1)
    dx = torch.as_tensor(dx, dtype=torch.float32).reshape(-1, 1)
    idx = torch.arange(size, dtype=torch.float32)[None, :]
    half = size / 2.0

    def wrapped(delta):  # signed circular distance in [-size/2, size/2)
        return torch.remainder(delta + half, float(size)) - half

    ddy = wrapped(idx - dy)  # (N, size)
    ddx = wrapped(idx - dx)
    d2 = ddy[:, :, None] ** 2 + ddx[:, None, :] ** 2
    return torch.exp(-0.5 * d2 / (sigma * sigma))


@torch.no_grad()
def probe_feature_size(net: torch.nn.Module, crop_size: int) -> int:
    """Side of the network's feature map for ``crop_size`` crops (as the tracker probes it).

    The probe runs in eval mode, so that it leaves no trace in BatchNorm statistics.
    """
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        phi = net(torch.zeros(1, 3, crop_size, crop_size, device=device))[0]
    finally:
        net.train(was_training)
    if phi.shape[-1] != phi.shape[-2]:
        raise ValueError(f'feature map of a square crop is not square: {tuple(phi.shape)}')
    return int(phi.shape[-1])
