"""weights: auto — the trained heads that ship with the package, and how they are found."""
import json
import logging

import pytest
import torch

from rar_tracking.config import TrackerConfig
from rar_tracking.model import weights as weights_module
from rar_tracking.model.rar import build_network
from rar_tracking.model.weights import (SHIPPED_DIR, resolve_weights, save_rar_weights,
                                        shipped_weights_path)
from rar_tracking.train.ship import fingerprint


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def shipped_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(weights_module, 'SHIPPED_DIR', tmp_path)
    monkeypatch.setattr(weights_module, '_warned_auto', set())
    return tmp_path


def test_none_and_paths_resolve_as_given():
    assert resolve_weights(TrackerConfig(weights='')) == ''
    assert resolve_weights(TrackerConfig(weights='none')) == ''
    assert resolve_weights(TrackerConfig(weights='/x/y.safetensors')) == '/x/y.safetensors'


def test_auto_picks_the_file_of_the_trunk_and_profile(shipped_dir):
    config = TrackerConfig(trunk='efficientnet_lite0', profile='fast', device='cpu')
    path = shipped_weights_path(config)
    assert path == shipped_dir / 'efficientnet_lite0_fast.safetensors'
    net = build_network(config.replace(weights='none'))
    with torch.no_grad():
        for p in net.head_parameters():
            p.add_(0.05)
    save_rar_weights(net, path, config=config)
    assert resolve_weights(config.replace(weights='auto')) == str(path)
    loaded = build_network(config.replace(weights='auto'))
    torch.testing.assert_close(loaded.state_dict(), net.state_dict())


def test_auto_runs_untrained_heads_with_one_warning_when_nothing_fits(shipped_dir, caplog):
    config = TrackerConfig(trunk='efficientnet_lite0', profile='fast', device='cpu')
    with caplog.at_level(logging.WARNING):
        assert resolve_weights(config.replace(weights='auto')) == ''
        assert resolve_weights(config.replace(weights='auto')) == ''
    assert len([r for r in caplog.records if 'no trained heads ship' in r.message]) == 1
    save_rar_weights(build_network(config), shipped_weights_path(config), config=config)
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # another crop: the file's geometry does not fit
        assert resolve_weights(config.replace(weights='auto', crop_size=161)) == ''
    assert any('crop = 193' in r.message and 'crop = 161' in r.message for r in caplog.records)
    # the same file named explicitly is refused, naming the key
    from rar_tracking.errors import WeightsError
    with pytest.raises(WeightsError, match='crop'):
        build_network(config.replace(weights=str(shipped_weights_path(config)), crop_size=161))


RECORDS = sorted(SHIPPED_DIR.glob('*.json'))


@pytest.mark.skipif(not RECORDS, reason='no trained heads ship in rar_tracking/weights')
@pytest.mark.parametrize('record_path', RECORDS, ids=lambda p: p.stem)
def test_the_shipped_heads_load_as_trained(record_path):
    """weights: auto loads the shipped file for its trunk and profile, and the network it gives
    reproduces the fingerprint recorded when the file was shipped; untrained heads do not."""
    record = json.loads(record_path.read_text())
    trunk, profile = record_path.stem.rsplit('_', 1)
    # the label width the heads were trained with (the tracker's default changed after)
    sigma = float(record['metadata']['config.label_sigma'])
    config = TrackerConfig(trunk=trunk, profile=profile, device='cpu', weights='auto',
                           label_sigma=sigma)
    assert resolve_weights(config) == str(record_path.with_suffix('.safetensors'))
    expected = record['fingerprint']['values']
    crop = record['fingerprint']['crop']
    assert crop == config.crop
    trained = fingerprint(build_network(config), crop)
    torch.testing.assert_close(torch.tensor(trained), torch.tensor(expected), rtol=1e-3,
                               atol=1e-3)
    untrained = fingerprint(build_network(config.replace(weights='none')), crop)
    assert max(abs(a - b) for a, b in zip(untrained, expected)) > 1e-2
    assert not set(record['sequences']['train']) & set(record['sequences']['val'])


def test_filter_only_keys_do_not_refuse_trained_heads(shipped_dir):
    """The context patches (k, offset) enter only the filter of Eq. 10, not the network: heads
    trained with k = 4 run with k = 0 (the ablation) through 'auto' and an explicit path."""
    config = TrackerConfig(trunk='efficientnet_lite0', profile='fast', device='cpu')
    path = shipped_weights_path(config)
    save_rar_weights(build_network(config), path, config=config)
    k0 = config.replace(weights='auto', num_context=0)
    assert resolve_weights(k0) == str(path)
    build_network(k0.replace(weights=str(path)))
