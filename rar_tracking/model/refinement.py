"""Refinement model (Fig. 6): the attentional features of conv5, conv4 and conv3 merged
coarse to fine with convolutions and element-wise additions.

In the paper's layout (profile 'full') all stages have output stride 8 (Table 1) and no
upsampling is needed. With the trunk at its native strides (profiles 'balanced' and 'fast': conv4 at 16, conv5
at 32) each coarser map is upsampled bilinearly to the next finer one before the addition.
The upsampling uses ``align_corners=True``: a stride-2s cell i is centred on the same input
pixel as stride-s cell 2i, and for crops of 32k + 1 pixels (129, 161, 225) the finer map has
exactly 2n - 1 cells for n coarse ones, so corners-aligned interpolation puts every coarse
cell on its fine counterpart with no half-cell shift. The 3x3
convolutions start as identities (Dirac kernels), so an untrained refinement outputs the sum
of the three stages' attentional features: the tracker is usable before training and training
starts from that point.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _identity_conv(channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, 3, padding=1)
    nn.init.dirac_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class Refinement(nn.Module):
    """p5 = L5(a5); p4 = L4(a4) + up(T4(p5)); p3 = L3(a3) + up(T3(p4)); out = O(p3).

    Input: three maps ordered conv3 (N, C, H, W), conv4 and conv5 (the same size, or coarser).
    Output (N, C, H, W), the size of conv3.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.lateral = nn.ModuleList(_identity_conv(channels) for _ in range(3))
        self.top_down = nn.ModuleList(_identity_conv(channels) for _ in range(2))
        self.out = _identity_conv(channels)

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        a3, a4, a5 = stages
        p5 = self.lateral[2](a5)
        # the top-down convolution runs at the coarse resolution, then the result is upsampled:
        # the same for equal sizes, 4x cheaper per stage otherwise
        p4 = self.lateral[1](a4) + upsample_to(self.top_down[1](p5), a4)
        p3 = self.lateral[0](a3) + upsample_to(self.top_down[0](p4), a3)
        return self.out(p3)


def upsample_to(coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
    """``coarse`` (N, C, h, w) resized to ``fine``'s (H, W), corners aligned; as is when equal."""
    if coarse.shape[-2:] == fine.shape[-2:]:
        return coarse
    return F.interpolate(coarse, size=fine.shape[-2:], mode='bilinear', align_corners=True)
