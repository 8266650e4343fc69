"""Parameters of the rar_tracker node come from the TrackerConfig / NodeOptions metadata:
the shipped YAML, the docs table and the descriptors of a real node agree with it."""
import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from rar_tracking.config import TrackerConfig
from rar_tracking.ros import parameters
from rar_tracking.ros.parameters import NodeOptions

ROOT = Path(__file__).resolve().parents[1]
YAML_PATH = ROOT / 'config' / 'rar_tracker.yaml'


def all_fields():
    return list(dataclasses.fields(TrackerConfig)) + list(dataclasses.fields(NodeOptions))


def test_shipped_yaml_is_generated_from_the_metadata():
    assert YAML_PATH.read_text() == parameters.render_yaml(), (
        'config/rar_tracker.yaml is stale: run '
        'python -m rar_tracking.ros.parameters --yaml > config/rar_tracker.yaml')


def test_yaml_has_every_field_with_its_default_and_type():
    data = yaml.safe_load(YAML_PATH.read_text())
    values = data['/**']['ros__parameters']
    assert list(values) == [f.name for f in all_fields()]
    for f in all_fields():
        assert values[f.name] == f.default and type(values[f.name]) is type(f.default), f.name


def test_docs_table_is_generated_from_the_metadata():
    text = (ROOT / 'docs' / 'node.md').read_text()
    assert parameters.render_markdown_table() in text, (
        'docs/node.md parameter table is stale: python -m rar_tracking.ros.parameters '
        '--markdown')


def test_experimental_parameters_are_marked_and_their_mechanisms_off_by_default():
    from rar_tracking.config import EXPERIMENTAL
    specs = {s.name: s for s in parameters.parameter_specs()}
    assert EXPERIMENTAL <= set(specs)
    for name, spec in specs.items():
        marked = spec.experimental and 'experimental' in parameters.describe(spec)
        assert marked == (name in EXPERIMENTAL), name
    # the switches of those mechanisms, at the values that turn them off
    off = {'scale_filter': 0, 'hog_weight': 0.0, 'min_search_px': 0.0, 'recentre': 0.0,
           'window_taper': 1.0, 'flat_window_speed': 0.0, 'crowd_ratio': 0.0,
           'window_agreement': False, 'response_window': False, 'colour_weight': 0.0,
           'colour_mask': False, 'camera_motion': 0.0, 'peak_candidates': 1}
    assert set(off) <= EXPERIMENTAL
    defaults = TrackerConfig()
    assert {k: getattr(defaults, k) for k in off} == off
    table = parameters.render_markdown_table()
    assert table.count('experimental, measured and not kept') == len(EXPERIMENTAL)
    assert parameters.render_yaml().count('# [experimental] ') == len(EXPERIMENTAL)


def test_yaml_floats_always_parse_as_floats():
    for value in (1e-05, 1e-4, 2.0, 1e4, 0.985):
        text = parameters._yaml_value(value)
        assert isinstance(yaml.safe_load(text), float) and float(text) == value, text


def test_invalid_values_are_named():
    values = {f.name: f.default for f in all_fields()}
    with pytest.raises(ValueError, match='trunk'):
        parameters.split_values(dict(values, trunk='vgg'))
    with pytest.raises(ValueError, match='num_scales'):
        parameters.split_values(dict(values, num_scales=4))
    config, options = parameters.split_values(dict(values, lost_threshold=0.15,
                                                   click_box_size=10))
    assert config.lost_threshold == 0.15 and options.click_box_size == 10


def test_descriptors_of_a_real_node_loaded_from_the_shipped_yaml():
    rclpy = pytest.importorskip('rclpy')
    pytest.importorskip('rar_tracking_msgs.msg')
    from rcl_interfaces.msg import ParameterType

    from ros_helpers import isolate_ros_domain
    from rar_tracking.ros.tracker_node import RARTrackerNode

    isolate_ros_domain()
    ros_context = rclpy.Context()
    rclpy.init(context=ros_context, args=[
        'test', '--ros-args', '--params-file', str(YAML_PATH), '-p', 'trunk:=efficientnet_lite0',
        '-p', 'crop_size:=129', '-p', 'device:=cpu', '-p', 'lost_threshold:=0.15'])
    node = RARTrackerNode(context=ros_context, namespace=f'/rar_param_test_{os.getpid()}')
    try:
        overridden = {'trunk': 'efficientnet_lite0', 'crop_size': 129, 'device': 'cpu',
                      'lost_threshold': 0.15}
        for f in all_fields():
            value = node.get_parameter(f.name).value
            assert value == overridden.get(f.name, f.default), f.name
            desc = node.describe_parameter(f.name)
            assert desc.description and desc.read_only == (not f.metadata['dynamic']), f.name
        assert node._tracker.config.lost_threshold == 0.15
        assert node._tracker.config.crop_size == 129

        crop = node.describe_parameter('crop_size')
        assert crop.type == ParameterType.PARAMETER_INTEGER and crop.read_only
        assert (crop.integer_range[0].from_value, crop.integer_range[0].to_value) == (0, 512)
        lost = node.describe_parameter('lost_threshold')
        assert lost.type == ParameterType.PARAMETER_DOUBLE and not lost.read_only
        assert (lost.floating_point_range[0].from_value,
                lost.floating_point_range[0].to_value) == (0.0, 1.0)
        trunk = node.describe_parameter('trunk')
        assert 'efficientnet_lite0' in trunk.additional_constraints
        assert node.describe_parameter('publish_debug_image').type == \
            ParameterType.PARAMETER_BOOL
        assert 'experimental' in node.describe_parameter('window_taper').description
        assert 'experimental' not in node.describe_parameter('motion_prior').description
        assert 'experimental' not in node.describe_parameter('lost_threshold').description
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ros_context)
