"""The colour model (rar_tracking.colour): histograms, likelihood and the response grid."""
import numpy as np
import pytest

from rar_tracking.colour import (ColourModel, box_mean_response, colour_index, histograms,
                                 likelihood)

RED, GREY = (200, 30, 30), (90, 90, 90)


def scene(width=160, height=120, box=(60, 40, 20, 16)):
    """A red box on a grey background with a little noise (x, y, w, h)."""
    rng = np.random.default_rng(0)
    image = np.clip(np.full((height, width, 3), GREY, float) + rng.normal(0, 4, (height, width, 3)),
                    0, 255).astype(np.uint8)
    x, y, w, h = box
    image[y:y + h, x:x + w] = RED
    return image


def test_colour_index_puts_each_channel_in_its_bins():
    pixels = np.array([[0, 0, 0], [255, 255, 255], [8, 0, 0], [0, 0, 8]], np.uint8)
    assert colour_index(pixels, 32).tolist() == [0, 32 ** 3 - 1, 32 * 32, 1]


def test_histograms_split_target_and_background_colours():
    image = scene()
    fg, bg = histograms(image, (70.0, 48.0), (20.0, 16.0), 60.0, 32)
    red, grey = colour_index(np.array(RED, np.uint8), 32), colour_index(np.array(GREY, np.uint8), 32)
    assert fg.sum() == pytest.approx(1.0) and bg.sum() == pytest.approx(1.0)
    assert fg[red] == pytest.approx(1.0)  # the box's centre is all target
    assert bg[red] == 0.0  # the whole box is left out of the background
    assert bg[grey] > 0.1  # noise spreads the grey over a few neighbouring bins
    p = likelihood(fg, bg, colour_index(image, 32))
    assert p[48, 70] == 1.0 and p[5, 5] == 0.0
    assert likelihood(fg, bg, np.array([colour_index(np.array((0, 255, 0), np.uint8), 32)]))[0] \
        == 0.5  # a colour seen nowhere says nothing


def test_box_mean_response_peaks_at_the_wrapped_displacement():
    cells, stride, out = 15, 8, 120
    pmap = np.zeros((out, out), np.float32)
    # target 16 x 16 crop px whose centre is 2 cells right and 3 cells up of the crop centre
    cx, cy = out / 2 + 2 * stride, out / 2 - 3 * stride
    pmap[int(cy) - 8:int(cy) + 8, int(cx) - 8:int(cx) + 8] = 1.0
    r = box_mean_response(pmap, cells, stride, (16.0, 16.0))
    iy, ix = np.unravel_index(r.argmax(), r.shape)
    assert (iy, ix) == (cells - 3, 2)  # wrapped: -3 cells is index cells - 3
    assert r[iy, ix] == pytest.approx(1.0, abs=0.15)
    assert r[0, 0] == 0.0


def test_model_finds_the_moved_target_and_learns_slowly():
    model = ColourModel(32)
    model.learn(scene(), (70.0, 48.0), (20.0, 16.0), 60.0)
    moved = scene(box=(66, 40, 20, 16))  # 6 px to the right
    side, out, cells, stride = 60.0, 120, 15, 8
    r = model.response(moved, (70.0, 48.0), side, out, cells, stride, (20.0, 16.0))
    iy, ix = np.unravel_index(r.argmax(), r.shape)
    # 6 image px are 12 crop px at out / side = 2, i.e. 1.5 cells: the peak is 1 or 2 cells right
    assert iy == 0 and ix in (1, 2)
    before = model.fg.copy()
    green = scene()
    green[40:56, 60:80] = (30, 200, 30)
    copy = model.copy()
    model.learn(green, (70.0, 48.0), (20.0, 16.0), 60.0, 0.04)
    red = colour_index(np.array(RED, np.uint8), 32)
    assert model.fg[red] == pytest.approx(0.96 * before[red])  # rate 0.04 of the new frame
    assert copy.fg[red] == pytest.approx(before[red])  # a copy does not follow


def test_cell_map_reads_the_likelihood_on_the_networks_cell_grid():
    # a red 24 x 24 square on grey, crop of 97 px at one pixel per image pixel, 8 px cells
    image = np.full((200, 200, 3), 90, np.uint8)
    image[88:112, 88:112] = (220, 30, 30)
    model = ColourModel(32)
    model.learn(image, (100.0, 100.0), (24.0, 24.0), 72.0)
    cells = model.cell_map(image, (100.0, 100.0), 97.0, 97, 12, 8)
    assert cells.shape == (12, 12)
    # image pixel 100 is crop coordinate 48.5 (crop_square's convention), so the square
    # covers crop pixels 37..59 and half of 36 and 60; cell i covers pixels 8i-4 .. 8i+3
    assert np.allclose(cells[6:8, 6:8], 1.0)  # pixels 44..59: all target
    assert cells[5:8, 5:8].min() > 0.85  # 36..43: the first half pixel is mixed
    assert cells[8, :].max() < 0.1 and cells[:, 8].max() < 0.1  # 60..67: half a pixel of it
    assert cells[:5].max() == 0.0 and cells[9:].max() == 0.0 and cells[:, :5].max() == 0.0
    # a model that has seen neither colour says 0.5 everywhere
    blank = ColourModel(32)
    blank.fg, blank.bg = np.zeros(32 ** 3), np.zeros(32 ** 3)
    assert np.allclose(blank.cell_map(image, (100.0, 100.0), 97.0, 97, 12, 8), 0.5)
