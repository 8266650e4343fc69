"""sensor_msgs images <-> numpy RGB: every encoding, padded rows, endianness, bad messages."""
import array

import cv2
import numpy as np
import pytest

sensor_msgs = pytest.importorskip('sensor_msgs.msg')
from std_msgs.msg import Header  # noqa: E402

from rar_tracking.errors import InvalidImageError  # noqa: E402
from rar_tracking.ros.image_conversion import (  # noqa: E402
    ImageConversionError, UnsupportedEncodingError, compressed_msg_to_rgb, image_msg_to_rgb,
    msg_to_rgb, rgb_to_image_msg)

H, W = 5, 7


@pytest.fixture(scope='module')
def rgb():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def make_image(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False):
    """An Image whose rows are ``pixels`` (HxWxC, any dtype) plus ``pad`` junk bytes each."""
    height, width = pixels.shape[:2]
    if pixels.dtype.itemsize > 1:
        pixels = pixels.astype(pixels.dtype.newbyteorder('>' if bigendian else '<'))
    rows = pixels.reshape(height, -1).view(np.uint8).reshape(height, -1)
    junk = np.full((height, pad), 0xAB, np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    msg = sensor_msgs.Image(height=height, width=width, encoding=encoding,
                            is_bigendian=int(bigendian), step=data.shape[1])
    msg.data = array.array('B', data.tobytes())
    return msg


def as_input(rgb: np.ndarray, encoding: str) -> np.ndarray:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    alpha = np.full(rgb.shape[:2] + (1,), 200, np.uint8)
    return {
        'rgb8': rgb, 'bgr8': rgb[:, :, ::-1],
        'rgba8': np.concatenate([rgb, alpha], axis=2),
        'bgra8': np.concatenate([rgb[:, :, ::-1], alpha], axis=2),
        'mono8': gray[:, :, None],
    }[encoding]


def expected_rgb(rgb: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == 'mono8':
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return rgb


@pytest.mark.parametrize('pad', [0, 3, 64])
@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'])
def test_eight_bit_encodings_give_rgb(rgb, encoding, pad):
    msg = make_image(as_input(rgb, encoding), encoding, pad=pad)
    out = image_msg_to_rgb(msg)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected_rgb(rgb, encoding))


@pytest.mark.parametrize('bigendian', [False, True])
@pytest.mark.parametrize('pad', [0, 2, 5])
def test_mono16_is_shifted_to_8_bit_in_either_byte_order(bigendian, pad):
    values = np.arange(H * W, dtype=np.uint16).reshape(H, W) * 1500 + 7  # up to 52507
    msg = make_image(values[:, :, None], 'mono16', pad=pad, bigendian=bigendian)
    out = image_msg_to_rgb(msg)
    expected = (values >> 8).astype(np.uint8)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], expected)


def test_result_is_a_copy_not_a_view_of_the_message(rgb):
    msg = make_image(rgb, 'rgb8')
    out = image_msg_to_rgb(msg)
    out[:] = 0
    np.testing.assert_array_equal(image_msg_to_rgb(msg), rgb)


def test_extra_trailing_data_is_ignored(rgb):
    msg = make_image(rgb, 'rgb8')
    msg.data.extend(b'\x01' * 17)
    np.testing.assert_array_equal(image_msg_to_rgb(msg), rgb)


@pytest.mark.parametrize('field,value,words,kind', [
    ('width', 0, 'zero size', 'zero_size'),
    ('height', 0, 'zero size', 'zero_size'),
    ('step', W * 3 - 1, 'step', 'short_step'),
])
def test_malformed_geometry_is_rejected(rgb, field, value, words, kind):
    msg = make_image(rgb, 'rgb8')
    setattr(msg, field, value)
    with pytest.raises(ImageConversionError, match=words) as info:
        image_msg_to_rgb(msg)
    assert info.value.kind == kind


def test_data_shorter_than_step_times_height_is_rejected(rgb):
    msg = make_image(rgb, 'rgb8', pad=4)
    del msg.data[-1]
    with pytest.raises(ImageConversionError, match=r'needs step x height = '
                                                   + str((W * 3 + 4) * H)) as info:
        image_msg_to_rgb(msg)
    assert info.value.kind == 'short_data'


def test_mono16_step_counts_two_bytes_per_pixel():
    msg = make_image(np.zeros((H, W, 1), np.uint16), 'mono16')
    msg.step = W  # one byte per pixel: too short for 16-bit rows
    with pytest.raises(ImageConversionError, match='2 byte'):
        image_msg_to_rgb(msg)


@pytest.mark.parametrize('encoding', ['32FC1', 'yuv422', 'bayer_rggb8', '', 'rgb16'])
def test_unsupported_encoding_names_the_encoding(rgb, encoding):
    msg = make_image(rgb, encoding)
    with pytest.raises(UnsupportedEncodingError) as info:
        image_msg_to_rgb(msg)
    assert info.value.encoding == encoding and info.value.kind == 'unsupported_encoding'
    assert repr(encoding) in str(info.value)
    assert isinstance(info.value, InvalidImageError)


def compressed(rgb: np.ndarray, ext: str, fmt: str):
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    msg = sensor_msgs.CompressedImage(format=fmt)
    msg.data = array.array('B', buf.tobytes())
    return msg


def test_png_compressed_round_trip_is_exact(rgb):
    out = compressed_msg_to_rgb(compressed(rgb, '.png', 'rgb8; png compressed bgr8'))
    np.testing.assert_array_equal(out, rgb)


def test_jpeg_compressed_decodes_to_rgb_order():
    # A smooth red/blue image survives JPEG closely enough to check the channel order.
    image = np.zeros((32, 48, 3), np.uint8)
    image[:, :24, 0] = 220
    image[:, 24:, 2] = 220
    out = msg_to_rgb(compressed(image, '.jpg', 'jpeg'))
    assert out.shape == image.shape
    assert out[16, 4, 0] > 180 and out[16, 4, 2] < 60
    assert out[16, 44, 2] > 180 and out[16, 44, 0] < 60


@pytest.mark.parametrize('payload,words', [(b'', 'no data'), (b'not an image', 'cannot decode')])
def test_bad_compressed_data_is_rejected(payload, words):
    msg = sensor_msgs.CompressedImage(format='jpeg')
    msg.data = array.array('B', payload)
    with pytest.raises(ImageConversionError, match=words):
        compressed_msg_to_rgb(msg)


def test_compressed_depth_is_refused(rgb):
    msg = compressed(rgb, '.png', '16UC1; compressedDepth png')
    with pytest.raises(UnsupportedEncodingError, match='compressedDepth'):
        compressed_msg_to_rgb(msg)


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8'])
def test_numpy_to_image_round_trip(rgb, encoding):
    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = rgb_to_image_msg(rgb, header, encoding)
    assert (msg.width, msg.height, msg.step, msg.encoding) == (W, H, W * 3, encoding)
    assert msg.header.frame_id == 'cam' and msg.header.stamp.nanosec == 345
    np.testing.assert_array_equal(image_msg_to_rgb(msg), rgb)
    if encoding == 'bgr8':
        assert bytes(msg.data[:3]) == bytes(rgb[0, 0, ::-1])


@pytest.mark.parametrize('bad', [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32),
                                 np.zeros((0, 4, 3), np.uint8), np.zeros((4, 4, 4), np.uint8)])
def test_numpy_to_image_rejects_other_arrays(bad):
    with pytest.raises(InvalidImageError):
        rgb_to_image_msg(bad)


def test_numpy_to_image_rejects_other_encodings(rgb):
    with pytest.raises(ValueError, match='mono8'):
        rgb_to_image_msg(rgb, encoding='mono8')
