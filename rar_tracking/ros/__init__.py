"""The thin ROS 2 layer of rar_tracking (no tracking math here): the only place, with
:mod:`rar_tracking.node`, that imports rclpy and the ROS message packages.

- :mod:`.image_conversion`: sensor_msgs images <-> numpy RGB (no rclpy needed).
- :mod:`.stamps`: ROS time stamps <-> nanoseconds (the one home of that conversion).
- :mod:`.parameters`: ROS parameters generated from :class:`rar_tracking.TrackerConfig`.
- :mod:`.inbox`: the newest-frame slot, the ring of recent frames and the worker's commands.
- :mod:`.tracker_node`: :class:`RARTrackerNode`, the ``rar_tracker`` node's wiring: parameters,
  subscriptions, services. Its parts: :mod:`.worker` (the tracker thread, its command queue and
  catch-up), :mod:`.outputs` (TrackedTarget, detections, debug image), :mod:`.diagnostics`
  (statistics, /diagnostics), :mod:`.bearing` (camera_info in, ray and angular size out).
- :mod:`.lifecycle`: the managed (lifecycle) variant of the same node.
- :mod:`.video_source` (with :mod:`.video_source_parameters`): a node that publishes a video,
  an image folder or a generated scene (the frames come from :mod:`rar_tracking.data`).
- :mod:`.launch_support`: what the launch files compute (no launch, no rclpy).
- :mod:`.demo`: the end-to-end demo (``rar_demo``): both nodes as processes, scored.
- :mod:`.stress`: the node's stress tool (fuzzing, service storm, soak, faults).

Modules here may import the library below them (config, types, errors, imaging, tracker,
data, camera) and each other; nothing below imports this package. It imports nothing at
import time, so that the pure modules load without rclpy. Test scaffolding lives in
``test/ros_helpers.py``, not here.
"""
