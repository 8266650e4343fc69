"""Readers of benchmark layouts on tiny folders written to tmp_path."""
import json

import cv2
import numpy as np
import pytest

from rar_tracking.data import (FrameReadError, Sequence, SequenceError, load_dataset,
                               load_got10k, load_lasot, load_manifest, load_otb, load_sequence,
                               load_vot, parse_boxes)

RED_RGB = (200, 10, 30)


def _write_frames(folder, count, names=None, size=(16, 12)):
    """Frames whose pixel (0, 0) encodes the frame number; the rest is RED_RGB."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f'{i + 1:04d}.png' for i in range(count)]
    for i, name in enumerate(names):
        rgb = np.empty((size[1], size[0], 3), np.uint8)
        rgb[:] = RED_RGB
        rgb[0, 0] = (i, i, i)
        assert cv2.imwrite(str(folder / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return names


def test_parse_boxes_delimiters_and_line_ends():
    expected = np.array([[1, 2, 3, 4], [5.5, 6, 7, 8]], dtype=np.float64)
    for text in ('1,2,3,4\n5.5,6,7,8\n', '1\t2\t3\t4\r\n5.5\t6\t7\t8\r\n',
                 '1 2 3 4\n5.5  6 7 8\n\n\n', '1, 2, 3, 4\r5.5, 6, 7, 8', '1;2;3;4\n5.5;6;7;8'):
        np.testing.assert_array_equal(parse_boxes(text), expected, err_msg=repr(text))


def test_parse_boxes_polygon_becomes_bounding_rectangle():
    rows = parse_boxes('10,20,30,10,40,30,20,40\n0,0,4,0,4,3,0,3\n')
    np.testing.assert_allclose(rows, [[10, 10, 30, 30], [0, 0, 4, 3]])


def test_parse_boxes_nan_rows_and_errors():
    rows = parse_boxes('1,2,3,4\nNaN,NaN,NaN,NaN\nnan,nan,nan,nan\n')
    assert np.isnan(rows[1:]).all() and np.isfinite(rows[0]).all()
    with pytest.raises(SequenceError, match=r'gt\.txt:2: expected 4 .* got 5'):
        parse_boxes('1,2,3,4\n1,2,3,4,5\n', 'gt.txt')
    with pytest.raises(SequenceError, match=r'gt\.txt:2: not a list of numbers'):
        parse_boxes('1,2,3,4\n1,2,x,4\n', 'gt.txt')
    with pytest.raises(SequenceError, match=r':2: empty line'):
        parse_boxes('1,2,3,4\n\n1,2,3,4\n')
    with pytest.raises(SequenceError, match='8 values where earlier rows have 4'):
        parse_boxes('1,2,3,4\n1,2,3,4,5,6,7,8\n')


def test_otb_folder_tab_crlf(tmp_path):
    _write_frames(tmp_path / 'Seq' / 'img', 3)
    (tmp_path / 'Seq' / 'groundtruth_rect.txt').write_bytes(
        b'1\t2\t5\t6\r\n2\t3\t5\t6\r\n3\t4\t5\t6\r\n')
    seq = load_otb(tmp_path / 'Seq')
    assert seq.name == 'Seq' and len(seq) == 3
    np.testing.assert_array_equal(seq.gt[:, 0], [1, 2, 3])
    frame = seq.frame(2)
    assert frame.dtype == np.uint8 and frame.shape == (12, 16, 3)
    assert tuple(frame[5, 5]) == RED_RGB  # RGB order, not BGR
    assert frame[0, 0, 0] == 2  # third file
    assert seq.image_size == (16, 12)
    assert seq.init_box.as_tuple() == (1.0, 2.0, 5.0, 6.0)
    assert load_sequence(tmp_path / 'Seq').meta['format'] == 'otb'


def test_otb_folder_with_other_gt_name(tmp_path):
    _write_frames(tmp_path / 'Surf' / 'img', 2)
    (tmp_path / 'Surf' / 'Surf.txt').write_text('1,1,2,2\n2,2,2,2\n')
    assert len(load_otb(tmp_path / 'Surf')) == 2


def test_vot_polygons(tmp_path):
    _write_frames(tmp_path / 'ball', 2, names=['00000001.jpg', '00000002.jpg'])
    (tmp_path / 'ball' / 'groundtruth.txt').write_text(
        '1.5,2,9.5,2,9.5,8,1.5,8\n3,1,10,4,7,11,0,8\n')
    seq = load_vot(tmp_path / 'ball')
    np.testing.assert_allclose(seq.gt, [[1.5, 2, 8, 6], [0, 1, 10, 10]])
    assert len(seq) == 2 and seq.frame(1).shape == (12, 16, 3)


def test_got10k_absence_gives_nan_rows(tmp_path):
    folder = tmp_path / 'GOT-10k_Val_000001'
    _write_frames(folder, 4, names=[f'{i:08d}.jpg' for i in range(1, 5)])
    (folder / 'groundtruth.txt').write_text('1,1,4,4\n2,2,4,4\n0,0,0,0\n3,3,4,4\n')
    (folder / 'absence.label').write_text('0\n0\n1\n0\n')
    seq = load_got10k(folder)
    assert seq.visible.tolist() == [True, True, False, True]
    assert seq.gt_box(2) is None and seq.gt_box(3).x == 3
    assert load_sequence(folder).meta['format'] == 'got10k'


def test_got10k_test_split_keeps_all_frames(tmp_path):
    folder = tmp_path / 'GOT-10k_Test_000001'
    _write_frames(folder, 3, names=[f'{i:08d}.jpg' for i in range(1, 4)])
    (folder / 'groundtruth.txt').write_text('1,1,4,4\n')
    seq = load_got10k(folder)
    assert len(seq) == 3 and seq.visible.tolist() == [True, False, False]


def test_lasot_occlusion_and_out_of_view(tmp_path):
    folder = tmp_path / 'cat-3'
    _write_frames(folder / 'img', 5, names=[f'{i:08d}.jpg' for i in range(1, 6)])
    (folder / 'groundtruth.txt').write_text('1,1,4,4\n' * 5)
    (folder / 'full_occlusion.txt').write_text('0,1,0,0,0')
    (folder / 'out_of_view.txt').write_text('0,0,0,1,0\n')
    seq = load_lasot(folder)
    assert seq.visible.tolist() == [True, False, True, False, True]
    assert seq.tags == ['cat']
    assert detect(folder) == 'lasot'


def detect(folder):
    from rar_tracking.data.layouts import detect_format
    return detect_format(folder)


def _manifest(root, entries):
    (root / 'manifest.json').write_text(json.dumps(entries))


def test_manifest_fewer_gt_rows_than_images_and_first_frame(tmp_path):
    _write_frames(tmp_path / 'a' / 'img', 6, names=[f'{i:04d}.png' for i in range(0, 6)])
    (tmp_path / 'a' / 'gt.txt').write_text('1,1,4,4\r\nNaN,NaN,NaN,NaN\r\n3,3,4,4\r\n')
    _write_frames(tmp_path / 'b' / 'frames', 2)
    (tmp_path / 'b' / 'groundtruth.txt').write_text('1,1,5,5,9,9,1,9\n1,1,5,5,9,9,1,9\n')
    _manifest(tmp_path, [
        {'name': 'a', 'frames_dir': 'a/img', 'first_frame': '0001.png', 'n_frames': 5,
         'gt_file': 'a/gt.txt', 'gt_rows': 3, 'image_size': '16x12', 'tags': ['occlusion']},
        {'name': 'b', 'frames_dir': 'b/frames', 'first_frame': '0001.png', 'n_frames': 2,
         'gt_file': 'b/groundtruth.txt', 'gt_rows': 2, 'image_size': '16x12', 'tags': []}])
    a, b = load_manifest(tmp_path)
    assert len(a) == 3 and a.tags == ['occlusion'] and a.image_size == (16, 12)
    assert a.frame(0)[0, 0, 0] == 1  # 0000.png is before first_frame
    assert a.visible.tolist() == [True, False, True]
    np.testing.assert_allclose(b.gt[0], [1, 1, 8, 8])
    assert [s.name for s in load_manifest(tmp_path, ['b'])] == ['b']
    assert [s.name for s in load_dataset(tmp_path)] == ['a', 'b']
    with pytest.raises(SequenceError, match=r"unknown sequence\(s\) \['zz'\]"):
        load_manifest(tmp_path, ['zz'])


def test_manifest_row_count_mismatch_is_an_error(tmp_path):
    _write_frames(tmp_path / 'a' / 'img', 2)
    (tmp_path / 'a' / 'gt.txt').write_text('1,1,4,4\n1,1,4,4\n')
    _manifest(tmp_path, [{'name': 'a', 'frames_dir': 'a/img', 'gt_file': 'a/gt.txt',
                          'gt_rows': 3}])
    with pytest.raises(SequenceError, match='manifest says 3 gt rows'):
        load_manifest(tmp_path)
    _manifest(tmp_path, [{'name': 'a', 'frames_dir': 'a/img', 'gt_file': 'a/gt.txt'}])
    (tmp_path / 'a' / 'gt.txt').write_text('1,1,4,4\n' * 3)
    with pytest.raises(SequenceError, match='3 gt rows but only 2 frames'):
        load_manifest(tmp_path)


def test_unreadable_frame_names_the_file(tmp_path):
    _write_frames(tmp_path / 's' / 'img', 2)
    bad = tmp_path / 's' / 'img' / '0002.png'
    bad.write_bytes(b'not an image')
    (tmp_path / 's' / 'groundtruth_rect.txt').write_text('1,1,4,4\n1,1,4,4\n')
    seq = load_otb(tmp_path / 's')
    seq.frame(0)
    with pytest.raises(FrameReadError, match='0002.png'):
        seq.frame(1)
    seq = Sequence('gone', [str(tmp_path / 'missing.jpg')], [[1, 1, 2, 2]])
    with pytest.raises(FrameReadError, match='does not exist: .*missing.jpg'):
        seq.frame(0)


def test_load_dataset_folder_of_sequences(tmp_path):
    for name in ('b', 'a'):
        _write_frames(tmp_path / name / 'img', 2)
        (tmp_path / name / 'groundtruth_rect.txt').write_text('1 1 4 4\n1 1 4 4\n')
    (tmp_path / 'not_a_sequence').mkdir()
    assert [s.name for s in load_dataset(tmp_path)] == ['a', 'b']
    with pytest.raises(SequenceError, match='no manifest.json and no sequence folders'):
        load_dataset(tmp_path / 'not_a_sequence')


def test_in_memory_sequence_head_and_bounds():
    frames = [np.full((4, 5, 3), i, np.uint8) for i in range(5)]
    seq = Sequence('mem', frames, np.tile([0, 0, 2, 2], (5, 1)), tags=['x'])
    assert seq.image_size == (5, 4) and seq.frame(-1)[0, 0, 0] == 4
    head = seq.head(3)
    assert len(head) == 3 and head.frame(2)[0, 0, 0] == 2 and head.tags == ['x']
    with pytest.raises(IndexError):
        head.frame(3)
    with pytest.raises(SequenceError, match='N x 4'):
        Sequence('bad', frames, np.zeros((5, 3)))
    with pytest.raises(SequenceError, match='5 ground-truth rows but only 2 frames'):
        Sequence('bad', frames[:2], np.zeros((5, 4)))
    with pytest.raises(SequenceError, match='first frame has no ground-truth'):
        Sequence('hidden', frames, np.full((5, 4), np.nan)).init_box
