"""Ship a training run's heads as the package's default (``weights: auto``).

``python -m rar_tracking.train.ship --run runs/heads --name efficientnet_lite0_balanced``
copies the run's exported weights to ``rar_tracking/weights/<name>.safetensors`` and writes
``<name>.json`` beside it: the command, configuration, data lists, steps and time that made
the file, its training and validation history, and a *fingerprint*: the network's output on
a fixed seeded input, computed here from the file as loaded. A test loads the shipped file
through ``weights: auto`` and recomputes the fingerprint, so the shipped network is known to
be the trained one (not a number typed in).

May import: torch, PyYAML, :mod:`rar_tracking.config`, :mod:`rar_tracking.model` and this
package's config module.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch

from ..config import TrackerConfig
from ..model.rar import RARNet, build_network
from ..model.weights import SHIPPED_DIR, read_metadata

FINGERPRINT_SEED = 20261202


@torch.no_grad()
def fingerprint(net: RARNet, crop: int) -> list[float]:
    """16 numbers that depend on every head weight: phi^a of two seeded random crops (the
    second with the ConvLSTM state the first left), each projected on 8 seeded directions."""
    g = torch.Generator().manual_seed(FINGERPRINT_SEED)
    crops = torch.randint(0, 256, (2, 3, crop, crop), generator=g).float()
    was_training = net.training
    net.eval()
    phi_1, state, _ = net(crops[:1])
    phi_2, _, _ = net(crops[1:], state)
    net.train(was_training)
    directions = torch.randn(8, phi_1.numel(), generator=g)
    return [float(v) for v in torch.cat([directions @ phi_1.flatten(),
                                         directions @ phi_2.flatten()])]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _relative_base_dir(cfg_dict: dict) -> dict:
    """The configuration with its base_dir relative to the working folder (the repository
    root when shipping), so the record names no path of the machine that made it."""
    base = cfg_dict.get('base_dir')
    if base and Path(base).is_absolute():
        try:
            base = str(Path(base).relative_to(Path.cwd()))
        except ValueError:
            pass
    return dict(cfg_dict, base_dir=base) if base else cfg_dict


def ship(run: Path, name: str, out_dir: Path = SHIPPED_DIR) -> Path:
    """Copy ``run``'s weights to ``out_dir/<name>.safetensors`` with its record; the record's
    path."""
    from .config import TrainConfig
    summary = json.loads((run / 'summary.json').read_text())
    import yaml
    cfg_dict = yaml.safe_load((run / 'config.yaml').read_text())
    weights = Path(summary['weights'])
    if not weights.is_absolute():
        weights = Path.cwd() / weights
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f'{name}.safetensors'
    shutil.copyfile(weights, target)
    tracker = TrackerConfig(**cfg_dict['tracker'], device='cpu', weights=str(target))
    net = build_network(tracker)
    cfg = TrainConfig.from_dict({**cfg_dict, 'data': cfg_dict['data']},
                                base_dir=cfg_dict.get('base_dir', '.'))
    from .sources import load_sources
    names = {split: [s.name for s in load_sources(specs, cfg.base_dir)[0]]
             for split, specs in (('train', cfg.train), ('val', cfg.val))}
    record = {
        'file': target.name, 'sha256': _sha256(target), 'metadata': read_metadata(target),
        'made_by': (run / 'command.txt').read_text().strip()
        if (run / 'command.txt').is_file() else '',
        'shipped_by': ' '.join(['python -m rar_tracking.train.ship'] + sys.argv[1:]),
        'training_config': _relative_base_dir(cfg_dict), 'sequences': names,
        'steps': summary['steps'], 'seconds': round(summary['seconds'], 1),
        'seconds_per_step': round(summary['seconds_per_step'], 3),
        'device': summary['device'],
        'history': summary['history'],
        'fingerprint': {'seed': FINGERPRINT_SEED, 'crop': tracker.crop,
                        'values': fingerprint(net, tracker.crop)},
    }
    path = out_dir / f'{name}.json'
    path.write_text(json.dumps(record, indent=1) + '\n')
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m rar_tracking.train.ship',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--run', required=True, type=Path, help='a finished training run folder')
    parser.add_argument('--name', required=True,
                        help='<trunk>_<profile>, the name weights: auto looks for')
    parser.add_argument('--out-dir', type=Path, default=SHIPPED_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(ship(args.run, args.name, args.out_dir))
    return 0


if __name__ == '__main__':
    sys.exit(main())
