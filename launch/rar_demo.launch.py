"""Two cameras, two trackers: the multi-instance setup, with generated scenes as cameras.

    ros2 launch rar_tracking rar_demo.launch.py            # Lite0, auto: balanced + onnxruntime on a CPU
    ros2 launch rar_tracking rar_demo.launch.py rviz:=true device:=cuda trunk:=resnet50

Starts, in each of the namespaces cam1 and cam2, a video_source publishing a generated scene
(different seeds) on ``<ns>/image`` and an instance of rar_tracker.launch.py tracking it. Each
source holds its first frame until its tracker's ``<ns>/rar_tracker/set_target`` accepts the
ground-truth box, then plays in a loop. Watch ``/cam1/rar_tracker/target`` and
``/cam2/rar_tracker/target``; replace the sources by real cameras with image_topic:=... on the
included rar_tracker.launch.py (see docs/launch_and_demo.md).
Written for launch 3.8 / launch_ros 0.28 (ROS 2 Kilted).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'rar_tracking'
CAMERAS = (('cam1', 1), ('cam2', 2))  # namespace, scene seed


def generate_launch_description():
    tracker_launch = PathJoinSubstitution([FindPackageShare(PACKAGE), 'launch',
                                           'rar_tracker.launch.py'])
    actions = [
        DeclareLaunchArgument('device', default_value='auto',
                              description="'auto', 'cpu', 'cuda' or 'cuda:N'"),
        DeclareLaunchArgument('trunk', default_value='efficientnet_lite0',
                              description='backbone trunk of both trackers'),
        DeclareLaunchArgument('profile', default_value='auto',
                              description="'auto' (full on CUDA; on a CPU balanced with "
                              "onnxruntime, else fast: the default, so that a robot without a "
                              "GPU keeps up with the 10 Hz cameras), 'balanced', 'fast' or "
                              "'full'"),
        DeclareLaunchArgument('backend', default_value='auto',
                              description="'auto' (onnxruntime on a CPU when installed, else "
                              "torch), 'torch' or 'onnxruntime'"),
        DeclareLaunchArgument('rate', default_value='10.0',
                              description='frame rate of the generated cameras, Hz'),
        DeclareLaunchArgument('rviz', default_value='false', choices=['true', 'false'],
                              description='one rviz2 per tracker, showing its debug image'),
    ]
    for namespace, seed in CAMERAS:
        frame_id = f'{namespace}_camera'  # the source's frame, and rviz2's fixed frame
        actions.append(Node(
            package=PACKAGE,
            executable='rar_video_source',
            name='video_source',
            namespace=namespace,
            parameters=[{
                'source': 'synthetic',
                'scene_seed': seed,
                'scene_frames': 300,
                'rate': LaunchConfiguration('rate'),
                'loop': True,
                'frame_id': frame_id,
                'target_service': 'rar_tracker/set_target',
            }],
            output='screen',
        ))
        actions.append(IncludeLaunchDescription(
            PythonLaunchDescriptionSource(tracker_launch),
            launch_arguments={
                'namespace': namespace,
                'image_topic': 'image',
                'device': LaunchConfiguration('device'),
                'trunk': LaunchConfiguration('trunk'),
                'profile': LaunchConfiguration('profile'),
                'backend': LaunchConfiguration('backend'),
                'rviz': LaunchConfiguration('rviz'),
                'camera_frame': frame_id,
            }.items(),
        ))
    return LaunchDescription(actions)
