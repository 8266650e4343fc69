"""Rays and angular sizes from camera intrinsics (rar_tracking.camera), against the pinhole
geometry worked out by hand and OpenCV's own projection (the inverse of the undistortion)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from rar_tracking.camera import CalibrationError, CameraModel
from rar_tracking.types import Box

FX, FY, CX, CY = 500.0, 400.0, 320.0, 240.0
K = [FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0]


def test_box_at_the_principal_point_looks_along_the_optical_axis():
    camera = CameraModel(K, [], 'plumb_bob', 640, 480)
    bearing = camera.bearing(Box.from_center(CX, CY, 40, 30))
    assert bearing.ray == pytest.approx((0.0, 0.0, 1.0), abs=1e-12)
    assert bearing.off_axis_angle == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize('degrees', [5.0, 30.0, 60.0])
def test_off_axis_pixels_give_the_analytic_angle(degrees):
    camera = CameraModel(K)
    t = math.tan(math.radians(degrees))
    right = camera.ray(CX + FX * t, CY)
    assert right == pytest.approx((math.sin(math.radians(degrees)), 0.0,
                                   math.cos(math.radians(degrees))), abs=1e-9)
    up = camera.ray(CX, CY - FY * t)  # image y points down: up is negative y
    assert up[1] == pytest.approx(-math.sin(math.radians(degrees)), abs=1e-9)
    # A diagonal pixel: (x, y, 1) normalised, x and y in focal lengths.
    u, v = 500.0, 100.0
    x, y = (u - CX) / FX, (v - CY) / FY
    norm = math.sqrt(x * x + y * y + 1.0)
    assert camera.ray(u, v) == pytest.approx((x / norm, y / norm, 1.0 / norm), abs=1e-9)


def test_angular_size_of_a_centred_box():
    camera = CameraModel(K)
    half_w, half_h = math.radians(10.0), math.radians(4.0)
    box = Box.from_center(CX, CY, 2 * FX * math.tan(half_w), 2 * FY * math.tan(half_h))
    bearing = camera.bearing(box)
    assert bearing.angular_width == pytest.approx(2 * half_w, abs=1e-9)
    assert bearing.angular_height == pytest.approx(2 * half_h, abs=1e-9)


def test_distorted_camera_matches_opencv():
    d = [-0.28, 0.09, 0.0012, -0.0008, -0.01]
    camera = CameraModel(K, d, 'plumb_bob', 640, 480)
    pixels = np.array([[10.0, 12.0], [630.0, 470.0], [320.0, 240.0], [100.0, 400.0],
                       [555.5, 77.25]])
    rays = camera.rays(pixels)
    assert np.allclose(np.linalg.norm(rays, axis=1), 1.0)
    k = np.array(K).reshape(3, 3)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    expected = cv2.undistortPoints(pixels.reshape(-1, 1, 2), k, np.array(d), None, None, None,
                                   criteria).reshape(-1, 2)
    assert np.allclose(rays[:, :2] / rays[:, 2:], expected, atol=1e-12)
    # OpenCV's default (5 iterations) is within 1e-3 (half a pixel at fx 500) of it.
    default = cv2.undistortPoints(pixels.reshape(-1, 1, 2), k, np.array(d)).reshape(-1, 2)
    assert np.allclose(rays[:, :2] / rays[:, 2:], default, atol=1e-3)
    # Projecting the rays with the same model (OpenCV's forward model) gives the pixels back.
    back, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), k, np.array(d))
    assert np.allclose(back.reshape(-1, 2), pixels, atol=1e-3)
    # Distortion matters here: the undistorted ray of a corner is not the pinhole one.
    pinhole = CameraModel(K).rays(pixels)
    assert np.degrees(np.arccos(np.clip(np.sum(rays[:2] * pinhole[:2], axis=1), -1, 1))).min() \
        > 1.0


def test_fisheye_camera_round_trips_through_opencv():
    d = [0.05, -0.01, 0.002, -0.0005]
    camera = CameraModel(K, d, 'equidistant', 640, 480)
    pixels = np.array([[40.0, 30.0], [600.0, 450.0], [330.0, 250.0]])
    rays = camera.rays(pixels)
    k = np.array(K).reshape(3, 3)
    back, _ = cv2.fisheye.projectPoints(rays.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), k,
                                        np.array(d))
    assert np.allclose(back.reshape(-1, 2), pixels, atol=1e-3)


def test_binning_and_roi_map_pixels_to_the_calibrated_image():
    camera = CameraModel(K, [], 'plumb_bob', 640, 480, binning_x=2, binning_y=2)
    assert camera.image_size() == (320, 240)
    assert camera.ray(CX / 2, CY / 2) == pytest.approx((0.0, 0.0, 1.0), abs=1e-12)
    roi = CameraModel(K, [], 'plumb_bob', 640, 480, roi_x=100, roi_y=40)
    assert roi.ray(CX - 100, CY - 40) == pytest.approx((0.0, 0.0, 1.0), abs=1e-12)


@pytest.mark.parametrize('k, d, model, match', [
    ([0.0] * 9, [], 'plumb_bob', 'not calibrated'),
    (K, [0.1, 0.2], 'plumb_bob', 'OpenCV takes'),
    (K, [0.1] * 5, 'equidistant', '4 coefficients'),
    (K, [], 'some_model', 'not supported'),
    (K, [float('nan')] * 5, 'plumb_bob', 'not finite'),
])
def test_unusable_calibrations_are_refused(k, d, model, match):
    with pytest.raises(CalibrationError, match=match):
        CameraModel(k, d, model)
