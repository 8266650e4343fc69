"""``python -m rar_tracking.ros.stress.transport``: how late the middleware hands a camera's
images to a subscriber's callback, with and without the large-image Fast DDS profile.

    python -m rar_tracking.ros.stress.transport --minutes 6                       # profile
    python -m rar_tracking.ros.stress.transport --minutes 6 --publisher default   # Fast DDS defaults

No tracker is involved: a publisher process sends 640x480 rgb8 images (reliable, depth 10, like
the stress tool's camera; ``--reliability best_effort`` for both sides) and this process
subscribes (depth 10, a single-threaded executor) beside a thread that keeps one core busy with torch, as the tracker thread does.
For each image the callback takes the time since the middleware received it (rclpy's message
info); the table gives, per minute, the images received, those handed over more than one frame
period after their receipt, and the longest wait. ros/middleware.py says what was measured
with it and why the profile is applied where images are published.
"""
from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time

from ..middleware import LARGE_IMAGE_PROFILE, PROFILE_ENV

PROFILES = {'default': None, 'large-image': str(LARGE_IMAGE_PROFILE)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog='python -m rar_tracking.ros.stress.transport',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('--minutes', type=float, default=6.0, help='how long to measure')
    p.add_argument('--rate', type=float, default=30.0, help='camera rate [Hz]')
    p.add_argument('--width', type=int, default=640)
    p.add_argument('--height', type=int, default=480)
    p.add_argument('--publisher', choices=sorted(PROFILES), default='large-image',
                   help="Fast DDS profile of the publishing process ('default': none)")
    p.add_argument('--subscriber', choices=sorted(PROFILES), default='default',
                   help='Fast DDS profile of the subscribing process (this one)')
    p.add_argument('--reliability', choices=('reliable', 'best_effort'), default='reliable',
                   help="QoS reliability of the camera and the subscriber (depth 10 both)")
    p.add_argument('--no-busy-thread', action='store_true',
                   help='no torch thread beside the subscriber')
    p.add_argument('--json', help='write the figures to this file')
    p.add_argument('--role', choices=('measure', 'publisher'), default='measure',
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _with_profile(env: dict, profile: str | None) -> dict:
    env = dict(env)
    env.pop(PROFILE_ENV, None)
    if profile:
        env[PROFILE_ENV] = profile
    return env


def publish(args) -> None:
    """The camera: one random image, restamped and published at ``args.rate`` until the end."""
    import numpy as np
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    stopped = threading.Event()  # SIGTERM from the measuring process: stop publishing, cleanly
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    rclpy.init(signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = rclpy.create_node('rar_transport_camera')
    pub = node.create_publisher(Image, 'rar_transport/image', QoSProfile(
        depth=10, reliability=getattr(ReliabilityPolicy, args.reliability.upper())))
    msg = Image(height=args.height, width=args.width, encoding='rgb8', step=3 * args.width)
    rng = np.random.default_rng(0)
    msg.data = rng.integers(0, 256, args.height * args.width * 3, dtype=np.uint8).tobytes()
    period = 1.0 / args.rate
    start = time.monotonic()
    next_t = start
    while not stopped.is_set() and time.monotonic() - start < args.minutes * 60 + 5.0:
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 10 ** 9)
        pub.publish(msg)
        next_t += period
        time.sleep(max(0.0, next_t - time.monotonic()))
    node.destroy_node()
    rclpy.try_shutdown()


def _busy(stop: threading.Event) -> None:
    import torch
    net = torch.nn.Sequential(*[torch.nn.Conv2d(32, 32, 3, padding=1) for _ in range(6)])
    x = torch.randn(3, 32, 64, 64)
    with torch.no_grad():
        while not stop.is_set():
            net(x)


def measure(args) -> dict:
    """Start the publisher, subscribe, and count per minute; returns the figures."""
    child_env = _with_profile(os.environ, PROFILES[args.publisher])
    os.environ.pop(PROFILE_ENV, None)  # this process: before its first participant
    if PROFILES[args.subscriber]:
        os.environ[PROFILE_ENV] = PROFILES[args.subscriber]
    argv = [sys.executable, '-m', 'rar_tracking.ros.stress.transport', '--role', 'publisher',
            '--minutes', str(args.minutes), '--rate', str(args.rate),
            '--width', str(args.width), '--height', str(args.height),
            '--reliability', args.reliability]
    camera = subprocess.Popen(argv, env=child_env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    if not args.no_busy_thread:
        import torch
        torch.set_num_threads(1)
        threading.Thread(target=_busy, args=(stop,), daemon=True, name='busy').start()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image

    frame_ms = 1000.0 / args.rate
    received: collections.Counter = collections.Counter()
    late: collections.Counter = collections.Counter()
    worst: dict = collections.defaultdict(float)
    start_ns = time.time_ns()

    def on_image(msg, info) -> None:
        now = time.time_ns()
        minute = int((now - start_ns) / 60e9)
        wait_ms = (now - info['received_timestamp']) / 1e6
        received[minute] += 1
        late[minute] += wait_ms > frame_ms
        worst[minute] = max(worst[minute], wait_ms)

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('rar_transport_subscriber', context=context)
    qos = copy.copy(qos_profile_sensor_data)
    qos.reliability = getattr(ReliabilityPolicy, args.reliability.upper())
    qos.depth = 10
    node.create_subscription(Image, 'rar_transport/image', on_image, qos)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    end = time.monotonic() + args.minutes * 60
    try:
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.5)
        segment_mib = _largest_shm_mapping(camera.pid) / 2 ** 20
    finally:
        stop.set()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        camera.terminate()
        try:
            _, camera_err = camera.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            camera.kill()
            _, camera_err = camera.communicate()
    minutes = sorted(received)
    return {
        'command': 'python -m rar_tracking.ros.stress.transport ' + ' '.join(sys.argv[1:]),
        'publisher_profile': PROFILES[args.publisher] or 'default transports',
        'subscriber_profile': PROFILES[args.subscriber] or 'default transports',
        'busy_thread': not args.no_busy_thread,
        'image': f'{args.width}x{args.height} rgb8 at {args.rate:g} Hz, {args.reliability}',
        'per_minute': [{'minute': m, 'received': received[m], 'late': late[m],
                        'worst_ms': round(worst[m], 1)} for m in minutes],
        'received': sum(received.values()),
        'late': sum(late.values()),
        'worst_ms': round(max(worst.values(), default=0.0), 1),
        # the camera's own segment is the largest shared-memory file it maps
        'camera_largest_shm_mib': round(segment_mib, 2),
        'camera_errors': [ln for ln in camera_err.splitlines() if 'rror' in ln][:20],
    }


def _largest_shm_mapping(pid: int) -> int:
    """Bytes of the largest Fast DDS shared-memory file process ``pid`` maps (0: none, or no
    /proc)."""
    sizes: dict = collections.defaultdict(int)
    try:
        with open(f'/proc/{pid}/maps') as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 6 and fields[5].startswith('/dev/shm/fastdds_'):
                    start, end = (int(x, 16) for x in fields[0].split('-'))
                    sizes[fields[5]] += end - start
    except OSError:
        return 0
    return max(sizes.values(), default=0)


def print_figures(r: dict) -> None:
    from .__main__ import machine, versions
    print(f"command: {r['command']}")
    print(f'versions: {versions()}')
    print(f'machine: {machine()}')
    print(f"image: {r['image']}; publisher: {r['publisher_profile']}; subscriber: "
          f"{r['subscriber_profile']}; busy torch thread beside the subscriber: "
          f"{'yes' if r['busy_thread'] else 'no'}; the camera's shared-memory segment "
          f"{r['camera_largest_shm_mib']} MiB")
    print('\n| minute | images received | handed over > 1 frame after receipt | longest wait (ms) |')
    print('| --- | --- | --- | --- |')
    for row in r['per_minute']:
        print(f"| {row['minute']} | {row['received']} | {row['late']} | {row['worst_ms']} |")
    print(f"| all | {r['received']} | {r['late']} | {r['worst_ms']} |")
    for line in r['camera_errors']:
        print(f'camera: {line}')


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.role == 'publisher':
        publish(args)
        return 0
    result = measure(args)
    print_figures(result)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
