"""Lasting losses and early losses read from finished runs (rar_tracking.eval.losses)."""
import numpy as np

from rar_tracking.eval.__main__ import main as evaluate
from rar_tracking.eval.losses import first_lasting_loss, main
from rar_tracking.eval.overlap_split import main as overlap_split_main


def test_a_loss_is_a_stretch_of_visible_frames_without_overlap():
    gt = np.tile([50.0, 50.0, 20.0, 20.0], (40, 1))
    on, off = [52.0, 50.0, 20.0, 20.0], [150.0, 150.0, 20.0, 20.0]
    boxes = np.array([on] * 40)
    assert first_lasting_loss(boxes, gt) is None
    boxes[10:14] = off  # four frames away, then found again: not lost
    assert first_lasting_loss(boxes, gt) is None
    boxes[20:26] = off  # six frames away
    assert first_lasting_loss(boxes, gt) == 20
    assert first_lasting_loss(boxes, gt, min_frames=7) is None
    assert first_lasting_loss(boxes, gt, min_frames=1) == 10
    assert first_lasting_loss(boxes, gt, min_share=0.2) is None  # 8 of 39 scored frames needed
    gt[22:30] = np.nan  # the target hidden: those frames neither count nor break the stretch
    assert first_lasting_loss(boxes, gt) is None  # 20, 21, 30: three visible frames
    boxes[30:33] = off
    assert first_lasting_loss(boxes, gt) == 20  # 20, 21, 30, 31, 32
    boxes[20] = np.nan  # a missing box does not overlap
    assert first_lasting_loss(boxes, gt) == 20
    assert first_lasting_loss(boxes[:1], gt[:1]) is None  # nothing scored


def test_the_command_lists_early_losses_where_the_reference_keeps_the_target(tmp_path, capsys):
    out = tmp_path / 'run'
    assert evaluate(['--synthetic', '2', '--synthetic-frames', '30', '--max-frames', '25',
                     '--trackers', 'csrt,kcf', '--out', str(out), '--quiet', '--no-plots']) == 0
    # KCF's boxes of the first sequence leave the target at frame 4 (a tracker that lost it)
    path = out / 'boxes' / 'KCF' / 'synthetic-000.txt'
    boxes = np.loadtxt(path, delimiter=',', ndmin=2)
    boxes[4:, :2] = -1000.0
    np.savetxt(path, boxes, delimiter=',', fmt='%.2f')
    capsys.readouterr()
    assert main([str(out)]) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith('synthetic-000'))
    assert row.split()[1:] == ['-', '4', '(17%)']  # CSRT keeps it; KCF from frame 4 of 24
    assert '  KCF: synthetic-000' in printed
    # the ground truth of generated sequences is made again, cut as the run cut it
    assert overlap_split_main([str(out)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith('synthetic-000')]
    assert len(rows) == 2 and float(rows[1][1]) < 0.2 < float(rows[0][1])  # KCF's, CSRT's
