"""Speed benchmark: per-frame time of ``initialize`` and ``track`` at 640x480 for each trunk,
profile and backend, beside OpenCV CSRT and KCF on the same frames in the same process.

    python -m rar_tracking.benchmark [--device auto|cpu|cuda] [--trunks efficientnet_lite0,...]
        [--profiles full,fast] [--backends torch,onnxruntime] [--frames 30] [--threads 1]
        [--crop-size N] [--variant LABEL:KEY=VALUE[,KEY=VALUE]]... [--profile]

Prints the command, versions and machine, then one line per tracker: median milliseconds per
``initialize`` and per ``track``, frames per second, and the ratio of ``track`` to CSRT's: the
median over frames of the per-frame ratio, with its interquartile range. All trackers take
turns frame by frame (frame i goes through each before frame i + 1 through any), so a change
of the machine's speed during the run weighs on all alike.
``--variant`` adds, for every trunk, profile and backend, a row with those TrackerConfig fields
changed (e.g. ``--variant fp32:half_precision=false --variant eager:cuda_graphs=false`` on a
GPU); without it each combination runs with the defaults.
``--profile`` adds, for every RAR row, where one ``track()`` (and one ``initialize()``) spends
its time: crop and resize, each trunk stage, the channel reduction, attention, refinement,
the correlation filter and its FFTs, peak and scale choice, copies. ResNet trunks run with
random weights when no ImageNet file is found: their speed is the same. Figures depend on the
machine and its load; CSRT's time on the same frames, in turn, is the yardstick.

May import: the tracker and the model (for hooks), OpenCV.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections import defaultdict

import cv2
import numpy as np
import torch

from .config import BACKENDS, PROFILES, TrackerConfig
from .data.synthetic import make_sequence
from .profiling import SectionTimer, time_modules, time_trunk_stages
from .tracker import RARTracker


def _head_groups(net) -> dict:
    """The heads of RARNet by part: reduction, attention (Eq. 3-7), refinement."""
    return {'channel reduction (1x1)': list(net.reduce),
            'attention (ConvLSTM, Eq. 3-7)': list(net.attention),
            'refinement (Fig. 6)': [net.refinement]}


def _per_call(timer: SectionTimer, call) -> tuple[float, dict[str, float]]:
    """Run ``call`` once; its total ms and the ms of each timed section (summed per call)."""
    timer.clear()
    start = time.perf_counter()
    call()
    total = (time.perf_counter() - start) * 1e3
    return total, {k: sum(v) for k, v in timer.samples.items()}


class _RarRunner:
    """One RAR tracker being timed on ``frames``: ``init(i)`` and ``step(i)`` run frame i and
    return (total ms, ms per section)."""

    def __init__(self, config: TrackerConfig, frames: list[np.ndarray], box, profile: bool,
                 label: str = ''):
        self.frames = frames
        cuda = torch.cuda.is_available()
        if cuda:  # this tracker's share of GPU memory: its peak over what others already hold
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        self.tracker = tracker = RARTracker(config)
        config = tracker.config  # 'auto' profile and backend resolved as the tracker runs them
        self.box = box
        self.name = (f'RAR {tracker.trunk_name} {config.profile} crop {config.crop}'
                     + ('' if config.backend == 'torch' else f' [{config.backend}]')
                     + (f' ({label})' if label else ''))
        self.device = str(tracker.device)
        for _ in range(2):  # warm-up (CUDA kernels, allocator, ONNX Runtime)
            tracker.initialize(frames[0], box)
            tracker.track(frames[1])
        tracker.timer.sync()
        self.gpu_mib = ((torch.cuda.max_memory_allocated() - before) / 2 ** 20
                        if cuda and tracker.device.type == 'cuda' else None)
        self.handles = []
        if profile and config.backend == 'torch':
            tracker.timer.enabled = True
            self.handles = (time_trunk_stages(tracker.net.trunk, tracker.timer)
                            + time_modules(_head_groups(tracker.net), tracker.timer))

    def init(self, i: int) -> tuple[float, dict[str, float]]:
        t, frame = self.tracker, self.frames[i]
        return _per_call(t.timer, lambda: (t.initialize(frame, self.box), t.timer.sync()))

    def step(self, i: int) -> tuple[float, dict[str, float]]:
        t, frame = self.tracker, self.frames[i]
        return _per_call(t.timer, lambda: (t.track(frame), t.timer.sync()))

    def close(self) -> None:
        for h in self.handles:
            h.remove()
        self.tracker.timer.enabled = False


class _OpenCVRunner:
    """One OpenCV tracker (CSRT, KCF) being timed on BGR copies of ``frames`` (made once)."""

    def __init__(self, kind: str, frames: list[np.ndarray], box):
        cv2.setNumThreads(1)
        self.bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
        self.create = {'csrt': cv2.TrackerCSRT_create, 'kcf': cv2.TrackerKCF_create}[kind]
        self.name, self.device = f'OpenCV {kind.upper()}', 'cpu (1 thread)'
        self.box = tuple(int(round(v)) for v in box)
        self.tracker = None

    def init(self, i: int) -> tuple[float, dict[str, float]]:
        self.tracker = self.create()
        start = time.perf_counter()
        self.tracker.init(self.bgr[i], self.box)
        return (time.perf_counter() - start) * 1e3, {}

    def step(self, i: int) -> tuple[float, dict[str, float]]:
        start = time.perf_counter()
        self.tracker.update(self.bgr[i])
        return (time.perf_counter() - start) * 1e3, {}

    def close(self) -> None:
        pass


def time_in_turns(runners: list, frames: list) -> list[dict]:
    """Time every runner on the same frames, **taking turns frame by frame**: frame i is
    tracked by each runner before frame i + 1 by any, so a change of the machine's speed
    during the run (other load, a shared VM) hits all of them alike and the ratios to CSRT
    stay comparable. Runners hold the frames; ``init(i)`` and ``step(i)`` get the index.
    Returns per runner the median ms of ``initialize`` (3 calls on frame 0) and of ``track``,
    the median per-frame ratio of its ``track`` to the first runner's, and the median ms per
    timed section."""
    calls = {'init': [0, 0, 0], 'step': range(1, len(frames))}
    totals = [{kind: [] for kind in calls} for _ in runners]
    sections = [{kind: defaultdict(list) for kind in calls} for _ in runners]
    for kind, indices in calls.items():
        for i in indices:
            for k, r in enumerate(runners):
                total, parts = getattr(r, kind)(i)
                totals[k][kind].append(total)
                for key, value in parts.items():
                    sections[k][kind][key].append(value)
    inits = [t['init'] for t in totals]
    tracks = [t['step'] for t in totals]
    rows = []
    for k, r in enumerate(runners):
        r.close()
        ratios = [a / b for a, b in zip(tracks[k], tracks[0])]
        rows.append({'name': r.name, 'device': r.device, 'gpu_mib': getattr(r, 'gpu_mib', None),
                     'init_ms': statistics.median(inits[k]),
                     'track_ms': statistics.median(tracks[k]),
                     'ratio': statistics.median(ratios),
                     'ratio_range': (float(np.percentile(ratios, 25)),
                                     float(np.percentile(ratios, 75))),
                     'init_sections': {n: statistics.median(v)
                                       for n, v in sections[k]['init'].items()},
                     'track_sections': {n: statistics.median(v)
                                        for n, v in sections[k]['step'].items()}})
    return rows


def _print_sections(row: dict) -> None:
    for label, key, total in (('track()', 'track_sections', row['track_ms']),
                              ('initialize()', 'init_sections', row['init_ms'])):
        sections = row.get(key) or {}
        if not sections:
            continue
        print(f'  where one {label} of {row["name"]} spends its time (median ms):')
        # trunk stages are timed inside the network call; the rest are disjoint sections
        for name, ms in sections.items():
            print(f'    {name:42s} {ms:9.2f} {100 * ms / total:6.1f} %')
        timed = sum(sections.values())
        print(f'    {"other (validation, Python, small ops)":42s} {total - timed:9.2f} '
              f'{100 * (total - timed) / total:6.1f} %')


def _header(args, argv) -> None:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
    print(f'# python -m rar_tracking.benchmark {" ".join(argv)}')
    print(f'# 640x480 generated frames, {args.frames} tracked, target 96x80; torch '
          f'{torch.__version__}, OpenCV {cv2.__version__}, Python {platform.python_version()}; '
          f'{args.threads} torch CPU thread(s), OpenCV 1 thread; CPU '
          f'{platform.processor() or platform.machine()} ({_cpu_count()} cores), GPU {gpu}')


def _cpu_count() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def _parse_variants(items: list[str]) -> list[tuple[str, dict]]:
    """``['fp32:half_precision=false']`` -> [('', {}), ('fp32', {'half_precision': False})]:
    the defaults first, then each labelled set of TrackerConfig changes."""
    from .eval.trackers import parse_overrides
    variants = [('', {})]
    for item in items:
        label, _, fields = item.partition(':')
        if not label.strip() or not fields.strip():
            raise ValueError(f'--variant {item!r}: expected LABEL:KEY=VALUE[,KEY=VALUE]')
        try:
            changes = parse_overrides([f for f in fields.split(',') if f.strip()])
        except ValueError as exc:
            raise ValueError(f'--variant {item!r}: {exc}') from None
        variants.append((label.strip(), changes))
    return variants


def _rar_configs(args) -> list[TrackerConfig]:
    configs = []
    for trunk in args.trunks.split(','):
        for profile in args.profiles.split(','):
            for backend in args.backends.split(','):
                configs.append(TrackerConfig(
                    trunk=trunk.strip(), profile=profile.strip(), backend=backend.strip(),
                    device=args.device, crop_size=args.crop_size, cpu_threads=args.threads,
                    allow_random_trunk=True))
    return configs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='auto')
    parser.add_argument('--trunks', default='efficientnet_lite0,resnet18,resnet50')
    parser.add_argument('--profiles', default=','.join(PROFILES),
                        help=f'network profiles to time ({", ".join(PROFILES)})')
    parser.add_argument('--backends', default='torch',
                        help=f'per-frame network backends ({", ".join(BACKENDS)})')
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--crop-size', type=int, default=0, help="0: each profile's crop")
    parser.add_argument('--variant', action='append', default=[],
                        metavar='LABEL:KEY=VALUE[,KEY=VALUE]',
                        help='also time every combination with these TrackerConfig fields '
                             "changed (e.g. 'eager:cuda_graphs=false'); repeatable")
    parser.add_argument('--profile', action='store_true',
                        help='print where each track() and initialize() spends its time')
    args = parser.parse_args(argv)
    try:
        variants = _parse_variants(args.variant)
    except ValueError as exc:
        parser.error(str(exc))
    torch.set_num_threads(args.threads)
    seq = make_sequence(args.frames + 1, size=(640, 480), seed=0, target_size=(96, 80))
    frames = [seq.frame(i) for i in range(len(seq))]
    box = tuple(seq.gt[0])
    _header(args, argv)
    runners = []
    for kind in ('csrt', 'kcf'):
        if hasattr(cv2, f'Tracker{kind.upper()}_create'):
            runners.append(_OpenCVRunner(kind, frames, box))
        else:  # plain opencv-python: CSRT and KCF live in opencv-contrib
            print(f'# skipped OpenCV {kind.upper()}: not in this OpenCV build (it needs '
                  'opencv-contrib-python); no ratios to CSRT in this run')
    for config in _rar_configs(args):
        for label, changes in variants:
            try:
                runners.append(_RarRunner(config.replace(**changes), frames, box, args.profile,
                                          label))
            except Exception as exc:  # e.g. onnxruntime not installed: say so, time the rest
                print(f'# skipped RAR {config.trunk} {config.profile} [{config.backend}]'
                      f'{f" ({label})" if label else ""}: {type(exc).__name__}: {exc}')
    rows = time_in_turns(runners, frames)
    with_csrt = bool(rows) and rows[0]['name'] == 'OpenCV CSRT'
    width = max([44] + [len(r['name']) for r in rows])
    print(f'{"tracker":{width}s} {"device":16s} {"init ms":>9s} {"track ms":>9s} {"fps":>8s} '
          f'{"track / CSRT":>13s} {"(IQR per frame)":>16s}')
    for r in rows:
        lo, hi = r['ratio_range']
        ratio, spread = ((f'{r["ratio"]:.2f}', f'{lo:.2f}-{hi:.2f}') if with_csrt
                         else ('-', '-'))
        print(f'{r["name"]:{width}s} {r["device"]:16s} {r["init_ms"]:9.1f} {r["track_ms"]:9.1f} '
              f'{1e3 / r["track_ms"]:8.1f} {ratio:>13s} {spread:>16s}')
    for r in rows:
        if r['gpu_mib'] is not None:
            print(f'# {r["name"]}: peak GPU memory {r["gpu_mib"]:.0f} MiB (its network, '
                  'buffers and workspace, built and run on two frames)')
    if args.profile:
        for r in rows:
            if r['name'].startswith('RAR'):
                _print_sections(r)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
