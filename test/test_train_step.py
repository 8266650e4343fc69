"""The training step: same geometry as the tracker, gradients where they belong, learning."""
import math

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from rar_tracking.config import TrackerConfig
from rar_tracking.data.synthetic import make_sequence
from rar_tracking.model.backbone import build_trunk
from rar_tracking.model.rar import RARNet
from rar_tracking.tracker import RARTracker
from rar_tracking.train.config import TrainConfig
from rar_tracking.train.data import (AugmentSettings, ClipDataset, ClipSampler, ClipSettings,
                                     crop_target)
from rar_tracking.geometry import Geometry, probe_feature_size, shifted_label
from rar_tracking.train.loop import (LogLinearDecay, build_optimizer, configure_trainable,
                                     train_step)
from rar_tracking.train.step import ClipModel, response_metrics


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def _net(trunk='efficientnet_lite0', seed=0):
    torch.manual_seed(seed)
    return RARNet(build_trunk(trunk, allow_random=trunk != 'efficientnet_lite0'), 64).train()


def _batch(geometry, n=2, t=2, seed=0):
    sequences = [make_sequence(16, (160, 120), seed=s, target_size=(30, 26)) for s in range(2)]
    dataset = ClipDataset(ClipSampler(sequences, ClipSettings(t, 3)), geometry, n,
                          AugmentSettings(), seed=seed)
    return default_collate([dataset[i] for i in range(n)])


def _image_tensor(crop):
    return torch.from_numpy(crop.image).permute(2, 0, 1)[None]


def test_filter_and_response_equal_the_trackers():
    """With the crop the tracker would take, the training graph computes the tracker's
    filter (Eq. 10) and, with the attention state carried from the template, its response."""
    net = _net()
    with torch.no_grad():  # heads away from their identity start, so the state matters
        for p in net.head_parameters():
            p.add_(0.2 * torch.randn_like(p))
    config = TrackerConfig(trunk='efficientnet_lite0', crop_size=97, device='cpu', num_scales=1)
    tracker = RARTracker(config, net=net)
    geometry = Geometry.from_config(config, probe_feature_size(net, 97))
    assert geometry.feature_size == tracker.feature_size[0]
    torch.testing.assert_close(shifted_label(geometry.feature_size, geometry.sigma,
                                             torch.zeros(1), torch.zeros(1))[0], tracker.label)
    model = ClipModel(net, geometry).eval()

    seq = make_sequence(4, (320, 240), seed=1, speed=6.0)
    box0, box1 = seq.gt_box(0), seq.gt_box(1)
    tracker.initialize(seq.frame(0), box0)
    template = crop_target(seq.frame(0), box0, geometry)
    box_cells = torch.tensor([geometry.box_cells(*template.size, template.side)],
                             dtype=torch.float64)
    with torch.no_grad():
        phi_z, _ = model.features(_image_tensor(template), None)
        w_hat = model.filter(phi_z, box_cells)
    torch.testing.assert_close(w_hat, tracker.get_state().templates.filter(
        config.lambda1, config.lambda2), rtol=1e-4, atol=1e-6)

    result = tracker.track(seq.frame(1))
    # The tracker searched around the previous centre with the previous size: the same crop
    # is the true box's crop shifted by (previous - true centre) and scaled.
    (cx0, cy0), (cx1, cy1) = box0.center, box1.center
    scale = math.sqrt(box0.w * box0.h / (box1.w * box1.h))
    search = crop_target(seq.frame(1), box1, geometry, (cx0 - cx1, cy0 - cy1), scale)
    assert search.offset != (0.0, 0.0)
    label = shifted_label(geometry.feature_size, geometry.sigma,
                          torch.tensor([search.offset[0]]), torch.tensor([search.offset[1]]))
    with torch.no_grad():
        out = model(_image_tensor(template), _image_tensor(search)[:, None], label[:, None],
                    box_cells)
        fresh, _ = model.features(_image_tensor(search), None)
        fresh_peak = float(torch.fft.irfft2((w_hat * torch.fft.rfft2(fresh * model.window))
                                            .sum(1), s=fresh.shape[-2:]).max())
    # Equal up to float32 rounding (measured 0 to 6e-8); a fresh attention state instead of the
    # template's gives a different peak (measured 1.4e-5 with these heads), so the state is
    # really carried.
    assert abs(float(out['response'].max()) - result.peak) < 1e-6
    assert abs(fresh_peak - result.peak) > 5e-6


def test_gradients_reach_heads_and_trunk_conv3_to_conv5_only():
    net = _net('resnet18')
    configure_trainable(net, heads_only=False)
    geometry = Geometry.from_config(TrackerConfig(crop_size=97), probe_feature_size(net, 97))
    model = ClipModel(net, geometry)
    batch = _batch(geometry)
    model(batch['template'], batch['search'], batch['label'], batch['box_cells'])['loss'] \
        .backward()
    trunk = net.trunk
    for module in (trunk.conv1, trunk.bn1, trunk.layer1):
        assert all(p.grad is None for p in module.parameters())
    for module in (trunk.layer2, trunk.layer3, trunk.layer4):
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0
    # every head parameter gets a gradient: attention (ConvLSTM, Eq. 4-6), refinement, reduction
    for name, p in net.named_parameters():
        if not name.startswith('trunk.'):
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert float(net.attention[0].lstm.gates.weight.grad.abs().sum()) > 0


def test_heads_only_freezes_the_whole_trunk():
    net = _net('resnet18')
    params = configure_trainable(net, heads_only=True)
    assert {id(p) for p in params} == {id(p) for p in net.head_parameters()}
    assert not any(p.requires_grad for p in net.trunk.parameters())


def test_loss_goes_down_on_a_fixed_batch():
    net = _net()
    cfg = TrainConfig.from_dict({
        'tracker': {'trunk': 'efficientnet_lite0', 'crop_size': 97},
        'data': {'train': [{'kind': 'synthetic', 'count': 1}]},
        'optim': {'lr_start': 0.05, 'lr_end': 0.05, 'samples_per_epoch': 10, 'batch_size': 2}})
    params = configure_trainable(net, heads_only=True)
    geometry = Geometry.from_config(cfg.tracker_config, probe_feature_size(net, 97))
    model = ClipModel(net, geometry)
    batch = _batch(geometry, n=2, t=2, seed=3)
    optimizer, scheduler = build_optimizer(params, cfg, 10)
    scaler = torch.amp.GradScaler('cuda', enabled=False)
    losses = [train_step(model, batch, optimizer, scheduler, scaler, params, 10.0,
                         torch.device('cpu'))['loss'] for _ in range(6)]
    assert np.mean(losses[-2:]) < 0.9 * np.mean(losses[:2]), losses
    assert all(math.isfinite(v) for v in losses)


def test_log_linear_decay_runs_from_lr_start_to_lr_end():
    decay = LogLinearDecay(11, 0.1)
    factors = [decay(s) for s in range(13)]
    assert factors[0] == 1.0 and factors[10] == pytest.approx(0.1) and factors[12] == factors[10]
    np.testing.assert_allclose(np.diff(np.log10(factors[:11])), -0.1)


def test_response_metrics_measure_peak_and_offset():
    f = 13
    offsets = torch.tensor([[[2.0, -1.0], [0.0, 0.0]]])  # (B=1, T=2, 2)
    response = shifted_label(f, 1.0, torch.tensor([2.0, 4.0]), torch.tensor([-1.0, 0.0]))
    response = response.reshape(1, 2, f, f) * torch.tensor([0.5, 0.8]).reshape(1, 2, 1, 1)
    m = response_metrics(response, offsets)
    assert m['peak_mean'] == pytest.approx(0.65) and m['peak_max'] == pytest.approx(0.8)
    assert m['offset_error'] == pytest.approx(2.0)  # (0 + 4) / 2 cells
    assert m['hit_rate'] == pytest.approx(0.5)
