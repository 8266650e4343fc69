"""The direction of a tracked box from a calibrated camera: unit rays and angular sizes.

A pinhole camera with intrinsics ``K`` and lens distortion ``D`` (the fields of a
sensor_msgs/CameraInfo, without ROS): a pixel is undistorted with OpenCV
(``cv2.undistortPoints``, or ``cv2.fisheye.undistortPoints`` for the ``equidistant`` model) to
normalised image coordinates ``(x, y)`` (iterated to convergence, not OpenCV's default 5 steps), and its ray is ``(x, y, 1)`` normalised, in the
camera's optical frame (x right, y down, z forward), as ROS image frames are.

The bearing of a box is the ray through its centre, plus its angular width and height: the
angles between the rays through the middles of its left and right edges, and of its top and
bottom edges.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .types import Box

# CameraInfo distortion models OpenCV undistorts (image_geometry's names).
PINHOLE_MODELS = ('plumb_bob', 'rational_polynomial', '')
FISHEYE_MODELS = ('equidistant',)


# OpenCV's default of 5 iterations leaves up to 0.2 px at the corners of a strongly distorted
# lens; iterate until the normalised coordinates settle.
_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


class CalibrationError(ValueError):
    """The camera parameters cannot describe rays (no focal length, unknown model...)."""


@dataclass(frozen=True)
class Bearing:
    """Where a box is seen: the unit ray to its centre and its angular size (radians)."""

    ray: tuple[float, float, float]
    angular_width: float
    angular_height: float

    @property
    def off_axis_angle(self) -> float:
        """Angle between the ray and the optical axis (radians)."""
        return math.acos(max(-1.0, min(1.0, self.ray[2])))


class CameraModel:
    """Rays of pixels of one calibrated camera.

    Args:
        k: 3x3 intrinsic matrix (row-major 9 values or a 3x3 array).
        d: distortion coefficients (empty: none).
        distortion_model: 'plumb_bob', 'rational_polynomial', 'equidistant' or '' (none).
        width, height: the calibrated image size (0: not checked).
        binning_x, binning_y, roi_x, roi_y: CameraInfo's binning and ROI offset: a pixel
            ``(u, v)`` of the published image is ``(u * binning_x + roi_x, ...)`` of the
            calibrated one.
    """

    def __init__(self, k, d=(), distortion_model: str = 'plumb_bob', width: int = 0,
                 height: int = 0, binning_x: int = 1, binning_y: int = 1, roi_x: int = 0,
                 roi_y: int = 0):
        self.k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        self.d = np.asarray(d, dtype=np.float64).reshape(-1)
        self.distortion_model = distortion_model
        if not np.all(np.isfinite(self.k)) or self.k[0, 0] <= 0 or self.k[1, 1] <= 0:
            raise CalibrationError(f'K has no positive focal lengths (fx {self.k[0, 0]}, fy '
                                   f'{self.k[1, 1]}): the camera is not calibrated')
        if not np.all(np.isfinite(self.d)):
            raise CalibrationError(f'D is not finite: {self.d.tolist()}')
        if distortion_model in FISHEYE_MODELS:
            if self.d.size != 4:
                raise CalibrationError(f'the equidistant model needs 4 coefficients, got '
                                       f'{self.d.size}')
        elif distortion_model not in PINHOLE_MODELS:
            raise CalibrationError(f'distortion model {distortion_model!r} is not supported '
                                   f'(plumb_bob, rational_polynomial, equidistant)')
        elif self.d.size not in (0, 4, 5, 8, 12, 14):
            raise CalibrationError(f'{self.d.size} distortion coefficients: OpenCV takes 4, 5, '
                                   '8, 12 or 14')
        self.width, self.height = int(width), int(height)
        self.binning = (max(int(binning_x), 1), max(int(binning_y), 1))
        self.offset = (int(roi_x), int(roi_y))

    def image_size(self) -> tuple[int, int]:
        """The size of the published images this calibration describes (0, 0: unknown)."""
        if not self.width or not self.height:
            return 0, 0
        return self.width // self.binning[0], self.height // self.binning[1]

    def rays(self, pixels) -> np.ndarray:
        """N x 3 unit rays of N pixels ``(u, v)`` of the published image."""
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2).copy()
        uv[:, 0] = uv[:, 0] * self.binning[0] + self.offset[0]
        uv[:, 1] = uv[:, 1] * self.binning[1] + self.offset[1]
        points = uv.reshape(-1, 1, 2)
        if self.distortion_model in FISHEYE_MODELS:
            xy = cv2.fisheye.undistortPoints(points, self.k, self.d, None, None, None,
                                             _CRITERIA)
        elif self.d.size and np.any(self.d != 0):
            xy = cv2.undistortPoints(points, self.k, self.d, None, None, None, _CRITERIA)
        else:  # no distortion: the pinhole model alone
            xy = cv2.undistortPoints(points, self.k, None)
        xy = xy.reshape(-1, 2)
        rays = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def ray(self, u: float, v: float) -> tuple[float, float, float]:
        """The unit ray of one pixel."""
        return tuple(float(c) for c in self.rays([(u, v)])[0])

    def bearing(self, box: Box) -> Bearing:
        """The ray to the box's centre and its angular width and height."""
        cx, cy = box.center
        left, right = (box.x, cy), (box.x + box.w, cy)
        top, bottom = (cx, box.y), (cx, box.y + box.h)
        rays = self.rays([(cx, cy), left, right, top, bottom])
        width = _angle(rays[1], rays[2])
        height = _angle(rays[3], rays[4])
        return Bearing(tuple(float(c) for c in rays[0]), width, height)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two unit vectors, accurate for small angles too."""
    return float(2.0 * math.atan2(np.linalg.norm(a - b), np.linalg.norm(a + b)))
