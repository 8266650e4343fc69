"""The training loop end to end (tiny and on CPU): checkpoints, resume, exported weights,
TensorBoard scalars, the command line and DistributedDataParallel through torchrun."""
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from rar_tracking.config import TrackerConfig
from rar_tracking.model.backbone import build_trunk
from rar_tracking.model.rar import RARNet
from rar_tracking.model.weights import load_rar_weights, read_metadata
from rar_tracking.tracker import RARTracker
from rar_tracking.train.__main__ import main
from rar_tracking.train.config import load_config

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    # profile full: the networks these tests rebuild by hand (RARNet over a stride-8 trunk)
    'tracker': {'trunk': 'efficientnet_lite0', 'profile': 'full', 'crop_size': 97},
    'data': {'train': [{'kind': 'synthetic', 'count': 3, 'num_frames': 16, 'size': [160, 120],
                        'seed': 0}],
             'val': [{'kind': 'synthetic', 'count': 2, 'num_frames': 16, 'size': [160, 120],
                      'seed': 50}]},
    'clip': {'search_frames': 2, 'max_gap': 3},
    # 2 steps per epoch, 8 in all; a high rate so that every step visibly moves the weights
    'optim': {'epochs': 4, 'samples_per_epoch': 4, 'batch_size': 2, 'lr_start': 0.02,
              'lr_end': 0.002},
    'runtime': {'num_workers': 0, 'val_samples': 0, 'log_every': 1, 'keep_checkpoints': 1},
}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def _write(tmp_path, cfg=TINY, name='tiny.yaml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _ckpt(run):
    return torch.load(Path(run) / 'checkpoints' / 'last.pt', weights_only=True)


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    config = _write(tmp_path)
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    assert main(['--config', config, '--out', str(straight), '--max-steps', '5', '--quiet']) == 0
    assert main(['--config', config, '--out', str(split), '--max-steps', '3', '--quiet']) == 0
    first = _ckpt(split)
    assert first['step'] == 3
    assert main(['--config', config, '--out', str(split), '--max-steps', '5', '--resume',
                 '--quiet']) == 0
    a, b = _ckpt(straight), _ckpt(split)
    assert a['step'] == b['step'] == 5 and a['epoch'] == b['epoch'] == 2
    assert a['scheduler']['last_epoch'] == b['scheduler']['last_epoch'] == 5
    lr_a = a['optimizer']['param_groups'][0]['lr']
    assert lr_a == b['optimizer']['param_groups'][0]['lr']
    assert lr_a == pytest.approx(0.02 * 0.1 ** (5 / 7))  # log-linear over 8 steps
    for key, value in a['model'].items():
        assert torch.equal(value, b['model'][key]), key
    for key, state in a['optimizer']['state'].items():
        assert torch.equal(state['momentum_buffer'], b['optimizer']['state'][key]
                           ['momentum_buffer'])
    # ... and the weights did change over the resumed steps.
    assert any(not torch.equal(first['model'][k], b['model'][k]) for k in first['model']
               if not k.startswith('trunk.'))
    # The epoch checkpoints: one kept (keep_checkpoints 1), after epoch 2.
    assert sorted(p.name for p in (split / 'checkpoints').iterdir()) == ['epoch_002.pt',
                                                                        'last.pt']


def test_checkpoint_and_exported_weights_reproduce_the_network(tmp_path):
    cfg = dict(TINY, runtime=dict(TINY['runtime'], val_samples=4))
    config = _write(tmp_path, cfg)
    out = tmp_path / 'run'
    assert main(['--config', config, '--out', str(out), '--max-steps', '2', '--quiet']) == 0

    def fresh():
        return RARNet(build_trunk('efficientnet_lite0'), TrackerConfig().feature_channels).eval()

    from_ckpt = fresh()
    state = _ckpt(out)['model']
    from_ckpt.load_state_dict(state)
    # heads only: the trunk, BatchNorm statistics included, is exactly the ImageNet one
    for key, value in fresh().state_dict().items():
        if key.startswith('trunk.'):
            assert torch.equal(state[key], value), key
    exported = out / 'rar_weights.safetensors'
    meta = read_metadata(exported)
    assert meta['heads_only'] == 'true' and meta['steps'] == '2'
    from_file = fresh()
    load_rar_weights(from_file, exported)
    tracker = RARTracker(TrackerConfig(trunk='efficientnet_lite0', profile='full', crop_size=97,
                                       device='cpu', weights=str(exported)))
    images = torch.rand(2, 3, 97, 97, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        phi_ckpt, states, _ = from_ckpt(images)
        phi_next, _, _ = from_ckpt(images, states)
        phi_file, states_file, _ = from_file(images)
        phi_track, _, _ = tracker.net(images)
        phi_untrained, _, _ = fresh()(images)
        assert torch.equal(phi_ckpt, phi_file)
        # the tracker folds the trunk's BatchNorm into its convolutions: equal to rounding
        torch.testing.assert_close(phi_track, phi_ckpt, rtol=1e-4, atol=1e-4)
        assert torch.equal(phi_next, from_file(images, states_file)[0])
        assert (phi_ckpt - phi_untrained).abs().max() > 1e-4  # training changed something

    # TensorBoard scalars were written (rank 0), and the validation ran before and after.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(out / 'tb'))
    events.Reload()
    tags = set(events.Tags()['scalars'])
    assert {'train/loss', 'train/lr', 'train/peak_mean', 'train/peak_max',
            'train/offset_error', 'val/loss', 'val/offset_error'} <= tags
    assert [e.step for e in events.Scalars('train/loss')] == [1, 2]
    assert [e.step for e in events.Scalars('val/loss')] == [0, 2]
    assert all(math.isfinite(e.value) for e in events.Scalars('train/loss'))


def test_no_heads_only_fine_tunes_conv3_to_conv5_and_exports_the_trunk(tmp_path):
    out = tmp_path / 'run'
    assert main(['--config', _write(tmp_path), '--out', str(out), '--max-steps', '1',
                 '--no-heads-only', '--quiet']) == 0
    trained = _ckpt(out)['model']
    trunk = build_trunk('efficientnet_lite0')
    frozen = {id(p) for p in trunk.frozen_parameters()}
    changed = {name: not torch.equal(trained['trunk.' + name], p)
               for name, p in trunk.named_parameters()}
    is_frozen = {name: id(p) in frozen for name, p in trunk.named_parameters()}
    assert not any(changed[n] for n in changed if is_frozen[n])  # stem, blocks 0-2
    assert any(changed[n] for n in changed if n.startswith('net._blocks.15.'))
    meta = read_metadata(out / 'rar_weights.safetensors')
    assert meta['heads_only'] == 'false'
    net = RARNet(build_trunk('efficientnet_lite0'), TrackerConfig().feature_channels)
    load_rar_weights(net, out / 'rar_weights.safetensors')
    assert torch.equal(net.state_dict()['trunk.net._blocks.15._bn2.weight'],
                       trained['trunk.net._blocks.15._bn2.weight'])


def test_refuses_to_overwrite_or_to_resume_with_another_configuration(tmp_path, capsys):
    config = _write(tmp_path)
    out = tmp_path / 'run'
    assert main(['--config', config, '--out', str(out), '--max-steps', '1', '--quiet']) == 0
    assert main(['--config', config, '--out', str(out), '--max-steps', '2', '--quiet']) == 1
    assert 'already holds a run' in capsys.readouterr().err
    assert main(['--config', config, '--out', str(out), '--resume', '--max-steps', '2',
                 '--set', 'optim.lr_start=0.5', '--quiet']) == 1
    assert 'optim.lr_start' in capsys.readouterr().err
    assert main(['--config', config, '--out', str(tmp_path / 'none'), '--resume']) == 1
    assert 'no checkpoint' in capsys.readouterr().err


@pytest.mark.parametrize('change, message', [
    ({'optim': {'bach_size': 4}}, 'bach_size'),
    ({'tracker': {'learning_rate': 0.1}}, 'not training keys'),
    ({'tracker': {'crop_size': 10}}, 'crop_size'),
    ({'data': {'train': []}}, 'at least one source'),
    ({'optim': {'heads_only': 'yes'}}, 'true/false'),
])
def test_bad_configurations_are_usage_errors(tmp_path, change, message, capsys):
    cfg = {**TINY, **{k: {**TINY.get(k, {}), **v} for k, v in change.items()}}
    with pytest.raises(SystemExit) as exc:
        main(['--config', _write(tmp_path, cfg), '--out', str(tmp_path / 'x')])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_shipped_configurations_load():
    heads = load_config(ROOT / 'config' / 'train_heads.yaml')
    assert heads.optim.heads_only and heads.tracker_config.trunk == 'efficientnet_lite0'
    assert (heads.optim.lr_start, heads.optim.lr_end) == (1e-3, 1e-4)
    assert (heads.optim.momentum, heads.optim.weight_decay) == (0.9, 5e-4)
    full = load_config(ROOT / 'config' / 'train_full.yaml',
                       ['data.train=[{kind: vid, path: /data/ILSVRC2015}]'])
    assert not full.optim.heads_only and full.tracker_config.trunk == 'resnet50'
    assert full.train[0].path == '/data/ILSVRC2015'
    # The geometry keys agree with the tracker's defaults (weights must fit the tracker).
    defaults = TrackerConfig()
    for key in ('search_area_factor', 'label_sigma', 'lambda1', 'lambda2', 'num_context',
                'context_offset', 'template_window', 'feature_channels', 'crop_size'):
        assert heads.tracker[key] == getattr(defaults, key), key
        assert full.tracker[key] == getattr(defaults, key), key


@pytest.mark.slow
@pytest.mark.skipif(shutil.which('torchrun') is None and not (Path(sys.executable).parent /
                    'torchrun').exists(), reason='torchrun not installed')
def test_two_processes_with_ddp_equal_one_process_with_their_joint_batch(tmp_path):
    """torchrun, 2 CPU processes (gloo) with one clip each == 1 process with both clips."""
    config = _write(tmp_path)
    single = tmp_path / 'single'
    assert main(['--config', config, '--out', str(single), '--max-steps', '2', '--quiet']) == 0
    torchrun = shutil.which('torchrun') or str(Path(sys.executable).parent / 'torchrun')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [torchrun, '--standalone', '--nproc_per_node', '2', '-m', 'rar_tracking.train',
         '--config', config, '--out', str(tmp_path / 'ddp'), '--max-steps', '2', '--device',
         'cpu', '--quiet', '--set', 'optim.batch_size=1'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = _ckpt(single), _ckpt(tmp_path / 'ddp')
    assert b['world_size'] == 2 and len(b['rng']) == 2 and b['step'] == a['step'] == 2
    for key, value in a['model'].items():
        torch.testing.assert_close(b['model'][key], value, rtol=1e-4, atol=1e-6, msg=key)
    moved = max(float((a['model'][k] - _initial(k)).abs().max()) for k in a['model']
                if k.startswith('attention.'))
    assert moved > 1e-5


def _initial(key):
    torch.manual_seed(0)
    return RARNet(build_trunk('efficientnet_lite0'), TrackerConfig().feature_channels).state_dict()[key]
