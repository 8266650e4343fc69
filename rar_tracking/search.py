"""Where the tracker looks: the side of the search square, and the LOST search.

- :func:`search_side`: ``search_area_factor`` times the target's size, but never under
  ``min_search_px`` image pixels (nor over the image's longer side): a 9 px rider at
  search_area_factor 3 would otherwise get a 27 px window, which a motion of a third of it
  (3 px per frame at 10 fps) already leaves (ground truth of the small targets, issue 14).
- :func:`lost_tiles`: while LOST, crops of the normal side on a grid (spacing half a side)
  around the last position. The region grows by ``lost_search_growth`` search sides per LOST
  frame, and after ``redetect_after`` LOST frames it is the whole image; each frame looks at
  the tile on the last position and the next :data:`LOST_CROPS` - 1 others, nearest first,
  in turn, so a frame costs the same however large the region has grown.
"""
from __future__ import annotations

import math

LOST_CROPS = 9  # crops per LOST frame: the cost of today's 3x3 grid


def search_side(base_side: float, min_search_px: float, width: int, height: int) -> float:
    """The search square's side in image pixels (see the module docstring)."""
    floor = min(min_search_px, float(max(width, height)))
    return max(base_side, floor)


def lost_tiles(center: tuple[float, float], side: float, width: int, height: int, *,
               radius: float) -> list[tuple[float, float]]:
    """Crop centres on a grid of spacing ``side / 2`` anchored on ``center``, within
    ``radius`` px of it (per axis) and with the centre inside the image, nearest first
    (``center`` itself first, clamped into the image)."""
    step = side / 2.0
    n = int(math.floor(radius / step + 1e-9)) if step > 0 else 0
    # anchored grid, clipped to what the image needs
    nx_lo = max(-n, -int(math.ceil(center[0] / step))) if step > 0 else 0
    nx_hi = min(n, int(math.ceil((width - center[0]) / step))) if step > 0 else 0
    ny_lo = max(-n, -int(math.ceil(center[1] / step))) if step > 0 else 0
    ny_hi = min(n, int(math.ceil((height - center[1]) / step))) if step > 0 else 0
    seen, tiles = set(), []
    cells = sorted(((i, j) for j in range(ny_lo, ny_hi + 1) for i in range(nx_lo, nx_hi + 1)),
                   key=lambda ij: (ij[0] ** 2 + ij[1] ** 2, abs(ij[1]), abs(ij[0])))
    for i, j in cells:
        x = min(max(center[0] + i * step, 0.0), float(width))
        y = min(max(center[1] + j * step, 0.0), float(height))
        key = (round(x, 3), round(y, 3))
        if key not in seen:
            seen.add(key)
            tiles.append((x, y))
    return tiles


def lost_radius(k: int, side: float, width: int, height: int, *, factor: float,
                growth: float, redetect_after: int) -> float:
    """Half-width (px) of the LOST region on the k-th LOST frame (k = 0 first)."""
    if redetect_after > 0 and k >= redetect_after:
        return float(max(width, height))
    return max(factor - 1.0, 0.0) * side / 2.0 + growth * side * k


def lost_plan(center, side: float, width: int, height: int, k: int, cursor: int, *,
              factor: float, growth: float, redetect_after: int
              ) -> tuple[list[tuple[float, float]], int]:
    """This LOST frame's crop centres and the next cursor: the tile on ``center`` and the
    next ``LOST_CROPS - 1`` tiles of the region after ``cursor`` (cycling)."""
    radius = lost_radius(k, side, width, height, factor=factor, growth=growth,
                         redetect_after=redetect_after)
    tiles = lost_tiles(center, side, width, height, radius=radius)
    if len(tiles) <= LOST_CROPS:
        return tiles, 0
    rest = tiles[1:]
    start = cursor % len(rest)
    chosen = [rest[(start + i) % len(rest)] for i in range(LOST_CROPS - 1)]
    return [tiles[0]] + chosen, (start + LOST_CROPS - 1) % len(rest)
