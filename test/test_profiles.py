"""The profiles with native trunk strides ('balanced', 'fast': upsampling refinement), the
inference-only BatchNorm folding, the ConvLSTM's shared-state shortcut, and the config rules
around them."""
import math

import numpy as np
import pytest
import torch

from rar_tracking import TrackerConfig
from rar_tracking.data.synthetic import make_sequence
from rar_tracking.model.attention import AttentionState, ConvLSTMCell
from rar_tracking.model.rar import build_network
from rar_tracking.tracker import RARTracker


def test_fast_profile_keeps_three_levels_at_native_strides_and_stride_8_output():
    assert TrackerConfig().profile == 'balanced' and TrackerConfig().crop == 225
    assert TrackerConfig(profile='fast').crop == 193 and TrackerConfig(profile='full').crop == 225
    config = TrackerConfig(trunk='efficientnet_lite0', device='cpu', profile='fast',
                           crop_size=161, feature_channels=32)
    net = build_network(config).eval()
    assert net.trunk.strides == (8, 16, 32) and net.output_stride == 8
    with torch.no_grad():
        stages = net.stage_features(torch.rand(2, 3, 161, 161) * 255)
        assert [tuple(s.shape[-2:]) for s in stages] == [(21, 21), (11, 11), (6, 6)]
        phi, states, _ = net(torch.rand(2, 3, 161, 161) * 255)
    assert phi.shape == (2, 32, 21, 21)
    assert [tuple(s.h.shape[-2:]) for s in states] == [(21, 21), (11, 11), (6, 6)]


@pytest.mark.parametrize('profile', ['full', 'fast'])
def test_folded_batchnorm_gives_the_same_features(profile):
    config = TrackerConfig(trunk='efficientnet_lite0', device='cpu', profile=profile,
                           crop_size=129, feature_channels=32)
    plain = build_network(config).eval()
    folded = build_network(config).eval()
    folded.trunk.fold_batchnorm()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.trunk.modules())
    x = torch.rand(3, 3, 129, 129) * 255
    with torch.no_grad():
        for a, b in zip(plain.trunk(plain.normalize(x)), folded.trunk(folded.normalize(x))):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max()))


def test_convlstm_shared_state_shortcut_equals_the_concatenated_convolution():
    torch.manual_seed(0)
    cell = ConvLSTMCell(8, 8)
    x = torch.randn(3, 8, 9, 9)
    h1, c1 = torch.randn(1, 8, 9, 9), torch.randn(1, 8, 9, 9)
    shared = cell(x, h1.expand(3, -1, -1, -1), c1.expand(3, -1, -1, -1))  # the shortcut
    copied = cell(x, h1.repeat(3, 1, 1, 1), c1.repeat(3, 1, 1, 1))        # the plain path
    for a, b in zip(shared, copied):
        assert torch.allclose(a, b, atol=1e-5)


def test_shifted_memory_moves_h_and_c_and_keeps_the_channel_state():
    h = torch.zeros(1, 2, 5, 5)
    h[0, :, 3, 4] = 1.0  # one cell below and two right of the centre
    state = AttentionState(h, 2 * h, torch.ones(1, 2)).shifted(1, 2)
    assert state.h[0, 0, 2, 2] == 1.0 and state.c[0, 0, 2, 2] == 2.0
    assert float(state.h.sum()) == 2.0 and torch.equal(state.hc, torch.ones(1, 2))


def test_fast_profile_tracks_a_generated_sequence():
    seq = make_sequence(20, seed=2, speed=3.0)
    tracker = RARTracker(TrackerConfig(trunk='efficientnet_lite0', device='cpu',
                                       profile='fast', feature_channels=64))
    first = tracker.initialize(seq.frame(0), seq.gt[0])
    assert math.isfinite(first.psr) and first.psr > 0  # the first frame's own PSR, not inf
    ious = [tracker.track(seq.frame(i)).box.iou(type(first.box)(*seq.gt[i])) for i in range(1, 20)]
    assert min(ious) > 0.5, np.round(ious, 2)


def test_threshold_order_is_enforced():
    with pytest.raises(ValueError, match='lost_threshold <= recover_threshold'):
        TrackerConfig(lost_threshold=0.3, recover_threshold=0.2)
    with pytest.raises(ValueError, match='confidence_threshold'):
        TrackerConfig().replace(recover_threshold=0.3, confidence_threshold=0.25)


def test_changing_the_search_area_while_tracking_learns_the_target_again():
    seq = make_sequence(8, seed=4)
    tracker = RARTracker(TrackerConfig(trunk='efficientnet_lite0', device='cpu', crop_size=129,
                                       feature_channels=32))
    tracker.initialize(seq.frame(0), seq.gt[0])
    for i in range(1, 4):
        tracker.track(seq.frame(i))
    before = tracker.get_state()
    tracker.update_config(search_area_factor=4.0)
    after = tracker.get_state()
    # a new template set at the new scale, the box, frame count and state kept
    assert len(after.templates) == 1 and after.peak_ref != before.peak_ref
    assert after.center == pytest.approx(before.center) and after.size == pytest.approx(before.size)
    assert after.frame == before.frame and after.status == before.status
    result = tracker.track(seq.frame(4))
    assert result.box.iou(type(result.box)(*seq.gt[4])) > 0.5


def test_auto_profile_follows_the_device():
    config = TrackerConfig(trunk='efficientnet_lite0', device='cpu', profile='auto',
                           feature_channels=16)
    assert config.resolved('cuda').profile == 'full' and config.resolved('cpu').profile == 'fast'
    assert config.crop == 193  # device cpu: what the tracker will run
    tracker = RARTracker(config)
    assert tracker.config.profile == 'fast' and tracker.net.trunk.strides == (8, 16, 32)


def test_weights_record_their_geometry_and_another_geometry_is_refused(tmp_path):
    from rar_tracking.errors import WeightsError
    from rar_tracking.model.weights import read_metadata, save_rar_weights
    config = TrackerConfig(trunk='efficientnet_lite0', device='cpu', profile='fast',
                           feature_channels=16)
    path = save_rar_weights(build_network(config), tmp_path / 'w.safetensors', config=config)
    meta = read_metadata(path)
    assert meta['config.profile'] == "'fast'" and meta['config.crop'] == '193'
    RARTracker(config.replace(weights=str(path)))  # the same geometry loads
    with pytest.raises(WeightsError, match='search_area_factor'):
        RARTracker(config.replace(weights=str(path), search_area_factor=4.0))
    with pytest.raises(WeightsError, match='crop = 193.*crop = 129'):
        RARTracker(config.replace(weights=str(path), crop_size=129))


def test_auto_backend_takes_onnxruntime_on_a_cpu_and_the_profile_follows(monkeypatch):
    """backend 'auto': ONNX Runtime on a CPU when installed (then profile 'auto' is
    'balanced', measured faster than 'fast' on torch and more accurate), torch on CUDA, for
    ablations, or without onnxruntime (then profile 'auto' is 'fast')."""
    import rar_tracking.config as config_module
    config = TrackerConfig(trunk='efficientnet_lite0', device='cpu', profile='auto',
                           backend='auto', feature_channels=16)
    cuda = config.resolved('cuda')
    assert (cuda.backend, cuda.profile) == ('torch', 'full')
    assert config.replace(ablate='memory').resolved('cpu').backend == 'torch'
    assert TrackerConfig(backend='auto', profile='fast').resolved('cpu').profile == 'fast'
    if config_module.onnxruntime_installed():
        cpu = config.resolved('cpu')
        assert (cpu.backend, cpu.profile) == ('onnxruntime', 'balanced')
    monkeypatch.setattr(config_module, 'onnxruntime_installed', lambda: False)
    cpu = config.resolved('cpu')
    assert (cpu.backend, cpu.profile) == ('torch', 'fast')
    with pytest.raises(ValueError, match='torch backend only'):
        TrackerConfig(backend='onnxruntime', ablate='memory')
    TrackerConfig(backend='auto', ablate='memory')  # auto resolves to torch there


def test_auto_backend_runs_onnxruntime_and_falls_back_to_torch_when_it_cannot(monkeypatch,
                                                                            caplog):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    from rar_tracking.errors import RARError
    from rar_tracking.model import onnx_backend
    config = TrackerConfig(trunk='efficientnet_lite0', device='cpu', backend='auto',
                           crop_size=97, feature_channels=16)
    tracker = RARTracker(config)
    assert tracker.config.backend == 'onnxruntime'
    assert isinstance(tracker.run_net, onnx_backend.OnnxRunner)
    seq = make_sequence(4, seed=2)
    tracker.initialize(seq.frame(0), seq.gt[0])
    assert tracker.track(seq.frame(1)).confidence > 0

    def broken():  # an onnxruntime that is installed but cannot load
        raise onnx_backend.OnnxBackendUnavailable('onnxruntime: cannot load its library')
    monkeypatch.setattr(onnx_backend, 'import_onnxruntime', broken)
    with caplog.at_level('WARNING', logger='rar_tracking.tracker'):
        fallback = RARTracker(config)
    assert fallback.config.backend == 'torch' and fallback.run_net is fallback.net
    assert 'backend auto: ONNX Runtime failed' in caplog.text
    assert fallback.config.profile == 'balanced'  # asked for by name: kept
    # profile 'auto' then means what it means with torch on a CPU: 'fast' (not 'balanced',
    # which auto picks for ONNX Runtime), and the tracker says so and tracks with it
    caplog.clear()
    with caplog.at_level('WARNING', logger='rar_tracking.tracker'):
        auto = RARTracker(config.replace(profile='auto', crop_size=0))
    assert (auto.config.backend, auto.config.profile, auto.config.crop) == ('torch', 'fast', 193)
    assert "running torch with profile 'fast'" in caplog.text
    auto.initialize(seq.frame(0), seq.gt[0])
    assert auto.track(seq.frame(1)).confidence > 0
    with pytest.raises(RARError, match='cannot load'):  # asked for by name: refused, not hidden
        RARTracker(config.replace(backend='onnxruntime'))
