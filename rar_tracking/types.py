"""Plain result types shared by the tracker, the evaluation and the ROS layer."""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from .boxes import iou


class TrackState(enum.IntEnum):
    """Tracker state; the values equal the constants of rar_tracking_msgs/TrackedTarget."""

    IDLE = 0
    TRACKING = 1
    LOST = 2


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixels: top-left corner (x, y) and size (w, h).

    Pixel convention: the image spans [0, W] x [0, H]; pixel (i, j) covers
    [j, j+1] x [i, i+1]. The center of the box is (x + w/2, y + h/2).
    """

    x: float
    y: float
    w: float
    h: float

    @classmethod
    def from_center(cls, cx: float, cy: float, w: float, h: float) -> 'Box':
        return cls(cx - w / 2.0, cy - h / 2.0, w, h)

    @classmethod
    def coerce(cls, box) -> 'Box':
        """Accept a Box or any 4-sequence (x, y, w, h)."""
        if isinstance(box, Box):
            return box
        values = [float(v) for v in box]
        if len(values) != 4:
            raise ValueError(f'a box needs 4 numbers (x, y, w, h), got {len(values)}')
        return cls(*values)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in self.as_tuple())

    def iou(self, other: 'Box') -> float:
        """Intersection over union with another box (0 when either is empty or not finite)."""
        return float(iou(self.as_tuple(), other.as_tuple())[0])


@dataclass
class TrackResult:
    """What the tracker says about one frame."""

    box: Box
    state: TrackState
    confidence: float  # in [0, 1], from the correlation response peak (see tracker.py)
    peak: float  # raw maximum of the response map (Eq. 11)
    psr: float  # peak-to-sidelobe ratio of the response map
    size_ratio: float = 1.0  # sqrt(area / initial area): the box's size relative to the first box
    time_ms: float = 0.0  # time spent in initialize/track
    # diagnostics of track(): 'scale_index' (the pyramid scale chosen, smallest crop first),
    # 'crop_index' (the crop chosen), 'scale_peaks' (that pyramid's raw peaks; empty while LOST)
    extras: dict = field(default_factory=dict)
