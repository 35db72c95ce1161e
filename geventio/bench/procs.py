"""Starting, pinning, bounding and killing the benchmark's processes.

Every server and every load generator is a child process: the server pinned to one
CPU, the load generator to another, so that neither steals the other's cycles and
the figures measure the server alone. Every wait on a child is bounded by a timeout,
and every child is recorded so that ``kill_all()`` (called from the runner's
``finally``) leaves nothing running after Ctrl-C or an exception. Children run in
their own session, so a Ctrl-C typed at the terminal reaches only the runner, which
then stops them in order; as a backstop they ask the kernel to kill them when the
runner dies (``PR_SET_PDEATHSIG``).
"""

import hashlib
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

__all__ = ['BenchError', 'ServerProcess', 'Loadgen', 'CpuMeter', 'cpu_pair',
           'raise_nofile', 'kill_all']

#: Seconds a server may take to print READY: imports plus binding; gevent needs ~0.3.
STARTUP_TIMEOUT = 15.0
#: Seconds a load generator may run beyond its setup timeout, window and drain.
LOADGEN_SLACK = 15.0
#: Seconds given to SIGTERM before SIGKILL.
STOP_TIMEOUT = 3.0
#: Bytes of a failed child's stderr quoted in the error.
STDERR_TAIL = 600

_BENCH_DIR = Path(__file__).resolve().parent
#: The directory holding the ``geventio`` package: children import
#: ``geventio.bench`` from the same place as this process, installed or not.
_IMPORT_ROOT = _BENCH_DIR.parent.parent
_children: 'set[subprocess.Popen[bytes]]' = set()

#: A load generator's (or a server's) JSON result.
Result = dict[str, Any]


class BenchError(Exception):
    """A server or load generator failed; the message says which and why.

    ``detail`` holds the end of the failing process's stderr (kept in the JSON).
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


def cpu_pair() -> tuple[int, int] | tuple[None, None]:
    """Return ``(server_cpu, loadgen_cpu)``, or ``(None, None)`` if pinning is impossible."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None, None
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def raise_nofile() -> int:
    """Raise this process's descriptor limit to the hard limit; children inherit it.

    Returns:
        The new soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    except (ValueError, OSError):
        return soft


class CpuMeter:
    """CPU time used by *other* processes while the benchmark runs.

    The figures assume the two CPUs belong to the benchmark; a test suite or a build
    running meanwhile takes cycles from whichever server is being measured. This
    meter compares the machine's busy time (``/proc/stat``) with the time used by
    this process and its children, so the report can say how disturbed the run was.
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float, float] | None:
        try:
            with open('/proc/stat') as stat:
                fields = [int(x) for x in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        hz = os.sysconf('SC_CLK_TCK')
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / hz    # minus idle, iowait
        own: float = sum(getattr(resource.getrusage(who), f) for f in ('ru_utime', 'ru_stime')
                         for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        return time.monotonic(), busy, own, fields[7] / hz      # fields[7]: steal

    def foreign(self) -> tuple[float, float, float] | None:
        """Return ``(seconds elapsed, CPU-seconds used by others, steal seconds)``.

        Call it after every child has been waited for (their usage counts only then).
        """
        end = self._sample()
        if self._start is None or end is None:
            return None
        elapsed = end[0] - self._start[0]
        others = max(0.0, (end[1] - self._start[1]) - (end[2] - self._start[2]))
        return elapsed, others, end[3] - self._start[3]


def _pin(pid: int, cpu: int | None) -> None:
    if cpu is not None:
        try:
            os.sched_setaffinity(pid, {cpu})
        except OSError:
            pass


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(_IMPORT_ROOT), env.get('PYTHONPATH', '')) if p)
    return env


def _spawn(argv: Sequence[str], cpu: int | None, **kwargs: Any) -> 'subprocess.Popen[bytes]':
    proc: subprocess.Popen[bytes] = subprocess.Popen(argv, start_new_session=True, env=_env(),
                            cwd=str(_IMPORT_ROOT), **kwargs)
    _children.add(proc)
    _pin(proc.pid, cpu)
    return proc


def _stop(proc: 'subprocess.Popen[bytes]') -> None:
    """Terminate, then kill, one child; never waits longer than ``STOP_TIMEOUT``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    streams: tuple[IO[bytes] | None, ...] = (proc.stdin, proc.stdout, proc.stderr)
    for stream in streams:
        if stream is not None:
            stream.close()
    _children.discard(proc)


def kill_all() -> None:
    """Stop every child still running (the runner's ``finally``)."""
    for proc in list(_children):
        _stop(proc)


def _tail(data: bytes) -> str:
    text = data.decode('utf-8', 'replace').strip()
    return text[-STDERR_TAIL:]


def _last_line(text: str) -> str:
    """The last line of a stderr tail: the exception, for a Python traceback."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else 'no stderr'


class ServerProcess:
    """One echo server process: ``start()``, ``port``, ``alive``, ``memory()``, ``stop()``."""

    def __init__(self, name: str, cpu: int | None = None) -> None:
        self.name = name
        self.cpu = cpu
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait for its READY line.

        Raises:
            BenchError: it exited, or printed nothing within ``STARTUP_TIMEOUT``;
                the message quotes the end of its stderr.
        """
        self._stderr = tempfile.TemporaryFile()
        argv = [sys.executable, '-m', 'geventio.bench.servers', self.name, '--port', '0',
                '--parent-pid', str(os.getpid())]
        if self.cpu is not None:
            argv += ['--cpu', str(self.cpu)]
        self._proc = _spawn(argv, self.cpu, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=self._stderr)
        line = self._read_ready()
        if not line.startswith(b'READY '):
            self.stop()
            raise BenchError('server %s printed %r instead of READY' % (self.name, line))
        self.port = int(line.split()[1])

    def _read_ready(self) -> bytes:
        assert self._proc is not None and self._proc.stdout is not None   # (started)
        fd, buf = self._proc.stdout.fileno(), b''
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while b'\n' not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self._fail('did not start within %gs' % STARTUP_TIMEOUT)
            chunk = os.read(fd, 4096)
            if not chunk:
                try:
                    self._proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
                self._fail('exited with status %s' % self._proc.returncode)
            buf += chunk
        return buf.split(b'\n', 1)[0]

    def _fail(self, why: str) -> None:
        err = self.stderr_tail()
        self.stop()
        raise BenchError('server %s %s: %s' % (self.name, why, _last_line(err)), err)

    def died(self, when: str) -> BenchError:
        """The error for a server found dead ``when`` (e.g. 'during the run')."""
        err = self.stderr_tail()
        code = self._proc.poll() if self._proc is not None else None
        how = 'killed by signal %d' % -code if code is not None and code < 0 else \
              'exit status %s' % code
        return BenchError('server %s died %s (%s): %s' % (self.name, when, how,
                                                          _last_line(err)), err)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stderr_tail(self) -> str:
        if self._stderr is None or self._stderr.closed:
            return ''
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - 4 * STDERR_TAIL))
        return _tail(self._stderr.read())

    def memory(self) -> dict[str, int]:
        """Return ``{'rss_kib': VmRSS, 'hwm_kib': VmHWM}`` from ``/proc/PID/status``."""
        assert self._proc is not None       # (started)
        fields: dict[str, int] = {}
        try:
            with open('/proc/%d/status' % self._proc.pid) as status:
                for line in status:
                    key, _, value = line.partition(':')
                    if key in ('VmRSS', 'VmHWM'):
                        fields[key] = int(value.split()[0])
        except OSError:
            fields = {}
        if len(fields) != 2 or not self.alive:
            raise self.died('before its memory could be read')
        return {'rss_kib': fields['VmRSS'], 'hwm_kib': fields['VmHWM']}

    def stop(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
        if self._stderr is not None:
            self._stderr.close()


class Loadgen:
    """The load generator to run: the compiled C client, or the Python fallback."""

    def __init__(self, argv_prefix: list[str], kind: str, note: str = '') -> None:
        self.argv_prefix = argv_prefix
        self.kind = kind            # 'c' or 'python'
        self.note = note

    @classmethod
    def find(cls, prefer_python: bool = False) -> 'Loadgen':
        """Compile ``loadgen.c`` if a C compiler is found, else use ``loadgen.py``."""
        python = cls([sys.executable, '-m', 'geventio.bench.loadgen_cli'], 'python')
        if prefer_python:
            python.note = 'Python load generator (requested)'
            return python
        binary, why = _build_c_loadgen()
        if binary:
            return cls([str(binary)], 'c', 'C load generator %s' % binary)
        python.note = ('Python load generator (%s; it may limit the fastest servers, '
                       'bulk and connection rate above all)' % why)
        return python

    def _argv(self, mode: str, port: int, params: dict[str, Any]) -> list[str]:
        argv = self.argv_prefix + [mode, '--port', str(port)]
        for key, value in params.items():
            argv += ['--' + key.replace('_', '-'), str(value)]
        return argv

    def run(self, mode: str, port: int, params: dict[str, Any],
            cpu: int | None = None) -> Result:
        """Run one load; return its JSON result.

        Raises:
            BenchError: it failed, printed no result, or overran its time bound.
        """
        bound = (params.get('timeout', 10) + params.get('warmup', 0) +
                 params.get('duration', 0) + LOADGEN_SLACK)
        proc = _spawn(self._argv(mode, port, params), cpu, stdin=subprocess.DEVNULL,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=bound)
        except subprocess.TimeoutExpired:
            raise BenchError('load generator overran %gs' % bound) from None
        finally:
            _stop(proc)
        return self._parse(out, err, proc.returncode)

    def hold(self, port: int, params: dict[str, Any], measure: Callable[[Result], Any],
             cpu: int | None = None) -> tuple[Result, Any]:
        """Memory mode: open the connections, call ``measure(result)`` while they are
        held, then release them. Returns ``(holding_result, measure's return value)``.
        """
        proc = _spawn(self._argv('memory', port, params), cpu, stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None    # (PIPE)
        try:
            fd = proc.stdout.fileno()
            if not select.select([fd], [], [], params['timeout'] + LOADGEN_SLACK)[0]:
                raise BenchError('load generator did not report holding its connections')
            line = proc.stdout.readline()
            if not line:
                proc.wait(STOP_TIMEOUT)
                err = _tail(proc.stderr.read())
                raise BenchError('load generator failed: %s' % _last_line(err), err)
            result = self._parse(line, b'', 0)
            return result, measure(result)
        finally:
            _stop(proc)

    @staticmethod
    def _parse(out: bytes, err: bytes, status: int | None) -> Result:
        lines = out.decode('utf-8', 'replace').strip().splitlines()
        if status != 0 or not lines:
            tail = _tail(err)
            raise BenchError('load generator exited with %s: %s' % (status, _last_line(tail)),
                             tail)
        try:
            result: Result = json.loads(lines[-1])
            return result
        except ValueError:
            raise BenchError('load generator printed %r' % lines[-1][:200]) from None


def _cache_dir() -> Path:
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(Path.home(), '.cache')
    path = Path(base) / 'geventio-bench'
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return Path(tempfile.mkdtemp(prefix='geventio-bench-'))


def _build_c_loadgen() -> tuple[Path | None, str]:
    """Return ``(path, '')`` of the compiled client, or ``(None, reason)``.

    The binary is cached under a name holding the source's hash, so an edited
    ``loadgen.c`` is rebuilt and an unchanged one is compiled once per machine.
    """
    source = _BENCH_DIR / 'loadgen.c'
    compiler = shutil.which(os.environ.get('CC', 'cc')) or shutil.which('gcc')
    if not compiler:
        return None, 'no C compiler found'
    if not sys.platform.startswith('linux'):
        return None, 'the C client needs Linux (epoll)'
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    binary = _cache_dir() / ('loadgen-%s' % digest)
    if binary.exists():
        return binary, ''
    tmp = binary.with_name(binary.name + '.%d.tmp' % os.getpid())
    try:
        done = subprocess.run([compiler, '-O2', '-o', str(tmp), str(source)],
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, 'compiling loadgen.c failed: %s' % exc
    if done.returncode != 0:
        return None, 'compiling loadgen.c failed: %s' % _last_line(_tail(done.stderr))
    os.replace(tmp, binary)
    return binary, ''


def install_signal_handlers() -> None:
    """Make SIGINT, SIGTERM and SIGHUP unwind the runner so its ``finally`` runs.

    SIGINT is restored to ``KeyboardInterrupt`` even when it was inherited ignored
    (as it is for a command started with ``&`` by a non-interactive shell).
    """
    def handler(signum: int, _frame: FrameType | None) -> None:
        sys.stderr.write('benchmarks: signal %d, stopping every server\n' % signum)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)
