"""rar_tracking: the RAR deep visual tracker and its ROS 2 node.

The layers, lowest first; a module imports only from the layers below it (no cycles), and
only the top layer imports rclpy:

1. :mod:`.boxes` (box arrays, IoU), :mod:`.types`, :mod:`.errors`, :mod:`.config`
   (:class:`TrackerConfig`, every tunable with its default), :mod:`.device`, :mod:`.imaging`
   (frame and box checks, crops), :mod:`.camera`, :mod:`.profiling`.
2. :mod:`.model` (the network of the paper: backbone, hierarchical attention, refinement,
   contextual attentional correlation layer), then :mod:`.geometry` (crop and label geometry
   shared by the tracker and training); :mod:`.data` (sequences, benchmark folder layouts,
   frame sources, generated scenes: needs only :mod:`.types`).
3. :mod:`.tracker`: :class:`RARTracker` with ``initialize(image, box)`` and ``track(image)``.
4. Users of the library: :mod:`.eval` (benchmark on sequences), :mod:`.benchmark` (speed),
   :mod:`.export` (ONNX), :mod:`.vot` (TraX); :mod:`.train` (training) sits beside them but
   does not import the tracker.
5. :mod:`.ros` and :mod:`.node` (its entry point): the thin ROS 2 layer, the demo included.
   Nothing else imports rclpy or ROS messages.
"""
from .config import TrackerConfig
from .types import Box, TrackResult, TrackState

__all__ = ['Box', 'TrackResult', 'TrackState', 'TrackerConfig']
__version__ = '0.1.0'
