"""Properties of the synthetic sequences: determinism, exact ground truth, options."""
import time

import numpy as np
import pytest

from rar_tracking.data import SyntheticStream, make_sequence, make_suite


def _frames(seq):
    return np.stack([seq.frame(i) for i in range(len(seq))])


def test_deterministic_for_a_seed_and_different_across_seeds():
    kw = dict(num_frames=20, seed=7, scale_change=0.2, occlusion=(5, 8), distractor=True,
              illumination=0.3, blur=1.0, noise=4)
    a, b = make_sequence(**kw), make_sequence(**kw)
    np.testing.assert_array_equal(a.gt, b.gt)
    np.testing.assert_array_equal(_frames(a), _frames(b))
    c = make_sequence(**dict(kw, seed=8))
    assert not np.array_equal(np.nan_to_num(a.gt), np.nan_to_num(c.gt))
    assert not np.array_equal(a.frame(0), c.frame(0))


@pytest.mark.parametrize('seed', range(6))
def test_ground_truth_inside_the_image(seed):
    seq = make_sequence(80, (200, 150), seed, scale_change=0.4, speed=9.0, target_size=(40, 30))
    w, h = seq.image_size
    x, y, bw, bh = seq.gt.T
    assert (x >= 0).all() and (y >= 0).all() and (x + bw <= w).all() and (y + bh <= h).all()
    frame = seq.frame(0)
    assert frame.shape == (150, 200, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize('seed', range(4))
def test_object_pixels_are_at_the_ground_truth(seed):
    seq = make_sequence(30, seed=seed, scale_change=0.3)
    background = seq.frames.background
    for i in (0, 11, 29):
        frame = seq.frame(i).astype(np.int16)
        x, y, w, h = seq.gt[i].astype(int)
        inside = np.abs(frame[y:y + h, x:x + w] - background[y:y + h, x:x + w]).mean()
        assert inside > 12, f'frame {i}: the object looks like the background there'
        # Every pixel outside the box is untouched background; every row and column of
        # the box has object pixels (the box is tight).
        changed = np.abs(frame - background).sum(axis=2) > 0
        assert not changed[:y].any() and not changed[y + h:].any()
        assert not changed[:, :x].any() and not changed[:, x + w:].any()
        assert changed[y:y + h, x:x + w].any(axis=1).all()
        assert changed[y:y + h, x:x + w].any(axis=0).all()


def test_occluded_frames_are_nan_and_hidden():
    seq = make_sequence(40, seed=2, occlusion=(15, 22))
    assert (~seq.visible).nonzero()[0].tolist() == list(range(15, 22))
    assert 'occlusion' in seq.tags
    frames = seq.frames
    ox, oy, ow, oh = frames.occluder_box
    target_pixels = frames.target_boxes
    for i in range(15, 22):
        x, y, w, h = target_pixels[i]
        assert ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh
        # The occluder (not the object) is what the frame shows there.
        frame = seq.frame(i)
        np.testing.assert_array_equal(frame[oy:oy + oh, ox:ox + ow], frames.occluder)
    # Outside the range the occluder is gone and the object is visible again.
    after = seq.frame(22)
    assert not np.array_equal(after[oy:oy + oh, ox:ox + ow], frames.occluder)


def test_scale_change_and_speed():
    seq = make_sequence(60, seed=1, scale_change=0.3, speed=4.0, target_size=(50, 40))
    widths = seq.gt[:, 2]
    assert widths[0] == 50
    assert widths.max() == pytest.approx(65, abs=1) and widths.min() == pytest.approx(35, abs=1)
    assert np.abs(np.diff(widths)).max() <= 4  # smooth
    centers = seq.gt[:, :2] + seq.gt[:, 2:] / 2
    steps = np.linalg.norm(np.diff(centers, axis=0), axis=1)
    assert np.median(steps) == pytest.approx(4.0, abs=1.0)
    still = make_sequence(10, seed=1, speed=0.0)
    assert (still.gt == still.gt[0]).all()


def test_distractor_illumination_and_blur_change_the_frames():
    plain = make_sequence(12, seed=4)
    distract = make_sequence(12, seed=4, distractor=True)
    assert 'distractor' in distract.tags
    d = distract.frames.distractor_boxes[3]
    x, y, w, h = d
    diff = np.abs(distract.frame(3).astype(int) - plain.frame(3).astype(int)).sum(axis=2)
    assert diff[y:y + h, x:x + w].mean() > 10
    np.testing.assert_array_equal(plain.gt, distract.gt)  # same target path
    lit = make_sequence(30, seed=4, illumination=0.5)
    means = [lit.frame(i).mean() for i in range(30)]
    assert max(means) / min(means) > 1.5
    blurred = make_sequence(3, seed=4, blur=2.0).frame(0).astype(float)
    sharp = plain.frame(0).astype(float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.8 * np.abs(np.diff(sharp, axis=1)).mean()


def test_frames_render_fast():
    seq = make_sequence(40, (320, 240), seed=3, scale_change=0.2, occlusion=(10, 15),
                        distractor=True, illumination=0.3, blur=1.0, noise=3)
    seq.frame(0)
    per_frame = []
    for i in range(40):
        t0 = time.perf_counter()
        seq.frame(i)
        per_frame.append(time.perf_counter() - t0)
    assert np.median(per_frame) < 5e-3, f'median {np.median(per_frame) * 1e3:.2f} ms'


def test_bad_arguments():
    with pytest.raises(ValueError, match='occlusion'):
        make_sequence(10, occlusion=(0, 3))
    with pytest.raises(ValueError, match='occlusion'):
        make_sequence(10, occlusion=(5, 11))
    with pytest.raises(ValueError, match='does not fit'):
        make_sequence(10, size=(60, 50), target_size=(58, 20))
    with pytest.raises(ValueError, match='scale_change'):
        make_sequence(10, scale_change=1.5)


def test_suite_varies_options():
    suite = make_suite(6, num_frames=20)
    assert len({s.name for s in suite}) == 6
    tags = {t for s in suite for t in s.tags}
    assert {'scale-change', 'occlusion', 'distractor', 'illumination'} <= tags


def test_stream_ping_pongs_forever_with_the_initial_box():
    stream = SyntheticStream(num_frames=4, seed=5, size=(160, 120), target_size=(30, 24))
    assert stream.initial_box == stream.sequence.init_box
    assert stream.current_box is None
    indices = []
    for _ in range(10):
        item = stream.next_frame()
        indices.append(item.index)
        np.testing.assert_array_equal(item.image, stream.sequence.frame(item.index))
        assert item.box == stream.sequence.gt_box(item.index) == stream.current_box
    assert indices == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    frame = next(iter(stream))
    assert frame.shape == (120, 160, 3)
    stream.restart()
    assert stream.next_frame().index == 0
