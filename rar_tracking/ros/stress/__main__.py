"""``python -m rar_tracking.ros.stress``: run the phases against the node and print the figures.

    python -m rar_tracking.ros.stress --minutes 10 --seed 0        # the full run
    python -m rar_tracking.ros.stress --fuzz 400 --storm 48 --minutes 0.5 --signals quick \\
        --no-weights --json out.json                                  # what the tests run

The node is started as a child process from ``--node-cmd`` (default: this package's node
with the fast test parameters); each phase gets a namespace of its own. The exit status is
0 when every check held, 1 otherwise; ``--json`` writes every figure for a program to read.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time

from ..middleware import OPT_OUT_ENV, use_large_image_profile
from .process import DEFAULT_NODE_CMD, NodeProcess

ALL_SIGNALS = [(s, m) for s in (signal.SIGINT, signal.SIGTERM)
               for m in ('startup', 'initialize', 'tracking', 'service_wait')]
QUICK_SIGNALS = [(signal.SIGTERM, 'service_wait')]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='python -m rar_tracking.ros.stress', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--node-cmd', default=DEFAULT_NODE_CMD,
                   help='command that starts the node (default: %(default)s)')
    p.add_argument('--minutes', type=float, default=10.0, help='soak duration (0: no soak)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--fuzz', type=int, default=10_000, help='fuzzed messages (0: no fuzz)')
    p.add_argument('--fuzz-rate', type=float, default=400.0, help='fuzzed messages per second')
    p.add_argument('--no-compressed', action='store_true',
                   help='no CompressedImage fuzz (saves starting a second node)')
    p.add_argument('--storm', type=int, default=1_000, help='service calls (0: no storm)')
    p.add_argument('--clients', type=int, default=8, help='concurrent service clients')
    p.add_argument('--signals', choices=('all', 'quick', 'none'), default='all',
                   help="all: SIGINT and SIGTERM at start-up, during initialize, while "
                        "tracking and while calls wait; quick: SIGTERM while calls wait")
    p.add_argument('--no-stream-faults', action='store_true')
    p.add_argument('--no-weights', action='store_true', help='skip the bad weights files')
    p.add_argument('--rate', type=float, default=30.0, help='soak camera rate [Hz]')
    p.add_argument('--warmup', type=float, default=None,
                   help='soak seconds before the memory reference (default: a fifth of the '
                        'soak, at most 60)')
    p.add_argument('--image-reliability', choices=('reliable', 'best_effort'),
                   default='reliable',
                   help="the node's image_reliability; the tool's camera publishes reliably "
                        '(every image reaches the node, so the soak counts what the node does '
                        'with them)')
    p.add_argument('--default-fastdds', action='store_true',
                   help="Fast DDS's default transports for the tool's camera and the node "
                        '(RAR_FASTDDS_PROFILE=default) instead of the large-image profile of '
                        'ros/middleware.py; a FASTDDS_DEFAULT_PROFILES_FILE of yours is kept')
    p.add_argument('--json', help='write every figure to this file')
    return p.parse_args(argv)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')]
        cpu = f'{names[0]} x{len(names)}' if names else cpu
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    return f'{cpu}; load average {load:.2f} at the start'


def versions() -> str:
    import numpy
    import torch
    try:
        from importlib.metadata import version
        rclpy_v = version('ros-rclpy')
    except Exception:
        rclpy_v = 'unknown'
    return (f'python {platform.python_version()}, torch {torch.__version__}, '
            f'numpy {numpy.__version__}, rclpy {rclpy_v}, '
            f"RMW {os.environ.get('RMW_IMPLEMENTATION', 'default')}")


def progress(text: str) -> None:
    """One line on stderr: where a long run is."""
    print(f'[stress {time.strftime("%H:%M:%S")}] {text}', file=sys.stderr, flush=True)


def main_node_phases(args, context, params: dict, report: dict) -> None:
    """Fuzz, storm and soak on one node, then SIGINT; results go into ``report``."""
    from .driver import Driver, Scene
    from .fuzz import run_fuzz
    from .soak import run_soak
    from .storm import run_storm

    scene = Scene()
    node = NodeProcess(args.node_cmd, params, 'main')
    driver = Driver(node.namespace, clients=args.clients, context=context)
    report['node_cmd'] = ' '.join(node.cmd)
    try:
        t0 = time.monotonic()
        if not driver.wait_ready(180.0):
            report['main'] = {'started': False, 'stderr': node.stderr()[-3000:]}
            return
        report['startup_s'] = round(time.monotonic() - t0, 1)
        if args.fuzz:
            progress(f'fuzz: {args.fuzz} messages')
            cnode = cdriver = None
            if not args.no_compressed:
                cnode = NodeProcess(args.node_cmd, dict(params, use_compressed='true'), 'comp')
                cdriver = Driver(cnode.namespace, context=context)
                if not cdriver.wait_ready(180.0):
                    report['fuzz_compressed_start'] = cnode.stderr()[-2000:]
            try:
                report['fuzz'] = run_fuzz(node, driver, scene, args.fuzz, args.seed,
                                          args.fuzz_rate, cnode, cdriver)
            finally:
                if cnode is not None:
                    cnode.stop(signal.SIGINT)
                    report['fuzz']['compressed_node_exit'] = cnode.exit_code
                    cdriver.close()
            time.sleep(1.5)
        if args.storm:
            progress(f'storm: {args.storm} calls from {args.clients} clients')
            report['storm'] = run_storm(node, driver, scene, args.storm, args.clients,
                                        args.seed)
            time.sleep(1.0)
        if args.minutes > 0:
            progress(f'soak: {args.minutes} min at {args.rate} Hz')
            report['soak'] = run_soak(node, driver, scene, args.minutes, args.seed, args.rate,
                                      warmup_s=args.warmup)
        report['main_alive'] = node.alive()
        node.stop(signal.SIGINT)
        report['main_exit'] = {'signal': 'SIGINT', 'moment': 'after the phases above',
                               'code': node.exit_code, 'seconds': round(node.exit_s, 2),
                               'bad_lines': node.bad_lines()[:3]}
    finally:
        driver.close()
        node.kill()


def run(args) -> dict:
    import rclpy

    from .driver import Scene
    from .faults import run_signal_faults, run_stream_faults, run_weights_faults

    params = {'diagnostics_period': 0.5, 'image_reliability': args.image_reliability}
    report: dict = {'command': 'python -m rar_tracking.ros.stress ' + ' '.join(sys.argv[1:]),
                    'versions': versions(), 'machine': machine(), 'seed': args.seed}
    # Before the first participant: the camera (this process) and the node (a child, which
    # inherits the environment) send their images from the larger shared-memory segment.
    if args.default_fastdds:
        os.environ[OPT_OUT_ENV] = 'default'
    report['fastdds_profile'] = use_large_image_profile()
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    t0 = time.monotonic()
    cases = {'all': ALL_SIGNALS, 'quick': QUICK_SIGNALS, 'none': []}[args.signals]
    phases = [('main', lambda: main_node_phases(args, context, params, report))]
    if not args.no_stream_faults:
        phases.append(('stream_faults', lambda: run_stream_faults(
            args.node_cmd, params, context, Scene(count=30))))
    if cases:
        phases.append(('signal_faults', lambda: run_signal_faults(
            args.node_cmd, params, context, Scene(count=4), cases)))
    if not args.no_weights:
        phases.append(('weights_faults', lambda: run_weights_faults(args.node_cmd, params)))
    try:
        for name, phase in phases:
            progress(f'{name}')
            try:
                result = phase()
            except Exception as exc:  # a broken phase is reported, the others still run
                report.setdefault('errors', []).append(f'{name}: {exc!r}')
                continue
            if result is not None:
                report[name] = result
    finally:
        rclpy.shutdown(context=context)
    report['total_s'] = round(time.monotonic() - t0, 1)
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    report = run(args)
    from .report import checks, print_report
    failed = checks(report)
    report['failed_checks'] = failed
    print_report(report)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1, default=str)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
