"""The real sequences of ../shared/data/tracking (skipped when that folder is absent)."""
import json
from pathlib import Path

import numpy as np
import pytest

from rar_tracking.data import load_manifest
from rar_tracking.eval.__main__ import main

DATA = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'tracking'

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not (DATA / 'manifest.json').is_file(),
                       reason=f'no benchmark data at {DATA}'),
]


def test_readers_load_every_sequence():
    entries = json.loads((DATA / 'manifest.json').read_text())
    sequences = load_manifest(DATA)
    assert [s.name for s in sequences] == [e['name'] for e in entries]
    for seq, entry in zip(sequences, entries):
        assert len(seq) == entry['gt_rows']
        assert seq.tags == entry['tags']
        w, h = (int(v) for v in entry['image_size'].split('x'))
        for i in (0, len(seq) - 1):
            assert seq.frame(i).shape == (h, w, 3), (seq.name, i)
        boxes = seq.gt[seq.visible]
        assert (boxes[:, 2:] > 0).all(), seq.name
        # Boxes lie (mostly) inside the image: the centres do.
        centers = boxes[:, :2] + boxes[:, 2:] / 2
        assert (centers >= -1).all() and (centers[:, 0] <= w + 1).all() \
            and (centers[:, 1] <= h + 1).all(), seq.name
        assert seq.visible[0], seq.name
        if 'NaN' in entry['gt_note']:
            assert not seq.visible.all(), seq.name
        else:
            assert seq.visible.all(), seq.name


@pytest.mark.slow
def test_csrt_and_kcf_on_the_start_of_three_sequences(tmp_path):
    names = ['Crossing', 'Girl', 'Surfer']
    out = tmp_path / 'res'
    rc = main(['--data', str(DATA), '--sequences', ','.join(names), '--max-frames', '60',
               '--trackers', 'csrt,kcf', '--out', str(out), '--quiet', '--no-plots'])
    assert rc == 0
    doc = json.loads((out / 'results.json').read_text())
    for tracker in ('CSRT', 'KCF'):
        per_seq = doc['results'][tracker]['sequences']
        assert list(per_seq) == names
        for name in names:
            assert per_seq[name]['scored'] == 59
            assert 0.0 <= per_seq[name]['auc'] <= 1.0
            assert 0.0 <= per_seq[name]['precision'] <= 1.0
    csrt = doc['results']['CSRT']['mean']
    kcf = doc['results']['KCF']['mean']
    # On these three, as on the whole set, CSRT is far ahead of KCF (see docs/evaluation.md).
    assert csrt['auc'] > kcf['auc'] + 0.1
    assert csrt['precision'] > 0.8
    boxes = np.loadtxt(out / 'boxes' / 'CSRT' / 'Girl.txt', delimiter=',')
    assert boxes.shape == (60, 4)
