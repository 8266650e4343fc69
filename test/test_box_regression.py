"""box_regression's parts (rar_tracking/box_regression.py) and its check tool; the tracker with
it on a generated scene is in test_tracker_issue14.py."""
import numpy as np

from rar_tracking.box_regression import (VIEW_SCALES, BoxRegressor, apply_deltas, deltas,
                                         iou_cxcywh, sample_boxes)
from rar_tracking.data.scenarios import stretching_target
from rar_tracking.tracker import RARTracker


def test_the_drawn_boxes_and_the_deltas_that_undo_them():
    rng = np.random.default_rng(0)
    box = np.array([100.0, 80.0, 40.0, 20.0])
    drawn = sample_boxes(box, 300, rng)
    assert drawn.shape == (300, 4)
    assert iou_cxcywh(drawn, box).min() >= 0.6
    assert np.ptp(drawn[:, 2] / drawn[:, 3]) > 0.3  # width and height drawn apart
    for b, d in zip(drawn[:20], deltas(drawn[:20], box)):
        np.testing.assert_allclose(apply_deltas(b, d), box, rtol=1e-9)


def test_a_regressor_learns_nothing_it_was_not_shown():
    # before fit the box comes back unchanged; a correction never leaves the range drawn
    import torch
    reg = BoxRegressor()
    phi = torch.randn(1, 8, 16, 16)
    assert reg.predict(phi, (60.0, 60.0, 20.0, 20.0), (64.0, 64.0), 128.0, 128, 8) == (
        60.0, 60.0, 20.0, 20.0)
    sides = [128.0 * f for f in VIEW_SCALES]
    reg.fit(torch.randn(len(sides), 8, 16, 16), (64.0, 64.0, 24.0, 16.0), (64.0, 64.0), sides,
            128, 8)
    cx, cy, w, h = reg.predict(phi * 100.0, (64.0, 64.0, 24.0, 16.0), (64.0, 64.0), 128.0,
                               128, 8)
    # a drawn box is shifted by at most 0.3 of the given box's side, which is at most 1.3x its own
    assert abs(cx - 64.0) <= 0.39 * 24.0 + 1e-6 and abs(cy - 64.0) <= 0.39 * 16.0 + 1e-6
    assert 24.0 / 1.3 - 1e-6 <= w <= 24.0 * 1.3 + 1e-6
    assert 16.0 / 1.3 - 1e-6 <= h <= 16.0 * 1.3 + 1e-6


def test_the_check_tool_measures_the_correction_of_drawn_boxes(fast_config):
    # python -m rar_tracking.eval.box_regression_check on one generated sequence: the frames
    # after the first are corrected towards the truth (drawn boxes 0.1 / 1.15x off)
    from rar_tracking.eval.box_regression_check import check_sequence
    seq = stretching_target(seed=2, num_frames=10, stretch=1.2)
    tracker = RARTracker(fast_config.replace(profile='fast'))
    drawn, corrected = check_sequence(tracker, seq, [30.0], frames=3, boxes=8)
    assert corrected > drawn + 0.02
