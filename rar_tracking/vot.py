"""RAR as a TraX tracker, so that the VOT toolkit (``vot-toolkit``) can run and score it.

    python -m rar_tracking.vot --trunk efficientnet_lite0 --device cuda

The TraX protocol (``vot-trax``): the client (the toolkit) starts this process, sends
``initialize`` with the first image and the target region, then one ``frame`` request per
image; each answer carries the tracker's region and its ``confidence`` (the tracker's
confidence in [0, 1], what the toolkit's long-term measures use). Regions: rectangles and
polygons (a rotated VOT polygon becomes the axis-aligned box with the polygon's centre and area
and its bounding rectangle's aspect; the answer is a 4-point polygon when a polygon came in).
Images: the path channel (``file`` paths, as the toolkit sends them) or encoded buffers.

Transport: a socket when ``TRAX_SOCKET`` is set (the toolkit's default), else the pipes of
``TRAX_IN``/``TRAX_OUT`` or stdin/stdout; in the stdio case anything else written to stdout
(library warnings) is sent to stderr so it cannot corrupt the protocol. A request that cannot
be served (no region, an empty box, an image that does not exist or does not decode) ends the
session with a TraX ``quit`` giving the reason (exit code 2); a malformed protocol message ends
it with exit code 1. Setup in docs/evaluation.md (VOT toolkit).
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys

import numpy as np

from .types import Box

LOG = logging.getLogger('rar_tracking.vot')
TRACKER_NAME = 'RAR'


class RequestError(ValueError):
    """A TraX request this tracker cannot serve; the message is sent to the client."""


# ----------------------------------------------------------------------------- regions
def polygon_to_box(points) -> Box:
    """The axis-aligned box of a polygon: its centre and area, its bounding rectangle's aspect.

    For an axis-aligned rectangle given as 4 points this is the rectangle itself.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3 or not np.all(np.isfinite(pts)):
        raise RequestError(f'a polygon needs at least 3 finite points, got {pts.tolist()}')
    xs, ys = pts[:, 0], pts[:, 1]
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    width, height = x1 - x0, y1 - y0
    # Shoelace area; the box keeps it, so a rotated target is not inflated to its hull.
    area = 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))
    if width <= 0 or height <= 0 or area <= 0:
        raise RequestError(f'the polygon {pts.tolist()} encloses no area')
    scale = math.sqrt(area / (width * height))
    cx, cy = float(xs.mean()), float(ys.mean())
    return Box.from_center(cx, cy, width * scale, height * scale)


def box_to_polygon(box: Box) -> list[tuple[float, float]]:
    """The 4 corners of a box, clockwise from the top-left (image y down)."""
    x, y, w, h = box.as_tuple()
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def region_to_box(region) -> Box:
    """A TraX rectangle or polygon as a Box; anything else is refused."""
    from trax import Region

    if region.type == Region.RECTANGLE:
        box = Box(*(float(v) for v in region.bounds()))
        if not box.is_finite() or box.w <= 0 or box.h <= 0:
            raise RequestError(f'the rectangle {box.as_tuple()} is empty or not finite')
        return box
    if region.type == Region.POLYGON:
        return polygon_to_box([region.get(i) for i in range(region.size())])
    raise RequestError(f'region type {region.type!r} is not supported (rectangle, polygon)')


def make_region(box: Box, kind: str):
    """A TraX region of ``kind`` ('rectangle' or 'polygon') for a box."""
    from trax import Polygon, Rectangle, Region

    if kind == Region.POLYGON:
        return Polygon.create(box_to_polygon(box))
    return Rectangle.create(*box.as_tuple())


# ----------------------------------------------------------------------------- images
def _image_type(image) -> str:
    """vot-trax 4 has ``Image.type`` as a method (``Region.type`` is a property)."""
    kind = image.type
    return kind() if callable(kind) else kind


def read_image(images: dict) -> np.ndarray:
    """The RGB uint8 image of a request's color channel (a path or an encoded buffer)."""
    import cv2
    from trax import Image

    image = images.get('color') if images else None
    if image is None:
        raise RequestError('the request carries no color image')
    kind = _image_type(image)
    if kind == Image.PATH:
        path = image.path()
        if not os.path.isfile(path):
            raise RequestError(f'image file does not exist: {path}')
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        where = path
    elif kind == Image.BUFFER:
        data = np.frombuffer(image.buffer(), dtype=np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        where = f'an encoded buffer of {data.size} bytes'
    else:
        raise RequestError(f'image type {kind!r} is not supported (path, buffer)')
    if bgr is None or bgr.size == 0:
        raise RequestError(f'cannot decode the image ({where})')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------- session
def _protect_stdout() -> None:
    """In the stdio transport, give the protocol its own copies of stdin/stdout and point
    fd 1 at stderr, so that a print or a library warning cannot break a TraX message."""
    if os.environ.get('TRAX_SOCKET') or os.environ.get('TRAX_OUT'):
        return
    os.environ['TRAX_IN'] = str(os.dup(0))
    os.environ['TRAX_OUT'] = str(os.dup(1))
    sys.stdout.flush()
    os.dup2(2, 1)


def _reply(server, box: Box, kind: str, confidence: float) -> None:
    value = f'{confidence:.4f}'
    server.status([(make_region(box, kind), {'confidence': value})], {'confidence': value})


def _step(tracker, request, kind: str | None) -> tuple[Box, float, str]:
    """Serve one initialize or frame request: (box, confidence, region kind)."""
    from trax import TraxStatus

    image = read_image(request.image)
    if request.type == TraxStatus.INITIALIZE:
        if not request.objects:
            raise RequestError('initialize carries no region')
        region = request.objects[0][0]
        box = region_to_box(region)
        try:
            result = tracker.initialize(image, box)
        except ValueError as error:  # the tracker refuses the box (outside, flat...)
            raise RequestError(f'the tracker refused the region: {error}') from None
        return box, float(result.confidence), region.type
    if kind is None:
        raise RequestError('a frame request came before initialize')
    result = tracker.track(image)
    return result.box, float(result.confidence), kind


def serve(make_tracker) -> int:
    """Run the TraX session until the client quits: 0 (quit), 1 (protocol error), 2 (the
    tracker could not be built, or a request could not be served; the client got the reason).

    The handshake comes first, so that the client does not wait for the network to load
    before it hears from the tracker; ``make_tracker()`` builds it before the first request.
    """
    from trax import Image, Region, Server, TraxException, TraxStatus

    server = Server([Region.RECTANGLE, Region.POLYGON], [Image.PATH, Image.BUFFER], ['color'],
                    tracker_name=TRACKER_NAME, tracker_description='RAR deep tracker '
                    '(rar_tracking)', tracker_family='rar')
    try:
        tracker = make_tracker()
    except Exception as error:  # a bad option, weights file or device: tell the client
        LOG.error('cannot build the tracker: %s', error)
        server.quit(reason=f'cannot build the tracker: {error}')
        return 2
    kind = None
    while True:
        try:
            request = server.wait()
        except TraxException as error:
            LOG.error('malformed TraX request: %s', error)
            return 1
        if request.type == TraxStatus.QUIT:
            return 0
        try:
            box, confidence, kind = _step(tracker, request, kind)
        except RequestError as error:
            LOG.error('%s', error)
            server.quit(reason=str(error))
            return 2
        _reply(server, box, kind, confidence)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m rar_tracking.vot', description=__doc__.splitlines()[0])
    parser.add_argument('--trunk', help='TrackerConfig.trunk (default: the config default)')
    parser.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda', 'cuda:N'")
    parser.add_argument('--profile', help="'balanced' (default), 'fast', 'full' or 'auto'")
    parser.add_argument('--weights', help='trained RAR weights file')
    parser.add_argument('--param', action='append', default=[], metavar='KEY=VALUE',
                        help='any other TrackerConfig field, e.g. --param crop_size=161')
    parser.add_argument('--log-level', default='INFO')
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format='[rar_tracking.vot] %(levelname)s %(message)s')
    _protect_stdout()

    def make_tracker():  # in the session, so that a bad option reaches the client as a reason
        from .config import TrackerConfig
        from .eval.trackers import parse_overrides

        changes = parse_overrides(args.param)
        for name in ('trunk', 'device', 'profile', 'weights'):
            if getattr(args, name):
                changes[name] = getattr(args, name)
        config = TrackerConfig(**changes)
        import torch

        torch.set_num_threads(config.cpu_threads)
        from .tracker import RARTracker

        tracker = RARTracker(config)
        LOG.info('RAR ready (device %s, trunk %s); serving TraX', config.device, config.trunk)
        return tracker

    return serve(make_tracker)


if __name__ == '__main__':
    raise SystemExit(main())
