"""box_regression: the tracked box corrected by a ridge regression learned on the first frame
(rar_tracking/box_regression.py), on real features and generated scenes."""
import numpy as np
import pytest

from rar_tracking import Box
from rar_tracking.box_regression import (VIEW_SCALES, BoxRegressor, apply_deltas, deltas,
                                         iou_cxcywh, sample_boxes)
from rar_tracking.data.scenarios import stretching_target
from rar_tracking.tracker import RARTracker


@pytest.fixture(scope='module')
def config(fast_config):
    return fast_config.replace(profile='fast', motion_prior=False)


def run(config, seq, **changes):
    tracker = RARTracker(config.replace(**changes))
    tracker.initialize(seq.frame(0), seq.gt[0])
    boxes = [tracker.track(seq.frame(i)).box for i in range(1, len(seq))]
    ious = np.array([Box(*seq.gt[i + 1]).iou(b) for i, b in enumerate(boxes)])
    return ious, boxes, tracker


def test_the_drawn_boxes_and_the_deltas_that_undo_them():
    rng = np.random.default_rng(0)
    box = np.array([100.0, 80.0, 40.0, 20.0])
    drawn = sample_boxes(box, 300, rng)
    assert drawn.shape == (300, 4)
    assert iou_cxcywh(drawn, box).min() >= 0.6
    assert np.ptp(drawn[:, 2] / drawn[:, 3]) > 0.3  # width and height drawn apart
    for b, d in zip(drawn[:20], deltas(drawn[:20], box)):
        np.testing.assert_allclose(apply_deltas(b, d), box, rtol=1e-9)


def test_a_stretching_target_gets_its_aspect_ratio_from_the_regression(config):
    # the width grows 1.8x while the height stays: the pyramid keeps the first aspect ratio
    seq = stretching_target(seed=0)
    off, off_boxes, _ = run(config, seq)
    on, on_boxes, _ = run(config, seq, box_regression=True)
    fed, fed_boxes, _ = run(config, seq, box_regression=True, box_regression_lr=0.5)
    assert off_boxes[-1].w / off_boxes[-1].h == pytest.approx(1.0, abs=0.01)
    assert on_boxes[-1].w / on_boxes[-1].h > 1.1 and on[-5:].mean() > off[-5:].mean() + 0.05
    # fed back, the next frame's correction starts from the corrected box: it keeps up
    assert fed_boxes[-1].w / fed_boxes[-1].h > 1.5 and fed[-5:].mean() > 0.8
    assert off[-5:].mean() < 0.65


def test_an_averaged_size_correction_lags_and_leaves_the_centre(config):
    seq = stretching_target(seed=1, num_frames=16)
    _, each, _ = run(config, seq, box_regression=True)
    _, averaged, tracker = run(config, seq, box_regression=True, box_regression_rate=0.1,
                               box_regression_centre=False)
    assert averaged[-1].center == pytest.approx(tracker._state.center)  # the filter's centre
    aspect = averaged[-1].w / averaged[-1].h
    assert 1.02 < aspect < each[-1].w / each[-1].h  # corrected, behind a steady change


def test_the_reported_box_only_unless_fed_back(config):
    # box_regression_lr 0: the tracker's own box (where it searches) is the pyramid's, exactly
    seq = stretching_target(seed=1, num_frames=8)
    _, _, plain = run(config, seq)
    _, on_boxes, on = run(config, seq, box_regression=True)
    assert on._state.size == plain._state.size and on._state.center == plain._state.center
    assert on_boxes[-1].w != pytest.approx(on._state.size[0])
    _, _, fed = run(config, seq, box_regression=True, box_regression_lr=1.0)
    assert fed._state.size[0] / fed._state.size[1] > 1.2  # taken into the tracker's box
    state = fed.get_state()  # the regression is shared by a saved state, read only
    assert state.regressor is fed._state.regressor


def test_a_regressor_learns_nothing_it_was_not_shown(config):
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


def test_the_check_tool_measures_the_correction_of_drawn_boxes(config):
    # python -m rar_tracking.eval.box_regression_check on one generated sequence: the frames
    # after the first are corrected towards the truth (drawn boxes 0.1 / 1.15x off)
    from rar_tracking.eval.box_regression_check import check_sequence
    seq = stretching_target(seed=2, num_frames=10, stretch=1.2)
    drawn, corrected = check_sequence(RARTracker(config), seq, [30.0], frames=3, boxes=8)
    assert corrected > drawn + 0.02
