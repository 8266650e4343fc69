"""Sequences, the benchmark folder layouts, frame sources and synthetic data with exact ground
truth. No ROS, no network: may import numpy, OpenCV, :mod:`rar_tracking.types`.

- :mod:`.sequences`: the :class:`Sequence` container, ground-truth and flag files.
- :mod:`.layouts`: readers of OTB, VOT, GOT-10k, LaSOT folders and ``manifest.json``.
- :mod:`.frame_sources`: frames one at a time from a video, a folder or a generated scene.
- :mod:`.synthetic`: generated sequences.
"""
from .layouts import (load_dataset, load_got10k, load_lasot, load_manifest, load_otb,
                      load_sequence, load_vot)
from .sequences import FrameReadError, Sequence, SequenceError, parse_boxes, read_boxes
from .synthetic import SyntheticStream, make_sequence, make_suite

__all__ = ['FrameReadError', 'Sequence', 'SequenceError', 'SyntheticStream', 'load_dataset',
           'load_got10k', 'load_lasot', 'load_manifest', 'load_otb', 'load_sequence',
           'load_vot', 'make_sequence', 'make_suite', 'parse_boxes', 'read_boxes']
