"""A peer cannot make one stream hold unbounded memory: the default
``max_write_queue`` and ``max_read_buffer`` (64 MiB) close the stream first.

Each attack is bounded (`CAP` bytes at most): without the protection the
server would take all of it and the test fails on the assertion that it
closed, instead of swapping the machine.
"""

import re
import time

import gevent
import pytest

from conftest import WAIT, Log
from .measure import MIB, Usage, rss_mib
from .servers import Server

#: The most a test pushes before it declares the server unprotected: four
#: times the default limits.
CAP = 256 * MIB

#: Bytes per send of an attacking peer.
CHUNK = b'A' * (1 * MIB)

#: How far past the 64 MiB default a protected server may get before it
#: closes: the kernel's buffers on both sides of a loopback connection (a few
#: MiB) and one read or write.
SLACK = 16 * MIB


def push_until_closed(client):
    """Send `CHUNK` after `CHUNK` until the server breaks the connection or `CAP`
    bytes went; returns the bytes sent and the highest RSS seen (MiB)."""
    sent, peak = 0, rss_mib()
    with client:
        while sent < CAP:
            try:
                client.sendall(CHUNK)
            except OSError:
                break
            sent += len(CHUNK)
            peak = max(peak, rss_mib())
    return sent, peak


def test_a_peer_that_never_reads_its_echo_is_closed_at_the_write_queue_limit(loop, figures):
    """The README's echo server with its defaults: the replies a peer never
    reads stop at 64 MiB (before the limit, a 600 MiB push took 600 MB)."""
    server = Server(loop)
    before = Usage()
    sent, peak = push_until_closed(server.connect())
    server.closed.wait_for(1)
    after = Usage()
    assert sent < 64 * MIB + SLACK, f'{sent / MIB} MiB accepted'
    assert peak - before.rss < 64 + SLACK / MIB + 32
    figures(sent_mib=sent // MIB, peak_rss_mib=round(peak - before.rss, 1),
            **after.since(before))
    server.close()


def keep_everything(stream, buffer, eof):
    return 0


def ignore_failed_reader(stream, buffer, eof):
    """A protocol that asked for a line of at most 1 KiB, ignored the failure,
    and left the data where it was."""
    if not getattr(stream, 'asked', False):
        stream.asked = True
        stream.read_until(b'\n', max_len=1024)
    return 0


@pytest.mark.parametrize('on_read, encoding', [
    (keep_everything, None),
    (ignore_failed_reader, None),
    (keep_everything, 'utf-8'),
], ids=['on_read keeps all', 'failed max_len reader left behind', 'text mode'])
def test_a_handler_that_never_consumes_is_closed_at_the_read_buffer_limit(
        loop, figures, on_read, encoding):
    server = Server(loop, on_read=on_read, encoding=encoding)
    before = Usage()
    sent, peak = push_until_closed(server.connect())
    server.closed.wait_for(1)
    after = Usage()
    assert sent < 64 * MIB + SLACK, f'{sent / MIB} MiB accepted'
    # (A text buffer of ASCII holds one byte per character, plus its chunks.)
    assert peak - before.rss < 64 + SLACK / MIB + 32
    figures(sent_mib=sent // MIB, peak_rss_mib=round(peak - before.rss, 1),
            **after.since(before))
    server.close()


def ping_latency(client, rounds=20):
    """The slowest of ``rounds`` 64-byte round trips, in seconds."""
    worst = 0.0
    for _ in range(rounds):
        start = time.monotonic()
        client.sendall(b'p' * 64)
        got = 0
        while got < 64:
            got += len(client.recv(64 - got))
        worst = max(worst, time.monotonic() - start)
    return worst


@pytest.mark.parametrize('encoding, megabytes', [(None, 8), ('utf-8', 16)])
def test_a_long_line_costs_a_regex_read_until_linear_time(loop, figures, encoding,
                                                           megabytes):
    """An 8 MiB line without a newline cost 32 s of CPU before the search
    resumed (16 MiB in text mode: minutes); now well under a second, and a
    neighbour's round trips stay quick meanwhile."""
    separator = re.compile(r'\r?\n' if encoding else rb'\r?\n')
    lines = Log()

    def on_read(stream, buffer, eof):
        if not getattr(stream, 'reading', False):
            stream.reading = True
            stream.read_until(separator).rawlink(lambda f: lines.append(f.get()))
        return 0

    attacked = Server(loop, on_read=on_read, encoding=encoding,
                      max_read_buffer=None)
    neighbours = Server(loop)
    neighbour = neighbours.connect()
    before = Usage()

    def attack():
        with attacked.connect() as client:
            for _ in range(megabytes):
                client.sendall(b'a' * MIB)
            client.sendall(b'\r\n')
            lines.wait_for(1)

    attacker = gevent.spawn(attack)
    worst = max(ping_latency(neighbour) for _ in range(megabytes // 2))
    attacker.get(timeout=WAIT * 4)
    after = Usage()
    assert len(lines) == 1 and len(lines[0]) == megabytes * MIB + 2
    cpu = after.cpu - before.cpu
    assert cpu < 4.0, f'{cpu:.1f} s of CPU'
    figures(line_mib=megabytes, cpu_s=round(cpu, 2),
            neighbour_worst_ms=round(worst * 1000, 1))
    neighbour.close()
    attacked.close()
    neighbours.close()


@pytest.mark.parametrize('encoding', [None, 'utf-8'])
@pytest.mark.parametrize('separator', ['\n', r'\r?\n'], ids=['literal', 'regex'])
def test_a_backlog_of_short_lines_costs_linear_time(loop, figures, encoding, separator):
    """4 MiB of pipelined 64-byte lines wait in the buffer (the application was
    busy while they arrived), then are read one ``read_until`` at a time: each
    line costs the line, not the backlog. Before, text mode joined the whole
    remaining buffer for every line: 11.7 s of CPU here (2 MiB: 2.7 s),
    quadratic in the backlog; bytes mode 0.2 s."""
    line = 'x' * 63 + '\n'
    backlog = 4 * MIB
    if separator != '\n':
        separator = re.compile(separator)
    if encoding is None:
        line = line.encode()
        separator = separator.encode() if isinstance(separator, str) else \
            re.compile(separator.pattern.encode())
    lines = Log()

    def read_lines(stream):
        for _ in range(backlog // len(line)):
            lines.append(stream.read_until(separator).get() == line)
        stream.close()

    def on_read(stream, buffer, eof):
        if len(buffer) >= backlog and not getattr(stream, 'reading', False):
            stream.reading = True
            gevent.spawn(read_lines, stream)
        return 0

    server = Server(loop, on_read=on_read, encoding=encoding)
    with server.connect() as client:
        client.sendall(line.encode() * (backlog // len(line)) if encoding else
                       line * (backlog // len(line)))
        before = Usage()
        server.closed.wait_for(1)
        after = Usage()
    assert len(lines) == backlog // len(line) and all(lines)
    cpu = after.cpu - before.cpu
    assert cpu < 2.0, f'{cpu:.1f} s of CPU'
    figures(lines=len(lines), cpu_s=round(cpu, 2))
    server.close()


def test_an_unbounded_regex_stops_at_the_implicit_max_len(loop, figures):
    """``[A-Z][a-z]*!`` cannot resume its search: 64 KiB into a word the reader
    fails, so rescanning costs at most 64 KiB per read."""
    failures = []

    def on_read(stream, buffer, eof):
        if not getattr(stream, 'reading', False):
            stream.reading = True
            word = stream.read_until(re.compile(rb'[A-Z][a-z]*!'))
            word.rawlink(lambda f: (failures.append(f.exception), stream.close_now()))
        return 0

    server = Server(loop, on_read=on_read, read_len=1024)
    before = Usage()
    sent, _ = push_until_closed(server.connect())
    server.closed.wait_for(1)
    after = Usage()
    assert type(failures[0]).__name__ == 'LimitOverrunError'
    assert sent < 64 * MIB
    figures(**after.since(before))
    server.close()
