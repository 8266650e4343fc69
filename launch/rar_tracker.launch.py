"""Start rar_tracker_node (node name ``rar_tracker``) on a camera topic, optionally with rviz2.

    ros2 launch rar_tracking rar_tracker.launch.py image_topic:=/camera/image_raw rviz:=true
    ros2 launch rar_tracking rar_tracker.launch.py namespace:=cam2 image_topic:=/cam2/image_raw

Arguments (``ros2 launch rar_tracking rar_tracker.launch.py --show-args``):
image_topic, namespace, params_file (default: the shipped config/rar_tracker.yaml), device,
trunk, weights (empty: keep the params file's value), log_level, rviz, rviz_config.
Parameters come from params_file, then from the non-empty device/trunk/weights arguments.
One launch per camera: each instance gets its own namespace, so its topics and services
(``<namespace>/rar_tracker/target``, ``.../set_target``...) do not collide.
Written for launch 3.8 / launch_ros 0.28 (ROS 2 Kilted).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'rar_tracking'
EXECUTABLE = 'rar_tracker_node'
NODE_NAME = 'rar_tracker'
PARAMS_FILE = 'rar_tracker.yaml'
RVIZ_FILE = 'rar_tracker.rviz'
# Arguments that override the params file only when given (non-empty).
OVERRIDES = ('device', 'trunk', 'weights')


def _full_name(namespace: str, name: str) -> str:
    """``name`` resolved in ``namespace`` (absolute names are kept)."""
    if name.startswith('/'):
        return name
    return '/'.join(part for part in ('', namespace.strip('/'), name) if part) or '/'


def _launch_setup(context, *args, **kwargs):
    namespace = LaunchConfiguration('namespace').perform(context).strip('/')
    # A namespace pushed by an including file (PushRosNamespace) comes first.
    pushed = str(context.launch_configurations.get('ros_namespace', '')).strip('/')
    full_namespace = '/'.join(part for part in (pushed, namespace) if part)
    image_topic = LaunchConfiguration('image_topic').perform(context)
    params_file = LaunchConfiguration('params_file').perform(context)
    if not os.path.isfile(params_file):
        raise RuntimeError(f'params_file {params_file!r} does not exist')
    overrides = {}
    for name in OVERRIDES:
        value = LaunchConfiguration(name).perform(context).strip()
        if value:
            overrides[name] = ParameterValue(value, value_type=str)

    tracker = Node(
        package=PACKAGE,
        executable=EXECUTABLE,
        name=NODE_NAME,
        namespace=namespace,
        parameters=[params_file, overrides],
        remappings=[('image', image_topic)],
        ros_arguments=['--log-level', LaunchConfiguration('log_level')],
        output='screen',
        emulate_tty=True,
    )
    # The rviz config names absolute topics; point them at this instance's topics.
    rviz = Node(
        package='rviz2',
        executable='rviz2',
        name='rviz2',
        namespace=namespace,
        arguments=['-d', LaunchConfiguration('rviz_config')],
        remappings=[
            (f'/{NODE_NAME}/debug_image',
             _full_name(full_namespace, f'{NODE_NAME}/debug_image')),
            ('/image', _full_name(full_namespace, image_topic)),
        ],
        condition=IfCondition(LaunchConfiguration('rviz')),
        output='screen',
    )
    return [tracker, rviz]


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument(
            'image_topic', default_value='image',
            description='sensor_msgs/Image topic to track on (relative names resolve in the '
                        'namespace)'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='namespace of this tracker (one per camera, e.g. cam1)'),
        DeclareLaunchArgument(
            'params_file', default_value=PathJoinSubstitution([share, 'config', PARAMS_FILE]),
            description='node parameters (YAML under "/**: ros__parameters:")'),
        DeclareLaunchArgument(
            'device', default_value='',
            description="'auto', 'cpu', 'cuda' or 'cuda:N'; empty: the params file's value"),
        DeclareLaunchArgument(
            'trunk', default_value='',
            description="'auto', 'resnet50', 'resnet18' or 'efficientnet_lite0'; empty: the "
                        "params file's value"),
        DeclareLaunchArgument(
            'weights', default_value='',
            description="trained RAR weights file; empty: the params file's value"),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            choices=['debug', 'info', 'warn', 'error', 'fatal'],
            description='log level of the tracker node'),
        DeclareLaunchArgument(
            'rviz', default_value='false', choices=['true', 'false'],
            description='also start rviz2 showing the debug image'),
        DeclareLaunchArgument(
            'rviz_config', default_value=PathJoinSubstitution([share, 'config', RVIZ_FILE]),
            description='rviz2 configuration'),
        OpaqueFunction(function=_launch_setup),
    ])
