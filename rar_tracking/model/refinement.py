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

Untrained (the default heads), those convolutions are exactly the identity;
:meth:`Refinement.skip_identities` lets an inference-only network skip them (about 22 ms of a
'balanced' frame, 3 scales at crop 225, on the development CPU): the output is the input the
convolutions would have returned, up to their own float rounding.
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
        lat, top, conv = self.lateral, self.top_down, self._conv
        p5 = conv(lat[2], a5)
        # the top-down convolution runs at the coarse resolution, then the result is upsampled:
        # the same for equal sizes, 4x cheaper per stage otherwise
        p4 = conv(lat[1], a4) + upsample_to(conv(top[1], p5), a4)
        p3 = conv(lat[0], a3) + upsample_to(conv(top[0], p4), a3)
        return conv(self.out, p3)

    def skip_identities(self) -> int:
        """Inference only: from now on, skip every convolution that is exactly the identity
        (a Dirac kernel and zero bias, as initialised and not trained); its output would be
        its input. The parameters stay (``state_dict`` and its hash are unchanged). Call it
        after the weights are loaded, on a network that is not trained or loaded into any
        further (the tracker does so on a network it owns, beside folding the trunk's
        BatchNorm). Returns how many convolutions are skipped."""
        skipped = 0
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.skip_as_identity = _is_identity(module)
                skipped += module.skip_as_identity
        return skipped

    @staticmethod
    def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        return x if getattr(conv, 'skip_as_identity', False) else conv(x)


def _is_identity(conv: nn.Module) -> bool:
    if (not isinstance(conv, nn.Conv2d) or conv.in_channels != conv.out_channels
            or conv.groups != 1 or conv.stride != (1, 1) or conv.dilation != (1, 1)
            or conv.padding != tuple(k // 2 for k in conv.kernel_size)):
        return False
    dirac = torch.zeros_like(conv.weight)
    nn.init.dirac_(dirac)
    return bool(torch.equal(conv.weight, dirac)
                and (conv.bias is None or not torch.count_nonzero(conv.bias)))


def upsample_to(coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
    """``coarse`` (N, C, h, w) resized to ``fine``'s (H, W), corners aligned; as is when equal."""
    if coarse.shape[-2:] == fine.shape[-2:]:
        return coarse
    return F.interpolate(coarse, size=fine.shape[-2:], mode='bilinear', align_corners=True)
