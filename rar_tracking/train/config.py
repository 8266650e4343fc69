"""The training configuration (``config/train_*.yaml``).

Sections: ``tracker`` (the :class:`~rar_tracking.config.TrackerConfig` fields that fix the
network and the geometry: trunk, trunk_weights, allow_random_trunk, feature_channels,
crop_size, search_area_factor, label_sigma, lambda1, lambda2, num_context, context_offset,
template_window, min_size), ``data`` (``train`` and ``val`` lists of sources, see
:class:`~rar_tracking.train.sources.SourceSpec`), ``clip``, ``augment``, ``optim``,
``runtime`` and ``export``. Unknown keys are errors (a typo must not silently train with a
default). Relative data paths are relative to the YAML file's folder.

May import: PyYAML, :mod:`rar_tracking.config` and this package's data/sources settings.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ..config import TrackerConfig
from .data import AugmentSettings, ClipSettings
from .sources import SourceSpec

# TrackerConfig fields that change the trained network or its geometry.
TRACKER_KEYS = ('trunk', 'trunk_weights', 'allow_random_trunk', 'profile', 'feature_channels',
                'memory_channels', 'crop_size', 'search_area_factor', 'label_sigma', 'lambda1',
                'lambda2', 'num_context', 'context_offset', 'template_window', 'min_size')


@dataclass
class OptimSettings:
    """SGD with momentum; the learning rate decays log-linearly (exponentially) from lr_start
    at step 0 to lr_end at the last step of ``epochs`` epochs."""

    epochs: int = 20
    samples_per_epoch: int = 4000   # clips per epoch, all processes together
    batch_size: int = 8             # clips per process and step
    lr_start: float = 1e-3
    lr_end: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    heads_only: bool = True         # freeze the whole trunk (else conv1-conv2 only)
    grad_clip: float = 10.0         # max gradient norm (0: off)
    amp: bool = True                # fp16 autocast + GradScaler on CUDA


@dataclass
class RuntimeSettings:
    seed: int = 0
    device: str = 'auto'
    num_workers: int = 4
    cpu_threads: int = 1
    log_every: int = 10             # steps between logged scalars
    val_samples: int = 64           # held-out clips evaluated after every epoch (0: none)
    val_at_start: bool = True       # also evaluate before the first step
    keep_checkpoints: int = 2       # epoch checkpoints kept besides last.pt
    cache_features: bool = False    # run the frozen trunk once over a fixed pool of clips
    cache_clips: int = 0            # size of that pool (0: optim.samples_per_epoch)


@dataclass
class ExportSettings:
    name: str = 'rar_weights.safetensors'
    heads_only: bool | None = None  # None: heads only when the trunk was frozen


@dataclass
class TrainConfig:
    tracker: dict[str, Any] = field(default_factory=dict)
    train: list[SourceSpec] = field(default_factory=list)
    val: list[SourceSpec] = field(default_factory=list)
    clip: ClipSettings = field(default_factory=ClipSettings)
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    init_weights: str = ''          # start from these RAR weights
    base_dir: str = '.'             # folder that relative data paths start from

    @property
    def tracker_config(self) -> TrackerConfig:
        return TrackerConfig(**self.tracker)

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d['data'] = {'train': d.pop('train'), 'val': d.pop('val')}
        for split in d['data'].values():
            for s in split:
                s['size'] = list(s['size'])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], base_dir: str | Path = '.') -> 'TrainConfig':
        d = copy.deepcopy(d or {})
        known = {'tracker', 'data', 'clip', 'augment', 'optim', 'runtime', 'export',
                 'init_weights', 'base_dir'}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f'unknown section(s) {unknown}; known: {sorted(known)}')
        tracker = d.get('tracker') or {}
        bad = sorted(set(tracker) - set(TRACKER_KEYS))
        if bad:
            raise ValueError(f'tracker: {bad} are not training keys; allowed: {list(TRACKER_KEYS)}')
        TrackerConfig(**tracker)  # validates values and ranges
        data = d.get('data') or {}
        bad = sorted(set(data) - {'train', 'val'})
        if bad:
            raise ValueError(f'data: unknown key(s) {bad}; known: train, val')
        train = [SourceSpec.from_dict(s, f'data.train[{i}]')
                 for i, s in enumerate(data.get('train') or [])]
        val = [SourceSpec.from_dict(s, f'data.val[{i}]')
               for i, s in enumerate(data.get('val') or [])]
        if not train:
            raise ValueError('data.train: at least one source is needed')
        cfg = cls(tracker=tracker, train=train, val=val,
                  clip=_section(ClipSettings, d.get('clip'), 'clip'),
                  augment=_section(AugmentSettings, d.get('augment'), 'augment'),
                  optim=_section(OptimSettings, d.get('optim'), 'optim'),
                  runtime=_section(RuntimeSettings, d.get('runtime'), 'runtime'),
                  export=_section(ExportSettings, d.get('export'), 'export'),
                  init_weights=str(d.get('init_weights') or ''),
                  base_dir=str(d.get('base_dir') or base_dir))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        o, r, c = self.optim, self.runtime, self.clip
        checks = [
            (o.epochs >= 1, 'optim.epochs must be >= 1'),
            (o.batch_size >= 1, 'optim.batch_size must be >= 1'),
            (o.samples_per_epoch >= o.batch_size,
             'optim.samples_per_epoch must be at least optim.batch_size'),
            (o.lr_start > 0 and o.lr_end > 0, 'optim.lr_start and lr_end must be > 0'),
            (0 <= o.momentum < 1, 'optim.momentum must be in [0, 1)'),
            (o.weight_decay >= 0 and o.grad_clip >= 0, 'weight_decay and grad_clip must be >= 0'),
            (r.num_workers >= 0 and r.cpu_threads >= 1 and r.log_every >= 1,
             'runtime: num_workers >= 0, cpu_threads >= 1, log_every >= 1'),
            (r.val_samples >= 0 and r.keep_checkpoints >= 0,
             'runtime: val_samples and keep_checkpoints must be >= 0'),
            (c.search_frames >= 1 and c.max_gap >= 1, 'clip: search_frames, max_gap >= 1'),
            (not r.cache_features or o.heads_only,
             'runtime.cache_features needs optim.heads_only: true (the trunk must be frozen)'),
            (r.cache_clips == 0 or r.cache_clips >= o.samples_per_epoch,
             'runtime.cache_clips must be 0 or at least optim.samples_per_epoch'),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def _section(cls, values: dict | None, name: str):
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f'{name}: unknown key(s) {unknown}; known: {sorted(known)}')
    defaults = cls()
    for key, value in values.items():
        default = getattr(defaults, key)
        if isinstance(default, bool) and not isinstance(value, bool) and value is not None:
            raise ValueError(f'{name}.{key}: expected true/false, got {value!r}')
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        elif isinstance(default, (int, float, str)) and not isinstance(default, bool) and \
                not isinstance(value, type(default)):
            raise ValueError(f'{name}.{key}: expected {type(default).__name__}, got {value!r}')
    return cls(**values)


def apply_overrides(d: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``section.key=value`` strings (value parsed as YAML) applied to a config dict."""
    d = copy.deepcopy(d)
    for item in overrides:
        key, sep, raw = item.partition('=')
        if not sep or not key:
            raise ValueError(f'override {item!r}: expected section.key=value')
        node = d
        parts = key.split('.')
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f'override {item!r}: {part} is not a section')
        node[parts[-1]] = yaml.safe_load(raw)
    return d


def load_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """Read a training YAML (plus ``section.key=value`` overrides)."""
    path = Path(path)
    try:
        d = yaml.safe_load(path.read_text(encoding='utf-8')) or {}
    except FileNotFoundError:
        raise ValueError(f'{path}: no such training configuration') from None
    except yaml.YAMLError as exc:
        raise ValueError(f'{path}: not valid YAML ({exc})') from None
    if not isinstance(d, dict):
        raise ValueError(f'{path}: expected a mapping of sections')
    try:
        return TrainConfig.from_dict(apply_overrides(d, list(overrides)),
                                     base_dir=path.resolve().parent)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{path}: {exc}') from None
