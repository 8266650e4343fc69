"""The stress tool's verdicts (:func:`checks`) and its printed table (:func:`print_report`)."""
from __future__ import annotations

EXIT_LIMIT_S = 2.0
MEMORY_GROWTH_LIMIT_PCT = 5.0


def _clean_exit(row: dict) -> bool:
    return (row.get('code') == 0 and (row.get('seconds') or 99) <= EXIT_LIMIT_S
            and not row.get('bad_lines'))


def checks(r: dict) -> list[str]:
    """Every check that did not hold, in words (empty: all held)."""
    failed = []

    def need(ok, what):
        if not ok:
            failed.append(what)

    if 'main' in r:
        need(False, 'the node did not start')
    for error in r.get('errors', []):
        need(False, f'the tool failed in {error}')
    if 'fuzz' in r:
        f = r['fuzz']
        need(f['alive'], 'fuzz: the node died')
        need(f['healthy_after'], 'fuzz: no tracking after the fuzz')
        need(f['lost_calls'] == 0, f"fuzz: {f['lost_calls']} set_target calls unanswered")
        need(f['silent_refusals'] == 0, 'fuzz: refusals without a message')
    if 'storm' in r:
        s = r['storm']
        need(s['alive'], 'storm: the node died')
        need(s['lost'] == 0, f"storm: {s['lost']} of {s['calls']} calls unanswered")
        need(s['silent'] == 0, 'storm: refusals without a message')
    if 'soak' in r:
        k = r['soak']
        need(k['alive'], 'soak: the node died')
        need(k['first_target_ok'], 'soak: the target could not be set')
        need(k['rss_growth_pct'] < MEMORY_GROWTH_LIMIT_PCT,
             f"soak: memory grew {k['rss_growth_pct']:.1f}% after warm-up")
        need(k['probes_ok'] >= 0.99 * k['probes'],
             f"soak: set_target by stamp {k['probes_ok']}/{k['probes']}")
        need(k['node_behind_max'] <= 1, f"soak: the node started on an image while "
                                        f"{k['node_behind_max']} newer ones had arrived")
    if 'main_exit' in r:
        need(_clean_exit(r['main_exit']), f"main node exit: {r['main_exit']}")
    sf = r.get('stream_faults')
    if sf is not None:
        for key in ('target_set', 'resumes_after_gap', 'stray_size_keeps_target',
                    'tracks_after_time_jump', 'sustained_size_clears_target', 'alive'):
            need(sf.get(key), f'stream faults: {key} failed')
        if 'sigint_while_tracking' in sf:
            need(_clean_exit(sf['sigint_while_tracking']),
                 f"SIGINT while tracking: {sf['sigint_while_tracking']}")
    for row in r.get('signal_faults', []):
        need(row['was_alive'] and _clean_exit(row), f'{row["signal"]} during '
                                                    f'{row["moment"]}: {row}')
    for row in r.get('weights_faults', []):
        need(row['code'] == 1 and row['reason'] and not row['code_ran'],
             f"weights {row['file']}: {row}")
    return failed


def _f(v, digits=1) -> str:
    if isinstance(v, float):
        return f'{v:.{digits}f}'
    return str(v)


def _rows(r: dict) -> list[tuple[str, str]]:
    rows = []
    if 'fuzz' in r:
        f = r['fuzz']
        rows += [('fuzz: messages sent', f"{f['messages']} in {_f(f['seconds'])} s (images "
                  f"{f['image']}, CompressedImage {f['compressed']}, set_target "
                  f"{f['service']}, clicks {f['click']}); seed {r['seed']}"),
                 ('fuzz: decoded by the node', f"decode errors {f['decode_errors']} raw, "
                  f"{f['compressed_decode_errors']} compressed; {f['probes']} images asked "
                  'for by stamp'),
                 ('fuzz: set_target answers', f"{f['accepted_calls']} accepted, "
                  f"{f['refused_calls']} refused with a message, {f['lost_calls']} lost"),
                 ('fuzz: node alive / tracks after', f"{f['alive']} / {f['healthy_after']}")]
    if 'storm' in r:
        s = r['storm']
        rows += [('storm: calls answered', f"{s['answered']} of {s['calls']} from "
                  f"{s['clients']} clients in {_f(s['seconds'])} s ({s['set_target']} "
                  f"set_target, {s['reset']} reset; {s['succeeded']} succeeded, "
                  f"{s['refused']} refused)"),
                 ('storm: call time p50 / max', f"{_f(s['call_p50_s'], 2)} / "
                  f"{_f(s['call_max_s'], 2)} s"),
                 ('storm: images received / sent', f"{s['images_received']} / "
                  f"{s['images_published']}"),
                 ('storm: refusal reasons', '; '.join(s['reasons']) or '-')]
    if 'soak' in r:
        k = r['soak']
        rows += [('soak', f"{_f(k['minutes'], 2)} min, 640x480 at {_f(k['rate_hz'], 0)} Hz, "
                  f"{k['published']} images sent, {k['received_by_node']} received by the "
                  f"node, {k['live_results']} tracked live ({_f(k['processed_rate_hz'], 2)}"
                  ' Hz)'),
                 ('soak: RSS start / after warm-up / end', f"{_f(k['rss_start_mib'])} / "
                  f"{_f(k['rss_warm_mib'])} / {_f(k['rss_end_mib'])} MiB (growth "
                  f"{_f(k['rss_growth_pct'], 2)}%)"),
                 ('soak: latency stamp->result p50 / p99', f"{_f(k['latency_p50_ms'], 0)} / "
                  f"{_f(k['latency_p99_ms'], 0)} ms"),
                 ('soak: dropped (reported / never seen)', f"{k['dropped_reported']} / "
                  f"{k['not_seen_by_node']}"),
                 ('soak: behind at start, in the node (max)', f"{k['node_behind_max']} "
                  f"newer images received ({k['node_started_behind']} starts with one or "
                  'more)'),
                 ('soak: behind at start, end to end (max)', f"{k['behind_max']} newer "
                  f"images published ({k['behind_over_1']} results more than 1 behind)"),
                 *[(f'soak: wait {stage.replace("_", " ")} (max)',
                    f"{_f(w['max_ms'], 0)} ms; over one frame period in "
                    f"{w['periods_over_a_frame']} of {w['periods']} diagnostics periods"
                    + (f" (per minute: {w['over_per_minute']})"
                       if w.get('over_per_minute') else ''))
                   for stage, w in k['wait_stages'].items()],
                 *_cpu_rows(k),
                 ('soak: set_target by stamp <= 1 s old', f"{k['probes_ok']} of "
                  f"{k['probes']} succeeded ({k.get('probes_nearest', 0)} on the nearest image: "
                  f"theirs never arrived) {k['probe_failures'] or ''}")]
    if 'main_exit' in r:
        rows.append(('exit: ' + r['main_exit']['signal'] + ' ' + r['main_exit']['moment'],
                     _exit_text(r['main_exit'])))
    sf = r.get('stream_faults') or {}
    for key, value in sf.items():
        rows.append((f'fault: {key}', _exit_text(value) if isinstance(value, dict)
                     else str(value)))
    for row in r.get('signal_faults', []):
        rows.append((f"exit: {row['signal']} during {row['moment']}", _exit_text(row)))
    for row in r.get('weights_faults', []):
        rows.append((f"weights: {row['file']}", f"exit {row['code']}, code ran: "
                     f"{row['code_ran']}; {row['reason'][-90:]}"))
    return rows


def _cpu_rows(k: dict) -> list[tuple[str, str]]:
    """Where the CPUs went during the soak (in CPUs: 1.0 is one core for the whole soak)."""
    rows = []
    m = k.get('machine')
    if m:
        rows.append(('soak: CPUs busy / stolen', f"{_f(m['busy_cpus'], 2)} of {m['cpus']} "
                     f"busy, {_f(m['stolen_cpus'], 2)} stolen by the hypervisor"
                     + (f" (per minute: {m['stolen_per_minute']})"
                        if m.get('stolen_per_minute') else '')))
    if 'stress_tool_cpu' in k:
        rows.append(('soak: CPU of the stress tool', f"{_f(k['stress_tool_cpu'], 2)} (camera, "
                     'clients, recording; its own process)'))
    for name, t in sorted(k.get('threads', {}).items()):
        rows.append((f'soak: node threads {name}', f"on a CPU {_f(t['cpu'], 2)}, "
                     f"runnable but waiting for one {_f(t['waiting_for_cpu'], 2)} "
                     f"({t['threads']} threads)"))
    return rows


def _exit_text(row: dict) -> str:
    bad = f"; {row['bad_lines']}" if row.get('bad_lines') else ''
    return f"code {row.get('code')} after {row.get('seconds')} s{bad}"


def print_report(r: dict) -> None:
    print(f"command: {r['command']}")
    print(f"node:    {r.get('node_cmd', '?')}")
    print(f"versions: {r['versions']}")
    print(f"Fast DDS profile: {r.get('fastdds_profile') or 'none (default transports)'}")
    print(f"machine: {r['machine']}; node start-up {r.get('startup_s', '?')} s; "
          f"whole run {r.get('total_s', '?')} s")
    rows = _rows(r)
    width = max((len(a) for a, _ in rows), default=10)
    print()
    print(f"| {'figure'.ljust(width)} | value |")
    print(f"| {'-' * width} | --- |")
    for a, b in rows:
        print(f'| {a.ljust(width)} | {b} |')
    print()
    failed = r.get('failed_checks', [])
    print('all checks held' if not failed else 'FAILED: ' + '; '.join(failed))
