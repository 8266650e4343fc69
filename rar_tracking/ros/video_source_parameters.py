"""Parameters of the ``video_source`` node: each declared once, with its description and range.

May import: rcl_interfaces messages and :mod:`rar_tracking.data.frame_sources` (SourceError).
"""
from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from ..data.frame_sources import SourceError

ENCODINGS = ('rgb8', 'bgr8')


def _descriptor(description: str, *, read_only: bool = True, lo=None, hi=None,
                constraints: str = '') -> ParameterDescriptor:
    d = ParameterDescriptor(description=description, read_only=read_only,
                            additional_constraints=constraints)
    if lo is not None:
        if isinstance(lo, float):
            d.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
        else:
            d.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=1)]
    return d


# (name, default, descriptor), in declaration order.
_PARAMETERS = [
    ('source', '', _descriptor(
        "'' or 'synthetic': a generated scene; a video file; an image folder (an "
        'annotated sequence folder brings its ground truth); a folder with '
        'manifest.json plus the sequence parameter')),
    ('sequence', '', _descriptor('name of a sequence in the manifest.json of source')),
    ('ground_truth', '', _descriptor(
        'optional file of x,y,w,h rows (or VOT polygons), one per frame')),
    ('rate', 15.0, _descriptor('publishing rate', read_only=False, lo=0.1, hi=1000.0,
                               constraints='Hz')),
    ('loop', True, _descriptor('start again at the first frame after the last one',
                               read_only=False)),
    ('paused', False, _descriptor(
        'repeat the current frame with fresh stamps instead of playing on',
        read_only=False)),
    ('wait_for_topic', '', _descriptor(
        'pace to a consumer: publish the next frame only after a '
        'rar_tracking_msgs/TrackedTarget on this topic has a stamp at least that of '
        'the previous frame (empty: keep the rate, like a camera)')),
    ('wait_timeout', 5.0, _descriptor(
        'with wait_for_topic: publish the next frame anyway after this long',
        read_only=False, lo=0.01, hi=3600.0, constraints='s')),
    ('resend_after', 1.0, _descriptor(
        'with wait_for_topic: re-send the awaited image (same stamp) when no answer came '
        'within this long or twice the previous answer time, whichever is longer, in '
        'case it was lost (0: never)',
        read_only=False, lo=0.0, hi=3600.0, constraints='s')),
    ('target_service', '', _descriptor(
        'a rar_tracking_msgs/SetTarget service (e.g. rar_tracker/set_target): hold the '
        'first frame until that service accepts its box (ground truth or initial_box), '
        'then play (empty: do not set a target)')),
    ('max_frames', 0, _descriptor('play at most this many frames per pass (0: all)',
                                  lo=0, hi=2 ** 31 - 1)),
    ('encoding', 'rgb8', _descriptor('image encoding', constraints='rgb8 or bgr8')),
    ('frame_id', 'camera', _descriptor('header.frame_id of the images')),
    ('image_reliability', 'best_effort', _descriptor(
        "QoS reliability of ~image: 'best_effort' like a camera driver (sensor-data QoS), or "
        "'reliable' so that a reliable subscriber (the tracker's image_reliability) gets "
        'every frame; the demo paced by the tracker uses reliable',
        constraints='best_effort or reliable')),
    ('scene_frames', 300, _descriptor('frames of the generated scene', lo=1,
                                      hi=100000)),
    ('scene_width', 320, _descriptor('width of the generated scene', lo=64, hi=4096)),
    ('scene_height', 240, _descriptor('height of the generated scene', lo=64,
                                      hi=4096)),
    ('scene_seed', 0, _descriptor('seed of the generated scene (textures, path)',
                                  lo=0, hi=2 ** 31 - 1)),
    ('scene_speed', 3.0, _descriptor('object speed in the generated scene, px/frame',
                                     lo=0.0, hi=100.0)),
    ('scene_scale_change', 0.0, _descriptor(
        'relative size change of the object in the generated scene', lo=0.0,
        hi=0.9)),
    ('scene_distractor', False, _descriptor(
        'add a second, similar object to the generated scene')),
]


def declare_source_parameters(node) -> dict:
    """Declare every parameter on ``node``; their values by name (SourceError for a bad one)."""
    values = {}
    for name, default, descriptor in _PARAMETERS:
        values[name] = node.declare_parameter(name, default, descriptor).value
    values['initial_box'] = node.declare_parameter('initial_box', [0.0] * 4, _descriptor(
        'box x, y, w, h of the first frame for sources without ground truth; all zero: '
        'none')).value
    if values['image_reliability'] not in ('best_effort', 'reliable'):
        raise SourceError("image_reliability must be 'best_effort' or 'reliable', got "
                          f"{values['image_reliability']!r}")
    if values['encoding'] not in ENCODINGS:
        raise SourceError(f"encoding must be one of {ENCODINGS}, got {values['encoding']!r}")
    return values


def first_box_descriptor() -> ParameterDescriptor:
    return _descriptor('box x, y, w, h (pixels, top-left and size) of the first frame: the '
                       'ground truth or initial_box; all zero when unknown')
