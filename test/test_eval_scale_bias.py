"""The scale pyramid's choice at the true box (rar_tracking.eval.scale_bias) and the size
drift of a finished run (overlap_split --drift), on generated frames with known sizes."""
import math

import cv2
import numpy as np
import pytest

from rar_tracking.data.sequences import Sequence
from rar_tracking.data.synthetic import make_sequence
from rar_tracking.eval import scale_bias
from rar_tracking.eval.overlap_split import size_drift
from rar_tracking.tracker import RARTracker


@pytest.fixture(scope='module')
def config(fast_config):
    return fast_config.replace(profile='fast')


def zoomed(seed: int, zoom: float, frames: int = 4) -> Sequence:
    """Frame 0 of a generated scene magnified by ``zoom`` per frame about the target's centre:
    target and background grow together, as when the camera closes in."""
    seq = make_sequence(2, seed=seed)
    image = seq.frame(0)
    x, y, w, h = seq.gt[0]
    cx, cy = x + w / 2, y + h / 2
    images, gt = [], []
    for k in range(frames):
        s = zoom ** k
        matrix = np.array([[s, 0.0, cx - s * cx], [0.0, s, cy - s * cy]])
        images.append(cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]),
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
        gt.append([cx - s * w / 2, cy - s * h / 2, s * w, s * h])
    return Sequence(f'zoom{zoom:.3f}-{seed}', images, np.array(gt))


@pytest.mark.parametrize('seed', [0, 1])
def test_a_closing_in_camera_wins_the_larger_crop_and_a_receding_one_the_smaller(config, seed):
    # 6 % per frame, three pyramid steps: whichever way the scene is zoomed, the pyramid at
    # the true box names that direction in every frame, and the peaks agree
    closer = scale_bias.scale_choices(RARTracker(config), zoomed(seed, 1.06))
    farther = scale_bias.scale_choices(RARTracker(config), zoomed(seed, 1 / 1.06))
    assert closer['wins'].tolist() == [0, 0, 3]
    assert farther['wins'].tolist() == [3, 0, 0]
    assert np.allclose(closer['growth'], math.log(1.06))
    assert np.allclose(farther['growth'], -math.log(1.06))
    assert min(closer['larger']) > 0 > max(closer['smaller'])
    assert min(farther['smaller']) > 0 > max(farther['larger'])


def test_the_reported_choice_is_the_best_penalised_peak(config):
    seq = make_sequence(12, seed=3, scale_change=0.3)
    tracker = RARTracker(config)
    tracker.initialize(seq.frame(0), seq.gt[0])
    penalties = [1.0 if f == 1.0 else config.scale_penalty for f in tracker.scale_factors]
    for i in range(1, len(seq)):
        extras = tracker.track(seq.frame(i)).extras
        peaks = extras['scale_peaks']
        assert len(peaks) == len(tracker.scale_factors) == 3
        assert extras['scale_index'] == int(np.argmax(np.array(peaks) * penalties))


def test_frames_without_a_true_box_are_tracked_but_not_counted(config):
    seq = make_sequence(8, seed=2)
    gt = seq.gt.copy()
    gt[4] = np.nan  # frame 4 is not counted, nor frame 5 (its previous box is missing)
    holes = Sequence('holes', [seq.frame(i) for i in range(len(seq))], gt)
    r = scale_bias.scale_choices(RARTracker(config), holes)
    assert r['wins'].sum() == len(r['growth']) == len(seq) - 1 - 2


def test_the_command_line_prints_every_sequence_and_the_total(config, capsys):
    scale_bias.main(['--synthetic', '2', '--synthetic-frames', '6', '--device', 'cpu',
                     '--rar-config', 'trunk=efficientnet_lite0', '--rar-config', 'crop_size=129',
                     '--rar-config', 'profile=fast'])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert {'synthetic-000', 'synthetic-001', 'all'} <= set(rows)
    assert int(rows['all'][1]) == int(rows['synthetic-000'][1]) + int(rows['synthetic-001'][1])
    shares = [float(v) for v in rows['all'][2:5]]
    assert abs(sum(shares) - 1.0) < 0.02


def test_size_drift_follows_the_log_size_ratio_over_overlapping_frames():
    gt = np.tile([100.0, 100.0, 40.0, 20.0], (9, 1))
    boxes = gt.copy()
    boxes[5:, 2:] *= 1.1  # the box 10 % too large in the second half
    boxes[3] = [300.0, 300.0, 40.0, 20.0]  # no overlap: says nothing about the size
    mean, absolute = size_drift(boxes, gt, parts=2)
    # frames 1..8 in two parts: 1-4 (frame 3 left out), 5-8
    assert mean[0] == pytest.approx(0.0) and absolute[0] == pytest.approx(0.0)
    assert mean[1] == pytest.approx(math.log(1.1)) and absolute[1] == pytest.approx(math.log(1.1))
    shrunk = gt.copy()
    shrunk[1:, 2:] /= 1.2
    assert size_drift(shrunk, gt, parts=1)[0][0] == pytest.approx(-math.log(1.2))
    lost = gt.copy()
    lost[1:, :2] += 500.0
    assert all(math.isnan(v) for v in size_drift(lost, gt, parts=2)[0])
