"""``rar_demo`` / ``python -m rar_tracking.ros.demo``: run the demo, print its summary, always
stop the children.

May import: the standard library and this package's modules (rclpy only through :mod:`.run`).
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from .options import DemoError, build_parser
from .run import Demo


def print_summary(s: dict) -> None:
    def fmt(value, unit='', digits=3):
        if value is None:
            return 'n/a'
        return f'{value:.{digits}g}{unit}' if isinstance(value, float) else f'{value}{unit}'

    print('\n=== rar_tracking demo ===')
    pace = ('paced by the tracker, at most' if s['pace'] == 'tracker' else 'streamed at')
    print(f'input              {s["input"]}, {pace} {s["source_rate_hz"]:g} Hz')
    print(f'tracker            trunk {s["tracker"]["trunk"]}, profile '
          f'{s["tracker"]["profile"]}, device {s["tracker"]["device"]}')
    print(f'frames             {s["frames_recorded"]} recorded, {s["frames_processed"]} tracked '
          f'after the first, {s["frames_dropped"]} dropped (tracker busy), '
          f'{s["frames_lost"]} LOST')
    print(f'mean confidence    {fmt(s["mean_confidence"])}')
    print(f'processing rate    {fmt(s["processing_rate_hz"], " Hz")} '
          f'(mean inference {fmt(s["mean_inference_ms"], " ms", 4)})')
    print(f'latency            mean {fmt(s["mean_latency_ms"], " ms", 4)}, '
          f'p95 {fmt(s["p95_latency_ms"], " ms", 4)} (image stamp -> result published)')
    if s['ground_truth']:
        print(f'mean IoU           {fmt(s["mean_iou"])} over {s["frames_scored"]} frames '
              f'(IoU >= 0.5 on {100 * s["success_rate_iou_0.5"]:.0f}% of them)')
    else:
        print('mean IoU           n/a (no ground truth for this input)')
    print(f'video              {s["video"]}')
    print(f'summary            {Path(s["tracks_csv"]).parent / "summary.json"}')


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _run(demo: Demo) -> int:
    """Run ``demo``; 0, 1 (failure, reason printed) or 130 (interrupted, partial results)."""
    try:
        print_summary(demo.run())
        return 0
    except DemoError as exc:
        print(f'\n[demo] error: {exc}', file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print('\n[demo] interrupted: stopping the child processes', file=sys.stderr, flush=True)
        if demo.release_ns is not None:  # keep what was recorded
            try:
                summary = demo.finish(interrupted=True)
                print(f'[demo] partial results ({summary["frames_recorded"]} frames) in '
                      f'{demo.out}', file=sys.stderr)
            except Exception as exc:  # a second Ctrl-C, a half-written frame...
                print(f'[demo] could not write partial results: {exc!r}', file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """Console script ``rar_demo``; exit status 0, 1 (failure) or 130 (interrupted)."""
    args = build_parser().parse_args(argv)
    if args.rate is None:
        args.rate = 30.0 if args.pace == 'tracker' else 10.0
    if args.frames < 2:
        print('rar_demo: error: --frames must be at least 2', file=sys.stderr)
        return 1
    if args.rate <= 0:
        print('rar_demo: error: --rate must be > 0', file=sys.stderr)
        return 1
    # Ctrl-C and SIGTERM become KeyboardInterrupt (also when started with SIGINT ignored,
    # as background jobs of a script are), so that the children are always stopped.
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT,
                                                                      signal.SIGTERM)}
    demo = Demo(args)
    try:
        status = _run(demo)
    finally:
        codes = demo.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    unclean = {k: v for k, v in codes.items() if v not in (0, None, -signal.SIGINT)}
    if unclean and status == 0:
        print(f'[demo] note: child exit codes {unclean} (see {args.output / "logs"})',
              file=sys.stderr)
    return status
