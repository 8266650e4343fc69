"""Torch device selection, shared by the tracker, training and the node.

May import: torch and :mod:`rar_tracking.errors`. Nothing here knows about tracking.
"""
from __future__ import annotations

import torch

from .errors import DeviceError


def select_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; an unavailable device raises DeviceError."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f'device {name!r} is not a torch device ({exc})') from None
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise DeviceError(f'device {name!r} requested but CUDA is not available here '
                              f'(torch {torch.__version__}); use device auto or cpu')
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f'device {name!r} requested but only '
                              f'{torch.cuda.device_count()} CUDA device(s) exist')
    elif device.type != 'cpu':
        raise DeviceError(f'device {name!r} is not supported (use auto, cpu or cuda[:N])')
    return device
