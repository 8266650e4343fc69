"""Refinement model (Fig. 6): the attentional features of conv5, conv4 and conv3 merged
coarse to fine with convolutions and element-wise additions.

All stages have output stride 8 here (Table 1), so no upsampling is needed. The 3x3
convolutions start as identities (Dirac kernels), so an untrained refinement outputs the sum
of the three stages' attentional features: the tracker is usable before training and training
starts from that point.
"""
from __future__ import annotations

import torch
from torch import nn


def _identity_conv(channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, 3, padding=1)
    nn.init.dirac_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class Refinement(nn.Module):
    """p5 = L5(a5); p4 = L4(a4) + T4(p5); p3 = L3(a3) + T3(p4); out = O(p3).

    Input: three maps (N, C, H, W) ordered conv3, conv4, conv5. Output (N, C, H, W).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.lateral = nn.ModuleList(_identity_conv(channels) for _ in range(3))
        self.top_down = nn.ModuleList(_identity_conv(channels) for _ in range(2))
        self.out = _identity_conv(channels)

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        a3, a4, a5 = stages
        p5 = self.lateral[2](a5)
        p4 = self.lateral[1](a4) + self.top_down[1](p5)
        p3 = self.lateral[0](a3) + self.top_down[0](p4)
        return self.out(p3)
