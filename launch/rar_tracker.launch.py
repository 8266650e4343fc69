"""Start rar_tracker_node (node name ``rar_tracker``) on a camera topic, optionally with rviz2.

    ros2 launch rar_tracking rar_tracker.launch.py image_topic:=/camera/image_raw rviz:=true
    ros2 launch rar_tracking rar_tracker.launch.py namespace:=cam2 image_topic:=/cam2/image_raw
    ros2 launch rar_tracking rar_tracker.launch.py use_compressed:=true profile:=fast device:=cuda
    ros2 launch rar_tracking rar_tracker.launch.py lifecycle:=true autostart:=true

Arguments (``ros2 launch rar_tracking rar_tracker.launch.py --show-args``):
image_topic, namespace, params_file (default: the shipped config/rar_tracker.yaml), the node
parameters device, trunk, weights, profile, backend, onnx_model, use_compressed, crop_size,
cpu_threads (each empty by default: keep the params file's value), lifecycle and autostart
(the managed node, and whether it activates itself), log_level, rviz, rviz_config,
camera_frame (rviz2's fixed frame: the camera's frame_id).
Parameters come from params_file, then from the non-empty parameter arguments.
One launch per camera: each instance gets its own namespace, so its topics and services
(``<namespace>/rar_tracker/target``, ``.../set_target``...) do not collide.
rviz:=true where rviz2 is not installed logs a warning and starts the tracker alone.
Written for launch 3.8 / launch_ros 0.28 (ROS 2 Kilted).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from rar_tracking.ros.launch_support import OVERRIDE_TYPES, package_executable, parse_override

PACKAGE = 'rar_tracking'
EXECUTABLE = 'rar_tracker_node'
NODE_NAME = 'rar_tracker'
PARAMS_FILE = 'rar_tracker.yaml'
RVIZ_FILE = 'rar_tracker.rviz'
# Node parameters with a launch argument of the same name; an empty argument keeps the params
# file's value. Their types are in rar_tracking/ros/launch_support.py.
OVERRIDES = ('device', 'trunk', 'weights', 'profile', 'backend', 'onnx_model',
             'use_compressed', 'crop_size', 'cpu_threads')
OVERRIDE_HELP = {
    'device': "'auto', 'cpu', 'cuda' or 'cuda:N'",
    'trunk': "'auto', 'resnet50', 'resnet18' or 'efficientnet_lite0'",
    'weights': 'trained RAR weights file',
    'profile': "network layout: 'balanced' (default), 'fast', 'full' (the paper's), or 'auto' (full on CUDA; on a CPU balanced with onnxruntime, else fast)",
    'backend': "'torch' (default), 'onnxruntime', or 'auto' (onnxruntime on a CPU when installed)",
    'onnx_model': "ONNX file of the per-frame network for backend 'onnxruntime'",
    'use_compressed': "'true': subscribe to <image_topic>/compressed (CompressedImage)",
    'crop_size': 'side of the square network crop in pixels (0: the profile\'s)',
    'cpu_threads': 'torch CPU threads',
}


def _full_name(namespace: str, name: str) -> str:
    """``name`` resolved in ``namespace`` (absolute names are kept)."""
    if name.startswith('/'):
        return name
    return '/'.join(part for part in ('', namespace.strip('/'), name) if part) or '/'


def _overrides(context) -> dict:
    """The node parameters set by non-empty launch arguments, typed as the node declares them
    (ParameterValue keeps a string such as a weights path from being read as YAML)."""
    overrides = {}
    for name in OVERRIDES:
        value = parse_override(name, LaunchConfiguration(name).perform(context))
        if value is not None:
            overrides[name] = ParameterValue(value, value_type=OVERRIDE_TYPES[name])
    return overrides


def _rviz(context, namespace: str, full_namespace: str, image_topic: str) -> list:
    """rviz2 on this instance's topics, or a warning when rviz2 is not installed (checked
    before anything starts, so a missing rviz2 cannot stop the launch half-way)."""
    if LaunchConfiguration('rviz').perform(context) != 'true':
        return []
    _, reason = package_executable('rviz2', 'rviz2')
    if reason:
        return [LogInfo(msg=f'WARNING: rviz:=true but rviz2 cannot be started ({reason}); '
                            'the tracker runs without it. Install rviz2 (ros-<distro>-rviz2).')]
    arguments = ['-d', LaunchConfiguration('rviz_config')]
    frame = LaunchConfiguration('camera_frame').perform(context).strip()
    if frame:
        arguments += ['-f', frame]
    # The rviz config names absolute topics; point them at this instance's topics.
    remappings = [('/image', _full_name(full_namespace, image_topic))]
    for topic in ('debug_image', 'target_marker'):
        remappings.append((f'/{NODE_NAME}/{topic}',
                           _full_name(full_namespace, f'{NODE_NAME}/{topic}')))
    return [Node(package='rviz2', executable='rviz2', name='rviz2', namespace=namespace,
                 arguments=arguments, remappings=remappings, output='screen')]


def _launch_setup(context, *args, **kwargs):
    namespace = LaunchConfiguration('namespace').perform(context).strip('/')
    # A namespace pushed by an including file (PushRosNamespace) comes first.
    pushed = str(context.launch_configurations.get('ros_namespace', '')).strip('/')
    full_namespace = '/'.join(part for part in (pushed, namespace) if part)
    image_topic = LaunchConfiguration('image_topic').perform(context)
    params_file = LaunchConfiguration('params_file').perform(context)
    if not os.path.isfile(params_file):
        raise RuntimeError(f'params_file {params_file!r} does not exist')
    overrides = _overrides(context)
    # Everything that can fail is resolved before the first process starts.
    rviz = _rviz(context, namespace, full_namespace, image_topic)
    options = dict(
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
    if LaunchConfiguration('lifecycle').perform(context) == 'true':
        # The managed node (docs/node.md, lifecycle); --autostart: it configures and
        # activates itself, otherwise a lifecycle manager or `ros2 lifecycle set` drives it.
        flags = ['--lifecycle']
        if LaunchConfiguration('autostart').perform(context) == 'true':
            flags.append('--autostart')
        tracker = LifecycleNode(arguments=flags, **options)
    else:
        tracker = Node(**options)
    return [tracker] + rviz


def _override_arguments() -> list:
    return [DeclareLaunchArgument(
        name, default_value='',
        description=f"{OVERRIDE_HELP[name]}; empty: the params file's value")
        for name in OVERRIDES]


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument(
            'image_topic', default_value='image',
            description='sensor_msgs/Image topic to track on (relative names resolve in the '
                        'namespace); with use_compressed:=true the node reads '
                        '<image_topic>/compressed'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='namespace of this tracker (one per camera, e.g. cam1)'),
        DeclareLaunchArgument(
            'params_file', default_value=PathJoinSubstitution([share, 'config', PARAMS_FILE]),
            description='node parameters (YAML under "/**: ros__parameters:")'),
        *_override_arguments(),
        DeclareLaunchArgument(
            'lifecycle', default_value='false', choices=['true', 'false'],
            description='run the managed (lifecycle) node: it starts unconfigured'),
        DeclareLaunchArgument(
            'autostart', default_value='false', choices=['true', 'false'],
            description='with lifecycle:=true, configure and activate at start'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            choices=['debug', 'info', 'warn', 'error', 'fatal'],
            description='log level of the tracker node'),
        DeclareLaunchArgument(
            'rviz', default_value='false', choices=['true', 'false'],
            description='also start rviz2 showing the debug image (a warning, not a failure, '
                        'where rviz2 is not installed)'),
        DeclareLaunchArgument(
            'rviz_config', default_value=PathJoinSubstitution([share, 'config', RVIZ_FILE]),
            description='rviz2 configuration'),
        DeclareLaunchArgument(
            'camera_frame', default_value='',
            description="rviz2's fixed frame: the frame_id of the camera's images (e.g. "
                        "camera_color_optical_frame); empty: the rviz config's (the shipped "
                        "one says 'camera', the frame of rar_video_source)"),
        OpaqueFunction(function=_launch_setup),
    ])
