"""Synthetic tracking sequences with exact ground truth.

A textured object (a patch of one of scikit-image's shipped images) moves at constant
speed along a smooth closed Lissajous path over a background made of another image.
Options add a smooth size change, a full occlusion by a textured occluder, a second
(distractor) object, a global illumination change, blur and sensor noise. Everything is
drawn at integer pixel positions, so the ground-truth box is exactly where the object's
pixels are. A sequence is deterministic for its arguments; frames are rendered on demand
(well under 5 ms for 320x240).

:class:`SyntheticStream` loops over such a sequence forever (ping-pong) for demos.
:func:`make_sequence` is a few named steps (check, pick textures, moving boxes, occluder,
tags); its random draws happen in a fixed order, so a seed always gives the same frames.
May import: numpy, OpenCV, scikit-image (its shipped images), :mod:`rar_tracking.types` and
:mod:`.sequences`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..types import Box
from .sequences import Sequence

# Colour and gray images shipped inside scikit-image (no download needed).
_COLOR_IMAGES = ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry')
_GRAY_IMAGES = ('brick', 'grass', 'gravel', 'camera', 'moon', 'coins', 'clock', 'text')
_ALL_IMAGES = _COLOR_IMAGES + _GRAY_IMAGES


@functools.lru_cache(maxsize=None)
def _source_image(name: str) -> np.ndarray:
    """A scikit-image sample image as RGB uint8 (gray ones replicated to 3 channels)."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
    image.setflags(write=False)
    return image


def _texture(name: str, size: tuple[int, int], rng: np.random.Generator,
             crop_fraction: tuple[float, float] = (0.25, 0.5)) -> np.ndarray:
    """A ``size`` = (w, h) RGB patch cut from image ``name``: the most textured of a few
    random crops, gray images tinted with a random colour."""
    src = _source_image(name)
    sh, sw = src.shape[:2]
    w, h = size
    aspect = w / h
    best, best_std = None, -1.0
    for _ in range(4):
        frac = rng.uniform(*crop_fraction)
        ch = max(8, min(int(min(sh, sw / aspect) * frac), sh, int(sw / aspect)))
        cw = max(8, min(sw, int(round(ch * aspect))))
        y0 = int(rng.integers(0, sh - ch + 1))
        x0 = int(rng.integers(0, sw - cw + 1))
        crop = src[y0:y0 + ch, x0:x0 + cw]
        std = float(crop.std())
        if std > best_std:
            best, best_std = crop, std
    patch = cv2.resize(best, (w, h), interpolation=cv2.INTER_AREA)
    if name in _GRAY_IMAGES:
        tint = rng.uniform(0.35, 1.0, size=3)
        tint /= tint.max()
        patch = (patch.astype(np.float32) * tint).astype(np.uint8)
    return np.ascontiguousarray(patch)


def _lissajous_path(rng: np.random.Generator, center: tuple[float, float],
                    amplitude: tuple[float, float],
                    samples: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """A closed smooth curve: points (samples x 2) and cumulative arc length (samples+1)."""
    fx, fy = [(1, 1), (1, 2), (2, 1), (2, 3), (3, 2)][int(rng.integers(0, 5))]
    px = rng.uniform(0, 2 * math.pi)
    py = px + rng.uniform(math.pi / 4, 3 * math.pi / 4) * rng.choice([-1, 1])
    ax = amplitude[0] * rng.uniform(0.55, 1.0)
    ay = amplitude[1] * rng.uniform(0.55, 1.0)
    u = np.linspace(0.0, 2 * math.pi, samples, endpoint=False)
    pts = np.stack([center[0] + ax * np.sin(fx * u + px),
                    center[1] + ay * np.sin(fy * u + py)], axis=1)
    closed = np.vstack([pts, pts[:1]])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    return closed, arc


def _walk(path: np.ndarray, arc: np.ndarray, start: float, speed: float, n: int) -> np.ndarray:
    """n points at constant arc-length spacing ``speed`` along a closed path."""
    total = arc[-1]
    s = (start + speed * np.arange(n)) % total if total > 0 else np.zeros(n)
    return np.stack([np.interp(s, arc, path[:, 0]), np.interp(s, arc, path[:, 1])], axis=1)


def _boxes(centers: np.ndarray, base: tuple[int, int], scales: np.ndarray) -> np.ndarray:
    """Integer boxes (x, y, w, h) around float centres."""
    w = np.maximum(np.round(base[0] * scales), 2)
    h = np.maximum(np.round(base[1] * scales), 2)
    x = np.round(centers[:, 0] - w / 2)
    y = np.round(centers[:, 1] - h / 2)
    return np.stack([x, y, w, h], axis=1)


class SyntheticFrames:
    """Frames of a synthetic sequence, rendered on demand (``len`` and indexing).

    Attributes useful to tests: ``background`` (the clean background), ``target_boxes``
    (the box of every frame, also where the target is hidden), ``occluder_box``
    ((x, y, w, h) or None) and ``occluded`` (bool per frame).
    """

    def __init__(self, *, background: np.ndarray, target: np.ndarray, target_boxes: np.ndarray,
                 distractor: np.ndarray | None, distractor_boxes: np.ndarray | None,
                 occluder: np.ndarray | None, occluder_box: tuple[int, int, int, int] | None,
                 occluded: np.ndarray, gains: np.ndarray, blur: float, noise: np.ndarray | None):
        self.background = background
        self.target = target
        self.target_boxes = target_boxes.astype(np.int64)
        self.distractor = distractor
        self.distractor_boxes = (None if distractor_boxes is None
                                 else distractor_boxes.astype(np.int64))
        self.occluder = occluder
        self.occluder_box = occluder_box
        self.occluded = occluded
        self.gains = gains
        self.blur = float(blur)
        self.noise = noise

    def __len__(self) -> int:
        return len(self.target_boxes)

    @staticmethod
    def _paste(canvas: np.ndarray, patch: np.ndarray, box) -> None:
        x, y, w, h = (int(v) for v in box)
        if patch.shape[1] != w or patch.shape[0] != h:
            patch = cv2.resize(patch, (w, h), interpolation=cv2.INTER_LINEAR)
        canvas[y:y + h, x:x + w] = patch

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f'synthetic frame {i} out of range (0..{n - 1})')
        i %= n
        frame = self.background.copy()
        if self.distractor is not None:
            self._paste(frame, self.distractor, self.distractor_boxes[i])
        self._paste(frame, self.target, self.target_boxes[i])
        if self.occluder is not None and self.occluded[i]:
            self._paste(frame, self.occluder, self.occluder_box)
        gain = float(self.gains[i])
        if gain != 1.0:
            frame = cv2.convertScaleAbs(frame, alpha=gain)
        if self.blur > 0:
            frame = cv2.GaussianBlur(frame, (0, 0), self.blur)
        if self.noise is not None:
            noise = self.noise[i % len(self.noise)]
            frame = cv2.add(frame, noise[0], dtype=cv2.CV_8U)
            frame = cv2.subtract(frame, noise[1], dtype=cv2.CV_8U)
        return frame


def make_sequence(num_frames: int = 60, size: tuple[int, int] = (320, 240), seed: int = 0, *,
                  scale_change: float = 0.0, occlusion: tuple[int, int] | None = None,
                  distractor: bool = False, illumination: float = 0.0, blur: float = 0.0,
                  speed: float = 3.0, target_size: tuple[int, int] = (48, 40),
                  noise: float = 0.0, name: str | None = None) -> Sequence:
    """A synthetic sequence with exact ground truth.

    Args:
        num_frames: number of frames.
        size: frame ``(width, height)``.
        seed: chooses the textures, the path and the phases; same arguments, same frames.
        scale_change: the object size varies smoothly by up to +-this fraction
            (one sine period over the sequence, starting at the base size).
        occlusion: ``(first, stop)``: in frames ``first <= i < stop`` a textured occluder
            covers the object completely (its ground-truth rows are NaN). ``first >= 1``.
        distractor: add a second, differently textured object of similar size (drawn
            under the target) on its own path.
        illumination: global brightness gain ``1 + illumination * sin(...)`` (period 60
            frames).
        blur: Gaussian blur sigma in pixels (0: none).
        speed: object speed along its path, pixels per frame.
        target_size: base object ``(width, height)``.
        noise: amplitude (gray levels) of a fixed bank of uniform sensor-noise fields.
        name: sequence name (default ``synthetic-<seed>``).
    """
    width, height = (int(v) for v in size)
    tw, th = (int(v) for v in target_size)
    amp = _check_scene(num_frames, width, height, target_size, scale_change, occlusion,
                       illumination, blur, speed, noise)
    rng = np.random.default_rng(seed)  # every draw below, in this order, fixes the sequence
    names = _pick_textures(rng)
    background = _texture(names['background'], (width, height), rng, crop_fraction=(0.6, 1.0))
    base_scale = 1.0 + scale_change
    target_hi = _texture(names['target'],
                         (int(round(tw * base_scale)), int(round(th * base_scale))), rng)

    center = (width / 2, height / 2)
    t = np.arange(num_frames)
    scales = 1.0 + scale_change * np.sin(2 * math.pi * t / max(num_frames, 20)) \
        if scale_change else np.ones(num_frames)
    boxes = _moving_boxes(rng, center, amp, speed, (tw, th), scales)

    distractor_patch = distractor_boxes = None
    if distractor:  # same size, its own texture and path
        distractor_patch = _texture(names['distractor'], (tw, th), rng)
        distractor_boxes = _moving_boxes(rng, center, amp, speed, (tw, th), np.ones(num_frames))

    occluded, occluder_patch, occluder_box = _occluder(boxes, occlusion, (width, height),
                                                       names['occluder'], rng)
    gains = (1.0 + illumination * np.sin(2 * math.pi * t / 60.0 + rng.uniform(0, 2 * math.pi))
             if illumination else np.ones(num_frames))
    noise_bank = None
    if noise > 0:
        amp_n = int(round(noise))
        noise_bank = rng.integers(0, amp_n + 1, size=(4, 2, height, width, 3), dtype=np.uint8)

    frames = SyntheticFrames(background=background, target=target_hi, target_boxes=boxes,
                             distractor=distractor_patch, distractor_boxes=distractor_boxes,
                             occluder=occluder_patch, occluder_box=occluder_box,
                             occluded=occluded, gains=gains, blur=blur, noise=noise_bank)
    gt = boxes.astype(np.float64)
    gt[occluded] = np.nan
    options = {'scale_change': scale_change, 'occlusion': occlusion, 'distractor': distractor,
               'illumination': illumination, 'blur': blur, 'speed': speed,
               'target_size': (tw, th), 'noise': noise}
    meta = {'format': 'synthetic', 'seed': seed, 'textures': {
        'background': names['background'], 'target': names['target'],
        'distractor': names['distractor'] if distractor else None,
        'occluder': names['occluder'] if occlusion is not None else None},
        'options': options}
    return Sequence(name or f'synthetic-{seed}', frames, gt, _scene_tags(options),
                    (width, height), meta)


def _moving_boxes(rng: np.random.Generator, center, amp, speed: float, size: tuple[int, int],
                  scales: np.ndarray) -> np.ndarray:
    """Integer boxes of an object of base ``size`` walking a random closed path at ``speed``
    px/frame from a random phase, one per entry of ``scales``."""
    path, arc = _lissajous_path(rng, center, amp)
    centers = _walk(path, arc, rng.uniform(0, arc[-1]), speed, len(scales))
    return _boxes(centers, size, scales)


def _check_scene(num_frames, width, height, target_size, scale_change, occlusion, illumination,
                 blur, speed, noise) -> tuple[float, float]:
    """ValueError for arguments no scene fits; the amplitude (x, y) of the object's path."""
    tw, th = (int(v) for v in target_size)
    if num_frames < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    if not 0.0 <= scale_change < 1.0:
        raise ValueError(f'scale_change must be in [0, 1), got {scale_change}')
    if not 0.0 <= illumination < 1.0:
        raise ValueError(f'illumination must be in [0, 1), got {illumination}')
    if blur < 0 or speed < 0 or noise < 0:
        raise ValueError('blur, speed and noise must be >= 0')
    max_w, max_h = tw * (1 + scale_change) + 2, th * (1 + scale_change) + 2
    amp = ((width - max_w) / 2 - 2, (height - max_h) / 2 - 2)
    if tw < 4 or th < 4 or amp[0] < 0 or amp[1] < 0:
        raise ValueError(f'target_size {target_size} (scale_change {scale_change}) does not '
                         f'fit a {width}x{height} frame')
    if occlusion is not None:
        first, stop = (int(v) for v in occlusion)
        if not 1 <= first < stop <= num_frames:
            raise ValueError(f'occlusion must be (first, stop) with 1 <= first < stop <= '
                             f'num_frames, got {occlusion}')
    return amp


def _pick_textures(rng: np.random.Generator) -> dict[str, str]:
    """Target, background, distractor and occluder come from four different images; the
    target and the distractor from colour images, so that they differ from the background."""
    def pick(pool, exclude):
        choices = [n for n in pool if n not in exclude]
        return choices[int(rng.integers(0, len(choices)))]

    target = pick(_COLOR_IMAGES, ())
    background = pick(_ALL_IMAGES, (target, 'moon'))
    distractor = pick(_COLOR_IMAGES, (target, background))
    occluder = pick(_ALL_IMAGES, (target, background, distractor))
    return {'target': target, 'background': background, 'distractor': distractor,
            'occluder': occluder}


def _occluder(boxes: np.ndarray, occlusion: tuple[int, int] | None, size: tuple[int, int],
              texture: str, rng: np.random.Generator):
    """(occluded per frame, occluder patch, occluder box): a patch covering every position
    of the object while it is hidden, with a small margin; no patch without ``occlusion``."""
    occluded = np.zeros(len(boxes), dtype=bool)
    if occlusion is None:
        return occluded, None, None
    width, height = size
    first, stop = (int(v) for v in occlusion)
    occluded[first:stop] = True
    hidden = boxes[first:stop]
    margin = 3
    x0 = max(0, int(hidden[:, 0].min()) - margin)
    y0 = max(0, int(hidden[:, 1].min()) - margin)
    x1 = min(width, int((hidden[:, 0] + hidden[:, 2]).max()) + margin)
    y1 = min(height, int((hidden[:, 1] + hidden[:, 3]).max()) + margin)
    return occluded, _texture(texture, (x1 - x0, y1 - y0), rng), (x0, y0, x1 - x0, y1 - y0)


def _scene_tags(o: dict) -> list[str]:
    """The attribute tags of a scene made with the options ``o`` of :func:`make_sequence`."""
    checks = [('scale-change', o['scale_change'] >= 0.1), ('fast-motion', o['speed'] >= 8),
              ('occlusion', o['occlusion'] is not None), ('distractor', o['distractor']),
              ('illumination', o['illumination'] >= 0.1), ('blur', o['blur'] >= 1.0)]
    return [tag for tag, present in checks if present]


def make_suite(count: int, num_frames: int = 60, size: tuple[int, int] = (320, 240),
               seed: int = 0) -> list[Sequence]:
    """``count`` varied sequences (plain, scale change, occlusion, distractor,
    illumination + blur, fast motion, in turn) for quick benchmarks and tests."""
    variants = [
        dict(),
        dict(scale_change=0.3),
        dict(occlusion=(num_frames // 2,
                        min(num_frames, num_frames // 2 + max(2, num_frames // 10)))),
        dict(distractor=True),
        dict(illumination=0.4, blur=1.5, noise=6),
        dict(speed=8.0, scale_change=0.15),
    ]
    sequences = []
    for k in range(count):
        options = dict(variants[k % len(variants)])
        if 'occlusion' in options and num_frames < 4:
            options.pop('occlusion')
        sequences.append(make_sequence(num_frames, size, seed + k,
                                       name=f'synthetic-{seed + k:03d}', **options))
    return sequences


@dataclass
class StreamFrame:
    """One frame of a :class:`SyntheticStream`: index into the sequence and ground truth."""

    image: np.ndarray
    index: int
    box: Box | None


class SyntheticStream:
    """Frames of a synthetic sequence forever, playing it forwards and backwards in turn.

    ``initial_box`` is the target box of the first frame (to initialise a tracker with);
    iterating yields RGB frames; :attr:`current_box` is the ground truth of the frame
    yielded last (None while the target is hidden). Keyword arguments go to
    :func:`make_sequence`.
    """

    def __init__(self, num_frames: int = 120, size: tuple[int, int] = (320, 240), seed: int = 0,
                 **options):
        self.sequence = make_sequence(num_frames, size, seed, **options)
        self.initial_box: Box = self.sequence.init_box
        self._step = 0
        self.current_index = -1

    @property
    def image_size(self) -> tuple[int, int]:
        return self.sequence.image_size

    @property
    def current_box(self) -> Box | None:
        return None if self.current_index < 0 else self.sequence.gt_box(self.current_index)

    def _index(self, step: int) -> int:
        n = len(self.sequence)
        if n == 1:
            return 0
        k = step % (2 * n - 2)
        return k if k < n else 2 * n - 2 - k

    def next_frame(self) -> StreamFrame:
        """The next frame with its index and ground truth."""
        self.current_index = self._index(self._step)
        self._step += 1
        return StreamFrame(self.sequence.frame(self.current_index), self.current_index,
                           self.current_box)

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        return self.next_frame().image

    def restart(self) -> None:
        """Start again from the first frame."""
        self._step = 0
        self.current_index = -1
