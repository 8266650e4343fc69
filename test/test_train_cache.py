"""Head training on cached trunk features: the same graph, the same loss, and the data split
that keeps the evaluation sequences out of training."""
import json
from pathlib import Path

import pytest
import torch
import yaml
from torch.utils.data import default_collate

from rar_tracking.config import TrackerConfig
from rar_tracking.data.synthetic import make_sequence
from rar_tracking.geometry import Geometry, probe_feature_size
from rar_tracking.model.backbone import build_trunk
from rar_tracking.model.rar import RARNet
from rar_tracking.train.config import load_config
from rar_tracking.train.data import AugmentSettings, ClipDataset, ClipSampler, ClipSettings
from rar_tracking.train.feature_cache import CachedClips
from rar_tracking.train.step import ClipModel

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared' / 'data'


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def _setup(n=3, t=2):
    torch.manual_seed(0)
    net = RARNet(build_trunk('efficientnet_lite0', native_strides=True), 32, 16).train()
    with torch.no_grad():  # heads away from their start, so every part of the graph matters
        for p in net.head_parameters():
            p.add_(0.1 * torch.randn_like(p))
    config = TrackerConfig(trunk='efficientnet_lite0', crop_size=97, feature_channels=32,
                           memory_channels=16, device='cpu')
    geometry = Geometry.from_config(config, probe_feature_size(net, 97), net.output_stride)
    sequences = [make_sequence(12, (160, 120), seed=s, target_size=(30, 26)) for s in range(2)]
    clips = ClipDataset(ClipSampler(sequences, ClipSettings(t, 3)), geometry, n,
                        AugmentSettings(), seed=4)
    return net, geometry, clips


def test_cached_clips_give_the_uncached_loss_and_gradients():
    """Items i of the cache are the uncached items (0, i) with the trunk already run: the
    loss and the heads' gradients agree up to the float16 storage."""
    net, geometry, clips = _setup()
    cache = CachedClips(clips, net, 3, torch.device('cpu'), batch_size=2)
    assert len(cache) == 3 and cache.nbytes > 0
    assert cache.template[0].dtype == torch.float16
    model = ClipModel(net, geometry)

    def loss_and_grads(batch):
        net.zero_grad()
        out = model(batch['template'], batch['search'], batch['label'], batch['box_cells'])
        out['loss'].backward()
        grads = torch.cat([p.grad.flatten() for p in net.head_parameters()])
        return out['loss'].detach(), grads

    plain = default_collate([clips[(0, i)] for i in range(3)])
    cached = default_collate([cache[(7, i)] for i in range(3)])  # the pool ignores the epoch
    assert cached['sequence'] == plain['sequence']
    torch.testing.assert_close(cached['label'], plain['label'])
    loss_plain, grads_plain = loss_and_grads(plain)
    loss_cached, grads_cached = loss_and_grads(cached)
    assert float(loss_plain) > 0
    torch.testing.assert_close(loss_cached, loss_plain, rtol=2e-3, atol=1e-5)
    cosine = torch.nn.functional.cosine_similarity(grads_cached, grads_plain, dim=0)
    assert float(cosine) > 0.999


def test_a_cache_needs_a_frozen_trunk(tmp_path):
    with pytest.raises(ValueError, match='heads_only'):
        load_config(ROOT / 'config' / 'train_heads.yaml',
                    ['runtime.cache_features=true', 'optim.heads_only=false'])
    with pytest.raises(ValueError, match='cache_clips'):
        load_config(ROOT / 'config' / 'train_heads.yaml',
                    ['runtime.cache_features=true', 'runtime.cache_clips=10'])


def test_the_heads_configuration_trains_off_the_held_out_and_evaluation_sequences():
    """train_heads.yaml trains on ../shared/data/train without config/splits.yaml's
    validation names, validates on exactly those, and reads nothing of ../shared/data/tracking."""
    cfg = load_config(ROOT / 'config' / 'train_heads.yaml')
    held_out = set(yaml.safe_load((ROOT / 'config' / 'splits.yaml').read_text())['validation'])
    real_train = [s for s in cfg.train if s.kind != 'synthetic']
    real_val = [s for s in cfg.val if s.kind != 'synthetic']
    assert real_train and real_val
    for source in real_train + real_val:
        assert Path(source.path).name == 'train', source.path
    assert all(set(s.exclude) == held_out and not s.include for s in real_train)
    assert all(set(s.include) == held_out for s in real_val)
    manifest = SHARED / 'train' / 'manifest.json'
    if manifest.is_file():
        doc = json.loads(manifest.read_text())
        names = {s['name'] for s in (doc if isinstance(doc, list) else doc['sequences'])}
        assert held_out <= names, held_out - names
        training = set(yaml.safe_load((ROOT / 'config' / 'splits.yaml').read_text())['training'])
        assert training == names - held_out  # the two splits partition the folder
        evaluation = SHARED / 'tracking' / 'manifest.json'
        if evaluation.is_file():
            doc = json.loads(evaluation.read_text())
            assert not names & {s['name'] for s in
                                (doc if isinstance(doc, list) else doc['sequences'])}
