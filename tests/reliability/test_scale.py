"""Scale: ten thousand echo connections open at once, and a hundred thousand
connect/echo/close cycles, with every byte checked by clients in a process of
their own. Descriptors, greenlets and RSS of the server process are counted
before, during and after: what the connections took must be given back.

Both are marked ``slow`` (deselect with ``-m "not slow"``); CI runs them.
"""

import json
import sys
from pathlib import Path

import pytest
from gevent import subprocess

from conftest import WAIT
from .measure import Usage, raise_fd_limit, restore_fd_limit
from .servers import Server

CLIENTS = Path(__file__).with_name('load_clients.py')

#: Connections open at once.
CONCURRENT = 10_000

#: Connect/echo/close cycles, and the client greenlets making them.
CYCLES = 100_000
WORKERS = 64

#: Descriptors beyond the connections' that the test process needs.
SPARE_FDS = 1000

#: Descriptors of the pipes to the clients' process (its stdin and stdout).
PIPES = 2

#: Growth of the server's RSS tolerated after all connections are gone, in
#: MiB: the allocator keeps some freed memory; a leak of even 100 bytes per
#: cycle would show as 10 MiB.
RSS_KEPT = 8


def clients(port, *args):
    return subprocess.Popen([sys.executable, str(CLIENTS), str(port), *map(str, args)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def phase(process):
    line = process.stdout.readline()
    assert line, 'the clients died'
    return json.loads(line)


@pytest.fixture
def many_fds():
    previous = raise_fd_limit(CONCURRENT + SPARE_FDS)
    if previous is None:
        pytest.skip(f'the RLIMIT_NOFILE hard limit is below {CONCURRENT + SPARE_FDS}')
    yield
    restore_fd_limit(previous)


def finish(process):
    try:
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdin.close()
        process.stdout.close()


def hold_and_release(server):
    """One round: `CONCURRENT` connections echo, stay open together, echo again
    and close. Returns (the clients' report, Usage while all were open)."""
    process = clients(server.address[1], 'concurrent', CONCURRENT)
    try:
        holding = phase(process)
        during = Usage()
        assert holding['phase'] == 'holding' and len(server.open) == CONCURRENT
        process.stdin.write(b'again\n')
        process.stdin.flush()
        assert phase(process)['phase'] == 'done'
        server.closed.wait_for(server.accepted)
    finally:
        finish(process)
    return holding, during


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_ten_thousand_concurrent_echo_connections(loop, many_fds, figures):
    """Three rounds: what the first two keep (the allocator's free lists and
    arenas; measured: +15 and +7 MiB, then flat) the third reuses, so the
    third must not grow the process."""
    server = Server(loop)
    before = Usage()
    holding, during = hold_and_release(server)
    hold_and_release(server)
    first = Usage()
    hold_and_release(server)
    after = Usage()
    assert during.fds - before.fds == CONCURRENT + PIPES
    assert (after.fds, after.greenlets) == (before.fds, before.greenlets)
    assert after.rss - first.rss < RSS_KEPT
    assert after.objects - first.objects < CONCURRENT / 100
    figures(connected_in_s=holding['seconds'],
            kib_per_connection=round((during.rss - before.rss) * 1024 / CONCURRENT, 1),
            fds_during=during.fds - before.fds - PIPES,
            greenlets_during=during.greenlets - before.greenlets,
            rss_kept_by_two_rounds_mib=round(first.rss - before.rss, 1),
            **after.since(first))
    server.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_hundred_thousand_connect_echo_close_cycles_leak_nothing(loop, figures):
    server = Server(loop)
    before = Usage()
    process = clients(server.address[1], 'cycles', CYCLES, WORKERS)
    try:
        done = phase(process)
        assert done['errors'] == 0, done['first_errors']
        server.closed.wait_for(CYCLES)
    finally:
        finish(process)
    after = Usage()
    assert server.accepted == CYCLES and not server.open
    assert (after.fds, after.greenlets) == (before.fds, before.greenlets)
    assert after.rss - before.rss < RSS_KEPT
    assert after.objects - before.objects < CYCLES / 1000
    figures(cycles=CYCLES, seconds=done['seconds'],
            cycles_per_s=round(CYCLES / done['seconds']), **after.since(before))
    server.close()
