"""Benchmark command line: ``python -m rar_tracking.eval --help``.

Example (the reference run of docs/evaluation.md)::

    python -m rar_tracking.eval --data ../shared/data/tracking --trackers csrt,kcf,mil \\
        --out results/opencv

Writes ``results.json`` (per sequence, per tag and mean scores, fps, the tracker specs and
configuration, versions), ``boxes/<tracker>/<sequence>.txt|.csv`` and success/precision
plots, and prints a table of AUC and P@20.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_TRACKER_ERRORS, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='python -m rar_tracking.eval',
        description='One-pass evaluation (OTB protocol) of RAR and OpenCV trackers.')
    src = p.add_argument_group('data')
    src.add_argument('--data', action='append', default=[],
                     help='a folder with manifest.json (../shared/data/tracking), a folder of '
                     'OTB/VOT/GOT-10k/LaSOT sequence folders, or one sequence; repeat it to '
                     'evaluate several folders in one run (names must not repeat)')
    src.add_argument('--synthetic', type=int, metavar='N', default=0,
                     help='evaluate on N generated sequences instead (or as well)')
    src.add_argument('--synthetic-frames', type=int, default=60, metavar='N',
                     help='frames per generated sequence (default 60)')
    src.add_argument('--seed', type=int, default=0, help='seed of the generated sequences')
    src.add_argument('--sequences', help='comma-separated names to keep (default: all)')
    src.add_argument('--split', metavar='NAME',
                     help='keep, in every --data folder holding sequences of split NAME of '
                     'config/splits.yaml, only those (e.g. --data ../shared/data/train --split '
                     'validation: the 11 held-out sequences); folders holding none stay whole')
    src.add_argument('--splits-file', default=None, metavar='YAML',
                     help='where the splits are (default: config/splits.yaml of this checkout)')
    src.add_argument('--max-frames', type=int, metavar='N',
                     help='use only the first N frames of every sequence')
    src.add_argument('--starts', type=int, default=0, metavar='K',
                     help='also run every sequence from K perturbed first boxes (0-8; moved '
                     'right, left, down, up, then scaled up, down, ...; rows NAME~1..NAME~K; '
                     'the means cover every start): robustness to the start, so that one run '
                     'on the edge of losing a target does not decide a comparison. Each start '
                     'costs a whole pass (see rar_tracking/eval/robustness.py)')
    src.add_argument('--start-shift', type=float, default=0.05, metavar='F',
                     help="size of those perturbations, as a fraction of the box's width and "
                     'height (default 0.05; OTB SRE uses 0.1)')
    trk = p.add_argument_group('trackers')
    trk.add_argument('--trackers', default='csrt,kcf',
                     help='comma-separated specs: csrt, kcf, mil, rar, rar:<trunk>, '
                     'rar:<trunk>@<weights> (default: csrt,kcf)')
    trk.add_argument('--device', default='auto',
                     help="RAR device: auto, cpu, cuda or cuda:N (default auto)")
    trk.add_argument('--threads', type=int, default=1,
                     help='torch CPU threads for RAR (default 1; OpenCV always uses 1)')
    trk.add_argument('--rar-crop-size', type=int, metavar='PX',
                     help='RAR crop_size (e.g. 129 for a quick run)')
    trk.add_argument('--rar-config', action='append', default=[], metavar='KEY=VALUE',
                     help='any TrackerConfig field for RAR; repeatable')
    trk.add_argument('--variant', action='append', default=[], metavar='LABEL:K=V[,K=V]',
                     help='one more RAR tracker (default trunk, named RAR-LABEL) with these '
                     'TrackerConfig fields on top of --rar-config; repeatable, so several '
                     'settings run side by side with the --trackers in one process '
                     "(e.g. --variant 'wide:search_area_factor=4')")
    out = p.add_argument_group('output')
    out.add_argument('--out', default='results', help='output folder (default results/)')
    out.add_argument('--no-plots', action='store_true', help='skip the PNG plots')
    out.add_argument('--quiet', action='store_true', help='no progress bars')
    return p


def _load_sequences(args, parser):
    from ..data.layouts import load_dataset, select_by_name
    from ..data.sequences import SequenceError
    from ..data.synthetic import make_suite

    names = [n.strip() for n in args.sequences.split(',') if n.strip()] if args.sequences \
        else None
    from .classes import SPLITS_FILE, in_split, load_split

    split = None
    if args.split:
        try:
            split = load_split(args.split, args.splits_file or SPLITS_FILE)
        except (OSError, ValueError) as exc:
            parser.error(f'--split: {exc}')
    sequences, groups, used = [], {}, set()
    for folder in args.data:
        if not Path(folder).exists():
            parser.error(f'--data {folder}: no such folder')
        try:
            found = load_dataset(folder, None)
        except SequenceError as exc:
            parser.error(str(exc))
        group = Path(folder).resolve().name
        kept = in_split(found, split)
        if kept is not found:
            found = kept
            used.update(s.name for s in found)
            group += f' [{args.split}]'
        groups.update({s.name: group for s in found})
        sequences += found
    if split is not None and not used:
        parser.error(f'--split {args.split}: no --data folder holds any of its sequences')
    if args.synthetic:
        if args.synthetic < 0 or args.synthetic_frames < 2:
            parser.error('--synthetic needs N >= 1 and --synthetic-frames >= 2')
        made = make_suite(args.synthetic, args.synthetic_frames, seed=args.seed)
        groups.update({s.name: 'synthetic' for s in made})
        sequences += made
    if not args.data and not args.synthetic:
        parser.error('give --data PATH and/or --synthetic N')
    seen = [s.name for s in sequences]
    repeated = sorted({n for n in seen if seen.count(n) > 1})
    if repeated:
        parser.error(f'sequence name(s) {repeated} occur in more than one --data folder')
    if names is not None:
        try:
            sequences = select_by_name({s.name: s for s in sequences}, names, '--sequences')
        except SequenceError as exc:
            parser.error(str(exc))
    if args.max_frames is not None:
        if args.max_frames < 2:
            parser.error('--max-frames must be >= 2')
        sequences = [s.head(args.max_frames) for s in sequences]
    if args.starts:
        from .robustness import perturbed_starts
        try:
            sequences = [c for s in sequences
                         for c in [s, *perturbed_starts(s, args.starts, args.start_shift)]]
        except ValueError as exc:  # SequenceError included
            parser.error(f'--starts: {exc}')
        groups.update({s.name: groups.get(s.meta['start_of']) for s in sequences
                       if 'start_of' in s.meta})
    return sequences, groups


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sequences, groups = _load_sequences(args, parser)

    from ..errors import RARError
    from .classes import format_class_table
    from .run import class_table_of, format_table, run_benchmark, summarize, write_results
    from .trackers import make_tracker, parse_overrides

    try:
        overrides = parse_overrides(args.rar_config)
    except ValueError as exc:
        parser.error(f'--rar-config: {exc}')
    if args.rar_crop_size is not None:
        overrides['crop_size'] = args.rar_crop_size
    specs = [s.strip() for s in args.trackers.split(',') if s.strip()]
    if not specs:
        parser.error('--trackers is empty')
    trackers = []
    for spec in specs:
        try:
            trackers.append(make_tracker(spec, device=args.device, threads=args.threads,
                                         rar_overrides=overrides))
        except (ValueError, FileNotFoundError, RARError, RuntimeError, ImportError) as exc:
            print(f'error: cannot build tracker {spec!r}: {type(exc).__name__}: {exc}',
                  file=sys.stderr)
            return EXIT_USAGE
    for item in args.variant:
        label, _, fields = item.partition(':')
        if not label.strip():
            parser.error(f'--variant {item!r}: expected LABEL:KEY=VALUE[,KEY=VALUE]')
        try:
            changes = dict(overrides, **parse_overrides(
                [f for f in fields.split(',') if f.strip()]))
            tracker = make_tracker('rar', device=args.device, threads=args.threads,
                                   rar_overrides=changes)
        except ValueError as exc:
            parser.error(f'--variant {item!r}: {exc}')
        except (FileNotFoundError, RARError, RuntimeError, ImportError) as exc:
            print(f'error: cannot build variant {item!r}: {type(exc).__name__}: {exc}',
                  file=sys.stderr)
            return EXIT_USAGE
        tracker.name, tracker.spec = f'RAR-{label.strip()}', f'rar {fields}'.strip()
        trackers.append(tracker)
        specs.append(f'variant {item}')

    from tqdm import tqdm

    total = sum(len(s) for s in sequences)
    print(f'{len(sequences)} sequences, {total} frames; trackers: '
          + ', '.join(f"{t.name} ({t.describe().get('device', 'cpu')})" for t in trackers),
          file=sys.stderr)
    with tqdm(total=total, unit='frame', disable=args.quiet, dynamic_ncols=True,
              file=sys.stderr) as bar:
        records = run_benchmark(sequences, trackers,
                                on_sequence_start=lambda s: bar.set_postfix_str(s.name),
                                progress=bar.update)
    summary = summarize(records)
    classes = class_table_of(records, sequences, groups)
    settings = {'command': ' '.join(['python -m rar_tracking.eval'] + list(
        argv if argv is not None else sys.argv[1:])),
        'data': [str(Path(d).resolve()) for d in args.data] or None,
        'synthetic': args.synthetic, 'synthetic_frames': args.synthetic_frames,
        'seed': args.seed, 'max_frames': args.max_frames, 'sequences': args.sequences,
        'trackers': specs, 'device': args.device, 'threads': args.threads,
        'rar_overrides': overrides, 'split': args.split, 'variants': args.variant,
        'starts': args.starts, 'start_shift': args.start_shift if args.starts else None}
    path = write_results(args.out, records, summary, sequences, trackers, settings,
                         classes=classes)
    if not args.no_plots:
        from .plots import write_plots

        write_plots(summary, args.out)
    print(format_table(summary, sequences))
    print(format_class_table(classes, list(summary)))
    print(f'results: {path}')
    failed = {name: r['errors'] for name, r in summary.items() if r['errors']}
    for name, errors in failed.items():
        for seq, message in errors.items():
            print(f'error: {name} on {seq}: {message}', file=sys.stderr)
    return EXIT_TRACKER_ERRORS if failed else EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
