"""The per-frame RAR network replayed from CUDA graphs: one launch per frame instead of hundreds.

On a GPU the per-frame network (trunk, reduction, attention with the ConvLSTM, refinement) is
hundreds of small kernels on a batch of three 225 px crops; each costs microseconds of GPU time
but a Python call and a kernel launch on the host, so eager PyTorch spends most of a frame
launching. A CUDA graph records those launches once and replays them with one call.

:class:`CudaGraphRunner` stands in for ``RARNet`` where the tracker calls it,
``(crops, states) -> (phi^a, new states, maps)``, exactly like the ONNX Runtime runner:

- one graph per call signature (batch size, crop size, input dtype, first frame or not),
  captured the first time that signature is seen (a few warm-up calls on a side stream first,
  as CUDA graph capture needs); the tracker uses two or three (the template, the scales, the
  LOST grid), so a bounded cache holds them and any further signature runs eagerly;
- inputs are copied into the graph's static buffers, outputs cloned out of them (the next replay
  overwrites them), so the tracker's stored ConvLSTM state is its own, as with eager torch;
- attention maps are not returned (three empty dicts, as from ONNX Runtime): the tracker does not
  use them on the hot path;
- a network with ablated parts, or one whose capture fails, runs eagerly (one warning for a
  failure, naming the reason), so turning graphs on never stops the tracker.

Replays give the eager network's results up to the order of floating-point operations (the same
kernels run); test_tracker's CUDA test checks the boxes against eager and CPU tracking.

May import: torch and the other model modules.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from .attention import AttentionState

log = logging.getLogger(__name__)

MAX_GRAPHS = 6  # signatures kept as graphs (template, scales, LOST grid, with and without state)
WARMUP_CALLS = 3  # eager calls on a side stream before a capture (cuDNN picks its kernels)


class _Captured:
    """One captured graph with its static input and output tensors."""

    def __init__(self, net: nn.Module, crops: torch.Tensor, states: list[AttentionState] | None):
        self.crops = torch.empty_like(crops)
        self.states = None if states is None else [
            AttentionState(*(torch.empty(t.shape, dtype=t.dtype, device=t.device)
                             for t in (s.h, s.c, s.hc))) for s in states]
        self._fill(crops, states)
        side = torch.cuda.Stream(device=crops.device)
        side.wait_stream(torch.cuda.current_stream(crops.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_CALLS):
                net(self.crops, self.states)
        torch.cuda.current_stream(crops.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: another thread of the process (a ROS executor's, say) may use CUDA
        # while this one captures; only this thread's calls are checked for capture safety
        with torch.cuda.graph(self.graph, capture_error_mode='thread_local'):
            phi, new_states, _ = net(self.crops, self.states)
        self.phi, self.new_states = phi, new_states

    def _fill(self, crops: torch.Tensor, states: list[AttentionState] | None) -> None:
        self.crops.copy_(crops)
        if states is not None:
            for static, given in zip(self.states, states):
                static.h.copy_(given.h)  # broadcasts a state expanded over the batch
                static.c.copy_(given.c)
                static.hc.copy_(given.hc)

    def __call__(self, crops: torch.Tensor, states: list[AttentionState] | None):
        self._fill(crops, states)
        self.graph.replay()
        return self.phi.clone(), [s.clone() for s in self.new_states]


class CudaGraphRunner:
    """Calls ``net`` like ``RARNet.forward``, (crops, states) -> (phi^a, new states, maps), by
    replaying CUDA graphs (see the module docstring). ``net`` must be on a CUDA device and in
    eval mode; it is not modified."""

    def __init__(self, net: nn.Module):
        device = next(net.parameters()).device
        if device.type != 'cuda':
            raise ValueError(f'CUDA graphs need the network on a CUDA device, not {device}')
        self.net = net
        self.graphs: dict[tuple, _Captured] = {}
        self.failed: set[tuple] = set()

    @staticmethod
    def _key(crops: torch.Tensor, states) -> tuple:
        return (tuple(crops.shape), crops.dtype, crops.is_contiguous(
            memory_format=torch.channels_last), states is None)

    def _eager(self, crops, states):
        phi, new_states, _ = self.net(crops, states)
        return phi, new_states, [{}, {}, {}]

    @torch.no_grad()
    def __call__(self, crops: torch.Tensor, states: list[AttentionState] | None = None):
        if getattr(self.net, 'ablate', None) or not crops.is_cuda:
            return self._eager(crops, states)
        key = self._key(crops, states)
        captured = self.graphs.get(key)
        if captured is None:
            if key in self.failed or len(self.graphs) >= MAX_GRAPHS:
                return self._eager(crops, states)
            try:
                captured = self.graphs[key] = _Captured(self.net, crops, states)
            except Exception as exc:  # an op that cannot be captured: eager, said once
                self.failed.add(key)
                log.warning('CUDA graph capture failed for batch %s (%s: %s); running the '
                            'network eagerly for it', tuple(crops.shape), type(exc).__name__,
                            str(exc)[:200])
                return self._eager(crops, states)
        phi, new_states = captured(crops, states)
        return phi, new_states, [{}, {}, {}]
