"""Tracker adapters and the spec factory (real OpenCV trackers on synthetic frames)."""
import numpy as np
import pytest

from rar_tracking.data import make_sequence
from rar_tracking.eval.run import run_benchmark, summarize
from rar_tracking.eval.trackers import OpenCVTracker, make_tracker, parse_overrides, parse_spec
from conftest import needs_contrib
from rar_tracking.types import Box


def test_parse_spec():
    assert parse_spec('csrt') == ('csrt', None, None)
    assert parse_spec(' RAR:resnet18 ') == ('rar', 'resnet18', None)
    assert parse_spec('rar:efficientnet_lite0@/w/x.safetensors') == (
        'rar', 'efficientnet_lite0', '/w/x.safetensors')
    assert parse_spec('rar@w.pt') == ('rar', None, 'w.pt')


def test_factory_errors():
    with pytest.raises(ValueError, match="unknown tracker spec 'siamfc'"):
        make_tracker('siamfc')
    with pytest.raises(ValueError, match='take no trunk'):
        make_tracker('kcf:resnet18')
    with pytest.raises(ValueError, match="unknown trunk 'vgg'"):
        make_tracker('rar:vgg')
    with pytest.raises(FileNotFoundError, match='nowhere.safetensors'):
        make_tracker('rar:resnet18@/nowhere.safetensors')


def test_parse_overrides_types():
    assert parse_overrides(['crop_size=129', 'half_precision=false', 'lambda2=0.5',
                            'trunk=resnet18']) == {
        'crop_size': 129, 'half_precision': False, 'lambda2': 0.5, 'trunk': 'resnet18'}
    with pytest.raises(ValueError, match='unknown TrackerConfig field'):
        parse_overrides(['nope=1'])
    with pytest.raises(ValueError, match='crop_size: expected int'):
        parse_overrides(['crop_size=big'])


@pytest.mark.parametrize('spec', [pytest.param('csrt', marks=needs_contrib),
                                  pytest.param('kcf', marks=needs_contrib), 'mil'])
def test_opencv_trackers_follow_a_synthetic_object(spec):
    seq = make_sequence(12, seed=3, speed=2.0)
    tracker = make_tracker(spec)
    assert isinstance(tracker, OpenCVTracker) and tracker.name == spec.upper()
    tracker.initialize(seq.frame(0), seq.init_box)
    ious = [tracker.track(seq.frame(i)).iou(seq.gt_box(i)) for i in range(1, len(seq))]
    assert np.mean(ious) > 0.5, ious


@needs_contrib
def test_opencv_keeps_the_last_box_when_update_fails():
    seq = make_sequence(3, seed=1)
    tracker = make_tracker('kcf')
    with pytest.raises(RuntimeError, match='before initialize'):
        tracker.track(seq.frame(0))
    tracker.initialize(seq.frame(0), seq.init_box)
    box = tracker.track(seq.frame(1))
    assert tracker.state == 'TRACKING' and tracker.confidence == 1.0
    lost = tracker.track(np.zeros_like(seq.frame(1)))  # nothing to track
    assert tracker.state == 'LOST' and tracker.confidence == 0.0
    assert lost == box


@needs_contrib
def test_opencv_is_given_bgr():
    """The adapter converts RGB to BGR: a red object on a green background is seen the
    same way as OpenCV reading a file would see it (CSRT uses colour features)."""
    tracker = make_tracker('csrt')
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[..., 1] = 120
    rgb[20:40, 30:50] = (220, 30, 30)
    assert tracker._bgr(rgb)[25, 35].tolist() == [30, 30, 220]
    tracker.initialize(rgb, Box(30, 20, 20, 20))
    assert tracker.track(rgb).iou(Box(30, 20, 20, 20)) > 0.8


@needs_contrib
def test_run_benchmark_records_a_failing_tracker_and_goes_on():
    seq = make_sequence(6, seed=0)
    good = make_tracker('kcf')

    class Broken(OpenCVTracker):
        """A real CSRT whose track fails from frame 3 on."""

        def track(self, image_rgb):
            self.calls = getattr(self, 'calls', 0) + 1
            if self.calls >= 3:
                raise RuntimeError('camera unplugged')
            return super().track(image_rgb)

    broken = Broken('csrt')
    broken.name = 'broken'
    records = run_benchmark([seq], [good, broken])
    rec = records['broken'][seq.name]
    assert rec.error == 'frame 3: RuntimeError: camera unplugged'
    assert np.isfinite(rec.boxes[:3]).all() and np.isnan(rec.boxes[3:]).all()
    assert records['KCF'][seq.name].error is None
    assert np.isfinite(records['KCF'][seq.name].boxes).all()
    summary = summarize(records)
    assert summary['broken']['errors'] == {seq.name: rec.error}
    # The frames after the failure count as misses.
    assert summary['broken']['sequences'][seq.name]['mean_iou'] <= 2 / 5
