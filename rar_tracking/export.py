"""Export the per-frame RAR network to ONNX, check it against torch, and time both backends.

    python -m rar_tracking.export --out rar_lite0.onnx [--trunk efficientnet_lite0]
        [--profile balanced|fast|full] [--crop-size PX] [--feature-channels C] [--weights FILE]
        [--init-seed N] [--opset 18] [--exporter torchscript|dynamo] [--check] [--time N]

The file holds the graph of :mod:`rar_tracking.model.onnx_backend` (crops and ConvLSTM states
in, phi^a and the new states out, dynamic batch) and its metadata; run it with
``TrackerConfig(backend='onnxruntime', onnx_model=FILE, <the same network options>)``.
``--check`` prints the largest difference between ONNX Runtime and torch on frames of a
generated sequence; ``--time N`` times ``track()`` on N 640x480 frames with both backends.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import numpy as np
import torch

from .config import TrackerConfig
from .data.synthetic import make_sequence
from .errors import RARError
from .model.onnx_backend import DEFAULT_OPSET, EXPORTERS, export_onnx, make_onnx_runner
from .tracker import RARTracker

# The TrackerConfig fields that decide the network in the file (each becomes --name-with-dashes).
NETWORK_FIELDS = ('trunk', 'profile', 'crop_size', 'feature_channels', 'weights',
                  'trunk_weights', 'allow_random_trunk', 'init_seed')


def _bool(text: str) -> bool:
    if text.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if text.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentTypeError(f'expected true or false, got {text!r}')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m rar_tracking.export',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', required=True, help='ONNX file to write')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset (default {DEFAULT_OPSET})')
    parser.add_argument('--exporter', choices=EXPORTERS, default='torchscript',
                        help="torch's TorchScript exporter (default; needs onnx) or the dynamo "
                             'exporter (needs onnxscript as well)')
    parser.add_argument('--check', action='store_true',
                        help='compare ONNX Runtime with torch on generated frames')
    parser.add_argument('--time', type=int, default=0, metavar='N',
                        help='time track() with both backends on N 640x480 frames')
    net = parser.add_argument_group('network (TrackerConfig fields, same defaults)')
    fields = {f.name: f for f in dataclasses.fields(TrackerConfig)}
    for name in NETWORK_FIELDS:
        f = fields[name]
        kind = _bool if isinstance(f.default, bool) else type(f.default)
        net.add_argument('--' + name.replace('_', '-'), type=kind, default=f.default,
                         choices=f.metadata.get('choices'), help=f.metadata['help'])
    return parser


def max_difference(tracker: RARTracker, runner, frames: list[np.ndarray], box) -> dict:
    """Largest |ONNX Runtime - torch| over phi^a and the states on crops of ``frames``: the
    first frame without state (batch 1), then each next frame at 3 and 9 crops from the state
    the previous frame left (the tracker's use)."""
    side = tracker.config.crop
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    worst = {'phi': 0.0, 'states': 0.0}
    states = None
    for i, frame in enumerate(frames):
        for n in ((1,) if i == 0 else (3, 9)):
            crops = _crops(frame, (cx, cy), 2.5 * max(box[2], box[3]), side, n).to(tracker.device)
            given = [s.expand(n) for s in states] if states is not None else None
            with torch.no_grad():
                ref_phi, ref_states, _ = tracker.net(crops, given)
            phi, new_states, _ = runner(crops, given)
            worst['phi'] = max(worst['phi'], float((phi - ref_phi).abs().max()))
            for a, b in zip(new_states, ref_states):
                for x, y in ((a.h, b.h), (a.c, b.c), (a.hc, b.hc)):
                    worst['states'] = max(worst['states'], float((x - y).abs().max()))
        states = [s.select(0) for s in ref_states]
    return worst


def _crops(frame: np.ndarray, center, side: float, out: int, n: int) -> torch.Tensor:
    """n square crops around ``center`` (sides side * 1.02^k, nudged apart), (n, 3, out, out)."""
    from .imaging import crop_square
    crops = [crop_square(frame, center[0] + 3 * k, center[1] - 2 * k, side * 1.02 ** (k - n // 2),
                         out) for k in range(n)]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()


def time_backends(config: TrackerConfig, frames: list[np.ndarray], box,
                  backends=('torch', 'onnxruntime'), repeats: int = 3) -> dict[str, dict]:
    """Median milliseconds of ``initialize`` and ``track`` per backend on the same frames.

    ``config`` gives the network and threads (its backend is overridden; ONNX Runtime exports
    on the fly unless ``config.onnx_model`` is set). The backends take turns frame by frame, so
    a load change on a shared machine affects them alike. Returns {backend: {'init_ms',
    'track_ms', 'device', 'providers'}}.
    """
    trackers = {b: RARTracker(config.replace(backend=b)) for b in backends}
    for tracker in trackers.values():  # warm-up
        tracker.initialize(frames[0], box)
        tracker.track(frames[1])
    inits = {b: [] for b in backends}
    tracks = {b: [] for b in backends}
    for _ in range(repeats):
        for name, tracker in trackers.items():
            start = time.perf_counter()
            tracker.initialize(frames[0], box)
            inits[name].append(time.perf_counter() - start)
        for frame in frames[1:]:
            for name, tracker in trackers.items():
                start = time.perf_counter()
                tracker.track(frame)
                tracks[name].append(time.perf_counter() - start)
    rows = {}
    for name, tracker in trackers.items():
        providers = getattr(tracker.run_net, 'providers', ['torch'])
        rows[name] = {'init_ms': 1e3 * statistics.median(inits[name]),
                      'track_ms': 1e3 * statistics.median(tracks[name]),
                      'device': str(tracker.device), 'providers': ','.join(providers)}
    return rows


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except RARError as exc:  # no onnx / onnxruntime, a network that does not export
        print(f'error: {exc}', file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    config = TrackerConfig(**{name: getattr(args, name) for name in NETWORK_FIELDS},
                           device='cpu', cpu_threads=1)
    config.validate()
    torch.set_num_threads(1)
    tracker = RARTracker(config)
    start = time.perf_counter()
    meta = export_onnx(tracker.net, config, args.out, args.opset, args.exporter)
    print(f'wrote {args.out} in {time.perf_counter() - start:.1f} s: '
          + ', '.join(f'{k}={v[:16] if k.endswith("sha256") else v}' for k, v in meta.items()))
    if args.check:
        seq = make_sequence(4, size=(640, 480), seed=0, target_size=(96, 80))
        onnx_config = config.replace(onnx_model=args.out, backend='onnxruntime')
        runner = make_onnx_runner(tracker.net, onnx_config, tracker.device)
        worst = max_difference(tracker, runner, [seq.frame(i) for i in range(len(seq))],
                               tuple(seq.gt[0]))
        print(f'max |onnxruntime - torch|: phi {worst["phi"]:.2e}, states {worst["states"]:.2e} '
              '(batches 1, 3, 9 over 4 frames)')
    if args.time:
        seq = make_sequence(args.time + 1, size=(640, 480), seed=0, target_size=(96, 80))
        rows = time_backends(config.replace(onnx_model=args.out), [seq.frame(i) for i in
                             range(len(seq))], tuple(seq.gt[0]), repeats=1)
        import onnxruntime
        print(f'# 640x480, {args.time} frames, crop {config.crop}, 3 scales, 1 CPU thread, '
              f'backends alternating frame by frame; torch {torch.__version__}, onnxruntime '
              f'{onnxruntime.__version__}')
        for name, r in rows.items():
            print(f'{name:12s} {r["providers"]:22s} init {r["init_ms"]:7.1f} ms  '
                  f'track {r["track_ms"]:7.1f} ms')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
