"""ROS parameters of the ``rar_tracker`` node, generated from metadata.

Two dataclasses describe every parameter once: :class:`rar_tracking.TrackerConfig` (the
tracker's tunables) and :class:`NodeOptions` (what only the node uses). Both carry the same
field metadata (help, range, dynamic, choices, unit), from which this module builds the
``ParameterDescriptor`` of each parameter, the shipped ``config/rar_tracker.yaml`` and the
parameter table of ``docs/node.md``. Nothing is retyped: a new field appears everywhere.

Only :func:`descriptor_for` and :func:`declare_all` need rclpy (imported lazily).
May import: :mod:`rar_tracking.config`; rclpy and rcl_interfaces lazily.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..config import TrackerConfig


def _opt(default, help: str, *, lo=None, hi=None, dynamic: bool = False, unit: str = '',
         choices: tuple | None = None):
    return field(default=default, metadata={
        'help': help, 'range': (lo, hi) if lo is not None else None,
        'dynamic': dynamic, 'choices': choices, 'unit': unit})


@dataclass
class NodeOptions:
    """Parameters of the node itself (topics, buffering, visualisation, timing)."""

    image_reliability: str = _opt(
        'best_effort', "QoS reliability of the image subscription: 'best_effort' (sensor data "
        "QoS; receives from any camera) or 'reliable' (only from reliable publishers; no image "
        "lost in the middleware). With Fast DDS, start the camera with the large-image profile "
        '(docs/node.md): with the default one most 640x480 images were lost over best effort '
        'here', choices=('best_effort', 'reliable'))
    use_compressed: bool = _opt(
        False, "subscribe to '<image>/compressed' (sensor_msgs/CompressedImage, image_transport "
        "naming) instead of 'image'")
    publish_debug_image: bool = _opt(
        True, "draw box, state and confidence on '~/debug_image' (only while it has "
        'subscribers)', dynamic=True)
    frame_buffer_size: int = _opt(
        60, 'recent frames kept for ~/set_target and clicks by stamp (memory: this many '
        'images, at most frame_buffer_mb; 60 keeps the last 2 s of a 30 Hz camera)', lo=1,
        hi=300)
    stamp_tolerance: float = _opt(
        0.1, '~/set_target and ~/click: when no buffered image has the requested stamp (that '
        'image was lost on the way), use the buffered image nearest in stamp if it is at most '
        'this far; the answer names the image used (0: the exact stamp only)', lo=0.0,
        hi=5.0, dynamic=True, unit='s')
    frame_buffer_mb: int = _opt(
        256, 'bound on the image data the recent-frame buffer holds; the oldest frames go '
        'first (the newest is always kept)', lo=1, hi=65536, unit='MiB')
    max_image_pixels: int = _opt(
        4096 * 4096, 'larger images (width x height, or data longer than 8 bytes per pixel '
        'of this) are skipped with a warning before they are buffered or decoded', lo=1,
        hi=2**31 - 1, dynamic=True, unit='px')
    size_change_frames: int = _opt(
        5, 'consecutive processed images of another size than the target was set on before '
        'the target is cleared; fewer are skipped with a warning and the target is kept',
        lo=1, hi=1000, dynamic=True)
    max_catch_up_frames: int = _opt(
        30, 'after a target is set on an older frame, track at most this many buffered newer '
        'frames before returning to the newest (0: jump to the newest)', lo=0, hi=300,
        dynamic=True)
    click_box_size: int = _opt(
        64, 'side of the square box a click sets around the clicked pixel', lo=4, hi=4096,
        dynamic=True, unit='px')
    init_timeout: float = _opt(
        10.0, 'how long ~/set_target and ~/reset wait for the tracker thread', lo=0.1,
        hi=300.0, dynamic=True, unit='s')
    diagnostics_period: float = _opt(
        1.0, 'period of the /diagnostics status', lo=0.1, hi=60.0, unit='s')

    def __post_init__(self):
        for f in dataclasses.fields(self):
            choices = f.metadata.get('choices')
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(f'{f.name}: {getattr(self, f.name)!r} is not one of '
                                 f'{", ".join(choices)}')

    @classmethod
    def field_info(cls) -> dict[str, dict]:
        return {f.name: dict(f.metadata, default=f.default, type=type(f.default))
                for f in dataclasses.fields(cls)}


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter: its name, default, type and metadata."""

    name: str
    default: Any
    type: type
    help: str
    range: tuple | None
    dynamic: bool
    choices: tuple | None
    unit: str
    group: str  # 'tracker' (a TrackerConfig field) or 'node' (a NodeOptions field)
    experimental: bool = False  # measured and not kept (config.EXPERIMENTAL): off by default


EXPERIMENTAL_NOTE = 'experimental, measured and not kept (docs/evaluation.md, "Issue 14")'


def parameter_specs() -> list[ParamSpec]:
    """Every parameter of the node: the TrackerConfig fields, then the NodeOptions fields."""
    specs = []
    for group, source in (('tracker', TrackerConfig), ('node', NodeOptions)):
        for name, info in source.field_info().items():
            specs.append(ParamSpec(name=name, default=info['default'], type=info['type'],
                                   help=info['help'], range=info['range'],
                                   dynamic=info['dynamic'], choices=info['choices'],
                                   unit=info['unit'], group=group,
                                   experimental=info.get('experimental', False)))
    names = [s.name for s in specs]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise RuntimeError(f'parameter names defined twice: {sorted(dupes)}')
    return specs


def describe(spec: ParamSpec) -> str:
    """The description text of a parameter (whether experimental, help, unit, choices,
    whether dynamic)."""
    text = f'[{EXPERIMENTAL_NOTE}] {spec.help}' if spec.experimental else spec.help
    if spec.unit:
        text += f' [{spec.unit}]'
    if spec.choices:
        text += '; one of: ' + ', '.join(str(c) for c in spec.choices)
    text += '; changeable at runtime' if spec.dynamic else '; read-only after start'
    return text


def descriptor_for(spec: ParamSpec):
    """The rcl_interfaces ``ParameterDescriptor`` of one parameter."""
    from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                    ParameterType)

    types = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
             float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
    desc = ParameterDescriptor(name=spec.name, type=types[spec.type],
                               description=describe(spec), read_only=not spec.dynamic)
    if spec.choices:
        desc.additional_constraints = 'one of: ' + ', '.join(str(c) for c in spec.choices)
    if spec.range is not None:
        lo, hi = spec.range
        if spec.type is int:
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        elif spec.type is float:
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return desc


def declare_all(node) -> dict[str, Any]:
    """Declare every parameter on ``node`` (those declared already keep their values); return
    name -> value (overrides applied)."""
    values = {}
    for spec in parameter_specs():
        if node.has_parameter(spec.name):  # a managed node configured again keeps its values
            values[spec.name] = node.get_parameter(spec.name).value
            continue
        param = node.declare_parameter(spec.name, spec.default, descriptor_for(spec))
        values[spec.name] = param.value
    return values


def split_values(values: dict[str, Any]) -> tuple[TrackerConfig, NodeOptions]:
    """Build the (validated) TrackerConfig and NodeOptions from parameter values.

    Raises ValueError naming the first bad value (e.g. an unknown ``trunk``).
    """
    tracker_names = {f.name for f in dataclasses.fields(TrackerConfig)}
    node_names = {f.name for f in dataclasses.fields(NodeOptions)}
    config = TrackerConfig(**{k: v for k, v in values.items() if k in tracker_names})
    options = NodeOptions(**{k: v for k, v in values.items() if k in node_names})
    return config, options


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        text = repr(value)
        if 'e' in text and '.' not in text:  # 1e-05 -> 1.0e-05: a float to every YAML parser
            text = text.replace('e', '.0e', 1)
        return text
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def render_yaml() -> str:
    """The text of ``config/rar_tracker.yaml``: every parameter with its default."""
    lines = [
        '# Parameters of rar_tracker_node (node name: rar_tracker), every key with its default.',
        '# Generated from TrackerConfig and NodeOptions metadata by',
        '#   python -m rar_tracking.ros.parameters --yaml > config/rar_tracker.yaml',
        '# (test/test_node_parameters.py checks that this file is up to date).',
        '# "/**" applies to a node of any name and namespace; use',
        '#   ros2 run rar_tracking rar_tracker_node --ros-args --params-file <this file>',
        '# Keys marked [runtime] can be changed while tracking with ros2 param set; keys',
        '# marked [experimental] were measured and not kept (docs/evaluation.md, "Issue 14").',
        '/**:',
        '  ros__parameters:',
    ]
    group = None
    for spec in parameter_specs():
        if spec.group != group:
            group = spec.group
            lines.append('    # --- tracker (TrackerConfig) ---' if group == 'tracker'
                         else '    # --- node ---')
        note = (('[experimental] ' if spec.experimental else '') + spec.help
                + (f' [{spec.unit}]' if spec.unit else ''))
        if spec.range is not None:
            note += f' (range {spec.range[0]}..{spec.range[1]})'
        if spec.choices:
            note += ' (one of: ' + ', '.join(str(c) for c in spec.choices) + ')'
        if spec.dynamic:
            note += ' [runtime]'
        lines.append(f'    # {note}')
        lines.append(f'    {spec.name}: {_yaml_value(spec.default)}')
    return '\n'.join(lines) + '\n'


def render_markdown_table() -> str:
    """A Markdown table of every parameter (for docs/node.md)."""
    rows = ['| name | type | default | range / choices | runtime | description |',
            '| --- | --- | --- | --- | --- | --- |']
    for spec in parameter_specs():
        if spec.choices:
            limits = ', '.join(f'`{c}`' for c in spec.choices)
        elif spec.range is not None:
            limits = f'{spec.range[0]} .. {spec.range[1]}'
        else:
            limits = ''
        help_text = spec.help.replace('|', '\\|') + (f' [{spec.unit}]' if spec.unit else '')
        if spec.experimental:
            help_text = f'*{EXPERIMENTAL_NOTE}.* {help_text}'
        rows.append(f'| `{spec.name}` | {spec.type.__name__} | `{_yaml_value(spec.default)}` | '
                    f'{limits} | {"yes" if spec.dynamic else "no"} | {help_text} |')
    return '\n'.join(rows) + '\n'


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--yaml', action='store_true', help='print config/rar_tracker.yaml')
    group.add_argument('--markdown', action='store_true', help='print the parameter table')
    args = parser.parse_args(argv)
    print(render_yaml() if args.yaml else render_markdown_table(), end='')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
