"""Generated sequences made for one tracking difficulty each (issue 14), exact ground truth.

- :func:`fast_small_target`: a small object crossing the frame on a straight line faster than
  a search window of 3x its size can follow (it moves ``speed`` px per frame);
- :func:`crossing_twin`: the target and an identical twin on straight lines in opposite
  directions, the twin passing over (or behind) the target in the middle of the sequence;
- :func:`leave_and_reenter`: the target leaves the frame at one side, is out of view for a
  while (ground truth NaN), and comes back at the opposite side.
- :func:`scrambled_target`: the target keeps its colours while its layout changes every frame
  (its tiles shuffled anew), a stand-in for a deforming target.
- :func:`panning_camera`: the camera pans fast over the ground while the target stands still
  on it (it crosses the image) or while the camera follows it (the ground moves instead).
- :func:`stretching_target`: the target's width grows while its height stays (its aspect
  ratio changes, as a vehicle turning or a person opening their arms).

Objects are drawn at integer positions and clipped at the frame's border (the ground truth is
the part inside the frame; NaN when none is). Textures are scikit-image's shipped images, as
in :mod:`.synthetic`.
"""
from __future__ import annotations

import numpy as np

from .sequences import Sequence
from .synthetic import _texture


class _Frames:
    """Frames of a background with objects (patch, boxes per frame) drawn in order, clipped."""

    def __init__(self, background: np.ndarray, objects: list[tuple[np.ndarray, np.ndarray]]):
        self.background = background
        self.objects = objects

    def __len__(self) -> int:
        return len(self.objects[0][1])

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        frame = self.background.copy()
        height, width = frame.shape[:2]
        for patch, boxes in self.objects:
            x, y, w, h = (int(v) for v in boxes[i])
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
            if x1 > x0 and y1 > y0:
                frame[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]
        return frame


def _line(start, velocity, n: int, size) -> np.ndarray:
    t = np.arange(n)[:, None]
    centers = np.asarray(start, float)[None] + t * np.asarray(velocity, float)[None]
    w, h = size
    return np.stack([np.round(centers[:, 0] - w / 2), np.round(centers[:, 1] - h / 2),
                     np.full(n, w), np.full(n, h)], axis=1).astype(np.float64)


def _visible_gt(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """The boxes clipped to the frame; NaN rows where less than half of the object shows."""
    gt = boxes.copy()
    x0 = np.clip(boxes[:, 0], 0, width)
    y0 = np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    gt[:, 0], gt[:, 1], gt[:, 2], gt[:, 3] = x0, y0, x1 - x0, y1 - y0
    shown = (gt[:, 2] * gt[:, 3]) >= 0.5 * boxes[:, 2] * boxes[:, 3]
    gt[~shown] = np.nan
    return gt


def _scene(seed: int, size, target_size, background='gravel', target='astronaut'):
    rng = np.random.default_rng(seed)
    bg = _texture(background, size, rng, crop_fraction=(0.6, 1.0))
    return rng, bg, _texture(target, target_size, rng)


def fast_small_target(num_frames: int = 24, size=(320, 240), seed: int = 0, *,
                      target_size=(12, 12), speed: float = 15.0,
                      start_speed: float | None = None) -> Sequence:
    """A ``target_size`` object moving along a diagonal line, ``speed`` px per frame (or
    speeding up evenly from ``start_speed`` to ``speed`` over the sequence)."""
    width, height = size
    _, bg, patch = _scene(seed, size, target_size)
    direction = np.array([0.8, 0.6])
    steps = np.linspace(start_speed if start_speed is not None else speed, speed,
                        num_frames - 1)
    travel = np.concatenate([[0.0], np.cumsum(steps)])
    start = np.array([width / 2, height / 2]) - direction * travel[-1] / 2
    centers = start[None] + travel[:, None] * direction[None]
    w, h = target_size
    boxes = np.stack([np.round(centers[:, 0] - w / 2), np.round(centers[:, 1] - h / 2),
                      np.full(num_frames, w), np.full(num_frames, h)], axis=1).astype(float)
    return Sequence(f'fast-small-{seed}', _Frames(bg, [(patch, boxes)]),
                    _visible_gt(boxes, width, height), ['small-target', 'fast-motion'],
                    (width, height), {'format': 'scenario', 'seed': seed, 'speed': speed})


def crossing_twin(num_frames: int = 24, size=(320, 240), seed: int = 0, *,
                  target_size=(32, 32), speed: float = 10.0, twin_on_top: bool = True
                  ) -> Sequence:
    """The target moving right, its twin (the same patch) moving left on the same row; they
    meet at frame ``num_frames // 2``, where the twin hides the target (``twin_on_top``) or
    passes behind it."""
    width, height = size
    _, bg, patch = _scene(seed, size, target_size)
    meet = num_frames // 2
    cx, cy = width / 2, height / 2
    target = _line((cx - speed * meet, cy), (speed, 0.0), num_frames, target_size)
    twin = _line((cx + speed * meet, cy), (-speed, 0.0), num_frames, target_size)
    drawn = [(patch, target), (patch, twin)] if twin_on_top else [(patch, twin), (patch, target)]
    return Sequence(f'crossing-twin-{seed}', _Frames(bg, drawn),
                    _visible_gt(target, width, height), ['distractor'], (width, height),
                    {'format': 'scenario', 'seed': seed, 'twin_boxes': twin, 'meet': meet})


def leave_and_reenter(num_frames: int = 40, size=(320, 240), seed: int = 0, *,
                      target_size=(32, 32), speed: float = 8.0, away: int = 8) -> Sequence:
    """The target moves right out of the frame, is away for ``away`` frames, then enters
    again from the left edge on another row and moves right."""
    width, height = size
    _, bg, patch = _scene(seed, size, target_size)
    w = target_size[0]
    out_at = int(np.ceil((width + w / 2 - width * 0.75) / speed))  # frames to leave fully
    first = _line((width * 0.75, height * 0.3), (speed, 0.0), out_at, target_size)
    n_back = num_frames - out_at - away
    hidden = np.tile(np.array([[2.0 * width, 2.0 * height, w, target_size[1]]]), (away, 1))
    back = _line((-w / 2, height * 0.7), (speed, 0.0), n_back, target_size)
    boxes = np.vstack([first, hidden, back])
    return Sequence(f'leave-reenter-{seed}', _Frames(bg, [(patch, boxes)]),
                    _visible_gt(boxes, width, height), ['occlusion'], (width, height),
                    {'format': 'scenario', 'seed': seed, 'back_from': out_at + away})


class _ScrambledFrames(_Frames):
    """Like :class:`_Frames` for one object whose patch is cut in ``blocks`` x ``blocks``
    tiles and the tiles shuffled anew on every frame: the same colours, another layout."""

    def __init__(self, background: np.ndarray, patch: np.ndarray, boxes: np.ndarray,
                 blocks: int, seed: int):
        super().__init__(background, [(patch, boxes)])
        self.blocks, self.seed = blocks, seed

    def __getitem__(self, i: int) -> np.ndarray:
        patch, boxes = self.objects[0]
        h, w = patch.shape[:2]
        bh, bw = h // self.blocks, w // self.blocks
        tiles = [patch[r * bh:(r + 1) * bh, c * bw:(c + 1) * bw]
                 for r in range(self.blocks) for c in range(self.blocks)]
        order = np.random.default_rng((self.seed, i % len(self))).permutation(len(tiles)) \
            if i % len(self) else np.arange(len(tiles))
        rows = [np.concatenate([tiles[order[r * self.blocks + c]] for c in range(self.blocks)], 1)
                for r in range(self.blocks)]
        scrambled = patch.copy()
        scrambled[:bh * self.blocks, :bw * self.blocks] = np.concatenate(rows, 0)
        return _Frames(self.background, [(scrambled, boxes)])[i]


def scrambled_target(num_frames: int = 24, size=(320, 240), seed: int = 0, *,
                     target_size=(32, 32), speed: float = 4.0, blocks: int = 4) -> Sequence:
    """A target whose colours stay and whose layout does not: its patch is cut in ``blocks`` x
    ``blocks`` tiles shuffled anew every frame (frame 0 unshuffled), moving right ``speed``
    px per frame on a background of other colours; a stand-in for a deforming target."""
    width, height = size
    _, bg, patch = _scene(seed, size, target_size)
    boxes = _line((width * 0.3, height / 2), (speed, 0.0), num_frames, target_size)
    return Sequence(f'scrambled-{seed}', _ScrambledFrames(bg, patch, boxes, blocks, seed),
                    _visible_gt(boxes, width, height), ['deformation'], (width, height),
                    {'format': 'scenario', 'seed': seed, 'blocks': blocks})


class _PannedFrames:
    """Windows of a larger background (the camera's view moving by ``offsets``), with objects
    drawn in image coordinates on top."""

    def __init__(self, world: np.ndarray, offsets: np.ndarray, size,
                 objects: list[tuple[np.ndarray, np.ndarray]]):
        self.world, self.offsets, self.size, self.objects = world, offsets, size, objects

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        (ox, oy), (width, height) = self.offsets[i], self.size
        return _Frames(self.world[oy:oy + height, ox:ox + width], self.objects)[i]


def panning_camera(num_frames: int = 30, size=(640, 240), seed: int = 0, *,
                   target_size=(24, 24), pan: float = 16.0, follow: bool = False) -> Sequence:
    """A camera panning left to right by ``pan`` px per frame over a textured ground. The
    target stands still on the ground (``follow=False``: it crosses the image from right to
    left at ``pan`` px per frame, as a parked vehicle under a drone that pans) or the camera
    follows it (``follow=True``: it stays in the middle of the image while the ground moves)."""
    width, height = size
    rng, _, patch = _scene(seed, size, target_size)
    travel = int(np.ceil(pan * (num_frames - 1)))
    world = _texture('gravel', (width + travel, height), rng, crop_fraction=(0.6, 1.0))
    offsets = np.stack([np.round(pan * np.arange(num_frames)).astype(int),
                        np.zeros(num_frames, int)], axis=1)
    if follow:
        boxes = _line((width / 2, height / 2), (0.0, 0.0), num_frames, target_size)
    else:  # still on the ground: the image position moves against the camera
        start = (width - 1.5 * target_size[0], height / 2)  # enters from the right side
        boxes = _line(start, (0.0, 0.0), num_frames, target_size)
        boxes[:, 0] -= offsets[:, 0]
    return Sequence(f'panning-{"follow" if follow else "still"}-{seed}',
                    _PannedFrames(world, offsets, size, [(patch, boxes)]),
                    _visible_gt(boxes, width, height), ['fast-motion', 'camera-motion'],
                    (width, height), {'format': 'scenario', 'seed': seed, 'pan': pan,
                                      'follow': follow})


class _StretchedFrames(_Frames):
    """Like :class:`_Frames` for one object whose patch is resized to each frame's box."""

    def __getitem__(self, i: int) -> np.ndarray:
        import cv2
        patch, boxes = self.objects[0]
        w, h = int(boxes[i][2]), int(boxes[i][3])
        resized = cv2.resize(patch, (w, h), interpolation=cv2.INTER_AREA)
        return _Frames(self.background, [(resized, boxes)])[i]


def stretching_target(num_frames: int = 24, size=(320, 240), seed: int = 0, *,
                      target_size=(40, 40), stretch: float = 1.8, speed: float = 2.0
                      ) -> Sequence:
    """A target moving right ``speed`` px per frame whose width grows evenly to ``stretch``
    times its first width while its height stays: the aspect ratio changes by ``stretch``."""
    width, height = size
    w0, h0 = target_size
    _, bg, patch = _scene(seed, size, (int(round(w0 * stretch)), h0))
    widths = np.round(np.linspace(w0, w0 * stretch, num_frames))
    cx = width * 0.4 + speed * np.arange(num_frames)
    boxes = np.stack([np.round(cx - widths / 2), np.full(num_frames, round(height / 2 - h0 / 2)),
                      widths, np.full(num_frames, h0)], axis=1).astype(np.float64)
    return Sequence(f'stretching-{seed}', _StretchedFrames(bg, [(patch, boxes)]),
                    _visible_gt(boxes, width, height), ['aspect-change'], (width, height),
                    {'format': 'scenario', 'seed': seed, 'stretch': stretch})
