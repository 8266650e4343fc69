"""One small tracker interface for the benchmark, with OpenCV and RAR adapters.

Every adapter has ``name``, ``spec``, ``initialize(image_rgb, box)``, ``track(image_rgb)
-> Box`` and, after each call, ``confidence`` (float or None) and ``state`` (str or None).
Images are RGB uint8 HxWx3. :func:`make_tracker` builds one from a spec string:

========================================  =============================================
``csrt``, ``kcf``, ``mil``                OpenCV's trackers (one thread; when ``update``
                                          fails the last box is kept)
``rar``                                   RARTracker with the default trunk
``rar:resnet18``, ``rar:resnet50``,       RARTracker with that trunk
``rar:efficientnet_lite0``
``rar:efficientnet_lite0@/path/w.st``     ... and trained weights from that file
========================================  =============================================
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from ..types import Box


class Tracker:
    """Interface of a benchmark tracker."""

    name: str = 'tracker'
    spec: str = ''
    confidence: float | None = None
    state: str | None = None

    def initialize(self, image_rgb: np.ndarray, box: Box) -> None:
        raise NotImplementedError

    def track(self, image_rgb: np.ndarray) -> Box:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What to record in the results (spec and parameters)."""
        return {'name': self.name, 'spec': self.spec}


_OPENCV = {
    'csrt': ('CSRT', 'TrackerCSRT_create'),
    'kcf': ('KCF', 'TrackerKCF_create'),
    'mil': ('MIL', 'TrackerMIL_create'),
}


class OpenCVTracker(Tracker):
    """An OpenCV tracker (``csrt``, ``kcf`` or ``mil``) run on one thread.

    The box is rounded to integer pixels for ``init`` (OpenCV wants a Rect). When
    ``update`` reports failure the previous box is kept and ``confidence`` is 0.
    """

    def __init__(self, kind: str):
        import cv2

        kind = kind.lower()
        if kind not in _OPENCV:
            raise ValueError(f'unknown OpenCV tracker {kind!r}; known: {sorted(_OPENCV)}')
        self._cv2 = cv2
        self.kind = kind
        self.name, factory_name = _OPENCV[kind]
        self.spec = kind
        factory = getattr(cv2, factory_name, None)
        if factory is None:  # OpenCV without the contrib trackers
            raise RuntimeError(f'this OpenCV ({cv2.__version__}) has no {factory_name}; '
                               'install opencv-contrib-python(-headless)')
        self._factory = factory
        self._tracker = None
        self._box: Box | None = None
        cv2.setNumThreads(1)

    def _bgr(self, image_rgb: np.ndarray) -> np.ndarray:
        image = np.asarray(image_rgb)
        if image.ndim == 2:
            return self._cv2.cvtColor(image, self._cv2.COLOR_GRAY2BGR)
        return self._cv2.cvtColor(image, self._cv2.COLOR_RGB2BGR)

    def initialize(self, image_rgb: np.ndarray, box: Box) -> None:
        box = Box.coerce(box)
        rect = (int(round(box.x)), int(round(box.y)), max(1, int(round(box.w))),
                max(1, int(round(box.h))))
        self._tracker = self._factory()
        self._tracker.init(self._bgr(image_rgb), rect)
        self._box = Box(*map(float, rect))
        self.confidence, self.state = 1.0, 'TRACKING'

    def track(self, image_rgb: np.ndarray) -> Box:
        if self._tracker is None:
            raise RuntimeError(f'{self.name}: track() before initialize()')
        ok, rect = self._tracker.update(self._bgr(image_rgb))
        if ok:
            self._box = Box(*map(float, rect))
            self.confidence, self.state = 1.0, 'TRACKING'
        else:
            self.confidence, self.state = 0.0, 'LOST'
        return self._box

    def describe(self) -> dict[str, Any]:
        return {'name': self.name, 'spec': self.spec, 'kind': 'opencv',
                'opencv': self._cv2.__version__, 'threads': 1,
                'on_failure': 'keep the last box'}


class RARAdapter(Tracker):
    """:class:`rar_tracking.tracker.RARTracker` behind the benchmark interface."""

    def __init__(self, config, spec: str = 'rar'):
        from ..model.weights import resolve_weights  # lazily: the network needs torch
        from ..tracker import RARTracker

        self.spec = spec
        self._tracker = RARTracker(config)
        self.config = self._tracker.config
        trunk = getattr(self._tracker, 'trunk_name', config.trunk)
        self.name = f'RAR-{trunk}'
        weights = resolve_weights(self.config)
        self.name += '@' + os.path.basename(weights) if weights else '@untrained'
        if self.config.ablated:
            self.name += '-without-' + '+'.join(sorted(self.config.ablated))
        self.last_result = None

    @property
    def device(self) -> str:
        return str(self._tracker.device)

    def initialize(self, image_rgb: np.ndarray, box: Box) -> None:
        self.last_result = self._tracker.initialize(image_rgb, Box.coerce(box))
        self._note(self.last_result)

    def track(self, image_rgb: np.ndarray) -> Box:
        self.last_result = self._tracker.track(image_rgb)
        self._note(self.last_result)
        return self.last_result.box

    def _note(self, result) -> None:
        self.confidence = float(result.confidence)
        state = result.state
        self.state = state.name if hasattr(state, 'name') else str(state)

    def describe(self) -> dict[str, Any]:
        return {'name': self.name, 'spec': self.spec, 'kind': 'rar', 'device': self.device,
                'trunk': getattr(self._tracker, 'trunk_name', self.config.trunk),
                'config': self.config.as_dict()}


def parse_overrides(items) -> dict[str, Any]:
    """``['crop_size=129', 'half_precision=false']`` -> typed TrackerConfig changes."""
    from ..config import TrackerConfig

    info = TrackerConfig.field_info()
    out: dict[str, Any] = {}
    for item in items or ():
        if '=' not in item:
            raise ValueError(f'expected key=value, got {item!r}')
        key, value = (part.strip() for part in item.split('=', 1))
        if key not in info:
            raise ValueError(f'unknown TrackerConfig field {key!r}; known: {sorted(info)}')
        kind = info[key]['type']
        if kind is bool:
            low = value.lower()
            if low not in ('1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'):
                raise ValueError(f'{key}: expected a boolean, got {value!r}')
            out[key] = low in ('1', 'true', 'yes', 'on')
        else:
            try:
                out[key] = kind(value)
            except ValueError:
                raise ValueError(f'{key}: expected {kind.__name__}, got {value!r}') from None
    return out


def parse_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``'rar:resnet18@w.safetensors'`` -> ``('rar', 'resnet18', 'w.safetensors')``."""
    text = spec.strip()
    weights = None
    if '@' in text:
        text, weights = text.split('@', 1)
        weights = weights.strip() or None
    kind, _, variant = text.partition(':')
    return kind.strip().lower(), (variant.strip() or None), weights


def make_tracker(spec: str, *, device: str = 'auto', threads: int = 1,
                 rar_config=None, rar_overrides: dict[str, Any] | None = None) -> Tracker:
    """Build a tracker from a spec (see the module docstring).

    ``device``, ``threads`` (torch CPU threads), ``rar_config`` (a base TrackerConfig)
    and ``rar_overrides`` (field changes) apply to RAR specs only.
    """
    kind, variant, weights = parse_spec(spec)
    if kind in _OPENCV:
        if variant or weights:
            raise ValueError(f'{spec!r}: OpenCV trackers take no trunk or weights')
        return OpenCVTracker(kind)
    if kind == 'rar':
        from ..config import TRUNKS, TrackerConfig

        config = rar_config if rar_config is not None else TrackerConfig()
        changes: dict[str, Any] = {'device': device, 'cpu_threads': int(threads)}
        if variant:
            if variant not in TRUNKS:
                raise ValueError(f'{spec!r}: unknown trunk {variant!r}; known: {TRUNKS}')
            changes['trunk'] = variant
        if weights:
            if not os.path.isfile(weights):
                raise FileNotFoundError(f'{spec!r}: weights file does not exist: {weights}')
            changes['weights'] = weights
        changes.update(rar_overrides or {})
        config = dataclasses.replace(config, **changes)
        config.validate()
        return RARAdapter(config, spec)
    raise ValueError(f'unknown tracker spec {spec!r}; use csrt, kcf, mil, rar, '
                     f'rar:<trunk> or rar:<trunk>@<weights file>')
