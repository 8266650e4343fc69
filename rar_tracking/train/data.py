"""Training samples: the clip sampler, jittered crops and labels, the torch Dataset.

A training sample is a *clip* of one object: a template frame and ``T`` search frames that
follow it in time (each within ``max_gap`` frames of the previous one, every one with a
visible target), so that the ConvLSTM of the attention module sees a short track, as in
tracking. The template crop is exactly the tracker's ``initialize`` crop; each search crop is
the tracker's search crop around a jittered position and size (the previous frame's estimate
is never exact), with photometric jitter, and its Gaussian label sits where the target really
is, in feature cells. Where the sequences come from: :mod:`.sources`.

May import: numpy, OpenCV, torch, :mod:`rar_tracking.data`, :mod:`rar_tracking.imaging`,
:mod:`rar_tracking.geometry` and :mod:`rar_tracking.errors` (not the tracker, not ROS).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from ..data.sequences import FrameReadError, Sequence
from ..errors import InvalidBoxError
from ..geometry import Geometry, shifted_label
from ..imaging import crop_square, validate_box

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- clip sampler
@dataclass
class ClipSettings:
    """search_frames: T search frames after the template; max_gap: largest frame-index step
    between consecutive frames of a clip; min_box: smallest usable box side in pixels."""

    search_frames: int = 3
    max_gap: int = 10
    min_box: float = 2.0


class ClipSampler:
    """Draws clips (template frame, then T search frames) of one object.

    A frame is usable when its ground truth is visible (no NaN) and both box sides are at
    least ``min_box``. A clip is T + 1 usable frames of one sequence in increasing order,
    consecutive ones at most ``max_gap`` frames apart. Which usable frames can still start a
    clip of the needed length is precomputed per sequence, so every draw succeeds at once;
    sequences without any such clip are left out (``skipped`` names them).
    """

    def __init__(self, sequences: list[Sequence], settings: ClipSettings = ClipSettings(),
                 weights=None):
        if settings.search_frames < 1 or settings.max_gap < 1:
            raise ValueError('search_frames and max_gap must be >= 1')
        self.settings = settings
        t = settings.search_frames
        weights = np.ones(len(sequences)) if weights is None else np.asarray(weights, float)
        self.sequences, self.frames, self.chains, kept_weights = [], [], [], []
        self.skipped: list[str] = []
        for seq, weight in zip(sequences, weights):
            gt = seq.gt
            usable = np.isfinite(gt).all(axis=1)
            big = (gt[usable, 2] >= settings.min_box) & (gt[usable, 3] >= settings.min_box)
            usable[usable] &= big
            frames = np.flatnonzero(usable)
            chains = self._chains(frames, settings.max_gap, t)
            if not chains[t].any():
                self.skipped.append(seq.name)
                continue
            self.sequences.append(seq)
            self.frames.append(frames)
            self.chains.append(chains)
            kept_weights.append(weight)
        if not self.sequences:
            raise ValueError(f'no sequence has {t + 1} visible frames with gaps <= '
                             f'{settings.max_gap} (skipped: {self.skipped[:5]})')
        self.probabilities = np.array(kept_weights) / np.sum(kept_weights)

    @staticmethod
    def _chains(frames: np.ndarray, gap: int, t: int) -> list[np.ndarray]:
        """chains[k][p]: a clip of k more frames can follow usable frame ``frames[p]``."""
        ends = np.searchsorted(frames, frames + gap, side='right')  # window: p+1 .. ends-1
        chains = [np.ones(len(frames), dtype=bool)]
        for _ in range(t):
            csum = np.concatenate([[0], np.cumsum(chains[-1])])
            chains.append(csum[ends] - csum[np.arange(len(frames)) + 1] > 0)
        return chains

    def __len__(self) -> int:
        return len(self.sequences)

    def sample(self, rng: np.random.Generator) -> tuple[int, list[int]]:
        """(sequence index in ``self.sequences``, [template frame, search frames...])."""
        s = int(rng.choice(len(self.sequences), p=self.probabilities))
        frames, chains = self.frames[s], self.chains[s]
        t = self.settings.search_frames
        pos = int(rng.choice(np.flatnonzero(chains[t])))
        picked = [pos]
        for k in range(t - 1, -1, -1):
            hi = int(np.searchsorted(frames, frames[pos] + self.settings.max_gap, side='right'))
            window = np.arange(pos + 1, hi)
            pos = int(rng.choice(window[chains[k][window]]))
            picked.append(pos)
        return s, [int(frames[p]) for p in picked]


# ---------------------------------------------------------------------------- crops
@dataclass
class AugmentSettings:
    """Jitter of the search crops.

    shift: the crop centre moves by up to this fraction of sqrt(w*h) along x and y;
    scale: the crop side is multiplied by a log-uniform factor in [1/(1+scale), 1+scale];
    colour: per-channel gains and a brightness factor in [1-colour, 1+colour];
    blur_prob / blur_sigma: chance and largest sigma (px) of a Gaussian blur;
    gray_prob: chance of a grayscale search crop;
    twin_prob: chance that a clip's search frames hold a look-alike of the target (see
    :func:`paste_twin`): the target as it looked in the template frame, pasted beside it at
    ``twin_gap_min`` to ``twin_gap_max`` target widths and heights in one of the eight
    directions that keep it in the search crop, the same place relative to the target in every
    search frame of the clip (``twin_gap_min`` below 1: over part of the target, as one
    passing in front of it). The label stays on the target, so the loss of Eq. 12 asks for no
    response on the look-alike.
    scale_label: std, over the log of a search crop's scale jitter, of its label's height: a
    crop scaled by s gets the Gaussian label times exp(-(ln s)^2 / (2 scale_label^2)), so Eq. 12
    asks for a lower peak where the crop's size is wrong, which is what the tracker's scale
    pyramid compares (0: every label peaks at 1 whatever the crop's scale, so the loss rewards
    answering alike at every scale). Equal to ``label_sigma`` it is consistent with the
    spatial label: a crop 1 + d too large overlaps the target about as much as one shifted by
    d target sizes, and both get about the same height.
    """

    shift: float = 0.4
    scale: float = 0.1
    colour: float = 0.2
    blur_prob: float = 0.1
    blur_sigma: float = 1.5
    gray_prob: float = 0.05
    twin_prob: float = 0.0
    twin_gap_min: float = 1.0
    twin_gap_max: float = 1.3
    scale_label: float = 0.0

    def __post_init__(self):
        if self.scale_label < 0:
            raise ValueError(f'augment.scale_label must be >= 0 (0: off), got {self.scale_label}')
        if not 0.0 <= self.twin_prob <= 1.0:
            raise ValueError(f'augment.twin_prob must be in [0, 1], got {self.twin_prob}')
        if not 0.5 <= self.twin_gap_min <= self.twin_gap_max:
            raise ValueError('augment: 0.5 <= twin_gap_min <= twin_gap_max is needed (a '
                             'look-alike closer than half a target size hides it), got '
                             f'{self.twin_gap_min}, {self.twin_gap_max}')

    @classmethod
    def none(cls) -> 'AugmentSettings':
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


# the eight directions a look-alike can stand in, (x, y) in target widths and heights
_TWIN_DIRECTIONS = [(sx, sy) for sy in (-1, 0, 1) for sx in (-1, 0, 1) if (sx, sy) != (0, 0)]


def draw_twin(image: np.ndarray, box, geometry: Geometry, aug: AugmentSettings,
              rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float]] | None:
    """A look-alike for one clip: the target's pixels in ``box`` of the template frame
    ``image`` and where it stands relative to the target, (u, v) in target widths and heights.

    The distance is drawn from [``twin_gap_min``, ``twin_gap_max``] along x or y (from 1 on it
    never covers the target; below 1 it is pasted over part of it, a look-alike passing in
    front), the direction from those of the eight that keep the look-alike's centre in the
    central 90 % of a search crop: beside a tall target, above or below a wide one, as people
    walk beside each other and cars queue. None when the box holds no pixel of the image.
    """
    h_img, w_img = image.shape[:2]
    x0, y0 = max(int(math.floor(box.x)), 0), max(int(math.floor(box.y)), 0)
    x1 = min(int(math.ceil(box.x + box.w)), w_img)
    y1 = min(int(math.ceil(box.y + box.h)), h_img)
    if x1 <= x0 or y1 <= y0:
        return None
    gap = float(rng.uniform(aug.twin_gap_min, aug.twin_gap_max))
    w, h = target_size(box, geometry)
    reach = 0.45 * geometry.side(w, h)
    directions = [(sx, sy) for sx, sy in _TWIN_DIRECTIONS
                  if abs(sx) * gap * w <= reach and abs(sy) * gap * h <= reach]
    if not directions:  # possible only for a gap over 1.35 target sizes
        return None
    sx, sy = directions[int(rng.integers(len(directions)))]
    return image[y0:y1, x0:x1].copy(), (sx * gap, sy * gap)


def paste_twin(image: np.ndarray, box, geometry: Geometry, patch: np.ndarray,
               place: tuple[float, float]) -> np.ndarray:
    """A copy of ``image`` with ``patch`` resized to the target's size (as the tracker sees
    it, :func:`target_size`) and pasted with its centre at the target's centre plus
    ``place`` (u, v) target sizes; clipped at the image's borders."""
    w, h = target_size(box, geometry)
    cx, cy = box.center
    pw, ph = max(int(round(w)), 1), max(int(round(h)), 1)
    x0 = int(round(cx + place[0] * w - pw / 2.0))
    y0 = int(round(cy + place[1] * h - ph / 2.0))
    out = image.copy()
    h_img, w_img = out.shape[:2]
    xs, ys = max(x0, 0), max(y0, 0)
    xe, ye = min(x0 + pw, w_img), min(y0 + ph, h_img)
    if xe <= xs or ye <= ys:
        return out
    resized = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_LINEAR)
    out[ys:ye, xs:xe] = resized[ys - y0:ye - y0, xs - x0:xe - x0]
    return out


def target_size(box, geometry: Geometry) -> tuple[float, float]:
    """The tracker's size of a box: each side at least ``min_size``."""
    return max(box.w, geometry.min_size), max(box.h, geometry.min_size)


@dataclass
class Crop:
    """A crop with the tracker's geometry: image (S, S, 3) uint8, side in image pixels,
    the target size (w, h) in pixels as the tracker sees it, and the target centre's offset
    (dy, dx) from the crop centre in feature cells."""

    image: np.ndarray
    side: float
    size: tuple[float, float]
    offset: tuple[float, float]


def crop_target(image: np.ndarray, box, geometry: Geometry, shift=(0.0, 0.0), scale=1.0
                ) -> Crop:
    """The tracker's crop of the target in ``box``, moved by ``shift`` (x, y) px and scaled.

    The box is clipped to the image and its sides raised to ``min_size`` as
    ``RARTracker.initialize`` does (InvalidBoxError when it does not overlap the image). The
    crop is centred at the box centre + ``shift`` with side
    ``scale * search_area_factor * sqrt(w * h)``.
    """
    h_img, w_img = image.shape[:2]
    box = validate_box(box, w_img, h_img)
    w, h = target_size(box, geometry)
    cx, cy = box.center
    side = geometry.side(w, h) * scale
    crop = crop_square(image, cx + shift[0], cy + shift[1], side, geometry.crop_size)
    cells = geometry.cells_per_pixel(side)
    return Crop(crop, side, (w, h), (-shift[1] * cells, -shift[0] * cells))


def photometric(crop: np.ndarray, rng: np.random.Generator, aug: AugmentSettings) -> np.ndarray:
    """Colour gains, brightness, blur and grayscale jitter of one RGB uint8 crop."""
    out = crop.astype(np.float32)
    if aug.colour > 0:
        gains = rng.uniform(1 - aug.colour, 1 + aug.colour, size=3) * \
            rng.uniform(1 - aug.colour, 1 + aug.colour)
        out *= gains.astype(np.float32)
    if aug.blur_prob > 0 and rng.random() < aug.blur_prob:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, max(aug.blur_sigma, 0.5))))
    if aug.gray_prob > 0 and rng.random() < aug.gray_prob:
        gray = out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        out = np.repeat(gray[:, :, None], 3, axis=2)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class ClipDataset(torch.utils.data.Dataset):
    """Clips with the tracker's geometry; item ``(epoch, i)`` (or ``i``: epoch 0).

    An item is a pure function of (seed, epoch, i), whatever the worker or the process, which
    is what makes a resumed run see the same data as an uninterrupted one. Keys:
    ``template`` uint8 (3, S, S); ``search`` uint8 (T, 3, S, S); ``label`` float32 (T, F, F)
    with peaks at ``offset`` float32 (T, 2) = (dy, dx) cells; ``twin_offset`` float32 (T, 2)
    the look-alike's centre in the same cells (NaN without one, see ``twin_prob``);
    ``box_cells`` float32 (2,) the template box (w, h) in cells (float64); ``frames`` int64
    (T+1,); ``sequence`` the name.
    """

    def __init__(self, sampler: ClipSampler, geometry: Geometry, length: int,
                 augment: AugmentSettings = AugmentSettings(), seed: int = 0):
        self.sampler, self.geometry, self.length = sampler, geometry, int(length)
        self.augment, self.seed = augment, int(seed)
        self._warned: set[str] = set()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index) -> dict[str, Any]:
        epoch, i = index if isinstance(index, tuple) else (0, index)
        rng = np.random.default_rng([self.seed, int(epoch), int(i)])
        for _ in range(20):
            s, frames = self.sampler.sample(rng)
            seq = self.sampler.sequences[s]
            try:
                return self._make(seq, frames, rng)
            except (InvalidBoxError, FrameReadError) as exc:  # box off the image, bad file
                if seq.name not in self._warned:
                    self._warned.add(seq.name)
                    log.warning('skipping a clip of %s: %s', seq.name, exc)
        raise RuntimeError(f'20 clips in a row could not be read (last: {seq.name})')

    def _make(self, seq: Sequence, frames: list[int], rng: np.random.Generator) -> dict:
        g, aug = self.geometry, self.augment
        first, first_box = seq.frame(frames[0]), seq.gt_box(frames[0])
        template = crop_target(first, first_box, g)
        box_cells = g.box_cells(*template.size, template.side)
        twin = None  # drawn only when asked for, so that other settings keep their data
        if aug.twin_prob > 0 and rng.random() < aug.twin_prob:
            twin = draw_twin(first, first_box, g, aug, rng)
        crops, offsets, twins, heights = [], [], [], []
        for f in frames[1:]:
            image, box = seq.frame(f), seq.gt_box(f)
            if twin is not None:
                image = paste_twin(image, box, g, *twin)
            w, h = target_size(box, g)
            extent = math.sqrt(w * h)
            shift = rng.uniform(-aug.shift, aug.shift, size=2) * extent if aug.shift else (0, 0)
            scale = math.exp(rng.uniform(-1, 1) * math.log1p(aug.scale)) if aug.scale else 1.0
            crop = crop_target(image, box, g, tuple(shift), scale)
            crops.append(photometric(crop.image, rng, aug))
            offsets.append(crop.offset)
            heights.append(math.exp(-0.5 * (math.log(scale) / aug.scale_label) ** 2)
                           if aug.scale_label > 0 else 1.0)
            if twin is None:
                twins.append((math.nan, math.nan))
            else:  # where paste_twin put its centre, in this crop's cells
                u, v = twin[1]
                cells = g.cells_per_pixel(crop.side)
                twins.append(((v * h - shift[1]) * cells, (u * w - shift[0]) * cells))
        offsets = torch.tensor(offsets, dtype=torch.float32)
        return {
            'template': torch.from_numpy(template.image).permute(2, 0, 1).contiguous(),
            'search': torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous(),
            'label': shifted_label(g.feature_size, g.sigma, offsets[:, 0], offsets[:, 1])
            * torch.tensor(heights, dtype=torch.float32)[:, None, None],
            'offset': offsets,
            'twin_offset': torch.tensor(twins, dtype=torch.float32),
            'box_cells': torch.tensor(box_cells, dtype=torch.float64),
            'frames': torch.tensor(frames, dtype=torch.int64),
            'sequence': seq.name,
        }


class EpochSampler(torch.utils.data.Sampler):
    """Indices ``(epoch, i)`` from a base sampler (e.g. DistributedSampler) for one epoch,
    leaving out the first ``skip`` (the part of the epoch a resumed run already did)."""

    def __init__(self, base, epoch: int, skip: int = 0):
        self.base, self.epoch, self.skip = base, int(epoch), int(skip)
        if hasattr(base, 'set_epoch'):
            base.set_epoch(self.epoch)

    def __iter__(self):
        for k, i in enumerate(self.base):
            if k >= self.skip:
                yield self.epoch, int(i)

    def __len__(self) -> int:
        return max(0, len(self.base) - self.skip)


def worker_init(_worker_id: int) -> None:
    """DataLoader workers: one thread each for torch and OpenCV (the cores are shared)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
