"""The cases the benchmark measures, with their full and ``--quick`` parameters.

A case is one load shape (a load-generator mode with its connection count and message
size) and the figure read from its result. The runner measures every case against
every server of the case's kind ('tcp' or 'udp'). The list is fixed so that runs on
different days and machines compare; ``--cases`` selects a subset by name pattern.

Why these shapes: one connection shows per-event latency; 50 is a typical busy
server; 500 shows how the dispatch cost grows with the number of watched sockets;
64 B messages measure the framework's per-event overhead and 4 KiB ones add copying.
Bulk measures throughput once per-event costs are amortised over 64 KiB, in two
shapes: *windowed* keeps up to `BULK_WINDOW` unechoed per connection, so data is in
flight both ways at once and the server meets full kernel buffers (a proxy, a file
transfer); *lock-step* sends one 64 KiB chunk and waits for its whole echo (a
request/response protocol with large messages). The connection rate measures accept
and setup/teardown; memory measures what each idle
connection costs to hold, the figure that decides how many clients a server can keep.
"""

import fnmatch
from dataclasses import dataclass
from typing import Any

__all__ = ['Case', 'Settings', 'settings', 'all_cases', 'select']


@dataclass(frozen=True)
class Case:
    """One load shape and the figure read from its result."""

    name: str               # stable key, used by --cases, JSON and the plot
    title: str              # human description for the table
    kind: str               # 'tcp' or 'udp': which servers it runs against
    mode: str               # load-generator mode (see loadgen.py)
    conns: int
    size: int               # message, datagram or chunk bytes
    metric: str             # key of the figure: a load-generator result key, or
                            # 'kib_per_conn' computed by the runner in memory mode
    unit: str
    higher_is_better: bool = True


@dataclass(frozen=True)
class Settings:
    """Durations and repeats: full run or ``--quick``."""

    duration: float         # seconds measured per run of a case against a server
    warmup: float           # seconds run, not counted, before the measurement
    repeats: int            # runs of each case per server; the median is reported
    memory_conns: int       # idle connections held in the memory case
    timeout: float          # seconds allowed to set the connections up


#: Full run: about 10 minutes on 2 cores with 5 TCP and 3 UDP servers.
FULL = Settings(duration=3.0, warmup=0.5, repeats=3, memory_conns=10000, timeout=30.0)
#: ``--quick``: about a minute; one repeat, so the ratios are indicative only.
QUICK = Settings(duration=1.0, warmup=0.2, repeats=1, memory_conns=2000, timeout=15.0)

#: UDP: seconds without an echo before a datagram counts as lost and the next is sent.
#: Loopback round trips take well under a millisecond even with 10 in flight.
UDP_TIMEOUT = 0.2
#: Windowed bulk: most bytes a connection may have sent and not yet seen echoed (4
#: chunks). It keeps the servers' userspace buffers bounded, so bulk measures
#: copying, not bloat.
BULK_WINDOW = 4 * 65536
#: Concurrent connect-echo-close loops in the connection-rate case.
CONNRATE_SLOTS = 10


def settings(quick: bool) -> Settings:
    return QUICK if quick else FULL


def all_cases(memory_conns: int) -> list[Case]:
    """Every case, in report order; the memory case holds ``memory_conns``."""
    cases: list[Case] = []
    for conns in (1, 50, 500):
        for size, label in ((64, '64 B'), (4096, '4 KiB')):
            cases.append(Case('pingpong-%dx%s' % (conns, '4k' if size == 4096 else size),
                              'ping-pong %d conn x %s' % (conns, label), 'tcp',
                              'pingpong', conns, size, 'rate', 'round trips/s'))
    cases += [
        Case('bulk-windowed-10x64k', 'bulk windowed 10 conn x 64 KiB chunks, 256 KiB in flight',
             'tcp', 'bulk', 10, 65536, 'mb_per_s', 'MB/s'),
        Case('bulk-lockstep-10x64k', 'bulk lock-step 10 conn x 64 KiB chunk, echo awaited',
             'tcp', 'pingpong', 10, 65536, 'mb_per_s', 'MB/s'),
        Case('udp-10x512', 'udp ping-pong 10 sockets x 512 B', 'udp', 'udp', 10, 512,
             'rate', 'round trips/s'),
        Case('connrate-10', 'connect + 64 B echo + close, 10 at a time', 'tcp',
             'connrate', CONNRATE_SLOTS, 64, 'rate', 'conns/s'),
        Case('memory-%d' % memory_conns, 'memory, %d idle conns' % memory_conns, 'tcp',
             'memory', memory_conns, 64, 'kib_per_conn', 'KiB/conn', False),
    ]
    return cases


def select(cases: list[Case], patterns: list[str] | None) -> list[Case]:
    """Keep the cases whose name matches one of the shell patterns (all if none)."""
    if not patterns:
        return list(cases)
    return [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]


def loadgen_params(case: Case, run_settings: Settings) -> dict[str, Any]:
    """The load-generator options for one run of ``case``."""
    params: dict[str, Any] = {'conns': case.conns, 'size': case.size,
                              'timeout': run_settings.timeout}
    if case.mode != 'memory':
        params.update(duration=run_settings.duration, warmup=run_settings.warmup)
    if case.mode == 'bulk':
        params['window'] = BULK_WINDOW
    if case.mode == 'udp':
        params['udp_timeout'] = UDP_TIMEOUT
    return params
