"""The thin ROS 2 layer of rar_tracking (no tracking math here).

- :mod:`.image_conversion`: sensor_msgs images <-> numpy RGB (no rclpy needed).
- :mod:`.parameters`: ROS parameters generated from :class:`rar_tracking.TrackerConfig`.
- :mod:`.inbox`: the newest-frame slot, the ring of recent frames and the worker's commands.
- :mod:`.stamps`: ROS time stamps <-> nanoseconds (the one home of that conversion).
- :mod:`.tracker_node`: :class:`RARTrackerNode`, the ``rar_tracker`` node's wiring: parameters,
  subscriptions, services. Its parts: :mod:`.worker` (the tracker thread, its command queue and
  catch-up), :mod:`.outputs` (TrackedTarget, detections, debug image), :mod:`.diagnostics`
  (statistics, /diagnostics).
- :mod:`.video_source`: a node that publishes a video or synthetic stream.

This package imports nothing at import time, so that the pure modules load without rclpy.
"""
