"""Turn the runner's raw records into medians, ratios, a table, JSON and a plot.

Each (case, server) row reports the median of its successful repeats. The median,
rather than the mean, because one disturbed repeat (a page-cache flush, a timer
storm) must not move the figure. The ratio divides that median by the median of the
reference server of the same kind (``servers.REFERENCE``: raw gevent for TCP, gevent's
``DatagramServer`` for UDP) measured in the same run, so it compares frameworks
rather than machines: a ratio above 1 is faster than raw gevent, except for memory,
where above 1 means more memory per connection.
"""

import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .cases import Case, Settings
from .servers import REFERENCE, SERVERS

__all__ = ['describe', 'meta', 'summarize', 'markdown', 'write_json', 'plot',
           'references_ok']

#: Characters of an error message quoted in the table (JSON keeps all of it).
ERROR_CHARS = 100

#: One run of one case against one server, as the runner records it (JSON).
Record = dict[str, Any]
#: One (case, server) line of the summary (JSON).
Row = dict[str, Any]


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return '-'
    if unit == 'KiB/conn':
        return '%.2f' % value
    if unit == 'MB/s':
        return f'{value:,.1f}'
    return f'{value:,.0f}'


def _latency(us: float | None) -> str:
    if us is None or us < 0:
        return '-'
    return '%.0f µs' % us if us < 1000 else '%.1f ms' % (us / 1000)


def describe(record: Record, case: Case) -> str:
    """One progress line's worth for a record."""
    if not record['ok']:
        return 'ERROR %s' % record['error']
    text = '%s %s' % (_number(record['value'], case.unit), case.unit)
    if record['errors']:
        text += ', %d errors (%s)' % (record['errors'], record['result']['first_error'])
    return text


def meta(run_settings: Settings, quick: bool, loadgen_kind: str,
         cpus: tuple[int | None, int | None], nofile: int, notes: list[str]) -> dict[str, Any]:
    return {'date': time.strftime('%Y-%m-%d %H:%M:%S %z'),
            'python': sys.version.split()[0], 'platform': platform.platform(),
            'machine': platform.processor() or platform.machine(),
            'quick': quick, 'settings': asdict(run_settings), 'loadgen': loadgen_kind,
            'server_cpu': cpus[0], 'loadgen_cpu': cpus[1], 'nofile': nofile,
            'notes': notes}


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _spread(values: Sequence[float]) -> float | None:
    """(max - min) / median in percent, or None for fewer than two values.

    Shown so that a reader can tell a real difference from a noisy machine: two
    servers whose ratios differ by less than their spread are not told apart.
    """
    median = _median(values)
    if len(values) < 2 or not median:
        return None
    return (max(values) - min(values)) / median * 100


def _notes(case: Case, ok: list[Record]) -> str:
    results = [r['result'] for r in ok]
    if case.mode == 'memory':
        peak = statistics.median([r['peak_rss_kib'] for r in results]) / 1024
        base = statistics.median([r['baseline_rss_kib'] for r in results]) / 1024
        return 'peak RSS %.1f MiB, baseline %.1f MiB' % (peak, base)
    if case.mode == 'bulk':
        return ''
    def latency(key: str) -> str:       # -1: no round trip completed in that repeat
        return _latency(_median([r[key] for r in results if r[key] >= 0]))

    text = 'p50 %s, p99 %s' % (latency('p50_us'), latency('p99_us'))
    if case.mode == 'udp':
        text += ', lost %d' % sum(r['lost'] for r in results)
    return text


def summarize(cases: list[Case], records: list[Record], servers: list[str]) -> list[Row]:
    """One row per (case, server) that ran: median, ratio, errors, notes."""
    rows: list[Row] = []
    for case in cases:
        medians: dict[str, float | None] = {}
        case_rows: list[Row] = []
        for name in servers:
            if SERVERS[name].kind != case.kind:
                continue
            mine = [r for r in records if r['case'] == case.name and r['server'] == name]
            if not mine:
                continue
            ok = [r for r in mine if r['ok']]
            failed = [r for r in mine if not r['ok']]
            medians[name] = _median([r['value'] for r in ok])
            notes = _notes(case, ok) if ok else ''
            spread = _spread([r['value'] for r in ok])
            if spread is not None:
                notes = 'spread %.0f%%' % spread + ('; ' + notes if notes else '')
            if failed:
                why = failed[0]['error'].replace('server %s ' % name, '', 1)
                why = why if len(why) <= ERROR_CHARS else why[:ERROR_CHARS - 3] + '...'
                notes = ('%d/%d repeats failed: %s' % (len(failed), len(mine), why)
                         + ('; ' + notes if notes else ''))
            case_rows.append({'case': case.name, 'title': case.title, 'server': name,
                              'kind': case.kind, 'unit': case.unit,
                              'higher_is_better': case.higher_is_better,
                              'median': medians[name], 'values': [r['value'] for r in ok],
                              'repeats': len(mine), 'failed': len(failed),
                              'errors': sum(r['errors'] for r in mine), 'notes': notes})
        reference = medians.get(REFERENCE[case.kind])
        for row in case_rows:
            row['reference'] = REFERENCE[case.kind]
            row['ratio'] = (row['median'] / reference
                            if reference and row['median'] is not None else None)
        rows += case_rows
    return rows


def markdown(rows: list[Row], run_meta: dict[str, Any]) -> str:
    """The final table, as markdown, with the run's conditions above and notes below."""
    head = ('geventio echo benchmark, %s, Python %s, %s load generator, %s' % (
        run_meta['date'], run_meta['python'], run_meta['loadgen'],
        'quick (1 repeat, indicative only)' if run_meta['quick']
        else '%d repeats, medians' % run_meta['settings']['repeats']))
    lines = [head, '',
             '| case | server | value | unit | ratio | errors | notes |',
             '|---|---|---:|---|---:|---:|---|']
    for row in rows:
        value = _number(row['median'], row['unit']) if row['median'] is not None else 'error'
        ratio = '%.2f' % row['ratio'] if row['ratio'] is not None else '-'
        unit = row['unit'] + ('' if row['higher_is_better'] else ' (lower is better)')
        lines.append('| %s | %s | %s | %s | %s | %d | %s |' % (
            row['title'], row['server'], value, unit, ratio, row['errors'],
            row['notes'].replace('|', '/')))
    lines += ['', 'ratio: median / median of the reference server in this run (%s); '
              'above 1 is faster, except for memory (above 1 uses more). errors: echo '
              'mismatches + I/O errors (connections refused, reset, closed early or not set '
              'up in time) + lost datagrams, '
              'summed over repeats. spread: (max - min) / median of the repeats.'
              % ', '.join('%s for %s' % (v, k.upper()) for k, v in REFERENCE.items())]
    lines += ['note: %s' % note for note in run_meta['notes']]
    return '\n'.join(lines)


def write_json(path: str, run_meta: dict[str, Any], cases: list[Case],
               records: list[Record], rows: list[Row]) -> None:
    """Every raw figure of every repeat, plus the summary rows."""
    with open(path, 'w') as out:
        json.dump({'meta': run_meta, 'cases': [asdict(c) for c in cases],
                   'records': records, 'summary': rows}, out, indent=1)
        out.write('\n')


def plot(path: str, rows: list[Row]) -> str:
    """Draw the ratios as grouped horizontal bars; return a message for the log."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError:
        return 'no plot: matplotlib is not installed (pip install matplotlib)'

    def label(row: Row) -> str:
        title: str = row['title']
        return title + ('' if row['higher_is_better'] else ' (lower is better)')

    titles = list(dict.fromkeys(label(r) for r in rows))
    servers = list(dict.fromkeys(r['server'] for r in rows))
    colors = plt.get_cmap('tab10')
    fig, ax = plt.subplots(figsize=(11, 1 + 0.25 * len(rows) + 0.2 * len(titles)))
    drawn = set()
    for k, title in enumerate(titles):
        group = [r for r in rows if label(r) == title]     # this case's servers
        height = 0.8 / len(group)
        for j, row in enumerate(group):
            if row['ratio'] is None:
                continue
            y = k + j * height - 0.4 + height / 2
            ax.barh(y, row['ratio'], height=height,
                    color=colors(servers.index(row['server']) % 10))
            ax.text(row['ratio'], y, ' %.2f' % row['ratio'], va='center', fontsize=7)
            drawn.add(row['server'])
    handles = [Patch(color=colors(i % 10),
                     label=name if name in drawn else name + ' (no figure)')
               for i, name in enumerate(servers)]
    ax.axvline(1.0, color='black', linewidth=0.8)
    ax.set_yticks(range(len(titles)))
    ax.set_yticklabels(titles)
    ax.invert_yaxis()
    ax.set_xlabel('ratio to the reference measured in the same run '
                  '(gevent for TCP, gevent-datagram for UDP)')
    ax.legend(handles=handles, loc='upper left', bbox_to_anchor=(1.01, 1), fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return 'plot written to %s' % path


def references_ok(rows: list[Row]) -> bool:
    """True when every reference row that ran has a figure (else no ratio exists)."""
    return all(r['median'] is not None for r in rows if r['server'] == r['reference'])
