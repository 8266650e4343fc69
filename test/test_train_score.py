"""python -m rar_tracking.train.score: weights scored on held-out clips, with look-alikes."""
import math

import pytest
import torch
import yaml

from rar_tracking.geometry import Geometry, probe_feature_size
from rar_tracking.model.weights import save_rar_weights
from rar_tracking.train.config import load_config
from rar_tracking.train.loop import build_datasets, build_network, evaluate
from rar_tracking.train.score import held_out_clips, main, score
from rar_tracking.train.step import ClipModel, twin_share

TINY = {
    'tracker': {'trunk': 'efficientnet_lite0', 'profile': 'full', 'crop_size': 97},
    'data': {'train': [{'kind': 'synthetic', 'count': 2, 'num_frames': 16, 'size': [160, 120],
                        'seed': 0}],
             'val': [{'kind': 'synthetic', 'count': 2, 'num_frames': 16, 'size': [160, 120],
                      'seed': 50}]},
    'clip': {'search_frames': 2, 'max_gap': 3},
    'optim': {'batch_size': 2},
    'runtime': {'num_workers': 0, 'val_samples': 4},
}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture()
def config(tmp_path):
    path = tmp_path / 'tiny.yaml'
    path.write_text(yaml.safe_dump(TINY))
    return str(path)


def test_twin_share_counts_peaks_nearer_the_look_alike():
    response = torch.zeros(1, 3, 9, 9)
    response[0, 0, 0, 3] = 1.0  # frame 0: peak at (0, 3), on the look-alike
    response[0, 1, 0, 0] = 1.0  # frame 1: peak at (0, 0), on the target
    response[0, 2, 0, 3] = 1.0  # frame 2: no look-alike
    offset = torch.zeros(1, 3, 2)
    twin = torch.tensor([[[0.0, 3.0], [0.0, 3.0], [math.nan, math.nan]]])
    assert twin_share(response, offset, twin) == (1, 2)
    response[0, 0, 0, 3], response[0, 0, 8, 8] = 0.0, 1.0  # wrapped: (-1, -1), near the target
    assert twin_share(response, offset, twin) == (0, 2)


def test_score_without_look_alikes_is_training_s_validation(config):
    cfg = load_config(config)
    net = build_network(cfg)
    tc = cfg.tracker_config
    geometry = Geometry.from_config(tc, probe_feature_size(net, tc.crop), net.output_stride)
    model = ClipModel(net, geometry)
    clips = held_out_clips(cfg, geometry, 4, 0.0)
    _, training_s = build_datasets(cfg, geometry)  # the clips training validates on
    for i in range(4):
        torch.testing.assert_close(clips[i]['search'], training_s[i]['search'])
        torch.testing.assert_close(clips[i]['label'], training_s[i]['label'])
    ours = score(model, clips, torch.device('cpu'), batch_size=2)
    theirs = evaluate(model, clips, 2, 0, torch.device('cpu'))
    for key in ('loss', 'offset_error', 'hit_rate', 'peak_mean'):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-5)
    assert math.isnan(ours['on_twin']) and ours['twin_frames'] == 0
    with_twins = score(model, held_out_clips(cfg, geometry, 4, 1.0), torch.device('cpu'), 2)
    assert with_twins['twin_frames'] == 4 * 2  # every search frame of every clip
    assert 0.0 <= with_twins['on_twin'] <= 1.0


def test_the_command_scores_each_file_and_names_a_bad_one(config, tmp_path, capsys):
    cfg = load_config(config)
    net = build_network(cfg)
    with torch.no_grad():
        for p in net.refinement.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = save_rar_weights(net, tmp_path / 'w.safetensors', config=cfg.tracker_config)
    assert main(['--config', config, '--weights', 'none', '--weights', str(path),
                 '--twin-prob', '1']) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith('| ') and '---' not in line]
    assert [r.split(' | ')[0] for r in rows[1:]] == ['| none', f'| {path}']
    losses = [float(r.split(' | ')[1]) for r in rows[1:]]
    assert losses[0] != losses[1]  # the file's heads were used
    assert '(8 frames)' in out
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(b'not a weights file')
    assert main(['--config', config, '--weights', str(bad)]) == 1
    assert 'bad.safetensors' in capsys.readouterr().err
