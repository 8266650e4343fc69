"""Saving and loading RAR weights: safetensors (preferred) or ``torch.load(weights_only=True)``.

A file records which trunk and width it was made for and, when saved with the configuration
it was trained with, every key the trained heads depend on (:data:`GEOMETRY_KEYS`: profile,
memory width, crop, search area, label sigma, template window, context patches); loading it
into a tracker whose configuration differs in one of them is refused, naming the key. ``load_rar_weights`` accepts a file with
the head parameters only (reduction, attention, refinement: a few MB, what ships) or with the
trunk too (after end-to-end training); any problem raises a WeightsError naming the file and
what is wrong: missing, unreadable or hostile (a pickle that is not plain tensors), made for
another trunk or width, missing or unexpected keys, wrong shapes, non-finite values.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from ..errors import WeightsError
from .backbone import load_state_dict_file
from .rar import RARNet

FORMAT = 'rar_tracking/1'
# TrackerConfig keys that trained heads depend on: the network's layout and the crop and label
# geometry of Eq. 10-12 they learnt with. (Thresholds, scales and learning rates do not.)
GEOMETRY_KEYS = ('profile', 'memory', 'crop', 'search_area_factor', 'label_sigma',
                 'template_window', 'num_context', 'context_offset')
# Recorded keys that only the filter of Eq. 10 uses, not the network: heads trained with them
# still compute the same features with other values (the k = 0 ablation runs trained heads
# without context patches), so a difference is logged, not refused.
FILTER_ONLY_KEYS = ('num_context', 'context_offset')


#: Where the package keeps the trained heads it ships (package data).
SHIPPED_DIR = Path(__file__).resolve().parent.parent / 'weights'
_log = logging.getLogger(__name__)
_warned_auto: set[str] = set()


def shipped_weights_path(config) -> Path:
    """The file ``weights: auto`` looks for: ``rar_tracking/weights/<trunk>_<profile>.safetensors``
    (trunk and profile resolved), whether or not it exists."""
    from .backbone import resolve_trunk_name
    config = config.resolved()
    return SHIPPED_DIR / f'{resolve_trunk_name(config.trunk, config.trunk_weights)}_' \
        f'{config.profile}.safetensors'


def resolve_weights(config) -> str:
    """The weights file a TrackerConfig asks for: its ``weights`` path; for 'auto' the shipped
    file of its trunk and profile when one exists and its recorded geometry equals the
    configuration's (else '' with one warning per reason: untrained heads); '' for '' and
    'none'."""
    name = config.weights.strip()
    if name.lower() in ('', 'none'):
        return ''
    if name.lower() != 'auto':
        return name
    path = shipped_weights_path(config)
    reason = None
    if not path.is_file():
        reason = f'no trained heads ship for this trunk and profile ({path.name})'
    else:
        meta = read_metadata(path)
        for key, value in geometry_metadata(config).items():
            if key in meta and meta[key] != value and key[7:] not in FILTER_ONLY_KEYS:
                reason = (f'the shipped {path.name} was trained with {key[7:]} = {meta[key]}, '
                          f'this configuration has {key[7:]} = {value}')
                break
    if reason is None:
        return str(path)
    if reason not in _warned_auto:
        _warned_auto.add(reason)
        _log.warning("weights 'auto': %s; running untrained heads", reason)
    return ''


def geometry_metadata(config) -> dict[str, str]:
    """The :data:`GEOMETRY_KEYS` of a (resolved) TrackerConfig, as metadata strings."""
    config = config.resolved()
    return {f'config.{k}': repr(getattr(config, k)) for k in GEOMETRY_KEYS}


def _metadata(net: RARNet, heads_only: bool) -> dict[str, str]:
    return {'format': FORMAT, 'trunk': type(net.trunk).__name__ + ':' + getattr(
        net.trunk, 'arch', 'efficientnet_lite0'), 'channels': str(net.channels),
        'heads_only': json.dumps(heads_only)}


def save_rar_weights(net: RARNet, path: str | os.PathLike, heads_only: bool = True,
                     extra: dict[str, str] | None = None, config=None) -> Path:
    """Write the network's weights; .safetensors gets the metadata in its header.

    ``config``: the TrackerConfig the weights were trained with; its geometry keys are recorded
    so that a tracker with another geometry refuses the file.
    """
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()
             if not (heads_only and k.startswith('trunk.'))}
    meta = dict(_metadata(net, heads_only), **(extra or {}))
    if config is not None:
        meta.update(geometry_metadata(config))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == '.safetensors':
        from safetensors.torch import save_file
        save_file(state, str(path), metadata=meta)
    else:
        state['__metadata__'] = torch.tensor(list(json.dumps(meta).encode()), dtype=torch.uint8)
        torch.save(state, str(path))
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata a weights file was saved with ({} when it has none)."""
    path = Path(path)
    if path.suffix == '.safetensors':
        try:
            from safetensors import safe_open
            with safe_open(str(path), framework='pt') as f:
                return dict(f.metadata() or {})
        except Exception as exc:
            raise WeightsError(f'{path}: not a readable safetensors file ({exc})') from None
    state = load_state_dict_file(path)
    raw = state.get('__metadata__')
    return json.loads(bytes(raw.tolist()).decode()) if raw is not None else {}


def load_rar_weights(net: RARNet, path: str | os.PathLike, config=None) -> dict[str, str]:
    """Load weights saved by :func:`save_rar_weights` into ``net``; returns the metadata.

    With ``config`` (the tracker's TrackerConfig), every geometry key the file records must
    equal the configuration's, else a WeightsError names the key and both values.
    """
    path = Path(path)
    state = load_state_dict_file(path)
    meta = read_metadata(path)
    if config is not None:
        for key, value in geometry_metadata(config).items():
            if key in meta and meta[key] != value and key[7:] in FILTER_ONLY_KEYS:
                _log.info('%s: trained with %s = %s, used with %s (the filter only)', path,
                          key[7:], meta[key], value)
            elif key in meta and meta[key] != value:
                raise WeightsError(f'{path}: trained with {key[7:]} = {meta[key]}, this tracker '
                                   f'has {key[7:]} = {value}; use a matching configuration or '
                                   'weights made for this one')
    state.pop('__metadata__', None)
    expected = _metadata(net, heads_only=False)
    for key in ('trunk', 'channels'):
        if key in meta and meta[key] != expected[key]:
            raise WeightsError(f'{path}: made for {key} {meta[key]}, this network has '
                               f'{expected[key]}')
    own = net.state_dict()
    unexpected = sorted(set(state) - set(own))
    missing = sorted(k for k in own if not k.startswith('trunk.') and k not in state)
    if unexpected or missing:
        raise WeightsError(f'{path}: does not fit this network (missing keys {missing[:3]}, '
                           f'unexpected keys {unexpected[:3]})')
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise WeightsError(f'{path}: {k} has shape {tuple(v.shape)}, expected '
                               f'{tuple(own[k].shape)}')
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise WeightsError(f'{path}: {k} holds NaN or infinite values')
    net.load_state_dict(state, strict=False)
    return meta
