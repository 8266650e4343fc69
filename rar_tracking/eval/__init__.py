"""Benchmark: OTB-style one-pass evaluation of RAR and OpenCV trackers.

``python -m rar_tracking.eval --help`` runs it; see docs/evaluation.md. The modules:
:mod:`.metrics` (IoU, success/precision curves), :mod:`.trackers` (the tracker interface and
adapters), :mod:`.run` (running and writing results), :mod:`.plots` (PNG plots).
"""
from .metrics import aggregate, aggregate_by_tag, center_error, evaluate_sequence, iou
from .trackers import Tracker, make_tracker

__all__ = ['Tracker', 'aggregate', 'aggregate_by_tag', 'center_error', 'evaluate_sequence',
           'iou', 'make_tracker']
