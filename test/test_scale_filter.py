"""The one-dimensional scale filter (DSST) alone and inside the tracker (issue 14)."""
import math

import cv2
import numpy as np
import pytest

from rar_tracking import Box, TrackerConfig
from rar_tracking.data.synthetic import make_sequence
from rar_tracking.hog import CLIP, ORIENTATIONS
from rar_tracking.scale_filter import CELL, ScaleFilter, model_size, orientation_features
from rar_tracking.tracker import RARTracker


@pytest.fixture(scope='module')
def scene():
    seq = make_sequence(2, seed=1, target_size=(48, 40))
    x, y, w, h = seq.gt[0]
    return seq.frame(0), (x + w / 2, y + h / 2), (w, h)


def zoomed(image, center, zoom):
    """The image magnified by ``zoom`` about ``center`` (the target grows by ``zoom``)."""
    cx, cy = center
    m = np.array([[zoom, 0.0, cx - zoom * cx], [0.0, zoom, cy - zoom * cy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]),
                          borderMode=cv2.BORDER_REPLICATE)


def test_the_filter_finds_the_zoom_of_the_frame_within_one_step(scene):
    image, center, size = scene
    f = ScaleFilter(33, 1.02)
    f.learn(image, center, size)
    assert f.estimate(image, center, size) == 1.0
    for zoom in (0.85, 0.92, 0.97, 1.05, 1.1, 1.2):
        got = f.estimate(zoomed(image, center, zoom), center, size)
        assert abs(math.log(got / zoom)) <= math.log(1.02), (zoom, got)


def test_the_learning_rate_weighs_the_newest_frame(scene):
    image, center, size = scene
    f = ScaleFilter(9, 1.05)
    f.learn(image, center, size)
    num, den = f.num.copy(), f.den.copy()
    other = zoomed(image, center, 1.3)
    kept = f.copy()
    kept.learn(other, center, size, 0.0)
    np.testing.assert_array_equal(kept.num, num)
    np.testing.assert_array_equal(kept.den, den)
    f.learn(other, center, size, 1.0)  # rate 1: the new frame alone
    fresh = ScaleFilter(9, 1.05)
    fresh.model = f.model
    fresh.learn(other, center, size)
    assert fresh.model == f.model
    np.testing.assert_allclose(f.num, fresh.num)
    np.testing.assert_allclose(f.den, fresh.den)
    assert not np.allclose(f.num, num)  # and the copy did not share the arrays
    np.testing.assert_array_equal(kept.num, num)


def test_orientation_features_bin_the_gradient_direction_whatever_the_contrast():
    patch = np.zeros((1, 16, 16), np.float32)
    patch[0, :, 8:] = 1.0  # a vertical edge, dark to bright along x: orientation 0
    feats = orientation_features(patch).reshape(4, 4, 31)
    signed, unsigned = feats[..., :18], feats[..., 18:27]
    assert feats.min() >= 0.0 and signed.max() <= 2 * CLIP + 1e-6  # half of four clipped
    assert signed[:, 1:3].sum(axis=(0, 1)).argmax() == 0
    assert unsigned[:, 1:3].sum(axis=(0, 1)).argmax() == 0
    # bright to dark: the opposite signed bin, the same unsigned one
    flipped = orientation_features(1.0 - patch).reshape(4, 4, 31)
    assert flipped[:, 1:3, :18].sum(axis=(0, 1)).argmax() == ORIENTATIONS
    np.testing.assert_allclose(flipped[..., 18:27], unsigned, atol=1e-5)
    turned = orientation_features(patch.transpose(0, 2, 1).copy()).reshape(4, 4, 31)
    assert turned[1:3, :, 18:27].sum(axis=(0, 1)).argmax() == ORIENTATIONS // 2
    # the block normalisation: a tenth of the contrast, the same features
    np.testing.assert_allclose(orientation_features(0.1 * patch), orientation_features(patch),
                               atol=1e-4)


def test_model_size_keeps_the_aspect_in_whole_cells():
    for size in ((8.0, 8.0), (48.0, 40.0), (300.0, 60.0), (20.0, 200.0)):
        w, h = model_size(size)
        assert w % CELL == 0 and h % CELL == 0 and min(w, h) >= 2 * CELL
        if min(w, h) > 2 * CELL:
            assert abs(math.log((w / h) / (size[0] / size[1]))) < 0.25
        assert 0.5 * 512 <= w * h <= 2 * 512 or min(w, h) == 2 * CELL


def test_config_accepts_only_odd_sample_counts():
    TrackerConfig(scale_filter=33).validate()
    for bad in (1, 2, 32):
        with pytest.raises(ValueError, match='scale_filter'):
            TrackerConfig(scale_filter=bad).validate()


def run(config, seq):
    tracker = RARTracker(config)
    tracker.initialize(seq.frame(0), seq.gt[0])
    ious, sizes = [], []
    for i in range(1, len(seq)):
        box = tracker.track(seq.frame(i)).box
        ious.append(Box(*seq.gt[i]).iou(box))
        sizes.append(abs(math.log(box.w * box.h / (seq.gt[i][2] * seq.gt[i][3])) / 2))
    return np.mean(ious), np.mean(sizes), tracker


@pytest.mark.parametrize('seed', [0, 1])
def test_tracker_follows_a_target_that_grows_and_shrinks(fast_config, seed):
    # the target's size swings by +-30 % over 100 frames: the scale filter's box follows it
    # more closely than the 3-scale pyramid's
    seq = make_sequence(100, seed=seed, scale_change=0.3)
    config = fast_config.replace(profile='fast')
    iou_pyramid, err_pyramid, _ = run(config, seq)
    iou_filter, err_filter, tracker = run(config.replace(scale_filter=33), seq)
    assert iou_filter > iou_pyramid + 0.05
    assert err_filter < err_pyramid
    assert tracker.scale_factors == [1.0]  # the network ran on one crop per frame
    copy = tracker.get_state()  # the filter's state travels with the tracker's
    assert copy.scales is not tracker._state.scales
    np.testing.assert_array_equal(copy.scales.num, tracker._state.scales.num)


def test_the_filters_answer_keeps_the_pyramids_budget_per_frame(fast_config, scene):
    # the target grows by 20 % at once: the box grows, by at most scale_lr x one step
    image, center, size = scene
    config = fast_config.replace(profile='fast', scale_filter=33)
    tracker = RARTracker(config)
    tracker.initialize(image, Box.from_center(*center, *size))
    box = tracker.track(zoomed(image, center, 1.2)).box
    growth = math.sqrt(box.w * box.h / (size[0] * size[1]))
    limit = 1.0 + config.scale_lr * (config.scale_step ** (config.num_scales // 2) - 1.0)
    assert 1.0 < growth <= limit + 1e-9
