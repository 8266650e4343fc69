"""rar_tracking: the RAR deep visual tracker and its ROS 2 node.

The library layers (nothing here imports rclpy):

- :mod:`rar_tracking.config`: :class:`TrackerConfig`, every tunable with its default.
- :mod:`rar_tracking.model`: the network of the paper (backbone, hierarchical attention,
  refinement, contextual attentional correlation layer).
- :mod:`rar_tracking.tracker`: :class:`RARTracker` with ``initialize(image, box)`` and
  ``track(image)``.
- :mod:`rar_tracking.data`, :mod:`rar_tracking.eval`, :mod:`rar_tracking.train`: sequences,
  benchmark and training.
- :mod:`rar_tracking.ros` and :mod:`rar_tracking.node`: the thin ROS 2 layer.
"""
from .config import TrackerConfig
from .types import Box, TrackResult, TrackState

__all__ = ['Box', 'TrackResult', 'TrackState', 'TrackerConfig']
__version__ = '0.1.0'
