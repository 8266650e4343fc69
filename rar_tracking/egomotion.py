"""The camera's own motion between two frames, as one image translation (issue 14).

A drone that pans moves every pixel of the frame, the target's too: in truck2 (UAV123) the
whole image shifts by about 17 px per frame from the third frame on, the truck by 20-23 px,
a quarter of its search side, and the tracker loses it within ten frames. The tracker's own
velocity estimate needs several frames to learn that and, trusted everywhere, costs on slow
targets (``motion_prior``, docs/evaluation.md). The frame's global shift is measured at once
and does not depend on the tracker's estimates.

It does not say where the target goes: a camera that follows its target shifts the
background while the target stays (Bolt and Skiing of the training split, where the shifted
crop would be farther from the target in every triggered frame). So the tracker uses it as
a second place to look (``TrackerConfig.camera_motion``), and the filter's response decides.

The shift is the phase correlation (``cv2.phaseCorrelate``, Hann-windowed, sub-pixel) of the
two frames in grey, downscaled to at most ``WIDTH`` pixels wide: about a millisecond per
frame, accurate to a fraction of a downscaled pixel for a translation, meaningless for a
zoom or a rotation (then the shift is small and nothing is searched twice).
"""
from __future__ import annotations

import cv2
import numpy as np

WIDTH = 320  # the frames are compared at most this wide (pixels)


class GlobalShift:
    """Frame-to-frame translation of the whole image, in image pixels."""

    def __init__(self, image: np.ndarray):
        self.scale = min(1.0, WIDTH / image.shape[1])
        self.previous = self._grey(image)
        self.window = cv2.createHanningWindow(self.previous.shape[::-1], cv2.CV_32F)

    def _grey(self, image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        if self.scale < 1.0:
            grey = cv2.resize(grey, None, fx=self.scale, fy=self.scale,
                              interpolation=cv2.INTER_AREA)
        return grey.astype(np.float32)

    def update(self, image: np.ndarray) -> tuple[float, float]:
        """(dx, dy): how far the content of the previous frame moved to reach ``image``;
        ``image`` is the previous frame of the next call."""
        grey = self._grey(image)
        (dx, dy), _ = cv2.phaseCorrelate(self.previous, grey, self.window)
        self.previous = grey
        if not (np.isfinite(dx) and np.isfinite(dy)):
            return 0.0, 0.0
        return dx / self.scale, dy / self.scale

    def copy(self) -> 'GlobalShift':
        other = GlobalShift.__new__(GlobalShift)
        other.scale, other.previous, other.window = self.scale, self.previous.copy(), self.window
        return other
