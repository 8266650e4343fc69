"""The RAR network (Fig. 3): a Siamese trunk, a 1x1 channel reduction and a hierarchical
attention module per stage, and the refinement model.

``RARNet.forward`` maps a batch of crops to the reinforced attentional representation
phi^a (Section 3.1) used by the correlation layer for both the template z and the search x
(the two Siamese branches share every weight). The recurrent attention state is explicit: the
caller passes and keeps it, which is what lets the tracker reset, copy and freeze it.
phi^a always has output stride 8 (the finest stage); each stage's attention runs at that
stage's own resolution (all stride 8 in profile 'full', 8/16/32 in 'balanced' and 'fast').

May import: torch, :mod:`rar_tracking.config` and the other model modules.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..config import NATIVE_STRIDE_PROFILES, TrackerConfig
from .attention import AttentionState, HierarchicalAttention
from .backbone import Trunk, build_trunk
from .refinement import Refinement, upsample_to


class ChannelReduction(nn.Module):
    """1x1 convolution C_in -> C and a per-sample normalisation (GroupNorm with one group).

    The projection starts semi-orthogonal, so untrained it keeps the ImageNet features'
    geometry; the normalisation balances the very different magnitudes of the three stages.
    """

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, channels, 1, bias=False)
        nn.init.orthogonal_(self.proj.weight)
        self.norm = nn.GroupNorm(1, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


class RARNet(nn.Module):
    """Trunk + per-stage reduction and attention + refinement.

    Args:
        trunk: a :class:`~rar_tracking.model.backbone.Trunk` (stages at strides
            ``trunk.strides``; the first must be 8).
        channels: C, channels after reduction (attention and filter width).
        memory_channels: width of each stage's ConvLSTM memory (default C).
    """

    def __init__(self, trunk: Trunk, channels: int = 64, memory_channels: int | None = None):
        super().__init__()
        self.trunk = trunk
        self.channels = channels
        self.memory_channels = memory_channels or channels
        self.reduce = nn.ModuleList(ChannelReduction(c, channels) for c in trunk.out_channels)
        self.attention = nn.ModuleList(
            HierarchicalAttention(channels, memory_channels=self.memory_channels)
            for _ in range(3))
        self.refinement = Refinement(channels)
        self.register_buffer('mean', torch.tensor(trunk.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(trunk.std).view(1, 3, 1, 1), persistent=False)
        self.half_trunk = False  # fp16 autocast for the trunk on CUDA (set by the tracker)
        # Parts switched off for ablation studies (TrackerConfig.ablate): 'memory',
        # 'attention', 'refinement'. Never set when tracking for real.
        self.ablate: frozenset[str] = frozenset()
        # 'sum' (the refinement) or 'concat' (TrackerConfig.stage_fusion)
        self.fusion = 'sum'

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 255] -> the trunk's normalised input."""
        return (images / 255.0 - self.mean) / self.std

    def trunk_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) RGB [0, 255] -> the trunk's three stage maps (N, C_i, H/s, W/s), s
        being each stage's stride (``trunk.strides``); fp16 under ``half_trunk`` on CUDA."""
        x = self.normalize(images.float())
        use_half = self.half_trunk and x.is_cuda
        # no autocast weight cache: each weight is cast once per call anyway, and a cache that
        # outlives a CUDA graph capture is what the CUDA graphs documentation warns against
        ctx = (torch.autocast('cuda', dtype=torch.float16, cache_enabled=False) if use_half
               else contextlib.nullcontext())
        with ctx:
            return self.trunk(x)

    def reduce_stages(self, trunk_feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """The trunk's stage maps -> three reduced maps (N, C, H/s, W/s), float32."""
        return [r(f.float()) for r, f in zip(self.reduce, trunk_feats)]

    def stage_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) RGB [0, 255] -> three reduced stage maps (N, C, H/s, W/s), float32."""
        return self.reduce_stages(self.trunk_features(images))

    def attend(self, stages: list[torch.Tensor], states: list[AttentionState] | None
               ) -> tuple[torch.Tensor, list[AttentionState], list[dict]]:
        """Attention per stage (Eq. 3-7) and refinement; features normalised for the filter.

        Returns phi^a (N, C, H', W'; 3C with ``fusion`` 'concat') scaled to unit mean energy
        per position, the new states ([] with ``ablate`` 'attention': no ConvLSTM runs, so
        there is no memory to carry) and each stage's attention maps.
        """
        if not states or 'memory' in self.ablate:
            states = [None, None, None]
        outs, new_states, maps = [], [], []
        for module, feat, state in zip(self.attention, stages, states):
            if 'attention' in self.ablate:
                out, new_state, m = feat, state, {}
            else:
                out, new_state, m = module(feat, state)
            outs.append(out)
            new_states.append(new_state)
            maps.append(m)
        if self.fusion == 'concat':
            phi = torch.cat([upsample_to(o, outs[0]) for o in outs], dim=1)
        elif 'refinement' in self.ablate:
            phi = sum(upsample_to(o, outs[0]) for o in outs)
        else:
            phi = self.refinement(outs)
        if 'attention' in self.ablate:
            new_states = []
        energy = phi.pow(2).sum(dim=1).mean(dim=(1, 2)).clamp_min(1e-12)
        return phi / energy.sqrt()[:, None, None, None], new_states, maps

    def forward(self, images: torch.Tensor, states: list[AttentionState] | None = None
                ) -> tuple[torch.Tensor, list[AttentionState], list[dict]]:
        """Crops (N, 3, H, W) RGB [0, 255] -> (phi^a, new attention states, attention maps)."""
        return self.attend(self.stage_features(images), states)

    @property
    def output_stride(self) -> int:
        """Input pixels per cell of phi^a (the finest stage's stride)."""
        return self.trunk.strides[0]

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters outside the trunk: reduction, attention and refinement."""
        return [p for name, p in self.named_parameters() if not name.startswith('trunk.')]


def build_network(config: TrackerConfig) -> RARNet:
    """The RARNet that ``config`` describes: its trunk (ImageNet weights, the profile's
    strides), the heads, and the trained weights of ``config.weights`` when set.

    Whatever no file provides (untrained heads, a random trunk) is drawn from a generator
    seeded with ``init_seed``, not the global one, so every process (node, evaluation, demo,
    training) builds the same network and a measurement can be repeated.
    """
    from .weights import load_rar_weights, resolve_weights  # weights.py imports this module
    config = config.resolved()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.init_seed)
        trunk = build_trunk(config.trunk, config.trunk_weights, config.allow_random_trunk,
                            native_strides=config.profile in NATIVE_STRIDE_PROFILES)
        net = RARNet(trunk, config.feature_channels, config.memory)
    net.ablate = config.ablated
    net.fusion = config.stage_fusion
    path = resolve_weights(config)
    if path:
        load_rar_weights(net, path, config)
    return net
