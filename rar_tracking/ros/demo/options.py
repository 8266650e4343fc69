"""The demo's command line, and the ROS parameters it gives the video source and the tracker.

Pure Python: may import argparse/pathlib, :mod:`rar_tracking.types` and ament_index_python
(lazily, for the installed parameters file); no rclpy.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ...types import Box

# The repository root in a checkout (setup.py beside the package), else where the package lies.
PACKAGE_ROOT = Path(__file__).resolve().parents[3]
IS_CHECKOUT = (PACKAGE_ROOT / 'setup.py').is_file()


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why (and where the logs are)."""


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


def _add_input_options(parser: argparse.ArgumentParser) -> None:
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


def _add_run_options(parser: argparse.ArgumentParser) -> None:
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


def _add_tracker_options(parser: argparse.ArgumentParser) -> None:
    trk = parser.add_argument_group('tracker node')
    trk.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' (default: auto)")
    trk.add_argument('--trunk', default='efficientnet_lite0',
                     help='backbone trunk (default: %(default)s, fast on a CPU)')
    trk.add_argument('--profile', default='auto', choices=('auto', 'balanced', 'fast', 'full'),
                     help="network profile (default: auto: full on CUDA; on a CPU balanced "
                     "with onnxruntime, else fast)")
    trk.add_argument('--backend', default='auto', choices=('auto', 'torch', 'onnxruntime'),
                     help="per-frame network backend (default: auto: onnxruntime on a CPU when "
                     "installed, else torch)")
    trk.add_argument('--weights', default='', help='trained RAR weights file')
    trk.add_argument('--params-file', type=Path, default=default_params_file(),
                     help='node parameters file (default: %(default)s)')
    trk.add_argument('--param', type=parse_param, action='append', default=[],
                     metavar='NAME:=VALUE', help='any other node parameter (repeatable)')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='rar_demo', description='Run rar_tracker_node on a video source, score and '
        'record it (see docs/launch_and_demo.md).')
    _add_input_options(parser)
    _add_run_options(parser)
    _add_tracker_options(parser)
    return parser


# ----------------------------------------------------------------------------- parameters
def _input_parameters(a: argparse.Namespace) -> dict:
    """The source's ``source`` (and related) parameters for --video/--images/--sequence/scene."""
    for option, path in (('--video', a.video), ('--images', a.images),
                         ('--ground-truth', a.ground_truth)):
        if path and not Path(path).expanduser().exists():
            raise DemoError(f'{option} {path}: no such file or folder')
    if a.video and a.box is None and not a.ground_truth:
        raise DemoError('a video has no ground truth: give --box x,y,w,h (the target on '
                        'its first frame) or --ground-truth FILE')
    if a.video:
        return {'source': str(Path(a.video).expanduser().resolve())}
    if a.images:
        return {'source': str(Path(a.images).expanduser().resolve())}
    if a.sequence:
        data = Path(a.data).expanduser()
        if not (data / 'manifest.json').is_file():
            raise DemoError(f'--sequence {a.sequence}: no manifest.json in {data} (give '
                            '--data, or use --video / --images)')
        return {'source': str(data.resolve()), 'sequence': a.sequence}
    try:
        width, height = (int(v) for v in a.scene_size.lower().split('x'))
    except ValueError:
        raise DemoError(f'--scene-size needs WxH, got {a.scene_size!r}') from None
    return {'source': 'synthetic', 'scene_frames': max(2, int(a.frames)),
            'scene_seed': a.seed, 'scene_width': width, 'scene_height': height}


def source_parameters(a: argparse.Namespace) -> dict:
    """Parameters of the ``video_source`` child: paused on its first frame, paced or not."""
    p = {'rate': float(a.rate), 'paused': True, 'loop': a.seconds is not None,
         'frame_id': 'camera'}
    if a.pace == 'tracker':
        # paced: every frame must arrive, so the images go reliable (the node's side below)
        p.update(wait_for_topic='rar_tracker/target', wait_timeout=float(a.timeout),
                 image_reliability='reliable')
    p.update(_input_parameters(a))
    if (a.video or a.images or a.sequence) and a.seconds is None:
        p['max_frames'] = int(a.frames)
    if a.ground_truth:
        p['ground_truth'] = str(Path(a.ground_truth).expanduser().resolve())
    return p


def tracker_parameters(a: argparse.Namespace) -> dict:
    """Parameters of the ``rar_tracker`` child on top of its parameters file."""
    # The held first frame is repeated until the target is set: catching up on those
    # copies would only cost time.
    p = {'trunk': a.trunk, 'device': a.device, 'profile': a.profile, 'backend': a.backend,
         'max_catch_up_frames': 0}
    if a.pace == 'tracker':
        p['image_reliability'] = 'reliable'
    if a.weights:
        p['weights'] = str(Path(a.weights).expanduser().resolve())
    p.update(dict(a.param))
    return p


def ros_value(value) -> str:
    """``value`` as written after ``-p name:=`` on a ROS command line."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str) and value == '':
        return "''"
    return str(value)


def describe_input(a: argparse.Namespace) -> str:
    if a.video:
        return f'video {a.video}'
    if a.images:
        return f'images {a.images}'
    if a.sequence:
        return f'sequence {a.sequence} of {a.data}'
    return f'generated scene (seed {a.seed}, {a.scene_size}, {a.frames} frames)'
