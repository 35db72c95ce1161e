"""Shared fixtures: a loop, connected socket pairs of every kind, and the checks
every test gets for free.

Each test runs under a ``gevent.Timeout`` (a blocked future fails the test
instead of hanging it; pytest-timeout backs this up for non-cooperative hangs),
and afterwards asserts that it left no file descriptor open, no greenlet alive,
no libev watcher active (``geventio.testing.LeakCheck``), no error printed by
the hub and no error logged on the ``geventio`` logger
(tests that provoke a callback error take the ``callback_errors`` fixture).
"""

import logging
import os
import socket

import gevent
import gevent.socket
from gevent.event import Event
import pytest

import geventio
from geventio.testing import LeakCheck, turn_the_hub

pytest_plugins = ['pytester']     # (tests/test_testing.py runs pytest itself)

#: Seconds a single test may block cooperatively before it fails.
TEST_TIMEOUT = 20

HAS_IPV6 = socket.has_ipv6
try:
    _probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    _probe.bind(('::1', 0))
    _probe.close()
except OSError:
    HAS_IPV6 = False


class _ErrorCollector(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


_COLLECTOR = _ErrorCollector()


@pytest.fixture
def callback_errors():
    """The ERROR records logged on ``geventio`` so far in this test (a live list);
    taking this fixture declares that the test expects some."""
    return _COLLECTOR.records


@pytest.fixture(autouse=True)
def _hygiene(request):
    hub = gevent.get_hub()
    hub_errors = []
    original_print = hub.print_exception
    hub.print_exception = lambda context, t, v, tb: hub_errors.append((context, v))
    collector = _COLLECTOR
    del collector.records[:]
    logging.getLogger('geventio').addHandler(collector)
    leak_check = LeakCheck()
    # A test that needs longer says so with pytest-timeout's marker, which
    # then bounds the cooperative wait too.
    marker = request.node.get_closest_marker('timeout')
    timeout = gevent.Timeout(marker.args[0] if marker and marker.args else TEST_TIMEOUT)
    timeout.start()
    try:
        yield
    finally:
        timeout.close()
    leaks = leak_check.leaks()
    logging.getLogger('geventio').removeHandler(collector)
    hub.print_exception = original_print
    if 'callback_errors' not in request.fixturenames:
        assert not collector.records, \
            [r.getMessage() for r in collector.records]
    assert not hub_errors, hub_errors
    assert not leaks, '; '.join(leaks)


@pytest.fixture
def danga():
    """Danga::Socket's process-wide loop, empty: yields the `DangaSocket` class.
    Afterwards ``reset()`` closes what the test left in it, and the hub must be
    back to the libev watchers it had before (none of the loop's left started)."""
    from geventio.danga import DangaSocket
    DangaSocket.reset()
    active = gevent.get_hub().loop.activecnt
    yield DangaSocket
    DangaSocket.reset()
    turn_the_hub()          # callbacks still queued in the hub hold a reference too
    assert gevent.get_hub().loop.activecnt == active, 'libev watchers left started'


@pytest.fixture
def loop():
    """A fresh Loop, closed (with everything in it) after the test."""
    loop = geventio.Loop()
    yield loop
    loop.close()


class Sockets:
    """Tracks sockets (and pipe files) a test made so that teardown closes
    whatever is left."""

    def __init__(self):
        self._made = []

    def keep(self, *socks):
        self._made.extend(socks)
        return socks if len(socks) > 1 else socks[0]

    def close_all(self):
        for sock in self._made:
            sock.close()


@pytest.fixture
def sockets():
    made = Sockets()
    yield made
    made.close_all()


def tcp_pair(family=socket.AF_INET):
    """A connected pair of gevent TCP sockets on loopback."""
    host = '::1' if family == socket.AF_INET6 else '127.0.0.1'
    with gevent.socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((host, 0))
        server.listen(1)
        client = gevent.socket.socket(family, socket.SOCK_STREAM)
        client.connect(server.getsockname())
        accepted, _ = server.accept()
    return accepted, client


def unix_pair(tmp_path):
    """A connected pair of gevent unix stream sockets through a path."""
    path = str(tmp_path / 'pair.sock')
    with gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        client = gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        accepted, _ = server.accept()
    return accepted, client


PAIR_KINDS = ['socketpair', 'stdlib', 'tcp4', 'tcp6', 'unix']


@pytest.fixture(params=PAIR_KINDS)
def pair(request, sockets, tmp_path):
    """A connected (a, b) pair of each kind: gevent socketpair, stdlib
    socketpair, TCP over 127.0.0.1 and ::1, and a unix socket path. ``a`` is
    for the geventio object under test; ``b``, the peer, is always a gevent
    socket so that the test can block on it cooperatively."""
    kind = request.param
    if kind == 'socketpair':
        made = gevent.socket.socketpair()
    elif kind == 'stdlib':
        # The stream side is a plain stdlib socket; the peer the test drives
        # stays cooperative.
        a, b = socket.socketpair()
        made = a, gevent.socket.socket(fileno=b.detach())
    elif kind == 'tcp4':
        made = tcp_pair(socket.AF_INET)
    elif kind == 'tcp6':
        if not HAS_IPV6:
            pytest.skip('no IPv6 loopback on this machine')
        made = tcp_pair(socket.AF_INET6)
    else:
        made = unix_pair(tmp_path)
    return sockets.keep(*made)


@pytest.fixture
def socketpair(sockets):
    """One connected gevent socketpair (for tests where the kind does not matter)."""
    return sockets.keep(*gevent.socket.socketpair())


def open_pipe(sockets):
    """(read_file, write_file) of a new os.pipe as unbuffered files, which
    ``sockets`` closes after the test if they are still open."""
    rfd, wfd = os.pipe()
    return sockets.keep(os.fdopen(rfd, 'rb', buffering=0),
                        os.fdopen(wfd, 'wb', buffering=0))


@pytest.fixture
def pipe(sockets):
    """(read_file, write_file) of an os.pipe, closed after the test if still open."""
    return open_pipe(sockets)


#: Seconds any single wait in a test may take before it fails.
WAIT = 5


class Log(list):
    """A list of what happened that a test can wait on."""

    def __init__(self):
        super().__init__()
        self._changed = Event()

    def append(self, item):
        super().append(item)
        self._changed.set()

    def wait_for(self, count):
        """Block until at least ``count`` entries were logged."""
        while len(self) < count:
            self._changed.clear()
            assert self._changed.wait(WAIT), f'timed out with {list(self)!r}'
        return self


def wait(event):
    """Wait for a gevent Event, failing the test after WAIT seconds."""
    assert event.wait(WAIT), 'timed out'


def settle():
    """Let the hub run whole loop iterations (to show that nothing more happens)."""
    turn_the_hub(3)


def keep_all(stream, buffer, eof):
    """An on_read that keeps everything in the buffer."""
    return 0


def make_stream(loop, sock, **params):
    """A Stream on ``sock`` (``on_read`` defaults to keep_all), added to ``loop``."""
    params.setdefault('on_read', keep_all)
    stream = geventio.Stream(handle=sock, **params)
    loop.add(stream)
    return stream


def recv_exactly(sock, count):
    """Read exactly ``count`` bytes from a (gevent or blocking stdlib) socket."""
    data = b''
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data
