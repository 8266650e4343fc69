"""One-pass evaluation (OPE) metrics in the style of the OTB toolkit.

Per frame: intersection over union (IoU) and centre location error of the predicted box
against the ground truth. Per sequence:

- success curve: share of scored frames with ``IoU >= t`` for 21 thresholds
  ``t = 0, 0.05, ..., 1`` (at ``t = 0`` a frame needs ``IoU > 0``); its AUC is the mean
  of the curve, as in the OTB toolkit. The toolkit counts ``IoU > t`` everywhere, which
  differs only for IoUs exactly on a threshold (a perfect tracker scores 1 here, 20/21 there;
  integer boxes hit 0.5 now and then). That strict variant is reported as ``auc_otb``;
- precision curve: share of frames with centre error ``<= d`` for ``d = 0..50`` px, and
  precision at 20 px (P@20);
- normalized precision (LaSOT): centre error divided by the ground-truth width and height
  (per axis), curve over ``0..0.5`` and its value at 0.2 (NP@0.2);
- fps of the tracker's ``track`` calls.

Scored frames: every frame after the first (the tracker is initialised on frame 0) whose
ground-truth row is finite. A predicted box that is not finite or has no area counts as a
miss (IoU 0, infinite centre error).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..boxes import as_boxes as _as_boxes, iou, valid_boxes as _valid

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_PRECISION_THRESHOLDS = np.linspace(0.0, 0.5, 51)
PRECISION_AT = 20.0
NORM_PRECISION_AT = 0.2


def center_error(pred, gt, normalized: bool = False) -> np.ndarray:
    """Per-row distance between box centres in pixels (``normalized``: with each axis
    divided by the ground-truth width/height); ``inf`` for an invalid predicted box."""
    p, g = _as_boxes(pred), _as_boxes(gt)
    if p.shape != g.shape:
        raise ValueError(f'{len(p)} predicted boxes for {len(g)} ground-truth rows')
    dx = (p[:, 0] + p[:, 2] / 2) - (g[:, 0] + g[:, 2] / 2)
    dy = (p[:, 1] + p[:, 3] / 2) - (g[:, 1] + g[:, 3] / 2)
    if normalized:
        with np.errstate(divide='ignore', invalid='ignore'):
            dx, dy = dx / g[:, 2], dy / g[:, 3]
    err = np.hypot(dx, dy)
    err[~_valid(p)] = np.inf
    return err


def success_curve(ious, thresholds=SUCCESS_THRESHOLDS) -> np.ndarray:
    """Share of frames with ``IoU >= t`` (and ``IoU > 0``) for each threshold."""
    ious = np.asarray(ious, dtype=np.float64)
    if ious.size == 0:
        return np.full(len(thresholds), np.nan)
    hit = ious[None, :] >= np.asarray(thresholds)[:, None]
    hit &= ious[None, :] > 0
    return hit.mean(axis=1)


def precision_curve(errors, thresholds=PRECISION_THRESHOLDS) -> np.ndarray:
    """Share of frames with centre error ``<= d`` for each threshold ``d``."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        return np.full(len(thresholds), np.nan)
    return (errors[None, :] <= np.asarray(thresholds)[:, None]).mean(axis=1)


def _at(curve: np.ndarray, thresholds: np.ndarray, value: float) -> float:
    return float(curve[int(np.argmin(np.abs(thresholds - value)))])


@dataclass
class SequenceScore:
    """Scores of one tracker on one sequence."""

    name: str
    tags: list[str]
    frames: int  # frames in the sequence (tracked)
    scored: int  # frames that count (after the first, with ground truth)
    auc: float
    auc_otb: float  # strict IoU > t at every threshold, exactly as the OTB toolkit
    precision: float  # at 20 px
    norm_precision: float  # at 0.2
    mean_iou: float
    fps: float
    success_curve: np.ndarray = field(repr=False)
    precision_curve: np.ndarray = field(repr=False)
    norm_precision_curve: np.ndarray = field(repr=False)
    ious: np.ndarray = field(repr=False)  # per frame, NaN where not scored
    track_calls: int = 0  # timed track calls
    track_seconds: float = 0.0  # their total time

    def as_dict(self, curves: bool = True) -> dict:
        d = {'name': self.name, 'tags': list(self.tags), 'frames': self.frames,
             'scored': self.scored, 'auc': self.auc, 'auc_otb': self.auc_otb,
             'precision': self.precision,
             'norm_precision': self.norm_precision, 'mean_iou': self.mean_iou, 'fps': self.fps,
             'track_calls': self.track_calls, 'track_seconds': self.track_seconds}
        if curves:
            d['success_curve'] = _jsonable(self.success_curve)
            d['precision_curve'] = _jsonable(self.precision_curve)
            d['norm_precision_curve'] = _jsonable(self.norm_precision_curve)
        return d


def _jsonable(array) -> list:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in np.asarray(array)]


def evaluate_sequence(pred, gt, times=None, *, name: str = '', tags: Iterable[str] = (),
                      skip_first: bool = True) -> SequenceScore:
    """Score predicted boxes (N x 4) against the ground truth (N x 4, NaN rows unscored).

    ``times``: seconds spent in each ``track`` call (frames after the first; NaN or a
    length of N with frame 0 ignored both work); gives ``fps``.
    """
    p, g = _as_boxes(pred), _as_boxes(gt)
    if len(p) != len(g):
        raise ValueError(f'{name}: {len(p)} predicted boxes for {len(g)} ground-truth rows')
    scored = np.isfinite(g).all(axis=1)
    if skip_first and len(scored):
        scored[0] = False
    ious_all = iou(p, g)
    errs = center_error(p[scored], g[scored])
    nerrs = center_error(p[scored], g[scored], normalized=True)
    ious = ious_all[scored]
    sc = success_curve(ious)
    pc = precision_curve(errs)
    npc = precision_curve(nerrs, NORM_PRECISION_THRESHOLDS)
    fps, calls, seconds = float('nan'), 0, 0.0
    if times is not None:
        t = np.asarray(times, dtype=np.float64)
        if len(t) == len(p):
            t = t[1:]
        t = t[np.isfinite(t)]
        calls, seconds = int(t.size), float(t.sum())
        if calls and seconds > 0:
            fps = calls / seconds
    per_frame = np.full(len(p), np.nan)
    per_frame[scored] = ious
    return SequenceScore(
        name=name, tags=list(tags), frames=len(p), scored=int(scored.sum()),
        auc=float(np.mean(sc)) if ious.size else float('nan'),
        auc_otb=float(np.mean(ious[None, :] > SUCCESS_THRESHOLDS[:, None])) if ious.size
        else float('nan'),
        precision=_at(pc, PRECISION_THRESHOLDS, PRECISION_AT),
        norm_precision=_at(npc, NORM_PRECISION_THRESHOLDS, NORM_PRECISION_AT),
        mean_iou=float(ious.mean()) if ious.size else float('nan'), fps=fps,
        success_curve=sc, precision_curve=pc, norm_precision_curve=npc, ious=per_frame,
        track_calls=calls, track_seconds=seconds)


def aggregate(scores: list[SequenceScore]) -> dict:
    """Mean over sequences (sequences without scored frames are left out) of AUC, P@20,
    NP@0.2, mean IoU and of the curves; ``fps`` over all frames together."""
    usable = [s for s in scores if s.scored > 0]
    if not usable:
        return {'sequences': 0, 'auc': float('nan'), 'auc_otb': float('nan'),
                'precision': float('nan'),
                'norm_precision': float('nan'), 'mean_iou': float('nan'), 'fps': float('nan'),
                'success_curve': [], 'precision_curve': [], 'norm_precision_curve': []}
    calls = sum(s.track_calls for s in scores)
    seconds = sum(s.track_seconds for s in scores)
    return {
        'sequences': len(usable),
        'auc': float(np.mean([s.auc for s in usable])),
        'auc_otb': float(np.mean([s.auc_otb for s in usable])),
        'precision': float(np.mean([s.precision for s in usable])),
        'norm_precision': float(np.mean([s.norm_precision for s in usable])),
        'mean_iou': float(np.mean([s.mean_iou for s in usable])),
        'fps': calls / seconds if seconds > 0 else float('nan'),
        'success_curve': _jsonable(np.mean([s.success_curve for s in usable], axis=0)),
        'precision_curve': _jsonable(np.mean([s.precision_curve for s in usable], axis=0)),
        'norm_precision_curve': _jsonable(
            np.mean([s.norm_precision_curve for s in usable], axis=0)),
    }


def aggregate_by_tag(scores: list[SequenceScore]) -> dict[str, dict]:
    """:func:`aggregate` over the sequences carrying each tag."""
    tags = sorted({t for s in scores for t in s.tags})
    return {t: aggregate([s for s in scores if t in s.tags]) for t in tags}
