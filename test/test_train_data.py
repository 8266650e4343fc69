"""Training data: the VID reader, sources and splits, the clip sampler, crops and labels."""
import itertools
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rar_tracking.data.sequences import Sequence, SequenceError
from rar_tracking.data.synthetic import make_sequence
from rar_tracking.model.correlation import gaussian_label
from rar_tracking.train.data import (AugmentSettings, ClipDataset, ClipSampler, ClipSettings,
                                     EpochSampler, crop_target)
from rar_tracking.train.sources import (SourceSpec, check_disjoint, load_source, load_sources,
                                        load_vid, parse_vid_xml)
from rar_tracking.geometry import Geometry, shifted_label

SHARED = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'tracking'
GEOMETRY = Geometry(crop_size=97, feature_size=13, search_area_factor=3.0, label_sigma=0.1,
                    min_size=4.0, num_context=4, context_offset=1.0, lambda1=1e-4, lambda2=0.1)


# ---------------------------------------------------------------------------- VID
def _vid_xml(folder: str, stem: str, objects) -> str:
    parts = [f'<annotation><folder>{folder}</folder><filename>{stem}</filename>'
             '<source><database>ILSVRC_2015</database></source>'
             '<size><width>64</width><height>48</height></size>']
    for tid, (x0, y0, x1, y1), occ in objects:
        parts.append(f'<object><trackid>{tid}</trackid><name>n02084071</name><bndbox>'
                     f'<xmax>{x1}</xmax><xmin>{x0}</xmin><ymax>{y1}</ymax><ymin>{y0}</ymin>'
                     f'</bndbox><occluded>{occ}</occluded><generated>0</generated></object>')
    return ''.join(parts) + '</annotation>'


@pytest.fixture()
def vid_root(tmp_path):
    """ILSVRC2015 layout: one video, 4 frames; track 0 in every frame, track 1 in frames 1-2."""
    root = tmp_path / 'ILSVRC2015'
    rel = 'ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000'
    ann = root / 'Annotations' / 'VID' / 'train' / rel
    img = root / 'Data' / 'VID' / 'train' / rel
    ann.mkdir(parents=True)
    img.mkdir(parents=True)
    for k in range(4):
        objects = [(0, (10 + k, 5, 30 + k, 25), 0)]
        if k in (1, 2):
            objects.append((1, (40, 20, 60, 44), 1))
        (ann / f'{k:06d}.xml').write_text(_vid_xml(rel, f'{k:06d}', objects))
        frame = np.full((48, 64, 3), 40 * k, dtype=np.uint8)
        cv2.imwrite(str(img / f'{k:06d}.JPEG'), frame)
    return root


def test_vid_xml_parser_reads_size_track_ids_and_boxes(vid_root):
    path = next((vid_root / 'Annotations').rglob('000001.xml'))
    width, height, objects = parse_vid_xml(path)
    assert (width, height) == (64, 48)
    assert [o.trackid for o in objects] == [0, 1]
    assert objects[0].box == (11.0, 5.0, 20.0, 20.0)
    assert objects[1].box == (40.0, 20.0, 20.0, 24.0)
    assert objects[0].name == 'n02084071'
    assert (objects[0].occluded, objects[1].occluded) == (False, True)
    assert parse_vid_xml(path.read_bytes())[2][1].box == objects[1].box


@pytest.mark.parametrize('text, message', [
    (b'<annotation><size><width>64</width>', 'not a readable'),
    (b'<annotation><object><bndbox/></object></annotation>', '<size> missing'),
    (b'<annotation><size><width>64</width><height>4</height></size><object><trackid>0'
     b'</trackid><bndbox><xmin>a</xmin></bndbox></object></annotation>', 'not a number'),
])
def test_vid_xml_parser_rejects_malformed_files(text, message):
    with pytest.raises(SequenceError, match=message):
        parse_vid_xml(text)


def test_load_vid_makes_one_sequence_per_track_with_nan_where_absent(vid_root, tmp_path):
    cache = tmp_path / 'cache' / 'vid.json'
    sequences = load_vid(vid_root, 'train', cache)
    assert [s.name for s in sequences] == ['ILSVRC2015_train_00000000:0',
                                           'ILSVRC2015_train_00000000:1']
    track0, track1 = sequences
    np.testing.assert_array_equal(track0.gt[:, 0], [10, 11, 12, 13])
    assert track1.visible.tolist() == [False, True, True, False]
    np.testing.assert_array_equal(track1.gt[1], [40, 20, 20, 24])
    assert track0.image_size == (64, 48)
    assert track0.frame(3).shape == (48, 64, 3)
    assert abs(int(track0.frame(3).mean()) - 120) <= 2  # the 4th JPEG, not another
    # The cached index is used afterwards: the XML files are no longer read.
    assert cache.is_file()
    for xml in (vid_root / 'Annotations').rglob('*.xml'):
        xml.unlink()
    again = load_vid(vid_root, 'train', cache)
    np.testing.assert_array_equal(again[1].gt, track1.gt)
    with pytest.raises(SequenceError, match='no .xml'):
        load_vid(vid_root, 'train')


def test_vid_source_applies_name_globs(vid_root):
    spec = SourceSpec.from_dict({'kind': 'vid', 'path': str(vid_root), 'exclude': ['*:1']})
    assert [s.name for s in load_source(spec)] == ['ILSVRC2015_train_00000000:0']


# ---------------------------------------------------------------------------- sources
def test_source_specs_are_validated():
    with pytest.raises(ValueError, match='unknown key'):
        SourceSpec.from_dict({'kind': 'otb', 'path': 'x', 'inclde': ['a']})
    with pytest.raises(ValueError, match='kind'):
        SourceSpec.from_dict({'kind': 'imagenet', 'path': 'x'})
    with pytest.raises(ValueError, match='needs a path'):
        SourceSpec.from_dict({'kind': 'got10k'})


def test_missing_sources_fail_unless_optional(tmp_path):
    spec = {'kind': 'otb', 'path': str(tmp_path / 'absent')}
    with pytest.raises(SequenceError, match='does not exist'):
        load_source(SourceSpec.from_dict(spec))
    assert load_source(SourceSpec.from_dict(dict(spec, optional=True))) == []
    # beside other sources (the shipped configs on a machine without ../shared): skipped, the
    # others keep their weights (this divided by zero before)
    synthetic = SourceSpec.from_dict({'kind': 'synthetic', 'count': 2, 'num_frames': 5,
                                      'size': [160, 120], 'weight': 1.0})
    sequences, weights = load_sources([SourceSpec.from_dict(dict(spec, optional=True, weight=3.0)),
                                       synthetic])
    assert len(sequences) == 2 and weights.tolist() == [0.5, 0.5]


def test_benchmark_kind_reads_any_detected_layout_and_otb_is_its_alias(tmp_path):
    seq = tmp_path / 'bench' / 'Walker'
    (seq / 'img').mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(seq / 'img' / f'{i + 1:04d}.jpg'), np.full((40, 50, 3), 30 * i, np.uint8))
    (seq / 'groundtruth_rect.txt').write_text('1,2,10,12\n2,3,10,12\n3,4,10,12\n')
    spec = SourceSpec.from_dict({'kind': 'benchmark', 'path': str(tmp_path / 'bench')})
    alias = SourceSpec.from_dict({'kind': 'otb', 'path': str(tmp_path / 'bench')})
    assert alias.kind == 'benchmark'
    found = load_source(spec)
    assert [s.name for s in found] == ['Walker'] and len(found[0]) == 3
    assert [s.name for s in load_source(alias)] == ['Walker']


def _write_got10k(root: Path, name: str, rows: int, absent=()):
    folder = root / 'train' / name
    folder.mkdir(parents=True)
    for k in range(rows):
        cv2.imwrite(str(folder / f'{k + 1:08d}.jpg'), np.zeros((20, 30, 3), np.uint8))
    (folder / 'groundtruth.txt').write_text('\n'.join('2,3,10,8' for _ in range(rows)))
    (folder / 'absence.label').write_text('\n'.join('1' if k in absent else '0'
                                                   for k in range(rows)))


def test_got10k_source_and_weights_per_source(tmp_path):
    _write_got10k(tmp_path / 'got', 'GOT-10k_Train_000001', 5, absent=(2,))
    _write_got10k(tmp_path / 'got', 'GOT-10k_Train_000002', 5)
    (tmp_path / 'got' / 'train' / 'list.txt').write_text(
        'GOT-10k_Train_000001\nGOT-10k_Train_000002\n')
    specs = [SourceSpec.from_dict({'kind': 'got10k', 'path': 'got', 'weight': 2.0}),
             SourceSpec.from_dict({'kind': 'synthetic', 'count': 4, 'num_frames': 8,
                                   'size': [96, 80], 'seed': 3})]
    sequences, weights = load_sources(specs, base_dir=tmp_path)  # relative path
    assert [s.name for s in sequences[:2]] == ['GOT-10k_Train_000001', 'GOT-10k_Train_000002']
    assert sequences[0].visible.tolist() == [True, True, False, True, True]
    # Each source's weight is shared by its sequences: 2.0 / 2 and 1.0 / 4.
    np.testing.assert_allclose(weights, [1.0, 1.0, 0.25, 0.25, 0.25, 0.25])


def test_splits_are_by_sequence_name():
    a = [make_sequence(4, (96, 80), seed=s, name=f's{s}') for s in range(3)]
    b = [make_sequence(4, (96, 80), seed=7, name='s7'), a[1]]
    check_disjoint(a, b[:1])
    with pytest.raises(ValueError, match=r"\['s1'\]"):
        check_disjoint(a, b)
    with pytest.raises(ValueError, match='more than one source'):
        specs = [SourceSpec.from_dict({'kind': 'synthetic', 'count': 2, 'num_frames': 4,
                                       'size': [96, 80], 'seed': 0})] * 2
        load_sources(specs)


TRAIN_SHARED = SHARED.parent / 'train'


@pytest.mark.shared_data
@pytest.mark.skipif(not (TRAIN_SHARED / 'manifest.json').is_file(), reason='no ../shared data')
def test_shipped_heads_config_loads_disjoint_train_and_validation_sequences():
    """What train_heads.yaml really loads: the 40 training sequences split 29 / 11 by name,
    and none of the evaluation sequences."""
    from rar_tracking.data.layouts import load_manifest
    from rar_tracking.train.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / 'config' / 'train_heads.yaml')
    train, _ = load_sources([s for s in cfg.train if s.kind != 'synthetic'], cfg.base_dir)
    val, _ = load_sources([s for s in cfg.val if s.kind != 'synthetic'], cfg.base_dir)
    check_disjoint(train, val)
    every = {s.name for s in load_manifest(TRAIN_SHARED)}
    assert {s.name for s in train} | {s.name for s in val} == every
    assert len(train) == 29 and len(val) == 11
    if (SHARED / 'manifest.json').is_file():
        evaluation = {s.name for s in load_manifest(SHARED)}
        assert not evaluation & ({s.name for s in train} | {s.name for s in val})


# ---------------------------------------------------------------------------- sampler
def _sequence_with_gaps(visible_mask, name='gappy'):
    n = len(visible_mask)
    gt = np.tile([10.0, 10.0, 20.0, 16.0], (n, 1))
    gt[~np.asarray(visible_mask)] = np.nan
    return Sequence(name, [np.zeros((8, 8, 3), np.uint8)] * n, gt)


def _all_clips(visible, t, gap):
    frames = np.flatnonzero(visible)
    return {c for c in itertools.combinations(frames.tolist(), t + 1)
            if all(0 < b - a <= gap for a, b in zip(c, c[1:]))}


def test_clip_sampler_draws_exactly_the_valid_clips():
    visible = np.array([1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 1], dtype=bool)
    seq = _sequence_with_gaps(visible)
    settings = ClipSettings(search_frames=2, max_gap=3)
    sampler = ClipSampler([seq], settings)
    valid = _all_clips(visible, 2, 3)
    rng = np.random.default_rng(0)
    drawn = {tuple(sampler.sample(rng)[1]) for _ in range(3000)}
    assert drawn == valid  # never a hidden frame or a larger gap, and nothing valid missed
    assert all(visible[list(c)].all() for c in drawn)


def test_clip_sampler_skips_small_boxes_and_sequences_without_a_clip():
    dense = _sequence_with_gaps(np.ones(6, bool), 'dense')
    dense.gt[2, 2] = 1.0  # a 1-px-wide box: not usable
    sparse = _sequence_with_gaps(np.array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], bool), 'sparse')
    sampler = ClipSampler([dense, sparse], ClipSettings(search_frames=3, max_gap=2, min_box=2))
    assert sampler.skipped == ['sparse']
    rng = np.random.default_rng(1)
    for _ in range(200):
        _, frames = sampler.sample(rng)
        assert 2 not in frames
    with pytest.raises(ValueError, match='no sequence'):
        ClipSampler([sparse], ClipSettings(search_frames=1, max_gap=4))


def test_clip_sampler_follows_the_weights():
    a = _sequence_with_gaps(np.ones(5, bool), 'a')
    b = _sequence_with_gaps(np.ones(5, bool), 'b')
    sampler = ClipSampler([a, b], ClipSettings(2, 2), weights=[3.0, 1.0])
    rng = np.random.default_rng(2)
    share = np.mean([sampler.sample(rng)[0] == 0 for _ in range(2000)])
    assert 0.72 < share < 0.78


# ---------------------------------------------------------------------------- crops, labels
def test_shifted_label_generalises_gaussian_label():
    for size in (13, 12):
        expected = gaussian_label((size, size), 1.3)
        got = shifted_label(size, 1.3, torch.zeros(1), torch.zeros(1))[0]
        torch.testing.assert_close(got, expected)
    label = shifted_label(13, 1.0, torch.tensor([2.0, -3.4]), torch.tensor([-5.0, 6.3]))
    assert np.unravel_index(int(label[0].argmax()), (13, 13)) == (2, 13 - 5)
    assert np.unravel_index(int(label[1].argmax()), (13, 13)) == (13 - 3, 6)
    # Distances wrap around: column 12 (displacement -1) is 5.7 cells from +6.3, not 7.3.
    assert float(label[1, 10, 12]) == pytest.approx(math.exp(-0.5 * (0.4 ** 2 + 5.7 ** 2)),
                                                    rel=1e-4)


def _white_box_image(box):
    image = np.zeros((240, 320, 3), np.uint8)
    x, y, w, h = box
    image[y:y + h, x:x + w] = 255
    return image


@pytest.mark.parametrize('shift, scale', [((0.0, 0.0), 1.0), ((9.0, -6.0), 1.0),
                                          ((-14.0, 11.0), 1.1)])
def test_crop_offset_is_where_the_target_is_in_the_crop(shift, scale):
    box = (130, 90, 40, 30)
    crop = crop_target(_white_box_image(box), box, GEOMETRY, shift, scale)
    mask = crop.image[:, :, 0].astype(float) / 255.0
    ys, xs = np.mgrid[0:97, 0:97] + 0.5
    cy, cx = (mask * ys).sum() / mask.sum(), (mask * xs).sum() / mask.sum()
    cells = 1.0 / GEOMETRY.stride  # one cell is the network's stride: 8 crop pixels
    assert crop.offset[0] == pytest.approx((cy - 97 / 2) * cells, abs=0.05)
    assert crop.offset[1] == pytest.approx((cx - 97 / 2) * cells, abs=0.05)
    assert crop.side == pytest.approx(3.0 * math.sqrt(40 * 30) * scale)
    # the box fills w / side of the crop
    assert mask.sum() == pytest.approx(40 * 30 * (97 / crop.side) ** 2, rel=0.05)


def test_dataset_labels_peak_at_the_jittered_target():
    seq = make_sequence(30, (320, 240), seed=4)
    sampler = ClipSampler([seq], ClipSettings(3, 5))
    dataset = ClipDataset(sampler, GEOMETRY, 8, AugmentSettings(shift=0.5, scale=0.1), seed=0)
    offsets = []
    for i in range(8):
        item = dataset[i]
        assert item['template'].shape == (3, 97, 97) and item['template'].dtype == torch.uint8
        assert item['search'].shape == (3, 3, 97, 97)
        assert item['label'].shape == (3, 13, 13)
        for label, (dy, dx) in zip(item['label'], item['offset'].tolist()):
            iy, ix = np.unravel_index(int(label.argmax()), (13, 13))
            assert (iy, ix) == (round(dy) % 13, round(dx) % 13)
            assert float(label.max()) == pytest.approx(
                math.exp(-0.5 * ((dy - round(dy)) ** 2 + (dx - round(dx)) ** 2)
                         / GEOMETRY.sigma ** 2), rel=1e-4)
        frames = item['frames'].tolist()
        assert all(0 < b - a <= 5 for a, b in zip(frames, frames[1:]))
        offsets.append(item['offset'])
    offsets = torch.cat(offsets)
    assert offsets.abs().max() > 0.5  # the jitter moves the target off the centre
    # at most 0.5 sqrt(wh) of shift = 0.5 / 3 of the crop; a bit more after the scale jitter
    assert offsets.abs().max() <= 0.5 / 3.0 * 13 * 1.1 + 1e-4
    # An item is a function of (seed, epoch, index) only.
    again = dataset[(0, 3)]
    torch.testing.assert_close(again['search'], dataset[3]['search'])
    assert not torch.equal(dataset[(1, 3)]['search'], again['search'])


def test_dataset_without_jitter_centres_the_target():
    seq = make_sequence(12, (320, 240), seed=5)
    dataset = ClipDataset(ClipSampler([seq], ClipSettings(2, 3)), GEOMETRY, 2,
                          AugmentSettings.none(), seed=0)
    item = dataset[0]
    torch.testing.assert_close(item['offset'], torch.zeros(2, 2))
    expected = gaussian_label((13, 13), GEOMETRY.sigma)
    torch.testing.assert_close(item['label'][0], expected)


def test_scale_label_lowers_the_label_of_crops_of_the_wrong_size():
    """augment.scale_label: the label's height falls with the search crop's scale jitter as
    exp(-(ln s)^2 / (2 scale_label^2)); the crops themselves do not change. The scale is
    measured in the crop: a white 40 x 30 box fills (97 / side)^2 of its area."""
    box = (130, 90, 40, 30)
    seq = Sequence('white', [_white_box_image(box)] * 6, np.tile(np.float64(box), (6, 1)))
    plain_aug = AugmentSettings(shift=0.0, scale=0.2, colour=0.0, blur_prob=0.0, gray_prob=0.0)
    scaled_aug = AugmentSettings(shift=0.0, scale=0.2, colour=0.0, blur_prob=0.0, gray_prob=0.0,
                                 scale_label=0.15)
    plain = ClipDataset(ClipSampler([seq], ClipSettings(3, 3)), GEOMETRY, 6, plain_aug, seed=2)
    scaled = ClipDataset(ClipSampler([seq], ClipSettings(3, 3)), GEOMETRY, 6, scaled_aug, seed=2)
    heights = []
    for i in range(6):
        a, b = plain[i], scaled[i]
        assert torch.equal(a['search'], b['search']) and torch.equal(a['offset'], b['offset'])
        for crop, la, lb in zip(b['search'], a['label'], b['label']):
            height = float(lb.max() / la.max())
            torch.testing.assert_close(lb, la * height)  # the same Gaussian, lower
            filled = float(crop[0].float().sum()) / 255.0  # white pixels of the crop
            side = 97.0 * math.sqrt(40 * 30 / filled)  # crop side in image pixels
            s = side / (3.0 * math.sqrt(40 * 30))
            assert height == pytest.approx(math.exp(-0.5 * (math.log(s) / 0.15) ** 2), abs=0.03)
            heights.append(height)
    assert min(heights) < 0.8 and max(heights) > 0.95  # the jitter reaches both ends
    with pytest.raises(ValueError, match='scale_label'):
        AugmentSettings(scale_label=-0.1)


def test_epoch_sampler_skips_the_done_part_of_an_epoch():
    base = torch.utils.data.distributed.DistributedSampler(range(10), num_replicas=1, rank=0,
                                                           shuffle=True, seed=3)
    full = list(EpochSampler(base, epoch=2))
    assert [e for e, _ in full] == [2] * 10
    assert list(EpochSampler(base, epoch=2, skip=4)) == full[4:]
    assert [i for _, i in full] != [i for _, i in EpochSampler(base, epoch=1)]


# ---------------------------------------------------------------------------- look-alikes
def test_paste_twin_puts_the_patch_beside_the_target_and_leaves_the_target():
    from rar_tracking.types import Box
    from rar_tracking.train.data import paste_twin
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    box = Box(60.0, 40.0, 20.0, 10.0)  # centre (70, 45)
    image[40:50, 60:80] = 200
    patch = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)  # the target's own size
    out = paste_twin(image, box, GEOMETRY, patch, (-1.5, 1.0))  # left by 30 px, down by 10
    np.testing.assert_array_equal(out[50:60, 30:50], patch)
    np.testing.assert_array_equal(out[40:50, 60:80], image[40:50, 60:80])  # target untouched
    changed = np.argwhere((out != image).any(axis=2))
    assert changed[:, 0].min() >= 50 and changed[:, 0].max() < 60
    assert changed[:, 1].min() >= 30 and changed[:, 1].max() < 50
    assert image[50:60, 30:50].max() == 0  # the input is not written
    # clipped at the image border: centre at x = 35 - 30, a quarter of it outside
    edge = paste_twin(image, Box(25.0, 0.0, 20.0, 10.0), GEOMETRY, patch, (-1.5, 0.0))
    np.testing.assert_array_equal(edge[0:10, 0:15], patch[:, 5:20])


def test_a_drawn_twin_never_covers_the_target_and_stays_in_the_search_crop():
    from rar_tracking.types import Box
    from rar_tracking.train.data import draw_twin
    image = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    aug = AugmentSettings(twin_prob=1.0)
    rng = np.random.default_rng(1)
    for box, expected in [(Box(30.5, 20.25, 17.0, 15.0), 8),  # near square: all eight
                          (Box(40.0, 10.0, 10.0, 40.0), 2),   # tall: left or right only
                          (Box(10.0, 40.0, 40.0, 10.0), 2)]:  # wide: above or below only
        directions = set()
        reach = 0.45 * GEOMETRY.side(box.w, box.h)
        for _ in range(200):
            patch, (u, v) = draw_twin(image, box, GEOMETRY, aug, rng)
            assert patch.shape[:2] == (math.ceil(box.y + box.h) - int(box.y),
                                       math.ceil(box.x + box.w) - int(box.x))
            assert aug.twin_gap_min <= max(abs(u), abs(v)) <= aug.twin_gap_max
            assert abs(u) * box.w <= reach and abs(v) * box.h <= reach
            directions.add((int(np.sign(u)), int(np.sign(v))))
        assert len(directions) == expected
        if expected == 2:
            assert all((u == 0) != (v == 0) for u, v in directions)
    assert draw_twin(image, Box(200.0, 200.0, 5.0, 5.0), GEOMETRY, aug, rng) is None
    with pytest.raises(ValueError, match='twin_prob'):
        AugmentSettings(twin_prob=1.5)
    with pytest.raises(ValueError, match='twin_gap_min'):
        AugmentSettings(twin_gap_min=0.4)


def test_clips_with_a_twin_keep_their_labels_and_change_only_beside_the_target():
    seq = make_sequence(12, (320, 240), seed=5)
    sampler = ClipSampler([seq], ClipSettings(2, 3))
    plain = ClipDataset(sampler, GEOMETRY, 4, AugmentSettings.none(), seed=0)
    none = AugmentSettings.none()
    twin = ClipDataset(sampler, GEOMETRY, 4, AugmentSettings(
        none.shift, none.scale, none.colour, none.blur_prob, none.blur_sigma, none.gray_prob,
        twin_prob=1.0), seed=0)
    for i in range(4):
        a, b = plain[i], twin[i]
        assert a['frames'].tolist() == b['frames'].tolist()
        torch.testing.assert_close(a['template'], b['template'])  # the tracker's template crop
        torch.testing.assert_close(a['label'], b['label'])
        diff = (a['search'].int() - b['search'].int()).abs().sum(dim=1)  # (T, S, S)
        assert bool((diff.flatten(1).amax(dim=1) > 0).all())  # a look-alike in every frame
        # the target fills the crop's centre (side 3 sqrt(wh)): there nothing changes
        box = seq.gt_box(int(b['frames'][1]))
        side = 3.0 * math.sqrt(box.w * box.h)
        hw, hh = 0.5 * box.w / side * 97, 0.5 * box.h / side * 97
        rows = slice(int(48.5 - hh) + 1, int(48.5 + hh) - 1)
        inner = diff[0, rows, int(48.5 - hw) + 1:int(48.5 + hw) - 1]
        assert int(inner.max()) == 0
        # twin_offset says where the copy is: the pixels that changed fill the box of the
        # target's size around it (clipped to the crop)
        assert bool(a['twin_offset'].isnan().all())
        for t in range(2):
            box = seq.gt_box(int(b['frames'][t + 1]))
            scale = 97 / (3.0 * math.sqrt(box.w * box.h))
            cy, cx = (b['twin_offset'][t] * GEOMETRY.stride + 48.5).tolist()  # crop px
            ys, xs = np.nonzero(diff[t].numpy())
            expected = [max(cy - 0.5 * box.h * scale, 0), min(cy + 0.5 * box.h * scale, 97),
                        max(cx - 0.5 * box.w * scale, 0), min(cx + 0.5 * box.w * scale, 97)]
            assert [ys.min(), ys.max() + 1, xs.min(), xs.max() + 1] == pytest.approx(expected,
                                                                                 abs=2)


def test_twin_offset_follows_the_jittered_crop():
    # a large frame: the crops stay inside it (beyond, a crop repeats the border's pixels)
    seq = make_sequence(12, (640, 480), seed=6)
    sampler = ClipSampler([seq], ClipSettings(2, 3))
    aug = AugmentSettings(shift=0.4, scale=0.0, colour=0.0, blur_prob=0.0, gray_prob=0.0,
                          twin_prob=1.0)
    dataset = ClipDataset(sampler, GEOMETRY, 3, aug, seed=1)
    for i in range(3):
        item = dataset[i]
        for t in range(2):
            f = int(item['frames'][t + 1])
            image, box = seq.frame(f), seq.gt_box(f)
            side = 3.0 * math.sqrt(box.w * box.h)
            cells = GEOMETRY.cells_per_pixel(side)
            dy, dx = item['offset'][t].tolist()
            plain = crop_target(image, box, GEOMETRY, (-dx / cells, -dy / cells)).image
            diff = np.abs(item['search'][t].permute(1, 2, 0).numpy().astype(int) - plain).sum(2)
            ys, xs = np.nonzero(diff > 6)  # not the rounding of a float32 offset
            cy, cx = (item['twin_offset'][t] * GEOMETRY.stride + 48.5).tolist()
            scale = 97 / side
            inside = (0 < cy < 97) and (0 < cx < 97)
            if inside:  # the changed pixels surround the look-alike's centre
                assert ys.min() - 1 <= cy <= ys.max() + 2 and xs.min() - 1 <= cx <= xs.max() + 2
            assert ys.min() >= cy - 0.5 * box.h * scale - 2
            assert ys.max() + 1 <= cy + 0.5 * box.h * scale + 2
            assert xs.min() >= cx - 0.5 * box.w * scale - 2
            assert xs.max() + 1 <= cx + 0.5 * box.w * scale + 2
