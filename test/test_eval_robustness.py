"""Robustness to the first box: every sequence also started from moved boxes (eval --starts)."""
import json

import numpy as np
import pytest

from rar_tracking.data import make_sequence, read_boxes
from rar_tracking.eval.__main__ import main
from rar_tracking.eval.robustness import MAX_STARTS, perturbed_starts


def test_perturbed_starts_move_only_the_first_box():
    seq = make_sequence(6, seed=1)
    x, y, w, h = seq.gt[0]
    copies = perturbed_starts(seq, MAX_STARTS, 0.1)
    assert [c.name for c in copies] == [f'{seq.name}~{k}' for k in range(1, MAX_STARTS + 1)]
    expected = [(x + 0.1 * w, y, w, h), (x - 0.1 * w, y, w, h), (x, y + 0.1 * h, w, h),
                (x, y - 0.1 * h, w, h),
                (x - 0.05 * w, y - 0.05 * h, 1.1 * w, 1.1 * h),   # scaled about the centre
                (x + 0.05 * w, y + 0.05 * h, 0.9 * w, 0.9 * h),
                (x + 0.1 * w, y + 0.1 * h, w, h), (x - 0.1 * w, y - 0.1 * h, w, h)]
    for copy, box in zip(copies, expected):
        assert np.allclose(copy.gt[0], box)
        assert np.array_equal(copy.gt[1:], seq.gt[1:])  # what is scored is the original's
        assert copy.frames is seq.frames and copy.tags == seq.tags
        assert copy.meta['start_of'] == seq.name
    assert np.array_equal(seq.gt[0], (x, y, w, h))  # the original is left as it was
    with pytest.raises(ValueError, match='0 to 8'):
        perturbed_starts(seq, MAX_STARTS + 1)
    with pytest.raises(ValueError, match='size'):
        perturbed_starts(seq, 1, 0.0)


def test_cli_starts_add_rows_that_start_from_the_moved_boxes(tmp_path, capsys):
    out = tmp_path / 'res'
    assert main(['--synthetic', '1', '--synthetic-frames', '8', '--starts', '2', '--trackers',
                 'mil', '--out', str(out), '--quiet', '--no-plots']) == 0
    doc = json.loads((out / 'results.json').read_text())
    names = [s['name'] for s in doc['sequences']]
    assert names == ['synthetic-000', 'synthetic-000~1', 'synthetic-000~2']
    assert doc['settings']['starts'] == 2 and doc['settings']['start_shift'] == 0.05
    mil = doc['results']['MIL']
    assert mil['mean']['auc'] == pytest.approx(np.mean([mil['sequences'][n]['auc']
                                                        for n in names]))
    assert mil['first_start']['auc'] == pytest.approx(mil['sequences']['synthetic-000']['auc'])
    printed = capsys.readouterr().out
    first_row = next(line for line in printed.splitlines() if line.startswith('mean, first box'))
    assert f"{mil['first_start']['auc']:.3f}" in first_row
    first = {n: read_boxes(out / 'boxes' / 'MIL' / f'{n.replace("~", "_")}.txt')[0]
             for n in names}
    x, y, w, h = first['synthetic-000']
    assert np.allclose(first['synthetic-000~1'], (x + 0.05 * w, y, w, h))  # moved right
    assert np.allclose(first['synthetic-000~2'], (x - 0.05 * w, y, w, h))  # moved left
    for bad in (['--starts', '9'], ['--starts', '1', '--start-shift', '0.7']):
        with pytest.raises(SystemExit):
            main(['--synthetic', '1', '--trackers', 'mil', '--out', str(out), *bad])
    assert '--starts' in capsys.readouterr().err
