"""Where a tracker lost its target for good, and which sequences it lost early.

``python -m rar_tracking.eval.losses results/RUN`` reads the boxes a finished evaluation run
wrote and the ground truth of its sequences and prints, per sequence and tracker, the frame
of the first **lasting loss**: the first frame of a stretch of scored frames (target
visible) whose boxes do not overlap the target at all, at least ``--min-frames`` (5) long and
at least ``--min-share`` (5 %) of the sequence's scored frames; frames where the target is
not visible neither extend nor break a stretch. A tracker that finds the target again
within a shorter stretch has not lost it. Then, per tracker, the sequences it lost within
the first ``--early`` (20 %) of their frames while the reference tracker (``--reference``,
CSRT) did not: issue 14 asks for none.

Zero overlap rather than a low one, as VOT counts a failure: a box that still touches the
target is drifting, not lost, and the AUC already scores drift.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..boxes import as_boxes, iou


def first_lasting_loss(boxes: np.ndarray, gt: np.ndarray, *, min_frames: int = 5,
                       min_share: float = 0.05) -> int | None:
    """The frame index (into ``boxes``) where the first stretch of visible frames with no
    overlap, of at least ``max(min_frames, min_share * scored frames)`` frames, starts; None
    when there is none. Frame 0 (the given box) is not scored; NaN ground truth rows (target
    not visible) are skipped. A NaN box does not overlap."""
    boxes, gt = as_boxes(boxes), as_boxes(gt)
    n = min(len(boxes), len(gt))
    frames = [i for i in range(1, n) if np.isfinite(gt[i]).all()]
    if not frames:
        return None
    overlap = iou(boxes[frames], gt[frames])
    need = max(min_frames, int(np.ceil(min_share * len(frames))))
    start, length = None, 0
    for frame, value in zip(frames, overlap):
        if value > 0.0:
            start, length = None, 0
            continue
        start = frame if start is None else start
        length += 1
        if length >= need:
            return start
    return None


def main(argv=None) -> int:
    from .saved import run_truth, tracker_boxes

    p = argparse.ArgumentParser(prog='python -m rar_tracking.eval.losses',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('run', type=Path, help='an evaluation output folder (results.json, boxes/)')
    p.add_argument('--min-frames', type=int, default=5,
                   help='shortest stretch of frames without overlap that counts as a loss')
    p.add_argument('--min-share', type=float, default=0.05,
                   help="... and at least this share of the sequence's scored frames")
    p.add_argument('--early', type=float, default=0.2,
                   help='a loss starting within this share of the frames is an early loss')
    p.add_argument('--reference', default='CSRT',
                   help='early losses are listed where this tracker has none')
    args = p.parse_args(argv)
    if not (args.run / 'results.json').is_file():
        p.error(f'{args.run}/results.json does not exist')
    truth = run_truth(args.run)
    boxes = tracker_boxes(args.run, truth)
    trackers = list(boxes)
    lost = {t: {s: first_lasting_loss(b, truth[s], min_frames=args.min_frames,
                                      min_share=args.min_share)
                for s, b in boxes[t].items()} for t in trackers}
    sequences = sorted({s for t in trackers for s in boxes[t]})
    print(f'first lasting loss (>= {args.min_frames} visible frames and {args.min_share:.0%} of '
          'the scored ones without overlap): frame (share of the sequence); - none')
    print(f'{"sequence":16s}' + ''.join(f'{t[:24]:>26s}' for t in trackers))

    def share(s: str, frame: int) -> float:
        return frame / max(len(truth[s]) - 1, 1)

    for s in sequences:
        cells = []
        for t in trackers:
            frame = lost[t].get(s)
            cells.append('' if s not in lost[t] else '-' if frame is None
                         else f'{frame} ({share(s, frame):.0%})')
        print(f'{s:16s}' + ''.join(f'{c:>26s}' for c in cells))

    def early(t: str, s: str) -> bool:
        frame = lost[t].get(s)
        return frame is not None and share(s, frame) <= args.early

    print(f'\nlost within the first {args.early:.0%} of the frames'
          + (f' where {args.reference} is not:' if args.reference in lost else ':'))
    for t in trackers:
        if t == args.reference:
            continue
        hits = [s for s in sequences if early(t, s)
                and not (args.reference in lost and early(args.reference, s))]
        print(f'  {t}: {", ".join(hits) if hits else "none"}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
