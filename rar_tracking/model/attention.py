"""Hierarchical attention module (Section 3.2): inter-frame attention from a convolutional
LSTM (Eq. 3, 4) and intra-frame channel and spatial attention (Eq. 5, 6), giving the
reinforced representation of Eq. 7. One module per backbone stage.

Shapes: features (N, C, H, W); the recurrent state holds h and c (N, C, H, W) and the
previous frame's channel attention h^c_{t-1} (N, C).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .correlation import shift_zero_fill


@dataclass
class AttentionState:
    """Recurrent state of one stage: ConvLSTM hidden h, cell c, and h^c of the last frame."""

    h: torch.Tensor
    c: torch.Tensor
    hc: torch.Tensor

    def select(self, index: int) -> 'AttentionState':
        """The state of batch element ``index`` (the chosen scale), batch size 1."""
        return AttentionState(self.h[index:index + 1], self.c[index:index + 1],
                              self.hc[index:index + 1])

    def expand(self, n: int) -> 'AttentionState':
        """The same state for a batch of n (the scales of the pyramid)."""
        return AttentionState(self.h.expand(n, -1, -1, -1), self.c.expand(n, -1, -1, -1),
                              self.hc.expand(n, -1))

    def shifted(self, dy: int, dx: int) -> 'AttentionState':
        """The memory moved with the target: ``h`` and ``c`` shifted so that what stood at
        cell (dy, dx) from the centre stands at the centre; zero-filled at the borders."""
        if dy == 0 and dx == 0:
            return self
        return AttentionState(shift_zero_fill(self.h, dy, dx), shift_zero_fill(self.c, dy, dx),
                              self.hc)

    def clone(self) -> 'AttentionState':
        return AttentionState(self.h.clone(), self.c.clone(), self.hc.clone())


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM unit of Eq. 3: gates from W_h h_{t-1} + W_i phi_t.

    One convolution over [phi_t, h_{t-1}] gives the forget, input, output and content gates.
    The forget gate bias starts at 1 (remember by default).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=kernel_size // 2)
        with torch.no_grad():
            self.gates.bias.zero_()
            self.gates.bias[:hidden_channels].fill_(1.0)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        # The gate convolution over [x, h] is W_i * x + W_h * h (one weight tensor, split by
        # input channels). The tracker runs all scales of a frame from one stored state, so h
        # is the same for the whole batch (an expanded view): W_h * h is then computed once and
        # broadcast, which saves a third of the ConvLSTM's cost at 3 scales; the result equals
        # the convolution over the concatenation.
        if h.shape[0] > 1 and h.stride(0) == 0:
            weight, bias = self.gates.weight, self.gates.bias
            cin = x.shape[1]
            pad = self.gates.padding
            gates = (nn.functional.conv2d(x, weight[:, :cin], bias, padding=pad)
                     + nn.functional.conv2d(h[:1], weight[:, cin:], None, padding=pad))
        else:
            gates = self.gates(torch.cat([x, h], dim=1))
        f, i, o, g = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


def channel_descriptor(x: torch.Tensor) -> torch.Tensor:
    """Phi^c_t of Eq. 5: global average plus global max pooling over space, (N, C)."""
    return x.mean(dim=(2, 3)) + x.amax(dim=(2, 3))


def spatial_descriptor(x: torch.Tensor) -> torch.Tensor:
    """Phi^s_t of Eq. 6: average plus max pooling over channels, (N, 1, H, W)."""
    return x.mean(dim=1, keepdim=True) + x.amax(dim=1, keepdim=True)


class HierarchicalAttention(nn.Module):
    """Inter- and intra-frame attention of one stage and the reinforced features (Eq. 3-7).

    Args:
        channels: C, the (reduced) channels of the stage.
        reduction: the channel MLP's hidden width is C // reduction (Eq. 5).
        spatial_hidden: hidden maps of the spatial "MLP" (7x7 convolutions, Eq. 6).
        memory_channels: width of the ConvLSTM's h and c (default C). The paper does not give
            it; the memory only feeds a channel vector and a spatial map (Eq. 4), so a narrower
            memory keeps both at a fraction of the cost (profiles 'balanced' and 'fast').
    """

    def __init__(self, channels: int, reduction: int = 4, spatial_hidden: int = 8,
                 spatial_kernel: int = 7, memory_channels: int | None = None):
        super().__init__()
        hidden = max(channels // reduction, 4)
        memory = memory_channels or channels
        pad = spatial_kernel // 2
        self.lstm = ConvLSTMCell(channels, memory)
        self.w_hc = nn.Linear(memory, channels)                         # Eq. 4, channel
        self.w_hs = nn.Conv2d(memory, 1, 1)                            # Eq. 4, spatial
        self.w_phi_c = nn.Linear(channels, hidden)                     # Eq. 5
        self.w_h_c = nn.Linear(channels, hidden, bias=False)
        self.w_o_c = nn.Linear(hidden, channels)
        self.w_phi_s = nn.Conv2d(1, spatial_hidden, spatial_kernel, padding=pad)  # Eq. 6
        self.w_h_s = nn.Conv2d(1, spatial_hidden, spatial_kernel, padding=pad, bias=False)
        self.w_o_s = nn.Conv2d(spatial_hidden, 1, spatial_kernel, padding=pad)

    def initial_state(self, x: torch.Tensor) -> AttentionState:
        n, _, h, w = x.shape
        memory = self.lstm.hidden_channels
        zeros = x.new_zeros(1, memory, h, w).expand(n, -1, -1, -1)  # one state for the batch
        return AttentionState(zeros, zeros, torch.sigmoid(self.w_hc(x.new_zeros(n, memory))))

    def forward(self, x: torch.Tensor, state: AttentionState | None = None
                ) -> tuple[torch.Tensor, AttentionState, dict[str, torch.Tensor]]:
        """x (N, C, H, W) -> reinforced features (N, C, H, W), new state, attention maps.

        Maps: 'channel' Psi^c (N, C) and 'spatial' Psi^s (N, 1, H, W), both in (0, 1);
        'inter_channel' h^c_t (N, C) and 'inter_spatial' h^s_t (N, 1, H, W).
        """
        if state is None:
            state = self.initial_state(x)
        h, c = self.lstm(x, state.h, state.c)                                     # Eq. 3
        h_c = torch.sigmoid(self.w_hc(h.mean(dim=(2, 3))))                        # Eq. 4
        h_s = torch.sigmoid(self.w_hs(h))
        theta_c = torch.tanh(self.w_phi_c(channel_descriptor(x)) + self.w_h_c(state.hc))
        psi_c = torch.sigmoid(self.w_o_c(theta_c))                                # Eq. 5
        theta_s = torch.tanh(self.w_phi_s(spatial_descriptor(x)) + self.w_h_s(h_s))
        psi_s = torch.sigmoid(self.w_o_s(theta_s))                                # Eq. 6
        reinforced = x * psi_s * psi_c[:, :, None, None] + x                      # Eq. 7
        maps = {'channel': psi_c, 'spatial': psi_s, 'inter_channel': h_c, 'inter_spatial': h_s}
        return reinforced, AttentionState(h, c, h_c), maps
