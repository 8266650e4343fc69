"""One training clip through the network and the contextual attentional correlation layer.

For a batch of clips (template z, search frames x_1..x_T):

1. phi^a(z) with a fresh attention state (as ``RARTracker.initialize``);
2. the target patch z0 and the k context patches of the template (windowed), the CACF filter
   of Eq. 10 with T = 1 (one template per clip, beta = 1);
3. for t = 1..T: phi^a(x_t) with the attention state of the previous frame (the ConvLSTM runs
   over the clip, template first), the response g(x_t) of Eq. 11 on the windowed features;
4. the loss of Eq. 12, ||g(x_t) - y_t||^2 with y_t the Gaussian at the target's offset,
   averaged over clips and frames.

Everything is differentiable (torch.fft), so the gradient reaches the attention, the
refinement, the channel reduction and, unless frozen, the trunk. The network runs under
autocast when ``amp`` is on (CUDA); the correlation layer always runs in float32.
May import: torch, :mod:`rar_tracking.model` and :mod:`rar_tracking.geometry`.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..model.correlation import (cacf_terms, correlation_response, cosine_window, gaussian_label,
                                 peak_and_psr, ridge_loss, solve_filter, template_patches)
from ..model.rar import RARNet
from ..geometry import Geometry


class ClipModel(nn.Module):
    """Wraps a :class:`RARNet` so that one ``forward`` is one whole training step's graph
    (what DistributedDataParallel needs: a single forward per backward)."""

    def __init__(self, net: RARNet, geometry: Geometry, amp: bool = False):
        super().__init__()
        self.net, self.geometry, self.amp = net, geometry, amp
        fs = (geometry.feature_size, geometry.feature_size)
        self.register_buffer('window', cosine_window(fs), persistent=False)
        label = gaussian_label(fs, geometry.sigma)
        self.register_buffer('label_hat', torch.view_as_real(torch.fft.rfft2(label)),
                             persistent=False)

    def _autocast(self, device: torch.device):
        if self.amp and device.type == 'cuda':
            return torch.autocast('cuda', dtype=torch.float16)
        return contextlib.nullcontext()

    def features(self, inputs, states):
        """phi^a, in float32, and the new attention states, of uint8/float crops
        (N, 3, S, S) or of the trunk's three stage maps already computed (a list, as
        :class:`~rar_tracking.train.feature_cache.CachedClips` gives them)."""
        device = inputs[0].device if isinstance(inputs, (list, tuple)) else inputs.device
        with self._autocast(device):
            if isinstance(inputs, (list, tuple)):
                stages = self.net.reduce_stages([f.float() for f in inputs])
                phi, states, _ = self.net.attend(stages, states)
            else:
                phi, states, _ = self.net(inputs.float(), states)
        return phi.float(), states

    def filter(self, phi_z: torch.Tensor, box_cells: torch.Tensor) -> torch.Tensor:
        """Eq. 10 (T = 1) per clip: w_hat (B, C, F, F//2+1); the context offsets follow each
        template box, as in the tracker (clips with equal offsets are solved together)."""
        g = self.geometry
        label_hat = torch.view_as_complex(self.label_hat)
        offsets = [tuple(g.offsets(tuple(bc))) for bc in box_cells.tolist()]
        terms = [None] * len(offsets)
        for key in dict.fromkeys(offsets):
            idx = [i for i, o in enumerate(offsets) if o == key]
            masks = [g.target_window(tuple(box_cells[i].tolist()), device=phi_z.device)
                     for i in idx]
            target = None if masks[0] is None else torch.stack(masks)[:, None]
            z0, ctx = template_patches(phi_z[idx], self.window, list(key), target)
            for j, parts in zip(idx, zip(*cacf_terms(z0, ctx, label_hat))):
                terms[j] = parts
        numerator, energy, context = (torch.stack(t) for t in zip(*terms))
        return solve_filter(numerator, energy, context, g.lambda1, g.lambda2)

    def forward(self, template, search, label: torch.Tensor,
                box_cells: torch.Tensor) -> dict[str, torch.Tensor]:
        """template (B, 3, S, S), search (B, T, 3, S, S), label (B, T, F, F), box_cells (B, 2);
        or, with cached trunk features, template a list of the three stage maps
        (B, C_s, H_s, W_s) and search a list of three (B, T, C_s, H_s, W_s).

        Returns 'loss' (scalar, Eq. 12 averaged over the T frames) and 'response'
        (B, T, F, F).
        """
        cached = isinstance(search, (list, tuple))
        device_type = label.device.type
        phi_z, states = self.features(template, None)
        with torch.autocast(device_type, enabled=False):
            w_hat = self.filter(phi_z, box_cells)
        responses = []
        for t in range(label.shape[1]):
            x_t = [s[:, t] for s in search] if cached else search[:, t]
            phi_x, states = self.features(x_t, states)
            with torch.autocast(device_type, enabled=False):
                responses.append(correlation_response(w_hat, phi_x * self.window))
        response = torch.stack(responses, dim=1)
        loss = ridge_loss(response.flatten(0, 1), label.flatten(0, 1).to(response))
        return {'loss': loss, 'response': response}


def _peak_cells(response: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The peak value (N,) and its displacement (dy, dx) in cells (N, 2), wrapped, of every
    frame of a batch of responses (B, T, F, F)."""
    flat = response.detach().float().flatten(0, 1)
    peak, idx, _ = peak_and_psr(flat)
    h, w = flat.shape[-2:]
    dy = torch.remainder(idx[:, 0] + h // 2, h) - h // 2
    dx = torch.remainder(idx[:, 1] + w // 2, w) - w // 2
    return peak, torch.stack([dy, dx], dim=1).float()


@torch.no_grad()
def response_metrics(response: torch.Tensor, offset: torch.Tensor) -> dict[str, float]:
    """Over all frames of a batch (response (B, T, F, F), label offsets (B, T, 2) cells): the
    response peak (mean and max), the distance in cells between the response peak and the
    label peak (mean), and the share of frames where that distance is at most one cell."""
    peak, at = _peak_cells(response)
    target = offset.detach().to(at.device).flatten(0, 1)
    error = torch.hypot(at[:, 0] - target[:, 0], at[:, 1] - target[:, 1])
    return {'peak_mean': float(peak.mean()), 'peak_max': float(peak.max()),
            'offset_error': float(error.mean()), 'hit_rate': float((error <= 1.0).float().mean())}


@torch.no_grad()
def twin_share(response: torch.Tensor, offset: torch.Tensor, twin: torch.Tensor
               ) -> tuple[int, int]:
    """(frames whose response peak is nearer the look-alike than the target, frames with a
    look-alike) over a batch: response (B, T, F, F), offsets (B, T, 2) cells, NaN rows of
    ``twin`` for frames without one."""
    _, at = _peak_cells(response)
    target = offset.detach().to(at.device).flatten(0, 1).float()
    twin = twin.detach().to(at.device).flatten(0, 1).float()
    has = ~twin.isnan().any(dim=1)
    nearer = (at - twin).norm(dim=1) < (at - target).norm(dim=1)
    return int((nearer & has).sum()), int(has.sum())
