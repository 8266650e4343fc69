"""The stateful tracker on generated sequences with exact ground truth."""
import numpy as np
import pytest
import torch

from rar_tracking import Box, TrackerConfig, TrackState
from rar_tracking.data.synthetic import make_sequence
from rar_tracking.errors import (DeviceError, InvalidBoxError, InvalidImageError,
                                 NotInitializedError)
from rar_tracking.tracker import RARTracker


@pytest.fixture(scope='module')
def tracker(fast_config):
    return RARTracker(fast_config)


def run(tracker, seq):
    tracker.initialize(seq.frame(0), seq.gt[0])
    return [tracker.track(seq.frame(i)) for i in range(1, len(seq))]


def mean_iou(seq, results):
    ious = [Box(*seq.gt[i]).iou(r.box) for i, r in enumerate(results, start=1)
            if not np.isnan(seq.gt[i]).any()]
    return float(np.mean(ious))


@pytest.mark.slow
def test_follows_a_textured_object_with_scale_change(tracker):
    # The pyramid (step 1.02, scale_lr 0.6) follows at most 1.2 % of size change per frame:
    # +-20 % over one sine period of 90 frames peaks at 1.4 %/frame (over 50 frames it would
    # be 2.5 %/frame, faster than the paper's pyramid can follow).
    seq = make_sequence(90, seed=2, scale_change=0.2)
    results = run(tracker, seq)
    assert mean_iou(seq, results) > 0.6
    assert all(r.state == TrackState.TRACKING for r in results)
    assert all(0.0 <= r.confidence <= 1.0 for r in results)
    sizes = np.array([r.box.w * r.box.h for r in results])
    true = np.array([seq.gt[i, 2] * seq.gt[i, 3] for i in range(1, len(seq))])
    assert np.corrcoef(sizes, true)[0, 1] > 0.5  # the box grows and shrinks with the object


@pytest.mark.slow
@pytest.mark.parametrize('seed', [1, 2])
def test_reports_lost_while_hidden_and_recovers(tracker, seed):
    seq = make_sequence(50, seed=seed, occlusion=(20, 30), speed=2.0)
    # With untrained heads the occluder of these scenes answers at 0.11-0.17 of the reference
    # (visible frames 0.45-0.85); a lost threshold of 0.2 separates them, the mechanism is
    # what this test checks (the default threshold comes from the real training sequences).
    tracker.update_config(lost_threshold=0.2, recover_threshold=0.2)
    try:
        results = run(tracker, seq)
    finally:
        tracker.update_config(lost_threshold=TrackerConfig.lost_threshold,
                              recover_threshold=TrackerConfig.recover_threshold)
    hidden = [r for i, r in enumerate(results, start=1) if 20 <= i < 30]
    assert sum(r.state == TrackState.LOST for r in hidden) >= 5
    assert max(r.confidence for r in hidden) < min(r.confidence for r in results[:15])
    after = results[40 - 1:]
    assert all(r.state == TrackState.TRACKING for r in after)
    assert np.mean([Box(*seq.gt[i]).iou(r.box) for i, r in enumerate(after, start=40)]) > 0.6


def test_filter_and_memory_freeze_while_lost(tracker):
    seq = make_sequence(30, seed=1, occlusion=(10, 30), speed=2.0)
    # The occluder answers at 0.11-0.17 of the reference (see above): a threshold clearly
    # above it makes the loss certain, which is what this test needs.
    tracker.update_config(lost_threshold=0.2, recover_threshold=0.2)
    try:
        tracker.initialize(seq.frame(0), seq.gt[0])
        for i in range(1, 16):
            tracker.track(seq.frame(i))
        assert tracker.state == TrackState.LOST
        frozen = tracker.get_state()
        tracker.track(seq.frame(16))
        now = tracker.get_state()
    finally:
        tracker.update_config(lost_threshold=TrackerConfig.lost_threshold,
                              recover_threshold=TrackerConfig.recover_threshold)
    assert len(now.templates) == len(frozen.templates) and now.templates.betas == frozen.templates.betas
    assert all(torch.equal(a.h, b.h) for a, b in zip(now.attention, frozen.attention))


def test_lstm_state_changes_from_frame_to_frame_and_reset_clears_it(tracker):
    seq = make_sequence(4, seed=5)
    tracker.initialize(seq.frame(0), seq.gt[0])
    h0 = [s.h.clone() for s in tracker.get_state().attention]
    tracker.track(seq.frame(1))
    h1 = [s.h.clone() for s in tracker.get_state().attention]
    assert all(not torch.allclose(a, b) for a, b in zip(h0, h1))
    tracker.reset()
    assert not tracker.is_initialized and tracker.state == TrackState.IDLE
    with pytest.raises(NotInitializedError):
        tracker.track(seq.frame(2))


def test_state_copy_restores_exactly(tracker):
    seq = make_sequence(6, seed=6)
    tracker.initialize(seq.frame(0), seq.gt[0])
    tracker.track(seq.frame(1))
    saved = tracker.get_state()
    a = [tracker.track(seq.frame(i)).box for i in (2, 3)]
    tracker.set_state(saved)
    b = [tracker.track(seq.frame(i)).box for i in (2, 3)]
    assert a == b


def test_confidence_is_one_on_the_first_frame_and_does_not_saturate(tracker):
    # The reference peak is the first filter on the first crop as a search sees it, so the
    # first frame again scores about 1, and frames of a moving object score below it.
    seq = make_sequence(8, seed=1)
    tracker.initialize(seq.frame(0), seq.gt[0])
    again = tracker.track(seq.frame(0))
    assert again.peak / tracker.get_state().peak_ref == pytest.approx(1.0, abs=0.05)
    later = [tracker.track(seq.frame(i)).confidence for i in range(1, len(seq))]
    assert all(0.2 < c < 0.95 for c in later), later


def test_deterministic_on_cpu(fast_config):
    # Untrained heads come from init_seed, not from the global RNG: two trackers built after
    # different draws track identically; another init_seed is another network.
    seq = make_sequence(5, seed=7)
    boxes, nets = [], []
    for global_seed in (0, 123):
        torch.manual_seed(global_seed)
        t = RARTracker(fast_config)
        boxes.append([r.box for r in run(t, seq)])
        nets.append(t.net.state_dict())
    assert boxes[0] == boxes[1]
    other = RARTracker(fast_config.replace(init_seed=1)).net.state_dict()
    heads = [k for k in nets[0] if not k.startswith('trunk.')]
    assert heads and all(torch.equal(nets[0][k], nets[1][k]) for k in heads)
    assert not all(torch.equal(nets[0][k], other[k]) for k in heads)


def test_an_owned_network_skips_the_untrained_refinement_and_tracks_the_same(fast_config):
    """The tracker's inference speed-ups (BatchNorm folded, identity convolutions of the
    untrained refinement skipped) change no box: a tracker on a shared network, which it
    leaves as it is, follows the same boxes."""
    from rar_tracking.model.rar import build_network
    seq = make_sequence(8, seed=3)
    owned = RARTracker(fast_config)
    shared = RARTracker(fast_config, net=build_network(fast_config))
    skipped = [m for m in owned.net.refinement.modules() if getattr(m, 'skip_as_identity', 0)]
    assert len(skipped) == 6
    assert not any(getattr(m, 'skip_as_identity', 0) for m in shared.net.modules())
    for a, b in zip(run(owned, seq), run(shared, seq)):
        assert np.allclose(a.box.as_tuple(), b.box.as_tuple(), atol=1e-2)
        # float rounding of the convolutions that run in one and not the other, through the
        # filter's solve: 3.6e-4 measured
        assert abs(a.confidence - b.confidence) < 1e-3


def test_bad_boxes_and_images_are_refused_with_reasons(tracker):
    image = make_sequence(1, seed=0).frame(0)
    for box, words in [((10, 10, 0, 5), 'empty'), ((float('nan'), 1, 5, 5), 'NaN'),
                       ((1000, 1000, 10, 10), 'overlap'), ((1, 2, 3), '4 numbers')]:
        with pytest.raises(InvalidBoxError, match=words):
            tracker.initialize(image, box)
    for bad, words in [(image.astype(np.float32), 'uint8'), (image[:1], 'too small'),
                       (image[:, :, :2], 'HxWx3'), ('frame', 'numpy')]:
        with pytest.raises(InvalidImageError, match=words):
            tracker.initialize(bad, (10, 10, 20, 20))
    # a box partly outside the image is clipped, not refused
    result = tracker.initialize(image, (-10, -10, 40, 40))
    assert result.box.x >= 0 and result.box.y >= 0
    with pytest.raises(InvalidImageError, match='size changed'):
        tracker.track(np.zeros((50, 60, 3), np.uint8))
    assert tracker.is_initialized  # a bad frame does not lose the target


def test_runtime_config_changes(tracker):
    tracker.update_config(lost_threshold=0.05, scale_step=1.05)
    assert tracker.config.lost_threshold == 0.05 and max(tracker.scale_factors) == pytest.approx(1.05)
    with pytest.raises(ValueError, match='cannot change'):
        tracker.update_config(crop_size=97)
    with pytest.raises(ValueError, match='outside'):
        tracker.update_config(lost_threshold=2.0)
    tracker.update_config(**{k: TrackerConfig().as_dict()[k] for k in ('lost_threshold', 'scale_step')})


def test_cuda_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip('CUDA is available here')
    with pytest.raises(DeviceError, match='CUDA is not available'):
        RARTracker(TrackerConfig(trunk='efficientnet_lite0', crop_size=97, device='cuda'))
    with pytest.raises(DeviceError):
        RARTracker(TrackerConfig(trunk='efficientnet_lite0', crop_size=97, device='tpu'))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA (no GPU on this machine)')
def test_cuda_and_cpu_give_the_same_boxes():
    seq = make_sequence(15, seed=3)
    config = TrackerConfig(trunk='efficientnet_lite0', crop_size=129)
    cpu = run(RARTracker(config.replace(device='cpu')), seq)
    gpu = run(RARTracker(config.replace(device='cuda')), seq)
    for a, b in zip(cpu, gpu):  # fp16 trunk: within a pixel and a half
        assert abs(a.box.center[0] - b.box.center[0]) < 1.5
        assert abs(a.box.center[1] - b.box.center[1]) < 1.5


def test_cuda_graphs_are_ignored_on_a_cpu(fast_config):
    from rar_tracking.model.cuda_graph import CudaGraphRunner
    tracker = RARTracker(fast_config.replace(cuda_graphs=True))
    assert tracker.run_net is tracker.net  # the eager network: graphs exist only on CUDA
    with pytest.raises(ValueError, match='CUDA device'):
        CudaGraphRunner(tracker.net)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA (no GPU on this machine)')
@pytest.mark.parametrize('profile', ['balanced', 'full'])
def test_cuda_graphs_track_the_eager_boxes(profile):
    """Replayed graphs run the eager kernels: the same boxes and confidences, frame by frame,
    in fp32 and with the fp16 trunk; the runner captured graphs (template and scales)."""
    seq = make_sequence(20, seed=3, scale_change=0.1)
    for half in (False, True):
        config = TrackerConfig(trunk='efficientnet_lite0', profile=profile, device='cuda',
                               half_precision=half, cuda_graphs=False)
        eager_tracker = RARTracker(config)
        assert eager_tracker.run_net is eager_tracker.net
        eager = run(eager_tracker, seq)
        graphed_tracker = RARTracker(config.replace(cuda_graphs=True))
        graphed = run(graphed_tracker, seq)
        runner = graphed_tracker.run_net
        assert len(runner.graphs) >= 2 and not runner.failed
        for a, b in zip(eager, graphed):
            assert np.allclose(a.box.as_tuple(), b.box.as_tuple(), atol=0.05)
            assert abs(a.confidence - b.confidence) < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA (no GPU on this machine)')
def test_cuda_graph_outputs_are_copies():
    """A replay overwrites the graph's buffers; what a call returned must not change."""
    from rar_tracking.model.cuda_graph import CudaGraphRunner
    tracker = RARTracker(TrackerConfig(trunk='efficientnet_lite0', crop_size=129, device='cuda',
                                       cuda_graphs=False))
    runner = CudaGraphRunner(tracker.net)
    crops = torch.rand(3, 3, 129, 129, device='cuda') * 255
    phi, states, _ = runner(crops)
    phi2, states2, _ = runner(crops, states)
    first = phi.clone(), states[0].h.clone()
    runner(crops.flip(-1), states2)
    assert torch.equal(phi, first[0]) and torch.equal(states[0].h, first[1])
    with torch.no_grad():
        eager_phi, eager_states, _ = tracker.net(crops, states)
    assert torch.allclose(phi2, eager_phi, atol=1e-4)
    assert torch.allclose(states2[0].h, eager_states[0].h, atol=1e-4)


def test_gpu_crop_path_matches_the_opencv_crops():
    """The crops the CUDA path makes (torch grid_sample), checked on the CPU against cv2."""
    from rar_tracking.imaging import crop_square, crop_squares_torch
    image = make_sequence(1, seed=4).frame(0)
    centers, sides = [(100.3, 80.7), (5.0, 230.0)], [90.0, 131.5]
    torch_crops = crop_squares_torch(torch.from_numpy(image).permute(2, 0, 1).float(),
                                     centers, sides, 65)
    for crop, (cx, cy), side in zip(torch_crops, centers, sides):
        expected = crop_square(image, cx, cy, side, 65).astype(np.float32)
        diff = np.abs(crop.permute(1, 2, 0).numpy() - expected)
        assert diff.mean() < 1.0 and np.percentile(diff, 99) < 8.0
