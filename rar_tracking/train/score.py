"""Score weights files on the held-out clips of a training configuration, with or without
look-alikes: ``python -m rar_tracking.train.score --help``.

Tracking a whole sequence mixes many decisions (pyramid, update, thresholds); this scores the
network and the correlation layer alone, as training's validation does, on the same fixed
clips (``data.val``, the same seed, shift and scale jitter, no photometric jitter) for several
weights files side by side. With ``--twin-prob P`` a share P of the clips holds a look-alike
of the target beside it (``augment.twin_prob``, :func:`rar_tracking.train.data.paste_twin`),
and the table adds how often the response peak stands on the look-alike instead: the failure
of the pedestrian among look-alikes (Human3), measured where it is known where both are.

Per weights file: the loss of Eq. 12, the mean response peak, the distance in cells from the
response peak to the target (mean), the share of frames with the peak within one cell of it
and, over frames with a look-alike, the share whose peak is nearer the look-alike's centre
than the target's.

May import: torch, :mod:`rar_tracking.model`, :mod:`rar_tracking.geometry` and this package.
"""
from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from dataclasses import replace

import torch

from ..device import select_device
from ..errors import RARError
from ..geometry import Geometry, probe_feature_size
from .config import TrainConfig, load_config
from .data import ClipDataset
from .loop import build_network, evaluate, held_out_clips as loop_held_out_clips
from .sources import load_sources
from .step import ClipModel


def held_out_clips(cfg: TrainConfig, geometry: Geometry, count: int,
                   twin_prob: float) -> ClipDataset:
    """The fixed held-out clips of ``cfg`` (``data.val``), with ``twin_prob`` look-alikes."""
    sequences, weights = load_sources(cfg.val, cfg.base_dir)
    if not sequences:
        raise ValueError('data.val: no sequences found (all sources absent or filtered out)')
    return loop_held_out_clips(cfg, geometry, sequences, weights, count, twin_prob)


def score(model: ClipModel, clips: ClipDataset, device: torch.device,
          batch_size: int = 8) -> dict[str, float]:
    """Training's validation (:func:`~rar_tracking.train.loop.evaluate`) over ``clips``:
    mean loss, response metrics, ``on_twin`` (NaN without look-alikes) and ``twin_frames``."""
    result = evaluate(model, clips, batch_size, 0, device)
    result.pop('peak_max')
    result.setdefault('on_twin', math.nan)
    result.setdefault('twin_frames', 0)
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='python -m rar_tracking.train.score',
        description='Score weights files on the held-out clips of a training configuration '
        '(loss of Eq. 12, peak position, and the peak on a pasted look-alike).')
    p.add_argument('--config', required=True, help='training YAML (its tracker and data.val)')
    p.add_argument('--weights', action='append', required=True, metavar='FILE',
                   help="a weights file, 'none' (untrained heads) or 'auto' (the shipped "
                   'file of the configuration); repeatable')
    p.add_argument('--twin-prob', type=float, default=0.0,
                   help='share of clips with a look-alike beside the target (default 0)')
    p.add_argument('--clips', type=int, default=0,
                   help='number of held-out clips (default runtime.val_samples)')
    p.add_argument('--device', default='cpu', help='auto, cpu, cuda or cuda:N (default cpu)')
    p.add_argument('--set', action='append', default=[], metavar='SECTION.KEY=VALUE',
                   help='override a configuration value; repeatable')
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.twin_prob <= 1.0:
        parser.error('--twin-prob must be in [0, 1]')
    try:
        cfg = load_config(args.config, args.set)
    except ValueError as exc:
        parser.error(str(exc))
    torch.set_num_threads(cfg.runtime.cpu_threads)
    try:
        device = select_device(args.device)
    except RARError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    count = args.clips or cfg.runtime.val_samples
    print(f"command: python -m rar_tracking.train.score {' '.join(argv or sys.argv[1:])}")
    print(f'python {platform.python_version()}, torch {torch.__version__}, {device}, '
          f'{platform.machine()}, {torch.get_num_threads()} thread(s)')
    clips = geometry = None
    rows = []
    for name in args.weights:
        start = time.perf_counter()
        shipped = name.lower() == 'auto'
        init = '' if name.lower() in ('none', 'auto') else name
        run_cfg = replace(cfg, init_weights=init,
                          tracker=dict(cfg.tracker, weights='auto') if shipped else cfg.tracker)
        try:
            net = build_network(run_cfg) if not shipped else _shipped(run_cfg)
        except (OSError, ValueError, RARError) as exc:
            print(f'error: {name}: {exc}', file=sys.stderr)
            return 1
        net.to(device)
        if clips is None:  # the geometry is the configuration's, the same for every file
            tc = cfg.tracker_config
            geometry = Geometry.from_config(tc, probe_feature_size(net, tc.crop),
                                            net.output_stride)
            clips = held_out_clips(cfg, geometry, count, args.twin_prob)
        result = score(ClipModel(net, geometry).to(device), clips, device,
                       cfg.optim.batch_size)
        rows.append((name, result, time.perf_counter() - start))
    print(f'{count} held-out clips of {cfg.clip.search_frames} search frames, '
          f'look-alike in a share {args.twin_prob:g} of them '
          f'({rows[0][1]["twin_frames"]} frames)')
    print('| weights | loss | peak | offset (cells) | within 1 cell | peak on the look-alike '
          '| s |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for name, r, seconds in rows:
        twin = 'n/a' if math.isnan(r['on_twin']) else f"{100 * r['on_twin']:.1f} %"
        print(f"| {name} | {r['loss']:.4f} | {r['peak_mean']:.3f} | {r['offset_error']:.3f} "
              f"| {100 * r['hit_rate']:.1f} % | {twin} | {seconds:.0f} |")
    return 0


def _shipped(cfg: TrainConfig):
    """The network with the configuration's shipped weights (``weights: auto``)."""
    from ..model.rar import build_network as build_rar_network
    from ..model.weights import resolve_weights
    tracker = cfg.tracker_config
    if not resolve_weights(tracker):
        raise ValueError('no shipped weights fit this configuration')
    return build_rar_network(tracker)


if __name__ == '__main__':
    sys.exit(main())
