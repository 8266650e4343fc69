"""Sequences (benchmark readers) and synthetic data with exact ground truth."""
from .sequences import (FrameReadError, Sequence, SequenceError, load_dataset, load_got10k,
                        load_lasot, load_manifest, load_otb, load_sequence, load_vot,
                        parse_boxes, read_boxes)
from .synthetic import SyntheticStream, make_sequence, make_suite

__all__ = ['FrameReadError', 'Sequence', 'SequenceError', 'SyntheticStream', 'load_dataset',
           'load_got10k', 'load_lasot', 'load_manifest', 'load_otb', 'load_sequence',
           'load_vot', 'make_sequence', 'make_suite', 'parse_boxes', 'read_boxes']
