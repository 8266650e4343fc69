"""rar_tracking.train.pack: a packed copy of training sequences gives the same training clips."""
import json
import math

import cv2
import numpy as np
import pytest
import torch

from rar_tracking.data.layouts import load_manifest
from rar_tracking.data.synthetic import make_sequence
from rar_tracking.geometry import Geometry
from rar_tracking.train.data import AugmentSettings, ClipDataset, ClipSampler, ClipSettings
from rar_tracking.train.pack import main, margin_for, pack

GEOMETRY = Geometry(crop_size=97, feature_size=13, search_area_factor=3.0, label_sigma=0.15,
                    min_size=4.0, num_context=4, context_offset=1.0, lambda1=1e-4, lambda2=0.1)


def _write_manifest_folder(root, sequences):
    """PNG frames (lossless, so that packed crops can be compared exactly) and gt.txt files."""
    entries = []
    for seq in sequences:
        (root / seq.name / 'img').mkdir(parents=True)
        for i in range(len(seq)):
            cv2.imwrite(str(root / seq.name / 'img' / f'{i:06d}.png'),
                        cv2.cvtColor(seq.frame(i), cv2.COLOR_RGB2BGR))
        np.savetxt(root / seq.name / 'gt.txt', seq.gt, delimiter=',', fmt='%.3f')
        entries.append({'name': seq.name, 'frames_dir': f'{seq.name}/img',
                        'gt_file': f'{seq.name}/gt.txt', 'n_frames': len(seq)})
    (root / 'manifest.json').write_text(json.dumps(entries))


def _clips(folder, count=12):
    sequences = load_manifest(folder)
    dataset = ClipDataset(ClipSampler(sequences, ClipSettings(3, 5)), GEOMETRY, count,
                          AugmentSettings(shift=0.4, scale=0.1, colour=0.0, blur_prob=0.0,
                                          gray_prob=0.0), seed=0)
    return [dataset[i] for i in range(count)]


def test_packed_sequences_give_the_same_clips_and_only_keep_pixels_near_the_target(tmp_path):
    sequences = [make_sequence(16, (320, 240), seed=3, target_size=(20, 16), speed=4.0,
                               name='small'),
                 make_sequence(16, (320, 240), seed=4, occlusion=(6, 9), name='occluded')]
    _write_manifest_folder(tmp_path / 'src', sequences)
    assert pack(tmp_path / 'src', tmp_path / 'packed') == ['small', 'occluded']
    assert main([str(tmp_path / 'src'), str(tmp_path / 'only'), '--exclude', 'occluded']) == 0
    assert [s.name for s in load_manifest(tmp_path / 'only')] == ['small']
    # the CLI reads the reach from the training configuration: the same pixels as pack()'s
    assert margin_for(3.0, 0.4, 0.1) == pytest.approx(2.05)
    packed_small = load_manifest(tmp_path / 'packed', ['small'])[0]
    assert np.array_equal(load_manifest(tmp_path / 'only')[0].frame(3), packed_small.frame(3))

    for original, packed in zip(_clips(tmp_path / 'src'), _clips(tmp_path / 'packed')):
        assert original['sequence'] == packed['sequence']
        assert torch.equal(original['frames'], packed['frames'])
        assert torch.equal(original['template'], packed['template'])
        assert torch.equal(original['search'], packed['search'])
        torch.testing.assert_close(original['label'], packed['label'])

    small = load_manifest(tmp_path / 'packed', ['small'])[0]
    image = small.frame(0)
    x, y, w, h = small.gt[0]
    reach = margin_for(3.0, 0.4, 0.1) * math.sqrt(w * h) + 4.0
    far = image[:, int(x + w / 2 + reach) + 2:]
    assert far.size and (far == 128).all()  # grey beyond the reach
    assert (image[int(y):int(y + h), int(x):int(x + w)] != 128).any()  # the target is kept
    occluded = load_manifest(tmp_path / 'packed', ['occluded'])[0]
    hidden = int(np.flatnonzero(np.isnan(occluded.gt[:, 0]))[0])
    assert (occluded.frame(hidden) == 128).all()  # no visible target: never used, all grey


def test_a_margin_below_the_crops_reach_changes_the_clips(tmp_path):
    """The reach is what keeps the clips equal: with half of it, crops see the grey."""
    sequences = [make_sequence(16, (320, 240), seed=3, target_size=(20, 16), speed=4.0,
                               name='small')]
    _write_manifest_folder(tmp_path / 'src', sequences)
    pack(tmp_path / 'src', tmp_path / 'narrow', margin=1.0)
    changed = [not torch.equal(a['search'], b['search'])
               for a, b in zip(_clips(tmp_path / 'src'), _clips(tmp_path / 'narrow'))]
    assert sum(changed) >= len(changed) // 2
