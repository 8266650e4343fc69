"""End-to-end demo: a video source and the tracker node as real processes, scored and recorded.

    scripts/demo.sh                      # generated scene, ~150 frames, CPU-friendly defaults
    python -m rar_tracking.demo --video clip.mp4 --box 120,80,60,40
    python -m rar_tracking.demo --sequence Girl --frames 200

What happens: ``rar_video_source`` and ``rar_tracker_node`` start as child processes (same
environment, their logs in ``<output>/logs/``), in their own namespace. The source holds its
first frame (``paused``) until the tracker's ``~/set_target`` service answers; the demo sets the
target on that frame through the service (the first frame's ground truth, or ``--box``), then
releases the source through its ``paused`` parameter and records ``image``,
``video_source/ground_truth``, ``rar_tracker/target`` and ``rar_tracker/debug_image`` for
``--frames`` frames (or ``--seconds``). With ``--pace tracker`` (the default) the source sends the
next frame when the tracker has answered the previous one (at most ``--rate`` Hz), so every frame
is tracked; with ``--pace realtime`` it keeps ``--rate`` like a camera and the node drops the
frames that arrive while it is busy.

Written to ``--output`` (default ``demo_output/`` of the repository): ``demo.mp4`` (or ``.avi``)
with the tracker's box and, when known, the ground truth; ``debug_image.mp4`` (the node's own
overlay); ``tracks.csv`` (one row per frame); ``summary.json``; ``logs/``. The same summary is
printed. Exit status: 0 on success, 1 on failure (with the reason), 130 on Ctrl-C. Child processes
get SIGINT, then SIGTERM, then SIGKILL, in every case.
"""
from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .types import Box, TrackState

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
IS_CHECKOUT = (PACKAGE_ROOT / 'setup.py').is_file()
STATE_NAMES = {int(s): s.name for s in TrackState}
# Drawing colours, BGR for OpenCV.
COLOUR = {TrackState.TRACKING: (60, 220, 60), TrackState.LOST: (0, 140, 255),
          TrackState.IDLE: (200, 200, 200)}
GT_COLOUR = (255, 255, 0)  # cyan


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why (and where the logs are)."""


# ----------------------------------------------------------------------------- options
def default_output() -> Path:
    return (PACKAGE_ROOT if IS_CHECKOUT else Path.cwd()) / 'demo_output'


def default_params_file() -> Path | None:
    """The shipped config/rar_tracker.yaml: the checkout's, else the installed share one."""
    candidate = PACKAGE_ROOT / 'config' / 'rar_tracker.yaml'
    if candidate.is_file():
        return candidate
    try:
        from ament_index_python.packages import get_package_share_directory
        candidate = Path(get_package_share_directory('rar_tracking')) / 'config' / \
            'rar_tracker.yaml'
        return candidate if candidate.is_file() else None
    except Exception:  # not installed in an ament prefix
        return None


def parse_box(text: str) -> Box:
    try:
        box = Box.coerce([float(v) for v in text.replace(' ', '').split(',')])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f'--box needs x,y,w,h (4 numbers): {exc}') from None
    if not box.is_finite() or box.w <= 0 or box.h <= 0:
        raise argparse.ArgumentTypeError(f'--box needs a finite box with w, h > 0: {text}')
    return box


def parse_param(text: str) -> tuple[str, str]:
    for sep in (':=', '='):
        if sep in text:
            name, value = text.split(sep, 1)
            if name.strip():
                return name.strip(), value.strip()
    raise argparse.ArgumentTypeError(f'--param needs NAME:=VALUE, got {text!r}')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='rar_demo', description='Run rar_tracker_node on a video source, score and '
        'record it (see docs/launch_and_demo.md).')
    src = parser.add_argument_group('input (default: a generated scene with exact ground truth)')
    one = src.add_mutually_exclusive_group()
    one.add_argument('--video', metavar='PATH', help='a video file')
    one.add_argument('--images', metavar='DIR', help='a folder of images (sorted by name); an '
                     'OTB/VOT/GOT-10k/LaSOT sequence folder brings its ground truth')
    one.add_argument('--sequence', metavar='NAME', help='a sequence of --data (manifest.json)')
    src.add_argument('--data', metavar='DIR', default=str(PACKAGE_ROOT.parent / 'shared' / 'data'
                                                            / 'tracking'),
                     help='folder with manifest.json for --sequence (default: %(default)s)')
    src.add_argument('--ground-truth', metavar='FILE', help='x,y,w,h rows for --video/--images')
    src.add_argument('--box', type=parse_box, metavar='X,Y,W,H',
                     help='target box on the first frame (default: its ground truth)')
    src.add_argument('--seed', type=int, default=0, help='seed of the generated scene')
    src.add_argument('--scene-size', default='320x240', metavar='WxH',
                     help='size of the generated scene (default: %(default)s)')
    src.add_argument('--rate', type=float,
                     help='source frame rate in Hz; with --pace tracker the most it may reach '
                     '(default: 30 with --pace tracker, 10 with --pace realtime)')
    src.add_argument('--pace', choices=('tracker', 'realtime'), default='tracker',
                     help="'tracker': the next frame goes out when the tracker has answered "
                     "the previous one, so every frame is tracked and the figures measure the "
                     "tracker; 'realtime': the source keeps --rate like a camera and the node "
                     'drops what arrives while it is busy (default: %(default)s)')
    run = parser.add_argument_group('run')
    run.add_argument('--frames', type=int, default=150,
                     help='frames to play (default: %(default)s)')
    run.add_argument('--seconds', type=float,
                     help='record for this long instead (the source loops)')
    run.add_argument('--timeout', type=float, default=120.0,
                     help='seconds to wait for the tracker node to answer (default: %(default)s)')
    run.add_argument('--output', type=Path, default=default_output(),
                     help='output folder (default: %(default)s)')
    run.add_argument('--namespace', default='rar_demo',
                     help='ROS namespace of the demo processes (default: %(default)s)')
    trk = parser.add_argument_group('tracker node')
    trk.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' (default: auto)")
    trk.add_argument('--trunk', default='efficientnet_lite0',
                     help='backbone trunk (default: %(default)s, fast on a CPU)')
    trk.add_argument('--weights', default='', help='trained RAR weights file')
    trk.add_argument('--params-file', type=Path, default=default_params_file(),
                     help='node parameters file (default: %(default)s)')
    trk.add_argument('--param', type=parse_param, action='append', default=[],
                     metavar='NAME:=VALUE', help='any other node parameter (repeatable)')
    return parser


# ----------------------------------------------------------------------------- children
def _parent_death_signal():
    """In the child: get SIGTERM when the demo dies without cleaning up (Linux only)."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Child:
    """A child process with its output in a log file; stopped with SIGINT, SIGTERM, SIGKILL."""

    def __init__(self, name: str, argv: list[str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f'{name}.log'
        self._log = open(self.log_path, 'wb')
        env = dict(os.environ, PYTHONUNBUFFERED='1', RCUTILS_COLORIZED_OUTPUT='0')
        self.argv = argv
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # a Ctrl-C in the terminal reaches only the demo
            preexec_fn=_parent_death_signal if sys.platform.startswith('linux') else None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        """The last lines of the log, after its error lines that come earlier."""
        try:
            text = self.log_path.read_text(errors='replace').splitlines()
        except OSError:
            return ''
        errors = [line for line in text[:-lines]
                  if any(key in line for key in ('FATAL', 'ERROR', 'error:'))][-5:]
        shown = errors + (['    ...'] if errors else []) + text[-lines:]
        return '\n'.join('    ' + line for line in shown)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGINT, then SIGTERM, then SIGKILL; returns the exit code."""
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if not self.alive():
                break
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        self._log.close()
        return self.proc.poll()


# ----------------------------------------------------------------------------- recording
def stamp_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def msg_box(msg) -> Box:
    return Box.from_center(msg.center_x, msg.center_y, msg.size_x, msg.size_y)


@dataclass
class FrameRecord:
    stamp_ns: int
    rgb: np.ndarray | None
    gt: Box | None = None
    index: int | None = None  # 0-based source frame index, when the source says it


@dataclass
class Recording:
    """What arrived, keyed by image stamp."""

    frames: 'collections.OrderedDict[int, FrameRecord]' = field(
        default_factory=collections.OrderedDict)
    gt: dict = field(default_factory=dict)  # stamp -> (box or None, index)
    targets: dict = field(default_factory=dict)  # stamp -> (TrackedTarget, receipt ns)
    debug_count: int = 0


class VideoSink:
    """cv2.VideoWriter opened on the first frame: mp4 (mp4v), else avi (MJPG)."""

    def __init__(self, stem: Path, fps: float):
        self.stem, self.fps = stem, max(1.0, float(fps))
        self.writer = None
        self.path: Path | None = None
        self.count = 0

    def write(self, bgr: np.ndarray) -> None:
        import cv2

        if self.writer is None:
            h, w = bgr.shape[:2]
            for suffix, fourcc in (('.mp4', 'mp4v'), ('.avi', 'MJPG')):
                path = self.stem.with_suffix(suffix)
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), self.fps,
                                         (w, h))
                if writer.isOpened():
                    self.writer, self.path = writer, path
                    break
                writer.release()
            if self.writer is None:
                raise DemoError(f'OpenCV can write neither mp4 nor avi here ({self.stem})')
        self.writer.write(bgr)
        self.count += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def annotate(rgb: np.ndarray, record: FrameRecord, target, held: Box | None,
             frame_no: int) -> np.ndarray:
    """BGR frame with the tracker box (green, orange when LOST) and the ground truth (thin,
    cyan) drawn, and a line of text: frame, state, confidence, IoU."""
    import cv2

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    h, w = bgr.shape[:2]
    thick = max(1, round(min(w, h) / 240))

    def rect(box: Box, colour, t):
        cv2.rectangle(bgr, (round(box.x), round(box.y)), (round(box.x + box.w),
                      round(box.y + box.h)), colour, t, cv2.LINE_AA)

    if target is not None:
        state = TrackState(int(target.state))
        box = msg_box(target)
        rect(box, COLOUR[state], thick + 1)
        text = f'{frame_no:4d} {state.name} conf {target.confidence:.2f}'
        if record.gt is not None:
            text += f' IoU {box.iou(record.gt):.2f}'
    else:
        if held is not None:
            rect(held, (150, 150, 150), 1)
        text = f'{frame_no:4d} (tracker busy: frame dropped)'
    if record.gt is not None:  # on top, thin: visible even where the boxes agree
        rect(record.gt, GT_COLOUR, 1)
    scale = max(0.35, min(w, h) / 600)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(bgr, (0, 0), (tw + 6, th + base + 6), (0, 0, 0), cv2.FILLED)
    cv2.putText(bgr, text, (3, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return bgr


class Scorer:
    """Scores frames in order, draws them into the video and writes tracks.csv rows."""

    FIELDS = ['frame', 'source_index', 'stamp_ns', 'state', 'x', 'y', 'w', 'h', 'confidence',
              'gt_x', 'gt_y', 'gt_w', 'gt_h', 'iou']

    def __init__(self, out: Path, fps: float):
        self.out = out
        self.sink = VideoSink(out / 'demo', fps)
        self._csv_file = open(out / 'tracks.csv', 'w', newline='')
        self.csv = csv.DictWriter(self._csv_file, fieldnames=self.FIELDS)
        self.csv.writeheader()
        self.count = 0
        self.held: Box | None = None
        self.ious: list[float] = []
        self.confidences: list[float] = []
        self.latency_ms: list[float] = []
        self.latency_to_demo_ms: list[float] = []
        self.inference_ms: list[float] = []
        self.processed = self.lost = self.node_dropped = 0
        self.first_start = self.last_end = None

    def add(self, rec: FrameRecord, msg, received_ns: int | None) -> None:
        n = self.count
        self.count += 1
        if msg is not None and msg.state == TrackState.IDLE:
            msg = None
        iou = None
        box = msg_box(msg) if msg is not None else None
        if msg is not None and n > 0:  # frame 0 is the initialization, not a result
            self.processed += 1
            self.confidences.append(float(msg.confidence))
            self.lost += int(msg.state == TrackState.LOST)
            self.latency_ms.append((stamp_ns(msg.processing_end) - rec.stamp_ns) / 1e6)
            self.latency_to_demo_ms.append((received_ns - rec.stamp_ns) / 1e6)
            self.inference_ms.append(float(msg.inference_ms))
            self.node_dropped += int(msg.dropped_frames)
            if self.first_start is None:
                self.first_start = stamp_ns(msg.processing_start)
            self.last_end = stamp_ns(msg.processing_end)
            if rec.gt is not None:
                iou = box.iou(rec.gt)
                self.ious.append(iou)
        label = rec.index if rec.index is not None else n
        self.sink.write(annotate(rec.rgb, rec, msg, self.held, label))
        if box is not None:
            self.held = box

        def num(value, digits=2):
            return '' if value is None else f'{value:.{digits}f}'
        self.csv.writerow({
            'frame': n, 'source_index': '' if rec.index is None else rec.index,
            'stamp_ns': rec.stamp_ns,
            'state': STATE_NAMES[int(msg.state)] if msg is not None else 'DROPPED',
            'x': num(box and box.x), 'y': num(box and box.y), 'w': num(box and box.w),
            'h': num(box and box.h), 'confidence': num(msg and msg.confidence, 4),
            'gt_x': num(rec.gt and rec.gt.x), 'gt_y': num(rec.gt and rec.gt.y),
            'gt_w': num(rec.gt and rec.gt.w), 'gt_h': num(rec.gt and rec.gt.h),
            'iou': num(iou, 4)})

    def close(self) -> None:
        self.sink.close()
        self._csv_file.close()

    def summary(self) -> dict:
        def mean(values):
            return round(float(np.mean(values)), 4) if values else None

        after_init = max(self.count - 1, 0)
        span_s = ((self.last_end - self.first_start) / 1e9
                  if self.first_start is not None and self.last_end is not None else 0.0)
        return {
            'frames_recorded': self.count,
            'frames_after_init': after_init,
            'frames_processed': self.processed,
            'frames_dropped': after_init - self.processed,
            'node_reported_dropped_frames': self.node_dropped,
            'frames_lost': self.lost,
            'mean_confidence': mean(self.confidences),
            'processing_rate_hz': round(self.processed / span_s, 3) if span_s > 0 else None,
            'mean_inference_ms': mean(self.inference_ms),
            'mean_latency_ms': mean(self.latency_ms),
            'p95_latency_ms': round(float(np.percentile(self.latency_ms, 95)), 3)
            if self.latency_ms else None,
            'mean_latency_to_demo_ms': mean(self.latency_to_demo_ms),
            'frames_scored': len(self.ious),
            'mean_iou': mean(self.ious),
            'success_rate_iou_0.5': round(float(np.mean(np.array(self.ious) >= 0.5)), 4)
            if self.ious else None,
            'video': str(self.sink.path) if self.sink.path else None,
            'tracks_csv': str(self.out / 'tracks.csv'),
        }


# ----------------------------------------------------------------------------- the run
class Demo:
    """One run: children, the observing node, the recording and the outputs."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out: Path = args.output
        self.ns = '/' + args.namespace.strip('/') if args.namespace.strip('/') else ''
        self.children: list[Child] = []
        self.rec = Recording()
        self.node = None
        self.context = None
        self.executor = None
        self.has_gt = False
        self.init_stamp: int | None = None
        self.release_ns: int | None = None
        self.playing = False
        self.frames_seen = 0  # frames recorded, the first (target) frame included
        self.newest_target: int | None = None
        self.newest_image: int | None = None  # stamp of the newest recorded image
        self.limit = args.frames if args.seconds is None else 10 ** 9
        self.scorer: Scorer | None = None
        self.init_rgb: np.ndarray | None = None
        self.node_info: dict = {}  # the tracker's last /diagnostics key-values
        self.started = time.monotonic()

    # --- setup -----------------------------------------------------------------------
    def source_parameters(self) -> dict:
        a = self.args
        p = {'rate': float(a.rate), 'paused': True, 'loop': a.seconds is not None,
             'frame_id': 'camera'}
        if a.pace == 'tracker':
            p.update(wait_for_topic='rar_tracker/target', wait_timeout=float(a.timeout))
        for option, path in (('--video', a.video), ('--images', a.images),
                             ('--ground-truth', a.ground_truth)):
            if path and not Path(path).expanduser().exists():
                raise DemoError(f'{option} {path}: no such file or folder')
        if a.video and a.box is None and not a.ground_truth:
            raise DemoError('a video has no ground truth: give --box x,y,w,h (the target on '
                            'its first frame) or --ground-truth FILE')
        if a.video:
            p['source'] = str(Path(a.video).expanduser().resolve())
        elif a.images:
            p['source'] = str(Path(a.images).expanduser().resolve())
        elif a.sequence:
            data = Path(a.data).expanduser()
            if not (data / 'manifest.json').is_file():
                raise DemoError(f'--sequence {a.sequence}: no manifest.json in {data} (give '
                                '--data, or use --video / --images)')
            p['source'], p['sequence'] = str(data.resolve()), a.sequence
        else:
            try:
                width, height = (int(v) for v in a.scene_size.lower().split('x'))
            except ValueError:
                raise DemoError(f'--scene-size needs WxH, got {a.scene_size!r}') from None
            p.update(source='synthetic', scene_frames=max(2, int(a.frames)), scene_seed=a.seed,
                     scene_width=width, scene_height=height)
        if (a.video or a.images or a.sequence) and a.seconds is None:
            p['max_frames'] = int(a.frames)
        if a.ground_truth:
            p['ground_truth'] = str(Path(a.ground_truth).expanduser().resolve())
        return p

    def tracker_parameters(self) -> dict:
        a = self.args
        # The held first frame is repeated until the target is set: catching up on those
        # copies would only cost time.
        p = {'trunk': a.trunk, 'device': a.device, 'max_catch_up_frames': 0}
        if a.weights:
            p['weights'] = str(Path(a.weights).expanduser().resolve())
        p.update(dict(a.param))
        return p

    @staticmethod
    def ros_value(value) -> str:
        if isinstance(value, bool):
            return 'true' if value else 'false'
        if isinstance(value, str) and value == '':
            return "''"
        return str(value)

    def start_children(self) -> None:
        logs = self.out / 'logs'
        logs.mkdir(parents=True, exist_ok=True)
        remap = ['-r', f'__ns:={self.ns}'] if self.ns else []
        src = [sys.executable, '-m', 'rar_tracking.ros.video_source', '--ros-args', *remap]
        for k, v in self.source_parameters().items():
            src += ['-p', f'{k}:={self.ros_value(v)}']
        trk = [sys.executable, '-m', 'rar_tracking.node', '--ros-args', *remap]
        if self.args.params_file is not None:
            if not Path(self.args.params_file).is_file():
                raise DemoError(f'--params-file {self.args.params_file} does not exist')
            trk += ['--params-file', str(self.args.params_file)]
        for k, v in self.tracker_parameters().items():
            trk += ['-p', f'{k}:={self.ros_value(v)}']
        self.children.append(Child('video_source', src, logs))
        self.children.append(Child('rar_tracker', trk, logs))

    def start_ros(self) -> None:
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import Image

        from rar_tracking_msgs.msg import TrackedTarget
        from rar_tracking_msgs.srv import SetTarget

        self.context = rclpy.Context()
        # Ctrl-C stays a KeyboardInterrupt here, so that the demo can clean up its children.
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node('rar_demo', namespace=self.ns or '/', context=self.context)
        best_effort = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT,
                                 durability=qos_profile_sensor_data.durability)
        reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(Image, 'image', self.on_image, best_effort)
        self.node.create_subscription(TrackedTarget, 'video_source/ground_truth', self.on_gt,
                                      reliable)
        self.node.create_subscription(TrackedTarget, 'rar_tracker/target', self.on_target,
                                      reliable)
        self.node.create_subscription(
            Image, 'rar_tracker/debug_image', self.on_debug,
            QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT))
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.on_diagnostics, 10)
        self.set_target = self.node.create_client(SetTarget, 'rar_tracker/set_target')
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    # --- callbacks -------------------------------------------------------------------
    def on_image(self, msg) -> None:
        from .ros.image_conversion import image_msg_to_rgb

        s = stamp_ns(msg.header.stamp)
        if self.init_stamp is None:
            # While the source holds frame 0: keep only the newest, to set the target on.
            self.rec.frames.clear()
            self.rec.frames[s] = FrameRecord(s, image_msg_to_rgb(msg))
            return
        if self.release_ns is None or s < self.release_ns:
            return  # a repeat of the held first frame
        if self.newest_image is not None and s <= self.newest_image:
            return  # re-sent by a paced source that feared the image was lost
        rgb = image_msg_to_rgb(msg)
        if not self.playing:
            # One repeat may be stamped after the release request: skip copies of frame 0.
            if np.array_equal(rgb, self.init_rgb):
                return
            self.playing = True
        self.rec.frames[s] = FrameRecord(s, rgb)
        self.newest_image = s
        self.frames_seen += 1

    def on_gt(self, msg) -> None:
        s = stamp_ns(msg.header.stamp)
        if self.init_stamp is not None and s < self.init_stamp:
            return
        if self.init_stamp is None:
            self.rec.gt.clear()  # keep only the newest while the first frame is held
        box = msg_box(msg) if msg.state == msg.STATE_TRACKING else None
        self.rec.gt[s] = (box, int(msg.target_id) - 1)

    def on_target(self, msg) -> None:
        s = stamp_ns(msg.header.stamp)
        if self.init_stamp is not None and s < self.init_stamp:
            return
        # Before the service answers, the result on the target frame may already be here.
        self.rec.targets[s] = (msg, time.time_ns())
        self.newest_target = s if self.newest_target is None else max(self.newest_target, s)

    def on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith(f'{self.ns}/rar_tracker:'):
                self.node_info = {kv.key: kv.value for kv in status.values}

    def on_debug(self, msg) -> None:
        s = stamp_ns(msg.header.stamp)
        if self.init_stamp is None or s < self.init_stamp or (
                s != self.init_stamp and (self.release_ns is None or s < self.release_ns)):
            return  # before the target, or a repeat of the held first frame
        from .ros.image_conversion import image_msg_to_rgb

        self.debug_sink.write(np.ascontiguousarray(image_msg_to_rgb(msg)[:, :, ::-1]))
        self.rec.debug_count += 1

    # --- helpers ---------------------------------------------------------------------
    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            self.executor.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))
            if time.monotonic() >= end:
                return

    def check_children(self) -> None:
        for child in self.children:
            if not child.alive():
                raise DemoError(f'{child.name} exited with code {child.proc.returncode} '
                                f'before the demo ended; its log ({child.log_path}) ends '
                                f'with:\n{child.tail()}')

    def wait_for(self, condition, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not condition():
            self.check_children()
            if time.monotonic() > end:
                logs = '\n'.join(f'  {c.name}: {c.log_path}\n{c.tail(8)}' for c in self.children)
                raise DemoError(f'{what} within {timeout:.0f} s. Logs:\n{logs}')
            self.spin(0.05)

    # --- the run ---------------------------------------------------------------------
    def run(self) -> dict:
        a = self.args
        self.out.mkdir(parents=True, exist_ok=True)
        # Videos play at the source rate; paced runs at a watchable 10 fps.
        fps = a.rate if a.pace == 'realtime' else 10.0
        self.debug_sink = VideoSink(self.out / 'debug_image', fps)
        self.scorer = Scorer(self.out, fps)
        self.start_children()
        self.start_ros()
        print(f'[demo] started video_source and rar_tracker in namespace {self.ns or "/"} '
              f'(logs in {self.out / "logs"}); waiting for the tracker (up to {a.timeout:.0f} s)',
              flush=True)
        self.wait_for(lambda: self.set_target.service_is_ready(), a.timeout,
                      'the tracker node never offered rar_tracker/set_target')
        self.wait_for(lambda: len(self.rec.frames) > 0, 30.0,
                      'no image arrived from video_source')
        self.set_initial_target()
        self.release_source()
        self.record()
        return self.finish()

    def set_initial_target(self) -> None:
        from rar_tracking_msgs.srv import SetTarget

        a = self.args
        self.spin(0.5)  # let the tracker receive a few copies of the held first frame
        deadline = time.monotonic() + 20.0
        last = ''
        while time.monotonic() < deadline:
            self.check_children()
            stamp = next(reversed(self.rec.frames))
            gt = self.rec.gt.get(stamp)
            self.has_gt = bool(self.rec.gt)
            box = a.box if a.box is not None else (gt[0] if gt else None)
            if box is None:
                if gt is None and self.rec.gt:
                    self.spin(0.1)
                    continue  # ground truth of this frame not here yet
                raise DemoError('the first frame has no ground-truth box: give --box x,y,w,h')
            request = SetTarget.Request()
            request.header.stamp.sec, request.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            request.header.frame_id = 'camera'
            request.center_x, request.center_y = box.center
            request.size_x, request.size_y = float(box.w), float(box.h)
            candidate = self.rec.frames[stamp]
            future = self.set_target.call_async(request)
            self.wait_for(future.done, a.timeout, 'rar_tracker/set_target did not answer')
            response = future.result()
            if response.success:
                self.init_stamp, self.init_box, self.init_rgb = stamp, box, candidate.rgb
                self.rec.frames = collections.OrderedDict({stamp: candidate})
                self.rec.gt = {stamp: gt} if gt else {}
                self.frames_seen = 1
                print(f'[demo] {response.message}', flush=True)
                return
            last = response.message
            self.spin(0.3)  # e.g. the tracker had not received that image yet: try a newer one
        raise DemoError(f'rar_tracker/set_target refused the target: {last}')

    def release_source(self) -> None:
        from rclpy.parameter import Parameter
        from rclpy.parameter_client import AsyncParameterClient

        client = AsyncParameterClient(self.node, f'{self.ns}/video_source')
        self.wait_for(lambda: client.services_are_ready(), 10.0,
                      'the video_source parameter services did not appear')
        self.release_ns = time.time_ns()
        future = client.set_parameters([Parameter('paused', value=False)])
        self.wait_for(future.done, 10.0, 'video_source did not accept paused:=false')
        if not future.result().results[0].successful:
            raise DemoError(f'video_source refused paused:=false: '
                            f'{future.result().results[0].reason}')
        self.record_start = time.monotonic()

    def record(self) -> None:
        a = self.args
        # A camera-like source is done when it has been silent for a few frame periods. A
        # source paced by the tracker sends the next image as soon as the tracker answered
        # the last one (re-sending an image it fears lost), so it is done when the newest
        # image was answered and nothing new came since; while the tracker still works on
        # an image, the demo waits as long as it waits for the tracker anywhere (--timeout).
        quiet = max(2.0, 5.0 / a.rate)
        last_seen, last_change = (0, None), time.monotonic()
        while True:
            self.spin(0.1)
            self.flush()
            self.check_children()
            now = time.monotonic()
            count = self.frames_seen
            seen = (count, self.newest_target)
            if seen != last_seen:
                last_seen, last_change = seen, now
            answered = self.newest_image is None or \
                (self.newest_target or 0) >= self.newest_image
            idle_limit = quiet if a.pace == 'realtime' or answered else a.timeout
            if a.seconds is not None:
                if now - self.record_start >= a.seconds:
                    break
            elif count >= a.frames:
                break
            if now - last_change > idle_limit:
                print(f'[demo] the source stopped after {count} frames', flush=True)
                break
        # Give the tracker time to finish the frame it holds.
        if self.rec.frames:
            last_stamp = next(reversed(self.rec.frames))
            end = time.monotonic() + (5.0 if a.pace == 'realtime' else a.timeout)
            while time.monotonic() < end and (self.newest_target or 0) < last_stamp:
                self.spin(0.05)
        self.spin(0.2)

    # --- outputs ---------------------------------------------------------------------
    def flush(self, final: bool = False) -> None:
        """Score and write the frames whose fate is known (a result came for them or for a
        later frame); all of them when ``final``."""
        frames = self.rec.frames
        while frames:
            stamp, record = next(iter(frames.items()))
            decided = self.newest_target is not None and stamp <= self.newest_target
            if not (final or decided or len(frames) > 300):
                return
            del frames[stamp]
            if self.scorer.count >= self.limit:
                continue
            gt = self.rec.gt.pop(stamp, None)
            if gt is not None:
                record.gt, record.index = gt
            self.scorer.add(record, *self.rec.targets.pop(stamp, (None, None)))

    def finish(self, interrupted: bool = False) -> dict:
        a = self.args
        self.flush(final=True)
        self.scorer.close()
        self.debug_sink.close()
        summary = {
            'input': self.describe_input(),
            'tracker': {'trunk': self.node_info.get('trunk', a.trunk),
                        'device': self.node_info.get('device', a.device),
                        'weights': a.weights or None,
                        'parameters': self.tracker_parameters(),
                        'params_file': str(a.params_file) if a.params_file else None},
            'pace': a.pace,
            'source_rate_hz': a.rate,
            'init_box': [round(v, 3) for v in self.init_box.as_tuple()],
            **self.scorer.summary(),
            'ground_truth': self.has_gt,
            'debug_images_recorded': self.rec.debug_count,
            'debug_video': str(self.debug_sink.path) if self.debug_sink.path else None,
            'wall_time_s': round(time.monotonic() - self.started, 2),
            'interrupted': interrupted,
            'command': ' '.join([Path(sys.argv[0]).name] + sys.argv[1:]),
        }
        (self.out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
        return summary

    def describe_input(self) -> str:
        a = self.args
        if a.video:
            return f'video {a.video}'
        if a.images:
            return f'images {a.images}'
        if a.sequence:
            return f'sequence {a.sequence} of {a.data}'
        return f'generated scene (seed {a.seed}, {a.scene_size}, {a.frames} frames)'

    def close(self) -> None:
        codes = {}
        for child in reversed(self.children):  # tracker first: it logs its own summary
            codes[child.name] = child.stop()
        if self.executor is not None:
            self.executor.shutdown()
        if self.node is not None:
            self.node.destroy_node()
        if self.context is not None:
            self.context.try_shutdown()
        return codes


def print_summary(s: dict) -> None:
    def fmt(value, unit='', digits=3):
        if value is None:
            return 'n/a'
        return f'{value:.{digits}g}{unit}' if isinstance(value, float) else f'{value}{unit}'

    print('\n=== rar_tracking demo ===')
    pace = ('paced by the tracker, at most' if s['pace'] == 'tracker' else 'streamed at')
    print(f'input              {s["input"]}, {pace} {s["source_rate_hz"]:g} Hz')
    print(f'tracker            trunk {s["tracker"]["trunk"]}, device {s["tracker"]["device"]}')
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
    status = 0
    try:
        summary = demo.run()
        print_summary(summary)
    except DemoError as exc:
        print(f'\n[demo] error: {exc}', file=sys.stderr, flush=True)
        status = 1
    except KeyboardInterrupt:
        print('\n[demo] interrupted: stopping the child processes', file=sys.stderr, flush=True)
        status = 130
        if demo.release_ns is not None:  # keep what was recorded
            try:
                summary = demo.finish(interrupted=True)
                print(f'[demo] partial results ({summary["frames_recorded"]} frames) in '
                      f'{demo.out}', file=sys.stderr)
            except Exception as exc:  # a second Ctrl-C, a half-written frame...
                print(f'[demo] could not write partial results: {exc!r}', file=sys.stderr)
    finally:
        codes = demo.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    unclean = {k: v for k, v in codes.items() if v not in (0, None, -signal.SIGINT)}
    if unclean and status == 0:
        print(f'[demo] note: child exit codes {unclean} (see {args.output / "logs"})',
              file=sys.stderr)
    return status


if __name__ == '__main__':
    sys.exit(main())
