"""Speed benchmark: per-frame time of ``initialize`` and ``track`` at 640x480 for each trunk,
beside OpenCV CSRT on the same frames in the same process.

    python -m rar_tracking.benchmark [--device auto|cpu|cuda] [--trunks resnet50,resnet18,...]
                                     [--frames 30] [--threads 1] [--crop-size 225]

Prints one line per tracker with milliseconds per frame (median), frames per second and the ratio
to CSRT. ResNet trunks run with random weights when no ImageNet file is found: their speed is
the same. Figures depend on the machine and its load; the command prints what it used.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import cv2
import numpy as np
import torch

from .config import TrackerConfig
from .data.synthetic import make_sequence
from .tracker import RARTracker


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_rar(trunk: str, frames: list[np.ndarray], box, args) -> dict:
    config = TrackerConfig(trunk=trunk, device=args.device, crop_size=args.crop_size,
                           cpu_threads=args.threads, allow_random_trunk=True)
    tracker = RARTracker(config)
    for _ in range(2):  # warm-up (CUDA kernels, allocator)
        tracker.initialize(frames[0], box)
        tracker.track(frames[1])
    _sync(tracker.device)
    inits, tracks = [], []
    for _ in range(3):
        start = time.perf_counter()
        tracker.initialize(frames[0], box)
        _sync(tracker.device)
        inits.append(time.perf_counter() - start)
    for frame in frames[1:]:
        start = time.perf_counter()
        tracker.track(frame)
        _sync(tracker.device)
        tracks.append(time.perf_counter() - start)
    return {'name': f'RAR {trunk}', 'device': str(tracker.device),
            'init_ms': 1e3 * statistics.median(inits), 'track_ms': 1e3 * statistics.median(tracks)}


def time_csrt(frames: list[np.ndarray], box) -> dict:
    cv2.setNumThreads(1)
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
    inits, tracks = [], []
    for _ in range(3):
        tracker = cv2.TrackerCSRT_create()
        start = time.perf_counter()
        tracker.init(bgr[0], tuple(int(round(v)) for v in box))
        inits.append(time.perf_counter() - start)
    for frame in bgr[1:]:
        start = time.perf_counter()
        tracker.update(frame)
        tracks.append(time.perf_counter() - start)
    return {'name': 'OpenCV CSRT', 'device': 'cpu (1 thread)',
            'init_ms': 1e3 * statistics.median(inits), 'track_ms': 1e3 * statistics.median(tracks)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='auto')
    parser.add_argument('--trunks', default='resnet50,resnet18,efficientnet_lite0')
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--crop-size', type=int, default=TrackerConfig.crop_size)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seq = make_sequence(args.frames + 1, size=(640, 480), seed=0, target_size=(96, 80))
    frames = [seq.frame(i) for i in range(len(seq))]
    box = tuple(seq.gt[0])
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
    print(f'# 640x480, {args.frames} frames, crop {args.crop_size}, 3 scales; torch '
          f'{torch.__version__}, {args.threads} CPU thread(s), CPU {platform.processor() or "?"} '
          f'x{torch.get_num_threads()}, GPU {gpu}')
    rows = [time_csrt(frames, box)]
    for trunk in args.trunks.split(','):
        rows.append(time_rar(trunk.strip(), frames, box, args))
    base = rows[0]['track_ms']
    print(f'{"tracker":28s} {"device":16s} {"init ms":>9s} {"track ms":>9s} {"fps":>8s} '
          f'{"track time / CSRT":>18s}')
    for r in rows:
        print(f'{r["name"]:28s} {r["device"]:16s} {r["init_ms"]:9.1f} {r["track_ms"]:9.1f} '
              f'{1e3 / r["track_ms"]:8.1f} {r["track_ms"] / base:18.2f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
