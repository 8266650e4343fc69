"""Malformed and hostile messages for the fuzz phase, drawn from a seeded generator.

:func:`image_case`, :func:`compressed_case`, :func:`set_target_case` and :func:`click_case`
each return one message built from ``rng`` (a ``numpy.random.Generator``); the same seed gives
the same messages. Images keep their data small (a 10000x10000 header comes with a few bytes)
so that thousands can be sent quickly.
"""
from __future__ import annotations

import array

import cv2
import numpy as np
from geometry_msgs.msg import Point, PointStamped
from sensor_msgs.msg import CompressedImage, Image

from rar_tracking_msgs.srv import SetTarget

from ..stamps import ns_to_stamp

VALID_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16')
OTHER_ENCODINGS = ('', 'RGB8', 'rgb16', 'bgr16', 'rgba16', 'mono', '8UC1', '8UC3', '16UC1',
                   '32FC1', '64FC4', 'bayer_rggb8', 'bayer_grbg16', 'yuv422', 'yuv422_yuy2',
                   'nv21', 'nv24', 'jpeg', 'compressedDepth', 'rgb8 ', ' rgb8', 'rgb8\x00',
                   'r\u00e9b8', 'x' * 300)
CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, 'mono16': 2}
SIZES = ((0, 0), (0, 480), (640, 0), (1, 1), (2, 1), (1, 3), (3, 3), (17, 5), (33, 31),
         (63, 47), (64, 48), (101, 77), (10000, 10000), (4294967295, 1), (1, 4294967295),
         (65536, 65536))
FORMATS = ('jpeg', 'png', 'rgb8; jpeg compressed bgr8', 'bgr8; png compressed bgr8',
           '16UC1; compressedDepth png', 'compressedDepth', '', 'tiff', 'x' * 100)


def _stamp(rng, now_ns: int, recent: list[int]) -> int:
    """A zero, recent, old, future, far future or negative stamp (as seconds go)."""
    kind = rng.integers(7)
    if kind == 0:
        return 0
    if kind == 1 and recent:
        return int(recent[rng.integers(len(recent))])
    if kind == 2:
        return now_ns - int(rng.integers(1, 3600)) * 1_000_000_000
    if kind == 3:
        return now_ns + int(rng.integers(1, 10**9))
    if kind == 4:
        return now_ns + 10**18
    if kind == 5:
        return int(rng.integers(0, 2**31 - 1)) * 1_000_000_000
    return now_ns


def _header_stamp(msg, stamp_ns: int, rng) -> None:
    if rng.random() < 0.03:  # negative seconds and a nanosecond field past one second
        msg.header.stamp.sec = -int(rng.integers(1, 2**31 - 1))
        msg.header.stamp.nanosec = int(rng.integers(1_000_000_000, 2**32 - 1))
    else:
        msg.header.stamp = ns_to_stamp(max(stamp_ns, 0) % (2**31 * 1_000_000_000))


def _frame_id(rng) -> str:
    return ('camera', '', 'other_camera', 'camera ', '\u00fc' * 5, 'f' * 500)[rng.integers(6)]


def image_case(rng, now_ns: int, recent: list[int]) -> Image:
    """An Image with a random mix of valid and broken encoding, size, step, data and flags."""
    msg = Image()
    valid = rng.random() < 0.5
    enc = (VALID_ENCODINGS[rng.integers(len(VALID_ENCODINGS))] if valid
           else OTHER_ENCODINGS[rng.integers(len(OTHER_ENCODINGS))])
    w, h = SIZES[rng.integers(len(SIZES))] if rng.random() < 0.6 else (
        int(rng.integers(1, 129)), int(rng.integers(1, 97)))
    msg.encoding, msg.width, msg.height = enc, int(w), int(h)
    row = int(w) * CHANNELS.get(enc, 3)
    step_kind = rng.integers(6)
    step = {0: row, 1: row, 2: 0, 3: max(row - 1, 0), 4: row + int(rng.integers(1, 64)),
            5: 4294967295}[int(step_kind)]
    msg.step = int(min(step, 4294967295))
    msg.is_bigendian = int((0, 0, 1, 255)[rng.integers(4)])
    full = msg.step * msg.height
    data_kind = rng.integers(5)
    if full > 4_000_000 or data_kind == 0:
        n = int(rng.integers(0, 64))  # huge header, tiny data
    elif data_kind == 1:
        n = int(rng.integers(0, max(full, 1)))  # truncated
    elif data_kind == 2:
        n = full + int(rng.integers(1, 4096))  # oversized
    else:
        n = full
    msg.data = array.array('B', rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    _header_stamp(msg, _stamp(rng, now_ns, recent), rng)
    msg.header.frame_id = _frame_id(rng)
    return msg


def _encoded(rng, ext: str) -> bytes:
    w, h = int(rng.integers(1, 65)), int(rng.integers(1, 49))
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    return buf.tobytes() if ok else b''


def _png_bomb_header(rng) -> bytes:
    """A PNG that declares a huge image but carries almost nothing."""
    good = _encoded(rng, '.png')
    w, h = (int(rng.integers(20000, 70000)) for _ in range(2))
    # IHDR starts at byte 16 (after the signature and the chunk length/type).
    return good[:16] + w.to_bytes(4, 'big') + h.to_bytes(4, 'big') + good[24:]


def compressed_case(rng, now_ns: int, recent: list[int]) -> CompressedImage:
    """A CompressedImage: empty, garbage, truncated, bit-flipped or lying about its size."""
    msg = CompressedImage()
    msg.format = FORMATS[rng.integers(len(FORMATS))]
    kind = int(rng.integers(7))
    if kind == 0:
        data = b''
    elif kind == 1:
        data = rng.integers(0, 256, int(rng.integers(1, 2048)), dtype=np.uint8).tobytes()
    elif kind == 2:
        good = _encoded(rng, '.jpg')
        data = good[:int(rng.integers(0, len(good)))]
    elif kind == 3:
        buf = bytearray(_encoded(rng, ('.jpg', '.png')[rng.integers(2)]))
        for _ in range(int(rng.integers(1, 16))):
            buf[int(rng.integers(len(buf)))] ^= 1 << int(rng.integers(8))
        data = bytes(buf)
    elif kind == 4:
        data = _png_bomb_header(rng)
    elif kind == 5:
        data = b'\xff\xd8\xff' + rng.integers(0, 256, 256, dtype=np.uint8).tobytes()
    else:
        data = _encoded(rng, ('.jpg', '.png')[rng.integers(2)])  # valid, odd size
    msg.data = array.array('B', data)
    _header_stamp(msg, _stamp(rng, now_ns, recent), rng)
    msg.header.frame_id = _frame_id(rng)
    return msg


_NUMBERS = (float('nan'), float('inf'), -float('inf'), -1.0, 0.0, -1e308, 1e308, 1e-300,
            -5.0, 5.0, 1e9, 3e38)


def _number(rng, lo: float, hi: float) -> float:
    if rng.random() < 0.5:
        return float(_NUMBERS[rng.integers(len(_NUMBERS))])
    return float(rng.uniform(lo, hi))


def set_target_case(rng, now_ns: int, recent: list[int], size=(640, 480)) -> SetTarget.Request:
    """A SetTarget request with a hostile box, stamp or frame_id (a few are valid)."""
    req = SetTarget.Request()
    w, h = size
    req.center_x, req.center_y = _number(rng, -w, 2 * w), _number(rng, -h, 2 * h)
    req.size_x, req.size_y = _number(rng, -w, 2 * w), _number(rng, -h, 2 * h)
    _header_stamp(req, _stamp(rng, now_ns, recent), rng)
    req.header.frame_id = _frame_id(rng) if rng.random() < 0.5 else ''
    return req


def click_case(rng, now_ns: int, recent: list[int], size=(640, 480)):
    """A PointStamped (``~/click``) or Point (``~/click_point``) in or far outside the image."""
    x, y = _number(rng, -size[0], 2 * size[0]), _number(rng, -size[1], 2 * size[1])
    if rng.random() < 0.5:
        return Point(x=x, y=y, z=_number(rng, -1, 1))
    msg = PointStamped()
    msg.point.x, msg.point.y = x, y
    _header_stamp(msg, _stamp(rng, now_ns, recent), rng)
    msg.header.frame_id = _frame_id(rng)
    return msg
