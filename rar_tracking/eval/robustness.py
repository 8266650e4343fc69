"""Robustness to the initial box: every sequence also started from slightly moved boxes.

A one-pass evaluation starts each tracker once, from the ground truth of frame 0. On some
sequences the outcome is on a knife's edge: the untrained RAR tracker keeps or loses Animal3
depending only on how a CPU's convolution kernels round (docs/evaluation.md, "The same code on
another CPU"), which moves the mean of the 11 shared sequences by 0.03-0.04. Averaging over a
few starts, as OTB's spatial robustness evaluation (SRE) does with shifts and scalings of the
first box, measures what a setting does rather than which side of such an edge one run fell.

:func:`perturbed_starts` makes, for a sequence, copies whose frame-0 box (the one trackers are
initialised with; frame 0 is never scored) is moved by ``fraction`` of the target's width or
height, or scaled by ``1 +- fraction``, in a fixed order, so that runs are comparable. OTB's SRE
uses 0.1 and twelve starts; the default here is smaller (0.05) because the point is to sample
the edge, not to test large initialisation errors, and every start costs a whole pass.

May import: numpy and :mod:`rar_tracking.data`.
"""
from __future__ import annotations

import re

import numpy as np

from ..data import Sequence

# (shift in widths, shift in heights, scale step), applied in this order.
PERTURBATIONS = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1),
                 (1, 1, 0), (-1, -1, 0))
MAX_STARTS = len(PERTURBATIONS)
SEPARATOR = '~'  # a copy of sequence 'Girl' started from perturbation k is named 'Girl~k'
_COPY_NAME = re.compile(re.escape(SEPARATOR) + r'\d+$')


def is_started_copy(name: str) -> bool:
    """Whether ``name`` is that of a copy made by :func:`perturbed_starts`."""
    return bool(_COPY_NAME.search(name))


def perturbed_starts(sequence: Sequence, count: int, fraction: float = 0.05) -> list[Sequence]:
    """``count`` copies of ``sequence`` (0 <= count <= MAX_STARTS), the k-th initialised from
    the ground truth of frame 0 moved as ``PERTURBATIONS[k - 1]`` says, by ``fraction`` of the
    box's size; frames, ground truth of the scored frames and tags are the original's."""
    if not 0 <= count <= MAX_STARTS:
        raise ValueError(f'perturbed starts: 0 to {MAX_STARTS}, got {count}')
    if not 0.0 < fraction < 0.5:
        raise ValueError(f'perturbation size must be in (0, 0.5), got {fraction}')
    box = sequence.init_box
    cx, cy = box.center
    copies = []
    for k, (sx, sy, ss) in enumerate(PERTURBATIONS[:count], start=1):
        scale = 1.0 + ss * fraction
        w, h = box.w * scale, box.h * scale
        x = cx + sx * fraction * box.w - w / 2.0
        y = cy + sy * fraction * box.h - h / 2.0
        gt = np.array(sequence.gt, copy=True)
        gt[0] = (x, y, w, h)
        meta = dict(sequence.meta, start_of=sequence.name,
                    start_perturbation={'shift_w': sx * fraction, 'shift_h': sy * fraction,
                                        'scale': scale})
        copies.append(Sequence(f'{sequence.name}{SEPARATOR}{k}', sequence.frames, gt,
                               sequence.tags, sequence.image_size, meta))
    return copies
