"""The thin ROS 2 layer of rar_tracking (no tracking math here).

- :mod:`.image_conversion`: sensor_msgs images <-> numpy RGB (no rclpy needed).
- :mod:`.parameters`: ROS parameters generated from :class:`rar_tracking.TrackerConfig`.
- :mod:`.inbox`: the newest-frame slot, the ring of recent frames and the worker's commands.
- :mod:`.tracker_node`: :class:`RARTrackerNode`, the ``rar_tracker`` node.
- :mod:`.video_source`: a node that publishes a video or synthetic stream.

This package imports nothing at import time, so that the pure modules load without rclpy.
"""
