"""Peers that hold connections without using them: a thousand that send nothing
are closed by ``idle_timeout``; a thousand that trickle one byte at a time (too
often for any idle timeout) are closed by the request reader's ``timeout=``.

Before these protections both thousand were held for ever.
"""

import time

import gevent

from conftest import WAIT, turn_the_hub
from .measure import Usage
from .servers import Server

#: Peers per attack.
PEERS = 1000

#: The servers' idle timeout and request timeout, in seconds.
IDLE = 0.5
REQUEST = 1.0

#: Seconds between two bytes of a trickling peer: well under `IDLE`, so that
#: only a timeout on the whole request can catch it.
TRICKLE = IDLE / 3


def connect_all(server, count):
    return [server.connect() for _ in range(count)]


def test_a_thousand_silent_peers_are_closed_by_the_idle_timeout(loop, figures):
    server = Server(loop, idle_timeout=IDLE)
    before = Usage()
    clients = connect_all(server, PEERS)
    held = Usage()
    start = time.monotonic()
    server.closed.wait_for(PEERS)        # each one IDLE after its accept
    took = time.monotonic() - start
    for client in clients:
        assert client.recv(1) == b''
        client.close()
    del clients
    turn_the_hub()          # gevent closes a socket it watched one turn later
    after = Usage()
    assert took < IDLE + WAIT / 2
    figures(all_closed_after_s=round(took, 2), held_fds=held.fds - before.fds,
            **after.since(before))
    server.close()


def request_with_a_deadline(stream, buffer, eof):
    """Read a request head (up to a blank line) within `REQUEST` seconds, or
    close; one per connection."""
    if not getattr(stream, 'reading', False):
        stream.reading = True
        head = stream.read_until(b'\r\n\r\n', max_len=8192, timeout=REQUEST)
        head.rawlink(lambda done: done.successful() or stream.close_now())
    return 0


def trickle(clients, deadline):
    """Send one byte on each client every `TRICKLE` seconds until the server has
    closed them all, or ``deadline`` (monotonic) passed."""
    while clients and time.monotonic() < deadline:
        for client in list(clients):
            try:
                client.send(b'G')
            except OSError:
                clients.remove(client)
        gevent.sleep(TRICKLE)


def test_a_thousand_trickling_peers_are_closed_by_the_request_timeout(loop, figures):
    """One byte per peer every `TRICKLE` seconds keeps every idle timer from
    firing; the reader's deadline does not care."""
    server = Server(loop, on_read=request_with_a_deadline, idle_timeout=IDLE)
    before = Usage()
    clients = connect_all(server, PEERS)
    start = time.monotonic()
    trickler = gevent.spawn(trickle, list(clients), start + REQUEST + WAIT)
    server.closed.wait_for(PEERS)
    took = time.monotonic() - start
    trickler.kill()
    for client in clients:
        client.close()
    del clients, trickler
    turn_the_hub()
    after = Usage()
    assert REQUEST - 0.05 <= took < REQUEST + WAIT / 2
    figures(all_closed_after_s=round(took, 2), **after.since(before))
    server.close()
