"""The benchmark command line on tiny generated sequences."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rar_tracking.data import read_boxes
from rar_tracking.eval.__main__ import main
from rar_tracking.eval.run import safe_name

ROOT = Path(__file__).resolve().parents[1]


def _has_rar_tracker() -> bool:
    return importlib.util.find_spec('rar_tracking.tracker') is not None


def test_cli_csrt_kcf_on_generated_sequences(tmp_path, capsys):
    out = tmp_path / 'res'
    rc = main(['--synthetic', '2', '--synthetic-frames', '14', '--trackers', 'csrt,kcf',
               '--out', str(out), '--quiet'])
    assert rc == 0
    printed = capsys.readouterr().out
    assert 'synthetic-000' in printed and 'synthetic-001' in printed and 'mean' in printed
    doc = json.loads((out / 'results.json').read_text())
    assert set(doc['results']) == {'CSRT', 'KCF'}
    assert doc['settings']['trackers'] == ['csrt', 'kcf']
    assert doc['trackers']['CSRT']['on_failure'] == 'keep the last box'
    assert [s['frames'] for s in doc['sequences']] == [14, 14]
    csrt = doc['results']['CSRT']
    per_seq = csrt['sequences']['synthetic-000']
    assert per_seq['scored'] == 13 and 0.0 <= per_seq['auc'] <= 1.0
    assert len(per_seq['success_curve']) == 21
    assert csrt['mean']['auc'] == pytest.approx(np.mean(
        [csrt['sequences'][n]['auc'] for n in ('synthetic-000', 'synthetic-001')]))
    assert csrt['mean']['auc'] > 0.5  # CSRT follows these easy objects
    assert csrt['mean']['fps'] > 0
    assert 'scale-change' in csrt['tags']  # the second generated sequence has it
    # Per-frame boxes: OTB-style text readable by our own reader, and a CSV.
    boxes = read_boxes(out / 'boxes' / 'CSRT' / 'synthetic-000.txt')
    assert boxes.shape == (14, 4)
    csv_lines = (out / 'boxes' / 'KCF' / 'synthetic-001.csv').read_text().splitlines()
    assert csv_lines[0].startswith('frame,x,y,w,h,confidence') and len(csv_lines) == 15
    for name in ('success.png', 'precision.png', 'success_scale-change.png'):
        assert (out / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_cli_max_frames_and_sequence_selection(tmp_path):
    out = tmp_path / 'res'
    rc = main(['--synthetic', '3', '--synthetic-frames', '30', '--max-frames', '5',
               '--sequences', 'synthetic-002', '--trackers', 'kcf', '--out', str(out),
               '--quiet', '--no-plots'])
    assert rc == 0
    doc = json.loads((out / 'results.json').read_text())
    assert [s['name'] for s in doc['sequences']] == ['synthetic-002']
    assert doc['sequences'][0]['frames'] == 5
    assert not (out / 'success.png').exists()


def test_cli_usage_errors(tmp_path, capsys):
    assert main(['--synthetic', '1', '--synthetic-frames', '4', '--trackers', 'nonsense',
                 '--out', str(tmp_path), '--quiet']) == 2
    assert "cannot build tracker 'nonsense'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(['--trackers', 'kcf'])  # no data
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(['--synthetic', '1', '--sequences', 'nope', '--quiet'])
    assert 'unknown sequence' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['--data', str(tmp_path / 'missing'), '--quiet'])
    with pytest.raises(SystemExit):
        main(['--synthetic', '1', '--rar-config', 'crop_size', '--quiet'])


def test_cli_reads_a_benchmark_folder(tmp_path):
    """--data with an OTB folder written from a generated sequence gives the same scores."""
    import cv2

    from rar_tracking.data import make_sequence

    seq = make_sequence(8, seed=11, name='gen')
    folder = tmp_path / 'data' / 'gen'
    (folder / 'img').mkdir(parents=True)
    for i in range(len(seq)):
        cv2.imwrite(str(folder / 'img' / f'{i + 1:04d}.png'),
                    cv2.cvtColor(seq.frame(i), cv2.COLOR_RGB2BGR))
    np.savetxt(folder / 'groundtruth_rect.txt', seq.gt, fmt='%d', delimiter='\t')
    rc = main(['--data', str(tmp_path / 'data'), '--trackers', 'kcf', '--out',
               str(tmp_path / 'res'), '--quiet', '--no-plots'])
    assert rc == 0
    doc = json.loads((tmp_path / 'res' / 'results.json').read_text())
    assert doc['sequences'][0]['name'] == 'gen'
    assert doc['results']['KCF']['sequences']['gen']['scored'] == 7


def test_module_entry_point_runs(tmp_path):
    proc = subprocess.run([sys.executable, '-m', 'rar_tracking.eval', '--synthetic', '1',
                           '--synthetic-frames', '5', '--trackers', 'kcf', '--out',
                           str(tmp_path), '--quiet', '--no-plots'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'KCF' in proc.stdout and (tmp_path / 'results.json').is_file()


@pytest.mark.slow
@pytest.mark.skipif(not _has_rar_tracker(), reason='rar_tracking/tracker.py not there yet')
def test_cli_rar_quick(tmp_path):
    out = tmp_path / 'res'
    rc = main(['--synthetic', '1', '--synthetic-frames', '6', '--trackers',
               'rar:efficientnet_lite0,kcf', '--rar-crop-size', '129', '--device', 'cpu',
               '--out', str(out), '--quiet', '--no-plots'])
    assert rc == 0
    doc = json.loads((out / 'results.json').read_text())
    rar_name = next(n for n in doc['results'] if n.startswith('RAR'))
    info = doc['trackers'][rar_name]
    assert info['device'] == 'cpu' and info['config']['crop_size'] == 129
    assert info['config']['trunk'] == 'efficientnet_lite0'
    seq = doc['results'][rar_name]['sequences']['synthetic-000']
    assert seq['scored'] == 5 and seq['auc'] is not None
    assert not doc['results'][rar_name]['errors']
    # '@' in the tracker's name becomes '_' in its folder name
    assert rar_name == 'RAR-efficientnet_lite0@untrained'
    rows = (out / 'boxes' / safe_name(rar_name) / 'synthetic-000.csv').read_text().splitlines()[1:]
    assert all(r.split(',')[6] in ('TRACKING', 'LOST') for r in rows)


@pytest.mark.skipif(not _has_rar_tracker(), reason='rar_tracking/tracker.py not there yet')
def test_cli_rar_setup_errors_exit_2(tmp_path, capsys):
    import torch

    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(b'not a weights file')
    common = ['--synthetic', '1', '--synthetic-frames', '3', '--out', str(tmp_path / 'o'),
              '--quiet', '--rar-crop-size', '129']
    assert main(common + ['--trackers', f'rar:efficientnet_lite0@{bad}']) == 2
    assert 'WeightsError' in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(common + ['--trackers', 'rar:efficientnet_lite0', '--device', 'cuda']) == 2
        assert 'DeviceError' in capsys.readouterr().err
    assert not (tmp_path / 'o' / 'results.json').exists()


def _write_otb_folder(folder, seq):
    import cv2
    (folder / 'img').mkdir(parents=True)
    for i in range(len(seq)):
        cv2.imwrite(str(folder / 'img' / f'{i + 1:04d}.png'),
                    cv2.cvtColor(seq.frame(i), cv2.COLOR_RGB2BGR))
    np.savetxt(folder / 'groundtruth_rect.txt', seq.gt, fmt='%d', delimiter='\t')


def test_several_data_folders_in_one_run(tmp_path):
    """--data repeats: the sequences of every folder in one table; a name in two is refused."""
    from rar_tracking.data import make_sequence
    for folder, seed in (('a', 1), ('b', 2)):
        _write_otb_folder(tmp_path / folder / f'seq_{folder}',
                          make_sequence(6, seed=seed, name=f'seq_{folder}'))
    out = tmp_path / 'out'
    assert main(['--data', str(tmp_path / 'a'), '--data', str(tmp_path / 'b'),
                 '--trackers', 'kcf', '--out', str(out), '--no-plots', '--quiet']) == 0
    doc = json.loads((out / 'results.json').read_text())
    assert [s['name'] for s in doc['sequences']] == ['seq_a', 'seq_b']
    assert set(doc['results']['KCF']['sequences']) == {'seq_a', 'seq_b'}
    with pytest.raises(SystemExit):
        main(['--data', str(tmp_path / 'a'), '--data', str(tmp_path / 'a'),
              '--trackers', 'kcf', '--out', str(out), '--no-plots', '--quiet'])


def test_split_classes_and_variants_in_one_run(tmp_path):
    """--split keeps a folder's held-out names only (another folder stays whole); the per-class
    table is printed and written per folder; two --variant RAR trackers with different
    settings run beside KCF in the same process and record their own configurations."""
    from rar_tracking.data import make_sequence
    for folder, name, seed in (('a', 'keep', 1), ('a', 'drop', 2), ('b', 'other', 3)):
        _write_otb_folder(tmp_path / folder / name, make_sequence(5, seed=seed, name=name))
    splits = tmp_path / 'splits.yaml'
    splits.write_text('validation:\n  - keep\n')
    out = tmp_path / 'out'
    rc = main(['--data', str(tmp_path / 'a'), '--data', str(tmp_path / 'b'), '--split',
               'validation', '--splits-file', str(splits), '--trackers', 'kcf',
               '--variant', 'narrow:search_area_factor=2.5',
               '--variant', 'wide:search_area_factor=4', '--rar-crop-size', '129',
               '--device', 'cpu', '--out', str(out), '--no-plots', '--quiet'])
    assert rc == 0
    doc = json.loads((out / 'results.json').read_text())
    assert [s['name'] for s in doc['sequences']] == ['keep', 'other']
    assert set(doc['results']) == {'KCF', 'RAR-narrow', 'RAR-wide'}
    cfg = {n: doc['trackers'][n]['config'] for n in ('RAR-narrow', 'RAR-wide')}
    assert cfg['RAR-narrow']['search_area_factor'] == 2.5
    assert cfg['RAR-wide']['search_area_factor'] == 4.0
    assert cfg['RAR-wide']['crop_size'] == 129  # --rar-config / --rar-crop-size apply too
    assert set(doc['classes']) == {'a [validation]', 'b'}
    overall = doc['classes']['a [validation]']['overall']
    assert overall['KCF']['sequences'] == 1
    assert overall['RAR-wide']['auc'] == pytest.approx(
        doc['results']['RAR-wide']['sequences']['keep']['auc'])
    with pytest.raises(SystemExit):  # a split none of the folders holds
        main(['--data', str(tmp_path / 'b'), '--split', 'validation', '--splits-file',
              str(splits), '--trackers', 'kcf', '--out', str(out), '--no-plots', '--quiet'])


def test_sequence_classes_from_tags_origin_and_content():
    from rar_tracking.eval.classes import sequence_classes
    assert sequence_classes('Vase', ['scale-change x2.5']) == ['scale-change']
    assert sequence_classes('truck2', ['fast-motion'], 'UAV123@10fps truck2') == [
        'fast-motion', 'aerial']
    assert sequence_classes('Jogging1', [], 'OTB-2013') == ['distractor']
    assert sequence_classes('Jogging1~2', [], 'OTB-2013') == ['distractor']  # a started copy
    assert sequence_classes('yamaha', ['long-term-source']) == []


def test_motion_stats_reads_motion_from_the_ground_truth():
    from rar_tracking.data.scenarios import fast_small_target
    from rar_tracking.eval.motion_stats import motion_table
    row, = motion_table([fast_small_target(seed=0, speed=15.0)])
    assert row['size0'] == pytest.approx(12.0) and row['side0'] == pytest.approx(36.0)
    assert 14.0 <= row['move_med'] <= 16.0  # integer boxes: 15 px per frame, rounded
    assert row['share_max'] == pytest.approx(row['move_max'] / 36.0)
