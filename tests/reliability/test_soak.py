"""The soak: a line-echo server and a UDP echo with their protections set tight,
under honest clients and every kind of hostile peer at once, for
``GEVENTIO_SOAK_SECONDS`` (60 by default, what CI runs; set it higher for a
longer run). The server's RSS, descriptors and greenlets are sampled
throughout: after the warm-up none may grow, at the end all are back where
they started, and no honest exchange failed.

Marked ``slow``.
"""

import json
import os
import sys
import time
from pathlib import Path

import gevent
import gevent.pool
import pytest
from gevent import subprocess

import geventio
from geventio import StreamClosedError
from conftest import turn_the_hub
from .measure import MIB, Usage
from .servers import LOCAL

CLIENTS = Path(__file__).with_name('load_clients.py')

#: Length of the soak in seconds.
SECONDS = float(os.environ.get('GEVENTIO_SOAK_SECONDS', 60))

#: Seconds between two samples of the server process.
SAMPLE_EVERY = SECONDS / 12

#: RSS growth in MiB tolerated between the end of the warm-up (the first
#: quarter) and the end: the run's peak working set, give or take the
#: allocator's slack; a leak of one object per connection would exceed it.
RSS_GROWTH = 24

#: The protections, tight so that every one is hit many times a second.
STREAM_LIMITS = {'idle_timeout': 1.0, 'max_write_queue': 1 * MIB,
                 'max_read_buffer': 1 * MIB}


def serve_lines(stream):
    """A greenlet per connection, as a gevent handler would be: read a line,
    write it back; any failure (a line over 64 KiB, 5 s without one, a broken
    or closed stream) ends the connection."""
    try:
        while True:
            line = stream.read_until(b'\n', max_len=65536, timeout=5).get()
            if not line.endswith(b'\n'):
                break                       # EOF
            stream.write(line)
    except (geventio.LimitOverrunError, TimeoutError, StreamClosedError, OSError):
        pass
    stream.close_now()


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 120)
def test_a_soak_of_honest_and_hostile_peers_leaves_the_server_as_it_found_it(
        loop, figures):
    handlers = gevent.pool.Group()

    def on_stream(stream):
        stream.configure(on_read=lambda s, buffer, eof: 0, **STREAM_LIMITS)
        loop.add(stream)
        handlers.spawn(serve_lines, stream)

    listener = loop.listen(addr=LOCAL, on_stream=on_stream).get()
    udp = geventio.Socket(on_recv=lambda sock, data, addr: sock.send(data, addr=addr),
                          recv_len=512)
    loop.add(udp)
    udp.bind(host='127.0.0.1', service=0, socktype='dgram').get()
    turn_the_hub()                  # (the greenlet that bound it ends)
    before = Usage()
    process = subprocess.Popen(
        [sys.executable, str(CLIENTS), str(listener.sockname[1]), 'mixed', str(SECONDS),
         str(udp.read_handle.getsockname()[1])], stdout=subprocess.PIPE)
    samples = []
    try:
        started = time.monotonic()
        for _ in range(int(SECONDS / SAMPLE_EVERY)):
            gevent.sleep(max(0.0, started + (len(samples) + 1) * SAMPLE_EVERY
                             - time.monotonic()))
            samples.append(Usage())
        done = json.loads(process.stdout.readline())
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    assert handlers.join(timeout=10)
    after = Usage()
    listener.close()
    udp.close()
    warm = samples[len(samples) // 4]
    peak = max(sample.rss for sample in samples[len(samples) // 4:])
    assert done['errors'] == 0 and done['cycles'] > 0, done
    assert all(done[kind] > 0 for kind in ('floods', 'idlers', 'resets', 'long_lines',
                                           'oversized')), done
    assert peak - warm.rss < RSS_GROWTH, [round(s.rss, 1) for s in samples]
    assert (after.fds, after.greenlets) == (before.fds, before.greenlets)
    figures(seconds=SECONDS, honest_cycles=done['cycles'], datagrams=done['datagrams'],
            hostile=sum(done[k] for k in ('floods', 'idlers', 'resets', 'long_lines')),
            oversized=done['oversized'],
            rss_mib_samples=[round(s.rss - before.rss, 1) for s in samples],
            max_fds=max(s.fds for s in samples) - before.fds,
            **after.since(before))
