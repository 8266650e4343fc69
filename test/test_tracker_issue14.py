"""Issue 14's mechanisms on generated scenes made for each (real tracker, real features).

Every scenario runs twice: with the mechanism off the tracker loses the target (asserted, so
the scene really needs the mechanism), with it on the tracker keeps or finds it again.
"""
import numpy as np
import pytest
import torch

from rar_tracking import Box, TrackState
from rar_tracking.data.scenarios import (crossing_twin, fast_small_target, leave_and_reenter,
                                         panning_camera, scrambled_target, stretching_target)
from rar_tracking.egomotion import GlobalShift
from rar_tracking.motion import ConstantVelocity, choose_peak, look_alike_ratio, top_peaks
from rar_tracking.search import LOST_CROPS, lost_plan, search_side
from rar_tracking.tracker import RARTracker


@pytest.fixture(scope='module')
def config(fast_config):
    # Each mechanism against the tracker without any of them, as each was measured: the motion
    # prior, on in the shipped defaults, is off here and switched on where a test says so
    # (motion_prior=True alone then gives the shipped motion settings: motion_min_speed 0.1,
    # motion_lr 1, the highest peak).
    return fast_config.replace(profile='fast', motion_prior=False)


def ious(config, seq, **changes):
    tracker = RARTracker(config.replace(**changes))
    tracker.initialize(seq.frame(0), seq.gt[0])
    out = []
    for i in range(1, len(seq)):
        box = tracker.track(seq.frame(i)).box
        out.append(Box(*seq.gt[i]).iou(box) if np.isfinite(seq.gt[i]).all() else np.nan)
    return np.array(out), tracker


def test_min_search_window_keeps_a_small_fast_target(config):
    # a 12 px object moving 15 px per frame: a 36 px window (3x its size) cannot hold it
    seq = fast_small_target(seed=0)
    off, _ = ious(config, seq)
    on, _ = ious(config, seq, min_search_px=96.0)
    assert np.nanmean(off) < 0.2
    assert np.nanmean(on) > 0.6 and np.nanmin(on) > 0.3


def test_motion_prior_follows_a_target_that_speeds_up(config):
    # from 6 to 20 px per frame: the window centred on the last position falls behind
    seq = fast_small_target(seed=1, speed=20.0, start_speed=6.0)
    off, _ = ious(config, seq)
    on, tracker = ious(config, seq, motion_prior=True)
    gated, _ = ious(config, seq, motion_prior=True, motion_gate=1.0)
    assert np.nanmean(off[-5:]) < 0.1
    assert np.nanmean(on[-5:]) > 0.7
    assert np.nanmean(gated[-5:]) > 0.7  # a steady speed-up passes the noise gate
    assert abs(tracker._state.motion.vx) > 10  # the velocity it learned is the target's


def test_motion_prior_keeps_the_target_when_its_twin_crosses(config):
    # the same patch moving the other way passes over the target mid-sequence
    seq = crossing_twin(seed=0)
    twin = seq.meta['twin_boxes']
    off, off_tracker = ious(config, seq)
    on, _ = ious(config, seq, motion_prior=True)
    assert Box(*twin[-1]).iou(off_tracker._state.last.box) > 0.5  # off: it took the twin
    assert np.nanmean(off[-5:]) < 0.1
    assert np.nanmean(on[-5:]) > 0.7


@pytest.mark.parametrize('changes', [dict(redetect_after=3), dict(lost_search_growth=1.0)])
def test_lost_search_finds_a_target_coming_back_elsewhere(config, changes):
    # out at the right edge, back 8 frames later from the left edge on another row
    seq = leave_and_reenter(seed=0)
    back = seq.meta['back_from']
    off, off_tracker = ious(config, seq)
    on, on_tracker = ious(config, seq, **changes)
    assert off_tracker.state == TrackState.LOST and np.nanmax(off[back + 2:]) < 0.1
    assert on_tracker.state == TrackState.TRACKING and np.nanmean(on[-10:]) > 0.6


def test_search_side_floor_and_lost_plan_cover_the_frame():
    assert search_side(30.0, 96.0, 320, 240) == 96.0
    assert search_side(300.0, 96.0, 320, 240) == 300.0
    assert search_side(30.0, 1000.0, 320, 240) == 320.0  # never more than the image
    seen, cursor = set(), 0
    for k in range(40):  # whole-frame search: every tile of the image comes in turn
        centers, cursor = lost_plan((300.0, 20.0), 60.0, 320, 240, k, cursor, factor=2.0,
                                    growth=0.0, redetect_after=2)
        assert len(centers) <= LOST_CROPS and centers[0] == (300.0, 20.0)
        seen.update((round(x), round(y)) for x, y in centers)
    xs, ys = {x for x, _ in seen}, {y for _, y in seen}
    assert min(xs) <= 30 and max(ys) >= 210  # reached the far corner
    first, _ = lost_plan((160.0, 120.0), 60.0, 320, 240, 0, 0, factor=2.0, growth=0.0,
                         redetect_after=0)
    assert len(first) == 9  # LOST frame 0: today's 3x3 grid, spacing half a side
    assert {round(x) for x, _ in first} == {130, 160, 190}


def test_peak_choice_and_velocity():
    r = torch.zeros(16, 16)
    r[0, 3] = 1.0   # displacement (0, +3) cells
    r[0, 13] = 0.9  # displacement (0, -3) cells
    assert top_peaks(r, 2)[0][1:] == (0, 3)
    assert choose_peak(r, 4, 0.0)[1:] == (0, 3)  # no prior: the highest
    assert choose_peak(r, 4, 2.0, (0.0, -3.0))[1:] == (0, 13)  # the prior breaks the tie
    assert choose_peak(r, 4, 2.0, (0.0, -3.0))[0] == pytest.approx(0.9)
    v = ConstantVelocity(lr=0.5)
    v.found((0.0, 0.0), (10.0, 0.0))
    assert v.predict((10.0, 5.0), 100, 100, limit=3.0) == (13.0, 5.0)  # at most `limit`
    v.reset()
    assert (v.vx, v.vy) == (0.0, 0.0)


def test_look_alike_ratio_reads_the_highest_peak_outside_the_target():
    r = torch.zeros(16, 16)
    r[0, 0] = 2.0    # the target, at zero displacement
    r[0, 2] = 1.8    # a local maximum 2 cells away: part of the target for a radius of 3
    r[15, 10] = 1.0  # a look-alike 6 cells away (wrapped rows: dy = -1)
    assert look_alike_ratio(r, 0, 0, radius=3.0) == pytest.approx(0.5)
    assert look_alike_ratio(r, 0, 0, radius=1.0) == pytest.approx(0.9)
    assert look_alike_ratio(r, 0, 0, radius=8.0) == 0.0  # nothing outside the target
    assert look_alike_ratio(-r, 0, 0, radius=1.0) == 0.0  # no positive peak to compare with


def test_the_noise_gate_passes_steady_motion_and_stops_jitter():
    steady = ConstantVelocity(lr=0.5, gate=1.0)
    steady.found((0.0, 0.0), (8.0, 0.0))
    assert not steady.significant()  # one displacement says little about the next
    steady.found((8.0, 0.0), (16.0, 0.0))
    assert steady.significant() and steady.predict((16.0, 0.0), 100, 100, 50.0)[0] > 16.0
    jitter = ConstantVelocity(lr=0.5, gate=1.0)
    rng = np.random.default_rng(0)
    x, moved = 50.0, 0
    for _ in range(200):
        nx = 50.0 + rng.normal(0.0, 1.0)
        jitter.found((x, 50.0), (nx, 50.0))
        x = nx
        moved += jitter.predict((x, 50.0), 100, 100, 50.0) != (x, 50.0)
    ungated = ConstantVelocity(lr=0.5)
    ungated.found((0.0, 0.0), (1.0, 0.0))
    assert ungated.significant()  # gate 0: always, as before
    assert moved < 40  # a still target with a jittering estimate keeps its crop (mostly)


def test_velocity_is_reset_by_initialize(config):
    seq = fast_small_target(seed=1, speed=20.0, start_speed=6.0)
    tracker = RARTracker(config.replace(motion_prior=True))
    tracker.initialize(seq.frame(0), seq.gt[0])
    for i in range(1, 6):
        tracker.track(seq.frame(i))
    assert tracker._state.motion.vx != 0.0
    tracker.initialize(seq.frame(5), seq.gt[5])
    assert (tracker._state.motion.vx, tracker._state.motion.vy) == (0.0, 0.0)


def test_recentre_removes_the_windows_pull_towards_the_old_position(config):
    # a 28 px object 22 px (a quarter of its 84 px search side) from where it was: the cosine
    # window weighs its near side more, and one search finds it short of where it is
    errors = {}
    for recentre in (0.0, 0.125):
        found = []
        for seed in range(3):
            seq = fast_small_target(num_frames=2, seed=seed, target_size=(28, 28), speed=22.0)
            tracker = RARTracker(config.replace(recentre=recentre))
            tracker.initialize(seq.frame(0), seq.gt[0])
            box = tracker.track(seq.frame(1)).box
            truth = Box(*seq.gt[1])
            moved = np.subtract(truth.center, Box(*seq.gt[0]).center)
            error = np.subtract(box.center, truth.center)
            found.append((np.linalg.norm(error), float(error @ moved) / np.linalg.norm(moved)))
        errors[recentre] = np.array(found)
    one_look, two_looks = errors[0.0], errors[0.125]
    assert (one_look[:, 1] < -0.5).all()  # short of the target, along its motion
    assert (two_looks[:, 0] < 0.5 * one_look[:, 0]).all()
    assert (two_looks[:, 0] < 1.0).all()


def test_a_minimum_speed_keeps_a_slow_targets_crop_still_and_lets_a_fast_one_move(config):
    fast = fast_small_target(seed=1, speed=20.0, start_speed=6.0)
    on, _ = ious(config, fast, motion_prior=True, motion_min_speed=0.1)
    assert np.nanmean(on[-5:]) > 0.7  # 6-20 px per frame of a 36 px side: the crop moves
    slow = fast_small_target(seed=2, speed=1.5, target_size=(24, 24))
    for changes, moved in ((dict(motion_prior=True, motion_min_speed=0.0), True),
                           (dict(motion_prior=True, motion_min_speed=0.1), False)):
        tracker = RARTracker(config.replace(**changes))
        tracker.initialize(slow.frame(0), slow.gt[0])
        for i in range(1, 6):
            tracker.track(slow.frame(i))
        st = tracker._state
        centre = tracker._search_center(*st.image_size)
        # 1.5 px per frame is under a tenth of the 72 px side: the crop stays on the last centre
        assert (centre != st.center) == moved


def test_the_crop_follows_a_fast_target_from_the_frame_after_its_first_step(config):
    # 10 px per frame, 0.14 of the 72 px side: with the last displacement as the velocity (the
    # shipped motion_lr 1) the next crop is centred where the target goes; smoothed (0.5), the
    # velocity is half the step, under the gate of a tenth of the side, and the crop waits
    seq = fast_small_target(seed=1, speed=10.0, target_size=(24, 24))
    for lr, moves in ((1.0, True), (0.5, False)):
        tracker = RARTracker(config.replace(motion_prior=True, motion_lr=lr))
        tracker.initialize(seq.frame(0), seq.gt[0])
        before = tracker._state.center
        tracker.track(seq.frame(1))
        st = tracker._state
        side = tracker._side(st.size)
        step = np.subtract(st.center, before)
        assert 0.1 * side < np.linalg.norm(step) < 0.2 * side
        shift = np.subtract(tracker._search_center(*st.image_size), st.center)
        if moves:
            assert shift == pytest.approx(step, abs=1e-6)
        else:
            assert not shift.any()


def test_colour_model_holds_a_target_whose_layout_changes(config):
    # the target's tiles are shuffled anew every frame: its colours stay, the layout the
    # filter's template learned does not; the colour answer keeps the box on it more tightly
    for seed in range(3):
        seq = scrambled_target(seed=seed)
        off, _ = ious(config, seq)
        on, tracker = ious(config, seq, colour_weight=0.3)
        assert on.mean() > off.mean() + 0.04
        assert on.min() > 0.5
    state = tracker.get_state()  # the colour histograms travel with the state, as copies
    assert state.colour.fg is not None and state.colour is not tracker._state.colour


@pytest.mark.parametrize('seed', [0, 1])
def test_window_agreement_keeps_the_target_when_a_twin_passes_behind_it(config, seed):
    # the twin passes behind the target at 8 px per frame: with the flat window alone the
    # box ends off the target; taking the flat window's answer only where the Hann window's
    # agrees keeps it
    seq = crossing_twin(30, seed=seed, twin_on_top=False, speed=8.0)
    flat, _ = ious(config, seq, window_taper=0.5)
    both, _ = ious(config, seq, window_taper=0.5, window_agreement=True)
    assert np.nanmean(flat[-5:]) < 0.1
    assert np.nanmean(both[-5:]) > 0.7


def test_response_window_prefers_the_nearer_of_two_peaks(config):
    # the Hann window moved from the features to the choice of the peak: of two answers, 2 and
    # 8 cells away (wrapped layout, index 0 is no motion), the nearer wins though it is lower
    seq = fast_small_target(num_frames=2, seed=0, target_size=(24, 24), speed=0.0)
    tracker = RARTracker(config.replace(window_taper=0.5, response_window=True))
    tracker.initialize(seq.frame(0), seq.gt[0])
    response = torch.zeros(tracker.feature_size)
    response[0, 2], response[-8, 0] = 0.9, 1.0
    choice = tracker._choice_map(seq.frame(1), response, tracker._state.center, 72.0)
    assert divmod(int(choice.argmax()), choice.shape[1]) == (0, 2)
    assert choice[0, 2] == pytest.approx(0.9 * float(tracker.response_prior[0, 2]))


def test_flat_window_only_while_fast_tightens_a_fast_target_and_spares_a_slow_one(config):
    # a 20 px object speeding up from 6 to 20 px per frame (a third of its 60 px side): the
    # Hann window halves it near the border and the box trails; the flat window does not
    changes = dict(window_taper=0.5, flat_window_speed=0.1)
    for seed in (1, 2):
        seq = fast_small_target(seed=seed, speed=20.0, start_speed=6.0, target_size=(20, 20))
        off, _ = ious(config, seq)
        on, tracker = ious(config, seq, **changes)
        assert on.mean() > off.mean() + 0.03
        assert tracker._moving_fast()
    slow = fast_small_target(seed=2, speed=1.5, target_size=(24, 24))
    _, tracker = ious(config, slow, **changes)
    assert not tracker._moving_fast()  # 1.5 px per frame of a 72 px side: the Hann window


def crops_chosen(config, seq, **changes):
    """IoU per frame and the index of the crop each frame's position came from."""
    tracker = RARTracker(config.replace(**changes))
    tracker.initialize(seq.frame(0), seq.gt[0])
    results = [tracker.track(seq.frame(i)) for i in range(1, len(seq))]
    return (np.array([Box(*seq.gt[i + 1]).iou(r.box) for i, r in enumerate(results)]),
            [r.extras['crop_index'] for r in results])


@pytest.mark.parametrize('seed', [0, 1])
def test_camera_motion_looks_where_the_pan_took_the_target_and_not_past_a_followed_one(
        config, seed):
    # the camera pans 24 px per frame (a third of a 24 px target's 72 px search side)
    still = panning_camera(20, seed=seed, pan=24.0)
    off, _ = crops_chosen(config, still)
    on, crops = crops_chosen(config, still, camera_motion=0.1)
    assert np.mean(off) < 0.9  # found, but lagging behind
    assert np.mean(on) > 0.95 and min(on) > 0.9
    assert sum(k >= 3 for k in crops) > len(crops) / 2  # the moved pyramid won
    # a camera following its target moves the ground instead: the moved search runs and loses
    followed = panning_camera(20, seed=seed, pan=24.0, follow=True)
    off, _ = crops_chosen(config, followed)
    on, crops = crops_chosen(config, followed, camera_motion=0.1)
    np.testing.assert_allclose(on, off, atol=1e-6)  # (a batch of six crops rounds apart)
    assert max(crops) < 3


def test_the_global_shift_of_a_panned_frame():
    seq = panning_camera(3, size=(1280, 360), seed=0, pan=20.0)
    shift = GlobalShift(seq.frame(0))
    dx, dy = shift.update(seq.frame(1))  # the ground moved 20 px to the left
    assert abs(dx + 20.0) < 1.0 and abs(dy) < 1.0
    copy = shift.copy()
    assert shift.update(seq.frame(2)) == pytest.approx(copy.update(seq.frame(2)))
    assert GlobalShift(seq.frame(0)).update(seq.frame(0)) == pytest.approx((0.0, 0.0), abs=0.05)


def test_colour_mask_weighs_the_target_patch_by_colour_and_says_nothing_without_evidence(config):
    from rar_tracking.data.synthetic import make_sequence
    seq = make_sequence(2, seed=1)
    tracker = RARTracker(config.replace(colour_mask=True))
    tracker.initialize(seq.frame(0), seq.gt[0])
    st = tracker._state
    side = tracker._side(st.size)
    with torch.no_grad():
        phi, _ = tracker._features(seq.frame(0), [st.center], [side], tracker.config.crop, None)
        box = tracker._box_cells(st.size, side)
        plain = tracker._template_terms(phi, box)
        flat = tracker._template_terms(phi, box, np.full(phi.shape[-2:], 0.5, np.float32))
        cells = st.colour.cell_map(seq.frame(0), st.center, side, tracker.config.crop,
                                   phi.shape[-1], tracker.stride)
        masked = tracker._template_terms(phi, box, cells)
    for a, b in zip(plain, flat):  # a likelihood of 0.5 everywhere: the window as it was
        torch.testing.assert_close(a, b)
    # the target's cells weigh more than the background's: the target patch's energy moves
    h, w = phi.shape[-2:]
    inner = cells[h // 2 - 1:h // 2 + 2, w // 2 - 1:w // 2 + 2].mean()
    assert inner > 0.8 and cells.mean() < 0.5
    assert not torch.allclose(masked[1], plain[1], rtol=1e-3)
    torch.testing.assert_close(masked[2], plain[2])  # the context patches keep the crop window


def aspect(tracker) -> float:
    """Width over height of the last box the tracker reported."""
    box = tracker._state.last.box
    return box.w / box.h


def test_a_stretching_target_gets_its_aspect_ratio_from_the_regression(config):
    # the width grows 1.8x while the height stays: the pyramid keeps the first aspect ratio
    seq = stretching_target(seed=0)
    off, off_tracker = ious(config, seq)
    on, on_tracker = ious(config, seq, box_regression=True)
    fed, fed_tracker = ious(config, seq, box_regression=True, box_regression_lr=0.5)
    assert aspect(off_tracker) == pytest.approx(1.0, abs=0.01)
    assert aspect(on_tracker) > 1.1 and on[-5:].mean() > off[-5:].mean() + 0.05
    # fed back, the next frame's correction starts from the corrected box: it keeps up
    assert aspect(fed_tracker) > 1.5 and fed[-5:].mean() > 0.8
    assert off[-5:].mean() < 0.65


def test_an_averaged_size_correction_lags_and_leaves_the_centre(config):
    seq = stretching_target(seed=1, num_frames=16)
    _, each = ious(config, seq, box_regression=True)
    _, averaged = ious(config, seq, box_regression=True, box_regression_rate=0.1,
                       box_regression_centre=False)
    # the centre reported is the filter's
    assert averaged._state.last.box.center == pytest.approx(averaged._state.center)
    assert 1.02 < aspect(averaged) < aspect(each)  # corrected, behind a steady change


def test_the_reported_box_only_unless_fed_back(config):
    # box_regression_lr 0: the tracker's own box (where it searches) is the pyramid's, exactly
    seq = stretching_target(seed=1, num_frames=8)
    _, plain = ious(config, seq)
    _, on = ious(config, seq, box_regression=True)
    assert on._state.size == plain._state.size and on._state.center == plain._state.center
    assert on._state.last.box.w != pytest.approx(on._state.size[0])
    _, fed = ious(config, seq, box_regression=True, box_regression_lr=1.0)
    assert fed._state.size[0] / fed._state.size[1] > 1.2  # taken into the tracker's box
    state = fed.get_state()  # the regression is shared by a saved state, read only
    assert state.regressor is fed._state.regressor
