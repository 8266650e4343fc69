"""Conversions between ROS 2 image messages and numpy RGB arrays.

The decoding functions read the message fields by name and import nothing from ROS, so they
are usable (and tested) without rclpy. Every result is a fresh, C-contiguous ``HxWx3 uint8``
RGB array, the image format of :class:`rar_tracking.tracker.RARTracker`.

Decoding order for ``sensor_msgs/Image``: the package's own converter handles ``rgb8``,
``bgr8``, ``rgba8``, ``bgra8``, ``mono8`` and ``mono16`` (same result with or without
cv_bridge, and independent of cv_bridge's numpy ABI); any other encoding goes to cv_bridge
when it is importable, and is rejected with :class:`UnsupportedEncodingError` otherwise.
``mono16`` is scaled to 8 bit by a fixed shift (``v >> 8``), never per frame, so the
brightness the tracker sees does not jump between frames.
May import: numpy, OpenCV, :mod:`rar_tracking.errors`; sensor_msgs and cv_bridge only lazily.
"""
from __future__ import annotations

import array

import cv2
import numpy as np

from ..errors import InvalidImageError

#: Encoding -> (channels, bytes per channel) of the built-in converter.
OWN_ENCODINGS: dict[str, tuple[int, int]] = {
    'rgb8': (3, 1), 'bgr8': (3, 1), 'rgba8': (4, 1), 'bgra8': (4, 1),
    'mono8': (1, 1), 'mono16': (1, 2),
}


class ImageConversionError(InvalidImageError):
    """A message cannot be turned into an RGB image (malformed or undecodable).

    ``kind`` names the problem for rate-limited logging: ``zero_size``, ``short_step``,
    ``short_data``, ``no_data``, ``undecodable`` or ``unsupported_encoding``.
    """

    def __init__(self, message: str, kind: str = 'malformed'):
        super().__init__(message)
        self.kind = kind


class UnsupportedEncodingError(ImageConversionError):
    """The encoding of a message is not one this node can convert."""

    def __init__(self, encoding: str, detail: str = ''):
        self.encoding = encoding
        supported = ', '.join(OWN_ENCODINGS)
        text = f'unsupported image encoding {encoding!r} (supported: {supported}'
        text += ', and more through cv_bridge when installed)' if _bridge() is None else ')'
        super().__init__(text + (f': {detail}' if detail else ''), 'unsupported_encoding')


_BRIDGE: object = None  # None: not tried yet; False: not importable; else a CvBridge


def _bridge():
    """A shared CvBridge, or None when cv_bridge is not importable (checked once)."""
    global _BRIDGE
    if _BRIDGE is None:
        try:
            from cv_bridge import CvBridge
            _BRIDGE = CvBridge()
        except Exception:  # ImportError, or a cv_bridge built for another numpy
            _BRIDGE = False
    return _BRIDGE or None


def image_msg_to_rgb(msg) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into an ``HxWx3 uint8`` RGB array.

    Honours ``step`` (row padding) and ``is_bigendian`` (16-bit data). Raises
    :class:`ImageConversionError` for a malformed message (zero size, ``step`` shorter than
    a row, ``data`` shorter than ``step * height``) and :class:`UnsupportedEncodingError`
    for an encoding it cannot convert.
    """
    encoding = str(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(
            f'image of zero size ({width}x{height}, encoding {encoding!r})', 'zero_size')
    key = encoding.strip().lower()
    if key not in OWN_ENCODINGS:
        return _convert_with_bridge(msg, encoding)
    channels, depth = OWN_ENCODINGS[key]
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageConversionError(
            f'step {step} is smaller than one row of a {width}x{height} {encoding} image '
            f'({width} x {channels} channel(s) x {depth} byte(s) = {row_bytes})', 'short_step')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < step * height:
        raise ImageConversionError(
            f'data has {data.size} bytes, a {width}x{height} {encoding} image with step {step} '
            f'needs step x height = {step * height}', 'short_data')
    rows = data[:step * height].reshape(height, step)[:, :row_bytes]
    if depth == 2:
        dtype = np.dtype('>u2' if msg.is_bigendian else '<u2')
        mono = (np.ascontiguousarray(rows).view(dtype).reshape(height, width) >> 8)
        return cv2.cvtColor(mono.astype(np.uint8), cv2.COLOR_GRAY2RGB)
    pixels = rows.reshape(height, width, channels)
    if key == 'mono8':
        return cv2.cvtColor(np.ascontiguousarray(pixels[:, :, 0]), cv2.COLOR_GRAY2RGB)
    if key == 'rgb8':
        return pixels.copy()  # never a view of the message's buffer
    if key == 'rgba8':
        return np.ascontiguousarray(pixels[:, :, :3])
    # bgr8 and bgra8: reverse the first three channels.
    return np.ascontiguousarray(pixels[:, :, 2::-1])


def _convert_with_bridge(msg, encoding: str) -> np.ndarray:
    bridge = _bridge()
    if bridge is None:
        raise UnsupportedEncodingError(encoding)
    try:
        rgb = bridge.imgmsg_to_cv2(msg, desired_encoding='rgb8')
    except Exception as exc:  # CvBridgeError, or a TypeError from a malformed message
        raise UnsupportedEncodingError(encoding, f'cv_bridge: {exc}') from exc
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise UnsupportedEncodingError(encoding, f'cv_bridge gave {rgb.dtype} {rgb.shape}')
    return np.array(rgb, order='C', copy=True)


def compressed_msg_to_rgb(msg) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG, PNG, ... via ``cv2.imdecode``) to RGB.

    ``compressedDepth`` (depth-image transport) is refused: it is not a camera image.
    """
    fmt = str(msg.format)
    if 'compresseddepth' in fmt.replace(' ', '').lower():
        raise UnsupportedEncodingError(fmt, 'compressedDepth images are depth maps, not camera '
                                       'images')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError(f'compressed image (format {fmt!r}) has no data', 'no_data')
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageConversionError(
            f'cannot decode compressed image (format {fmt!r}, {data.size} bytes)',
            'undecodable')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def msg_to_rgb(msg) -> np.ndarray:
    """Decode an ``Image`` or a ``CompressedImage`` (told apart by their fields)."""
    if hasattr(msg, 'format') and not hasattr(msg, 'encoding'):
        return compressed_msg_to_rgb(msg)
    return image_msg_to_rgb(msg)


def rgb_to_image_msg(rgb: np.ndarray, header=None, encoding: str = 'rgb8'):
    """Wrap an ``HxWx3 uint8`` RGB array in a ``sensor_msgs/Image`` (``rgb8`` or ``bgr8``)."""
    from sensor_msgs.msg import Image

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.size == 0:
        raise InvalidImageError(f'expected a non-empty HxWx3 uint8 array, got {rgb.dtype} '
                                f'{rgb.shape}')
    if encoding == 'bgr8':
        rgb = rgb[:, :, ::-1]
    elif encoding != 'rgb8':
        raise ValueError(f"encoding must be 'rgb8' or 'bgr8', got {encoding!r}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = array.array('B', np.ascontiguousarray(rgb).tobytes())
    return msg
