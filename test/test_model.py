"""The network's parts: trunks, attention (Eq. 3-7), refinement, weights files."""
import copy
import pickle

import cv2
import numpy as np
import pytest
import torch

from rar_tracking.errors import WeightsError
from rar_tracking.model.attention import HierarchicalAttention
from rar_tracking.model.backbone import DeformableConv3x3, EfficientNetLite0Trunk, build_trunk
from rar_tracking.model.efficientnet_lite import EfficientNetLite0, lite0_weights_path
from rar_tracking.model.rar import RARNet
from rar_tracking.model.refinement import Refinement
from rar_tracking.model.weights import load_rar_weights, read_metadata, save_rar_weights


@pytest.mark.parametrize('arch, channels', [('resnet18', (128, 256, 512)),
                                            ('resnet50', (512, 1024, 2048))])
def test_resnet_trunks_have_output_stride_8_and_deformable_conv4_1(arch, channels):
    trunk = build_trunk(arch, allow_random=True).eval()
    with torch.no_grad():
        feats = trunk(torch.zeros(1, 3, 129, 129))
    assert [f.shape[1] for f in feats] == list(channels)
    assert all(f.shape[-2:] == (17, 17) for f in feats)  # ceil(129 / 8)
    conv = trunk.layer3[0].conv2 if arch == 'resnet50' else trunk.layer3[0].conv1
    assert isinstance(conv, DeformableConv3x3)
    frozen = {id(p) for p in trunk.frozen_parameters()}
    assert frozen and all(not p.requires_grad for p in trunk.frozen_parameters())
    assert all(p.requires_grad for p in trunk.layer2.parameters() if id(p) not in frozen)


def test_deformable_conv_starts_as_the_plain_convolution():
    conv = torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2, bias=False)
    x = torch.randn(1, 8, 9, 9)
    torch.testing.assert_close(DeformableConv3x3(conv)(x), conv(x), atol=1e-5, rtol=1e-5)


def test_missing_resnet_weights_are_an_error_unless_random_is_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    with pytest.raises(WeightsError, match='no ImageNet weights for resnet50'):
        build_trunk('resnet50')
    assert build_trunk('resnet50', allow_random=True).pretrained is False


def test_efficientnet_lite0_imagenet_weights_are_real():
    """The shipped weights classify scikit-image's cat photo as a cat (ImageNet 281-285)."""
    import skimage.data
    net = EfficientNetLite0()
    net.load_state_dict(torch.load(lite0_weights_path(), weights_only=True))
    image = cv2.resize(skimage.data.chelsea(), (224, 224)).astype(np.float32) / 255.0
    x = torch.from_numpy((image - 0.5) / 0.5).permute(2, 0, 1)[None]
    with torch.no_grad():
        top = net.eval()(x).softmax(1)[0]
    assert int(top.argmax()) in range(281, 286) and float(top.max()) > 0.3
    trunk = build_trunk('efficientnet_lite0')
    assert isinstance(trunk, EfficientNetLite0Trunk) and trunk.pretrained
    assert [f.shape[-1] for f in trunk.eval()(torch.zeros(1, 3, 129, 129))] == [17, 17, 17]


def test_attention_maps_have_documented_shapes_and_ranges_and_the_lstm_remembers():
    torch.manual_seed(0)
    module = HierarchicalAttention(16)
    x1, x2 = torch.randn(2, 16, 9, 11), torch.randn(2, 16, 9, 11)
    out1, s1, maps = module(x1)
    assert out1.shape == x1.shape and s1.h.shape == x1.shape and s1.hc.shape == (2, 16)
    assert maps['channel'].shape == (2, 16) and maps['spatial'].shape == (2, 1, 9, 11)
    for m in maps.values():
        assert float(m.min()) > 0.0 and float(m.max()) < 1.0
    # Eq. 7: phi * Psi_s * Psi_c + phi lies between phi and 2 phi
    ratio = out1 / x1
    assert float(ratio.min()) >= 1.0 - 1e-5 and float(ratio.max()) <= 2.0 + 1e-5
    out2, s2, _ = module(x2, s1)
    assert not torch.allclose(s1.h, s2.h)
    fresh, _, _ = module(x2)  # no memory: differs from the same frame seen after x1
    assert not torch.allclose(out2, fresh)
    assert torch.equal(s2.select(1).h, s2.h[1:2]) and s2.select(0).expand(3).h.shape[0] == 3


def test_refinement_starts_as_the_sum_of_the_stages():
    stages = [torch.randn(1, 8, 5, 5) for _ in range(3)]
    torch.testing.assert_close(Refinement(8)(stages), sum(stages), atol=1e-5, rtol=1e-5)


def test_refinement_skips_exact_identities_only_and_gives_the_same_output():
    torch.manual_seed(0)
    stages = [torch.randn(2, 8, 9, 9), torch.randn(2, 8, 5, 5), torch.randn(2, 8, 3, 3)]
    untrained = Refinement(8).eval()
    with torch.no_grad():
        before = untrained(stages)
        assert untrained.skip_identities() == 6
        torch.testing.assert_close(untrained(stages), before, atol=1e-6, rtol=1e-6)
        trained = Refinement(8).eval()
        trained.lateral[0].weight.add_(0.01 * torch.randn_like(trained.lateral[0].weight))
        trained.out.bias.fill_(0.1)
        before = trained(stages)
        assert trained.skip_identities() == 4  # lateral[0] and out are not identities now
        torch.testing.assert_close(trained(stages), before, atol=1e-6, rtol=1e-6)
        # on other inputs too, and a copy keeps skipping (the same weights, not skipped, as
        # the reference)
        plain = Refinement(8).eval()
        plain.load_state_dict(trained.state_dict())
        other = [torch.randn_like(s) for s in stages]
        torch.testing.assert_close(copy.deepcopy(trained)(other), plain(other),
                                   atol=1e-6, rtol=1e-6)
        assert sum(getattr(m, 'skip_as_identity', False)
                   for m in copy.deepcopy(trained).modules()) == 4
    assert set(trained.state_dict()) == set(Refinement(8).state_dict())  # parameters stay


@pytest.fixture(scope='module')
def small_net():
    torch.manual_seed(0)
    return RARNet(build_trunk('resnet18', allow_random=True), channels=16).eval()


def test_rar_net_gives_normalised_stride_8_features(small_net):
    phi, states, maps = small_net(torch.rand(2, 3, 97, 97) * 255)
    assert phi.shape == (2, 16, 13, 13) and len(states) == 3 and len(maps) == 3
    energy = phi.pow(2).sum(1).mean(dim=(1, 2))
    torch.testing.assert_close(energy, torch.ones(2))


@pytest.mark.parametrize('suffix', ['.safetensors', '.pt'])
def test_weights_round_trip(small_net, tmp_path, suffix):
    path = save_rar_weights(small_net, tmp_path / f'heads{suffix}')
    other = RARNet(build_trunk('resnet18', allow_random=True), channels=16).eval()
    x = torch.rand(1, 3, 97, 97) * 255
    load_rar_weights(other, path)
    other.trunk.load_state_dict(small_net.trunk.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(other(x)[0], small_net(x)[0])
    assert read_metadata(path)['channels'] == '16'


def test_bad_weights_files_name_the_file_and_the_problem(small_net, tmp_path):
    missing = tmp_path / 'nope.safetensors'
    with pytest.raises(WeightsError, match='nope.safetensors: weights file not found'):
        load_rar_weights(small_net, missing)
    corrupt = tmp_path / 'corrupt.pt'
    corrupt.write_bytes(b'\x80\x04 not a checkpoint')
    with pytest.raises(WeightsError, match='corrupt.pt: cannot be read'):
        load_rar_weights(small_net, corrupt)
    truncated = tmp_path / 'truncated.safetensors'
    good = save_rar_weights(small_net, tmp_path / 'good.safetensors')
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(WeightsError, match='truncated.safetensors'):
        load_rar_weights(small_net, truncated)

    class Hostile:
        def __reduce__(self):
            return (print, ('pwned',))
    hostile = tmp_path / 'hostile.pt'
    hostile.write_bytes(pickle.dumps({'x': Hostile()}))
    with pytest.raises(WeightsError, match='hostile.pt: cannot be read'):
        load_rar_weights(small_net, hostile)
    wide = RARNet(build_trunk('resnet18', allow_random=True), channels=32)
    with pytest.raises(WeightsError, match='made for channels 32'):
        load_rar_weights(small_net, save_rar_weights(wide, tmp_path / 'wide.safetensors'))
    state = {k: v for k, v in small_net.state_dict().items() if not k.startswith('trunk.')}
    key = next(iter(state))
    state[key] = torch.zeros(3, 3)
    torch.save(state, tmp_path / 'shape.pt')
    with pytest.raises(WeightsError, match=f'shape.pt: {key} has shape'):
        load_rar_weights(small_net, tmp_path / 'shape.pt')
    state = {k: v.clone() for k, v in small_net.state_dict().items() if not k.startswith('trunk.')}
    state[key].fill_(float('nan'))
    torch.save(state, tmp_path / 'nan.pt')
    with pytest.raises(WeightsError, match='NaN'):
        load_rar_weights(small_net, tmp_path / 'nan.pt')
