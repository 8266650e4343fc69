"""OTB-style metrics on hand-computed cases."""
import math

import numpy as np
import pytest

from rar_tracking.eval.metrics import (NORM_PRECISION_THRESHOLDS, PRECISION_THRESHOLDS,
                                       SUCCESS_THRESHOLDS, aggregate, aggregate_by_tag,
                                       center_error, evaluate_sequence, iou, success_curve)
from rar_tracking.types import Box


def _track(n=10, box=(10.0, 20.0, 10.0, 10.0)):
    return np.tile(np.array(box, dtype=np.float64), (n, 1))


def test_perfect_tracker_scores_one():
    gt = _track(12) + np.arange(12)[:, None] * [3, 1, 0, 0]
    score = evaluate_sequence(gt.copy(), gt, np.full(11, 0.01))
    assert score.auc == 1.0
    assert score.auc_otb == pytest.approx(20 / 21)  # the toolkit's strict IoU > 1 fails
    assert score.precision == 1.0
    assert score.norm_precision == 1.0
    assert score.mean_iou == 1.0
    assert score.scored == 11  # the first frame is not scored
    assert score.fps == pytest.approx(100.0)
    assert len(score.success_curve) == 21 and len(score.precision_curve) == 51


def test_known_shift_gives_known_iou_and_center_error():
    gt = _track(5)
    pred = gt + [5, 0, 0, 0]  # 10x10 box moved 5 px: overlap 5x10 = 50, union 150
    np.testing.assert_allclose(iou(pred, gt), 1 / 3)
    np.testing.assert_allclose(center_error(pred, gt), 5.0)
    np.testing.assert_allclose(center_error(pred, gt, normalized=True), 0.5)
    score = evaluate_sequence(pred, gt)
    # IoU 1/3 passes the thresholds 0, 0.05, ..., 0.30 (7 of 21).
    assert score.auc == pytest.approx(7 / 21) == score.auc_otb
    np.testing.assert_array_equal(score.success_curve, (SUCCESS_THRESHOLDS <= 1 / 3) * 1.0)
    # Error 5 px: misses the thresholds 0..4, passes 5..50.
    np.testing.assert_array_equal(score.precision_curve, (PRECISION_THRESHOLDS >= 5) * 1.0)
    assert score.precision == 1.0
    # Normalized error 0.5 > 0.2.
    assert score.norm_precision == 0.0
    np.testing.assert_array_equal(score.norm_precision_curve,
                                  (NORM_PRECISION_THRESHOLDS >= 0.5 - 1e-12) * 1.0)


def test_far_prediction_is_a_miss():
    gt = _track(4)
    pred = gt + [30, 40, 0, 0]  # centre error 50 px, no overlap
    score = evaluate_sequence(pred, gt)
    assert score.auc == 0.0 and score.mean_iou == 0.0
    assert score.precision == 0.0
    assert score.precision_curve[-1] == 1.0  # 50 px is within the last threshold


def test_nan_ground_truth_rows_are_not_scored():
    gt = _track(8)
    pred = gt.copy()
    gt[3:6] = np.nan
    pred[3:6] = [500, 500, 3, 3]  # anything the tracker says there does not count
    score = evaluate_sequence(pred, gt)
    assert score.scored == 8 - 1 - 3
    assert score.auc == 1.0 and score.precision == 1.0
    assert np.isnan(score.ious[[0, 3, 4, 5]]).all()


def test_first_frame_is_not_scored():
    gt = _track(6)
    pred = gt.copy()
    pred[0] = [200, 200, 5, 5]
    assert evaluate_sequence(pred, gt).auc == 1.0
    assert evaluate_sequence(pred, gt, skip_first=False).auc == pytest.approx(5 / 6)


def test_invalid_predictions_count_as_misses():
    gt = _track(5)
    pred = gt.copy()
    pred[1] = np.nan
    pred[2, 2] = 0.0  # no area
    score = evaluate_sequence(pred, gt)
    assert score.scored == 4
    assert score.mean_iou == pytest.approx(0.5)
    assert score.precision == pytest.approx(0.5)
    assert math.isinf(center_error(pred, gt)[1])


def test_iou_matches_box_iou():
    rng = np.random.default_rng(3)
    a = np.column_stack([rng.uniform(0, 50, (200, 2)), rng.uniform(1, 40, (200, 2))])
    b = np.column_stack([rng.uniform(0, 50, (200, 2)), rng.uniform(1, 40, (200, 2))])
    expected = [Box(*p).iou(Box(*q)) for p, q in zip(a, b)]
    np.testing.assert_allclose(iou(a, b), expected, rtol=1e-12)
    assert (iou(a, b) > 0).any() and (iou(a, b) == 0).any()


def test_success_curve_at_threshold_zero_needs_overlap():
    np.testing.assert_array_equal(success_curve([0.0, 1.0])[[0, -1]], [0.5, 0.5])


def test_aggregate_means_over_sequences_and_tags():
    gt = _track(11)
    good = evaluate_sequence(gt.copy(), gt, np.full(10, 0.1), name='a', tags=['occlusion'])
    half = gt.copy()
    half[1:6] = [300, 300, 10, 10]
    bad = evaluate_sequence(half, gt, np.full(10, 0.3), name='b', tags=['occlusion', 'blur'])
    mean = aggregate([good, bad])
    assert mean['sequences'] == 2
    assert mean['auc'] == pytest.approx((1.0 + 0.5) / 2)
    assert mean['precision'] == pytest.approx(0.75)
    assert mean['fps'] == pytest.approx(20 / 4.0)  # 20 calls in 1 s + 3 s
    tags = aggregate_by_tag([good, bad])
    assert set(tags) == {'occlusion', 'blur'}
    assert tags['blur']['auc'] == pytest.approx(0.5) and tags['blur']['sequences'] == 1
    assert tags['occlusion']['auc'] == pytest.approx(0.75)


def test_sequence_without_scored_frames_is_left_out_of_the_mean():
    gt = _track(3)
    empty_gt = gt.copy()
    empty_gt[1:] = np.nan
    empty = evaluate_sequence(gt, empty_gt, name='hidden')
    assert empty.scored == 0 and math.isnan(empty.auc)
    full = evaluate_sequence(gt, gt, name='ok')
    assert aggregate([empty, full])['auc'] == 1.0
    assert aggregate([empty])['sequences'] == 0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match='predicted boxes'):
        evaluate_sequence(_track(3), _track(4))
    with pytest.raises(ValueError, match='N x 4'):
        iou(np.zeros((3, 3)), np.zeros((3, 3)))


def test_iou_exactly_on_a_threshold():
    gt = _track(3)
    pred = gt.copy()
    pred[:, 3] = 5.0  # half the box: IoU exactly 0.5
    score = evaluate_sequence(pred, gt)
    assert score.mean_iou == 0.5
    assert score.auc == pytest.approx(11 / 21)  # thresholds 0 .. 0.5
    assert score.auc_otb == pytest.approx(10 / 21)  # the toolkit's IoU > 0.5 fails at 0.5


def test_overlap_split_separates_centre_from_size_errors():
    from rar_tracking.eval.overlap_split import overlap_split
    gt = np.array([[10, 10, 20, 40]] * 5, float)
    gt[3] = np.nan  # not scored
    shifted = gt + [6, 0, 0, 0]           # right size, centre 6 px off
    grown = gt + [-5, -10, 10, 20]        # right centre, 1.5x the size
    squashed = gt + [-10, 10, 20, -20]    # right centre and area, wrong aspect (40 x 20)
    exact = overlap_split(gt, gt)
    assert all(v == pytest.approx(1.0) for v in exact.values())
    s = overlap_split(shifted, gt)
    assert s['iou'] == pytest.approx(14 / 26) and s['true centre'] == pytest.approx(1.0)
    assert s['true size'] == pytest.approx(14 / 26)
    g = overlap_split(grown, gt)
    assert g['iou'] == pytest.approx(1 / 2.25) and g['true size'] == pytest.approx(1.0)
    assert g['true centre'] == pytest.approx(1 / 2.25)
    q = overlap_split(squashed, gt)
    assert q['iou'] < 0.5 and q['true centre + aspect'] == pytest.approx(1.0)
    missing = shifted.copy()
    missing[1:] = np.nan  # no box after the first frame: every column scores 0
    assert all(v == 0.0 for v in overlap_split(missing, gt).values())
