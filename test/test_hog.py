"""HOG on the network's cell grid and the tracker's ``hog_weight`` (issue 14)."""
import numpy as np
import pytest
import torch

from rar_tracking import TrackerConfig
from rar_tracking.data.synthetic import make_sequence
from rar_tracking.hog import CHANNELS, crop_orientations
from rar_tracking.imaging import crop_square
from rar_tracking.tracker import RARTracker


def test_a_shift_of_one_stride_moves_the_features_by_one_cell():
    seq = make_sequence(1, seed=4, target_size=(40, 40))
    image = seq.frame(0)
    x, y, w, h = seq.gt[0]
    cx, cy = x + w / 2, y + h / 2
    # crops at one pixel per image pixel, the second 8 px (one stride) to the right
    a = crop_square(image, cx, cy, 121.0, 121)[None]
    b = crop_square(image, cx + 8.0, cy, 121.0, 121)[None]
    fa, fb = crop_orientations(a, 16, 8), crop_orientations(b, 16, 8)
    assert fa.shape == (1, CHANNELS, 16, 16)
    # cell i of the shifted crop is cell i + 1 of the first, away from the padded borders
    np.testing.assert_allclose(fb[0, :, 2:-3, 2:-3], fa[0, :, 2:-3, 3:-2], atol=1e-5)
    assert not np.allclose(fb[0, :, 2:-3, 2:-3], fa[0, :, 2:-3, 2:-3], atol=1e-3)


def test_cell_i_is_centred_where_the_networks_cell_i_is():
    # a bright dot at crop pixel (y, x) = (8 * 5, 8 * 7): its gradients (one pixel either side)
    # lie in cell (5, 7) alone; on cells starting at pixel 0 they would straddle cells 4 and 5
    crop = np.zeros((1, 97, 97, 3), np.uint8)
    crop[0, 40, 56] = 255
    energy = (crop_orientations(crop, 12, 8)[0] ** 2).sum(axis=0)
    assert energy.shape == (12, 12)
    assert list(zip(*np.nonzero(energy > 1e-6))) == [(5, 7)]
    # the same dot half a cell up (row 36: gradients at rows 35 and 37) straddles cells 4 and 5
    crop = np.roll(crop, -4, axis=1)
    energy = (crop_orientations(crop, 12, 8)[0] ** 2).sum(axis=0)
    assert list(zip(*np.nonzero(energy > 1e-6))) == [(4, 7), (5, 7)]


@pytest.fixture(scope='module')
def scene():
    return make_sequence(12, seed=2, speed=4.0)


def run(config, seq):
    tracker = RARTracker(config)
    tracker.initialize(seq.frame(0), seq.gt[0])
    return tracker, [tracker.track(seq.frame(i)) for i in range(1, len(seq))]


def test_hog_weight_sets_the_blocks_energy_on_the_first_frame(fast_config, scene):
    for weight in (0.5, 2.0):
        tracker = RARTracker(fast_config.replace(hog_weight=weight))
        tracker.initialize(scene.frame(0), scene.gt[0])
        st = tracker._state
        x, y, w, h = scene.gt[0]
        center, side = (x + w / 2, y + h / 2), tracker._side((w, h))
        with torch.no_grad():
            phi, _ = tracker._features(scene.frame(0), [center], [side], tracker.config.crop,
                                       st.attention)
        deep, hog = phi[:, :-CHANNELS], phi[:, -CHANNELS:]
        ratio = float((hog ** 2).sum(1).mean() / (deep ** 2).sum(1).mean())
        assert ratio == pytest.approx(weight, rel=0.05)  # the attention memory moved on
        assert st.templates.filter(1e-4, 0.1).shape[1] == deep.shape[1] + CHANNELS
        assert tracker.get_state().hog_gain == st.hog_gain > 0


def test_hog_weight_off_leaves_the_deep_features_alone(fast_config, scene):
    _, plain = run(fast_config, scene)
    _, zero = run(fast_config.replace(hog_weight=0.0), scene)
    assert [r.box.as_tuple() for r in plain] == [r.box.as_tuple() for r in zero]
    _, with_hog = run(fast_config.replace(hog_weight=1.0), scene)
    assert [r.box.as_tuple() for r in with_hog] != [r.box.as_tuple() for r in plain]
    ious = [r.box.iou(type(r.box)(*scene.gt[i + 1])) for i, r in enumerate(with_hog)]
    assert min(ious) > 0.6  # and it still tracks


def test_hog_weight_is_validated():
    with pytest.raises(ValueError, match='hog_weight'):
        TrackerConfig(hog_weight=-1.0)
