"""TrackerConfig.ablate: each switch removes exactly its part of the RAR network."""
import numpy as np
import pytest
import torch

from rar_tracking.config import TrackerConfig
from rar_tracking.model.rar import build_network


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def _net(ablate='', **fields):
    config = TrackerConfig(trunk='efficientnet_lite0', profile='fast', crop_size=97,
                           device='cpu', ablate=ablate, **fields)
    net = build_network(config).eval()
    with torch.no_grad():  # heads away from their start, so every part matters
        g = torch.Generator().manual_seed(3)
        for p in net.head_parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return net


def _crops(seed):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 255, (2, 3, 97, 97)).astype(np.float32))


@torch.no_grad()
def test_memory_ablation_forgets_the_previous_frame():
    for ablate, carried in (('', True), ('memory', False)):
        net = _net(ablate)
        _, state, _ = net(_crops(0))
        with_state, _, _ = net(_crops(1), state)
        fresh, _, _ = net(_crops(1))
        differs = not torch.allclose(with_state, fresh, atol=1e-6)
        assert differs == carried, ablate


@torch.no_grad()
def test_attention_ablation_skips_eq_7():
    """Without attention, changing every attention weight changes nothing; with it, it does."""
    for ablate, used in (('', True), ('attention', False)):
        net = _net(ablate)
        before, _, _ = net(_crops(0))
        for p in net.attention.parameters():
            p.mul_(-1.5)
        after, _, _ = net(_crops(0))
        assert (not torch.allclose(before, after, atol=1e-6)) == used, ablate


@torch.no_grad()
def test_refinement_ablation_sums_the_stages():
    for ablate, used in (('', True), ('refinement', False)):
        net = _net(ablate)
        before, _, _ = net(_crops(0))
        for p in net.refinement.parameters():
            p.mul_(-1.5)
        after, _, _ = net(_crops(0))
        assert (not torch.allclose(before, after, atol=1e-6)) == used, ablate
        assert before.shape[-1] == 13  # stride 8 on a 97 px crop either way


@torch.no_grad()
def test_concat_fusion_stacks_the_attended_stages_without_the_refinement():
    """stage_fusion 'concat': phi^a is the three stages' attentional features, upsampled to
    the finest and stacked (3C channels), so the filter's per-channel products never mix
    two stages; the refinement's weights play no part."""
    from rar_tracking.model.refinement import upsample_to
    net = _net(stage_fusion='concat')
    crops = _crops(0)
    phi, _, _ = net(crops)
    assert phi.shape[1] == 3 * net.channels and phi.shape[-1] == 13
    stages = net.stage_features(crops)
    outs = [module(feat, None)[0] for module, feat in zip(net.attention, stages)]
    stacked = torch.cat([upsample_to(o, outs[0]) for o in outs], dim=1)
    energy = stacked.pow(2).sum(dim=1).mean(dim=(1, 2))
    assert torch.allclose(phi, stacked / energy.sqrt()[:, None, None, None], atol=1e-5)
    for p in net.refinement.parameters():
        p.mul_(-1.5)
    assert torch.equal(net(crops)[0], phi)
    summed, _, _ = _net()(crops)  # the paper's fusion: C channels
    assert summed.shape[1] == net.channels


def test_unknown_or_unsupported_ablations_are_refused():
    with pytest.raises(ValueError, match='ablate'):
        TrackerConfig(ablate='memory,filter')
    with pytest.raises(ValueError, match='torch backend'):
        TrackerConfig(ablate='memory', backend='onnxruntime')
    assert TrackerConfig(ablate=' memory , attention').ablated == {'memory', 'attention'}
    with pytest.raises(ValueError, match='torch backend'):
        TrackerConfig(stage_fusion='concat', backend='onnxruntime')
    with pytest.raises(ValueError, match='stage_fusion'):
        TrackerConfig(stage_fusion='max')
    with pytest.raises(ValueError, match='refinement that trained'):
        TrackerConfig(stage_fusion='concat', weights='auto')
    assert TrackerConfig(stage_fusion='concat', backend='auto').resolved('cpu').backend == 'torch'


@pytest.mark.parametrize('ablate,fusion', [('memory', 'sum'), ('attention', 'sum'),
                                           ('refinement', 'sum'), ('', 'concat')])
def test_the_tracker_follows_a_target_with_each_part_removed(ablate, fusion):
    """Every ablation runs the whole tracker (initialize and several track calls), not only
    the network: the attention ablation once failed on the first track() (no ConvLSTM
    state to carry)."""
    from rar_tracking.data.synthetic import make_sequence
    from rar_tracking.tracker import RARTracker
    from rar_tracking.types import Box

    seq = make_sequence(6, (320, 240), seed=0, speed=2.0)
    tracker = RARTracker(TrackerConfig(trunk='efficientnet_lite0', profile='fast',
                                       crop_size=97, device='cpu', ablate=ablate,
                                       stage_fusion=fusion))
    tracker.initialize(seq.frame(0), Box(*seq.gt[0]))
    for i in range(1, 6):
        result = tracker.track(seq.frame(i))
        assert result.box.is_finite()
