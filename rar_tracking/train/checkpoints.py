"""Training checkpoints: the state written after every epoch, read back to resume exactly.

A checkpoint holds the network, optimizer, scheduler and GradScaler states, the step counter,
every rank's random generator states and the configuration; :func:`checkpoint_to_resume`
refuses a resume whose configuration or process count differs (the data order would change).
May import: numpy, torch and :mod:`.config`.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import TrainConfig

CHECKPOINT_FORMAT = 'rar_tracking.train/1'
# Configuration keys that may change between a run and its resume.
RESUMABLE_CHANGES = ('runtime.device', 'runtime.num_workers', 'runtime.log_every', 'base_dir')


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state(legacy=False)
    state = {'torch': torch.get_rng_state(), 'python': random.getstate(),
             'numpy': {'bit_generator': np_state['bit_generator'],
                       'key': torch.from_numpy(np_state['state']['key'].astype(np.int64)),
                       'pos': int(np_state['state']['pos']),
                       'has_gauss': int(np_state['has_gauss']),
                       'gauss': float(np_state['gauss'])}}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state['torch'])
    random.setstate(_as_tuple(state['python']))
    n = state['numpy']
    np.random.set_state({'bit_generator': n['bit_generator'],
                         'state': {'key': n['key'].numpy().astype(np.uint32), 'pos': n['pos']},
                         'has_gauss': n['has_gauss'], 'gauss': n['gauss']})
    if 'cuda' in state and torch.cuda.is_available() and \
            len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state['cuda'])


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically (a crash never leaves a half-written last.pt)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f'no checkpoint to resume from: {path}')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if state.get('format') != CHECKPOINT_FORMAT:
        raise ValueError(f'{path}: not a rar_tracking training checkpoint')
    return state


def _config_differences(a: dict, b: dict, prefix: str = '') -> list[str]:
    keys = sorted(set(a) | set(b))
    diffs = []
    for k in keys:
        name = f'{prefix}{k}'
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            diffs += _config_differences(a[k], b[k], name + '.')
        elif a.get(k) != b.get(k):
            diffs.append(name)
    return diffs


def checkpoint_to_resume(cfg: TrainConfig, out: Path, resume: bool, world: int
                         ) -> dict[str, Any] | None:
    """The checkpoint of ``out`` when resuming (checked against ``cfg`` and ``world``); None
    for a new run, which must not overwrite an existing one."""
    last = out / 'checkpoints' / 'last.pt'
    if not resume:
        if last.exists():
            raise ValueError(f'{out} already holds a run (checkpoints/last.pt): continue it with '
                             '--resume or choose another --out')
        return None
    ckpt = load_checkpoint(last)
    diffs = [d for d in _config_differences(dict(ckpt['config']), cfg.as_dict())
             if not d.startswith(RESUMABLE_CHANGES)]
    if diffs:
        raise ValueError(f'cannot resume {out}: the configuration differs from the '
                         f"checkpoint's in {diffs[:8]}")
    if ckpt['world_size'] != world:
        raise ValueError(f'cannot resume {out}: it ran on {ckpt["world_size"]} processes, '
                         f'this run has {world} (the data order would change)')
    return ckpt
