"""Run every case against every server, interleaved, and report the medians.

``python -m geventio.bench.runner [--quick] [--json FILE] [--plot FILE.png]`` (also
``python -m geventio bench``). For each case the servers take turns (A B C, A B C, ...)
for the configured number of repeats, so that a slow drift of the machine (thermal,
a noisy neighbour) spreads over all servers instead of penalising whichever ran last;
each figure is then divided by the reference server's median from the same run
(``servers.REFERENCE``), which cancels most of the machine's speed out of the ratio.

A server that fails to start, dies, or returns errors is reported as such in its rows
and the run goes on: every process and socket wait is bounded (see ``procs.py``).
The TCP and UDP servers are started once and reused by every case; the memory case
starts a fresh process per measurement, so its baseline is a server that has served
nothing.
"""

import argparse
import sys
import time
import traceback
from collections.abc import Sequence


from . import cases as cases_mod
from . import procs, report
from .cases import Case, Settings
from .procs import BenchError, Loadgen, Result, ServerProcess
from .report import Record
from .servers import SERVERS

__all__ = ['run', 'main']

#: Seconds the memory case waits, after the connections are up, before reading the
#: server's RSS: lets the last accepts and their allocations finish.
MEMORY_SETTLE = 1.0
#: Descriptors kept free for the processes' own use when capping the memory case.
FD_RESERVE = 100
#: Share of one CPU (percent) taken by other processes above which the report warns
#: that the run was disturbed: a few percent is background noise (daemons, the shell).
DISTURBED_PERCENT = 10


def _log(message: str) -> None:
    sys.stderr.write(message + '\n')
    sys.stderr.flush()


def _available_servers(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split the requested servers into runnable ones and ``{name: reason}`` skipped."""
    import importlib.util
    runnable: list[str] = []
    skipped: dict[str, str] = {}
    for name in names:
        missing = [m for m in SERVERS[name].requires if importlib.util.find_spec(m) is None]
        if missing:
            skipped[name] = 'not installed: %s (pip install %s)' % (
                ', '.join(missing), ' '.join(missing))
        else:
            runnable.append(name)
    return runnable, skipped


class _Servers:
    """The long-lived servers: started on first use, restarted once after dying.

    A server that fails to start is not tried again: a broken server would otherwise
    cost its start-up timeout in every case.
    """

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self.running: dict[str, ServerProcess] = {}
        self.failed: dict[str, BenchError] = {}

    def get(self, name: str) -> ServerProcess:
        if name in self.failed:
            raise self.failed[name]
        server = self.running.get(name)
        if server is not None and server.alive:
            return server
        server = ServerProcess(name, self.cpu)
        try:
            server.start()
        except BenchError as exc:
            self.failed[name] = exc
            raise
        self.running[name] = server
        return server

    def stop_all(self) -> None:
        for server in self.running.values():
            server.stop()


class Runner:
    """One benchmark run: ``run()`` returns the raw records."""

    def __init__(self, run_settings: Settings, selected: list[Case], loadgen: Loadgen,
                 cpus: tuple[int | None, int | None]) -> None:
        self.settings = run_settings
        self.cases = selected
        self.loadgen = loadgen
        self.server_cpu, self.loadgen_cpu = cpus
        self.servers = _Servers(self.server_cpu)
        self.records: list[Record] = []

    def plan(self, names: list[str]) -> list[tuple[Case, int, str]]:
        """Every (case, repeat, server) in run order: servers interleaved per repeat."""
        return [(case, rep, name)
                for case in self.cases
                for rep in range(self.settings.repeats)
                for name in names if SERVERS[name].kind == case.kind]

    def run(self, names: list[str]) -> list[Record]:
        steps = self.plan(names)
        try:
            for i, (case, rep, name) in enumerate(steps, 1):
                record = self.measure(case, rep, name)
                self.records.append(record)
                _log('[%3d/%d] %-18s %-17s rep %d/%d: %s' % (
                    i, len(steps), case.name, name, rep + 1, self.settings.repeats,
                    report.describe(record, case)))
        finally:
            self.servers.stop_all()
        return self.records

    def measure(self, case: Case, rep: int, name: str) -> Record:
        record: Record = {'case': case.name, 'server': name, 'repeat': rep, 'ok': False,
                  'value': None, 'errors': 0, 'error': None, 'detail': None,
                  'result': None}
        started = time.monotonic()
        try:
            if case.mode == 'memory':
                self._measure_memory(case, name, record)
            else:
                self._measure_load(case, name, record)
        except BenchError as exc:
            record.update(ok=False, value=None, error=str(exc), detail=exc.detail)
        except Exception as exc:        # a harness bug must not lose the other rows
            record.update(ok=False, value=None, error='harness error: %r' % exc,
                          detail=traceback.format_exc())
        record['seconds'] = round(time.monotonic() - started, 3)
        return record

    def _measure_load(self, case: Case, name: str, record: Record) -> None:
        server = self.servers.get(name)
        params = cases_mod.loadgen_params(case, self.settings)
        assert server.port is not None      # (started)
        result = self.loadgen.run(case.mode, server.port, params, self.loadgen_cpu)
        self._fill(record, case, result, result[case.metric])
        if not server.alive:
            raise server.died('during the run')

    def _measure_memory(self, case: Case, name: str, record: Record) -> None:
        if name in self.servers.failed:         # do not wait for it to fail again
            raise self.servers.failed[name]
        server = ServerProcess(name, self.server_cpu)
        try:
            server.start()
            time.sleep(MEMORY_SETTLE / 4)
            baseline = server.memory()

            def measure(_holding: Result) -> dict[str, int]:
                time.sleep(MEMORY_SETTLE)
                if not server.alive:
                    raise server.died('holding the connections')
                return server.memory()

            params = cases_mod.loadgen_params(case, self.settings)
            assert server.port is not None      # (started)
            result, held = self.loadgen.hold(server.port, params, measure, self.loadgen_cpu)
        finally:
            server.stop()
        conns = result['connected']
        if not conns:
            raise BenchError('no connection was established: %s' % result['first_error'])
        result.update(baseline_rss_kib=baseline['rss_kib'], rss_kib=held['rss_kib'],
                      peak_rss_kib=held['hwm_kib'])
        self._fill(record, case, result, (held['rss_kib'] - baseline['rss_kib']) / conns)

    @staticmethod
    def _fill(record: Record, case: Case, result: Result, value: float) -> None:
        record['result'] = result
        record['errors'] = result['mismatches'] + result['io_errors'] + result['lost']
        connected = result['connected'] if case.kind == 'tcp' and case.mode != 'connrate' \
            else case.conns
        if connected == 0:
            raise BenchError('no connection was established: %s' % result['first_error'])
        record['value'] = value
        record['ok'] = True


def run(quick: bool = False, json_path: str | None = None, plot_path: str | None = None,
        servers: list[str] | None = None, case_patterns: list[str] | None = None,
        python_loadgen: bool = False) -> int:
    """Run the benchmark, print the table on stdout; return the exit status.

    Returns:
        0 when every reference server produced its figures, 1 otherwise (no ratio
        can then be computed), 2 for a bad argument.
    """
    names = servers or list(SERVERS)
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        _log('unknown server(s): %s; known: %s' % (', '.join(unknown), ', '.join(SERVERS)))
        return 2
    run_settings = cases_mod.settings(quick)
    procs.install_signal_handlers()
    nofile = procs.raise_nofile()
    notes: list[str] = []
    memory_conns = min(run_settings.memory_conns, nofile - FD_RESERVE)
    if memory_conns < run_settings.memory_conns:
        notes.append('RLIMIT_NOFILE hard limit is %d: the memory case holds %d '
                     'connections instead of %d' % (nofile, memory_conns,
                                                    run_settings.memory_conns))
    selected = cases_mod.select(cases_mod.all_cases(memory_conns), case_patterns)
    if not selected:
        _log('no case matches %s' % ' '.join(case_patterns or ()))
        return 2
    runnable, skipped = _available_servers(names)
    for name, why in skipped.items():
        notes.append('skipped %s: %s' % (name, why))
    cpus = procs.cpu_pair()
    if cpus[0] is None:
        notes.append('fewer than 2 CPUs: server and load generator are not pinned, '
                     'and compete for the same CPU')
    meter = procs.CpuMeter()
    try:
        loadgen = Loadgen.find(prefer_python=python_loadgen)
        notes.append(loadgen.note)
        for note in notes:
            _log('note: ' + note)
        runner = Runner(run_settings, selected, loadgen, cpus)
        records = runner.run(runnable)
    finally:
        procs.kill_all()
    _note_disturbance(meter, notes)
    meta = report.meta(run_settings, quick, loadgen.kind, cpus, nofile, notes)
    summary = report.summarize(selected, records, runnable)
    sys.stdout.write(report.markdown(summary, meta) + '\n')
    sys.stdout.flush()
    if json_path:
        report.write_json(json_path, meta, selected, records, summary)
        _log('raw figures written to %s' % json_path)
    if plot_path:
        _log(report.plot(plot_path, summary))
    return 0 if report.references_ok(summary) else 1


def _note_disturbance(meter: procs.CpuMeter, notes: list[str]) -> None:
    foreign = meter.foreign()
    if foreign is None:
        return
    elapsed, others, steal = foreign
    share = others / elapsed * 100 if elapsed else 0.0
    text = ('other processes used %.0f CPU-seconds during the %.0f s run (%.0f%% of '
            'one CPU), hypervisor steal %.1f s' % (others, elapsed, share, steal))
    if share > DISTURBED_PERCENT or steal > elapsed * DISTURBED_PERCENT / 100:
        text += ': the figures are disturbed, rerun on an idle machine'
    notes.append(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options, shared with ``python -m geventio bench``."""
    parser.add_argument('--quick', action='store_true',
                        help='short runs, 1 repeat, 2,000 idle conns (< 2 minutes)')
    parser.add_argument('--json', metavar='FILE', help='write every raw figure here')
    parser.add_argument('--plot', metavar='FILE.png', help='draw the ratios (matplotlib)')
    parser.add_argument('--servers', metavar='A,B', type=lambda s: s.split(','),
                        help='servers to run (default: all): ' + ', '.join(SERVERS))
    parser.add_argument('--cases', metavar='PATTERN', nargs='+',
                        help='case names or shell patterns, e.g. "pingpong-*"')
    parser.add_argument('--python-loadgen', action='store_true',
                        help='use the Python load generator even if cc is available')


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m geventio.bench.runner',
        description="Benchmark geventio's echo servers against gevent and asyncio.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args.quick, args.json, args.plot, args.servers, args.cases,
                   args.python_loadgen)
    except KeyboardInterrupt:
        _log('interrupted; every server was stopped')
        return 130


if __name__ == '__main__':
    sys.exit(main())
